"""The RFC 4475 and RFC 5118 torture messages through the Python API.

Valid messages parse with the values the RFCs describe and survive the wire
and JSON round trips; invalid ones raise ParseError with a precise kind and the
status a server answers with. docs/parsing.md lists the choices where the RFC
lets an element be liberal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import drachtio
from drachtio import ParseError, SipRequest, SipResponse

DATA = Path(__file__).parent / "data" / "sip"
FILES = sorted(DATA.glob("rfc*/*.dat"))

INVALID = {
    "badinv01": ("bad_via", 400),
    "clerr": ("body_too_short", 400),
    "ncl": ("bad_content_length", 400),
    "scalar02": ("bad_cseq", 400),
    "scalarlg": ("bad_cseq", 400),
    "quotbal": ("bad_name_addr", 400),
    "ltgtruri": ("bad_request_uri", 400),
    "lwsruri": ("bad_request_line", 400),
    "lwsstart": ("bad_request_line", 400),
    "trws": ("bad_request_line", 400),
    "escruri": ("bad_request_uri", 400),
    "regbadct": ("bad_name_addr", 400),
    "badvers": ("bad_version", 505),
    "mismatch01": ("cseq_method_mismatch", 400),
    "mismatch02": ("cseq_method_mismatch", 400),
    "bigcode": ("bad_status_code", 400),
    "mcl01": ("bad_content_length", 400),
    "ipv6-bad": ("bad_request_uri", 400),
}


def load(name: str) -> bytes:
    (path,) = DATA.glob(f"rfc*/{name}.dat")
    return path.read_bytes()


def msg(name: str) -> SipRequest | SipResponse:
    return drachtio.parse(load(name))


def req(name: str) -> SipRequest:
    m = msg(name)
    assert isinstance(m, SipRequest)
    return m


def test_corpus_is_complete() -> None:
    assert len(FILES) == 61


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_message(path: Path) -> None:
    data = path.read_bytes()
    if path.stem in INVALID:
        kind, status = INVALID[path.stem]
        with pytest.raises(ParseError) as info:
            drachtio.parse(data)
        assert (info.value.kind, info.value.status_code) == (kind, status)
        assert 0 <= info.value.offset <= len(data)
        return
    m = drachtio.parse(data)
    wire = m.to_bytes()
    again = drachtio.parse(wire)
    assert again.to_bytes() == wire
    assert again.body == m.body
    d = m.to_dict()
    assert drachtio.from_dict(d).to_dict() == d


def test_wsinv() -> None:
    m = req("wsinv")
    assert m.method == "INVITE"
    assert str(m.uri) == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert m.to is not None and m.to.tag == "1918181833n"
    assert m.from_ is not None and m.from_.display_name == 'J Rosenberg \\"'
    assert m.cseq is not None and (m.cseq.seq, m.cseq.method) == (9, "INVITE")
    assert m.max_forwards == 68
    assert [(v.transport, v.host, v.branch) for v in m.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.header("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.header("s") == ""
    (c,) = m.contacts
    assert c.display_name == 'Quoted string ""'
    assert c.q == pytest.approx(0.33)
    assert len(m.body) == 150


def test_escapes() -> None:
    m = req("esc01")
    assert m.uri.user == "sips%3Auser%40example.com"
    assert m.uri.user_unescaped == b"sips:user@example.com"
    assert m.header("i") == "esc01.239409asdfakjkn23onasd0-3234"
    m = req("escnull")
    assert [c.uri.user_unescaped for c in m.contacts] == [b"\0", b"\0\0"]
    m = req("esc02")
    assert m.method == "RE%47IST%45R"
    assert [c.uri.host for c in m.contacts] == ["host1.example.com", "host3.example.com"]


def test_intmeth_and_utf8() -> None:
    m = req("intmeth")
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.to is not None and m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.header("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    r = msg("unreason")
    assert isinstance(r, SipResponse)
    assert r.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    r = msg("noreason")
    assert isinstance(r, SipResponse)
    assert (r.status, r.reason) == (100, "")


def test_transports_longreq_dblreq() -> None:
    assert [v.transport for v in req("transports").vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    m = req("longreq")
    assert len(m.vias) == 34
    assert m.vias[-1].received == "192.0.2.5"
    assert m.call_id is not None and len(m.call_id) == 141
    m = req("dblreq")
    assert (m.method, m.body) == ("REGISTER", b"")


def test_liberal_choices() -> None:
    assert req("baddate").header("Date") == "Fri, 01 Jan 2010 16:00:00 EST"
    m = req("badaspec")
    assert m.to is not None and str(m.to.uri) == "sip:t.watson@example.org"
    m = req("baddn")
    assert m.from_ is not None and m.from_.display_name == "Bell, Alexander"
    assert m.from_.tag == "43"


def test_application_layer_messages_parse() -> None:
    assert req("unkscm").uri.scheme == "nobodyKnowsThisScheme"
    assert req("novelsc").uri.scheme == "soap.beep"
    m = req("bext01")
    assert m.require == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert m.proxy_require == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]
    assert req("zeromf").max_forwards == 0
    (c,) = req("cparam01").contacts
    assert c.param("unknownparam") == "" and c.uri.params == []
    (c,) = req("cparam02").contacts
    assert c.uri.param("unknownparam") == "" and c.params == []
    (c,) = req("regescrt").contacts
    assert c.uri.headers == [("Route", "%3Csip:sip.example.com%3E")]
    m = req("inv2543")
    assert m.vias[0].branch is None
    assert len(m.body) == 105


def test_ipv6() -> None:
    m = req("ipv6-good")
    assert m.uri.host == "2001:db8::10"
    assert m.to_dict()["request_uri"]["url"]["host"] == "[2001:db8::10]"
    m = req("port-ambiguous")
    assert (m.uri.host, m.uri.port) == ("2001:db8::10:5070", None)
    m = req("port-unambiguous")
    assert (m.uri.host, m.uri.port) == ("2001:db8::10", 5070)
    assert req("via-received-param-no-delim").vias[0].received == "2001:db8::9:255"
    m = req("mult-ip-in-header")
    assert [(v.host, v.port) for v in m.vias] == [
        ("2001:db8::9:1", 6050),
        ("192.0.2.1", None),
        ("2001:db8::9:255", None),
    ]
    assert req("ipv6-bug-abnf-3-colons").uri.host == "2001:db8:::192.0.2.1"
