"""Session timers in real calls (RFC 4028): sipp on the SIP side, a raw JSON application.

RFC 4028 allows no interval under 90 s; the server runs these tests with
``session_timer_scale`` so that its timers count 90 s as 2.7 s
(``SCALE``): the headers carry the RFC's values, only the server's clock for
them is faster. Refreshes are then due 1.35 s after a 2xx and a call
without one expires after 1.8 s (60 s of session time, §10). The gaps sipp
leaves are a second or more away from either.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from server_harness import (
    SDP,
    App,
    invite_sipp,
    needs_sipp,
    sipp_uac,
    sipp_uas,
    start_server,
    until,
)
from sipp_scenarios.parts import (
    CALLEE_TO,
    CONTACT,
    END,
    HEAD,
    OPTIONAL_100,
    SDP_BODY,
    answer_kept,
    checked_recv,
    header_lines,
    pause,
    recv_kept,
    scenario_of,
    uas_answer,
)
from sipp_scenarios.uac import ACK, send_invite, uac_request

from drachtio.server import Server
from drachtio.server.session_timer import Agreement

SCALE = 0.03
EXPIRE_AFTER = 60 * SCALE  # a 90 s session: 90 - min(32, 30) seconds of session time


def _answer(code: int, headers: str = "", body: str = "", to: str = "[last_To:]") -> str:
    return uas_answer(code, header_lines(headers), body, to)


def uac_call(invite_headers: str, middle: str, *, bye: bool = True) -> str:
    """sipp calls the server: INVITE with ``invite_headers``, 200, ACK, ``middle``, BYE."""
    parts = [HEAD.format(name="session timer uac"), send_invite(invite_headers)]
    parts.append(OPTIONAL_100)
    parts.append('  <recv response="200" rrs="true"/>\n')
    parts.append(uac_request("ACK", 1))
    parts.append(middle)
    if bye:
        parts.append(uac_request("BYE", 9))
        parts.append('  <recv response="200"/>\n')
    parts.append(END)
    return "".join(parts)


async def _answer_call(app: App) -> str:
    """The app answers sipp's INVITE 200; the dialogId."""
    invite = await app.next_sip("INVITE")
    ok = await app.respond(invite["transactionId"], 200, body=SDP)
    assert ok["success"] is True, ok
    dialog_id: str = ok["dialogId"]
    return dialog_id


async def _server(**settings: Any) -> tuple[Server, App]:
    server = await start_server(session_timer_scale=SCALE, **settings)
    app = await App.authenticated(server, "invite")
    return server, app


async def _finish(server: Server, app: App, sipp: Any) -> None:
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["dialogs"] == 0
    await app.close()
    await server.stop()


@needs_sipp
async def test_s6_s9_a_request_asking_too_little_gets_422_and_its_retry_succeeds(
    tmp_path: Path,
) -> None:
    server, app = await _server(min_se=120, session_expires=600)
    scenario = scenario_of(
        "422 then retry",
        send_invite("Supported: timer\nSession-Expires: 90"),
        OPTIONAL_100,
        checked_recv('response="422"', ("Min-SE: 120",), "r422_"),
        ACK,
        send_invite("Supported: timer\nSession-Expires: 120\nMin-SE: 120", cseq=2),
        OPTIONAL_100,
        checked_recv(
            'response="200" rrs="true"',
            (
                "Session-Expires: 120;refresher=uac",
                "Require: timer",
                "Supported: timer",
            ),
            "ok_",
        ),
        uac_request("ACK", 2),
        uac_request("BYE", 3),
        '  <recv response="200"/>\n',
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    invite = await app.next_sip("INVITE")  # only the retry reaches the application
    assert invite["message"]["headers"]["cseq"] == {"seq": "2", "method": "INVITE"}
    await app.respond(invite["transactionId"], 200, body=SDP)
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    await _finish(server, app, sipp)


@needs_sipp
@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("Session-Expires: soon", "Session-Expires"),
        ("Min-SE: -5", "Min-SE"),
    ],
)
async def test_s9_a_malformed_header_is_answered_400_naming_it(
    tmp_path: Path, header: str, named: str
) -> None:
    server, app = await _server()
    scenario = scenario_of(
        "malformed",
        send_invite(f"Supported: timer\n{header}"),
        OPTIONAL_100,
        checked_recv('response="400"', (f"SIP/2.0 400 Malformed {named} header",), "r_"),
        ACK,
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    await _finish(server, app, sipp)
    assert not any(
        frame.get("command") == "sip" for frame in app.frames if frame["type"] == "request"
    )


def _refreshed_by_server(method: str, count: int) -> str:
    """sipp receives ``count`` refreshes (``method``) from the server and answers each 200."""
    parts = []
    checks = (f"{method} sip:", "Session-Expires: 90;refresher=uac", "Supported: timer")
    if method == "INVITE":
        checks = (*checks, "m=audio 40000")
    for index in range(count):
        parts.append(checked_recv(f'request="{method}"', checks, f"refresh{index}_"))
        extra = "Session-Expires: 90;refresher=uac\nRequire: timer\n" + CONTACT
        if method == "INVITE":
            parts.append(_answer(200, extra + "Content-Type: application/sdp", SDP_BODY))
            parts.append('  <recv request="ACK" timeout="10000"/>\n')
        else:
            parts.append(_answer(200, extra))
    return "".join(parts)


@needs_sipp
@pytest.mark.parametrize(
    ("allow", "method", "transport"),
    [
        ("Allow: INVITE, ACK, BYE, CANCEL, UPDATE", "UPDATE", "udp"),
        ("Allow: INVITE, ACK, BYE, CANCEL", "INVITE", "udp"),
        ("Allow: INVITE, ACK, BYE, CANCEL, UPDATE", "UPDATE", "tcp"),
    ],
)
async def test_s10_the_server_refreshes_the_call(
    tmp_path: Path, allow: str, method: str, transport: str
) -> None:
    server, app = await _server()
    scenario = uac_call(
        f"Supported: timer\nSession-Expires: 90;refresher=uas\n{allow}",
        _refreshed_by_server(method, 2),
    )
    started = time.monotonic()
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    dialog_id = await _answer_call(app)
    bye = await app.next_sip("BYE")
    # Two refreshes, each half the interval after the last 2xx (the 2xx of
    # the first is at least 45 s of session time after the call's).
    assert time.monotonic() - started >= 2 * 45 * SCALE
    assert bye["dialogId"] == dialog_id
    await app.respond(bye["transactionId"], 200)
    # The application saw none of the refreshes: they are the server's.
    assert app.labels().count("sip UPDATE") == 0
    assert app.labels().count("sip INVITE") == 1
    await _finish(server, app, sipp)


@needs_sipp
@pytest.mark.parametrize("method", ["UPDATE", "INVITE"])
async def test_s10_a_refresh_from_the_peer_restarts_the_timer(tmp_path: Path, method: str) -> None:
    server, app = await _server()
    # Each gap is 1.2 s, short of the expiry (1.8 s); both together are
    # past it, so the call lasts only if the refresh restarted the timer.
    gap = f'  <pause milliseconds="{int(EXPIRE_AFTER * 1000 * 2 / 3)}"/>\n'
    headers = "Supported: timer\nSession-Expires: 90;refresher=uac"
    if method == "INVITE":
        # A re-INVITE: within the dialog, to the remote target.
        refresh = send_invite(headers, cseq=2, in_dialog=True)
    else:
        refresh = uac_request("UPDATE", 2, f"{headers}\n{CONTACT}")
    middle = gap + refresh
    if method == "INVITE":
        middle += OPTIONAL_100
    middle += checked_recv(
        'response="200"', ("Session-Expires: 90;refresher=uac", "Require: timer"), "ok_"
    )
    if method == "INVITE":
        middle += uac_request("ACK", 2)
    middle += gap
    scenario = uac_call("Supported: timer\nSession-Expires: 90;refresher=uac", middle)
    sipp = await sipp_uac(tmp_path, server, scenario)
    dialog_id = await _answer_call(app)
    refresh_request = await app.next_sip(method)
    assert refresh_request["dialogId"] == dialog_id
    body = SDP if method == "INVITE" else None
    await app.respond(refresh_request["transactionId"], 200, body=body)
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    assert "dialog destroyed" in app.labels()
    await _finish(server, app, sipp)


@needs_sipp
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_s10_without_a_refresh_the_server_ends_the_call(
    tmp_path: Path, transport: str
) -> None:
    server, app = await _server()
    middle = checked_recv(
        'request="BYE"', ("Reason: SIP;text=&quot;session expired&quot;",), "bye_"
    ) + _answer(200)
    scenario = uac_call("Supported: timer\nSession-Expires: 90;refresher=uac", middle, bye=False)
    started = time.monotonic()
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    dialog_id = await _answer_call(app)
    event = await app.next_request("dialog")
    assert time.monotonic() - started >= EXPIRE_AFTER
    assert event == {"dialogId": dialog_id, "event": "destroyed", "reason": "session expired"}
    await _finish(server, app, sipp)


@needs_sipp
async def test_s7_an_invite_the_app_sends_is_retried_after_422(tmp_path: Path) -> None:
    server, app = await _server(session_expires=90)
    scenario = scenario_of(
        "uas 422",
        checked_recv(
            'request="INVITE"',
            ("Supported: timer", "Session-Expires: 90[^;0-9]", "CSeq: 1 INVITE"),
            "first_",
        ),
        _answer(422, "Min-SE: 150", to=CALLEE_TO),
        '  <recv request="ACK" timeout="10000"/>\n',
        checked_recv(
            'request="INVITE"',
            ("Session-Expires: 150[^;0-9]", "Min-SE: 150", "CSeq: 2 INVITE"),
            "retry_",
        ),
        _answer(
            200,
            f"Session-Expires: 150;refresher=uas\nRequire: timer\n{CONTACT}"
            "Content-Type: application/sdp",
            SDP_BODY,
            to=CALLEE_TO,
        ),
        '  <recv request="ACK" timeout="10000"/>\n',
        '  <recv request="BYE" timeout="10000"/>\n',
        _answer(200),
        pause(200),
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    _, final = await invite_sipp(app, port)
    # The 422 stays in the server: the application sees the retry's 200.
    assert final["message"]["status_line"]["status_code"] == 200
    dialog_id = final["dialogId"]
    ack = await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
    assert ack["success"] is True, ack
    _, bye_response = await app.send_in_dialog(dialog_id, "BYE")
    assert bye_response["message"]["status_line"]["status_code"] == 200
    await asyncio.sleep(0)
    await _finish(server, app, sipp)


@needs_sipp
async def test_s10_a_refresh_answered_491_is_sent_again_after_the_back_off(
    tmp_path: Path,
) -> None:
    server, app = await _server()
    checks = ("UPDATE sip:", "Session-Expires: 90;refresher=uac")
    middle = (
        checked_recv('request="UPDATE"', checks, "glare_")
        + _answer(491)
        + checked_recv('request="UPDATE"', checks, "again_")
        + _answer(200, f"Session-Expires: 90;refresher=uac\nRequire: timer\n{CONTACT}")
    )
    scenario = uac_call(
        "Supported: timer\nSession-Expires: 90;refresher=uas\nAllow: INVITE, ACK, BYE, UPDATE",
        middle,
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    await _answer_call(app)
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    await _finish(server, app, sipp)


@needs_sipp
@pytest.mark.parametrize("status", [481, 408])
async def test_s10_a_refresh_answered_481_or_408_ends_the_call(tmp_path: Path, status: int) -> None:
    server, app = await _server()
    reason = f"session refresh failed: {status}"
    middle = (
        checked_recv('request="UPDATE"', (), "refresh_")
        + _answer(status)
        + checked_recv('request="BYE"', (f"Reason: SIP;text=&quot;{reason}&quot;",), "bye_")
        + _answer(200)
    )
    scenario = uac_call(
        "Supported: timer\nSession-Expires: 90;refresher=uas\nAllow: INVITE, ACK, BYE, UPDATE",
        middle,
        bye=False,
    )
    sipp = await sipp_uac(tmp_path, server, scenario)
    dialog_id = await _answer_call(app)
    event = await app.next_request("dialog")
    assert event == {"dialogId": dialog_id, "event": "destroyed", "reason": reason}
    await _finish(server, app, sipp)


@needs_sipp
async def test_s7_4_the_server_refreshes_as_uac_and_retries_its_refresh_after_422(
    tmp_path: Path,
) -> None:
    server, app = await _server(session_expires=90)
    update = ("UPDATE sip:", "Session-Expires: 90;refresher=uac", "Supported: timer")
    retried = ("UPDATE sip:", "Session-Expires: 120;refresher=uac", "Min-SE: 120")
    scenario = scenario_of(
        "uas refreshed by the server",
        checked_recv('request="INVITE"', ("Session-Expires: 90[^;0-9]",), "inv_"),
        _answer(
            200,
            "Session-Expires: 90;refresher=uac\nRequire: timer\n"
            f"Allow: INVITE, ACK, BYE, UPDATE\n{CONTACT}Content-Type: application/sdp",
            SDP_BODY,
            to=CALLEE_TO,
        ),
        '  <recv request="ACK" timeout="10000"/>\n',
        checked_recv('request="UPDATE"', update, "u1_"),
        _answer(422, "Min-SE: 120"),
        checked_recv('request="UPDATE"', retried, "u2_"),
        _answer(200, f"Session-Expires: 120;refresher=uac\nRequire: timer\n{CONTACT}"),
        '  <recv request="BYE" timeout="10000"/>\n',
        _answer(200),
        pause(200),
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    _, ok = await invite_sipp(app, port)
    dialog_id = ok["dialogId"]
    await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
    # The refresh and its retry are the server's; wait until the retry's
    # 2xx set the new interval, then hang up (the next refresh is 1.8 s away).
    timers = server._tu.core.sessions.timers
    await until(lambda: timers.agreement(dialog_id) == Agreement(120, 120, we_refresh=True))
    assert timers.agreement(dialog_id) == Agreement(120, 120, we_refresh=True)
    _, bye_response = await app.send_in_dialog(dialog_id, "BYE")
    assert bye_response["message"]["status_line"]["status_code"] == 200
    assert "sip 422" not in app.labels()
    await _finish(server, app, sipp)


@needs_sipp
async def test_a_reinvite_crossing_the_servers_refresh_is_answered_491(tmp_path: Path) -> None:
    server, app = await _server()
    crossing = send_invite(
        "Supported: timer\nSession-Expires: 90;refresher=uac", cseq=2, in_dialog=True
    )
    middle = (
        # The server's refresh (a re-INVITE: no UPDATE in Allow), kept unanswered.
        recv_kept("INVITE", "re_")
        # sipp's own re-INVITE crosses it: 491 (RFC 3261 §14.2).
        + crossing
        + OPTIONAL_100
        + '  <recv response="491"/>\n'
        + uac_request("ACK", 2)
        # The server's refresh answered at last, with SDP.
        + answer_kept(
            "re_",
            200,
            f"Session-Expires: 90;refresher=uac\nRequire: timer\n{CONTACT}"
            "Content-Type: application/sdp\n",
            SDP_BODY,
        )
        + '  <recv request="ACK" timeout="10000"/>\n'
    )
    scenario = uac_call(
        "Supported: timer\nSession-Expires: 90;refresher=uas\nAllow: INVITE, ACK, BYE", middle
    )
    sipp = await sipp_uac(tmp_path, server, scenario, "tcp")
    await _answer_call(app)
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    assert app.labels().count("sip INVITE") == 1
    await _finish(server, app, sipp)
