"""One application's control connection: an asyncio adapter over ``drachtio.protocol``.

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
import math
from typing import TYPE_CHECKING, cast

from drachtio.protocol import (
    Auth,
    AuthResult,
    CloseConnection,
    Command,
    Connection,
    Failure,
    LocalProtocolError,
    Ping,
    Pong,
    ProtocolFailed,
    Request,
    RequestReceived,
    RequestRejected,
    Response,
    ResponseData,
    ResponseReceived,
    Role,
    check_secret,
    new_rid,
)

if TYPE_CHECKING:
    from drachtio.server.config import ServerConfig
    from drachtio.server.server import Server

__all__ = ["MAX_BYTES_BEFORE_AUTH", "ControlSession", "UnauthenticatedSessions"]

log = logging.getLogger("drachtio.server")

_READ_SIZE = 65536
# The read buffer shared by the unauthenticated sessions: an auth frame is
# smaller; a larger one arrives in several reads (the frame decoder gathers them).
_AUTH_READ_SIZE = 4096
MAX_BYTES_BEFORE_AUTH = 16384
"""The most a client may send before its ``auth`` succeeds; one byte more and it is closed."""
# At most one warning line per kind about unauthenticated connections in this time.
_LOG_INTERVAL = 10.0
# How long a closed session's last frames may take to leave before the
# connection is dropped.
_CLOSE_GRACE = 5.0


class _Summarized:
    """One kind of warning, at most one line per ``_LOG_INTERVAL``.

    The first occurrence is logged at once with its peer; the next ones within
    the interval are counted, and logged as one line when it ends.
    """

    __slots__ = ("_count", "_detail", "_logged_at", "_peer", "_timer", "_what")

    def __init__(self, what: str) -> None:
        self._what = what
        self._logged_at = -math.inf
        self._count = 0
        self._peer = ""
        self._detail = ""
        self._timer: asyncio.TimerHandle | None = None

    def note(self, loop: asyncio.AbstractEventLoop, peer: str, detail: str = "") -> None:
        now = loop.time()
        if self._timer is None and now - self._logged_at >= _LOG_INTERVAL:
            self._logged_at = now
            log.warning("%s peer=%s%s", self._what, peer, detail)
            return
        self._count += 1
        self._peer, self._detail = peer, detail
        if self._timer is None:
            self._timer = loop.call_at(self._logged_at + _LOG_INTERVAL, self._flush, loop)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        log.warning(
            "%s: %d more in the last %.0f s, the last peer=%s%s",
            self._what,
            self._count,
            now - self._logged_at,
            self._peer,
            self._detail,
        )
        self._logged_at = now
        self._count = 0


class UnauthenticatedSessions:
    """A server's control sessions that have not authenticated yet, oldest first.

    At most ``max_unauthenticated`` are held: a new connection beyond that
    drops the oldest one, so that a flood of idle connections can neither
    exhaust memory and descriptors nor lock applications out (an application
    authenticates as soon as it connects; a flooder would have to open
    ``max_unauthenticated`` connections within that round trip to push it
    out). Also holds what those sessions share: the read buffer and the
    summarized warnings.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.limit = config.max_unauthenticated
        self.dropped = 0
        """Connections dropped because the limit was reached, since the server started."""
        self._sessions: dict[ControlSession, None] = {}
        # Every read copies its bytes out before returning, and the loop calls
        # get_buffer and buffer_updated back to back: one buffer serves all.
        self.read_buffer = memoryview(bytearray(_AUTH_READ_SIZE))
        self.limit_reached = _Summarized(
            f"limit of {self.limit} unauthenticated control connections reached, dropped the oldest"
        )
        self.auth_timed_out = _Summarized(f"no auth in {config.auth_timeout:.1f} s, closed")
        self.auth_failed = _Summarized("authentication failed")
        self.protocol_error = _Summarized("protocol error before auth")

    def __len__(self) -> int:
        return len(self._sessions)

    def admit(self, session: ControlSession) -> None:
        """Hold ``session``, dropping the oldest first when the limit is reached."""
        while len(self._sessions) >= self.limit:
            oldest = next(iter(self._sessions))
            del self._sessions[oldest]
            self.dropped += 1
            self.limit_reached.note(session._loop, oldest.peer)
            oldest._drop("too many unauthenticated connections")
        self._sessions[session] = None

    def discard(self, session: ControlSession) -> None:
        """``session`` authenticated or closed."""
        self._sessions.pop(session, None)


class ControlSession(asyncio.BufferedProtocol):
    """The server's end of one application's TCP connection.

    An asyncio protocol: the loop reads into one reused buffer and calls
    :meth:`buffer_updated`; no task, no future and no new buffer per read.
    """

    __slots__ = (
        "__weakref__",
        "_aborted",
        "_auth_timeout",
        "_auth_timer",
        "_close_reason",
        "_drop_reason",
        "_last_heard",
        "_loop",
        "_max_pending",
        "_max_write_buffer",
        "_out",
        "_out_size",
        "_ping_interval",
        "_ping_pending",
        "_ping_timeout",
        "_ping_timer",
        "_reading",
        "_received_before_auth",
        "_server",
        "_transport",
        "_unauthenticated",
        "_view",
        "app_name",
        "closed",
        "connection",
        "done",
        "peer",
    )

    def __init__(self, server: Server) -> None:
        config = server.config
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._max_write_buffer = config.max_write_buffer
        self._max_pending = config.max_pending_requests
        # Until auth succeeds: the buffer the unauthenticated sessions share,
        # and the bytes received so far (None once authenticated).
        self._unauthenticated = server.unauthenticated
        self._view = self._unauthenticated.read_buffer
        self._received_before_auth: int | None = 0
        # Frames waiting for the next flush, and their total size.
        self._out: list[bytes] = []
        self._out_size = 0
        # While a read's frames are handled: the flush comes after the last one.
        self._reading = False
        self.connection = Connection(Role.SERVER, max_frame_size=config.max_frame_size)
        self.peer = "?"
        self.app_name: str | None = None
        self.closed = False
        # Set once the connection is gone and the server has been told.
        self.done: asyncio.Future[None] = self._loop.create_future()
        self._auth_timer: asyncio.TimerHandle | None = None
        self._auth_timeout = config.auth_timeout
        self._ping_interval = config.ping_interval
        self._ping_timeout = config.ping_timeout
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_pending = False
        self._last_heard = 0.0
        self._close_reason = "connection closed"
        self._drop_reason: str | None = None
        # Set by _abort: the transport is going, nothing more is read or written.
        self._aborted = False

    def __repr__(self) -> str:
        name = f" {self.app_name}" if self.app_name else ""
        return f"<ControlSession {self.peer}{name}>"

    @property
    def authenticated(self) -> bool:
        """Whether the client has authenticated."""
        return self.connection.authenticated

    @property
    def is_open(self) -> bool:
        """Whether the session can still be sent requests (not closed, not closing)."""
        return not (self.closed or self._aborted or self.connection.closing)

    # ------------------------------------------------------------ asyncio protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not derive from asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._auth_timer = self._loop.call_later(self._auth_timeout, self._on_auth_timeout)
        self._last_heard = self._loop.time()
        log.debug("control connection opened peer=%s", self.peer)
        self._server.session_opened(self)
        if not transport.is_closing():  # not refused by a server that is stopping
            self._unauthenticated.admit(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        """Handle what one read brought; the frames it produces go out in one write."""
        if self.closed or self._aborted or self.connection.closing:
            return
        if self._received_before_auth is not None:
            self._received_before_auth += nbytes
            if self._received_before_auth > MAX_BYTES_BEFORE_AUTH:
                self._refuse_before_auth(f"more than {MAX_BYTES_BEFORE_AUTH} bytes before auth")
                return
        self._last_heard = self._loop.time()
        self._reading = True
        try:
            for event in self.connection.receive_data(bytes(self._view[:nbytes])):
                if isinstance(event, CloseConnection):
                    self._close_reason = event.reason
                self._handle(event)
                if self.closed or self._aborted:
                    break
        finally:
            self._reading = False
        self._flush()
        if self.connection.closing and not self.closed:
            # A protocol error or a refused auth: the session ends now, its
            # last frames are flushed as the transport closes.
            self._close(self._drop_reason or self._close_reason)

    def eof_received(self) -> bool:
        if not self.connection.closing:
            for event in self.connection.receive_eof():
                if isinstance(event, CloseConnection):
                    self._close_reason = event.reason
        return False  # the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._close_reason = f"connection error: {exc}"
        self._close(self._drop_reason or self._close_reason)

    def _handle(
        self,
        event: RequestReceived
        | RequestRejected
        | ResponseReceived
        | ProtocolFailed
        | CloseConnection,
    ) -> None:
        if isinstance(event, RequestReceived):
            request = event.request
            data = self._execute(request.data)
            self._write_message(Response(request.rid, data))
        elif isinstance(event, RequestRejected):
            log.info(
                "request refused peer=%s command=%s error=%s",
                self.peer,
                event.command,
                event.error.code,
            )
            self._write_message(event.response)
        elif isinstance(event, ResponseReceived):
            data = event.response.data
            if event.request.command == Ping.COMMAND:
                self._on_pong()
            elif isinstance(data, Failure):
                log.warning(
                    "client refused %s peer=%s reason=%s",
                    event.request.command,
                    self.peer,
                    data.reason,
                )
        elif isinstance(event, ProtocolFailed):
            if self._received_before_auth is None:
                log.warning("protocol error peer=%s error=%s", self.peer, event.error.message)
            else:
                self._unauthenticated.protocol_error.note(
                    self._loop, self.peer, f" error={event.error.message}"
                )
            if event.response is not None:
                self._write_message(event.response)
        else:
            self._flush_and_close()

    def _execute(self, command: Command) -> ResponseData:
        if isinstance(command, Auth):
            return self._authenticate(command)
        if isinstance(command, Ping):
            return Pong()
        return self._server.execute(self, command)

    def _authenticate(self, auth: Auth) -> AuthResult:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        if not check_secret(auth.secret, self._server.config.secrets):
            self._unauthenticated.auth_failed.note(self._loop, self.peer)
            return AuthResult(False, reason="invalid secret")
        self.app_name = auth.app_name
        self._unauthenticated.discard(self)
        self._received_before_auth = None
        # The bytes of this read were copied out already: the next read goes here.
        self._view = memoryview(bytearray(_READ_SIZE))
        log.info("authenticated peer=%s app=%s", self.peer, auth.app_name)
        self._schedule_ping(self._ping_interval)
        return AuthResult(True, hostport=tuple(self._server.hostport))

    def _on_auth_timeout(self) -> None:
        # Set when the connection was accepted, whatever the client sends since:
        # a client trickling bytes holds its place no longer than a silent one.
        self._auth_timer = None
        if not self.authenticated and not self.closed:
            self._unauthenticated.auth_timed_out.note(self._loop, self.peer)
            self._drop("no auth in time")

    def _refuse_before_auth(self, reason: str) -> None:
        """Tell the client why (an error with a null rid), then close at once."""
        self._unauthenticated.protocol_error.note(self._loop, self.peer, f" error={reason}")
        self._write_message(Response(None, Failure(reason, "frame_too_large")))
        self._close(reason)

    # ------------------------------------------------------------ keepalive

    def _schedule_ping(self, delay: float) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        self._ping_timer = self._loop.call_later(delay, self._on_ping_timer)

    def _on_ping_timer(self) -> None:
        self._ping_timer = None
        if self.closed:
            return
        if self._ping_pending:
            log.warning(
                "no answer to ping in %.1f s, closing peer=%s", self._ping_timeout, self.peer
            )
            self._drop("no answer to ping")
            return
        idle = self._loop.time() - self._last_heard
        if idle < self._ping_interval:
            self._schedule_ping(self._ping_interval - idle)
            return
        if self.send_request(Ping()):
            self._ping_pending = True
            self._schedule_ping(self._ping_timeout)

    def _on_pong(self) -> None:
        if self._ping_pending:
            self._ping_pending = False
            self._schedule_ping(self._ping_interval)

    # ------------------------------------------------------------ writing

    def send_request(self, command: Command) -> bool:
        """Send a server-to-client request; ``False`` when the session cannot take it."""
        if self.closed or self._aborted or self.connection.closing or not self.authenticated:
            return False
        if self.connection.pending_count >= self._max_pending:
            # Every request waits for its response in memory: a client that
            # reads but never answers would grow that set without bound.
            log.warning(
                "client does not answer requests, %d waiting, closing peer=%s",
                self.connection.pending_count,
                self.peer,
            )
            self._abort()
            return False
        try:
            frame = self.connection.send(Request(new_rid(), command))
        except LocalProtocolError as exc:
            log.error("cannot send %s to peer=%s: %s", command.COMMAND, self.peer, exc.message)
            return False
        return self._write(frame)

    def _write_message(self, message: Response) -> None:
        try:
            frame = self.connection.send(message)
        except LocalProtocolError as exc:
            # A response too large for a frame: tell the client what went wrong instead.
            log.error("cannot send response to peer=%s: %s", self.peer, exc.message)
            frame = self.connection.send(Response(message.rid, Failure(exc.message, exc.code)))
        if self._write(frame) and self.connection.closing:
            self._flush_and_close()

    def _write(self, frame: bytes) -> bool:
        if self.closed or self._aborted:
            return False
        if not self._out and not self._reading:
            self._loop.call_soon(self._flush)
        self._out.append(frame)
        self._out_size += len(frame)
        assert self._transport is not None
        waiting = self._out_size + self._transport.get_write_buffer_size()
        if waiting > self._max_write_buffer:
            log.warning(
                "client does not read, %d bytes waiting, closing peer=%s", waiting, self.peer
            )
            self._abort()
            return False
        return True

    def _flush(self) -> None:
        """Write the frames queued since the last flush, in one write."""
        out = self._out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self._out_size = 0
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Close the connection once what is buffered is written."""
        self._flush_and_close()

    def _flush_and_close(self) -> None:
        self._flush()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def _drop(self, reason: str) -> None:
        """Close the connection at once, logging ``reason`` when it is gone."""
        self._drop_reason = reason
        self._abort()

    def _abort(self) -> None:
        # The server is told in connection_lost, soon after: not from here,
        # which may be in the middle of the server's own work. A connection
        # going holds no place among the unauthenticated from now on.
        self._aborted = True
        self._unauthenticated.discard(self)
        self._out.clear()
        self._out_size = 0
        if self._transport is not None:
            self._transport.abort()

    def _close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self._unauthenticated.discard(self)
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        self._flush_and_close()
        transport = self._transport
        if transport is not None and transport.get_write_buffer_size():
            # A client that does not read would keep the connection open.
            self._loop.call_later(_CLOSE_GRACE, transport.abort)
        log.log(
            logging.INFO if self.authenticated else logging.DEBUG,
            "control connection closed peer=%s reason=%s",
            self.peer,
            reason,
        )
        self._server.session_closed(self)
        if not self.done.done():
            self.done.set_result(None)
