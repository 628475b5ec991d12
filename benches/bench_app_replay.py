"""The application side of a call, in memory: the Srf application beside the raw JSON one.

``bench_server.py`` measures the applications against ``drachtio serve`` and
sipp, where every figure moves with the machine's other work by a tenth or
more. This benchmark replays, in one process and with no socket, the frames
the server sends an application for one call (the ``sip`` INVITE; the
result of the application's ``respondToSipRequest`` with the dialog's id;
the ``sip`` ACK; the ``sip`` BYE; the result of the BYE's answer; the
``dialog`` destroyed event), each delivered as its own read, and answers the
application's commands as the server would. The subjects, in alternating
rounds:

- ``json_app``: ``benches/apps/json_app.py``'s application (the baseline);
- ``srf_app``: ``benches/apps/srf_app.py``'s, on ``drachtio.Srf`` and its
  ``RemoteLink``.

Each is given the same calls, one after the other. The report gives the CPU
per call of the process, less what the replay itself spent (measured around
its own work), for each round and subject, and the ratio the application
API's target is about (``srf_app`` over ``json_app``, at most 1.3).

Run: ``python benches/bench_app_replay.py [--calls 20000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "apps"))

import json_app  # noqa: E402
import srf_app  # noqa: E402

from drachtio import parse  # noqa: E402
from drachtio.protocol import (  # noqa: E402
    FrameDecoder,
    RespondResult,
    Sip,
    Source,
    encode_frame,
)

INVITE = (HERE / "data" / "invite.sip").read_bytes()
OK200 = (HERE / "data" / "ok200.sip").read_bytes()
IN_DIALOG = (
    "{method} sip:alice@192.0.2.101:5060;transport=udp SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bK{method}77\r\n"
    "Max-Forwards: 70\r\n"
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n'
    "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: {cseq} {method}\r\n"
    "Content-Length: 0\r\n\r\n"
)
BYE_200 = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 192.0.2.101:5060;branch=z9hG4bKBYE77\r\n"
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n'
    "To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 314160 BYE\r\n"
    "Content-Length: 0\r\n\r\n"
)
SOURCE = Source("udp", "192.0.2.101", 5060)


class Wire(asyncio.Transport):
    """The transport an application writes to: the replayed server reads it."""

    def __init__(self, server: ReplayServer) -> None:
        super().__init__()
        self.server = server
        self.closing = False

    def write(self, data: bytes) -> None:
        self.server.received(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 9022) if name == "peername" else default


def _request(rid: str, command: str, data: dict[str, Any]) -> bytes:
    return encode_frame({"type": "request", "rid": rid, "command": command, "data": data})


def _response(rid: str, data: dict[str, Any]) -> bytes:
    return encode_frame({"type": "response", "rid": rid, "data": data})


class ReplayServer:
    """The server's side of the control connection, for one call after another."""

    def __init__(self, calls: int, deliver: Callable[[bytes], None]) -> None:
        self.calls = calls
        self.deliver = deliver
        self.decoder = FrameDecoder()
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.started = 0
        self.ended = 0
        # CPU seconds spent in the replay's own work: the thread's CPU clock, so
        # that the time the process waits for a core on a busy machine is not
        # counted as the replay's (a wall clock would, and take it off the
        # subject's figure); each reading costs about 0.5 µs, the same for both.
        self.own = 0.0
        self.rid = 0
        self.invite = Sip("t", parse(INVITE), None, SOURCE, 0.0).to_json()
        self.ack = Sip(
            "t", parse(IN_DIALOG.format(method="ACK", cseq=314159).encode()), "d", SOURCE, 0.0
        ).to_json()
        self.bye = Sip(
            "b", parse(IN_DIALOG.format(method="BYE", cseq=314160).encode()), "d", SOURCE, 0.0
        ).to_json()
        self.invite_result = RespondResult(parse(OK200), "d").to_json()
        self.bye_result = RespondResult(parse(BYE_200.encode()), "d").to_json()

    def _send(self, command: str, data: dict[str, Any]) -> None:
        self.rid += 1
        frame = _request(f"s{self.rid}", command, data)
        self.loop.call_soon(self._deliver, frame)

    def _deliver(self, frame: bytes) -> None:
        self.deliver(frame)

    def start_call(self) -> None:
        n = self.started
        self.started += 1
        self._send("sip", {**self.invite, "transactionId": f"t{n}"})

    def received(self, data: bytes) -> None:
        started = time.thread_time()
        for frame in self.decoder.receive_data(data):
            if frame["type"] == "request":
                self._on_request(frame["rid"], frame["command"], frame["data"])
        self.own += time.thread_time() - started

    def _on_request(self, rid: str, command: str, data: dict[str, Any]) -> None:
        if command == "auth":
            reply: dict[str, Any] = {"authenticated": True, "hostport": ["udp/127.0.0.1:5060"]}
            self.loop.call_soon(self._deliver, _response(rid, reply))
            return
        if command != "respondToSipRequest":
            self.loop.call_soon(self._deliver, _response(rid, {"success": True}))
            return
        tx = data["transactionId"]
        n = tx[1:]
        dialog = f"d{n}"
        if tx[0] == "t":  # the INVITE's 200: its result, then the ACK and the BYE
            self.loop.call_soon(
                self._deliver, _response(rid, {**self.invite_result, "dialogId": dialog})
            )
            self._send("sip", {**self.ack, "transactionId": tx, "dialogId": dialog})
            self._send("sip", {**self.bye, "transactionId": f"b{n}", "dialogId": dialog})
        else:  # the BYE's 200: its result, the dialog's end, the next call
            self.loop.call_soon(
                self._deliver, _response(rid, {**self.bye_result, "dialogId": dialog})
            )
            ended = {"dialogId": dialog, "event": "destroyed", "reason": "BYE received"}
            self._send("dialog", ended)
            self.ended += 1
            if self.started < self.calls:
                self.loop.call_soon(self.start_call)
            elif not self.done.done():
                self.loop.call_soon(self.done.set_result, None)


async def run_json_app(calls: int) -> tuple[float, float, str]:
    """json_app over the replay: (process CPU s, replay's own CPU s, its counts)."""
    app = json_app.App("s3cret")
    server = ReplayServer(calls, app.data_received)
    app.connection_made(Wire(server))  # type: ignore[arg-type]
    await app.call("auth", {"secret": "s3cret"})
    for verb in ("invite", "bye"):
        await app.call("route", {"verb": verb})
    begin = time.process_time()
    server.start_call()
    await server.done
    total = time.process_time() - begin
    counts = f"invites={app.invites} byes={app.byes} acks={app.acks} refused={app.refused}"
    return total, server.own, counts


async def run_srf_app(calls: int) -> tuple[float, float, str]:
    """srf_app over the replay: (process CPU s, replay's own CPU s, its counts)."""
    loop = asyncio.get_running_loop()
    counts = srf_app.Counts()
    srf = srf_app.build(counts)
    servers: list[ReplayServer] = []

    async def create_connection(factory: Callable[[], Any], *args: Any, **kwargs: Any) -> Any:
        protocol = factory()

        def deliver(data: bytes) -> None:
            buffer = protocol.get_buffer(len(data))
            buffer[: len(data)] = data
            protocol.buffer_updated(len(data))

        server = ReplayServer(calls, deliver)
        servers.append(server)
        wire = Wire(server)
        protocol.connection_made(wire)
        return wire, protocol

    loop.create_connection = create_connection  # type: ignore[method-assign]
    await srf.connect("127.0.0.1", 9022, "s3cret")
    server = servers[0]
    begin = time.process_time()
    server.start_call()
    await server.done
    while counts.ended < calls:  # the handlers resume after the last read
        await asyncio.sleep(0)
    total = time.process_time() - begin
    await srf.close()
    return total, server.own, counts.line().removeprefix("COUNTS ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    subjects = {"json_app": run_json_app, "srf_app": run_srf_app}
    per_call: dict[str, list[float]] = {name: [] for name in subjects}
    print(f"{args.calls} calls per subject and round, µs of CPU per call (less the replay's own)")
    for round_ in range(1, args.rounds + 1):
        for name, run in subjects.items():
            total, own, counts = asyncio.run(run(args.calls))
            us = (total - own) / args.calls * 1e6
            per_call[name].append(us)
            replay = own / args.calls * 1e6
            print(f"round {round_} {name:9} {us:7.1f} µs/call (replay {replay:.1f}) {counts}")
    json_us = statistics.median(per_call["json_app"])
    srf_us = statistics.median(per_call["srf_app"])
    print(f"median: json_app {json_us:.1f}, srf_app {srf_us:.1f} µs/call")
    print(f"srf_app / json_app: {srf_us / json_us:.2f} (target: at most 1.3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
