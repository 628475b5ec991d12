"""Deadlines by key on a simulated clock: what is due comes out earliest first, once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from drachtio.server.deadlines import Deadlines


def test_nothing_is_due_before_its_time_and_all_is_due_at_it() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.set("b", 20.0)
    deadlines.set("a", 10.0)
    assert deadlines.next_at() == 10.0
    assert deadlines.pop_due(9.99) == []
    assert deadlines.pop_due(20.0) == ["a", "b"]
    assert deadlines.pop_due(100.0) == []
    assert deadlines.next_at() is None
    assert len(deadlines) == 0


def test_setting_a_key_again_replaces_its_deadline() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.set("a", 10.0)
    deadlines.set("a", 30.0)
    assert deadlines.next_at() == 30.0
    assert deadlines.pop_due(10.0) == []
    assert deadlines.pop_due(30.0) == ["a"]


def test_a_cancelled_deadline_never_comes_and_no_longer_counts() -> None:
    deadlines: Deadlines[str] = Deadlines()
    deadlines.set("a", 10.0)
    deadlines.set("b", 20.0)
    deadlines.cancel("a")
    deadlines.cancel("never set")
    assert "a" not in deadlines and "b" in deadlines
    assert deadlines.next_at() == 20.0
    assert deadlines.pop_due(50.0) == ["b"]


def test_equal_deadlines_come_out_in_the_order_they_were_set() -> None:
    deadlines: Deadlines[int] = Deadlines()
    for key in (3, 1, 2):
        deadlines.set(key, 5.0)
    assert deadlines.pop_due(5.0) == [3, 1, 2]


def test_cancelled_deadlines_are_not_held_until_they_would_have_come() -> None:
    deadlines: Deadlines[int] = Deadlines()
    deadlines.set(-1, 1.0)
    for key in range(10_000):
        deadlines.set(key, 100.0 + key)
        deadlines.cancel(key)
    assert deadlines.held() <= 2 * 64
    assert deadlines.pop_due(1e9) == [-1]


@given(st.lists(st.tuples(st.integers(0, 9), st.floats(0, 100), st.booleans())), st.floats(0, 100))
def test_due_keys_are_the_last_set_deadlines_not_cancelled(
    steps: list[tuple[int, float, bool]], now: float
) -> None:
    deadlines: Deadlines[int] = Deadlines()
    expected: dict[int, float] = {}
    for key, at, cancel in steps:
        if cancel:
            deadlines.cancel(key)
            expected.pop(key, None)
        else:
            deadlines.set(key, at)
            expected[key] = at
    due = deadlines.pop_due(now)
    assert sorted(due) == sorted(k for k, at in expected.items() if at <= now)
    assert [expected[k] for k in due] == sorted(expected[k] for k in due)
    later = [at for at in expected.values() if at > now]
    assert deadlines.next_at() == (min(later) if later else None)
