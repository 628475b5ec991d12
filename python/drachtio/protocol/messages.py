"""Messages of the control protocol: the envelope, every command, every response.

On the wire a message is a JSON object ``{"type", "rid", "command", "data"}``
(requests) or ``{"type", "rid", "data"}`` (responses). Here each command's
``data`` is a frozen dataclass with snake_case attributes for the camelCase
JSON keys; :class:`Request` and :class:`Response` wrap them with the ``rid``.

Building a message validates it and raises :class:`LocalProtocolError`;
parsing one received from the peer (:func:`parse_request`,
:func:`parse_response`) raises :class:`RemoteProtocolError` with the JSON path
of the bad value. Unknown keys are ignored so that the protocol can grow.

A SIP message in ``sip``, ``respondToSipRequest``'s and ``sendSipRequest``'s
results is its JSON form (docs/json-form.md): a dict, or, on the sending
side, the :class:`~drachtio.SipMessage` itself, whose JSON form the core
writes straight into the frame (``to_json()`` then holds an
:class:`orjson.Fragment`).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import orjson

from drachtio._core import SipMessage, SipRequest, SipResponse
from drachtio.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

__all__ = [
    "CLIENT_COMMANDS",
    "SERVER_COMMANDS",
    "Auth",
    "AuthResult",
    "Cancel",
    "CancelSipRequest",
    "Command",
    "DialogEvent",
    "Failure",
    "JsonObject",
    "Ping",
    "Pong",
    "Request",
    "RespondResult",
    "RespondToSipRequest",
    "Response",
    "ResponseData",
    "Route",
    "SendResult",
    "SendSipRequest",
    "SimpleHeaders",
    "Sip",
    "SipJson",
    "Source",
    "Success",
    "Unroute",
    "new_rid",
    "parse_command",
    "parse_request",
    "parse_response",
    "parse_response_data",
    "request_rid",
    "response_types",
]

JsonObject = dict[str, Any]
SimpleHeaders = dict[str, str | list[str]]
"""Headers as applications write them: ``{"User-Agent": "x", "X-Tag": ["a", "b"]}``."""
SipJson = JsonObject | SipMessage
"""A SIP message in a protocol message: its JSON form, or the message itself when sending."""

_T = TypeVar("_T")

# RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
# RFC 3986 §3.1 scheme, then at least one character without whitespace.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")
_TRANSPORTS = ("udp", "tcp", "tls", "ws", "wss")
_DIALOG_EVENTS = ("created", "destroyed", "ack-timeout")


# Request ids: a random prefix per process and a counter, 32 hex digits like
# a UUID's, without the system call for randomness a UUID costs each time.
_RID_PREFIX = os.urandom(8).hex()
_rid_counter = itertools.count()


def new_rid() -> str:
    """A fresh request id, unique on the sending side: 32 hex digits, random
    per process, then a counter."""
    return f"{_RID_PREFIX}{next(_rid_counter):016x}"


# ---------------------------------------------------------------- validation


def _invalid(path: str, problem: str) -> LocalProtocolError:
    return LocalProtocolError("invalid_data", f"{path}: {problem}", path)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _has_line_break(value: str) -> bool:
    return "\r" in value or "\n" in value or "\x00" in value


# The checks below return at once for a valid value of the exact type (the
# common case); the error messages come from the slower checks after. The
# constructors the server runs for every SIP message repeat the fast test
# inline and call the check only when it fails.


def _check_str(value: object, path: str, *, line: bool = True) -> str:
    """A non-empty string; with ``line``, one without CR, LF or NUL."""
    if (
        type(value) is str
        and value
        and (not line or ("\r" not in value and "\n" not in value and "\x00" not in value))
    ):
        return value
    if not isinstance(value, str):
        raise _invalid(path, f"must be a string, got {_kind(value)}")
    if not value:
        raise _invalid(path, "must not be empty")
    if line and _has_line_break(value):
        raise _invalid(path, "must not contain CR, LF or NUL")
    return value


def _check_opt_str(value: object, path: str) -> str | None:
    if value is None or (
        type(value) is str
        and value
        and "\r" not in value
        and "\n" not in value
        and "\x00" not in value
    ):
        return value
    return _check_str(value, path)


def _check_int(value: object, path: str, low: int, high: int) -> int:
    if type(value) is int and low <= value <= high:
        return value
    # bool is an int in Python, never in the protocol.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(path, f"must be an integer from {low} to {high}, got {_kind(value)}")
    if not low <= value <= high:
        raise _invalid(path, f"must be an integer from {low} to {high}, got {value}")
    return value


def _check_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _invalid(path, f"must be true or false, got {_kind(value)}")
    return value


def _check_true(value: object, path: str) -> None:
    if value is not True:
        raise _invalid(path, f"must be true, got {_kind(value)}")


def _check_token(value: object, path: str, what: str) -> str:
    _check_str(value, path)
    assert isinstance(value, str)
    if not _TOKEN.fullmatch(value):
        raise _invalid(path, f"{_shown(value)} is not {what} (an RFC 3261 token)")
    return value


def _check_object(value: object, path: str) -> Mapping[str, Any]:
    if type(value) is dict:  # the common case, without the Mapping ABC's check
        return value
    if not isinstance(value, Mapping):
        raise _invalid(path, f"must be an object, got {_kind(value)}")
    return value


def _check_headers(value: object, path: str) -> None:
    headers = _check_object(value, path)
    for name, header_value in headers.items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise _invalid(path, f"header name {_shown(str(name))} is not a token")
        if type(header_value) is str and (
            "\r" not in header_value and "\n" not in header_value and "\x00" not in header_value
        ):
            continue  # the common case: one valid value
        item_path = f"{path}.{name}"
        if isinstance(header_value, list):
            if not header_value:
                raise _invalid(item_path, "must not be an empty array")
            for index, item in enumerate(header_value):
                _check_header_value(item, f"{item_path}[{index}]")
        else:
            _check_header_value(header_value, item_path)


def _check_header_value(value: object, path: str) -> None:
    if not isinstance(value, str):
        raise _invalid(path, f"must be a string or an array of strings, got {_kind(value)}")
    # An empty value is legal SIP (RFC 3261 §25.1, e.g. "Subject:"); line breaks never are.
    if _has_line_break(value):
        raise _invalid(path, "must not contain CR, LF or NUL")


def _check_sip_message(value: object, path: str, start: str | None = None) -> None:
    """The JSON form of a SIP message (docs/json-form.md), checked in outline only.

    A :class:`~drachtio.SipMessage` is valid by construction; only its kind is checked.
    """
    if isinstance(value, SipMessage):
        if start == "request_uri" and not isinstance(value, SipRequest):
            raise _invalid(path, "must be a SIP request")
        if start == "status_line" and not isinstance(value, SipResponse):
            raise _invalid(path, "must be a SIP response")
        return
    message = _check_object(value, path)
    has_request = "request_uri" in message
    has_status = "status_line" in message
    if has_request == has_status:
        raise _invalid(path, "must have exactly one of request_uri and status_line")
    if start is not None and start not in message:
        raise _invalid(path, f"must have {start}")
    key = "request_uri" if has_request else "status_line"
    _check_object(message[key], f"{path}.{key}")
    _check_object(message.get("headers"), f"{path}.headers")


# The classes of the core's messages, for a check by exact type without a call.
_SIP_MESSAGE_TYPES = (SipRequest, SipResponse)


def _message_json(message: SipJson) -> Any:
    """What ``to_json()`` holds for a message: the dict, or the core's JSON text."""
    if isinstance(message, SipMessage):
        return orjson.Fragment(message.to_json())
    return message


def _require(data: Mapping[str, Any], key: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise _invalid(f"data.{key}", "is required") from None


# ---------------------------------------------------------------- commands


@dataclass(slots=True, frozen=True)
class Auth:
    """``auth``: the first request of every client; proves it knows a shared secret.

    The secret never appears in ``repr()``, in error messages or in logs.
    """

    COMMAND: ClassVar[str] = "auth"
    secret: str = field(repr=False)
    app_name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.secret, str):
            raise _invalid("data.secret", f"must be a string, got {_kind(self.secret)}")
        _check_opt_str(self.app_name, "data.appName")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {"secret": self.secret}
        if self.app_name is not None:
            data["appName"] = self.app_name
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Auth:
        return cls(_require(data, "secret"), data.get("appName"))


_V = TypeVar("_V", bound="_VerbCommand")


@dataclass(slots=True, frozen=True)
class _VerbCommand:
    """What ``route`` and ``unroute`` share: one SIP method as ``verb``.

    ``verb`` is matched case-insensitively and kept in lower case, as the
    original protocol wrote it (``"invite"``). ACK and CANCEL are refused:
    they never start a transaction of their own (RFC 3261 §17.2.3, §9.2).
    """

    COMMAND: ClassVar[str]
    verb: str

    def __post_init__(self) -> None:
        _check_verb(self.verb)
        object.__setattr__(self, "verb", self.verb.lower())

    @property
    def method(self) -> str:
        """The SIP method the verb names, in upper case."""
        return self.verb.upper()

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        return {"verb": self.verb}

    @classmethod
    def _from_json(cls: type[_V], data: Mapping[str, Any]) -> _V:
        return cls(_require(data, "verb"))


@dataclass(slots=True, frozen=True)
class Route(_VerbCommand):
    """``route``: deliver new SIP requests of this method to the client."""

    COMMAND: ClassVar[str] = "route"


@dataclass(slots=True, frozen=True)
class Unroute(_VerbCommand):
    """``unroute``: stop delivering new SIP requests of this method."""

    COMMAND: ClassVar[str] = "unroute"


def _check_verb(verb: object) -> None:
    _check_token(verb, "data.verb", "a SIP method")
    assert isinstance(verb, str)
    if verb.upper() in ("ACK", "CANCEL"):
        raise _invalid(
            "data.verb",
            f"{_shown(verb)} cannot be routed: CANCEL reaches the client as a 'cancel' "
            "request and ACK within its dialog",
        )


@dataclass(slots=True, frozen=True)
class RespondToSipRequest:
    """``respondToSipRequest``: answer a SIP request the client received.

    Any number of provisional responses (1xx) may precede one final response.
    """

    COMMAND: ClassVar[str] = "respondToSipRequest"
    transaction_id: str
    code: int
    status: str | None = None
    headers: SimpleHeaders = field(default_factory=dict)
    body: str | None = None

    def __post_init__(self) -> None:
        tx, code = self.transaction_id, self.code
        if (
            type(tx) is str
            and tx
            and "\r" not in tx
            and "\n" not in tx
            and "\x00" not in tx
            and type(code) is int
            and 100 <= code <= 699
            and self.status is None
            and type(self.headers) is dict
            and (self.body is None or type(self.body) is str)
        ):
            # The common case: the status is the default, only headers are left to check.
            if self.headers:
                _check_headers(self.headers, "data.opts.headers")
            return
        _check_str(tx, "data.transactionId")
        _check_int(code, "data.code", 100, 699)
        _check_opt_str(self.status, "data.status")
        _check_headers(self.headers, "data.opts.headers")
        if self.body is not None and not isinstance(self.body, str):
            raise _invalid("data.opts.body", f"must be a string, got {_kind(self.body)}")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {"transactionId": self.transaction_id, "code": self.code}
        if self.status is not None:
            data["status"] = self.status
        opts: JsonObject = {}
        if self.headers:
            opts["headers"] = self.headers
        if self.body is not None:
            opts["body"] = self.body
        if opts:
            data["opts"] = opts
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> RespondToSipRequest:
        opts = data.get("opts")
        if opts is None:
            if "opts" in data:
                _check_object(opts, "data.opts")  # raises: null is not an object
            headers: dict[str, Any] = {}
            body = None
        else:
            opts = _check_object(opts, "data.opts")
            headers = dict(_check_object(opts.get("headers", {}), "data.opts.headers"))
            body = opts.get("body")
        if "transactionId" not in data or "code" not in data:
            _require(data, "transactionId")
            _require(data, "code")
        return cls(data["transactionId"], data["code"], data.get("status"), headers, body)


@dataclass(slots=True, frozen=True)
class SendSipRequest:
    """``sendSipRequest``: send a SIP request, new or within a dialog.

    Without ``dialog_id`` the request starts a new transaction and needs a
    ``uri``; with it the server fills in what the dialog knows (RFC 3261 §12.2.1.1),
    including the Request-URI, so ``uri`` may be left out.
    """

    COMMAND: ClassVar[str] = "sendSipRequest"
    method: str
    uri: str | None = None
    headers: SimpleHeaders = field(default_factory=dict)
    body: str | None = None
    dialog_id: str | None = None

    def __post_init__(self) -> None:
        _check_token(self.method, "data.method", "a SIP method")
        if self.uri is None:
            if self.dialog_id is None:
                raise _invalid("data.uri", "is required when there is no dialogId")
        else:
            _check_str(self.uri, "data.uri")
            if not _URI.fullmatch(self.uri):
                raise _invalid("data.uri", f"{_shown(self.uri)} is not a URI")
        _check_headers(self.headers, "data.headers")
        if self.body is not None and not isinstance(self.body, str):
            raise _invalid("data.body", f"must be a string, got {_kind(self.body)}")
        _check_opt_str(self.dialog_id, "data.dialogId")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {"method": self.method}
        if self.uri is not None:
            data["uri"] = self.uri
        if self.headers:
            data["headers"] = self.headers
        if self.body is not None:
            data["body"] = self.body
        if self.dialog_id is not None:
            data["dialogId"] = self.dialog_id
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> SendSipRequest:
        return cls(
            _require(data, "method"),
            data.get("uri"),
            dict(_check_object(data.get("headers", {}), "data.headers")),
            data.get("body"),
            data.get("dialogId"),
        )


@dataclass(slots=True, frozen=True)
class CancelSipRequest:
    """``cancelSipRequest``: cancel a pending INVITE the client sent (RFC 3261 §9)."""

    COMMAND: ClassVar[str] = "cancelSipRequest"
    transaction_id: str

    def __post_init__(self) -> None:
        _check_str(self.transaction_id, "data.transactionId")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        return {"transactionId": self.transaction_id}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> CancelSipRequest:
        return cls(_require(data, "transactionId"))


@dataclass(slots=True, frozen=True)
class Ping:
    """``ping``: a liveness check, sent by either side; answered ``{pong: true}``."""

    COMMAND: ClassVar[str] = "ping"

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        return {}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Ping:
        return cls()


@dataclass(slots=True, frozen=True)
class Source:
    """Where the server received a SIP message from."""

    transport: str
    address: str
    port: int

    def __post_init__(self) -> None:
        address, port = self.address, self.port
        if (
            type(address) is str
            and address
            and "\r" not in address
            and "\n" not in address
            and "\x00" not in address
            and type(port) is int
            and 1 <= port <= 65535
            and self.transport in _TRANSPORTS
        ):
            return
        if self.transport not in _TRANSPORTS:
            raise _invalid(
                "data.source.transport",
                f"must be one of {', '.join(_TRANSPORTS)}, got "
                + (
                    _shown(self.transport)
                    if isinstance(self.transport, str)
                    else _kind(self.transport)
                ),
            )
        _check_str(self.address, "data.source.address")
        _check_int(self.port, "data.source.port", 1, 65535)

    def to_json(self) -> JsonObject:
        """This source as a JSON object."""
        return {"transport": self.transport, "address": self.address, "port": self.port}

    @classmethod
    def _from_json(cls, data: object) -> Source:
        source = _check_object(data, "data.source")
        return cls(
            _require_at(source, "transport", "data.source"),
            _require_at(source, "address", "data.source"),
            _require_at(source, "port", "data.source"),
        )


def _require_at(data: Mapping[str, Any], key: str, path: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise _invalid(f"{path}.{key}", "is required") from None


@dataclass(slots=True, frozen=True)
class Sip:
    """``sip`` (server to client): a SIP request or response for the client.

    A new request matched to the client's routes, a request within one of its
    dialogs, or a response to a request it sent (same ``transaction_id``).
    ``message`` is the JSON form of the SIP message (docs/json-form.md), or
    on the sending side the :class:`~drachtio.SipMessage` itself (a received
    ``sip`` always holds the dict); ``time`` is when the server received it,
    in seconds since the Unix epoch.
    The server always sends ``source`` and ``time``; the original protocol
    did not, so they are optional when reading.
    """

    COMMAND: ClassVar[str] = "sip"
    transaction_id: str
    message: SipJson
    dialog_id: str | None = None
    source: Source | None = None
    time: float | None = None

    def __post_init__(self) -> None:
        tx = self.transaction_id
        if type(tx) is not str or not tx or "\r" in tx or "\n" in tx or "\x00" in tx:
            _check_str(tx, "data.transactionId")
        if type(self.message) not in _SIP_MESSAGE_TYPES:
            _check_sip_message(self.message, "data.message")
        dialog_id = self.dialog_id
        if dialog_id is not None and (
            type(dialog_id) is not str
            or not dialog_id
            or "\r" in dialog_id
            or "\n" in dialog_id
            or "\x00" in dialog_id
        ):
            _check_str(dialog_id, "data.dialogId")
        source = self.source
        if source is not None and type(source) is not Source and not isinstance(source, Source):
            raise _invalid("data.source", f"must be an object, got {_kind(source)}")
        time = self.time
        if (
            time is not None
            and not (type(time) is float and time >= 0)
            and (not isinstance(time, (int, float)) or isinstance(time, bool) or time < 0)
        ):
            raise _invalid("data.time", "must be a non-negative number of seconds")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {"transactionId": self.transaction_id}
        if self.dialog_id is not None:
            data["dialogId"] = self.dialog_id
        message = self.message  # _message_json, inline
        data["message"] = (
            orjson.Fragment(message.to_json()) if isinstance(message, SipMessage) else message
        )
        if self.source is not None:
            data["source"] = self.source.to_json()
        if self.time is not None:
            data["time"] = self.time
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Sip:
        source = data.get("source")
        return cls(
            _require(data, "transactionId"),
            _require(data, "message"),
            data.get("dialogId"),
            None if source is None else Source._from_json(source),
            data.get("time"),
        )


@dataclass(slots=True, frozen=True)
class Cancel:
    """``cancel`` (server to client): a pending INVITE was cancelled.

    The server has already answered the CANCEL with 200 and the INVITE with
    487 (RFC 3261 §9.2); the client must not respond to the INVITE any more.
    ``reason``, when given, says why, for a transaction the server ended
    itself (the client did not answer in time: answered 500).
    """

    COMMAND: ClassVar[str] = "cancel"
    transaction_id: str
    reason: str | None = None

    def __post_init__(self) -> None:
        _check_str(self.transaction_id, "data.transactionId")
        _check_opt_str(self.reason, "data.reason")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {"transactionId": self.transaction_id}
        if self.reason is not None:
            data["reason"] = self.reason
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Cancel:
        return cls(_require(data, "transactionId"), data.get("reason"))


@dataclass(slots=True, frozen=True)
class DialogEvent:
    """``dialog`` (server to client): a dialog of the client was created or ended.

    ``event`` is ``created``, ``destroyed`` or ``ack-timeout`` (no ACK came
    for a 2xx the server sent, RFC 3261 §13.3.1.4; the server then ends the
    dialog with BYE).
    """

    COMMAND: ClassVar[str] = "dialog"
    dialog_id: str
    event: Literal["created", "destroyed", "ack-timeout"]
    reason: str | None = None

    def __post_init__(self) -> None:
        dialog_id, reason = self.dialog_id, self.reason
        if (
            type(dialog_id) is str
            and dialog_id
            and "\r" not in dialog_id
            and "\n" not in dialog_id
            and "\x00" not in dialog_id
            and self.event in _DIALOG_EVENTS
            and (
                reason is None
                or (
                    type(reason) is str
                    and reason
                    and "\r" not in reason
                    and "\n" not in reason
                    and "\x00" not in reason
                )
            )
        ):
            return
        _check_str(dialog_id, "data.dialogId")
        if self.event not in _DIALOG_EVENTS:
            raise _invalid(
                "data.event",
                f"must be one of {', '.join(_DIALOG_EVENTS)}, got "
                + (_shown(self.event) if isinstance(self.event, str) else _kind(self.event)),
            )
        _check_opt_str(self.reason, "data.reason")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {"dialogId": self.dialog_id, "event": self.event}
        if self.reason is not None:
            data["reason"] = self.reason
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> DialogEvent:
        return cls(_require(data, "dialogId"), _require(data, "event"), data.get("reason"))


Command = (
    Auth
    | Route
    | Unroute
    | RespondToSipRequest
    | SendSipRequest
    | CancelSipRequest
    | Ping
    | Sip
    | Cancel
    | DialogEvent
)

_COMMAND_TYPES: dict[str, Callable[[Mapping[str, Any]], Command]] = {
    cls.COMMAND: cls._from_json
    for cls in (
        Auth,
        Route,
        Unroute,
        RespondToSipRequest,
        SendSipRequest,
        CancelSipRequest,
        Ping,
        Sip,
        Cancel,
        DialogEvent,
    )
}

CLIENT_COMMANDS = frozenset(
    {
        "auth",
        "route",
        "unroute",
        "respondToSipRequest",
        "sendSipRequest",
        "cancelSipRequest",
        "ping",
    }
)
"""Commands a client sends and a server accepts."""
SERVER_COMMANDS = frozenset({"sip", "cancel", "dialog", "ping"})
"""Commands a server sends and a client accepts."""


# ---------------------------------------------------------------- responses


@dataclass(slots=True, frozen=True)
class AuthResult:
    """The response to ``auth``.

    ``hostport`` lists the server's SIP listeners as ``"<transport>/<host>:<port>"``
    (``"udp/127.0.0.1:5060"``). A failure carries a ``reason``, after which the
    server closes the connection.
    """

    authenticated: bool
    hostport: tuple[str, ...] = ()
    reason: str | None = None

    def __post_init__(self) -> None:
        _check_bool(self.authenticated, "data.authenticated")
        if not isinstance(self.hostport, (tuple, list)):
            raise _invalid("data.hostport", f"must be an array, got {_kind(self.hostport)}")
        for index, item in enumerate(self.hostport):
            _check_str(item, f"data.hostport[{index}]")
        object.__setattr__(self, "hostport", tuple(self.hostport))
        if self.authenticated:
            _check_opt_str(self.reason, "data.reason")
        else:
            _check_str(self.reason, "data.reason")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        if self.authenticated:
            return {"authenticated": True, "hostport": list(self.hostport)}
        return {"authenticated": False, "reason": self.reason}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> AuthResult:
        return cls(_require(data, "authenticated"), data.get("hostport", ()), data.get("reason"))


@dataclass(slots=True, frozen=True)
class Success:
    """``{success: true}``: the request was carried out."""

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        return {"success": True}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Success:
        _check_true(_require(data, "success"), "data.success")
        return cls()


@dataclass(slots=True, frozen=True)
class RespondResult:
    """The success response to ``respondToSipRequest``.

    ``message`` is the SIP response as the server sent it, in JSON form (with
    the To tag, Via, Call-ID, CSeq, Contact and Content-Length the server
    supplied), or the :class:`~drachtio.SipResponse` itself on the sending
    side. ``dialog_id`` is set when a 2xx to an INVITE created a dialog.
    """

    message: SipJson
    dialog_id: str | None = None

    def __post_init__(self) -> None:
        if type(self.message) is not SipResponse:
            _check_sip_message(self.message, "data.message", "status_line")
        if self.dialog_id is not None:
            _check_str(self.dialog_id, "data.dialogId")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        message = self.message  # _message_json, inline
        data: JsonObject = {
            "success": True,
            "message": (
                orjson.Fragment(message.to_json()) if isinstance(message, SipMessage) else message
            ),
        }
        if self.dialog_id is not None:
            data["dialogId"] = self.dialog_id
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> RespondResult:
        _check_true(_require(data, "success"), "data.success")
        return cls(_require(data, "message"), data.get("dialogId"))


@dataclass(slots=True, frozen=True)
class SendResult:
    """The success response to ``sendSipRequest``.

    ``message`` is the SIP request as sent, in JSON form (or the
    :class:`~drachtio.SipRequest` itself on the sending side); responses to it
    reach the client as ``sip`` requests with the same ``transaction_id``.
    """

    transaction_id: str
    message: SipJson
    dialog_id: str | None = None

    def __post_init__(self) -> None:
        _check_str(self.transaction_id, "data.transactionId")
        _check_sip_message(self.message, "data.message", "request_uri")
        _check_opt_str(self.dialog_id, "data.dialogId")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        data: JsonObject = {"success": True, "transactionId": self.transaction_id}
        if self.dialog_id is not None:
            data["dialogId"] = self.dialog_id
        data["message"] = _message_json(self.message)
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> SendResult:
        _check_true(_require(data, "success"), "data.success")
        return cls(_require(data, "transactionId"), _require(data, "message"), data.get("dialogId"))


@dataclass(slots=True, frozen=True)
class Pong:
    """``{pong: true}``: the response to ``ping``."""

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        return {"pong": True}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Pong:
        _check_true(_require(data, "pong"), "data.pong")
        return cls()


@dataclass(slots=True, frozen=True)
class Failure:
    """``{success: false, reason, error?}``: the request was refused.

    ``error`` is a stable code (:data:`~drachtio.protocol.errors.ErrorCode` for
    protocol errors) when the refusal is a protocol error; application-level
    refusals (an unknown transaction) carry only a ``reason``.
    """

    reason: str
    error: str | None = None

    def __post_init__(self) -> None:
        _check_str(self.reason, "data.reason", line=False)
        _check_opt_str(self.error, "data.error")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this response."""
        data: JsonObject = {"success": False, "reason": self.reason}
        if self.error is not None:
            data["error"] = self.error
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Failure:
        return cls(_require(data, "reason"), data.get("error"))


ResponseData = AuthResult | Success | RespondResult | SendResult | Pong | Failure

_SUCCESS = Success()

# What may answer each command; everything not listed is answered Success or Failure.
_RESPONSE_TYPES: dict[str, tuple[type[Any], ...]] = {
    "auth": (AuthResult, Failure),
    "ping": (Pong, Failure),
    "respondToSipRequest": (RespondResult, Failure),
    "sendSipRequest": (SendResult, Failure),
}
_DEFAULT_RESPONSE_TYPES: tuple[type[Any], ...] = (Success, Failure)


def response_types(command: str) -> tuple[type[Any], ...]:
    """The response data classes that may answer ``command``."""
    return _RESPONSE_TYPES.get(command, _DEFAULT_RESPONSE_TYPES)


# ---------------------------------------------------------------- envelope


@dataclass(slots=True, frozen=True)
class Request:
    """A request: ``{"type": "request", "rid", "command", "data"}``."""

    rid: str
    data: Command

    def __post_init__(self) -> None:
        rid = self.rid
        if type(rid) is not str or not rid or "\r" in rid or "\n" in rid or "\x00" in rid:
            _check_str(rid, "rid")

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
        rid = self.rid
        if rid is not None:
            if type(rid) is not str or not rid or "\r" in rid or "\n" in rid or "\x00" in rid:
                _check_str(rid, "rid")
        elif not isinstance(self.data, Failure):
            raise _invalid("rid", "may be null only in a failure response")

    def to_json(self) -> JsonObject:
        """This response as a JSON object."""
        return {"type": "response", "rid": self.rid, "data": self.data.to_json()}


# Envelopes built from parts already checked (a rid read from the peer, one of
# our own rids), without running the constructors' checks a second time.

_new = object.__new__
_set = object.__setattr__


def _trusted_request(rid: str, data: Command) -> Request:
    """A :class:`Request` of a valid rid and command; nothing is checked."""
    request: Request = _new(Request)
    _set(request, "rid", rid)
    _set(request, "data", data)
    return request


def _trusted_response(rid: str, data: ResponseData) -> Response:
    """A :class:`Response` of a valid rid and data; nothing is checked."""
    response: Response = _new(Response)
    _set(response, "rid", rid)
    _set(response, "data", data)
    return response


def _remote(
    build: Callable[[Mapping[str, Any]], _T],
    data: Mapping[str, Any],
    *,
    rid: str | None,
    code: ErrorCode,
    fatal: bool,
) -> _T:
    """Run a constructor on peer data, turning its validation error into a remote one."""
    try:
        return build(data)
    except LocalProtocolError as exc:
        raise RemoteProtocolError(code, exc.message, path=exc.path, rid=rid, fatal=fatal) from None


def parse_command(command: str, data: Mapping[str, Any], rid: str | None = None) -> Command:
    """Build the command named ``command`` from its ``data`` object, as received.

    Raises:
        RemoteProtocolError: ``unknown_command`` or ``invalid_data`` (not fatal),
            with ``rid`` and the path of the bad value.
    """
    build = _COMMAND_TYPES.get(command)
    if build is None:
        raise RemoteProtocolError(
            "unknown_command", f"unknown command {_shown(command)}", rid=rid, fatal=False
        )
    return _remote(build, data, rid=rid, code="invalid_data", fatal=False)


def request_rid(obj: Mapping[str, Any]) -> str:
    """The ``rid`` of a received request.

    Raises:
        RemoteProtocolError: fatal ``bad_envelope`` when it is missing, not a
            non-empty string, or holds CR, LF or NUL (nothing can be answered:
            a response could not carry it).
    """
    rid = obj.get("rid")
    if not isinstance(rid, str) or not rid:
        raise RemoteProtocolError(
            "bad_envelope", f"rid: must be a non-empty string, got {_kind(rid)}", path="rid"
        )
    if _has_line_break(rid):
        raise RemoteProtocolError("bad_envelope", "rid: must not contain CR, LF or NUL", path="rid")
    return rid


def parse_request(obj: Mapping[str, Any], commands: Collection[str] | None = None) -> Request:
    """Build a :class:`Request` from a received JSON object of type ``request``.

    ``commands`` limits the accepted commands (:data:`CLIENT_COMMANDS` on a
    server); others are ``unknown_command``.

    Raises:
        RemoteProtocolError: fatal ``bad_envelope`` when the rid is missing or
            not a non-empty string (nothing can be answered); otherwise a
            non-fatal error carrying the rid, to be answered with a failure.
    """
    return _parse_request(obj, request_rid(obj), commands)


def _parse_request(
    obj: Mapping[str, Any], rid: str, commands: Collection[str] | None = None
) -> Request:
    """:func:`parse_request` once ``rid`` is read (by :func:`request_rid`)."""
    command = obj.get("command")
    if type(command) is not str and not isinstance(command, str):
        raise RemoteProtocolError(
            "bad_envelope",
            f"command: must be a string, got {_kind(command)}",
            path="command",
            rid=rid,
            fatal=False,
        )
    if commands is not None and command not in commands:
        raise RemoteProtocolError(
            "unknown_command", f"unknown command {_shown(command)}", rid=rid, fatal=False
        )
    data = obj.get("data", {})
    if type(data) is not dict and not isinstance(data, Mapping):
        raise RemoteProtocolError(
            "invalid_data",
            f"data: must be an object, got {_kind(data)}",
            path="data",
            rid=rid,
            fatal=False,
        )
    # parse_command, inline.
    build = _COMMAND_TYPES.get(command)
    if build is None:
        raise RemoteProtocolError(
            "unknown_command", f"unknown command {_shown(command)}", rid=rid, fatal=False
        )
    try:
        parsed = build(data)
    except LocalProtocolError as exc:
        raise RemoteProtocolError(
            "invalid_data", exc.message, path=exc.path, rid=rid, fatal=False
        ) from None
    if "\r" in rid or "\n" in rid or "\x00" in rid:
        return Request(rid, parsed)  # refused by the constructor's check
    return _trusted_request(rid, parsed)


def parse_response_data(command: str, data: Mapping[str, Any]) -> ResponseData:
    """Build the data of a response to ``command`` from its received JSON object.

    Raises:
        RemoteProtocolError: fatal ``bad_response`` (a response cannot be answered).
    """
    parser: Callable[[Mapping[str, Any]], ResponseData]
    success = data.get("success")
    if success is True and command not in _RESPONSE_TYPES:
        # The answer to most requests (every sip, cancel and dialog): one immutable value.
        return _SUCCESS
    if command == "auth" and "authenticated" in data:
        parser = AuthResult._from_json
    elif success is False:
        parser = Failure._from_json
    else:
        parser = response_types(command)[0]._from_json
    return _remote(parser, data, rid=None, code="bad_response", fatal=True)


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
            "bad_envelope", f"rid: must be a non-empty string or null, got {_kind(rid)}", path="rid"
        )
    data = obj.get("data")
    if not isinstance(data, Mapping):
        raise RemoteProtocolError(
            "bad_response", f"data: must be an object, got {_kind(data)}", path="data", rid=rid
        )
    if command is None:
        parsed: ResponseData = _remote(
            Failure._from_json, data, rid=rid, code="bad_response", fatal=True
        )
    else:
        parsed = parse_response_data(command, data)
    return Response(rid, parsed)
