"""One application's control connection: what every dialect's session shares, and the JSON one.

:class:`AppChannel` holds a connection to the limits before auth, whatever
its dialect; :class:`ControlSession` is the JSON dialect's session, an
asyncio adapter over ``drachtio.protocol`` (the drachtio-srf dialect's is
:class:`~drachtio.server.srf_session.SrfSession`).

The session only moves bytes: :class:`~drachtio.protocol.Connection` decides
what is valid (framing, rids, auth first) and the :class:`~drachtio.server.Server`
carries out commands. Writes never wait: a client that stops reading while
its write buffer grows past the bound is disconnected instead. Frames go out
together, in one write: the responses to what one read brought once it is
handled, other frames at the next turn of the event loop (one system call
for many frames, and fewer wake-ups for the client). An
authenticated client that has sent nothing for ``ping_interval`` is pinged,
and dropped when it does not answer within ``ping_timeout``.

Until it authenticates a connection is cheap and bounded: it reads into a
small buffer shared by the server's unauthenticated sessions (its own
64 KiB buffer comes with a successful auth), may send at most
``MAX_BYTES_BEFORE_AUTH`` bytes, is closed ``auth_timeout`` after it was
accepted whatever it sends, and is one of at most ``max_unauthenticated``:
one more and the oldest is dropped (:class:`UnauthenticatedSessions`). What
happens to such connections is logged per connection at debug level only;
warnings about them are summarized, at most one line per kind every
``_LOG_INTERVAL`` seconds, so that a flood of connections does not flood the log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol

from drachtio.channel import Channel
from drachtio.protocol import (
    Auth,
    AuthResult,
    Command,
    Failure,
    Later,
    ProtocolFailed,
    Request,
    Response,
    ResponseData,
    Role,
    check_secret,
)
from drachtio.server.log_summary import SummarizedWarning

if TYPE_CHECKING:
    from drachtio.server.cdr import Cdr
    from drachtio.server.config import ServerConfig
    from drachtio.server.server import Server

__all__ = [
    "MAX_BYTES_BEFORE_AUTH",
    "AppChannel",
    "ControlSession",
    "PendingConnection",
    "UnauthenticatedSessions",
]

log = logging.getLogger("drachtio.server")

# The read buffer shared by the unauthenticated sessions: an auth frame is
# smaller; a larger one arrives in several reads (the frame decoder gathers them).
_AUTH_READ_SIZE = 4096
MAX_BYTES_BEFORE_AUTH = 16384
"""The most a client may send before its ``auth`` succeeds; one byte more and it is closed."""


class PendingConnection(Protocol):
    """A control connection not authenticated yet, as :class:`UnauthenticatedSessions` holds it."""

    peer: str

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop it runs on."""

    def drop(self, reason: str) -> None:
        """Close it at once."""


class UnauthenticatedSessions:
    """A server's control connections that have not authenticated yet, oldest first.

    At most ``max_unauthenticated`` are held: a new connection beyond that
    drops the oldest one, so that a flood of idle connections can neither
    exhaust memory and descriptors nor lock applications out (an application
    authenticates as soon as it connects; a flooder would have to open
    ``max_unauthenticated`` connections within that round trip to push it
    out). Also holds what those connections share: the read buffer and the
    summarized warnings.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.limit = config.max_unauthenticated
        self.dropped = 0
        """Connections dropped because the limit was reached, since the server started."""
        self._sessions: dict[PendingConnection, None] = {}
        # Every read copies its bytes out before returning, and the loop calls
        # get_buffer and buffer_updated back to back: one buffer serves all.
        self.read_buffer = memoryview(bytearray(_AUTH_READ_SIZE))
        self.limit_reached = SummarizedWarning(
            f"limit of {self.limit} unauthenticated control connections reached, dropped the oldest"
        )
        self.auth_timed_out = SummarizedWarning(f"no auth in {config.auth_timeout:.1f} s, closed")
        self.auth_failed = SummarizedWarning("authentication failed")
        self.protocol_error = SummarizedWarning("protocol error before auth")

    def __len__(self) -> int:
        return len(self._sessions)

    def admit(self, session: PendingConnection) -> None:
        """Hold ``session``, dropping the oldest first when the limit is reached."""
        while len(self._sessions) >= self.limit:
            oldest = next(iter(self._sessions))
            del self._sessions[oldest]
            self.dropped += 1
            self.limit_reached.note(session.loop, f" peer={oldest.peer}")
            oldest.drop("too many unauthenticated connections")
        self._sessions[session] = None

    def discard(self, session: PendingConnection) -> None:
        """``session`` authenticated, closed, or handed over to the session of its dialect."""
        self._sessions.pop(session, None)


class AppChannel(Channel):
    """The server's end of one application's connection, whatever its dialect:
    a :class:`~drachtio.channel.Channel` that is its own owner.

    Holds the connection to the limits before auth (the shared read buffer,
    ``MAX_BYTES_BEFORE_AUTH``, the auth deadline, one place among the
    unauthenticated) and tells the server when it opens and closes; the
    dialect's session (:class:`ControlSession`, or
    :class:`~drachtio.server.srf_session.SrfSession`) reads its messages.
    """

    __slots__ = (
        "__weakref__",
        "_auth_deadline",
        "_auth_timer",
        "_received_before_auth",
        "_server",
        "_unauthenticated",
        "app_name",
        "tags",
    )

    def __init__(self, server: Server, auth_deadline: float | None = None) -> None:
        """``auth_deadline`` (loop time): when auth must be done, if the
        connection was accepted before this session was made."""
        self._server = server
        # Until auth succeeds: the buffer the unauthenticated sessions share,
        # and the bytes received so far (None once authenticated).
        self._unauthenticated = server.unauthenticated
        self._received_before_auth: int | None = 0
        super().__init__(
            self, Role.SERVER, server.channel_settings, self._unauthenticated.read_buffer
        )
        self.app_name: str | None = None
        self.tags: tuple[str, ...] = ()
        """The tags the application declared when it authenticated."""
        self._auth_timer: asyncio.TimerHandle | None = None
        self._auth_deadline = (
            auth_deadline
            if auth_deadline is not None
            else self.loop.time() + server.config.auth_timeout
        )

    @property
    def authenticated(self) -> bool:
        """Whether the client has authenticated."""
        raise NotImplementedError

    def send_request(self, command: Command) -> bool:
        """Send the application what the core has for it; ``False`` when it cannot take it."""
        raise NotImplementedError

    def send_cdr(self, record: Cdr) -> bool:
        """Send a call detail record of a kind the application routes, in its dialect."""
        raise NotImplementedError

    # ------------------------------------------------------------ the channel's owner

    def request_received(self, channel: Channel, request: Request) -> ResponseData | Later:
        """A JSON request (the JSON dialect's session carries it out)."""
        raise NotImplementedError

    def response_received(self, channel: Channel, response: Response, request: Request) -> None:
        """A JSON response (the JSON dialect's session reads it)."""
        raise NotImplementedError

    def channel_opened(self, channel: Channel) -> None:
        self._auth_timer = self._loop.call_at(self._auth_deadline, self._on_auth_timeout)
        log.debug("control connection opened peer=%s", self.peer)
        self._server.session_opened(self)
        if self.is_open and self._transport is not None and not self._transport.is_closing():
            self._unauthenticated.admit(self)

    def channel_closed(self, channel: Channel, reason: str) -> None:
        self._unauthenticated.discard(self)
        self._stop_auth_timer()
        log.log(
            logging.INFO if self.authenticated else logging.DEBUG,
            "control connection closed peer=%s reason=%s",
            self.peer,
            reason,
        )
        self._server.session_closed(self)

    # ------------------------------------------------------------ before auth

    def _counted_before_auth(self, nbytes: int) -> bool:
        """Count a read before auth; ``False`` when over the bound (the connection closes)."""
        if self._received_before_auth is not None and self.is_open:
            self._received_before_auth += nbytes
            if self._received_before_auth > MAX_BYTES_BEFORE_AUTH:
                reason = f"more than {MAX_BYTES_BEFORE_AUTH} bytes before auth"
                self._unauthenticated.protocol_error.note(
                    self._loop, f" peer={self.peer} error={reason}"
                )
                self._refuse_before_auth(reason)
                return False
        return True

    def _refuse_before_auth(self, reason: str) -> None:
        """Tell the client why, in its dialect, then close at once."""
        raise NotImplementedError

    def _stop_auth_timer(self) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None

    def _auth_refused(self) -> None:
        """The secret was wrong (the dialect answers, then the connection closes)."""
        self._stop_auth_timer()
        self._unauthenticated.auth_failed.note(self._loop, f" peer={self.peer}")

    def _accepted(self, what: str) -> None:
        """Auth succeeded: a read buffer of its own, keepalive by the dialect's rules."""
        self._stop_auth_timer()
        self._unauthenticated.discard(self)
        self._received_before_auth = None
        # The bytes of this read were copied out already: the next read goes here.
        self.use_buffer(memoryview(bytearray(self.settings.read_size)))
        log.info("authenticated peer=%s %s", self.peer, what)

    def _on_auth_timeout(self) -> None:
        # Set when the connection was accepted, whatever the client sends since:
        # a client trickling bytes holds its place no longer than a silent one.
        self._auth_timer = None
        if not self.authenticated and not self.closed:
            self._unauthenticated.auth_timed_out.note(self._loop, f" peer={self.peer}")
            self.drop("no auth in time")


class ControlSession(AppChannel):
    """The server's end of one JSON application's connection.

    The channel moves the bytes (one reused read buffer, one write per read,
    bounds, keepalive); the session authenticates the client and hands its
    commands to the server.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        name = f" {self.app_name}" if self.app_name else ""
        return f"<ControlSession {self.peer}{name}>"

    @property
    def authenticated(self) -> bool:
        """Whether the client has authenticated."""
        return self.connection.authenticated

    def request_received(self, channel: Channel, request: Request) -> ResponseData | Later:
        command = request.data
        if isinstance(command, Auth):
            return self._authenticate(command)
        return self._server.execute(self, command)

    def response_received(self, channel: Channel, response: Response, request: Request) -> None:
        data = response.data
        if isinstance(data, Failure):
            log.warning(
                "client refused %s peer=%s reason=%s", request.command, self.peer, data.reason
            )

    def buffer_updated(self, nbytes: int) -> None:
        if self._counted_before_auth(nbytes):
            super().buffer_updated(nbytes)

    def protocol_failed(self, event: ProtocolFailed) -> None:
        if self._received_before_auth is None:
            super().protocol_failed(event)
        else:
            self._unauthenticated.protocol_error.note(
                self._loop, f" peer={self.peer} error={event.error.message}"
            )

    def _authenticate(self, auth: Auth) -> AuthResult:
        if not check_secret(auth.secret, self._server.config.secrets):
            self._auth_refused()
            return AuthResult(False, reason="invalid secret")
        self.app_name = auth.app_name
        self.tags = auth.tags
        self._accepted(f"app={auth.app_name} tags={','.join(auth.tags)}")
        self.start_keepalive()
        return AuthResult(True, hostport=tuple(self._server.hostport))

    def _refuse_before_auth(self, reason: str) -> None:
        """Tell the client why (an error with a null rid), then close at once."""
        self.send_response(Response(None, Failure(reason, "frame_too_large")))
        self._close(reason)

    # ------------------------------------------------------------ the server's side

    def send_request(self, command: Command) -> bool:
        """Send a server-to-client request; ``False`` when the session cannot take it."""
        return self.authenticated and self.send_command(command) is not None

    def send_cdr(self, record: Cdr) -> bool:
        """A call detail record of a kind the client routes, as a ``cdr`` request."""
        return self.send_request(record.to_command())
