"""The server's transaction user (RFC 3261 §8, §12): requests, transactions and dialogs.

:class:`TransactionUser` carries the stack's events and the applications'
commands to the parts that handle them: the UAS side
(:class:`~drachtio.server.uas.UasSide`, requests received and their
answers), the UAC side (:class:`~drachtio.server.uac.UacSide`, requests
the applications send), reliable provisional responses
(:class:`~drachtio.server.reliable_ua.ReliableUa`), subscriptions
(:class:`~drachtio.server.subscription_ua.SubscriptionUa`) and proxying
(:class:`~drachtio.server.proxies.Proxies`). The state they share, and the
one loop timer for all their deadlines, is the
:class:`~drachtio.server.ua_core.UaCore`'s. It also hands a departed
application's transactions and dialogs on, and routes call detail records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import get_args

from drachtio._core import (
    AckEvent,
    AckTimeoutEvent,
    CancelEvent,
    ClosedEvent,
    ConnectionClosedEvent,
    MalformedEvent,
    PrackTimeoutEvent,
    RequestEvent,
    ResponseEvent,
    TimeoutEvent,
    TransportErrorEvent,
)
from drachtio.errors import DrachtioError
from drachtio.protocol import (
    CancelSipRequest,
    Command,
    DialogEvent,
    Failure,
    Later,
    ProxyRequest,
    RespondToSipRequest,
    ResponseData,
    Route,
    SendSipRequest,
    Success,
    Unroute,
)
from drachtio.server.app_session import AppSession
from drachtio.server.cdr import CallRecorder, Cdr, CdrKind, CdrSubscriber
from drachtio.server.config import ServerConfig
from drachtio.server.dialog import Dialog, websocket_flow
from drachtio.server.endings import (
    APPLICATION_GONE,
    CANCEL_APP_TIMEOUT,
    CANCEL_BY_CALLER,
    CANCEL_SERVER_ERROR,
    WEBSOCKET_CLOSED,
    Ending,
)
from drachtio.server.latency import Histogram
from drachtio.server.outbound_idle import Use
from drachtio.server.reliable_ua import ReliableUa
from drachtio.server.routing import Routes
from drachtio.server.session_timer.negotiation import Headers
from drachtio.server.subscription_ua import SubscriptionUa
from drachtio.server.transactions import ServerTx
from drachtio.server.ua_core import UaCore, carry_on, hang_up_headers
from drachtio.server.uac import UacSide
from drachtio.server.uas import UasSide
from drachtio.stack import SipStack, StackEvent

__all__ = [
    "CANCEL_APP_TIMEOUT",
    "CANCEL_BY_CALLER",
    "CANCEL_SERVER_ERROR",
    "TransactionUser",
    "hang_up_headers",
]

log = logging.getLogger("drachtio.server")

# The route an application takes records of each kind by (``cdr:<kind>``).
_CDR_ROUTE: dict[CdrKind, str] = {kind: f"cdr:{kind}" for kind in get_args(CdrKind)}


class TransactionUser:
    """Which application a request goes to, its transactions, the dialogs; what they send.

    Attached to the stack and the loop by the server once it is bound
    (:meth:`attach`); until then, and after :meth:`detach`, commands that
    need the stack fail.
    """

    def __init__(self, config: ServerConfig, routes: Routes[AppSession]) -> None:
        self.config = config
        self._routes = routes
        # Call detail records: to the file the server sets as cdr_sink, and
        # to an application routing their kind, in turn (docs/cdr.md).
        # No record is made while nothing takes it (no file, no application
        # routing its kind): the calls are followed, at less cost.
        self.cdrs = CallRecorder(self._deliver_cdr, config.proxy_dialog_timeout, self._cdr_wanted)
        self.cdr_sink: Callable[[Cdr], None] | None = None
        self._cdr_routes: Routes[CdrSubscriber] = Routes()
        self.core = UaCore(config, routes, self.cdrs)
        self.core.on_deadlines = self._on_deadlines
        subscriptions = SubscriptionUa(self.core)
        reliable = ReliableUa(self.core)
        self._reliable = reliable
        self._uas = UasSide(self.core, reliable, subscriptions)
        self._uac = UacSide(self.core, reliable, subscriptions)

    @property
    def route_new(self) -> Callable[[ServerTx[AppSession]], None] | None:
        """The request handler's router of new requests outside any dialog, if set."""
        return self._uas.route_new

    @route_new.setter
    def route_new(self, route: Callable[[ServerTx[AppSession]], None] | None) -> None:
        self._uas.route_new = route

    def hand_to(self, tx: ServerTx[AppSession], owner: AppSession) -> None:
        """Give ``tx``'s request to ``owner``, as if ``owner`` had routed it."""
        self._uas.hand_to(tx, owner)

    def proxy_routed(self, tx: ServerTx[AppSession], command: ProxyRequest) -> None:
        """Proxy ``tx``'s request as the request handler said (no application owns it)."""
        self._uas.proxy_routed(tx, command)

    def answer(
        self, tx: ServerTx[AppSession], code: int, reason: str | None, headers: Headers = ()
    ) -> None:
        """Answer ``tx`` on the server's behalf, with ``headers``, if it is still pending."""
        if self.core.server_txs.is_pending(tx):
            self.core.answer(tx, code, reason, headers)

    def is_pending(self, tx: ServerTx[AppSession]) -> bool:
        """Whether ``tx`` still waits for its final response (no CANCEL ended it)."""
        return self.core.server_txs.is_pending(tx)

    @property
    def app_response_time(self) -> Histogram:
        """How long applications take to first answer a request."""
        return self.core.app_response_time

    @property
    def post_dial_delay(self) -> Histogram:
        """How long INVITEs the applications send wait for their first response but 100."""
        return self.core.post_dial_delay

    def attach(self, stack: SipStack, loop: asyncio.AbstractEventLoop) -> None:
        """Send through ``stack``, time on ``loop`` (the server is bound)."""
        self.core.stack = stack
        self.core.loop = loop
        self.core.listeners = stack.local_addresses

    def detach(self) -> None:
        """The stack could not be opened after all: nothing is sent through it."""
        self.core.stack = None
        self.stop_timers()

    def stop_timers(self) -> None:
        """The stack is closed: no more deadlines run, no call goes on."""
        self.cdrs.shutdown(time.time())
        self.core.stop_timer()

    def dialog(self, dialog_id: str) -> Dialog[AppSession] | None:
        """The dialog ``dialog_id``, while it lasts (read it, do not change it)."""
        return self.core.dialogs.get(dialog_id)

    def counts(self) -> dict[str, int]:
        """The transactions and dialogs held now."""
        return {
            "server_transactions": len(self.core.server_txs),
            "client_transactions": len(self.core.client_txs),
            "dialogs": len(self.core.dialogs),
        }

    def use_of(self, owner: AppSession) -> Use:
        """What ``owner`` holds now (:class:`Use`), but its proxies: the session counts those."""
        core = self.core
        return Use(
            server_transactions=len(core.server_txs.owned_by(owner)),
            client_transactions=sum(
                1 for ctx in core.client_txs.owned_by(owner) if not ctx.answered
            ),
            dialogs=len(core.dialogs.owned_by(owner)),
        )

    # ------------------------------------------------------------ commands

    def execute(self, session: AppSession, command: Command) -> ResponseData | Later:
        """Carry out an authenticated client's command and return the response data.

        The requests the command leads to for ``session`` (the ``dialog``
        destroyed that a BYE it sends causes) are sent after the response:
        at the next turn of the loop, once the caller has sent the response.
        """
        core = self.core
        outer = core.replying_to, core.after_reply
        core.replying_to, core.after_reply = session, []
        try:
            return self._execute(session, command)
        finally:
            held = core.after_reply
            core.replying_to, core.after_reply = outer
            if held:
                core.loop.call_soon(self._send_after_reply, session, held)

    def _send_after_reply(self, session: AppSession, held: list[Command]) -> None:
        for command in held:
            session.send_request(command)

    def _execute(self, session: AppSession, command: Command) -> ResponseData | Later:
        try:
            if isinstance(command, Route | Unroute) and command.names_records:
                self.route_cdr(session, command.verb, on=isinstance(command, Route))
                return Success()
            if isinstance(command, Route):
                return self._route(session, command.method)
            if isinstance(command, Unroute):
                return self._unroute(session, command.method)
            if isinstance(command, RespondToSipRequest):
                return self._uas.respond(session, command)
            if isinstance(command, SendSipRequest):
                return self._uac.send(session, command)
            if isinstance(command, CancelSipRequest):
                return self._uac.cancel(session, command)
            if isinstance(command, ProxyRequest):
                return self._uas.proxy(session, command)
        except (DrachtioError, ValueError) as exc:
            log.info("%s failed peer=%s: %s", command.COMMAND, session.peer, exc)
            return Failure(str(exc) or type(exc).__name__)
        return Failure(f"{command.COMMAND!r} is not a command a server carries out")

    def _route(self, session: AppSession, method: str) -> Success:
        self._routes.add(session, method)
        log.info("route peer=%s method=%s", session.peer, method)
        return Success()

    def _unroute(self, session: AppSession, method: str) -> Success:
        self._routes.remove(session, method)
        return Success()

    def route_cdr(self, subscriber: CdrSubscriber, kind: str, *, on: bool = True) -> None:
        """``subscriber`` takes its turn at the records of ``kind`` (``cdr:attempt``...), or not."""
        if on:
            self._cdr_routes.add(subscriber, kind)
        else:
            self._cdr_routes.remove(subscriber, kind)

    def _cdr_wanted(self, kind: CdrKind) -> bool:
        return self.cdr_sink is not None or _CDR_ROUTE[kind] in self._cdr_routes

    def _deliver_cdr(self, record: Cdr) -> None:
        if self.cdr_sink is not None:
            self.cdr_sink(record)
        subscriber = self._cdr_routes.pick(_CDR_ROUTE[record.kind])
        if subscriber is not None and not subscriber.send_cdr(record):
            log.debug("a call detail record was not taken kind=%s", record.kind)

    # ------------------------------------------------------------ an application leaves

    def session_closed(self, session: AppSession, heirs: list[AppSession]) -> None:
        """``session`` went away: free what it held, its dialogs going to ``heirs`` in turn.

        See :meth:`Server.session_closed`; the dialogs no one took end
        (see :meth:`UaCore.hang_up`).
        """
        core = self.core
        self._routes.remove_app(session)
        if isinstance(session, CdrSubscriber):
            self._cdr_routes.remove_app(session)
        stack = core.stack
        if stack is None or stack.is_closed:
            return
        # Each transaction and dialog is cleaned up on its own: one that
        # fails is logged and does not keep the others from being freed.
        for ctx in core.client_txs.owned_by(session):
            ctx.owner = None
            if ctx.request.method == "INVITE" and not (ctx.answered or ctx.cancelled):
                with carry_on("cancel", ctx.id):
                    stack.cancel(ctx.stack_id)
        orphans: list[Dialog[AppSession]] = []
        for dialog, heir in core.dialogs.share_out(session, heirs):
            with carry_on("hand over", dialog.id):
                # An early dialog ends with its INVITE, answered or cancelled here.
                if heir is not None and not dialog.early and self._hand_over(dialog, session, heir):
                    continue
            orphans.append(dialog)
        for tx in core.server_txs.owned_by(session):
            with carry_on("answer 480", tx.id):
                # A request in a dialog handed over goes to the dialog's new owner.
                held = tx.dialog
                heir = held.owner if held is not None and held.id in core.dialogs else None
                tx.owner = heir
                if tx.request.method == "BYE" and held is not None and heir is None:
                    # The BYE ended its dialog when it came: the call is
                    # over, whoever would have answered (RFC 3261 §15.1.2).
                    tx.owner = None
                    core.answer(tx, 200, None)
                elif heir is None or heir is session or not heir.send_request(core.sip_message(tx)):
                    tx.owner = None
                    core.answer(tx, 480, "Temporarily Unavailable")
        for dialog in orphans:
            with carry_on("hang up", dialog.id):
                core.hang_up(dialog, APPLICATION_GONE)

    def _hand_over(self, dialog: Dialog[AppSession], old: AppSession, new: AppSession) -> bool:
        """Give ``dialog`` to ``new``; it is told with ``dialog {event: created}``."""
        created = DialogEvent(dialog.id, "created", f"handed over from {old.peer}")
        if not new.send_request(created):
            return False
        dialog.owner = new
        for ctx in self.core.client_txs.in_dialog(dialog):
            if ctx.owner is None:
                # Responses to in-dialog requests the old owner sent now reach the new one.
                ctx.owner = new
        log.info(
            "dialog handed over dialog=%s from=%s to=%s app=%s",
            dialog.id,
            old.peer,
            new.peer,
            new.app_name,
        )
        return True

    # ------------------------------------------------------------ SIP side

    def on_stack_event(self, event: StackEvent) -> None:
        """What the stack reports: a request, a response, an ACK, a CANCEL, a failure..."""
        if isinstance(event, RequestEvent):
            self._uas.on_request(event)
        elif isinstance(event, ResponseEvent):
            self._uac.on_response(event)
        elif isinstance(event, AckEvent):
            self._uas.on_ack(event)
        elif isinstance(event, CancelEvent):
            self._uas.on_cancel(event)
        elif isinstance(event, AckTimeoutEvent):
            self._uas.on_ack_timeout(event.tx_id)
        elif isinstance(event, PrackTimeoutEvent):
            self._reliable.on_prack_timeout(event.tx_id)
        elif isinstance(event, TimeoutEvent):
            self._on_failure(event.tx_id, 408, "Request Timeout")
        elif isinstance(event, TransportErrorEvent):
            log.warning("transport error dest=%s reason=%s", event.dest, event.reason)
            if event.tx_id is not None:
                self._on_failure(event.tx_id, 503, "Service Unavailable")
        elif isinstance(event, MalformedEvent):
            log.info(
                "malformed SIP message source=%s reason=%s answered=%s",
                event.source,
                event.reason,
                event.answered,
            )
        elif isinstance(event, ConnectionClosedEvent):
            self._on_connection_closed(event)
        elif isinstance(event, ClosedEvent):
            log.info("SIP stack closed")

    def _on_connection_closed(self, event: ConnectionClosedEvent) -> None:
        """A WebSocket connection closed: the dialogs whose peer was reached
        over it are over (nothing can reach that peer any more), and their
        owners are told."""
        flow = websocket_flow(*event.source)
        for dialog in self.core.dialogs.on_flow(flow):
            log.info("dialog ended, its WebSocket connection closed id=%s", dialog.id)
            self.core.destroy_dialog(dialog, WEBSOCKET_CLOSED)

    def _on_failure(self, stack_id: int, code: int, reason: str) -> None:
        """The stack gave up on a transaction: no response came, or it could not be sent."""
        core = self.core
        stack = core.stack
        now = core.loop.time()
        if stack is not None and core.proxies.on_failure(stack, stack_id, code, reason, now):
            core.arm_timer()
            return
        if core.sessions.on_failure(stack_id, now):
            core.arm_timer()
            return
        if not self._uac.on_failure(stack_id, code, reason):
            self._uas.on_failure(stack_id, reason)

    def _on_deadlines(self, now: float) -> None:
        """The loop timer fired at ``now``: what is due in every registry."""
        core = self.core
        core.client_txs.expire(now)
        if core.stack is not None:
            core.proxies.expire(core.stack, now)
        for tx in core.server_txs.overdue(now):
            if core.server_txs.is_pending(tx):
                with carry_on("answer 500", tx.id):
                    self._uas.on_app_timeout(tx)
        for dialog_id, reason in core.subscriptions.pop_due(now):
            if (dialog := core.dialogs.get(dialog_id)) is not None:
                core.destroy_dialog(dialog, Ending(reason))
        with carry_on("run", "the session timers"):
            core.sessions.on_timer(now)
