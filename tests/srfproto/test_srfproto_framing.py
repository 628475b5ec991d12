"""Framing `<byte-length>#<payload>` of the drachtio-srf dialect: bytes, chunks, bounds."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drachtio.srfproto import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameDecoder,
    LocalSrfError,
    RemoteSrfError,
    encode_frame,
    read_length_prefix,
)

AUTH = "3f1e|authenticate|cymru|"


def test_encode_counts_bytes_not_characters() -> None:
    assert encode_frame(AUTH) == b"24#3f1e|authenticate|cymru|"
    # "é" is 2 bytes, "😀" 4: 2 characters but 6 bytes.
    assert encode_frame("é😀") == "6#é😀".encode()


def test_decode_cuts_by_bytes_in_a_multi_byte_header_and_body() -> None:
    payload = "m1|sip||\r\nMESSAGE sip:b@x SIP/2.0\r\nSubject: café ☕\r\n\r\nhéllo 😀"
    data = encode_frame(payload) + encode_frame("m2|ping")
    assert len(payload) < len(payload.encode()) - 5
    decoder = FrameDecoder()
    assert decoder.payloads(data) == [payload, "m2|ping"]


def test_a_character_count_prefix_is_caught_by_the_next_frame() -> None:
    # A peer that counted characters sends a prefix 2 short for "é😀": the
    # frame ends inside the next one, whose bytes then fail as a prefix.
    wrong = b"2#" + "é😀".encode()
    decoder = FrameDecoder()
    assert decoder.payloads(wrong[:4]) == ["é"]
    with pytest.raises(RemoteSrfError) as info:
        decoder.payloads(wrong[4:])
    assert info.value.code == "bad_length_prefix"
    assert info.value.message == "byte 0xf0 in the length prefix, expected a digit or '#'"


@given(
    payloads=st.lists(st.text(min_size=1), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_any_chunking_gives_the_same_payloads(payloads: list[str], cuts: list[int]) -> None:
    payloads = [p for p in payloads if not any(0xD800 <= ord(c) <= 0xDFFF for c in p)]
    data = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    got: list[str] = []
    start = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        got += decoder.payloads(data[start:cut])
        start = cut
    got += decoder.payloads(data[start:])
    assert got == payloads
    assert decoder.buffered == 0


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (b"#abc", "bad_length_prefix", "frame starts with '#': the length is missing"),
        (b"0#", "bad_length_prefix", "length prefix is 0: a frame has a payload"),
        (b"12a#", "bad_length_prefix", "byte 'a' in the length prefix, expected a digit or '#'"),
        (
            b" 5#hello",
            "bad_length_prefix",
            "byte ' ' in the length prefix, expected a digit or '#'",
        ),
        (b"-5#", "bad_length_prefix", "byte '-' in the length prefix, expected a digit or '#'"),
        (b"00000000", "length_prefix_too_long", "length prefix longer than 7 digits"),
        (b"0000000001#x", "length_prefix_too_long", "length prefix longer than 7 digits"),
        (
            b"2000000",
            "frame_too_large",
            "length prefix announces more than the maximum of 1048576 bytes",
        ),
        (
            b"2#\xc3\x28",
            "invalid_utf8",
            "payload is not UTF-8: byte 0 of 2 (invalid continuation byte)",
        ),
    ],
)
def test_bad_input_gives_a_precise_fatal_error(data: bytes, code: str, message: str) -> None:
    decoder = FrameDecoder()
    with pytest.raises(RemoteSrfError) as info:
        decoder.payloads(data)
    assert (info.value.code, info.value.message, info.value.fatal) == (code, message, True)
    with pytest.raises(LocalSrfError) as again:
        decoder.feed(b"5#hello")
    assert again.value.code == "connection_closed"


def test_an_oversized_prefix_is_refused_before_its_payload_arrives() -> None:
    decoder = FrameDecoder(max_frame_size=100)
    assert decoder.payloads(b"10") == []
    with pytest.raises(RemoteSrfError) as info:
        decoder.payloads(b"1")
    assert info.value.code == "frame_too_large"
    assert decoder.buffered == 0


def test_a_frame_of_exactly_the_maximum_passes() -> None:
    decoder = FrameDecoder(max_frame_size=100)
    assert decoder.payloads(b"100#" + b"x" * 100) == ["x" * 100]
    assert read_length_prefix(b"100#", 100) == (100, 4)
    assert read_length_prefix(b"100", 100) is None


def test_encode_refuses_what_cannot_be_framed() -> None:
    with pytest.raises(LocalSrfError) as info:
        encode_frame("x" * 21, max_frame_size=20)
    assert (info.value.code, info.value.message) == (
        "frame_too_large",
        "payload of 21 bytes exceeds the maximum of 20 bytes",
    )
    with pytest.raises(LocalSrfError) as empty:
        encode_frame("")
    assert empty.value.code == "bad_value"
    with pytest.raises(LocalSrfError) as surrogate:
        encode_frame("a\ud800")
    assert surrogate.value.code == "bad_value"


def test_errors_pickle_with_their_fields() -> None:
    error = RemoteSrfError("bad_token", "m", msg_id="x", fatal=False)
    back = pickle.loads(pickle.dumps(error))
    assert (back.code, back.message, back.msg_id, back.fatal) == ("bad_token", "m", "x", False)
    local = pickle.loads(pickle.dumps(LocalSrfError("bad_value", "n")))
    assert (local.code, local.message) == ("bad_value", "n")
    assert DEFAULT_MAX_FRAME_SIZE == 1024 * 1024


def test_the_complete_frames_in_the_specification_count_their_bytes() -> None:
    spec = Path(__file__).parents[2] / "docs" / "srf-protocol.md"
    examples = [
        line[2:].replace("\\r\\n", "\r\n").replace("\\n", "\n").encode()
        for line in spec.read_text(encoding="utf-8").splitlines()
        if line[:2] in ("→ ", "← ") and line[2:3].isdigit()
    ]
    assert len(examples) == 3
    for data in examples:
        decoder = FrameDecoder()
        (payload,) = decoder.payloads(data)
        assert encode_frame(payload) == data
