"""Splitting a payload into its leader's tokens and its SIP message, and back."""

from __future__ import annotations

from collections.abc import Sequence

from drachtio.srfproto.errors import LocalSrfError, RemoteSrfError

__all__ = ["CRLF", "check_token", "join_payload", "split_payload"]

CRLF = "\r\n"
_FORBIDDEN = ("|", "\r", "\n")


def split_payload(payload: str) -> tuple[list[str], str | None]:
    """The leader's tokens (split on every ``|``, empty ones kept) and the SIP part.

    The leader ends at the first CRLF; the SIP message is everything after it,
    or ``None`` when the payload has no CRLF.

    Raises:
        RemoteSrfError: ``bad_leader`` (fatal: no msgId can be trusted) when
            the leader holds a CR or LF outside that CRLF, has no type token,
            or starts with an empty msgId.
    """
    end = payload.find(CRLF)
    if end < 0:
        leader, message = payload, None
    else:
        leader, message = payload[:end], payload[end + 2 :]
    tokens = leader.split("|")
    msg_id = tokens[0]
    if "\r" in leader or "\n" in leader:
        raise RemoteSrfError(
            "bad_leader",
            "a CR or LF inside the leader: it must end at the first CRLF",
            msg_id=msg_id or None,
        )
    if not msg_id:
        raise RemoteSrfError("bad_leader", "the message id (first token) is empty")
    if len(tokens) < 2 or not tokens[1]:
        raise RemoteSrfError(
            "bad_leader", f"message {msg_id!r} has no type (second token)", msg_id=msg_id
        )
    return tokens, message


def check_token(value: str, what: str) -> str:
    """``value`` when it can stand as one token; a :class:`LocalSrfError` if not."""
    for char in _FORBIDDEN:
        if char in value:
            raise LocalSrfError("bad_value", f"{what} {value!r} holds {char!r}: not expressible")
    return value


def join_payload(tokens: Sequence[str], message: str | None = None) -> str:
    """The payload of ``tokens`` and an optional SIP message.

    The leader is checked whole (one ``|`` between each two tokens, no CR or
    LF), which costs less than a check per token; only a leader that fails
    is looked at token by token, to name the culprit.

    Raises:
        LocalSrfError: ``bad_value`` when a token holds ``|``, CR or LF.
    """
    leader = "|".join(tokens)
    if leader.count("|") != len(tokens) - 1 or "\r" in leader or "\n" in leader:
        for index, token in enumerate(tokens):
            check_token(token, f"token {index}")
    return leader if message is None else leader + CRLF + message
