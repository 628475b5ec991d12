"""One timer for several deadline tables, on a simulated clock: it fires at the earliest deadline.

The server re-arms its loop timer after each event from the deadlines set
since (:class:`Alarm`), not by asking every table; these tests drive the
same rule with a clock they move themselves and check that every deadline
still comes at its time, through adds, replacements, cancels and expiries.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from drachtio.server.deadlines import Alarm, Deadlines


class Loop:
    """The loop timer on a simulated clock, serving ``tables`` as the server's does."""

    def __init__(self, tables: int) -> None:
        self.alarm = Alarm()
        self.tables: list[Deadlines[str]] = [Deadlines(self.alarm) for _ in range(tables)]
        self.timer: float | None = None  # when the timer is set to fire
        self.wakes = 0
        self.came: list[tuple[str, float]] = []  # (key, when it came out)

    def arm(self) -> None:
        """What the server does after each event: ``UaCore.arm_timer``."""
        at = self.alarm.rearm()
        if at is not None:
            self.timer = at

    def run_until(self, now: float) -> None:
        """Move the clock to ``now``, firing the timer whenever its time comes."""
        while self.timer is not None and self.timer <= now:
            fired_at, self.timer = self.timer, None
            self.wakes += 1
            for table in self.tables:
                self.came.extend((key, fired_at) for key in table.pop_due(fired_at))
            times = [at for table in self.tables if (at := table.next_at()) is not None]
            self.alarm.unset(min(times) if times else None)
            self.arm()


def test_the_timer_fires_at_the_earliest_deadline_after_adds_removals_and_expiries() -> None:
    loop = Loop(3)
    first, second, third = loop.tables
    first.set("a", 10.0)
    loop.arm()
    assert loop.timer == 10.0
    # A later deadline leaves the timer; an earlier one, in another table, brings it forward.
    second.set("b", 20.0)
    loop.arm()
    assert loop.timer == 10.0
    third.set("c", 5.0)
    loop.arm()
    assert loop.timer == 5.0
    # A cancelled deadline leaves the timer early: it fires with nothing due and moves on.
    third.cancel("c")
    loop.arm()
    loop.run_until(7.0)
    assert loop.came == [] and loop.timer == 10.0
    # An expiry: the timer then goes to the next deadline left.
    loop.run_until(10.0)
    assert loop.came == [("a", 10.0)] and loop.timer == 20.0
    # Replacing a deadline with a later one: the key comes at its new time, not the old.
    second.set("b", 30.0)
    loop.arm()
    loop.run_until(25.0)
    assert loop.came == [("a", 10.0)]
    loop.run_until(30.0)
    assert loop.came == [("a", 10.0), ("b", 30.0)]
    assert loop.timer is None


def test_a_deadline_set_without_an_arm_is_armed_by_the_next_one() -> None:
    loop = Loop(2)
    loop.tables[0].set("a", 8.0)
    loop.tables[1].set("b", 3.0)
    loop.arm()
    assert loop.timer == 3.0


def test_a_stopped_timer_is_set_again_for_the_deadlines_held() -> None:
    loop = Loop(1)
    loop.tables[0].set("a", 8.0)
    loop.arm()
    loop.timer = None
    loop.alarm.unset(loop.tables[0].next_at())
    loop.arm()
    assert loop.timer == 8.0


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 2), st.integers(0, 5), st.floats(0, 50)),
        st.tuples(st.just("cancel"), st.integers(0, 2), st.integers(0, 5), st.just(0.0)),
        st.tuples(st.just("wait"), st.just(0), st.just(0), st.floats(0, 20)),
    ),
    max_size=60,
)


@given(_steps)
def test_every_deadline_comes_at_its_time_not_later(
    steps: list[tuple[str, int, int, float]],
) -> None:
    loop = Loop(3)
    now = 0.0
    expected: dict[tuple[int, str], float] = {}  # (table, key) -> deadline
    came_at: dict[str, float] = {}
    for what, table, number, value in steps:
        key = f"{table}/{number}"
        if what == "set":
            loop.tables[table].set(key, now + value)
            expected[table, key] = now + value
        elif what == "cancel":
            loop.tables[table].cancel(key)
            expected.pop((table, key), None)
        else:
            now += value
            loop.run_until(now)
        loop.arm()
        loop.run_until(now)  # a deadline set for now comes before the clock moves on
        for key_came, at in loop.came:
            came_at[key_came] = at
        for (t, k), at in list(expected.items()):
            if at <= now:
                # Come, at its very deadline: the timer was never set past it.
                assert came_at.pop(k) == at
                del expected[t, k]
        assert not came_at, "a key came before its deadline"
        loop.came.clear()
    loop.run_until(math.inf)
    assert sorted(loop.came) == sorted((k, at) for (_, k), at in expected.items())
