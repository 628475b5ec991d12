"""A SIP peer written by hand over a real UDP or TCP socket on loopback.

For what sipp cannot send: control characters in quoted strings (XML cannot
carry them), the torture messages of RFC 4475 as they are.
"""

from __future__ import annotations

import asyncio
import itertools

from drachtio import SipMessage, SipRequest, SipResponse, parse

_branches = itertools.count()


class SipPeer:
    """One socket; every message received is parsed and queued in order."""

    def __init__(self, transport: str) -> None:
        self.transport = transport
        self.received: asyncio.Queue[SipMessage] = asyncio.Queue()
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._server_port = 0

    @classmethod
    async def open(cls, transport: str, server_port: int) -> SipPeer:
        peer = cls(transport)
        peer._server_port = server_port
        loop = asyncio.get_running_loop()
        if transport == "udp":
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(peer), local_addr=("127.0.0.1", 0)
            )
            peer._udp = udp
            peer.port = udp.get_extra_info("sockname")[1]
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", server_port)
            peer._writer = writer
            peer.port = writer.get_extra_info("sockname")[1]
            peer._reader_task = asyncio.ensure_future(peer._read(reader))
        return peer

    @property
    def server_port(self) -> int:
        """The server's port this peer sends to."""
        return self._server_port

    @property
    def via(self) -> str:
        """A Via naming this socket, with a fresh branch and ``rport``."""
        branch = f"z9hG4bK-peer-{self.port}-{next(_branches)}"
        return f"SIP/2.0/{self.transport.upper()} 127.0.0.1:{self.port};branch={branch};rport"

    def send(self, data: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(data, ("127.0.0.1", self._server_port))
        else:
            assert self._writer is not None
            self._writer.write(data)

    async def next(self, timeout: float = 10.0) -> SipMessage:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def next_request(self, method: str, timeout: float = 10.0) -> SipRequest:
        """The next request of ``method``, skipping responses and other requests."""
        while True:
            message = await self.next(timeout)
            if isinstance(message, SipRequest) and message.method == method:
                return message

    async def final_response(self, call_id: str | None, timeout: float = 10.0) -> SipResponse:
        """The first final response of ``call_id`` (of any if None), skipping everything else."""
        while True:
            message = await self.next(timeout)
            if (
                isinstance(message, SipResponse)
                and message.status >= 200
                and (call_id is None or message.call_id == call_id)
            ):
                return message

    def answer(self, request: SipRequest, status: int, reason: str) -> None:
        """Answer ``request`` with its Via, From, To, Call-ID and CSeq copied as received."""
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {via}" for via in request.header_all("Via")]
        lines += [f"{name}: {request.header(name)}" for name in ("From", "To", "Call-ID", "CSeq")]
        self.send(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()

    def take(self, data: bytes) -> None:
        """One message received: parsed and queued."""
        self.received.put_nowait(parse(data))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        while data := await reader.read(65536):
            buffer += data
            # CRLF keep-alive answers (RFC 5626 §3.5.1) come between messages.
            while (end := (buffer := buffer.lstrip(b"\r\n")).find(b"\r\n\r\n")) >= 0:
                length = _content_length(buffer[:end])
                if len(buffer) < end + 4 + length:
                    break
                self.take(buffer[: end + 4 + length])
                buffer = buffer[end + 4 + length :]


def _content_length(head: bytes) -> int:
    """The Content-Length of a message's head, read by hand: the head need not parse."""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            return int(value.strip() or b"0")
    return 0


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, peer: SipPeer) -> None:
        self._peer = peer

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._peer.take(data)
