"""The session timer state machine (RFC 4028 §10) on a simulated clock.

Time is a float the tests pass in; nothing sleeps. Two timers built from the
two sides of one negotiation stand for the two ends of a dialog.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drachtio import SipRequest, SipResponse
from drachtio.server.session_timer import (
    REASON_EXPIRED,
    Accept,
    Agreement,
    Expire,
    Refresh,
    SessionTimer,
    SessionTimerConfig,
    UacOffer,
    answer_request,
    glare_delay,
    process_2xx,
)

T0 = 1000.0


def lowest(a: int, b: int) -> int:
    return a


def highest(a: int, b: int) -> int:
    return b


def refresher(interval: int = 1800, *, owns_call_id: bool = True) -> SessionTimer:
    return SessionTimer(Agreement(interval, 90, we_refresh=True), T0, owns_call_id=owns_call_id)


def watcher(interval: int = 1800) -> SessionTimer:
    return SessionTimer(Agreement(interval, 90, we_refresh=False), T0, owns_call_id=False)


def test_s10_the_refresher_refreshes_at_half_the_interval_once() -> None:
    timer = refresher(1800)
    assert timer.deadline() == T0 + 900
    assert timer.poll(T0 + 899.99) is None
    assert timer.poll(T0 + 900) == Refresh()
    assert timer.refreshing
    assert timer.poll(T0 + 901) is None  # one refresh at a time
    assert timer.deadline() == T0 + 1800 - 32  # while it is out, the expiry
    timer.refreshed(T0 + 901, timer.agreement)
    assert not timer.refreshing
    assert timer.deadline() == T0 + 901 + 900


@pytest.mark.parametrize(
    ("interval", "expire_after"),
    [(90, 60), (96, 64), (1800, 1768)],  # the lesser of 32 s and a third (§10)
)
def test_s10_without_a_refresh_the_other_side_expires_the_session(
    interval: int, expire_after: int
) -> None:
    timer = watcher(interval)
    assert timer.deadline() == T0 + expire_after
    assert timer.poll(T0 + expire_after - 0.01) is None
    assert timer.poll(T0 + expire_after) == Expire(REASON_EXPIRED)
    assert not timer.running
    assert timer.deadline() is None
    assert timer.poll(T0 + 10_000) is None


def test_s10_a_refresh_from_the_peer_restarts_the_watch() -> None:
    timer = watcher(1800)
    timer.refreshed(T0 + 800, Agreement(1800, 90, we_refresh=False))
    assert timer.deadline() == T0 + 800 + 1768
    assert timer.poll(T0 + 1768) is None


def test_s10_a_refresh_may_change_the_interval_and_the_refresher() -> None:
    timer = watcher(1800)
    timer.refreshed(T0 + 500, Agreement(600, 90, we_refresh=True))
    assert timer.deadline() == T0 + 500 + 300
    assert timer.poll(T0 + 800) == Refresh()
    timer.refreshed(T0 + 801, Agreement(900, 300, we_refresh=False))
    assert timer.agreement == Agreement(900, 300, we_refresh=False)
    assert timer.deadline() == T0 + 801 + 868


def test_s7_2_a_refresh_without_session_expires_stops_the_timer() -> None:
    timer = refresher()
    timer.refreshed(T0 + 10, None)
    assert not timer.running
    assert timer.deadline() is None
    assert timer.poll(T0 + 100_000) is None
    # A later refresh may set one up again.
    timer.refreshed(T0 + 20, Agreement(90, 90, we_refresh=False))
    assert timer.deadline() == T0 + 20 + 60


def test_s10_a_refresh_that_is_never_answered_expires_the_session() -> None:
    timer = refresher(1800)
    assert timer.poll(T0 + 900) == Refresh()
    assert timer.poll(T0 + 1768) == Expire(REASON_EXPIRED)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (408, "session refresh failed: 408"),
        (481, "session refresh failed: 481"),
        (None, "session refresh failed: no response"),
    ],
)
def test_s10_refresh_answered_408_481_or_nothing_ends_the_session(
    status: int | None, reason: str
) -> None:
    timer = refresher()
    assert timer.poll(T0 + 900) == Refresh()
    assert timer.refresh_failed(T0 + 932, status) == Expire(reason)
    assert not timer.running and timer.deadline() is None


@pytest.mark.parametrize(
    ("owns_call_id", "randint", "delay"),
    [
        (True, lowest, 2.1),
        (True, highest, 4.0),
        (False, lowest, 0.0),
        (False, highest, 2.0),
    ],
)
def test_s10_491_resends_after_the_rfc_3261_s14_1_delay(
    owns_call_id: bool, randint: object, delay: float
) -> None:
    timer = refresher(owns_call_id=owns_call_id)
    assert timer.poll(T0 + 900) == Refresh()
    assert timer.refresh_failed(T0 + 901, 491, randint) is None  # type: ignore[arg-type]
    assert timer.deadline() == pytest.approx(T0 + 901 + delay)
    if delay:
        assert timer.poll(T0 + 901 + delay - 0.005) is None
    assert timer.poll(T0 + 901 + delay) == Refresh()
    assert timer.refreshing


def test_s10_491_too_close_to_the_expiry_expires_first() -> None:
    timer = refresher(90)
    assert timer.poll(T0 + 45) == Refresh()
    assert timer.refresh_failed(T0 + 59, 491, lowest) is None
    assert timer.deadline() == T0 + 60  # before the 61.1 s back-off
    assert timer.poll(T0 + 60) == Expire(REASON_EXPIRED)


@pytest.mark.parametrize("status", [422, 488, 500, 503, 603])
def test_s10_other_failures_leave_the_session_until_its_expiry(status: int) -> None:
    timer = refresher(1800)
    assert timer.poll(T0 + 900) == Refresh()
    assert timer.refresh_failed(T0 + 901, status) is None
    assert timer.running and not timer.refreshing
    assert timer.deadline() == T0 + 1768
    assert timer.poll(T0 + 1767) is None  # no second refresh
    assert timer.poll(T0 + 1768) == Expire(REASON_EXPIRED)


def test_s10_after_a_failure_a_refresh_from_the_peer_still_saves_the_session() -> None:
    timer = refresher(1800)
    assert timer.poll(T0 + 900) == Refresh()
    timer.refresh_failed(T0 + 901, 500)
    timer.refreshed(T0 + 1000, Agreement(1800, 90, we_refresh=False))
    assert timer.poll(T0 + 1768) is None
    assert timer.deadline() == T0 + 1000 + 1768


def test_a_failure_when_no_refresh_of_ours_is_out_is_ignored() -> None:
    timer = refresher()
    assert timer.refresh_failed(T0 + 1, 481) is None  # not ours: nothing was out
    assert timer.poll(T0 + 900) == Refresh()
    timer.refreshed(T0 + 901, timer.agreement)  # the peer's refresh won
    assert timer.refresh_failed(T0 + 902, 408) is None
    assert timer.deadline() == T0 + 901 + 900


def test_nothing_revives_an_expired_session() -> None:
    timer = watcher(90)
    assert timer.poll(T0 + 60) == Expire(REASON_EXPIRED)
    timer.refreshed(T0 + 61, Agreement(90, 90, we_refresh=False))
    assert timer.deadline() is None


def test_a_refresher_polled_past_the_expiry_ends_the_session() -> None:
    # The loop stalled through both deadlines: too late to refresh.
    assert refresher(1800).poll(T0 + 1768) == Expire(REASON_EXPIRED)


def test_the_default_randomness_stays_within_rfc_3261_s14_1() -> None:
    for _ in range(200):
        assert 2.1 <= glare_delay(True) <= 4.0
        assert 0.0 <= glare_delay(False) <= 2.0


@settings(deadline=None)  # a loaded machine must not fail it
@given(seed=st.integers(), owns_call_id=st.booleans())
def test_property_glare_delay_is_in_10_ms_steps_within_bounds(
    seed: int, owns_call_id: bool
) -> None:
    delay = glare_delay(owns_call_id, random.Random(seed).randint)
    low, high = (2.1, 4.0) if owns_call_id else (0.0, 2.0)
    assert low <= delay <= high
    assert round(delay * 100) == pytest.approx(delay * 100)


# ------------------------------------------------------------ two ends


def _two_ends(interval: int, refresher_is_uac: bool) -> tuple[SessionTimer, SessionTimer]:
    """The refresher's and the other side's timers, from one real negotiation."""
    config = SessionTimerConfig(
        session_expires=interval, refresher="uac" if refresher_is_uac else "uas"
    )
    offer = UacOffer.initial(config)
    assert offer is not None
    result = answer_request(SipRequest("INVITE", "sip:b@example.com", offer.headers), config)
    assert isinstance(result, Accept) and result.agreement is not None
    uac_side = process_2xx(SipResponse(200, None, result.headers), offer)
    assert uac_side is not None
    uas = SessionTimer(result.agreement, T0, owns_call_id=False)
    uac = SessionTimer(uac_side, T0, owns_call_id=True)
    return (uac, uas) if refresher_is_uac else (uas, uac)


@settings(deadline=None)  # a loaded machine must not fail it
@given(
    interval=st.integers(90, 100_000),
    refresher_is_uac=st.booleans(),
    delays=st.lists(
        st.tuples(st.floats(0, 1), st.floats(0, 1), st.booleans()), min_size=1, max_size=8
    ),
    seed=st.integers(),
)
def test_property_s10_the_refresh_always_beats_the_other_sides_expiry(
    interval: int,
    refresher_is_uac: bool,
    delays: list[tuple[float, float, bool]],
    seed: int,
) -> None:
    """Over several cycles, with up to a second each way and a 491 now and then,
    the other side never expires a session whose refresher is alive."""
    rng = random.Random(seed)
    ours, theirs = _two_ends(interval, refresher_is_uac)
    now = T0
    for there, back, glare in delays:
        # Nothing is due on the other side before our refresh.
        deadline = ours.deadline()
        assert deadline is not None
        now = deadline
        assert theirs.deadline() is not None and now < theirs.deadline()  # type: ignore[operator]
        assert ours.poll(now) == Refresh()
        if glare:
            # The request crossed one of theirs: 491 comes back, we wait and resend.
            ours.refresh_failed(now + there + back, 491, rng.randint)
            retry_at = ours.deadline()
            assert retry_at is not None
            now = retry_at
            assert now < theirs.deadline()  # type: ignore[operator]
            assert ours.poll(now) == Refresh()
        assert theirs.poll(now + there) is None
        theirs.refreshed(now + there, theirs.agreement)
        ours.refreshed(now + there + back, ours.agreement)
        now += there + back
        assert ours.running and theirs.running
