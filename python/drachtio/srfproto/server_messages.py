"""The messages a drachtio server sends a drachtio-srf client, typed.

Three types: ``response`` (a :class:`Reply` to a client message), ``sip`` (a
:class:`SipEvent`: a request from the network, a response to the client's
request, an unsolicited BYE) and ``cdr:*`` (a :class:`CdrEvent`). Builders
(:func:`auth_accepted`, :func:`request_sent`, :func:`proxy_response`...) make
the replies whose tokens drachtio-srf reads by position; the token layouts are
in docs/srf-protocol.md. :func:`parse_server_message` reads any of them back.
"""

from __future__ import annotations

import time as _time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from drachtio.srfproto._payload import join_payload, split_payload
from drachtio.srfproto.errors import RemoteSrfError

__all__ = [
    "UNSOLICITED",
    "CdrEvent",
    "CdrKind",
    "Reply",
    "ServerMessage",
    "SipEvent",
    "SipMeta",
    "Source",
    "auth_accepted",
    "failure",
    "parse_server_message",
    "pong",
    "proxy_done",
    "proxy_response",
    "request_sent",
    "response_sent",
    "stack_time",
    "success",
]

UNSOLICITED = "unsolicited"
"""The transaction id of a request the server sent on its own (a BYE after an ACK timeout)."""

Source = Literal["network", "application"]
CdrKind = Literal["attempt", "start", "stop"]
_SOURCES: tuple[Source, ...] = ("network", "application")
_CDR_KINDS: tuple[CdrKind, ...] = ("attempt", "start", "stop")
_MSG_SENT = "Msg sent:"


def stack_time(now: float) -> str:
    """``now`` (seconds since the epoch) as the protocol's ``HH:MM:SS.uuuuuu``, UTC."""
    global _clock_second, _clock_text
    micros = round(now * 1_000_000)
    seconds, micro = divmod(micros, 1_000_000)
    if seconds != _clock_second:
        # Once a second: a server stamps every message it sends.
        clock = _time.gmtime(seconds)
        _clock_second = seconds
        _clock_text = f"{clock.tm_hour:02d}:{clock.tm_min:02d}:{clock.tm_sec:02d}."
    return f"{_clock_text}{micro:06d}"


# The second stack_time formatted last, and its HH:MM:SS. text.
_clock_second = -1
_clock_text = ""


@dataclass(slots=True, frozen=True)
class SipMeta:
    """Where a SIP message went or came from: ``source|bytes|protocol|address|port|time``.

    ``bytes`` is not stored: it is the UTF-8 size of the message it travels with.
    """

    source: Source
    protocol: str
    address: str
    port: int
    time: str

    def tokens(self, message: str) -> list[str]:
        """The six tokens of this record for ``message``."""
        return [
            self.source,
            str(len(message.encode("utf-8"))),
            self.protocol,
            self.address,
            str(self.port),
            self.time,
        ]


@dataclass(slots=True, frozen=True)
class Reply:
    """``response|<answers>|OK|...`` or ``response|<answers>|NOK|<reason>``.

    Attributes:
        answers: the msgId of the client message this replies to.
        ok: ``OK`` (true) or ``NOK``/``NO`` (false).
        tokens: the tokens after the status, as drachtio-srf reads them by position.
        message: the SIP message after the leader, if any.
    """

    TYPE: ClassVar[str] = "response"
    msg_id: str
    answers: str
    ok: bool
    tokens: tuple[str, ...] = ()
    message: str | None = None

    @property
    def continues(self) -> bool:
        """Whether more replies to the same message follow (``continue``, from ``proxy``)."""
        return len(self.tokens) > 8 and self.tokens[8] == "continue"

    @property
    def reason(self) -> str:
        """The first token after the status: the reason of a failure."""
        return self.tokens[0] if self.tokens else ""

    def to_payload(self) -> str:
        tokens = [
            self.msg_id,
            self.TYPE,
            self.answers,
            "OK" if self.ok else "NOK",
        ]
        tokens.extend(self.tokens)
        return join_payload(tokens, self.message)


@dataclass(slots=True, frozen=True)
class SipEvent:
    """``sip|<meta>|<txn>|<dialog id>|[<addr>|<port>|]``: a SIP message for the client.

    Attributes:
        received_on: the local address and port a new network request arrived
            on, or ``None``.
    """

    TYPE: ClassVar[str] = "sip"
    msg_id: str
    meta: SipMeta
    transaction_id: str
    dialog_id: str
    message: str
    received_on: tuple[str, int] | None = None

    def to_payload(self) -> str:
        tokens = [
            self.msg_id,
            self.TYPE,
            *self.meta.tokens(self.message),
            self.transaction_id,
            self.dialog_id,
        ]
        if self.received_on is not None:
            tokens += [self.received_on[0], str(self.received_on[1])]
        # The leader ends with '|': drachtio-srf ignores a sip message of fewer tokens.
        tokens.append("")
        return join_payload(tokens, self.message)


@dataclass(slots=True, frozen=True)
class CdrEvent:
    """``cdr:<kind>|<source>|<time>[|<role or reason>]``: a call detail record.

    Attributes:
        detail: the agent role of ``start`` (``uac``, ``uas``, ``proxy-uac``,
            ``proxy-uas``), the termination reason of ``stop``; ``None`` for
            ``attempt``.
    """

    msg_id: str
    kind: CdrKind
    source: Source
    time: str
    message: str
    detail: str | None = None

    def to_payload(self) -> str:
        tokens = [
            self.msg_id,
            f"cdr:{self.kind}",
            self.source,
            self.time,
        ]
        if self.detail is not None:
            tokens.append(self.detail)
        return join_payload(tokens, self.message)


ServerMessage = Reply | SipEvent | CdrEvent
"""Every message a drachtio server sends a drachtio-srf client."""


# ------------------------------------------------------------------ builders


def success(msg_id: str, answers: str, *tokens: str, message: str | None = None) -> Reply:
    """``OK`` with ``tokens`` (the plain reply to ``route`` and ``remove_route``)."""
    return Reply(msg_id, answers, True, tokens, message)


def failure(msg_id: str, answers: str, reason: str) -> Reply:
    """``NOK|<reason>``; CR, LF and ``|`` in ``reason`` become spaces."""
    clean = reason.replace("|", " ").replace("\r", " ").replace("\n", " ")
    return Reply(msg_id, answers, False, (clean,))


def auth_accepted(
    msg_id: str,
    answers: str,
    hostports: Sequence[str],
    version: str,
    local_hostports: Sequence[str],
) -> Reply:
    """``OK|<hostports>|<version>|<local hostports>``, each list comma-joined.

    ``version`` should read ``v<major>.<minor>.<patch>`` and be at least
    ``v0.8.2``, or drachtio-srf does not start its keep-alive pings.
    """
    return Reply(msg_id, answers, True, (",".join(hostports), version, ",".join(local_hostports)))


def pong(msg_id: str, answers: str) -> Reply:
    """``OK|pong``, the reply to ``ping``."""
    return Reply(msg_id, answers, True, ("pong",))


def request_sent(
    msg_id: str, answers: str, meta: SipMeta, transaction_id: str, message: str
) -> Reply:
    """``OK|<meta>|<txn>|Msg sent:|`` and the request as sent (token 7 is the txn)."""
    tokens = (*meta.tokens(message), transaction_id, _MSG_SENT, "")
    return Reply(msg_id, answers, True, tokens, message)


def response_sent(
    msg_id: str, answers: str, meta: SipMeta, transaction_id: str, dialog_id: str, message: str
) -> Reply:
    """``OK|<meta>|<txn>|<dialog id>||Msg sent:|`` and the response as sent."""
    tokens = (*meta.tokens(message), transaction_id, dialog_id, "", _MSG_SENT, "")
    return Reply(msg_id, answers, True, tokens, message)


def proxy_response(msg_id: str, answers: str, meta: SipMeta, message: str) -> Reply:
    """``OK|<meta>|||continue`` and a target's final response; more replies follow."""
    return Reply(msg_id, answers, True, (*meta.tokens(message), "", "", "continue"), message)


def proxy_done(msg_id: str, answers: str) -> Reply:
    """``OK|done``: the proxy operation is over."""
    return Reply(msg_id, answers, True, ("done",))


# ------------------------------------------------------------------ parsing


def parse_server_message(payload: str) -> ServerMessage:
    """The typed message of a payload a drachtio server sent.

    Raises:
        RemoteSrfError: ``bad_leader``, ``unknown_type``, ``bad_token`` or
            ``missing_sip_message`` (fatal: a client has nobody to answer).
    """
    tokens, message = split_payload(payload)
    msg_id, kind = tokens[0], tokens[1]
    if kind == "response":
        if len(tokens) < 4 or not tokens[2]:
            raise RemoteSrfError(
                "bad_leader", "response: no msgId answered or no status", msg_id=msg_id
            )
        status = tokens[3]
        if status not in ("OK", "NOK", "NO"):
            raise RemoteSrfError("bad_token", f"response: status {status!r}", msg_id=msg_id)
        return Reply(msg_id, tokens[2], status == "OK", tuple(tokens[4:]), message)
    if kind == "sip":
        return _parse_sip_event(msg_id, tokens, message)
    if kind.startswith("cdr:"):
        return _parse_cdr(msg_id, tokens, message)
    raise RemoteSrfError("unknown_type", f"unknown message type {kind!r}", msg_id=msg_id)


def _source(msg_id: str, value: str) -> Source:
    for source in _SOURCES:
        if value == source:
            return source
    raise RemoteSrfError(
        "bad_token", f"source {value!r}, expected network or application", msg_id=msg_id
    )


def _port(msg_id: str, value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) > 65535:
        raise RemoteSrfError("bad_token", f"port {value!r} is not a port number", msg_id=msg_id)
    return int(value)


def _parse_sip_event(msg_id: str, tokens: list[str], message: str | None) -> SipEvent:
    if len(tokens) not in (11, 13) or tokens[-1]:
        raise RemoteSrfError(
            "bad_leader",
            f"sip: {len(tokens)} tokens, expected 11 or 13 ending with an empty one",
            msg_id=msg_id,
        )
    if message is None:
        raise RemoteSrfError("missing_sip_message", "sip: no SIP message", msg_id=msg_id)
    meta = SipMeta(
        _source(msg_id, tokens[2]), tokens[4], tokens[5], _port(msg_id, tokens[6]), tokens[7]
    )
    received_on = (tokens[10], _port(msg_id, tokens[11])) if len(tokens) == 13 else None
    return SipEvent(msg_id, meta, tokens[8], tokens[9], message, received_on)


def _parse_cdr(msg_id: str, tokens: list[str], message: str | None) -> CdrEvent:
    name = tokens[1][4:]
    kind = next((k for k in _CDR_KINDS if k == name), None)
    if kind is None:
        raise RemoteSrfError("unknown_type", f"unknown CDR kind {name!r}", msg_id=msg_id)
    expected = 4 if kind == "attempt" else 5
    if len(tokens) != expected:
        raise RemoteSrfError(
            "bad_leader", f"cdr:{kind}: {len(tokens)} tokens, expected {expected}", msg_id=msg_id
        )
    if message is None:
        raise RemoteSrfError("missing_sip_message", f"cdr:{kind}: no SIP message", msg_id=msg_id)
    detail = tokens[4] if kind != "attempt" else None
    return CdrEvent(msg_id, kind, _source(msg_id, tokens[2]), tokens[3], message, detail)
