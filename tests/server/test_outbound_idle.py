"""The idle rule of the connections the server opens to applications, on a simulated clock.

:class:`IdleClock` is looked at, as the server's timer does, at its
deadline; each test says what time it is and what is in use.
"""

from __future__ import annotations

import pytest

from drachtio.server.outbound_idle import IdleClock, Use

FREE = Use()
A_DIALOG = Use(dialogs=1)


def run_until_closed(clock: IdleClock, use_at: dict[float, Use], until: float) -> float | None:
    """Look at each deadline up to ``until``, with what ``use_at`` says is in use
    from each time on (free before the first); the time it closes, or ``None``."""
    while clock.deadline <= until:
        now = clock.deadline
        current = FREE
        for since, use in sorted(use_at.items()):
            if since <= now:
                current = use
        if clock.check(now, current):
            return now
    return None


def test_a_connection_left_alone_closes_one_timeout_after_its_request() -> None:
    clock = IdleClock(30.0, now=100.0)
    assert clock.deadline == 130.0
    assert clock.check(130.0, FREE)


def test_a_look_before_the_deadline_changes_nothing() -> None:
    clock = IdleClock(30.0, now=0.0)
    assert not clock.check(29.9, FREE)
    assert clock.deadline == 30.0
    assert clock.check(30.0, FREE)


@pytest.mark.parametrize(
    "use",
    [
        Use(server_transactions=1),
        Use(client_transactions=1),
        Use(dialogs=1),
        Use(proxies=1),
    ],
)
def test_anything_in_use_keeps_it_open_and_it_is_looked_at_again(use: Use) -> None:
    clock = IdleClock(30.0, now=0.0)
    assert use
    assert not clock.check(30.0, use)
    assert (clock.deadline, clock.quiet_since) == (60.0, None)
    assert not clock.check(60.0, use)
    assert clock.deadline == 90.0


def test_a_message_restarts_the_wait_without_moving_the_deadline() -> None:
    clock = IdleClock(30.0, now=0.0)
    clock.active(20.0)
    assert clock.deadline == 30.0
    # The look at the old deadline finds the later start and waits for it.
    assert not clock.check(30.0, FREE)
    assert clock.deadline == 50.0
    assert clock.check(50.0, FREE)


def test_a_call_ended_by_a_bye_closes_one_timeout_after_the_bye() -> None:
    """The dialog lasts from 1 s to 95 s; the BYE is a message at 95 s."""
    clock = IdleClock(30.0, now=0.0)
    clock.active(1.0)  # the 200 that made the dialog
    assert not clock.check(30.0, A_DIALOG)
    assert not clock.check(60.0, A_DIALOG)
    assert not clock.check(90.0, A_DIALOG)
    clock.active(95.0)  # the BYE, and the 200 to it
    assert clock.deadline == 120.0
    assert not clock.check(120.0, FREE)
    assert clock.deadline == 125.0
    assert clock.check(125.0, FREE)


def test_an_end_with_no_message_counts_from_the_look_that_finds_it() -> None:
    """A dialog the server ends itself at 70 s (nothing passes): the look at
    90 s finds it free, the one at 120 s closes."""
    clock = IdleClock(30.0, now=0.0)
    closed = run_until_closed(clock, {0.0: A_DIALOG, 70.0: FREE}, until=1000.0)
    assert closed == 120.0


def test_it_never_closes_while_something_is_in_use() -> None:
    clock = IdleClock(0.5, now=0.0)
    assert run_until_closed(clock, {0.0: A_DIALOG}, until=10_000.0) is None


def test_between_one_and_two_timeouts_after_a_silent_end_a_look_found_in_use() -> None:
    for end in (30.1, 44.0, 59.9, 60.0, 61.0, 1000.0):
        clock = IdleClock(30.0, now=0.0)
        closed = run_until_closed(clock, {0.0: A_DIALOG, end: FREE}, until=2000.0)
        assert closed is not None
        assert 30.0 <= closed - end <= 60.0, end


def test_a_silent_end_before_the_first_look_closes_at_that_look() -> None:
    """Nothing passed since the request was handed, and nothing is in use at
    the look: the rule holds, whatever happened in between."""
    for end in (0.1, 29.9, 30.0):
        clock = IdleClock(30.0, now=0.0)
        assert run_until_closed(clock, {0.0: A_DIALOG, end: FREE}, until=2000.0) == 30.0


def test_a_message_while_in_use_restarts_the_wait_once_free() -> None:
    """An in-dialog request at 40 s while the dialog lasts; the BYE at 50 s."""
    clock = IdleClock(10.0, now=0.0)
    assert not clock.check(10.0, A_DIALOG)
    assert not clock.check(20.0, A_DIALOG)
    assert not clock.check(30.0, A_DIALOG)
    clock.active(40.0)
    assert not clock.check(40.0, A_DIALOG)
    clock.active(50.0)
    assert clock.deadline == 50.0
    assert not clock.check(50.0, FREE)
    assert clock.deadline == 60.0
    clock.active(55.0)  # a command from the application
    assert not clock.check(60.0, FREE)
    assert clock.check(65.0, FREE)


def test_a_timeout_is_above_zero() -> None:
    with pytest.raises(ValueError, match="above 0"):
        IdleClock(0.0, now=0.0)
