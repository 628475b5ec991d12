"""The drachtio control protocol, sans-IO: framing, messages, connection state.

Applications and the server talk over one TCP connection (or in-process) with
JSON messages framed as ``<byte-length>#<json>``; ``docs/protocol.md`` is the
specification. Nothing here does I/O: :class:`Connection` turns bytes into
events and messages into bytes, and asyncio adapters move the bytes.
"""

from __future__ import annotations

from drachtio.protocol._checks import JsonObject, SimpleHeaders, SipJson, method_named
from drachtio.protocol.cdr import CDR_VERBS, CallDetailRecord
from drachtio.protocol.commands import (
    CLIENT_COMMANDS,
    SERVER_COMMANDS,
    Auth,
    Cancel,
    CancelSipRequest,
    Command,
    DialogEvent,
    Ping,
    RespondToSipRequest,
    Route,
    SendSipRequest,
    Sip,
    Source,
    Unroute,
    parse_command,
)
from drachtio.protocol.connection import (
    CloseConnection,
    Connection,
    Event,
    ProtocolFailed,
    RequestReceived,
    RequestRejected,
    ResponseReceived,
    Role,
    check_secret,
)
from drachtio.protocol.envelope import (
    Request,
    Response,
    new_rid,
    parse_request,
    parse_response,
    request_rid,
)
from drachtio.protocol.errors import (
    ErrorCode,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from drachtio.protocol.framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, encode_frame
from drachtio.protocol.later import Later
from drachtio.protocol.proxy import BranchReport, ProxyRequest, ProxyResult
from drachtio.protocol.results import (
    AuthResult,
    Failure,
    Pong,
    RespondResult,
    ResponseData,
    SendResult,
    Success,
    parse_response_data,
    response_types,
)

__all__ = [
    "CDR_VERBS",
    "CLIENT_COMMANDS",
    "DEFAULT_MAX_FRAME_SIZE",
    "SERVER_COMMANDS",
    "Auth",
    "AuthResult",
    "BranchReport",
    "CallDetailRecord",
    "Cancel",
    "CancelSipRequest",
    "CloseConnection",
    "Command",
    "Connection",
    "DialogEvent",
    "ErrorCode",
    "Event",
    "Failure",
    "FrameDecoder",
    "JsonObject",
    "Later",
    "LocalProtocolError",
    "Ping",
    "Pong",
    "ProtocolError",
    "ProtocolFailed",
    "ProxyRequest",
    "ProxyResult",
    "RemoteProtocolError",
    "Request",
    "RequestReceived",
    "RequestRejected",
    "RespondResult",
    "RespondToSipRequest",
    "Response",
    "ResponseData",
    "ResponseReceived",
    "Role",
    "Route",
    "SendResult",
    "SendSipRequest",
    "SimpleHeaders",
    "Sip",
    "SipJson",
    "Source",
    "Success",
    "Unroute",
    "check_secret",
    "encode_frame",
    "method_named",
    "new_rid",
    "parse_command",
    "parse_request",
    "parse_response",
    "parse_response_data",
    "request_rid",
    "response_types",
]
