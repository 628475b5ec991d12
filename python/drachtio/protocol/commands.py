"""The commands of the control protocol: the ``data`` of every request.

Clients send ``auth``, ``route``, ``unroute``, ``respondToSipRequest``,
``sendSipRequest``, ``cancelSipRequest``, ``proxy`` (:mod:`drachtio.protocol.proxy`)
and ``ping``; servers send ``sip``, ``cancel``, ``dialog``, ``cdr``
(:mod:`drachtio.protocol.cdr`) and ``ping``. Each command's ``data`` is a frozen
dataclass with snake_case attributes for the camelCase JSON keys, checked
when built (:class:`LocalProtocolError`); :func:`parse_command` builds one
from what the peer sent. Unknown keys are ignored so that the protocol can
grow.

A SIP message in ``sip`` is its JSON form (docs/json-form.md): a dict, or,
on the sending side, the :class:`~drachtio.SipMessage` itself, whose JSON
form the core writes straight into the frame (``to_json()`` then holds an
:class:`orjson.Fragment`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from drachtio._core import _TRANSPORTS, SipRequest, SipResponse
from drachtio.protocol._checks import (
    STANDARD_METHODS,
    URI,
    JsonObject,
    SimpleHeaders,
    SipJson,
    check_body_type,
    check_choice,
    check_headers,
    check_int,
    check_line,
    check_method,
    check_object,
    check_seconds,
    check_sip_message,
    check_string,
    check_tags,
    check_token,
    invalid,
    is_line,
    is_sip_message,
    kind,
    message_json,
    method_named,
    remote,
    require,
    shown,
)
from drachtio.protocol.cdr import CallDetailRecord, check_cdr_verb
from drachtio.protocol.errors import LocalProtocolError, RemoteProtocolError
from drachtio.protocol.proxy import ProxyRequest

__all__ = [
    "CLIENT_COMMANDS",
    "SERVER_COMMANDS",
    "Auth",
    "Cancel",
    "CancelSipRequest",
    "Command",
    "DialogEvent",
    "Ping",
    "RespondToSipRequest",
    "Route",
    "SendSipRequest",
    "Sip",
    "Source",
    "Unroute",
    "parse_command",
]

# The core's message classes, for a test of the exact type.
_SIP_MESSAGE_TYPES = (SipRequest, SipResponse)
_DIALOG_EVENTS = ("created", "destroyed", "ack-timeout")

# Commands built from what was read and found valid, without their checks.
_new = object.__new__
_set = object.__setattr__


# ---------------------------------------------------------------- from the client


@dataclass(slots=True, frozen=True)
class Auth:
    """``auth``: the first request of every client; proves it knows a shared secret.

    The secret never appears in ``repr()``, in error messages or in logs.
    """

    COMMAND: ClassVar[str] = "auth"
    secret: str = field(repr=False)
    app_name: str | None = None
    tags: tuple[str, ...] = ()
    """Names a request handler can route new requests to (``docs/server.md``)."""

    def __post_init__(self) -> None:
        # Any string: the secret is compared, never written anywhere.
        check_string(self.secret, "data.secret")
        if self.app_name is not None:
            check_line(self.app_name, "data.appName")
        if self.tags:
            check_tags(list(self.tags), "data.tags")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {"secret": self.secret}
        if self.app_name is not None:
            data["appName"] = self.app_name
        if self.tags:
            data["tags"] = list(self.tags)
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Auth:
        tags = data.get("tags")
        return cls(
            require(data, "secret"),
            data.get("appName"),
            () if tags is None else check_tags(tags, "data.tags"),
        )


_V = TypeVar("_V", bound="_VerbCommand")


@dataclass(slots=True, frozen=True)
class _VerbCommand:
    """What ``route`` and ``unroute`` share: one SIP method, or a kind of call
    detail record, as ``verb``.

    A standard method (:data:`STANDARD_METHODS`) is matched
    case-insensitively and kept in lower case, as the original protocol
    wrote it (``"invite"``); an extension method is case-sensitive, as
    every method is on the wire (RFC 3261 §7.1), and kept as written. ACK
    and CANCEL are refused: they never start a transaction of their own
    (RFC 3261 §17.2.3, §9.2). A verb starting ``cdr:`` is one of
    :data:`~drachtio.protocol.cdr.CDR_VERBS` (``cdr:stop``): the records of
    that kind (:class:`~drachtio.protocol.cdr.CallDetailRecord`).
    """

    COMMAND: ClassVar[str]
    verb: str

    def __post_init__(self) -> None:
        if isinstance(self.verb, str) and self.verb.startswith("cdr:"):
            check_cdr_verb(self.verb)
            return
        verb = check_token(self.verb, "data.verb", "a SIP method")
        upper = verb.upper()
        if upper in ("ACK", "CANCEL"):
            raise invalid(
                "data.verb",
                f"{shown(verb)} cannot be routed: CANCEL reaches the client as a 'cancel' "
                "request and ACK within its dialog",
            )
        if upper in STANDARD_METHODS:
            object.__setattr__(self, "verb", verb.lower())

    @property
    def method(self) -> str:
        """The SIP method the verb names: a standard one in upper case, else as written."""
        return method_named(self.verb)

    @property
    def names_records(self) -> bool:
        """Whether the verb names a kind of call detail record, not a SIP method."""
        return self.verb.startswith("cdr:")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        return {"verb": self.verb}

    @classmethod
    def _from_json(cls: type[_V], data: Mapping[str, Any]) -> _V:
        return cls(require(data, "verb"))


@dataclass(slots=True, frozen=True)
class Route(_VerbCommand):
    """``route``: deliver new SIP requests of this method to the client."""

    COMMAND: ClassVar[str] = "route"


@dataclass(slots=True, frozen=True)
class Unroute(_VerbCommand):
    """``unroute``: stop delivering new SIP requests of this method."""

    COMMAND: ClassVar[str] = "unroute"


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
        # The common case in one test, without a call (a server parses one of
        # these for every response an application sends); what it accepts,
        # the checks below accept: tests/protocol/test_protocol_fast_paths.py.
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
            if self.headers:
                check_headers(self.headers, "data.opts.headers")
            if self.body:
                check_body_type(self.headers, self.body, "data.opts.body")
            return
        check_line(tx, "data.transactionId")
        check_int(code, "data.code", 100, 699)
        if self.status is not None:
            check_line(self.status, "data.status")
        check_headers(self.headers, "data.opts.headers")
        if self.body is not None:
            check_string(self.body, "data.opts.body")
            check_body_type(self.headers, self.body, "data.opts.body")

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
        if "opts" in data:
            opts = check_object(data["opts"], "data.opts")
            headers = dict(check_object(opts.get("headers", {}), "data.opts.headers"))
            body = opts.get("body")
        else:
            headers, body = {}, None
        return cls(
            require(data, "transactionId"), require(data, "code"), data.get("status"), headers, body
        )


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
    prack: Literal["server", "app"] = "server"

    def __post_init__(self) -> None:
        check_method(self.method, "data.method")
        check_choice(self.prack, ("server", "app"), "data.prack")
        if self.prack == "app" and (self.method != "INVITE" or self.dialog_id is not None):
            raise invalid("data.prack", "'app' is for an INVITE outside a dialog (RFC 3262 §4)")
        if self.uri is None:
            if self.dialog_id is None:
                raise invalid("data.uri", "is required when there is no dialogId")
        elif not URI.fullmatch(check_line(self.uri, "data.uri")):
            raise invalid("data.uri", f"{shown(self.uri)} is not a URI")
        check_headers(self.headers, "data.headers")
        if self.body is not None:
            check_string(self.body, "data.body")
            check_body_type(self.headers, self.body, "data.body")
        if self.dialog_id is not None:
            check_line(self.dialog_id, "data.dialogId")

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
        if self.prack != "server":
            data["prack"] = self.prack
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> SendSipRequest:
        return cls(
            require(data, "method"),
            data.get("uri"),
            dict(check_object(data.get("headers", {}), "data.headers")),
            data.get("body"),
            data.get("dialogId"),
            data.get("prack", "server"),
        )


@dataclass(slots=True, frozen=True)
class CancelSipRequest:
    """``cancelSipRequest``: cancel a pending INVITE the client sent (RFC 3261 §9)."""

    COMMAND: ClassVar[str] = "cancelSipRequest"
    transaction_id: str

    def __post_init__(self) -> None:
        check_line(self.transaction_id, "data.transactionId")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        return {"transactionId": self.transaction_id}

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> CancelSipRequest:
        return cls(require(data, "transactionId"))


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


# ---------------------------------------------------------------- from the server


@dataclass(slots=True, frozen=True)
class Source:
    """Where the server received a SIP message from."""

    transport: str
    address: str
    port: int

    def __post_init__(self) -> None:
        check_choice(self.transport, _TRANSPORTS, "data.source.transport")
        check_line(self.address, "data.source.address")
        check_int(self.port, "data.source.port", 1, 65535)

    def to_json(self) -> JsonObject:
        """This source as a JSON object."""
        return {"transport": self.transport, "address": self.address, "port": self.port}

    @classmethod
    def _from_json(cls, data: object) -> Source:
        read = _read_source(data)
        if read is not None:
            return read
        source = check_object(data, "data.source")
        return cls(
            require(source, "transport", "data.source"),
            require(source, "address", "data.source"),
            require(source, "port", "data.source"),
        )


def _read_source(data: object) -> Source | None:
    """A source of the common form, built without the checks; None when only
    the checks can tell (they then accept it or word the refusal)."""
    if type(data) is not dict:
        return None
    transport = data.get("transport")
    address = data.get("address")
    port = data.get("port")
    if not (
        type(transport) is str
        and transport in _TRANSPORTS
        and is_line(address)
        and type(port) is int
        and 1 <= port <= 65535
    ):
        return None
    source: Source = _new(Source)
    _set(source, "transport", transport)
    _set(source, "address", address)
    _set(source, "port", port)
    return source


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
        tx, dialog_id, time = self.transaction_id, self.dialog_id, self.time
        # The common case in one test, without a call (a server builds one of
        # these for every SIP message to an application); what it accepts,
        # the checks below accept: tests/protocol/test_protocol_fast_paths.py.
        if (
            type(tx) is str
            and tx
            and "\r" not in tx
            and "\n" not in tx
            and "\x00" not in tx
            and type(self.message) in _SIP_MESSAGE_TYPES
            and (
                dialog_id is None
                or (
                    type(dialog_id) is str
                    and dialog_id
                    and "\r" not in dialog_id
                    and "\n" not in dialog_id
                    and "\x00" not in dialog_id
                )
            )
            and (self.source is None or type(self.source) is Source)
            and (time is None or (type(time) is float and time >= 0))
        ):
            return
        check_line(tx, "data.transactionId")
        check_sip_message(self.message, "data.message")
        if self.dialog_id is not None:
            check_line(self.dialog_id, "data.dialogId")
        if self.source is not None and not isinstance(self.source, Source):
            raise invalid("data.source", f"must be an object, got {kind(self.source)}")
        if self.time is not None:
            check_seconds(self.time, "data.time")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {"transactionId": self.transaction_id}
        if self.dialog_id is not None:
            data["dialogId"] = self.dialog_id
        data["message"] = message_json(self.message)
        if self.source is not None:
            data["source"] = self.source.to_json()
        if self.time is not None:
            data["time"] = self.time
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Sip:
        # The common case (every SIP message a server sends an application) in
        # one test, built without the checks; what it takes, the checks take
        # alike: tests/protocol/test_protocol_fast_paths.py.
        if type(data) is dict:
            tx = data.get("transactionId")
            message = data.get("message")
            dialog_id = data.get("dialogId")
            source = data.get("source")
            time = data.get("time")
            read = None if source is None else _read_source(source)
            if (
                is_line(tx)
                and is_sip_message(message)
                and (dialog_id is None or is_line(dialog_id))
                and (source is None or read is not None)
                and (time is None or ((type(time) is float or type(time) is int) and time >= 0))
            ):
                sip: Sip = _new(cls)
                _set(sip, "transaction_id", tx)
                _set(sip, "message", message)
                _set(sip, "dialog_id", dialog_id)
                _set(sip, "source", read)
                _set(sip, "time", time)
                return sip
        source = data.get("source")
        return cls(
            require(data, "transactionId"),
            require(data, "message"),
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
        check_line(self.transaction_id, "data.transactionId")
        if self.reason is not None:
            check_line(self.reason, "data.reason")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {"transactionId": self.transaction_id}
        if self.reason is not None:
            data["reason"] = self.reason
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> Cancel:
        return cls(require(data, "transactionId"), data.get("reason"))


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
        check_line(self.dialog_id, "data.dialogId")
        check_choice(self.event, _DIALOG_EVENTS, "data.event")
        if self.reason is not None:
            check_line(self.reason, "data.reason")

    def to_json(self) -> JsonObject:
        """The ``data`` object of this command."""
        data: JsonObject = {"dialogId": self.dialog_id, "event": self.event}
        if self.reason is not None:
            data["reason"] = self.reason
        return data

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> DialogEvent:
        # The common case in one test, built without the checks (as Sip's).
        if type(data) is dict:
            dialog_id = data.get("dialogId")
            event = data.get("event")
            reason = data.get("reason")
            if (
                is_line(dialog_id)
                and type(event) is str
                and event in _DIALOG_EVENTS
                and (reason is None or is_line(reason))
            ):
                built: DialogEvent = _new(cls)
                _set(built, "dialog_id", dialog_id)
                _set(built, "event", event)
                _set(built, "reason", reason)
                return built
        return cls(require(data, "dialogId"), require(data, "event"), data.get("reason"))


# ---------------------------------------------------------------- parsing


Command = (
    Auth
    | Route
    | Unroute
    | RespondToSipRequest
    | SendSipRequest
    | CancelSipRequest
    | ProxyRequest
    | Ping
    | Sip
    | Cancel
    | DialogEvent
    | CallDetailRecord
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
        ProxyRequest,
        Ping,
        Sip,
        Cancel,
        DialogEvent,
        CallDetailRecord,
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
        "proxy",
        "ping",
    }
)
"""Commands a client sends and a server accepts."""
SERVER_COMMANDS = frozenset({"sip", "cancel", "dialog", "cdr", "ping"})
"""Commands a server sends and a client accepts."""


def unknown_command(command: str, rid: str | None) -> RemoteProtocolError:
    """The error for a command that does not exist, or not in this direction."""
    return RemoteProtocolError(
        "unknown_command", f"unknown command {shown(command)}", rid=rid, fatal=False
    )


def parse_command(command: str, data: Mapping[str, Any], rid: str | None = None) -> Command:
    """Build the command named ``command`` from its ``data`` object, as received.

    Raises:
        RemoteProtocolError: ``unknown_command`` or ``invalid_data`` (not fatal),
            with ``rid`` and the path of the bad value.
    """
    parser = _COMMAND_TYPES.get(command)
    if parser is None:
        raise unknown_command(command, rid)
    try:
        return parser(check_object(data, "data"))
    except LocalProtocolError as exc:
        raise remote(exc, "invalid_data", rid=rid, fatal=False) from None
