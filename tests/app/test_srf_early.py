"""Early dialogs through ``drachtio.Srf`` (RFC 3261 §12.1, §13.2.2.4; RFC 3262;
RFC 3311): sipp as the callee or the caller, remote and embedded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from app_harness import Attach
from server_harness import SDP, Sipp, needs_sipp, sipp_uac, sipp_uas, start_server
from sipp_scenarios.early import (
    CALLER_BYE,
    CALLER_UPDATE,
    RECV_INVITE,
    RECV_INVITE_AND_CONTACT,
    WITH_SDP,
    answer_invite,
    callee,
    callee_update,
)
from sipp_scenarios.parts import (
    CONTACT,
    OPTIONAL_100,
    SDP_BODY,
    checked_recv,
    pause,
    scenario_of,
    uas_answer,
)
from sipp_scenarios.uac import ACK, ACK_2XX, INVITE, send_invite, uac_scenario
from sipp_scenarios.uas import uas_in_dialog_scenario

from drachtio import LocalError, RequestFailed, SipError, SipResponse, Srf
from drachtio.app import Dialog, Request, Response
from drachtio.server import Server

pytestmark = needs_sipp

# The application's second offer, told apart from the first by its port.
SDP2 = SDP.replace("40000", "40002")


def _uri(port: int, transport: str) -> str:
    return f"sip:service@127.0.0.1:{port}" + (";transport=tcp" if transport == "tcp" else "")


async def _finish(server: Server, sipp: Sipp) -> None:
    """sipp's call went as its scenario says, and no dialog is left."""
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["dialogs"] == 0


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_uac_updates_in_the_early_dialog_the_200_confirms(
    attach: Attach, tmp_path: Path, transport: str
) -> None:
    """The 183 with SDP gives on_early its early dialog; the UPDATE the app
    sends in it is answered with SDP; the 200 returns that same dialog,
    confirmed, and its BYE takes CSeq 3."""
    server = await start_server()
    srf = Srf()
    scenario = callee(
        answer_invite(183, "early1", WITH_SDP, SDP_BODY),
        checked_recv(
            'request="UPDATE"', ("CSeq: 2 UPDATE", "To: .*;tag=early1", "m=audio 40002"), "up_"
        ),
        uas_answer(200, WITH_SDP, SDP_BODY),
        answer_invite(200, "early1", WITH_SDP, SDP_BODY),
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    seen: asyncio.Queue[tuple[Dialog, bool, int, SipResponse | Exception]] = asyncio.Queue()

    async def progressed(dialog: Dialog, response: SipResponse) -> None:
        early = dialog.early
        try:
            await dialog.destroy()
        except LocalError as exc:
            await seen.put((dialog, early, response.status, exc))
        await seen.put((dialog, early, response.status, await dialog.update(SDP2)))

    provisional: list[int] = []
    try:
        await attach(server, srf)
        dialog = await srf.create_uac(
            _uri(port, transport),
            local_sdp=SDP,
            on_provisional=lambda r: provisional.append(r.status),
            on_early=progressed,
        )
        early, was_early, status, refused = await asyncio.wait_for(seen.get(), 10)
        assert (early, was_early, status) == (dialog, True, 183)
        assert isinstance(refused, LocalError) and "is early" in str(refused)
        early, _, _, updated = await asyncio.wait_for(seen.get(), 10)
        assert isinstance(updated, SipResponse) and updated.status == 200
        assert early is dialog and not dialog.early
        assert 183 in provisional
        assert dialog.local_sdp == SDP2
        assert dialog.remote_sdp is not None and "m=audio" in dialog.remote_sdp
        await dialog.destroy()
        assert dialog.destroy_reason == "BYE sent"
        await _finish(server, sipp)
    finally:
        await srf.close()
        await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_uac_pracks_the_reliable_183_itself(
    attach: Attach, tmp_path: Path, transport: str
) -> None:
    """With prack="app" the server sends no PRACK: the app's, sent in the early
    dialog, carries the RAck the server writes (42 1 INVITE); a second one
    has nothing to acknowledge and is refused."""
    server = await start_server()
    srf = Srf()
    scenario = callee(
        answer_invite(183, "rel1", f"Require: 100rel\nRSeq: 42\n{WITH_SDP}", SDP_BODY),
        checked_recv(
            'request="PRACK"', ("RAck: 42 1 INVITE", "CSeq: 2 PRACK", "X-App: mine"), "pr_"
        ),
        uas_answer(200),
        answer_invite(200, "rel1", WITH_SDP, SDP_BODY),
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    pracked: asyncio.Future[tuple[Dialog, int, str]] = asyncio.get_running_loop().create_future()

    async def progressed(dialog: Dialog, response: SipResponse) -> None:
        ok = await dialog.prack(headers={"X-App": "mine"})
        with pytest.raises(RequestFailed) as again:
            await dialog.prack()
        pracked.set_result((dialog, ok.status, str(again.value)))

    try:
        await attach(server, srf)
        dialog = await srf.create_uac(
            _uri(port, transport), local_sdp=SDP, on_early=progressed, prack="app"
        )
        early, status, refusal = await asyncio.wait_for(pracked, 10)
        assert (early, status) == (dialog, 200)
        assert refusal == f"dialog {dialog.id} has no reliable provisional response to PRACK"
        await dialog.destroy()
        await _finish(server, sipp)
    finally:
        await srf.close()
        await server.stop()


def _callee_updating(*checks: str) -> str:
    """sipp as the callee: a 183 (tag early3) and at once an UPDATE with an
    offer in its early dialog, whose 200 must match ``checks``; then the 200
    to the INVITE, the ACK and the BYE."""
    return callee(
        answer_invite(183, "early3", CONTACT),
        callee_update("early3", offer=True),
        checked_recv('response="200"', ("CSeq: 1 UPDATE", *checks), "upok_"),
        answer_invite(200, "early3", WITH_SDP, SDP_BODY),
        bye_cseq=2,
        receive=RECV_INVITE_AND_CONTACT,
    )


async def test_an_offer_in_the_callees_early_update_gets_the_local_sdp(
    attach: Attach, tmp_path: Path
) -> None:
    """Nothing handles the callee's UPDATE in the early dialog: its offer is
    answered 200 with the call's SDP (RFC 3311 §5.2)."""
    server = await start_server()
    srf = Srf()
    sipp, port = await sipp_uas(tmp_path, _callee_updating("m=audio 40002"))
    forks: list[Dialog] = []
    try:
        await attach(server, srf)
        dialog = await srf.create_uac(
            _uri(port, "udp"), local_sdp=SDP2, on_early=lambda d, r: forks.append(d)
        )
        assert forks == [dialog]
        await dialog.destroy()
        await _finish(server, sipp)
    finally:
        await srf.close()
        await server.stop()


async def test_a_handler_an_async_on_early_sets_answers_the_callees_update(
    attach: Attach, tmp_path: Path
) -> None:
    """on_early, a coroutine, sets the early dialog's UPDATE handler: the
    callee's UPDATE right after its 183 reaches it."""
    server = await start_server()
    srf = Srf()
    sipp, port = await sipp_uas(tmp_path, _callee_updating("X-Answered: handler"))
    offers: list[str] = []

    async def progressed(dialog: Dialog, response: SipResponse) -> None:
        @dialog.on("update")
        async def on_update(update: Request, answer: Response) -> None:
            offers.append(update.text)
            await answer.send(200, headers={"X-Answered": "handler"})

        await asyncio.sleep(0)

    try:
        await attach(server, srf)
        dialog = await srf.create_uac(_uri(port, "udp"), local_sdp=SDP, on_early=progressed)
        assert len(offers) == 1 and offers[0].startswith("v=0")
        await dialog.destroy()
        await _finish(server, sipp)
    finally:
        await srf.close()
        await server.stop()


async def test_update_in_a_confirmed_call_refused_raises_and_the_call_goes_on(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    scenario = uas_in_dialog_scenario(
        [("UPDATE", 488), ("UPDATE", 200), ("BYE", 200)],
        checks={"UPDATE": ("CSeq: [23] UPDATE",)},
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    try:
        await attach(server, srf)
        dialog = await srf.create_uac(_uri(port, "udp"), local_sdp=SDP)
        with pytest.raises(SipError) as refused:
            await dialog.update(SDP2)
        assert refused.value.status == 488 and dialog.local_sdp == SDP
        assert (await dialog.update()).status == 200
        await dialog.destroy()
        await _finish(server, sipp)
    finally:
        await srf.close()
        await server.stop()


async def test_prack_by_the_app_needs_on_early() -> None:
    with pytest.raises(LocalError, match="needs on_early"):
        await Srf().create_uac("sip:bob@127.0.0.1", prack="app")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_forked_early_dialogs_one_confirmed_the_other_ended(
    attach: Attach, tmp_path: Path, transport: str
) -> None:
    server = await start_server()
    srf = Srf()
    scenario = callee(
        answer_invite(183, "forkA", CONTACT),
        answer_invite(183, "forkB", CONTACT),
        pause(100),
        answer_invite(200, "forkB", WITH_SDP, SDP_BODY),
        bye_cseq=2,
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    forks: list[Dialog] = []
    try:
        await attach(server, srf)
        dialog = await srf.create_uac(
            _uri(port, transport), local_sdp=SDP, on_early=lambda d, r: forks.append(d)
        )
        assert [fork.id.rsplit("=", 1)[1] for fork in forks] == ["forkA", "forkB"]
        assert dialog is forks[1] and not dialog.early
        reason = await asyncio.wait_for(forks[0].wait_destroyed(), 10)
        assert reason == "another fork answered the INVITE"
        await dialog.destroy()
        await _finish(server, sipp)
    finally:
        await srf.close()
        await server.stop()


async def test_a_failure_ends_every_early_dialog(attach: Attach, tmp_path: Path) -> None:
    """A 180 and a 183 with SDP from two forks, then the 603 of one: both
    early dialogs end after the failure, which create_uac raises."""
    server = await start_server()
    srf = Srf()
    scenario = scenario_of(
        "two forks ring, then one declines",
        RECV_INVITE,
        answer_invite(180, "ring", CONTACT),
        answer_invite(183, "media", WITH_SDP, SDP_BODY),
        answer_invite(603, "media"),
        '  <recv request="ACK" timeout="10000"/>\n',
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    forks: list[Dialog] = []
    try:
        await attach(server, srf)
        with pytest.raises(SipError) as failed:
            await srf.create_uac(
                _uri(port, "udp"), local_sdp=SDP, on_early=lambda d, r: forks.append(d)
            )
        assert failed.value.status == 603
        assert [fork.remote_sdp is not None for fork in forks] == [False, True]
        for fork in forks:
            reason = await asyncio.wait_for(fork.wait_destroyed(), 10)
            assert reason == "final response 603 to the INVITE"
        await _finish(server, sipp)
    finally:
        await srf.close()
        await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_uas_183_then_update_both_ways_then_200(
    attach: Attach, tmp_path: Path, transport: str
) -> None:
    """The app's 183 with SDP makes the early dialog; its UPDATE reaches the
    caller, the caller's UPDATE with SDP reaches the app's handler; the 200
    confirms the same dialog."""
    server = await start_server()
    srf = Srf()
    outcome: asyncio.Future[tuple[Dialog, Dialog, int, str | None]] = (
        asyncio.get_running_loop().create_future()
    )

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        with pytest.raises(LocalError, match="101-199"):
            await srf.create_early_uas(req, res, status=200)
        early = await srf.create_early_uas(req, res, local_sdp=SDP)
        assert early.early and early.role == "uas"
        updated = asyncio.Event()

        @early.on("update")
        async def on_update(update: Request, answer: Response) -> None:
            assert update.text.startswith("v=0")
            with pytest.raises(LocalError, match="INVITE outside a dialog, not UPDATE"):
                await srf.create_early_uas(update, answer)
            sdp = {"Content-Type": "application/sdp", "X-Answered": "handler"}
            await answer.send(200, headers=sdp, body=early.local_sdp)
            updated.set()

        sent = await early.update(SDP2, headers={"X-From-App": "yes"})
        await updated.wait()
        dialog = await srf.create_uas(req, res, local_sdp=SDP2)
        outcome.set_result((early, dialog, sent.status, dialog.local_sdp))

    scenario = scenario_of(
        "caller updating in the early dialog",
        INVITE,
        OPTIONAL_100,
        checked_recv('response="183"', ("m=audio 40000",), "ring_", rrs=True),
        checked_recv(
            'request="UPDATE"', ("CSeq: 1 UPDATE", "X-From-App: yes", "m=audio 40002"), "up_"
        ),
        uas_answer(200, WITH_SDP, SDP_BODY),
        CALLER_UPDATE,
        checked_recv(
            'response="200"', ("CSeq: 2 UPDATE", "X-Answered: handler", "m=audio"), "upok_"
        ),
        checked_recv('response="200"', ("CSeq: 1 INVITE", "m=audio 40002"), "ok_", rrs=True),
        ACK_2XX,
        CALLER_BYE,
    )
    try:
        await attach(server, srf)
        sipp = await sipp_uac(tmp_path, server, scenario, transport)
        early, dialog, status, local = await asyncio.wait_for(outcome, 10)
        assert dialog is early and not dialog.early
        assert (status, local) == (200, SDP2)
        assert await asyncio.wait_for(dialog.wait_destroyed(), 10) == "BYE received"
        await _finish(server, sipp)
    finally:
        await srf.close()
        await server.stop()


async def test_uas_early_dialog_ends_with_the_callers_cancel(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    ended: asyncio.Future[tuple[bool, str, str | None]] = asyncio.get_running_loop().create_future()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        ringing = await srf.create_early_uas(req, res, status=180)
        early = await srf.create_early_uas(req, res, local_sdp=SDP)
        reason = await early.wait_destroyed()
        ended.set_result((early is ringing, reason, early.local_sdp))

    try:
        await attach(server, srf)
        scenario = uac_scenario(487, provisional=(180, 183), cancel_after=183)
        sipp = await sipp_uac(tmp_path, server, scenario)
        same, reason, sdp = await asyncio.wait_for(ended, 10)
        assert (same, reason, sdp) == (True, "cancelled by the caller", SDP)
        await _finish(server, sipp)
    finally:
        await srf.close()
        await server.stop()


async def test_uas_invite_with_a_malformed_record_route_never_reaches_the_app(
    attach: Attach, tmp_path: Path
) -> None:
    """No dialog could be built from the INVITE: the server answers it 400
    naming the header, and the application's handler is never called."""
    server = await start_server()
    srf = Srf()
    called: list[Request] = []

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        called.append(req)
        await srf.create_early_uas(req, res, local_sdp=SDP)

    scenario = scenario_of(
        "caller with a malformed Record-Route",
        send_invite("Record-Route: <sip:rr@127.0.0.1"),
        OPTIONAL_100,
        '  <recv response="400"/>\n',
        ACK,
    )
    try:
        await attach(server, srf)
        sipp = await sipp_uac(tmp_path, server, scenario)
        await _finish(server, sipp)
        assert called == []
    finally:
        await srf.close()
        await server.stop()
