"""The drachtio-srf wire protocol, sans-IO: framing, messages, dialect sniffing.

The second dialect of the control connection, spoken by node.js applications
built on drachtio-srf 5.x: ``<byte-length>#<msgId>|<type>|<tokens...>``, then,
when the message carries one, CRLF and a raw SIP message (read leniently by
:func:`read_sip_text`: an application's message is often partial).
``docs/srf-protocol.md`` is the specification. Nothing here does I/O:
:class:`ServerConnection` turns bytes into events and messages into bytes.
"""

from __future__ import annotations

from drachtio.srfproto.client_messages import (
    Authenticate,
    CancelRequest,
    ClientMessage,
    NewRequest,
    Ping,
    Proxy,
    RemoveRoute,
    RequestInDialog,
    Route,
    SendResponse,
    parse_client_message,
    start_line,
)
from drachtio.srfproto.connection import (
    CloseConnection,
    Event,
    MessageReceived,
    MessageRejected,
    ProtocolFailed,
    ServerConnection,
)
from drachtio.srfproto.errors import LocalSrfError, RemoteSrfError, SrfErrorCode, SrfProtocolError
from drachtio.srfproto.framing import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameDecoder,
    encode_frame,
    read_length_prefix,
)
from drachtio.srfproto.server_messages import (
    UNSOLICITED,
    CdrEvent,
    CdrKind,
    Reply,
    ServerMessage,
    SipEvent,
    SipMeta,
    Source,
    auth_accepted,
    failure,
    parse_server_message,
    pong,
    proxy_done,
    proxy_response,
    request_sent,
    response_sent,
    stack_time,
    success,
)
from drachtio.srfproto.sip_text import SipText, command_headers, read_sip_text
from drachtio.srfproto.sniff import MAX_SNIFFED_MSG_ID, Dialect, sniff_dialect, sniff_limit

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "MAX_SNIFFED_MSG_ID",
    "UNSOLICITED",
    "Authenticate",
    "CancelRequest",
    "CdrEvent",
    "CdrKind",
    "ClientMessage",
    "CloseConnection",
    "Dialect",
    "Event",
    "FrameDecoder",
    "LocalSrfError",
    "MessageReceived",
    "MessageRejected",
    "NewRequest",
    "Ping",
    "ProtocolFailed",
    "Proxy",
    "RemoteSrfError",
    "RemoveRoute",
    "Reply",
    "RequestInDialog",
    "Route",
    "SendResponse",
    "ServerConnection",
    "ServerMessage",
    "SipEvent",
    "SipMeta",
    "SipText",
    "Source",
    "SrfErrorCode",
    "SrfProtocolError",
    "auth_accepted",
    "command_headers",
    "encode_frame",
    "failure",
    "parse_client_message",
    "parse_server_message",
    "pong",
    "proxy_done",
    "proxy_response",
    "read_length_prefix",
    "read_sip_text",
    "request_sent",
    "response_sent",
    "sniff_dialect",
    "sniff_limit",
    "stack_time",
    "start_line",
    "success",
]
