"""Deadlines by key, sans-IO: the caller says what time it is.

The server's registries keep their timers here (an application's answer
due, a finished transaction remembered a while) and ask, with the current
time, which have come; the server holds one event-loop timer, set to the
earliest deadline of all (see :meth:`Deadlines.next_at`). Tests pass the
time they want: no clock, no sleeping.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["Deadlines"]

_K = TypeVar("_K", bound=Hashable)

# Below this many entries, dropped ones wait for the front rather than a rebuild.
_MIN_COMPACTED = 64


class Deadlines(Generic[_K]):
    """At most one deadline per key; the due ones come out earliest first.

    Setting a key's deadline again replaces it; a cancelled or replaced
    deadline is dropped when it reaches the front (a heap with lazy removal,
    so that setting and cancelling stay cheap), or when such dropped ones
    are most of the heap: then it is rebuilt, so that keys whose deadline
    was cancelled (a transaction answered in time) are not held until then.
    """

    __slots__ = ("_at", "_heap", "_order")

    def __init__(self) -> None:
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
