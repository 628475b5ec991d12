"""``Srf``: a SIP application on asyncio, driving drachtio servers.

Handlers are async functions of ``(req, res)`` registered per method;
:meth:`Srf.connect` opens a link to a server and routes the methods that have
one. Calls are made with :meth:`Srf.create_uas`, :meth:`Srf.create_uac` and
:meth:`Srf.create_b2bua` (their early dialogs: :mod:`drachtio.app.early`);
other requests with :meth:`Srf.request`.

This module holds the ``Srf`` object: its handlers and middleware, its links,
and the dispatch of what the servers send. The rest lives in modules of
its own, which the methods of ``Srf`` hand over to: running a handler
(:mod:`drachtio.app.handlers`), the requests it sends and their responses
(:mod:`drachtio.app.outgoing`), answering a call (:mod:`drachtio.app.uas`),
calling and subscribing (:mod:`drachtio.app.uac`), early dialogs
(:mod:`drachtio.app.early`) and the B2BUA (:mod:`drachtio.app.b2bua`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl as _ssl
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from drachtio._core import SipResponse
from drachtio.app.b2bua import create_b2bua as _create_b2bua
from drachtio.app.dialog import DEFAULT_ANSWERS, Dialog
from drachtio.app.digest import Credentials
from drachtio.app.early import create_early_uas as _create_early_uas
from drachtio.app.embedded import EmbeddedLink
from drachtio.app.handlers import Handler, Middleware
from drachtio.app.handlers import run_handler as _run_handler
from drachtio.app.link import Link, RemoteLink, request_method
from drachtio.app.message import Request, Response
from drachtio.app.outgoing import ClientTransactions
from drachtio.app.outgoing import request as _request
from drachtio.app.proxy import proxy_request
from drachtio.app.uac import create_subscription as _create_subscription
from drachtio.app.uac import create_uac as _create_uac
from drachtio.app.uas import create_uas as _create_uas
from drachtio.channel import ChannelSettings
from drachtio.errors import ConnectionLost, LocalError
from drachtio.protocol import (
    CDR_VERBS,
    DEFAULT_MAX_FRAME_SIZE,
    CallDetailRecord,
    Cancel,
    Command,
    DialogEvent,
    ResponseData,
    Route,
    SendSipRequest,
    Sip,
    method_named,
)
from drachtio.protocol.results import SUCCESS

if TYPE_CHECKING:
    from drachtio.server import Server

__all__ = ["Credentials", "Handler", "Middleware", "Srf"]

log = logging.getLogger("drachtio.app")

_H = TypeVar("_H", bound=Handler)


class Srf:
    """A SIP application: handlers, middleware, links to servers, and the calls it makes.

    ::

        srf = Srf()

        @srf.invite
        async def on_invite(req, res):
            dialog = await srf.create_uas(req, res, local_sdp=SDP)
            await dialog.wait_destroyed()

        await srf.connect("127.0.0.1", 9022, "s3cret")
    """

    def __init__(self, *, app_name: str | None = None, tags: Iterable[str] = ()) -> None:
        self.app_name = app_name
        self.tags = tuple(tags)
        """Names a server's request handler can route new requests to (``docs/server.md``)."""
        self._routes: dict[str, Handler] = {}
        self._middleware: list[tuple[str | None, Middleware]] = []
        self._links: list[RemoteLink | EmbeddedLink] = []
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._incoming: dict[str, Request] = {}
        self._outgoing = ClientTransactions(self)
        self._dialogs: dict[str, Dialog] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<Srf app={self.app_name} links={self._links} dialogs={len(self._dialogs)}>"

    # ------------------------------------------------------------ handlers

    def handle(self, method: str) -> Callable[[_H], _H]:
        """Decorator: ``handler(req, res)`` gets new requests of ``method``.

        A standard method may be named in any case (``"invite"``); an
        extension method is matched exactly as written (RFC 3261 §7.1), as
        the server routes it.
        """
        method = method_named(method)

        def register(handler: _H) -> _H:
            first = method not in self._routes
            self._routes[method] = handler
            if first:
                for link in self._links:
                    if link.connected:
                        self.spawn(_route(link, method))
            return handler

        return register

    def invite(self, handler: _H) -> _H:
        """Decorator: the handler of new INVITEs."""
        return self.handle("INVITE")(handler)

    def register(self, handler: _H) -> _H:
        """Decorator: the handler of REGISTER."""
        return self.handle("REGISTER")(handler)

    def options(self, handler: _H) -> _H:
        """Decorator: the handler of OPTIONS."""
        return self.handle("OPTIONS")(handler)

    def message(self, handler: _H) -> _H:
        """Decorator: the handler of MESSAGE."""
        return self.handle("MESSAGE")(handler)

    def subscribe(self, handler: _H) -> _H:
        """Decorator: the handler of new SUBSCRIBEs."""
        return self.handle("SUBSCRIBE")(handler)

    def info(self, handler: _H) -> _H:
        """Decorator: the handler of INFO outside any dialog."""
        return self.handle("INFO")(handler)

    def notify(self, handler: _H) -> _H:
        """Decorator: the handler of NOTIFY outside any dialog."""
        return self.handle("NOTIFY")(handler)

    def refer(self, handler: _H) -> _H:
        """Decorator: the handler of REFER outside any dialog."""
        return self.handle("REFER")(handler)

    def publish(self, handler: _H) -> _H:
        """Decorator: the handler of PUBLISH."""
        return self.handle("PUBLISH")(handler)

    def use(self, middleware: Middleware, *, method: str | None = None) -> None:
        """Run ``middleware(req, res, call_next)`` before the handlers (of ``method`` only)."""
        self._middleware.append((method_named(method) if method else None, middleware))

    def on(self, event: str, callback: Callable[..., Any] | None = None) -> Any:
        """Call ``callback`` on a link event: ``connect(link)``, ``disconnect(link, reason)``,
        ``reconnecting(link, detail)``, ``closed(link, reason)``, or ``handover(dialog)``
        (a dialog of another application instance handed to this one). A decorator too.

        ``cdr:attempt``, ``cdr:start`` and ``cdr:stop`` are the server's call
        detail records of that kind (``callback(record)``, a
        :class:`~drachtio.protocol.CallDetailRecord`): the application routes
        them, and takes its turn at them with the other applications that do."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            first = event not in self._listeners
            self._listeners.setdefault(event, []).append(fn)
            if first and event in CDR_VERBS:
                for link in self._links:
                    if link.connected:
                        self.spawn(_route(link, event))
            return fn

        return register if callback is None else register(callback)

    # ------------------------------------------------------------ links

    async def connect(
        self,
        host: str = "127.0.0.1",
        port: int = 9022,
        secret: str | None = None,
        *,
        tls: _ssl.SSLContext | None = None,
        app_name: str | None = None,
        tags: Iterable[str] | None = None,
        ping_interval: float = 15.0,
        ping_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> RemoteLink:
        """Connect to a drachtio server, authenticate and route the handled methods.

        ``app_name`` and ``tags`` are told to that server when authenticating
        (by default, the ``Srf``'s).

        Once connected the link is kept up: a server that stops answering is
        noticed within ``ping_interval + ping_timeout`` seconds, and a lost
        connection is reopened after ``backoff_initial`` seconds, doubling up
        to ``backoff_max``, routes restored. Several servers may be connected
        at once: new requests come from any of them.

        Raises:
            OSError: the server could not be reached.
            AuthenticationFailed: the secret was refused.
        """
        if secret is None:
            raise LocalError("a secret is needed to connect (the server's DRACHTIO_SECRET)")
        self._loop = asyncio.get_running_loop()
        settings = ChannelSettings(
            max_frame_size=DEFAULT_MAX_FRAME_SIZE,
            max_write_buffer=4 * 1024 * 1024,
            max_pending=10_000,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            flush_after_tasks=True,
        )
        link = RemoteLink(
            self,
            host,
            port,
            secret,
            app_name=app_name or self.app_name,
            tags=self.tags if tags is None else tuple(tags),
            ssl=tls,
            settings=settings,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        self._links.append(link)
        try:
            await link.start()
        except BaseException:
            self._links.remove(link)
            raise
        return link

    async def attach(self, server: Server) -> EmbeddedLink:
        """Serve ``server`` from this process: no socket, no JSON, the core's messages.

        The server must be started (or pass ``app=srf`` to ``Server``, which
        attaches it on start). Handlers behave exactly as over a connection.

        Raises:
            ConnectionLost: the server is stopping.
        """
        self._loop = asyncio.get_running_loop()
        link = EmbeddedLink(self, server, self.app_name, self.tags)
        self._links.append(link)
        try:
            await link.start()
        except BaseException:
            self._links.remove(link)
            raise
        return link

    async def close(self) -> None:
        """Close every link; handlers still running are cancelled."""
        links, self._links = self._links, []
        for link in links:
            if isinstance(link, RemoteLink):
                await link.close()
            else:
                link.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)

    @property
    def links(self) -> list[RemoteLink | EmbeddedLink]:
        """The links to servers, connected or reconnecting."""
        return list(self._links)

    def _link(self, link: Link | None) -> Link:
        if link is not None:
            return link
        for candidate in self._links:
            if candidate.connected:
                return candidate
        raise ConnectionLost("not connected to any server")

    # LinkEvents

    def verbs(self) -> Iterable[str]:
        return [*self._routes, *(event for event in self._listeners if event in CDR_VERBS)]

    def link_state(self, link: Link, state: str, detail: str) -> None:
        if state == "closed" and link in self._links:
            self._links.remove(link)
        if state == "disconnect":
            self._lost(link, f"connection to the server lost: {detail}")
        elif state == "closed":
            self._lost(link, f"link closed: {detail}")
        self._emit(state, link, detail)

    def _lost(self, link: Link, reason: str) -> None:
        """What lived on ``link`` is over: the server has ended it or handed it on."""
        self._outgoing.lost(link, reason)
        for tx_id, request in list(self._incoming.items()):
            if request.link is link:
                del self._incoming[tx_id]
                request._cancel(reason)
        for dialog_id, dialog in list(self._dialogs.items()):
            if dialog.link is link:
                del self._dialogs[dialog_id]
                dialog._ended(reason)

    def request_received(self, link: Link, command: Command) -> ResponseData:
        if isinstance(command, Sip):
            self._on_sip(link, command)
        elif isinstance(command, Cancel):
            # The transaction is over either way (the caller cancelled it or
            # the server answered it): forget it.
            request = self._incoming.pop(command.transaction_id, None)
            if request is not None:
                request._cancel(command.reason or "cancelled")
        elif isinstance(command, DialogEvent):
            self._on_dialog_event(link, command)
        elif isinstance(command, CallDetailRecord):
            self._emit(f"cdr:{command.kind}", command)
        return SUCCESS

    def _emit(self, event: str, *args: Any) -> None:
        for callback in self._listeners.get(event, ()):
            self._callback(f"{event} listener", callback, *args)

    def _callback(self, name: str, callback: Callable[..., Any], *args: Any) -> None:
        """Call the application's ``callback``; a coroutine it returns runs as a
        task; what it raises is logged."""
        try:
            result = callback(*args)
            if asyncio.iscoroutine(result):
                self.spawn(result)
        except Exception:
            log.exception("%s failed", name)

    def _keep(self, dialog: Dialog) -> None:
        """Track ``dialog``: requests in it and its end reach it from now on."""
        self._dialogs[dialog.id] = dialog

    def _dialog(self, dialog_id: str) -> Dialog | None:
        return self._dialogs.get(dialog_id)

    # ------------------------------------------------------------ incoming

    def _on_sip(self, link: Link, sip: Sip) -> None:
        method = request_method(sip.message)
        if method is None:
            message = link.sip_message(sip.message)
            if isinstance(message, SipResponse):
                self._outgoing.on_response(sip, message)
            return
        if method == "ACK" and sip.dialog_id is not None:
            # Nobody answers an ACK, and its dialog needs its arrival only: no
            # Request is made for it.
            dialog = self._dialogs.get(sip.dialog_id)
            if dialog is not None:
                dialog._ack()
            return
        # The message is built when the application first reads it.
        request = Request(
            sip.message,
            transaction_id=sip.transaction_id,
            link=link,
            source=sip.source,
            dialog_id=sip.dialog_id,
            received_at=sip.time,
            method=method,
        )
        if sip.dialog_id is not None:
            self._in_dialog(request)
            return
        route = self._routes.get(method)
        if route is None:
            # Routed before the handler went away (or another instance's verb).
            Response(request, self._forget).answer_now(501)
            return
        self._incoming[request.transaction_id] = request
        self.run_handler(route, request, Response(request, self._forget), new=True)

    def _forget(self, request: Request) -> None:
        self._incoming.pop(request.transaction_id, None)

    def _in_dialog(self, request: Request) -> None:
        assert request.dialog_id is not None
        dialog = self._dialogs.get(request.dialog_id)
        if dialog is None and request.method == "NOTIFY":
            dialog = self._outgoing.early_subscription(request.dialog_id)
        self._incoming[request.transaction_id] = request
        response = Response(request, self._forget)
        if dialog is not None and dialog.early:
            # The provisional response that made the dialog may have come in
            # the same read, its on_early callback only scheduled: the request
            # waits its turn on the loop, so the handlers that callback sets
            # before its first await are there to take it.
            self.loop.call_soon(dialog._request, request, response)
        elif dialog is not None:
            dialog._request(request, response)
        else:
            # A dialog this application made without the dialog API (a raw 2xx).
            response.answer_now(DEFAULT_ANSWERS.get(request.method, 501))

    def _on_dialog_event(self, link: Link, event: DialogEvent) -> None:
        if event.event == "destroyed":
            dialog = self._dialogs.pop(event.dialog_id, None)
            if dialog is not None:
                dialog._ended(event.reason or "destroyed")
        elif event.event == "created" and event.dialog_id not in self._dialogs:
            dialog = Dialog(
                self,
                link,
                event.dialog_id,
                role="uas",
                method="INVITE",
                local_sdp=None,
                remote_sdp=None,
            )
            self._dialogs[dialog.id] = dialog
            self._emit("handover", dialog)

    # ------------------------------------------------------------ running handlers

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the application runs on (the one it connected or attached from)."""
        # Kept: asyncio.get_running_loop() makes a system call on Python 3.11.
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the application keeps; its exception is logged."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("task failed: %r", exc, exc_info=exc)

    def run_handler(
        self, handler: Handler, req: Request, res: Response, *, new: bool = False
    ) -> None:
        """Run ``handler(req, res)`` (behind the middleware for a new request)."""
        self.spawn(_run_handler(handler, req, res, self._middleware if new else None))

    # ------------------------------------------------------------ requests out

    async def send_and_wait(
        self,
        link: Link,
        command: SendSipRequest,
        on_provisional: Callable[[SipResponse], Any] | None = None,
    ) -> SipResponse:
        """Send ``command``; its final response."""
        return (await self._outgoing.exchange(link, command, on_provisional))[1]

    request = _request
    """A request outside any dialog: :func:`drachtio.app.outgoing.request`."""

    # ------------------------------------------------------------ dialogs

    create_uas = _create_uas
    """Answer an INVITE 200; its dialog once the ACK came: :func:`drachtio.app.uas.create_uas`."""

    create_early_uas = _create_early_uas
    """A provisional response with our tag and its early dialog:
    :func:`drachtio.app.early.create_early_uas`."""

    create_uac = _create_uac
    """Call a URI; the dialog once answered 2xx and ACKed: :func:`drachtio.app.uac.create_uac`."""

    create_subscription = _create_subscription
    """Subscribe to an event (RFC 6665); the subscription's dialog:
    :func:`drachtio.app.uac.create_subscription`."""

    proxy_request = staticmethod(proxy_request)
    """Have the server proxy a request (RFC 3261 §16): :func:`drachtio.app.proxy.proxy_request`."""

    create_b2bua = _create_b2bua
    """Bridge an INVITE to a URI; ``(uas, uac)`` once the callee answered:
    :func:`drachtio.app.b2bua.create_b2bua`."""


async def _route(link: Link, method: str) -> None:
    await link.call(Route(method))
