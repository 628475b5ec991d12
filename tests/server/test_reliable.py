"""Reliable provisional responses as UAS (RFC 3262 §3): the bookkeeping, without I/O."""

from __future__ import annotations

import random

import pytest

from drachtio import SipRequest, SipResponse
from drachtio.server.reliable import ReliableResponses


def _invite(*headers: tuple[str, str]) -> SipRequest:
    return SipRequest(
        "INVITE",
        "sip:uas@127.0.0.1",
        [
            ("From", "<sip:uac@127.0.0.1>;tag=f1"),
            ("To", "<sip:uas@127.0.0.1>"),
            ("Call-ID", "c1"),
            ("CSeq", "5 INVITE"),
            *headers,
        ],
        b"",
    )


def _response(status: int, rseq: int | None = None) -> SipResponse:
    headers = [] if rseq is None else [("RSeq", str(rseq))]
    return SipResponse(status, None, headers)


def _prack(rack: str, to_tag: str = "t1", from_tag: str = "f1") -> SipRequest:
    return SipRequest(
        "PRACK",
        "sip:uas@127.0.0.1",
        [
            ("From", f"<sip:uac@127.0.0.1>;tag={from_tag}"),
            ("To", f"<sip:uas@127.0.0.1>;tag={to_tag}"),
            ("Call-ID", "c1"),
            ("CSeq", "6 PRACK"),
            ("RAck", rack),
        ],
        b"",
    )


@pytest.mark.parametrize(
    ("request_headers", "code", "app", "expected"),
    [
        ((("Require", "100rel"),), 183, {}, "reliable"),  # the caller requires it
        ((("Supported", "100rel"),), 180, {"Require": "100rel"}, "reliable"),
        ((("Supported", "100rel"),), 180, {}, "unreliable"),  # the app did not ask
        ((), 180, {"require": "100REL"}, "unreliable"),  # the caller could not PRACK it
        ((("Require", "100rel"),), 100, {}, "unreliable"),  # 100 is hop by hop
        ((("Require", "100rel"),), 200, {}, "unreliable"),
    ],
)
def test_s3_which_provisional_responses_are_reliable(
    request_headers: tuple[tuple[str, str], ...],
    code: int,
    app: dict[str, str],
    expected: str,
) -> None:
    assert ReliableResponses.reliability(_invite(*request_headers), code, dict(app)) == expected


def test_s3_require_carries_100rel_exactly_when_reliable() -> None:
    app = {"require": "100rel, foo", "X": "1"}
    assert ReliableResponses.headers(app, "unreliable") == {"require": "foo", "X": "1"}
    assert ReliableResponses.headers({"X": "1"}, "reliable") == {"X": "1", "Require": "100rel"}


def test_s7_1_rseq_starts_at_random_and_counts_up_per_invite() -> None:
    reliable = ReliableResponses(random.Random(4))
    first = reliable.next_rseq(1, _invite(), "t1")
    assert 1 <= first <= 2**31 - 1
    assert reliable.next_rseq(1, _invite(), "t1") == first + 1


def test_s3_the_2xx_and_the_next_reliable_1xx_wait_for_the_prack() -> None:
    reliable = ReliableResponses(random.Random(1))
    rseq = reliable.next_rseq(9, _invite(), "t1")
    assert reliable.hold_or_send(9, _response(183, rseq))
    assert reliable.hold_or_send(9, _response(180))  # unreliable ones still go out
    second = _response(183, rseq + 1)
    ok = _response(200)
    assert not reliable.hold_or_send(9, second)
    assert not reliable.hold_or_send(9, ok)
    # A PRACK for another RSeq, CSeq, dialog or method acknowledges nothing.
    assert reliable.match(_prack(f"{rseq + 1} 5 INVITE")) is None
    assert reliable.match(_prack(f"{rseq} 4 INVITE")) is None
    assert reliable.match(_prack(f"{rseq} 5 INVITE", to_tag="other")) is None
    assert reliable.match(_prack(f"{rseq} 5 INVITE", from_tag="other")) is None
    assert reliable.match(_prack(f"{rseq} 5 BYE")) is None
    assert reliable.match(_prack(f"{rseq} 5 INVITE")) == (9, rseq)
    # The PRACK releases the next reliable one, which is awaited in turn.
    assert reliable.pracked(9) == [second]
    assert reliable.match(_prack(f"{rseq + 1} 5 INVITE")) == (9, rseq + 1)
    assert reliable.pracked(9) == [ok]
    assert reliable.forget(9) == []
    assert len(reliable) == 0
    assert reliable.match(_prack(f"{rseq + 1} 5 INVITE")) is None


def test_s3_a_failure_response_is_not_held_and_drops_what_was() -> None:
    reliable = ReliableResponses()
    rseq = reliable.next_rseq(3, _invite(), "t1")
    assert reliable.hold_or_send(3, _response(183, rseq))
    ok = _response(200)
    assert not reliable.hold_or_send(3, ok)
    assert reliable.hold_or_send(3, _response(486))
    assert reliable.forget(3) == [ok]


def test_an_invite_without_reliable_responses_is_not_tracked() -> None:
    reliable = ReliableResponses()
    assert reliable.hold_or_send(5, _response(200))
    assert reliable.pracked(5) == []
    assert reliable.forget(5) == []
