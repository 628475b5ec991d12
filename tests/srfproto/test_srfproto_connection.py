"""The server's end of a drachtio-srf connection: authenticate first, refusals, closing."""

from __future__ import annotations

import itertools

import pytest

from drachtio.srfproto import (
    Authenticate,
    CloseConnection,
    LocalSrfError,
    MessageReceived,
    MessageRejected,
    Ping,
    ProtocolFailed,
    Route,
    ServerConnection,
    auth_accepted,
    encode_frame,
    failure,
    pong,
    success,
)


def connection() -> ServerConnection:
    counter = itertools.count(1)
    return ServerConnection(new_msg_id=lambda: f"s{next(counter)}")


def frames(*payloads: str) -> bytes:
    return b"".join(encode_frame(p) for p in payloads)


def accepted() -> ServerConnection:
    conn = connection()
    conn.receive_data(frames("a1|authenticate|cymru|blue,green"))
    conn.send(auth_accepted(conn.next_msg_id(), "a1", ["udp/127.0.0.1:5060"], "v0.9.3", []))
    return conn


def test_authenticate_pauses_reading_until_answered() -> None:
    conn = connection()
    events = conn.receive_data(frames("a1|authenticate|cymru|blue,green", "r1|route|invite"))
    assert events == [MessageReceived(Authenticate("a1", "cymru", ("blue", "green")))]
    assert conn.paused and not conn.authenticated
    assert conn.tags == ("blue", "green")
    assert conn.receive_data(frames("p1|ping")) == []
    data = conn.send(auth_accepted("s1", "a1", ["udp/127.0.0.1:5060"], "v0.9.3", []))
    assert data == b"44#s1|response|a1|OK|udp/127.0.0.1:5060|v0.9.3|"
    assert conn.authenticated and not conn.paused
    assert conn.receive_data(b"") == [
        MessageReceived(Route("r1", "invite")),
        MessageReceived(Ping("p1")),
    ]


def test_a_refused_secret_closes_and_nothing_after_it_is_read() -> None:
    conn = connection()
    conn.receive_data(frames("a1|authenticate|wrong|", "r1|route|invite"))
    assert (
        conn.send(failure("s1", "a1", "incorrect secret"))
        == b"35#s1|response|a1|NOK|incorrect secret"
    )
    assert conn.closing and not conn.authenticated
    with pytest.raises(LocalSrfError) as info:
        conn.receive_data(b"")
    assert info.value.code == "connection_closed"


def test_anything_before_authenticate_is_refused_and_closes() -> None:
    conn = connection()
    events = conn.receive_data(frames("r1|route|invite"))
    assert len(events) == 2
    failed, close = events
    assert isinstance(failed, ProtocolFailed)
    assert failed.error.code == "not_authenticated"
    assert failed.data == encode_frame(
        "s1|response|r1|NOK|route before authenticate: authenticate must come first"
    )
    assert close == CloseConnection("route before authenticate: authenticate must come first")
    assert conn.closing


def test_a_malformed_first_message_is_refused_and_closes() -> None:
    conn = connection()
    events = conn.receive_data(frames("a1|authenticate"))
    assert isinstance(events[0], ProtocolFailed)
    assert events[0].error.code == "bad_leader"
    assert events[0].reply is not None and events[0].reply.answers == "a1"
    assert isinstance(events[1], CloseConnection)


def test_a_bad_message_after_authentication_gets_a_nok_and_the_connection_stays() -> None:
    conn = accepted()
    events = conn.receive_data(frames("x1|subscribe|me", "p1|ping"))
    assert len(events) == 2
    rejected, received = events
    assert isinstance(rejected, MessageRejected)
    assert rejected.error.code == "unknown_type"
    assert rejected.reply.answers == "x1" and not rejected.reply.ok
    assert received == MessageReceived(Ping("p1"))
    assert conn.send(pong("s9", "p1")) == b"22#s9|response|p1|OK|pong"
    assert not conn.closing


def test_a_second_authenticate_is_refused() -> None:
    conn = accepted()
    (event,) = conn.receive_data(frames("a2|authenticate|cymru|"))
    assert isinstance(event, MessageRejected)
    assert event.error.code == "already_authenticated"


def test_a_framing_error_closes_without_a_reply() -> None:
    conn = accepted()
    events = conn.receive_data(frames("p1|ping") + b"x#")
    assert events[0] == MessageReceived(Ping("p1"))
    assert isinstance(events[1], ProtocolFailed)
    assert events[1].error.code == "bad_length_prefix"
    assert (events[1].reply, events[1].data) == (None, b"")
    assert isinstance(events[2], CloseConnection)


def test_an_unreadable_leader_closes_without_a_reply() -> None:
    conn = accepted()
    events = conn.receive_data(frames("|ping"))
    assert isinstance(events[0], ProtocolFailed) and events[0].reply is None


def test_bytes_held_while_paused_are_bounded() -> None:
    conn = ServerConnection(max_frame_size=64)
    conn.receive_data(frames("a1|authenticate|s|"))
    assert conn.receive_data(b"60#" + b"x" * 60) == []
    events = conn.receive_data(b"x" * 10)
    assert isinstance(events[0], ProtocolFailed)
    assert events[0].error.code == "frame_too_large"


def test_nothing_but_the_auth_reply_goes_before_acceptance() -> None:
    conn = connection()
    with pytest.raises(LocalSrfError) as info:
        conn.send(success("s1", "r1"))
    assert info.value.code == "not_authenticated"


def test_eof_inside_a_frame_is_reported() -> None:
    conn = accepted()
    conn.receive_data(b"10#abc")
    assert conn.receive_eof() == [
        CloseConnection("client closed the connection inside a frame (3 bytes)")
    ]
    assert accepted().receive_eof() == [CloseConnection("client closed the connection")]
