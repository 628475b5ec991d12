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
"""

from __future__ import annotations

import asyncio
import logging
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
    from drachtio.server.server import Server

__all__ = ["ControlSession"]

log = logging.getLogger("drachtio.server")

_READ_SIZE = 65536
# How long a closed session's last frames may take to leave before the
# connection is dropped.
_CLOSE_GRACE = 5.0


class ControlSession(asyncio.BufferedProtocol):
    """The server's end of one application's TCP connection.

    An asyncio protocol: the loop reads into one reused buffer and calls
    :meth:`buffer_updated`; no task, no future and no new buffer per read.
    """

    def __init__(self, server: Server) -> None:
        config = server.config
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._max_write_buffer = config.max_write_buffer
        self._max_pending = config.max_pending_requests
        self._buffer = bytearray(_READ_SIZE)
        self._view = memoryview(self._buffer)
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

    # ------------------------------------------------------------ asyncio protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not derive from asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._auth_timer = self._loop.call_later(self._auth_timeout, self._on_auth_timeout)
        self._last_heard = self._loop.time()
        log.info("control connection opened peer=%s", self.peer)
        self._server.session_opened(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        """Handle what one read brought; the frames it produces go out in one write."""
        if self.closed or self._aborted or self.connection.closing:
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
            log.warning("protocol error peer=%s error=%s", self.peer, event.error.message)
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
            log.warning("authentication failed peer=%s", self.peer)
            return AuthResult(False, reason="invalid secret")
        self.app_name = auth.app_name
        log.info("authenticated peer=%s app=%s", self.peer, auth.app_name)
        self._schedule_ping(self._ping_interval)
        return AuthResult(True, hostport=tuple(self._server.hostport))

    def _on_auth_timeout(self) -> None:
        self._auth_timer = None
        if not self.authenticated and not self.closed:
            log.warning("no auth in %.1f s, closing peer=%s", self._auth_timeout, self.peer)
            self._abort()

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
            self._drop_reason = "no answer to ping"
            self._abort()
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

    def _abort(self) -> None:
        # The server is told in connection_lost, soon after: not from here,
        # which may be in the middle of the server's own work.
        self._aborted = True
        self._out.clear()
        self._out_size = 0
        if self._transport is not None:
            self._transport.abort()

    def _close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
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
        log.info("control connection closed peer=%s reason=%s", self.peer, reason)
        self._server.session_closed(self)
        if not self.done.done():
            self.done.set_result(None)
