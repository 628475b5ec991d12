"""One control connection on asyncio, for either end: a :class:`Channel`.

The sans-IO :class:`~drachtio.protocol.Connection` decides what is valid; the
channel moves its bytes and keeps the connection healthy, the same way on
both ends:

- reads go into one reused buffer (an ``asyncio.BufferedProtocol``: no task,
  no future, no new buffer per read);
- frames go out together, in one write: the responses to what one read
  brought once it is handled, other frames at the next turn of the loop
  (with ``flush_after_tasks``, a read's frames wait for that turn too, so
  that what the tasks the read woke send joins them);
- writes never wait: a peer that stops reading while its unsent bytes grow
  past ``max_write_buffer`` is dropped, and so is one that leaves more than
  ``max_pending`` of our requests unanswered;
- keepalive, once started: after ``ping_interval`` seconds without a byte
  from the peer it is sent ``ping``, and dropped when nothing answers within
  ``ping_timeout`` (any response proves it alive). A peer's ``ping`` is
  answered ``{pong: true}`` here.

What the requests mean is the owner's (:class:`ChannelOwner`): the server's
session carries out an application's commands, the application's client
hands the server's requests to the application.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Protocol, cast

from drachtio.protocol import (
    CloseConnection,
    Command,
    Connection,
    Event,
    Failure,
    Later,
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
    new_rid,
)
from drachtio.protocol.envelope import trusted_request, trusted_response

__all__ = ["CLOSE_GRACE", "Channel", "ChannelOwner", "ChannelSettings"]

log = logging.getLogger("drachtio.channel")

CLOSE_GRACE = 5.0
"""Seconds a closed channel's last frames may take to leave before the connection is dropped."""


class ChannelOwner(Protocol):
    """What a :class:`Channel` tells the code that gives its messages a meaning."""

    def channel_opened(self, channel: Channel) -> None:
        """The connection is up (``channel.peer`` is known)."""

    def request_received(self, channel: Channel, request: Request) -> ResponseData | Later:
        """The peer sent ``request`` (never a ``ping``); return the response's data (or a
        :class:`~drachtio.protocol.Later` resolved with it)."""

    def response_received(self, channel: Channel, response: Response, request: Request) -> None:
        """The peer answered ``request``, which this end sent (never a ``ping``)."""

    def channel_closed(self, channel: Channel, reason: str) -> None:
        """The connection is gone; called once, after which nothing more is sent."""


class ChannelSettings:
    """The bounds and timers of a channel; one object shared by many channels."""

    __slots__ = (
        "flush_after_tasks",
        "max_frame_size",
        "max_pending",
        "max_write_buffer",
        "ping_interval",
        "ping_timeout",
        "read_size",
    )

    def __init__(
        self,
        *,
        max_frame_size: int,
        max_write_buffer: int,
        max_pending: int,
        ping_interval: float,
        ping_timeout: float,
        read_size: int = 65536,
        flush_after_tasks: bool = False,
    ) -> None:
        self.max_frame_size = max_frame_size
        self.max_write_buffer = max_write_buffer
        self.max_pending = max_pending
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.read_size = read_size
        self.flush_after_tasks = flush_after_tasks
        """Whether a read's frames wait for the next turn of the loop, to leave
        with what the tasks it woke send then (an application's end: its
        handlers answer from tasks); a server answers at once."""


class Channel(asyncio.BufferedProtocol):
    """One end of a control connection, driving a :class:`~drachtio.protocol.Connection`.

    ``buffer`` is what reads go into; by default one of ``settings.read_size``
    bytes of its own. A subclass may be its own ``owner``.
    """

    __slots__ = (
        "_aborted",
        "_close_reason",
        "_drop_reason",
        "_last_heard",
        "_loop",
        "_out",
        "_out_size",
        "_ping_rid",
        "_ping_timer",
        "_reading",
        "_transport",
        "_view",
        "closed",
        "connection",
        "done",
        "owner",
        "peer",
        "settings",
    )

    def __init__(
        self,
        owner: ChannelOwner,
        role: Role,
        settings: ChannelSettings,
        buffer: memoryview | None = None,
    ) -> None:
        # Dropped once the owner has been told of the close: a channel that is
        # its own owner must not stay in a reference cycle with itself.
        self.owner: ChannelOwner | None = owner
        self.settings = settings
        self.connection = Connection(role, max_frame_size=settings.max_frame_size)
        self.peer = "?"
        self.closed = False
        self._loop = asyncio.get_running_loop()
        # Set once the connection is gone and the owner has been told.
        self.done: asyncio.Future[None] = self._loop.create_future()
        self._transport: asyncio.Transport | None = None
        self._view = buffer if buffer is not None else memoryview(bytearray(settings.read_size))
        # Frames waiting for the next flush, and their total size.
        self._out: list[bytes] = []
        self._out_size = 0
        # While a read's frames are handled: the flush comes after the last one.
        self._reading = False
        self._last_heard = 0.0
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_rid: str | None = None
        self._close_reason = "connection closed"
        self._drop_reason: str | None = None
        # Set by abort(): the transport is going, nothing more is read or written.
        self._aborted = False

    def __repr__(self) -> str:
        return f"<Channel {self.connection.role.value} {self.peer}>"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the channel runs on."""
        return self._loop

    @property
    def is_open(self) -> bool:
        """Whether requests may still be sent: connected, not closing."""
        return not (self.closed or self._aborted or self.connection.closing)

    def use_buffer(self, view: memoryview) -> None:
        """Read into ``view`` from now on (a server holds a small one until auth)."""
        self._view = view

    # ------------------------------------------------------------ asyncio protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not derive from asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self._last_heard = self._loop.time()
        assert self.owner is not None
        self.owner.channel_opened(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        """Handle what one read brought; the frames it produces go out in one write."""
        if not self.is_open:
            return
        self._last_heard = self._loop.time()
        self._reading = True
        try:
            data = bytes(self._view[:nbytes])
            while True:
                connection = self.connection
                events = connection.receive_data(data)
                # The read ended on an auth request: what came after it waits
                # unread until the auth is answered, which handling it does.
                paused = connection.paused
                for event in events:
                    self._handle(event)
                    if self.closed or self._aborted:
                        break
                if not paused or connection.paused or not self.is_open:
                    break
                data = b""
        finally:
            self._reading = False
        if self._out and self.settings.flush_after_tasks and not self.connection.closing:
            # The tasks this read woke run before this in the loop's next turn.
            self._loop.call_soon(self._flush)
        else:
            self._flush()
        if self.connection.closing and not self.closed:
            # A protocol error or a refused auth: the channel ends now, its
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

    def _handle(self, event: Event) -> None:
        owner = self.owner
        assert owner is not None  # nothing is handled once closed
        if isinstance(event, RequestReceived):
            # Answered with the rid the connection read and checked.
            request = event.request
            if isinstance(request.data, Ping):
                self.send_response(trusted_response(request.rid, Pong()))
            else:
                data = owner.request_received(self, request)
                if isinstance(data, Later):
                    data.then(functools.partial(self._send_later, request.rid))
                else:
                    self.send_response(trusted_response(request.rid, data))
        elif isinstance(event, ResponseReceived):
            if event.request.rid == self._ping_rid:
                self._ping_rid = None
                self._schedule_ping(self.settings.ping_interval)
            else:
                owner.response_received(self, event.response, event.request)
        elif isinstance(event, RequestRejected):
            log.info(
                "request refused peer=%s command=%s error=%s",
                self.peer,
                event.command,
                event.error.code,
            )
            self.send_response(event.response)
        elif isinstance(event, ProtocolFailed):
            self.protocol_failed(event)
            if event.response is not None:
                self.send_response(event.response)
        else:
            self._close_reason = event.reason
            self._flush_and_close()

    def protocol_failed(self, event: ProtocolFailed) -> None:
        """The peer broke the protocol; the connection closes after this (logged here)."""
        log.warning("protocol error peer=%s error=%s", self.peer, event.error.message)

    # ------------------------------------------------------------ keepalive

    def start_keepalive(self) -> None:
        """Ping the peer after ``ping_interval`` of silence from now on (once authenticated)."""
        self._schedule_ping(self.settings.ping_interval)

    def _schedule_ping(self, delay: float) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        self._ping_timer = self._loop.call_later(delay, self._on_ping_timer)

    def _on_ping_timer(self) -> None:
        self._ping_timer = None
        if self.closed:
            return
        if self._ping_rid is not None:
            timeout = self.settings.ping_timeout
            log.warning("no answer to ping in %.1f s, closing peer=%s", timeout, self.peer)
            self.drop("no answer to ping")
            return
        idle = self._loop.time() - self._last_heard
        if idle < self.settings.ping_interval:
            self._schedule_ping(self.settings.ping_interval - idle)
            return
        rid = self.send_command(Ping())
        if rid is not None:
            self._ping_rid = rid
            self._schedule_ping(self.settings.ping_timeout)

    # ------------------------------------------------------------ writing

    def send_command(self, command: Command, rid: str | None = None) -> str | None:
        """Send a request; its rid, or ``None`` when the channel cannot take it."""
        if not self.is_open:
            return None
        connection = self.connection
        if connection.pending_count >= self.settings.max_pending:
            # Every request waits for its response in memory: a peer that
            # reads but never answers would grow that set without bound.
            log.warning(
                "peer does not answer requests, %d waiting, closing peer=%s",
                connection.pending_count,
                self.peer,
            )
            self.drop("too many requests unanswered")
            return None
        try:
            # A rid of new_rid() is a valid one: the request is built without its check.
            request = trusted_request(new_rid(), command) if rid is None else Request(rid, command)
            frame = connection.send(request)
        except LocalProtocolError as exc:
            log.error("cannot send %s to peer=%s: %s", command.COMMAND, self.peer, exc.message)
            return None
        return request.rid if self._write(frame) else None

    def _send_later(self, rid: str, data: ResponseData) -> None:
        """The data of a response that came later (:class:`~drachtio.protocol.Later`)."""
        if not self.closed:
            self.send_response(Response(rid, data))

    def send_response(self, message: Response) -> None:
        """Answer one of the peer's requests."""
        try:
            frame = self.connection.send(message)
        except LocalProtocolError as exc:
            # A response too large for a frame: tell the peer what went wrong instead.
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
        if waiting > self.settings.max_write_buffer:
            log.warning("peer does not read, %d bytes waiting, closing peer=%s", waiting, self.peer)
            self.drop("peer does not read")
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

    def drop(self, reason: str) -> None:
        """Close the connection at once; ``reason`` is what the owner is told."""
        self._drop_reason = reason
        self.abort()

    def abort(self) -> None:
        """Drop the connection now, unsent frames included."""
        # The owner is told in connection_lost, soon after: not from here,
        # which may be in the middle of the owner's own work.
        self._aborted = True
        self._out.clear()
        self._out_size = 0
        if self._transport is not None:
            self._transport.abort()

    def _close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        self._flush_and_close()
        transport = self._transport
        if transport is not None and transport.get_write_buffer_size():
            # A peer that does not read would keep the connection open.
            self._loop.call_later(CLOSE_GRACE, transport.abort)
        owner, self.owner = self.owner, None
        if owner is not None:
            owner.channel_closed(self, reason)
        if not self.done.done():
            self.done.set_result(None)
