"""What a drachtio-srf client sends: exact layouts, round trips, precise errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from srfproto_strategies import BODY, MSG_ID, TOKEN

from drachtio.srfproto import (
    Authenticate,
    CancelRequest,
    ClientMessage,
    LocalSrfError,
    NewRequest,
    Ping,
    Proxy,
    RemoteSrfError,
    RemoveRoute,
    RequestInDialog,
    Route,
    SendResponse,
    parse_client_message,
)

ID = "1b4c8d6e-2f3a-4b5c-9d8e-7f6a5b4c3d2e"
INVITE = "INVITE sip:bob@10.0.0.5 SIP/2.0\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
OK_200 = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (f"{ID}|authenticate|cymru|", Authenticate(ID, "cymru")),
        (f"{ID}|authenticate|cymru|a,b", Authenticate(ID, "cymru", ("a", "b"))),
        (f"{ID}|authenticate|cymru", Authenticate(ID, "cymru")),
        (f"{ID}|authenticate|cymru|,a,,", Authenticate(ID, "cymru", ("a",))),
        (f"{ID}|route|invite", Route(ID, "invite")),
        (f"{ID}|route|cdr:stop", Route(ID, "cdr:stop")),
        (f"{ID}|remove_route|invite", RemoveRoute(ID, "invite")),
        (f"{ID}|ping", Ping(ID)),
        (f"{ID}|sip|t1|\r\n{OK_200}", SendResponse(ID, "t1", OK_200)),
        (f"{ID}|sip|t1|d1\r\n{OK_200}", SendResponse(ID, "t1", OK_200, "d1")),
        (
            f"{ID}|sip||d1\r\nACK sip:placeholder SIP/2.0\r\n\r\n",
            RequestInDialog(ID, "d1", "ACK sip:placeholder SIP/2.0\r\n\r\n"),
        ),
        (
            f"{ID}|sip|t9|d1\r\nBYE sip:a@b SIP/2.0\r\n\r\n",
            RequestInDialog(ID, "d1", "BYE sip:a@b SIP/2.0\r\n\r\n", "t9"),
        ),
        (
            f"{ID}|sip|t1|\r\nCANCEL sip:bob@10.0.0.5 SIP/2.0\r\n\r\n",
            CancelRequest(ID, "t1", "CANCEL sip:bob@10.0.0.5 SIP/2.0\r\n\r\n"),
        ),
        (f"{ID}|sip||\r\n{INVITE}", NewRequest(ID, INVITE)),
        (f"{ID}|sip|||\r\n{INVITE}", NewRequest(ID, INVITE)),
        (
            f"{ID}|sip|||sip:proxy.example.com;lr\r\n{INVITE}",
            NewRequest(ID, INVITE, "sip:proxy.example.com;lr"),
        ),
        (
            f"{ID}|proxy|t1|remainInDialog|fullResponse||serial|2s|60s|sip:a@x|sip:b@y"
            "\r\nINVITE sip:a@x SIP/2.0\r\nX-A: 1\r\n\r\n",
            Proxy(
                ID,
                "t1",
                ("sip:a@x", "sip:b@y"),
                "INVITE sip:a@x SIP/2.0\r\nX-A: 1\r\n\r\n",
                record_route=True,
                full_response=True,
                provisional_timeout="2s",
                final_timeout="60s",
            ),
        ),
        (
            f"{ID}|proxy|t1|||followRedirects|simultaneous|||sip:a@x\r\nINVITE sip:a@x SIP/2.0\r\n",
            Proxy(
                ID,
                "t1",
                ("sip:a@x",),
                "INVITE sip:a@x SIP/2.0\r\n",
                follow_redirects=True,
                simultaneous=True,
            ),
        ),
    ],
)
def test_parses_what_drachtio_srf_writes(payload: str, message: ClientMessage) -> None:
    assert parse_client_message(payload) == message


def test_payloads_are_written_as_drachtio_srf_writes_them() -> None:
    assert Authenticate(ID, "s", ("a", "b")).to_payload() == f"{ID}|authenticate|s|a,b"
    assert Authenticate(ID, "s").to_payload() == f"{ID}|authenticate|s|"
    assert NewRequest(ID, INVITE).to_payload() == f"{ID}|sip||\r\n{INVITE}"
    assert NewRequest(ID, INVITE, "sip:p").to_payload() == f"{ID}|sip|||sip:p\r\n{INVITE}"
    proxy = Proxy(ID, "t", ("sip:a",), "INVITE sip:a SIP/2.0\r\n", full_response=True)
    assert proxy.to_payload() == f"{ID}|proxy|t||fullResponse||serial|||sip:a\r\n{proxy.message}"


def test_a_multi_byte_body_survives_with_the_content_length_the_client_wrote() -> None:
    # drachtio-srf writes Content-Length in UTF-16 code units (5 for "héllo", 6 bytes):
    # the codec keeps the message as written; the server recomputes the length.
    body = "héllo"
    request = f"MESSAGE sip:b@x SIP/2.0\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    parsed = parse_client_message(f"{ID}|sip||\r\n{request}")
    assert parsed == NewRequest(ID, request)
    assert parsed.method == "MESSAGE"


_word = TOKEN.filter(lambda t: bool(t) and "," not in t)
_uri = st.sampled_from(["sip:a@x", "sip:b@10.0.0.1:5070;transport=tcp", "tel:+15551234"])
_method = st.sampled_from(["INVITE", "BYE", "INFO", "OPTIONS", "MESSAGE", "x-custom.1"])


@st.composite
def _request(draw: st.DrawFn, method: st.SearchStrategy[str] = _method) -> str:
    return f"{draw(method)} {draw(_uri)} SIP/2.0\r\nX-H: {draw(TOKEN)}\r\n\r\n{draw(BODY)}"


_messages: st.SearchStrategy[ClientMessage] = st.one_of(
    st.builds(Authenticate, MSG_ID, TOKEN, st.lists(_word, max_size=3).map(tuple)),
    st.builds(Route, MSG_ID, MSG_ID),
    st.builds(RemoveRoute, MSG_ID, MSG_ID),
    st.builds(Ping, MSG_ID),
    st.builds(
        SendResponse,
        MSG_ID,
        MSG_ID,
        st.builds(lambda b: f"SIP/2.0 486 Busy Here\r\n\r\n{b}", BODY),
        TOKEN,
    ),
    st.builds(RequestInDialog, MSG_ID, MSG_ID, _request(), TOKEN),
    st.builds(CancelRequest, MSG_ID, MSG_ID, _request(st.just("CANCEL"))),
    st.builds(NewRequest, MSG_ID, _request(), st.one_of(st.none(), MSG_ID)),
    st.builds(
        Proxy,
        MSG_ID,
        MSG_ID,
        st.lists(MSG_ID, min_size=1, max_size=3).map(tuple),
        _request(),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.sampled_from(["", "2s", "500ms", "0s"]),
        st.sampled_from(["", "60s"]),
    ),
)


@given(_messages)
def test_round_trip(message: ClientMessage) -> None:
    assert parse_client_message(message.to_payload()) == message


@pytest.mark.parametrize(
    ("payload", "code", "text"),
    [
        (f"{ID}|hello|x", "unknown_type", "unknown message type 'hello'"),
        (
            f"{ID}|authenticate",
            "bad_leader",
            "authenticate: 0 tokens after the type, expected <secret>|<tags>",
        ),
        (f"{ID}|authenticate|s|t|x", "bad_leader", "authenticate: 3 tokens after the type"),
        (f"{ID}|route", "bad_leader", "route: 0 tokens after the type, expected <verb>"),
        (f"{ID}|route|", "bad_token", "route: the verb is empty"),
        (f"{ID}|remove_route|a|b", "bad_leader", "remove_route: 2 tokens after the type"),
        (f"{ID}|ping|x", "bad_leader", "ping: 1 tokens after the type, expected nothing"),
        (f"{ID}|sip|t", "bad_leader", "sip: 1 tokens after the type"),
        (f"{ID}|sip|t||p|q\r\n{OK_200}", "bad_leader", "sip: 4 tokens after the type"),
        (f"{ID}|sip|t|", "missing_sip_message", "sip: no SIP message after the leader"),
        (f"{ID}|sip|t|\r\n", "missing_sip_message", "sip: no SIP message after the leader"),
        (f"{ID}|sip||\r\n{OK_200}", "bad_token", "sip: a response needs the transaction id"),
        (f"{ID}|sip|t||sip:p\r\n{OK_200}", "bad_token", "outbound proxy is for new requests only"),
        (f"{ID}|sip||d|sip:p\r\n{INVITE}", "bad_token", "outbound proxy is for new requests only"),
        (f"{ID}|sip|t||sip:p\r\nCANCEL sip:a SIP/2.0\r\n", "bad_token", "for new requests only"),
        (
            f"{ID}|sip|t|\r\n{INVITE}",
            "bad_token",
            "sip: INVITE with a transaction id and no dialog id",
        ),
        (
            f"{ID}|sip||\r\nINVITE sip:a\r\n",
            "bad_sip_message",
            "sip: start line 'INVITE sip:a' is neither",
        ),
        (f"{ID}|sip||\r\nINVITE  SIP/2.0\r\n", "bad_sip_message", "is neither"),
        (
            f"{ID}|sip||\r\nIN(VITE sip:a SIP/2.0\r\n",
            "bad_sip_message",
            "sip: 'IN(VITE' is not a method name",
        ),
        (
            f"{ID}|proxy|t||||||",
            "bad_leader",
            "proxy: 7 tokens after the type, expected at least 8",
        ),
        (f"{ID}|proxy|t|||||||sip:a", "missing_sip_message", "proxy: no SIP message"),
        (
            f"{ID}|proxy||||||||sip:a\r\nINVITE sip:a SIP/2.0\r\n",
            "bad_token",
            "proxy: the transaction id is empty",
        ),
        (
            f"{ID}|proxy|t|yes||||||sip:a\r\nX",
            "bad_token",
            "proxy: 'yes' where 'remainInDialog' or nothing",
        ),
        (f"{ID}|proxy|t||full|||||sip:a\r\nX", "bad_token", "proxy: 'full' where 'fullResponse'"),
        (f"{ID}|proxy|t|||x||||sip:a\r\nX", "bad_token", "proxy: 'x' where 'followRedirects'"),
        (f"{ID}|proxy|t||||fork|||sip:a\r\nX", "bad_token", "proxy: forking 'fork'"),
        (f"{ID}|proxy|t|||||soon||sip:a\r\nX", "bad_token", "proxy: provisional timeout 'soon'"),
        (f"{ID}|proxy|t||||||2 s|sip:a\r\nX", "bad_token", "proxy: final timeout '2 s'"),
        (f"{ID}|proxy|t||||||2|sip:a\r\nX", "bad_token", "proxy: final timeout '2'"),
        (f"{ID}|proxy|t|||||1.5s||sip:a\r\nX", "bad_token", "provisional timeout '1.5s'"),
        (f"{ID}|proxy|t||||||||\r\nX", "bad_token", "proxy: an empty destination"),
    ],
)
def test_malformed_messages_are_refused_precisely(payload: str, code: str, text: str) -> None:
    with pytest.raises(RemoteSrfError) as info:
        parse_client_message(payload)
    assert info.value.code == code
    assert text in info.value.message
    # The msgId was read: a NOK reply is enough, the connection stays.
    assert (info.value.msg_id, info.value.fatal) == (ID, False)


@pytest.mark.parametrize(
    ("payload", "text", "msg_id"),
    [
        ("|ping", "the message id (first token) is empty", None),
        ("abc", "message 'abc' has no type (second token)", "abc"),
        ("abc|", "message 'abc' has no type (second token)", "abc"),
        ("abc|ping\rx", "a CR or LF inside the leader", "abc"),
        ("abc|ping\n", "a CR or LF inside the leader", "abc"),
    ],
)
def test_an_unreadable_leader_is_fatal(payload: str, text: str, msg_id: str | None) -> None:
    with pytest.raises(RemoteSrfError) as info:
        parse_client_message(payload)
    assert (info.value.code, info.value.fatal, info.value.msg_id) == ("bad_leader", True, msg_id)
    assert text in info.value.message


@pytest.mark.parametrize(
    "message",
    [
        Authenticate(ID, "a|b"),
        Authenticate(ID, "s", ("a,b",)),
        Authenticate(ID, "s", ("",)),
        Route(ID, "in\r\nvite"),
        Ping("a|b"),
        NewRequest(ID, INVITE, "sip:p|q"),
        Proxy(ID, "t", ("sip:a|b",), INVITE),
    ],
)
def test_what_a_token_cannot_carry_is_refused_locally(message: ClientMessage) -> None:
    with pytest.raises(LocalSrfError) as info:
        message.to_payload()
    assert info.value.code == "bad_value"


@pytest.mark.parametrize(
    ("token", "seconds"),
    [("", None), ("2s", 2.0), ("500ms", 0.5), ("0s", None), ("0ms", None), ("60s", 60.0)],
)
def test_proxy_timeouts_in_seconds(token: str, seconds: float | None) -> None:
    """A zero timeout is none, as for drachtio-server."""
    message = parse_client_message(f"{ID}|proxy|t|||||{token}|{token}|sip:a\r\nX")
    assert isinstance(message, Proxy)
    assert (message.provisional_seconds, message.final_seconds) == (seconds, seconds)
