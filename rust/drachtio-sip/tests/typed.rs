//! The core typed views: Via, name-addr (From/To/Contact/Route), Contact `*`,
//! CSeq, Max-Forwards, Content-Length, Call-ID, and list splitting.

use drachtio_sip::typed::{check_call_id, parse_content_length, parse_max_forwards};
use drachtio_sip::{split_list, CSeq, Contact, Method, NameAddr, ParseErrorKind as K, Text, Via};

fn t(s: &str) -> Text {
    Text::from(s)
}

#[test]
fn via_parts() {
    let v = Via::parse(&t("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;received=203.0.113.5;rport=41000;maddr=224.2.0.1;ttl=16")).unwrap();
    assert_eq!(v.protocol(), "SIP/2.0/UDP");
    assert_eq!((v.host.text.as_str(), v.port), ("192.0.2.1", Some(5060)));
    assert_eq!(v.branch().unwrap(), "z9hG4bK74bf9");
    assert_eq!(v.received().unwrap(), "203.0.113.5");
    assert_eq!(v.rport(), Some(Some(41000)));
    assert_eq!(v.maddr().unwrap(), "224.2.0.1");
    assert_eq!(v.ttl(), Some(16));
    let v = Via::parse(&t("SIP/2.0/TCP client.example.com;rport;branch=z9hG4bKx")).unwrap();
    assert_eq!(v.rport(), Some(None));
    assert_eq!(v.port, None);
    assert_eq!(
        v.to_string(),
        "SIP/2.0/TCP client.example.com;rport;branch=z9hG4bKx"
    );
}

#[test]
fn via_whitespace_and_lists() {
    let vs = Via::parse_list(&t("SIP / 2.0 / UDP  host.example.com : 5070 ; branch = z9hG4bK1 , SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bK2")).unwrap();
    assert_eq!(vs.len(), 2);
    assert_eq!(
        (
            vs[0].host.text.as_str(),
            vs[0].port,
            vs[0].branch().unwrap().as_str()
        ),
        ("host.example.com", Some(5070), "z9hG4bK1")
    );
    assert_eq!(vs[1].transport, "WS");
}

#[test]
fn via_errors() {
    for (s, detail) in [
        ("SIP/2.0 host", "expected '/' in sent-protocol"),
        ("SIP/2.0/UDP", "missing sent-by"),
        ("SIP/2.0/UDP host:99999", "invalid port"),
        ("SIP/2.0/UDP host;", "empty parameter"),
        ("SIP/2.0/UDP host;branch=", "empty parameter value"),
        ("SIP/2.0/UDP host branch=1", "expected ';' before parameter"),
        ("SIP/2.0/UDP [::1", "unclosed IPv6 reference"),
    ] {
        let e = Via::parse(&t(s)).expect_err(s);
        assert_eq!((e.kind, e.detail), (K::BadVia, Some(detail)), "{s}");
    }
    assert_eq!(
        Via::parse_list(&t("SIP/2.0/UDP a, ,SIP/2.0/UDP b"))
            .unwrap_err()
            .detail,
        Some("empty list element")
    );
}

#[test]
fn name_addr_forms() {
    let na = NameAddr::parse(&t(
        "\"Alice \\\"A\\\" Liddell\" <sip:alice@example.com;transport=tcp>;tag=abc;x",
    ))
    .unwrap();
    assert_eq!(na.display_name().unwrap(), "Alice \"A\" Liddell");
    assert_eq!(na.uri.to_string(), "sip:alice@example.com;transport=tcp");
    assert_eq!(na.tag().unwrap(), "abc");
    assert_eq!(na.param("x"), Some(None));

    let na = NameAddr::parse(&t("Bob Smith <tel:+15551234>")).unwrap();
    assert_eq!(na.display_name().unwrap(), "Bob Smith");
    assert_eq!(na.uri.scheme(), "tel");

    // addr-spec form: parameters after the URI belong to the header.
    let na = NameAddr::parse(&t("sip:carol@example.com;tag=99")).unwrap();
    assert!(na.display.is_none());
    assert_eq!(na.uri.to_string(), "sip:carol@example.com");
    assert_eq!(na.tag().unwrap(), "99");

    let mut na = NameAddr::new(drachtio_sip::Uri::parse_str("sip:a@b").unwrap());
    na.set_display_name(Some("Who, Dr"));
    assert_eq!(na.to_string(), "\"Who, Dr\" <sip:a@b>");
    na.set_display_name(Some("Dr. Who"));
    assert_eq!(na.to_string(), "Dr. Who <sip:a@b>");
    na.set_display_name(Some("Who"));
    assert_eq!(na.to_string(), "Who <sip:a@b>");
}

#[test]
fn name_addr_errors() {
    for (s, detail) in [
        ("", "empty value"),
        (
            "\"unterminated <sip:a@b>",
            "unterminated quoted display name",
        ),
        ("\"x\" sip:a@b", "expected '<' after display name"),
        ("<sip:a@b", "missing '>'"),
        ("sip:a@b?x=y", "a URI with headers must be enclosed in '<>'"),
        ("<sip:a@b>;", "empty parameter"),
    ] {
        let e = NameAddr::parse(&t(s)).expect_err(s);
        assert_eq!((e.kind, e.detail), (K::BadNameAddr, Some(detail)), "{s}");
    }
    assert_eq!(
        NameAddr::parse(&t("<sip:@b>")).unwrap_err().kind,
        K::BadNameAddr
    );
}

#[test]
fn contacts() {
    assert_eq!(Contact::parse(&t(" * ")).unwrap(), Contact::Star);
    let Contact::Addresses(a) = Contact::parse(&t(
        "<sip:a@h1>;q=0.7;expires=3600, \"B, Jr.\" <sip:b@h2>;q=1.0",
    ))
    .unwrap() else {
        panic!("expected addresses")
    };
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].q(), a[0].expires()), (Some(0.7), Some(3600)));
    assert_eq!(a[1].display_name().unwrap(), "B, Jr.");
    assert_eq!(a[1].q(), Some(1.0));
    let routes =
        NameAddr::parse_list(&t("<sip:p1.example.com;lr>,<sip:p2.example.com;lr>")).unwrap();
    assert_eq!(
        routes.iter().map(|r| r.uri.to_string()).collect::<Vec<_>>(),
        ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    );
}

#[test]
fn cseq_and_numbers() {
    let c = CSeq::parse(&t("4711 INVITE")).unwrap();
    assert_eq!((c.seq, c.method.clone()), (4711, Method::Invite));
    assert_eq!(c.to_string(), "4711 INVITE");
    assert_eq!(
        CSeq::parse(&t("1 FOO")).unwrap().method,
        Method::Extension("FOO".into())
    );
    assert_eq!(CSeq::parse(&t("4294967295 BYE")).unwrap().seq, u32::MAX);
    for s in [
        "INVITE",
        "4294967296 INVITE",
        "1",
        "1INVITE",
        "1 INVITE x",
        "-1 BYE",
    ] {
        assert_eq!(CSeq::parse(&t(s)).unwrap_err().kind, K::BadCSeq, "{s}");
    }
    assert_eq!(parse_max_forwards("70").unwrap(), 70);
    assert_eq!(parse_max_forwards(" 0068 ").unwrap(), 68);
    assert_eq!(
        parse_max_forwards("256").unwrap_err().kind,
        K::BadMaxForwards
    );
    assert_eq!(parse_max_forwards("x").unwrap_err().kind, K::BadMaxForwards);
    assert_eq!(parse_content_length("0").unwrap(), 0);
    assert_eq!(
        parse_content_length("-1").unwrap_err().kind,
        K::BadContentLength
    );
    assert!(check_call_id("a84b4c76e66710@pc33.atlanta.example.com").is_ok());
    assert_eq!(check_call_id("has space").unwrap_err().kind, K::BadCallId);
    assert_eq!(check_call_id("").unwrap_err().kind, K::BadCallId);
}

#[test]
fn list_splitting_respects_quotes_and_brackets() {
    assert_eq!(split_list("a, b ,c"), ["a", "b", "c"]);
    assert_eq!(
        split_list("\"x, y\" <sip:a@b>, <sip:c@d;p=\"1,2\">"),
        ["\"x, y\" <sip:a@b>", "<sip:c@d;p=\"1,2\">"]
    );
    assert_eq!(split_list("<sip:a@b?x=1,2>, c"), ["<sip:a@b?x=1,2>", "c"]);
    assert_eq!(split_list("a,,b"), ["a", "", "b"]);
    assert_eq!(split_list(""), [""]);
}
