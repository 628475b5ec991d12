"""The session timer of one dialog (RFC 4028 §10), driven by the caller's clock.

:class:`SessionTimer` never reads a clock and never sends anything. Its
owner calls :meth:`~SessionTimer.deadline` to learn when to wake it,
:meth:`~SessionTimer.poll` at (or after) that time to learn what to do, and
reports what happened to the refreshes: :meth:`~SessionTimer.refreshed`
for a 2xx to a re-INVITE or UPDATE in either direction,
:meth:`~SessionTimer.refresh_failed` for our refresh's failure.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass

from drachtio.server.session_timer.agreement import Agreement

__all__ = [
    "REASON_EXPIRED",
    "REASON_REFRESH_FAILED",
    "Expire",
    "Refresh",
    "SessionTimer",
    "TimerAction",
    "glare_delay",
]

REASON_EXPIRED = "session expired"
"""Why a session ends when no refresh succeeded in time (§10)."""

REASON_REFRESH_FAILED = "session refresh failed"
"""Why a session ends when our refresh got 408, 481 or no response (§10); the status follows."""

RandInt = Callable[[int, int], int]
"""``randint(a, b)``: an integer in ``[a, b]``, both included, like :func:`random.randint`."""


@dataclass(frozen=True, slots=True)
class Refresh:
    """Send a refresh now: a re-INVITE or UPDATE carrying :meth:`UacOffer.refresh` headers."""


@dataclass(frozen=True, slots=True)
class Expire:
    """End the session now: BYE with ``Reason: SIP;text="<reason>"`` (§10)."""

    reason: str


TimerAction = Refresh | Expire
"""What :meth:`SessionTimer.poll` and :meth:`SessionTimer.refresh_failed` ask for."""


def glare_delay(owns_call_id: bool, randint: RandInt = random.randint) -> float:
    """How long to wait before resending a refresh answered 491 (RFC 3261 §14.1).

    A random time in steps of 10 ms: 2.1 to 4 seconds for the side that
    owns the Call-ID (it sent the request that created the dialog), 0 to 2
    seconds for the other, so that the two do not collide again.
    """
    low, high = (210, 400) if owns_call_id else (0, 200)
    return randint(low, high) / 100


class _State(enum.Enum):
    WAITING = "waiting"  # we refresh, at half the interval
    REFRESHING = "refreshing"  # our refresh is out, its answer awaited
    GLARE = "glare"  # our refresh got 491: resend after a random delay
    GAVE_UP = "gave up"  # our refresh failed otherwise: the session lasts until expiry
    WATCHING = "watching"  # the peer refreshes; we end the session if it does not
    EXPIRED = "expired"
    STOPPED = "stopped"  # the last refresh set up no timer


class SessionTimer:
    """One dialog's session timer.

    Args:
        agreement: the negotiated timer (:func:`answer_request`,
            :func:`process_2xx`).
        now: the time of the 2xx that set it up, in seconds on the
            caller's clock (``loop.time()``).
        owns_call_id: whether we sent the request that created the dialog
            (the UAC of the initial INVITE); it sets the 491 back-off.
    """

    __slots__ = ("_agreement", "_glare_at", "_owns_call_id", "_start", "_state")

    def __init__(self, agreement: Agreement, now: float, *, owns_call_id: bool) -> None:
        self._owns_call_id = owns_call_id
        self._glare_at = 0.0
        self._agreement = agreement
        self._start = now
        self._state = _State.WAITING if agreement.we_refresh else _State.WATCHING

    def __repr__(self) -> str:
        return f"<SessionTimer {self._state.value} {self._agreement}>"

    @property
    def agreement(self) -> Agreement:
        """The timer in force: that of the last successful refresh."""
        return self._agreement

    @property
    def running(self) -> bool:
        """Whether there is still something to wait for (not expired, not stopped)."""
        return self._state not in (_State.EXPIRED, _State.STOPPED)

    @property
    def refreshing(self) -> bool:
        """Whether our refresh is out and :meth:`refresh_failed` would apply to it."""
        return self._state is _State.REFRESHING

    def _expiry(self) -> float:
        return self._start + self._agreement.expire_after

    def deadline(self) -> float | None:
        """When :meth:`poll` must next be called, or ``None`` when never.

        Half the interval after the last refresh when we refresh (§10); the
        expiry (the interval less min(32 s, a third of it), §10) while our
        refresh is out or failed, and when the peer refreshes; the earlier
        of the 491 back-off and the expiry after a 491.
        """
        state = self._state
        if state is _State.WAITING:
            return self._start + self._agreement.refresh_after
        if state is _State.GLARE:
            return min(self._glare_at, self._expiry())
        if state in (_State.EXPIRED, _State.STOPPED):
            return None
        return self._expiry()

    def poll(self, now: float) -> TimerAction | None:
        """What to do at ``now``: :class:`Refresh`, :class:`Expire` or nothing.

        Each action is returned once: after :class:`Refresh` the timer waits
        for :meth:`refreshed` or :meth:`refresh_failed`; after
        :class:`Expire` it is over. Polling early returns ``None``.
        """
        state = self._state
        if state in (_State.EXPIRED, _State.STOPPED):
            return None
        if now >= self._expiry():
            self._state = _State.EXPIRED
            return Expire(REASON_EXPIRED)
        if (state is _State.WAITING and now >= self._start + self._agreement.refresh_after) or (
            state is _State.GLARE and now >= self._glare_at
        ):
            self._state = _State.REFRESHING
            return Refresh()
        return None

    def refreshed(self, now: float, agreement: Agreement | None) -> None:
        """A re-INVITE or UPDATE in the dialog, ours or the peer's, got a 2xx at ``now``.

        The timer restarts from ``now`` with the new ``agreement`` (interval
        and refresher may both change, §10); ``None``, a 2xx without
        Session-Expires, stops it (§7.2). Nothing changes once expired: the
        BYE is out.
        """
        if self._state is _State.EXPIRED:
            return
        if agreement is None:
            self._state = _State.STOPPED
            return
        self._agreement = agreement
        self._start = now
        self._state = _State.WAITING if agreement.we_refresh else _State.WATCHING

    def refresh_failed(
        self, now: float, status: int | None, randint: RandInt = random.randint
    ) -> Expire | None:
        """Our refresh got a final non-2xx ``status`` (``None``: no response at all) at ``now``.

        * 491: glare; it is resent after :func:`glare_delay` (§10 sends the
          refresher to RFC 3261 §14.1), unless the session expires first.
        * 408, 481 or no response: the dialog is gone (§10, RFC 3261
          §12.2.1.2); returns :class:`Expire` for the BYE.
        * Anything else: §10 lets only a 2xx refresh the session, so it is
          not refreshed, but not ended either: it runs until its expiry
          (and a refresh from the peer in the meantime still saves it).

        A 422 is not a failure here: the caller retries with
        :func:`retry_after_422` and reports the failure only when there is
        no retry. Ignored (returns ``None``) unless our refresh is out, e.g.
        when the peer's refresh succeeded meanwhile.
        """
        if self._state is not _State.REFRESHING:
            return None
        if status == 491:
            self._state = _State.GLARE
            self._glare_at = now + glare_delay(self._owns_call_id, randint)
            return None
        if status is None or status in (408, 481):
            self._state = _State.EXPIRED
            return Expire(f"{REASON_REFRESH_FAILED}: {status or 'no response'}")
        self._state = _State.GAVE_UP
        return None
