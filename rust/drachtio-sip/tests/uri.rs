//! URI forms (RFC 3261 §19.1, §25.1; RFC 3966; RFC 5118) and their errors.

use drachtio_sip::{HostKind, ParseErrorKind, Uri};

fn sip(s: &str) -> drachtio_sip::SipUri {
    match Uri::parse_str(s).unwrap_or_else(|e| panic!("{s}: {e}")) {
        Uri::Sip(u) => u,
        other => panic!("{s}: not a SIP URI: {other:?}"),
    }
}

#[test]
fn sip_uri_parts() {
    let u = sip("sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent");
    assert!(u.secure);
    assert_eq!(u.user.as_deref(), Some("alice"));
    assert_eq!(u.password.as_deref(), Some("secret"));
    assert_eq!(
        (u.host.text.as_str(), u.host.kind),
        ("atlanta.example.com", HostKind::Domain)
    );
    assert_eq!(u.port, Some(5061));
    assert_eq!(u.param("transport"), Some(Some(&"tcp".into())));
    assert_eq!(u.param("LR"), Some(None));
    assert_eq!(u.param("maddr"), None);
    assert_eq!(u.transport().as_deref(), Some("tcp"));
    assert_eq!(u.headers.len(), 2);
    assert_eq!(u.headers[0].0, "subject");
    assert_eq!(drachtio_sip::unescape(&u.headers[0].1), b"project x");
    assert_eq!(
        u.to_string(),
        "sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent"
    );
}

#[test]
fn hosts() {
    assert_eq!(sip("sip:192.0.2.4").host.kind, HostKind::Ipv4);
    assert_eq!(
        sip("sip:192.0.2.4").host.ip().unwrap().to_string(),
        "192.0.2.4"
    );
    let u = sip("sip:bob@[2001:db8::1]:5070");
    assert_eq!(
        (u.host.text.as_str(), u.host.kind, u.port),
        ("2001:db8::1", HostKind::Ipv6, Some(5070))
    );
    assert_eq!(u.host.to_string(), "[2001:db8::1]");
    assert_eq!(sip("sip:EXAMPLE.com").host.text, "EXAMPLE.com");
    assert!(sip("sip:example.com").host.ip().is_none());
}

#[test]
fn scheme_is_case_insensitive_and_kept_canonical() {
    let u = sip("SIP:bob@example.com");
    assert!(!u.secure);
    assert_eq!(u.to_string(), "sip:bob@example.com");
}

#[test]
fn escapes_are_kept_and_decoded_on_request() {
    let u = sip("sip:%61lice%20x@example.com;na%6De=v%61l");
    assert_eq!(u.user.as_deref(), Some("%61lice%20x"));
    assert_eq!(u.user_unescaped().unwrap(), b"alice x");
    assert_eq!(u.params[0].name, "na%6De");
}

#[test]
fn tel_and_other_schemes() {
    match Uri::parse_str("tel:+1-201-555-0123;phone-context=example.com").unwrap() {
        Uri::Tel(t) => {
            assert_eq!(t.number, "+1-201-555-0123");
            assert_eq!(t.params[0].name, "phone-context");
        }
        other => panic!("{other:?}"),
    }
    let u = Uri::parse_str("urn:service:sos").unwrap();
    assert_eq!(u.scheme(), "urn");
    assert_eq!(u.to_string(), "urn:service:sos");
    assert!(u.as_sip().is_none());
    assert_eq!(
        Uri::parse_str("mailto:alice@example.com").unwrap().scheme(),
        "mailto"
    );
}

#[test]
fn invalid_uris() {
    let cases = [
        ("", "no scheme"),
        ("sip", "no scheme"),
        ("1sip:a@b", "invalid scheme"),
        ("sip:", "empty host"),
        ("sip:@example.com", "empty user"),
        ("sip::pw@example.com", "empty user"),
        (
            "sip:\u{fc}@example.com",
            "non-ASCII character in user or password (write it %-escaped)",
        ),
        (
            "sip:a\u{fc}@example.com",
            "non-ASCII character in user or password (write it %-escaped)",
        ),
        (
            "sip:<a>@example.com",
            "invalid character in user or password",
        ),
        (
            "sip:a b@example.com",
            "invalid character in user or password",
        ),
        ("sip:alice@exa mple.com", "invalid character in URI"),
        ("sip:alice@example.com:99999", "port out of range"),
        ("sip:alice@example.com:", "invalid port"),
        ("sip:alice@[2001:db8::1", "unclosed IPv6 reference"),
        ("sip:alice@[2001:db8::zz]", "invalid IPv6 address"),
        ("sip:alice@300.1.1.1", "invalid IPv4 address"),
        ("sip:alice@example.com;;lr", "empty URI parameter"),
        (
            "sip:alice@example.com?subject",
            "URI header must be 'name=value'",
        ),
        ("sip:al%zzice@example.com", "bad %-escape"),
        ("tel:", "empty telephone number"),
        ("tel:+1 555", "invalid character in telephone number"),
        ("http:", "empty URI"),
        ("http:<x>", "invalid character in URI"),
    ];
    for (s, detail) in cases {
        let e = Uri::parse_str(s).expect_err(s);
        assert_eq!(
            (e.kind, e.detail),
            (ParseErrorKind::BadUri, Some(detail)),
            "{s}"
        );
    }
}

#[test]
fn display_round_trips() {
    for s in [
        "sip:alice@atlanta.example.com",
        "sips:[::ffff:192.0.2.10]:5061;maddr=239.255.255.1;ttl=15",
        "sip:+15551234567;npdi@gw.example.com;user=phone",
        "tel:+15551234567;ext=22",
        "sip:example.com;lr",
        "sip:a@b?Replaces=abc%40host%3Bto-tag%3D1",
    ] {
        assert_eq!(Uri::parse_str(s).unwrap().to_string(), s);
    }
}
