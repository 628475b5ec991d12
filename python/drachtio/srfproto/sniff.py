"""Which dialect a control connection speaks, from the first bytes of its first frame.

Both dialects frame as ``<byte-length>#<payload>``. A JSON client's first
payload is an object, ``{...``; a drachtio-srf client's is always
``<msgId>|authenticate|...``. :func:`sniff_dialect` looks at no more than the
length prefix and :func:`sniff_limit` payload bytes, and consumes nothing: the
caller hands the same bytes to the chosen dialect's decoder.
"""

from __future__ import annotations

import enum

from drachtio.srfproto.errors import RemoteSrfError
from drachtio.srfproto.framing import DEFAULT_MAX_FRAME_SIZE, read_length_prefix

__all__ = ["MAX_SNIFFED_MSG_ID", "Dialect", "sniff_dialect", "sniff_limit"]

MAX_SNIFFED_MSG_ID = 128
"""The longest msgId the sniffer waits for (drachtio-srf sends 36-character UUIDs)."""

_JSON_WHITESPACE = b" \t\r\n"
_AUTHENTICATE = b"authenticate|"


class Dialect(enum.Enum):
    """The two dialects of the control connection."""

    JSON = "json"
    """The JSON control protocol (docs/protocol.md)."""
    SRF = "srf"
    """The drachtio-srf wire protocol (docs/srf-protocol.md)."""


def sniff_limit(max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> int:
    """The most bytes :func:`sniff_dialect` needs before it decides.

    The longest prefix with its ``#``, a msgId of :data:`MAX_SNIFFED_MSG_ID`
    bytes, its ``|`` and ``authenticate|``. A JSON first frame is decided on
    its first payload byte that is not whitespace.
    """
    return len(str(max_frame_size)) + 1 + MAX_SNIFFED_MSG_ID + 1 + len(_AUTHENTICATE)


def sniff_dialect(data: bytes, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> Dialect | None:
    """The dialect of the connection whose first received bytes are ``data``.

    Returns ``None`` while ``data`` is too short to tell; it never needs more
    than :func:`sniff_limit` bytes (JSON whitespace before the ``{`` aside).

    Raises:
        RemoteSrfError: a framing error of the prefix (``bad_length_prefix``,
            ``length_prefix_too_long``, ``frame_too_large``), or
            ``not_a_dialect`` when the first frame is neither a JSON object
            nor a drachtio-srf ``authenticate``. All fatal.
    """
    found = read_length_prefix(data, max_frame_size)
    if found is None:
        return None
    length, start = found
    payload = data[start : start + length]
    complete = len(payload) == length
    body = payload.lstrip(_JSON_WHITESPACE)
    if not body:
        if complete:
            raise RemoteSrfError("not_a_dialect", "the first frame holds only whitespace")
        return None
    if body[:1] == b"{":
        return Dialect.JSON
    # Whitespace may also start a msgId: only the leader decides now.
    return _sniff_authenticate(payload, complete)


def _sniff_authenticate(payload: bytes, complete: bool) -> Dialect | None:
    bar = payload.find(b"|", 0, MAX_SNIFFED_MSG_ID + 1)
    if bar < 0:
        if complete or len(payload) > MAX_SNIFFED_MSG_ID:
            raise RemoteSrfError(
                "not_a_dialect",
                f"the first frame is not a JSON object and has no '|' in its first "
                f"{min(len(payload), MAX_SNIFFED_MSG_ID + 1)} bytes: neither dialect",
            )
        return None
    if bar == 0:
        raise RemoteSrfError("not_a_dialect", "the first frame starts with '|': the msgId is empty")
    kind = payload[bar + 1 : bar + 1 + len(_AUTHENTICATE)]
    if _AUTHENTICATE.startswith(kind):
        if len(kind) == len(_AUTHENTICATE) or (complete and kind == _AUTHENTICATE[:-1]):
            return Dialect.SRF
        if not complete:
            return None
    shown = kind.split(b"|", 1)[0].decode("utf-8", "replace")
    raise RemoteSrfError(
        "not_a_dialect",
        f"the first frame is not a JSON object nor a drachtio-srf authenticate "
        f"(message type {shown!r})",
    )
