"""Call detail records: an attempt, a start when answered, and exactly one stop per call.

:class:`CallRecords` follows the INVITEs the server carries (received and
handed to an application, sent for one, proxied) from the attempt to the
stop, free of I/O: each method takes the wall-clock time of the event and
returns the record to deliver, or ``None`` when there is none (a second
stop, a start after the stop). Whoever calls it delivers the records: to
the applications that route them, and as JSON lines to a file
(:class:`CdrFile`). ``docs/cdr.md`` lists the fields and the reasons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol, get_args, runtime_checkable

import orjson

from drachtio._core import SipRequest, SipResponse
from drachtio.protocol.cdr import CallDetailRecord, RecordKind, RecordRole, RecordSource
from drachtio.server.timestamps import iso_time

__all__ = [
    "REASONS",
    "ROLES",
    "CallRecorder",
    "CallRecords",
    "Cdr",
    "CdrFile",
    "CdrKind",
    "CdrSubscriber",
    "Reason",
    "Role",
    "Source",
]

CdrKind = RecordKind
Role = RecordRole
Source = RecordSource
Reason = Literal[
    "normal-release",
    "call-rejected",
    "call-canceled",
    "request-timeout",
    "ack-timeout",
    "session-expired",
    "connection-closed",
    "application-gone",
    "server-shutdown",
    "not-record-routed",
    "dialog-timeout",
]
ROLES: tuple[Role, ...] = get_args(Role)
REASONS: tuple[Reason, ...] = get_args(Reason)


@dataclass(frozen=True, slots=True)
class Cdr:
    """One record: what happened to a call, and when.

    ``status`` is the final response's status (a stop after an answer: the
    2xx's; a rejected or cancelled call: the final response sent or
    received); ``duration`` the seconds from the start to the stop (0 for a
    call that never started); ``message`` the SIP message that made the
    record (the INVITE, the 2xx, the final response or BYE that ended it),
    ``None`` when the server ended the call without one.
    """

    kind: CdrKind
    call_id: str
    role: Role
    source: Source
    time: float
    from_uri: str
    to_uri: str
    attempt_time: float
    start_time: float | None = None
    status: int | None = None
    reason: Reason | None = None
    duration: float = 0.0
    message: Any = field(default=None, compare=False)

    def to_command(self) -> CallDetailRecord:
        """The record as the ``cdr`` request of the control protocol."""
        stop = self.kind == "stop"
        return CallDetailRecord(
            self.kind,
            iso_time(self.time),
            self.call_id,
            self.role,
            self.source,
            self.from_uri,
            self.to_uri,
            iso_time(self.attempt_time),
            None if self.start_time is None else iso_time(self.start_time),
            self.status,
            self.reason if stop else None,
            round(self.duration, 3) if stop else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The record as the JSON object written to the file and sent (``docs/cdr.md``)."""
        return self.to_command().to_json()


@dataclass(slots=True)
class _ProxiedDialog:
    """The answered record-routed proxied calls of one dialog, and when it was last active."""

    keys: list[str] = field(default_factory=list)
    active_at: float = 0.0


@dataclass(slots=True)
class _Call:
    call_id: str
    role: Role
    source: Source
    from_uri: str
    to_uri: str
    attempt_time: float
    start_time: float | None = None
    status: int | None = None


class CallRecords:
    """The calls between their attempt and their stop, by a key the caller chooses.

    The key is whatever names the call for the caller (a transaction id
    until the answer, the dialog's id after). :meth:`rekey` moves a call to a
    new key. Every :meth:`attempt` ends in exactly one stop record: later
    stops of the same call return ``None``.
    """

    __slots__ = ("_calls", "wanted")

    def __init__(self, wanted: Callable[[CdrKind], bool] = lambda kind: True) -> None:
        self._calls: dict[str, _Call] = {}
        self.wanted = wanted
        """Whether a record of a kind is wanted now. One that is not is not
        made (its method returns ``None``); the call is followed all the same."""

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, key: str) -> bool:
        return key in self._calls

    def attempt(
        self,
        key: str,
        *,
        call_id: str,
        role: Role,
        source: Source,
        from_uri: str,
        to_uri: str,
        now: float,
        message: Any = None,
    ) -> Cdr | None:
        """A new call (an INVITE outside any dialog); ``None`` if ``key`` is taken."""
        if key in self._calls:
            return None
        call = _Call(call_id, role, source, from_uri, to_uri, now)
        self._calls[key] = call
        return self._record("attempt", call, now, message)

    def rekey(self, old: str, new: str) -> None:
        """The call known as ``old`` is known as ``new`` from now on."""
        call = self._calls.pop(old, None)
        if call is not None:
            self._calls[new] = call

    def recast(self, key: str, role: Role) -> None:
        """The call ``key`` plays ``role`` from now on (its start and stop say so)."""
        call = self._calls.get(key)
        if call is not None:
            call.role = role

    def start(self, key: str, *, status: int, now: float, message: Any = None) -> Cdr | None:
        """The call was answered (a 2xx); ``None`` if unknown or started already."""
        call = self._calls.get(key)
        if call is None or call.start_time is not None:
            return None
        call.start_time, call.status = now, status
        return self._record("start", call, now, message)

    def stop(
        self,
        key: str,
        *,
        reason: Reason,
        now: float,
        status: int | None = None,
        message: Any = None,
    ) -> Cdr | None:
        """The call ended; ``None`` if unknown or stopped already (one stop per call)."""
        call = self._calls.pop(key, None)
        if call is None:
            return None
        if status is not None:
            call.status = status
        return self._record("stop", call, now, message, reason)

    def stop_all(self, reason: Reason, now: float) -> list[Cdr]:
        """Stop every call still open (the server stops)."""
        return [
            record
            for key in list(self._calls)
            if (record := self.stop(key, reason=reason, now=now)) is not None
        ]

    def _record(
        self, kind: CdrKind, call: _Call, now: float, message: Any, reason: Reason | None = None
    ) -> Cdr | None:
        if not self.wanted(kind):
            return None
        started = call.start_time
        return Cdr(
            kind,
            call.call_id,
            call.role,
            call.source,
            now,
            call.from_uri,
            call.to_uri,
            call.attempt_time,
            started,
            call.status,
            reason,
            max(0.0, now - started) if kind == "stop" and started is not None else 0.0,
            message,
        )


class CdrFile:
    """Appends each record as a line of JSON to a file, flushed at once.

    The file is opened in append mode and never truncated; a record that
    cannot be written (a full disk) raises ``OSError`` to the caller, which
    logs it and goes on.
    """

    __slots__ = ("_file", "path")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[bytes] = self.path.open("ab")

    def write(self, record: Cdr) -> None:
        """Append ``record`` and flush."""
        self._file.write(orjson.dumps(record.to_json()) + b"\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _uri(value: Any) -> str:
    return "" if value is None else str(value.uri)


def proxied_dialog(message: SipRequest | SipResponse) -> str:
    """The key of a proxied call once answered: its Call-ID and both tags.

    The tags are sorted, so that a request in the dialog names it the same
    way whichever end sent it (a BYE from the callee has them swapped).
    """
    ends = (message.from_, message.to)
    tags = sorted(("" if end is None else end.tag or "") for end in ends)
    return f"proxied;{message.call_id};{tags[0]};{tags[1]}"


def reason_for_status(status: int) -> Reason:
    """Why a call that got this final status (300-699) never started."""
    if status == 487:
        return "call-canceled"
    if status == 408:
        return "request-timeout"
    return "call-rejected"


class CallRecorder:
    """What the server tells about its calls, turned into records for ``deliver``.

    The server calls it where a call begins, is answered and ends, with the
    SIP messages at hand and the wall-clock time; only INVITEs outside a
    dialog make calls, and every call it was told of ends in one stop.
    """

    __slots__ = ("_proxied", "deliver", "proxy_dialog_timeout", "records")

    def __init__(
        self,
        deliver: Callable[[Cdr], None],
        proxy_dialog_timeout: float,
        wanted: Callable[[CdrKind], bool] = lambda kind: True,
    ) -> None:
        self.deliver = deliver
        self.records = CallRecords(wanted)
        self.proxy_dialog_timeout = proxy_dialog_timeout
        """Seconds a record-routed proxied call stays open with nothing of its
        dialog passing through the server (docs/cdr.md)."""
        # The answered record-routed proxied calls by their dialog
        # (proxied_dialog), least recently active first: a dialog that
        # spirals through the server is a call per pass, and its BYE passes
        # once for each.
        self._proxied: dict[str, _ProxiedDialog] = {}

    def _emit(self, record: Cdr | None) -> None:
        if record is not None:
            self.deliver(record)

    def invite(self, key: str, request: SipRequest, *, role: Role, now: float) -> None:
        """A call begins: an INVITE received for an application (``uas``), sent by
        one (``uac``), or routed through the server without one (``proxy``)."""
        self._expire(now)
        source: Source = "application" if role == "uac" else "network"
        self._emit(
            self.records.attempt(
                key,
                call_id=request.call_id or "",
                role=role,
                source=source,
                from_uri=_uri(request.from_),
                to_uri=_uri(request.to),
                now=now,
                message=request,
            )
        )

    def answered(self, key: str, dialog_id: str, response: SipResponse, now: float) -> None:
        """The INVITE of call ``key`` got a 2xx: the call starts, known by its dialog from now."""
        if key not in self.records:
            return
        self._emit(self.records.start(key, status=response.status, now=now, message=response))
        self.records.rekey(key, dialog_id)

    def proxied(self, key: str) -> None:
        """The application answered the INVITE of call ``key`` with ``proxy``."""
        self.records.recast(key, "proxy")

    def relayed_answer(
        self, key: str, response: SipResponse, now: float, *, record_routed: bool
    ) -> None:
        """The first 2xx of proxied call ``key`` went upstream: the call starts.

        Record-routed, it waits for the BYE of its dialog
        (:func:`proxied_dialog`, :meth:`passed_bye`); else the server leaves
        the call's path here and it stops at once (``not-record-routed``).
        """
        if key not in self.records:
            return
        self._emit(self.records.start(key, status=response.status, now=now, message=response))
        if record_routed:
            self._expire(now)
            dialog = proxied_dialog(response)
            self._proxied.setdefault(dialog, _ProxiedDialog()).keys.append(key)
            self._active(dialog, now)
        else:
            self._emit(self.records.stop(key, reason="not-record-routed", now=now))

    def passed_bye(self, bye: SipRequest, now: float) -> None:
        """A BYE routed through the server: a proxied call of its dialog ends."""
        self._expire(now)
        dialog = proxied_dialog(bye)
        entry = self._proxied.get(dialog)
        if entry is None:
            return
        key = entry.keys.pop(0)
        if not entry.keys:
            del self._proxied[dialog]
        self._emit(self.records.stop(key, reason="normal-release", now=now, message=bye))

    def passed_in_dialog(self, request: SipRequest, now: float) -> None:
        """A request other than BYE routed through the server in a dialog:
        its proxied calls are active (a re-INVITE, an UPDATE, a session refresh)."""
        self._expire(now)
        self._active(proxied_dialog(request), now)

    def _active(self, dialog: str, now: float) -> None:
        """``dialog`` showed itself at ``now``: it goes last in the order of expiry."""
        entry = self._proxied.pop(dialog, None)
        if entry is not None:
            entry.active_at = now
            self._proxied[dialog] = entry

    def _expire(self, now: float) -> None:
        """Stop the record-routed proxied calls whose dialog showed nothing for
        ``proxy_dialog_timeout``: both ends were lost, or their BYE took
        another way. Each stops ``dialog-timeout`` at the time it expired."""
        timeout = self.proxy_dialog_timeout
        while self._proxied:
            dialog, entry = next(iter(self._proxied.items()))
            expired_at = entry.active_at + timeout
            if expired_at > now:
                return
            del self._proxied[dialog]
            for key in entry.keys:
                self._emit(self.records.stop(key, reason="dialog-timeout", now=expired_at))

    def refused(
        self,
        key: str,
        status: int,
        now: float,
        message: Any = None,
        *,
        timed_out: bool = False,
    ) -> None:
        """The INVITE of call ``key`` got the final response ``status`` (300-699).

        ``timed_out``: a proxied call whose branches were given up or cancelled
        for want of an answer in time, not by the caller; its 487 is a
        ``request-timeout``.
        """
        reason = "request-timeout" if timed_out and status == 487 else reason_for_status(status)
        self._emit(self.records.stop(key, reason=reason, now=now, status=status, message=message))

    def abandoned(
        self, key: str, reason: Reason, status: int, now: float, message: Any = None
    ) -> None:
        """The server answered the INVITE of call ``key`` itself (its application is gone)."""
        self._emit(self.records.stop(key, reason=reason, now=now, status=status, message=message))

    def ended(self, dialog_id: str, reason: Reason, now: float, message: Any = None) -> None:
        """The dialog of a call ended, for ``reason``."""
        self._emit(self.records.stop(dialog_id, reason=reason, now=now, message=message))

    def shutdown(self, now: float) -> None:
        """The server stops: every call still open stops."""
        self._proxied.clear()
        for record in self.records.stop_all("server-shutdown", now):
            self.deliver(record)


@runtime_checkable
class CdrSubscriber(Protocol):
    """An application session that can take call detail records (a drachtio-srf one)."""

    def send_cdr(self, record: Cdr) -> bool:
        """Send ``record``; ``False`` when the session cannot take it."""
