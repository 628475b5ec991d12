"""Telling a JSON first frame from a drachtio-srf authenticate, from the first bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drachtio.protocol import Connection, RequestReceived, Role
from drachtio.protocol import encode_frame as encode_json_frame
from drachtio.srfproto import (
    MAX_SNIFFED_MSG_ID,
    Authenticate,
    Dialect,
    MessageReceived,
    RemoteSrfError,
    ServerConnection,
    encode_frame,
    sniff_dialect,
    sniff_limit,
)

SRF_AUTH = encode_frame(Authenticate("1b4c8d6e-2f3a-4b5c-9d8e-7f6a5b4c3d2e", "cymru").to_payload())
JSON_AUTH = encode_json_frame(
    {"type": "request", "rid": "1", "command": "auth", "data": {"secret": "cymru"}}
)


def decided_after(data: bytes) -> tuple[Dialect, int]:
    """The dialect and how many bytes it took, feeding one byte more each time."""
    for size in range(len(data) + 1):
        dialect = sniff_dialect(data[:size])
        if dialect is not None:
            return dialect, size
    raise AssertionError("never decided")


def test_json_is_decided_on_the_first_payload_byte() -> None:
    assert decided_after(JSON_AUTH) == (Dialect.JSON, JSON_AUTH.index(b"#") + 2)
    assert sniff_dialect(b"20#  \r\n{") is Dialect.JSON


def test_srf_is_decided_once_authenticate_and_its_bar_arrived() -> None:
    prefix = SRF_AUTH.index(b"#") + 1
    assert decided_after(SRF_AUTH) == (Dialect.SRF, prefix + 36 + 1 + len("authenticate|"))
    assert decided_after(SRF_AUTH)[1] <= sniff_limit()


def test_an_authenticate_frame_without_its_secret_still_names_the_dialect() -> None:
    # The parser, not the sniffer, then refuses the missing secret precisely.
    assert sniff_dialect(b"14#a|authenticate") is Dialect.SRF


@given(
    st.text(
        st.characters(codec="utf-8", exclude_characters="|\r\n"),
        min_size=1,
        max_size=MAX_SNIFFED_MSG_ID,
    )
)
def test_any_msg_id_up_to_the_limit_is_recognised(msg_id: str) -> None:
    frame = encode_frame(Authenticate(msg_id, "s").to_payload())
    expected = Dialect.JSON if msg_id.lstrip(" \t")[:1] == "{" else Dialect.SRF
    if len(msg_id.encode()) <= MAX_SNIFFED_MSG_ID:
        assert sniff_dialect(frame) is expected


@pytest.mark.parametrize(
    ("data", "code", "text"),
    [
        (b"#{}", "bad_length_prefix", "frame starts with '#'"),
        (b"GET / HTTP/1.1\r\n", "bad_length_prefix", "byte 'G' in the length prefix"),
        (b"99999999#", "frame_too_large", "more than the maximum"),
        (b"3#   ", "not_a_dialect", "the first frame holds only whitespace"),
        (b"4#  [1", "not_a_dialect", "has no '|' in its first 4 bytes"),
        (b"3#[1]", "not_a_dialect", "has no '|' in its first 3 bytes"),
        (b"13#a|route|invite", "not_a_dialect", "(message type 'route')"),
        (b"10#abc|ping|", "not_a_dialect", "(message type 'ping')"),
        (b"7#a|authx", "not_a_dialect", "(message type 'authx')"),
        (b"9#|authent", "not_a_dialect", "the msgId is empty"),
        (
            b"300#" + b"x" * (MAX_SNIFFED_MSG_ID + 1),
            "not_a_dialect",
            f"no '|' in its first {MAX_SNIFFED_MSG_ID + 1} bytes",
        ),
    ],
)
def test_neither_dialect_is_refused_precisely(data: bytes, code: str, text: str) -> None:
    with pytest.raises(RemoteSrfError) as info:
        sniff_dialect(data)
    assert info.value.code == code
    assert text in info.value.message
    assert info.value.fatal


@pytest.mark.parametrize(
    "data", [b"", b"12", b"120#", b"120#  ", b"120#abc", b"120#abc|", b"120#abc|authen"]
)
def test_too_few_bytes_to_tell(data: bytes) -> None:
    assert sniff_dialect(data) is None


def test_the_sniffed_bytes_go_unchanged_to_the_chosen_dialect() -> None:
    # The sniffer consumes nothing: each dialect's connection reads the same bytes.
    srf = ServerConnection()
    (received,) = srf.receive_data(SRF_AUTH)
    assert received == MessageReceived(
        Authenticate("1b4c8d6e-2f3a-4b5c-9d8e-7f6a5b4c3d2e", "cymru")
    )
    json = Connection(Role.SERVER)
    (request,) = json.receive_data(JSON_AUTH)
    assert isinstance(request, RequestReceived)
    assert request.request.data.COMMAND == "auth"
