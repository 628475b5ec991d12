"""Session-timer negotiation (RFC 4028 §7, §9) over real messages of the core.

Requests and responses are built with :class:`drachtio.SipRequest` /
:class:`drachtio.SipResponse`; the headers a decision produces are put into
a message and read back through the core's views, so what would go on the
wire is what is checked.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drachtio import ParseError, SipRequest, SipResponse
from drachtio.server import ConfigError
from drachtio.server.session_timer import (
    Accept,
    Agreement,
    Reject,
    SessionTimerConfig,
    UacOffer,
    answer_request,
    process_2xx,
    retry_after_422,
)

DEFAULT = SessionTimerConfig()


def invite(*headers: tuple[str, str], method: str = "INVITE") -> SipRequest:
    return SipRequest(method, "sip:bob@example.com", list(headers))


def ok(headers: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> SipResponse:
    return SipResponse(200, None, list(headers))


def accepted(result: Accept | Reject) -> Agreement:
    assert isinstance(result, Accept), result
    assert result.agreement is not None
    return result.agreement


# ------------------------------------------------------------------ config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_se": 89}, "min_se: must be at least 90"),
        ({"session_expires": 100, "min_se": 120}, "session_expires: must be at least min_se"),
        ({"refresher": "both"}, "session_refresher: must be uac or uas"),
        ({"max_422_retries": -1}, "max_422_retries: must be 0 or more"),
        ({"session_expires": 1 << 32}, "session_expires: must fit in 32 bits"),
        ({"session_expires": 1800.0}, "session_expires: must be an integer"),
        ({"enabled": "yes"}, "session_timer: must be true or false"),
    ],
)
def test_s5_config_is_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SessionTimerConfig(**kwargs)  # type: ignore[arg-type]


def test_agreement_refuses_an_interval_below_min_se() -> None:
    with pytest.raises(ValueError, match="below min_se"):
        Agreement(100, 120, we_refresh=True)
    with pytest.raises(ValueError, match="below 90"):
        Agreement(100, 89, we_refresh=True)


# ------------------------------------------------------------ UAS (§9)


def test_s9_uac_with_timer_below_our_min_gets_422_with_min_se() -> None:
    config = SessionTimerConfig(min_se=300)
    result = answer_request(invite(("Supported", "timer"), ("Session-Expires", "120")), config)
    assert result == Reject(422, "Session Interval Too Small", (("Min-SE", "300"),))
    response = SipResponse(result.status, result.reason, list(result.headers))
    assert response.min_se == 300


def test_s9_422_min_se_is_the_largest_floor_known() -> None:
    request = invite(("Supported", "timer"), ("Session-Expires", "150"), ("Min-SE", "200"))
    assert answer_request(request, SessionTimerConfig(min_se=120)) == Reject(
        422, "Session Interval Too Small", (("Min-SE", "200"),)
    )
    request = invite(("Supported", "timer"), ("Session-Expires", "400"))
    result = answer_request(request, DEFAULT, dialog_min_se=500)
    assert isinstance(result, Reject) and result.headers == (("Min-SE", "500"),)


def test_errata_1687_uac_without_timer_below_our_min_is_raised_not_rejected() -> None:
    # A proxy asked for 100 s on behalf of a UAC that knows nothing of
    # timers: a 422 would fail the call, so the 2xx states our minimum.
    config = SessionTimerConfig(min_se=300)
    result = answer_request(invite(("Session-Expires", "100")), config)
    assert result == Accept(
        Agreement(300, 300, we_refresh=True),
        (("Session-Expires", "300;refresher=uas"), ("Supported", "timer")),
    )


def test_s9_interval_may_be_lowered_to_ours_never_below_the_floor() -> None:
    request = invite(("Supported", "timer"), ("Session-Expires", "7200"))
    assert accepted(answer_request(request, DEFAULT)).interval == 1800
    # The request's Min-SE is above our preferred interval: it wins.
    request = invite(("Supported", "timer"), ("Session-Expires", "7200"), ("Min-SE", "3600"))
    agreement = accepted(answer_request(request, DEFAULT))
    assert (agreement.interval, agreement.min_se) == (3600, 3600)


def test_s9_an_acceptable_interval_is_never_increased() -> None:
    request = invite(("Supported", "timer"), ("Session-Expires", "600"))
    assert accepted(answer_request(request, DEFAULT)).interval == 600


@pytest.mark.parametrize(
    ("supported", "asked", "default", "answered"),
    [
        # §9's table: UAC supports timer? refresher in request -> in response.
        (False, None, "uac", "uas"),
        (False, "uac", "uac", "uas"),
        (True, None, "uac", "uac"),
        (True, None, "uas", "uas"),
        (True, "uac", "uas", "uac"),
        (True, "uas", "uac", "uas"),
    ],
)
def test_s9_refresher_table(
    supported: bool, asked: str | None, default: str, answered: str
) -> None:
    headers = [("Session-Expires", "1800" if asked is None else f"1800;refresher={asked}")]
    if supported:
        headers.append(("Supported", "timer"))
    config = SessionTimerConfig(refresher=default)  # type: ignore[arg-type]
    result = answer_request(invite(*headers), config)
    assert isinstance(result, Accept) and result.agreement is not None
    assert result.agreement.we_refresh == (answered == "uas")
    session_expires = ok(result.headers).session_expires
    assert session_expires is not None and session_expires.refresher == answered


def test_s9_require_timer_only_when_the_uac_supports_it() -> None:
    with_timer = answer_request(invite(("Supported", "timer"), ("Session-Expires", "900")), DEFAULT)
    without = answer_request(invite(("Session-Expires", "900")), DEFAULT)
    assert isinstance(with_timer, Accept) and isinstance(without, Accept)
    assert ok(with_timer.headers).require == ["timer"]
    assert ok(without.headers).require == []
    assert ok(with_timer.headers).supported == ok(without.headers).supported == ["timer"]


def test_s9_uac_supporting_timer_without_asking_gets_our_interval() -> None:
    # Erratum 632: Supported: timer without Session-Expires is the UAC
    # offering support; the UAS may ask for a timer in its 2xx.
    request = invite(("Supported", "timer"), ("Min-SE", "120"))
    assert accepted(answer_request(request, DEFAULT)) == Agreement(1800, 120, we_refresh=False)


def test_s9_no_timer_support_and_no_session_expires_the_uas_refreshes() -> None:
    assert accepted(answer_request(invite(), DEFAULT)) == Agreement(1800, 90, we_refresh=True)


def test_s9_require_timer_counts_as_support_and_compact_forms_are_read() -> None:
    request = invite(("Require", "timer"), ("x", "100"))
    assert answer_request(request, SessionTimerConfig(min_se=120)) == Reject(
        422, "Session Interval Too Small", (("Min-SE", "120"),)
    )
    request = invite(("k", "100rel, timer"), ("x", "1000;refresher=uas"))
    assert accepted(answer_request(request, DEFAULT)) == Agreement(1000, 90, we_refresh=True)


def test_s9_an_update_refresh_keeps_the_dialog_min_se() -> None:
    request = invite(("Supported", "timer"), ("Session-Expires", "1800"), method="UPDATE")
    agreement = accepted(answer_request(request, DEFAULT, dialog_min_se=600))
    assert (agreement.interval, agreement.min_se) == (1800, 600)


def test_disabled_adds_nothing_and_sets_up_no_timer() -> None:
    config = SessionTimerConfig(enabled=False)
    request = invite(("Supported", "timer"), ("Session-Expires", "30"))
    assert answer_request(request, config) == Accept(None, ())
    assert UacOffer.initial(config) is None


@pytest.mark.parametrize(
    ("header", "value", "reason"),
    [
        ("Session-Expires", "soon", "Malformed Session-Expires header: expected delta-seconds"),
        (
            "Session-Expires",
            "1800;refresher=both",
            "Malformed Session-Expires header: refresher must be uac or uas",
        ),
        ("Min-SE", "-1", "Malformed Min-SE header: expected delta-seconds"),
        ("Supported", "tim er", "Malformed Supported or Require header: option-tag is not a token"),
    ],
)
def test_malformed_headers_are_answered_400_naming_them(
    header: str, value: str, reason: str
) -> None:
    assert answer_request(invite((header, value)), DEFAULT) == Reject(400, reason)


# ------------------------------------------------------------ UAC (§7)


def test_s7_1_initial_offer_headers() -> None:
    offer = UacOffer.initial(DEFAULT)
    assert offer is not None
    request = invite(*offer.headers)
    assert request.supported == ["timer"]
    assert request.session_expires is not None
    assert (request.session_expires.delta, request.session_expires.refresher) == (1800, None)
    assert request.min_se is None  # 90 is what its absence means (§5)
    offer = UacOffer.initial(SessionTimerConfig(min_se=120))
    assert offer is not None and invite(*offer.headers).min_se == 120


@pytest.mark.parametrize(("we_refresh", "refresher"), [(True, "uac"), (False, "uas")])
def test_s7_4_a_refresh_names_the_current_refresher_and_min_se(
    we_refresh: bool, refresher: str
) -> None:
    request = invite(*UacOffer.refresh(Agreement(900, 300, we_refresh)).headers)
    assert str(request.session_expires) == f"900;refresher={refresher}"
    assert request.min_se == 300


@pytest.mark.parametrize(("refresher", "we_refresh"), [("uac", True), ("uas", False)])
def test_s7_2_the_2xx_says_who_refreshes(refresher: str, we_refresh: bool) -> None:
    offer = UacOffer(1800, 90)
    response = ok([("Require", "timer"), ("Session-Expires", f"1200;refresher={refresher}")])
    assert process_2xx(response, offer) == Agreement(1200, 90, we_refresh)


def test_s7_2_a_2xx_without_session_expires_means_no_timer() -> None:
    assert process_2xx(ok([]), UacOffer(1800, 90)) is None


def test_s7_2_a_2xx_without_refresher_leaves_the_refreshing_to_us() -> None:
    assert process_2xx(ok([("Session-Expires", "1200")]), UacOffer(1800, 90)) == Agreement(
        1200, 90, we_refresh=True
    )


def test_s7_2_an_interval_below_our_min_se_is_raised_to_it() -> None:
    response = ok([("Session-Expires", "30;refresher=uas")])
    assert process_2xx(response, UacOffer(1800, 300)) == Agreement(300, 300, we_refresh=False)


def test_s7_2_a_malformed_session_expires_raises() -> None:
    with pytest.raises(ParseError, match="expected delta-seconds"):
        process_2xx(ok([("Session-Expires", "x")]), UacOffer(1800, 90))


def test_s7_3_retries_take_the_largest_min_se_and_stop_after_the_limit() -> None:
    config = SessionTimerConfig(session_expires=100)
    offer = UacOffer.initial(config)
    assert offer is not None
    offer = retry_after_422(offer, SipResponse(422, None, [("Min-SE", "300")]), config)
    assert offer == UacOffer(300, 300, None, retries=1)
    offer = retry_after_422(offer, SipResponse(422, None, [("Min-SE", "600")]), config)
    assert offer == UacOffer(600, 600, None, retries=2)
    request = invite(*offer.headers)
    assert (request.min_se, request.session_expires and request.session_expires.delta) == (600, 600)
    assert retry_after_422(offer, SipResponse(422, None, [("Min-SE", "900")]), config) is None


@pytest.mark.parametrize(
    "headers",
    [
        [],  # §6 requires Min-SE in a 422
        [("Min-SE", "many")],
        [("Min-SE", "1800")],  # asks for no more than was offered
    ],
)
def test_s7_3_no_retry_when_the_422_gives_nothing_to_retry_with(
    headers: list[tuple[str, str]],
) -> None:
    assert retry_after_422(UacOffer(1800, 90), SipResponse(422, None, headers), DEFAULT) is None


# ------------------------------------------------------------ properties

configs = st.builds(
    lambda min_se, extra, refresher, enabled: SessionTimerConfig(
        enabled=enabled,
        session_expires=min_se + extra,
        min_se=min_se,
        refresher=refresher,
    ),
    st.integers(90, 100_000),
    st.integers(0, 100_000),
    st.sampled_from(["uac", "uas"]),
    st.just(True),
)
deltas = st.integers(0, 0xFFFF_FFFF)


@settings(deadline=None)  # a loaded machine must not fail it
@given(
    config=configs,
    delta=st.none() | deltas,
    min_se=st.none() | deltas,
    dialog_min_se=st.integers(90, 10_000),
    timer=st.booleans(),
    refresher=st.sampled_from(["", ";refresher=uac", ";refresher=uas"]),
)
def test_property_s9_the_interval_is_never_below_any_min_se(
    config: SessionTimerConfig,
    delta: int | None,
    min_se: int | None,
    dialog_min_se: int,
    timer: bool,
    refresher: str,
) -> None:
    headers: list[tuple[str, str]] = []
    if delta is not None:
        headers.append(("Session-Expires", f"{delta}{refresher}"))
    if min_se is not None:
        headers.append(("Min-SE", str(min_se)))
    if timer:
        headers.append(("Supported", "timer"))
    result = answer_request(invite(*headers), config, dialog_min_se=dialog_min_se)
    floor = max(config.min_se, min_se or 90, dialog_min_se)
    if isinstance(result, Reject):
        assert result.status == 422 and timer and delta is not None and delta < floor
        return
    agreement = accepted(result)
    assert agreement.min_se == floor  # never decreased below any known Min-SE
    assert agreement.interval >= agreement.min_se
    stated = ok(result.headers).session_expires
    assert stated is not None and stated.delta == agreement.interval


@settings(deadline=None)  # a loaded machine must not fail it
@given(
    config=configs,
    mins=st.lists(st.integers(90, 0xFFFF_FFFF), max_size=6),
)
def test_property_s7_3_min_se_is_never_decreased_by_422s(
    config: SessionTimerConfig, mins: list[int]
) -> None:
    offer = UacOffer.initial(config)
    assert offer is not None
    for received in mins:
        retry = retry_after_422(offer, SipResponse(422, None, [("Min-SE", str(received))]), config)
        if retry is None:
            assert offer.retries == config.max_422_retries or received <= offer.interval
            continue
        assert retry.min_se >= offer.min_se and retry.min_se >= received
        assert retry.interval >= retry.min_se
        offer = retry


@settings(deadline=None)  # a loaded machine must not fail it
@given(uac=configs, uas=configs)
def test_property_our_uac_and_our_uas_agree_within_one_422(
    uac: SessionTimerConfig, uas: SessionTimerConfig
) -> None:
    offer = UacOffer.initial(uac)
    assert offer is not None
    result = answer_request(invite(*offer.headers), uas)
    if isinstance(result, Reject):
        retry = retry_after_422(offer, SipResponse(422, None, list(result.headers)), uac)
        assert retry is not None
        offer = retry
        result = answer_request(invite(*offer.headers), uas)
    theirs = accepted(result)
    ours = process_2xx(ok(result.headers), offer)
    assert ours is not None
    assert ours.interval == theirs.interval
    assert ours.we_refresh != theirs.we_refresh  # exactly one side refreshes
