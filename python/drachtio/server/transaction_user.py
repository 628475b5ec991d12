"""The server's transaction user (RFC 3261 §8, §12): requests, transactions and dialogs.

:class:`TransactionUser` carries the stack's events and the applications'
commands to the parts that own the state, and sends what follows: which
application gets a new request (:class:`~drachtio.server.routing.Routes`),
the map between the protocol's transaction ids and the stack's and their
timers (:mod:`~drachtio.server.transactions`), the dialogs
(:class:`~drachtio.server.dialog_registry.Dialogs`). Their deadlines run on
one loop timer, set to the earliest of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator

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
    SipMessage,
    SipRequest,
    SipResponse,
    TimeoutEvent,
    TransportErrorEvent,
    Uri,
    next_hop,
)
from drachtio.errors import DrachtioError, ParseError
from drachtio.protocol import (
    Cancel,
    CancelSipRequest,
    Command,
    DialogEvent,
    Failure,
    Later,
    ProxyRequest,
    RespondResult,
    RespondToSipRequest,
    ResponseData,
    Route,
    SendResult,
    SendSipRequest,
    SimpleHeaders,
    Sip,
    Source,
    Success,
    Unroute,
)
from drachtio.server.app_session import AppSession, PrackWatcher
from drachtio.server.cdr import CallRecorder, Cdr, CdrSubscriber, Reason
from drachtio.server.config import ServerConfig
from drachtio.server.dialog import (
    DIALOG_METHODS,
    SUBSCRIPTION_METHODS,
    TARGET_REFRESH_METHODS,
    Dialog,
    Listener,
    build_ack,
    build_in_dialog_request,
    build_new_request,
    build_response,
    check_relied_on,
    contact_for,
    event_headers_match,
    synthetic_response,
    uri_host,
    websocket_flow,
)
from drachtio.server.dialog_registry import Dialogs
from drachtio.server.ids import new_transaction_id as _new_tx_id
from drachtio.server.latency import APP_RESPONSE_BUCKETS, POST_DIAL_DELAY_BUCKETS, Histogram
from drachtio.server.prack import Pracks
from drachtio.server.proxies import TIMER_C, Proxies
from drachtio.server.reliable import RELIABLE_TAG, ReliableResponses
from drachtio.server.routing import Routes
from drachtio.server.session_keeper import SESSION_METHODS, Sender, SessionKeeper
from drachtio.server.session_timer.headers import merge_headers
from drachtio.server.session_timer.negotiation import Headers
from drachtio.server.subscriptions import SubscriptionTimers, expires_of, subscription_state
from drachtio.server.transactions import (
    ClientTransactions,
    ClientTx,
    ServerTransactions,
    ServerTx,
)
from drachtio.stack import Destination, SipStack, StackEvent

__all__ = [
    "CANCEL_APP_TIMEOUT",
    "CANCEL_BY_CALLER",
    "CANCEL_SERVER_ERROR",
    "TransactionUser",
    "hang_up_headers",
]

log = logging.getLogger("drachtio.server")
trace = logging.getLogger("drachtio.sip")

CANCEL_BY_CALLER = "cancelled by the caller"
"""The ``reason`` of a ``cancel`` sent because a CANCEL came for the INVITE."""
CANCEL_APP_TIMEOUT = "no answer from the application in time: answered 500"
"""The ``reason`` of a ``cancel`` sent because the application did not answer in time."""
CANCEL_SERVER_ERROR = "the server could not handle the request: answered 500"
"""The ``reason`` of a ``cancel`` sent because handling the request failed in the server."""
NO_PRACK = "no PRACK for the reliable provisional response"
"""Why an INVITE is answered 504 (``cancel``) or its dialog ``destroyed`` (RFC 3262 §3)."""
WEBSOCKET_CLOSED = "WebSocket connection closed"
"""The ``reason`` of a dialog ``destroyed`` because its peer's WebSocket connection closed."""


class TransactionUser:
    """Which application a request goes to, its transactions, the dialogs; what they send.

    Attached to the stack and the loop by the server once it is bound
    (:meth:`attach`); until then, and after :meth:`detach`, commands that
    need the stack fail.
    """

    def __init__(self, config: ServerConfig, routes: Routes[AppSession]) -> None:
        self.config = config
        self._routes = routes
        self._server_txs: ServerTransactions[AppSession] = ServerTransactions(
            config.app_response_timeout
        )
        self._client_txs: ClientTransactions[AppSession] = ClientTransactions(64 * config.t1)
        self._dialogs: Dialogs[AppSession] = Dialogs()
        self._subscriptions = SubscriptionTimers(64 * config.t1)
        # Call detail records: to the file the server sets as cdr_sink, and
        # to an application routing their kind, in turn (docs/cdr.md).
        self.cdrs = CallRecorder(self._deliver_cdr)
        self.cdr_sink: Callable[[Cdr], None] = lambda _record: None
        self._cdr_routes: Routes[CdrSubscriber] = Routes()
        # Session timers (RFC 4028): negotiated in the calls' INVITEs and UPDATEs, kept running.
        self._sessions: SessionKeeper[AppSession] = SessionKeeper(
            config.session_timers,
            config.session_timer_scale,
            Sender(self._send_own, self._send_own_ack, self._hang_up, self._dialogs.get),
        )
        # Reliable provisional responses (RFC 3262) awaiting their PRACK, and
        # the PRACKs the server sends for those applications receive.
        self._reliable = ReliableResponses()
        self._pracks: Pracks[AppSession] = Pracks()
        self._proxies: Proxies[AppSession] = Proxies(TIMER_C, 64 * config.t1, self.cdrs)
        self._stack: SipStack | None = None
        self._listeners: list[Listener] = []
        # The loop the server runs on: set by attach(), before any event.
        self._loop: asyncio.AbstractEventLoop
        # The one loop timer for the registries' deadlines, and when it fires.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        # While a command runs: its session, and the requests the command
        # leads to for that session, which go out after the command's reply.
        self._replying_to: AppSession | None = None
        self._after_reply: list[Command] = []
        self._trace = config.sip_trace
        # Set when a request handler routes new requests outside any dialog:
        # it answers them, or hands them on (hand_to, proxy_routed).
        self.route_new: Callable[[ServerTx[AppSession]], None] | None = None
        self.app_response_time = Histogram(APP_RESPONSE_BUCKETS)
        self.post_dial_delay = Histogram(POST_DIAL_DELAY_BUCKETS)

    def attach(self, stack: SipStack, loop: asyncio.AbstractEventLoop) -> None:
        """Send through ``stack``, time on ``loop`` (the server is bound)."""
        self._stack = stack
        self._loop = loop
        self._listeners = stack.local_addresses

    def detach(self) -> None:
        """The stack could not be opened after all: nothing is sent through it."""
        self._stack = None
        self.stop_timers()

    def stop_timers(self) -> None:
        """The stack is closed: no more deadlines run, no call goes on."""
        self.cdrs.shutdown(time.time())
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None

    def dialog(self, dialog_id: str) -> Dialog[AppSession] | None:
        """The dialog ``dialog_id``, while it lasts (read it, do not change it)."""
        return self._dialogs.get(dialog_id)

    def counts(self) -> dict[str, int]:
        """The transactions and dialogs held now."""
        return {
            "server_transactions": len(self._server_txs),
            "client_transactions": len(self._client_txs),
            "dialogs": len(self._dialogs),
        }

    def execute(self, session: AppSession, command: Command) -> ResponseData | Later:
        """Carry out an authenticated client's command and return the response data.

        The requests the command leads to for ``session`` (the ``dialog``
        destroyed that a BYE it sends causes) are sent after the response:
        at the next turn of the loop, once the caller has sent the response.
        """
        outer = self._replying_to, self._after_reply
        self._replying_to, self._after_reply = session, []
        try:
            return self._execute(session, command)
        finally:
            held = self._after_reply
            self._replying_to, self._after_reply = outer
            if held:
                self._loop.call_soon(self._send_after_reply, session, held)

    def _send_after_reply(self, session: AppSession, held: list[Command]) -> None:
        for command in held:
            session.send_request(command)

    def _tell(self, session: AppSession, command: Command) -> None:
        """Send ``session`` a request, after the reply to the command it is running if any."""
        if session is self._replying_to:
            self._after_reply.append(command)
        else:
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
                return self._respond(session, command)
            if isinstance(command, SendSipRequest):
                return self._send(session, command)
            if isinstance(command, CancelSipRequest):
                return self._cancel_sip_request(session, command)
            if isinstance(command, ProxyRequest):
                return self._proxy(session, command)
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

    def _deliver_cdr(self, record: Cdr) -> None:
        self.cdr_sink(record)
        subscriber = self._cdr_routes.pick(f"cdr:{record.kind}")
        if subscriber is not None and not subscriber.send_cdr(record):
            log.debug("a call detail record was not taken kind=%s", record.kind)

    def session_closed(self, session: AppSession, heirs: list[AppSession]) -> None:
        """``session`` went away: free what it held, its dialogs going to ``heirs`` in turn.

        See :meth:`Server.session_closed`; the dialogs no one took end (see :meth:`_hang_up`).
        """
        self._routes.remove_app(session)
        if isinstance(session, CdrSubscriber):
            self._cdr_routes.remove_app(session)
        if self._stack is None or self._stack.is_closed:
            return
        # Each transaction and dialog is cleaned up on its own: one that
        # fails is logged and does not keep the others from being freed.
        for ctx in self._client_txs.owned_by(session):
            ctx.owner = None
            if ctx.request.method == "INVITE" and not (ctx.answered or ctx.cancelled):
                with _carry_on("cancel", ctx.id):
                    self._stack.cancel(ctx.stack_id)
        orphans: list[Dialog[AppSession]] = []
        for dialog, heir in self._dialogs.share_out(session, heirs):
            with _carry_on("hand over", dialog.id):
                if heir is not None and self._hand_over(dialog, session, heir):
                    continue
            orphans.append(dialog)
        for tx in self._server_txs.owned_by(session):
            with _carry_on("answer 480", tx.id):
                # A request in a dialog handed over goes to the dialog's new owner.
                held = tx.dialog
                heir = held.owner if held is not None and held.id in self._dialogs else None
                tx.owner = heir
                if tx.request.method == "BYE" and held is not None and heir is None:
                    # The BYE ended its dialog when it came: the call is
                    # over, whoever would have answered (RFC 3261 §15.1.2).
                    tx.owner = None
                    self._answer(tx, 200, None)
                elif (
                    heir is None or heir is session or not heir.send_request(self._sip_message(tx))
                ):
                    tx.owner = None
                    self._answer(tx, 480, "Temporarily Unavailable")
        for dialog in orphans:
            with _carry_on("hang up", dialog.id):
                self._hang_up(dialog, "application disconnected")

    def _hand_over(self, dialog: Dialog[AppSession], old: AppSession, new: AppSession) -> bool:
        """Give ``dialog`` to ``new``; it is told with ``dialog {event: created}``."""
        created = DialogEvent(dialog.id, "created", f"handed over from {old.peer}")
        if not new.send_request(created):
            return False
        dialog.owner = new
        for ctx in self._client_txs.in_dialog(dialog):
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

    # ------------------------------------------------------------ respondToSipRequest

    def _respond(self, session: AppSession, command: RespondToSipRequest) -> ResponseData:
        tx_id = command.transaction_id
        tx = self._server_txs.get(tx_id)
        if tx is None or tx.owner is not session:
            finished = tx is None and self._server_txs.finished_by(tx_id, session)
            return _not_pending(tx_id, finished)
        code = command.code
        request = tx.request
        if request.to is not None and request.to.tag is None and code > 100 and tx.to_tag is None:
            tx.to_tag = self._stack_or_fail().new_tag()
        refreshes = tx.dialog is not None and request.method in TARGET_REFRESH_METHODS
        if 200 <= code < 300 and (refreshes or request.method in DIALOG_METHODS):
            # The dialog is built, or its target moved, from these after the
            # 2xx is sent: a malformed value raises ParseError here, before
            # anything goes out, and the application is told (it can still
            # answer with an error).
            _ = request.contacts
            if request.method in DIALOG_METHODS:
                _ = request.record_route
        headers = self._sessions.response_headers(tx, code, command.headers)
        if request.method == "INVITE" and 100 < code < 300:
            headers = self._reliable_headers(tx, code, headers)
        response = build_response(
            request,
            code,
            command.status,
            headers,
            command.body,
            tx.to_tag,
            contact_for(*tx.listener),
        )
        check_relied_on(response, command.headers)
        if self._reliable.hold_or_send(tx.stack_id, response):
            self._stack_or_fail().respond(tx.stack_id, response)
            self._trace_out(response)
            if code >= 200:
                self._reliable.forget(tx.stack_id)
        if tx.awaiting_app_since is not None:
            self.app_response_time.observe(self._loop.time() - tx.awaiting_app_since)
            tx.awaiting_app_since = None
        dialog_id: str | None = None
        if code >= 200:
            if refreshes and code < 300:
                assert tx.dialog is not None
                tx.dialog.refresh_target(request)
            if request.method in DIALOG_METHODS and code < 300:
                dialog_id = self._uas_dialog(tx).id
            if request.method == "INVITE" and tx.dialog is None and dialog_id is None:
                self.cdrs.refused(tx.id, code, time.time(), response)
            elif request.method == "INVITE" and dialog_id is not None:
                self.cdrs.answered(tx.id, dialog_id, response, time.time())
            if request.method in SUBSCRIPTION_METHODS and code < 300 and dialog_id is not None:
                self._subscription_accepted(dialog_id, response, request, subscriber=False)
            if tx.dialog is not None and code < 300 and request.method in SESSION_METHODS:
                self._sessions.answered(tx, tx.dialog, response, self._loop.time())
                self._arm_timer()
            self._server_txs.finish(tx, keep_for_ack=request.method == "INVITE" and code < 300)
            if tx.dialog is not None and code < 300 and tx.dialog.ended_by(request):
                self._destroy_dialog(tx.dialog, "terminating NOTIFY received")
        elif request.method == "INVITE":
            # A ringing INVITE may ring as long as the caller waits.
            self._server_txs.ringing(tx)
        return RespondResult(response, dialog_id)

    def _subscription_accepted(
        self, dialog_id: str, response: SipResponse, subscribe: SipRequest, *, subscriber: bool
    ) -> None:
        """A 2xx to a SUBSCRIBE or REFER: its subscription is on; in a dialog it
        created, the subscription's expiry (and the subscriber's Timer N) run."""
        dialog = self._dialogs.get(dialog_id)
        if dialog is None:
            return
        dialog.subscribed(subscribe)
        if dialog.method in SUBSCRIPTION_METHODS:
            expires = expires_of(response, subscribe)
            self._subscriptions.accepted(
                dialog_id, expires, self._loop.time(), subscriber=subscriber
            )
            self._arm_timer()

    def _notified(self, dialog: Dialog[AppSession], request: SipRequest) -> None:
        """A NOTIFY in a SUBSCRIBE-created dialog, either way, sets its subscription's expiry."""
        if request.method == "NOTIFY" and dialog.method in SUBSCRIPTION_METHODS:
            state = subscription_state(request)
            self._subscriptions.notified(dialog.id, state, self._loop.time())
            self._arm_timer()

    def _reliable_headers(
        self, tx: ServerTx[AppSession], code: int, headers: SimpleHeaders
    ) -> SimpleHeaders:
        """A 1xx or 2xx to an INVITE advertises 100rel; a reliable 1xx gets its RSeq (RFC 3262)."""
        headers = merge_headers(headers, (("Supported", RELIABLE_TAG),))
        if code >= 200:
            return headers
        reliability = ReliableResponses.reliability(tx.request, code, headers)
        headers = ReliableResponses.headers(headers, reliability)
        if reliability == "reliable":
            assert tx.to_tag is not None  # set above for every response but 100
            rseq = self._reliable.next_rseq(tx.stack_id, tx.request, tx.to_tag)
            headers["RSeq"] = str(rseq)
        return headers

    def _proxy(self, session: AppSession, command: ProxyRequest) -> ResponseData | Later:
        """Proxy a request ``session`` was handed (:mod:`drachtio.server.proxies`)."""
        tx = self._server_txs.get(command.transaction_id)
        if tx is None or tx.owner is not session:
            finished = tx is None and self._server_txs.finished_by(command.transaction_id, session)
            return _not_pending(command.transaction_id, finished)
        if tx.dialog is not None:
            return Failure(f"transaction {tx.id} is in dialog {tx.dialog.id}: answer it")
        result = self._proxies.start(
            self._stack_or_fail(),
            session,
            tx.stack_id,
            tx.request,
            tx.listener,
            tx.to_tag,
            command,
            self._loop.time(),
            cdr_key=tx.id,
        )
        self._server_txs.finish(tx)
        self._arm_timer()
        return result

    def proxy_routed(self, tx: ServerTx[AppSession], command: ProxyRequest) -> None:
        """Proxy ``tx``'s request as the request handler said (no application owns it)."""
        stack = self._stack_or_fail()
        now = self._loop.time()
        self._proxies.start(
            stack, None, tx.stack_id, tx.request, tx.listener, tx.to_tag, command, now
        )
        self._server_txs.finish(tx)
        self._arm_timer()

    def answer(
        self, tx: ServerTx[AppSession], code: int, reason: str | None, headers: Headers = ()
    ) -> None:
        """Answer ``tx`` on the server's behalf, with ``headers``, if it is still pending."""
        if self._server_txs.is_pending(tx):
            self._answer(tx, code, reason, headers)

    def is_pending(self, tx: ServerTx[AppSession]) -> bool:
        """Whether ``tx`` still waits for its final response (no CANCEL ended it)."""
        return self._server_txs.is_pending(tx)

    def _uas_dialog(self, tx: ServerTx[AppSession]) -> Dialog[AppSession]:
        dialog = tx.dialog
        if dialog is None:
            assert tx.to_tag is not None
            dialog = Dialog.for_uas(tx.request, tx.to_tag, contact_for(*tx.listener), tx.owner)
            dialog.flow = websocket_flow(tx.source.transport, tx.source.address, tx.source.port)
            tx.dialog = dialog
            self._dialogs.add(dialog)
        if tx.request.method == "INVITE":
            dialog.awaiting_ack = tx.stack_id
        return dialog

    def _answer(
        self, tx: ServerTx[AppSession], code: int, reason: str | None, extra: Headers = ()
    ) -> None:
        """Answer a request on the server's own behalf (no application can).

        A 405 lists the methods routed to applications (RFC 3261 §8.2.1);
        ``extra`` are more headers (the Min-SE of a 422).
        """
        stack = self._stack
        if stack is None:
            return
        if code > 100 and tx.to_tag is None:
            tx.to_tag = stack.new_tag()
        headers: dict[str, str | list[str]] = {}
        response = None
        if code == 405 or tx.request.method == "OPTIONS":
            # RFC 3261 §8.2.1, §11.2: what the applications take, and ACK,
            # CANCEL and OPTIONS, which the server itself handles.
            headers["Allow"] = ", ".join(self._allowed())
        headers.update(extra)
        for held in self._reliable.forget(tx.stack_id):
            log.info(
                "%d dropped: the INVITE is answered %d transaction=%s", held.status, code, tx.id
            )
        try:
            response = build_response(
                tx.request, code, reason, headers, None, tx.to_tag, contact_for(*tx.listener)
            )
            stack.respond(tx.stack_id, response)
            self._trace_out(response)
        except (DrachtioError, ValueError) as exc:
            log.warning("could not answer %d transaction=%s: %s", code, tx.id, exc)
        if code >= 300 and tx.request.method == "INVITE":
            why: Reason = "application-gone" if code == 480 else "call-rejected"
            self.cdrs.abandoned(tx.id, why, code, time.time(), response)
        self._server_txs.finish(tx)

    def _allowed(self) -> list[str]:
        """The methods requests may carry here: those routed, and those the server handles."""
        routed = self._routes.methods()
        own = [m for m in ("ACK", "CANCEL", "OPTIONS") if m not in routed]
        return [*routed, *own] if self.config.answer_options else routed

    def _arm_timer(self) -> None:
        """Make the loop timer fire at the registries' earliest deadline."""
        deadlines = (
            self._server_txs.next_deadline(),
            self._client_txs.next_deadline(),
            self._subscriptions.next_at(),
            self._sessions.timers.next_deadline(),
            self._proxies.next_deadline(),
        )
        times = [at for at in deadlines if at is not None]
        if not times:
            return
        at = min(times)
        if self._timer_at is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(at, self._on_timer)
        self._timer_at = at

    def _on_timer(self) -> None:
        # The loop may run a timer up to its clock resolution early: it is
        # at least the time it was set for.
        now = max(self._loop.time(), self._timer_at or 0.0)
        self._timer = self._timer_at = None
        try:
            self._client_txs.expire(now)
            if self._stack is not None:
                self._proxies.expire(self._stack, now)
            for tx in self._server_txs.overdue(now):
                if self._server_txs.is_pending(tx):
                    with _carry_on("answer 500", tx.id):
                        self._on_app_timeout(tx)
            for dialog_id, reason in self._subscriptions.pop_due(now):
                if (dialog := self._dialogs.get(dialog_id)) is not None:
                    self._destroy_dialog(dialog, reason)
            with _carry_on("run", "the session timers"):
                self._sessions.on_timer(now)
        finally:
            self._arm_timer()

    def _on_app_timeout(self, tx: ServerTx[AppSession]) -> None:
        """The application did not answer ``tx`` in time: the server answers 500."""
        owner = tx.owner
        log.warning(
            "application did not answer in %.1f s, answering 500 transaction=%s peer=%s",
            self.config.app_response_timeout,
            tx.id,
            owner.peer if owner else None,
        )
        self._answer(tx, 500, "Application Did Not Respond")
        if owner is not None:
            owner.send_request(Cancel(tx.id, CANCEL_APP_TIMEOUT))

    # ------------------------------------------------------------ sendSipRequest

    def _send(self, session: AppSession, command: SendSipRequest) -> ResponseData:
        stack = self._stack_or_fail()
        if command.dialog_id is not None:
            dialog = self._dialogs.get(command.dialog_id)
            if dialog is None or dialog.owner is not session:
                return Failure(f"no dialog {command.dialog_id}")
            if command.method == "ACK":
                if dialog.ack_tx is None:
                    return Failure(f"dialog {dialog.id} has no 2xx waiting for an ACK")
                ack = build_ack(dialog, command.headers, command.body)
                stack.send_ack(dialog.ack_tx, ack, self._first_hop(dialog, ack))
                self._trace_out(ack)
                self._sessions.sent(dialog, ack)
                dialog.ack_tx = None
                return SendResult(_new_tx_id(), ack, dialog.id)
            if command.method == "BYE":
                self._ack_pending_2xx(stack, dialog)
            headers, offer = self._sessions.offer(dialog, command.method, command.headers)
            request = build_in_dialog_request(dialog, command.method, headers, command.body)
            check_relied_on(request, command.headers)
            self._notified(dialog, request)
            self._sessions.sent(dialog, request)
            contact = dialog.contact
            dest = self._first_hop(dialog, request)
        else:
            if command.method in ("ACK", "CANCEL"):
                return Failure(
                    f"{command.method} is sent with dialogId (ACK) or cancelSipRequest (CANCEL)"
                )
            assert command.uri is not None
            listener = self._advertised(self._listener_for(command.uri), _uri_host(command.uri))
            headers, offer = self._sessions.offer(None, command.method, command.headers)
            if command.method == "INVITE":
                # The server acknowledges reliable provisional responses (RFC 3262 §4).
                headers = merge_headers(headers, (("Supported", RELIABLE_TAG),))
            request = build_new_request(
                command.method,
                command.uri,
                headers,
                command.body,
                from_tag=stack.new_tag(),
                listener=listener,
            )
            check_relied_on(request, command.headers)
            if self._dialogs.names_other(session, request):
                return Failure(
                    "the Call-ID and tags name a dialog of another application: "
                    "requests in a dialog are sent by its owner, with dialogId"
                )
            dialog = None
            contact = contact_for(*listener)
            dest = None
        stack_id = stack.send_request(request, dest)
        self._trace_out(request)
        ctx: ClientTx[AppSession] = ClientTx(
            _new_tx_id(), stack_id, request, session, contact, dialog, session_offer=offer
        )
        if dialog is None and command.method == "INVITE":
            ctx.dialled_at = self._loop.time()
            self.cdrs.invite(ctx.id, request, role="uac", now=time.time())
        elif dialog is None and command.method in SUBSCRIPTION_METHODS:
            from_ = request.from_
            assert from_ is not None and from_.tag is not None
            ctx.subscribe_key = (request.call_id or "", from_.tag)
        self._client_txs.add(ctx)
        if dialog is not None and command.method == "BYE":
            self._destroy_dialog(dialog, "BYE sent", message=request)
        return SendResult(ctx.id, request, None if dialog is None else dialog.id)

    def _listener_for(self, uri: str) -> Listener:
        """The listener a request to ``uri`` leaves from: its transport's, else the first."""
        # The core's URI parser: a `;` in the user part is not a parameter.
        try:
            wanted = Uri(uri).next_hop_transport
        except ValueError:
            wanted = None
        for listener in self._listeners:
            if listener[0] == wanted:
                return listener
        return self._listeners[0]

    def _cancel_sip_request(self, session: AppSession, command: CancelSipRequest) -> ResponseData:
        tx_id = command.transaction_id
        ctx = self._client_txs.get(tx_id)
        if ctx is None or ctx.owner is not session:
            finished = ctx is None and self._client_txs.finished_by(tx_id, session)
            return _not_pending(tx_id, finished)
        if ctx.request.method != "INVITE":
            return Failure(f"transaction {ctx.id} is a {ctx.request.method}, not an INVITE")
        if ctx.answered:
            return Failure(f"transaction {ctx.id} already has a final response")
        if ctx.cancelled:
            return Failure(f"transaction {ctx.id} is already cancelled")
        self._stack_or_fail().cancel(ctx.stack_id)
        ctx.cancelled = True
        return Success()

    # ------------------------------------------------------------ dialogs

    def _destroy_dialog(
        self,
        dialog: Dialog[AppSession],
        reason: str,
        *,
        notify: bool = True,
        message: SipMessage | None = None,
    ) -> None:
        if not self._dialogs.remove(dialog):
            return
        self._subscriptions.forget(dialog.id)
        if dialog.method == "INVITE":
            self.cdrs.ended(dialog.id, reason, time.time(), message)
        self._sessions.ended(dialog)
        if dialog.awaiting_ack is not None:
            self._server_txs.pop_by_stack(dialog.awaiting_ack)
            dialog.awaiting_ack = None
        log.debug("dialog destroyed id=%s reason=%s", dialog.id, reason)
        if notify and dialog.owner is not None:
            self._tell(dialog.owner, DialogEvent(dialog.id, "destroyed", reason))

    def _ack_pending_2xx(self, stack: SipStack, dialog: Dialog[AppSession]) -> None:
        """ACK a 2xx not acknowledged yet, so that a BYE does not leave the peer
        resending it (RFC 3261 §15.1.1: the ACK comes before the BYE)."""
        if dialog.ack_tx is not None:
            try:
                ack = build_ack(dialog, {}, None)
                stack.send_ack(dialog.ack_tx, ack, self._first_hop(dialog, ack))
            except (DrachtioError, ValueError) as exc:
                log.warning("could not send ACK dialog=%s: %s", dialog.id, exc)
            dialog.ack_tx = None

    @staticmethod
    def _first_hop(dialog: Dialog[AppSession], request: SipRequest) -> Destination | None:
        """Where a request in ``dialog`` goes when the stack's choice would be wrong.

        The stack sends to the first Route, else the Request-URI. With a
        strict router first (RFC 3261 §12.2.1.1) the Request-URI is that
        router, and the request goes there (§8.1.2); a host name is
        resolved by the stack.
        """
        if not dialog.strict_routing:
            return None
        return next_hop(request, strict_router=True)

    def _send_own(self, dialog: Dialog[AppSession] | None, request: SipRequest) -> int:
        """Send a request of the server's own in ``dialog`` (a session refresh), or
        outside any dialog (the retry of an INVITE after 422)."""
        dest = None if dialog is None else self._first_hop(dialog, request)
        stack_id = self._stack_or_fail().send_request(request, dest)
        self._trace_out(request)
        return stack_id

    def _send_own_ack(self, dialog: Dialog[AppSession], stack_id: int, ack: SipRequest) -> None:
        """Acknowledge the 2xx to a re-INVITE of the server's own."""
        self._stack_or_fail().send_ack(stack_id, ack, self._first_hop(dialog, ack))
        self._trace_out(ack)

    def _hang_up(self, dialog: Dialog[AppSession], reason: str) -> None:
        """End ``dialog`` on the server's own: a call with a BYE (RFC 3261 §15.1.1).

        A subscription is only forgotten: BYE is not for it, and the server
        knows nothing of the event package's state to put in a terminating
        NOTIFY or of when to unsubscribe. The peer's next request in it (a
        refresh, a NOTIFY) is answered 481, which ends the subscription on
        its side (RFC 6665).
        """
        stack = self._stack
        bye = None
        if dialog.method == "INVITE" and stack is not None and not stack.is_closed:
            self._ack_pending_2xx(stack, dialog)
            try:
                bye = build_in_dialog_request(dialog, "BYE", hang_up_headers(reason), None)
                stack.send_request(bye, self._first_hop(dialog, bye))
                self._trace_out(bye)
            except (DrachtioError, ValueError) as exc:
                log.warning("could not send BYE dialog=%s: %s", dialog.id, exc)
        self._destroy_dialog(dialog, reason, message=bye)

    # ------------------------------------------------------------ SIP side

    def on_stack_event(self, event: StackEvent) -> None:
        """What the stack reports: a request, a response, an ACK, a CANCEL, a failure..."""
        if isinstance(event, RequestEvent):
            self._on_request(event)
        elif isinstance(event, ResponseEvent):
            self._on_response(event)
        elif isinstance(event, AckEvent):
            self._on_ack(event)
        elif isinstance(event, CancelEvent):
            self._on_cancel_received(event)
        elif isinstance(event, AckTimeoutEvent):
            self._on_ack_timeout(event.tx_id)
        elif isinstance(event, PrackTimeoutEvent):
            self._on_prack_timeout(event.tx_id)
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
        for dialog in self._dialogs.on_flow(flow):
            log.info("dialog ended, its WebSocket connection closed id=%s", dialog.id)
            self._destroy_dialog(dialog, WEBSOCKET_CLOSED)

    def _on_request(self, event: RequestEvent) -> None:
        request = event.request
        if self._trace:
            self._trace_in(request, event.source)
        transport = event.source[0]
        listener = self._advertised((transport, *event.local), event.source[1])
        source = Source(transport, event.source[1], event.source[2])
        tx: ServerTx[AppSession] = ServerTx(
            _new_tx_id(), event.tx_id, request, None, listener, source, time.time()
        )
        tx.awaiting_app_since = self._loop.time()
        try:
            self._take_request(tx)
        except Exception:
            # A defect here must not leave the caller unanswered and the
            # transaction held forever: answer 500 and finish it.
            log.exception("could not handle %s transaction=%s", request.method, tx.id)
            if not self._server_txs.was_finished(tx.id):
                owner = tx.owner
                self._answer(tx, 500, "Server Internal Error")
                if owner is not None:
                    owner.send_request(Cancel(tx.id, CANCEL_SERVER_ERROR))

    def _take_request(self, tx: ServerTx[AppSession]) -> None:
        """Give a new request to its dialog's owner or a routed application, or answer it."""
        request = tx.request
        to = request.to
        if request.method == "PRACK" and to is not None and to.tag is not None:
            self._on_prack(tx)
            return
        if to is not None and to.tag is not None:
            # RFC 3261 §12.2.2: a request within a dialog.
            dialog = self._dialogs.receiving(request)
            if dialog is None and request.method == "NOTIFY":
                dialog = self._notify_dialog(request)
            if dialog is None and self._route_onward(tx):
                return
            if dialog is None or dialog.owner is None:
                self._answer(tx, 481, "Call/Transaction Does Not Exist")
                return
            seq = request.cseq.seq if request.cseq is not None else None
            if seq is not None and dialog.remote_cseq is not None and seq <= dialog.remote_cseq:
                # RFC 3261 §12.2.2: a lower CSeq than the last one is out of order.
                self._answer(tx, 500, "CSeq Out Of Order")
                return
            if seq is not None:
                dialog.remote_cseq = seq
            self._notified(dialog, request)
            tx.dialog = dialog
            tx.to_tag = dialog.local_tag
            owner: AppSession | None = dialog.owner
        else:
            if request.route and self._route_onward(tx):
                return
            if self.route_new is not None:
                # The request handler says where it goes (drachtio.server.outbound);
                # pending meanwhile, so that a CANCEL finds it.
                self._server_txs.add(tx, self._loop.time())
                self.route_new(tx)
                return
            owner = self._routes.pick(request.method)
            if owner is None and request.method == "OPTIONS" and self.config.answer_options:
                # A keep-alive ping to the server itself (RFC 3261 §11.2).
                self._answer(tx, 200, None)
                return
            if owner is None:
                log.info(
                    "no application for %s, answering %d",
                    request.method,
                    self.config.no_route_status,
                )
                self._answer(tx, self.config.no_route_status, None)
                return
        assert owner is not None
        self.hand_to(tx, owner)

    def hand_to(self, tx: ServerTx[AppSession], owner: AppSession) -> None:
        """Give ``tx``'s request to ``owner`` (its dialog's, or the one routing it)."""
        request = tx.request
        reject = self._sessions.check_request(tx)
        if reject is not None:
            self._answer(tx, reject.status, reject.reason, reject.headers)
            return
        tx.owner = owner
        self._server_txs.add(tx, self._loop.time())
        if request.method == "INVITE" and tx.dialog is None:
            self.cdrs.invite(tx.id, request, role="uas", now=time.time())
        if not owner.send_request(self._sip_message(tx)):
            tx.owner = None
            self._answer(tx, 480, "Temporarily Unavailable")
            return
        self._arm_timer()
        if tx.dialog is not None and request.method == "BYE":
            self._destroy_dialog(tx.dialog, "BYE received", message=request)

    def _on_prack(self, tx: ServerTx[AppSession]) -> None:
        """A PRACK (RFC 3262 §3): the reliable provisional response it acknowledges
        is no longer retransmitted, and what was held for it goes out.

        It reaches the INVITE's owner when that application routes PRACK;
        else the server answers it 200. A PRACK that acknowledges nothing
        awaited is answered 481 (§3).
        """
        matched = self._reliable.match(tx.request)
        stack = self._stack_or_fail()
        if matched is None:
            self._answer(tx, 481, "Call/Transaction Does Not Exist")
            return
        stack_id, rseq = matched
        stack.prack(stack_id, rseq)
        for response in self._reliable.pracked(stack_id):
            stack.respond(stack_id, response)
            self._trace_out(response)
            if response.status >= 200:
                self._reliable.forget(stack_id)
        invite = self._server_txs.get_by_stack(stack_id)
        owner = None if invite is None else invite.owner
        if owner is None or not self._routes.routes(owner, "PRACK"):
            self._answer(tx, 200, None)
            if isinstance(owner, PrackWatcher):
                owner.pracked(self._sip_message(tx))
            return
        tx.owner = owner
        self._server_txs.add(tx, self._loop.time())
        if not owner.send_request(self._sip_message(tx)):
            tx.owner = None
            self._answer(tx, 200, None)
            return
        self._arm_timer()

    def _on_prack_timeout(self, stack_id: int) -> None:
        """No PRACK came (RFC 3262 §3): the INVITE is answered 504, its owner told."""
        tx = self._server_txs.get_by_stack(stack_id)
        if tx is None:
            return
        log.warning("no PRACK, answering 504 transaction=%s", tx.id)
        owner = tx.owner
        pending = self._server_txs.is_pending(tx)
        dialog = tx.dialog
        self._answer(tx, 504, "No PRACK")
        if pending and owner is not None:
            owner.send_request(Cancel(tx.id, f"{NO_PRACK}: answered 504"))
        elif dialog is not None:
            # Its 2xx was held for the PRACK: the call never was.
            self._destroy_dialog(dialog, NO_PRACK)

    def _route_onward(self, tx: ServerTx[AppSession]) -> bool:
        """Whether ``tx``'s route passes through the server to another: now proxied."""
        stack = self._stack_or_fail()
        now = self._loop.time()
        if not self._proxies.route_onward(stack, tx.stack_id, tx.request, tx.listener, now):
            return False
        self._arm_timer()
        return True

    def _notify_dialog(self, notify: SipRequest) -> Dialog[AppSession] | None:
        """The dialog a NOTIFY for a SUBSCRIBE still waiting for its 2xx creates.

        RFC 6665 §4.1.2.4: the NOTIFY may overtake the 2xx (or come from
        another fork). It matches the SUBSCRIBE by Call-ID, its To tag being
        the SUBSCRIBE's From tag, and its Event.
        """
        to, from_ = notify.to, notify.from_
        if to is None or to.tag is None or from_ is None or from_.tag is None:
            return None
        ctx = self._client_txs.subscribing((notify.call_id or "", to.tag))
        if ctx is None or ctx.owner is None or not event_headers_match(ctx.request, notify):
            return None
        if ctx.subscribe_tags is not None and from_.tag in ctx.subscribe_tags:
            return None  # that subscription has ended already
        try:
            dialog = Dialog.for_notify(ctx.request, notify, ctx.contact, ctx.owner)
        except ParseError as exc:
            log.warning("NOTIFY without a usable dialog transaction=%s: %s", ctx.id, exc)
            return None
        ctx.subscribe_tags = {from_.tag} | (ctx.subscribe_tags or set())
        self._dialogs.add(dialog)
        return dialog

    @staticmethod
    def _sip_message(tx: ServerTx[AppSession]) -> Sip:
        """The ``sip`` request that hands ``tx``'s request to its owner."""
        return Sip(
            tx.id,
            tx.request,
            tx.dialog.id if tx.dialog is not None else None,
            tx.source,
            tx.received,
        )

    def _on_ack(self, event: AckEvent) -> None:
        if self._trace:
            self._trace_in(event.request, event.source)
        # The ACK of a 2xx the server sent goes to its dialog; another may
        # be routed through the server (a dialog it record-routed).
        mine = event.tx_id is not None and self._server_txs.get_by_stack(event.tx_id) is not None
        stack = self._stack
        if not mine and stack is not None and self._proxies.route_ack(stack, event.request):
            return
        if event.tx_id is None:
            log.debug("ACK matching no transaction dropped")
            return
        tx = self._server_txs.pop_by_stack(event.tx_id)
        if tx is None or tx.dialog is None:
            return
        dialog = tx.dialog
        dialog.awaiting_ack = None
        if dialog.owner is not None:
            source = Source(*event.source)
            dialog.owner.send_request(Sip(tx.id, event.request, dialog.id, source, time.time()))

    def _on_cancel_received(self, event: CancelEvent) -> None:
        if self._trace:
            self._trace_in(event.request, None)
        stack = self._stack
        if stack is not None and self._proxies.on_cancel(stack, event.tx_id, self._loop.time()):
            self._arm_timer()
            return
        tx = self._server_txs.get_by_stack(event.tx_id)
        if tx is None:
            return
        owner = tx.owner
        pending = self._server_txs.is_pending(tx)
        held = self._reliable.forget(tx.stack_id)
        self._server_txs.finish(tx)
        self.cdrs.refused(tx.id, 487, time.time())
        if pending:
            if owner is not None:
                owner.send_request(Cancel(tx.id, CANCEL_BY_CALLER))
        elif tx.dialog is not None and any(200 <= r.status < 300 for r in held):
            # Its 2xx was held for a PRACK and never sent: the call never was.
            self._destroy_dialog(tx.dialog, CANCEL_BY_CALLER)

    def _on_ack_timeout(self, stack_id: int) -> None:
        tx = self._server_txs.pop_by_stack(stack_id)
        if tx is None or tx.dialog is None:
            return
        dialog = tx.dialog
        dialog.awaiting_ack = None
        log.warning("no ACK for a 2xx, ending the call dialog=%s", dialog.id)
        if dialog.owner is not None:
            dialog.owner.send_request(DialogEvent(dialog.id, "ack-timeout", "no ACK for the 2xx"))
        self._hang_up(dialog, "no ACK for the 2xx")

    def _on_failure(self, stack_id: int, code: int, reason: str) -> None:
        stack = self._stack
        now = self._loop.time()
        if stack is not None and self._proxies.on_failure(stack, stack_id, code, reason, now):
            self._arm_timer()
            return
        if self._sessions.on_failure(stack_id, self._loop.time()):
            self._arm_timer()
            return
        if self._pracks.answered(stack_id):
            log.warning("no answer to the server's PRACK: %d %s", code, reason)
            return
        ctx = self._client_txs.failed(stack_id)
        if ctx is not None and ctx.request.method == "INVITE" and ctx.dialog is None:
            self.cdrs.refused(ctx.id, code, time.time())
        if ctx is not None:
            if ctx.dialog is None and ctx.request.method == "INVITE":
                self._pracks.ended(ctx.request)
            if ctx.owner is not None:
                response = synthetic_response(ctx.request, code, reason)
                ctx.owner.send_request(
                    Sip(
                        ctx.id,
                        response,
                        None if ctx.dialog is None else ctx.dialog.id,
                        None,
                        time.time(),
                    )
                )
            if ctx.dialog is not None and code == 408:
                # RFC 3261 §12.2.1.2: no response at all ends the dialog.
                self._destroy_dialog(ctx.dialog, f"no response to {ctx.request.method}")
            return
        tx = self._server_txs.pop_by_stack(stack_id)
        if tx is not None:
            self._reliable.forget(stack_id)
            self._server_txs.finish(tx)
            if tx.dialog is not None and tx.dialog.awaiting_ack == stack_id:
                self._hang_up(tx.dialog, reason)

    def _on_response(self, event: ResponseEvent) -> None:
        response = event.response
        if self._trace:
            self._trace_in(response, event.source)
        if self._sessions.on_response(event.tx_id, response, self._loop.time()):
            self._arm_timer()
            return
        if response.status >= 200 and self._pracks.answered(event.tx_id):
            return
        ctx = self._client_txs.get_by_stack(event.tx_id)
        if ctx is None:
            stack = self._stack
            now = self._loop.time()
            if stack is not None and self._proxies.on_response(stack, event.tx_id, response, now):
                self._arm_timer()
            return
        status = response.status
        if ctx.dialled_at is not None and status > 100:
            self.post_dial_delay.observe(self._loop.time() - ctx.dialled_at)
            ctx.dialled_at = None
        if 100 < status < 200 and ctx.dialog is None and ctx.request.method == "INVITE":
            self._send_prack(ctx, response)
        if status == 422 and (resent := self._sessions.retry_422(ctx, response)) is not None:
            # Sent again with a larger interval (RFC 4028 §7.3), unseen by its owner.
            self._client_txs.resent(ctx, resent)
            return
        dialog = ctx.dialog
        method = ctx.request.method
        refreshes = ctx.dialog is not None and method in TARGET_REFRESH_METHODS
        if 200 <= status < 300 and (refreshes or method in DIALOG_METHODS):
            try:
                dialog = self._uac_dialog(ctx, response)
            except ParseError as exc:
                # No dialog can be built from a 2xx with a malformed Contact or
                # Record-Route; the application still gets the response.
                log.warning(
                    "2xx to %s without a usable dialog transaction=%s: %s", method, ctx.id, exc
                )
                dialog = None
            if dialog is not None and dialog.flow is None:
                dialog.flow = websocket_flow(*event.source)
            if dialog is not None and method in SESSION_METHODS:
                self._sessions.confirmed(ctx, dialog, response, self._loop.time())
                self._arm_timer()
        if method == "INVITE" and ctx.dialog is None and status >= 200:
            if status < 300 and dialog is not None:
                self.cdrs.answered(ctx.id, dialog.id, response, time.time())
            elif status >= 300:
                self.cdrs.refused(ctx.id, status, time.time(), response)
        if method in SUBSCRIPTION_METHODS and 200 <= status < 300 and dialog is not None:
            self._subscription_accepted(dialog.id, response, ctx.request, subscriber=True)
        if status >= 200:
            if method == "INVITE" and ctx.dialog is None:
                self._pracks.ended(ctx.request)
            # Forked 2xx (RFC 3261 §13.2.2.4) and NOTIFYs (RFC 6665) may follow for 64*T1.
            self._client_txs.final_response(ctx, status, self._loop.time())
            self._arm_timer()
        if ctx.owner is not None:
            ctx.owner.send_request(
                Sip(
                    ctx.id,
                    response,
                    None if dialog is None else dialog.id,
                    Source(*event.source),
                    time.time(),
                )
            )
        if ctx.dialog is not None and status in (408, 481):
            # RFC 3261 §12.2.1.2: the peer no longer knows the dialog (481) or
            # could not be reached (408): the dialog is over.
            self._destroy_dialog(ctx.dialog, f"{status} response to {method}")
        elif ctx.dialog is not None and 200 <= status < 300 and ctx.dialog.ended_by(ctx.request):
            self._destroy_dialog(ctx.dialog, "terminating NOTIFY sent")

    def _send_prack(self, ctx: ClientTx[AppSession], response: SipResponse) -> None:
        """Acknowledge a reliable provisional response to an application's INVITE (RFC 3262 §4)."""
        try:
            prack = self._pracks.prack(ctx.request, response, ctx.contact)
            if prack is None or self._stack is None:
                return
            dialog, request = prack
            self._pracks.sent(self._stack.send_request(request, self._first_hop(dialog, request)))
        except (DrachtioError, ValueError) as exc:
            log.warning("could not send PRACK transaction=%s: %s", ctx.id, exc)
            return
        self._trace_out(request)

    def _uac_dialog(
        self, ctx: ClientTx[AppSession], response: SipResponse
    ) -> Dialog[AppSession] | None:
        dialog = ctx.dialog
        if dialog is not None:
            # A 2xx to a target refresh in the dialog (re-INVITE, SUBSCRIBE,
            # UPDATE); after a re-INVITE the ACK is the application's to send.
            dialog.refresh_target(response)
        else:
            to = response.to
            if to is None or to.tag is None:
                log.warning(
                    "2xx to %s without a To tag dropped transaction=%s", ctx.request.method, ctx.id
                )
                return None
            dialog = Dialog.for_uac(ctx.request, response, ctx.contact, ctx.owner)
            known = self._dialogs.get(dialog.id)
            if known is not None:
                return known
            # Past the CSeqs of the PRACKs sent in its early dialog (RFC 3262 §4).
            dialog.local_cseq = max(dialog.local_cseq, self._pracks.local_cseq(dialog.key))
            if ctx.subscribe_key is not None:
                if ctx.subscribe_tags is not None and to.tag in ctx.subscribe_tags:
                    # A NOTIFY before this 2xx created the dialog and ended it.
                    return None
                ctx.subscribe_tags = {to.tag} | (ctx.subscribe_tags or set())
            self._dialogs.add(dialog)
        if ctx.request.method == "INVITE":
            cseq = ctx.request.cseq
            dialog.ack_tx = ctx.stack_id
            dialog.ack_cseq = 0 if cseq is None else cseq.seq
        if ctx.owner is None:
            # The application left while its request was pending: take the
            # dialog down, or, when that was done already (a 2xx to a
            # re-INVITE or UPDATE after the BYE), only acknowledge the 2xx.
            if dialog.id in self._dialogs:
                self._hang_up(dialog, "application disconnected")
            elif self._stack is not None and not self._stack.is_closed:
                self._ack_pending_2xx(self._stack, dialog)
        return dialog

    # ------------------------------------------------------------ helpers

    def _advertised(self, listener: Listener, dest: str | None) -> Listener:
        """``listener`` as a peer at ``dest`` is to know it, for a Contact: its
        external address unless ``dest`` is in one of its local networks (NAT,
        the stack's rule for the Via; ``docs/server.md``)."""
        transport, ip, port = listener
        stack = self._stack
        if stack is None:
            return listener
        return (transport, *stack.advertised(transport, (ip, port), dest))

    def _stack_or_fail(self) -> SipStack:
        if self._stack is None:
            raise DrachtioError("the server is not started")
        return self._stack

    def _trace_in(self, message: SipMessage, source: tuple[str, str, int] | None) -> None:
        where = f" from {source[0]}/{uri_host(source[1])}:{source[2]}" if source else ""
        trace.info("recv%s\n%s", where, message.to_bytes().decode("utf-8", "replace"))

    def _trace_out(self, message: SipMessage) -> None:
        if self._trace:
            trace.info("send\n%s", message.to_bytes().decode("utf-8", "replace"))


def hang_up_headers(reason: str) -> dict[str, str | list[str]]:
    """The headers of a BYE the server sends on its own, saying why (RFC 3326)."""
    return {"Reason": f'SIP;text="{reason}"'}


def _not_pending(tx_id: str, finished: bool) -> Failure:
    """The failure for a transaction a session has not pending: ``finished`` by it, or unknown.

    Another application's transaction is unknown in every state.
    """
    if finished:
        return Failure(f"transaction {tx_id} already has a final response")
    return Failure(f"unknown transaction {tx_id}")


@contextlib.contextmanager
def _carry_on(action: str, what: str) -> Iterator[None]:
    """Log an exception raised by ``action`` on ``what`` and go on with the next one."""
    try:
        yield
    except Exception:
        log.exception("could not %s %s", action, what)


def _uri_host(uri: str) -> str | None:
    """The host of ``uri`` (an IP address, or a name: unknown to the NAT rule)."""
    try:
        return Uri(uri).host
    except ValueError:
        return None
