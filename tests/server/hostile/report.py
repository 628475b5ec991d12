"""What a fuzz run records, the errors it watches for, and its application.

:class:`Report` keeps what became of each spoiled message and every failed
check; :class:`ErrorLog` catches every log record at ERROR and every
exception that reaches the loop; :class:`AnsweringApp` is the application,
a raw JSON client routing every method and answering each request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

from server_harness import SDP, App

from drachtio.server import Server


@dataclass
class Outcome:
    """What became of one spoiled message."""

    scenario: str
    method: str
    changes: list[str]
    answer: str  # the final status, "none" or "not expected"
    exchange: list[str] = field(default_factory=list)  # the peer's, when unanswered


@dataclass
class Report:
    """What a run sent and what it found."""

    messages: int = 0
    batches: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    copied: int = 0  # 4xx answers copying a malformed value (they do not parse)
    errors: list[str] = field(default_factory=list)  # every failed check, in words
    refused_answers: list[str] = field(default_factory=list)  # the app's answers refused

    def statuses(self) -> Counter[str]:
        return Counter(o.answer for o in self.outcomes)

    def summary(self) -> str:
        lines = [
            f"{self.messages} messages in {self.batches} batches, "
            f"{len(self.outcomes)} of them spoiled",
            "final answers to spoiled requests: "
            + ", ".join(f"{k} x{v}" for k, v in sorted(self.statuses().items())),
            f"4xx answers copying a malformed From, To, Call-ID or CSeq: {self.copied}",
            f"answers the application gave that the server refused: {len(self.refused_answers)}",
            *(f"  {r}" for r in sorted(set(self.refused_answers))[:20]),
            "spoiled requests left without a final response (Via, framing intact):",
            *[
                f"  {o.scenario} {o.method}: {'; '.join(o.changes)}"
                for o in self.outcomes
                if o.answer == "none"
            ][:40],
            f"failed checks: {len(self.errors)}",
            *(f"  {e}" for e in self.errors[:40]),
        ]
        return "\n".join(lines)


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, and every exception that reaches the loop."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []
        self.tracebacks: list[str] = []  # of the exceptions that reached the loop

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {record.exc_info[1]!r}"
        self.records.append(f"{record.name}: {text}")

    def loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        self.records.append(f"loop: {context.get('message')}: {exc!r}")
        if exc is not None:
            self.tracebacks.append("".join(traceback.format_exception(exc)))

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        root = logging.getLogger()
        loop = asyncio.get_running_loop()
        old, level = loop.get_exception_handler(), root.level
        root.addHandler(self)
        # A root level above ERROR would keep the records from every handler.
        root.setLevel(min(level, logging.ERROR))
        loop.set_exception_handler(self.loop_exception)
        try:
            yield
        finally:
            root.removeHandler(self)
            root.setLevel(level)
            loop.set_exception_handler(old)


ROUTED = (
    "invite",
    "register",
    "subscribe",
    "options",
    "message",
    "info",
    "notify",
    "refer",
    "publish",
    "prack",
    "update",
    "bye",
)


# A request carrying PROXY_TO is proxied there (record-routed when it also
# carries RECORD_ROUTE: yes) instead of answered.
PROXY_TO = "X-Fuzz-Proxy-To"
RECORD_ROUTE = "X-Fuzz-Record-Route"


class AnsweringApp:
    """The application: answers each request (INVITE 180 then 200 with SDP, others 200),
    keeps the dialogs it was told of, places calls to peers on request."""

    def __init__(self, app: App, report: Report) -> None:
        self.app = app
        self.report = report
        self.dialogs: set[str] = set()
        self._placed: set[str] = set()  # transactionIds of INVITEs not answered yet
        self._tasks: set[asyncio.Task[None]] = set()
        self._task = asyncio.ensure_future(self._serve())

    @classmethod
    async def attach(cls, server: Server, report: Report) -> AnsweringApp:
        return cls(await App.authenticated(server, *ROUTED), report)

    async def _serve(self) -> None:
        while True:
            frame = await self.app.requests.get()
            data = frame["data"]
            if frame["command"] == "dialog":
                if data["event"] == "destroyed":
                    self.dialogs.discard(data["dialogId"])
                continue
            if frame["command"] != "sip":
                continue
            if "status_line" in data["message"]:
                self._on_response(data)
                continue
            method = data["message"]["request_uri"]["method"]
            if method in ("ACK", "CANCEL"):
                continue
            headers = data["message"]["headers"]
            if (target := headers.get(PROXY_TO.replace("-", "_").lower())) is not None:
                record_route = headers.get(RECORD_ROUTE.replace("-", "_").lower()) == "yes"
                self._spawn(self._proxy(data["transactionId"], target, record_route))
                continue
            self._spawn(self._answer(data["transactionId"], method))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the others; an exception it raises is a failed check."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.report.errors.append(f"application: {exc!r}")

    def _on_response(self, data: dict[str, Any]) -> None:
        """A response to an INVITE this app placed: a 2xx is ACKed, then the call hung up."""
        if data["transactionId"] not in self._placed:
            return
        status = data["message"]["status_line"]["status_code"]
        dialog_id = data.get("dialogId")
        if 200 <= status < 300 and dialog_id:
            self._placed.discard(data["transactionId"])
            self.dialogs.add(dialog_id)
            self._spawn(self._ack_and_bye(dialog_id))
        elif status >= 300:
            self._placed.discard(data["transactionId"])

    async def _ack_and_bye(self, dialog_id: str) -> None:
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await self.send_in(dialog_id, "ACK")
            await asyncio.sleep(0.05)
            await self.send_in(dialog_id, "BYE")

    async def _proxy(self, tx: str, target: str, record_route: bool) -> None:
        """Proxy the request to ``target``; the answer comes with its final response.
        A callee that never answers finally is given up after 5 s; a proxy the
        server refuses (a spoiled target) is answered 500 instead."""
        data = {
            "transactionId": tx,
            "destinations": [target],
            "recordRoute": record_route,
            "finalTimeout": 5,
        }
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            result = await self.app.request("proxy", data, timeout=30.0)
            if result.get("success") is False and "finalStatus" not in result:
                await self._respond(tx, "INVITE", 500)

    async def _answer(self, tx: str, method: str) -> None:
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            if method == "INVITE":
                await self._respond(tx, method, 180)
                await asyncio.sleep(0.02)
                await self._respond(tx, method, 200, body=SDP)
            else:
                await self._respond(tx, method, 200)

    async def _respond(self, tx: str, method: str, code: int, **opts: Any) -> None:
        result = await self.app.respond(tx, code, **opts)
        if result.get("success"):
            if dialog_id := result.get("dialogId"):
                self.dialogs.add(dialog_id)
            return
        reason = str(result.get("reason", result))
        if "already has a final response" in reason:
            return  # the caller cancelled it meanwhile (cancelled_call)
        self.report.refused_answers.append(f"{method} {code}: {reason[:120]}")
        if code >= 200:
            # An answer the server refused: a plain one instead, so the caller hears.
            await self.app.respond(tx, 500)

    async def call(self, uri: str) -> None:
        """sendSipRequest of an INVITE with SDP to ``uri``; a 2xx is ACKed, then BYE sent."""
        sent = await self.app.request(
            "sendSipRequest",
            {
                "method": "INVITE",
                "uri": uri,
                "headers": {"Content-Type": "application/sdp"},
                "body": SDP,
            },
        )
        if sent.get("success"):
            self._placed.add(sent["transactionId"])

    async def send_in(self, dialog_id: str, method: str) -> dict[str, Any]:
        return await self.app.request("sendSipRequest", {"method": method, "dialogId": dialog_id})

    async def hang_up_all(self) -> None:
        """CANCEL every INVITE placed and still unanswered (a peer left it ringing),
        BYE every dialog still known."""
        for tx in list(self._placed):
            with contextlib.suppress(asyncio.TimeoutError):
                await self.app.request("cancelSipRequest", {"transactionId": tx})
        for dialog_id in list(self.dialogs):
            with contextlib.suppress(asyncio.TimeoutError):
                await self.send_in(dialog_id, "BYE")

    async def close(self) -> None:
        self._task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.app.close()
