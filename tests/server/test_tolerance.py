"""What clients written from the original protocol do, and the server accepts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from server_harness import SECRET, App, start_server

from drachtio.protocol import encode_frame


async def answer_every_request_with_success(app: App) -> None:
    """As a client written from the original protocol: ``{success: true}`` to
    every request of the server, ``ping`` included."""
    while True:
        frame = await app.requests.get()
        app.answer(frame["rid"], {"success": True})


async def test_a_client_answering_pings_with_success_stays_connected() -> None:
    server = await start_server(ping_interval=0.2, ping_timeout=0.3)
    app = await App.authenticated(server)
    app.auto_answer = False
    answering = asyncio.ensure_future(answer_every_request_with_success(app))
    try:
        await asyncio.sleep(1.2)
        pings = [f for f in app.frames if f.get("command") == "ping"]
        assert len(pings) >= 3
        assert not app.closed.is_set()
        assert server.stats["sessions"] == 1
        assert await app.request("ping") == {"pong": True}
    finally:
        answering.cancel()
    await app.close()
    await server.stop()


# ---------------------------------------------------------------- requests right after auth


@contextmanager
def udp_peer() -> Iterator[socket.socket]:
    """A UDP socket on loopback standing for a SIP peer; it only listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        yield sock


def pipelined(app: App, requests: list[tuple[str, dict[str, Any]]]) -> list[asyncio.Future[Any]]:
    """Write ``requests`` in one write, without waiting for any answer; the
    futures of their responses' data, in the same order (rids p0, p1, ...)."""
    loop = asyncio.get_running_loop()
    futures = []
    frames = []
    for index, (command, data) in enumerate(requests):
        rid = f"p{index}"
        futures.append(app.responses.setdefault(rid, loop.create_future()))
        frames.append(
            encode_frame({"type": "request", "rid": rid, "command": command, "data": data})
        )
    app.send_raw(b"".join(frames))
    return futures


async def test_requests_sent_right_after_auth_run_in_order_once_it_succeeds() -> None:
    server = await start_server()
    loop = asyncio.get_running_loop()
    with udp_peer() as peer:
        options = {"method": "OPTIONS", "uri": f"sip:probe@127.0.0.1:{peer.getsockname()[1]}"}
        # Refused: the auth is answered, then the close; nothing after it is
        # read, run or answered.
        refused = await App.connect(server)
        futures = pipelined(
            refused,
            [
                ("auth", {"secret": "guess"}),
                ("sendSipRequest", options),
                ("route", {"verb": "bye"}),
            ],
        )
        assert await asyncio.wait_for(futures[0], 10.0) == {
            "authenticated": False,
            "reason": "invalid secret",
        }
        await refused.wait_closed()
        assert [frame["rid"] for frame in refused.frames] == ["p0"]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(loop.sock_recv(peer, 65536), 0.5)
        # Accepted: each runs, in the order sent.
        app = await App.connect(server)
        futures = pipelined(
            app,
            [
                ("auth", {"secret": SECRET}),
                ("route", {"verb": "invite"}),
                ("sendSipRequest", options),
                ("ping", {}),
            ],
        )
        auth, route, sent, pong = await asyncio.wait_for(asyncio.gather(*futures), 10.0)
        assert auth["authenticated"] is True
        assert route == {"success": True}
        assert sent["success"] is True
        assert pong == {"pong": True}
        responses = [frame["rid"] for frame in app.frames if frame["type"] == "response"]
        assert responses == ["p0", "p1", "p2", "p3"]
        datagram = await asyncio.wait_for(loop.sock_recv(peer, 65536), 10.0)
        assert datagram.startswith(b"OPTIONS sip:probe@127.0.0.1")
    await app.close()
    await server.stop()
