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
    _ACK,
    _HEAD,
    _INVITE,
    SDP,
    App,
    _checked_recv,
    _keep_headers,
    _kept,
    _uas_answer,
    invite_sipp,
    needs_sipp,
    sipp_uac,
    sipp_uas,
    start_server,
)

from drachtio.server import Server
from drachtio.server.session_timer import Agreement

SCALE = 0.03
EXPIRE_AFTER = 60 * SCALE  # a 90 s session: 90 - min(32, 30) seconds of session time

_SDP_BODY = SDP.replace("\r\n", "\n")


def _checks(what: str, regexps: tuple[str, ...], prefix: str) -> str:
    """sipp receives ``what``; each of ``regexps`` must match it or the call fails."""
    return _checked_recv(what, regexps, prefix)


def _lines(headers: str) -> str:
    return "".join(f"      {line}\n" for line in headers.splitlines())


def _invite(cseq: int, headers: str) -> str:
    """sipp's INVITE (the harness's) with CSeq ``cseq`` and ``headers`` added."""
    return _INVITE.replace("CSeq: 1 INVITE", f"CSeq: {cseq} INVITE").replace(
        "      Max-Forwards: 70\n", "      Max-Forwards: 70\n" + _lines(headers)
    )


def _answer(code: int, headers: str = "", body: str = "", to: str = "[last_To:]") -> str:
    return _uas_answer(code, _lines(headers), body, to)


def _uac_request(method: str, cseq: int, headers: str = "", retrans: bool = True) -> str:
    lines = "".join(f"      {line}\n" for line in headers.splitlines())
    via = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"
    return f"""
  <send{' retrans="500"' if retrans else ""}>
    <![CDATA[

      {method} [next_url] SIP/2.0
      {via}
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} {method}
      Max-Forwards: 70
{lines}\
      Content-Length: 0

    ]]>
  </send>
"""


_CONTACT = "Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>"


def uac_call(invite_headers: str, middle: str, *, bye: bool = True) -> str:
    """sipp calls the server: INVITE with ``invite_headers``, 200, ACK, ``middle``, BYE."""
    parts = [_HEAD.format(name="session timer uac"), _invite(1, invite_headers)]
    parts.append('  <recv response="100" optional="true"/>\n')
    parts.append('  <recv response="200" rrs="true"/>\n')
    parts.append(_uac_request("ACK", 1, retrans=False))
    parts.append(middle)
    if bye:
        parts.append(_uac_request("BYE", 9))
        parts.append('  <recv response="200"/>\n')
    parts.append("</scenario>\n")
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
    scenario = "".join(
        [
            _HEAD.format(name="422 then retry"),
            _invite(1, "Supported: timer\nSession-Expires: 90"),
            '  <recv response="100" optional="true"/>\n',
            _checks('response="422"', ("Min-SE: 120",), "r422_"),
            _ACK,
            _invite(2, "Supported: timer\nSession-Expires: 120\nMin-SE: 120"),
            '  <recv response="100" optional="true"/>\n',
            _checks(
                'response="200" rrs="true"',
                (
                    "Session-Expires: 120;refresher=uac",
                    "Require: timer",
                    "Supported: timer",
                ),
                "ok_",
            ),
            _uac_request("ACK", 2, retrans=False),
            _uac_request("BYE", 3),
            '  <recv response="200"/>\n',
            "</scenario>\n",
        ]
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
    scenario = "".join(
        [
            _HEAD.format(name="malformed"),
            _invite(1, f"Supported: timer\n{header}"),
            '  <recv response="100" optional="true"/>\n',
            _checks('response="400"', (f"SIP/2.0 400 Malformed {named} header",), "r_"),
            _ACK,
            "</scenario>\n",
        ]
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
        parts.append(_checks(f'request="{method}"', checks, f"refresh{index}_"))
        extra = "Session-Expires: 90;refresher=uac\nRequire: timer\n" + _CONTACT
        if method == "INVITE":
            parts.append(_answer(200, extra + "\nContent-Type: application/sdp", _SDP_BODY))
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
        refresh = (
            _invite(2, headers)
            .replace("INVITE sip:[service]@[remote_ip]:[remote_port]", "INVITE [next_url]")
            .replace("[remote_port]>\n", "[remote_port]>[peer_tag_param]\n")
        )
    else:
        refresh = _uac_request("UPDATE", 2, f"{headers}\n{_CONTACT}")
    middle = gap + refresh
    if method == "INVITE":
        middle += '  <recv response="100" optional="true"/>\n'
    middle += _checks(
        'response="200"', ("Session-Expires: 90;refresher=uac", "Require: timer"), "ok_"
    )
    if method == "INVITE":
        middle += _uac_request("ACK", 2, retrans=False)
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
    middle = _checks(
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
    scenario = "".join(
        [
            _HEAD.format(name="uas 422"),
            _checks(
                'request="INVITE"',
                ("Supported: timer", "Session-Expires: 90[^;0-9]", "CSeq: 1 INVITE"),
                "first_",
            ),
            _answer(422, "Min-SE: 150", to="[last_To:];tag=[pid]SIPpTag01[call_number]"),
            '  <recv request="ACK" timeout="10000"/>\n',
            _checks(
                'request="INVITE"',
                ("Session-Expires: 150[^;0-9]", "Min-SE: 150", "CSeq: 2 INVITE"),
                "retry_",
            ),
            _answer(
                200,
                f"Session-Expires: 150;refresher=uas\nRequire: timer\n{_CONTACT}\n"
                "Content-Type: application/sdp",
                _SDP_BODY,
                to="[last_To:];tag=[pid]SIPpTag01[call_number]",
            ),
            '  <recv request="ACK" timeout="10000"/>\n',
            '  <recv request="BYE" timeout="10000"/>\n',
            _answer(200),
            '  <pause milliseconds="200"/>\n',
            "</scenario>\n",
        ]
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
        _checks('request="UPDATE"', checks, "glare_")
        + _answer(491)
        + _checks('request="UPDATE"', checks, "again_")
        + _answer(200, f"Session-Expires: 90;refresher=uac\nRequire: timer\n{_CONTACT}")
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
        _checks('request="UPDATE"', (), "refresh_")
        + _answer(status)
        + _checks('request="BYE"', (f"Reason: SIP;text=&quot;{reason}&quot;",), "bye_")
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
    scenario = "".join(
        [
            _HEAD.format(name="uas refreshed by the server"),
            _checks('request="INVITE"', ("Session-Expires: 90[^;0-9]",), "inv_"),
            _answer(
                200,
                "Session-Expires: 90;refresher=uac\nRequire: timer\n"
                f"Allow: INVITE, ACK, BYE, UPDATE\n{_CONTACT}\nContent-Type: application/sdp",
                _SDP_BODY,
                to="[last_To:];tag=[pid]SIPpTag01[call_number]",
            ),
            '  <recv request="ACK" timeout="10000"/>\n',
            _checks('request="UPDATE"', update, "u1_"),
            _answer(422, "Min-SE: 120"),
            _checks('request="UPDATE"', retried, "u2_"),
            _answer(200, f"Session-Expires: 120;refresher=uac\nRequire: timer\n{_CONTACT}"),
            '  <recv request="BYE" timeout="10000"/>\n',
            _answer(200),
            '  <pause milliseconds="200"/>\n',
            "</scenario>\n",
        ]
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    _, ok = await invite_sipp(app, port)
    dialog_id = ok["dialogId"]
    await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
    # The refresh and its retry are the server's; wait until the retry's
    # 2xx set the new interval, then hang up (the next refresh is 1.8 s away).
    timers = server._tu.core.sessions.timers
    for _ in range(1000):
        agreement = timers.agreement(dialog_id)
        if agreement is not None and agreement.interval == 120:
            break
        await asyncio.sleep(0.01)
    assert timers.agreement(dialog_id) == Agreement(120, 120, we_refresh=True)
    _, bye_response = await app.send_in_dialog(dialog_id, "BYE")
    assert bye_response["message"]["status_line"]["status_code"] == 200
    assert "sip 422" not in app.labels()
    await _finish(server, app, sipp)


@needs_sipp
async def test_a_reinvite_crossing_the_servers_refresh_is_answered_491(tmp_path: Path) -> None:
    server, app = await _server()
    crossing = (
        _invite(2, "Supported: timer\nSession-Expires: 90;refresher=uac")
        .replace("INVITE sip:[service]@[remote_ip]:[remote_port]", "INVITE [next_url]")
        .replace("[remote_port]>\n", "[remote_port]>[peer_tag_param]\n")
    )
    middle = (
        # The server's refresh (a re-INVITE: no UPDATE in Allow), kept unanswered.
        '  <recv request="INVITE" timeout="10000">\n    <action>\n'
        + _keep_headers("re_")
        + "    </action>\n  </recv>\n"
        + f'  <Reference variables="{_kept("re_")}"/>\n'
        # sipp's own re-INVITE crosses it: 491 (RFC 3261 §14.2).
        + crossing
        + '  <recv response="100" optional="true"/>\n'
        + '  <recv response="491"/>\n'
        + _uac_request("ACK", 2, retrans=False)
        + f"""
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      Via: [$re_via]
      From: [$re_from]
      To: [$re_to]
      Call-ID: [call_id]
      CSeq: [$re_cseq]
      Session-Expires: 90;refresher=uac
      Require: timer
      {_CONTACT}
      Content-Type: application/sdp
      Content-Length: [len]

{_SDP_BODY}
    ]]>
  </send>
  <recv request="ACK" timeout="10000"/>
"""
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
