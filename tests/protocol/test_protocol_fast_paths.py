"""The shortcuts for the common case give what the general code gives.

``Sip`` and ``RespondToSipRequest`` (built or parsed by a server for every
message of a call) test the common case in one expression before calling
the one function of each rule; the connection reads ``{success: true}`` to
a ``sip``, ``cancel`` or ``dialog`` (or to a client's ``route``, ...)
without parsing it, and builds received requests without checking their rid
a second time; the decoder reads a complete length prefix in one step, and
byte by byte only when it is incomplete or bad; a client reads the
server's ``sip``, ``dialog`` and the results of its ``respondToSipRequest``
and ``sendSipRequest`` in one test each. On generated input, the
results, and the errors for bad input, must be those of the general path:
the constructors given a ``str`` subclass (which no shortcut takes),
:func:`parse_response`, :func:`parse_request`, the readers given a ``dict``
subclass, and the decoder fed one byte at a time. Every other constructor
calls the rules' functions alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drachtio
from drachtio import SipRequest, SipResponse
from drachtio.protocol import (
    CLIENT_COMMANDS,
    Auth,
    AuthResult,
    Cancel,
    CancelSipRequest,
    CloseConnection,
    Command,
    Connection,
    DialogEvent,
    Event,
    FrameDecoder,
    LocalProtocolError,
    Ping,
    ProtocolFailed,
    RemoteProtocolError,
    Request,
    RequestReceived,
    RequestRejected,
    RespondResult,
    RespondToSipRequest,
    Response,
    ResponseReceived,
    Role,
    Route,
    SendSipRequest,
    Sip,
    Source,
    Success,
    Unroute,
    encode_frame,
    parse_command,
    parse_request,
    parse_response,
)
from drachtio.protocol.results import parse_response_data

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


def checks_called(build: Callable[[], object]) -> list[str]:
    """The rules' functions ``build`` calls, in order."""
    called: list[str] = []

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if event == "call" and frame.f_code.co_filename.endswith("_checks.py"):
            called.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        build()
    finally:
        sys.setprofile(None)
    return called


def test_the_shortcuts_are_taken_and_a_str_subclass_is_not() -> None:
    # What the property tests below compare: the shortcut and the checks.
    assert checks_called(lambda: Sip("t", INVITE, "d", SOURCE, 1.5)) == []
    assert checks_called(lambda: Sip(Text("t"), INVITE, "d", SOURCE, 1.5)) == [
        "check_line",
        "check_sip_message",
        "check_line",
        "check_seconds",
    ]
    assert checks_called(lambda: RespondToSipRequest("t", 200)) == []
    assert checks_called(lambda: RespondToSipRequest(Text("t"), 200)) == [
        "check_line",
        "check_int",
        "check_headers",
        "check_object",
    ]


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
    client.send(Request("r1", RespondToSipRequest("t", 200)))
    frame = encode_frame({"type": "response", "rid": "r1", "data": {"success": True}})
    failed, _ = client.receive_data(frame)
    assert isinstance(failed, ProtocolFailed)
    assert (failed.error.code, failed.error.path) == ("bad_response", "data.message")


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


# ---------------------------------------------------------------- generated input

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**31), 2**31)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
# Strings made of what the rules are about: line breaks, NUL, spaces, non-ASCII.
LINE = st.text(alphabet=st.sampled_from("aZ9-:@\r\n\x00 é"), max_size=6)
VALUE = LINE | JSON


def outcome(events: list[Event]) -> tuple[Any, ...]:
    """What the connection made of one frame: the event, or the error that closes."""
    if isinstance(events[0], ProtocolFailed):
        error = events[0].error
        assert events[-1] == CloseConnection(error.message)
        return ("failed", error.code, error.message, error.path)
    assert len(events) == 1
    return ("event", events[0])


DICT_MESSAGES = [
    {"request_uri": {}, "headers": {}},
    {"status_line": {}, "headers": {}},
    {"status_line": {}},
    {"headers": {}},
]


def built(build: Callable[..., object], *args: Any) -> tuple[Any, ...]:
    """What ``build(*args)`` gives: the value, or the refusal."""
    try:
        return ("built", build(*args))
    except LocalProtocolError as exc:
        return ("refused", exc.code, exc.message, exc.path)


def mostly(usual: st.SearchStrategy[Any], *others: st.SearchStrategy[Any]) -> Any:
    """``usual`` three times in four, else one of ``others``: the shortcuts
    test every field at once, so most examples must pass most of the test."""
    return st.one_of(usual, usual, usual, *others)


# What a line may be: with a line break or a NUL, empty, or not a string.
IDS = mostly(st.sampled_from(["t", "694984ea-16c6", "d-5c2f"]), LINE, JSON)
NUMBERS = st.sampled_from([0.0, 1.5, 1_700_000_000.25, -0.0, -1.0, 0, 3, -1, True, False])


@settings(max_examples=1000, deadline=None)
@given(
    transaction_id=IDS.filter(lambda value: isinstance(value, str)),
    message=mostly(st.sampled_from([INVITE, OK]), st.sampled_from(DICT_MESSAGES), JSON),
    dialog_id=mostly(st.none(), IDS),
    source=mostly(st.sampled_from([None, SOURCE]), JSON),
    time=mostly(st.none() | st.sampled_from([1.5, 0.0]), NUMBERS, st.floats(), JSON),
)
def test_sip_takes_its_shortcut_only_for_what_the_checks_accept(
    transaction_id: str, message: Any, dialog_id: Any, source: Any, time: Any
) -> None:
    shortcut = built(Sip, transaction_id, message, dialog_id, source, time)
    checks = built(Sip, Text(transaction_id), message, dialog_id, source, time)
    assert shortcut == checks


@settings(max_examples=1000, deadline=None)
@given(
    transaction_id=IDS.filter(lambda value: isinstance(value, str)),
    code=mostly(st.sampled_from([100, 200, 699]), st.sampled_from([99, 700, True]), JSON),
    status=mostly(st.none(), IDS),
    headers=mostly(
        st.sampled_from([{}, {"Content-Type": "application/sdp"}]),
        st.dictionaries(st.sampled_from(["X-A", "X B", ""]), VALUE, max_size=2),
        JSON,
    ),
    body=mostly(st.none() | st.sampled_from(["", "v=0\r\n"]), JSON),
)
def test_respond_to_sip_request_takes_its_shortcut_only_for_what_the_checks_accept(
    transaction_id: str, code: Any, status: Any, headers: Any, body: Any
) -> None:
    shortcut = built(RespondToSipRequest, transaction_id, code, status, headers, body)
    checks = built(RespondToSipRequest, Text(transaction_id), code, status, headers, body)
    assert shortcut == checks


# What a server and what a client send, answered by the generated data.
SENT: list[tuple[Role, Command]] = [
    (Role.SERVER, Sip("t", INVITE, "d", SOURCE, 1.5)),
    (Role.SERVER, Cancel("t")),
    (Role.SERVER, DialogEvent("d", "destroyed")),
    (Role.SERVER, Ping()),
    (Role.CLIENT, Route("invite")),
    (Role.CLIENT, Unroute("bye")),
    (Role.CLIENT, CancelSipRequest("t")),
    (Role.CLIENT, RespondToSipRequest("t", 200)),
    (Role.CLIENT, SendSipRequest("INVITE", "sip:bob@example.com")),
    (Role.CLIENT, Ping()),
]

RESPONSE_DATA = st.one_of(
    st.fixed_dictionaries(
        {"success": st.sampled_from([True, False, 1, 0, "true", None])},
        optional={
            "reason": VALUE,
            "error": VALUE,
            "pong": VALUE,
            "transactionId": VALUE,
            "message": st.just({"status_line": {}, "headers": {}}) | JSON,
            "note": JSON,
        },
    ),
    st.dictionaries(st.sampled_from(["pong", "authenticated", "reason"]), VALUE, max_size=2),
    JSON,
)


@settings(max_examples=300, deadline=None)
@given(sent=st.sampled_from(SENT), data=RESPONSE_DATA)
def test_a_received_response_is_what_parse_response_reads(
    sent: tuple[Role, Command], data: Any
) -> None:
    role, command = sent
    client, server = pair()
    sender = server if role is Role.SERVER else client
    request = Request("s1", command)
    sender.send(request)
    frame = encode_frame({"type": "response", "rid": "s1", "data": data})
    got = outcome(sender.receive_data(frame))
    received = orjson.loads(frame.partition(b"#")[2])  # the data as the peer's JSON gives it
    try:
        response = parse_response(received, command.COMMAND)
    except RemoteProtocolError as exc:
        assert got == ("failed", exc.code, exc.message, exc.path)
    else:
        assert got == ("event", ResponseReceived(response, request))
        assert sender.pending_count == 0


REQUEST_DATA = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "verb": st.sampled_from(["invite", "Cancel", "in vite"]) | VALUE,
            "transactionId": VALUE,
            "code": st.integers(90, 710) | VALUE,
            "secret": VALUE,
            "method": st.sampled_from(["INVITE", "BYE"]) | VALUE,
            "uri": st.sampled_from(["sip:bob@example.com", "bob"]) | VALUE,
            "dialogId": VALUE,
            "status": VALUE,
            "headers": st.dictionaries(st.sampled_from(["X-A", "X B"]), VALUE, max_size=2) | JSON,
            "opts": st.fixed_dictionaries(
                {}, optional={"headers": st.dictionaries(LINE, VALUE, max_size=2), "body": VALUE}
            )
            | JSON,
        },
    ),
    JSON,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rid=st.sampled_from(["r1", "694984ea-16c6"]) | VALUE,
    command=st.sampled_from(sorted(CLIENT_COMMANDS | {"sip", "dance"})) | JSON,
    data=REQUEST_DATA,
)
def test_a_received_request_is_what_parse_request_reads(rid: Any, command: Any, data: Any) -> None:
    _, server = pair()
    frame = encode_frame({"type": "request", "rid": rid, "command": command, "data": data})
    got = outcome(server.receive_data(frame))
    received = orjson.loads(frame.partition(b"#")[2])
    try:
        request = parse_request(received, CLIENT_COMMANDS)
    except RemoteProtocolError as exc:
        if exc.fatal:
            assert got == ("failed", exc.code, exc.message, exc.path)
        else:
            assert got[0] == "event" and isinstance(got[1], RequestRejected)
            error = got[1].error
            assert (error.code, error.message, error.path, error.rid) == (
                exc.code,
                exc.message,
                exc.path,
                exc.rid,
            )
    else:
        # The request is built without checking its rid again: what the check
        # would have refused never gets there.
        assert Request(request.rid, request.data) == request
        if request.command == "auth":
            assert got[0] == "event" and isinstance(got[1], RequestRejected)
            assert got[1].error.code == "already_authenticated"
        else:
            assert got == ("event", RequestReceived(request))


STREAM = st.lists(
    st.one_of(
        st.dictionaries(st.text(max_size=4), st.integers(0, 9), max_size=3).map(encode_frame),
        st.sampled_from(
            [b"#", b"0", b"007#", b"2#{}", b"64#", b"65#", b"999#", b"3#[1]", b"5#{no"]
        ),
        st.binary(max_size=4),
    ),
    max_size=6,
).map(b"".join)


def read(chunks: list[bytes]) -> tuple[Any, ...]:
    """The frames a decoder (64 bytes at most) reads from ``chunks``, then its error."""
    decoder = FrameDecoder(max_frame_size=64)
    frames: list[dict[str, Any]] = []
    try:
        for chunk in chunks:
            frames += decoder.receive_data(chunk)
    except RemoteProtocolError as exc:
        return frames, exc.code, exc.message
    return frames, decoder.buffered


@settings(max_examples=300, deadline=None)
@given(stream=STREAM)
def test_the_decoder_reads_a_stream_whole_as_it_does_byte_by_byte(stream: bytes) -> None:
    # Whole, each complete prefix is read in one step; byte by byte, every
    # prefix is first incomplete and scanned by the slow path.
    assert read([stream]) == read([bytes([byte]) for byte in stream])


# ---------------------------------------------------------------- what a client reads most

# The server's sip, dialog and results are read in one test each and built
# without the checks when they pass it; a dict subclass (which no shortcut
# takes) gets the checks. Same result, same error, on generated data.


class Obj(dict):  # type: ignore[type-arg]
    """A dict subclass: not the exact type the shortcuts test, still a JSON object."""


MISSING = object()
INVITE_JSON = orjson.loads(INVITE.to_json())
OK_JSON = orjson.loads(OK.to_json())
SOURCE_JSON = {"transport": "udp", "address": "192.0.2.1", "port": 5060}
MESSAGES = mostly(
    st.sampled_from([INVITE_JSON, OK_JSON]),
    st.sampled_from(
        [
            *DICT_MESSAGES,
            {"request_uri": {}, "status_line": {}, "headers": {}},
            {"request_uri": None, "headers": {}},
            {"status_line": {}, "headers": None},
            {"request_uri": Obj(), "headers": Obj()},
        ]
    ),
    JSON,
)


def data_of(**fields: Any) -> dict[str, Any]:
    """A command's or result's data, without the fields drawn as MISSING."""
    return {name: value for name, value in fields.items() if value is not MISSING}


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``values``, or the field left out (one time in eight)."""
    return st.one_of(*[values] * 7, st.just(MISSING))


SOURCES = mostly(
    st.sampled_from([SOURCE_JSON]),
    st.builds(
        data_of,
        transport=maybe(mostly(st.sampled_from(["udp", "tcp", "wss"]), st.just("UDP"), VALUE)),
        address=maybe(IDS),
        port=maybe(
            mostly(st.sampled_from([1, 5060, 65535]), st.sampled_from([0, 65536, True, 5060.0]))
        ),
    ),
    JSON,
)


def decoded(parse: Callable[..., object], *args: Any) -> tuple[Any, ...]:
    """What ``parse(*args)`` gives: the value, or the error (either kind) and its path."""
    try:
        return ("built", parse(*args))
    except (LocalProtocolError, RemoteProtocolError) as exc:
        return ("refused", type(exc), exc.code, exc.message, exc.path)


def test_the_client_s_shortcuts_are_taken() -> None:
    def checks(build: Callable[[], object]) -> list[str]:
        return [name for name in checks_called(build) if name.startswith("check_")]

    sip = {"transactionId": "t", "message": INVITE_JSON, "source": SOURCE_JSON, "time": 1.5}
    result = {"success": True, "message": OK_JSON, "dialogId": "d"}
    dialog = {"dialogId": "d", "event": "destroyed"}
    assert checks(lambda: parse_command("sip", sip)) == ["check_object"]
    assert len(checks(lambda: parse_command("sip", Obj(sip)))) > 1
    assert checks(lambda: parse_command("dialog", dialog)) == ["check_object"]
    assert len(checks(lambda: parse_command("dialog", Obj(dialog)))) > 1
    assert checks(lambda: parse_response_data("respondToSipRequest", result)) == []
    assert checks(lambda: parse_response_data("respondToSipRequest", Obj(result)))


@settings(max_examples=1000, deadline=None)
@given(
    transaction_id=maybe(IDS),
    message=maybe(MESSAGES),
    dialog_id=maybe(mostly(st.none(), IDS)),
    source=maybe(mostly(st.none(), SOURCES)),
    time=maybe(mostly(st.none() | st.sampled_from([1.5, 0.0, 3]), NUMBERS, st.floats(), JSON)),
)
def test_a_sip_is_read_by_its_shortcut_as_by_the_checks(
    transaction_id: Any, message: Any, dialog_id: Any, source: Any, time: Any
) -> None:
    data = data_of(
        transactionId=transaction_id, message=message, dialogId=dialog_id, source=source, time=time
    )
    assert decoded(parse_command, "sip", data, "r") == decoded(parse_command, "sip", Obj(data), "r")


@settings(max_examples=300, deadline=None)
@given(source=SOURCES)
def test_a_source_is_read_by_its_shortcut_as_by_the_checks(source: Any) -> None:
    general = Obj(source) if isinstance(source, dict) else source
    assert decoded(Source._from_json, source) == decoded(Source._from_json, general)


@settings(max_examples=500, deadline=None)
@given(
    dialog_id=maybe(IDS),
    event=maybe(mostly(st.sampled_from(["created", "destroyed", "ack-timeout"]), VALUE)),
    reason=maybe(mostly(st.none() | st.just("BYE received"), IDS)),
)
def test_a_dialog_event_is_read_by_its_shortcut_as_by_the_checks(
    dialog_id: Any, event: Any, reason: Any
) -> None:
    data = data_of(dialogId=dialog_id, event=event, reason=reason)
    shortcut = decoded(parse_command, "dialog", data, "r")
    assert shortcut == decoded(parse_command, "dialog", Obj(data), "r")


@settings(max_examples=1000, deadline=None)
@given(
    command=st.sampled_from(["respondToSipRequest", "sendSipRequest"]),
    success=maybe(mostly(st.just(True), st.sampled_from([False, 1, "true", None]))),
    transaction_id=maybe(IDS),
    message=maybe(MESSAGES),
    dialog_id=maybe(mostly(st.none(), IDS)),
)
def test_a_result_is_read_by_its_shortcut_as_by_the_checks(
    command: str, success: Any, transaction_id: Any, message: Any, dialog_id: Any
) -> None:
    data = data_of(
        success=success, transactionId=transaction_id, message=message, dialogId=dialog_id
    )
    shortcut = decoded(parse_response_data, command, data)
    assert shortcut == decoded(parse_response_data, command, Obj(data))
