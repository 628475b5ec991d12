"""The calls' session timers (RFC 4028 §10) and their headers, on a simulated clock.

``now`` is the server's clock, passed in; nothing sleeps.
"""

from __future__ import annotations

import pytest

from drachtio import SipRequest
from drachtio.server.session_timer import (
    REASON_EXPIRED,
    Agreement,
    Expire,
    Refresh,
    UacOffer,
)
from drachtio.server.session_timer.dialogs import (
    Refreshing,
    SessionTimers,
    allows_update,
    sdp_of,
)
from drachtio.server.session_timer.headers import merge_headers, retry_request

T0 = 500.0
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4 RTP/AVP 0\r\n"


def _request(method: str, headers: list[tuple[str, str]], body: str = "") -> SipRequest:
    return SipRequest(method, "sip:peer@127.0.0.1", headers, body.encode())


def _refresher(timers: SessionTimers, *, allows: bool = False) -> None:
    timers.started(
        "d",
        Agreement(90, 90, we_refresh=True),
        T0,
        owns_call_id=False,
        allows_update=allows,
        sdp=("application/sdp", SDP),
    )


@pytest.mark.parametrize("scale", [1.0, 0.01])
def test_s10_deadlines_are_on_the_server_clock_times_the_scale(scale: float) -> None:
    timers = SessionTimers(scale)
    timers.started(
        "d",
        Agreement(90, 90, we_refresh=False),
        T0,
        owns_call_id=False,
        allows_update=False,
        sdp=None,
    )
    expiry = T0 + 60 * scale  # 90 - min(32, 30): 60 s of session time
    assert timers.next_deadline() == pytest.approx(expiry)
    assert timers.due(T0 + 59 * scale) == []
    assert timers.due(expiry) == [("d", Expire(REASON_EXPIRED))]
    assert timers.next_deadline() is None


def test_a_deadline_that_came_is_acted_on_even_when_the_scaled_clock_is_a_hair_short() -> None:
    # 0.1 does not divide exactly: the time of the deadline scaled back may
    # fall just before it; the timer must still fire, not be rearmed at once.
    timers = SessionTimers(0.1)
    timers.started(
        "d",
        Agreement(90, 90, we_refresh=True),
        0.3,
        owns_call_id=False,
        allows_update=True,
        sdp=None,
    )
    at = timers.next_deadline()
    assert at is not None
    assert timers.due(at) == [("d", Refresh())]


def test_s7_4_the_refresh_is_an_update_when_the_peer_allows_it_else_a_reinvite() -> None:
    timers = SessionTimers()
    _refresher(timers, allows=False)
    assert timers.refresh("d") is None  # no refresh asked for yet
    assert timers.due(T0 + 45) == [("d", Refresh())]
    assert timers.refresh("d") == (UacOffer(90, 90, "uac"), "INVITE")
    assert timers.local_sdp("d") == ("application/sdp", SDP)
    timers.peer_allows("d", _request("INVITE", [("Allow", "INVITE, ACK, update")]))
    assert timers.refresh("d") == (UacOffer(90, 90, "uac"), "UPDATE")
    # A message without Allow says nothing new.
    timers.peer_allows("d", _request("INFO", []))
    assert timers.refresh("d") == (UacOffer(90, 90, "uac"), "UPDATE")


def test_the_session_description_last_sent_is_kept() -> None:
    timers = SessionTimers()
    _refresher(timers)
    other = SDP.replace("m=audio 4", "m=audio 6")
    timers.sent_sdp("d", _request("INFO", [("Content-Type", "text/plain")], "hello"))
    assert timers.local_sdp("d") == ("application/sdp", SDP)
    timers.sent_sdp("d", _request("INVITE", [("Content-Type", "application/sdp")], other))
    assert timers.local_sdp("d") == ("application/sdp", other)


def test_s10_our_refresh_answered_2xx_restarts_the_timer() -> None:
    timers = SessionTimers()
    _refresher(timers, allows=True)
    assert timers.due(T0 + 45) == [("d", Refresh())]
    offer, method = timers.refresh("d") or (None, "")
    assert offer is not None
    assert timers.refresh_out("d") is None
    timers.refresh_sent(7, Refreshing("d", offer, method))
    assert timers.refresh_out("d") == "UPDATE"  # a crossing UPDATE gets 491
    assert timers.refresh_answered(7, final=False) == Refreshing("d", offer, method)
    assert timers.refresh_out("d") == "UPDATE"
    assert timers.refresh_answered(7, final=True) == Refreshing("d", offer, method)
    assert timers.refresh_out("d") is None
    assert timers.refresh_answered(7, final=True) is None  # forgotten
    timers.refreshed("d", Agreement(120, 90, we_refresh=True), T0 + 46)
    assert timers.next_deadline() == T0 + 46 + 60
    assert timers.agreement("d") == Agreement(120, 90, we_refresh=True)


def test_s10_our_refresh_answered_491_is_resent_after_the_back_off() -> None:
    timers = SessionTimers(0.01)
    _refresher(timers)
    now = T0 + 45 * 0.01
    assert timers.due(now) == [("d", Refresh())]
    assert timers.refresh_failed("d", 491, now, randint=lambda a, b: b) is None
    # Not the Call-ID's owner: 0 to 2 s, here the most, at the scale.
    at = timers.next_deadline()
    assert at == pytest.approx(now + 2 * 0.01)
    assert timers.due(at) == [("d", Refresh())]


def test_s10_our_refresh_answered_481_ends_the_call() -> None:
    timers = SessionTimers()
    _refresher(timers)
    timers.due(T0 + 45)
    assert timers.refresh_failed("d", 481, T0 + 46) == Expire("session refresh failed: 481")
    assert timers.next_deadline() is None


def test_s7_2_a_2xx_without_session_expires_stops_the_timer_and_a_later_one_starts_it() -> None:
    timers = SessionTimers()
    _refresher(timers)
    timers.refreshed("d", None, T0 + 10)
    assert timers.next_deadline() is None
    assert timers.agreement("d") is None
    timers.started("e", None, T0, owns_call_id=True, allows_update=False, sdp=None)
    assert timers.known("e") and timers.next_deadline() is None
    timers.refreshed("e", Agreement(100, 90, we_refresh=False), T0 + 5)
    assert timers.next_deadline() == T0 + 5 + 100 - 32
    assert timers.dialog_min_se("e") == 90


def test_an_ended_call_has_no_deadline_and_ignores_late_answers() -> None:
    timers = SessionTimers()
    _refresher(timers)
    timers.ended("d")
    assert timers.next_deadline() is None
    assert len(timers) == 0
    timers.refreshed("d", Agreement(90, 90, we_refresh=True), T0 + 1)
    assert timers.next_deadline() is None
    assert timers.refresh_failed("d", 481, T0 + 2) is None
    assert timers.dialog_min_se("d") == 90


def test_sdp_and_allow_are_read_from_the_message() -> None:
    sdp = _request("INVITE", [("Content-Type", "Application/SDP; charset=x")], SDP)
    assert sdp_of(sdp) == ("Application/SDP; charset=x", SDP)
    assert sdp_of(_request("INVITE", [("Content-Type", "application/sdp")])) is None
    assert allows_update(_request("INVITE", [("Allow", "INVITE"), ("Allow", "BYE, UPDATE")]))
    assert not allows_update(_request("INVITE", [("Allow", "INVITE, UPDATES")]))


def test_s7_our_headers_replace_session_expires_and_join_supported() -> None:
    ours = (("Supported", "timer"), ("Session-Expires", "1800"), ("Min-SE", "120"))
    app = {"session-expires": "60", "Supported": "100rel", "X-App": "1", "Min-SE": "90"}
    assert merge_headers(app, ours) == {
        "Supported": ["100rel", "timer"],
        "X-App": "1",
        "Session-Expires": "1800",
        "Min-SE": "120",
    }
    # A tag already listed (in any case, or in the compact form k) is not added again.
    assert merge_headers({"k": "TIMER, path"}, ours[:1]) == {"k": "TIMER, path"}
    # Without headers of ours (timers disabled) the application's stay as they are.
    assert merge_headers(app, ()) == app


def test_s7_3_the_retry_takes_the_cseq_given_and_the_new_offer() -> None:
    request = _request(
        "INVITE",
        [
            ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1"),
            ("From", "<sip:a@127.0.0.1>;tag=1"),
            ("To", "<sip:peer@127.0.0.1>"),
            ("Call-ID", "c1"),
            ("CSeq", "1 INVITE"),
            ("Supported", "timer"),
            ("Session-Expires", "90"),
            ("Content-Type", "application/sdp"),
            ("Content-Length", str(len(SDP))),
        ],
        SDP,
    )
    retry = retry_request(request, UacOffer(150, 150, None, 1).headers, 2)
    assert retry.header_all("Via") == []
    assert retry.header("CSeq") == "2 INVITE"
    assert retry.header_all("Supported") == ["timer"]
    assert retry.header_all("Session-Expires") == ["150"]
    assert retry.min_se == 150
    assert (retry.call_id, retry.body) == ("c1", SDP.encode())
    assert retry.header("From") == "<sip:a@127.0.0.1>;tag=1"
