"""The SIP side of a fuzz run: a peer on a real socket, and the legs of its dialogs.

A :class:`Peer` sends bytes as they are (spoiled or not) over UDP or TCP on
loopback and queues what the server sends, parsed; a :class:`Leg` builds the
requests and responses of one dialog as the peer sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from dataclasses import dataclass, field

from sip_peer import SipPeer

from drachtio import ParseError, SipMessage, SipRequest, parse
from hostile.values import Message


@dataclass
class Copied:
    """A response the server sent that does not parse: one copying a request's
    malformed From, To, Call-ID or CSeq, as RFC 3261 §8.2.6.2 has it copied
    (a 400 to that request). Its status and Call-ID, read by hand."""

    status: int
    branch: str
    data: bytes


_BRANCH = re.compile(r";\s*branch=([^;,\s]+)")


def branch_of(message: Message) -> str:
    """The branch of the first Via of ``message`` ("" when it has none)."""
    found = _BRANCH.search(message.header("Via") or "")
    return found.group(1) if found else ""


def _copied(data: bytes) -> Copied | None:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace").split("\r\n")
    status = head[0].split(" ")
    if len(status) < 2 or status[0] != "SIP/2.0" or not status[1].isdigit():
        return None
    vias = [line for line in head if line.lower().startswith(("via:", "v:"))]
    found = _BRANCH.search(vias[0]) if vias else None
    return Copied(int(status[1]), found.group(1) if found else "", data)


class Peer(SipPeer):
    """A SIP peer on loopback over UDP or TCP that sends bytes as they are.

    Over TCP it also listens, for the requests the server opens a connection
    to send, and sends its responses back over that connection (its Via and
    Contact name the listening port). A response from the server that does
    not parse is queued as :class:`Copied` when it answers a malformed
    request 4xx (it copies that request's values), and kept in
    :attr:`unparsable` otherwise: the server must never send that.
    """

    def __init__(self, transport: str) -> None:
        super().__init__(transport)
        self.received: asyncio.Queue[SipMessage | Copied] = asyncio.Queue()  # type: ignore[assignment]
        self.unparsable: list[str] = []
        # A wrong Content-Length sent over TCP: what follows is misframed.
        self.misframed = False
        # The server closed the connection this peer opened (after a request
        # it could neither parse nor answer): what follows never reaches it.
        self.cut = False
        self.log: list[str] = []  # what was sent (">") and received ("<")
        self._inbound: asyncio.StreamWriter | None = None
        self._listener: asyncio.Server | None = None
        self._inbound_readers: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, transport: str, server_port: int) -> Peer:
        peer = await super().open(transport, server_port)
        assert isinstance(peer, Peer)
        if transport == "tcp":
            peer._listener = await asyncio.start_server(peer._accepted, "127.0.0.1", 0)
            peer.port = peer._listener.sockets[0].getsockname()[1]
        return peer

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._inbound = writer
        self._inbound_readers.append(asyncio.ensure_future(self._read_inbound(reader)))

    def take(self, data: bytes) -> None:
        if not data.strip(b"\r\n"):
            return  # a keep-alive
        self.log.append("< " + data.split(b"\r\n", 1)[0].decode("utf-8", "replace")[:80])
        try:
            self.received.put_nowait(parse(data))
        except ParseError as exc:
            copied = _copied(data)
            if copied is not None and 400 <= copied.status < 500:
                self.received.put_nowait(copied)
            else:
                self.unparsable.append(f"{exc}: {data[:300]!r}")

    def send(self, data: bytes) -> None:
        self.log.append("> " + data.decode("utf-8", "replace")[:4000])
        inbound = self._inbound
        if data.startswith(b"SIP/2.0 ") and inbound is not None:
            # A response to a request the server sent over a connection it opened.
            if not inbound.is_closing():
                inbound.write(data)
        elif self._writer is None or not self._writer.is_closing():
            super().send(data)

    async def poll(self, timeout: float) -> SipMessage | Copied | None:
        """The next message received within ``timeout`` seconds, else ``None``."""
        try:
            return await asyncio.wait_for(self.received.get(), timeout)
        except asyncio.TimeoutError:
            return None

    def close(self) -> None:
        super().close()
        if self._inbound is not None:
            self._inbound.close()
        if self._listener is not None:
            self._listener.close()
        for reader in self._inbound_readers:
            reader.cancel()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """The connection this peer opened; when it ends, the server closed it."""
        with contextlib.suppress(ConnectionError):
            await super()._read(reader)
        self.cut = True

    async def _read_inbound(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(ConnectionError):
            await super()._read(reader)


_ids = itertools.count()


@dataclass
class Leg:
    """One side of a dialog as the peer sees it: its ids and the next CSeq."""

    peer: Peer
    call_id: str = field(default_factory=lambda: f"fuzz-{next(_ids)}")
    local_tag: str = field(default_factory=lambda: f"p{next(_ids)}")
    remote: str = ""  # the server's side, as it sent it (To or From, with its tag)
    local_uri: str = "<sip:peer@127.0.0.1>"
    cseq: int = 1
    target: str = ""

    @property
    def uri(self) -> str:
        return self.target or f"sip:service@127.0.0.1:{self.peer.server_port}"

    def via(self) -> str:
        transport = self.peer.transport.upper()
        return f"SIP/2.0/{transport} 127.0.0.1:{self.peer.port};branch=z9hG4bK-f{next(_ids)};rport"

    def request(
        self,
        method: str,
        *extra: tuple[str, str],
        cseq: int | None = None,
        body: str = "",
        via: str | None = None,
    ) -> Message:
        if cseq is None and method not in ("ACK", "CANCEL"):
            self.cseq += 1
        seq = self.cseq if cseq is None else cseq
        to = self.remote or f"<sip:service@127.0.0.1:{self.peer.server_port}>"
        transport = self.peer.transport
        headers = [
            ("Via", via or self.via()),
            ("Max-Forwards", "70"),
            ("From", f"{self.local_uri};tag={self.local_tag}"),
            ("To", to),
            ("Call-ID", self.call_id),
            ("CSeq", f"{seq} {method}"),
            ("Contact", f"<sip:peer@127.0.0.1:{self.peer.port};transport={transport}>"),
            *extra,
        ]
        message = Message(f"{method} {self.uri} SIP/2.0", headers, body)
        if body:
            message.set("Content-Type", "application/sdp")
        return message

    def response(
        self, request: SipRequest, status: int, *extra: tuple[str, str], body: str = ""
    ) -> Message:
        """A response to the server's ``request``, this leg's tag on its To."""
        to = request.header("To") or ""
        if ";tag=" not in to:
            to += f";tag={self.local_tag}"
        transport = self.peer.transport
        headers = [
            *(("Via", v) for v in request.header_all("Via")),
            ("From", request.header("From") or ""),
            ("To", to),
            ("Call-ID", request.header("Call-ID") or ""),
            ("CSeq", request.header("CSeq") or ""),
            ("Contact", f"<sip:peer@127.0.0.1:{self.peer.port};transport={transport}>"),
            *extra,
        ]
        message = Message(f"SIP/2.0 {status} {_REASONS.get(status, 'Whatever')}", headers, body)
        if body:
            message.set("Content-Type", "application/sdp")
        return message


_REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 486: "Busy Here"}
