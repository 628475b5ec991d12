"""A response's relied-on headers: no re-parse for those the builder writes itself.

``check_relied_on`` parses a message again from its bytes when the
application wrote From, To, Call-ID, CSeq, Max-Forwards or Contact. A
response's From, To, Call-ID and CSeq are the request's whatever the
application gave (drachtio-srf writes the request's back), so those ask for
no parse. On generated requests and application headers, valid and
malformed, the check told so ends as the full re-parse does: the same
message back, or the same error.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from drachtio import parse
from drachtio._core import SipRequest
from drachtio.errors import DrachtioError
from drachtio.protocol import SimpleHeaders
from drachtio.server.dialog import RESPONSE_MANAGED, build_response, check_relied_on

# Values the parser takes in a request (some not in every message: "*"), and malformed ones.
_VALID = {
    "From": ["<sip:alice@a.example>;tag=1", '"Al" <sip:al@a.example>;tag=9'],
    "To": ["<sip:bob@b.example>", "sip:bob@b.example;tag=7"],
    "Call-ID": ["c1@a.example", "c2"],
    "CSeq": ["1 {method}", "7 {method}"],
    "Max-Forwards": ["70", "0"],
    "Contact": ["<sip:alice@192.0.2.1:5060>", "*", "sip:a@192.0.2.1;expires=60"],
}
_MALFORMED = ["<sip:x@y", "<sip:bob@", "", "x INVITE", "1", "2 REGISTER", "-1", "many", "a b"]
_VALUES = {name: [*values, *_MALFORMED] for name, values in _VALID.items()}
# The names an application may write them under: any case, or the compact form.
_NAMES = {
    "From": ["From", "from", "f"],
    "To": ["To", "TO", "t"],
    "Call-ID": ["Call-ID", "call-id", "i"],
    "CSeq": ["CSeq", "cseq"],
    "Max-Forwards": ["Max-Forwards", "max-forwards"],
    "Contact": ["Contact", "contact", "m"],
}


def _request(method: str, values: dict[str, str]) -> SipRequest | None:
    lines = [f"{method} sip:bob@b.example SIP/2.0", "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"]
    lines += [f"{name}: {value}" for name, value in values.items()]
    try:
        message = parse(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())
    except DrachtioError:
        return None
    return message if isinstance(message, SipRequest) else None


def _outcome(check: object) -> str:
    assert callable(check)
    try:
        check()
    except ValueError as exc:
        return f"error: {exc}"
    return "ok"


_requests = st.fixed_dictionaries(
    {name: st.sampled_from(values) for name, values in _VALID.items()}
)
_written = st.dictionaries(
    st.sampled_from(sorted(_VALUES)),
    st.one_of(st.just(None), st.sampled_from([v for vs in _VALUES.values() for v in vs])),
)


@given(
    st.sampled_from(["INVITE", "REGISTER", "OPTIONS"]),
    _requests,
    _written,
    st.data(),
    st.sampled_from([180, 200, 302, 486]),
)
def test_the_check_told_what_the_builder_writes_ends_as_the_full_reparse(
    method: str,
    request_values: dict[str, str],
    written: dict[str, str | None],
    data: st.DataObject,
    code: int,
) -> None:
    # The request may not parse ("*" outside a REGISTER): then there is no response.
    request = _request(method, {k: v.format(method=method) for k, v in request_values.items()})
    assume(request is not None)
    assert request is not None
    headers: SimpleHeaders = {}
    for header, value in written.items():
        name = data.draw(st.sampled_from(_NAMES[header]))
        # None: the application writes back the request's value (as drachtio-srf does).
        headers[name] = request.header(header) or "" if value is None else value
    headers["X-Other"] = "kept"
    try:
        response = build_response(request, code, None, headers, None, "totag", "<sip:s@192.0.2.9>")
    except (DrachtioError, ValueError):
        return
    full = _outcome(lambda: check_relied_on(response, headers))
    fast = _outcome(lambda: check_relied_on(response, headers, RESPONSE_MANAGED))
    assert fast == full


def test_values_the_builder_replaces_are_not_parsed_again() -> None:
    request = _request(
        "INVITE",
        {
            "From": "<sip:alice@a.example>;tag=1",
            "To": "<sip:bob@b.example>",
            "Call-ID": "c1@a.example",
            "CSeq": "1 INVITE",
            "Contact": "<sip:alice@192.0.2.1:5060>",
        },
    )
    assert request is not None
    echoed: SimpleHeaders = {
        name: request.header(name) or "" for name in ("From", "To", "Call-ID", "CSeq")
    }
    response = build_response(request, 200, None, echoed, None, "t", "<sip:s@192.0.2.9>")
    assert check_relied_on(response, echoed, RESPONSE_MANAGED) is response
    # A Contact of its own is still checked: malformed, it is refused, with the request or not.
    bad: SimpleHeaders = {**echoed, "Contact": "<sip:x@y"}
    response = build_response(request, 200, None, bad, None, "t", "<sip:s@192.0.2.9>")
    for builder_writes in (frozenset(), RESPONSE_MANAGED):
        with pytest.raises(ValueError, match=r"^malformed Contact header: "):
            check_relied_on(response, bad, builder_writes)
