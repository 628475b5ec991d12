"""The messages a drachtio-srf client sends, typed, with their parser.

Each message knows its payload (:meth:`to_payload`); :func:`parse_client_message`
turns a payload back into the message, so that
``parse_client_message(m.to_payload()) == m``. Token layouts are in
docs/srf-protocol.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from drachtio.srfproto._payload import check_token, join_payload, split_payload
from drachtio.srfproto.errors import LocalSrfError, RemoteSrfError, SrfErrorCode
from drachtio.tags import is_tag

__all__ = [
    "Authenticate",
    "CancelRequest",
    "ClientMessage",
    "NewRequest",
    "Ping",
    "Proxy",
    "RemoveRoute",
    "RequestInDialog",
    "Route",
    "SendResponse",
    "duration_seconds",
    "parse_client_message",
    "start_line",
]

# RFC 3261 token characters, for a method name.
_METHOD = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
# A proxy timeout as drachtio-server reads it: a number of seconds or of milliseconds.
_DURATION = re.compile(r"([0-9]{1,9})(ms|s)")


def start_line(message: str) -> str:
    """The first line of a SIP message."""
    end = message.find("\r\n")
    return message if end < 0 else message[:end]


@dataclass(slots=True, frozen=True)
class Authenticate:
    """``authenticate|<secret>|<tags>``: always the first message."""

    TYPE: ClassVar[str] = "authenticate"
    msg_id: str
    secret: str
    tags: tuple[str, ...] = ()

    def to_payload(self) -> str:
        for tag in self.tags:
            if not is_tag(tag):
                raise LocalSrfError("bad_value", f"tag {tag!r} is empty or holds ',', '|' or CR/LF")
        tags = ",".join(self.tags)
        secret = check_token(self.secret, "secret")
        return join_payload((check_token(self.msg_id, "msg_id"), self.TYPE, secret, tags))


@dataclass(slots=True, frozen=True)
class _VerbMessage:
    """A message whose one token is a verb: a lower-case method or a ``cdr:*`` kind."""

    TYPE: ClassVar[str]
    msg_id: str
    verb: str

    def to_payload(self) -> str:
        verb = check_token(self.verb, "verb")
        return join_payload((check_token(self.msg_id, "msg_id"), self.TYPE, verb))


@dataclass(slots=True, frozen=True)
class Route(_VerbMessage):
    """``route|<verb>``: send new requests of this method (or CDRs of this kind)."""

    TYPE: ClassVar[str] = "route"


@dataclass(slots=True, frozen=True)
class RemoveRoute(_VerbMessage):
    """``remove_route|<verb>``: stop sending requests of this method."""

    TYPE: ClassVar[str] = "remove_route"


@dataclass(slots=True, frozen=True)
class Ping:
    """``ping``: a keep-alive, answered ``OK|pong``."""

    TYPE: ClassVar[str] = "ping"
    msg_id: str

    def to_payload(self) -> str:
        return join_payload((check_token(self.msg_id, "msg_id"), self.TYPE))


@dataclass(slots=True, frozen=True)
class SendResponse:
    """``sip|<txn>|<dialog id>`` with a status line: answer a network request."""

    TYPE: ClassVar[str] = "sip"
    msg_id: str
    transaction_id: str
    message: str
    dialog_id: str = ""

    def to_payload(self) -> str:
        return _sip_payload(self.msg_id, self.transaction_id, self.dialog_id, None, self.message)


@dataclass(slots=True, frozen=True)
class RequestInDialog:
    """``sip|<txn>|<dialog id>`` with a request: a request inside a dialog (ACK, PRACK...)."""

    TYPE: ClassVar[str] = "sip"
    msg_id: str
    dialog_id: str
    message: str
    transaction_id: str = ""

    @property
    def method(self) -> str:
        """The request's method."""
        return start_line(self.message).split(" ", 1)[0]

    def to_payload(self) -> str:
        return _sip_payload(self.msg_id, self.transaction_id, self.dialog_id, None, self.message)


@dataclass(slots=True, frozen=True)
class CancelRequest:
    """``sip|<txn>|`` with a CANCEL: cancel the application's request of ``transaction_id``."""

    TYPE: ClassVar[str] = "sip"
    msg_id: str
    transaction_id: str
    message: str

    def to_payload(self) -> str:
        return _sip_payload(self.msg_id, self.transaction_id, "", None, self.message)


@dataclass(slots=True, frozen=True)
class NewRequest:
    """``sip||[|<proxy>]`` with a partial request: a new request outside any dialog.

    Attributes:
        message: the request as the application wrote it; the server completes
            it (Via, From tag, Call-ID, CSeq, Contact, Content-Length...).
        proxy: the SIP URI of an outbound proxy for this request only, or ``None``.
    """

    TYPE: ClassVar[str] = "sip"
    msg_id: str
    message: str
    proxy: str | None = None

    @property
    def method(self) -> str:
        """The request's method."""
        return start_line(self.message).split(" ", 1)[0]

    def to_payload(self) -> str:
        return _sip_payload(self.msg_id, "", "", self.proxy, self.message)


@dataclass(slots=True, frozen=True)
class Proxy:
    """``proxy|...``: proxy the network request of ``transaction_id`` to ``destinations``.

    Attributes:
        provisional_timeout: ``""`` (the server's default) or a duration such
            as ``2s`` or ``500ms``; likewise ``final_timeout``. Zero means
            none, as an empty token does.
        message: ``<METHOD> <first destination> SIP/2.0`` and the headers to
            add to the proxied request.
    """

    TYPE: ClassVar[str] = "proxy"
    msg_id: str
    transaction_id: str
    destinations: tuple[str, ...]
    message: str
    record_route: bool = False
    full_response: bool = False
    follow_redirects: bool = False
    simultaneous: bool = False
    provisional_timeout: str = ""
    final_timeout: str = ""

    @property
    def provisional_seconds(self) -> float | None:
        """:attr:`provisional_timeout` in seconds; ``None`` for none."""
        return duration_seconds(self.provisional_timeout)

    @property
    def final_seconds(self) -> float | None:
        """:attr:`final_timeout` in seconds; ``None`` for none."""
        return duration_seconds(self.final_timeout)

    def to_payload(self) -> str:
        tokens = [
            check_token(self.msg_id, "msg_id"),
            self.TYPE,
            check_token(self.transaction_id, "transaction_id"),
            "remainInDialog" if self.record_route else "",
            "fullResponse" if self.full_response else "",
            "followRedirects" if self.follow_redirects else "",
            "simultaneous" if self.simultaneous else "serial",
            check_token(self.provisional_timeout, "provisional_timeout"),
            check_token(self.final_timeout, "final_timeout"),
        ]
        tokens.extend(check_token(d, "destination") for d in self.destinations)
        return join_payload(tokens, self.message)


def duration_seconds(value: str) -> float | None:
    """A proxy timeout (``2s``, ``500ms``) in seconds; ``None`` for ``""`` or zero.

    Raises:
        ValueError: ``value`` is not such a duration.
    """
    if not value:
        return None
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a duration like 2s or 500ms")
    number = int(match[1])
    if number == 0:
        return None
    return number / 1000 if match[2] == "ms" else float(number)


ClientMessage = (
    Authenticate
    | Route
    | RemoveRoute
    | Ping
    | SendResponse
    | RequestInDialog
    | CancelRequest
    | NewRequest
    | Proxy
)
"""Every message a drachtio-srf client sends."""


def _sip_payload(
    msg_id: str, transaction_id: str, dialog_id: str, proxy: str | None, message: str
) -> str:
    tokens = [
        check_token(msg_id, "msg_id"),
        "sip",
        check_token(transaction_id, "transaction_id"),
        check_token(dialog_id, "dialog_id"),
    ]
    if proxy is not None:
        tokens.append(check_token(proxy, "proxy"))
    return join_payload(tokens, message)


def parse_client_message(payload: str) -> ClientMessage:
    """The typed message of a payload a drachtio-srf client sent.

    Raises:
        RemoteSrfError: ``bad_leader`` (fatal when no msgId could be read),
            ``unknown_type``, ``bad_token``, ``missing_sip_message`` or
            ``bad_sip_message``; all but the fatal ones carry ``msg_id`` and
            are answered ``NOK|<reason>``.
    """
    tokens, message = split_payload(payload)
    msg_id, kind = tokens[0], tokens[1]
    parser = _PARSERS.get(kind)
    if parser is None:
        raise RemoteSrfError(
            "unknown_type",
            f"unknown message type {kind!r}: a client sends authenticate, route, "
            "remove_route, ping, sip or proxy",
            msg_id=msg_id,
            fatal=False,
        )
    return parser(msg_id, tokens, message)


def _error(code: SrfErrorCode, message: str, msg_id: str) -> RemoteSrfError:
    return RemoteSrfError(code, message, msg_id=msg_id, fatal=False)


def _arity(msg_id: str, tokens: list[str], low: int, high: int, layout: str) -> None:
    if not low <= len(tokens) <= high:
        raise _error(
            "bad_leader",
            f"{tokens[1]}: {len(tokens) - 2} tokens after the type, expected {layout}",
            msg_id,
        )


def _parse_authenticate(msg_id: str, tokens: list[str], message: str | None) -> ClientMessage:
    _arity(msg_id, tokens, 3, 4, "<secret>|<tags>")
    tags = tuple(t for t in tokens[3].split(",") if t) if len(tokens) == 4 else ()
    return Authenticate(msg_id, tokens[2], tags)


def _parse_verb(msg_id: str, tokens: list[str], message: str | None) -> ClientMessage:
    _arity(msg_id, tokens, 3, 3, "<verb>")
    verb = tokens[2]
    if not verb:
        raise _error("bad_token", f"{tokens[1]}: the verb is empty", msg_id)
    return Route(msg_id, verb) if tokens[1] == "route" else RemoveRoute(msg_id, verb)


def _parse_ping(msg_id: str, tokens: list[str], message: str | None) -> ClientMessage:
    _arity(msg_id, tokens, 2, 2, "nothing")
    return Ping(msg_id)


def _require_message(msg_id: str, kind: str, message: str | None) -> str:
    if not message:
        raise _error("missing_sip_message", f"{kind}: no SIP message after the leader", msg_id)
    return message


def _parse_sip(msg_id: str, tokens: list[str], message: str | None) -> ClientMessage:
    _arity(msg_id, tokens, 4, 5, "<transaction id>|<dialog id>[|<outbound proxy>]")
    text = _require_message(msg_id, "sip", message)
    txn, dialog = tokens[2], tokens[3]
    proxy = tokens[4] or None if len(tokens) == 5 else None
    line = start_line(text)
    if line.startswith("SIP/"):
        if not txn:
            raise _error(
                "bad_token", "sip: a response needs the transaction id of its request", msg_id
            )
        if proxy is not None:
            raise _error("bad_token", "sip: an outbound proxy is for new requests only", msg_id)
        return SendResponse(msg_id, txn, text, dialog)
    method = _request_method(msg_id, line)
    if dialog:
        if proxy is not None:
            raise _error("bad_token", "sip: an outbound proxy is for new requests only", msg_id)
        return RequestInDialog(msg_id, dialog, text, txn)
    if txn:
        if method != "CANCEL":
            raise _error(
                "bad_token",
                f"sip: {method} with a transaction id and no dialog id; "
                "only CANCEL names a transaction",
                msg_id,
            )
        if proxy is not None:
            raise _error("bad_token", "sip: an outbound proxy is for new requests only", msg_id)
        return CancelRequest(msg_id, txn, text)
    return NewRequest(msg_id, text, proxy)


def _request_method(msg_id: str, line: str) -> str:
    parts = line.split(" ")
    if len(parts) != 3 or not parts[1] or not parts[2].startswith("SIP/"):
        raise _error(
            "bad_sip_message",
            f"sip: start line {line[:80]!r} is neither 'SIP/2.0 <code> <reason>' "
            "nor '<METHOD> <uri> SIP/2.0'",
            msg_id,
        )
    if _METHOD.fullmatch(parts[0]) is None:
        raise _error("bad_sip_message", f"sip: {parts[0][:40]!r} is not a method name", msg_id)
    return parts[0]


def _flag(msg_id: str, value: str, word: str) -> bool:
    if value not in ("", word):
        raise _error("bad_token", f"proxy: {value!r} where {word!r} or nothing belongs", msg_id)
    return value == word


def _parse_proxy(msg_id: str, tokens: list[str], message: str | None) -> ClientMessage:
    if len(tokens) < 10:
        raise _error(
            "bad_leader",
            f"proxy: {len(tokens) - 2} tokens after the type, expected at least 8 "
            "(transaction id, 3 flags, forking, 2 timeouts, a destination)",
            msg_id,
        )
    text = _require_message(msg_id, "proxy", message)
    txn = tokens[2]
    if not txn:
        raise _error("bad_token", "proxy: the transaction id is empty", msg_id)
    forking = tokens[6]
    if forking not in ("", "serial", "simultaneous"):
        raise _error(
            "bad_token", f"proxy: forking {forking!r}, expected 'serial' or 'simultaneous'", msg_id
        )
    for name, value in (("provisional", tokens[7]), ("final", tokens[8])):
        if value and _DURATION.fullmatch(value) is None:
            raise _error(
                "bad_token",
                f"proxy: {name} timeout {value!r} is not a duration like 2s or 500ms",
                msg_id,
            )
    destinations = tuple(tokens[9:])
    if not all(destinations):
        raise _error("bad_token", "proxy: an empty destination", msg_id)
    return Proxy(
        msg_id,
        txn,
        destinations,
        text,
        record_route=_flag(msg_id, tokens[3], "remainInDialog"),
        full_response=_flag(msg_id, tokens[4], "fullResponse"),
        follow_redirects=_flag(msg_id, tokens[5], "followRedirects"),
        simultaneous=forking == "simultaneous",
        provisional_timeout=tokens[7],
        final_timeout=tokens[8],
    )


_PARSERS = {
    "authenticate": _parse_authenticate,
    "route": _parse_verb,
    "remove_route": _parse_verb,
    "ping": _parse_ping,
    "sip": _parse_sip,
    "proxy": _parse_proxy,
}
