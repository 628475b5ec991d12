"""The transaction user as UAS (RFC 3261 §8.2, §12.1.1): requests received, and their answers.

:class:`UasSide` gives each request the stack reports to the owner of its
dialog or to the application routing its method (or answers it itself),
sends the applications' responses (``respondToSipRequest``), creates the
dialogs their 2xx make, and handles what follows a response: the ACK, a
CANCEL, no ACK, no answer from the application in time.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from drachtio._core import AckEvent, CancelEvent, RequestEvent
from drachtio.errors import ParseError
from drachtio.protocol import (
    Cancel,
    DialogEvent,
    Failure,
    Later,
    ProxyRequest,
    RespondResult,
    RespondToSipRequest,
    ResponseData,
    Sip,
    Source,
)
from drachtio.server.app_session import AppSession
from drachtio.server.dialog import (
    DIALOG_METHODS,
    RESPONSE_MANAGED,
    SUBSCRIPTION_METHODS,
    TARGET_REFRESH_METHODS,
    Dialog,
    build_response,
    check_relied_on,
    contact_for,
    websocket_flow,
)
from drachtio.server.endings import (
    BYE_IN_EARLY_DIALOG,
    BYE_RECEIVED,
    CANCEL_APP_TIMEOUT,
    CANCEL_BY_BYE,
    CANCEL_BY_CALLER,
    CANCEL_SERVER_ERROR,
    CANCELLED_BY_CALLER,
    NO_ACK,
    NOTIFY_RECEIVED_ENDS,
    Ending,
    final_response,
)
from drachtio.server.ids import new_transaction_id
from drachtio.server.reliable_ua import ReliableUa
from drachtio.server.request_checks import malformed_header, unreachable_target
from drachtio.server.session_keeper import SESSION_METHODS
from drachtio.server.subscription_ua import SubscriptionUa
from drachtio.server.transactions import ServerTx
from drachtio.server.ua_core import UaCore

__all__ = ["UasSide", "not_pending"]

log = logging.getLogger("drachtio.server")


class UasSide:
    """Requests the server receives, for its applications to answer."""

    __slots__ = ("_core", "_reliable", "_subscriptions", "route_new")

    def __init__(self, core: UaCore, reliable: ReliableUa, subscriptions: SubscriptionUa) -> None:
        self._core = core
        self._reliable = reliable
        self._subscriptions = subscriptions
        # Set when a request handler routes new requests outside any dialog:
        # it answers them, or hands them on (hand_to, proxy_routed).
        self.route_new: Callable[[ServerTx[AppSession]], None] | None = None

    # ------------------------------------------------------------ requests in

    def on_request(self, event: RequestEvent) -> None:
        """A new request: to its dialog's owner, a routed application, or answered."""
        core = self._core
        request = event.request
        if core.tracing:
            core.trace_in(request, event.source)
        transport = event.source[0]
        listener = core.advertised((transport, *event.local), event.source[1])
        source = Source(transport, event.source[1], event.source[2])
        tx: ServerTx[AppSession] = ServerTx(
            new_transaction_id(), event.tx_id, request, None, listener, source, time.time()
        )
        tx.awaiting_app_since = core.loop.time()
        try:
            malformed = malformed_header(request)
            if malformed is not None:
                log.info("%s answered 400 transaction=%s: %s", request.method, tx.id, malformed)
                core.answer(tx, 400, malformed)
                return
            self._take_request(tx)
        except Exception:
            # A defect here must not leave the caller unanswered and the
            # transaction held forever: answer 500 and finish it.
            log.exception("could not handle %s transaction=%s", request.method, tx.id)
            if not core.server_txs.was_finished(tx.id):
                core.answer(tx, 500, "Server Internal Error", cancel=CANCEL_SERVER_ERROR)

    def _take_request(self, tx: ServerTx[AppSession]) -> None:
        """Give a new request to its dialog's owner or a routed application, or answer it."""
        core = self._core
        request = tx.request
        to = request.to
        if request.method == "PRACK" and to is not None and to.tag is not None:
            self._reliable.on_prack(tx)
            return
        if to is not None and to.tag is not None:
            # RFC 3261 §12.2.2: a request within a dialog.
            dialog = core.dialogs.receiving(request)
            if dialog is None and request.method == "NOTIFY":
                dialog = self._subscriptions.notify_dialog(request)
            if dialog is None and self._route_onward(tx):
                return
            if dialog is None or dialog.owner is None:
                core.answer(tx, 481, "Call/Transaction Does Not Exist")
                return
            seq = request.cseq.seq if request.cseq is not None else None
            if seq is not None and dialog.remote_cseq is not None and seq <= dialog.remote_cseq:
                # RFC 3261 §12.2.2: a lower CSeq than the last one is out of order.
                core.answer(tx, 500, "CSeq Out Of Order")
                return
            if seq is not None:
                dialog.remote_cseq = seq
            if dialog.early and request.method == "INVITE":
                self._refuse_early_invite(tx, dialog)
                return
            if dialog.early and request.method == "BYE" and self._early_bye(tx, dialog):
                return
            self._subscriptions.notified(dialog, request)
            tx.dialog = dialog
            tx.to_tag = dialog.local_tag
            owner: AppSession | None = dialog.owner
        else:
            if request.route and self._route_onward(tx):
                return
            if self.route_new is not None:
                # The request handler says where it goes (drachtio.server.outbound);
                # pending meanwhile, so that a CANCEL finds it.
                core.server_txs.add(tx, core.loop.time())
                self.route_new(tx)
                return
            owner = core.routes.pick(request.method)
            if owner is None and request.method == "OPTIONS" and core.config.answer_options:
                # A keep-alive ping to the server itself (RFC 3261 §11.2).
                core.answer(tx, 200, None)
                return
            if owner is None:
                log.info(
                    "no application for %s, answering %d",
                    request.method,
                    core.config.no_route_status,
                )
                core.answer(tx, core.config.no_route_status, None)
                return
        assert owner is not None
        self.hand_to(tx, owner)

    def _invite_of(self, early: Dialog[AppSession]) -> ServerTx[AppSession] | None:
        """The INVITE received, not answered yet, whose early dialog is ``early``
        (``None`` for the early dialog of an INVITE an application sent)."""
        owner = early.owner
        if owner is None:
            return None
        return next((tx for tx in self._core.server_txs.owned_by(owner) if tx.early is early), None)

    def _refuse_early_invite(self, tx: ServerTx[AppSession], early: Dialog[AppSession]) -> None:
        """An INVITE in an early dialog: its INVITE is still in progress (RFC 3261 §14.2).

        In the early dialog of an INVITE received, the caller's second INVITE
        comes before the final response to its first: 500 with a Retry-After
        of 0 to 10 seconds. In the early dialog of an INVITE an application
        sent, the callee's INVITE meets that one in progress: 491.
        """
        if self._invite_of(early) is None:
            self._core.answer(tx, 491, "Request Pending")
            return
        retry = (("Retry-After", str(random.randint(0, 10))),)
        self._core.answer(tx, 500, "Server Internal Error", retry)

    def _early_bye(self, tx: ServerTx[AppSession], early: Dialog[AppSession]) -> bool:
        """The caller's BYE in the early dialog of an INVITE received (RFC 3261 §15.1.2):
        the BYE is answered 200, the INVITE 487, its owner told as for a CANCEL.

        ``False`` for the early dialog of an INVITE an application sent
        (the BYE goes to its owner).
        """
        core = self._core
        invite = self._invite_of(early)
        if invite is None:
            return False
        core.answer(tx, 200, None)
        invite.early = None
        core.answer(invite, 487, "Request Terminated", cancel=CANCEL_BY_BYE)
        core.destroy_dialog(early, BYE_IN_EARLY_DIALOG, message=tx.request)
        return True

    def hand_to(self, tx: ServerTx[AppSession], owner: AppSession) -> None:
        """Give ``tx``'s request to ``owner`` (its dialog's, or the one routing it)."""
        core = self._core
        request = tx.request
        # An early dialog has no session timer yet (RFC 4028 §9: the INVITE's 2xx sets it).
        early = tx.dialog is not None and tx.dialog.early
        reject = None if early else core.sessions.check_request(tx)
        if reject is not None:
            core.answer(tx, reject.status, reject.reason, reject.headers)
            return
        tx.owner = owner
        core.server_txs.add(tx, core.loop.time())
        if request.method == "INVITE" and tx.dialog is None:
            core.cdrs.invite(tx.id, request, role="uas", now=time.time())
        if not owner.send_request(core.sip_message(tx)):
            tx.owner = None
            core.answer(tx, 480, "Temporarily Unavailable")
            return
        core.arm_timer()
        if tx.dialog is not None and request.method == "BYE":
            core.destroy_dialog(tx.dialog, BYE_RECEIVED, message=request)

    def _route_onward(self, tx: ServerTx[AppSession]) -> bool:
        """Whether ``tx``'s route passes through the server to another: now proxied."""
        core = self._core
        stack = core.stack_or_fail()
        now = core.loop.time()
        if not core.proxies.route_onward(stack, tx.stack_id, tx.request, tx.listener, now):
            return False
        core.arm_timer()
        return True

    # ------------------------------------------------------------ respondToSipRequest

    def respond(self, session: AppSession, command: RespondToSipRequest) -> ResponseData:
        """Send ``session``'s response to a request it was handed."""
        core = self._core
        tx_id = command.transaction_id
        tx = core.server_txs.get(tx_id)
        if tx is None or tx.owner is not session:
            finished = tx is None and core.server_txs.finished_by(tx_id, session)
            return not_pending(tx_id, finished)
        code = command.code
        request = tx.request
        method = request.method  # each read of a view builds it anew: read once
        if code > 100 and tx.to_tag is None:
            to = request.to
            if to is not None and to.tag is None:
                tx.to_tag = core.stack_or_fail().new_tag()
        # The Contact and Record-Route the dialog is built from, or its
        # target moved by, after a 2xx were checked when the request came
        # (request_checks): reading them below cannot fail.
        refreshes = tx.dialog is not None and method in TARGET_REFRESH_METHODS
        if 200 <= code < 300 and (refreshes or (method in DIALOG_METHODS and tx.dialog is None)):
            unreachable = unreachable_target(request)
            if unreachable is not None:
                return Failure(f"no dialog can be made with this request: {unreachable}")
        headers = core.sessions.response_headers(tx, code, command.headers)
        if method == "INVITE" and 100 < code < 300:
            headers = self._reliable.headers(tx, code, headers)
        response = build_response(
            request,
            code,
            command.status,
            headers,
            command.body,
            tx.to_tag,
            contact_for(*tx.listener),
        )
        check_relied_on(response, command.headers, RESPONSE_MANAGED)
        if core.reliable.hold_or_send(tx.stack_id, response):
            core.stack_or_fail().respond(tx.stack_id, response)
            core.trace_out(response)
            if code >= 200:
                core.reliable.forget(tx.stack_id)
        if tx.awaiting_app_since is not None:
            core.app_response_time.observe(core.loop.time() - tx.awaiting_app_since)
            tx.awaiting_app_since = None
        dialog_id: str | None = None
        if code >= 200:
            if refreshes and code < 300:
                assert tx.dialog is not None
                tx.dialog.refresh_target(request)
            if method in DIALOG_METHODS and code < 300:
                dialog_id = self._uas_dialog(tx).id
            if method == "INVITE" and tx.dialog is None and dialog_id is None:
                core.cdrs.refused(tx.id, code, time.time(), response)
            elif method == "INVITE" and dialog_id is not None:
                core.cdrs.answered(tx.id, dialog_id, response, time.time())
            if method in SUBSCRIPTION_METHODS and code < 300 and dialog_id is not None:
                self._subscriptions.accepted(dialog_id, response, request, subscriber=False)
            if tx.dialog is not None and code < 300 and method in SESSION_METHODS:
                core.sessions.answered(tx, tx.dialog, response, core.loop.time())
                core.arm_timer()
            core.server_txs.finish(tx, keep_for_ack=method == "INVITE" and code < 300)
            if tx.dialog is not None and code < 300 and tx.dialog.ended_by(request):
                core.destroy_dialog(tx.dialog, NOTIFY_RECEIVED_ENDS)
            core.end_early(tx, final_response(code))
        elif method == "INVITE":
            # A ringing INVITE may ring as long as the caller waits.
            core.server_txs.ringing(tx)
            if tx.dialog is None and code > 100:
                early = self._early_dialog(tx)
                dialog_id = None if early is None else early.id
        return RespondResult(response, dialog_id)

    def _early_dialog(self, tx: ServerTx[AppSession]) -> Dialog[AppSession] | None:
        """The early dialog of ``tx``'s provisional responses with our tag (RFC 3261 §12.1.1)."""
        if tx.early is None:
            try:
                dialog = self._new_dialog(tx)
            except ParseError as exc:
                log.warning("INVITE without a usable early dialog transaction=%s: %s", tx.id, exc)
                return None
            dialog.early = True
            tx.early = dialog
            self._core.dialogs.add(dialog)
        return tx.early

    @staticmethod
    def _new_dialog(tx: ServerTx[AppSession]) -> Dialog[AppSession]:
        """The dialog our responses to ``tx`` with our tag create (early, or not)."""
        assert tx.to_tag is not None
        dialog = Dialog.for_uas(tx.request, tx.to_tag, contact_for(*tx.listener), tx.owner)
        dialog.flow = websocket_flow(tx.source.transport, tx.source.address, tx.source.port)
        return dialog

    def _uas_dialog(self, tx: ServerTx[AppSession]) -> Dialog[AppSession]:
        dialog = tx.dialog
        if dialog is None and tx.early is not None:
            # The 2xx confirms the early dialog of the 1xx (RFC 3261 §12.1.1),
            # even one a 481 or 408 to a request sent in it ended.
            dialog, tx.early = tx.early, None
            dialog.early = False
            tx.dialog = dialog
            if dialog.id not in self._core.dialogs:
                self._core.dialogs.add(dialog)
        if dialog is None:
            dialog = self._new_dialog(tx)
            tx.dialog = dialog
            self._core.dialogs.add(dialog)
        if tx.request.method == "INVITE":
            dialog.awaiting_ack = tx.stack_id
        return dialog

    def proxy(self, session: AppSession, command: ProxyRequest) -> ResponseData | Later:
        """Proxy a request ``session`` was handed (:mod:`drachtio.server.proxies`)."""
        core = self._core
        tx = core.server_txs.get(command.transaction_id)
        if tx is None or tx.owner is not session:
            finished = tx is None and core.server_txs.finished_by(command.transaction_id, session)
            return not_pending(command.transaction_id, finished)
        if tx.dialog is not None:
            return Failure(f"transaction {tx.id} is in dialog {tx.dialog.id}: answer it")
        result = core.proxies.start(
            core.stack_or_fail(),
            session,
            tx.stack_id,
            tx.request,
            tx.listener,
            tx.to_tag,
            command,
            core.loop.time(),
            cdr_key=tx.id,
        )
        core.server_txs.finish(tx)
        core.arm_timer()
        return result

    def proxy_routed(self, tx: ServerTx[AppSession], command: ProxyRequest) -> None:
        """Proxy ``tx``'s request as the request handler said (no application owns it)."""
        core = self._core
        core.proxies.start(
            core.stack_or_fail(),
            None,
            tx.stack_id,
            tx.request,
            tx.listener,
            tx.to_tag,
            command,
            core.loop.time(),
        )
        core.server_txs.finish(tx)
        core.arm_timer()

    # ------------------------------------------------------------ after the response

    def on_ack(self, event: AckEvent) -> None:
        """An ACK: of a 2xx the server sent (to its dialog), or one to proxy."""
        core = self._core
        if core.tracing:
            core.trace_in(event.request, event.source)
        # The ACK of a 2xx the server sent goes to its dialog; another may
        # be routed through the server (a dialog it record-routed).
        mine = event.tx_id is not None and core.server_txs.get_by_stack(event.tx_id) is not None
        if not mine and (malformed := malformed_header(event.request)) is not None:
            # An ACK is never answered (RFC 3261 §17.2.3): one that cannot be routed is dropped.
            log.info("ACK dropped source=%s: %s", event.source, malformed)
            return
        stack = core.stack
        if not mine and stack is not None and core.proxies.route_ack(stack, event.request):
            return
        if event.tx_id is None:
            log.debug("ACK matching no transaction dropped")
            return
        tx = core.server_txs.pop_by_stack(event.tx_id)
        if tx is None or tx.dialog is None:
            return
        dialog = tx.dialog
        dialog.awaiting_ack = None
        if dialog.owner is not None:
            source = Source(*event.source)
            dialog.owner.send_request(Sip(tx.id, event.request, dialog.id, source, time.time()))

    def on_cancel(self, event: CancelEvent) -> None:
        """A CANCEL for an INVITE: its owner is told (or it is proxied on)."""
        core = self._core
        if core.tracing:
            core.trace_in(event.request, None)
        stack = core.stack
        if stack is not None and core.proxies.on_cancel(stack, event.tx_id, core.loop.time()):
            core.arm_timer()
            return
        tx = core.server_txs.get_by_stack(event.tx_id)
        if tx is None:
            return
        owner = tx.owner
        pending = core.server_txs.is_pending(tx)
        held = core.reliable.forget(tx.stack_id)
        core.server_txs.finish(tx)
        core.cdrs.refused(tx.id, 487, time.time())
        if pending and owner is not None:
            owner.send_request(Cancel(tx.id, CANCEL_BY_CALLER))
        core.end_early(tx, CANCELLED_BY_CALLER)
        if not pending and tx.dialog is not None and any(200 <= r.status < 300 for r in held):
            # Its 2xx was held for a PRACK and never sent: the call never was.
            core.destroy_dialog(tx.dialog, CANCELLED_BY_CALLER)

    def on_ack_timeout(self, stack_id: int) -> None:
        """No ACK came for a 2xx the server sent: the call is ended."""
        core = self._core
        tx = core.server_txs.pop_by_stack(stack_id)
        # A 2xx still held for a PRACK goes nowhere now.
        core.reliable.forget(stack_id)
        if tx is None or tx.dialog is None:
            return
        dialog = tx.dialog
        dialog.awaiting_ack = None
        log.warning("no ACK for a 2xx, ending the call dialog=%s", dialog.id)
        if dialog.owner is not None:
            dialog.owner.send_request(DialogEvent(dialog.id, "ack-timeout", NO_ACK.text))
        core.hang_up(dialog, NO_ACK)

    def on_app_timeout(self, tx: ServerTx[AppSession]) -> None:
        """The application did not answer ``tx`` in time: the server answers 500."""
        core = self._core
        owner = tx.owner
        log.warning(
            "application did not answer in %.1f s, answering 500 transaction=%s peer=%s",
            core.config.app_response_timeout,
            tx.id,
            owner.peer if owner else None,
        )
        core.answer(tx, 500, "Application Did Not Respond", cancel=CANCEL_APP_TIMEOUT)

    def on_failure(self, stack_id: int, reason: str) -> None:
        """The stack gave up on server transaction ``stack_id`` (its response could not go)."""
        core = self._core
        tx = core.server_txs.pop_by_stack(stack_id)
        if tx is not None:
            core.reliable.forget(stack_id)
            core.server_txs.finish(tx)
            core.end_early(tx, Ending(reason))
            if tx.dialog is not None and tx.dialog.awaiting_ack == stack_id:
                core.hang_up(tx.dialog, Ending(reason))


def not_pending(tx_id: str, finished: bool) -> Failure:
    """The failure for a transaction a session has not pending: ``finished`` by it, or unknown.

    Another application's transaction is unknown in every state.
    """
    if finished:
        return Failure(f"transaction {tx_id} already has a final response")
    return Failure(f"unknown transaction {tx_id}")
