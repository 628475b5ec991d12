"""The written protocol: the seed's examples, docs/protocol.md's examples, docs/schema/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from drachtio.protocol import (
    Auth,
    AuthResult,
    Connection,
    FrameDecoder,
    ProtocolFailed,
    RemoteProtocolError,
    Request,
    RequestReceived,
    RequestRejected,
    RespondToSipRequest,
    Response,
    ResponseReceived,
    Role,
    Route,
    Sip,
    Success,
    parse_request,
    parse_response,
)

HERE = Path(__file__).parent
SEED = HERE / "fixtures" / "seed"
ROOT = HERE.parent.parent
SCHEMAS = ROOT / "docs" / "schema"
PROTOCOL_MD = ROOT / "docs" / "protocol.md"


def frame(raw: bytes) -> bytes:
    return str(len(raw)).encode() + b"#" + raw


def decode_one(raw: bytes) -> dict[str, Any]:
    [obj] = list(FrameDecoder().receive_data(frame(raw)))
    return obj


def schema(name: str) -> jsonschema.protocols.Validator:
    document = orjson.loads((SCHEMAS / f"{name}.json").read_bytes())
    return jsonschema.Draft202012Validator(document)


def schema_name(obj: dict[str, Any], command: str | None) -> str:
    """The schema a message must satisfy, given the command a response answers."""
    if obj["type"] == "request":
        return str(obj["command"])
    data = obj["data"]
    if command == "auth" and "authenticated" in data:
        return "auth-response"
    if data.get("success") is False:
        return "failure-response"
    if command == "ping" and "pong" in data:
        return "pong-response"
    if command in ("respondToSipRequest", "sendSipRequest", "proxy"):
        return f"{command}-response"
    return "success-response"


def check(obj: dict[str, Any], command: str | None) -> None:
    """Valid for the schema, and for the parser; encoding gives it back."""
    name = schema_name(obj, command)
    errors = [error.message for error in schema(name).iter_errors(obj)]
    assert errors == [], name
    if obj["type"] == "request":
        request = parse_request(obj)
        assert parse_request(request.to_json()) == request
        assert list(schema(name).iter_errors(request.to_json())) == []
    else:
        response = parse_response(obj, command)
        assert parse_response(response.to_json(), command) == response
        assert list(schema(name).iter_errors(response.to_json())) == []


# ---------------------------------------------------------------- seed examples


def test_seed_auth_byte_for_byte() -> None:
    raw = (SEED / "auth_request.json").read_bytes()
    assert raw.startswith(b'{\n\t\t"type":"request"\n\t\t,"command":"auth"')
    obj = decode_one(raw)
    assert parse_request(obj) == Request("8da95bd22b964e6be24624a6ec6313ff", Auth("cymru"))
    check(obj, None)
    response = decode_one((SEED / "auth_response.json").read_bytes())
    # The original server answered without hostport: it is optional when reading.
    assert parse_response(response, "auth") == Response(
        "8da95bd22b964e6be24624a6ec6313ff", AuthResult(True)
    )
    check(response, "auth")


def test_seed_route() -> None:
    obj = decode_one((SEED / "route_request.json").read_bytes())
    assert parse_request(obj) == Request("f5885448fc9b2b8e53ff991c966d4ecc", Route("invite"))
    check(obj, None)
    response = decode_one((SEED / "route_response.json").read_bytes())
    assert parse_response(response, "route") == Response(
        "f5885448fc9b2b8e53ff991c966d4ecc", Success()
    )
    check(response, "route")


def test_seed_respond_to_sip_request() -> None:
    raw = (SEED / "respondToSipRequest_request.json").read_bytes()
    assert b'"User-Agent":"Drachtio rocksz"' in raw
    obj = decode_one(raw)
    assert parse_request(obj) == Request(
        "bfd2a676a8472ab4c94350ce4d6efac8",
        RespondToSipRequest(
            "694984ea-16c6-46e7-80fc-a3295b19b50a",
            500,
            "Internal Server Error - Database down",
            {"User-Agent": "Drachtio rocksz"},
        ),
    )
    check(obj, None)


def test_seed_sip_sketch_is_not_json() -> None:
    raw = (SEED / "sip_request_sketch.txt").read_bytes()
    with pytest.raises(RemoteProtocolError) as info:
        decode_one(raw)
    assert info.value.code == "invalid_json"
    # The stray comma before "transactionId": line 6 of the seed's text.
    assert info.value.message.endswith("line 6 column 4 (char 109)")


def test_seed_sip_completed() -> None:
    invite = orjson.loads((SEED / "invite_message.json").read_bytes())
    obj = decode_one((SEED / "sip_request_completed.json").read_bytes())
    assert parse_request(obj) == Request(
        "dd815d64-5857-4730-a009-ef9f6da89d9c",
        Sip("694984ea-16c6-46e7-80fc-a3295b19b50a", invite),
    )
    assert invite["headers"]["call_id"] == "MDJiMjA5NzQxNzliMmZiNDJlZjIxNmVhY2I4MTBlZmY"
    check(obj, None)
    response = decode_one((SEED / "sip_response.json").read_bytes())
    check(response, "sip")


def test_seed_session_through_connections_in_one_byte_writes() -> None:
    """The seed's conversation, each side's bytes fed one at a time."""
    server = Connection(Role.SERVER)
    client = Connection(Role.CLIENT)

    def feed(connection: Connection, data: bytes) -> list[Any]:
        events: list[Any] = []
        for byte in data:
            events += connection.receive_data(bytes([byte]))
        return events

    def seed_frame(name: str) -> bytes:
        return frame((SEED / name).read_bytes())

    [auth] = feed(server, seed_frame("auth_request.json"))
    assert isinstance(auth, RequestReceived)
    # The seed's response lacks hostport; a client still accepts it.
    client.send(auth.request)
    [authed] = feed(client, server.send(Response(auth.request.rid, AuthResult(True))))
    assert isinstance(authed, ResponseReceived) and client.authenticated
    [route] = feed(server, seed_frame("route_request.json"))
    assert route == RequestReceived(Request("f5885448fc9b2b8e53ff991c966d4ecc", Route("invite")))
    assert server.send(Response(route.request.rid, Success())) == frame(
        b'{"type":"response","rid":"f5885448fc9b2b8e53ff991c966d4ecc","data":{"success":true}}'
    )
    sip = parse_request(decode_one((SEED / "sip_request_completed.json").read_bytes()))
    feed(client, server.send(sip))
    client.send(Response(sip.rid, Success()))
    [respond] = feed(server, seed_frame("respondToSipRequest_request.json"))
    assert isinstance(respond, RequestReceived)
    assert respond.request.command == "respondToSipRequest"


# ---------------------------------------------------------------- schemas


def schema_files() -> list[Path]:
    return sorted(SCHEMAS.glob("*.json"))


@pytest.mark.parametrize("path", schema_files(), ids=lambda path: path.stem)
def test_schema_is_valid_draft_2020_12(path: Path) -> None:
    document = orjson.loads(path.read_bytes())
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(document)


def test_a_schema_per_command_and_response() -> None:
    assert {path.stem for path in schema_files()} == {
        "auth",
        "route",
        "unroute",
        "respondToSipRequest",
        "sendSipRequest",
        "cancelSipRequest",
        "proxy",
        "ping",
        "sip",
        "cancel",
        "dialog",
        "cdr",
        "auth-response",
        "success-response",
        "failure-response",
        "pong-response",
        "respondToSipRequest-response",
        "sendSipRequest-response",
        "proxy-response",
    }


BAD_REQUESTS: list[dict[str, Any]] = [
    {"command": "auth", "data": {}},
    {"command": "auth", "data": {"secret": 1}},
    {"command": "route", "data": {"verb": "in vite"}},
    {"command": "route", "data": {"verb": "invite\n"}},
    {"command": "route", "data": {"verb": "Cancel"}},
    {"command": "route", "data": {"verb": "cdr:end"}},
    {"command": "unroute", "data": {"verb": "cdr:*"}},
    {"command": "unroute", "data": {}},
    {"command": "respondToSipRequest", "data": {"transactionId": "t", "code": 700}},
    {"command": "respondToSipRequest", "data": {"transactionId": "t", "code": "200"}},
    {"command": "respondToSipRequest", "data": {"transactionId": "", "code": 200}},
    {
        "command": "respondToSipRequest",
        "data": {"transactionId": "t", "code": 200, "opts": {"headers": {"A B": "x"}}},
    },
    {
        "command": "respondToSipRequest",
        "data": {"transactionId": "t", "code": 200, "opts": {"headers": {"X": "a\r\nb"}}},
    },
    {
        "command": "respondToSipRequest",
        "data": {"transactionId": "t", "code": 200, "opts": {"headers": {"X": []}}},
    },
    {"command": "sendSipRequest", "data": {"method": "INVITE"}},
    {"command": "sendSipRequest", "data": {"method": "INVITE", "uri": "bob"}},
    {"command": "sendSipRequest", "data": {"method": "INVITE", "uri": "sip:bob\n"}},
    {"command": "sendSipRequest", "data": {"method": "INVITE", "uri": "sip:b", "body": 3}},
    {"command": "sendSipRequest", "data": {"method": "invite", "uri": "sip:b"}},
    {"command": "sendSipRequest", "data": {"method": "Bye", "dialogId": "d"}},
    {"command": "sendSipRequest", "data": {"method": "INVITE", "uri": "sip:b", "prack": "me"}},
    {"command": "sendSipRequest", "data": {"method": "INFO", "uri": "sip:b", "prack": "app"}},
    {"command": "sendSipRequest", "data": {"method": "INVITE", "dialogId": "d", "prack": "app"}},
    {"command": "sendSipRequest", "data": {"method": "MESSAGE", "uri": "sip:b", "body": "x"}},
    {
        "command": "sendSipRequest",
        "data": {"method": "MESSAGE", "uri": "sip:b", "headers": {"X-A": "1"}, "body": "x"},
    },
    {
        "command": "respondToSipRequest",
        "data": {"transactionId": "t", "code": 200, "opts": {"body": "v=0"}},
    },
    {"command": "cancelSipRequest", "data": {"transactionId": 3}},
    {"command": "proxy", "data": {"transactionId": "t"}},
    {"command": "proxy", "data": {"transactionId": "t", "destinations": []}},
    {"command": "proxy", "data": {"transactionId": "t", "destinations": ["bob"]}},
    {"command": "proxy", "data": {"transactionId": "t", "destinations": ["sip:b"], "forking": "x"}},
    {
        "command": "proxy",
        "data": {"transactionId": "t", "destinations": ["sip:b"], "finalTimeout": 0},
    },
    {
        "command": "proxy",
        "data": {"transactionId": "t", "destinations": ["sip:b"], "recordRoute": 1},
    },
    {
        "command": "proxy",
        "data": {"transactionId": "t", "destinations": ["sip:b"], "headers": {"X": "a\r\nVia: x"}},
    },
    {
        "command": "proxy",
        "data": {"transactionId": "t", "destinations": ["sip:b"], "headers": {"max-forwards": "9"}},
    },
    {"command": "sip", "data": {"transactionId": "t", "message": {"headers": {}}}},
    {
        "command": "sip",
        "data": {
            "transactionId": "t",
            "message": {"request_uri": {}, "headers": {}},
            "source": {"transport": "udp", "address": "h", "port": 0},
        },
    },
    {"command": "sip", "data": {"transactionId": "t", "message": {"status_line": {}}}},
    {"command": "cancel", "data": {}},
    {"command": "dialog", "data": {"dialogId": "d", "event": "ended"}},
    {"command": "cdr", "data": {"kind": "attempt", "time": "t"}},
    {
        "command": "cdr",
        "data": {
            "kind": "stop",
            "time": "2026-12-03T08:15:02.500Z",
            "callId": "c",
            "role": "uas",
            "source": "network",
            "from": "sip:a@h",
            "to": "sip:b@h",
            "attemptTime": "2026-12-03T08:15:02.500Z",
            "duration": 0,
        },
    },
]


@pytest.mark.parametrize("command", ["auth", "ping", "route", "respondToSipRequest", "sip"])
def test_schema_and_parser_refuse_a_rid_with_a_line_break(command: str) -> None:
    obj = {"type": "request", "rid": "r\r\n1", "command": command, "data": {}}
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(obj)
    assert (info.value.code, info.value.path) == ("bad_envelope", "rid")
    # The schema names the rid among what is wrong.
    paths = [list(error.absolute_path) for error in schema(command).iter_errors(obj)]
    assert ["rid"] in paths


@pytest.mark.parametrize("bad", BAD_REQUESTS, ids=lambda bad: str(bad["command"]))
def test_schema_and_parser_refuse_the_same_requests(bad: dict[str, Any]) -> None:
    obj = {"type": "request", "rid": "r", **bad}
    with pytest.raises(RemoteProtocolError) as info:
        parse_request(obj)
    assert info.value.code == "invalid_data"
    assert not schema(bad["command"]).is_valid(obj)
    # Fixing what the parser named is a change the schema notices too.
    assert info.value.path is not None and info.value.path.startswith("data")


# ---------------------------------------------------------------- docs/protocol.md


def doc_examples() -> list[dict[str, Any]]:
    text = PROTOCOL_MD.read_text(encoding="utf-8")
    return [orjson.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def test_every_doc_example_is_valid() -> None:
    examples = doc_examples()
    # A request shown answered with invalid_data is an example of invalid data.
    refused = {
        obj["rid"]
        for obj in examples
        if obj["type"] == "response" and obj["data"].get("error") == "invalid_data"
    }
    commands: dict[str, str] = {}
    seen: set[str] = set()
    for obj in examples:
        if obj["type"] == "request":
            commands[obj["rid"]] = obj["command"]
            command = None
        else:
            command = commands.get(obj["rid"]) if obj["rid"] is not None else None
            assert obj["rid"] is None or command is not None, obj["rid"]
        if obj.get("rid") in refused and obj["type"] == "request":
            with pytest.raises(RemoteProtocolError):
                parse_request(obj)
            assert not schema(obj["command"]).is_valid(obj)
            continue
        check(obj, command)
        seen.add(schema_name(obj, command))
    assert refused == {"r7", "r8"}
    # Every message kind is shown at least once.
    assert seen == {path.stem for path in schema_files()}


def doc_response_to(rid: str | None) -> dict[str, Any]:
    [obj] = [o for o in doc_examples() if o["type"] == "response" and o["rid"] == rid]
    return obj


def doc_request(rid: str) -> dict[str, Any]:
    [obj] = [o for o in doc_examples() if o["type"] == "request" and o["rid"] == rid]
    return obj


@pytest.mark.parametrize(
    "data",
    [
        {"method": "FooBar", "uri": "sip:b"},
        {"method": "foo", "uri": "sip:b"},
        {"method": "MESSAGE", "uri": "sip:b", "body": ""},
        {"method": "MESSAGE", "uri": "sip:b", "headers": {"content-TYPE": "a/b"}, "body": "x"},
        {"method": "MESSAGE", "uri": "sip:b", "headers": {"c": "a/b"}, "body": "x"},
        {"method": "INVITE", "uri": "sip:b", "prack": "app"},
        {"method": "INFO", "uri": "sip:b", "prack": "server"},
    ],
)
def test_schema_and_parser_accept_the_same_requests(data: dict[str, Any]) -> None:
    obj = {"type": "request", "rid": "r", "command": "sendSipRequest", "data": data}
    parse_request(obj)
    assert schema("sendSipRequest").is_valid(obj)


def test_doc_error_examples_are_what_a_server_sends() -> None:
    server = Connection(Role.SERVER)
    failed, _ = server.receive_data(frame(orjson.dumps(doc_request("r0"))))
    assert isinstance(failed, ProtocolFailed) and failed.response is not None
    assert failed.response.to_json() == doc_response_to("r0")

    server = Connection(Role.SERVER)
    server.receive_data(
        frame(b'{"type":"request","rid":"a","command":"auth","data":{"secret":"s"}}')
    )
    server.send(Response("a", AuthResult(True)))
    for rid in ("r7", "r8"):
        [rejected] = server.receive_data(frame(orjson.dumps(doc_request(rid))))
        assert isinstance(rejected, RequestRejected)
        assert rejected.response.to_json() == doc_response_to(rid)
        server.send(rejected.response)
    failed, _ = server.receive_data(b"2147483648#")
    assert isinstance(failed, ProtocolFailed) and failed.response is not None
    assert failed.response.to_json() == doc_response_to(None)
