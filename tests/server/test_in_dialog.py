"""Requests within dialogs, both ways: sipp on the SIP side, raw JSON applications on the other."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from server_harness import (
    SDP,
    App,
    free_port,
    needs_sipp,
    sip_port,
    sipp_uac,
    sipp_uas,
    start_server,
)
from sipp_scenarios.uac import uac_in_dialog_scenario
from sipp_scenarios.uas import uas_in_dialog_scenario, uas_reinvite_answered_after_bye_scenario

from drachtio.server import Server

# What the application answers to each request sipp sends in the dialog.
ANSWERS = [
    ("INVITE", 200),
    ("INFO", 200),
    ("UPDATE", 200),
    ("NOTIFY", 200),
    ("REFER", 202),
    ("MESSAGE", 202),
    ("OPTIONS", 200),
]


async def _invite_from_app(app: App, port: int, transport: str = "udp") -> str:
    """The app calls sipp's UAS at ``port``, acknowledges the 200; the dialogId."""
    uri = f"sip:service@127.0.0.1:{port}" + (";transport=tcp" if transport == "tcp" else "")
    ok = await app.invite(uri)
    assert ok["message"]["status_line"]["status_code"] == 200
    dialog_id: str = ok["dialogId"]
    ack = await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
    assert ack["success"] is True, ack
    return dialog_id


@needs_sipp
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_requests_from_sipp_in_a_dialog_reach_the_owner(
    tmp_path: Path, transport: str
) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    scenario = uac_in_dialog_scenario(
        [(method, code, f"X-Answered: {method}-{code}") for method, code in ANSWERS]
    )
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    invite = await app.next_sip("INVITE")
    ok = await app.respond(invite["transactionId"], 200, body=SDP)
    dialog_id = ok["dialogId"]
    ack = await app.next_request("sip")
    assert ack["message"]["request_uri"]["method"] == "ACK"
    for method, code in ANSWERS:
        request = await app.next_request("sip")
        assert request["message"]["request_uri"]["method"] == method
        assert request["dialogId"] == dialog_id
        if method == "MESSAGE":
            assert request["message"]["payload"]["content"].startswith("hello")
        headers: dict[str, Any] = {"X-Answered": f"{method}-{code}"}
        body = None
        if method == "INVITE":
            headers["Content-Type"] = "application/sdp"
            body = SDP
        result = await app.respond(request["transactionId"], code, headers, body=body)
        assert result["success"] is True, result
        # A 2xx to a dialog-creating method names the dialog (REFER: RFC 3515).
        assert ("dialogId" in result) == (method in ("INVITE", "REFER"))
        if method == "INVITE":
            # sipp acknowledges the re-INVITE's 200; the ACK reaches the owner.
            ack = await app.next_request("sip")
            assert ack["message"]["request_uri"]["method"] == "ACK"
            assert (ack["transactionId"], ack["dialogId"]) == (request["transactionId"], dialog_id)
    bye = await app.next_sip("BYE")
    assert bye["dialogId"] == dialog_id
    await app.respond(bye["transactionId"], 200)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["dialogs"] == 0
    await app.close()
    await server.stop()


@needs_sipp
async def test_app_sends_info_and_reinvite_in_a_dialog(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server)
    scenario = uas_in_dialog_scenario(
        [("INFO", 200), ("INVITE", 200), ("ACK", None), ("BYE", 200)],
        checks={"INFO": ("X-App: info-1",), "INVITE": ("X-App: reinvite-1",)},
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    dialog_id = await _invite_from_app(app, port)
    sent, info_ok = await app.send_in_dialog(dialog_id, "INFO", headers={"X-App": "info-1"})
    assert sent["message"]["headers"]["cseq"] == {"seq": "2", "method": "INFO"}
    assert info_ok["dialogId"] == dialog_id
    assert info_ok["message"]["status_line"]["status_code"] == 200
    assert info_ok["message"]["headers"]["x_sipp_answered"] == "INFO"
    sent, reinvite_ok = await app.send_in_dialog(
        dialog_id,
        "INVITE",
        headers={"X-App": "reinvite-1", "Content-Type": "application/sdp"},
        body=SDP,
    )
    assert sent["message"]["headers"]["cseq"] == {"seq": "3", "method": "INVITE"}
    assert reinvite_ok["dialogId"] == dialog_id
    assert reinvite_ok["message"]["headers"]["x_sipp_answered"] == "INVITE"
    ack = await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
    assert ack["message"]["headers"]["cseq"] == {"seq": "3", "method": "ACK"}
    _, bye_ok = await app.send_in_dialog(dialog_id, "BYE")
    assert bye_ok["message"]["headers"]["x_sipp_answered"] == "BYE"
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@needs_sipp
async def test_2xx_to_update_moves_the_remote_target(tmp_path: Path) -> None:
    # RFC 3311 §5.1: the Contact of the 2xx to an UPDATE is the dialog's new
    # remote target: the requests after it carry it as Request-URI.
    server = await start_server()
    app = await App.authenticated(server)
    scenario = uas_in_dialog_scenario(
        [("UPDATE", 200), ("INFO", 200), ("BYE", 200)],
        refresh_user="moved",
        checks={"UPDATE": ("^UPDATE sip:sipp@",), "INFO": ("^INFO sip:moved@",)},
    )
    sipp, port = await sipp_uas(tmp_path, scenario)
    dialog_id = await _invite_from_app(app, port)
    _, update_ok = await app.send_in_dialog(dialog_id, "UPDATE")
    assert update_ok["message"]["status_line"]["status_code"] == 200
    sent, _ = await app.send_in_dialog(dialog_id, "INFO")
    assert sent["message"]["request_uri"]["url"]["user"] == "moved"
    await app.send_in_dialog(dialog_id, "BYE")
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@needs_sipp
@pytest.mark.parametrize("answer", [481, None], ids=["481", "no-answer"])
async def test_481_or_no_answer_to_an_in_dialog_request_ends_the_dialog(
    tmp_path: Path, answer: int | None
) -> None:
    # RFC 3261 §12.2.1.2. Without an answer the transaction times out after
    # 64*T1 (3.2 s with T1 = 50 ms) and the app gets a made-up 408.
    server = await start_server()
    app = await App.authenticated(server)
    scenario = uas_in_dialog_scenario([("INFO", answer)])
    if answer is None:
        scenario = scenario.replace('<pause milliseconds="200"/>', '<pause milliseconds="4000"/>')
    sipp, port = await sipp_uas(tmp_path, scenario)
    dialog_id = await _invite_from_app(app, port)
    _, response = await app.send_in_dialog(dialog_id, "INFO")
    assert response["message"]["status_line"]["status_code"] == (answer or 408)
    assert response["dialogId"] == dialog_id
    destroyed = await app.next_request("dialog")
    reason = "481 response to INFO" if answer else "no response to INFO"
    assert destroyed == {"dialogId": dialog_id, "event": "destroyed", "reason": reason}
    assert server.stats["dialogs"] == 0
    bye = await app.request("sendSipRequest", {"method": "BYE", "dialogId": dialog_id})
    assert bye == {"success": False, "reason": f"no dialog {dialog_id}"}
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@needs_sipp
@pytest.mark.parametrize("router_host", ["127.0.0.1", "localhost"])
async def test_strict_router_first_in_the_route_set(tmp_path: Path, router_host: str) -> None:
    # RFC 3261 §12.2.1.1: sipp's 200 says the first hop (the last
    # Record-Route) is a strict router (no lr). Requests in the dialog then
    # have it as Request-URI, the rest of the route set then the remote
    # target as Route, and go to it (sipp), not to the first Route: that one
    # names a port nobody listens on. A router named by host name is
    # resolved (§8.1.2 applied to the Request-URI).
    server = await start_server()
    app = await App.authenticated(server)
    nowhere = free_port()
    sipp_port = free_port()
    strict = f"sip:strict-router@{router_host}:{sipp_port}"
    loose = f"sip:loose@127.0.0.1:{nowhere};lr"
    target = f"sip:uas-target@127.0.0.1:{sipp_port};transport=UDP"

    def check(method: str) -> tuple[str, ...]:
        # No '<' in an XML attribute: '.' stands for the angle brackets, and
        # [^@]* lets no other URI (all have a user part) come between.
        def dots(uri: str) -> str:
            return uri.replace(".", "[.]")

        return (
            f"^{method} {dots(strict)} SIP/2[.]0",
            f"Route: .{dots(loose)}.[^@]*{dots(target)}.",
        )

    scenario = uas_in_dialog_scenario(
        [("INFO", 200), ("BYE", 200)],
        record_route=f"<{loose}>, <{strict}>",
        contact_user="uas-target",
        checks={method: check(method) for method in ("ACK", "INFO", "BYE")},
    )
    sipp, port = await sipp_uas(tmp_path, scenario, port=sipp_port)
    assert port == sipp_port
    dialog_id = await _invite_from_app(app, port)
    sent, info_ok = await app.send_in_dialog(dialog_id, "INFO")
    uri = sent["message"]["request_uri"]["url"]
    assert (uri["user"], uri["host"], uri["port"]) == ("strict-router", router_host, str(port))
    routes = [route["url"]["user"] for route in sent["message"]["headers"]["route"]]
    assert routes == ["loose", "uas-target"]
    assert info_ok["message"]["headers"]["x_sipp_answered"] == "INFO"
    await app.send_in_dialog(dialog_id, "BYE")
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@needs_sipp
async def test_unanswered_in_dialog_request_is_handed_over_with_the_dialog(
    tmp_path: Path,
) -> None:
    server = await start_server()
    first = await App.authenticated(server, "invite", app_name="pbx")
    second = await App.authenticated(server, app_name="pbx")
    scenario = uac_in_dialog_scenario([("INFO", 200, "X-Answered-By: second")])
    sipp = await sipp_uac(tmp_path, server, scenario)
    invite = await first.next_sip("INVITE")
    ok = await first.respond(invite["transactionId"], 200, body=SDP)
    dialog_id = ok["dialogId"]
    await first.next_sip("ACK")
    info = await first.next_sip("INFO")
    await first.close()  # without answering the INFO
    created = await second.next_request("dialog")
    assert (created["dialogId"], created["event"]) == (dialog_id, "created")
    handed = await second.next_request("sip")
    assert handed["transactionId"] == info["transactionId"]
    assert handed["dialogId"] == dialog_id
    assert handed["message"] == info["message"]
    answered = await second.respond(handed["transactionId"], 200, {"X-Answered-By": "second"})
    assert answered["success"] is True, answered
    bye = await second.next_sip("BYE")
    await second.respond(bye["transactionId"], 200)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["server_transactions"] == 0
    await second.close()
    await server.stop()


async def _options_goes_to(server: Server, apps: list[App], sock: socket.socket, n: int) -> App:
    """Send an OPTIONS over UDP; the app it reached (which answers 200)."""
    port = sip_port(server, "udp")
    local = sock.getsockname()[1]
    sock.sendto(
        (
            f"OPTIONS sip:service@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-rr-{n}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@127.0.0.1>;tag=rr{n}\r\n"
            "To: <sip:service@127.0.0.1>\r\n"
            f"Call-ID: rr-{n}@127.0.0.1\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode(),
        ("127.0.0.1", port),
    )
    waits = {asyncio.ensure_future(app.next_sip("OPTIONS")): app for app in apps}
    done, pending = await asyncio.wait(waits, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    assert len(done) == 1
    task = done.pop()
    app = waits[task]
    await app.respond(task.result()["transactionId"], 200)
    loop = asyncio.get_running_loop()
    data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
    assert data.startswith(b"SIP/2.0 200 ")
    return app


async def test_round_robin_cursor_follows_unroute() -> None:
    # The cursor of a verb moves with the clients when one unroutes (the
    # next in turn is not skipped) and goes with the last one: clients that
    # route the verb later start from the first again.
    server = await start_server()
    a, b, c = [await App.authenticated(server, "options") for _ in range(3)]
    apps = [a, b, c]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        assert await _options_goes_to(server, apps, sock, 1) is a
        assert await a.request("unroute", {"verb": "options"}) == {"success": True}
        assert await _options_goes_to(server, apps, sock, 2) is b
        for app in (c, b):
            assert await app.request("unroute", {"verb": "options"}) == {"success": True}
        for app in (a, c):
            assert await app.request("route", {"verb": "options"}) == {"success": True}
        assert await _options_goes_to(server, apps, sock, 3) is a
        assert await _options_goes_to(server, apps, sock, 4) is c
    for app in apps:
        await app.close()
    await server.stop()


@needs_sipp
async def test_late_2xx_to_a_reinvite_after_the_app_left_is_only_acknowledged(
    tmp_path: Path,
) -> None:
    server = await start_server(on_disconnect="bye")
    app = await App.authenticated(server)
    # The re-INVITE's 200 comes after the BYE sent when the app leaves: it is
    # acknowledged and nothing more (a second BYE would fail sipp's call).
    sipp, port = await sipp_uas(tmp_path, uas_reinvite_answered_after_bye_scenario())
    dialog_id = await _invite_from_app(app, port)
    sent = await app.request(
        "sendSipRequest",
        {"method": "INVITE", "dialogId": dialog_id, "headers": {"X-App": "reinvite"}},
    )
    assert sent["success"] is True, sent
    await asyncio.sleep(0.3)  # the re-INVITE reaches sipp, which holds its answer
    await app.close()
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["dialogs"] == 0
    await server.stop()
