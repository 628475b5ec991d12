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
from collections.abc import Iterator

from drachtio._core import (
    AckEvent,
    AckTimeoutEvent,
    CancelEvent,
    ClosedEvent,
    ConnectionClosedEvent,
    MalformedEvent,
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
    RespondResult,
    RespondToSipRequest,
    ResponseData,
    Route,
    SendResult,
    SendSipRequest,
    Sip,
    Source,
    Success,
    Unroute,
)
from drachtio.server.app_session import AppSession
from drachtio.server.config import ServerConfig
from drachtio.server.dialog import (
    DIALOG_METHODS,
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
from drachtio.server.routing import Routes
from drachtio.server.transactions import (
    ClientTransactions,
    ClientTx,
    ServerTransactions,
    ServerTx,
)
from drachtio.stack import Destination, SipStack, StackEvent

__all__ = ["CANCEL_APP_TIMEOUT", "CANCEL_BY_CALLER", "CANCEL_SERVER_ERROR", "TransactionUser"]

log = logging.getLogger("drachtio.server")
trace = logging.getLogger("drachtio.sip")

CANCEL_BY_CALLER = "cancelled by the caller"
"""The ``reason`` of a ``cancel`` sent because a CANCEL came for the INVITE."""
CANCEL_APP_TIMEOUT = "no answer from the application in time: answered 500"
"""The ``reason`` of a ``cancel`` sent because the application did not answer in time."""
CANCEL_SERVER_ERROR = "the server could not handle the request: answered 500"
"""The ``reason`` of a ``cancel`` sent because handling the request failed in the server."""
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
        """The stack is closed: no more deadlines run."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None

    def counts(self) -> dict[str, int]:
        """The transactions and dialogs held now."""
        return {
            "server_transactions": len(self._server_txs),
            "client_transactions": len(self._client_txs),
            "dialogs": len(self._dialogs),
        }

    def execute(self, session: AppSession, command: Command) -> ResponseData:
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

    def _execute(self, session: AppSession, command: Command) -> ResponseData:
        try:
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

    def session_closed(self, session: AppSession, heirs: list[AppSession]) -> None:
        """``session`` went away: free what it held, its dialogs going to ``heirs`` in turn.

        See :meth:`Server.session_closed`; the dialogs no one took end (see :meth:`_hang_up`).
        """
        self._routes.remove_app(session)
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
        response = build_response(
            request,
            code,
            command.status,
            command.headers,
            command.body,
            tx.to_tag,
            contact_for(*tx.listener),
        )
        check_relied_on(response, command.headers)
        self._stack_or_fail().respond(tx.stack_id, response)
        self._trace_out(response)
        dialog_id: str | None = None
        if code >= 200:
            if refreshes and code < 300:
                assert tx.dialog is not None
                tx.dialog.refresh_target(request)
            if request.method in DIALOG_METHODS and code < 300:
                dialog_id = self._uas_dialog(tx).id
            self._server_txs.finish(tx, keep_for_ack=request.method == "INVITE" and code < 300)
            if tx.dialog is not None and code < 300 and tx.dialog.ended_by(request):
                self._destroy_dialog(tx.dialog, "terminating NOTIFY received")
        elif request.method == "INVITE":
            # A ringing INVITE may ring as long as the caller waits.
            self._server_txs.ringing(tx)
        return RespondResult(response, dialog_id)

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

    def _answer(self, tx: ServerTx[AppSession], code: int, reason: str | None) -> None:
        """Answer a request on the server's own behalf (no application can).

        A 405 lists the methods routed to applications (RFC 3261 §8.2.1).
        """
        stack = self._stack
        if stack is None:
            return
        if code > 100 and tx.to_tag is None:
            tx.to_tag = stack.new_tag()
        headers: dict[str, str | list[str]] = {}
        if code == 405:
            headers["Allow"] = ", ".join(self._routes.methods())
        try:
            response = build_response(
                tx.request, code, reason, headers, None, tx.to_tag, contact_for(*tx.listener)
            )
            stack.respond(tx.stack_id, response)
            self._trace_out(response)
        except (DrachtioError, ValueError) as exc:
            log.warning("could not answer %d transaction=%s: %s", code, tx.id, exc)
        self._server_txs.finish(tx)

    def _arm_timer(self) -> None:
        """Make the loop timer fire at the registries' earliest deadline."""
        deadlines = (self._server_txs.next_deadline(), self._client_txs.next_deadline())
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
            for tx in self._server_txs.overdue(now):
                if self._server_txs.is_pending(tx):
                    with _carry_on("answer 500", tx.id):
                        self._on_app_timeout(tx)
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
                dialog.ack_tx = None
                return SendResult(_new_tx_id(), ack, dialog.id)
            if command.method == "BYE":
                self._ack_pending_2xx(stack, dialog)
            request = build_in_dialog_request(dialog, command.method, command.headers, command.body)
            check_relied_on(request, command.headers)
            contact = dialog.contact
            dest = self._first_hop(dialog, request)
        else:
            if command.method in ("ACK", "CANCEL"):
                return Failure(
                    f"{command.method} is sent with dialogId (ACK) or cancelSipRequest (CANCEL)"
                )
            assert command.uri is not None
            listener = self._listener_for(command.uri)
            request = build_new_request(
                command.method,
                command.uri,
                command.headers,
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
            _new_tx_id(), stack_id, request, session, contact, dialog
        )
        if dialog is None and command.method == "SUBSCRIBE":
            from_ = request.from_
            assert from_ is not None and from_.tag is not None
            ctx.subscribe_key = (request.call_id or "", from_.tag)
        self._client_txs.add(ctx)
        if dialog is not None and command.method == "BYE":
            self._destroy_dialog(dialog, "BYE sent")
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
        self, dialog: Dialog[AppSession], reason: str, *, notify: bool = True
    ) -> None:
        if not self._dialogs.remove(dialog):
            return
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

    def _hang_up(self, dialog: Dialog[AppSession], reason: str) -> None:
        """End ``dialog`` on the server's own: a call with a BYE (RFC 3261 §15.1.1).

        A subscription is only forgotten: BYE is not for it, and the server
        knows nothing of the event package's state to put in a terminating
        NOTIFY or of when to unsubscribe. The peer's next request in it (a
        refresh, a NOTIFY) is answered 481, which ends the subscription on
        its side (RFC 6665).
        """
        stack = self._stack
        if dialog.method == "INVITE" and stack is not None and not stack.is_closed:
            self._ack_pending_2xx(stack, dialog)
            try:
                bye = build_in_dialog_request(
                    dialog, "BYE", {"Reason": f'SIP;text="{reason}"'}, None
                )
                stack.send_request(bye, self._first_hop(dialog, bye))
                self._trace_out(bye)
            except (DrachtioError, ValueError) as exc:
                log.warning("could not send BYE dialog=%s: %s", dialog.id, exc)
        self._destroy_dialog(dialog, reason)

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
        listener: Listener = (transport, *event.local)
        source = Source(transport, event.source[1], event.source[2])
        tx: ServerTx[AppSession] = ServerTx(
            _new_tx_id(), event.tx_id, request, None, listener, source, time.time()
        )
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
        if to is not None and to.tag is not None:
            # RFC 3261 §12.2.2: a request within a dialog.
            dialog = self._dialogs.receiving(request)
            if dialog is None and request.method == "NOTIFY":
                dialog = self._notify_dialog(request)
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
            tx.dialog = dialog
            tx.to_tag = dialog.local_tag
            owner: AppSession | None = dialog.owner
        else:
            owner = self._routes.pick(request.method)
            if owner is None:
                log.info(
                    "no application for %s, answering %d",
                    request.method,
                    self.config.no_route_status,
                )
                self._answer(tx, self.config.no_route_status, None)
                return
        tx.owner = owner
        self._server_txs.add(tx, self._loop.time())
        assert owner is not None
        if not owner.send_request(self._sip_message(tx)):
            tx.owner = None
            self._answer(tx, 480, "Temporarily Unavailable")
            return
        self._arm_timer()
        if tx.dialog is not None and request.method == "BYE":
            self._destroy_dialog(tx.dialog, "BYE received")

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
        tx = self._server_txs.get_by_stack(event.tx_id)
        if tx is None:
            return
        owner = tx.owner
        self._server_txs.finish(tx)
        if owner is not None:
            owner.send_request(Cancel(tx.id, CANCEL_BY_CALLER))

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
        ctx = self._client_txs.failed(stack_id)
        if ctx is not None:
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
            self._server_txs.finish(tx)
            if tx.dialog is not None and tx.dialog.awaiting_ack == stack_id:
                self._hang_up(tx.dialog, reason)

    def _on_response(self, event: ResponseEvent) -> None:
        response = event.response
        if self._trace:
            self._trace_in(response, event.source)
        ctx = self._client_txs.get_by_stack(event.tx_id)
        if ctx is None:
            return
        status = response.status
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
        if status >= 200:
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
