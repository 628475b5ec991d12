"""The server's latency histograms: bucket bounds, cumulative counts, bad bounds."""

from __future__ import annotations

import pytest

from drachtio.server.latency import APP_RESPONSE_BUCKETS, POST_DIAL_DELAY_BUCKETS, Histogram


def test_a_value_on_a_bound_is_counted_in_that_bucket() -> None:
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 1.0, 3.0):
        h.observe(v)
    assert h.cumulative() == [(0.1, 2), (1.0, 4), (float("inf"), 5)]
    assert h.count == 5
    assert h.sum == pytest.approx(4.65)


def test_a_negative_value_from_a_clock_stepped_back_counts_as_zero() -> None:
    h = Histogram((0.1,))
    h.observe(-2.0)
    assert h.cumulative() == [(0.1, 1), (float("inf"), 1)]
    assert h.sum == 0.0


@pytest.mark.parametrize("bounds", [(), (1.0, 1.0), (2.0, 1.0)])
def test_bounds_must_increase(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="increasing order"):
        Histogram(bounds)


def test_the_server_buckets_are_valid() -> None:
    for bounds in (APP_RESPONSE_BUCKETS, POST_DIAL_DELAY_BUCKETS):
        assert Histogram(bounds).cumulative()[-1] == (float("inf"), 0)
