"""The envelope of the control protocol: requests, responses and their parsers.

On the wire a message is a JSON object ``{"type", "rid", "command", "data"}``
(requests) or ``{"type", "rid", "data"}`` (responses). :class:`Request` and
:class:`Response` wrap a command or a result with the ``rid``.

Building a message validates it and raises :class:`LocalProtocolError`;
parsing one received from the peer (:func:`parse_request`,
:func:`parse_response`) raises :class:`RemoteProtocolError` with the JSON path
of the bad value.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from drachtio.protocol._checks import JsonObject, check_line, check_object, invalid, kind, remote
from drachtio.protocol.commands import Command, parse_command, unknown_command
from drachtio.protocol.errors import LocalProtocolError, RemoteProtocolError
from drachtio.protocol.results import Failure, ResponseData, parse_response_data

__all__ = [
    "Request",
    "Response",
    "new_rid",
    "parse_request",
    "parse_response",
    "request_rid",
]

# Request ids: a random prefix per process and a counter, 32 hex digits like
# a UUID's, without the system call for randomness a UUID costs each time.
_RID_PREFIX = os.urandom(8).hex()
_rid_counter = itertools.count()


def new_rid() -> str:
    """A fresh request id, unique on the sending side: 32 hex digits, random
    per process, then a counter."""
    return f"{_RID_PREFIX}{next(_rid_counter):016x}"


@dataclass(slots=True, frozen=True)
class Request:
    """A request: ``{"type": "request", "rid", "command", "data"}``."""

    rid: str
    data: Command

    def __post_init__(self) -> None:
        check_line(self.rid, "rid")

    @property
    def command(self) -> str:
        """The command name on the wire (``"respondToSipRequest"``)."""
        return self.data.COMMAND

    def to_json(self) -> JsonObject:
        """This request as a JSON object."""
        return {
            "type": "request",
            "rid": self.rid,
            "command": self.data.COMMAND,
            "data": self.data.to_json(),
        }


@dataclass(slots=True, frozen=True)
class Response:
    """A response: ``{"type": "response", "rid", "data"}``.

    ``rid`` is ``None`` only in the error a side sends before closing the
    connection because of a frame or envelope it could not attribute to a
    request (JSON-RPC 2.0 does the same with a null id).
    """

    rid: str | None
    data: ResponseData

    def __post_init__(self) -> None:
        if self.rid is not None:
            check_line(self.rid, "rid")
        elif not isinstance(self.data, Failure):
            raise invalid("rid", "may be null only in a failure response")

    def to_json(self) -> JsonObject:
        """This response as a JSON object."""
        return {"type": "response", "rid": self.rid, "data": self.data.to_json()}


# Envelopes built from parts already checked (a rid read from the peer, one of
# our own rids), without running the constructors' checks a second time.

_new = object.__new__
_set = object.__setattr__


def trusted_request(rid: str, data: Command) -> Request:
    """A :class:`Request` of a valid rid and command; nothing is checked."""
    request: Request = _new(Request)
    _set(request, "rid", rid)
    _set(request, "data", data)
    return request


def trusted_response(rid: str, data: ResponseData) -> Response:
    """A :class:`Response` of a valid rid and data; nothing is checked."""
    response: Response = _new(Response)
    _set(response, "rid", rid)
    _set(response, "data", data)
    return response


def request_rid(obj: Mapping[str, Any]) -> str:
    """The ``rid`` of a received request.

    Raises:
        RemoteProtocolError: fatal ``bad_envelope`` when it is missing, not a
            non-empty string, or holds CR, LF or NUL (nothing can be answered:
            a response could not carry it).
    """
    try:
        return check_line(obj.get("rid"), "rid")
    except LocalProtocolError as exc:
        raise remote(exc, "bad_envelope", rid=None, fatal=True) from None


def parse_request(obj: Mapping[str, Any], commands: Collection[str] | None = None) -> Request:
    """Build a :class:`Request` from a received JSON object of type ``request``.

    ``commands`` limits the accepted commands (:data:`CLIENT_COMMANDS` on a
    server); others are ``unknown_command``.

    Raises:
        RemoteProtocolError: fatal ``bad_envelope`` when the rid is missing or
            not a non-empty string (nothing can be answered); otherwise a
            non-fatal error carrying the rid, to be answered with a failure.
    """
    return parse_request_with_rid(obj, request_rid(obj), commands)


def parse_request_with_rid(
    obj: Mapping[str, Any], rid: str, commands: Collection[str] | None = None
) -> Request:
    """:func:`parse_request` once :func:`request_rid` has read ``rid``.

    For :class:`~drachtio.protocol.Connection`, which reads the rid first.
    """
    command = obj.get("command")
    if not isinstance(command, str):
        raise RemoteProtocolError(
            "bad_envelope",
            f"command: must be a string, got {kind(command)}",
            path="command",
            rid=rid,
            fatal=False,
        )
    if commands is not None and command not in commands:
        raise unknown_command(command, rid)
    return trusted_request(rid, parse_command(command, obj.get("data", {}), rid))


def parse_response(obj: Mapping[str, Any], command: str | None) -> Response:
    """Build a :class:`Response` from a received JSON object of type ``response``.

    ``command`` is the command of the request it answers, or ``None`` for a
    null-rid failure.

    Raises:
        RemoteProtocolError: fatal ``bad_envelope`` or ``bad_response``.
    """
    if "rid" not in obj:
        raise RemoteProtocolError("bad_envelope", "rid: is required", path="rid")
    rid = obj["rid"]
    if rid is not None and (not isinstance(rid, str) or not rid):
        raise RemoteProtocolError(
            "bad_envelope", f"rid: must be a non-empty string or null, got {kind(rid)}", path="rid"
        )
    try:
        data = check_object(obj.get("data"), "data")
    except LocalProtocolError as exc:
        raise remote(exc, "bad_response", rid=rid, fatal=True) from None
    return Response(rid, parse_response_data(command, data))
