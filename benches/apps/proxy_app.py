"""A minimal drachtio application that has the server proxy every INVITE.

It connects to a server's control port over the JSON control protocol,
routes ``invite``, and answers each INVITE with the ``proxy`` command: one
destination (``--destination``), Record-Route on, so that the ACK and BYE
pass through the server, which routes them on by itself. It is the
application side of ``benches/bench_proxy.py``.

Run: ``python benches/apps/proxy_app.py --control HOST:PORT --secret SECRET
--destination sip:127.0.0.1:5070``. Prints ``READY`` once routed; on SIGTERM
prints ``COUNTS invites=.. proxied=.. refused=..``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
from typing import Any

from drachtio.protocol import FrameDecoder, encode_frame


class ProxyApp(asyncio.Protocol):
    """The control connection; each INVITE gets its ``proxy`` command."""

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.rids = (f"p{n}" for n in itertools.count())
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.invites = self.proxied = self.refused = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish()

    def finish(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def request(self, command: str, data: dict[str, Any]) -> str:
        assert self.transport is not None
        rid = next(self.rids)
        frame = {"type": "request", "rid": rid, "command": command, "data": data}
        self.transport.write(encode_frame(frame))
        return rid

    async def call(self, command: str, data: dict[str, Any]) -> dict[str, Any]:
        rid = self.request(command, data)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[rid] = future
        return await future

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        for frame in self.decoder.receive_data(data):
            if frame.get("type") == "request":
                command = frame.get("command")
                answer = {"pong": True} if command == "ping" else {"success": True}
                self.transport.write(
                    encode_frame({"type": "response", "rid": frame["rid"], "data": answer})
                )
                start = frame.get("data", {}).get("message", {}).get("request_uri")
                if command == "sip" and start and start["method"] == "INVITE":
                    self.invites += 1
                    self.request(
                        "proxy",
                        {
                            "transactionId": frame["data"]["transactionId"],
                            "destinations": [self.destination],
                            "recordRoute": True,
                        },
                    )
            else:
                result = frame.get("data") or {}
                future = self.waiting.pop(frame.get("rid", ""), None)
                if future is not None:
                    future.set_result(result)
                elif result.get("success"):
                    self.proxied += 1
                else:
                    self.refused += 1
                    print(f"refused: {result.get('reason')}", file=sys.stderr)


async def run(host: str, port: int, secret: str, destination: str) -> None:
    loop = asyncio.get_running_loop()
    transport, app = await loop.create_connection(lambda: ProxyApp(destination), host, port)
    auth = await app.call("auth", {"secret": secret, "appName": "proxy-bench"})
    if not auth.get("authenticated"):
        raise SystemExit(f"auth refused: {auth.get('reason')}")
    routed = await app.call("route", {"verb": "invite"})
    if not routed.get("success"):
        raise SystemExit(f"route refused: {routed.get('reason')}")
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, app.finish)
    print("READY", flush=True)
    await app.closed
    transport.close()
    print(f"COUNTS invites={app.invites} proxied={app.proxied} refused={app.refused}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control", required=True, metavar="HOST:PORT")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--destination", required=True, metavar="URI")
    args = parser.parse_args()
    host, _, port = args.control.rpartition(":")
    asyncio.run(run(host.strip("[]"), int(port), args.secret, args.destination))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
