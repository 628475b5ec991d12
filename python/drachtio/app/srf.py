"""``Srf``: a SIP application on asyncio, driving drachtio servers.

Handlers are async functions of ``(req, res)`` registered per method;
:meth:`Srf.connect` opens a link to a server and routes the methods that have
one. Calls are made with :meth:`Srf.create_uas`, :meth:`Srf.create_uac` and
:meth:`Srf.create_b2bua` (their early dialogs: :mod:`drachtio.app.early`);
other requests with :meth:`Srf.request`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as _ssl
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from drachtio._core import SipRequest, SipResponse
from drachtio.app.dialog import DEFAULT_ANSWERS, Dialog
from drachtio.app.digest import DigestCredentials, answer_challenge
from drachtio.app.early import OnEarly, UacDialogs
from drachtio.app.early import create_early_uas as _create_early_uas
from drachtio.app.embedded import EmbeddedLink
from drachtio.app.link import Link, RemoteLink, request_method
from drachtio.app.message import Headers, Request, Response, body_text, simple_headers
from drachtio.app.proxy import proxy_request
from drachtio.channel import ChannelSettings
from drachtio.errors import ConnectionLost, DrachtioError, LocalError, RequestFailed, SipError
from drachtio.protocol import (
    CDR_VERBS,
    DEFAULT_MAX_FRAME_SIZE,
    CallDetailRecord,
    Cancel,
    CancelSipRequest,
    Command,
    DialogEvent,
    ResponseData,
    Route,
    SendResult,
    SendSipRequest,
    Sip,
    method_named,
)
from drachtio.protocol.results import SUCCESS

if TYPE_CHECKING:
    from drachtio.server import Server

__all__ = ["Credentials", "Handler", "Middleware", "Srf"]

log = logging.getLogger("drachtio.app")

Handler = Callable[[Request, Response], Awaitable[None]]
"""A request handler: ``async def handler(req, res)``."""
Middleware = Callable[[Request, Response, Callable[[], Awaitable[None]]], Awaitable[None]]
"""``async def middleware(req, res, call_next)``: runs before the handler; ``await call_next()``."""
Credentials = tuple[str, str]
"""``(username, password)`` for digest authentication."""

_H = TypeVar("_H", bound=Handler)

# How many 3xx responses create_uac follows before it gives up.
_MAX_REDIRECTS = 5


@dataclass(slots=True)
class _ClientTx:
    """A request this application sent, waiting for its final response."""

    final: asyncio.Future[SipResponse]
    on_provisional: Callable[[SipResponse], Any] | None = None
    # Builds the dialog of a 2xx that carries a dialogId, as soon as it comes.
    on_dialog: Callable[[str, SipResponse | None], Dialog] | None = None
    link: Link | None = None
    id: str = ""
    dialog: Dialog | None = None
    request: SipRequest | None = None


@dataclass(slots=True)
class _Route:
    handler: Handler
    middleware: list[Middleware] = field(default_factory=list)


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
        self._uac: dict[str, _ClientTx] = {}
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
        for tx_id, tx in list(self._uac.items()):
            if tx.link is link:
                del self._uac[tx_id]
                if not tx.final.done():
                    tx.final.set_exception(ConnectionLost(reason))
                    # Whoever waited may be gone already (a cancelled call).
                    tx.final.add_done_callback(_retrieve)
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
                self._on_response(sip, message)
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
            dialog = self._early_subscription(request.dialog_id)
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

    def _early_subscription(self, dialog_id: str) -> Dialog | None:
        """The dialog a NOTIFY creates before its SUBSCRIBE's 2xx (RFC 6665 §4.1.2.4)."""
        call_id = dialog_id.split(";from-tag=", 1)[0]
        for tx in self._uac.values():
            request = tx.request
            if (
                request is not None
                and request.method == "SUBSCRIBE"
                and request.call_id == call_id
                and tx.on_dialog is not None
            ):
                tx.dialog = tx.on_dialog(dialog_id, None)
                return tx.dialog
        return None

    def _on_response(self, sip: Sip, response: SipResponse) -> None:
        tx = self._uac.get(sip.transaction_id)
        if tx is None:
            return
        if response.status < 200:
            if sip.dialog_id is not None and tx.on_dialog is not None:
                # Its early dialog (RFC 3261 §12.1.2), which the 2xx of its To tag confirms.
                tx.on_dialog(sip.dialog_id, response)
            if tx.on_provisional is not None:
                self._callback("on_provisional", tx.on_provisional, response)
            return
        if sip.dialog_id is not None and tx.on_dialog is not None and tx.dialog is None:
            tx.dialog = tx.on_dialog(sip.dialog_id, response)
        if not tx.final.done():
            tx.final.set_result(response)
        elif tx.dialog is not None and response.status < 300 and sip.dialog_id != tx.dialog.id:
            # Another fork answered too: this application keeps the first call only.
            self.spawn(self._end_extra_fork(tx, sip))

    async def _end_extra_fork(self, tx: _ClientTx, sip: Sip) -> None:
        assert sip.dialog_id is not None and tx.link is not None
        link = tx.link
        await link.call(SendSipRequest("ACK", None, dialog_id=sip.dialog_id))
        await link.call(SendSipRequest("BYE", None, dialog_id=sip.dialog_id))

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
        self.spawn(self._run_handler(handler, req, res, new))

    async def _run_handler(self, handler: Handler, req: Request, res: Response, new: bool) -> None:
        try:
            middleware = (
                [m for method, m in self._middleware if method in (None, req.method)]
                if new and self._middleware
                else None
            )
            if middleware:
                await _Chain(middleware, handler, req, res).run(0)
            else:
                await handler(req, res)
        except SipError as exc:
            await _answer_error(res, exc.status, exc.reason)
        except (ConnectionLost, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("handler of %s failed, answering 500", req.method)
            await _answer_error(res, 500, None)

    # ------------------------------------------------------------ requests out

    async def send_and_wait(
        self,
        link: Link,
        command: SendSipRequest,
        on_provisional: Callable[[SipResponse], Any] | None = None,
    ) -> SipResponse:
        """Send ``command``; its final response."""
        return (await self._exchange(link, command, on_provisional))[1]

    async def _exchange(
        self,
        link: Link,
        command: SendSipRequest,
        on_provisional: Callable[[SipResponse], Any] | None = None,
        on_dialog: Callable[[str, SipResponse | None], Dialog] | None = None,
    ) -> tuple[SipRequest, SipResponse]:
        """Send ``command``; the request as sent and its final response. The
        request is cancelled (INVITE) if the caller is cancelled while it waits."""
        tx = _ClientTx(self.loop.create_future(), on_provisional, on_dialog, link)

        def sent(result: ResponseData) -> None:
            assert isinstance(result, SendResult)
            tx.id = result.transaction_id
            message = link.sip_message(result.message)
            assert isinstance(message, SipRequest)
            tx.request = message
            self._uac[tx.id] = tx

        await link.call(command, on_result=sent)
        try:
            response = await asyncio.shield(tx.final)
            assert tx.request is not None
            return tx.request, response
        except asyncio.CancelledError:
            if command.method == "INVITE" and not tx.final.done():
                self.spawn(self._abandon(link, tx))
            raise
        finally:
            if tx.final.done():
                self._uac.pop(tx.id, None)

    async def _abandon(self, link: Link, tx: _ClientTx) -> None:
        """CANCEL an INVITE nobody waits for; end the call should a 2xx cross the CANCEL.

        When the link goes meanwhile, the server cancels or ends it itself.
        """
        with contextlib.suppress(ConnectionLost):
            await self._abandon_on(link, tx)

    async def _abandon_on(self, link: Link, tx: _ClientTx) -> None:
        with contextlib.suppress(RequestFailed):  # the final response is on its way
            await link.call(CancelSipRequest(tx.id))
        try:
            response = await asyncio.wait_for(tx.final, 64.0)
        finally:
            self._uac.pop(tx.id, None)
        if 200 <= response.status < 300 and tx.dialog is not None:
            await link.call(SendSipRequest("ACK", None, dialog_id=tx.dialog.id))
            await tx.dialog.destroy()

    async def request(
        self,
        uri: str,
        method: str = "OPTIONS",
        *,
        headers: Headers | None = None,
        body: str | bytes | None = None,
        auth: Credentials | None = None,
        on_provisional: Callable[[SipResponse], Any] | None = None,
        link: Link | None = None,
    ) -> SipResponse:
        """Send a request outside any dialog; its final response, whatever its status.

        With ``auth``, a 401 or 407 is answered once with digest credentials
        (RFC 7616: MD5 or SHA-256, qop=auth). INVITE is
        :meth:`create_uac`'s (it creates a dialog and needs an ACK).

        Raises:
            LocalError: INVITE, ACK or CANCEL.
            RequestFailed: the server refused the request (the reason says why).
            ConnectionLost: no server, or the link went down.
        """
        method = method_named(method)
        if method in ("INVITE", "ACK", "CANCEL"):
            raise LocalError(f"{method} is not sent with request(): use create_uac()")
        target = self._link(link)
        own = simple_headers(headers)
        command = SendSipRequest(method, uri, own, body_text(body))
        sent, response = await self._exchange(target, command, on_provisional)
        retry = _with_credentials(sent, response, own, body, auth)
        if retry is not None:
            command = SendSipRequest(method, uri, retry, body_text(body))
            response = await self.send_and_wait(target, command, on_provisional)
        return response

    # ------------------------------------------------------------ dialogs

    async def create_uas(
        self,
        req: Request,
        res: Response,
        *,
        local_sdp: str | None = None,
        headers: Headers | None = None,
    ) -> Dialog:
        """Answer ``req`` (an INVITE) 200 with ``local_sdp``; the dialog once the ACK came.

        After :meth:`create_early_uas` the dialog is that early one, confirmed.

        Raises:
            SipError: 487 when the caller cancelled first; 408 when no ACK came.
        """
        own: dict[str, Any] = dict(headers or {})
        if local_sdp is not None:
            own.setdefault("Content-Type", "application/sdp")
        remote_sdp = req.text if req.body else None

        made: list[Dialog] = []

        def created(dialog_id: str) -> None:
            dialog = self._dialogs.get(dialog_id)
            if dialog is not None and dialog.early and not dialog.destroyed:
                # The 2xx confirms the early dialog of the 1xx (RFC 3261 §12.1.1).
                dialog._confirmed(None)
                if local_sdp is not None:
                    dialog.local_sdp = local_sdp
            else:
                dialog = Dialog(
                    self,
                    req.link,
                    dialog_id,
                    role="uas",
                    method=req.method,
                    local_sdp=local_sdp,
                    remote_sdp=remote_sdp,
                )
                self._dialogs[dialog_id] = dialog
            made.append(dialog)

        if req.cancelled:
            raise SipError(487, "Request Terminated")
        try:
            await res._send(200, None, own, local_sdp, created)
        except RequestFailed as exc:
            if req.cancelled:
                raise SipError(487, "Request Terminated") from None
            raise SipError(500, str(exc)) from exc
        if not made:
            raise SipError(500, "the 2xx created no dialog")
        # Kept from the result rather than looked up again: the ACK, a BYE and
        # the dialog's end may all have come before this coroutine resumed.
        dialog = made[0]
        if req.method == "INVITE":
            await dialog.wait_acked()
            if not dialog._was_acked:
                raise SipError(408, dialog.destroy_reason or "no ACK for the 2xx")
        return dialog

    create_early_uas = _create_early_uas
    """A provisional response with our tag and its early dialog:
    :func:`drachtio.app.early.create_early_uas`."""

    async def create_uac(
        self,
        uri: str,
        *,
        local_sdp: str | None = None,
        headers: Headers | None = None,
        auth: Credentials | None = None,
        on_provisional: Callable[[SipResponse], Any] | None = None,
        on_early: OnEarly | None = None,
        prack: Literal["server", "app"] = "server",
        follow_redirects: bool = False,
        link: Link | None = None,
    ) -> Dialog:
        """Call ``uri``: an INVITE offering ``local_sdp``; the dialog once answered 2xx and ACKed.

        ``on_provisional(response)`` gets every provisional response;
        ``on_early(dialog, response)`` those with a To tag, each with its
        early dialog (one per To tag when the INVITE forks), in which the
        application may :meth:`~Dialog.update`, :meth:`~Dialog.request`
        (INFO) and, with ``prack="app"``, :meth:`~Dialog.prack` the reliable
        provisional responses (RFC 3262) itself: the server then sends no
        PRACK of its own. The dialog returned is the early one of the 2xx's
        To tag, confirmed; the other early dialogs end (``another fork
        answered the INVITE``), all of them on a failure.

        Cancelling the task that awaits this sends CANCEL. With ``auth`` a
        401/407 is answered once; with ``follow_redirects`` the first Contact
        of a 3xx is called instead (at most 5 times).

        Raises:
            SipError: the call failed (the final response is ``exc.response``).
            LocalError: ``prack="app"`` without ``on_early`` (the PRACKs are
                sent in the early dialogs it gets).
        """
        if prack == "app" and on_early is None:
            raise LocalError(
                'prack="app" needs on_early: the application sends each PRACK '
                "in the early dialog on_early gets"
            )
        target = self._link(link)
        own = simple_headers(headers)
        if local_sdp is not None:
            own.setdefault("Content-Type", "application/sdp")
        authenticated = False
        for _ in range(_MAX_REDIRECTS + 2):
            dialogs = UacDialogs(self, target, local_sdp, on_early)
            command = SendSipRequest("INVITE", uri, own, local_sdp, prack=prack)
            sent, response = await self._exchange(target, command, on_provisional, dialogs)
            status = response.status
            if 200 <= status < 300:
                answered = dialogs.answered
                if answered is None:
                    raise SipError(status, "2xx that created no dialog", response)
                await target.call(SendSipRequest("ACK", None, dialog_id=answered.id))
                return answered
            if status in (401, 407) and auth is not None and not authenticated:
                retry = _with_credentials(sent, response, own, local_sdp, auth)
                if retry is not None:
                    own, authenticated = retry, True
                    continue
            if 300 <= status < 400 and follow_redirects and response.contacts:
                uri = str(response.contacts[0].uri)
                continue
            raise SipError(status, response.reason, response)
        raise SipError(482, "too many redirections")

    async def create_subscription(
        self,
        uri: str,
        *,
        event: str,
        expires: int = 3600,
        headers: Headers | None = None,
        on_notify: Handler | None = None,
        auth: Credentials | None = None,
        link: Link | None = None,
    ) -> Dialog:
        """Subscribe to ``event`` at ``uri`` (RFC 6665); the subscription's dialog.

        ``on_notify(req, res)`` gets every NOTIFY of the subscription, the
        first ones too (one may come before the 2xx); without it they go to
        the dialog's handlers, events or default answer (200). A NOTIFY
        saying ``terminated`` and answered 2xx ends the dialog;
        :meth:`Dialog.destroy` unsubscribes (``Expires: 0``) and waits for it.

        Raises:
            SipError: the SUBSCRIBE was refused (the final response is ``exc.response``).
        """
        target = self._link(link)
        own: dict[str, str | list[str]] = {
            "Event": event,
            "Expires": str(expires),
            **simple_headers(headers),
        }
        made: list[Dialog] = []

        def created(dialog_id: str, _: SipResponse | None) -> Dialog:
            if made:
                return made[0]
            dialog = Dialog(
                self,
                target,
                dialog_id,
                role="uac",
                method="SUBSCRIBE",
                local_sdp=None,
                remote_sdp=None,
                event=event,
            )
            if on_notify is not None:
                dialog.on("notify", on_notify)
            self._dialogs[dialog_id] = dialog
            made.append(dialog)
            return dialog

        command = SendSipRequest("SUBSCRIBE", uri, own)
        sent, response = await self._exchange(target, command, None, created)
        retry = _with_credentials(sent, response, own, None, auth)
        if retry is not None:
            command = SendSipRequest("SUBSCRIBE", uri, retry)
            sent, response = await self._exchange(target, command, None, created)
        if not 200 <= response.status < 300 or not made:
            raise SipError(response.status, response.reason, response)
        return made[0]

    proxy_request = staticmethod(proxy_request)
    """Have the server proxy a request (RFC 3261 §16): :func:`drachtio.app.proxy.proxy_request`."""

    async def create_b2bua(
        self,
        req: Request,
        res: Response,
        uri: str,
        *,
        headers: Headers | None = None,
        local_sdp_b: str | None = None,
        auth: Credentials | None = None,
        copy_headers: Iterable[str] = (),
        pass_failure: bool = True,
    ) -> tuple[Dialog, Dialog]:
        """Bridge ``req`` to ``uri``: ``(uas, uac)`` dialogs once the callee answered.

        The callee is offered the caller's SDP (or ``local_sdp_b``); its
        provisional responses with SDP are relayed as 183, and its answer
        becomes the caller's 200. A CANCEL from the caller cancels the
        callee; a failure of the callee is passed back to the caller (same
        status and reason; with ``pass_failure=False`` the caller is left for
        the application to answer) and raised. ``copy_headers`` names headers of the
        caller's INVITE to copy onto the callee's. When either call ends,
        the other is hung up.

        Raises:
            SipError: the callee failed (passed back), or the caller cancelled (487).
        """
        own: dict[str, Any] = dict(headers or {})
        for name in copy_headers:
            values = req.get_all(name)
            if values and name not in own:
                own[name] = values if len(values) > 1 else values[0]
        offer = local_sdp_b if local_sdp_b is not None else (req.text if req.body else None)

        async def relay(provisional: SipResponse) -> None:
            if provisional.status > 100 and not res.finished:
                sdp = provisional.body.decode("utf-8", "replace") if provisional.body else None
                status = 183 if sdp else provisional.status
                ctype = {"Content-Type": "application/sdp"} if sdp else None
                with contextlib.suppress(RequestFailed, LocalError):
                    await res.send(status, headers=ctype, body=sdp)

        # Kept as spawn() keeps tasks, but not logged by it: the callee's
        # failure is an outcome, passed back and raised below.
        calling = asyncio.ensure_future(
            self.create_uac(uri, local_sdp=offer, headers=own, auth=auth, on_provisional=relay)
        )
        self._tasks.add(calling)
        calling.add_done_callback(self._tasks.discard)
        cancelled = self.spawn(req.wait_cancelled())
        await asyncio.wait([calling, cancelled], return_when=asyncio.FIRST_COMPLETED)
        if not calling.done():
            calling.cancel()
            await asyncio.wait([calling])
            raise SipError(487, "Request Terminated")
        cancelled.cancel()
        try:
            uac = calling.result()
        except SipError as exc:
            if pass_failure:
                await _answer_error(res, exc.status, exc.reason)
            raise
        try:
            uas = await self.create_uas(req, res, local_sdp=uac.remote_sdp)
        except SipError:
            await uac.destroy()
            raise
        self._pair(uas, uac)
        return uas, uac

    def _pair(self, a: Dialog, b: Dialog) -> None:
        async def hang_up(other: Dialog) -> None:
            if not other.destroyed:
                try:
                    await other.destroy()
                except (DrachtioError, OSError) as exc:
                    log.info("could not end the other call leg %s: %s", other.id, exc)

        a.on("destroy", lambda reason: hang_up(b))
        b.on("destroy", lambda reason: hang_up(a))


@dataclass(slots=True)
class _Chain:
    """One request's way through the middleware to its handler.

    Each ``call_next`` is a bound method, not a closure that refers to
    itself: the request and its response are freed when the handler ends
    instead of waiting in a reference cycle for the garbage collector.
    """

    middleware: list[Middleware]
    handler: Handler
    req: Request
    res: Response

    async def run(self, index: int) -> None:
        if index == len(self.middleware):
            await self.handler(self.req, self.res)
        else:
            await self.middleware[index](self.req, self.res, partial(self.run, index + 1))


async def _route(link: Link, method: str) -> None:
    await link.call(Route(method))


async def _answer_error(res: Response, status: int, reason: str | None) -> None:
    if res.finished:
        return
    try:
        await res._send(status, reason, None, None, None)
    except (RequestFailed, LocalError, ConnectionLost) as exc:
        log.info("could not answer %d: %s", status, exc)


def _with_credentials(
    sent: SipRequest,
    response: SipResponse,
    headers: dict[str, str | list[str]],
    body: str | bytes | None,
    auth: Credentials | None,
) -> dict[str, str | list[str]] | None:
    """The headers of ``sent`` retried with the answer to ``response``'s digest
    challenge, or None: the same Call-ID, From (and tag) and To, the next
    CSeq (RFC 3261 §22.2)."""
    if auth is None or response.status not in (401, 407):
        return None
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    answer = answer_challenge(
        response,
        method=sent.method,
        uri=str(sent.uri),
        credentials=DigestCredentials(*auth),
        body=raw,
    )
    cseq = sent.cseq
    if answer is None or cseq is None:
        return None
    name, value = answer
    retry: dict[str, str | list[str]] = {
        **headers,
        "From": sent.header("From") or "",
        "To": sent.header("To") or "",
        "Call-ID": sent.call_id or "",
        "CSeq": f"{cseq.seq + 1} {sent.method}",
        name: value,
    }
    return retry


def _retrieve(future: asyncio.Future[SipResponse]) -> None:
    if not future.cancelled():
        future.exception()
