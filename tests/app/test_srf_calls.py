"""Applications written on ``drachtio.Srf`` against a real server, sipp at the far end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from app_harness import Attach
from server_harness import SDP, needs_sipp, sipp_uac, sipp_uas, start_server
from sipp_scenarios.parts import CALLEE_TO, answer_without_body
from sipp_scenarios.uac import uac_in_dialog_scenario, uac_scenario
from sipp_scenarios.uas import rejecting_callee, uas_in_dialog_scenario

from drachtio import SipError, SipResponse, Srf
from drachtio.app import Dialog, Request, Response
from drachtio.testing import SipPhone

pytestmark = needs_sipp


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_uas_answers_and_the_caller_hangs_up(
    attach: Attach, tmp_path: Path, transport: str
) -> None:
    server = await start_server()
    srf = Srf()
    dialogs: asyncio.Queue[Dialog] = asyncio.Queue()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        assert req.method == "INVITE"
        assert req.transport == transport
        assert req.called_number == "service"
        assert req.calling_number == "sipp"
        assert req.text.startswith("v=0")
        dialog = await srf.create_uas(req, res, local_sdp=SDP)
        await dialogs.put(dialog)

    try:
        await attach(server, srf)
        sipp = await sipp_uac(tmp_path, server, uac_scenario(200), transport)
        dialog = await asyncio.wait_for(dialogs.get(), 10)
        assert dialog.role == "uas" and dialog.local_sdp == SDP
        assert dialog.remote_sdp is not None and dialog.remote_sdp.startswith("v=0")
        assert await asyncio.wait_for(dialog.wait_destroyed(), 10) == "BYE received"
        result = await sipp.result()
        assert result.successful == 1, result.log
    finally:
        await srf.close()
        await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_uac_calls_modifies_and_hangs_up(
    attach: Attach, tmp_path: Path, transport: str
) -> None:
    server = await start_server()
    srf = Srf()
    scenario = uas_in_dialog_scenario(
        [("INVITE", 200), ("ACK", None), ("BYE", 200)],
        checks={"INVITE": ("a=sendonly",)},
    )
    sipp, port = await sipp_uas(tmp_path, scenario, transport)
    provisionals: list[int] = []
    try:
        await attach(server, srf)
        uri = f"sip:sipp@127.0.0.1:{port}" + ("" if transport == "udp" else ";transport=tcp")
        dialog = await srf.create_uac(
            uri, local_sdp=SDP, on_provisional=lambda r: provisionals.append(r.status)
        )
        assert dialog.role == "uac"
        assert dialog.remote_sdp is not None and "m=audio" in dialog.remote_sdp
        held = await dialog.hold()
        assert held.status == 200
        assert dialog.local_sdp is not None and "a=sendonly" in dialog.local_sdp
        await dialog.destroy()
        assert dialog.destroy_reason == "BYE sent"
        result = await sipp.result()
        assert result.successful == 1, result.log
    finally:
        await srf.close()
        await server.stop()


async def test_a_rejected_call_raises_sip_error(attach: Attach, tmp_path: Path) -> None:
    server = await start_server()
    srf = Srf()
    sipp, port = await sipp_uas(tmp_path, rejecting_callee(486, "Rejected"))
    try:
        await attach(server, srf)
        with pytest.raises(SipError) as failed:
            await srf.create_uac(f"sip:sipp@127.0.0.1:{port}", local_sdp=SDP)
        assert failed.value.status == 486
        assert isinstance(failed.value.response, SipResponse)
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_cancel_before_answer_reaches_the_handler_and_fails_the_uas(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    outcome: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        await res.send(180)
        reason = await req.wait_cancelled()
        try:
            await srf.create_uas(req, res, local_sdp=SDP)
        except SipError as exc:
            outcome.set_result((reason, exc.status))

    try:
        await attach(server, srf)
        scenario = uac_scenario(487, provisional=(180,), cancel_after=180)
        sipp = await sipp_uac(tmp_path, server, scenario)
        reason, status = await asyncio.wait_for(outcome, 10)
        assert reason == "cancelled by the caller"
        assert status == 487
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_a_call_cancelled_before_the_server_confirmed_its_invite_is_cancelled(
    attach: Attach,
) -> None:
    """The task awaiting create_uac is cancelled while the server's result for the
    INVITE it sent is still on its way: the INVITE is cancelled all the same."""
    server = await start_server()
    srf = Srf()
    phone = await SipPhone.start()
    try:
        await attach(server, srf)
        calling = asyncio.ensure_future(srf.create_uac(phone.uri, local_sdp=SDP))
        # One turn of the loop, with no read in it: the task sends the INVITE
        # and waits for the server's result (over a connection, not yet read).
        await asyncio.sleep(0)
        calling.cancel()
        callee = await phone.expect_invite(timeout=10)
        await callee.wait_cancel(timeout=10)
        with pytest.raises(asyncio.CancelledError):
            await calling
    finally:
        await srf.close()
        await phone.close()
        await server.stop()


@pytest.mark.parametrize(
    ("raised", "status"), [(SipError(486, "Busy Here"), 486), (KeyError("x"), 500)]
)
async def test_a_handler_that_raises_answers_with_its_status(
    attach: Attach, tmp_path: Path, raised: Exception, status: int
) -> None:
    server = await start_server()
    srf = Srf()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        raise raised

    try:
        await attach(server, srf)
        sipp = await sipp_uac(tmp_path, server, uac_scenario(status))
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_reinvite_from_the_caller_gets_the_local_sdp_by_default(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    dialogs: asyncio.Queue[Dialog] = asyncio.Queue()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        await dialogs.put(await srf.create_uas(req, res, local_sdp=SDP))

    try:
        await attach(server, srf)
        scenario = uac_in_dialog_scenario(
            [("INVITE", 200, "o=app 1 1 IN IP4"), ("INFO", 200, "CSeq: 3 INFO")]
        )
        sipp = await sipp_uac(tmp_path, server, scenario)
        dialog = await asyncio.wait_for(dialogs.get(), 10)
        assert await asyncio.wait_for(dialog.wait_destroyed(), 10) == "BYE received"
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_middleware_runs_before_the_handler_and_may_answer(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    seen: list[str] = []

    async def screen(req: Request, res: Response, call_next: Callable[[], Awaitable[None]]) -> None:
        seen.append(f"screen {req.calling_number}")
        if req.calling_number == "sipp":
            await res.send(603, "Declined")
            return
        await call_next()

    srf.use(screen, method="invite")

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        seen.append("handler")

    try:
        await attach(server, srf)
        sipp = await sipp_uac(tmp_path, server, uac_scenario(603))
        assert (await sipp.result()).successful == 1
        assert seen == ["screen sipp"]
    finally:
        await srf.close()
        await server.stop()


async def test_request_sends_options_and_returns_the_final_response(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    sipp, port = await sipp_uas(tmp_path, options_scenario())
    try:
        await attach(server, srf)
        response = await srf.request(
            f"sip:sipp@127.0.0.1:{port}", "OPTIONS", headers={"X-Probe": "1"}
        )
        assert response.status == 200
        assert response.header("X-Answered") == "options"
        assert (await sipp.result()).successful == 1
    finally:
        await srf.close()
        await server.stop()


async def test_a_request_given_up_on_is_forgotten_when_its_final_response_comes(
    attach: Attach,
) -> None:
    """``asyncio.wait_for(srf.request(...), t)`` that runs out leaves nothing behind
    once the response comes (an application that pings peers does so for ever)."""
    server = await start_server()
    srf = Srf()
    phone = await SipPhone.start("tcp")
    try:
        await attach(server, srf)
        asking = asyncio.ensure_future(srf.request(phone.uri, "OPTIONS"))
        first = await phone.expect_request("OPTIONS", timeout=10)
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        await first.respond(200)
        # The phone answers in order over one connection: once the second
        # request has its 200, the first one's 200 has been handled too.
        asking = asyncio.ensure_future(srf.request(phone.uri, "OPTIONS"))
        second = await phone.expect_request("OPTIONS", timeout=10)
        await second.respond(200)
        assert (await asyncio.wait_for(asking, 10)).status == 200
        assert not srf._outgoing._waiting
    finally:
        await srf.close()
        await phone.close()
        await server.stop()


def options_scenario() -> str:
    """sipp answers one OPTIONS carrying ``X-Probe`` with 200 and ``X-Answered: options``."""
    answer = answer_without_body("200 OK", to=CALLEE_TO, extra="X-Answered: options")
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <recv request="OPTIONS">
    <action>
      <ereg regexp="X-Probe: 1" search_in="msg" check_it="true" assign_to="probe"/>
    </action>
  </recv>
  <Reference variables="probe"/>
{answer}  <pause milliseconds="100"/>
</scenario>
"""
