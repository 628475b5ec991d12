"""Subscription expiry and Timer N (RFC 6665) on a simulated clock."""

from __future__ import annotations

from drachtio import SipRequest, SipResponse
from drachtio.server.subscriptions import (
    DEFAULT_EXPIRES,
    EXPIRED,
    NO_NOTIFY,
    SubscriptionState,
    SubscriptionTimers,
    expires_of,
    subscription_state,
)

T1 = 0.5


def notify(state: str) -> SipRequest:
    return SipRequest(
        "NOTIFY", "sip:a@127.0.0.1", headers=[("Subscription-State", state), ("Event", "dialog")]
    )


def test_a_subscription_not_refreshed_expires_at_the_time_its_2xx_granted() -> None:
    timers = SubscriptionTimers(64 * T1)
    timers.accepted("d1", 600, 0.0, subscriber=False)  # §4.2.1.1: the notifier's side
    assert timers.next_at() == 600.0
    assert timers.pop_due(599.9) == []
    # A refresh (SUBSCRIBE 2xx) at 500 moves it.
    timers.accepted("d1", 600, 500.0, subscriber=False)
    assert timers.pop_due(600.0) == []
    assert timers.pop_due(1100.0) == [("d1", EXPIRED)]
    assert len(timers) == 0


def test_a_subscriber_without_a_notify_within_timer_n_has_failed() -> None:
    timers = SubscriptionTimers(64 * T1)
    timers.accepted("d1", 3600, 10.0, subscriber=True)
    assert timers.next_at() == 10.0 + 32.0
    assert timers.pop_due(42.0) == [("d1", NO_NOTIFY)]


def test_the_first_notify_ends_timer_n_and_its_expires_is_the_new_expiry() -> None:
    timers = SubscriptionTimers(64 * T1)
    timers.accepted("d1", 3600, 0.0, subscriber=True)
    timers.notified("d1", SubscriptionState("active", 120), 1.0)
    assert timers.pop_due(50.0) == []
    assert timers.next_at() == 121.0
    assert timers.pop_due(121.0) == [("d1", EXPIRED)]


def test_a_notify_overtaking_the_2xx_spares_the_subscriber_timer_n() -> None:
    timers = SubscriptionTimers(64 * T1)
    timers.notified("d1", SubscriptionState("pending"), 0.0)
    assert timers.next_at() == DEFAULT_EXPIRES
    timers.accepted("d1", 300, 0.1, subscriber=True)
    assert timers.pop_due(100.0) == []
    assert timers.pop_due(300.1) == [("d1", EXPIRED)]


def test_an_unsubscribe_waits_64_t1_for_its_terminating_notify() -> None:
    timers = SubscriptionTimers(64 * T1)
    timers.accepted("d1", 600, 0.0, subscriber=False)
    timers.accepted("d1", 0, 100.0, subscriber=False)
    assert timers.next_at() == 132.0
    assert timers.pop_due(132.0) == [("d1", EXPIRED)]


def test_a_dialog_that_ended_is_forgotten() -> None:
    timers = SubscriptionTimers(64 * T1)
    timers.accepted("d1", 60, 0.0, subscriber=True)
    timers.forget("d1")
    assert (timers.next_at(), timers.pop_due(1e9), len(timers)) == (None, [], 0)


def test_headers_are_read_as_rfc_6665_writes_them() -> None:
    assert subscription_state(notify("active;expires=599")) == SubscriptionState("active", 599)
    assert subscription_state(notify("Terminated ; reason=timeout")) == SubscriptionState(
        "terminated", None
    )
    assert subscription_state(notify("pending;expires=x")) == SubscriptionState("pending", None)
    assert subscription_state(SipRequest("NOTIFY", "sip:a@127.0.0.1")) is None
    ok = SipResponse(200, headers=[("Expires", "1800")])
    subscribe = SipRequest("SUBSCRIBE", "sip:a@127.0.0.1", headers=[("Expires", "60")])
    assert expires_of(ok, subscribe) == 1800
    assert expires_of(SipResponse(200), subscribe) == 60
    assert expires_of(SipResponse(200)) == DEFAULT_EXPIRES
