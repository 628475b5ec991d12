"""Framing `<byte-length>#<json>`: chunking, byte counts, bounds, bad input."""

from __future__ import annotations

import pickle

import orjson
import pytest

from drachtio.protocol import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameDecoder,
    LocalProtocolError,
    RemoteProtocolError,
    encode_frame,
)

AUTH = {"type": "request", "rid": "1", "command": "auth", "data": {"secret": "s"}}


def frame(body: bytes) -> bytes:
    return str(len(body)).encode() + b"#" + body


def test_encode_counts_bytes_of_the_compact_json() -> None:
    assert encode_frame({"a": 1}) == b'7#{"a":1}'
    # "é" is 2 bytes in UTF-8, "😀" 4: 10 characters of JSON but 14 bytes.
    assert encode_frame({"k": "é😀"}) == '14#{"k":"é😀"}'.encode()


def test_encode_refuses_a_frame_over_the_maximum() -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode_frame({"k": "x" * 20}, max_frame_size=20)
    assert info.value.code == "frame_too_large"
    assert info.value.message == "frame of 28 bytes exceeds the maximum of 20 bytes"
    assert encode_frame({"k": "x" * 12}, max_frame_size=20) == b'20#{"k":"xxxxxxxxxxxx"}'


def test_encode_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(LocalProtocolError) as info:
        encode_frame({"k": object()})
    assert info.value.code == "invalid_data"


def test_one_frame_in_one_write() -> None:
    decoder = FrameDecoder()
    assert list(decoder.receive_data(encode_frame(AUTH))) == [AUTH]
    assert decoder.buffered == 0


def test_one_byte_writes() -> None:
    data = encode_frame(AUTH) + encode_frame({"x": "ü"})
    decoder = FrameDecoder()
    frames: list[dict[str, object]] = []
    for index in range(len(data)):
        frames.extend(decoder.receive_data(data[index : index + 1]))
        if index < len(data) - 1:
            assert len(frames) <= 1
    assert frames == [AUTH, {"x": "ü"}]
    assert decoder.buffered == 0


def test_a_multibyte_character_split_between_writes() -> None:
    data = encode_frame({"k": "€"})  # € is e2 82 ac
    cut = data.index(b"\xe2") + 1
    decoder = FrameDecoder()
    assert list(decoder.receive_data(data[:cut])) == []
    assert list(decoder.receive_data(data[cut:])) == [{"k": "€"}]


def test_many_frames_in_one_write_and_a_partial_tail() -> None:
    messages = [{"n": n, "s": "ñ" * n} for n in range(50)]
    data = b"".join(encode_frame(m) for m in messages)
    tail = encode_frame({"last": True})
    decoder = FrameDecoder()
    assert list(decoder.receive_data(data + tail[:5])) == messages
    # The prefix "13#" is consumed; two body bytes wait for the rest.
    assert tail[:3] == b"13#"
    assert decoder.buffered == 2
    assert list(decoder.receive_data(tail[5:])) == [{"last": True}]


def test_unread_frames_are_returned_by_the_next_call() -> None:
    decoder = FrameDecoder()
    frames = decoder.receive_data(encode_frame({"a": 1}) + encode_frame({"b": 2}))
    assert next(frames) == {"a": 1}
    del frames
    assert list(decoder.receive_data(b"")) == [{"b": 2}]


def test_a_character_count_prefix_is_wrong_for_utf8() -> None:
    # What the original implementation sent: the length in characters.
    body = '{"k":"né"}'
    decoder = FrameDecoder()
    # 10 characters announced, 11 bytes sent: the frame ends inside the body.
    with pytest.raises(RemoteProtocolError) as info:
        list(decoder.receive_data(f"{len(body)}#{body}".encode()))
    assert info.value.code == "invalid_json"


def expect_error(data: bytes, code: str, message: str, decoder: FrameDecoder | None = None) -> None:
    decoder = decoder or FrameDecoder()
    with pytest.raises(RemoteProtocolError) as info:
        list(decoder.receive_data(data))
    assert info.value.code == code
    assert info.value.message == message
    assert info.value.fatal
    assert info.value.rid is None
    # Poisoned: the decoder refuses more input.
    with pytest.raises(LocalProtocolError) as again:
        list(decoder.receive_data(encode_frame(AUTH)))
    assert again.value.code == "connection_closed"


def test_default_maximum_is_one_mebibyte() -> None:
    assert DEFAULT_MAX_FRAME_SIZE == 1048576
    body = orjson.dumps({"k": "x" * (1048576 - 8)})
    assert len(body) == 1048576
    assert list(FrameDecoder().receive_data(frame(body))) == [{"k": "x" * (1048576 - 8)}]
    expect_error(
        b"1048577#",
        "frame_too_large",
        "length prefix announces more than the maximum of 1048576 bytes",
    )


def test_two_gigabyte_prefix_is_refused_before_any_body() -> None:
    decoder = FrameDecoder()
    with pytest.raises(RemoteProtocolError) as info:
        list(decoder.receive_data(b"2147483648#{"))
    assert info.value.code == "frame_too_large"
    assert decoder.buffered == 0


def test_too_large_is_detected_before_the_hash_in_one_byte_writes() -> None:
    decoder = FrameDecoder(max_frame_size=100)
    assert list(decoder.receive_data(b"9")) == []
    assert list(decoder.receive_data(b"9")) == []
    with pytest.raises(RemoteProtocolError) as info:
        list(decoder.receive_data(b"9"))
    assert info.value.code == "frame_too_large"
    assert info.value.message == "length prefix announces more than the maximum of 100 bytes"


def test_configured_maximum() -> None:
    decoder = FrameDecoder(max_frame_size=10)
    assert list(decoder.receive_data(b'10#{"a":"bc"}')) == [{"a": "bc"}]
    expect_error(
        b'11#{"a":"bcd"}',
        "frame_too_large",
        "length prefix announces more than the maximum of 10 bytes",
        FrameDecoder(max_frame_size=10),
    )


def test_endless_digits_are_refused() -> None:
    # Leading zeros keep the value small; the digit count is bounded anyway.
    expect_error(b"0" * 8, "length_prefix_too_long", "length prefix longer than 7 digits")
    decoder = FrameDecoder()
    for _ in range(7):
        assert list(decoder.receive_data(b"0")) == []
    with pytest.raises(RemoteProtocolError) as info:
        list(decoder.receive_data(b"0"))
    assert info.value.code == "length_prefix_too_long"


def test_leading_zeros_within_the_digit_limit_are_accepted() -> None:
    assert list(FrameDecoder().receive_data(b'0000007#{"a":1}')) == [{"a": 1}]


def test_non_digit_prefix() -> None:
    expect_error(
        b"GET / HTTP/1.1\r\n",
        "bad_length_prefix",
        "byte 'G' in the length prefix, expected a digit or '#'",
    )
    expect_error(
        b"12 #{}", "bad_length_prefix", "byte ' ' in the length prefix, expected a digit or '#'"
    )
    expect_error(
        b"-2#{}", "bad_length_prefix", "byte '-' in the length prefix, expected a digit or '#'"
    )
    expect_error(
        b"\x00", "bad_length_prefix", "byte 0x00 in the length prefix, expected a digit or '#'"
    )
    expect_error(b"#{}", "bad_length_prefix", "frame starts with '#': the length is missing")


@pytest.mark.parametrize("prefix", [b"+2", b" 2", b"1_0", b"\xd9\xa2"])
def test_what_int_would_accept_is_still_a_bad_prefix(prefix: bytes) -> None:
    # A sign, spaces, underscores and non-ASCII digits all parse as numbers in Python.
    with pytest.raises(RemoteProtocolError) as info:
        list(FrameDecoder().receive_data(prefix + b"#{}"))
    assert info.value.code == "bad_length_prefix"


def test_bad_prefix_after_good_frames_yields_them_first() -> None:
    decoder = FrameDecoder()
    frames = decoder.receive_data(encode_frame({"a": 1}) + encode_frame({"b": 2}) + b"x#")
    assert next(frames) == {"a": 1}
    assert next(frames) == {"b": 2}
    with pytest.raises(RemoteProtocolError) as info:
        next(frames)
    assert info.value.code == "bad_length_prefix"


def test_invalid_json() -> None:
    expect_error(
        b'13#{"secret":cymru',
        "invalid_json",
        "frame body is not valid JSON: unexpected character, expected a JSON value: "
        "line 1 column 11 (char 10)",
    )
    expect_error(
        b"0#",
        "invalid_json",
        "frame body is not valid JSON: Input is a zero-length, empty document: "
        "line 1 column 1 (char 0)",
    )
    expect_error(
        b"4#{}{}",
        "invalid_json",
        "frame body is not valid JSON: unexpected content after document: line 1 column 3 (char 2)",
    )
    assert list(FrameDecoder().receive_data(b"2#{}")) == [{}]


def test_invalid_utf8_is_invalid_json() -> None:
    expect_error(
        b'9#{"a":"\xff"}',
        "invalid_json",
        "frame body is not valid JSON: str is not valid UTF-8: surrogates not allowed: "
        "line 1 column 1 (char 0)",
    )


def test_the_error_does_not_keep_the_body() -> None:
    decoder = FrameDecoder()
    with pytest.raises(RemoteProtocolError) as info:
        list(decoder.receive_data(frame(b'{"secret":"cymru"')))
    assert "cymru" not in info.value.message
    assert info.value.__context__ is None
    assert info.value.__cause__ is None


def test_json_that_is_not_an_object() -> None:
    expect_error(
        b"5#[1,2]",
        "not_an_object",
        "frame body is a JSON array, the protocol sends objects only",
    )
    expect_error(
        b'3#"x"', "not_an_object", "frame body is a JSON string, the protocol sends objects only"
    )
    expect_error(
        b"1#1", "not_an_object", "frame body is a JSON number, the protocol sends objects only"
    )
    expect_error(
        b"4#null", "not_an_object", "frame body is a JSON null, the protocol sends objects only"
    )


def test_maximum_must_hold_an_object() -> None:
    with pytest.raises(ValueError):
        FrameDecoder(max_frame_size=1)


def test_remote_error_pickles_with_its_attributes() -> None:
    error = RemoteProtocolError(
        "invalid_data", "data.code: bad", path="data.code", rid="r", fatal=False
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.message, copy.path, copy.rid, copy.fatal) == (
        "invalid_data",
        "data.code: bad",
        "data.code",
        "r",
        False,
    )
    local = pickle.loads(pickle.dumps(LocalProtocolError("unknown_rid", "no", "rid")))
    assert (local.code, local.message, local.path) == ("unknown_rid", "no", "rid")
