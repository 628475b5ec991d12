"""Connection: rid matching both ways, the auth-first rule, secrets, closing."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from drachtio.protocol import (
    Auth,
    AuthResult,
    CloseConnection,
    Connection,
    DialogEvent,
    Event,
    Failure,
    LocalProtocolError,
    Ping,
    Pong,
    ProtocolFailed,
    RequestReceived,
    RequestRejected,
    RespondToSipRequest,
    Response,
    ResponseReceived,
    Role,
    Route,
    Sip,
    Success,
    check_secret,
    encode_frame,
)
from drachtio.protocol import Request as Req

SECRETS = ("cymru", "next-secret")
INVITE = {"request_uri": {"method": "INVITE"}, "headers": {}}


def request(rid: str, command: str, data: dict[str, Any] | None = None) -> bytes:
    obj: dict[str, Any] = {"type": "request", "rid": rid, "command": command}
    if data is not None:
        obj["data"] = data
    return encode_frame(obj)


def decode(frame: bytes) -> dict[str, Any]:
    length, _, body = frame.partition(b"#")
    assert int(length) == len(body)
    result: dict[str, Any] = orjson.loads(body)
    return result


def serve_auth(server: Connection, event: Event) -> bytes:
    """What a server does with an auth request: check the secret, answer."""
    assert isinstance(event, RequestReceived)
    auth = event.request.data
    assert isinstance(auth, Auth)
    if check_secret(auth.secret, SECRETS):
        return server.send(Response(event.request.rid, AuthResult(True, ("udp/127.0.0.1:5060",))))
    return server.send(Response(event.request.rid, AuthResult(False, reason="invalid secret")))


def authenticated_pair() -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    [event] = server.receive_data(client.send(Req("a1", Auth("cymru"))))
    [reply] = client.receive_data(serve_auth(server, event))
    assert isinstance(reply, ResponseReceived)
    assert client.authenticated and server.authenticated
    return client, server


# ---------------------------------------------------------------- check_secret


def test_check_secret() -> None:
    assert check_secret("cymru", SECRETS)
    assert check_secret("next-secret", SECRETS)
    assert not check_secret("cymr", SECRETS)
    assert not check_secret("cymru ", SECRETS)
    assert not check_secret("", SECRETS)
    assert not check_secret("cymru", [])
    assert check_secret("clé-ü", ["clé-ü"])
    assert not check_secret("clé-u", ["clé-ü"])


# ---------------------------------------------------------------- auth rule (server)


def test_auth_succeeds_then_commands_flow() -> None:
    client, server = authenticated_pair()
    [event] = server.receive_data(client.send(Req("r1", Route("INVITE"))))
    assert event == RequestReceived(Req("r1", Route("invite")))
    [event] = client.receive_data(server.send(Response("r1", Success())))
    assert event == ResponseReceived(Response("r1", Success()), Req("r1", Route("invite")))
    assert not server.closing and not client.closing


def test_auth_with_the_second_of_several_secrets() -> None:
    server = Connection(Role.SERVER)
    [event] = server.receive_data(request("a", "auth", {"secret": "next-secret", "appName": "x"}))
    assert decode(serve_auth(server, event)) == {
        "type": "response",
        "rid": "a",
        "data": {"authenticated": True, "hostport": ["udp/127.0.0.1:5060"]},
    }
    assert server.authenticated and not server.closing


def test_wrong_secret_is_answered_then_closed() -> None:
    server = Connection(Role.SERVER)
    [event] = server.receive_data(request("a", "auth", {"secret": "wrong"}))
    frame = serve_auth(server, event)
    assert decode(frame) == {
        "type": "response",
        "rid": "a",
        "data": {"authenticated": False, "reason": "invalid secret"},
    }
    assert server.closing and not server.authenticated
    with pytest.raises(LocalProtocolError) as info:
        server.receive_data(request("r", "route", {"verb": "invite"}))
    assert info.value.code == "connection_closed"


def test_client_sees_the_failed_auth_and_closes() -> None:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    [event] = server.receive_data(client.send(Req("a", Auth("wrong"))))
    events = client.receive_data(serve_auth(server, event))
    assert events == [
        ResponseReceived(
            Response("a", AuthResult(False, reason="invalid secret")), Req("a", Auth("wrong"))
        ),
        CloseConnection("authentication failed: invalid secret"),
    ]
    assert client.closing and not client.authenticated


@pytest.mark.parametrize("command", ["route", "ping", "sendSipRequest", "bogus"])
def test_command_before_auth_is_an_error_then_close(command: str) -> None:
    server = Connection(Role.SERVER)
    events = server.receive_data(request("r1", command, {"verb": "invite"}))
    message = f"{command!r} before a successful auth: auth must be the first request"
    assert len(events) == 2
    failed, close = events
    assert isinstance(failed, ProtocolFailed)
    assert (failed.error.code, failed.error.message, failed.error.rid) == (
        "not_authenticated",
        message,
        "r1",
    )
    assert failed.response == Response("r1", Failure(message, "not_authenticated"))
    assert close == CloseConnection(message)
    assert failed.response is not None
    assert decode(server.send(failed.response)) == {
        "type": "response",
        "rid": "r1",
        "data": {"success": False, "reason": message, "error": "not_authenticated"},
    }
    assert server.closing


def send_failure(connection: Connection, events: list[Event]) -> bytes:
    """Send the failure response of the :class:`ProtocolFailed` in ``events``."""
    [failed] = [event for event in events if isinstance(event, ProtocolFailed)]
    assert failed.response is not None
    return connection.send(failed.response)


def test_requests_sent_right_after_auth_wait_for_its_answer() -> None:
    # A client need not wait for the auth response: what it sends after auth
    # is held, unread, until the server has answered the auth.
    server = Connection(Role.SERVER)
    pipelined = (
        request("a", "auth", {"secret": "cymru"})
        + request("r", "route", {"verb": "invite"})
        + request("p", "ping", {})
    )
    [auth] = server.receive_data(pipelined[:-3])
    assert isinstance(auth, RequestReceived) and server.paused
    # More bytes while the auth waits for its answer are held as well.
    assert server.receive_data(pipelined[-3:]) == []
    assert server.unanswered_rids == ["a"]
    serve_auth(server, auth)
    assert server.authenticated and not server.paused
    # Read now, in the order sent, as if they had come after the answer.
    assert server.receive_data(b"") == [
        RequestReceived(Req("r", Route("invite"))),
        RequestReceived(Req("p", Ping())),
    ]
    assert not server.closing


def test_requests_sent_right_after_a_failed_auth_are_never_read() -> None:
    server = Connection(Role.SERVER)
    [auth] = server.receive_data(
        request("a", "auth", {"secret": "wrong"}) + request("s", "sendSipRequest", INVITE)
    )
    assert decode(serve_auth(server, auth))["data"]["authenticated"] is False
    assert server.closing and not server.paused
    assert server.unanswered_rids == []
    with pytest.raises(LocalProtocolError) as info:
        server.receive_data(b"")
    assert info.value.code == "connection_closed"


def test_requests_after_invalid_auth_data_are_never_read() -> None:
    server = Connection(Role.SERVER)
    events = server.receive_data(
        request("a", "auth", {"secret": 42}) + request("r", "route", {"verb": "invite"})
    )
    assert [type(event) for event in events] == [ProtocolFailed, CloseConnection]
    assert server.unanswered_rids == ["a"]
    send_failure(server, events)
    assert server.closing and server.unanswered_rids == []


def test_what_waits_for_the_auth_answer_is_bounded() -> None:
    server = Connection(Role.SERVER, max_frame_size=200)
    [_] = server.receive_data(request("a", "auth", {"secret": "cymru"}))
    route = request("r", "route", {"verb": "invite"})
    held = route * (200 // len(route))
    assert server.receive_data(held) == []
    failed, close = server.receive_data(route)
    assert isinstance(failed, ProtocolFailed) and isinstance(close, CloseConnection)
    assert (failed.error.code, failed.error.message) == (
        "frame_too_large",
        "more than 200 bytes sent after auth before its answer",
    )
    assert failed.response == Response(None, Failure(failed.error.message, "frame_too_large"))
    send_failure(server, [failed])
    assert server.closing


def test_eof_while_the_auth_waits_for_its_answer() -> None:
    server = Connection(Role.SERVER)
    server.receive_data(request("a", "auth", {"secret": "cymru"}) + request("p", "ping"))
    assert server.receive_eof() == [
        CloseConnection("peer closed the connection before its auth was answered")
    ]


def test_invalid_auth_data_is_a_failed_auth() -> None:
    server = Connection(Role.SERVER)
    events = server.receive_data(request("a", "auth", {"secret": 42}))
    failed = events[0]
    assert isinstance(failed, ProtocolFailed)
    assert failed.error.code == "invalid_data"
    assert failed.response == Response(
        "a", AuthResult(False, reason="data.secret: must be a string, got an integer")
    )
    assert events[1] == CloseConnection("data.secret: must be a string, got an integer")


def test_second_auth_is_refused_without_closing() -> None:
    client, server = authenticated_pair()
    [event] = server.receive_data(request("a2", "auth", {"secret": "cymru"}))
    assert isinstance(event, RequestRejected)
    assert event.error.code == "already_authenticated"
    assert event.response == Response(
        "a2", Failure("auth: this connection is already authenticated", "already_authenticated")
    )
    server.send(event.response)
    assert server.authenticated and not server.closing
    with pytest.raises(LocalProtocolError) as info:
        client.send(Req("a2", Auth("cymru")))
    assert info.value.code == "already_authenticated"


def test_server_cannot_send_before_auth() -> None:
    server = Connection(Role.SERVER)
    with pytest.raises(LocalProtocolError) as info:
        server.send(Req("s1", Ping()))
    assert (info.value.code, info.value.message) == (
        "not_authenticated",
        "cannot send 'ping' before auth succeeded",
    )


def test_client_cannot_send_before_auth_succeeds() -> None:
    client = Connection(Role.CLIENT)
    with pytest.raises(LocalProtocolError) as info:
        client.send(Req("r", Route("invite")))
    assert info.value.code == "not_authenticated"
    client.send(Req("a", Auth("cymru")))
    with pytest.raises(LocalProtocolError):
        client.send(Req("r", Route("invite")))


def test_client_refuses_server_requests_before_auth() -> None:
    client = Connection(Role.CLIENT)
    events = client.receive_data(request("s1", "ping", {}))
    assert isinstance(events[0], ProtocolFailed)
    assert events[0].error.code == "not_authenticated"
    assert events[0].error.message == "the server sent 'ping' before authentication completed"


# ---------------------------------------------------------------- rid matching


def test_every_request_gets_one_response_both_ways() -> None:
    client, server = authenticated_pair()
    sip = Req("s1", Sip("t1", INVITE))
    [event] = client.receive_data(server.send(sip))
    assert event == RequestReceived(sip)
    assert server.pending_requests == [sip]
    assert client.unanswered_rids == ["s1"]
    [event] = server.receive_data(client.send(Response("s1", Success())))
    assert event == ResponseReceived(Response("s1", Success()), sip)
    assert server.pending_requests == [] and client.unanswered_rids == []
    # A second response to the same rid: the client refuses to send it ...
    with pytest.raises(LocalProtocolError) as info:
        client.send(Response("s1", Success()))
    assert (info.value.code, info.value.message) == (
        "unknown_rid",
        "no request with rid 's1' is waiting for a response",
    )
    # ... and the server refuses to receive it.
    events = server.receive_data(
        encode_frame({"type": "response", "rid": "s1", "data": {"success": True}})
    )
    assert isinstance(events[0], ProtocolFailed)
    assert (events[0].error.code, events[0].error.message) == (
        "unknown_rid",
        "response to rid 's1', which has no pending request",
    )
    assert events[0].response == Response(
        None, Failure("response to rid 's1', which has no pending request", "unknown_rid")
    )
    assert events[1] == CloseConnection("response to rid 's1', which has no pending request")


def test_responses_may_come_in_any_order() -> None:
    client, server = authenticated_pair()
    data = b"".join(client.send(Req(f"r{n}", Route("invite"))) for n in range(3))
    events = server.receive_data(data)
    assert [e.request.rid for e in events if isinstance(e, RequestReceived)] == ["r0", "r1", "r2"]
    replies = b"".join(server.send(Response(rid, Success())) for rid in ("r2", "r0", "r1"))
    events = client.receive_data(replies)
    assert [e.response.rid for e in events if isinstance(e, ResponseReceived)] == ["r2", "r0", "r1"]
    assert client.pending_requests == []


def test_duplicate_pending_rid_is_fatal() -> None:
    _, server = authenticated_pair()
    events = server.receive_data(
        request("r1", "route", {"verb": "invite"}) + request("r1", "route", {"verb": "bye"})
    )
    assert isinstance(events[0], RequestReceived)
    failed = events[1]
    assert isinstance(failed, ProtocolFailed)
    assert (failed.error.code, failed.error.message) == (
        "duplicate_rid",
        "rid 'r1' is already pending",
    )
    assert failed.response == Response(
        None, Failure("rid 'r1' is already pending", "duplicate_rid")
    )
    assert len(events) == 3


def test_a_rid_may_be_reused_once_answered() -> None:
    client, server = authenticated_pair()
    for _ in range(2):
        [event] = server.receive_data(client.send(Req("same", Ping())))
        assert event == RequestReceived(Req("same", Ping()))
        [reply] = client.receive_data(server.send(Response("same", Pong())))
        assert isinstance(reply, ResponseReceived)
        assert reply.response.data == Pong()


def test_sending_a_pending_rid_again_is_local_misuse() -> None:
    client, _ = authenticated_pair()
    client.send(Req("r", Route("invite")))
    with pytest.raises(LocalProtocolError) as info:
        client.send(Req("r", Route("bye")))
    assert info.value.code == "duplicate_rid"


def test_the_response_kind_must_fit_the_command() -> None:
    client, server = authenticated_pair()
    server.receive_data(client.send(Req("r", RespondToSipRequest("t", 200))))
    with pytest.raises(LocalProtocolError) as info:
        server.send(Response("r", Success()))
    assert (info.value.code, info.value.message) == (
        "bad_response",
        "'respondToSipRequest' is answered with RespondResult or Failure, not Success",
    )
    with pytest.raises(LocalProtocolError) as info:
        server.send(Response("r", Pong()))
    assert info.value.code == "bad_response"
    server.send(Response("r", Failure("busy")))


# ---------------------------------------------------------------- ping


@pytest.mark.parametrize(
    ("data", "result"),
    [
        ({"pong": True}, Pong()),
        # A client written from the original protocol answers every request so.
        ({"success": True}, Success()),
        ({"pong": True, "success": True}, Pong()),
        ({"success": False, "reason": "busy"}, Failure("busy")),
    ],
    ids=["pong", "success", "both", "failure"],
)
def test_any_well_formed_answer_to_a_ping_is_received(
    data: dict[str, Any], result: Pong | Success | Failure
) -> None:
    client, server = authenticated_pair()
    ping = Req("p1", Ping())
    [event] = client.receive_data(server.send(ping))
    assert event == RequestReceived(ping)
    answer = encode_frame({"type": "response", "rid": "p1", "data": data})
    assert server.receive_data(answer) == [ResponseReceived(Response("p1", result), ping)]
    assert not server.closing and server.pending_count == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "data.pong: is required"),
        ({"pong": False}, "data.pong: must be true, got a boolean"),
        ({"pong": False, "success": True}, "data.pong: must be true, got a boolean"),
        ({"success": 1}, "data.pong: is required"),
    ],
)
def test_an_answer_to_a_ping_that_is_neither_is_a_bad_response(
    data: dict[str, Any], message: str
) -> None:
    _, server = authenticated_pair()
    server.send(Req("p1", Ping()))
    events = server.receive_data(encode_frame({"type": "response", "rid": "p1", "data": data}))
    assert isinstance(events[0], ProtocolFailed)
    assert (events[0].error.code, events[0].error.message) == ("bad_response", message)
    send_failure(server, events)
    assert server.closing


def test_a_ping_may_be_answered_with_success() -> None:
    client, server = authenticated_pair()
    server.receive_data(client.send(Req("p", Ping())))
    [event] = client.receive_data(server.send(Response("p", Success())))
    assert event == ResponseReceived(Response("p", Success()), Req("p", Ping()))


def test_a_role_sends_only_its_commands() -> None:
    client, server = authenticated_pair()
    with pytest.raises(LocalProtocolError) as info:
        client.send(Req("x", Sip("t", INVITE)))
    assert info.value.message == "a client does not send 'sip'"
    with pytest.raises(LocalProtocolError) as info:
        server.send(Req("x", Route("invite")))
    assert info.value.message == "a server does not send 'route'"


def test_a_frame_too_large_to_send_leaves_the_state_unchanged() -> None:
    client = Connection(Role.CLIENT, max_frame_size=100)
    with pytest.raises(LocalProtocolError) as info:
        client.send(Req("a", Auth("x" * 100)))
    assert info.value.code == "frame_too_large"
    assert client.pending_requests == []
    client.send(Req("a", Auth("cymru")))
    assert len(client.pending_requests) == 1


# ---------------------------------------------------------------- rejected requests


def test_invalid_command_data_is_an_error_response_not_a_close() -> None:
    _, server = authenticated_pair()
    events = server.receive_data(
        request("r1", "route", {"verb": "in vite"})
        + request("r2", "respondToSipRequest", {"transactionId": "t", "code": 700})
        + request("r3", "dance", {})
        + request("r4", "route", {"verb": "bye"})
    )
    assert [type(e) for e in events] == [
        RequestRejected,
        RequestRejected,
        RequestRejected,
        RequestReceived,
    ]
    first = events[0]
    assert isinstance(first, RequestRejected)
    assert (first.rid, first.command, first.error.code) == ("r1", "route", "invalid_data")
    assert decode(server.send(first.response)) == {
        "type": "response",
        "rid": "r1",
        "data": {
            "success": False,
            "reason": "data.verb: 'in vite' is not a SIP method (an RFC 3261 token)",
            "error": "invalid_data",
        },
    }
    second = events[1]
    assert isinstance(second, RequestRejected)
    assert second.error.message == "data.code: must be an integer from 100 to 699, got 700"
    third = events[2]
    assert isinstance(third, RequestRejected)
    assert third.response == Response("r3", Failure("unknown command 'dance'", "unknown_command"))
    assert not server.closing
    # r1 was answered above.
    assert server.unanswered_rids == ["r2", "r3", "r4"]


def test_server_commands_are_unknown_to_a_server() -> None:
    _, server = authenticated_pair()
    [event] = server.receive_data(request("r", "sip", {"transactionId": "t", "message": INVITE}))
    assert isinstance(event, RequestRejected)
    assert event.error.code == "unknown_command"


def test_client_receives_server_commands() -> None:
    client, server = authenticated_pair()
    events = client.receive_data(
        server.send(Req("d", DialogEvent("dlg", "destroyed", "BYE from caller")))
        + server.send(Req("p", Ping()))
        + request("x", "route", {"verb": "invite"})
    )
    assert events[0] == RequestReceived(
        Req("d", DialogEvent("dlg", "destroyed", "BYE from caller"))
    )
    assert events[1] == RequestReceived(Req("p", Ping()))
    assert isinstance(events[2], RequestRejected)
    client.send(Response("p", Pong()))


# ---------------------------------------------------------------- fatal input


def test_frame_errors_answer_with_a_null_rid_then_close() -> None:
    _, server = authenticated_pair()
    events = server.receive_data(request("r", "ping", {}) + b"5#[1,2]" + request("z", "ping", {}))
    assert isinstance(events[0], RequestReceived)
    failed = events[1]
    assert isinstance(failed, ProtocolFailed)
    message = "frame body is a JSON array, the protocol sends objects only"
    assert failed.response == Response(None, Failure(message, "not_an_object"))
    assert events[2] == CloseConnection(message)
    assert len(events) == 3
    assert failed.response is not None
    assert decode(server.send(failed.response)) == {
        "type": "response",
        "rid": None,
        "data": {"success": False, "reason": message, "error": "not_an_object"},
    }
    # The pending request may still be answered before the transport closes.
    server.send(Response("r", Pong()))


def test_envelope_errors_are_fatal() -> None:
    _, server = authenticated_pair()
    events = server.receive_data(encode_frame({"type": "sip", "msg": {}}))
    assert isinstance(events[0], ProtocolFailed)
    assert (events[0].error.code, events[0].error.message) == (
        "bad_envelope",
        "type: must be 'request' or 'response', got 'sip'",
    )
    _, server = authenticated_pair()
    events = server.receive_data(encode_frame({"type": "request", "command": "ping"}))
    assert isinstance(events[0], ProtocolFailed)
    assert events[0].error.message == "rid: must be a string, got null"


@pytest.mark.parametrize("authenticated", [False, True], ids=["before-auth", "after-auth"])
@pytest.mark.parametrize("rid", ["a\r\nb", "a\nb", "a\x00b"])
def test_a_rid_with_a_line_break_is_a_fatal_envelope_error(authenticated: bool, rid: str) -> None:
    # A response could not carry such a rid: the error has a null rid, and
    # the connection closes.
    if authenticated:
        _, server = authenticated_pair()
    else:
        server = Connection(Role.SERVER)
    frame = {"type": "request", "rid": rid, "command": "auth", "data": {"secret": "x"}}
    events = server.receive_data(encode_frame(frame))
    assert isinstance(events[0], ProtocolFailed)
    assert (events[0].error.code, events[0].error.message) == (
        "bad_envelope",
        "rid: must not contain CR, LF or NUL",
    )
    assert isinstance(events[-1], CloseConnection)
    assert events[0].response is not None and events[0].response.rid is None
    send_failure(server, events)
    assert server.closing


def test_a_peer_error_is_not_answered() -> None:
    client, server = authenticated_pair()
    events = client.receive_data(server.send(Response(None, Failure("oops", "invalid_json"))))
    assert server.closing
    assert isinstance(events[0], ProtocolFailed)
    assert (events[0].error.code, events[0].error.message) == (
        "peer_error",
        "the peer reported a protocol error (invalid_json): oops",
    )
    assert events[0].response is None
    assert events[1] == CloseConnection("the peer reported a protocol error (invalid_json): oops")


def test_invalid_response_data_is_fatal() -> None:
    client, _ = authenticated_pair()
    client.send(Req("r", RespondToSipRequest("t", 200)))
    events = client.receive_data(
        encode_frame({"type": "response", "rid": "r", "data": {"success": True}})
    )
    assert isinstance(events[0], ProtocolFailed)
    assert (events[0].error.code, events[0].error.message) == (
        "bad_response",
        "data.message: is required",
    )


def test_no_requests_after_closing_but_the_final_error_goes_out() -> None:
    _, server = authenticated_pair()
    [failed, _] = server.receive_data(b"x")
    with pytest.raises(LocalProtocolError) as info:
        server.send(Req("s", Ping()))
    assert info.value.code == "connection_closed"
    assert isinstance(failed, ProtocolFailed) and failed.response is not None
    assert decode(server.send(failed.response))["data"] == {
        "success": False,
        "reason": "byte 'x' in the length prefix, expected a digit or '#'",
        "error": "bad_length_prefix",
    }
    assert server.closing
    with pytest.raises(LocalProtocolError) as info:
        server.send(Req("s", Ping()))
    assert info.value.code == "connection_closed"


def test_requests_before_a_duplicate_rid_are_answered_then_the_failure_goes_out() -> None:
    # `ping, ping` in one write: the first is answered, then the failure, with
    # a null rid (the rid is the first ping's, which its answer used), ends it.
    _, server = authenticated_pair()
    ping = request("p", "ping", {})
    first, failed, close = server.receive_data(ping + ping)
    assert first == RequestReceived(Req("p", Ping()))
    assert isinstance(failed, ProtocolFailed) and isinstance(close, CloseConnection)
    assert not server.closing
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"")
    assert decode(server.send(Response("p", Pong()))) == {
        "type": "response",
        "rid": "p",
        "data": {"pong": True},
    }
    assert not server.closing
    assert decode(send_failure(server, [failed])) == {
        "type": "response",
        "rid": None,
        "data": {
            "success": False,
            "reason": "rid 'p' is already pending",
            "error": "duplicate_rid",
        },
    }
    assert server.closing


def test_eof() -> None:
    client, server = authenticated_pair()
    server.receive_data(b"12#{")
    assert server.receive_eof() == [
        CloseConnection("peer closed the connection inside a frame (1 bytes)")
    ]
    assert client.receive_eof() == [CloseConnection("peer closed the connection")]
    assert server.closing and client.closing


def test_byte_at_a_time_session() -> None:
    server = Connection(Role.SERVER)
    # A client that does not wait for the auth response (Connection would).
    data = request("a", "auth", {"secret": "cymru"}) + request("b", "ping", {})
    events: list[Event] = []
    for byte in data:
        events += server.receive_data(bytes([byte]))
    [auth] = events
    serve_auth(server, auth)
    assert server.receive_data(b"") == [RequestReceived(Req("b", Ping()))]


def test_repr_shows_no_secret() -> None:
    client = Connection(Role.CLIENT)
    client.send(Req("a", Auth("cymru")))
    assert "cymru" not in repr(client)
    assert repr(client) == "<Connection client auth=pending sent=1 received=0>"
    assert "cymru" not in repr(client.pending_requests)
