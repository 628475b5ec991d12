"""A minimal drachtio application over the JSON control protocol.

It connects to a server's control port, authenticates, routes ``invite`` and
``bye``, and answers: INVITE with 200 and an SDP answer, BYE with 200. Every
request from the server (``sip``, ``dialog``, ``cancel``, ``ping``) gets its
``{success: true}`` response (``{pong: true}`` for ``ping``), as
``docs/protocol.md`` requires. It is the application side of
``benches/bench_server.py``, written the way a small client in any language
would be: one TCP connection, ``drachtio.protocol``'s frame encoder and
decoder, no other part of the package. What it sends while handling one read
goes out in one write.

Run: ``python benches/apps/json_app.py --control HOST:PORT --secret SECRET``.
Prints ``READY`` once its routes are in place, then serves until SIGINT or
SIGTERM (or the server closes the connection) and prints
``COUNTS invites=.. byes=.. acks=.. refused=..`` to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
from typing import Any

from drachtio.protocol import FrameDecoder, encode_frame

SDP = (
    "v=0\r\n"
    "o=bench 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
)
SDP_HEADERS = {"Content-Type": "application/sdp"}


class App(asyncio.Protocol):
    """The control connection: frames in, frames out, no awaiting per message."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.rids = (f"a{n}" for n in itertools.count())
        # rid -> future for the few requests whose answer the setup waits for.
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.invites = self.byes = self.acks = self.refused = 0
        # Frames to send once the current read is handled; None outside a read.
        self.out: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish()

    def finish(self) -> None:
        """Stop serving: the server closed the connection, or a signal came."""
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, obj: dict[str, Any]) -> None:
        assert self.transport is not None
        if self.out is None:
            self.transport.write(encode_frame(obj))
        else:
            self.out.append(encode_frame(obj))

    def request(self, command: str, data: dict[str, Any]) -> str:
        rid = next(self.rids)
        self.send({"type": "request", "rid": rid, "command": command, "data": data})
        return rid

    async def call(self, command: str, data: dict[str, Any]) -> dict[str, Any]:
        """Send a request and wait for its response's ``data`` (setup only)."""
        rid = self.request(command, data)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[rid] = future
        return await future

    def data_received(self, data: bytes) -> None:
        self.out = []
        try:
            for frame in self.decoder.receive_data(data):
                if frame.get("type") == "request":
                    self.on_request(frame)
                else:
                    self.on_response(frame)
        finally:
            out, self.out = self.out, None
            if out and self.transport is not None:
                self.transport.write(b"".join(out))

    def on_response(self, frame: dict[str, Any]) -> None:
        data = frame.get("data") or {}
        future = self.waiting.pop(frame.get("rid", ""), None)
        if future is not None:
            future.set_result(data)
        elif not data.get("success"):
            self.refused += 1
            print(f"refused: {data.get('reason')}", file=sys.stderr)

    def on_request(self, frame: dict[str, Any]) -> None:
        command = frame.get("command")
        answer: dict[str, Any] = {"pong": True} if command == "ping" else {"success": True}
        self.send({"type": "response", "rid": frame["rid"], "data": answer})
        if command != "sip":
            return
        data = frame["data"]
        start = data["message"].get("request_uri")
        if start is None:  # a response to a request of ours: we send none
            return
        method = start["method"]
        tx = data["transactionId"]
        if method == "INVITE":
            self.invites += 1
            opts = {"headers": SDP_HEADERS, "body": SDP}
            self.request("respondToSipRequest", {"transactionId": tx, "code": 200, "opts": opts})
        elif method == "ACK":
            self.acks += 1
        else:
            if method == "BYE":
                self.byes += 1
            self.request("respondToSipRequest", {"transactionId": tx, "code": 200})


async def run(host: str, port: int, secret: str) -> None:
    loop = asyncio.get_running_loop()
    transport, app = await loop.create_connection(lambda: App(secret), host, port)
    auth = await app.call("auth", {"secret": secret, "appName": "bench"})
    if not auth.get("authenticated"):
        raise SystemExit(f"auth refused: {auth.get('reason')}")
    for verb in ("invite", "bye"):
        routed = await app.call("route", {"verb": verb})
        if not routed.get("success"):
            raise SystemExit(f"route {verb} refused: {routed.get('reason')}")
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, app.finish)
    print("READY", flush=True)
    await app.closed
    transport.close()
    print(
        f"COUNTS invites={app.invites} byes={app.byes} acks={app.acks} refused={app.refused}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control", required=True, metavar="HOST:PORT")
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    host, _, port = args.control.rpartition(":")
    asyncio.run(run(host.strip("[]"), int(port), args.secret))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
