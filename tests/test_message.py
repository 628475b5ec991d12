"""Messages: parsing, header access, building, serializing, errors."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import orjson
import pytest

import drachtio
from drachtio import (
    DrachtioError,
    ParseError,
    SipMessage,
    SipRequest,
    SipResponse,
    Uri,
    parse,
)

RFC4475 = Path(__file__).parent / "data" / "sip" / "rfc4475"

SEED_INVITE = (
    b"INVITE sip:11@localhost SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:39918;branch=z9hG4bK-d8754z-ce8b6972d37e5b74-1---d8754z-"
    b";rport=39918\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:1234@localhost>;tag=f66e7e75\r\n"
    b"To: <sip:11@localhost>\r\n"
    b"Call-ID: MDJiMjA5NzQxNzliMmZiNDJlZjIxNmVhY2I4MTBlZmY\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:1234@127.0.0.1:39918>\r\n"
    b"\r\n"
)

RINGING = (
    b"SIP/2.0 180 Ringing\r\n"
    b"v: SIP/2.0/UDP 127.0.0.1:39918;branch=z9hG4bK-1;rport=39918\r\n"
    b"f: <sip:1234@localhost>;tag=f66e7e75\r\n"
    b"t: <sip:11@localhost>;tag=as1\r\n"
    b"i: abc@localhost\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"l: 0\r\n"
    b"\r\n"
)


def rfc4475(name: str) -> bytes:
    return (RFC4475 / f"{name}.dat").read_bytes()


def test_parse_request() -> None:
    msg = parse(SEED_INVITE)
    assert isinstance(msg, SipRequest)
    assert isinstance(msg, SipMessage)
    assert msg.is_request is True
    assert msg.method == "INVITE"
    assert str(msg.uri) == "sip:11@localhost"
    assert msg.body == b""
    assert msg.headers == [
        (
            "Via",
            "SIP/2.0/UDP 127.0.0.1:39918;branch=z9hG4bK-d8754z-ce8b6972d37e5b74-1---d8754z-"
            ";rport=39918",
        ),
        ("Max-Forwards", "70"),
        ("From", "<sip:1234@localhost>;tag=f66e7e75"),
        ("To", "<sip:11@localhost>"),
        ("Call-ID", "MDJiMjA5NzQxNzliMmZiNDJlZjIxNmVhY2I4MTBlZmY"),
        ("CSeq", "1 INVITE"),
        ("Contact", "<sip:1234@127.0.0.1:39918>"),
    ]


def test_parse_response_with_compact_headers() -> None:
    msg = parse(RINGING)
    assert isinstance(msg, SipResponse)
    assert msg.is_request is False
    assert (msg.status, msg.reason) == (180, "Ringing")
    assert [name for name, _ in msg.headers] == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Content-Length",
    ]
    assert msg.content_length == 0


def test_parse_response_without_reason_phrase() -> None:
    msg = parse(rfc4475("noreason"))
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason) == (100, "")


def test_parse_response_with_utf8_reason_phrase() -> None:
    msg = parse(rfc4475("unreason"))
    assert isinstance(msg, SipResponse)
    assert msg.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    assert len(msg.body) == 154


def test_parse_request_with_body() -> None:
    data = rfc4475("wsinv")
    msg = parse(data)
    assert msg.content_length == 150
    assert len(msg.body) == 150
    assert msg.body.startswith(b"v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\n")
    assert data.endswith(msg.body)


def test_parse_skips_leading_crlf() -> None:
    assert parse(b"\r\n\r\n" + SEED_INVITE) == parse(SEED_INVITE)


def test_header_lookup_any_case_and_compact_form() -> None:
    msg = parse(SEED_INVITE)
    call_id = "MDJiMjA5NzQxNzliMmZiNDJlZjIxNmVhY2I4MTBlZmY"
    assert msg.header("Call-ID") == call_id
    assert msg.header("call-id") == call_id
    assert msg.header("CALL-ID") == call_id
    assert msg.header("i") == call_id
    assert msg.header("I") == call_id
    assert msg.header("m") == "<sip:1234@127.0.0.1:39918>"
    assert msg.header("User-Agent") is None
    assert "via" in msg
    assert "v" in msg
    assert "Subject" not in msg
    assert "s" not in msg


def test_compact_names_in_message_are_found_by_long_name() -> None:
    msg = parse(RINGING)
    assert msg.header("Call-ID") == "abc@localhost"
    assert msg.header("from") == "<sip:1234@localhost>;tag=f66e7e75"
    assert msg.header("content-length") == "0"


def test_header_all_returns_one_value_per_line() -> None:
    msg = parse(rfc4475("transports"))
    assert msg.header_all("via") == [
        "SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw",
        "SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf",
        "SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj",
        "SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en",
        "SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee",
    ]
    assert msg.header("Via") == "SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw"
    assert msg.header_all("Route") == []


def test_unknown_header_keeps_its_spelling() -> None:
    msg = parse(rfc4475("wsinv"))
    assert ("NewFangledHeader", "newfangled value continued newfangled value") in msg.headers
    assert msg.header("newfangledheader") == "newfangled value continued newfangled value"


def test_to_bytes_writes_canonical_names_and_content_length() -> None:
    msg = parse(RINGING)
    assert msg.to_bytes() == (
        b"SIP/2.0 180 Ringing\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:39918;branch=z9hG4bK-1;rport=39918\r\n"
        b"From: <sip:1234@localhost>;tag=f66e7e75\r\n"
        b"To: <sip:11@localhost>;tag=as1\r\n"
        b"Call-ID: abc@localhost\r\n"
        b"CSeq: 1 INVITE\r\n"
        b"Content-Length: 0\r\n"
        b"\r\n"
    )
    assert bytes(msg) == msg.to_bytes()


def test_to_bytes_adds_content_length_when_missing() -> None:
    assert parse(SEED_INVITE).to_bytes() == SEED_INVITE[:-2] + b"Content-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    "name", ["wsinv", "esc01", "transports", "noreason", "unreason", "intmeth", "mpart01"]
)
def test_round_trip_through_bytes(name: str) -> None:
    first = parse(rfc4475(name))
    again = parse(first.to_bytes())
    assert type(again) is type(first)
    assert again.body == first.body
    assert again.to_bytes() == first.to_bytes()
    assert again == parse(again.to_bytes())


def test_equality() -> None:
    assert parse(SEED_INVITE) == parse(SEED_INVITE)
    assert parse(SEED_INVITE) != parse(SEED_INVITE.replace(b"tag=f66e7e75", b"tag=other"))
    assert parse(SEED_INVITE) != parse(RINGING)
    assert parse(SEED_INVITE) != SEED_INVITE
    with pytest.raises(TypeError):
        hash(parse(SEED_INVITE))


def test_repr() -> None:
    assert repr(parse(SEED_INVITE)) == "<SipRequest INVITE sip:11@localhost>"
    assert repr(parse(RINGING)) == "<SipResponse 180 Ringing>"


def test_messages_are_read_only() -> None:
    msg = SipRequest("INVITE", "sip:a@b")
    with pytest.raises(AttributeError):
        msg.method = "BYE"  # type: ignore[misc]
    with pytest.raises(TypeError):
        SipMessage()


# ------------------------------------------------------------------ building


def test_build_request() -> None:
    msg = SipRequest(
        "OPTIONS",
        "sip:alice@example.com",
        headers=[
            ("v", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds"),
            ("max-forwards", "70"),
            ("X-Custom", "yes"),
        ],
        body=b"hello",
    )
    assert msg.method == "OPTIONS"
    assert msg.uri == Uri("sip:alice@example.com")
    assert msg.headers == [
        ("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds"),
        ("Max-Forwards", "70"),
        ("X-Custom", "yes"),
    ]
    assert msg.body == b"hello"
    assert msg.to_bytes() == (
        b"OPTIONS sip:alice@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n"
        b"Max-Forwards: 70\r\n"
        b"X-Custom: yes\r\n"
        b"Content-Length: 5\r\n"
        b"\r\n"
        b"hello"
    )
    assert parse(msg.to_bytes()).to_bytes() == msg.to_bytes()


def test_build_request_from_mapping_and_uri_object() -> None:
    uri = Uri("sip:bob@example.com;transport=tcp")
    msg = SipRequest("BYE", uri, {"Call-ID": "x@y", "CSeq": "2 BYE"})
    assert msg.uri == uri
    assert msg.headers == [("Call-ID", "x@y"), ("CSeq", "2 BYE")]
    assert msg.call_id == "x@y"
    assert msg.body == b""


def test_build_response() -> None:
    ok = SipResponse(200, headers=[("CSeq", "1 INVITE")])
    assert (ok.status, ok.reason) == (200, "OK")
    assert ok.to_bytes() == b"SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    assert SipResponse(299).reason == "Success"
    assert SipResponse(486, "Busy").to_bytes() == (b"SIP/2.0 486 Busy\r\nContent-Length: 0\r\n\r\n")
    assert SipResponse(183, "", body=b"sdp").to_bytes() == (
        b"SIP/2.0 183 \r\nContent-Length: 3\r\n\r\nsdp"
    )


def test_build_with_extension_method() -> None:
    assert SipRequest("FOO", "sip:a@b").method == "FOO"


@pytest.mark.parametrize("method", ["", "IN VITE", "INVITE\r\n", "INVITE:"])
def test_build_rejects_a_method_that_is_not_a_token(method: str) -> None:
    with pytest.raises(ValueError, match="not a token") as info:
        SipRequest(method, "sip:a@b")
    assert not isinstance(info.value, ParseError)


def test_build_rejects_an_unparsable_uri() -> None:
    with pytest.raises(ParseError) as info:
        SipRequest("INVITE", "sip:")
    assert info.value.kind == "bad_uri"
    with pytest.raises(ParseError):
        SipRequest("INVITE", "no scheme")


def test_build_rejects_a_request_uri_with_headers() -> None:
    with pytest.raises(ValueError, match="must not contain headers"):
        SipRequest("INVITE", "sip:a@b?subject=x")


@pytest.mark.parametrize("status", [0, 99, 700, 1000, -200, 2**70])
def test_build_rejects_a_status_out_of_range(status: int) -> None:
    with pytest.raises((ValueError, OverflowError)):
        SipResponse(status)


def test_build_status_bounds() -> None:
    assert SipResponse(100).reason == "Trying"
    assert SipResponse(699).status == 699
    with pytest.raises(ValueError, match=r"not in 100\.\.699"):
        SipResponse(99)


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([("Bad Name", "x")], ValueError),
        ([("", "x")], ValueError),
        ([("X-A", "line\r\nInjected: yes")], ValueError),
        ([("X-A", "bare\nInjected: yes")], ValueError),
        ([("X-A", "bare\rInjected: yes")], ValueError),
        ([("X-A", 1)], TypeError),
        ([("X-A",)], TypeError),
        (["X-A: b"], TypeError),
        ("X-A: b", TypeError),
        ({"X-A": b"bytes"}, TypeError),
    ],
)
def test_build_rejects_bad_headers(headers: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        SipRequest("INVITE", "sip:a@b", headers)  # type: ignore[arg-type]


def test_build_rejects_a_reason_phrase_with_a_line_break() -> None:
    with pytest.raises(ValueError, match="control character"):
        SipResponse(200, "OK\r\nX: y")
    with pytest.raises(ValueError, match="control character"):
        SipResponse(200, "O\x7fK")


def test_a_received_header_value_can_be_written_again_as_it_is() -> None:
    # RFC 3261 §25.1 quoted-pair: any character but CR and LF may follow a
    # backslash in a quoted string, control characters included.
    to = '"a\\\x07b \\\x00 \\\x7f" <sip:b@example.com>'
    request = parse(
        b"OPTIONS sip:b@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        + f"To: {to}\r\n".encode()
        + b"From: <sip:a@example.com>;tag=1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
    )
    assert request.header("To") == to
    response = SipResponse(200, "OK", [("To", request.header("To") or "")])
    assert f"To: {to}\r\n".encode() in response.to_bytes()


def test_built_message_with_malformed_header_raises_when_view_is_read() -> None:
    msg = SipRequest(
        "INVITE",
        "sip:a@b",
        [("Via", "garbage"), ("CSeq", "x INVITE"), ("Max-Forwards", "300"), ("To", '"x <sip:a@b>')],
    )
    with pytest.raises(ParseError) as via:
        _ = msg.vias
    assert via.value.kind == "bad_via"
    with pytest.raises(ParseError) as cseq:
        _ = msg.cseq
    assert cseq.value.kind == "bad_cseq"
    with pytest.raises(ParseError) as max_forwards:
        _ = msg.max_forwards
    assert max_forwards.value.kind == "bad_max_forwards"
    with pytest.raises(ParseError) as to:
        _ = msg.to
    assert to.value.kind == "bad_name_addr"
    assert msg.from_ is None


# -------------------------------------------------------------------- errors


def test_parse_error_for_unsupported_version() -> None:
    data = rfc4475("badvers")
    with pytest.raises(ParseError) as info:
        parse(data)
    e = info.value
    assert e.kind == "bad_version"
    assert e.status_code == 505
    assert e.offset == data.index(b"SIP/7.0")
    assert e.detail == "only SIP/2.0 is supported"
    assert str(e) == f"bad_version at byte {e.offset}: only SIP/2.0 is supported"
    assert isinstance(e, ValueError)
    assert isinstance(e, DrachtioError)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ncl", "bad_content_length"),
        ("badinv01", "bad_via"),
        ("clerr", "body_too_short"),
        ("scalar02", "bad_cseq"),
        ("quotbal", "bad_name_addr"),
        ("ltgtruri", "bad_request_uri"),
        ("lwsstart", "bad_request_line"),
        ("mismatch01", "cseq_method_mismatch"),
        ("bigcode", "bad_status_code"),
    ],
)
def test_parse_error_kinds(name: str, kind: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(rfc4475(name))
    assert info.value.kind == kind
    assert info.value.status_code == 400


def test_parse_error_offset_points_into_the_message() -> None:
    data = rfc4475("quotbal")
    with pytest.raises(ParseError) as info:
        parse(data)
    assert data[info.value.offset : info.value.offset + 5] == b'"Mr. '


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (b"INVITE sip:a@b SIP/2.0\r\nVia: x", "unterminated_headers"),
        (b"INVITE sip:a@b SIP/2.0\r\nX: \xff\r\n\r\n", "invalid_utf8"),
        (b"INVITE sip:a@b SIP/2.0\r\nno colon\r\n\r\n", "bad_header_line"),
    ],
)
def test_parse_error_on_garbage(data: bytes, kind: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(data)
    assert info.value.kind == kind


def test_parse_requires_bytes() -> None:
    with pytest.raises(TypeError):
        parse("INVITE sip:a@b SIP/2.0\r\n\r\n")  # type: ignore[arg-type]


def test_parse_error_pickles() -> None:
    with pytest.raises(ParseError) as info:
        parse(rfc4475("badvers"))
    e = pickle.loads(pickle.dumps(info.value))
    assert type(e) is ParseError
    assert (e.kind, e.offset, e.status_code, e.detail, str(e)) == (
        info.value.kind,
        info.value.offset,
        info.value.status_code,
        info.value.detail,
        str(info.value),
    )


def test_parse_error_is_the_public_class() -> None:
    assert drachtio.ParseError is drachtio.errors.ParseError
    assert issubclass(ParseError, DrachtioError)
    assert issubclass(ParseError, ValueError)


# ----------------------------------------------------------------- JSON form


SEED_INVITE_DICT: dict[str, Any] = {
    "request_uri": {
        "method": "INVITE",
        "version": "SIP/2.0",
        "url": {"scheme": "sip", "user": "11", "host": "localhost"},
    },
    "headers": {
        "via": [
            {
                "protocol": "SIP/2.0/UDP",
                "host": "127.0.0.1",
                "port": "39918",
                "branch": "z9hG4bK-d8754z-ce8b6972d37e5b74-1---d8754z-",
                "rport": "39918",
                "params": ["branch=z9hG4bK-d8754z-ce8b6972d37e5b74-1---d8754z-", "rport=39918"],
            }
        ],
        "max_forwards": {"count": "70"},
        "from": {
            "display": "",
            "tag": "f66e7e75",
            "url": {"scheme": "sip", "user": "1234", "host": "localhost"},
            "params": ["tag=f66e7e75"],
        },
        "to": {
            "display": "",
            "url": {"scheme": "sip", "user": "11", "host": "localhost"},
            "params": [],
        },
        "call_id": "MDJiMjA5NzQxNzliMmZiNDJlZjIxNmVhY2I4MTBlZmY",
        "cseq": {"seq": "1", "method": "INVITE"},
        "contact": {
            "display": "",
            "url": {"scheme": "sip", "user": "1234", "host": "127.0.0.1", "port": "39918"},
            "params": [],
        },
    },
}


def test_to_dict_of_the_seed_invite() -> None:
    d = parse(SEED_INVITE).to_dict()
    assert d == SEED_INVITE_DICT
    assert list(d["headers"]) == list(SEED_INVITE_DICT["headers"])


def test_to_json_is_the_dict_as_json_text() -> None:
    for msg in (parse(SEED_INVITE), drachtio.from_dict(SEED_INVITE_DICT)):
        text = msg.to_json()
        assert isinstance(text, bytes)
        assert orjson.loads(text) == msg.to_dict() == SEED_INVITE_DICT
    body = SipResponse(200, headers=[("Content-Type", "text/plain")], body="héllo".encode())
    assert orjson.loads(body.to_json())["payload"] == {"type": "text/plain", "content": "héllo"}


def test_from_dict_rebuilds_the_seed_invite() -> None:
    msg = drachtio.from_dict(SEED_INVITE_DICT)
    assert isinstance(msg, SipRequest)
    assert msg == parse(SEED_INVITE)


def test_to_dict_of_a_response_with_body() -> None:
    msg = SipResponse(
        200, headers=[("CSeq", "1 INVITE"), ("Content-Type", "application/sdp")], body=b"v=0\r\n"
    )
    assert msg.to_dict() == {
        "status_line": {"version": "SIP/2.0", "status_code": 200, "reason": "OK"},
        "headers": {"cseq": {"seq": "1", "method": "INVITE"}, "content_type": "application/sdp"},
        "payload": {"type": "application/sdp", "content": "v=0\r\n"},
    }
    assert drachtio.from_dict(msg.to_dict()) == msg


def test_binary_body_round_trips_through_the_dict() -> None:
    msg = SipResponse(200, body=b"\xff\x00")
    assert msg.to_dict()["payload"] == {"content": "/wA=", "encoding": "base64"}
    assert drachtio.from_dict(msg.to_dict()).body == b"\xff\x00"


def test_from_dict_accepts_plain_strings_and_tuples() -> None:
    msg = drachtio.from_dict(
        {
            "request_uri": {"method": "OPTIONS", "url": "sip:alice@example.com"},
            "headers": {
                "via": ("SIP/2.0/UDP h;branch=z9hG4bK1",),
                "call_id": "abc",
                "cseq": {"seq": 2, "method": "OPTIONS"},
            },
        }
    )
    assert isinstance(msg, SipRequest)
    assert msg.headers == [
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),
        ("Call-ID", "abc"),
        ("CSeq", "2 OPTIONS"),
    ]


@pytest.mark.parametrize(
    ("d", "message"),
    [
        ([], r"^\$: expected an object$"),
        ({"request_uri": {"method": "IN VITE", "url": "sip:a@b"}}, "^request_uri.method: "),
        ({"status_line": {"status_code": True}}, "^status_line.status_code: "),
        ({"status_line": {"status_code": 200}, "headers": {"x": "a\r\nb"}}, "^headers.x: "),
        ({"status_line": {"status_code": 200.5}}, "^status_line.status_code: "),
    ],
)
def test_from_dict_names_the_bad_part(d: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        drachtio.from_dict(d)


@pytest.mark.parametrize(
    ("d", "error"),
    [
        ({1: "x"}, TypeError),
        ({"status_line": {"status_code": object()}}, TypeError),
        ({"status_line": {"status_code": float("nan")}}, ValueError),
        ({"status_line": {"status_code": 2**64}}, ValueError),
    ],
)
def test_from_dict_rejects_what_json_cannot_hold(d: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        drachtio.from_dict(d)


def test_from_dict_refuses_deep_nesting() -> None:
    deep: Any = "x"
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError, match="nested deeper"):
        drachtio.from_dict({"status_line": {"status_code": 200}, "headers": {"x": deep}})
