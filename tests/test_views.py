"""Typed views: Uri, Via, NameAddr, CSeq and the message properties that build them."""

from __future__ import annotations

from pathlib import Path

import pytest

from drachtio import (
    Challenge,
    Credentials,
    CSeq,
    Event,
    MediaType,
    NameAddr,
    ParseError,
    RAck,
    SessionExpires,
    SipRequest,
    SipResponse,
    SubscriptionState,
    Uri,
    Via,
    parse,
)

DATA = Path(__file__).parent / "data" / "sip"

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


def load(path: str) -> SipRequest | SipResponse:
    return parse((DATA / path).read_bytes())


def test_seed_invite_views() -> None:
    msg = parse(SEED_INVITE)
    (via,) = msg.vias
    assert via.protocol == "SIP/2.0/UDP"
    assert via.transport == "UDP"
    assert (via.host, via.port) == ("127.0.0.1", 39918)
    assert via.branch == "z9hG4bK-d8754z-ce8b6972d37e5b74-1---d8754z-"
    assert via.rport == 39918
    assert via.received is None
    assert via.params == [
        ("branch", "z9hG4bK-d8754z-ce8b6972d37e5b74-1---d8754z-"),
        ("rport", "39918"),
    ]

    assert msg.from_ is not None
    assert msg.from_.display_name is None
    assert str(msg.from_.uri) == "sip:1234@localhost"
    assert msg.from_.tag == "f66e7e75"
    assert msg.to is not None
    assert msg.to.tag is None
    assert str(msg.to) == "<sip:11@localhost>"

    (contact,) = msg.contacts
    assert (contact.uri.user, contact.uri.host, contact.uri.port) == ("1234", "127.0.0.1", 39918)
    assert msg.contact_is_star is False

    assert msg.call_id == "MDJiMjA5NzQxNzliMmZiNDJlZjIxNmVhY2I4MTBlZmY"
    assert msg.cseq == CSeq(1, "INVITE")
    assert msg.max_forwards == 70
    assert msg.content_length is None
    assert msg.route == []
    assert msg.record_route == []


def test_whitespace_torture_views() -> None:
    msg = load("rfc4475/wsinv.dat")
    assert msg.to is not None
    assert msg.to.tag == "1918181833n"
    assert str(msg.to.uri) == "sip:vivekg@chair-dnrc.example.com"
    assert msg.from_ is not None
    assert msg.from_.display_name == 'J Rosenberg \\"'
    assert msg.from_.tag == "98asjd8"
    assert msg.cseq is not None
    assert (msg.cseq.seq, msg.cseq.method) == (9, "INVITE")
    assert msg.max_forwards == 68
    assert [v.transport for v in msg.vias] == ["UDP", "TCP", "UDP"]
    assert [v.host for v in msg.vias] == ["192.0.2.2", "spindle.example.com", "192.168.255.111"]
    assert [v.branch for v in msg.vias] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    (contact,) = msg.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.q == 0.33
    assert contact.param("newparam") == "newvalue"
    assert contact.param("secondparam") == ""
    assert contact.param("absent") is None
    assert contact.params == [("newparam", "newvalue"), ("secondparam", None), ("q", "0.33")]
    (route,) = msg.route
    assert route.uri.host == "services.example.com"
    assert route.uri.params == [
        ("lr", None),
        ("unknownwith", "value"),
        ("unknown-no-value", None),
    ]
    assert route.uri.param("LR") == ""


def test_escaped_uri_parts() -> None:
    msg = load("rfc4475/esc01.dat")
    assert isinstance(msg, SipRequest)
    assert msg.uri.user == "sips%3Auser%40example.com"
    assert msg.uri.user_unescaped == b"sips:user@example.com"
    assert msg.uri.host == "example.net"
    assert msg.to is not None
    assert msg.to.uri.user == "%75se%72"
    assert msg.to.uri.user_unescaped == b"user"
    assert msg.from_ is not None
    assert msg.from_.uri.user_unescaped == b"I have spaces"
    (contact,) = msg.contacts
    assert contact.uri.params == [("%6C%72", None), ("n%61me", "v%61lue%25%34%31")]
    assert msg.call_id == "esc01.239409asdfakjkn23onasd0-3234"


def test_ipv6_hosts_without_brackets() -> None:
    msg = load("rfc5118/ipv6-good.dat")
    assert isinstance(msg, SipRequest)
    assert msg.uri.host == "2001:db8::10"
    assert str(msg.uri) == "sip:[2001:db8::10]"
    (via,) = msg.vias
    assert via.host == "2001:db8::9:1"
    (contact,) = msg.contacts
    assert contact.display_name == "Caller"
    assert contact.uri.host == "2001:db8::1"


def test_multiple_vias_in_order() -> None:
    msg = load("rfc4475/transports.dat")
    assert [v.protocol for v in msg.vias] == [
        "SIP/2.0/UDP",
        "SIP/2.0/SCTP",
        "SIP/2.0/TLS",
        "SIP/2.0/UNKNOWN",
        "SIP/2.0/TCP",
    ]


def test_contact_star() -> None:
    msg = SipRequest(
        "REGISTER",
        "sip:example.com",
        [("Contact", "*"), ("Expires", "0")],
    )
    assert msg.contact_is_star is True
    assert msg.contacts == []


def test_contacts_from_several_lines_and_lists() -> None:
    msg = SipResponse(
        200,
        headers=[
            ("Contact", "<sip:a@h1>;expires=60, <sip:b@h2>;q=0.5"),
            ("m", "sip:c@h3"),
        ],
    )
    assert [str(c.uri) for c in msg.contacts] == ["sip:a@h1", "sip:b@h2", "sip:c@h3"]
    assert [c.expires for c in msg.contacts] == [60, None, None]
    assert [c.q for c in msg.contacts] == [None, 0.5, None]


def test_record_route() -> None:
    msg = SipResponse(
        200,
        headers=[
            ("Record-Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>"),
            ("Record-Route", "<sip:p3.example.com;lr>"),
        ],
    )
    assert [r.uri.host for r in msg.record_route] == [
        "p1.example.com",
        "p2.example.com",
        "p3.example.com",
    ]


# ----------------------------------------------------------------------- Uri


def test_sip_uri_parts() -> None:
    uri = Uri("sips:alice:secret@Example.COM:5061;transport=TCP;lr?subject=hi&priority=urgent")
    assert uri.scheme == "sips"
    assert uri.user == "alice"
    assert uri.password == "secret"
    assert uri.host == "Example.COM"
    assert uri.port == 5061
    assert uri.transport == "tcp"
    assert uri.params == [("transport", "TCP"), ("lr", None)]
    assert uri.headers == [("subject", "hi"), ("priority", "urgent")]
    assert uri.number is None
    assert str(uri) == (
        "sips:alice:secret@Example.COM:5061;transport=TCP;lr?subject=hi&priority=urgent"
    )


def test_sip_uri_without_user() -> None:
    uri = Uri("sip:example.com")
    assert (uri.user, uri.user_unescaped, uri.password, uri.port) == (None, None, None, None)
    assert uri.params == []
    assert uri.headers == []
    assert uri.transport is None


@pytest.mark.parametrize(
    ("uri", "transport", "port"),
    [
        ("sip:example.com", "udp", 5060),
        ("sip:example.com:5080;transport=TCP", "tcp", 5080),
        ("sips:example.com", "tls", 5061),
        ("sips:example.com;transport=tcp", "tls", 5061),
        ("sip:example.com;transport=ws", "ws", 80),
        ("sips:example.com;transport=ws", "wss", 443),
        ("tel:+1-201-555-0123", None, None),
    ],
)
def test_a_uri_names_the_transport_and_port_of_its_next_hop(
    uri: str, transport: str | None, port: int | None
) -> None:
    assert (Uri(uri).next_hop_transport, Uri(uri).next_hop_port) == (transport, port)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("sip:example.com;transport=sctp", 'unknown transport "sctp"'),
        ("sips:example.com;transport=udp", "a sips URI cannot use transport UDP"),
    ],
)
def test_a_uri_with_an_unusable_transport_says_why(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Uri(uri).next_hop_transport  # noqa: B018


def test_tel_uri() -> None:
    uri = Uri("tel:+1-201-555-0123;phone-context=example.com")
    assert uri.scheme == "tel"
    assert uri.number == "+1-201-555-0123"
    assert uri.params == [("phone-context", "example.com")]
    assert uri.param("phone-context") == "example.com"
    assert (uri.user, uri.host, uri.port) == (None, None, None)


def test_other_scheme_uri() -> None:
    uri = Uri("mailto:alice@example.com")
    assert uri.scheme == "mailto"
    assert str(uri) == "mailto:alice@example.com"
    assert (uri.host, uri.number, uri.param("x")) == (None, None, None)
    assert uri.params == []


@pytest.mark.parametrize("text", ["", "example.com", "sip:", "sip:a@b:99999", "sip:a b@c"])
def test_bad_uri(text: str) -> None:
    with pytest.raises(ParseError) as info:
        Uri(text)
    assert info.value.kind == "bad_uri"


def test_uri_equality_hash_repr() -> None:
    assert Uri("sip:a@b") == Uri("sip:a@b")
    assert Uri("sip:a@b") != Uri("sip:a@c")
    assert Uri("sip:a@b") != "sip:a@b"
    assert len({Uri("sip:a@b"), Uri("sip:a@b"), Uri("sip:a@c")}) == 2
    assert repr(Uri("sip:a@b")) == "Uri('sip:a@b')"


# ----------------------------------------------------------------------- Via


def test_via_parameters() -> None:
    via = Via(
        "SIP/2.0/TCP 192.0.2.1:5070;branch=z9hG4bK1;received=198.51.100.7;rport;"
        "maddr=224.2.0.1;ttl=16"
    )
    assert via.protocol == "SIP/2.0/TCP"
    assert via.transport == "TCP"
    assert (via.host, via.port) == ("192.0.2.1", 5070)
    assert via.branch == "z9hG4bK1"
    assert via.received == "198.51.100.7"
    assert via.rport is True
    assert via.maddr == "224.2.0.1"
    assert via.ttl == 16
    assert via.param("RPORT") == ""
    assert str(via) == (
        "SIP/2.0/TCP 192.0.2.1:5070;branch=z9hG4bK1;received=198.51.100.7;rport;"
        "maddr=224.2.0.1;ttl=16"
    )


def test_via_without_optional_parts() -> None:
    via = Via("SIP/2.0/UDP example.com")
    assert (via.port, via.branch, via.received, via.rport, via.maddr, via.ttl) == (
        None,
        None,
        None,
        None,
        None,
        None,
    )
    assert via.params == []


def test_bad_via() -> None:
    with pytest.raises(ParseError) as info:
        Via("SIP/2.0 example.com")
    assert info.value.kind == "bad_via"


def test_via_equality_and_repr() -> None:
    assert Via("SIP/2.0/UDP h;branch=z9hG4bK1") == Via("SIP/2.0/UDP h;branch=z9hG4bK1")
    assert Via("SIP/2.0/UDP h;branch=z9hG4bK1") != Via("SIP/2.0/UDP h;branch=z9hG4bK2")
    assert repr(Via("SIP/2.0/UDP h")) == "Via('SIP/2.0/UDP h')"


# ------------------------------------------------------------------ NameAddr


def test_name_addr_forms() -> None:
    quoted = NameAddr('"Alice \\"A\\"" <sip:alice@example.com>;tag=1;expires=3600')
    assert quoted.display_name == 'Alice "A"'
    assert quoted.uri == Uri("sip:alice@example.com")
    assert quoted.tag == "1"
    assert quoted.expires == 3600
    assert quoted.q is None

    tokens = NameAddr("Bob Smith <sip:bob@example.com>")
    assert tokens.display_name == "Bob Smith"
    assert str(tokens) == "Bob Smith <sip:bob@example.com>"

    # An addr-spec: parameters after the URI belong to the header, not the URI.
    spec = NameAddr("sip:carol@example.com;tag=xyz")
    assert spec.display_name is None
    assert spec.tag == "xyz"
    assert spec.uri.params == []
    assert str(spec) == "<sip:carol@example.com>;tag=xyz"


def test_bad_name_addr() -> None:
    with pytest.raises(ParseError) as info:
        NameAddr('"unterminated <sip:a@b>')
    assert info.value.kind == "bad_name_addr"


def test_name_addr_equality_and_repr() -> None:
    assert NameAddr("<sip:a@b>;tag=1") == NameAddr("<sip:a@b>;tag=1")
    assert NameAddr("<sip:a@b>;tag=1") != NameAddr("<sip:a@b>;tag=2")
    assert hash(NameAddr("<sip:a@b>;tag=1")) == hash(NameAddr("<sip:a@b>;tag=1"))
    assert repr(NameAddr("<sip:a@b>")) == "NameAddr('<sip:a@b>')"


# ---------------------------------------------------------------------- CSeq


def test_cseq() -> None:
    cseq = CSeq(4711, "REGISTER")
    assert (cseq.seq, cseq.method) == (4711, "REGISTER")
    assert str(cseq) == "4711 REGISTER"
    assert repr(cseq) == "CSeq(4711, 'REGISTER')"
    assert cseq == CSeq(4711, "REGISTER")
    assert cseq != CSeq(4712, "REGISTER")
    assert len({cseq, CSeq(4711, "REGISTER")}) == 1
    assert CSeq(2**32 - 1, "X").seq == 2**32 - 1


def test_bad_cseq() -> None:
    with pytest.raises(ValueError, match="not a token"):
        CSeq(1, "IN VITE")
    with pytest.raises(OverflowError):
        CSeq(2**32, "INVITE")


def test_views_are_read_only() -> None:
    via = Via("SIP/2.0/UDP h")
    with pytest.raises(AttributeError):
        via.host = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Uri("sip:a@b").extra = 1  # type: ignore[attr-defined]


# ---------------------------------------------- headers beyond the routing set


def test_content_type() -> None:
    msg = load("rfc4475/mpart01.dat")
    media = msg.content_type
    assert media is not None
    assert (media.maintype, media.subtype, media.essence) == (
        "multipart",
        "mixed",
        "multipart/mixed",
    )
    assert media.params == [("boundary", "7a9cbec02ceef655")]
    assert media.param("BOUNDARY") == "7a9cbec02ceef655"
    assert str(media) == "multipart/mixed;boundary=7a9cbec02ceef655"

    quoted = MediaType('Application/SDP; charset="utf-8"')
    assert quoted.essence == "application/sdp"
    assert quoted.params == [("charset", '"utf-8"')]
    assert quoted.param("charset") == "utf-8"
    assert quoted == MediaType('Application/SDP;charset="utf-8"')
    assert repr(MediaType("text/plain")) == "MediaType('text/plain')"
    assert parse(SEED_INVITE).content_type is None


def test_option_tags_and_expires() -> None:
    msg = SipRequest(
        "INVITE",
        "sip:a@b",
        [
            ("Require", "100rel"),
            ("k", "timer, replaces"),
            ("Supported", "path"),
            ("Proxy-Require", "sec-agree"),
            ("Expires", "3600"),
        ],
    )
    assert msg.require == ["100rel"]
    assert msg.supported == ["timer", "replaces", "path"]
    assert msg.proxy_require == ["sec-agree"]
    assert msg.unsupported == []
    assert msg.expires == 3600
    bad = SipResponse(420, headers=[("Unsupported", "foo bar"), ("Expires", "soon")])
    with pytest.raises(ParseError) as info:
        _ = bad.unsupported
    assert info.value.kind == "bad_header_value"
    with pytest.raises(ParseError):
        _ = bad.expires


def test_reliable_provisional_responses() -> None:
    ringing = SipResponse(180, headers=[("RSeq", "988789"), ("Require", "100rel")])
    assert ringing.rseq == 988789
    prack = SipRequest("PRACK", "sip:a@b", [("RAck", "988789 1 INVITE")])
    rack = prack.rack
    assert rack is not None
    assert (rack.response_num, rack.cseq_num, rack.method) == (988789, 1, "INVITE")
    assert rack == RAck("988789  1  INVITE")
    assert str(rack) == "988789 1 INVITE"
    with pytest.raises(ParseError):
        RAck("0 1 INVITE")  # response-num starts at 1 (RFC 3262 §3)
    assert parse(SEED_INVITE).rseq is None


def test_session_timers() -> None:
    msg = SipRequest("INVITE", "sip:a@b", [("x", "1800;refresher=UAC;custom"), ("Min-SE", "90")])
    se = msg.session_expires
    assert se is not None
    assert (se.delta, se.refresher) == (1800, "uac")
    assert se.params == [("custom", None)]
    assert se.param("custom") == ""
    assert msg.min_se == 90
    assert SessionExpires("90").refresher is None
    with pytest.raises(ParseError):
        SessionExpires("1800;refresher=both")


DIGEST = (
    'Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",'
    ' uri="sip:bob@biloxi.com", response="245f23415f11432b3434341c022", algorithm=MD5'
)


def test_credentials() -> None:
    msg = SipRequest("REGISTER", "sip:biloxi.com", [("Authorization", DIGEST)])
    (creds,) = msg.authorization
    assert creds.is_digest is True
    assert creds.scheme == "Digest"
    assert creds.username == "bob"
    assert creds.realm == "biloxi.com"
    assert creds.nonce == "dcd98b7102dd2f0e8b11d0f600bfb0c093"
    assert creds.uri == "sip:bob@biloxi.com"
    assert creds.response == "245f23415f11432b3434341c022"
    assert creds.param("ALGORITHM") == "MD5"
    assert creds.params[0] == ("username", '"bob"')
    assert creds.token68 is None
    assert msg.proxy_authorization == []
    assert Credentials("Bearer abc.def-ghi").token68 == "abc.def-ghi"


def test_unknown_auth_scheme() -> None:
    (creds,) = load("rfc4475/regaut01.dat").authorization
    assert creds.scheme == "NoOneKnowsThisScheme"
    assert creds.is_digest is False
    assert creds.params == [("opaque-data", "here")]


def test_challenges() -> None:
    msg = SipResponse(
        407,
        headers=[
            (
                "Proxy-Authenticate",
                'Digest realm="atlanta.com", nonce="xyz", qop="auth,auth-int", stale=TRUE,'
                ' opaque="op"',
            ),
            ("WWW-Authenticate", 'Digest realm="b.com", nonce="n2"'),
        ],
    )
    (challenge,) = msg.proxy_authenticate
    assert (challenge.realm, challenge.nonce, challenge.opaque) == ("atlanta.com", "xyz", "op")
    assert challenge.qop == ["auth", "auth-int"]
    assert challenge.stale is True
    assert challenge.algorithm is None
    assert [c.realm for c in msg.www_authenticate] == ["b.com"]
    assert Challenge('Digest realm="x", nonce="y"').stale is False
    with pytest.raises(ParseError):
        Challenge("Digest")


def test_event_and_subscription_state() -> None:
    notify = SipRequest(
        "NOTIFY",
        "sip:a@b",
        [("o", "presence.winfo;id=7;extra"), ("Subscription-State", "terminated;reason=timeout")],
    )
    event = notify.event
    assert event is not None
    assert (event.event_type, event.package, event.id) == ("presence.winfo", "presence", "7")
    assert event.params == [("extra", None)]
    assert event == Event("presence.winfo;id=7;extra")
    state = notify.subscription_state
    assert state is not None
    assert (state.state, state.reason, state.expires, state.retry_after) == (
        "terminated",
        "timeout",
        None,
        None,
    )
    active = SubscriptionState("active;expires=600;retry-after=30")
    assert (active.state, active.expires, active.retry_after) == ("active", 600, 30)
    with pytest.raises(ParseError):
        SubscriptionState("active;expires=never")


def test_top_via() -> None:
    msg = load("rfc4475/wsinv.dat")
    top = msg.top_via
    assert top is not None
    assert (top.host, top.branch) == ("192.0.2.2", "390skdjuw")
    assert top == msg.vias[0]
    assert SipResponse(200).top_via is None


def test_contact_star_with_addresses_is_malformed() -> None:
    msg = SipRequest("REGISTER", "sip:example.com", [("Contact", "*"), ("Contact", "<sip:a@b>")])
    with pytest.raises(ParseError) as info:
        _ = msg.contacts
    assert info.value.kind == "bad_name_addr"
