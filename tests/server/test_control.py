"""The control side: authentication, framing abuse, routing commands; a call
placed right after each abuse case still succeeds."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import pytest
from server_harness import (
    SECRET,
    App,
    free_port,
    needs_sipp,
    sip_port,
    sipp_uac,
    start_server,
    until,
)
from sip_peer import SipPeer
from sipp_scenarios.uac import uac_scenario

from drachtio.protocol import FrameDecoder, encode_frame
from drachtio.server import Server


def fatal_error(reason: str, error: str) -> dict[str, object]:
    """The frame of a fatal protocol error: a failure with a null rid."""
    return {
        "type": "response",
        "rid": None,
        "data": {"success": False, "reason": reason, "error": error},
    }


async def call_succeeds(tmp_path: Path, server: Server) -> None:
    """A sipp call answered 200 by a fresh application, then ended with BYE."""
    app = await App.authenticated(server, "invite", "bye")
    sipp = await sipp_uac(tmp_path, server, uac_scenario(200))
    invite = await app.next_sip("INVITE")
    ok = await app.respond(invite["transactionId"], 200, {"Content-Type": "application/sdp"})
    assert ok["success"] is True
    bye = await app.next_sip("BYE")
    assert bye["dialogId"] == ok["dialogId"]
    assert (await app.respond(bye["transactionId"], 200))["success"] is True
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    await app.close()


async def test_auth_ok_lists_the_sip_listeners() -> None:
    server = await start_server()
    app = await App.connect(server)
    data = await app.request("auth", {"secret": SECRET, "appName": "pbx"})
    udp, tcp = server.sip_addresses
    assert data == {
        "authenticated": True,
        "hostport": [f"udp/127.0.0.1:{udp[2]}", f"tcp/127.0.0.1:{tcp[2]}"],
    }
    assert await app.request("ping") == {"pong": True}
    await app.close()
    await server.stop()


@needs_sipp
async def test_wrong_secret_is_refused_and_closed(tmp_path: Path) -> None:
    server = await start_server(secrets=["old", SECRET])
    app = await App.connect(server)
    data = await app.request("auth", {"secret": "guess"})
    assert data == {"authenticated": False, "reason": "invalid secret"}
    await app.wait_closed()
    # Rotation: both configured secrets are accepted.
    other = await App.connect(server)
    assert (await other.request("auth", {"secret": "old"}))["authenticated"] is True
    await other.close()
    await call_succeeds(tmp_path, server)
    await server.stop()


@needs_sipp
async def test_command_before_auth_is_an_error_then_close(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.connect(server)
    data = await app.request("route", {"verb": "invite"})
    assert data == {
        "success": False,
        "reason": "'route' before a successful auth: auth must be the first request",
        "error": "not_authenticated",
    }
    await app.wait_closed()
    await call_succeeds(tmp_path, server)
    await server.stop()


@needs_sipp
@pytest.mark.parametrize(
    ("authenticated", "sent", "reason", "error"),
    [
        (
            False,
            b"hello world",
            "byte 'h' in the length prefix, expected a digit or '#'",
            "bad_length_prefix",
        ),
        (
            True,
            encode_frame({"type": "request", "rid": "x\r\ny", "command": "ping"}),
            "rid: must not contain CR, LF or NUL",
            "bad_envelope",
        ),
    ],
    ids=["garbage", "rid-with-line-break"],
)
async def test_fatal_frame_closes_only_that_connection(
    tmp_path: Path, authenticated: bool, sent: bytes, reason: str, error: str
) -> None:
    server = await start_server()
    bystander = await App.authenticated(server)
    app = await (App.authenticated(server) if authenticated else App.connect(server))
    before = len(app.frames)
    app.send_raw(sent)
    await app.wait_closed()
    # One error with a null rid (nothing could be answered), then the close.
    assert app.frames[before:] == [fatal_error(reason, error)]
    assert await bystander.request("ping") == {"pong": True}
    await call_succeeds(tmp_path, server)
    await bystander.close()
    await server.stop()


@needs_sipp
async def test_invalid_json_body(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.authenticated(server)
    app.send_raw(b"5#{nope")
    await app.wait_closed()
    assert app.frames[-1]["data"]["error"] == "invalid_json"
    await call_succeeds(tmp_path, server)
    await server.stop()


@needs_sipp
async def test_a_rid_reused_while_pending_gets_the_failure_then_the_close(tmp_path: Path) -> None:
    # `ping, ping` in one write: the first ping is answered, then the
    # duplicate_rid failure (null rid: the rid was the first ping's), then the close.
    server = await start_server()
    app = await App.authenticated(server)
    before = len(app.frames)
    ping = encode_frame({"type": "request", "rid": "p", "command": "ping", "data": {}})
    app.send_raw(ping + ping)
    await app.wait_closed()
    assert app.frames[before:] == [
        {"type": "response", "rid": "p", "data": {"pong": True}},
        fatal_error("rid 'p' is already pending", "duplicate_rid"),
    ]
    await call_succeeds(tmp_path, server)
    await server.stop()


@needs_sipp
async def test_2gb_length_prefix_is_refused_before_the_body(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.connect(server)
    app.send_raw(b"2147483648#")
    await app.wait_closed()
    assert app.frames == [
        fatal_error(
            "length prefix announces more than the maximum of 1048576 bytes", "frame_too_large"
        )
    ]
    await call_succeeds(tmp_path, server)
    await server.stop()


@needs_sipp
async def test_frames_written_one_byte_at_a_time(tmp_path: Path) -> None:
    server = await start_server()
    app = await App.connect(server)
    auth = encode_frame(
        {"type": "request", "rid": "a", "command": "auth", "data": {"secret": SECRET}}
    )
    for byte in auth:
        app.send_raw(bytes([byte]))
        await app.writer.drain()
        await asyncio.sleep(0)
    await until(lambda: app.frames)
    assert app.frames[0]["data"]["authenticated"] is True
    route = encode_frame(
        {"type": "request", "rid": "b", "command": "route", "data": {"verb": "INVITE"}}
    )
    for byte in route:
        app.send_raw(bytes([byte]))
        await app.writer.drain()
    await until(lambda: len(app.frames) == 2)
    assert app.frames[1] == {"type": "response", "rid": "b", "data": {"success": True}}
    await app.close()
    await call_succeeds(tmp_path, server)
    await server.stop()


async def test_unauthenticated_connection_closed_after_the_timeout() -> None:
    server = await start_server(auth_timeout=0.2)
    app = await App.connect(server)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await app.wait_closed()
    assert 0.15 <= loop.time() - start < 2.0
    assert app.frames == []
    assert server.stats["sessions"] == 0
    await server.stop()


async def test_route_errors_keep_the_connection() -> None:
    server = await start_server()
    app = await App.authenticated(server)
    assert await app.request("route", {"verb": "in vite"}) == {
        "success": False,
        "reason": "data.verb: 'in vite' is not a SIP method (an RFC 3261 token)",
        "error": "invalid_data",
    }
    assert await app.request("unroute", {"verb": "invite"}) == {"success": True}
    assert await app.request("respondToSipRequest", {"transactionId": "x", "code": 200}) == {
        "success": False,
        "reason": "unknown transaction x",
    }
    assert await app.request("sendSipRequest", {"method": "ACK", "dialogId": "d-1"}) == {
        "success": False,
        "reason": "no dialog d-1",
    }
    assert await app.request("cancelSipRequest", {"transactionId": "y"}) == {
        "success": False,
        "reason": "unknown transaction y",
    }
    assert await app.request("ping") == {"pong": True}
    await app.close()
    await server.stop()


def _request(peer: SipPeer, server_port: int, method: str, call_id: str) -> bytes:
    lines = [
        f"{method} sip:bob@127.0.0.1:{server_port} SIP/2.0",
        f"Via: {peer.via}",
        "Max-Forwards: 70",
        "From: <sip:alice@127.0.0.1>;tag=a1",
        "To: <sip:bob@127.0.0.1>",
        f"Call-ID: {call_id}",
        f"CSeq: 1 {method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_extension_methods_are_routed_as_written() -> None:
    # Method names are case-sensitive (RFC 3261 §7.1): a route for the
    # extension method FooBar takes FooBar, not FOOBAR (nobody routed it:
    # 503); standard methods are routed whatever the verb's case.
    server = await start_server()
    app = await App.authenticated(server, "FooBar", "options")
    port = sip_port(server, "udp")
    peer = await SipPeer.open("udp", port)
    try:
        peer.send(_request(peer, port, "FooBar", "c1"))
        received = await app.next_sip("FooBar")
        assert (await app.respond(received["transactionId"], 200))["success"] is True
        assert (await peer.final_response("c1")).status == 200
        peer.send(_request(peer, port, "FOOBAR", "c2"))
        assert (await peer.final_response("c2")).status == 503
        peer.send(_request(peer, port, "OPTIONS", "c3"))
        received = await app.next_sip("OPTIONS")
        assert (await app.respond(received["transactionId"], 200))["success"] is True
        assert (await peer.final_response("c3")).status == 200
    finally:
        peer.close()
    await app.close()
    await server.stop()


async def test_a_standard_method_in_lower_case_and_a_body_without_type_are_refused() -> None:
    server = await start_server()
    app = await App.authenticated(server)
    uri = f"sip:bob@127.0.0.1:{free_port()}"
    assert await app.request("sendSipRequest", {"method": "invite", "uri": uri}) == {
        "success": False,
        "reason": "data.method: 'invite' is not INVITE: SIP method names are case-sensitive "
        "(RFC 3261 §7.1), write 'INVITE'",
        "error": "invalid_data",
    }
    assert await app.request(
        "sendSipRequest", {"method": "MESSAGE", "uri": uri, "body": "hello"}
    ) == {
        "success": False,
        "reason": "data.body: a body needs a Content-Type header (RFC 3261 §20.15)",
        "error": "invalid_data",
    }
    sent = await app.request(
        "sendSipRequest",
        {"method": "MESSAGE", "uri": uri, "headers": {"Content-Type": "text/plain"}, "body": "hi"},
    )
    assert sent["message"]["payload"] == {"type": "text/plain", "content": "hi"}
    assert server.stats["client_transactions"] == 1
    await app.close()
    await server.stop()


async def test_a_client_that_does_not_read_is_dropped() -> None:
    server = await start_server(max_write_buffer=1024)
    app = await App.authenticated(server)
    app._task.cancel()  # stop reading: the server's responses pile up
    frames = b"".join(
        encode_frame({"type": "request", "rid": f"p{n}", "command": "ping"}) for n in range(2000)
    )
    closed = False
    for _ in range(200):
        try:
            app.writer.write(frames)
            await asyncio.wait_for(app.writer.drain(), 1.0)
        except (ConnectionError, asyncio.TimeoutError):
            closed = True
            break
        if server.stats["sessions"] == 0:
            closed = True
            break
    assert closed
    await until(lambda: server.stats["sessions"] == 0)
    app.writer.close()
    await server.stop()


async def _abuse(server: Server, kind: int) -> bool:
    """One connection opened and dropped in one of five ways; whether it authenticated."""
    host, port = server.control_address
    reader, writer = await asyncio.open_connection(host, port)
    authenticated = False
    try:
        if kind == 1:
            # Dropped mid-frame before auth.
            writer.write(b'120#{"type":"request","rid":"a","comm')
            await writer.drain()
        elif kind >= 2:
            writer.write(
                encode_frame(
                    {"type": "request", "rid": "a", "command": "auth", "data": {"secret": SECRET}}
                )
            )
            # The 2-byte-prefixed auth response is short; read until it is whole.
            data = b""
            while b"authenticated" not in data or not data.endswith(b"}}"):
                chunk = await asyncio.wait_for(reader.read(4096), 5)
                if not chunk:
                    break
                data += chunk
            authenticated = b'"authenticated":true' in data
            if kind >= 3:
                writer.write(
                    encode_frame(
                        {
                            "type": "request",
                            "rid": "b",
                            "command": "route",
                            "data": {"verb": "INVITE"},
                        }
                    )
                )
            if kind == 4:
                # Dropped mid-frame after auth, without reading the route's response.
                writer.write(b'60#{"type":"request","rid":"c","command":"pi')
            await writer.drain()
    finally:
        if kind == 3:
            writer.transport.abort()  # RST rather than FIN
        else:
            writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return authenticated


@needs_sipp
async def test_a_thousand_connections_dropped_leave_nothing_behind(tmp_path: Path) -> None:
    server = await start_server()
    bystander = await App.authenticated(server)
    limit = asyncio.Semaphore(50)
    peak = 0

    async def one(n: int) -> bool:
        nonlocal peak
        async with limit:
            peak = max(peak, server.stats["sessions"])
            return await _abuse(server, n % 5)

    results = await asyncio.gather(*(one(n) for n in range(1000)))
    assert sum(results) == 600  # kinds 2, 3 and 4 authenticated
    assert peak > 1
    await until(lambda: server.stats["sessions"] == 1)
    stats = server.stats
    assert (stats["sessions"], stats["server_transactions"], stats["dialogs"]) == (1, 0, 0)
    assert await bystander.request("ping") == {"pong": True}
    await bystander.close()
    await until(lambda: server.stats["sessions"] == 0)
    # 400 dead clients routed INVITE: a new call must reach the live one only.
    await call_succeeds(tmp_path, server)
    await server.stop()


@needs_sipp
async def test_idle_clients_are_pinged_and_a_silent_one_dropped(tmp_path: Path) -> None:
    server = await start_server(ping_interval=0.3, ping_timeout=0.3)
    live = await App.authenticated(server)
    silent = await App.authenticated(server, "invite")
    silent.auto_answer = False
    loop = asyncio.get_running_loop()
    start = loop.time()
    # The silent client's pending INVITE is answered 480 when it is dropped.
    sipp = await sipp_uac(tmp_path, server, uac_scenario(480))
    await silent.wait_closed()
    requests = sorted((f["command"], f["data"]) for f in silent.frames if f["type"] == "request")
    assert [command for command, _ in requests] == ["ping", "sip"]
    assert requests[0][1] == {}
    # Idle 0.3 s, then 0.3 s for the answer.
    assert 0.5 <= loop.time() - start < 3.0
    run = await sipp.result()
    assert (run.returncode, run.successful, run.failed) == (0, 1, 0), run.log
    # The client that answers stays, pinged about every 0.3 s while idle.
    await asyncio.sleep(1.0)
    pings = [f for f in live.frames if f.get("command") == "ping"]
    assert len(pings) >= 3
    assert not live.closed.is_set()
    assert server.stats["sessions"] == 1
    await call_succeeds(tmp_path, server)
    await live.close()
    await server.stop()


async def test_a_client_that_never_answers_requests_is_dropped() -> None:
    # Each server request waits for its response in memory: past
    # max_pending_requests the client is dropped like a disconnect, and the
    # INVITEs it was given are answered 480 so no caller hangs.
    server = await start_server(max_pending_requests=3)
    app = await App.authenticated(server, "invite")
    app.auto_answer = False  # reads every frame, answers none
    host, port = "127.0.0.1", sip_port(server, "udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        lport = sock.getsockname()[1]
        for n in range(4):
            sock.sendto(
                (
                    f"INVITE sip:svc@{host}:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-pend-{n}\r\n"
                    f"Max-Forwards: 70\r\nFrom: <sip:c@127.0.0.1>;tag=p{n}\r\n"
                    f"To: <sip:svc@{host}>\r\nCall-ID: pend-{n}@127.0.0.1\r\n"
                    f"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
                ).encode(),
                (host, port),
            )
        await app.wait_closed()
        loop = asyncio.get_running_loop()
        finals: dict[bytes, bytes] = {}
        deadline = loop.time() + 5
        while len(finals) < 4 and loop.time() < deadline:
            data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
            status = data.split(b" ", 2)[1]
            if int(status) >= 200:
                call_id = next(ln for ln in data.split(b"\r\n") if ln.startswith(b"Call-ID:"))
                finals[call_id] = status
        # The three it was given and the one that tipped it over: all 480.
        assert sorted(finals.values()) == [b"480"] * 4
    assert server.stats["sessions"] == 0
    await server.stop()


async def test_protocol_error_ends_the_session_even_when_the_client_does_not_read() -> None:
    # The client stops reading with the server's writes backed up, then sends
    # a broken frame: the session ends at once (its routes go) instead of
    # waiting for a flush that never comes; the connection is dropped later.
    server = await start_server(max_write_buffer=64 * 1024 * 1024)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    host, port = server.control_address
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, port))
    reader, writer = await asyncio.open_connection(sock=sock)
    decoder = FrameDecoder()
    for rid, command, data in [
        ("a", "auth", {"secret": SECRET}),
        ("r", "route", {"verb": "options"}),
    ]:
        writer.write(
            encode_frame({"type": "request", "rid": rid, "command": command, "data": data})
        )
        frames: list[dict[str, object]] = []
        while not frames:
            frames += decoder.receive_data(await asyncio.wait_for(reader.read(4096), 5))
        assert frames[0]["rid"] == rid, frames
    # Responses carrying a whole SIP message each, never read: some 7 MB, more
    # than the kernel buffers take.
    uri = "sip:nobody@127.0.0.1:9"
    for n in range(6000):
        send = {"method": "OPTIONS", "uri": uri, "headers": {"X-Pad": "p" * 400}}
        writer.write(
            encode_frame(
                {"type": "request", "rid": f"s{n}", "command": "sendSipRequest", "data": send}
            )
        )
    await writer.drain()
    await asyncio.sleep(0.5)
    assert server.stats["sessions"] == 1
    writer.write(b"garbage")
    await writer.drain()

    async def session_gone() -> None:
        while server.stats["sessions"]:
            await asyncio.sleep(0.02)

    # Once the 6,000 requests before it are handled (seconds on a loaded
    # machine); a session waiting for the flush would never end.
    await asyncio.wait_for(session_gone(), 30.0)
    assert "options" not in server._routes
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    del reader
    await server.stop()
