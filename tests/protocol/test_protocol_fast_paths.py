"""The shortcuts for the common case give what the general code gives.

Constructors test valid values of the exact type first, the connection reads
``{success: true}`` and received requests without a second round of checks,
the decoder reads frames without a generator: the results, and the errors
for bad values, must stay those of the general path.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

import drachtio
from drachtio import SipRequest, SipResponse
from drachtio.protocol import (
    Auth,
    AuthResult,
    Connection,
    DialogEvent,
    FrameDecoder,
    LocalProtocolError,
    Ping,
    ProtocolFailed,
    Request,
    RequestReceived,
    RequestRejected,
    RespondResult,
    RespondToSipRequest,
    Response,
    ResponseReceived,
    Role,
    Sip,
    Source,
    Success,
    encode_frame,
    parse_request,
    parse_response,
)

INVITE = drachtio.parse(
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n"
    b"From: <sip:alice@example.com>;tag=a1\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: c1@example.com\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"\r\n"
)
OK = SipResponse(200, headers=[("CSeq", "1 INVITE")])
SOURCE = Source("udp", "192.0.2.1", 5060)


def pair() -> tuple[Connection, Connection]:
    client = Connection(Role.CLIENT)
    server = Connection(Role.SERVER)
    [event] = server.receive_data(client.send(Request("a1", Auth("s"))))
    assert isinstance(event, RequestReceived)
    client.receive_data(server.send(Response("a1", AuthResult(True, ("udp/127.0.0.1:5060",)))))
    return client, server


def refused(build: Any, message: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        build()
    assert info.value.code == "invalid_data"
    assert info.value.message == message


# ---------------------------------------------------------------- constructors


def test_server_built_messages_are_valid() -> None:
    assert isinstance(INVITE, SipRequest)
    sip = Sip("t", INVITE, "d", SOURCE, 1.5)
    assert (sip.transaction_id, sip.message, sip.dialog_id, sip.time) == ("t", INVITE, "d", 1.5)
    assert Sip("t", INVITE, time=0).time == 0  # an int is a number of seconds too
    assert RespondResult(OK).dialog_id is None
    assert DialogEvent("d", "destroyed").reason is None
    assert Request("r", sip).rid == "r"
    assert Response("r", Success()).rid == "r"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Sip("t\r\n", INVITE), "data.transactionId: must not contain CR, LF or NUL"),
        (lambda: Sip("", INVITE), "data.transactionId: must not be empty"),
        (lambda: Sip("t", INVITE, ""), "data.dialogId: must not be empty"),
        (lambda: Sip("t", INVITE, "d\x00"), "data.dialogId: must not contain CR, LF or NUL"),
        (
            lambda: Sip("t", INVITE, time=-1.0),
            "data.time: must be a non-negative number of seconds",
        ),
        (
            lambda: Sip("t", INVITE, time=True),
            "data.time: must be a non-negative number of seconds",
        ),
        (lambda: Sip("t", INVITE, source=("udp",)), "data.source: must be an object, got an array"),
        (
            lambda: Source("udp", "h", True),
            "data.source.port: must be an integer from 1 to 65535, got a boolean",
        ),
        (lambda: Source("udp", "h\n", 5060), "data.source.address: must not contain CR, LF or NUL"),
        (
            lambda: Source("UDP", "h", 5060),
            "data.source.transport: must be one of udp, tcp, tls, ws, wss, got 'UDP'",
        ),
        (lambda: RespondResult(INVITE), "data.message: must be a SIP response"),
        (lambda: RespondResult(OK, ""), "data.dialogId: must not be empty"),
        (
            lambda: DialogEvent("d", "destroyed", "a\nb"),
            "data.reason: must not contain CR, LF or NUL",
        ),
        (lambda: DialogEvent("d", "destroyed", ""), "data.reason: must not be empty"),
        (lambda: DialogEvent("", "destroyed"), "data.dialogId: must not be empty"),
        (
            lambda: DialogEvent("d", "gone"),
            "data.event: must be one of created, destroyed, ack-timeout, got 'gone'",
        ),
        (
            lambda: RespondToSipRequest("t", True),
            "data.code: must be an integer from 100 to 699, got a boolean",
        ),
        (
            lambda: RespondToSipRequest("t", 99),
            "data.code: must be an integer from 100 to 699, got 99",
        ),
        (
            lambda: RespondToSipRequest("t\r", 200),
            "data.transactionId: must not contain CR, LF or NUL",
        ),
        (
            lambda: RespondToSipRequest("t", 200, "OK\r\n"),
            "data.status: must not contain CR, LF or NUL",
        ),
        (
            lambda: RespondToSipRequest("t", 200, body=b"x"),
            "data.opts.body: must be a string, got bytes",
        ),
        (
            lambda: RespondToSipRequest("t", 200, headers={"X-A": "1\r\nX-B: 2"}),
            "data.opts.headers.X-A: must not contain CR, LF or NUL",
        ),
        (
            lambda: RespondToSipRequest("t", 200, headers={"X-A": ["1", 2]}),
            "data.opts.headers.X-A[1]: must be a string or an array of strings, got an integer",
        ),
        (
            lambda: RespondToSipRequest("t", 200, headers={"X A": "1"}),
            "data.opts.headers: header name 'X A' is not a token",
        ),
        (lambda: Request("r\n", Ping()), "rid: must not contain CR, LF or NUL"),
        (lambda: Response("", Success()), "rid: must not be empty"),
        (lambda: Response(None, Success()), "rid: may be null only in a failure response"),
    ],
)
def test_constructors_still_refuse(build: Any, message: str) -> None:
    refused(build, message)


class Text(str):
    """A str subclass: not the exact type the shortcuts test, still a string."""


def test_str_subclasses_take_the_general_path() -> None:
    assert Sip(Text("t"), INVITE, Text("d")).transaction_id == "t"
    assert Request(Text("r"), Ping()).rid == "r"
    assert RespondToSipRequest(Text("t"), 200, Text("OK")).status == "OK"
    refused(lambda: Request(Text("r\n"), Ping()), "rid: must not contain CR, LF or NUL")


# ---------------------------------------------------------------- connection


def test_success_response_is_what_parse_response_reads() -> None:
    client, server = pair()
    sent = Request("s1", Sip("t", INVITE, None, SOURCE, 1.5))
    frame = server.send(sent)
    [event] = client.receive_data(frame)
    assert isinstance(event, RequestReceived)
    answer = {"type": "response", "rid": "s1", "data": {"success": True, "note": "extra"}}
    [received] = server.receive_data(encode_frame(answer))
    assert received == ResponseReceived(parse_response(answer, "sip"), sent)
    assert received == ResponseReceived(Response("s1", Success()), sent)
    assert server.pending_count == 0


@pytest.mark.parametrize("data", [{"success": 1}, {"success": "true"}, {}])
def test_a_success_not_exactly_true_is_still_a_bad_response(data: dict[str, Any]) -> None:
    _, server = pair()
    server.send(Request("s1", DialogEvent("d", "destroyed")))
    frame = encode_frame({"type": "response", "rid": "s1", "data": data})
    failed, _ = server.receive_data(frame)
    assert isinstance(failed, ProtocolFailed)
    assert failed.error.code == "bad_response"


def test_success_to_a_command_with_its_own_result_is_a_bad_response() -> None:
    client, _ = pair()
    client.send(Request("p1", Ping()))
    frame = encode_frame({"type": "response", "rid": "p1", "data": {"success": True}})
    failed, _ = client.receive_data(frame)
    assert isinstance(failed, ProtocolFailed)
    assert (failed.error.code, failed.error.path) == ("bad_response", "data.pong")


def test_received_request_is_what_parse_request_reads() -> None:
    client, server = pair()
    command = RespondToSipRequest("t", 200, None, {"Content-Type": "application/sdp"}, "v=0\r\n")
    frame = client.send(Request("r1", command))
    [event] = server.receive_data(frame)
    assert isinstance(event, RequestReceived)
    obj = orjson.loads(frame.partition(b"#")[2])
    assert event.request == parse_request(obj) == Request("r1", command)
    assert isinstance(event.request.data, RespondToSipRequest)
    assert event.request.data.headers == {"Content-Type": "application/sdp"}


def test_received_request_with_null_opts_is_refused() -> None:
    _, server = pair()
    obj = {
        "type": "request",
        "rid": "r1",
        "command": "respondToSipRequest",
        "data": {"transactionId": "t", "code": 200, "opts": None},
    }
    [rejected] = server.receive_data(encode_frame(obj))
    assert isinstance(rejected, RequestRejected)
    assert rejected.error.message == "data.opts: must be an object, got null"
    obj["data"] = {"code": 200}
    obj["rid"] = "r2"
    [rejected] = server.receive_data(encode_frame(obj))
    assert isinstance(rejected, RequestRejected)
    assert rejected.error.message == "data.transactionId: is required"


# ---------------------------------------------------------------- framing


def test_every_split_of_a_stream_gives_the_same_frames() -> None:
    objects = [{"n": n, "text": "é" * n} for n in range(4)]
    stream = b"".join(encode_frame(obj) for obj in objects)
    for cut in range(len(stream) + 1):
        decoder = FrameDecoder()
        got = list(decoder.receive_data(stream[:cut]))
        got += list(decoder.receive_data(stream[cut:]))
        assert got == objects
        assert decoder.buffered == 0


def test_buffered_counts_the_body_once_its_prefix_is_read() -> None:
    decoder = FrameDecoder()
    frame = encode_frame({"a": "x" * 20})
    assert frame.startswith(b"28#")
    assert list(decoder.receive_data(frame + frame[:1])) == [{"a": "x" * 20}]
    assert decoder.buffered == 1
    assert list(decoder.receive_data(frame[1:5])) == []
    assert decoder.buffered == 2
    assert list(decoder.receive_data(frame[5:])) == [{"a": "x" * 20}]
    assert decoder.buffered == 0
