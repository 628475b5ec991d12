//! Typed header views of `drachtio_sip::fields` and the typed accessors on
//! `Message`.

use drachtio_sip::{
    parse, parse_delta_seconds, AuthParam, CSeq, Challenge, Contact, Credentials, EventHeader,
    MediaType, Message, Method, MinSe, OptionTags, Param, ParseError, ParseErrorKind, RAck, RSeq,
    Refresher, SessionExpires, SubscriptionState, Substate, Text,
};
use std::fmt::{Debug, Display};

fn t(s: &str) -> Text {
    Text::from(s)
}

/// Asserts a `BadHeaderValue` error at `offset` with `detail`.
#[track_caller]
fn fails<T: Debug>(r: Result<T, ParseError>, offset: usize, detail: &str) {
    let e = r.expect_err("expected a parse error");
    assert_eq!(e.kind, ParseErrorKind::BadHeaderValue, "{e}");
    assert_eq!(e.offset, offset, "{e}");
    assert_eq!(e.detail, Some(detail), "{e}");
}

/// Asserts that `Display` output parses back to the same value.
#[track_caller]
fn round_trips<T: Display + Debug + PartialEq>(v: &T, parse: fn(&Text) -> Result<T, ParseError>) {
    let again = parse(&Text::from(v.to_string())).expect("Display output must parse");
    assert_eq!(&again, v);
}

// ---------------------------------------------------------------- MediaType

#[test]
fn media_type_simple() {
    let v = t("application/sdp");
    let m = MediaType::parse(&v).unwrap();
    assert_eq!(m.mtype, "application");
    assert_eq!(m.subtype, "sdp");
    assert!(m.params.is_empty());
    assert_eq!(m.essence(), "application/sdp");
    assert!(m.is("application/sdp"));
    assert!(!m.is("application/pidf+xml"));
    assert_eq!(m.to_string(), "application/sdp");
    // The parts share the header value's buffer.
    assert_eq!(m.mtype.as_ptr(), v.as_ptr());
    assert_eq!(m.subtype.as_ptr(), v[12..].as_ptr());
    round_trips(&m, MediaType::parse);
}

#[test]
fn media_type_quoted_boundary() {
    let m = MediaType::parse(&t("multipart/mixed;boundary=\"unique-boundary-1\"")).unwrap();
    assert_eq!(m.essence(), "multipart/mixed");
    assert_eq!(m.param("boundary").as_deref(), Some("unique-boundary-1"));
    assert_eq!(m.params[0].value.as_ref().unwrap(), "\"unique-boundary-1\"");
    assert_eq!(m.param("charset"), None);
    assert_eq!(
        m.to_string(),
        "multipart/mixed;boundary=\"unique-boundary-1\""
    );
    round_trips(&m, MediaType::parse);
}

#[test]
fn media_type_whitespace_and_case() {
    let m = MediaType::parse(&t(" Application / SDP ; charset = UTF-8 ;level=1 ")).unwrap();
    assert_eq!(m.mtype, "Application");
    assert_eq!(m.subtype, "SDP");
    assert_eq!(m.essence(), "application/sdp");
    assert!(m.is("APPLICATION/sdp"));
    assert_eq!(m.param("CHARSET").as_deref(), Some("UTF-8"));
    assert_eq!(m.param("level").as_deref(), Some("1"));
    assert_eq!(m.to_string(), "Application/SDP;charset=UTF-8;level=1");
    round_trips(&m, MediaType::parse);
}

#[test]
fn media_type_new_and_escaped_param() {
    let mut m = MediaType::new("text", "plain");
    m.params.push(Param::new("name", Some("\"a \\\"b\\\"\"")));
    assert_eq!(m.to_string(), "text/plain;name=\"a \\\"b\\\"\"");
    assert_eq!(m.param("name").as_deref(), Some("a \"b\""));
    round_trips(&m, MediaType::parse);
}

#[test]
fn media_type_errors() {
    fails(MediaType::parse(&t("")), 0, "expected media type");
    fails(MediaType::parse(&t("/sdp")), 0, "expected media type");
    fails(
        MediaType::parse(&t("application")),
        11,
        "expected '/' after media type",
    );
    fails(
        MediaType::parse(&t("application sdp")),
        12,
        "expected '/' after media type",
    );
    fails(
        MediaType::parse(&t("application/")),
        12,
        "expected media subtype",
    );
    fails(
        MediaType::parse(&t("application/sdp;charset")),
        16,
        "media-type parameter without value",
    );
    fails(
        MediaType::parse(&t("application/sdp x")),
        16,
        "expected ';' before parameter",
    );
    fails(
        MediaType::parse(&t("text/plain;name=\"abc")),
        16,
        "unterminated quoted string",
    );
}

// --------------------------------------------------------------- OptionTags

#[test]
fn option_tags_list() {
    let o = OptionTags::parse(&t("100rel, timer ,replaces")).unwrap();
    let tags: Vec<&str> = o.iter().map(|t| t.as_str()).collect();
    assert_eq!(tags, ["100rel", "timer", "replaces"]);
    assert_eq!(o.len(), 3);
    assert!(!o.is_empty());
    assert!(o.contains("TIMER"));
    assert!(o.contains("100Rel"));
    assert!(!o.contains("path"));
    assert_eq!(o.to_string(), "100rel, timer, replaces");
    round_trips(&o, OptionTags::parse);
}

#[test]
fn option_tags_empty_is_valid() {
    for v in ["", "  ", "\t"] {
        let o = OptionTags::parse(&t(v)).unwrap();
        assert!(o.is_empty());
        assert_eq!(o.len(), 0);
        assert!(!o.contains("100rel"));
        assert_eq!(o.to_string(), "");
    }
    round_trips(&OptionTags::default(), OptionTags::parse);
}

#[test]
fn option_tags_errors() {
    fails(
        OptionTags::parse(&t("100rel,,timer")),
        7,
        "empty option-tag",
    );
    fails(OptionTags::parse(&t("100rel,")), 7, "empty option-tag");
    fails(OptionTags::parse(&t(", timer")), 0, "empty option-tag");
    fails(
        OptionTags::parse(&t("100rel, tim er")),
        11,
        "option-tag is not a token",
    );
    fails(OptionTags::parse(&t("a/b")), 1, "option-tag is not a token");
}

// ------------------------------------------------------------ delta-seconds

#[test]
fn delta_seconds_values() {
    assert_eq!(parse_delta_seconds("3600"), Ok(3600));
    assert_eq!(parse_delta_seconds(" 0 "), Ok(0));
    assert_eq!(parse_delta_seconds("\t120"), Ok(120));
    assert_eq!(parse_delta_seconds("0003600"), Ok(3600));
    assert_eq!(parse_delta_seconds("4294967295"), Ok(u32::MAX));
}

#[test]
fn delta_seconds_errors() {
    fails(
        parse_delta_seconds("4294967296"),
        0,
        "delta-seconds over 2**32-1",
    );
    // RFC 4475 scalar02: the caller falls back to its default expiry.
    let huge = format!("1{}", "0".repeat(100));
    fails(parse_delta_seconds(&huge), 0, "delta-seconds over 2**32-1");
    fails(parse_delta_seconds(""), 0, "expected delta-seconds");
    fails(parse_delta_seconds("  "), 2, "expected delta-seconds");
    fails(parse_delta_seconds("-1"), 0, "expected delta-seconds");
    fails(
        parse_delta_seconds("12a"),
        2,
        "unexpected character after delta-seconds",
    );
    fails(
        parse_delta_seconds("1 2"),
        2,
        "unexpected character after delta-seconds",
    );
}

// ---------------------------------------------------------------- RSeq/RAck

#[test]
fn rseq_values() {
    assert_eq!(RSeq::parse(&t("988789")), Ok(RSeq(988789)));
    assert_eq!(RSeq::parse(&t(" 1 ")), Ok(RSeq(1)));
    assert_eq!(RSeq::parse(&t("2147483647")), Ok(RSeq(RSeq::MAX)));
    assert_eq!(RSeq(988789).to_string(), "988789");
    round_trips(&RSeq(42), RSeq::parse);
}

#[test]
fn rseq_errors() {
    let range = "response-num must be in 1..2**31-1";
    fails(RSeq::parse(&t("0")), 0, range);
    fails(RSeq::parse(&t("2147483648")), 0, range);
    fails(RSeq::parse(&t("99999999999")), 0, range);
    fails(RSeq::parse(&t("")), 0, "expected response-num");
    fails(RSeq::parse(&t("abc")), 0, "expected response-num");
    fails(
        RSeq::parse(&t("12 x")),
        3,
        "unexpected character after response-num",
    );
}

#[test]
fn rack_values() {
    let r = RAck::parse(&t("776656 1 INVITE")).unwrap();
    assert_eq!(r.response_num, 776656);
    assert_eq!(r.cseq_num, 1);
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.to_string(), "776656 1 INVITE");
    round_trips(&r, RAck::parse);

    let spaced = RAck::parse(&t(" 776656 \t 1   INVITE ")).unwrap();
    assert_eq!(spaced, r);

    let ext = RAck::parse(&t("5 314159 FOO")).unwrap();
    assert_eq!(ext.method, Method::parse("FOO").unwrap());
    assert_eq!(ext.cseq_num, 314159);
    round_trips(&ext, RAck::parse);
}

#[test]
fn rack_matches_the_acknowledged_response() {
    let r = RAck::parse(&t("776656 1 INVITE")).unwrap();
    let cseq = CSeq {
        seq: 1,
        method: Method::Invite,
    };
    assert!(r.matches(RSeq(776656), &cseq));
    assert!(!r.matches(RSeq(776657), &cseq));
    let other = CSeq {
        seq: 2,
        method: Method::Invite,
    };
    assert!(!r.matches(RSeq(776656), &other));
    let update = CSeq {
        seq: 1,
        method: Method::Update,
    };
    assert!(!r.matches(RSeq(776656), &update));
}

#[test]
fn rack_errors() {
    fails(
        RAck::parse(&t("0 1 INVITE")),
        0,
        "response-num must be in 1..2**31-1",
    );
    fails(RAck::parse(&t("")), 0, "expected response-num");
    fails(
        RAck::parse(&t("776656")),
        6,
        "expected whitespace after response-num",
    );
    fails(
        RAck::parse(&t("776656 1")),
        8,
        "expected whitespace after sequence number",
    );
    fails(
        RAck::parse(&t("776656 x INVITE")),
        7,
        "missing sequence number",
    );
    fails(
        RAck::parse(&t("776656 99999999999 INVITE")),
        7,
        "sequence number over 2**32-1",
    );
    fails(RAck::parse(&t("776656 1 INV@ITE")), 9, "invalid method");
}

// ---------------------------------------------------- Session-Expires/Min-SE

#[test]
fn session_expires_values() {
    let v = SessionExpires::parse(&t("1800;refresher=uac")).unwrap();
    assert_eq!(v.delta, 1800);
    assert_eq!(v.refresher, Some(Refresher::Uac));
    assert!(v.params.is_empty());
    assert_eq!(v.to_string(), "1800;refresher=uac");
    round_trips(&v, SessionExpires::parse);

    let plain = SessionExpires::parse(&t("90")).unwrap();
    assert_eq!(plain.delta, 90);
    assert_eq!(plain.refresher, None);
    assert_eq!(plain.to_string(), "90");
}

#[test]
fn session_expires_whitespace_case_and_other_params() {
    let v = SessionExpires::parse(&t(" 4000 ; foo=bar ; Refresher = UAS ;flag")).unwrap();
    assert_eq!(v.delta, 4000);
    assert_eq!(v.refresher, Some(Refresher::Uas));
    assert_eq!(
        v.params,
        vec![Param::new("foo", Some("bar")), Param::new("flag", None)]
    );
    // Known parameters are written first, in lower case.
    assert_eq!(v.to_string(), "4000;refresher=uas;foo=bar;flag");
    assert_eq!(Refresher::Uac.as_str(), "uac");
    round_trips(&v, SessionExpires::parse);
}

#[test]
fn session_expires_errors() {
    fails(
        SessionExpires::parse(&t("1800;refresher=both")),
        15,
        "refresher must be uac or uas",
    );
    fails(
        SessionExpires::parse(&t("1800;refresher")),
        5,
        "refresher needs a value",
    );
    fails(
        SessionExpires::parse(&t("1800;refresher=uac;refresher=uas")),
        19,
        "duplicate parameter",
    );
    fails(
        SessionExpires::parse(&t("soon")),
        0,
        "expected delta-seconds",
    );
    fails(
        SessionExpires::parse(&t("1800x")),
        4,
        "expected ';' before parameter",
    );
    fails(
        SessionExpires::parse(&t("4294967296;refresher=uac")),
        0,
        "delta-seconds over 2**32-1",
    );
}

#[test]
fn min_se_values_and_errors() {
    let v = MinSe::parse(&t("90")).unwrap();
    assert_eq!(v.delta, 90);
    assert!(v.params.is_empty());
    assert_eq!(v.to_string(), "90");

    let p = MinSe::parse(&t(" 1800 ; ext = 1")).unwrap();
    assert_eq!(p.delta, 1800);
    assert_eq!(p.params, vec![Param::new("ext", Some("1"))]);
    assert_eq!(p.to_string(), "1800;ext=1");
    round_trips(&p, MinSe::parse);

    fails(MinSe::parse(&t("")), 0, "expected delta-seconds");
    fails(MinSe::parse(&t("90;")), 3, "empty parameter");
}

// ----------------------------------------------------------- Authentication

const RFC3261_AUTHORIZATION: &str = "Digest username=\"Alice\", realm=\"atlanta.com\", \
     nonce=\"84a4cc6f3082121f32b42a2187831a9e\", \
     response=\"7587245234b3434cc3412213e5f113a5432\"";

#[test]
fn credentials_digest() {
    let v = t(RFC3261_AUTHORIZATION);
    let c = Credentials::parse(&v).unwrap();
    assert_eq!(c.scheme, "Digest");
    assert!(c.is_digest());
    assert_eq!(c.token68, None);
    assert_eq!(c.params.len(), 4);
    assert_eq!(c.username().as_deref(), Some("Alice"));
    assert_eq!(c.realm().as_deref(), Some("atlanta.com"));
    assert_eq!(
        c.nonce().as_deref(),
        Some("84a4cc6f3082121f32b42a2187831a9e")
    );
    assert_eq!(
        c.response().as_deref(),
        Some("7587245234b3434cc3412213e5f113a5432")
    );
    assert_eq!(c.uri(), None);
    assert_eq!(c.param("REALM").as_deref(), Some("atlanta.com"));
    assert_eq!(c.raw_param("realm").unwrap(), "\"atlanta.com\"");
    assert!(c.params[0].is_quoted());
    assert_eq!(c.params[0].unquoted(), "Alice");
    // The parts share the header value's buffer.
    assert_eq!(c.scheme.as_ptr(), v.as_ptr());
    assert_eq!(c.to_string(), RFC3261_AUTHORIZATION);
    round_trips(&c, Credentials::parse);
}

#[test]
fn credentials_digest_with_qop_and_odd_spacing() {
    let c = Credentials::parse(&t(
        "digest username=\"bob\" ,realm = \"biloxi.com\",\tnonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
         uri=\"sip:bob@biloxi.com\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
         response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
    ))
    .unwrap();
    assert!(c.is_digest());
    assert_eq!(c.scheme, "digest");
    assert_eq!(c.params.len(), 9);
    assert_eq!(c.uri().as_deref(), Some("sip:bob@biloxi.com"));
    assert_eq!(c.param("qop").as_deref(), Some("auth"));
    assert_eq!(c.raw_param("nc").unwrap(), "00000001");
    assert!(!c.params[5].is_quoted());
    assert_eq!(c.param("cnonce").as_deref(), Some("0a4f113b"));
    assert_eq!(
        c.param("opaque").as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
    assert_eq!(c.param("algorithm"), None);
    assert_eq!(
        c.to_string(),
        "digest username=\"bob\", realm=\"biloxi.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
         uri=\"sip:bob@biloxi.com\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
         response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
    );
    round_trips(&c, Credentials::parse);
}

#[test]
fn credentials_escaped_quote_and_unknown_scheme() {
    let c = Credentials::parse(&t("Digest username=\"bo\\\"b\", realm=\"x,y\"")).unwrap();
    assert_eq!(c.username().as_deref(), Some("bo\"b"));
    assert_eq!(c.realm().as_deref(), Some("x,y"));
    round_trips(&c, Credentials::parse);

    // RFC 4475 regaut01: an unknown scheme still parses.
    let u = Credentials::parse(&t("NoOneKnowsThisScheme opaque-data=here")).unwrap();
    assert_eq!(u.scheme, "NoOneKnowsThisScheme");
    assert!(!u.is_digest());
    assert_eq!(u.params, vec![AuthParam::new("opaque-data", "here")]);
    assert_eq!(u.to_string(), "NoOneKnowsThisScheme opaque-data=here");
}

#[test]
fn credentials_bearer_token68() {
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2ln-bmF0_dXJl";
    let c = Credentials::parse(&t(&format!("Bearer {token}"))).unwrap();
    assert_eq!(c.scheme, "Bearer");
    assert_eq!(c.token68.as_ref().unwrap(), token);
    assert!(c.params.is_empty());
    assert_eq!(c.to_string(), format!("Bearer {token}"));
    round_trips(&c, Credentials::parse);

    let padded = Credentials::parse(&t("Bearer abc+/def== ")).unwrap();
    assert_eq!(padded.token68.as_ref().unwrap(), "abc+/def==");
}

#[test]
fn credentials_errors() {
    fails(Credentials::parse(&t("")), 0, "expected auth-scheme");
    fails(
        Credentials::parse(&t("Digest")),
        6,
        "expected auth-params after the auth-scheme",
    );
    fails(
        Credentials::parse(&t("Digest ")),
        7,
        "expected auth-params after the auth-scheme",
    );
    fails(
        Credentials::parse(&t("Digest,realm=\"a\"")),
        6,
        "expected whitespace after the auth-scheme",
    );
    fails(
        Credentials::parse(&t("Digest realm=\"atlanta.com")),
        13,
        "unterminated quoted string",
    );
    fails(
        Credentials::parse(&t("Digest realm=, nonce=\"a\"")),
        13,
        "auth-param value must be a token or quoted string",
    );
    fails(
        Credentials::parse(&t("Digest realm=<x>")),
        13,
        "auth-param value must be a token or quoted string",
    );
    fails(
        Credentials::parse(&t("Digest realm=\"a\",")),
        17,
        "expected auth-param name",
    );
    fails(
        Credentials::parse(&t("Digest realm \"a\"")),
        13,
        "expected '=' after auth-param name",
    );
    fails(
        Credentials::parse(&t("Digest realm=\"a\" nonce=\"b\"")),
        17,
        "expected ',' between auth-params",
    );
    fails(
        Credentials::parse(&t("Digest realm=a b")),
        15,
        "expected ',' between auth-params",
    );
}

const RFC3261_CHALLENGE: &str = "Digest realm=\"atlanta.com\", domain=\"sip:boxesbybob.com\", \
     qop=\"auth,auth-int\", nonce=\"f84f1cec41e6cbe5aea9c8e88d359\", opaque=\"\", \
     stale=FALSE, algorithm=MD5";

#[test]
fn challenge_digest_helpers() {
    let c = Challenge::parse(&t(RFC3261_CHALLENGE)).unwrap();
    assert!(c.is_digest());
    assert_eq!(c.params.len(), 7);
    assert_eq!(c.realm().as_deref(), Some("atlanta.com"));
    assert_eq!(c.nonce().as_deref(), Some("f84f1cec41e6cbe5aea9c8e88d359"));
    assert_eq!(c.opaque().as_deref(), Some(""));
    assert_eq!(c.algorithm().as_deref(), Some("MD5"));
    // The comma inside the quoted qop value does not split the list.
    assert_eq!(c.qop(), vec!["auth".to_string(), "auth-int".to_string()]);
    assert_eq!(c.raw_param("qop").unwrap(), "\"auth,auth-int\"");
    assert_eq!(c.param("domain").as_deref(), Some("sip:boxesbybob.com"));
    assert!(!c.stale());
    assert_eq!(c.to_string(), RFC3261_CHALLENGE);
    round_trips(&c, Challenge::parse);
}

#[test]
fn challenge_stale_qop_absent_and_spacing() {
    let c = Challenge::parse(&t(
        "  DIGEST  realm = \"biloxi.com\" , nonce=\"n1\",STALE=true,qop=\"auth , \"",
    ))
    .unwrap();
    assert!(c.is_digest());
    assert!(c.stale());
    assert_eq!(c.qop(), vec!["auth".to_string()]);
    assert_eq!(c.algorithm(), None);
    assert_eq!(c.opaque(), None);
    assert_eq!(
        c.to_string(),
        "DIGEST realm=\"biloxi.com\", nonce=\"n1\", STALE=true, qop=\"auth , \""
    );
    round_trips(&c, Challenge::parse);

    let none = Challenge::parse(&t("Digest realm=\"a\", nonce=\"b\"")).unwrap();
    assert!(none.qop().is_empty());
    assert!(!none.stale());

    let bearer = Challenge::parse(&t("Bearer realm=\"atlanta.com\", scope=\"sip:reg\"")).unwrap();
    assert!(!bearer.is_digest());
    assert_eq!(bearer.param("scope").as_deref(), Some("sip:reg"));
}

#[test]
fn challenge_errors() {
    fails(Challenge::parse(&t("   ")), 3, "expected auth-scheme");
    fails(
        Challenge::parse(&t("Digest realm=\"a\" ,")),
        18,
        "expected auth-param name",
    );
    fails(
        Challenge::parse(&t("Digest qop=\"auth,auth-int")),
        11,
        "unterminated quoted string",
    );
}

// ------------------------------------------------------------------ Events

#[test]
fn event_values() {
    let e = EventHeader::parse(&t("presence")).unwrap();
    assert_eq!(e.event_type, "presence");
    assert_eq!(e.package(), "presence");
    assert_eq!(e.id, None);
    assert!(e.params.is_empty());
    assert_eq!(e.to_string(), "presence");

    let r = EventHeader::parse(&t("refer;id=93809824")).unwrap();
    assert_eq!(r.event_type, "refer");
    assert_eq!(r.id.as_ref().unwrap(), "93809824");
    assert_eq!(r.to_string(), "refer;id=93809824");
    round_trips(&r, EventHeader::parse);

    let w = EventHeader::parse(&t("presence.winfo")).unwrap();
    assert_eq!(w.package(), "presence");
    assert_eq!(w.event_type, "presence.winfo");
}

#[test]
fn event_whitespace_case_and_other_params() {
    let e = EventHeader::parse(&t(
        " dialog ; call-id = \"abc@host\" ; ID = 7 ;include-session-description",
    ))
    .unwrap();
    assert_eq!(e.event_type, "dialog");
    assert_eq!(e.id.as_ref().unwrap(), "7");
    assert_eq!(
        e.params,
        vec![
            Param::new("call-id", Some("\"abc@host\"")),
            Param::new("include-session-description", None)
        ]
    );
    assert_eq!(
        e.to_string(),
        "dialog;id=7;call-id=\"abc@host\";include-session-description"
    );
    round_trips(&e, EventHeader::parse);
}

#[test]
fn event_errors() {
    fails(EventHeader::parse(&t("")), 0, "expected event-type");
    fails(EventHeader::parse(&t(";id=1")), 0, "expected event-type");
    fails(
        EventHeader::parse(&t("presence..winfo")),
        0,
        "empty event-package or event-template",
    );
    fails(
        EventHeader::parse(&t(" .presence")),
        1,
        "empty event-package or event-template",
    );
    fails(EventHeader::parse(&t("presence;id")), 9, "id needs a value");
    fails(
        EventHeader::parse(&t("presence;id=\"7\"")),
        12,
        "id must be a token",
    );
    fails(
        EventHeader::parse(&t("presence;id=1;id=2")),
        14,
        "duplicate parameter",
    );
    fails(
        EventHeader::parse(&t("pres@nce")),
        4,
        "expected ';' before parameter",
    );
}

#[test]
fn subscription_state_values() {
    let s = SubscriptionState::parse(&t("terminated;reason=timeout")).unwrap();
    assert_eq!(s.state, Substate::Terminated);
    assert_eq!(s.reason.as_ref().unwrap(), "timeout");
    assert_eq!(s.expires, None);
    assert_eq!(s.retry_after, None);
    assert_eq!(s.to_string(), "terminated;reason=timeout");
    round_trips(&s, SubscriptionState::parse);

    let a = SubscriptionState::parse(&t("active;expires=600")).unwrap();
    assert_eq!(a.state, Substate::Active);
    assert_eq!(a.expires, Some(600));
    assert_eq!(a.reason, None);

    let p = SubscriptionState::parse(&t("pending")).unwrap();
    assert_eq!(p.state, Substate::Pending);
    assert_eq!(p.to_string(), "pending");

    let r = SubscriptionState::parse(&t("terminated;reason=probation;retry-after=30")).unwrap();
    assert_eq!(r.retry_after, Some(30));
    assert_eq!(r.reason.as_ref().unwrap(), "probation");
    round_trips(&r, SubscriptionState::parse);
}

#[test]
fn subscription_state_case_whitespace_and_extensions() {
    let s = SubscriptionState::parse(&t(" ACTIVE ; Expires = 3600 ; x-foo=bar")).unwrap();
    assert_eq!(s.state, Substate::Active);
    assert_eq!(s.expires, Some(3600));
    assert_eq!(s.params, vec![Param::new("x-foo", Some("bar"))]);
    assert_eq!(s.to_string(), "active;expires=3600;x-foo=bar");
    round_trips(&s, SubscriptionState::parse);

    let o = SubscriptionState::parse(&t("waiting;retry-after=5;reason=giveup")).unwrap();
    assert_eq!(o.state, Substate::Other(t("waiting")));
    assert_eq!(o.state.as_str(), "waiting");
    assert_eq!(o.to_string(), "waiting;reason=giveup;retry-after=5");
    round_trips(&o, SubscriptionState::parse);
}

#[test]
fn subscription_state_errors() {
    fails(
        SubscriptionState::parse(&t("")),
        0,
        "expected substate-value",
    );
    fails(
        SubscriptionState::parse(&t("active;expires=soon")),
        15,
        "expected delta-seconds",
    );
    fails(
        SubscriptionState::parse(&t("active;expires")),
        7,
        "parameter needs a delta-seconds value",
    );
    fails(
        SubscriptionState::parse(&t("active;expires=99999999999")),
        15,
        "delta-seconds over 2**32-1",
    );
    fails(
        SubscriptionState::parse(&t("terminated;retry-after=1x")),
        24,
        "unexpected character after delta-seconds",
    );
    fails(
        SubscriptionState::parse(&t("terminated;reason")),
        11,
        "reason needs a value",
    );
    fails(
        SubscriptionState::parse(&t("active;expires=1;expires=2")),
        17,
        "duplicate parameter",
    );
}

// -------------------------------------------------------- Message accessors

fn message(lines: &[&str], body: &str) -> Message {
    let mut s = String::new();
    for l in lines {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    parse(s.as_bytes()).expect("test message must parse")
}

const SDP: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\ns=-\r\n\
                   c=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\n";

fn invite() -> Message {
    message(
        &[
            "INVITE sip:bob@biloxi.example.com SIP/2.0",
            "Via: SIP/2.0/TLS client.atlanta.example.com:5061;branch=z9hG4bK74bf9, \
             SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1",
            "v: SIP/2.0/TCP 192.0.2.10:5070;branch=z9hG4bK2;rport",
            "Max-Forwards: 70",
            "From: Alice <sips:alice@atlanta.example.com>;tag=9fxced76sl",
            "t: Bob <sips:bob@biloxi.example.com>",
            "Call-ID: 3848276298220188511@atlanta.example.com",
            "CSeq: 2 INVITE",
            "Contact: <sips:alice@client.atlanta.example.com>",
            "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
            "Record-Route: <sip:rr1.example.com;lr>",
            "Route: <sip:p3.example.com;lr>",
            "Record-Route: <sip:rr2.example.com;lr>,<sip:rr3.example.com;lr>",
            "Require: 100rel",
            "Supported: timer,",
            " replaces",
            "k: path",
            "Proxy-Require: sec-agree",
            "x: 1800;refresher=uac",
            "Min-SE: 90",
            "Expires: 120",
            "Proxy-Authorization: Digest username=\"alice\", realm=\"atlanta.example.com\",",
            "  nonce=\"wf84f1ceczx41ae6cbe5aea9c8e88d359\", uri=\"sips:bob@biloxi.example.com\",",
            "  response=\"42ce3cef44b22f50c6a6071bc8\"",
            "Proxy-Authorization: Digest username=\"alice\", realm=\"biloxi.example.com\", \
             nonce=\"c60f3082ee1212b402a21831ae\", uri=\"sips:bob@biloxi.example.com\", \
             response=\"f44ab22f150c6a56071bce8\"",
            "Content-Type: application/sdp",
        ],
        SDP,
    )
}

#[test]
fn message_core_accessors() {
    let m = invite();
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].host.text, "client.atlanta.example.com");
    assert_eq!(vias[0].port, Some(5061));
    assert_eq!(vias[1].branch().unwrap(), "z9hG4bK1");
    assert_eq!(vias[2].transport, "TCP");
    assert_eq!(vias[2].rport(), Some(None));
    let top = m.top_via().unwrap().unwrap();
    assert_eq!(top, vias[0]);
    assert_eq!(top.branch().unwrap(), "z9hG4bK74bf9");

    let from = m.from_header().unwrap().unwrap();
    assert_eq!(from.display_name().as_deref(), Some("Alice"));
    assert_eq!(from.tag().unwrap(), "9fxced76sl");
    let to = m.to_header().unwrap().unwrap();
    assert_eq!(to.uri.to_string(), "sips:bob@biloxi.example.com");
    assert_eq!(to.tag(), None);
    assert_eq!(
        m.call_id().unwrap(),
        "3848276298220188511@atlanta.example.com"
    );
    assert_eq!(
        m.cseq().unwrap(),
        Some(CSeq {
            seq: 2,
            method: Method::Invite
        })
    );
    match m.contact().unwrap().unwrap() {
        Contact::Addresses(a) => {
            assert_eq!(a.len(), 1);
            assert_eq!(
                a[0].uri.to_string(),
                "sips:alice@client.atlanta.example.com"
            );
        }
        Contact::Star => panic!("expected addresses"),
    }
    assert_eq!(m.max_forwards().unwrap(), Some(70));
    assert_eq!(m.content_length().unwrap(), Some(SDP.len()));

    let route: Vec<String> = m.route().unwrap().iter().map(|r| r.to_string()).collect();
    assert_eq!(
        route,
        [
            "<sip:p1.example.com;lr>",
            "<sip:p2.example.com;lr>",
            "<sip:p3.example.com;lr>"
        ]
    );
    let rr: Vec<String> = m
        .record_route()
        .unwrap()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(
        rr,
        [
            "sip:rr1.example.com;lr",
            "sip:rr2.example.com;lr",
            "sip:rr3.example.com;lr"
        ]
    );
}

#[test]
fn message_extension_accessors() {
    let m = invite();
    let ct = m.content_type().unwrap().unwrap();
    assert_eq!(ct.essence(), "application/sdp");
    assert_eq!(m.expires().unwrap(), Some(120));

    let require = m.require().unwrap().unwrap();
    assert_eq!(require.to_string(), "100rel");
    // Folded and compact-form Supported lines are merged in order.
    let supported = m.supported().unwrap().unwrap();
    assert_eq!(supported.to_string(), "timer, replaces, path");
    assert!(supported.contains("Replaces"));
    assert_eq!(m.proxy_require().unwrap().unwrap().to_string(), "sec-agree");
    assert_eq!(m.unsupported().unwrap(), None);

    let se = m.session_expires().unwrap().unwrap();
    assert_eq!(se.delta, 1800);
    assert_eq!(se.refresher, Some(Refresher::Uac));
    assert_eq!(m.min_se().unwrap().unwrap().delta, 90);

    let pa = m.proxy_authorization().unwrap();
    assert_eq!(pa.len(), 2);
    assert_eq!(pa[0].realm().as_deref(), Some("atlanta.example.com"));
    // The folded value was joined with single spaces by the message parser.
    assert_eq!(
        pa[0].nonce().as_deref(),
        Some("wf84f1ceczx41ae6cbe5aea9c8e88d359")
    );
    assert_eq!(
        pa[0].response().as_deref(),
        Some("42ce3cef44b22f50c6a6071bc8")
    );
    assert_eq!(pa[1].realm().as_deref(), Some("biloxi.example.com"));
    assert!(m.authorization().unwrap().is_empty());
    assert!(m.www_authenticate().unwrap().is_empty());
    assert!(m.proxy_authenticate().unwrap().is_empty());
    assert_eq!(m.rseq().unwrap(), None);
    assert_eq!(m.rack().unwrap(), None);
    assert_eq!(m.event().unwrap(), None);
    assert_eq!(m.subscription_state().unwrap(), None);
}

#[test]
fn message_absent_headers() {
    let m = message(
        &[
            "OPTIONS sip:carol@chicago.example.com SIP/2.0",
            "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877",
            "From: <sip:alice@atlanta.example.com>;tag=1928301774",
            "To: <sip:carol@chicago.example.com>",
            "Call-ID: a84b4c76e66710",
            "CSeq: 63104 OPTIONS",
        ],
        "",
    );
    assert_eq!(m.content_type().unwrap(), None);
    assert_eq!(m.expires().unwrap(), None);
    assert_eq!(m.require().unwrap(), None);
    assert_eq!(m.supported().unwrap(), None);
    assert_eq!(m.proxy_require().unwrap(), None);
    assert_eq!(m.unsupported().unwrap(), None);
    assert_eq!(m.session_expires().unwrap(), None);
    assert_eq!(m.min_se().unwrap(), None);
    assert_eq!(m.contact().unwrap(), None);
    assert_eq!(m.max_forwards().unwrap(), None);
    assert!(m.route().unwrap().is_empty());
    assert!(m.record_route().unwrap().is_empty());
    assert_eq!(m.content_length().unwrap(), Some(0));
    assert_eq!(m.vias().unwrap().len(), 1);
}

#[test]
fn message_empty_supported_means_none() {
    let m = message(
        &[
            "OPTIONS sip:carol@chicago.example.com SIP/2.0",
            "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877",
            "From: <sip:alice@atlanta.example.com>;tag=1928301774",
            "To: <sip:carol@chicago.example.com>",
            "Call-ID: a84b4c76e66710",
            "CSeq: 63104 OPTIONS",
            "Supported:",
        ],
        "",
    );
    let s = m.supported().unwrap().unwrap();
    assert!(s.is_empty());
}

#[test]
fn message_challenges_and_unsupported() {
    let m = message(
        &[
            "SIP/2.0 401 Unauthorized",
            "Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7;received=192.0.2.4",
            "From: Bob <sip:bob@biloxi.example.com>;tag=a73kszlfl",
            "To: Bob <sip:bob@biloxi.example.com>;tag=1410948204",
            "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com",
            "CSeq: 1 REGISTER",
            "WWW-Authenticate: Digest realm=\"atlanta.example.com\", qop=\"auth,auth-int\",",
            " nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", opaque=\"\", stale=FALSE, algorithm=MD5",
            "WWW-Authenticate: Digest realm=\"atlanta.example.com\", qop=\"auth\", \
             nonce=\"ea9c8e88df84f1cec4341ae6cbe5a359\", algorithm=SHA-256",
            "Proxy-Authenticate: Digest realm=\"proxy.example.com\", nonce=\"p1\", stale=true",
            "Unsupported: foo, bar",
            "Unsupported: baz",
        ],
        "",
    );
    let www = m.www_authenticate().unwrap();
    assert_eq!(www.len(), 2);
    assert_eq!(
        www[0].qop(),
        vec!["auth".to_string(), "auth-int".to_string()]
    );
    assert_eq!(www[0].algorithm().as_deref(), Some("MD5"));
    assert_eq!(www[1].algorithm().as_deref(), Some("SHA-256"));
    assert_eq!(www[1].qop(), vec!["auth".to_string()]);
    let pa = m.proxy_authenticate().unwrap();
    assert_eq!(pa.len(), 1);
    assert!(pa[0].stale());
    assert_eq!(pa[0].realm().as_deref(), Some("proxy.example.com"));
    let u = m.unsupported().unwrap().unwrap();
    assert_eq!(u.to_string(), "foo, bar, baz");
    assert!(m.authorization().unwrap().is_empty());
}

#[test]
fn message_authorization_lines() {
    let m = message(
        &[
            "REGISTER sip:registrar.biloxi.example.com SIP/2.0",
            "Via: SIP/2.0/TCP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7",
            "Max-Forwards: 70",
            "From: Bob <sip:bob@biloxi.example.com>;tag=a73kszlfl",
            "To: Bob <sip:bob@biloxi.example.com>",
            "Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com",
            "CSeq: 2 REGISTER",
            "Contact: <sip:bob@192.0.2.4>",
            &format!("Authorization: {RFC3261_AUTHORIZATION}"),
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
            "Expires: 7200",
        ],
        "",
    );
    let a = m.authorization().unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].username().as_deref(), Some("Alice"));
    assert_eq!(
        a[1].token68.as_ref().unwrap(),
        "eyJhbGciOiJIUzI1NiJ9.e30.sig"
    );
    assert_eq!(m.expires().unwrap(), Some(7200));
}

#[test]
fn message_reliable_provisional_and_prack() {
    let resp = message(
        &[
            "SIP/2.0 183 Session Progress",
            "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
            "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
            "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf",
            "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
            "CSeq: 314159 INVITE",
            "Contact: <sip:bob@192.0.2.4>",
            "Require: 100rel",
            "RSeq: 776656",
        ],
        "",
    );
    let rseq = resp.rseq().unwrap().unwrap();
    assert_eq!(rseq, RSeq(776656));
    assert!(resp.require().unwrap().unwrap().contains("100rel"));

    let prack = message(
        &[
            "PRACK sip:bob@192.0.2.4 SIP/2.0",
            "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhdt",
            "Max-Forwards: 70",
            "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
            "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf",
            "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
            "CSeq: 314160 PRACK",
            "RAck: 776656 314159 INVITE",
        ],
        "",
    );
    let rack = prack.rack().unwrap().unwrap();
    assert_eq!(rack.to_string(), "776656 314159 INVITE");
    assert!(rack.matches(rseq, &resp.cseq().unwrap().unwrap()));
}

#[test]
fn message_notify_event_and_state() {
    let m = message(
        &[
            "NOTIFY sip:alice@192.0.2.101 SIP/2.0",
            "Via: SIP/2.0/UDP server.example.com;branch=z9hG4bKna998sk",
            "Max-Forwards: 70",
            "From: <sip:bob@example.com>;tag=ffd2",
            "To: <sip:alice@example.com>;tag=xfg9",
            "Call-ID: 2010@192.0.2.101",
            "CSeq: 8 NOTIFY",
            "Contact: <sip:server.example.com>",
            "o: refer ;id=93809824",
            "Subscription-State: terminated;reason=timeout",
            "Content-Type: message/sipfrag;version=2.0",
        ],
        "SIP/2.0 200 OK\r\n",
    );
    let e = m.event().unwrap().unwrap();
    assert_eq!(e.event_type, "refer");
    assert_eq!(e.id.as_ref().unwrap(), "93809824");
    let s = m.subscription_state().unwrap().unwrap();
    assert_eq!(s.state, Substate::Terminated);
    assert_eq!(s.reason.as_ref().unwrap(), "timeout");
    let ct = m.content_type().unwrap().unwrap();
    assert!(ct.is("message/sipfrag"));
    assert_eq!(ct.param("version").as_deref(), Some("2.0"));
}

fn register_with(extra: &[&str]) -> Result<Message, ParseError> {
    let mut lines = vec![
        "REGISTER sip:registrar.biloxi.example.com SIP/2.0",
        "Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7",
        "From: Bob <sip:bob@biloxi.example.com>;tag=456248",
        "To: Bob <sip:bob@biloxi.example.com>",
        "Call-ID: 843817637684230@998sdasdh09",
        "CSeq: 1826 REGISTER",
    ];
    lines.extend_from_slice(extra);
    let mut s = lines.join("\r\n");
    s.push_str("\r\nContent-Length: 0\r\n\r\n");
    parse(s.as_bytes())
}

#[test]
fn message_contact_star_and_merging() {
    let star = register_with(&["Contact: *", "Expires: 0"]).unwrap();
    assert_eq!(star.contact().unwrap(), Some(Contact::Star));
    assert_eq!(star.expires().unwrap(), Some(0));

    let two = register_with(&[
        "Contact: <sip:bob@192.0.2.4>;expires=3600, <sip:bob@192.0.2.5>",
        "m: <sip:bob@192.0.2.6>;q=0.5",
    ])
    .unwrap();
    match two.contact().unwrap().unwrap() {
        Contact::Addresses(a) => {
            let uris: Vec<String> = a.iter().map(|c| c.uri.to_string()).collect();
            assert_eq!(
                uris,
                [
                    "sip:bob@192.0.2.4",
                    "sip:bob@192.0.2.5",
                    "sip:bob@192.0.2.6"
                ]
            );
            assert_eq!(a[0].expires(), Some(3600));
            assert_eq!(a[2].q(), Some(0.5));
        }
        Contact::Star => panic!("expected addresses"),
    }

    let mixed = register_with(&["Contact: *", "Contact: <sip:bob@192.0.2.4>"]).unwrap();
    let e = mixed.contact().unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::BadNameAddr);
    assert_eq!(e.detail, Some("Contact '*' must be the only Contact value"));
}

#[test]
fn message_accessor_errors_are_relative_to_the_header_value() {
    // RFC 4475 scalar02's Expires: the message parses, the value does not.
    let huge = format!("Expires: {}", "1".repeat(40));
    let m = register_with(&[
        huge.as_str(),
        "Session-Expires: 1800;refresher=both",
        "Content-Type: application",
        "Require: 100rel,,timer",
        "RSeq: 0",
        "RAck: 1 INVITE",
        "Min-SE: x",
        "Authorization: Digest",
        "WWW-Authenticate: Digest realm=\"x",
        "Event: presence..winfo",
        "Subscription-State: active;expires=soon",
    ])
    .unwrap();
    fails(m.expires(), 0, "delta-seconds over 2**32-1");
    fails(m.session_expires(), 15, "refresher must be uac or uas");
    fails(m.content_type(), 11, "expected '/' after media type");
    fails(m.require(), 7, "empty option-tag");
    fails(m.rseq(), 0, "response-num must be in 1..2**31-1");
    fails(m.rack(), 2, "missing sequence number");
    fails(m.min_se(), 0, "expected delta-seconds");
    fails(
        m.authorization(),
        6,
        "expected auth-params after the auth-scheme",
    );
    fails(m.www_authenticate(), 13, "unterminated quoted string");
    fails(m.event(), 0, "empty event-package or event-template");
    fails(m.subscription_state(), 15, "expected delta-seconds");
}

// ----------------------------------------------------- RFC 4475 torture data

#[test]
fn torture_wsinv_folded_headers() {
    let m = parse(include_bytes!("../../../tests/data/sip/rfc4475/wsinv.dat")).unwrap();
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 3);
    let top = m.top_via().unwrap().unwrap();
    assert_eq!(top.host.text, "192.0.2.2");
    assert_eq!(top.branch().unwrap(), "390skdjuw");
    assert_eq!(vias[1].host.text, "spindle.example.com");
    assert_eq!(vias[2].branch().unwrap(), "z9hG4bK30239");
    assert_eq!(m.max_forwards().unwrap(), Some(68));
    assert_eq!(m.content_length().unwrap(), Some(150));
    assert_eq!(
        m.cseq().unwrap(),
        Some(CSeq {
            seq: 9,
            method: Method::Invite
        })
    );
    assert_eq!(
        m.to_header().unwrap().unwrap().tag().unwrap(),
        "1918181833n"
    );
    assert_eq!(m.from_header().unwrap().unwrap().tag().unwrap(), "98asjd8");
    assert_eq!(m.call_id().unwrap(), "wsinv.ndaksdj@192.0.2.1");
    assert_eq!(
        m.content_type().unwrap().unwrap().essence(),
        "application/sdp"
    );
    let route = m.route().unwrap();
    assert_eq!(route.len(), 1);
    assert_eq!(
        route[0].uri.as_sip().unwrap().host.text,
        "services.example.com"
    );
    match m.contact().unwrap().unwrap() {
        Contact::Addresses(a) => {
            assert_eq!(a.len(), 1);
            assert_eq!(a[0].q(), Some(0.33));
        }
        Contact::Star => panic!("expected addresses"),
    }
}

#[test]
fn torture_bext01_option_tags() {
    let m = parse(include_bytes!("../../../tests/data/sip/rfc4475/bext01.dat")).unwrap();
    let require = m.require().unwrap().unwrap();
    assert_eq!(
        require.to_string(),
        "nothingSupportsThis, nothingSupportsThisEither"
    );
    assert!(require.contains("nothingsupportsthis"));
    let proxy = m.proxy_require().unwrap().unwrap();
    assert_eq!(proxy.len(), 2);
    assert!(proxy.contains("norDoAnyProxiesSupportThis"));
    assert_eq!(m.supported().unwrap(), None);
}

#[test]
fn torture_regaut01_unknown_scheme() {
    let m = parse(include_bytes!(
        "../../../tests/data/sip/rfc4475/regaut01.dat"
    ))
    .unwrap();
    let a = m.authorization().unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].scheme, "NoOneKnowsThisScheme");
    assert_eq!(a[0].param("opaque-data").as_deref(), Some("here"));
}
