"""Helpers of the SipStack tests: free ports, sipp as a subprocess, and a
small UAS and UAC written on SipStack."""

from __future__ import annotations

import asyncio
import csv
import shutil
import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drachtio import (
    AckEvent,
    AckTimeoutEvent,
    CancelEvent,
    ClosedEvent,
    RequestEvent,
    ResponseEvent,
    SipRequest,
    SipResponse,
    SipStack,
)
from drachtio.stack import StackEvent

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP = shutil.which("sipp")
needs_sipp = pytest.mark.skipif(
    SIPP is None,
    reason="sipp is not on PATH (Debian package sip-tester; scripts/test.sh installs it)",
)

SDP = (
    b"v=0\r\n"
    b"o=drachtio 1 1 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (sipp binds the one it is given)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def address(stack: SipStack, transport: str) -> tuple[str, int]:
    """The stack's listener for ``transport`` as ``(host, port)``."""
    for t, host, port in stack.local_addresses:
        if t == transport:
            return host, port
    raise AssertionError(f"no {transport} listener in {stack.local_addresses}")


@dataclass
class SippRun:
    returncode: int
    successful: int
    failed: int
    retransmissions: int
    log: str


async def run_sipp(tmp_path: Path, *args: str, timeout: float = 60.0) -> SippRun:
    """Runs sipp to the end with the given arguments; reads its final statistics."""
    assert SIPP is not None
    stat_file = tmp_path / f"sipp-{len(list(tmp_path.glob('sipp-*.csv')))}.csv"
    out = tmp_path / "sipp.out"
    with out.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            SIPP,
            *args,
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
            "-trace_stat",
            "-stf",
            str(stat_file),
            "-trace_err",
            cwd=tmp_path,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            returncode = await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    log = out.read_text(errors="replace")[-3000:]
    for err in tmp_path.glob("*_errors.log"):
        log += "\n" + err.read_text(errors="replace")[-3000:]
    with stat_file.open(newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    last = rows[-1]
    return SippRun(
        returncode=returncode,
        successful=int(last["SuccessfulCall(C)"]),
        failed=int(last["FailedCall(C)"]),
        retransmissions=int(last["Retransmissions(C)"]),
        log=log,
    )


@dataclass
class Uas:
    """Answers INVITE with 180 and 200 (with SDP) and any other request 200.

    With ``ring_only`` an INVITE only gets 180 (for CANCEL flows).
    """

    ring_only: bool = False
    stack: SipStack | None = None
    events: list[StackEvent] = field(default_factory=list)
    methods: Counter[str] = field(default_factory=Counter)
    closed: bool = False

    def on_event(self, event: StackEvent) -> None:
        assert self.stack is not None
        self.events.append(event)
        if isinstance(event, RequestEvent):
            request = event.request
            self.methods[request.method] += 1
            to = f"{request.header('To')};tag={self.stack.new_tag()}"
            contact = ("Contact", "<sip:uas@127.0.0.1>")
            if request.method == "INVITE":
                self.stack.respond(event.tx_id, SipResponse(180, headers=[("To", to)]))
                if not self.ring_only:
                    ok = SipResponse(
                        200,
                        headers=[("To", to), contact, ("Content-Type", "application/sdp")],
                        body=SDP,
                    )
                    self.stack.respond(event.tx_id, ok)
            else:
                self.stack.respond(event.tx_id, SipResponse(200, headers=[("To", to)]))
        elif isinstance(event, ClosedEvent):
            self.closed = True

    @property
    def acks(self) -> int:
        return len([e for e in self.events if isinstance(e, AckEvent) and e.tx_id is not None])

    @property
    def cancels(self) -> list[CancelEvent]:
        return [e for e in self.events if isinstance(e, CancelEvent)]

    @property
    def ack_timeouts(self) -> list[AckTimeoutEvent]:
        return [e for e in self.events if isinstance(e, AckTimeoutEvent)]


class Uac:
    """Places calls with SipStack: INVITE, ACK for the 2xx (``send_ack``), BYE."""

    def __init__(self) -> None:
        self.stack: SipStack | None = None
        self.waiting: dict[int, asyncio.Queue[SipResponse]] = {}
        self.events: list[StackEvent] = []

    def on_event(self, event: StackEvent) -> None:
        self.events.append(event)
        if isinstance(event, ResponseEvent):
            self.waiting[event.tx_id].put_nowait(event.response)

    async def final(self, tx_id: int) -> SipResponse:
        """The first final response of client transaction ``tx_id``."""
        while True:
            response = await asyncio.wait_for(self.waiting[tx_id].get(), 10)
            if response.status >= 200:
                del self.waiting[tx_id]
                return response

    def send(self, request: SipRequest, dest: tuple[str, str, int]) -> int:
        assert self.stack is not None
        tx_id = self.stack.send_request(request, dest)
        self.waiting[tx_id] = asyncio.Queue()
        return tx_id

    async def call(self, transport: str, port: int, n: int) -> None:
        """One call to sipp's ``uas`` scenario on 127.0.0.1:``port``."""
        assert self.stack is not None
        dest = (transport, "127.0.0.1", port)
        target = f"sip:service@127.0.0.1:{port};transport={transport}"
        call_id = f"call-{n}-{self.stack.new_tag()}"
        from_ = f"<sip:uac@127.0.0.1>;tag={self.stack.new_tag()}"
        common = [("From", from_), ("Call-ID", call_id)]
        invite = SipRequest(
            "INVITE",
            target,
            headers=[
                *common,
                ("To", f"<{target}>"),
                ("CSeq", "1 INVITE"),
                ("Contact", "<sip:uac@127.0.0.1>"),
                ("Content-Type", "application/sdp"),
            ],
            body=SDP,
        )
        tx_id = self.send(invite, dest)
        ok = await self.final(tx_id)
        assert ok.status == 200, ok
        to = ok.header("To")
        assert to is not None and ";tag=" in to
        (contact,) = ok.contacts
        # RFC 3261 §13.2.2.4: the ACK goes to the remote target, in the dialog.
        ack = SipRequest(
            "ACK",
            contact.uri,
            headers=[*common, ("To", to), ("CSeq", "1 ACK")],
        )
        self.stack.send_ack(tx_id, ack)
        bye = SipRequest(
            "BYE",
            contact.uri,
            headers=[*common, ("To", to), ("CSeq", "2 BYE")],
        )
        bye_ok = await self.final(self.send(bye, dest))
        assert bye_ok.status == 200, bye_ok
