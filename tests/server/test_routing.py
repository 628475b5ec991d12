"""Which application takes a new request: routes and their round robin, without sockets."""

from __future__ import annotations

from drachtio.server.routing import Routes


def turns(routes: Routes[str], method: str, count: int) -> list[str | None]:
    return [routes.pick(method) for _ in range(count)]


def test_no_application_routes_a_method_nobody_asked_for() -> None:
    routes: Routes[str] = Routes()
    routes.add("a", "INVITE")
    assert routes.pick("MESSAGE") is None
    assert routes.methods() == ["INVITE"]


def test_applications_take_turns_in_the_order_they_routed() -> None:
    routes: Routes[str] = Routes()
    for app in ("a", "b", "c"):
        routes.add(app, "INVITE")
    routes.add("a", "INVITE")  # once, however often it asks
    assert turns(routes, "INVITE", 7) == ["a", "b", "c", "a", "b", "c", "a"]


def test_methods_are_listed_sorted_and_turns_are_per_method() -> None:
    routes: Routes[str] = Routes()
    routes.add("a", "OPTIONS")
    routes.add("b", "OPTIONS")
    routes.add("a", "INVITE")
    assert routes.methods() == ["INVITE", "OPTIONS"]
    assert routes.pick("OPTIONS") == "a"
    assert routes.pick("INVITE") == "a"
    assert routes.pick("OPTIONS") == "b"


def test_removing_one_before_the_cursor_skips_no_one() -> None:
    routes: Routes[str] = Routes()
    for app in ("a", "b", "c"):
        routes.add(app, "INVITE")
    assert turns(routes, "INVITE", 2) == ["a", "b"]  # c is next
    routes.remove("a", "INVITE")
    assert turns(routes, "INVITE", 3) == ["c", "b", "c"]


def test_removing_one_after_the_cursor_keeps_the_turn() -> None:
    routes: Routes[str] = Routes()
    for app in ("a", "b", "c"):
        routes.add(app, "INVITE")
    assert turns(routes, "INVITE", 1) == ["a"]  # b is next
    routes.remove("c", "INVITE")
    assert turns(routes, "INVITE", 3) == ["b", "a", "b"]


def test_removing_the_last_one_forgets_the_method_and_its_turn() -> None:
    routes: Routes[str] = Routes()
    routes.add("a", "INVITE")
    routes.pick("INVITE")
    routes.remove("a", "INVITE")
    routes.remove("a", "INVITE")  # not routed any more: nothing happens
    assert routes.methods() == []
    routes.add("b", "INVITE")
    routes.add("c", "INVITE")
    assert turns(routes, "INVITE", 2) == ["b", "c"]


def test_an_application_that_goes_away_leaves_every_method() -> None:
    routes: Routes[str] = Routes()
    routes.add("a", "INVITE")
    routes.add("a", "MESSAGE")
    routes.add("b", "MESSAGE")
    routes.remove_app("a")
    assert routes.methods() == ["MESSAGE"]
    assert "INVITE" not in routes and "MESSAGE" in routes
    assert turns(routes, "MESSAGE", 2) == ["b", "b"]
