"""drachtio: a SIP server with a Rust core and an asyncio API.

This package exposes the SIP message core: :func:`parse` turns bytes into a
:class:`SipRequest` or :class:`SipResponse`, whose typed views (``vias``,
``from_``, ``cseq``...) are parsed from the header values when read.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from drachtio._core import (
    Challenge,
    Credentials,
    CSeq,
    Event,
    MediaType,
    NameAddr,
    RAck,
    SessionExpires,
    SipMessage,
    SipRequest,
    SipResponse,
    SubscriptionState,
    Uri,
    Via,
    from_dict,
    parse,
)
from drachtio.errors import DrachtioError, ParseError

try:
    __version__ = version("drachtio")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "CSeq",
    "Challenge",
    "Credentials",
    "DrachtioError",
    "Event",
    "MediaType",
    "NameAddr",
    "ParseError",
    "RAck",
    "SessionExpires",
    "SipMessage",
    "SipRequest",
    "SipResponse",
    "SubscriptionState",
    "Uri",
    "Via",
    "__version__",
    "from_dict",
    "parse",
]
