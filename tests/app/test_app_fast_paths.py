"""The application reads a message's method and body from its JSON form without building it.

``request_method`` and ``message_body`` (``drachtio.app.link``) answer from
the JSON form for the common cases and say "don't know" (None) otherwise,
when the message must be built (``from_dict``) to tell. On generated
messages, what they answer must be what the built message says; where
building fails because of the part they read, they must not answer.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from drachtio import DrachtioError, parse
from drachtio._core import from_dict
from drachtio.app.link import message_body, request_method

BASE = orjson.loads(
    parse(
        b"MESSAGE sip:bob@example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-1\r\n"
        b"From: <sip:alice@example.com>;tag=1\r\n"
        b"To: <sip:bob@example.com>\r\n"
        b"Call-ID: fast-1\r\n"
        b"CSeq: 1 MESSAGE\r\n"
        b"Max-Forwards: 70\r\n"
        b"Content-Length: 0\r\n\r\n"
    ).to_json()
)

texts = st.text() | st.sampled_from(["", "v=0\r\n", "\ud800", "é\x00", "aGVsbG8="])
payloads = st.one_of(
    st.none(),
    texts,
    st.integers(),
    st.fixed_dictionaries(
        {"content": st.none() | texts | st.integers()},
        optional={
            "type": st.sampled_from(["text/plain", "application/sdp"]),
            "encoding": st.none() | st.sampled_from(["base64", "BASE64", "gzip"]),
        },
    ),
)


def built(message: dict[str, Any]) -> Any:
    try:
        return from_dict(message)
    except (DrachtioError, ValueError, TypeError, UnicodeEncodeError) as exc:
        return exc


@given(payloads, st.booleans())
def test_the_body_read_from_the_json_form_is_the_built_message_s(
    payload: Any, present: bool
) -> None:
    message = dict(BASE)
    if present:
        message["payload"] = payload
    answer = message_body(message)
    result = built(message)
    if isinstance(result, Exception):
        assert answer is None
    elif answer is not None:
        assert answer == result.body


@given(st.sampled_from(["INVITE", "BYE", "ACK", "X-Custom", "invite", ""]) | st.integers())
def test_the_method_read_from_the_json_form_is_the_built_request_s(method: Any) -> None:
    message = dict(BASE)
    message["request_uri"] = {**BASE["request_uri"], "method": method}
    answer = request_method(message)
    result = built(message)
    if isinstance(result, Exception):
        assert answer is None or not isinstance(method, str) or answer == method
    else:
        assert answer == result.method
