"""The codec against the real drachtio-srf client (node.js), over loopback TCP.

A small asyncio listener answers with :class:`~drachtio.srfproto.ServerConnection`
what a drachtio server would; ``node/client.js`` is a drachtio-srf application
that connects, routes, sends a request, answers an INVITE, takes a CDR and an
unsolicited BYE, and prints what it observed. scripts/test.sh installs the
pinned drachtio-srf (``node/package-lock.json``).
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from drachtio.srfproto import (
    UNSOLICITED,
    Authenticate,
    CdrEvent,
    ClientMessage,
    FrameDecoder,
    MessageReceived,
    NewRequest,
    Route,
    SendResponse,
    ServerConnection,
    ServerMessage,
    SipEvent,
    SipMeta,
    auth_accepted,
    request_sent,
    response_sent,
    stack_time,
    success,
)

NODE_DIR = Path(__file__).parent / "node"
SECRET = "cymru"
HOSTPORTS = ["udp/127.0.0.1:5060", "tcp/127.0.0.1:5060"]
INVITE = (
    "INVITE sip:alice@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-1\r\n"
    "From: <sip:carol@127.0.0.1>;tag=f1\r\n"
    "To: <sip:alice@127.0.0.1>\r\n"
    "Call-ID: inv-call-1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:carol@127.0.0.1:5090>\r\n"
    "Subject: Grüße 🎉\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 8\r\n"
    "\r\n"
    "ça va ?"
)
BYE = (
    "BYE sip:carol@127.0.0.1:5090 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-2\r\n"
    "From: <sip:alice@127.0.0.1>;tag=t1\r\n"
    "To: <sip:carol@127.0.0.1>;tag=f1\r\n"
    "Call-ID: inv-call-1\r\n"
    "CSeq: 2 BYE\r\n"
    'Reason: SIP ;cause=200 ;text="ACK timeout"\r\n'
    "Content-Length: 0\r\n"
    "\r\n"
)


def _complete(partial: str, txn: str) -> str:
    """The partial request with the headers a server adds, as it would echo it."""
    head, body = partial.split("\r\n\r\n", 1)
    start, _, headers = head.partition("\r\n")
    kept = [h for h in headers.split("\r\n") if not h.lower().startswith("content-length")]
    added = [
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-{txn}",
        "From: <sip:127.0.0.1:5060>;tag=srv1",
        "To: <sip:bob@127.0.0.1:5099>",
        "Call-ID: msg-call-1",
        "CSeq: 1 MESSAGE",
        "Max-Forwards: 70",
    ]
    length = f"Content-Length: {len(body.encode())}"
    return "\r\n".join([start, *added, *kept, length]) + "\r\n\r\n" + body


MESSAGE_OK = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-msg-1\r\n"
    "From: <sip:127.0.0.1:5060>;tag=srv1\r\n"
    "To: <sip:bob@127.0.0.1:5099>;tag=b1\r\n"
    "Call-ID: msg-call-1\r\n"
    "CSeq: 1 MESSAGE\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 10\r\n"
    "\r\n"
    "pong ☕!"
)
# Where the stand-in server says messages went or came from.
BOB = SipMeta("network", "udp", "127.0.0.1", 5099, stack_time(0.0))
CAROL = SipMeta("network", "udp", "127.0.0.1", 5090, stack_time(0.0))
SENT_TO_BOB = SipMeta("application", "udp", "127.0.0.1", 5099, stack_time(0.0))
SENT_TO_CAROL = SipMeta("application", "udp", "127.0.0.1", 5090, stack_time(0.0))


class _Server:
    """A stand-in drachtio server speaking the srf dialect with the codec."""

    def __init__(self) -> None:
        self.conn = ServerConnection()
        self.payloads: list[str] = []
        self.received: list[ClientMessage] = []
        self.verbs: set[str] = set()
        self.offered = False
        self.done = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = FrameDecoder()
        try:
            while not self.conn.closing and (data := await reader.read(65536)):
                self.payloads += raw.payloads(data)
                events = self.conn.receive_data(data)
                while events:
                    event = events.pop(0)
                    assert isinstance(event, MessageReceived), event
                    for reply in self._answer(event.message):
                        writer.write(self.conn.send(reply))
                    if isinstance(event.message, Authenticate):
                        events += self.conn.receive_data(b"")
                await writer.drain()
        finally:
            writer.close()
            self.done.set()

    def _answer(self, message: ClientMessage) -> list[ServerMessage]:
        """What a drachtio server sends on ``message``."""
        self.received.append(message)
        new_id = self.conn.next_msg_id
        out: list[ServerMessage] = []
        if isinstance(message, Authenticate):
            assert message.secret == SECRET
            out.append(auth_accepted(new_id(), message.msg_id, HOSTPORTS, "v0.9.3", HOSTPORTS[:1]))
        elif isinstance(message, Route):
            self.verbs.add(message.verb)
            out.append(success(new_id(), message.msg_id))
        elif isinstance(message, NewRequest):
            sent = _complete(message.message, "msg-1")
            out.append(request_sent(new_id(), message.msg_id, SENT_TO_BOB, "msg-1", sent))
            out.append(SipEvent(new_id(), BOB, "msg-1", "", MESSAGE_OK))
        elif isinstance(message, SendResponse):
            txn = message.transaction_id
            out.append(
                response_sent(new_id(), message.msg_id, SENT_TO_CAROL, txn, "", message.message)
            )
            out.append(SipEvent(new_id(), SENT_TO_CAROL, UNSOLICITED, "dlg-1", BYE))
        if not self.offered and {"invite", "bye", "cdr:attempt"} <= self.verbs:
            self.offered = True
            out.append(CdrEvent(new_id(), "attempt", "network", "12:00:00.000001", INVITE))
            out.append(SipEvent(new_id(), CAROL, "inv-1", "", INVITE, ("127.0.0.1", 5060)))
        return out


async def _run_client(port: int) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_DIR / "client.js"),
        str(port),
        SECRET,
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await process.communicate()
    finally:
        if process.returncode is None:  # cancelled: the exchange hung
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    return [json.loads(line) for line in stdout.decode().splitlines()]


@pytest.mark.skipif(shutil.which("node") is None, reason="node.js is not installed")
async def test_the_real_drachtio_srf_client_speaks_with_the_codec() -> None:
    assert (NODE_DIR / "node_modules" / "drachtio-srf").is_dir(), "run scripts/test.sh (npm ci)"
    server = _Server()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        # A bound on a hang, never reached when the exchange works.
        lines = await asyncio.wait_for(_run_client(port), 60)
        await asyncio.wait_for(server.done.wait(), 60)
    finally:
        listener.close()
        await listener.wait_closed()

    by_event = {line["event"]: line for line in lines}
    assert "error" not in by_event, lines
    assert by_event["connect"] == {
        "event": "connect",
        "hostport": ",".join(HOSTPORTS),
        "version": "v0.9.3",
        "localHostports": HOSTPORTS[0],
    }
    # The request the client wrote, as the server completed and echoed it, then its response.
    assert by_event["sent"] == {"event": "sent", "txn": "msg-1", "callId": "msg-call-1"}
    assert by_event["response"] == {"event": "response", "status": 200, "body": "pong ☕!"}
    # A new request from the network, with its multi-byte header and body.
    invite = by_event["invite"]
    assert (invite["subject"], invite["body"], invite["txn"]) == ("Grüße 🎉", "ça va ?", "inv-1")
    assert invite["receivedOn"] == "127.0.0.1:5060"
    assert by_event["cdr:attempt"] == {
        "event": "cdr:attempt",
        "source": "network",
        "time": "12:00:00.000001",
        "method": "INVITE",
    }
    assert by_event["bye"] == {
        "event": "bye",
        "source": "application",
        "txn": "unsolicited",
        "dialog": "dlg-1",
    }

    # What the client sent, frame by frame, is what docs/srf-protocol.md says.
    uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert re.fullmatch(rf"{uuid}\|authenticate\|{SECRET}\|blue,green", server.payloads[0])
    assert server.received[0] == Authenticate(server.received[0].msg_id, SECRET, ("blue", "green"))
    routes = {m.verb for m in server.received if isinstance(m, Route)}
    assert routes == {"invite", "bye", "cdr:attempt"}
    (request,) = [m for m in server.received if isinstance(m, NewRequest)]
    assert request.proxy is None and request.method == "MESSAGE"
    assert "\r\nSubject: café ☕\r\n" in request.message
    assert request.message.endswith("\r\n\r\nhéllo 😀")
    # drachtio-srf counts the body's Content-Length in UTF-16 code units (8), not bytes (11).
    assert "\r\nContent-Length: 8\r\n" in request.message
    (answer,) = [m for m in server.received if isinstance(m, SendResponse)]
    assert answer.transaction_id == "inv-1"
    assert answer.message.startswith("SIP/2.0 486 Busy Here\r\n")
    for payload, message in zip(server.payloads, server.received, strict=True):
        assert message.to_payload() == payload
