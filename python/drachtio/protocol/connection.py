"""The control protocol as a sans-IO state machine, one per connection side.

:class:`Connection` turns received bytes into events and messages to send
into bytes; it never touches a socket or a clock (the websockets / h11
model). It enforces what both sides must obey:

- every request gets exactly one response with its ``rid``, in both
  directions: a response to an unknown rid or a second request with a rid
  still pending is a fatal protocol error;
- ``auth`` first: on a server, any other request first is answered with a
  failure and the connection closes; a failed ``auth`` is answered
  ``{authenticated: false, reason}`` and the connection closes;
- nothing runs before the client is authenticated: a client may send
  requests right after ``auth``, without waiting for its answer, and a
  server reads them only once it has sent that answer (:attr:`paused`), in
  the order sent; after a refusal it never reads them.

Whether a secret is right is the caller's decision (see :func:`check_secret`):
a server receives :class:`RequestReceived` for ``auth``, checks the secret and
sends an :class:`~drachtio.protocol.results.AuthResult`; the connection
follows what was sent.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from drachtio.protocol.commands import CLIENT_COMMANDS, SERVER_COMMANDS
from drachtio.protocol.envelope import (
    Request,
    Response,
    parse_request_with_rid,
    parse_response,
    request_rid,
    trusted_response,
)
from drachtio.protocol.errors import LocalProtocolError, RemoteProtocolError
from drachtio.protocol.framing import DEFAULT_MAX_FRAME_SIZE, FrameDecoder, encode_frame
from drachtio.protocol.results import (
    RESPONSE_TYPES,
    SUCCESS,
    AuthResult,
    Failure,
    parse_response_data,
    response_types,
)

__all__ = [
    "CloseConnection",
    "Connection",
    "Event",
    "ProtocolFailed",
    "RequestReceived",
    "RequestRejected",
    "ResponseReceived",
    "Role",
    "check_secret",
]


def check_secret(given: str, secrets: Sequence[str]) -> bool:
    """Whether ``given`` equals one of the configured ``secrets``, in constant time.

    Every secret is compared (so the time does not tell which one matched, or
    whether any did), and the comparison runs over SHA-256 digests so that it
    does not depend on the secrets' lengths either. Several secrets allow
    rotation: configure the new one beside the old until every client moved.
    """
    given_digest = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    matched = False
    for secret in secrets:
        digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
        matched |= hmac.compare_digest(given_digest, digest)
    return matched


class Role(enum.Enum):
    """Which end of the control connection a :class:`Connection` plays."""

    CLIENT = "client"
    SERVER = "server"


@dataclass(slots=True, frozen=True)
class RequestReceived:
    """The peer sent a valid request; answer it with :meth:`Connection.send`."""

    request: Request


@dataclass(slots=True, frozen=True)
class RequestRejected:
    """The peer sent a request this side refuses (unknown command, invalid data).

    The connection stays open: send ``response`` (a failure with the rid)
    with :meth:`Connection.send`.
    """

    rid: str
    command: str | None
    error: RemoteProtocolError
    response: Response


@dataclass(slots=True, frozen=True)
class ResponseReceived:
    """The peer answered ``request``, one this side sent."""

    response: Response
    request: Request


@dataclass(slots=True, frozen=True)
class ProtocolFailed:
    """The peer broke the protocol; the connection must close.

    The events before this one came from what the peer sent before the
    violation: handle them, and answer their requests, as usual. Then send
    ``response`` when it is not ``None``: it tells the peer what went wrong
    (``rid`` is the offending request's, or ``None``), and once it is sent
    the connection is :attr:`~Connection.closing`. A :class:`CloseConnection`
    event follows.
    """

    error: RemoteProtocolError
    response: Response | None


@dataclass(slots=True, frozen=True)
class CloseConnection:
    """Close the transport once pending bytes are written; always the last event."""

    reason: str


Event = RequestReceived | RequestRejected | ResponseReceived | ProtocolFailed | CloseConnection


class _Auth(enum.Enum):
    NONE = "none"
    PENDING = "pending"
    DONE = "done"


class Connection:
    """One side of a control connection (sans-IO).

    Feed received bytes to :meth:`receive_data` and act on the events; turn
    each message to send into bytes with :meth:`send`. When :attr:`closing`
    becomes true, write what :meth:`send` returned and close the transport.

    After a protocol violation the connection is closing once the failure
    response of :class:`ProtocolFailed` is sent (at once when it has none),
    so that the responses to the requests received before the violation can
    go out first.

    On a server, reading pauses after an ``auth`` request (:attr:`paused`):
    answer it, then, if the client was accepted, call ``receive_data(b"")``
    for the requests the client sent after it.
    """

    def __init__(self, role: Role, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.role = role
        self.max_frame_size = max_frame_size
        self.closing = False
        self._decoder = FrameDecoder(max_frame_size)
        if role is Role.SERVER:
            self._accepts, self._sends = CLIENT_COMMANDS, SERVER_COMMANDS
        else:
            self._accepts, self._sends = SERVER_COMMANDS, CLIENT_COMMANDS
        self._auth = _Auth.NONE
        # The peer broke the protocol: nothing more is read or requested, and
        # the connection is closing once this failure response is sent.
        self._failed = False
        self._final: Response | None = None
        # From an auth request received until its answer is sent (server).
        self._paused = False
        # Our requests waiting for the peer's response, by rid.
        self._sent: dict[str, Request] = {}
        # The peer's requests waiting for our response: rid -> command.
        self._received: dict[str, str] = {}

    def __repr__(self) -> str:
        return (
            f"<Connection {self.role.value} auth={self._auth.value} "
            f"sent={len(self._sent)} received={len(self._received)}"
            f"{' closing' if self.closing else ''}>"
        )

    @property
    def authenticated(self) -> bool:
        """Whether ``auth`` succeeded on this connection."""
        return self._auth is _Auth.DONE

    @property
    def paused(self) -> bool:
        """Whether received bytes are held unread until the ``auth`` request is answered.

        True on a server from an ``auth`` request until its answer is sent,
        so that no request runs before the client is authenticated. Bytes
        received meanwhile, at most ``max_frame_size``, wait in order; once
        the answer has accepted the client, ``receive_data(b"")`` reads
        them. After a refusal the connection is closing and they are never
        read.
        """
        return self._paused

    @property
    def pending_count(self) -> int:
        """How many requests this side sent that have no response yet."""
        return len(self._sent)

    @property
    def pending_requests(self) -> list[Request]:
        """The requests this side sent that have no response yet, oldest first."""
        return list(self._sent.values())

    @property
    def unanswered_rids(self) -> list[str]:
        """The rids of the peer's requests this side has not answered yet."""
        return list(self._received)

    # ------------------------------------------------------------ receiving

    def receive_data(self, data: bytes) -> list[Event]:
        """Process bytes from the peer; return what happened, in order.

        A protocol violation ends the list with :class:`ProtocolFailed` and
        :class:`CloseConnection`; bytes after the violation are ignored.
        While :attr:`paused`, ``data`` is only kept; the list ends with the
        ``auth`` request that pauses reading.

        Raises:
            LocalProtocolError: when the connection is already closing, or
                failed (a :class:`ProtocolFailed` was returned).
        """
        if self.closing or self._failed:
            raise LocalProtocolError("connection_closed", "the connection is closing")
        events: list[Event] = []
        decoder = self._decoder
        try:
            # The decoder without its generator: one call per frame.
            decoder.feed(data)
            if self._paused:
                if decoder.buffered > self.max_frame_size:
                    raise RemoteProtocolError(
                        "frame_too_large",
                        f"more than {self.max_frame_size} bytes sent after auth before its answer",
                    )
                return events
            while (obj := decoder.next_frame()) is not None:
                kind = obj.get("type")
                if kind == "response":
                    self._handle_response(obj, events)
                elif kind == "request":
                    self._handle_request(obj, events)
                else:
                    _bad_type(kind)
                if self.closing or self._failed or self._paused:
                    break
        except RemoteProtocolError as exc:
            self._fail(events, exc, self._error_response(exc))
        return events

    def receive_eof(self) -> list[Event]:
        """The peer closed its side; return the final :class:`CloseConnection`."""
        self.closing = True
        if self._paused:
            reason = "peer closed the connection before its auth was answered"
        elif self._decoder.buffered:
            reason = f"peer closed the connection inside a frame ({self._decoder.buffered} bytes)"
        else:
            reason = "peer closed the connection"
        return [CloseConnection(reason)]

    def _handle_request(self, obj: dict[str, Any], events: list[Event]) -> None:
        rid = request_rid(obj)
        if rid in self._received:
            raise RemoteProtocolError(
                "duplicate_rid", f"rid {rid!r} is already pending", path="rid"
            )
        raw_command = obj.get("command")
        command = raw_command if isinstance(raw_command, str) else None
        self._received[rid] = command if command is not None else ""

        if self._auth is not _Auth.DONE:
            self._gate_before_auth(obj, rid, command, events)
            return
        try:
            request = parse_request_with_rid(obj, rid, self._accepts)
        except RemoteProtocolError as exc:
            if exc.fatal:
                raise
            self._reject(rid, command, exc, events)
            return
        if command == "auth":
            error = RemoteProtocolError(
                "already_authenticated",
                "auth: this connection is already authenticated",
                rid=rid,
                fatal=False,
            )
            self._reject(rid, command, error, events)
            return
        events.append(RequestReceived(request))

    def _gate_before_auth(
        self, obj: dict[str, Any], rid: str, command: str | None, events: list[Event]
    ) -> None:
        if self.role is Role.CLIENT:
            raise RemoteProtocolError(
                "not_authenticated",
                f"the server sent {command!r} before authentication completed",
                rid=rid,
            )
        # Reading pauses from an auth request until it is answered: a request
        # that gets here on a server before a successful auth is the first one.
        if command != "auth":
            raise RemoteProtocolError(
                "not_authenticated",
                f"{command!r} before a successful auth: auth must be the first request",
                rid=rid,
            )
        try:
            request = parse_request_with_rid(obj, rid, self._accepts)
        except RemoteProtocolError as exc:
            error = RemoteProtocolError(exc.code, exc.message, path=exc.path, rid=rid)
            self._fail(events, error, Response(rid, AuthResult(False, reason=exc.message)))
            return
        self._auth = _Auth.PENDING
        self._paused = True
        events.append(RequestReceived(request))

    def _reject(
        self, rid: str, command: str | None, error: RemoteProtocolError, events: list[Event]
    ) -> None:
        response = Response(rid, Failure(error.message, error.code))
        events.append(RequestRejected(rid, command, error, response))

    def _handle_response(self, obj: dict[str, Any], events: list[Event]) -> None:
        rid = obj.get("rid")
        if not isinstance(rid, str):
            # parse_response raises a bad envelope unless the rid is null: the
            # peer reports a protocol error before it closes the connection.
            failure = parse_response(obj, None).data
            assert isinstance(failure, Failure)
            code = f" ({failure.error})" if failure.error else ""
            raise RemoteProtocolError(
                "peer_error", f"the peer reported a protocol error{code}: {failure.reason}"
            )
        request = self._sent.get(rid)
        if request is None:
            raise RemoteProtocolError(
                "unknown_rid", f"response to rid {rid!r}, which has no pending request", path="rid"
            )
        command = request.data.COMMAND
        data = obj.get("data")
        if type(data) is dict:
            # As parse_response reads it, without checking the rid (one of
            # ours) and the data's kind again; the answer to most requests
            # (every sip, cancel and dialog) without parsing it.
            if data.get("success") is True and command not in RESPONSE_TYPES:
                response = trusted_response(rid, SUCCESS)
            else:
                response = trusted_response(rid, parse_response_data(command, data))
        else:
            response = parse_response(obj, command)
        del self._sent[rid]
        events.append(ResponseReceived(response, request))
        if command == "auth":
            result = response.data
            if isinstance(result, AuthResult) and result.authenticated:
                self._auth = _Auth.DONE
            else:
                self.closing = True
                reason = result.reason if isinstance(result, (AuthResult, Failure)) else None
                events.append(CloseConnection(f"authentication failed: {reason}"))

    def _error_response(self, error: RemoteProtocolError) -> Response | None:
        if error.code == "peer_error":
            # The peer is closing already; do not answer its error with another.
            return None
        rid = error.rid if error.rid in self._received else None
        return Response(rid, Failure(error.message, error.code))

    def _fail(
        self, events: list[Event], error: RemoteProtocolError, response: Response | None
    ) -> None:
        self._failed = True
        self._final = response
        if response is None:
            self.closing = True
        events.append(ProtocolFailed(error, response))
        events.append(CloseConnection(error.message))

    # ------------------------------------------------------------ sending

    def send(self, message: Request | Response) -> bytes:
        """Turn ``message`` into the bytes to write, updating the state.

        Raises:
            LocalProtocolError: when the message breaks the protocol: a command
                this role does not send, a request before ``auth`` succeeded or
                while closing, a reused rid, a response to no pending request or
                of the wrong kind, a frame over the maximum size.
        """
        if isinstance(message, Request):
            return self._send_request(message)
        return self._send_response(message)

    def _send_request(self, request: Request) -> bytes:
        command = request.data.COMMAND
        if self.closing or self._failed:
            raise LocalProtocolError("connection_closed", "the connection is closing")
        if command not in self._sends:
            raise LocalProtocolError(
                "unknown_command", f"a {self.role.value} does not send {command!r}"
            )
        if request.rid in self._sent:
            raise LocalProtocolError(
                "duplicate_rid", f"rid {request.rid!r} is already pending", path="rid"
            )
        next_auth = self._auth
        if command == "auth":
            if self._auth is not _Auth.NONE:
                raise LocalProtocolError("already_authenticated", "auth was already sent")
            next_auth = _Auth.PENDING
        elif self._auth is not _Auth.DONE:
            raise LocalProtocolError(
                "not_authenticated", f"cannot send {command!r} before auth succeeded"
            )
        frame = encode_frame(request.to_json(), self.max_frame_size)
        self._auth = next_auth
        self._sent[request.rid] = request
        return frame

    def _send_response(self, response: Response) -> bytes:
        if self._failed and response == self._final:
            # The failure that ends the connection: nothing goes out after it.
            self._final = None
            frame = encode_frame(response.to_json(), self.max_frame_size)
            self._received.pop(response.rid or "", None)
            self.closing = True
            return frame
        rid = response.rid
        if rid is None:
            frame = encode_frame(response.to_json(), self.max_frame_size)
            self.closing = True
            return frame
        command = self._received.get(rid)
        if command is None:
            raise LocalProtocolError(
                "unknown_rid", f"no request with rid {rid!r} is waiting for a response", path="rid"
            )
        allowed = response_types(command)
        if not isinstance(response.data, allowed):
            names = " or ".join(cls.__name__ for cls in allowed)
            raise LocalProtocolError(
                "bad_response",
                f"{command or 'the request'!r} is answered with {names}, "
                f"not {type(response.data).__name__}",
            )
        frame = encode_frame(response.to_json(), self.max_frame_size)
        del self._received[rid]
        if self.role is Role.SERVER and command == "auth":
            self._paused = False
            data = response.data
            if isinstance(data, AuthResult) and data.authenticated and self._auth is _Auth.PENDING:
                self._auth = _Auth.DONE
            elif not self.authenticated:
                # As in the original server: a refused auth ends the connection.
                self.closing = True
        return frame


def _bad_type(kind: object) -> NoReturn:
    shown = repr(kind) if isinstance(kind, str) else "missing" if kind is None else "not a string"
    raise RemoteProtocolError(
        "bad_envelope", f"type: must be 'request' or 'response', got {shown}", path="type"
    )
