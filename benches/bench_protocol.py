"""CPU cost of the control protocol layer per SIP call, on the server's side.

Drives a server-role :class:`~drachtio.protocol.Connection` and a client-role
one as its peer, in memory, through the control traffic of one call answered
by an application (INVITE, ACK, BYE), as ``drachtio.server`` produces it:

- the server sends ``sip`` for the INVITE, the ACK and the BYE, each carrying
  the :class:`~drachtio.SipRequest` itself, and a ``dialog`` ``destroyed``
  event; the client answers each with ``{success: true}``;
- the client sends ``respondToSipRequest`` (200 with SDP to the INVITE, 200
  to the BYE); the server answers each with a ``RespondResult`` carrying the
  :class:`~drachtio.SipResponse`.

Reports, per call: wall µs of the server's protocol calls alone (building the
messages, ``send`` and ``receive_data``), wall µs of the whole exchange with
the peer's side included, and the number of Python function calls (cProfile's
``total_calls``) for both. A benchmark, not a test: nothing is asserted.

Run: ``python benches/bench_protocol.py [--calls N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import time
from collections.abc import Callable
from pathlib import Path

import drachtio
from apps.json_app import SDP  # the answer the benchmark app sends
from drachtio import SipRequest, SipResponse
from drachtio.protocol import (
    Auth,
    AuthResult,
    Connection,
    DialogEvent,
    Event,
    Failure,
    Ping,
    Request,
    RequestReceived,
    RespondResult,
    RespondToSipRequest,
    Response,
    ResponseReceived,
    Role,
    Sip,
    Source,
    Success,
    new_rid,
)

DATA = Path(__file__).parent / "data"
SDP_HEADERS: dict[str, str | list[str]] = {"Content-Type": "application/sdp"}
SOURCE = Source("udp", "192.0.2.101", 5060)
RECEIVED = 1_700_000_000.25
DIALOG_ID = "d-3848276298220188511"


def sample_messages() -> tuple[SipRequest, SipRequest, SipRequest, SipResponse, SipResponse]:
    """The INVITE, ACK and BYE the server hands over, and its two 200 responses."""
    invite = drachtio.parse((DATA / "invite.sip").read_bytes())
    assert isinstance(invite, SipRequest)
    dialog = {
        "Via": "SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK74bfa;rport=5060",
        "From": '"Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
        "To": "Bob <sip:bob@biloxi.example.com>;tag=8321234356",
        "Call-ID": "3848276298220188511@atlanta.example.com",
        "Max-Forwards": "70",
    }
    ack = SipRequest("ACK", "sip:bob@192.0.2.4", {**dialog, "CSeq": "314159 ACK"})
    bye = SipRequest("BYE", "sip:bob@192.0.2.4", {**dialog, "CSeq": "314160 BYE"})
    ok_invite = drachtio.parse((DATA / "ok200.sip").read_bytes())
    assert isinstance(ok_invite, SipResponse)
    ok_bye = SipResponse(
        200,
        headers=[
            ("Via", dialog["Via"]),
            ("From", dialog["From"]),
            ("To", dialog["To"]),
            ("Call-ID", dialog["Call-ID"]),
            ("CSeq", "314160 BYE"),
            ("Content-Length", "0"),
        ],
    )
    return invite, ack, bye, ok_invite, ok_bye


class Peer:
    """The application: answers every request, responds 200 to INVITE and BYE."""

    def __init__(self) -> None:
        self.conn = Connection(Role.CLIENT)
        self.count = 0

    def handle(self, data: bytes) -> bytes:
        out: list[bytes] = []
        conn = self.conn
        for event in conn.receive_data(data):
            if isinstance(event, RequestReceived):
                request = event.request
                out.append(conn.send(Response(request.rid, Success())))
                command = request.data
                if isinstance(command, Sip) and isinstance(command.message, dict):
                    method = command.message.get("request_uri", {}).get("method")
                    if method in ("INVITE", "BYE"):
                        self.count += 1
                        respond = (
                            RespondToSipRequest(command.transaction_id, 200, None, SDP_HEADERS, SDP)
                            if method == "INVITE"
                            else RespondToSipRequest(command.transaction_id, 200)
                        )
                        out.append(conn.send(Request(f"a{self.count}", respond)))
        return b"".join(out)


class Server:
    """The server's use of its Connection, as the control session does it."""

    def __init__(self, ok_invite: SipResponse, ok_bye: SipResponse) -> None:
        self.conn = Connection(Role.SERVER)
        self.ok_invite = ok_invite
        self.ok_bye = ok_bye

    def send_request(self, command: Sip | DialogEvent) -> bytes:
        return self.conn.send(Request(new_rid(), command))

    def receive(self, data: bytes) -> bytes:
        out: list[bytes] = []
        for event in self.conn.receive_data(data):
            self.handle(event, out)
        return b"".join(out)

    def handle(self, event: Event, out: list[bytes]) -> None:
        if isinstance(event, RequestReceived):
            request = event.request
            command = request.data
            if isinstance(command, Auth):
                result: AuthResult | RespondResult = AuthResult(True, ("udp/127.0.0.1:5060",))
            else:
                assert isinstance(command, RespondToSipRequest)
                if command.body is not None:
                    result = RespondResult(self.ok_invite, DIALOG_ID)
                else:
                    result = RespondResult(self.ok_bye, None)
            out.append(self.conn.send(Response(request.rid, result)))
        elif isinstance(event, ResponseReceived):
            data = event.response.data
            if event.request.command == Ping.COMMAND or isinstance(data, Failure):
                raise RuntimeError(f"unexpected response {data!r}")
        else:
            raise RuntimeError(f"unexpected event {event!r}")


def noop() -> None:
    """A bracket that does nothing, for the runs that do not split the cost."""


class Bench:
    """A connected, authenticated pair and the messages of one call."""

    BRACKETS = 6
    """How many (on, off) pairs :meth:`call` makes."""

    def __init__(self) -> None:
        self.invite, self.ack, self.bye, ok_invite, ok_bye = sample_messages()
        self.server = Server(ok_invite, ok_bye)
        self.peer = Peer()
        auth = self.peer.conn.send(Request("auth", Auth("secret", "bench")))
        self.peer.handle(self.server.receive(auth))
        assert self.server.conn.authenticated and self.peer.conn.authenticated
        self.serial = 0

    def call(self, on: Callable[[], object], off: Callable[[], object]) -> None:
        """One call's control traffic; ``on`` and ``off`` bracket the server's work."""
        server, peer = self.server, self.peer
        self.serial += 1
        tx = f"t{self.serial}"
        on()
        frame = server.send_request(Sip(f"{tx}-i", self.invite, None, SOURCE, RECEIVED))
        off()
        reply = peer.handle(frame)
        on()
        frame = server.receive(reply)
        off()
        peer.handle(frame)
        on()
        frame = server.send_request(Sip(f"{tx}-a", self.ack, DIALOG_ID, SOURCE, RECEIVED))
        off()
        reply = peer.handle(frame)
        on()
        server.receive(reply)
        frame = server.send_request(Sip(f"{tx}-b", self.bye, DIALOG_ID, SOURCE, RECEIVED))
        off()
        reply = peer.handle(frame)
        on()
        frame = server.receive(reply)
        frame += server.send_request(DialogEvent(DIALOG_ID, "destroyed", "BYE received"))
        off()
        reply = peer.handle(frame)
        on()
        server.receive(reply)
        off()


def timed(calls: int) -> tuple[float, float]:
    """(server-only µs per call, whole exchange µs per call) over ``calls`` calls."""
    bench = Bench()
    for _ in range(min(calls, 1000)):  # warm up
        bench.call(noop, noop)
    gc.collect()
    begin = time.perf_counter_ns()
    for _ in range(calls):
        bench.call(noop, noop)
    whole = time.perf_counter_ns() - begin

    bench = Bench()
    clock = time.perf_counter_ns
    spent = 0
    started = 0

    def on() -> None:
        nonlocal started
        started = clock()

    def off() -> None:
        nonlocal spent
        spent += clock() - started

    gc.collect()
    for _ in range(calls):
        bench.call(on, off)
    server = spent
    # The brackets' own cost, measured empty, is taken off the server's share.
    spent = 0
    brackets = calls * Bench.BRACKETS
    for _ in range(brackets):
        on()
        off()
    server -= spent
    return server / calls / 1000, whole / calls / 1000


def total_calls(profiler: cProfile.Profile) -> int:
    """Every function call the profiler saw.

    Summed over its raw entries: ``pstats`` keys functions by file, line and
    name, so the dataclasses' generated ``__init__`` methods (all
    ``<string>:2``) would collapse into one entry and be undercounted.
    """
    return sum(entry.callcount for entry in profiler.getstats())


def counted(calls: int) -> tuple[float, float]:
    """(server-only, whole exchange) Python function calls per SIP call, from cProfile."""
    bench = Bench()
    bench.call(noop, noop)
    profiler = cProfile.Profile()
    for _ in range(calls):
        bench.call(profiler.enable, profiler.disable)
    # Each bracket's disable() is recorded: it is the bench's, not the server's.
    server = total_calls(profiler) - calls * Bench.BRACKETS

    bench = Bench()
    bench.call(noop, noop)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        bench.call(noop, noop)
    profiler.disable()
    # Leave out the bench's own calls: the noop brackets and the final disable().
    whole = total_calls(profiler) - calls * (1 + Bench.BRACKETS * 2) - 1
    return server / calls, whole / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="SIP calls per run")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (the best is shown)")
    args = parser.parse_args()
    server_runs: list[float] = []
    whole_runs: list[float] = []
    for _ in range(args.repeat):
        server_us, whole_us = timed(args.calls)
        server_runs.append(server_us)
        whole_runs.append(whole_us)
    server_calls, whole_calls = counted(min(args.calls, 2000))
    print(f"{'per SIP call':<28}{'µs (best)':>10}{'µs (median)':>13}{'py calls':>10}")
    for name, runs, count in (
        ("server side", server_runs, server_calls),
        ("server + peer", whole_runs, whole_calls),
    ):
        runs.sort()
        print(f"{name:<28}{runs[0]:>10.2f}{runs[len(runs) // 2]:>13.2f}{count:>10.1f}")


if __name__ == "__main__":
    main()
