"""When the subscription a SUBSCRIBE-created dialog carries ends on its own (RFC 6665).

A subscription lasts as long as the last 2xx to its SUBSCRIBE (or the last
NOTIFY's ``Subscription-State: ...;expires=``) says; one nobody refreshes
by then has expired (§4.1.2.1, §4.2.1.1). A subscriber whose SUBSCRIBE was
accepted waits Timer N (64*T1) for the first NOTIFY; without one the
subscription has failed (§4.1.2.4). :class:`SubscriptionTimers` keeps those
deadlines per dialog, free of I/O: each call takes the time, and
:meth:`SubscriptionTimers.pop_due` says which dialogs are over and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from drachtio._core import SipMessage
from drachtio.server.deadlines import Alarm, Deadlines

__all__ = [
    "DEFAULT_EXPIRES",
    "EXPIRED",
    "NO_NOTIFY",
    "SubscriptionState",
    "SubscriptionTimers",
    "expires_of",
    "subscription_state",
]

DEFAULT_EXPIRES = 3600
"""Seconds granted when neither the 2xx nor the SUBSCRIBE says (RFC 6665 §4.1.2.1 asks both to)."""

EXPIRED = "subscription expired"
"""The reason a dialog ends when its subscription was not refreshed in time."""

NO_NOTIFY = "no NOTIFY within 64*T1 of the SUBSCRIBE's 2xx (RFC 6665 Timer N)"
"""The reason a dialog ends when the subscription it was made for never got its first NOTIFY."""


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """A ``Subscription-State`` value: ``active``, ``pending``, ``terminated``, or another."""

    state: str
    expires: int | None = None


def subscription_state(message: SipMessage) -> SubscriptionState | None:
    """The ``Subscription-State`` of ``message``, or ``None`` without a usable one."""
    value = message.header("Subscription-State")
    if not value:
        return None
    state, *params = (part.strip() for part in value.split(";"))
    expires = None
    for param in params:
        name, _, number = param.partition("=")
        if name.strip().lower() == "expires" and number.strip().isdigit():
            expires = int(number.strip())
    return SubscriptionState(state.lower(), expires) if state else None


def expires_of(*messages: SipMessage) -> int:
    """The first usable ``Expires`` of ``messages`` (a 2xx, then its SUBSCRIBE), or the default."""
    for message in messages:
        value = (message.header("Expires") or "").strip()
        if value.isdigit():
            return int(value)
    return DEFAULT_EXPIRES


class SubscriptionTimers:
    """The expiry and Timer N deadlines of SUBSCRIBE-created dialogs, by dialog id."""

    __slots__ = ("_deadlines", "_expiry", "_timer_n", "timer_n")

    def __init__(self, timer_n: float, alarm: Alarm | None = None) -> None:
        self.timer_n = timer_n
        self._deadlines: Deadlines[str] = Deadlines(alarm)
        # When each subscription expires, and when Timer N fires for those
        # still waiting for their first NOTIFY; the deadline is the earlier.
        self._expiry: dict[str, float] = {}
        self._timer_n: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._expiry)

    def accepted(self, dialog_id: str, expires: int, now: float, *, subscriber: bool) -> None:
        """A 2xx to a SUBSCRIBE of the dialog (``subscriber``: sent by its application).

        The subscription lasts ``expires`` seconds from now; the application
        that subscribed waits at most Timer N for the first NOTIFY, unless
        one came already (it may overtake the 2xx).
        """
        first = dialog_id not in self._expiry
        # An unsubscribe (Expires: 0) waits 64*T1 for its terminating NOTIFY (§4.1.2.3).
        self._expiry[dialog_id] = now + (expires if expires > 0 else self.timer_n)
        if subscriber and first:
            self._timer_n[dialog_id] = now + self.timer_n
        self._arm(dialog_id)

    def notified(self, dialog_id: str, state: SubscriptionState | None, now: float) -> None:
        """A NOTIFY in the dialog, either way: Timer N is over; its ``expires`` sets the expiry."""
        self._timer_n.pop(dialog_id, None)
        if state is not None and state.state != "terminated" and state.expires is not None:
            self._expiry[dialog_id] = now + state.expires
        elif dialog_id not in self._expiry:
            # Before the 2xx (RFC 6665 §4.1.2.4): the 2xx will say; until then
            # the subscription has the default.
            self._expiry[dialog_id] = now + DEFAULT_EXPIRES
        self._arm(dialog_id)

    def forget(self, dialog_id: str) -> None:
        """The dialog ended: no deadline of its own any more."""
        self._deadlines.cancel(dialog_id)
        self._expiry.pop(dialog_id, None)
        self._timer_n.pop(dialog_id, None)

    def next_at(self) -> float | None:
        """The earliest deadline, or ``None``."""
        return self._deadlines.next_at()

    def pop_due(self, now: float) -> list[tuple[str, str]]:
        """``(dialog id, reason)`` of each subscription over by ``now``; they are forgotten."""
        out = []
        for dialog_id in self._deadlines.pop_due(now):
            timer_n = self._timer_n.pop(dialog_id, None)
            expiry = self._expiry.pop(dialog_id)
            late_notify = timer_n is not None and timer_n <= expiry
            out.append((dialog_id, NO_NOTIFY if late_notify else EXPIRED))
        return out

    def _arm(self, dialog_id: str) -> None:
        timer_n = self._timer_n.get(dialog_id)
        at = self._expiry[dialog_id]
        self._deadlines.set(dialog_id, at if timer_n is None else min(at, timer_n))
