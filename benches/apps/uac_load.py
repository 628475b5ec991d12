"""A SIP load generator for the transports sipp cannot speak here: UDP, TCP, TLS and WSS.

It places calls (INVITE, ACK for the 200, BYE) at a fixed rate for a number
of seconds to one server, over one socket or one persistent connection
(``--fresh``: a new TLS or TCP connection per call, closed after its BYE's
200), then prints one line ``RESULT placed=.. ok=.. failed=.. timeouts=..
seconds=..``. A call fails on a final response other than 200; it times out
without its BYE's 200 within 8 s of its INVITE. Nothing is retransmitted:
on loopback a lost datagram shows as a timeout.

The messages are written from templates and the responses read with a few
regular expressions (status, Call-ID, CSeq method, To tag), so that the
generator costs little beside the server it loads. It is the load of
``benches/bench_transports.py``, not a SIP client to learn from.

Run: ``python benches/apps/uac_load.py --transport tls --target 127.0.0.1:5061
--rate 300 --seconds 10 [--ca CA.pem] [--fresh]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable

import websockets

HOST = "127.0.0.1"
SDP = (
    "v=0\r\no=load 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
_STATUS = re.compile(rb"^SIP/2\.0 (\d{3})")
_CALL_ID = re.compile(rb"\r\n(?:Call-ID|i):[ \t]*(\S+)", re.IGNORECASE)
_CSEQ = re.compile(rb"\r\nCSeq:[ \t]*\d+ (\w+)", re.IGNORECASE)
_TO_TAG = re.compile(rb"\r\n(?:To|t):[^\r\n]*;tag=([^;\s>]+)", re.IGNORECASE)
_LENGTH = re.compile(rb"\r\n(?:Content-Length|l):[ \t]*(\d+)", re.IGNORECASE)
TIMEOUT = 8.0
VIA_TRANSPORT = {"udp": "UDP", "tcp": "TCP", "tls": "TLS", "wss": "WSS"}


class Load:
    """The calls in flight and their outcome."""

    def __init__(self, transport: str, target: tuple[str, int], local_port: int) -> None:
        self.transport = transport
        self.target = target
        self.local_port = local_port
        self.send: Callable[[bytes], None] = lambda _: None
        self.started: dict[str, float] = {}
        # How each call's requests leave (a connection of its own with --fresh).
        self.senders: dict[str, Callable[[bytes], None]] = {}
        self.ok = self.failed = self.timeouts = 0
        self.done: dict[str, asyncio.Future[None]] = {}
        # Call-IDs and tags of their own: the server remembers those of
        # earlier runs (a repeated one would be a merged request, 482).
        self.run = secrets.token_hex(4)

    def request(self, method: str, n: int, cseq: int, to_tag: str | None) -> bytes:
        body = SDP if method == "INVITE" else ""
        via = VIA_TRANSPORT[self.transport]
        to = f"<sip:service@{self.target[0]}>" + (f";tag={to_tag}" if to_tag else "")
        return (
            f"{method} sip:service@{self.target[0]}:{self.target[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/{via} {HOST}:{self.local_port};branch=z9hG4bK-{method[0]}{n}"
            f"-{cseq};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:load@{HOST}>;tag=f{n}{self.run}\r\nTo: {to}\r\n"
            f"Call-ID: {self.call_id(n)}\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:load@{HOST}:{self.local_port};transport={self.transport}>\r\n"
            + ("Content-Type: application/sdp\r\n" if body else "")
            + f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    def call_id(self, n: int) -> str:
        return f"load-{n}-{self.run}@{HOST}"

    def start_call(self, n: int, send: Callable[[bytes], None] | None = None) -> None:
        call_id = self.call_id(n)
        self.started[call_id] = time.monotonic()
        self.done[call_id] = asyncio.get_running_loop().create_future()
        self.senders[call_id] = send or self.send
        self.senders[call_id](self.request("INVITE", n, 1, None))

    def on_message(self, data: bytes) -> None:
        status = _STATUS.match(data)
        call = _CALL_ID.search(data)
        method = _CSEQ.search(data)
        if status is None or call is None or method is None:
            return
        code = int(status[1])
        call_id = call[1].decode()
        if code < 200 or call_id not in self.started:
            return
        n = int(call_id.split("-")[1])
        if method[1] == b"INVITE":
            if code != 200:
                self.finish(call_id, failed=True)
                return
            tag = _TO_TAG.search(data)
            to_tag = tag[1].decode() if tag else None
            send = self.senders[call_id]
            send(self.request("ACK", n, 1, to_tag))
            send(self.request("BYE", n, 2, to_tag))
        elif method[1] == b"BYE":
            self.finish(call_id, failed=code != 200)

    def finish(self, call_id: str, *, failed: bool) -> None:
        if self.started.pop(call_id, None) is None:
            return
        self.senders.pop(call_id, None)
        if failed:
            self.failed += 1
        else:
            self.ok += 1
        future = self.done.pop(call_id)
        if not future.done():
            future.set_result(None)

    def expire(self) -> None:
        now = time.monotonic()
        for call_id, at in list(self.started.items()):
            if now - at > TIMEOUT:
                del self.started[call_id]
                self.senders.pop(call_id, None)
                self.timeouts += 1
                future = self.done.pop(call_id)
                if not future.done():
                    future.set_result(None)


class StreamReader:
    """Splits a byte stream into SIP messages by their Content-Length."""

    def __init__(self, on_message: Callable[[bytes], None]) -> None:
        self.buffer = b""
        self.on_message = on_message

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while True:
            self.buffer = self.buffer.lstrip(b"\r\n")
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = _LENGTH.search(self.buffer, 0, end + 2)
            total = end + 4 + (int(length[1]) if length else 0)
            if len(self.buffer) < total:
                return
            self.on_message(self.buffer[:total])
            self.buffer = self.buffer[total:]


async def open_stream(
    load: Load, ssl_context: ssl.SSLContext | None
) -> tuple[Callable[[bytes], None], Callable[[], Awaitable[None]]]:
    """A TCP or TLS connection to the target: its send function and its closer."""
    reader, writer = await asyncio.open_connection(*load.target, ssl=ssl_context)
    load.local_port = writer.get_extra_info("sockname")[1]
    framer = StreamReader(load.on_message)

    async def read() -> None:
        while data := await reader.read(65536):
            framer.feed(data)

    task = asyncio.ensure_future(read())

    async def close() -> None:
        task.cancel()
        writer.close()

    return writer.write, close


async def run(args: argparse.Namespace) -> str:
    host, port = args.target.rsplit(":", 1)
    target = (host, int(port))
    load = Load(args.transport, target, 0)
    context = None
    if args.transport in ("tls", "wss"):
        context = ssl.create_default_context(cafile=args.ca)
    closers: list[Callable[[], Awaitable[None]]] = []
    loop = asyncio.get_running_loop()
    if args.transport == "udp":

        class Datagrams(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                load.on_message(data)

        udp, _ = await loop.create_datagram_endpoint(
            Datagrams, local_addr=(HOST, 0), remote_addr=target
        )
        load.local_port = udp.get_extra_info("sockname")[1]
        load.send = udp.sendto
    elif args.transport == "wss":
        ws = await websockets.connect(
            f"wss://{host}:{port}", subprotocols=[websockets.Subprotocol("sip")], ssl=context
        )
        load.local_port = ws.local_address[1]

        async def pump() -> None:
            async for message in ws:
                load.on_message(message if isinstance(message, bytes) else message.encode())

        outgoing: asyncio.Queue[bytes] = asyncio.Queue()

        async def write() -> None:
            while True:
                await ws.send((await outgoing.get()).decode())

        tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(write())]
        load.send = outgoing.put_nowait

        async def ws_close() -> None:
            for task in tasks:
                task.cancel()
            await ws.close()

        closers.append(ws_close)
    elif not args.fresh:
        load.send, close = await open_stream(load, context)
        closers.append(close)
    calls = args.rate * args.seconds
    began = time.monotonic()
    pending: list[asyncio.Future[None]] = []
    for n in range(calls):
        delay = began + n / args.rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if args.fresh:
            pending.append(asyncio.ensure_future(fresh_call(load, n, context)))
        else:
            load.start_call(n)
        if n % 50 == 0:
            load.expire()
    while load.started:
        load.expire()
        await asyncio.sleep(0.1)
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.monotonic() - began
    for close in closers:
        await close()
    return (
        f"RESULT placed={calls} ok={load.ok} failed={load.failed} "
        f"timeouts={load.timeouts} seconds={elapsed:.2f}"
    )


async def fresh_call(load: Load, n: int, context: ssl.SSLContext | None) -> None:
    """One call over a connection of its own, closed once the call ends."""
    try:
        send, close = await open_stream(load, context)
    except OSError:
        load.failed += 1
        return
    load.start_call(n, send)
    future = load.done.get(load.call_id(n))
    if future is not None:
        await future
    await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=sorted(VIA_TRANSPORT), required=True)
    parser.add_argument("--target", required=True, help="HOST:PORT of the server")
    parser.add_argument("--rate", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--ca", help="PEM authority the server's certificate chains to")
    parser.add_argument("--fresh", action="store_true", help="a new connection per call")
    args = parser.parse_args()
    print(asyncio.run(run(args)), flush=True)


if __name__ == "__main__":
    main()
