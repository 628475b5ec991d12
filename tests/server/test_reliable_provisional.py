"""Reliable provisional responses as UAS (RFC 3262): sipp sends the PRACKs.

The server runs with T1 = 50 ms: a reliable 183 is retransmitted every
50, 100, 200... ms until its PRACK, and given up after 64*T1 = 3.2 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server_harness import (
    SDP,
    App,
    Sipp,
    invite_sipp,
    needs_sipp,
    sipp_uac,
    sipp_uas,
    start_server,
    until,
)
from sipp_scenarios.parts import OPTIONAL_100, pause, scenario_of
from sipp_scenarios.prack import (
    ACK_BYE,
    RECV_183,
    prack_scenario,
    reliable_183_callee,
    send_prack,
)
from sipp_scenarios.uac import ACK, ACK_2XX, BYE, CANCEL, INVITE, send_invite

from drachtio.server import Server


async def _finish(server: Server, app: App, sipp: Sipp) -> None:
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["dialogs"] == 0
    await app.close()
    await server.stop()


def _rseq(result: dict[str, Any]) -> int:
    headers = result["message"]["headers"]
    assert "100rel" in str(headers["require"]), headers
    assert "100rel" in str(headers["supported"]), headers
    return int(headers["rseq"])


@needs_sipp
async def test_the_prack_reaches_the_app_that_routes_it_and_the_183_is_retransmitted_until_then(
    tmp_path: Path,
) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite", "prack")
    scenario = prack_scenario("Require: 100rel", answered_first=False, pause_ms=300)
    sipp = await sipp_uac(tmp_path, server, scenario)
    invite = await app.next_sip("INVITE")
    # The caller requires 100rel: the app's 183 is made reliable.
    provisional = await app.respond(invite["transactionId"], 183, body=SDP)
    rseq = _rseq(provisional)
    prack = await app.next_sip("PRACK")
    assert prack["message"]["headers"]["rack"] == f"{rseq} 1 INVITE"
    await app.respond(prack["transactionId"], 200)
    # sipp waited 300 ms before its PRACK: the 183 went out again meanwhile.
    assert server.stats["retransmissions_sent"] >= 1
    await app.respond(invite["transactionId"], 200, body=SDP)
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    await _finish(server, app, sipp)


@needs_sipp
async def test_the_2xx_waits_for_the_prack_which_the_server_answers(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = prack_scenario("Supported: 100rel", answered_first=True, pause_ms=200)
    sipp = await sipp_uac(tmp_path, server, scenario)
    invite = await app.next_sip("INVITE")
    # The caller supports 100rel and the app asks for it.
    provisional = await app.respond(invite["transactionId"], 183, {"Require": "100rel"}, body=SDP)
    _rseq(provisional)
    # The 200 is held until the PRACK (RFC 3262 §3), then sent before the PRACK's 200.
    ok = await app.respond(invite["transactionId"], 200, body=SDP)
    assert ok["success"] is True and "dialogId" in ok, ok
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    assert "sip PRACK" not in app.labels()
    await _finish(server, app, sipp)


@needs_sipp
async def test_without_support_the_183_is_sent_unreliably(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = scenario_of(
        "no 100rel",
        INVITE,
        OPTIONAL_100,
        '  <recv response="183">\n    <action>\n'
        '      <ereg regexp="RSeq" search_in="msg" check_it_inverse="true" assign_to="r"/>\n'
        '    </action>\n  </recv>\n  <Reference variables="r"/>\n',
        '  <recv response="200" rrs="true"/>\n',
        ACK_2XX + BYE,
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    invite = await app.next_sip("INVITE")
    provisional = await app.respond(invite["transactionId"], 183, {"Require": "100rel"}, body=SDP)
    assert "rseq" not in provisional["message"]["headers"]
    await app.respond(invite["transactionId"], 200, body=SDP)
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    await _finish(server, app, sipp)


@needs_sipp
async def test_without_a_prack_the_invite_is_answered_504(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = scenario_of(
        "no prack",
        send_invite("Require: 100rel"),
        OPTIONAL_100,
        RECV_183,
        '  <recv response="504" timeout="10000"/>\n',
        ACK,
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    invite = await app.next_sip("INVITE")
    await app.respond(invite["transactionId"], 183, body=SDP)
    cancel = await app.next_request("cancel")
    assert cancel == {
        "transactionId": invite["transactionId"],
        "reason": "no PRACK for the reliable provisional response: answered 504",
    }
    await _finish(server, app, sipp)


@needs_sipp
async def test_a_prack_that_acknowledges_nothing_is_answered_481(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = scenario_of(
        "stray prack",
        send_invite("Supported: 100rel"),
        OPTIONAL_100,
        '  <recv response="180" rrs="true"/>\n',
        send_prack("77"),
        '  <recv response="481"/>\n',
        '  <recv response="200" rrs="true"/>\n',
        ACK_BYE,
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    invite = await app.next_sip("INVITE")
    await app.respond(invite["transactionId"], 180)  # unreliable: the app did not ask
    bye_task = app.next_sip("BYE")
    # The app answers once sipp's PRACK was refused: the server logs nothing to it.
    await _await_stat(server, "requests_received", 2)
    await app.respond(invite["transactionId"], 200, body=SDP)
    bye = await bye_task
    await app.respond(bye["transactionId"], 200)
    await _finish(server, app, sipp)


async def _await_stat(server: Server, name: str, at_least: int) -> None:
    await until(lambda: server.stats[name] >= at_least)


@needs_sipp
async def test_a_cancel_before_the_prack_ends_the_call_whose_2xx_was_held(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = scenario_of(
        "cancel before prack",
        send_invite("Require: 100rel"),
        OPTIONAL_100,
        RECV_183,
        # Time for the app's 183 and 200, a few local round trips.
        pause(1000),
        CANCEL,
        ACK,
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    invite = await app.next_sip("INVITE")
    await app.respond(invite["transactionId"], 183, body=SDP)
    ok = await app.respond(invite["transactionId"], 200, body=SDP)  # held for the PRACK
    event = await app.next_request("dialog")
    assert event == {
        "dialogId": ok["dialogId"],
        "event": "destroyed",
        "reason": "cancelled by the caller",
    }
    await _finish(server, app, sipp)


@needs_sipp
async def test_the_server_pracks_a_reliable_183_to_an_invite_the_app_sent(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server)
    sipp, port = await sipp_uas(tmp_path, reliable_183_callee())
    _, ok = await invite_sipp(app, port)
    assert ok["message"]["status_line"]["status_code"] == 200
    # The app saw the 183 (before its 200), not the PRACK.
    assert app.labels().count("sip 183") == 1
    assert "sip PRACK" not in app.labels()
    dialog_id = ok["dialogId"]
    await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
    # The BYE takes the CSeq after the PRACK's.
    _, bye_response = await app.send_in_dialog(dialog_id, "BYE")
    assert bye_response["message"]["status_line"]["status_code"] == 200
    await _finish(server, app, sipp)
