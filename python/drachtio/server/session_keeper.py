"""Session timers in the server's calls (RFC 4028): the transaction user's part for them.

:class:`SessionKeeper` puts the negotiation (:mod:`drachtio.server.session_timer`)
into the messages the server handles, runs the calls' timers
(:class:`~drachtio.server.session_timer.dialogs.SessionTimers`) and sends
what they ask for: refreshes (UPDATE or re-INVITE), their ACKs, retries
after 422 or 491, and the BYE of a session that expired. The
:class:`~drachtio.server.transaction_user.TransactionUser` calls it where
requests and responses pass, and at its timer; it is handed the few things
of the transaction user it needs to send (:class:`Sender`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from drachtio._core import SipRequest, SipResponse
from drachtio.errors import DrachtioError, ParseError
from drachtio.protocol import SimpleHeaders
from drachtio.server.deadlines import Alarm
from drachtio.server.dialog import Dialog, build_ack, build_in_dialog_request
from drachtio.server.session_timer import (
    MIN_SE_FLOOR,
    Expire,
    Refresh,
    Reject,
    SessionTimerConfig,
    UacOffer,
    answer_request,
    process_2xx,
    retry_after_422,
)
from drachtio.server.session_timer.dialogs import (
    Refreshing,
    SessionTimers,
    allows_update,
    sdp_of,
)
from drachtio.server.session_timer.headers import merge_headers, retry_request
from drachtio.server.transactions import ClientTx, ServerTx

__all__ = ["SESSION_METHODS", "Sender", "SessionKeeper"]

log = logging.getLogger("drachtio.server")

_Owner = TypeVar("_Owner")

SESSION_METHODS = frozenset({"INVITE", "UPDATE"})
"""The methods that negotiate and refresh a session timer (RFC 4028 §7, §9)."""


@dataclass(frozen=True, slots=True)
class Sender(Generic[_Owner]):
    """What the keeper sends through: the transaction user's own ways.

    ``send(dialog, request)`` starts a client transaction in the dialog (or
    outside any, ``None``) and returns its stack id; ``ack(dialog, stack_id,
    ack)`` sends the ACK of a 2xx; ``hang_up(dialog, reason)`` ends a call
    with BYE and tells its owner; ``dialog(dialog_id)`` finds a live dialog.
    """

    send: Callable[[Dialog[_Owner] | None, SipRequest], int]
    ack: Callable[[Dialog[_Owner], int, SipRequest], None]
    hang_up: Callable[[Dialog[_Owner], str], None]
    dialog: Callable[[str], Dialog[_Owner] | None]


class SessionKeeper(Generic[_Owner]):
    """The session timers of the server's calls, negotiated and kept."""

    __slots__ = ("_sender", "config", "timers")

    def __init__(
        self,
        config: SessionTimerConfig,
        scale: float,
        sender: Sender[_Owner],
        alarm: Alarm | None = None,
    ) -> None:
        self.config = config
        self.timers = SessionTimers(scale, alarm)
        self._sender = sender

    # ------------------------------------------------------------ as UAS (§9)

    def check_request(self, tx: ServerTx[_Owner]) -> Reject | None:
        """Decide on a received INVITE or UPDATE: a 422, 400 or 491 to send at once, or ``None``.

        A re-INVITE or UPDATE that crosses our refresh of the same method is
        answered 491 (RFC 3261 §14.2, RFC 3311 §5.2); the peer tries again
        later, as our refresh will if it is refused the same way. An
        accepted request keeps the decision (``tx.session_timer``) for its 2xx.
        """
        request = tx.request
        if request.method not in SESSION_METHODS or not self.config.enabled:
            return None
        if tx.dialog is not None and self.timers.refresh_out(tx.dialog.id) == request.method:
            return Reject(491, "Request Pending")
        floor = MIN_SE_FLOOR if tx.dialog is None else self.timers.dialog_min_se(tx.dialog.id)
        decision = answer_request(request, self.config, dialog_min_se=floor)
        if isinstance(decision, Reject):
            return decision
        tx.session_timer = decision
        return None

    def response_headers(
        self, tx: ServerTx[_Owner], code: int, app: SimpleHeaders
    ) -> SimpleHeaders:
        """The headers of the application's response: a 2xx gets the timer's (§9)."""
        accept = tx.session_timer
        if accept is None or not 200 <= code < 300:
            return app
        return merge_headers(app, accept.headers)

    def answered(
        self, tx: ServerTx[_Owner], dialog: Dialog[_Owner], response: SipResponse, now: float
    ) -> None:
        """A 2xx to ``tx`` (an INVITE or UPDATE) went out at ``now`` in ``dialog``."""
        accept = tx.session_timer
        if accept is None:
            return
        agreement = accept.agreement
        if self.timers.known(dialog.id):
            self.timers.sent_sdp(dialog.id, response)
            self.timers.peer_allows(dialog.id, tx.request)
            self.timers.refreshed(dialog.id, agreement, now)
        else:
            self.timers.started(
                dialog.id,
                agreement,
                now,
                owns_call_id=False,
                allows_update=allows_update(tx.request),
                sdp=sdp_of(response),
            )

    # ------------------------------------------------------------ as UAC (§7)

    def offer(
        self, dialog: Dialog[_Owner] | None, method: str, app: SimpleHeaders
    ) -> tuple[SimpleHeaders, UacOffer | None]:
        """The headers of an INVITE or UPDATE an application sends, and what it asks for.

        An INVITE outside any dialog asks for our ``session_expires``
        (§7.1); a re-INVITE or UPDATE in a call with a timer restates it
        (§7.4). Other requests are left as they are.
        """
        if method not in SESSION_METHODS:
            return app, None
        offer: UacOffer | None = None
        if dialog is None:
            if method == "INVITE":
                offer = UacOffer.initial(self.config)
        else:
            agreement = self.timers.agreement(dialog.id)
            if agreement is not None:
                offer = UacOffer.refresh(agreement)
        if offer is None:
            return app, None
        return merge_headers(app, offer.headers), offer

    def sent(self, dialog: Dialog[_Owner], request: SipRequest) -> None:
        """An application sent ``request`` in ``dialog`` (its session description counts)."""
        self.timers.sent_sdp(dialog.id, request)

    def retry_422(self, ctx: ClientTx[_Owner], response: SipResponse) -> int | None:
        """Send ``ctx``'s request again after its 422 (§7.3); the retry's stack id, or ``None``.

        The retry asks for the larger interval with the next CSeq (of the
        dialog, for a request in one); ``ctx`` then stands for it. There is
        none when the 422 allows none (:func:`retry_after_422`), or when
        nobody wants the request any more (cancelled, its owner gone).
        """
        offer = ctx.session_offer
        cseq = ctx.request.cseq
        if offer is None or cseq is None or ctx.cancelled or ctx.owner is None:
            return None
        retry = retry_after_422(offer, response, self.config)
        if retry is None:
            return None
        dialog = ctx.dialog
        if dialog is None:
            seq = cseq.seq + 1
        else:
            dialog.local_cseq += 1
            seq = dialog.local_cseq
        request = retry_request(ctx.request, retry.headers, seq)
        try:
            stack_id = self._sender.send(dialog, request)
        except (DrachtioError, ValueError) as exc:
            log.warning("could not retry after 422 transaction=%s: %s", ctx.id, exc)
            return None
        ctx.request, ctx.session_offer = request, retry
        return stack_id

    def confirmed(
        self, ctx: ClientTx[_Owner], dialog: Dialog[_Owner], response: SipResponse, now: float
    ) -> None:
        """A 2xx to ``ctx`` (an INVITE or UPDATE an application sent) came at ``now`` (§7.2)."""
        offer = ctx.session_offer
        try:
            agreement = None if offer is None else process_2xx(response, offer)
        except ParseError as exc:
            log.warning(
                "2xx with a malformed Session-Expires, no session timer dialog=%s: %s",
                dialog.id,
                exc,
            )
            agreement = None
        if self.timers.known(dialog.id):
            self.timers.peer_allows(dialog.id, response)
            if offer is not None:
                self.timers.refreshed(dialog.id, agreement, now)
        elif ctx.request.method == "INVITE":
            self.timers.started(
                dialog.id,
                agreement,
                now,
                owns_call_id=True,
                allows_update=allows_update(response),
                sdp=sdp_of(ctx.request),
            )

    # ------------------------------------------------------------ during the call (§10)

    def ended(self, dialog: Dialog[_Owner]) -> None:
        """``dialog`` is over: its timer stops."""
        self.timers.ended(dialog.id)

    def on_timer(self, now: float) -> None:
        """Send the refreshes and end the calls whose time came by ``now``."""
        for dialog_id, action in self.timers.due(now):
            dialog = self._sender.dialog(dialog_id)
            if dialog is None:
                self.timers.ended(dialog_id)
            elif isinstance(action, Refresh):
                self._refresh(dialog, now)
            elif isinstance(action, Expire):
                self._expire(dialog, action)

    def _refresh(self, dialog: Dialog[_Owner], now: float) -> None:
        what = self.timers.refresh(dialog.id)
        if what is not None:
            self._send_refresh(dialog, *what, now)

    def _send_refresh(
        self, dialog: Dialog[_Owner], offer: UacOffer, method: str, now: float
    ) -> None:
        """Send a refresh (§7.4): a re-INVITE carries the session description last sent."""
        headers = merge_headers({}, offer.headers)
        body = None
        sdp = self.timers.local_sdp(dialog.id)
        if method == "INVITE" and sdp is not None:
            headers["Content-Type"] = sdp[0]
            body = sdp[1]
        try:
            request = build_in_dialog_request(dialog, method, headers, body)
            stack_id = self._sender.send(dialog, request)
        except (DrachtioError, ValueError) as exc:
            log.warning("could not send the session refresh dialog=%s: %s", dialog.id, exc)
            self._failed(dialog, None, now)
            return
        log.debug("session refresh sent dialog=%s method=%s", dialog.id, method)
        self.timers.refresh_sent(stack_id, Refreshing(dialog.id, offer, method))

    def _expire(self, dialog: Dialog[_Owner], expire: Expire) -> None:
        log.info("session expired, ending the call dialog=%s reason=%s", dialog.id, expire.reason)
        self.timers.ended(dialog.id)
        self._sender.hang_up(dialog, expire.reason)

    def _failed(self, dialog: Dialog[_Owner], status: int | None, now: float) -> None:
        expire = self.timers.refresh_failed(dialog.id, status, now)
        if expire is not None:
            self._expire(dialog, expire)

    def on_response(self, stack_id: int, response: SipResponse, now: float) -> bool:
        """A response to client transaction ``stack_id``; ``False`` when it is not our refresh."""
        final = response.status >= 200
        refreshing = self.timers.refresh_answered(stack_id, final)
        if refreshing is None:
            return False
        dialog = self._sender.dialog(refreshing.dialog_id)
        if dialog is None or not final:
            return True
        status = response.status
        if 200 <= status < 300:
            if refreshing.method == "INVITE":
                self._ack(dialog, stack_id, response)
            try:
                agreement = process_2xx(response, refreshing.offer)
            except ParseError:
                agreement = None
            self.timers.peer_allows(dialog.id, response)
            self.timers.refreshed(dialog.id, agreement, now)
            return True
        if status == 422:
            retry = retry_after_422(refreshing.offer, response, self.config)
            if retry is not None:
                self._send_refresh(dialog, retry, refreshing.method, now)
                return True
        self._failed(dialog, status, now)
        return True

    def _ack(self, dialog: Dialog[_Owner], stack_id: int, response: SipResponse) -> None:
        cseq = response.cseq
        try:
            ack = build_ack(dialog, {}, None, cseq=None if cseq is None else cseq.seq)
            self._sender.ack(dialog, stack_id, ack)
        except (DrachtioError, ValueError) as exc:
            log.warning("could not acknowledge the refresh dialog=%s: %s", dialog.id, exc)

    def on_failure(self, stack_id: int, now: float) -> bool:
        """Client transaction ``stack_id`` got no response; ``False`` when it is not our refresh."""
        refreshing = self.timers.refresh_answered(stack_id, True)
        if refreshing is None:
            return False
        dialog = self._sender.dialog(refreshing.dialog_id)
        if dialog is not None:
            self._failed(dialog, None, now)
        return True
