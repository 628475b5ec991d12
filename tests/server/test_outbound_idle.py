"""The idle rule of the connections the server opens to applications, on a simulated clock.

:class:`IdleClock` is looked at, as the server's timer does, at its
deadline; each test says what time it is and what is in use.
"""

from __future__ import annotations

import pytest

from drachtio.server.outbound_idle import BUSY_LOOKS, IdleClock, Use

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
def test_anything_in_use_keeps_it_open_and_waits_for_the_next_message(use: Use) -> None:
    clock = IdleClock(30.0, now=0.0)
    assert use
    assert not clock.check(30.0, use)
    assert clock.quiet_since is None
    # Nothing passes: only the rare look, in case an end came with no message.
    assert clock.deadline == 30.0 + 30.0 * BUSY_LOOKS
    assert not clock.check(clock.deadline, use)
    assert clock.deadline == 30.0 + 2 * 30.0 * BUSY_LOOKS


def test_a_message_restarts_the_wait_without_moving_the_deadline() -> None:
    clock = IdleClock(30.0, now=0.0)
    assert not clock.active(20.0)
    assert clock.deadline == 30.0
    # The look at the old deadline finds the later start and waits for it.
    assert not clock.check(30.0, FREE)
    assert clock.deadline == 50.0
    assert clock.check(50.0, FREE)


def test_a_call_ended_by_a_bye_closes_one_timeout_after_it() -> None:
    """The dialog lasts from 1 s to 95 s; the BYE is a message at 95 s."""
    clock = IdleClock(30.0, now=0.0)
    assert not clock.active(1.0)  # the 200 that made the dialog
    assert not clock.check(30.0, A_DIALOG)
    # The BYE, then the 200 to it: the first brings the look forward.
    assert clock.active(95.0)
    assert not clock.active(95.01)
    assert clock.deadline == 125.0
    # The look then finds the later start: one timeout after the 200.
    assert not clock.check(125.0, FREE)
    assert clock.deadline == 125.01
    assert clock.check(125.01, FREE)


def test_messages_in_a_long_call_each_bring_one_look() -> None:
    """A re-INVITE every 100 s in a call of 30 s timeouts: a look 30 s after
    each, none between; the BYE at 450 s closes it at 480 s."""
    clock = IdleClock(30.0, now=0.0)
    looks = []
    for message in (0.0, 100.0, 200.0, 300.0, 400.0, 450.0):
        clock.active(message)
        while clock.deadline < message + 100.0 and clock.deadline <= 480.0:
            looks.append(clock.deadline)
            in_use = A_DIALOG if clock.deadline < 450.0 else FREE
            if clock.check(clock.deadline, in_use):
                break
    assert looks == [30.0, 130.0, 230.0, 330.0, 430.0, 480.0]


def test_it_never_closes_while_something_is_in_use() -> None:
    clock = IdleClock(0.5, now=0.0)
    assert run_until_closed(clock, {0.0: A_DIALOG}, until=10_000.0) is None


def test_an_end_with_no_message_counts_from_the_look_that_finds_it() -> None:
    """Should an end come with no message after a look found the connection
    in use, the rare look finds it, and the connection closes a timeout after."""
    for end in (30.1, 44.0, 329.9, 330.0, 331.0, 1000.0):
        clock = IdleClock(30.0, now=0.0)
        closed = run_until_closed(clock, {0.0: A_DIALOG, end: FREE}, until=5000.0)
        assert closed is not None
        assert 30.0 <= closed - end <= 30.0 * (BUSY_LOOKS + 1), end


def test_a_silent_end_before_the_first_look_closes_at_that_look() -> None:
    """Nothing passed since the request was handed, and nothing is in use at
    the look: the rule holds, whatever happened in between."""
    for end in (0.1, 29.9, 30.0):
        clock = IdleClock(30.0, now=0.0)
        assert run_until_closed(clock, {0.0: A_DIALOG, end: FREE}, until=2000.0) == 30.0


def test_a_command_from_the_application_puts_the_close_off() -> None:
    clock = IdleClock(10.0, now=0.0)
    assert not clock.check(10.0, A_DIALOG)
    assert clock.active(50.0)  # the BYE
    assert clock.deadline == 60.0
    assert not clock.active(55.0)  # a command from the application
    assert not clock.check(60.0, FREE)
    assert clock.deadline == 65.0
    assert clock.check(65.0, FREE)


def test_a_timeout_is_above_zero() -> None:
    with pytest.raises(ValueError, match="above 0"):
        IdleClock(0.0, now=0.0)
