"""Reading the SIP message a drachtio-srf application writes."""

from __future__ import annotations

import pytest

from drachtio.srfproto import RemoteSrfError
from drachtio.srfproto.sip_text import command_headers, read_sip_text


def test_start_line_headers_in_order_and_the_body_after_the_blank_line() -> None:
    text = read_sip_text(
        "MESSAGE sip:bob@example.com SIP/2.0\r\n"
        "Subject: café\r\n"
        "X-Long: one\r\n two\r\n"
        "Route: <sip:a>\r\n"
        "route: <sip:b>\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 4\r\n"
        "\r\n"
        "héllo\r\n\r\nstill the body",
        "m1",
    )
    assert (text.method, text.request_uri, text.is_response) == (
        "MESSAGE",
        "sip:bob@example.com",
        False,
    )
    assert text.body == "héllo\r\n\r\nstill the body"
    # Content-Length counted UTF-16 units: never trusted, left out.
    assert command_headers(text, "m1") == {
        "Subject": "café",
        "X-Long": "one two",
        "Route": ["<sip:a>", "<sip:b>"],
        "Content-Type": "text/plain",
    }


def test_a_message_without_a_blank_line_has_no_body() -> None:
    text = read_sip_text("SIP/2.0 180 Ringing\r\nX-A: 1\r\n", "m1")
    assert (text.is_response, text.status("m1"), text.body) == (True, (180, "Ringing"), "")
    assert command_headers(text, "m1") == {"X-A": "1"}


def test_an_sdp_body_without_content_type_is_sdp_any_other_is_refused() -> None:
    sdp = read_sip_text("SIP/2.0 200 OK\r\n\r\nv=0\r\n", "m1")
    assert command_headers(sdp, "m1") == {"Content-Type": "application/sdp"}
    other = read_sip_text("SIP/2.0 200 OK\r\n\r\nhello", "m2")
    with pytest.raises(RemoteSrfError) as info:
        command_headers(other, "m2")
    assert (info.value.code, info.value.msg_id, info.value.fatal) == (
        "bad_sip_message",
        "m2",
        False,
    )


@pytest.mark.parametrize("line", ["SIP/2.0", "SIP/2.0 99 Low", "SIP/2.0 700 High", "SIP/2.0 2x0"])
def test_a_status_line_without_a_valid_code_is_refused(line: str) -> None:
    with pytest.raises(RemoteSrfError) as info:
        read_sip_text(line + "\r\n\r\n", "m1").status("m1")
    assert info.value.code == "bad_sip_message"
