"""What the parts of the transaction user share: the registries, the stack, the timer, the endings.

:class:`UaCore` holds the state every part of the transaction user reads
(the transactions, the dialogs, the calls' records, session timers,
reliable provisional responses, proxied transactions) and what they all do
with it: send through the stack and trace it, answer a request on the
server's own behalf, end a dialog (:meth:`UaCore.destroy_dialog`,
:meth:`UaCore.hang_up`), tell an application, arm the one loop timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from drachtio._core import SipMessage, SipRequest, next_hop
from drachtio.errors import DrachtioError
from drachtio.protocol import Cancel, Command, DialogEvent, Sip
from drachtio.server.app_session import AppSession
from drachtio.server.cdr import CallRecorder, Reason
from drachtio.server.config import ServerConfig
from drachtio.server.deadlines import Alarm
from drachtio.server.dialog import (
    Dialog,
    Listener,
    build_ack,
    build_in_dialog_request,
    build_response,
    contact_for,
    uri_host,
)
from drachtio.server.dialog_registry import Dialogs
from drachtio.server.early import EarlyDialogs
from drachtio.server.endings import Ending, final_response
from drachtio.server.latency import APP_RESPONSE_BUCKETS, POST_DIAL_DELAY_BUCKETS, Histogram
from drachtio.server.proxies import Proxies
from drachtio.server.reliable import ReliableResponses
from drachtio.server.routing import Routes
from drachtio.server.session_keeper import Sender, SessionKeeper
from drachtio.server.session_timer.negotiation import Headers
from drachtio.server.subscriptions import SubscriptionTimers
from drachtio.server.transactions import ClientTransactions, ServerTransactions, ServerTx
from drachtio.stack import Destination, SipStack

__all__ = ["UaCore", "carry_on", "hang_up_headers"]

log = logging.getLogger("drachtio.server")
trace = logging.getLogger("drachtio.sip")

# The call record of an INVITE the server answers itself: its application is
# gone (480), the caller ended it with a BYE (487), else it is refused.
_ANSWERED_REASONS: dict[int, Reason] = {480: "application-gone", 487: "call-canceled"}


class UaCore:
    """The transaction user's shared state and the acts every part of it needs.

    ``on_deadlines(now)`` is what runs when the loop timer fires (set by
    the transaction user); :meth:`arm_timer` brings that timer forward to a
    deadline set since it was last called, when it is earlier than the one
    the timer is set for (:class:`Alarm` holds the rule).
    """

    def __init__(
        self, config: ServerConfig, routes: Routes[AppSession], cdrs: CallRecorder
    ) -> None:
        self.config = config
        self.routes = routes
        self.cdrs = cdrs
        # When the one loop timer for the registries' deadlines fires: each
        # registry tells it of the deadlines it sets.
        self.alarm = Alarm()
        self.server_txs: ServerTransactions[AppSession] = ServerTransactions(
            config.app_response_timeout, alarm=self.alarm
        )
        self.client_txs: ClientTransactions[AppSession] = ClientTransactions(
            64 * config.t1, alarm=self.alarm
        )
        self.dialogs: Dialogs[AppSession] = Dialogs()
        self.subscriptions = SubscriptionTimers(64 * config.t1, self.alarm)
        # Session timers (RFC 4028): negotiated in the calls' INVITEs and UPDATEs, kept running.
        self.sessions: SessionKeeper[AppSession] = SessionKeeper(
            config.session_timers,
            config.session_timer_scale,
            Sender(self.send_own, self.send_own_ack, self._session_expired, self.dialogs.get),
            self.alarm,
        )
        # Reliable provisional responses (RFC 3262) awaiting their PRACK, and
        # the early dialogs of the INVITEs applications sent.
        self.reliable = ReliableResponses()
        self.early: EarlyDialogs[AppSession] = EarlyDialogs(64 * config.t1)
        self.proxies: Proxies[AppSession] = Proxies(
            config.proxy_timer_c, 64 * config.t1, cdrs, self.alarm
        )
        self.stack: SipStack | None = None
        self.listeners: list[Listener] = []
        # The loop the server runs on: set by attach(), before any event.
        self.loop: asyncio.AbstractEventLoop
        self.on_deadlines: Callable[[float], None] = lambda _now: None
        # The one loop timer for the registries' deadlines (set for alarm.armed).
        self._timer: asyncio.TimerHandle | None = None
        # While a command runs: its session, and the requests the command
        # leads to for that session, which go out after the command's reply.
        self.replying_to: AppSession | None = None
        self.after_reply: list[Command] = []
        self.tracing = config.sip_trace
        self.app_response_time = Histogram(APP_RESPONSE_BUCKETS)
        self.post_dial_delay = Histogram(POST_DIAL_DELAY_BUCKETS)

    # ------------------------------------------------------------ the stack

    def stack_or_fail(self) -> SipStack:
        """The stack, or :class:`DrachtioError` while the server is not started."""
        if self.stack is None:
            raise DrachtioError("the server is not started")
        return self.stack

    def advertised(self, listener: Listener, dest: str | None) -> Listener:
        """``listener`` as a peer at ``dest`` is to know it, for a Contact: its
        external address unless ``dest`` is in one of its local networks (NAT,
        the stack's rule for the Via; ``docs/server.md``)."""
        transport, ip, port = listener
        stack = self.stack
        if stack is None:
            return listener
        return (transport, *stack.advertised(transport, (ip, port), dest))

    def trace_in(self, message: SipMessage, source: tuple[str, str, int] | None) -> None:
        """Trace a message received (when tracing is on: the caller checks)."""
        where = f" from {source[0]}/{uri_host(source[1])}:{source[2]}" if source else ""
        trace.info("recv%s\n%s", where, message.to_bytes().decode("utf-8", "replace"))

    def trace_out(self, message: SipMessage) -> None:
        """Trace a message sent, when tracing is on."""
        if self.tracing:
            trace.info("send\n%s", message.to_bytes().decode("utf-8", "replace"))

    @staticmethod
    def first_hop(dialog: Dialog[AppSession], request: SipRequest) -> Destination | None:
        """Where a request in ``dialog`` goes when the stack's choice would be wrong.

        The stack sends to the first Route, else the Request-URI. With a
        strict router first (RFC 3261 §12.2.1.1) the Request-URI is that
        router, and the request goes there (§8.1.2); a host name is
        resolved by the stack.
        """
        if not dialog.strict_routing:
            return None
        return next_hop(request, strict_router=True)

    def send_own(self, dialog: Dialog[AppSession] | None, request: SipRequest) -> int:
        """Send a request of the server's own in ``dialog`` (a session refresh, a
        PRACK), or outside any dialog (the retry of an INVITE after 422)."""
        dest = None if dialog is None else self.first_hop(dialog, request)
        stack_id = self.stack_or_fail().send_request(request, dest)
        self.trace_out(request)
        return stack_id

    def send_own_ack(self, dialog: Dialog[AppSession], stack_id: int, ack: SipRequest) -> None:
        """Acknowledge the 2xx to a re-INVITE of the server's own."""
        self.stack_or_fail().send_ack(stack_id, ack, self.first_hop(dialog, ack))
        self.trace_out(ack)

    def ack_pending_2xx(self, stack: SipStack, dialog: Dialog[AppSession]) -> None:
        """ACK a 2xx not acknowledged yet, so that a BYE does not leave the peer
        resending it (RFC 3261 §15.1.1: the ACK comes before the BYE)."""
        if dialog.ack_tx is not None:
            try:
                ack = build_ack(dialog, {}, None)
                stack.send_ack(dialog.ack_tx, ack, self.first_hop(dialog, ack))
            except (DrachtioError, ValueError) as exc:
                log.warning("could not send ACK dialog=%s: %s", dialog.id, exc)
            dialog.ack_tx = None

    # ------------------------------------------------------------ applications

    def tell(self, session: AppSession, command: Command) -> None:
        """Send ``session`` a request, after the reply to the command it is running if any."""
        if session is self.replying_to:
            self.after_reply.append(command)
        else:
            session.send_request(command)

    @staticmethod
    def sip_message(tx: ServerTx[AppSession]) -> Sip:
        """The ``sip`` request that hands ``tx``'s request to its owner."""
        return Sip(
            tx.id,
            tx.request,
            tx.dialog.id if tx.dialog is not None else None,
            tx.source,
            tx.received,
        )

    def answer(
        self,
        tx: ServerTx[AppSession],
        code: int,
        reason: str | None,
        extra: Headers = (),
        *,
        cancel: str | None = None,
    ) -> None:
        """Answer a request on the server's own behalf (no application can).

        A 405 lists the methods routed to applications (RFC 3261 §8.2.1);
        ``extra`` are more headers (the Min-SE of a 422). With ``cancel``
        the request's owner is sent ``cancel`` with that reason (it must not
        answer any more), before the INVITE's early dialog, if any, ends.
        """
        owner = tx.owner
        stack = self.stack
        if stack is None:
            return
        if code > 100 and tx.to_tag is None:
            tx.to_tag = stack.new_tag()
        headers: dict[str, str | list[str]] = {}
        response = None
        if code == 405 or tx.request.method == "OPTIONS":
            # RFC 3261 §8.2.1, §11.2: what the applications take, and ACK,
            # CANCEL and OPTIONS, which the server itself handles.
            headers["Allow"] = ", ".join(self.allowed())
        headers.update(extra)
        for held in self.reliable.forget(tx.stack_id):
            log.info(
                "%d dropped: the INVITE is answered %d transaction=%s", held.status, code, tx.id
            )
        try:
            response = build_response(
                tx.request, code, reason, headers, None, tx.to_tag, contact_for(*tx.listener)
            )
            stack.respond(tx.stack_id, response)
            self.trace_out(response)
        except (DrachtioError, ValueError) as exc:
            log.warning("could not answer %d transaction=%s: %s", code, tx.id, exc)
        if code >= 300 and tx.request.method == "INVITE":
            why = _ANSWERED_REASONS.get(code, "call-rejected")
            self.cdrs.abandoned(tx.id, why, code, time.time(), response)
        self.server_txs.finish(tx)
        if cancel is not None and owner is not None:
            owner.send_request(Cancel(tx.id, cancel))
        self.end_early(tx, final_response(code))

    def end_early(self, tx: ServerTx[AppSession], ending: Ending) -> None:
        """``tx``, an INVITE, was answered with no 2xx: its early dialog, if any, ends."""
        if tx.early is not None:
            early, tx.early = tx.early, None
            self.destroy_dialog(early, ending)

    def allowed(self) -> list[str]:
        """The methods requests may carry here: those routed, and those the server handles."""
        routed = self.routes.methods()
        own = [m for m in ("ACK", "CANCEL", "OPTIONS") if m not in routed]
        return [*routed, *own] if self.config.answer_options else routed

    # ------------------------------------------------------------ dialogs ending

    def destroy_dialog(
        self,
        dialog: Dialog[AppSession],
        ending: Ending,
        *,
        message: SipMessage | None = None,
    ) -> None:
        """``dialog`` is over: forget it, stop its call's record, tell its owner why."""
        if not self.dialogs.remove(dialog):
            return
        self.subscriptions.forget(dialog.id)
        if dialog.method == "INVITE" and not dialog.early:
            self.cdrs.ended(dialog.id, ending.cdr, time.time(), message)
        self.sessions.ended(dialog)
        if dialog.awaiting_ack is not None:
            self.server_txs.pop_by_stack(dialog.awaiting_ack)
            dialog.awaiting_ack = None
        log.debug("dialog destroyed id=%s reason=%s", dialog.id, ending.text)
        if dialog.owner is not None:
            self.tell(dialog.owner, DialogEvent(dialog.id, "destroyed", ending.text))

    def hang_up(self, dialog: Dialog[AppSession], ending: Ending) -> None:
        """End ``dialog`` on the server's own: a call with a BYE (RFC 3261 §15.1.1).

        A subscription is only forgotten: BYE is not for it, and the server
        knows nothing of the event package's state to put in a terminating
        NOTIFY or of when to unsubscribe. The peer's next request in it (a
        refresh, a NOTIFY) is answered 481, which ends the subscription on
        its side (RFC 6665).

        An early dialog is only forgotten: its INVITE is cancelled (as UAC)
        or answered (as UAS) by whoever ends it.
        """
        if dialog.id not in self.dialogs:
            return
        stack = self.stack
        bye = None
        if (
            dialog.method == "INVITE"
            and not dialog.early
            and stack is not None
            and not stack.is_closed
        ):
            bye = self.send_bye(stack, dialog, ending.text)
        self.destroy_dialog(dialog, ending, message=bye)

    def send_bye(self, stack: SipStack, dialog: Dialog[AppSession], why: str) -> SipRequest | None:
        """ACK the 2xx of call ``dialog`` if that is still to do, then send its BYE
        (``Reason`` text ``why``); the BYE, or ``None`` when it could not be sent."""
        self.ack_pending_2xx(stack, dialog)
        try:
            bye = build_in_dialog_request(dialog, "BYE", hang_up_headers(why), None)
            stack.send_request(bye, self.first_hop(dialog, bye))
        except (DrachtioError, ValueError) as exc:
            log.warning("could not send BYE dialog=%s: %s", dialog.id, exc)
            return None
        self.trace_out(bye)
        return bye

    def _session_expired(self, dialog: Dialog[AppSession], why: str) -> None:
        """The session timer ran out, or its refresh failed (RFC 4028 §10)."""
        self.hang_up(dialog, Ending(why, "session-expired"))

    # ------------------------------------------------------------ the timer

    def arm_timer(self) -> None:
        """Make the loop timer fire no later than the deadlines the registries set since."""
        at = self.alarm.rearm()
        if at is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(at, self._on_timer)

    def _earliest(self) -> float | None:
        """The registries' earliest deadline (each asked), or ``None``."""
        deadlines = (
            self.server_txs.next_deadline(),
            self.client_txs.next_deadline(),
            self.subscriptions.next_at(),
            self.sessions.timers.next_deadline(),
            self.proxies.next_deadline(),
        )
        times = [at for at in deadlines if at is not None]
        return min(times) if times else None

    def stop_timer(self) -> None:
        """No more deadlines run."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self.alarm.unset(self._earliest())

    def _on_timer(self) -> None:
        # The loop may run a timer up to its clock resolution early: it is
        # at least the time it was set for.
        now = max(self.loop.time(), self.alarm.armed or 0.0)
        self._timer = None
        try:
            self.on_deadlines(now)
        finally:
            self.alarm.unset(self._earliest())
            self.arm_timer()


def hang_up_headers(reason: str) -> dict[str, str | list[str]]:
    """The headers of a BYE the server sends on its own, saying why (RFC 3326)."""
    return {"Reason": f'SIP;text="{reason}"'}


@contextlib.contextmanager
def carry_on(action: str, what: str) -> Iterator[None]:
    """Log an exception raised by ``action`` on ``what`` and go on with the next one."""
    try:
        yield
    except Exception:
        log.exception("could not %s %s", action, what)
