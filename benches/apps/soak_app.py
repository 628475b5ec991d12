"""The application of ``benches/soak_server.py``, over the JSON control protocol.

It connects to a server's control port, authenticates with an ``appName``
(``soak`` by default: two instances with the same name take over each
other's dialogs when one goes away), routes ``invite`` and ``bye`` and
answers by the INVITE's ``X-Soak`` header:

- absent or ``answer``: 200 with an SDP answer; the caller ACKs and later
  sends BYE, answered 200;
- ``noack``: 200 with an SDP answer too; the caller never ACKs, so the
  server tells ``dialog ack-timeout`` 64*T1 later, sends BYE itself and
  tells ``dialog destroyed``;
- ``cancel``: 180 and nothing more; the caller CANCELs and the server
  tells ``cancel``.

Any other request gets 200. Every request from the server (``sip``,
``dialog``, ``cancel``, ``ping``) gets its ``{success: true}`` response
(``{pong: true}`` for ``ping``). As ``benches/apps/json_app.py``: one TCP
connection, ``drachtio.protocol``'s frame encoder and decoder, what it sends
while handling one read goes out in one write.

Its counters live in a file it maps into memory (``--counters``) and are
updated as things happen, so that they survive SIGKILL: a 4 KiB header of
counter names, one a line, NUL-padded, then one unsigned 64-bit
native-endian integer per name (see :data:`COUNTERS`). ``open_dialogs``
and ``ringing`` are gauges: the dialogs it owns now (created by its 2xx
or handed over to it, not yet destroyed) and the INVITEs it rings without
a ``cancel`` yet; what a killed instance held is what the server had to hand over or answer for it.

Run: ``python benches/apps/soak_app.py --control HOST:PORT --secret SECRET
--counters FILE [--app-name soak]``. Prints ``READY`` once its routes are in
place, then serves until SIGINT or SIGTERM (or the server closes the
connection).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import mmap
import signal
import sys
from pathlib import Path
from typing import Any

from drachtio.protocol import FrameDecoder, encode_frame

SDP = (
    "v=0\r\n"
    "o=soak 1 1 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
)
SDP_HEADERS = {"Content-Type": "application/sdp"}
CANCEL_BY_CALLER = "cancelled by the caller"

COUNTERS = (
    "invites",  # INVITEs received (outside a dialog)
    "answered",  # of those, answered 200 (X-Soak absent or "answer")
    "answered_noack",  # answered 200 for a caller that will not ACK
    "rang",  # answered 180 only (X-Soak: cancel)
    "acks",  # ACKs of our 2xx
    "byes",  # BYEs received (answered 200)
    "other_requests",  # anything else received (answered 200)
    "dialogs_own",  # dialogs created by our 2xx (the dialogId in the reply)
    "dialogs_handed_in",  # dialog created events: taken over from another instance
    "destroyed_bye",  # dialog destroyed, reason "BYE received"
    "destroyed_no_ack",  # dialog destroyed, reason "no ACK for the 2xx"
    "destroyed_other",  # dialog destroyed for another reason
    "destroyed_unknown",  # destroyed for a dialog this instance did not hold
    "ack_timeouts",  # dialog ack-timeout events
    "cancels_by_caller",  # cancel events, reason "cancelled by the caller"
    "cancels_other",  # cancel events for another reason
    "cancels_unknown",  # cancel events for a transaction not ringing here
    "refused",  # failure responses to our requests
    "open_dialogs",  # gauge: dialogs held now
    "ringing",  # gauge: INVITEs ringing now
)
HEADER_SIZE = 4096
_INDEX = {name: i for i, name in enumerate(COUNTERS)}


class Counters:
    """Named counters in a shared file mapping: every update is in the file at once."""

    def __init__(self, path: Path) -> None:
        size = HEADER_SIZE + 8 * len(COUNTERS)
        header = "\n".join(COUNTERS).encode()
        with open(path, "w+b") as f:
            f.write(header.ljust(HEADER_SIZE, b"\0") + bytes(size - HEADER_SIZE))
            f.flush()
            self._map = mmap.mmap(f.fileno(), size)
        self.values = memoryview(self._map)[HEADER_SIZE:].cast("Q")

    def add(self, name: str, n: int = 1) -> None:
        self.values[_INDEX[name]] += n

    def set(self, name: str, value: int) -> None:
        self.values[_INDEX[name]] = value


class App(asyncio.Protocol):
    """The control connection: frames in, frames out, no awaiting per message."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters
        self.decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.rids = (f"s{n}" for n in itertools.count())
        # rid -> future for the few requests whose answer the setup waits for.
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.open: set[str] = set()  # dialogIds held
        self.ringing: set[str] = set()  # transactionIds answered 180 only
        self.reasons_logged = 0
        # Frames to send once the current read is handled; None outside a read.
        self.out: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish()

    def finish(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def note(self, text: str) -> None:
        """Something unexpected: to stderr, the first few times."""
        if self.reasons_logged < 20:
            self.reasons_logged += 1
            print(text, file=sys.stderr, flush=True)

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
            self.counters.set("open_dialogs", len(self.open))
            self.counters.set("ringing", len(self.ringing))

    def on_response(self, frame: dict[str, Any]) -> None:
        data = frame.get("data") or {}
        future = self.waiting.pop(frame.get("rid", ""), None)
        if future is not None:
            future.set_result(data)
        elif not data.get("success"):
            self.counters.add("refused")
            self.note(f"refused: {data.get('reason')}")
        elif "dialogId" in data:
            self.open.add(data["dialogId"])
            self.counters.add("dialogs_own")

    def on_request(self, frame: dict[str, Any]) -> None:
        command = frame.get("command")
        answer: dict[str, Any] = {"pong": True} if command == "ping" else {"success": True}
        self.send({"type": "response", "rid": frame["rid"], "data": answer})
        data = frame.get("data") or {}
        if command == "sip":
            self.on_sip(data)
        elif command == "dialog":
            self.on_dialog(data)
        elif command == "cancel":
            self.on_cancel(data)

    def on_sip(self, data: dict[str, Any]) -> None:
        message = data["message"]
        start = message.get("request_uri")
        if start is None:  # a response to a request of ours: we send none
            return
        method = start["method"]
        tx = data["transactionId"]
        if method == "INVITE" and "dialogId" not in data:
            self.counters.add("invites")
            kind = message["headers"].get("x_soak", "answer")
            if kind == "cancel":
                self.counters.add("rang")
                self.ringing.add(tx)
                self.request("respondToSipRequest", {"transactionId": tx, "code": 180})
                return
            self.counters.add("answered_noack" if kind == "noack" else "answered")
            opts = {"headers": SDP_HEADERS, "body": SDP}
            self.request("respondToSipRequest", {"transactionId": tx, "code": 200, "opts": opts})
        elif method == "ACK":
            self.counters.add("acks")
        else:
            self.counters.add("byes" if method == "BYE" else "other_requests")
            self.request("respondToSipRequest", {"transactionId": tx, "code": 200})

    def on_dialog(self, data: dict[str, Any]) -> None:
        dialog_id = data.get("dialogId", "")
        event = data.get("event")
        reason = data.get("reason", "")
        if event == "created":
            self.counters.add("dialogs_handed_in")
            self.open.add(dialog_id)
        elif event == "ack-timeout":
            self.counters.add("ack_timeouts")
        elif event == "destroyed":
            if dialog_id in self.open:
                self.open.discard(dialog_id)
            else:
                self.counters.add("destroyed_unknown")
                self.note(f"destroyed for a dialog not held: {dialog_id} ({reason})")
            if reason == "BYE received":
                self.counters.add("destroyed_bye")
            elif reason == "no ACK for the 2xx":
                self.counters.add("destroyed_no_ack")
            else:
                self.counters.add("destroyed_other")
                self.note(f"destroyed: {reason}")

    def on_cancel(self, data: dict[str, Any]) -> None:
        tx = data.get("transactionId", "")
        reason = data.get("reason", "")
        if reason == CANCEL_BY_CALLER:
            self.counters.add("cancels_by_caller")
        else:
            self.counters.add("cancels_other")
            self.note(f"cancel: {reason}")
        if tx in self.ringing:
            self.ringing.discard(tx)
        else:
            self.counters.add("cancels_unknown")
            self.note(f"cancel for a transaction not ringing: {tx} ({reason})")


async def run(host: str, port: int, secret: str, app_name: str, counters: Counters) -> None:
    loop = asyncio.get_running_loop()
    transport, app = await loop.create_connection(lambda: App(counters), host, port)
    auth = await app.call("auth", {"secret": secret, "appName": app_name})
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--control", required=True, metavar="HOST:PORT")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--counters", required=True, metavar="FILE")
    parser.add_argument("--app-name", default="soak")
    args = parser.parse_args()
    host, _, port = args.control.rpartition(":")
    counters = Counters(Path(args.counters))
    asyncio.run(run(host.strip("[]"), int(port), args.secret, args.app_name, counters))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
