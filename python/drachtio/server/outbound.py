"""New requests routed by the request handler, and the connections the server opens to applications.

With ``request_handler`` configured, each new request outside any dialog
is routed by :class:`RequestRouter` instead of going to an application
that asked for its method: it asks the request handler
(:mod:`drachtio.server.request_handler` words the question and reads the
answer) and carries out the answer. ``reject`` and ``redirect`` are
answered by the server; ``proxy`` is proxied by the server's proxy; a
``route`` to a tag goes to a connected drachtio-srf application that
declared the tag and routes the method (round robin); a ``route`` to
``HOST:PORT`` makes the server connect there (over TCP, or TLS with
``;transport=tls``: the application's certificate checked as a SIP peer's
is), to a drachtio-srf application listening (``srf.listen``): the application authenticates
first, as on any connection, and is then sent the request. Each such
connection serves the request it was opened for and whatever follows in
its dialog (connections are not reused: the next request gets a new one);
the application closes it when it is done (``srf.endSession``), or else
the server does once it is idle for ``outbound_idle_timeout`` seconds
(:class:`IdleCloser`, the rules in :mod:`drachtio.server.outbound_idle`).

What can go wrong is answered at once and logged, and the server goes on
serving: a request handler that cannot be reached, is slow, or answers
anything but such an action gets the caller 500; an application that
cannot be connected to, or does not authenticate in time, 480; no
application with the tag, 480; more than ``request_handler_max_pending``
requests being routed at once, 503 for the next. The query has
``request_handler_timeout`` seconds, and so has the application to be
connected to and authenticated.
A CANCEL while the request is being routed ends it (the stack answers
487); the routing then stops where it is.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from drachtio.server.app_session import AppSession
from drachtio.server.config import ConfigError, ServerConfig
from drachtio.server.http_client import HttpClient, HttpError
from drachtio.server.log_summary import SummarizedWarning
from drachtio.server.outbound_idle import IdleClock, Use
from drachtio.server.request_handler import (
    Action,
    ConnectTo,
    HandlerError,
    ProxyTo,
    Redirect,
    Reject,
    ToTag,
    fixed_action,
    query_url,
    read_action,
)
from drachtio.server.routing import Routes
from drachtio.server.srf_session import SrfSession
from drachtio.server.transactions import ServerTx

if TYPE_CHECKING:
    from drachtio.server.server import Server
    from drachtio.server.transaction_user import TransactionUser

__all__ = ["ROUTER_COUNTS", "IdleCloser", "RequestRouter"]

log = logging.getLogger("drachtio.server")

ROUTER_COUNTS = (
    "request_handler_answered",
    "request_handler_failed",
    "request_handler_busy",
    "outbound_connected",
    "outbound_failed",
    "outbound_idle_closed",
)
"""What :attr:`RequestRouter.counts` counts (in ``Server.stats``; docs/metrics.md)."""

_USER_AGENT = "drachtio-python"


class RequestRouter:
    """Routes the new requests of a server with a request handler (see the module docstring)."""

    def __init__(self, server: Server, tu: TransactionUser, routes: Routes[AppSession]) -> None:
        config = server.config
        assert config.request_handler is not None
        self._server = server
        self._tu = tu
        self._routes = routes
        self._url = config.request_handler
        self._fixed = fixed_action(self._url)
        self._method = config.request_handler_method
        self._timeout = config.request_handler_timeout
        self._max_pending = config.request_handler_max_pending
        self._idle_timeout = config.outbound_idle_timeout
        self._tls = tls_client_context(config)
        self._http = HttpClient(max_idle=self._max_pending, user_agent=_USER_AGENT)
        self._pending: set[asyncio.Task[None]] = set()
        self.counts = dict.fromkeys(ROUTER_COUNTS, 0)
        """Lookups answered, failed and refused, connections made, failed and
        closed idle, since the start."""
        # Each is caused by every new request while the handler or the
        # applications are down or slow: one line per interval, not one per call.
        self._busy = SummarizedWarning("too many requests being routed, answered 503")
        self._handler_failed = SummarizedWarning("request handler failed, answered 500")
        self._no_tag = SummarizedWarning("no application with the tag asked, answered 480")
        self._unreachable = SummarizedWarning("application not reached, answered 480")

    def __len__(self) -> int:
        """How many requests are being routed now."""
        return len(self._pending)

    def route(self, tx: ServerTx[AppSession]) -> None:
        """Route ``tx``'s new request (pending in the transaction user meanwhile)."""
        if len(self._pending) >= self._max_pending:
            self.counts["request_handler_busy"] += 1
            self._busy.note(
                asyncio.get_running_loop(), f" pending={len(self._pending)} transaction={tx.id}"
            )
            self._tu.answer(tx, 503, "Service Unavailable", (("Retry-After", "5"),))
            return
        task = asyncio.get_running_loop().create_task(self._route(tx))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def close(self) -> None:
        """The server stops: routing stops, and the requests being routed are answered 503."""
        for task in list(self._pending):
            task.cancel()
        if self._pending:
            await asyncio.wait(list(self._pending))
        self._http.close()

    async def _route(self, tx: ServerTx[AppSession]) -> None:
        try:
            action = self._fixed or await self._ask(tx)
            if action is not None and self._tu.is_pending(tx):
                await self._carry_out(tx, action)
        except asyncio.CancelledError:
            self._tu.answer(tx, 503, "Service Unavailable")
            raise
        except Exception:
            # A defect here must not leave the caller unanswered.
            log.exception("could not route %s transaction=%s", tx.request.method, tx.id)
            self._tu.answer(tx, 500, "Server Internal Error")

    async def _ask(self, tx: ServerTx[AppSession]) -> Action | None:
        """The request handler's answer for ``tx``; ``None`` once answered 500 for want of one."""
        url = query_url(self._url, tx.request, tx.source)
        body = tx.request.to_bytes() if self._method == "POST" else None
        try:
            response = await self._http.fetch(
                url,
                method=self._method,
                body=body,
                content_type="text/plain; charset=UTF-8" if body is not None else None,
                tls=self._tls,
                timeout=self._timeout,
            )
            action = read_action(response)
        except (HttpError, HandlerError) as exc:
            self.counts["request_handler_failed"] += 1
            self._handler_failed.note(
                asyncio.get_running_loop(), f" transaction={tx.id} url={self._url}: {exc}"
            )
            self._tu.answer(tx, 500, "Server Internal Error")
            return None
        self.counts["request_handler_answered"] += 1
        log.info("request handler transaction=%s action=%s", tx.id, action)
        return action

    async def _carry_out(self, tx: ServerTx[AppSession], action: Action) -> None:
        if isinstance(action, Reject):
            self._tu.answer(tx, action.status, action.reason)
        elif isinstance(action, Redirect):
            contacts = (("Contact", ", ".join(action.contacts)),)
            self._tu.answer(tx, 302, "Moved Temporarily", contacts)
        elif isinstance(action, ProxyTo):
            self._tu.proxy_routed(tx, action.command(tx.id))
        elif isinstance(action, ToTag):
            self._to_tag(tx, action.tag)
        else:
            await self._connect(tx, action)

    def _to_tag(self, tx: ServerTx[AppSession], tag: str) -> None:
        def tagged(app: AppSession) -> bool:
            return tag in app.tags and app.is_open

        app = self._routes.pick(tx.request.method, tagged)
        if app is None:
            self._no_tag.note(
                asyncio.get_running_loop(),
                f" tag={tag!r} method={tx.request.method} transaction={tx.id}",
            )
            self._tu.answer(tx, 480, "Temporarily Unavailable")
            return
        self._tu.hand_to(tx, app)

    async def _connect(self, tx: ServerTx[AppSession], target: ConnectTo) -> None:
        """Connect to the application at ``target``; once it authenticated, hand it ``tx``."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[SrfSession] = loop.create_future()

        def authenticated(session: SrfSession) -> None:
            if not ready.done():
                ready.set_result(session)

        where = f"{target.transport}:{target.host}:{target.port}"
        tls = self._tls if target.transport == "tls" else None
        if target.transport == "tls" and tls is None:
            self._failed(tx, where, "cannot be checked: no tls_ca and no tls_system_roots")
            return
        # One step: connected and authenticated within the timeout.
        session = SrfSession(self._server, loop.time() + self._timeout, authenticated)
        connecting = loop.create_connection(
            lambda: session,
            target.host,
            target.port,
            ssl=tls,
            ssl_handshake_timeout=self._timeout if tls is not None else None,
        )
        try:
            await asyncio.wait_for(connecting, self._timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            self._failed(tx, where, f"cannot connect: {_why(exc)}")
            return

        def closed(_: object) -> None:
            if not ready.done():
                ready.set_exception(ConnectionError("closed before it authenticated"))

        session.done.add_done_callback(closed)
        try:
            await ready
        except ConnectionError as exc:
            self._failed(tx, where, str(exc))
            return
        except asyncio.CancelledError:
            session.close()
            raise
        self.counts["outbound_connected"] += 1
        if not self._tu.is_pending(tx):
            log.info("request ended while connecting, closing peer=%s", session.peer)
            session.close()
            return
        log.info("connected to application peer=%s transaction=%s", session.peer, tx.id)
        self._tu.hand_to(tx, session)
        if self._idle_timeout > 0:
            IdleCloser(session, self._idle_timeout, self._server.use_of, self._closed_idle)

    def _closed_idle(self) -> None:
        self.counts["outbound_idle_closed"] += 1

    def _failed(self, tx: ServerTx[AppSession], where: str, why: str) -> None:
        self.counts["outbound_failed"] += 1
        self._unreachable.note(
            asyncio.get_running_loop(), f" at={where} transaction={tx.id}: {why}"
        )
        self._tu.answer(tx, 480, "Temporarily Unavailable")


class IdleCloser:
    """Closes one connection the server opened once it is idle: an
    :class:`~drachtio.server.outbound_idle.IdleClock` on a loop timer.

    Made once the connection was handed its request; the session tells it
    of the messages that pass (:attr:`SrfSession.idle`). At the clock's
    deadline what the session holds is counted (``use_of``, and the
    session's proxies) and the clock decides: close now (``closing`` is
    called first), or look again at its next deadline. The timer stops when
    the connection closes, whoever closes it.
    """

    __slots__ = ("_clock", "_closing", "_session", "_timer", "_use_of")

    def __init__(
        self,
        session: SrfSession,
        timeout: float,
        use_of: Callable[[SrfSession], Use],
        closing: Callable[[], None],
    ) -> None:
        self._session = session
        self._use_of = use_of
        self._closing = closing
        self._clock = IdleClock(timeout, session.loop.time())
        self._timer: asyncio.TimerHandle | None = None
        self._arm()
        session.idle = self
        session.done.add_done_callback(self._stop)

    def active(self) -> None:
        """A message passed on the connection."""
        if self._clock.active(self._session.loop.time()):
            self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._session.loop.call_at(self._clock.deadline, self._look)

    def _stop(self, _: object) -> None:
        self._session.idle = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _look(self) -> None:
        self._timer = None
        session = self._session
        if not session.is_open:
            return
        clock = self._clock
        use = replace(self._use_of(session), proxies=session.proxies_owed)
        if not clock.check(session.loop.time(), use):
            self._arm()
            return
        log.info("closing an idle outbound connection peer=%s", session.peer)
        self._closing()
        session.close_idle(f"idle for {clock.timeout:g} s")


def tls_client_context(config: ServerConfig) -> ssl.SSLContext | None:
    """How the server checks the certificate of an ``https`` request handler
    and of an application it connects to over TLS: the authorities of
    ``tls_ca`` and, with ``tls_system_roots``, the system's (as for SIP over
    TLS); ``None`` when there are neither.

    Raises:
        ConfigError: ``tls_ca`` cannot be read.
    """
    if config.tls_ca is None and not config.tls_system_roots:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if config.tls_system_roots:
        context.load_default_certs()
    if config.tls_ca is not None:
        try:
            context.load_verify_locations(cafile=config.tls_ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"tls_ca: cannot read {config.tls_ca!r}: {exc}") from None
    return context


def _why(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "no connection in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
