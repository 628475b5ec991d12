"""The transaction user as UAC (RFC 3261 §8.1, §12.1.2): the requests applications send.

:class:`UacSide` sends an application's request (``sendSipRequest``),
outside any dialog or within one of its dialogs, cancels its INVITEs
(``cancelSipRequest``), and carries the responses back: creating the
dialogs their 2xx make, acknowledging reliable provisional responses, and
ending a dialog whose peer no longer answers in it.
"""

from __future__ import annotations

import logging
import time

from drachtio._core import ResponseEvent, SipResponse, Uri
from drachtio.errors import DrachtioError, ParseError
from drachtio.protocol import (
    CancelSipRequest,
    Failure,
    ResponseData,
    SendResult,
    SendSipRequest,
    Sip,
    Source,
    Success,
)
from drachtio.server.app_session import AppSession
from drachtio.server.dialog import (
    DIALOG_METHODS,
    SUBSCRIPTION_METHODS,
    TARGET_REFRESH_METHODS,
    Dialog,
    Listener,
    build_ack,
    build_in_dialog_request,
    build_new_request,
    check_relied_on,
    contact_for,
    synthetic_response,
    websocket_flow,
)
from drachtio.server.endings import (
    ANOTHER_FORK_ANSWERED,
    APPLICATION_GONE,
    BYE_NOT_SENT,
    BYE_SENT,
    NOTIFY_SENT_ENDS,
    failed_in_dialog,
    final_response,
    no_response,
)
from drachtio.server.ids import new_transaction_id
from drachtio.server.reliable import RELIABLE_TAG
from drachtio.server.reliable_ua import ReliableUa
from drachtio.server.session_keeper import SESSION_METHODS
from drachtio.server.session_timer.headers import merge_headers
from drachtio.server.subscription_ua import SubscriptionUa
from drachtio.server.transactions import ClientTx
from drachtio.server.ua_core import UaCore
from drachtio.server.uas import not_pending

__all__ = ["UacSide"]

log = logging.getLogger("drachtio.server")


class UacSide:
    """Requests the server sends for its applications, and their responses."""

    __slots__ = ("_core", "_reliable", "_subscriptions")

    def __init__(self, core: UaCore, reliable: ReliableUa, subscriptions: SubscriptionUa) -> None:
        self._core = core
        self._reliable = reliable
        self._subscriptions = subscriptions

    # ------------------------------------------------------------ sendSipRequest

    def send(self, session: AppSession, command: SendSipRequest) -> ResponseData:
        """Send ``session``'s request: in one of its dialogs (``dialogId``), or a new one."""
        core = self._core
        stack = core.stack_or_fail()
        if command.dialog_id is not None:
            dialog = core.dialogs.get(command.dialog_id)
            if dialog is None or dialog.owner is not session:
                return Failure(f"no dialog {command.dialog_id}")
            if command.method == "ACK":
                if dialog.ack_tx is None:
                    return Failure(f"dialog {dialog.id} has no 2xx waiting for an ACK")
                ack = build_ack(dialog, command.headers, command.body)
                stack.send_ack(dialog.ack_tx, ack, core.first_hop(dialog, ack))
                core.trace_out(ack)
                core.sessions.sent(dialog, ack)
                dialog.ack_tx = None
                return SendResult(new_transaction_id(), ack, dialog.id)
            if dialog.early and command.method in ("INVITE", "BYE"):
                return Failure(
                    f"dialog {dialog.id} is early: no {command.method} in it before the 2xx"
                )
            if command.method == "BYE":
                core.ack_pending_2xx(stack, dialog)
            headers, offer = command.headers, None
            if command.method == "PRACK":
                rack = core.early.rack_awaited(dialog)
                if rack is None:
                    return Failure(
                        f"dialog {dialog.id} has no reliable provisional response to PRACK"
                    )
                headers = {n: v for n, v in headers.items() if n.lower() != "rack"}
                headers["RAck"] = rack
            if not dialog.early:
                # An early dialog has no session timer yet (RFC 4028 §7.1: the 2xx sets it).
                headers, offer = core.sessions.offer(dialog, command.method, headers)
            request = build_in_dialog_request(dialog, command.method, headers, command.body)
            check_relied_on(request, command.headers)
            self._subscriptions.notified(dialog, request)
            if command.method == "PRACK":
                core.early.app_pracked(dialog)
            if not dialog.early:
                core.sessions.sent(dialog, request)
            contact = dialog.contact
        else:
            if command.method in ("ACK", "CANCEL"):
                return Failure(
                    f"{command.method} is sent with dialogId (ACK) or cancelSipRequest (CANCEL)"
                )
            assert command.uri is not None
            listener = core.advertised(self._listener_for(command.uri), _uri_host(command.uri))
            headers, offer = core.sessions.offer(None, command.method, command.headers)
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
            if core.dialogs.names_other(session, request):
                return Failure(
                    "the Call-ID and tags name a dialog of another application: "
                    "requests in a dialog are sent by its owner, with dialogId"
                )
            dialog = None
            contact = contact_for(*listener)
            dest = None
        try:
            if dialog is not None:
                dest = core.first_hop(dialog, request)
            stack_id = stack.send_request(request, dest)
        except (DrachtioError, ValueError):
            if dialog is not None and command.method == "BYE":
                # No route to the peer (its target is no SIP URI, or has an
                # unknown transport): the call is over all the same, and no
                # dialog is left that nothing could end (RFC 3261 §15.1.1).
                core.destroy_dialog(dialog, BYE_NOT_SENT, message=request)
            raise
        core.trace_out(request)
        ctx: ClientTx[AppSession] = ClientTx(
            new_transaction_id(), stack_id, request, session, contact, dialog, session_offer=offer
        )
        if dialog is None and command.method == "INVITE":
            ctx.dialled_at = core.loop.time()
            core.early.invite_sent(request, app_pracks=command.prack == "app")
            core.cdrs.invite(ctx.id, request, role="uac", now=time.time())
        elif dialog is None and command.method in SUBSCRIPTION_METHODS:
            from_ = request.from_
            assert from_ is not None and from_.tag is not None
            ctx.subscribe_key = (request.call_id or "", from_.tag)
        core.client_txs.add(ctx)
        if dialog is not None and command.method == "BYE":
            core.destroy_dialog(dialog, BYE_SENT, message=request)
        return SendResult(ctx.id, request, None if dialog is None else dialog.id)

    def _listener_for(self, uri: str) -> Listener:
        """The listener a request to ``uri`` leaves from: its transport's, else the first."""
        # The core's URI parser: a `;` in the user part is not a parameter.
        try:
            wanted = Uri(uri).next_hop_transport
        except ValueError:
            wanted = None
        listeners = self._core.listeners
        for listener in listeners:
            if listener[0] == wanted:
                return listener
        return listeners[0]

    def cancel(self, session: AppSession, command: CancelSipRequest) -> ResponseData:
        """Cancel an INVITE ``session`` sent that has no final response yet."""
        tx_id = command.transaction_id
        ctx = self._core.client_txs.get(tx_id)
        if ctx is None or ctx.owner is not session:
            finished = ctx is None and self._core.client_txs.finished_by(tx_id, session)
            return not_pending(tx_id, finished)
        if ctx.request.method != "INVITE":
            return Failure(f"transaction {ctx.id} is a {ctx.request.method}, not an INVITE")
        if ctx.answered:
            return Failure(f"transaction {ctx.id} already has a final response")
        if ctx.cancelled:
            return Failure(f"transaction {ctx.id} is already cancelled")
        self._core.stack_or_fail().cancel(ctx.stack_id)
        ctx.cancelled = True
        return Success()

    # ------------------------------------------------------------ responses

    def on_response(self, event: ResponseEvent) -> None:
        """A response to a client transaction: the server's own, an application's, or proxied."""
        core = self._core
        response = event.response
        if core.tracing:
            core.trace_in(response, event.source)
        if core.sessions.on_response(event.tx_id, response, core.loop.time()):
            core.arm_timer()
            return
        if response.status >= 200 and core.early.prack_answered(event.tx_id):
            return
        ctx = core.client_txs.get_by_stack(event.tx_id)
        if ctx is None:
            stack = core.stack
            now = core.loop.time()
            if stack is not None and core.proxies.on_response(stack, event.tx_id, response, now):
                core.arm_timer()
            return
        status = response.status
        if (
            200 <= status < 300
            and ctx.dialog is None
            and ctx.request.method == "INVITE"
            and (cseq := core.early.ended_fork(ctx.request, response, core.loop.time())) is not None
        ):
            self._hang_up_ended_fork(ctx, response, cseq, event.source)
            return
        if ctx.dialled_at is not None and status > 100:
            core.post_dial_delay.observe(core.loop.time() - ctx.dialled_at)
            ctx.dialled_at = None
        early = None
        if 100 < status < 200 and ctx.dialog is None and ctx.request.method == "INVITE":
            early = self._provisional(ctx, response, event.source)
        if status == 422 and (resent := core.sessions.retry_422(ctx, response)) is not None:
            # Sent again with a larger interval (RFC 4028 §7.3), unseen by its owner.
            core.client_txs.resent(ctx, resent)
            return
        dialog = ctx.dialog if early is None else early
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
            if dialog is not None and not dialog.early and method in SESSION_METHODS:
                core.sessions.confirmed(ctx, dialog, response, core.loop.time())
                core.arm_timer()
        if method == "INVITE" and ctx.dialog is None and status >= 200:
            if status < 300 and dialog is not None:
                core.cdrs.answered(ctx.id, dialog.id, response, time.time())
            elif status >= 300:
                core.cdrs.refused(ctx.id, status, time.time(), response)
        if method in SUBSCRIPTION_METHODS and 200 <= status < 300 and dialog is not None:
            self._subscriptions.accepted(dialog.id, response, ctx.request, subscriber=True)
        ended: list[Dialog[AppSession]] = []
        if status >= 200:
            if method == "INVITE" and ctx.dialog is None:
                if status < 300 and dialog is not None:
                    ended = core.early.confirmed(ctx.request, dialog.id, core.loop.time())
                else:
                    ended = core.early.ended(ctx.request)
            # Forked 2xx (RFC 3261 §13.2.2.4) and NOTIFYs (RFC 6665) may follow for 64*T1.
            core.client_txs.final_response(ctx, status, core.loop.time())
            core.arm_timer()
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
        # The early dialogs a final response ends, after it (the application's last word on them).
        ending = ANOTHER_FORK_ANSWERED if status < 300 else final_response(status)
        for other in ended:
            core.destroy_dialog(other, ending)
        if ctx.dialog is not None and status in (408, 481):
            # RFC 3261 §12.2.1.2: the peer no longer knows the dialog (481) or
            # could not be reached (408): the dialog is over.
            core.destroy_dialog(ctx.dialog, failed_in_dialog(status, method))
        elif ctx.dialog is not None and 200 <= status < 300 and ctx.dialog.ended_by(ctx.request):
            core.destroy_dialog(ctx.dialog, NOTIFY_SENT_ENDS)

    def _provisional(
        self, ctx: ClientTx[AppSession], response: SipResponse, source: tuple[str, str, int]
    ) -> Dialog[AppSession] | None:
        """The early dialog a provisional response to ``ctx``'s INVITE is in (created by
        the first with its To tag); its PRACK sent when the server sends it."""
        core = self._core
        try:
            found = core.early.provisional(ctx.request, response, ctx.contact, ctx.owner)
        except ParseError as exc:
            log.warning("1xx without a usable early dialog transaction=%s: %s", ctx.id, exc)
            return None
        if found is None:
            return None
        dialog, created = found
        if created:
            dialog.flow = websocket_flow(*source)
            core.dialogs.add(dialog)
        elif dialog.id not in core.dialogs:
            return None  # ended already (a 481 to a request in it)
        rack = core.early.reliable(dialog, ctx.request, response)
        if rack is not None:
            self._reliable.send_prack(ctx, dialog, rack)
        return dialog

    def _hang_up_ended_fork(
        self,
        ctx: ClientTx[AppSession],
        response: SipResponse,
        cseq: int,
        source: tuple[str, str, int],
    ) -> None:
        """A 2xx in an early dialog of ``ctx``'s INVITE that another fork's 2xx
        ended (RFC 3261 §13.2.2.4): its application was told that dialog
        ended, so the server acknowledges the 2xx and sends BYE itself, past
        ``cseq``, the last CSeq sent in the early dialog. The application is
        not handed this 2xx: no dialog of it lives on."""
        core = self._core
        stack = core.stack
        if stack is None or stack.is_closed:
            return
        try:
            dialog: Dialog[AppSession] = Dialog.for_uac(ctx.request, response, ctx.contact, None)
        except ParseError as exc:
            log.warning("2xx of an ended fork not acknowledged transaction=%s: %s", ctx.id, exc)
            return
        dialog.local_cseq = max(dialog.local_cseq, cseq)
        dialog.flow = websocket_flow(*source)
        invite_cseq = ctx.request.cseq
        dialog.ack_tx = ctx.stack_id
        dialog.ack_cseq = 0 if invite_cseq is None else invite_cseq.seq
        log.info("2xx in an early dialog that ended: ACK and BYE dialog=%s", dialog.id)
        core.send_bye(stack, dialog, ANOTHER_FORK_ANSWERED.text)

    def _uac_dialog(
        self, ctx: ClientTx[AppSession], response: SipResponse
    ) -> Dialog[AppSession] | None:
        core = self._core
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
            known = core.dialogs.get(dialog.id)
            if known is not None and not known.early:
                return known
            if known is not None:
                # Its early dialog, with the CSeqs sent in it (PRACK, UPDATE), goes on.
                known.confirm(response)
                dialog = known
            else:
                # Past the CSeqs sent in its early dialog, were it ended here
                # already (its owner left), so that they do not repeat.
                dialog.local_cseq = max(dialog.local_cseq, core.early.local_cseq(dialog.id))
                if ctx.subscribe_key is not None:
                    if ctx.subscribe_tags is not None and to.tag in ctx.subscribe_tags:
                        # A NOTIFY before this 2xx created the dialog and ended it.
                        return None
                    ctx.subscribe_tags = {to.tag} | (ctx.subscribe_tags or set())
                core.dialogs.add(dialog)
        if ctx.request.method == "INVITE":
            cseq = ctx.request.cseq
            dialog.ack_tx = ctx.stack_id
            dialog.ack_cseq = 0 if cseq is None else cseq.seq
        if ctx.owner is None:
            # The application left while its request was pending: take the
            # dialog down, or, when that was done already (a 2xx to a
            # re-INVITE or UPDATE after the BYE), only acknowledge the 2xx.
            if dialog.id in core.dialogs:
                core.hang_up(dialog, APPLICATION_GONE)
            elif core.stack is not None and not core.stack.is_closed:
                core.ack_pending_2xx(core.stack, dialog)
        return dialog

    def on_failure(self, stack_id: int, code: int, reason: str) -> bool:
        """The stack gave up on client transaction ``stack_id``; ``False`` when it is not one."""
        core = self._core
        if core.early.prack_answered(stack_id):
            log.warning("no answer to the server's PRACK: %d %s", code, reason)
            return True
        ctx = core.client_txs.failed(stack_id)
        if ctx is None:
            return False
        ended: list[Dialog[AppSession]] = []
        if ctx.request.method == "INVITE" and ctx.dialog is None:
            core.cdrs.refused(ctx.id, code, time.time())
            ended = core.early.ended(ctx.request)
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
        for early in ended:
            core.destroy_dialog(early, final_response(code))
        if ctx.dialog is not None and code == 408:
            # RFC 3261 §12.2.1.2: no response at all ends the dialog.
            core.destroy_dialog(ctx.dialog, no_response(ctx.request.method))
        return True


def _uri_host(uri: str) -> str | None:
    """The host of ``uri`` (an IP address, or a name: unknown to the NAT rule)."""
    try:
        return Uri(uri).host
    except ValueError:
        return None
