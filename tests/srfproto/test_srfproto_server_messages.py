"""What the server sends a drachtio-srf client: the token positions drachtio-srf reads."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from srfproto_strategies import BODY, MSG_ID, TOKEN

from drachtio.srfproto import (
    UNSOLICITED,
    CdrEvent,
    LocalSrfError,
    RemoteSrfError,
    Reply,
    ServerMessage,
    SipEvent,
    SipMeta,
    auth_accepted,
    failure,
    parse_server_message,
    pong,
    proxy_done,
    proxy_response,
    request_sent,
    response_sent,
    stack_time,
    success,
)

INVITE = "INVITE sip:bob@10.0.0.5 SIP/2.0\r\nSubject: café\r\nContent-Length: 0\r\n\r\n"
META = SipMeta("application", "udp", "10.0.0.5", 5060, "14:03:07.120391")


def leader(message: ServerMessage) -> list[str]:
    return message.to_payload().split("\r\n", 1)[0].split("|")


def test_auth_reply_carries_hostports_version_and_local_hostports() -> None:
    reply = auth_accepted(
        "s1", "c1", ["udp/1.2.3.4:5060", "tcp/1.2.3.4:5060"], "v0.9.3", ["udp/10.0.0.1:5060"]
    )
    assert reply.to_payload() == (
        "s1|response|c1|OK|udp/1.2.3.4:5060,tcp/1.2.3.4:5060|v0.9.3|udp/10.0.0.1:5060"
    )


def test_plain_replies() -> None:
    assert success("s", "c").to_payload() == "s|response|c|OK"
    assert pong("s", "c").to_payload() == "s|response|c|OK|pong"
    assert proxy_done("s", "c").to_payload() == "s|response|c|OK|done"
    assert failure("s", "c", "bad|thing\r\nhere").to_payload() == "s|response|c|NOK|bad thing  here"


def test_request_sent_puts_the_transaction_id_where_drachtio_srf_reads_it() -> None:
    reply = request_sent("s", "c", META, "txn-1", INVITE)
    tokens = leader(reply)[3:]  # drachtio-srf's callback sees the tokens from the status on
    assert tokens[0] == "OK"
    assert tokens[1] == "application"
    assert tokens[2] == str(len(INVITE.encode())) != str(len(INVITE))  # bytes, not characters
    assert (tokens[3], tokens[4], tokens[5], tokens[6]) == ("udp", "10.0.0.5", "5060", META.time)
    assert tokens[7] == "txn-1"
    assert reply.to_payload().endswith("|txn-1|Msg sent:|\r\n" + INVITE)


def test_response_sent_layout() -> None:
    reply = response_sent("s", "c", META, "txn-1", "dlg-1", "SIP/2.0 200 OK\r\n\r\n")
    assert reply.to_payload().split("\r\n", 1)[0].endswith("|txn-1|dlg-1||Msg sent:|")


def test_proxy_response_continues_at_token_12() -> None:
    reply = proxy_response(
        "s", "c", SipMeta("network", "udp", "10.0.0.9", 5070, "t"), "SIP/2.0 486 Busy\r\n\r\n"
    )
    assert leader(reply)[12] == "continue"
    assert reply.continues
    assert not proxy_done("s", "c").continues


def test_sip_event_has_at_least_ten_tokens_and_a_trailing_bar() -> None:
    event = SipEvent(
        "s", SipMeta("network", "udp", "1.2.3.4", 5060, "t"), "txn", "", INVITE, ("10.0.0.1", 5060)
    )
    tokens = leader(event)
    assert tokens[1:] == [
        "sip",
        "network",
        str(len(INVITE.encode())),
        "udp",
        "1.2.3.4",
        "5060",
        "t",
        "txn",
        "",
        "10.0.0.1",
        "5060",
        "",
    ]
    bye = SipEvent("s", META, UNSOLICITED, "dlg", "BYE sip:a@b SIP/2.0\r\n\r\n")
    assert leader(bye)[8:] == ["unsolicited", "dlg", ""]


def test_cdr_layouts() -> None:
    assert (
        CdrEvent("s", "attempt", "network", "t", INVITE).to_payload()
        == f"s|cdr:attempt|network|t\r\n{INVITE}"
    )
    assert (
        CdrEvent("s", "start", "application", "t", INVITE, "uas")
        .to_payload()
        .startswith("s|cdr:start|application|t|uas\r\n")
    )
    assert (
        CdrEvent("s", "stop", "network", "t", INVITE, "normal-release")
        .to_payload()
        .startswith("s|cdr:stop|network|t|normal-release\r\n")
    )


def test_stack_time_is_utc_time_of_day_with_microseconds() -> None:
    now = calendar.timegm((2026, 1, 2, 14, 3, 7)) + 0.120391
    assert stack_time(now) == "14:03:07.120391"
    assert stack_time(59.9999996) == "00:01:00.000000"
    # Within one second and across seconds, in any order (the clock text is kept).
    assert [stack_time(t) for t in (61.25, 61.5, 62.0, 61.75, 3599.999999)] == [
        "00:01:01.250000",
        "00:01:01.500000",
        "00:01:02.000000",
        "00:01:01.750000",
        "00:59:59.999999",
    ]


_meta = st.builds(
    SipMeta,
    st.sampled_from(["network", "application"]),
    TOKEN,
    TOKEN,
    st.integers(0, 65535),
    TOKEN,
)
_server_messages: st.SearchStrategy[ServerMessage] = st.one_of(
    st.builds(
        Reply,
        MSG_ID,
        MSG_ID,
        st.booleans(),
        st.lists(TOKEN, max_size=12).map(tuple),
        st.one_of(st.none(), BODY),
    ),
    st.builds(
        SipEvent,
        MSG_ID,
        _meta,
        TOKEN,
        TOKEN,
        BODY,
        st.one_of(st.none(), st.tuples(TOKEN, st.integers(0, 65535))),
    ),
    st.builds(
        CdrEvent,
        MSG_ID,
        st.just("start"),
        st.sampled_from(["network", "application"]),
        TOKEN,
        BODY,
        TOKEN,
    ),
    st.builds(CdrEvent, MSG_ID, st.just("attempt"), st.just("network"), TOKEN, BODY),
)


@given(_server_messages)
def test_round_trip(message: ServerMessage) -> None:
    assert parse_server_message(message.to_payload()) == message


def test_a_no_status_from_upstream_reads_as_a_failure() -> None:
    reply = parse_server_message("s|response|c|NO|incorrect secret")
    assert isinstance(reply, Reply)
    assert (reply.ok, reply.reason) == (False, "incorrect secret")


@pytest.mark.parametrize(
    ("payload", "code", "text"),
    [
        ("s|response|c", "bad_leader", "response: no msgId answered or no status"),
        ("s|response||OK", "bad_leader", "response: no msgId answered"),
        ("s|response|c|MAYBE", "bad_token", "response: status 'MAYBE'"),
        ("s|sip|network|1|udp|a|1|t|x|d\r\nX", "bad_leader", "sip: 10 tokens, expected 11 or 13"),
        ("s|sip|network|1|udp|a|1|t|x|d|z\r\nX", "bad_leader", "ending with an empty one"),
        ("s|sip|network|1|udp|a|1|t|x|d|", "missing_sip_message", "sip: no SIP message"),
        ("s|sip|peer|1|udp|a|1|t|x|d|\r\nX", "bad_token", "source 'peer'"),
        ("s|sip|network|1|udp|a|99999|t|x|d|\r\nX", "bad_token", "port '99999'"),
        ("s|sip|network|1|udp|a|1|t|x|d|b|http|\r\nX", "bad_token", "port 'http'"),
        ("s|cdr:end|network|t\r\nX", "unknown_type", "unknown CDR kind 'end'"),
        ("s|cdr:start|network|t\r\nX", "bad_leader", "cdr:start: 4 tokens, expected 5"),
        ("s|cdr:attempt|network|t", "missing_sip_message", "cdr:attempt: no SIP message"),
        ("s|event|x", "unknown_type", "unknown message type 'event'"),
    ],
)
def test_malformed_server_messages_are_refused_precisely(
    payload: str, code: str, text: str
) -> None:
    with pytest.raises(RemoteSrfError) as info:
        parse_server_message(payload)
    assert info.value.code == code
    assert text in info.value.message


def test_tokens_that_cannot_be_expressed_are_refused_locally() -> None:
    """Checked as the payload is made, the culprit named by its place in the leader."""
    reply = request_sent("s", "c", SipMeta("network", "udp", "a|b", 1, "t"), "x", INVITE)
    with pytest.raises(LocalSrfError) as info:
        reply.to_payload()
    assert info.value.message == "token 7 'a|b' holds '|': not expressible"
    with pytest.raises(LocalSrfError) as info:
        SipEvent("s", META, "t\r\n", "", INVITE).to_payload()
    assert info.value.message.startswith("token 8 't\\r\\n' holds '\\r'")
