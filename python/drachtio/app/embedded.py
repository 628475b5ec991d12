"""An application in the server's own process: no socket, no framing, no JSON between them.

:class:`EmbeddedLink` is both ends at once: to the :class:`~drachtio.Server`
it is an application's session (the server sends it ``sip``, ``cancel`` and
``dialog`` requests, and carries out its commands with
:meth:`~drachtio.Server.execute`), to the :class:`~drachtio.Srf` it is a
link like :class:`~drachtio.app.RemoteLink`. Messages stay the core's
objects, and everything happens in the order a remote link would see it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from drachtio._core import SipMessage
from drachtio.app.link import succeeded
from drachtio.errors import ConnectionLost
from drachtio.protocol import Command, Failure, Later, ResponseData, Route, SipJson

if TYPE_CHECKING:
    from drachtio.app.link import LinkEvents
    from drachtio.server import Server
    from drachtio.server.cdr import Cdr

__all__ = ["EmbeddedLink"]

log = logging.getLogger("drachtio.app")


class EmbeddedLink:
    """An application attached to a server in the same process."""

    def __init__(
        self, events: LinkEvents, server: Server, app_name: str | None, tags: tuple[str, ...]
    ) -> None:
        self.name = "embedded"
        self.peer = "embedded"
        self.app_name = app_name
        self.tags = tags
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self._loop.create_future()
        self._events = events
        self._server = server

    def __repr__(self) -> str:
        return f"<EmbeddedLink {'closed' if self.closed else 'attached'} app={self.app_name}>"

    # ------------------------------------------------------------ the server's side

    @property
    def authenticated(self) -> bool:
        return True

    @property
    def is_open(self) -> bool:
        return not self.closed

    @property
    def connected(self) -> bool:
        return not self.closed

    def send_request(self, command: Command) -> bool:
        if self.closed:
            return False
        self._events.request_received(self, command)
        return True

    def send_cdr(self, record: Cdr) -> bool:
        """A call detail record of a kind the application routes, as a ``cdr`` request."""
        return self.send_request(record.to_command())

    def close(self) -> None:
        """Detach from the server (it stops, or the application closes)."""
        if self.closed:
            return
        self.closed = True
        self._server.session_closed(self)
        self._events.link_state(self, "closed", "detached")
        if not self.done.done():
            self.done.set_result(None)

    # ------------------------------------------------------------ the application's side

    async def start(self) -> None:
        """Join the server's applications and route the handled methods."""
        self._server.session_opened(self)
        if self.closed:  # refused: the server is stopping
            raise ConnectionLost("the server is stopping")
        for verb in self._events.verbs():
            await self.call(Route(verb))
        self._events.link_state(self, "connect", self.name)

    async def call(
        self, command: Command, on_result: Callable[[ResponseData], None] | None = None
    ) -> ResponseData:
        # The future is done at once: awaiting it does not yield to the loop.
        return succeeded(await self.submit(command, on_result))

    def submit(
        self, command: Command, on_result: Callable[[ResponseData], None] | None = None
    ) -> asyncio.Future[ResponseData]:
        future: asyncio.Future[ResponseData] = self._loop.create_future()
        if self.closed:
            future.set_exception(ConnectionLost("detached from the server"))
            return future
        result = self._server.execute(self, command)
        if isinstance(result, Later):
            result.then(functools.partial(_settle, future, on_result))
        else:
            _settle(future, on_result, result)
        return future

    def sip_message(self, message: SipJson) -> SipMessage:
        assert not isinstance(message, dict), "in process, messages are the core's objects"
        return message


def _settle(
    future: asyncio.Future[ResponseData],
    on_result: Callable[[ResponseData], None] | None,
    result: ResponseData,
) -> None:
    """Give ``result`` to ``on_result`` (unless a failure) and to ``future``."""
    if future.done():
        return
    if on_result is not None and not isinstance(result, Failure):
        on_result(result)
    future.set_result(result)
