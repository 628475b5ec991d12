"""Durations the server observes, kept as fixed-bucket histograms for metrics.

Two are kept (``docs/metrics.md``): how long applications take to answer the
requests handed to them, and the post-dial delay of the INVITEs they send.
Observing one costs a bisection and two additions; nothing is computed until
a scrape reads :meth:`Histogram.cumulative`.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from itertools import pairwise

__all__ = ["APP_RESPONSE_BUCKETS", "POST_DIAL_DELAY_BUCKETS", "Histogram"]

APP_RESPONSE_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
"""Upper bounds (seconds) for an application's time to answer: most answer within milliseconds."""

POST_DIAL_DELAY_BUCKETS: tuple[float, ...] = (
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.0,
    3.0,
    5.0,
    10.0,
    20.0,
    30.0,
)
"""Upper bounds (seconds) for post-dial delay: ringing comes within tens of ms to seconds."""


class Histogram:
    """Counts of observed values at or under each upper bound, and their sum.

    The bounds are inclusive, as Prometheus' ``le`` label says; a value over
    the last bound is counted only in the total (the ``+Inf`` bucket).
    """

    __slots__ = ("_counts", "bounds", "count", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        if not bounds or any(b >= c for b, c in pairwise(bounds)):
            raise ValueError("histogram bounds must be given in increasing order")
        self.bounds = tuple(bounds)
        self._counts = [0] * (len(self.bounds) + 1)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` (a negative one, from a clock stepped back, as 0)."""
        value = max(value, 0.0)
        self._counts[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, values at or under it)`` for each bound, then ``(inf, count)``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, float("inf")), self._counts, strict=True):
            running += n
            out.append((bound, running))
        return out
