"""Calls through the server: sipp on the SIP side, raw JSON applications on the other."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from server_harness import SDP, App, Sipp, free_port, needs_sipp, sip_port, sipp_uac, start_server
from sip_peer import SipPeer
from sipp_scenarios.uac import uac_hung_up_by_server_scenario, uac_scenario

pytestmark = needs_sipp


@pytest.mark.parametrize(
    ("transport", "udp_on_loop"),
    [("udp", True), ("udp", False), ("tcp", True)],
    ids=["udp", "udp-stack-thread", "tcp"],
)
async def test_invite_answered_200_with_custom_headers_then_bye(
    tmp_path: Path, transport: str, udp_on_loop: bool
) -> None:
    server = await start_server(udp_on_loop=udp_on_loop)
    app = await App.authenticated(server, "invite", "bye")
    scenario = uac_scenario(
        200,
        check_headers=(
            "X-Custom: hello",
            "User-Agent: drachtio-test",
            "Content-Type: application/sdp",
        ),
    )
    sipp = await sipp_uac(tmp_path, server, scenario, transport)
    invite = await app.next_sip("INVITE")
    assert invite["source"]["transport"] == transport
    assert invite["source"]["address"] == "127.0.0.1"
    assert invite["message"]["request_uri"]["method"] == "INVITE"
    assert "dialogId" not in invite
    result = await app.respond(
        invite["transactionId"],
        200,
        {"X-Custom": "hello", "User-Agent": "drachtio-test", "Content-Type": "application/sdp"},
        body=SDP,
    )
    assert result["success"] is True
    message = result["message"]
    assert message["status_line"]["status_code"] == 200
    headers = message["headers"]
    assert headers["x_custom"] == "hello"
    assert headers["content_length"] == str(len(SDP))
    to_tag = headers["to"]["tag"]
    from_tag = headers["from"]["tag"]
    call_id = headers["call_id"]
    assert result["dialogId"] == f"{call_id};from-tag={from_tag};to-tag={to_tag}"
    port = sip_port(server, transport)
    contact = headers["contact"]["url"]
    assert (contact["host"], contact["port"]) == ("127.0.0.1", str(port))
    ack = await app.next_sip("ACK")
    assert ack["dialogId"] == result["dialogId"]
    assert ack["transactionId"] == invite["transactionId"]
    bye = await app.next_sip("BYE")
    assert bye["dialogId"] == result["dialogId"]
    destroyed = await app.next_request("dialog")
    assert destroyed == {
        "dialogId": result["dialogId"],
        "event": "destroyed",
        "reason": "BYE received",
    }
    bye_ok = await app.respond(bye["transactionId"], 200)
    assert bye_ok["message"]["headers"]["to"]["tag"] == to_tag
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    stats = server.stats
    assert (stats["dialogs"], stats["server_transactions"]) == (0, 0)
    await app.close()
    await server.stop()


async def test_486_busy(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    sipp = await sipp_uac(tmp_path, server, uac_scenario(486, check_headers=("Retry-After: 60",)))
    invite = await app.next_sip("INVITE")
    result = await app.respond(invite["transactionId"], 486, {"Retry-After": "60"})
    assert result["success"] is True
    assert result["message"]["status_line"]["reason"] == "Busy Here"
    assert "dialogId" not in result
    # A second final response is refused.
    again = await app.respond(invite["transactionId"], 200)
    assert again == {
        "success": False,
        "reason": f"transaction {invite['transactionId']} already has a final response",
    }
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


async def test_provisional_then_final(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite", "bye")
    sipp = await sipp_uac(tmp_path, server, uac_scenario(200, provisional=(180, 183)))
    invite = await app.next_sip("INVITE")
    tid = invite["transactionId"]
    ringing = await app.respond(tid, 180)
    progress = await app.respond(tid, 183, status="Session Progress", body=SDP)
    ok = await app.respond(tid, 200, body=SDP)
    tags = {r["message"]["headers"]["to"]["tag"] for r in (ringing, progress, ok)}
    assert len(tags) == 1  # one To tag for every response of the transaction
    assert "contact" in ringing["message"]["headers"]
    bye = await app.next_sip("BYE")
    await app.respond(bye["transactionId"], 200)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_no_app_routed_is_503(tmp_path: Path, transport: str) -> None:
    server = await start_server()
    app = await App.authenticated(server, "options")  # routes another verb only
    sipp = await sipp_uac(tmp_path, server, uac_scenario(503), transport)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert app.requests.empty()
    await app.close()
    await server.stop()


async def test_no_route_status_is_configurable(tmp_path: Path) -> None:
    server = await start_server(no_route_status=404)
    sipp = await sipp_uac(tmp_path, server, uac_scenario(404))
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await server.stop()


async def test_round_robin_across_two_apps(tmp_path: Path) -> None:
    server = await start_server()
    apps = [await App.authenticated(server, "invite") for _ in range(2)]
    sipp = await sipp_uac(tmp_path, server, uac_scenario(486), calls=4)
    # sipp numbers its calls in their Call-IDs (1-PID@..., 2-PID@...): taking
    # turns, the first app gets the odd calls and the second the even ones,
    # however the two connections' frames interleave on the way.
    calls: list[list[int]] = [[], []]
    for index, app in enumerate(apps):
        for _ in range(2):
            frame = await asyncio.wait_for(app.requests.get(), 10)
            call_id = frame["data"]["message"]["headers"]["call_id"]
            calls[index].append(int(call_id.split("-", 1)[0]))
            await app.respond(frame["data"]["transactionId"], 486)
    assert [sorted(c) for c in calls] == [[1, 3], [2, 4]]
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 4, 0), run.log
    for app in apps:
        await app.close()
    await server.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_app_originates_invite_acks_and_hangs_up(tmp_path: Path, transport: str) -> None:
    server = await start_server()
    app = await App.authenticated(server)
    port = free_port()
    flag = "u1" if transport == "udp" else "t1"
    sipp = await Sipp.start(tmp_path, *f"-sn uas -m 1 -i 127.0.0.1 -p {port} -t {flag}".split())
    await asyncio.sleep(0.3)  # let sipp bind
    uri = f"sip:service@127.0.0.1:{port}" + (";transport=tcp" if transport == "tcp" else "")
    sent = await app.request(
        "sendSipRequest",
        {
            "method": "INVITE",
            "uri": uri,
            "headers": {"Content-Type": "application/sdp", "X-App": "1"},
            "body": SDP,
        },
    )
    assert sent["success"] is True, sent
    tid = sent["transactionId"]
    headers = sent["message"]["headers"]
    assert headers["cseq"] == {"seq": "1", "method": "INVITE"}
    assert headers["from"]["tag"]
    ringing = await app.next_sip(180)
    assert ringing["transactionId"] == tid
    # Responses say where they came from: sipp's listener.
    assert ringing["source"] == {"transport": transport, "address": "127.0.0.1", "port": port}
    ok = await app.next_sip(200)
    assert ok["transactionId"] == tid
    dialog_id = ok["dialogId"]
    ack = await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
    assert ack["success"] is True, ack
    assert ack["message"]["headers"]["cseq"] == {"seq": "1", "method": "ACK"}
    # A second ACK has no 2xx left to acknowledge.
    again = await app.request("sendSipRequest", {"method": "ACK", "dialogId": dialog_id})
    assert again == {
        "success": False,
        "reason": f"dialog {dialog_id} has no 2xx waiting for an ACK",
    }
    bye = await app.request("sendSipRequest", {"method": "BYE", "dialogId": dialog_id})
    assert bye["success"] is True, bye
    assert bye["message"]["headers"]["cseq"] == {"seq": "2", "method": "BYE"}
    bye_ok = await app.next_sip(200)
    assert bye_ok["transactionId"] == bye["transactionId"]
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


async def test_cancel_from_sipp_reaches_the_app(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    sipp = await sipp_uac(tmp_path, server, uac_scenario(487, provisional=(180,), cancel_after=180))
    invite = await app.next_sip("INVITE")
    tid = invite["transactionId"]
    await app.respond(tid, 180)
    cancel = await app.next_request("cancel")
    assert cancel == {"transactionId": tid, "reason": "cancelled by the caller"}
    late = await app.respond(tid, 200)
    assert late == {"success": False, "reason": f"transaction {tid} already has a final response"}
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


async def test_app_disconnect_answers_pending_invite_480(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    sipp = await sipp_uac(tmp_path, server, uac_scenario(480, provisional=(180,)))
    invite = await app.next_sip("INVITE")
    await app.respond(invite["transactionId"], 180)
    await app.close()
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["server_transactions"] == 0
    await server.stop()


async def test_app_that_never_answers_gets_500_and_a_cancel(tmp_path: Path) -> None:
    server = await start_server(app_response_timeout=0.5)
    app = await App.authenticated(server, "invite")
    sipp = await sipp_uac(tmp_path, server, uac_scenario(500))
    invite = await app.next_sip("INVITE")
    cancel = await app.next_request("cancel")
    assert cancel == {
        "transactionId": invite["transactionId"],
        "reason": "no answer from the application in time: answered 500",
    }
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


async def test_app_disconnect_mid_call_ends_the_dialog_with_bye(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    sipp = await sipp_uac(tmp_path, server, uac_hung_up_by_server_scenario(ack=True))
    invite = await app.next_sip("INVITE")
    ok = await app.respond(invite["transactionId"], 200, body=SDP)
    ack = await app.next_sip("ACK")
    assert ack["dialogId"] == ok["dialogId"]
    await app.close()
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert server.stats["dialogs"] == 0
    await server.stop()


async def test_ack_timeout_ends_the_call_with_bye(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server, "invite")
    sipp = await sipp_uac(tmp_path, server, uac_hung_up_by_server_scenario(ack=False))
    invite = await app.next_sip("INVITE")
    ok = await app.respond(invite["transactionId"], 200, body=SDP)
    dialog_id = ok["dialogId"]
    # 64*T1 = 3.2 s with T1 = 50 ms.
    timeout = await app.next_request("dialog", timeout=10)
    assert timeout == {
        "dialogId": dialog_id,
        "event": "ack-timeout",
        "reason": "no ACK for the 2xx",
    }
    destroyed = await app.next_request("dialog")
    assert destroyed == {
        "dialogId": dialog_id,
        "event": "destroyed",
        "reason": "no ACK for the 2xx",
    }
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


async def test_dialogs_of_a_disconnected_app_go_to_another_of_the_same_app_name(
    tmp_path: Path,
) -> None:
    server = await start_server()
    first = await App.authenticated(server, "invite", app_name="pbx")
    second = await App.authenticated(server, app_name="pbx")
    other = await App.authenticated(server, app_name="voicemail")
    sipp = await sipp_uac(tmp_path, server, uac_scenario(200, bye_after_ms=1500))
    invite = await first.next_sip("INVITE")
    ok = await first.respond(invite["transactionId"], 200, body=SDP)
    dialog_id = ok["dialogId"]
    await first.next_sip("ACK")
    await first.close()
    created = await second.next_request("dialog")
    assert created["dialogId"] == dialog_id
    assert created["event"] == "created"
    assert created["reason"].startswith("handed over from 127.0.0.1:")
    # sipp's BYE, 1.5 s after its ACK, reaches the new owner.
    bye = await second.next_sip("BYE")
    assert bye["dialogId"] == dialog_id
    assert (await second.respond(bye["transactionId"], 200))["success"] is True
    destroyed = await second.next_request("dialog")
    assert destroyed == {"dialogId": dialog_id, "event": "destroyed", "reason": "BYE received"}
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert other.requests.empty()
    assert server.stats["dialogs"] == 0
    for app in (second, other):
        await app.close()
    await server.stop()


async def test_new_owner_can_send_within_a_handed_over_dialog(tmp_path: Path) -> None:
    server = await start_server()
    first = await App.authenticated(server, "invite", app_name="pbx")
    second = await App.authenticated(server, app_name="pbx")
    sipp = await sipp_uac(tmp_path, server, uac_hung_up_by_server_scenario(ack=True))
    invite = await first.next_sip("INVITE")
    ok = await first.respond(invite["transactionId"], 200, body=SDP)
    await first.next_sip("ACK")
    await first.close()
    created = await second.next_request("dialog")
    assert created["dialogId"] == ok["dialogId"]
    bye = await second.request("sendSipRequest", {"method": "BYE", "dialogId": ok["dialogId"]})
    assert bye["success"] is True, bye
    assert bye["message"]["headers"]["cseq"]["method"] == "BYE"
    bye_ok = await second.next_sip(200)
    assert bye_ok["transactionId"] == bye["transactionId"]
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await second.close()
    await server.stop()


async def test_on_disconnect_bye_ends_dialogs_even_with_a_same_name_app(tmp_path: Path) -> None:
    server = await start_server(on_disconnect="bye")
    first = await App.authenticated(server, "invite", app_name="pbx")
    second = await App.authenticated(server, app_name="pbx")
    sipp = await sipp_uac(tmp_path, server, uac_hung_up_by_server_scenario(ack=True))
    invite = await first.next_sip("INVITE")
    await first.respond(invite["transactionId"], 200, body=SDP)
    await first.next_sip("ACK")
    await first.close()
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    assert second.requests.empty()
    assert server.stats["dialogs"] == 0
    await second.close()
    await server.stop()


def _raw_invite(port: int, local_port: int, *, from_tag: str, extra: str = "") -> bytes:
    return (
        f"INVITE sip:service@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK-raw-{from_tag or 'none'}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:caller@127.0.0.1>{';tag=' + from_tag if from_tag else ''}\r\n"
        "To: <sip:service@127.0.0.1>\r\n"
        f"Call-ID: raw-{from_tag or 'none'}@127.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:caller@127.0.0.1:{local_port}>\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def _recv_status(sock: socket.socket, status: int) -> bytes:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while loop.time() < deadline:
        data = await loop.sock_recv(sock, 65536)
        if data.startswith(f"SIP/2.0 {status} ".encode()):
            return data
    raise AssertionError(f"no {status}")


async def test_invite_without_from_tag_gets_a_dialog(tmp_path: Path) -> None:
    # An RFC 2543 caller may omit the From tag (RFC 3261 §12.1.1: the remote
    # tag is then empty); answering it must not break the application.
    server = await start_server()
    app = await App.authenticated(server, "invite")
    port = sip_port(server, "udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        sock.sendto(_raw_invite(port, sock.getsockname()[1], from_tag=""), ("127.0.0.1", port))
        invite = await app.next_sip("INVITE")
        result = await app.respond(invite["transactionId"], 200)
        assert result["success"] is True
        assert result["dialogId"].startswith("raw-none@127.0.0.1;from-tag=;to-tag=")
        await _recv_status(sock, 200)
    # The application is still connected and served: a normal call goes through.
    sipp = await sipp_uac(tmp_path, server, uac_scenario(486), "udp")
    busy = await app.next_sip("INVITE")
    assert (await app.respond(busy["transactionId"], 486))["success"] is True
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()
    await server.stop()


async def test_malformed_record_route_is_answered_400_before_the_app(tmp_path: Path) -> None:
    # The dialog's route set would be built from Record-Route (RFC 3261
    # §12.1.1): a malformed one is answered 400 naming it, and the
    # application is never handed a request it could only refuse.
    server = await start_server()
    app = await App.authenticated(server, "invite")
    port = sip_port(server, "udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        raw = _raw_invite(
            port, sock.getsockname()[1], from_tag="rr1", extra="Record-Route: <sip:p1;lr\r\n"
        )
        sock.sendto(raw, ("127.0.0.1", port))
        response = await _recv_status(sock, 400)
        assert b" 400 Malformed Record-Route header: " in response.split(b"\r\n")[0]
    assert app.labels(since=2) == []  # the replies to auth and route, nothing after
    await app.close()
    await server.stop()


async def test_app_bye_before_ack_sends_the_ack_first(tmp_path: Path) -> None:
    # RFC 3261 §15.1.1: the ACK for a 2xx comes before the BYE. An app that
    # hangs up without ACKing still leaves sipp's uas scenario complete.
    server = await start_server()
    app = await App.authenticated(server)
    port = free_port()
    sipp = await Sipp.start(
        tmp_path, *f"-sn uas -m 1 -i 127.0.0.1 -p {port} -t u1 -trace_msg".split()
    )
    await asyncio.sleep(0.3)  # let sipp bind
    sent = await app.request(
        "sendSipRequest", {"method": "INVITE", "uri": f"sip:service@127.0.0.1:{port}"}
    )
    assert sent["success"] is True, sent
    ok = await app.next_sip(200)
    bye = await app.request("sendSipRequest", {"method": "BYE", "dialogId": ok["dialogId"]})
    assert bye["success"] is True, bye
    await app.next_sip(200)
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    # What sipp received, in order: the ACK before the BYE.
    (trace,) = tmp_path.glob("*_messages.log")
    received = [
        line.split(" ", 1)[0]
        for line in trace.read_text(errors="replace").splitlines()
        if line.startswith(("ACK sip:", "BYE sip:"))
    ]
    assert received == ["ACK", "BYE"], received
    await app.close()
    await server.stop()


async def test_a_response_too_large_for_udp_is_refused_to_the_app() -> None:
    # Without a TCP listener a response no datagram can carry cannot go at
    # all: the application is told, and can still answer with another.
    server = await start_server(sip=["udp:127.0.0.1:0"])
    app = await App.authenticated(server, "invite")
    port = sip_port(server, "udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        sock.sendto(_raw_invite(port, sock.getsockname()[1], from_tag="big"), ("127.0.0.1", port))
        invite = await app.next_sip("INVITE")
        result = await app.respond(invite["transactionId"], 200, body="v" * 70_000)
        assert result["success"] is False
        assert "too large for UDP (at most 65507 bytes)" in result["reason"]
        assert (await app.respond(invite["transactionId"], 488))["success"] is True
        await _recv_status(sock, 488)
    await app.close()
    await server.stop()


async def test_a_response_too_large_for_udp_goes_over_tcp() -> None:
    # RFC 3261 §18.2.2: over TCP to the address and port of the Via.
    server = await start_server()
    app = await App.authenticated(server, "invite")
    port = sip_port(server, "udp")
    local_port = free_port()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener,
    ):
        sock.bind(("127.0.0.1", local_port))
        listener.bind(("127.0.0.1", local_port))
        listener.listen()
        listener.setblocking(False)
        sock.sendto(_raw_invite(port, local_port, from_tag="big-tcp"), ("127.0.0.1", port))
        invite = await app.next_sip("INVITE")
        result = await app.respond(invite["transactionId"], 486, body="v" * 70_000)
        assert result["success"] is True
        loop = asyncio.get_running_loop()
        conn, _ = await asyncio.wait_for(loop.sock_accept(listener), 5)
        with conn:
            received = b""
            while len(received) < 70_000:
                chunk = await asyncio.wait_for(loop.sock_recv(conn, 65536), 5)
                assert chunk, received[:200]
                received += chunk
        assert received.startswith(b"SIP/2.0 486 ")
        assert received.endswith(b"\r\n\r\n" + b"v" * 70_000)
    # Timer G re-sends the 486 the same way until an ACK comes.
    assert server.stats["large_responses_over_tcp"] >= 1
    await app.close()
    await server.stop()


def _uas_answer(peer: SipPeer, request: Any, status: int, reason: str, to_tag: str) -> None:
    """``peer`` answers ``request`` with a To tag and a Contact (a dialog's 2xx)."""
    to = request.header("To")
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {via}" for via in request.header_all("Via")]
    lines += [f"From: {request.header('From')}", f"To: {to};tag={to_tag}"]
    lines += [f"Call-ID: {request.call_id}", f"CSeq: {request.header('CSeq')}"]
    lines += [f"Contact: <sip:bob@127.0.0.1:{peer.port}>", "Content-Length: 0"]
    peer.send(("\r\n".join(lines) + "\r\n\r\n").encode())


async def test_cancel_sip_request_failures_and_a_2xx_that_crosses_the_cancel() -> None:
    server = await start_server()
    app = await App.authenticated(server)
    peer = await SipPeer.open("udp", sip_port(server, "udp"))
    uri = f"sip:bob@127.0.0.1:{peer.port}"
    try:
        # An INVITE answered 486: finished, it cannot be cancelled any more.
        sent = await app.request("sendSipRequest", {"method": "INVITE", "uri": uri})
        invite = await peer.next_request("INVITE")
        _uas_answer(peer, invite, 486, "Busy Here", "b1")
        await app.next_sip(486)
        assert await app.request("cancelSipRequest", {"transactionId": sent["transactionId"]}) == {
            "success": False,
            "reason": f"transaction {sent['transactionId']} already has a final response",
        }
        # Not an INVITE.
        message = await app.request(
            "sendSipRequest",
            {
                "method": "MESSAGE",
                "uri": uri,
                "headers": {"Content-Type": "text/plain"},
                "body": "x",
            },
        )
        assert await app.request(
            "cancelSipRequest", {"transactionId": message["transactionId"]}
        ) == {
            "success": False,
            "reason": f"transaction {message['transactionId']} is a MESSAGE, not an INVITE",
        }
        # The CANCEL goes out; the UAS had sent its 200 already: they cross.
        sent = await app.request("sendSipRequest", {"method": "INVITE", "uri": uri})
        tid = sent["transactionId"]
        invite = await peer.next_request("INVITE")
        # A CANCEL waits for a provisional response (RFC 3261 §9.1).
        peer.answer(invite, 180, "Ringing")
        await app.next_sip(180)
        assert await app.request("cancelSipRequest", {"transactionId": tid}) == {"success": True}
        assert await app.request("cancelSipRequest", {"transactionId": tid}) == {
            "success": False,
            "reason": f"transaction {tid} is already cancelled",
        }
        cancel = await peer.next_request("CANCEL")
        _uas_answer(peer, invite, 200, "OK", "b2")
        peer.answer(cancel, 200, "OK")
        ok = await app.next_sip_of(tid)
        while ok["message"]["status_line"]["status_code"] < 200:
            ok = await app.next_sip_of(tid)
        # The call is up: the client acknowledges the 2xx and ends it (RFC 3261 §9.1).
        assert ok["message"]["status_line"]["status_code"] == 200 and ok["dialogId"]
        ack = await app.request("sendSipRequest", {"method": "ACK", "dialogId": ok["dialogId"]})
        assert ack["success"] is True, ack
        assert (await peer.next_request("ACK")).call_id == invite.call_id
        bye = await app.request("sendSipRequest", {"method": "BYE", "dialogId": ok["dialogId"]})
        assert bye["success"] is True, bye
        assert (await peer.next_request("BYE")).call_id == invite.call_id
        assert await app.request("cancelSipRequest", {"transactionId": tid}) == {
            "success": False,
            "reason": f"transaction {tid} already has a final response",
        }
    finally:
        peer.close()
    await app.close()
    await server.stop()
