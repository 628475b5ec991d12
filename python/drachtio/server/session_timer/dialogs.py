"""The session timers of the server's calls, by dialog id, on the server's clock.

:class:`SessionTimers` holds one :class:`SessionTimer` per call that
negotiated one, with what a refresh the server sends needs (whether the
peer allows UPDATE, the session description last sent), and the refreshes
the server has out. Sans-IO like the timers themselves: every method that
depends on time takes ``now`` (seconds of the server's monotonic clock), and
the server wakes it at :meth:`SessionTimers.next_deadline`.

``scale`` multiplies every session-timer duration: 1 in service; a test
passes 0.01 so that a 90 s session (the smallest RFC 4028 allows) expires
after 0.6 s. The timers count in session seconds (``now / scale``), so the
negotiated values and the headers stay those of the RFC.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from drachtio._core import SipMessage
from drachtio.server.deadlines import Alarm, Deadlines
from drachtio.server.session_timer.agreement import MIN_SE_FLOOR, Agreement
from drachtio.server.session_timer.negotiation import UacOffer
from drachtio.server.session_timer.timer import (
    Expire,
    RandInt,
    SessionTimer,
    TimerAction,
)

__all__ = ["LocalSdp", "Refreshing", "SessionTimers", "allows_update", "sdp_of"]

LocalSdp = tuple[str, str]
"""A session description: its Content-Type and body."""


def sdp_of(message: SipMessage) -> LocalSdp | None:
    """The session description ``message`` carries (RFC 3264), if any."""
    body = message.body
    content_type = message.header("Content-Type")
    if not body or content_type is None:
        return None
    if content_type.split(";", 1)[0].strip().lower() != "application/sdp":
        return None
    return content_type, body.decode("utf-8", "replace")


def allows_update(message: SipMessage) -> bool:
    """Whether ``message``'s Allow lists UPDATE (RFC 3311 §5.1: the peer may be sent one)."""
    return any(
        method.strip().upper() == "UPDATE"
        for value in message.header_all("Allow")
        for method in value.split(",")
    )


@dataclass(frozen=True, slots=True)
class Refreshing:
    """A refresh the server sent in a dialog: its dialog and what it asked for."""

    dialog_id: str
    offer: UacOffer
    method: str


@dataclass(slots=True)
class _Call:
    timer: SessionTimer | None
    owns_call_id: bool
    allows_update: bool
    sdp: LocalSdp | None
    # The method of our refresh out, awaiting its final response.
    refreshing: str | None = None


class SessionTimers:
    """The session timers of the live calls, and the refreshes the server has out."""

    __slots__ = ("_calls", "_due", "_refreshing", "scale")

    def __init__(self, scale: float = 1.0, alarm: Alarm | None = None) -> None:
        self.scale = scale
        self._calls: dict[str, _Call] = {}
        self._due: Deadlines[str] = Deadlines(alarm)
        self._refreshing: dict[int, Refreshing] = {}

    def __len__(self) -> int:
        """How many calls run a timer."""
        return len(self._due)

    def _clock(self, now: float) -> float:
        return now / self.scale

    def _schedule(self, dialog_id: str, call: _Call) -> None:
        deadline = None if call.timer is None else call.timer.deadline()
        if deadline is None:
            self._due.cancel(dialog_id)
        else:
            self._due.set(dialog_id, deadline * self.scale)

    def started(
        self,
        dialog_id: str,
        agreement: Agreement | None,
        now: float,
        *,
        owns_call_id: bool,
        allows_update: bool,
        sdp: LocalSdp | None,
    ) -> None:
        """A call was set up at ``now``, with the timer of ``agreement`` (``None``: none).

        ``owns_call_id``: we sent the INVITE (the 491 back-off, RFC 3261
        §14.1). ``allows_update``: the peer's Allow lists UPDATE.
        ``sdp``: the session description we sent in the exchange.
        """
        timer = None
        if agreement is not None:
            timer = SessionTimer(agreement, self._clock(now), owns_call_id=owns_call_id)
        call = _Call(timer, owns_call_id, allows_update, sdp)
        self._calls[dialog_id] = call
        self._schedule(dialog_id, call)

    def ended(self, dialog_id: str) -> None:
        """The call is over: its timer stops; a 2xx to a refresh still out changes nothing."""
        self._calls.pop(dialog_id, None)
        self._due.cancel(dialog_id)

    def agreement(self, dialog_id: str) -> Agreement | None:
        """The timer in force in the call, or ``None`` when none runs."""
        call = self._calls.get(dialog_id)
        if call is None or call.timer is None or not call.timer.running:
            return None
        return call.timer.agreement

    def dialog_min_se(self, dialog_id: str) -> int:
        """The largest Min-SE known in the call (RFC 4028 §9: no later negotiation goes below)."""
        call = self._calls.get(dialog_id)
        if call is None or call.timer is None:
            return MIN_SE_FLOOR
        return call.timer.agreement.min_se

    def sent_sdp(self, dialog_id: str, message: SipMessage) -> None:
        """We sent ``message`` in the call; its session description, if any, is the last sent."""
        call = self._calls.get(dialog_id)
        sdp = sdp_of(message)
        if call is not None and sdp is not None:
            call.sdp = sdp

    def peer_allows(self, dialog_id: str, message: SipMessage) -> None:
        """The peer sent ``message``: its Allow, when it has one, says whether UPDATE is allowed."""
        call = self._calls.get(dialog_id)
        if call is not None and message.header_all("Allow"):
            call.allows_update = allows_update(message)

    def refreshed(self, dialog_id: str, agreement: Agreement | None, now: float) -> None:
        """A re-INVITE or UPDATE in the call got a 2xx at ``now`` (either way, §10).

        The timer restarts with ``agreement``, or stops when it is ``None``
        (a 2xx without Session-Expires, §7.2); a call without a timer gets
        one when the refresh negotiated it.
        """
        call = self._calls.get(dialog_id)
        if call is None:
            return
        if call.timer is None:
            if agreement is not None:
                call.timer = SessionTimer(
                    agreement, self._clock(now), owns_call_id=call.owns_call_id
                )
        else:
            call.timer.refreshed(self._clock(now), agreement)
        self._schedule(dialog_id, call)

    def due(self, now: float) -> list[tuple[str, TimerAction]]:
        """What the timers whose deadline came by ``now`` ask for: refreshes, expiries."""
        actions: list[tuple[str, TimerAction]] = []
        for dialog_id in self._due.pop_due(now):
            call = self._calls.get(dialog_id)
            if call is None or call.timer is None:
                continue
            # The deadline came (a clock scaled back and forth may be a hair short of it).
            deadline = call.timer.deadline()
            clock = self._clock(now) if deadline is None else max(self._clock(now), deadline)
            action = call.timer.poll(clock)
            if action is not None:
                actions.append((dialog_id, action))
            self._schedule(dialog_id, call)
        return actions

    def next_deadline(self) -> float | None:
        """When :meth:`due` must next be called, or ``None``."""
        return self._due.next_at()

    def known(self, dialog_id: str) -> bool:
        """Whether the call was set up (with a timer or without)."""
        return dialog_id in self._calls

    def local_sdp(self, dialog_id: str) -> LocalSdp | None:
        """The session description we last sent in the call."""
        call = self._calls.get(dialog_id)
        return None if call is None else call.sdp

    def refresh(self, dialog_id: str) -> tuple[UacOffer, str] | None:
        """What the refresh the timer asked for carries (§7.4), or ``None`` when it cannot go.

        The offer (the interval, refresher and Min-SE in force) and the
        method: UPDATE when the peer allows it, else re-INVITE (RFC 4028
        §7.4; the re-INVITE carries :meth:`local_sdp`).
        """
        call = self._calls.get(dialog_id)
        if call is None or call.timer is None or not call.timer.refreshing:
            return None
        method = "UPDATE" if call.allows_update else "INVITE"
        return UacOffer.refresh(call.timer.agreement), method

    def refresh_sent(self, stack_id: int, refreshing: Refreshing) -> None:
        """Our refresh went out as client transaction ``stack_id``."""
        self._refreshing[stack_id] = refreshing
        call = self._calls.get(refreshing.dialog_id)
        if call is not None:
            call.refreshing = refreshing.method

    def refresh_answered(self, stack_id: int, final: bool) -> Refreshing | None:
        """The refresh of client transaction ``stack_id`` if ours; forgotten when ``final``."""
        if not final:
            return self._refreshing.get(stack_id)
        refreshing = self._refreshing.pop(stack_id, None)
        call = None if refreshing is None else self._calls.get(refreshing.dialog_id)
        if call is not None:
            call.refreshing = None
        return refreshing

    def refresh_out(self, dialog_id: str) -> str | None:
        """The method of our refresh out in the call, awaiting its final response."""
        call = self._calls.get(dialog_id)
        return None if call is None else call.refreshing

    def refresh_failed(
        self, dialog_id: str, status: int | None, now: float, randint: RandInt = random.randint
    ) -> Expire | None:
        """Our refresh in the call failed with ``status`` (``None``: no response) at ``now``.

        See :meth:`SessionTimer.refresh_failed`: :class:`Expire` when the
        call must end now, else it waits (a 491 back-off, or its expiry).
        """
        call = self._calls.get(dialog_id)
        if call is None or call.timer is None:
            return None
        expire = call.timer.refresh_failed(self._clock(now), status, randint)
        self._schedule(dialog_id, call)
        return expire
