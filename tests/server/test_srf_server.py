"""drachtio-srf applications against the real server, sipp as the far end.

Each test runs a small drachtio-srf application
(``tests/srfproto/node/app.js``, on the real client library pinned in its
``package-lock.json``) against a started server, and checks what a user
would: sipp's result and what the application printed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from server_harness import App, Sipp, free_port, sipp_uac, start_server
from sipp_scenarios.parts import CALLEE_TO, answer_without_body
from sipp_scenarios.uac import (
    request_scenario,
    uac_hung_up_by_server_scenario,
    uac_in_dialog_scenario,
    uac_scenario,
)
from sipp_scenarios.uas import ringing_then_cancelled_scenario, uas_in_dialog_scenario
from srf_node import NodeApp, call, connected, events, needs_node

pytestmark = needs_node


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_create_uas_answers_200_with_sdp_and_the_callers_bye_ends_it(
    tmp_path: Path, transport: str
) -> None:
    scenario = uac_scenario(200, check_headers=("Content-Type: application/sdp",))
    lines = await call(tmp_path, "uas-200", uac=scenario, transport=transport)
    assert events(lines) == ["connect", "invite", "dialog", "destroy"]
    assert lines[1]["sdp"] is True and "sipp" in lines[1]["from"]
    assert lines[2]["remoteSdp"] is True
    assert (lines[3]["reason"], lines[3]["source"]) == ("normal release", "network")


async def test_no_ack_for_the_200_ends_the_dialog_with_an_unsolicited_bye(
    tmp_path: Path,
) -> None:
    """The server's BYE after 64*T1 (3.2 s here) reaches the application as
    drachtio-srf expects it, with the reason."""
    scenario = uac_hung_up_by_server_scenario(ack=False)
    lines = await call(tmp_path, "uas-200", uac=scenario)
    assert events(lines) == ["connect", "invite", "dialog", "destroy"]
    assert (lines[3]["reason"], lines[3]["source"]) == ("no ACK for the 2xx", "application")


async def test_a_busy_callee_answers_486(tmp_path: Path) -> None:
    lines = await call(tmp_path, "uas-486", uac=uac_scenario(486))
    assert events(lines) == ["connect", "invite", "sent"]
    assert lines[2]["status"] == 486


async def test_the_caller_cancels_before_the_answer(tmp_path: Path) -> None:
    scenario = uac_scenario(487, provisional=(180,), cancel_after=180)
    lines = await call(tmp_path, "uas-cancel", uac=scenario)
    assert events(lines) == ["connect", "invite", "cancel"]


OPTIONS_UAS = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="options answered">
  <recv request="OPTIONS" timeout="15000">
    <action>
      <ereg regexp="Subject: café" search_in="msg" check_it="true" assign_to="subject"/>
      <ereg regexp="Content-Length: 11" search_in="msg" check_it="true" assign_to="length"/>
      <ereg regexp="héllo 😀$" search_in="body" check_it="true" assign_to="body"/>
    </action>
  </recv>
  <Reference variables="subject,length,body"/>
{answer_without_body("200 OK", to=CALLEE_TO)}</scenario>
"""


async def test_srf_request_sends_options_to_the_far_end(tmp_path: Path) -> None:
    lines = await call(tmp_path, "options", uas=OPTIONS_UAS)
    assert events(lines) == ["connect", "sent", "response"]
    assert lines[1]["method"] == "OPTIONS" and lines[1]["callId"]
    assert lines[2]["status"] == 200


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_create_uac_calls_the_far_end_and_hangs_up(tmp_path: Path, transport: str) -> None:
    scenario = uas_in_dialog_scenario([("BYE", 200)])
    lines = await call(tmp_path, "uac", uas=scenario, transport=transport)
    assert events(lines) == ["connect", "dialog", "bye-sent"]
    assert lines[1]["remoteSdp"] is True


MESSAGE_UAC = request_scenario("MESSAGE", "Content-Type: text/plain", "héllo ☕ srf\n")


async def test_a_json_app_and_an_srf_app_serve_one_server(tmp_path: Path) -> None:
    server = await start_server()
    json_app = await App.authenticated(server, "invite")
    srf_app = await connected(server, "message")
    try:
        invite = asyncio.ensure_future(json_app.next_sip("INVITE"))
        calling = await sipp_uac(tmp_path, server, uac_scenario(486))
        data = await invite
        answered = await json_app.respond(data["transactionId"], 486)
        assert answered["success"] is True, answered
        messaging = await sipp_uac(tmp_path, server, MESSAGE_UAC)
        for sipp in (calling, messaging):
            result = await sipp.result()
            assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.log
        lines = await srf_app.finish()
    finally:
        srf_app.kill()
        await json_app.close()
        await server.stop()
    assert events(lines) == ["connect", "message"]
    # Multi-byte UTF-8 from the network: the frame's length counts bytes.
    assert lines[1]["body"].startswith("héllo ☕ srf")


async def test_a_wrong_secret_is_refused_and_others_keep_being_served(tmp_path: Path) -> None:
    server = await start_server()
    json_app = await App.authenticated(server)
    app = await NodeApp.start(server, "uas-486", secret="not the secret")
    try:
        lines = await app.finish()
    finally:
        app.kill()
    assert lines == [{"event": "connect-failed", "message": "failed to authenticate to server"}]
    assert await json_app.request("ping") == {"pong": True}
    assert server.stats["sessions"] == 1
    await json_app.close()
    await server.stop()


async def test_create_b2bua_bridges_the_caller_to_the_callee(tmp_path: Path) -> None:
    callee = uas_in_dialog_scenario([("BYE", 200)])
    lines = await call(tmp_path, "b2bua", uac=uac_scenario(200), uas=callee)
    assert events(lines) == ["connect", "invite", "bridged", "caller-hung-up", "callee-released"]
    assert lines[2]["uasSdp"] is True


async def test_the_application_reconnects_after_a_server_restart(tmp_path: Path) -> None:
    port = free_port()
    server = await start_server(control_port=port)
    app = await connected(server, "uas-486")
    try:
        await server.stop()
        server = await start_server(control_port=port)
        await app.next("connect")
        # drachtio-srf sends its routes unanswered after the connect event:
        # wait until the new server holds the INVITE route.
        for _ in range(200):
            if any(server._routes.routes(s, "INVITE") for s in server._sessions):
                break
            await asyncio.sleep(0.05)
        sipp = await sipp_uac(tmp_path, server, uac_scenario(486))
        result = await sipp.result()
        assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.log
        lines = await app.finish()
    finally:
        app.kill()
        await server.stop()
    # While the server was down, drachtio-srf's attempts to reconnect may
    # have failed (an error event each), however many the machine's pace made.
    assert [e for e in events(lines) if e != "error"] == ["connect", "connect", "invite", "sent"]


async def test_the_app_cancels_its_invite_once_the_far_end_rings(tmp_path: Path) -> None:
    lines = await call(tmp_path, "uac-cancel", uas=ringing_then_cancelled_scenario())
    assert events(lines) == ["connect", "provisional", "cancel-sent", "uac-failed"]
    assert lines[1]["status"] == 180
    assert lines[2]["method"] == "CANCEL"
    assert lines[3]["status"] == 487


async def test_requests_in_the_dialog_from_the_far_end_reach_the_app(tmp_path: Path) -> None:
    """A re-INVITE and an INFO from sipp: the app's dialog answers them (200,
    its SDP again to the re-INVITE), then sipp's BYE ends it."""
    scenario = uac_in_dialog_scenario(
        [("INVITE", 200, "Content-Type: application/sdp"), ("INFO", 200, "CSeq: 3 INFO")]
    )
    lines = await call(tmp_path, "uas-200", uac=scenario)
    assert events(lines) == ["connect", "invite", "dialog", "destroy"]


async def test_the_app_re_invites_the_far_end_then_hangs_up(tmp_path: Path) -> None:
    scenario = uas_in_dialog_scenario(
        [("INVITE", 200), ("ACK", None), ("BYE", 200)],
        checks={"INVITE": ("o=srf 1 2",)},
    )
    lines = await call(tmp_path, "uac-modify", uas=scenario)
    assert events(lines) == ["connect", "dialog", "modified", "bye-sent"]
    assert lines[2]["remoteSdp"] is True


# A registrar that challenges (401), then checks alice's credentials: 200 or 403.
REGISTRAR = Path(__file__).parent.parent / "app" / "scenarios" / "uas_register_digest.xml"
CHALLENGE = 'realm="sipp.example", nonce="b7c9036dbf357f7683f054aea940e9e8", qop="auth"'


@pytest.mark.parametrize(("password", "status"), [("secret", 200), ("wrong", 403)])
async def test_register_with_credentials_answers_the_challenge(
    tmp_path: Path, password: str, status: int
) -> None:
    server = await start_server()
    port = free_port()
    registrar = await Sipp.start(
        tmp_path, "-sf", str(REGISTRAR), *f"-m 1 -i 127.0.0.1 -p {port} -t u1".split(),
        "-key", "challenge", CHALLENGE,
    )  # fmt: skip
    app = await NodeApp.start(
        server, "register", f"sip:127.0.0.1:{port}", env={"SRF_PASSWORD": password}
    )
    try:
        lines = await app.finish()
        result = await registrar.result()
        assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.log
    finally:
        app.kill()
        await server.stop()
    assert events(lines) == ["connect", "response"]
    assert lines[1]["status"] == status


async def test_a_new_request_goes_through_the_outbound_proxy_the_app_names(
    tmp_path: Path,
) -> None:
    """createUAC with ``proxy``: the INVITE keeps its Request-URI (a name that
    resolves nowhere) and reaches sipp, the proxy, by a loose first Route."""
    lines = await call(tmp_path, "uac-proxy", uas=uas_in_dialog_scenario([("BYE", 200)]))
    assert events(lines) == ["connect", "sent", "dialog", "bye-sent"]
    sent = lines[1]
    assert sent["uri"] == "sip:bob@nowhere.invalid"
    assert sent["route"].startswith("<sip:sipp@127.0.0.1:") and sent["route"].endswith(";lr>")


async def test_call_detail_records_reach_the_app_that_routes_them(tmp_path: Path) -> None:
    lines = await call(tmp_path, "uas-200-cdr", uac=uac_scenario(200))
    seen = [line for line in lines if line["event"].startswith("cdr:") or line["event"] == "invite"]
    call_id = seen[0]["callId"]
    assert [(line["event"], line.get("detail"), line["callId"]) for line in seen] == [
        ("cdr:attempt", None, call_id),
        ("invite", None, call_id),
        ("cdr:start", "uas", call_id),
        ("cdr:stop", "normal-release", call_id),
    ]
    assert [line.get("source") for line in seen if line["event"] != "invite"] == ["network"] * 3
    assert seen[0]["method"] == "INVITE"
    assert seen[2]["status"] == 200
    assert seen[3]["method"] == "BYE"
