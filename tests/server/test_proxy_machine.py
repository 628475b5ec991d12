"""The server's proxy machine (:mod:`drachtio.server.proxy`) on a simulated clock: what it
sends, cancels and relays for each response and timeout, with the core's response context."""

from __future__ import annotations

from drachtio import SipResponse
from drachtio.protocol import ProxyRequest
from drachtio.server.proxy import (
    MAX_REDIRECT_TARGETS,
    Action,
    CancelBranch,
    ProxiedRequest,
    Relay,
    SendBranch,
)

T0 = 1000.0
A, B, C = "sip:a@192.0.2.1", "sip:b@192.0.2.2", "sip:c@192.0.2.3"


def response(status: int, tag: str = "t", contacts: tuple[str, ...] = ()) -> SipResponse:
    """A response as a branch receives it: our Via on top of the caller's."""
    headers = [
        ("Via", "SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKproxy.1"),
        ("Via", "SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKcaller"),
        ("From", "<sip:caller@example.com>;tag=f"),
        ("To", f"<sip:callee@example.com>;tag={tag}"),
        ("Call-ID", "c1"),
        ("CSeq", "1 INVITE"),
    ]
    headers.extend(("Contact", f"<{c}>") for c in contacts)
    return SipResponse(status, None, headers)


def proxy(*destinations: str, invite: bool = True, **options: object) -> ProxiedRequest:
    request = ProxyRequest("tx", destinations, **options)  # type: ignore[arg-type]
    return ProxiedRequest(request, invite, T0, 185.0)


def label(action: Action) -> str:
    if isinstance(action, SendBranch):
        return f"send {action.index} {action.destination}"
    if isinstance(action, CancelBranch):
        return f"cancel {action.index}"
    if isinstance(action, Relay):
        return f"relay {action.status}"
    return f"settled {action.final_status}"


def step(call: ProxiedRequest) -> list[str]:
    return [label(a) for a in call.poll_actions()]


def report(call: ProxiedRequest) -> list[tuple[str, list[int], str | None]]:
    return [(b.destination, [s for s, _ in b.responses], b.error) for b in call.branches()]


def test_serial_tries_the_next_after_a_failure_and_relays_the_best() -> None:
    call = proxy(A, B)
    call.start(T0)
    assert step(call) == [f"send 0 {A}"]
    call.on_response(0, response(180), T0 + 1)
    assert step(call) == ["relay 180"]
    call.on_response(0, response(486), T0 + 2)
    assert step(call) == [f"send 1 {B}"]
    call.on_response(1, response(404), T0 + 3)
    # §16.7 step 6: the lowest class, the first received in it.
    assert step(call) == ["relay 486", "settled 486"]
    assert report(call) == [(A, [180, 486], None), (B, [404], None)]


def test_parallel_2xx_is_relayed_and_cancels_the_others() -> None:
    call = proxy(A, B, C, forking="parallel")
    call.start(T0)
    assert step(call) == [f"send 0 {A}", f"send 1 {B}", f"send 2 {C}"]
    call.on_response(0, response(180, "a"), T0 + 1)
    call.on_response(2, response(486, "c"), T0 + 1)
    call.on_response(1, response(200, "b"), T0 + 2)
    assert step(call) == ["relay 180", "relay 200", "cancel 0"]
    assert not call.settled
    call.on_response(0, response(487, "a"), T0 + 3)
    assert step(call) == ["settled 200"]


def test_a_6xx_ends_the_search() -> None:
    call = proxy(A, B, C, forking="parallel")
    call.start(T0)
    step(call)
    call.on_response(0, response(180, "a"), T0 + 1)
    call.on_response(1, response(603, "b"), T0 + 2)
    assert step(call) == ["relay 180", "cancel 0", "cancel 2"]
    call.on_response(0, response(487, "a"), T0 + 3)
    call.on_response(2, response(487, "c"), T0 + 3)
    assert step(call) == ["relay 603", "settled 603"]


def test_serial_stops_after_a_6xx() -> None:
    call = proxy(A, B)
    call.start(T0)
    step(call)
    call.on_response(0, response(600), T0 + 1)
    assert step(call) == ["relay 600", "settled 600"]
    assert report(call) == [(A, [600], None)]


def test_provisional_timeout_moves_on_and_abandons_the_silent_branch() -> None:
    call = proxy(A, B, provisional_timeout=2.0)
    call.start(T0)
    step(call)
    assert call.next_deadline() == T0 + 2.0
    call.handle_timeout(T0 + 1.9)
    assert step(call) == []
    call.handle_timeout(T0 + 2.0)
    # Its CANCEL goes once it rings (RFC 3261 §9.1); the next is tried now.
    assert step(call) == ["cancel 0", f"send 1 {B}"]
    # A late 180 of the abandoned branch is not relayed; a 2xx would be.
    call.on_response(0, response(180, "a"), T0 + 3)
    assert step(call) == []
    call.on_response(1, response(200, "b"), T0 + 4)
    assert step(call) == ["relay 200", "settled 200"]
    assert report(call)[0] == (A, [180], "no provisional response in time")


def test_final_timeout_cancels_a_ringing_branch_then_tries_the_next() -> None:
    call = proxy(A, B, final_timeout=10.0)
    call.start(T0)
    step(call)
    call.on_response(0, response(180), T0 + 1)
    step(call)
    call.handle_timeout(T0 + 10.0)
    assert step(call) == ["cancel 0"]
    assert call.next_deadline() is not None
    call.on_response(0, response(487), T0 + 10.1)
    assert step(call) == [f"send 1 {B}"]
    assert call.next_deadline() == T0 + 10.1 + 10.0


def test_3xx_contacts_are_followed_when_asked() -> None:
    call = proxy(A, follow_redirects=True)
    call.start(T0)
    step(call)
    call.on_response(0, response(302, contacts=(B, C)), T0 + 1)
    assert step(call) == [f"send 1 {B}"]
    call.on_response(1, response(486), T0 + 2)
    assert step(call) == [f"send 2 {C}"]
    call.on_response(2, response(200), T0 + 3)
    assert step(call) == ["relay 200", "settled 200"]


def test_3xx_relayed_when_not_followed() -> None:
    call = proxy(A)
    call.start(T0)
    step(call)
    call.on_response(0, response(302, contacts=(B,)), T0 + 1)
    assert step(call) == ["relay 302", "settled 302"]


def test_redirects_are_bounded_and_never_loop() -> None:
    call = proxy(A, follow_redirects=True, forking="parallel")
    call.start(T0)
    step(call)
    many = tuple(f"sip:u{n}@192.0.2.50" for n in range(20))
    call.on_response(0, response(302, contacts=(A, *many)), T0 + 1)
    sent = [a for a in call.poll_actions() if isinstance(a, SendBranch)]
    # The destination that redirected is not tried again; the rest up to the bound.
    assert [a.destination for a in sent] == list(many[:MAX_REDIRECT_TARGETS])


def test_caller_cancel_cancels_every_pending_branch() -> None:
    call = proxy(A, B, forking="parallel")
    call.start(T0)
    step(call)
    call.on_response(0, response(180, "a"), T0 + 1)
    step(call)
    call.on_cancel(T0 + 2)
    assert step(call) == ["cancel 0", "cancel 1"]
    call.on_response(0, response(487, "a"), T0 + 3)
    call.on_response(1, response(487, "b"), T0 + 3)
    # The stack answered the caller 487 already: nothing more is relayed.
    assert step(call) == ["settled 487"]
    assert call.final_status == 487


def test_a_branch_not_sent_counts_as_503_sent_as_500() -> None:
    call = proxy(A)
    call.start(T0)
    step(call)
    call.on_branch_failure(0, 503, "not sent: no route", T0)
    assert step(call) == ["relay 500", "settled 500"]
    assert report(call) == [(A, [], "not sent: no route")]


def test_timer_c_cancels_a_branch_that_rings_too_long() -> None:
    call = proxy(A)
    call.start(T0)
    step(call)
    call.on_response(0, response(180), T0 + 10)
    assert step(call) == ["relay 180"]
    # §16.8: reset by each provisional response, over 3 minutes.
    assert call.next_deadline() == T0 + 10 + 185.0
    call.handle_timeout(T0 + 194)
    assert step(call) == []
    call.handle_timeout(T0 + 195)
    assert step(call) == ["cancel 0"]
    call.on_response(0, response(487), T0 + 195.1)
    assert step(call) == ["relay 487", "settled 487"]


def test_timer_c_is_the_configured_one() -> None:
    request = ProxyRequest("tx", (A,))
    call = ProxiedRequest(request, True, T0, 240.0)  # proxy_timer_c = 240
    call.start(T0)
    step(call)
    call.on_response(0, response(183), T0 + 1)
    step(call)
    assert call.next_deadline() == T0 + 1 + 240.0
    call.handle_timeout(T0 + 240)
    assert step(call) == []
    call.handle_timeout(T0 + 241)
    assert step(call) == ["cancel 0"]


def test_non_invite_is_never_cancelled() -> None:
    call = proxy(A, B, forking="parallel", invite=False)
    call.start(T0)
    step(call)
    assert call.next_deadline() is None  # no Timer C
    call.on_response(0, response(200), T0 + 1)
    assert step(call) == ["relay 200"]
    call.on_response(1, response(200, "b"), T0 + 1)
    # Only one final response goes upstream for a non-INVITE.
    assert step(call) == ["settled 200"]
