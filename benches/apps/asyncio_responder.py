"""Pure-asyncio UDP responder: the baseline of the bridge benchmark.

Answers every SIP request but ACK with a 200 OK built from the request's
Via, From, To (a tag added when it has none), Call-ID and CSeq (RFC 3261
§8.2.6.2), using asyncio's own datagram transport. It is the work the
drachtio side does from Python, done without the Rust stack.

Run: ``python benches/apps/asyncio_responder.py [--port 0] [--loop uvloop]``.
Prints ``READY <port>`` once bound, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

import responder_cli

COPIED = {b"via", b"v", b"from", b"f", b"call-id", b"i", b"cseq"}
TO = {b"to", b"t"}
TAG = b";tag=bench1"


def answer(data: bytes) -> bytes | None:
    """The 200 OK for one request datagram, None for ACK or a non-request."""
    head = data.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    start = lines[0]
    if start.startswith(b"SIP/") or start.startswith(b"ACK "):
        return None
    out = [b"SIP/2.0 200 OK"]
    for line in lines[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name in COPIED:
            out.append(line)
        elif name in TO:
            out.append(line if b";tag=" in line else line + TAG)
    out.append(b"Content-Length: 0\r\n\r\n")
    return b"\r\n".join(out)


class Responder(asyncio.DatagramProtocol):
    """Answers each datagram as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        response = answer(data)
        if response is not None and self.transport is not None:
            self.transport.sendto(response, addr)
            self.answered += 1


async def serve(port: int) -> None:
    stop = responder_cli.stop_signal()
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        Responder, local_addr=("127.0.0.1", port)
    )
    print("READY", transport.get_extra_info("sockname")[1], flush=True)
    try:
        await stop
    finally:
        transport.close()
    print("ANSWERED", protocol.answered, flush=True)


def main() -> int:
    args = responder_cli.parser(__doc__).parse_args()
    return responder_cli.run(serve(args.port), args.loop)


if __name__ == "__main__":
    sys.exit(main())
