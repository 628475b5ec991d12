//! Property tests: generated messages survive serialize -> parse unchanged,
//! and the parser never panics on mutated input.

use drachtio_sip::{parse, HeaderName, Message, Method, NameAddr, Request, Response, Uri, Via};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!%*_+`'~-]{0,12}"
}
fn uri_token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.!*_+'~-]{0,12}"
}
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,8}){0,3}",
        (0u8..=255, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<[u16; 8]>().prop_map(|s| format!("[{}]", std::net::Ipv6Addr::from(s))),
    ]
}
fn sip_uri() -> impl Strategy<Value = String> {
    (
        prop::bool::ANY,
        prop::option::of("[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,12}|%[0-9A-F]{2}[a-z]{1,4}"),
        host(),
        prop::option::of(1u16..),
        prop::collection::vec((uri_token(), prop::option::of(uri_token())), 0..3),
    )
        .prop_map(|(secure, user, host, port, params)| {
            let mut s = String::from(if secure { "sips:" } else { "sip:" });
            if let Some(u) = user {
                s += &u;
                s.push('@');
            }
            s += &host;
            if let Some(p) = port {
                s += &format!(":{p}");
            }
            for (n, v) in params {
                s += &format!(";{n}");
                if let Some(v) = v {
                    s += &format!("={v}");
                }
            }
            s
        })
}
fn display() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        token(),
        "\"[ -!#-\\[\\]-~]{0,10}(\\\\\"|\\\\\\\\)?[ a-z]{0,5}\""
    ])
}
fn name_addr() -> impl Strategy<Value = String> {
    (
        display(),
        sip_uri(),
        prop::collection::vec((token(), prop::option::of(token())), 0..3),
    )
        .prop_map(|(d, u, ps)| {
            let mut s = match d {
                Some(d) => format!("{d} <{u}>"),
                None => format!("<{u}>"),
            };
            for (n, v) in ps {
                s += &format!(";{n}");
                if let Some(v) = v {
                    s += &format!("={v}");
                }
            }
            s
        })
}
fn via() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("UDP"), Just("TCP"), Just("TLS"), Just("WS")],
        host(),
        prop::option::of(1u16..),
        token(),
        prop::bool::ANY,
    )
        .prop_map(|(t, h, p, b, rport)| {
            let mut s = format!("SIP/2.0/{t} {h}");
            if let Some(p) = p {
                s += &format!(":{p}");
            }
            s += &format!(";branch=z9hG4bK{b}");
            if rport {
                s += ";rport";
            }
            s
        })
}

fn message() -> impl Strategy<Value = Message> {
    (
        prop::option::of((
            prop_oneof![
                Just("INVITE"),
                Just("BYE"),
                Just("OPTIONS"),
                Just("X-CUSTOM")
            ],
            sip_uri(),
        )),
        100u16..700,
        prop::collection::vec(via(), 1..4),
        name_addr(),
        name_addr(),
        token(),
        0u32..=u32::MAX,
        prop::collection::vec(name_addr(), 0..3),
        prop::collection::vec(("X-[A-Za-z]{1,8}", "[ -~]{0,30}"), 0..4),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |(req, status, vias, from, to, call_id, seq, contacts, extra, body)| {
                let method = req.as_ref().map(|(m, _)| *m).unwrap_or("INVITE");
                let mut m: Message = match req {
                    Some((m, u)) => {
                        Request::new(Method::parse(m).unwrap(), Uri::parse_str(&u).unwrap()).into()
                    }
                    None => Response::new(status).into(),
                };
                let h = m.headers_mut();
                for v in vias {
                    h.push(HeaderName::Via, v);
                }
                h.push(HeaderName::From, from);
                h.push(HeaderName::To, to);
                h.push(HeaderName::CallId, call_id);
                h.push(HeaderName::CSeq, format!("{seq} {method}"));
                if !contacts.is_empty() {
                    h.push(HeaderName::Contact, contacts.join(", "));
                }
                for (n, v) in extra {
                    h.push(HeaderName::new(&n), v.trim().to_string());
                }
                h.push(HeaderName::ContentLength, body.len().to_string());
                m.set_body(body.into());
                m
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn serialize_then_parse_is_identity(m in message()) {
        let bytes = m.to_bytes();
        prop_assert_eq!(m.serialized_len(), bytes.len());
        let parsed = parse(&bytes).map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&bytes))))?;
        prop_assert_eq!(&parsed, &m);
        prop_assert_eq!(parse(&parsed.to_bytes()).unwrap(), parsed.clone());
        // Typed views agree with what was generated.
        for v in parsed.headers().get_all(&HeaderName::Via) {
            prop_assert!(Via::parse_list(v).is_ok());
        }
        prop_assert!(NameAddr::parse(parsed.header("from").unwrap()).is_ok());
        // The JSON form round-trips too.
        let j = drachtio_sip::json::to_json(&parsed);
        let back = drachtio_sip::json::from_json(&j).unwrap();
        prop_assert_eq!(drachtio_sip::json::to_json(&back), j);
    }

    #[test]
    fn mutated_messages_never_panic(m in message(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = m.to_bytes();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(p) = parse(&bytes) {
            // Whatever parses, serializes to something that parses the same.
            let again = parse(&p.to_bytes());
            prop_assert!(again.is_ok(), "{:?}", again);
        }
    }
}
