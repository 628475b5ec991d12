"""Call detail records for clients: the ``cdr:*`` route verbs and the ``cdr`` request.

A client that routes ``cdr:attempt``, ``cdr:start`` or ``cdr:stop`` takes
its turn (round robin among the clients routing that verb) at the server's
records of that kind, each sent as a ``cdr`` request whose ``data`` is the
record: the same object the server writes as a line of its CDR file
(``docs/cdr.md``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

from drachtio.protocol._checks import (
    JsonObject,
    check_choice,
    check_int,
    check_line,
    check_seconds,
    check_string,
    invalid,
    kind,
    require,
    shown,
)

__all__ = [
    "CDR_VERBS",
    "CallDetailRecord",
    "RecordKind",
    "RecordRole",
    "RecordSource",
    "check_cdr_verb",
]

RecordKind = Literal["attempt", "start", "stop"]
RecordRole = Literal["uas", "uac", "proxy"]
RecordSource = Literal["network", "application"]

_KINDS: tuple[RecordKind, ...] = get_args(RecordKind)
_ROLES: tuple[RecordRole, ...] = get_args(RecordRole)
_SOURCES: tuple[RecordSource, ...] = get_args(RecordSource)

CDR_VERBS = tuple(f"cdr:{kind}" for kind in _KINDS)
"""The verbs of ``route`` and ``unroute`` that name a kind of call detail record."""

# UTC, ISO 8601, milliseconds: what the server writes.
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
# A reason is a lower-case word or words joined by hyphens; docs/cdr.md lists them.
_REASON = re.compile(r"[a-z]+(-[a-z]+)*")


def check_cdr_verb(verb: str) -> str:
    """``verb`` (a ``cdr:`` one) if it names a kind of record, else the error naming them."""
    if verb in CDR_VERBS:
        return verb
    raise invalid(
        "data.verb", f"{shown(verb)} is no kind of call detail record: {', '.join(CDR_VERBS)}"
    )


def _check_time(value: object, path: str) -> str:
    if isinstance(value, str) and _TIME.fullmatch(value):
        return value
    got = shown(value) if isinstance(value, str) else kind(value)
    raise invalid(path, f"must be a UTC time like 2026-12-03T08:15:02.500Z, got {got}")


@dataclass(slots=True, frozen=True)
class CallDetailRecord:
    """``cdr`` (server to client): a call detail record of a kind the client routes.

    The attributes are the record's fields in snake_case (``docs/cdr.md``):
    ``start_time`` is there once the call was answered, ``status`` once it
    has a final response, ``reason`` and ``duration`` (seconds) in a stop.
    Times are strings as written (UTC, ISO 8601, milliseconds). ``reason``
    is any lower-case hyphenated word, so that a newer server's reasons
    still read.
    """

    COMMAND: ClassVar[str] = "cdr"
    kind: RecordKind
    time: str
    call_id: str
    role: RecordRole
    source: RecordSource
    from_uri: str
    to_uri: str
    attempt_time: str
    start_time: str | None = None
    status: int | None = None
    reason: str | None = None
    duration: float | None = None

    def __post_init__(self) -> None:
        check_choice(self.kind, _KINDS, "data.kind")
        _check_time(self.time, "data.time")
        check_line(self.call_id, "data.callId")
        check_choice(self.role, _ROLES, "data.role")
        check_choice(self.source, _SOURCES, "data.source")
        check_string(self.from_uri, "data.from")
        check_string(self.to_uri, "data.to")
        _check_time(self.attempt_time, "data.attemptTime")
        if self.start_time is not None:
            _check_time(self.start_time, "data.startTime")
        if self.status is not None:
            check_int(self.status, "data.status", 100, 699)
        if self.kind == "stop":
            if self.reason is None:
                raise invalid("data.reason", "is required in a stop")
            if self.duration is None:
                raise invalid("data.duration", "is required in a stop")
        reason = self.reason
        if reason is not None and not (isinstance(reason, str) and _REASON.fullmatch(reason)):
            got = shown(reason) if isinstance(reason, str) else kind(reason)
            raise invalid("data.reason", f"must be a word like normal-release, got {got}")
        if self.duration is not None:
            check_seconds(self.duration, "data.duration")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command: the record as the CDR file's line."""
        data: JsonObject = {
            "kind": self.kind,
            "time": self.time,
            "callId": self.call_id,
            "role": self.role,
            "source": self.source,
            "from": self.from_uri,
            "to": self.to_uri,
            "attemptTime": self.attempt_time,
        }
        if self.start_time is not None:
            data["startTime"] = self.start_time
        if self.status is not None:
            data["status"] = self.status
        if self.reason is not None:
            data["reason"] = self.reason
        if self.duration is not None:
            data["duration"] = self.duration
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> CallDetailRecord:
        return cls(
            require(data, "kind"),
            require(data, "time"),
            require(data, "callId"),
            require(data, "role"),
            require(data, "source"),
            require(data, "from"),
            require(data, "to"),
            require(data, "attemptTime"),
            data.get("startTime"),
            data.get("status"),
            data.get("reason"),
            data.get("duration"),
        )
