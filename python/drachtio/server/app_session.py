"""What the server needs of an application: its session, and an embedded one."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from drachtio.protocol import Command, Sip

if TYPE_CHECKING:
    from drachtio.server.cdr import Cdr
    from drachtio.server.server import Server

__all__ = ["AppSession", "EmbeddedApp", "PrackWatcher"]


class AppSession(Protocol):
    """What the server needs of an application's session: a remote one
    (:class:`~drachtio.server.session.ControlSession`) or one in the same
    process (``Srf.attach``)."""

    peer: str
    app_name: str | None
    tags: tuple[str, ...]
    closed: bool
    done: asyncio.Future[None]

    @property
    def authenticated(self) -> bool:
        """Whether the application authenticated (always, in process)."""

    @property
    def is_open(self) -> bool:
        """Whether it can still be sent requests (not closed, not closing)."""

    def send_request(self, command: Command) -> bool:
        """Send the application a request; ``False`` when it cannot take it."""

    def send_cdr(self, record: Cdr) -> bool:
        """Send a call detail record of a kind it routes; ``False`` when it cannot take it."""

    def close(self) -> None:
        """End the session (the server stops)."""


@runtime_checkable
class PrackWatcher(Protocol):
    """A session shown the PRACKs the server answers for it (drachtio-srf's: its
    application waits for the PRACK of a reliable provisional response it sent)."""

    def pracked(self, prack: Sip) -> None:
        """The server answered ``prack`` 200, a PRACK of this session's reliable response."""


class EmbeddedApp(Protocol):
    """An application that can serve a server from its process (``drachtio.Srf``)."""

    async def attach(self, server: Server) -> object:
        """Join ``server``'s applications."""
