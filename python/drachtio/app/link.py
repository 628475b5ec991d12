"""An application's link to one drachtio server: a control connection that comes back.

:class:`RemoteLink` connects over TCP (or TLS), authenticates, routes the
application's verbs, and from then on keeps the connection: the channel's
keepalive notices a server that stopped answering within ``ping_interval +
ping_timeout`` seconds, and a lost connection is opened again after a
delay that doubles from ``backoff_initial`` up to ``backoff_max``, with the
routes restored. A refused secret is never retried.
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
from collections.abc import Callable, Iterable
from typing import Protocol

from drachtio._core import SipMessage, SipRequest, from_dict
from drachtio.channel import Channel, ChannelSettings
from drachtio.errors import ConnectionLost, DrachtioError, RequestFailed
from drachtio.protocol import (
    Auth,
    AuthResult,
    Command,
    Failure,
    Request,
    Response,
    ResponseData,
    Role,
    Route,
    SipJson,
)

__all__ = [
    "AuthenticationFailed",
    "Link",
    "LinkEvents",
    "RemoteLink",
    "message_body",
    "request_method",
    "succeeded",
]

_OnResult = Callable[[ResponseData], None]

log = logging.getLogger("drachtio.app")


def request_method(message: SipJson) -> str | None:
    """The method of the request a ``sip`` carries, in either form, read
    without building the message; None for a response.

    Building the core's message from the JSON form costs far more than
    this, and a request in a dialog (an ACK, a BYE) is often handled on its
    method alone. A request whose method is malformed gives None too: the
    message is then built at once, and refused as before.
    """
    if isinstance(message, SipMessage):
        return message.method if isinstance(message, SipRequest) else None
    start = message.get("request_uri")
    method = start.get("method") if isinstance(start, dict) else None
    return method if isinstance(method, str) else None


def message_body(message: SipJson) -> bytes | None:
    """The body of a message in JSON form, read without building the message;
    None when only building it tells (an encoded or malformed payload).

    The common forms only (no payload, a text payload): what
    ``docs/json-form.md`` says of them, as ``from_dict`` reads them.
    """
    if isinstance(message, SipMessage):
        return message.body
    payload = message.get("payload")
    if payload is None:
        return b""
    if isinstance(payload, dict):
        if payload.get("encoding") is not None:
            return None
        payload = payload.get("content")
        if payload is None:
            return b""
    if not isinstance(payload, str):
        return None
    try:
        return payload.encode()
    except UnicodeEncodeError:  # a lone surrogate: the message cannot be built
        return None


def succeeded(result: ResponseData) -> ResponseData:
    """A command's result, when it succeeded.

    Raises:
        RequestFailed: the server answered ``{success: false}``.
    """
    if isinstance(result, Failure):
        raise RequestFailed(result.reason)
    return result


class AuthenticationFailed(DrachtioError):
    """The server refused the secret; the link is not retried."""


class Link(Protocol):
    """What an application talks to a server through."""

    name: str

    @property
    def connected(self) -> bool:
        """Whether commands can be sent now."""

    async def call(
        self, command: Command, on_result: Callable[[ResponseData], None] | None = None
    ) -> ResponseData:
        """Send ``command``; its successful result (``on_result`` gets it first, at once).

        Raises:
            RequestFailed: the server answered ``{success: false}``.
            ConnectionLost: the link is down, or went down before the answer.
        """

    def submit(
        self, command: Command, on_result: Callable[[ResponseData], None] | None = None
    ) -> asyncio.Future[ResponseData]:
        """Send ``command`` now, without waiting: the future of its result.

        The future holds the :class:`~drachtio.protocol.Failure` when the
        server refused it, and fails with ConnectionLost when the link is down
        or went down before the answer; ``on_result`` gets a successful
        result at once, as :meth:`call` does.
        """

    def sip_message(self, message: SipJson) -> SipMessage:
        """The SIP message a protocol message carries, as the core's object."""


class LinkEvents(Protocol):
    """What a link tells the application it serves."""

    def verbs(self) -> Iterable[str]:
        """The SIP methods to route on every (re)connection."""

    def request_received(self, link: Link, command: Command) -> ResponseData:
        """The server sent a request (``sip``, ``cancel``, ``dialog``); the answer's data."""

    def link_state(self, link: Link, state: str, detail: str) -> None:
        """``connect``, ``disconnect``, ``reconnecting`` or ``closed``, with a detail."""


class RemoteLink:
    """A connection to one drachtio server, reopened when lost."""

    def __init__(
        self,
        events: LinkEvents,
        host: str,
        port: int,
        secret: str,
        *,
        app_name: str | None = None,
        tags: tuple[str, ...] = (),
        ssl: _ssl.SSLContext | None = None,
        settings: ChannelSettings,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.name = f"{host}:{port}"
        self.host = host
        self.port = port
        self.app_name = app_name
        self.tags = tags
        self.hostport: tuple[str, ...] = ()
        """The server's SIP addresses, as its ``auth`` answer gave them."""
        self._events = events
        self._secret = secret
        self._ssl = ssl
        self._settings = settings
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._channel: Channel | None = None
        self._connected = False
        self._closing = False
        self._pending: dict[
            str, tuple[asyncio.Future[ResponseData], Callable[..., None] | None]
        ] = {}
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "connected" if self._connected else "closed" if self._closing else "down"
        return f"<RemoteLink {self.name} {state}>"

    @property
    def connected(self) -> bool:
        """Whether the link is authenticated and usable now."""
        return self._connected

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect the first time; then keep the link up in the background.

        Raises:
            OSError: the server could not be reached.
            AuthenticationFailed: the secret was refused.
            ConnectionLost: the connection dropped while setting up.
        """
        await self._open()
        self._task = asyncio.ensure_future(self._keep_up())

    async def close(self) -> None:
        """Close the link for good; pending commands fail with ConnectionLost."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            self._task = None
        channel = self._channel
        if channel is not None:
            channel.close()
            await asyncio.wait([channel.done], timeout=5.0)
        self._connected = False
        self._events.link_state(self, "closed", "closed by the application")

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost.clear()
        _, channel = await loop.create_connection(
            lambda: Channel(self, Role.CLIENT, self._settings), self.host, self.port, ssl=self._ssl
        )
        self._channel = channel
        result = await self._send(channel, Auth(self._secret, self.app_name, self.tags))
        if not isinstance(result, AuthResult) or not result.authenticated:
            reason = result.reason if isinstance(result, AuthResult) else "no answer"
            channel.close()
            raise AuthenticationFailed(f"{self.name} refused authentication: {reason}")
        self.hostport = tuple(result.hostport or ())
        channel.start_keepalive()
        # Usable from here: a request routed by the first route may come in the
        # read that brings its answer, and its handler may answer at once.
        self._connected = True
        for verb in self._events.verbs():
            await self._send(channel, Route(verb))
        log.info("connected to %s app=%s", self.name, self.app_name)
        self._events.link_state(self, "connect", self.name)

    async def _keep_up(self) -> None:
        while not self._closing:
            await self._lost.wait()
            if self._closing:
                return
            delay = self._backoff_initial
            while not self._closing:
                self._events.link_state(self, "reconnecting", f"in {delay:.1f} s")
                await asyncio.sleep(delay)
                try:
                    await self._open()
                    break
                except AuthenticationFailed as exc:
                    log.error("%s; not reconnecting", exc)
                    self._closing = True
                    self._events.link_state(self, "closed", str(exc))
                    return
                except (OSError, ConnectionLost, RequestFailed) as exc:
                    log.info("reconnecting to %s failed: %s", self.name, exc)
                    delay = min(delay * 2, self._backoff_max)

    # ------------------------------------------------------------ commands

    async def call(
        self, command: Command, on_result: Callable[[ResponseData], None] | None = None
    ) -> ResponseData:
        channel = self._channel
        if not self._connected or channel is None:
            raise ConnectionLost(f"not connected to {self.name}")
        # Awaited here rather than through _send: one coroutine less on every answer.
        return succeeded(await self._submit(channel, command, on_result))

    def submit(
        self, command: Command, on_result: Callable[[ResponseData], None] | None = None
    ) -> asyncio.Future[ResponseData]:
        channel = self._channel
        if not self._connected or channel is None:
            future: asyncio.Future[ResponseData] = asyncio.get_running_loop().create_future()
            future.set_exception(ConnectionLost(f"not connected to {self.name}"))
            return future
        return self._submit(channel, command, on_result)

    def _submit(
        self,
        channel: Channel,
        command: Command,
        on_result: Callable[[ResponseData], None] | None,
    ) -> asyncio.Future[ResponseData]:
        future: asyncio.Future[ResponseData] = channel.loop.create_future()
        rid = channel.send_command(command)
        if rid is None:
            future.set_exception(ConnectionLost(f"cannot send {command.COMMAND} to {self.name}"))
        else:
            self._pending[rid] = (future, on_result)
        return future

    async def _send(
        self,
        channel: Channel,
        command: Command,
        on_result: Callable[[ResponseData], None] | None = None,
    ) -> ResponseData:
        return succeeded(await self._submit(channel, command, on_result))

    def sip_message(self, message: SipJson) -> SipMessage:
        if isinstance(message, dict):
            return from_dict(message)
        assert not isinstance(message, dict)
        return message

    # ------------------------------------------------------------ ChannelOwner

    def channel_opened(self, channel: Channel) -> None:
        log.debug("control connection open to %s", self.name)

    def request_received(self, channel: Channel, request: Request) -> ResponseData:
        return self._events.request_received(self, request.data)

    def response_received(self, channel: Channel, response: Response, request: Request) -> None:
        entry = self._pending.pop(request.rid, None)
        if entry is None:
            return
        future, on_result = entry
        data = response.data
        if on_result is not None and not isinstance(data, Failure):
            # At once, before the next frame of this read: a sip message
            # about this result may follow in the same read.
            on_result(data)
        if not future.done():
            future.set_result(data)

    def channel_closed(self, channel: Channel, reason: str) -> None:
        if channel is not self._channel:
            return
        self._channel = None
        was_connected = self._connected
        self._connected = False
        pending, self._pending = self._pending, {}
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(ConnectionLost(f"{self.name}: {reason}"))
        if was_connected and not self._closing:
            log.warning("lost connection to %s: %s", self.name, reason)
            self._events.link_state(self, "disconnect", reason)
        self._lost.set()
