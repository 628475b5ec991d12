//! A stateful proxy's checks and edits of what it forwards (RFC 3261 §16.3,
//! §16.4, §16.6, §16.7 step 3).

use drachtio_sip::proxy::{
    forward, preprocess_route, upstream_response, validate, Forwarding, Refusal,
};
use drachtio_sip::transaction::Transport;
use drachtio_sip::{parse, HeaderName, Message, Request, Response, Uri};

const US: &str = "192.0.2.10:5060";

fn request(extra: &str) -> Request {
    let text = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcaller;received=192.0.2.1\r\n\
         {extra}From: <sip:alice@example.com>;tag=f1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: c1@example.com\r\n\
         CSeq: 7 INVITE\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

fn to(target: &str, branch: &'static str) -> Forwarding<'static> {
    Forwarding {
        target: Some(Uri::parse_str(target).unwrap()),
        transport: Transport::Udp,
        sent_by: US,
        branch,
        record_route: None,
    }
}

fn values(r: &Request, name: HeaderName) -> Vec<String> {
    r.headers.get_all(&name).map(|v| v.to_string()).collect()
}

#[test]
fn rfc3261_s16_6_the_copy_forwarded() {
    let received = request("Max-Forwards: 70\r\nRecord-Route: <sip:p1.example.com;lr>\r\n");
    let f = Forwarding {
        record_route: Some("sip:192.0.2.10"),
        ..to("sip:bob@192.0.2.20:5070", "z9hG4bKb1")
    };
    let out = forward(&received, &f);
    // Item 2: the Request-URI is the target.
    assert_eq!(out.uri.to_string(), "sip:bob@192.0.2.20:5070");
    // Item 3: Max-Forwards decremented.
    assert_eq!(values(&out, HeaderName::MaxForwards), ["69"]);
    // Item 4: our Record-Route above the others.
    assert_eq!(
        values(&out, HeaderName::RecordRoute),
        ["<sip:192.0.2.10;lr>", "<sip:p1.example.com;lr>"]
    );
    // Item 8: our Via on top, the branch unique part then the loop part.
    let vias = values(&out, HeaderName::Via);
    assert_eq!(vias.len(), 2);
    assert!(vias[0].starts_with("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKb1."));
    assert_eq!(
        vias[1],
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKcaller;received=192.0.2.1"
    );
    // The rest is copied.
    assert_eq!(values(&out, HeaderName::CallId), ["c1@example.com"]);
    // Two branches of one request share the loop part, not the unique one.
    let other = forward(&received, &to("sip:bob@192.0.2.21", "z9hG4bKb2"));
    let loop_of = |v: &str| v.rsplit_once('.').unwrap().1.to_string();
    assert_eq!(
        loop_of(&values(&other, HeaderName::Via)[0]),
        loop_of(&vias[0])
    );
}

#[test]
fn rfc3261_s16_6_item3_max_forwards_70_when_absent() {
    let out = forward(&request(""), &to("sip:bob@192.0.2.20", "z9hG4bKb3"));
    assert_eq!(values(&out, HeaderName::MaxForwards), ["70"]);
}

#[test]
fn rfc3261_s16_3_checks_in_order() {
    let none: &[String] = &[];
    assert_eq!(validate(&request("Max-Forwards: 1\r\n"), US, none), Ok(()));
    // Item 3: Max-Forwards 0 gets 483; a malformed one 400.
    let zero = validate(&request("Max-Forwards: 0\r\n"), US, none);
    assert_eq!(zero.as_ref().map_err(Refusal::status), Err(483));
    // (The parser refuses it; a request built in code may carry it.)
    let mut bad = request("");
    bad.headers.push(HeaderName::MaxForwards, "x");
    assert_eq!(
        validate(&bad, US, none),
        Err(Refusal::BadHeader("Max-Forwards"))
    );
    // Item 2: a scheme not understood gets 416.
    let mut im = request("");
    im.uri = Uri::parse_str("im:bob@example.com").unwrap();
    assert_eq!(validate(&im, US, none), Err(Refusal::UnsupportedScheme));
    // Item 5: Proxy-Require (not Require) option tags must be supported.
    let required = request("Proxy-Require: foo, bar\r\nRequire: baz\r\n");
    let err = validate(&required, US, &["bar".to_string()]).unwrap_err();
    assert_eq!(err.status(), 420);
    let Refusal::BadExtension(tags) = err else {
        unreachable!()
    };
    assert_eq!(tags, ["foo"]);
}

/// `forwarded` as it comes back to the proxy through a next hop that adds
/// its Via, with the Request-URI `uri`.
fn back_through_next_hop(forwarded: &Request, uri: &str) -> Request {
    let mut r = forwarded.clone();
    r.uri = Uri::parse_str(uri).unwrap();
    r.headers
        .push_front(HeaderName::Via, "SIP/2.0/UDP 192.0.2.30;branch=z9hG4bKnext");
    r
}

#[test]
fn rfc3261_s16_3_item4_a_loop_is_refused_a_spiral_is_not() {
    let received = request("Max-Forwards: 70\r\n");
    let none: &[String] = &[];
    let out = forward(&received, &to("sip:bob@192.0.2.30", "z9hG4bKb4"));
    // Back with the Request-URI we received: a loop (482).
    let looped = back_through_next_hop(&out, "sip:bob@example.com");
    assert_eq!(validate(&looped, US, none), Err(Refusal::LoopDetected));
    // Back retargeted: a spiral, forwarded again.
    let spiral = back_through_next_hop(&out, "sip:bob@office.example.com");
    assert_eq!(validate(&spiral, US, none), Ok(()));
    // The same Via seen by another proxy (other sent-by): no loop for it.
    assert_eq!(validate(&looped, "192.0.2.11:5060", none), Ok(()));
}

#[test]
fn rfc3261_s16_4_our_route_is_removed() {
    let own = |u: &drachtio_sip::SipUri| u.host.text.as_str() == "192.0.2.10";
    let mut r = request("Route: <sip:192.0.2.10;lr>, <sip:p2.example.com;lr>\r\n");
    preprocess_route(&mut r, own);
    assert_eq!(values(&r, HeaderName::Route), ["<sip:p2.example.com;lr>"]);
    let mut r = request("Route: <sip:192.0.2.10;lr>\r\n");
    preprocess_route(&mut r, own);
    assert!(values(&r, HeaderName::Route).is_empty());
    let mut r = request("Route: <sip:p2.example.com;lr>\r\n");
    preprocess_route(&mut r, own);
    assert_eq!(values(&r, HeaderName::Route), ["<sip:p2.example.com;lr>"]);
}

#[test]
fn rfc3261_s16_4_a_strict_router_before_us_is_undone() {
    // A strict router put our Record-Route URI in the Request-URI and the
    // remote target last in Route: the target is the Request-URI again.
    let own = |u: &drachtio_sip::SipUri| u.host.text.as_str() == "192.0.2.10";
    let mut r = request("Route: <sip:p2.example.com;lr>, <sip:bob@192.0.2.30>\r\n");
    r.uri = drachtio_sip::Uri::parse_str("sip:192.0.2.10;lr").unwrap();
    preprocess_route(&mut r, own);
    assert_eq!(r.uri.to_string(), "sip:bob@192.0.2.30");
    assert_eq!(values(&r, HeaderName::Route), ["<sip:p2.example.com;lr>"]);
    // A Request-URI of ours without Route: the request is for us, unchanged.
    let mut r = request("");
    r.uri = drachtio_sip::Uri::parse_str("sip:192.0.2.10").unwrap();
    preprocess_route(&mut r, own);
    assert_eq!(r.uri.to_string(), "sip:192.0.2.10");
}

#[test]
fn rfc3261_s16_7_step3_our_via_is_removed_upstream() {
    let mut r = Response::new(180);
    r.headers.push(
        HeaderName::Via,
        "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKb1.x, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc",
    );
    let up = upstream_response(r).unwrap();
    assert_eq!(
        up.headers.get(&HeaderName::Via).unwrap().as_str(),
        "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc"
    );
    // Nothing left: the response was for the proxy itself.
    assert!(upstream_response(up.clone()).is_none());
}
