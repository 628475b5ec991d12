"""The first bytes of a control connection: which dialect it speaks, then its session.

The control port serves both dialects. :class:`DialectSniffer` is the
protocol of a connection just accepted: it reads the first bytes (at most
:func:`~drachtio.srfproto.sniff_limit`, about 150) until
:func:`~drachtio.srfproto.sniff_dialect` can tell, then hands the transport
and the bytes already read to the session of that dialect: a
:class:`~drachtio.server.srf_session.SrfSession` for a drachtio-srf
``authenticate`` (or another message of that protocol, which it refuses
before auth), a :class:`~drachtio.server.session.ControlSession` for
anything else (a JSON object, or bytes neither dialect accepts: the JSON
session words the error, as it did before there was a second dialect).

While it reads, the connection is one of the server's unauthenticated
connections (bounded in number) and the auth deadline runs from the accept;
the session keeps that deadline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, cast

from drachtio.server.session import AppChannel, ControlSession
from drachtio.server.srf_session import SrfSession
from drachtio.srfproto import Dialect, RemoteSrfError, sniff_dialect, sniff_limit

if TYPE_CHECKING:
    from drachtio.server.server import Server

__all__ = ["DialectSniffer"]

log = logging.getLogger("drachtio.server")


class DialectSniffer(asyncio.BufferedProtocol):
    """A control connection until its dialect is known (see the module docstring)."""

    __slots__ = ("__weakref__", "_data", "_deadline", "_server", "_timer", "_transport", "peer")

    def __init__(self, server: Server) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._data = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self.peer = "?"

    def __repr__(self) -> str:
        return f"<DialectSniffer {self.peer}>"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the connection runs on."""
        return asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not derive from asyncio.Transport).
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        loop = self.loop
        self._deadline = loop.time() + self._server.config.auth_timeout
        self._timer = loop.call_at(self._deadline, self.drop, "no auth in time")
        self._server.unauthenticated.admit(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._server.unauthenticated.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._data += self._server.unauthenticated.read_buffer[:nbytes]
        max_frame_size = self._server.config.max_frame_size
        try:
            dialect = sniff_dialect(bytes(self._data), max_frame_size)
        except RemoteSrfError as exc:
            # A first frame with a '|' reads as a drachtio-srf message other
            # than authenticate: that session refuses it, naming its msgId.
            # Anything else the JSON session refuses, in its words.
            srf_like = exc.code == "not_a_dialect" and b"|" in self._data
            dialect = Dialect.SRF if srf_like else Dialect.JSON
        if dialect is None and len(self._data) > sniff_limit(max_frame_size):
            dialect = Dialect.JSON  # JSON whitespace before the '{'
        if dialect is not None:
            self._hand_over(dialect)

    def eof_received(self) -> bool:
        log.debug("control connection closed before its first frame peer=%s", self.peer)
        self._forget()
        return False  # the transport closes

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()

    def drop(self, reason: str) -> None:
        """Close the connection at once (the auth deadline, or too many unauthenticated)."""
        log.debug("control connection dropped peer=%s reason=%s", self.peer, reason)
        if reason == "no auth in time":
            self._server.unauthenticated.auth_timed_out.note(self.loop, f" peer={self.peer}")
        self._forget()
        if self._transport is not None:
            self._transport.abort()

    def _forget(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._server.unauthenticated.discard(self)

    def _hand_over(self, dialect: Dialect) -> None:
        """The transport and the bytes read so far go to the session of ``dialect``."""
        transport = self._transport
        assert transport is not None
        self._forget()
        session: AppChannel
        if dialect is Dialect.SRF:
            session = SrfSession(self._server, self._deadline)
        else:
            session = ControlSession(self._server, self._deadline)
        transport.set_protocol(session)
        session.connection_made(transport)
        data = memoryview(bytes(self._data))
        self._data = bytearray()
        # Through the session's own buffer, as the loop would hand it the bytes.
        while data and not session.closed and not transport.is_closing():
            view = session.get_buffer(len(data))
            size = min(len(view), len(data))
            view[:size] = data[:size]
            data = data[size:]
            session.buffer_updated(size)
