"""drachtio: a SIP server with a Rust core and an asyncio API.

This package exposes the SIP message core: :func:`parse` turns bytes into a
:class:`SipRequest` or :class:`SipResponse`, whose typed views (``vias``,
``from_``, ``cseq``...) are parsed from the header values when read.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from drachtio._core import (
    AckEvent,
    AckTimeoutEvent,
    CancelEvent,
    Challenge,
    ClosedEvent,
    ConnectionClosedEvent,
    Credentials,
    CSeq,
    Event,
    MalformedEvent,
    MediaType,
    NameAddr,
    PrackTimeoutEvent,
    RAck,
    RequestEvent,
    ResponseEvent,
    SessionExpires,
    SipMessage,
    SipRequest,
    SipResponse,
    SubscriptionState,
    TimeoutEvent,
    TransportErrorEvent,
    Uri,
    Via,
    from_dict,
    parse,
)
from drachtio.app import Dialog, Srf
from drachtio.errors import (
    ConnectionLost,
    DrachtioError,
    LocalError,
    ParseError,
    RequestFailed,
    SipError,
    StackClosed,
    TransactionFinished,
    UnknownTransaction,
)
from drachtio.server import Server, ServerConfig
from drachtio.stack import SipStack

try:
    __version__ = version("drachtio")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "AckEvent",
    "AckTimeoutEvent",
    "CSeq",
    "CancelEvent",
    "Challenge",
    "ClosedEvent",
    "ConnectionClosedEvent",
    "ConnectionLost",
    "Credentials",
    "Dialog",
    "DrachtioError",
    "Event",
    "LocalError",
    "MalformedEvent",
    "MediaType",
    "NameAddr",
    "ParseError",
    "PrackTimeoutEvent",
    "RAck",
    "RequestEvent",
    "RequestFailed",
    "ResponseEvent",
    "Server",
    "ServerConfig",
    "SessionExpires",
    "SipError",
    "SipMessage",
    "SipRequest",
    "SipResponse",
    "SipStack",
    "Srf",
    "StackClosed",
    "SubscriptionState",
    "TimeoutEvent",
    "TransactionFinished",
    "TransportErrorEvent",
    "UnknownTransaction",
    "Uri",
    "Via",
    "__version__",
    "from_dict",
    "parse",
]
