"""Each command's and response's validation, good and bad, with the exact errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from drachtio import parse
from drachtio.protocol import (
    CLIENT_COMMANDS,
    SERVER_COMMANDS,
    Auth,
    AuthResult,
    Cancel,
    CancelSipRequest,
    DialogEvent,
    Failure,
    LocalProtocolError,
    Ping,
    Pong,
    RemoteProtocolError,
    Request,
    RespondResult,
    RespondToSipRequest,
    Response,
    Route,
    SendResult,
    SendSipRequest,
    Sip,
    Source,
    Success,
    Unroute,
    encode_frame,
    new_rid,
    parse_command,
    parse_request,
    parse_response,
    response_types,
)

INVITE = {
    "request_uri": {"method": "INVITE", "version": "SIP/2.0", "url": "sip:bob@example.com"},
    "headers": {"call_id": "abc"},
}
OK = {"status_line": {"version": "SIP/2.0", "status_code": 200, "reason": "OK"}, "headers": {}}


def bad(command: str, data: dict[str, Any], message: str, path: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_command(command, data, rid="r7")
    error = info.value
    assert (error.code, error.message, error.path, error.rid, error.fatal) == (
        "invalid_data",
        message,
        path,
        "r7",
        False,
    )


# ---------------------------------------------------------------- auth


def test_auth() -> None:
    assert parse_command("auth", {"secret": "cymru"}) == Auth("cymru")
    assert parse_command("auth", {"secret": "s", "appName": "pbx", "extra": 1}) == Auth("s", "pbx")
    assert Auth("s", "pbx").to_json() == {"secret": "s", "appName": "pbx"}
    assert Auth("s").to_json() == {"secret": "s"}
    bad("auth", {}, "data.secret: is required", "data.secret")
    bad("auth", {"secret": 12}, "data.secret: must be a string, got an integer", "data.secret")
    bad("auth", {"secret": "s", "appName": ""}, "data.appName: must not be empty", "data.appName")
    bad(
        "auth",
        {"secret": "s", "appName": ["x"]},
        "data.appName: must be a string, got an array",
        "data.appName",
    )


def test_auth_tags() -> None:
    data = {"secret": "s", "tags": ["green", "eu-west.1"]}
    assert parse_command("auth", data) == Auth("s", None, ("green", "eu-west.1"))
    assert Auth("s", None, ("green",)).to_json() == {"secret": "s", "tags": ["green"]}
    assert parse_command("auth", {"secret": "s", "tags": []}) == Auth("s")
    bad(
        "auth",
        {"secret": "s", "tags": "green"},
        "data.tags: must be a list of tags, got a string",
        "data.tags",
    )
    for tag in ("", "a,b", "a|b", "a\r\nVia: x"):
        what = f"data.tags[1]: {tag!r} is not a tag: empty, or holds ',', '|' or CR/LF"
        bad("auth", {"secret": "s", "tags": ["ok", tag]}, what, "data.tags[1]")
    bad(
        "auth",
        {"secret": "s", "tags": [3]},
        "data.tags[0]: must be a string, got an integer",
        "data.tags[0]",
    )
    with pytest.raises(LocalProtocolError, match=r"data\.tags\[0\]"):
        Auth("s", None, ("a,b",))


def test_auth_hides_the_secret() -> None:
    auth = Auth("cymru-Very-Secret", app_name="pbx")
    request = Request("r1", auth)
    for text in (repr(auth), str(auth), repr(request), str(request)):
        assert "cymru-Very-Secret" not in text
    assert repr(auth) == "Auth(app_name='pbx', tags=())"
    assert auth.secret == "cymru-Very-Secret"


def test_errors_never_echo_a_secret() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_request({"type": "request", "rid": "1", "command": "auth", "data": ["cymru"]})
    assert "cymru" not in info.value.message
    assert info.value.message == "data: must be an object, got an array"


# ---------------------------------------------------------------- route / unroute


@pytest.mark.parametrize("cls", [Route, Unroute])
def test_route_verbs_are_tokens_case_insensitive_for_standard_methods_only(
    cls: type[Route] | type[Unroute],
) -> None:
    command = cls.COMMAND
    assert parse_command(command, {"verb": "invite"}) == cls("invite")
    assert parse_command(command, {"verb": "INVITE"}) == cls("invite")
    assert parse_command(command, {"verb": "Subscribe"}).to_json() == {"verb": "subscribe"}
    route = cls("MESSAGE")
    assert (route.verb, route.method) == ("message", "MESSAGE")
    # Extension methods are tokens too, and case-sensitive as on the wire
    # (RFC 3261 §7.1): each spelling is a method of its own.
    assert cls("x-custom.1").method == "x-custom.1"
    mixed = parse_command(command, {"verb": "FooBar"})
    assert (mixed.method, mixed.to_json()) == ("FooBar", {"verb": "FooBar"})
    assert cls("FOOBAR").method == "FOOBAR"
    bad(command, {}, "data.verb: is required", "data.verb")
    bad(command, {"verb": ""}, "data.verb: must not be empty", "data.verb")
    bad(command, {"verb": 1}, "data.verb: must be a string, got an integer", "data.verb")
    bad(
        command,
        {"verb": "in vite"},
        "data.verb: 'in vite' is not a SIP method (an RFC 3261 token)",
        "data.verb",
    )
    bad(
        command,
        {"verb": "invite\r\n"},
        "data.verb: must not contain CR, LF or NUL",
        "data.verb",
    )
    bad(
        command,
        {"verb": "ack"},
        "data.verb: 'ack' cannot be routed: CANCEL reaches the client as a 'cancel' request "
        "and ACK within its dialog",
        "data.verb",
    )
    with pytest.raises(LocalProtocolError) as info:
        cls("CANCEL")
    assert info.value.code == "invalid_data"


# ---------------------------------------------------------------- respondToSipRequest


def test_respond_to_sip_request() -> None:
    message = parse_command(
        "respondToSipRequest",
        {
            "transactionId": "t1",
            "code": 180,
            "status": "Ringing",
            "opts": {
                "headers": {"User-Agent": "x", "X-Tag": ["a", "b"], "c": "application/sdp"},
                "body": "v=0\r\n",
            },
        },
    )
    assert message == RespondToSipRequest(
        "t1",
        180,
        "Ringing",
        {"User-Agent": "x", "X-Tag": ["a", "b"], "c": "application/sdp"},
        "v=0\r\n",
    )
    assert parse_command("respondToSipRequest", {"transactionId": "t", "code": 200}).to_json() == {
        "transactionId": "t",
        "code": 200,
    }
    assert message.to_json() == {
        "transactionId": "t1",
        "code": 180,
        "status": "Ringing",
        "opts": {
            "headers": {"User-Agent": "x", "X-Tag": ["a", "b"], "c": "application/sdp"},
            "body": "v=0\r\n",
        },
    }
    # An empty body needs no Content-Type.
    assert RespondToSipRequest("t", 200, body="").body == ""
    # An empty header value is legal SIP ("Subject:").
    assert RespondToSipRequest("t", 200, headers={"Subject": ""}).headers == {"Subject": ""}


@pytest.mark.parametrize(
    ("data", "message", "path"),
    [
        ({"code": 200}, "data.transactionId: is required", "data.transactionId"),
        ({"transactionId": "t"}, "data.code: is required", "data.code"),
        (
            {"transactionId": "t", "code": 99},
            "data.code: must be an integer from 100 to 699, got 99",
            "data.code",
        ),
        (
            {"transactionId": "t", "code": 700},
            "data.code: must be an integer from 100 to 699, got 700",
            "data.code",
        ),
        (
            {"transactionId": "t", "code": "200"},
            "data.code: must be an integer from 100 to 699, got a string",
            "data.code",
        ),
        (
            {"transactionId": "t", "code": 200.0},
            "data.code: must be an integer from 100 to 699, got a number",
            "data.code",
        ),
        (
            {"transactionId": "t", "code": True},
            "data.code: must be an integer from 100 to 699, got a boolean",
            "data.code",
        ),
        (
            {"transactionId": 5, "code": 200},
            "data.transactionId: must be a string, got an integer",
            "data.transactionId",
        ),
        (
            {"transactionId": "t", "code": 200, "status": "OK\r\nX-Evil: 1"},
            "data.status: must not contain CR, LF or NUL",
            "data.status",
        ),
        (
            {"transactionId": "t", "code": 200, "opts": []},
            "data.opts: must be an object, got an array",
            "data.opts",
        ),
        (
            {"transactionId": "t", "code": 200, "opts": {"headers": "User-Agent: x"}},
            "data.opts.headers: must be an object, got a string",
            "data.opts.headers",
        ),
        (
            {"transactionId": "t", "code": 200, "opts": {"headers": {"User Agent": "x"}}},
            "data.opts.headers: header name 'User Agent' is not a token",
            "data.opts.headers",
        ),
        (
            {"transactionId": "t", "code": 200, "opts": {"headers": {"X-A": 3}}},
            "data.opts.headers.X-A: must be a string or an array of strings, got an integer",
            "data.opts.headers.X-A",
        ),
        (
            {"transactionId": "t", "code": 200, "opts": {"headers": {"X-A": ["a", None]}}},
            "data.opts.headers.X-A[1]: must be a string or an array of strings, got null",
            "data.opts.headers.X-A[1]",
        ),
        (
            {"transactionId": "t", "code": 200, "opts": {"headers": {"X-A": []}}},
            "data.opts.headers.X-A: must not be an empty array",
            "data.opts.headers.X-A",
        ),
        (
            {"transactionId": "t", "code": 200, "opts": {"headers": {"X-A": "a\nVia: x"}}},
            "data.opts.headers.X-A: must not contain CR, LF or NUL",
            "data.opts.headers.X-A",
        ),
        (
            {"transactionId": "t", "code": 200, "opts": {"body": {"sdp": 1}}},
            "data.opts.body: must be a string, got an object",
            "data.opts.body",
        ),
        (
            {"transactionId": "t", "code": 200, "opts": {"body": "v=0\r\n"}},
            "data.opts.body: a body needs a Content-Type header (RFC 3261 §20.15)",
            "data.opts.body",
        ),
        (
            {
                "transactionId": "t",
                "code": 200,
                "status": "OK",
                "opts": {"headers": {"Content-Length": "5"}, "body": "v=0\r\n"},
            },
            "data.opts.body: a body needs a Content-Type header (RFC 3261 §20.15)",
            "data.opts.body",
        ),
    ],
)
def test_respond_to_sip_request_rejects(data: dict[str, Any], message: str, path: str) -> None:
    bad("respondToSipRequest", data, message, path)


# ---------------------------------------------------------------- sendSipRequest


def test_send_sip_request() -> None:
    data = {
        "method": "INVITE",
        "uri": "sip:bob@example.com;transport=tcp",
        "headers": {"From": "<sip:alice@example.com>", "content-type": "application/sdp"},
        "body": "v=0",
    }
    message = parse_command("sendSipRequest", data)
    assert message == SendSipRequest(
        "INVITE",
        "sip:bob@example.com;transport=tcp",
        {"From": "<sip:alice@example.com>", "content-type": "application/sdp"},
        "v=0",
    )
    assert message.to_json() == data
    # Method names are case-sensitive (RFC 3261 §7.1): kept as written.
    assert parse_command("sendSipRequest", {"method": "foo", "uri": "tel:+1555"}) == SendSipRequest(
        "foo", "tel:+1555"
    )
    assert SendSipRequest("X-Sync", "sip:a@b").method == "X-Sync"
    # In a dialog the Request-URI comes from the dialog: ACK for a 2xx names only the dialog.
    ack = parse_command("sendSipRequest", {"method": "ACK", "dialogId": "d1"})
    assert ack == SendSipRequest("ACK", dialog_id="d1")
    assert ack.to_json() == {"method": "ACK", "dialogId": "d1"}


@pytest.mark.parametrize(
    ("data", "message", "path"),
    [
        ({"uri": "sip:a@b"}, "data.method: is required", "data.method"),
        (
            {"method": "IN VITE", "uri": "sip:a@b"},
            "data.method: 'IN VITE' is not a SIP method (an RFC 3261 token)",
            "data.method",
        ),
        ({"method": "INVITE"}, "data.uri: is required when there is no dialogId", "data.uri"),
        ({"method": "INVITE", "uri": "bob"}, "data.uri: 'bob' is not a URI", "data.uri"),
        (
            {"method": "INVITE", "uri": "sip:bob@example.com x"},
            "data.uri: 'sip:bob@example.com x' is not a URI",
            "data.uri",
        ),
        (
            {"method": "INVITE", "uri": "sip:a@b", "headers": {"X": ["a\rb"]}},
            "data.headers.X[0]: must not contain CR, LF or NUL",
            "data.headers.X[0]",
        ),
        (
            {"method": "INVITE", "uri": "sip:a@b", "body": 1},
            "data.body: must be a string, got an integer",
            "data.body",
        ),
        (
            {"method": "MESSAGE", "uri": "sip:a@b", "body": "hello"},
            "data.body: a body needs a Content-Type header (RFC 3261 §20.15)",
            "data.body",
        ),
        (
            {"method": "invite", "uri": "sip:a@b"},
            "data.method: 'invite' is not INVITE: SIP method names are case-sensitive "
            "(RFC 3261 §7.1), write 'INVITE'",
            "data.method",
        ),
        (
            {"method": "Bye", "dialogId": "d1"},
            "data.method: 'Bye' is not BYE: SIP method names are case-sensitive "
            "(RFC 3261 §7.1), write 'BYE'",
            "data.method",
        ),
        (
            {"method": "BYE", "dialogId": ""},
            "data.dialogId: must not be empty",
            "data.dialogId",
        ),
        (
            {"method": "BYE", "dialogId": None},
            "data.uri: is required when there is no dialogId",
            "data.uri",
        ),
        (
            {"method": "BYE", "uri": "sip:a@b", "dialogId": ""},
            "data.dialogId: must not be empty",
            "data.dialogId",
        ),
    ],
)
def test_send_sip_request_rejects(data: dict[str, Any], message: str, path: str) -> None:
    bad("sendSipRequest", data, message, path)


# ---------------------------------------------------------------- small commands


def test_cancel_sip_request_and_cancel() -> None:
    assert parse_command("cancelSipRequest", {"transactionId": "t"}) == CancelSipRequest("t")
    assert CancelSipRequest("t").to_json() == {"transactionId": "t"}
    bad("cancelSipRequest", {}, "data.transactionId: is required", "data.transactionId")
    assert parse_command("cancel", {"transactionId": "t"}) == Cancel("t")
    assert Cancel("t").to_json() == {"transactionId": "t"}
    assert parse_command("cancel", {"transactionId": "t", "reason": "late"}) == Cancel("t", "late")
    assert Cancel("t", "late").to_json() == {"transactionId": "t", "reason": "late"}
    bad(
        "cancel",
        {"transactionId": ""},
        "data.transactionId: must not be empty",
        "data.transactionId",
    )


def test_ping() -> None:
    assert parse_command("ping", {}) == Ping()
    assert Ping().to_json() == {}
    assert parse_request({"type": "request", "rid": "p", "command": "ping"}) == Request("p", Ping())


def test_dialog_event() -> None:
    assert parse_command(
        "dialog", {"dialogId": "d", "event": "ack-timeout", "reason": "no ACK"}
    ) == (DialogEvent("d", "ack-timeout", "no ACK"))
    assert DialogEvent("d", "created").to_json() == {"dialogId": "d", "event": "created"}
    bad(
        "dialog",
        {"dialogId": "d", "event": "ended"},
        "data.event: must be one of created, destroyed, ack-timeout, got 'ended'",
        "data.event",
    )
    bad("dialog", {"event": "created"}, "data.dialogId: is required", "data.dialogId")


# ---------------------------------------------------------------- sip


def test_sip() -> None:
    data = {
        "transactionId": "t",
        "dialogId": "d",
        "message": INVITE,
        "source": {"transport": "udp", "address": "192.0.2.1", "port": 5060},
        "time": 1700000000.25,
    }
    sip = parse_command("sip", data)
    assert sip == Sip("t", INVITE, "d", Source("udp", "192.0.2.1", 5060), 1700000000.25)
    assert sip.to_json() == data
    assert parse_command("sip", {"transactionId": "t", "message": OK}) == Sip("t", OK)


@pytest.mark.parametrize(
    ("data", "message", "path"),
    [
        ({"transactionId": "t"}, "data.message: is required", "data.message"),
        (
            {"transactionId": "t", "message": "INVITE sip:a@b SIP/2.0"},
            "data.message: must be an object, got a string",
            "data.message",
        ),
        (
            {"transactionId": "t", "message": {"headers": {}}},
            "data.message: must have exactly one of request_uri and status_line",
            "data.message",
        ),
        (
            {"transactionId": "t", "message": {"request_uri": {}}},
            "data.message.headers: must be an object, got null",
            "data.message.headers",
        ),
        (
            {"transactionId": "t", "message": INVITE, "source": "udp"},
            "data.source: must be an object, got a string",
            "data.source",
        ),
        (
            {"transactionId": "t", "message": INVITE, "source": {"transport": "udp", "port": 1}},
            "data.source.address: is required",
            "data.source.address",
        ),
        (
            {
                "transactionId": "t",
                "message": INVITE,
                "source": {"transport": "sctp", "address": "h", "port": 1},
            },
            "data.source.transport: must be one of udp, tcp, tls, ws, wss, got 'sctp'",
            "data.source.transport",
        ),
        (
            {
                "transactionId": "t",
                "message": INVITE,
                "source": {"transport": "tcp", "address": "h", "port": 65536},
            },
            "data.source.port: must be an integer from 1 to 65535, got 65536",
            "data.source.port",
        ),
        (
            {"transactionId": "t", "message": INVITE, "time": "12:00"},
            "data.time: must be a non-negative number of seconds",
            "data.time",
        ),
    ],
)
def test_sip_rejects(data: dict[str, Any], message: str, path: str) -> None:
    bad("sip", data, message, path)


# ---------------------------------------------------------------- envelope


def test_request_envelope() -> None:
    obj = {"type": "request", "rid": "r", "command": "route", "data": {"verb": "info"}}
    request = parse_request(obj)
    assert request == Request("r", Route("info"))
    assert request.command == "route"
    assert request.to_json() == obj


@pytest.mark.parametrize(
    ("rid", "message"),
    [
        (None, "rid: must be a string, got null"),
        ("", "rid: must not be empty"),
        (7, "rid: must be a string, got an integer"),
    ],
)
def test_request_without_a_usable_rid_is_fatal(rid: object, message: str) -> None:
    obj: dict[str, Any] = {"type": "request", "command": "ping", "data": {}}
    if rid is not None:
        obj["rid"] = rid
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(obj)
    assert (info.value.code, info.value.message, info.value.path) == (
        "bad_envelope",
        message,
        "rid",
    )
    assert info.value.fatal
    assert info.value.rid is None


def test_request_envelope_errors_with_a_rid_are_answerable() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_request({"type": "request", "rid": "r", "data": {}})
    assert (info.value.code, info.value.message, info.value.rid, info.value.fatal) == (
        "bad_envelope",
        "command: must be a string, got null",
        "r",
        False,
    )
    with pytest.raises(RemoteProtocolError) as info:
        parse_request({"type": "request", "rid": "r", "command": "dance", "data": {}})
    assert (info.value.code, info.value.message, info.value.fatal) == (
        "unknown_command",
        "unknown command 'dance'",
        False,
    )
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(
            {"type": "request", "rid": "r", "command": "sip", "data": {}}, CLIENT_COMMANDS
        )
    assert (info.value.code, info.value.message) == ("unknown_command", "unknown command 'sip'")


def test_command_sets() -> None:
    assert {
        "auth",
        "route",
        "unroute",
        "respondToSipRequest",
        "sendSipRequest",
        "cancelSipRequest",
        "proxy",
        "ping",
    } == CLIENT_COMMANDS
    assert {"sip", "cancel", "dialog", "cdr", "ping"} == SERVER_COMMANDS


def test_new_rid_is_unique() -> None:
    rids = {new_rid() for _ in range(1000)}
    assert len(rids) == 1000
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in rids)


# ---------------------------------------------------------------- responses


def response(data: dict[str, Any], command: str | None, rid: str | None = "r") -> Response:
    return parse_response({"type": "response", "rid": rid, "data": data}, command)


def test_auth_responses() -> None:
    ok = response({"authenticated": True, "hostport": ["udp/127.0.0.1:5060"]}, "auth")
    assert ok == Response("r", AuthResult(True, ("udp/127.0.0.1:5060",)))
    assert ok.to_json() == {
        "type": "response",
        "rid": "r",
        "data": {"authenticated": True, "hostport": ["udp/127.0.0.1:5060"]},
    }
    no = response({"authenticated": False, "reason": "invalid secret"}, "auth")
    assert no.data == AuthResult(False, reason="invalid secret")
    assert no.data.to_json() == {"authenticated": False, "reason": "invalid secret"}
    with pytest.raises(RemoteProtocolError) as info:
        response({"authenticated": False}, "auth")
    assert (info.value.code, info.value.message, info.value.fatal) == (
        "bad_response",
        "data.reason: must be a string, got null",
        True,
    )
    with pytest.raises(RemoteProtocolError) as info:
        response({"authenticated": "yes"}, "auth")
    assert info.value.message == "data.authenticated: must be true or false, got a string"


def test_success_and_failure() -> None:
    assert response({"success": True}, "route").data == Success()
    assert response({"success": False, "reason": "no such transaction"}, "route").data == Failure(
        "no such transaction"
    )
    failure = response({"success": False, "reason": "bad", "error": "invalid_data"}, "route")
    assert failure.data == Failure("bad", "invalid_data")
    assert failure.data.to_json() == {"success": False, "reason": "bad", "error": "invalid_data"}
    with pytest.raises(RemoteProtocolError) as info:
        response({"ok": True}, "route")
    assert info.value.message == "data.success: is required"
    with pytest.raises(RemoteProtocolError) as info:
        response({"success": False}, "route")
    assert info.value.message == "data.reason: is required"


def test_respond_and_send_results() -> None:
    result = response({"success": True, "message": OK, "dialogId": "d"}, "respondToSipRequest")
    assert result.data == RespondResult(OK, "d")
    assert result.data.to_json() == {"success": True, "message": OK, "dialogId": "d"}
    with pytest.raises(RemoteProtocolError) as info:
        response({"success": True, "message": INVITE}, "respondToSipRequest")
    assert info.value.message == "data.message: must have status_line"
    sent = response({"success": True, "transactionId": "t", "message": INVITE}, "sendSipRequest")
    assert sent.data == SendResult("t", INVITE)
    with pytest.raises(RemoteProtocolError) as info:
        response({"success": True, "message": INVITE}, "sendSipRequest")
    assert info.value.message == "data.transactionId: is required"


SIP_INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
    b"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n"
    b"Call-ID: c1@192.0.2.1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n"
)
SIP_OK = (
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
    b"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b2\r\n"
    b"Call-ID: c1@192.0.2.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)


def test_a_sip_message_object_is_sent_as_its_json_form() -> None:
    # The core writes the JSON form into the frame: the same JSON as to_dict() gives.
    invite, ok = parse(SIP_INVITE), parse(SIP_OK)
    source = Source("udp", "192.0.2.1", 5060)
    pairs = [
        (Sip("t", invite, "d", source, 1.5), Sip("t", invite.to_dict(), "d", source, 1.5)),
        (RespondResult(ok, "d"), RespondResult(ok.to_dict(), "d")),
        (SendResult("t", invite), SendResult("t", invite.to_dict())),
    ]
    for given, as_dict in pairs:
        data = decode(encode_frame(given.to_json()))
        assert data == decode(encode_frame(as_dict.to_json()))
        assert data["message"] == as_dict.message
    frame = encode_frame(Request("r", Sip("t", invite)).to_json())
    assert decode(frame)["data"]["message"]["request_uri"]["method"] == "INVITE"


def test_a_sip_message_object_of_the_wrong_kind_is_refused() -> None:
    invite, ok = parse(SIP_INVITE), parse(SIP_OK)
    with pytest.raises(LocalProtocolError) as info:
        RespondResult(invite)
    assert info.value.message == "data.message: must be a SIP response"
    with pytest.raises(LocalProtocolError) as info:
        SendResult("t", ok)
    assert info.value.message == "data.message: must be a SIP request"
    assert Sip("t", ok).message is ok  # a response to the client's request


def decode(frame: bytes) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(frame.split(b"#", 1)[1])
    return body


def test_pong() -> None:
    assert response({"pong": True}, "ping").data == Pong()
    assert Pong().to_json() == {"pong": True}
    with pytest.raises(RemoteProtocolError) as info:
        response({"pong": False}, "ping")
    assert info.value.message == "data.pong: must be true, got a boolean"
    # What a client written from the original protocol answers to every request.
    assert response({"success": True}, "ping").data == Success()
    assert response_types("ping") == (Pong, Success, Failure)


def test_null_rid_only_for_failures() -> None:
    assert response({"success": False, "reason": "x", "error": "invalid_json"}, None, None) == (
        Response(None, Failure("x", "invalid_json"))
    )
    with pytest.raises(LocalProtocolError) as info:
        Response(None, Success())
    assert info.value.message == "rid: may be null only in a failure response"


def test_response_envelope_errors() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_response({"type": "response", "data": {}}, "ping")
    assert (info.value.code, info.value.message) == ("bad_envelope", "rid: is required")
    with pytest.raises(RemoteProtocolError) as info:
        parse_response({"type": "response", "rid": "r", "data": []}, "ping")
    assert (info.value.code, info.value.message) == (
        "bad_response",
        "data: must be an object, got an array",
    )
