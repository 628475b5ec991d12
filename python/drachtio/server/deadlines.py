"""Deadlines by key, sans-IO: the caller says what time it is.

The server's registries keep their timers here (an application's answer
due, a finished transaction remembered a while) and ask, with the current
time, which have come; the server holds one event-loop timer for all of
them, whose time an :class:`Alarm` shared by the tables decides. Tests pass
the time they want: no clock, no sleeping.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["Alarm", "Deadlines"]

_K = TypeVar("_K", bound=Hashable)

# Below this many entries, dropped ones wait for the front rather than a rebuild.
_MIN_COMPACTED = 64


class Alarm:
    """When the one timer of several deadline tables must fire, without asking them all each time.

    The rule: the timer is set no later than every deadline the tables
    hold. Setting a deadline notes it here (:meth:`Deadlines.set`);
    :meth:`rearm` brings the timer forward when a deadline noted since is
    earlier than the one it is set for, and otherwise leaves it. A
    cancelled deadline needs nothing: the timer may then fire with nothing
    due. Once it has fired (or was stopped) the tables are asked for their
    true earliest deadline, once, and :meth:`unset` notes it for the next
    :meth:`rearm`.
    """

    __slots__ = ("armed", "noted")

    def __init__(self) -> None:
        # The time the timer is set for, or None when it is not set.
        self.armed: float | None = None
        # The earliest deadline set since the timer was last decided.
        self.noted: float | None = None

    def note(self, at: float) -> None:
        """A table was given the deadline ``at``."""
        if self.noted is None or at < self.noted:
            self.noted = at

    def rearm(self) -> float | None:
        """The time to set the timer to now, or ``None`` to leave it as it is."""
        at = self.noted
        if at is None:
            return None
        self.noted = None
        if self.armed is not None and self.armed <= at:
            return None
        self.armed = at
        return at

    def unset(self, earliest: float | None) -> None:
        """The timer is no longer set (it fired, or was stopped).

        ``earliest`` is the tables' earliest deadline now, ``None`` when
        they hold none: the next :meth:`rearm` sets the timer for it.
        """
        self.armed = None
        self.noted = earliest


class Deadlines(Generic[_K]):
    """At most one deadline per key; the due ones come out earliest first.

    Setting a key's deadline again replaces it; a cancelled or replaced
    deadline is dropped when it reaches the front (a heap with lazy removal,
    so that setting and cancelling stay cheap), or when such dropped ones
    are most of the heap: then it is rebuilt, so that keys whose deadline
    was cancelled (a transaction answered in time) are not held until then.
    """

    __slots__ = ("_alarm", "_at", "_heap", "_order")

    def __init__(self, alarm: Alarm | None = None) -> None:
        # The alarm of the timer that serves this table, told of each deadline set.
        self._alarm = alarm
        self._at: dict[_K, tuple[float, int]] = {}
        self._heap: list[tuple[float, int, _K]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, key: _K) -> bool:
        return key in self._at

    def set(self, key: _K, at: float) -> None:
        """Make ``at`` the deadline of ``key`` (replacing the one it had)."""
        entry = (at, next(self._order))
        self._at[key] = entry
        heapq.heappush(self._heap, (*entry, key))
        self._compact()
        if self._alarm is not None:
            self._alarm.note(at)

    def cancel(self, key: _K) -> None:
        """Drop ``key``'s deadline, if it has one."""
        if self._at.pop(key, None) is not None:
            self._compact()

    def held(self) -> int:
        """How many entries the heap holds, dropped ones included (at most about twice the live)."""
        return len(self._heap)

    def _compact(self) -> None:
        heap = self._heap
        if len(heap) > _MIN_COMPACTED and len(heap) > 2 * len(self._at):
            self._heap = [(at, order, key) for key, (at, order) in self._at.items()]
            heapq.heapify(self._heap)

    def next_at(self) -> float | None:
        """The earliest deadline, or ``None`` when there is none."""
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[_K]:
        """The keys whose deadline is ``now`` or earlier, earliest first; they are dropped."""
        due: list[_K] = []
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                return due
            _, _, key = heapq.heappop(self._heap)
            del self._at[key]
            due.append(key)

    def _drop_stale(self) -> None:
        heap = self._heap
        while heap:
            at, order, key = heap[0]
            if self._at.get(key) == (at, order):
                return
            heapq.heappop(heap)
