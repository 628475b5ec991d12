//! What the layer answers on its own (RFC 3261 §8.2.2, RFC 4475 §3.3) and the
//! RFC 2543 matching fallback (§17.2.3, RFC 4475 badbranch), with the RFC 4475
//! torture messages where one fits.

mod transaction_util;

use drachtio_sip::transaction::{Config, ServerState, TxEvent};
use drachtio_sip::{parse, Message};
use std::path::PathBuf;
use transaction_util::*;

fn torture(name: &str) -> Message {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "tests",
        "data",
        "sip",
        "rfc4475",
        name,
    ]
    .iter()
    .collect();
    parse(&std::fs::read(&p).unwrap()).unwrap()
}

#[test]
fn insuf_missing_headers_get_400_statelessly() {
    let mut sim = Sim::new();
    sim.receive_msg(torture("insuf.dat"), udp());
    let r = sim.one_sent();
    assert_eq!(status(&r), 400);
    assert_eq!(
        r.as_response().unwrap().reason.as_str(),
        "Missing To header"
    );
    assert_eq!(
        hdr(&r, "Via"),
        "SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf"
    );
    assert_eq!(hdr(&r, "CSeq"), "193942 INVITE");
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().rejected_missing_header, 1);
    sim.assert_idle();
}

#[test]
fn each_missing_mandatory_header_gets_400() {
    for (header, name) in [
        ("From: Alice <sip:alice@example.com>;tag=from1\r\n", "From"),
        ("Call-ID: call-1@192.0.2.1\r\n", "Call-ID"),
        ("Max-Forwards: 70\r\n", "Max-Forwards"),
        ("CSeq: 1 OPTIONS\r\n", "CSeq"),
    ] {
        let mut sim = Sim::new();
        sim.receive(&req("OPTIONS", "z9hG4bKm").replace(header, ""), udp());
        let r = sim.one_sent();
        assert_eq!(status(&r), 400, "{name}");
        assert_eq!(
            r.as_response().unwrap().reason.to_string(),
            format!("Missing {name} header")
        );
        assert!(sim.take_events().is_empty());
    }
}

#[test]
fn a_request_without_via_is_dropped_and_counted() {
    let mut sim = Sim::new();
    sim.receive(
        &req("OPTIONS", "z9hG4bKm")
            .replace("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKm\r\n", ""),
        udp(),
    );
    assert!(sim.take_sent().is_empty());
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().dropped_without_via, 1);
}

#[test]
fn an_ack_missing_headers_is_dropped_not_answered() {
    let mut sim = Sim::new();
    sim.receive(
        &req("ACK", "z9hG4bKm").replace("Call-ID: call-1@192.0.2.1\r\n", ""),
        udp(),
    );
    assert!(sim.take_sent().is_empty());
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().dropped_acks, 1);
}

#[test]
fn unkscm_unsupported_request_uri_scheme_gets_416() {
    let mut sim = Sim::new();
    let m = torture("unkscm.dat");
    sim.receive_msg(m.clone(), tcp());
    let r = sim.one_sent();
    assert_eq!(status(&r), 416);
    assert!(hdr(&r, "To").starts_with("sip:user@example.com;tag="));
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().rejected_unsupported_scheme, 1);
    // On TCP the non-INVITE transaction ends with its final response.
    sim.assert_idle();
}

#[test]
fn tel_and_sips_request_uris_are_accepted() {
    for uri in ["tel:+15551234567", "sips:bob@example.com"] {
        let mut sim = Sim::new();
        sim.receive(
            &req("OPTIONS", "z9hG4bKm")
                .replace("OPTIONS sip:bob@example.com", &format!("OPTIONS {uri}")),
            udp(),
        );
        assert!(
            matches!(sim.one_event(), TxEvent::NewRequest { .. }),
            "{uri}"
        );
    }
}

#[test]
fn bext01_unsupported_require_gets_420_with_unsupported() {
    let mut sim = Sim::new();
    sim.receive_msg(torture("bext01.dat"), udp());
    let r = sim.one_sent();
    assert_eq!(status(&r), 420);
    assert_eq!(
        hdr(&r, "Unsupported"),
        "nothingSupportsThis, nothingSupportsThisEither"
    );
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().rejected_bad_extension, 1);
}

#[test]
fn supported_require_tags_pass_and_only_unknown_ones_are_listed() {
    let mut sim = Sim::with(Config {
        supported: vec!["100rel".into(), "timer".into()],
        ..config()
    });
    let text = req("INVITE", "z9hG4bKr").replace(
        "Content-Length: 0",
        "Require: 100REL, timer\r\nContent-Length: 0",
    );
    sim.receive(&text, udp());
    assert!(matches!(sim.one_event(), TxEvent::NewRequest { .. }));
    let text = req("INVITE", "z9hG4bKr2")
        .replace("call-1@", "call-2@")
        .replace(
            "Content-Length: 0",
            "Require: timer, foo\r\nContent-Length: 0",
        );
    sim.take_sent();
    sim.receive(&text, udp());
    let r = sim.one_sent();
    assert_eq!((status(&r), hdr(&r, "Unsupported").as_str()), (420, "foo"));
    // The 420 to an INVITE is a non-2xx final: its ACK is absorbed.
    let tag = hdr(&r, "To").split_once(";tag=").unwrap().1.to_string();
    let ack = req_to_tag("ACK", "z9hG4bKr2", &tag).replace("call-1@", "call-2@");
    sim.receive(&ack, udp());
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().acks_without_transaction, 0);
}

#[test]
fn zeromf_max_forwards_zero_is_accepted_by_an_endpoint() {
    let mut sim = Sim::new();
    sim.receive_msg(torture("zeromf.dat"), udp());
    assert!(matches!(sim.one_event(), TxEvent::NewRequest { .. }));
}

#[test]
fn merged_request_gets_482() {
    // §8.2.2.2: same From tag, Call-ID and CSeq, no To tag, another branch
    // (the request forked and came back by another path).
    let mut sim = Sim::new();
    sim.receive(&req("INVITE", "z9hG4bKpath1"), udp());
    let id = match sim.one_event() {
        TxEvent::NewRequest { id, .. } => id,
        e => panic!("{e:?}"),
    };
    sim.take_sent();
    let merged =
        req("INVITE", "z9hG4bKpath2").replace("192.0.2.1:5060;branch", "198.51.100.7;branch");
    sim.receive(&merged, udp());
    let r = sim.one_sent();
    assert_eq!(status(&r), 482);
    assert_eq!(
        hdr(&r, "Via"),
        "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKpath2"
    );
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().rejected_merged, 1);
    // Its retransmission is absorbed by its own transaction (not 482 again counted).
    sim.receive(&merged, udp());
    assert_eq!(status(&sim.one_sent()), 482);
    assert_eq!(sim.layer.stats().rejected_merged, 1);
    // The original is untouched.
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Proceeding));
    // A request with a To tag is in a dialog and never merged.
    sim.receive(&req_to_tag("INVITE", "z9hG4bKpath3", "d"), udp());
    assert!(matches!(sim.one_event(), TxEvent::NewRequest { .. }));
}

#[test]
fn a_request_that_spirals_back_is_not_merged() {
    // §16.3 item 4: the request we forwarded comes back to us (a spiral),
    // with our Via below the next hop's: a new request, not a merged one.
    let mut sim = Sim::new();
    sim.receive(&req("INVITE", "z9hG4bKorig"), udp());
    assert!(matches!(sim.one_event(), TxEvent::NewRequest { .. }));
    sim.take_sent();
    let ours = "SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKours";
    let forwarded = req("INVITE", "z9hG4bKorig").replace("Via: ", &format!("Via: {ours}\r\nVia: "));
    sim.layer
        .send_request(sim.now, parse_request(&forwarded), udp())
        .unwrap();
    sim.drain();
    sim.take_sent();
    let back = forwarded.replace(
        "Via: ",
        "Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKnext\r\nVia: ",
    );
    sim.receive(&back, udp());
    assert!(matches!(sim.one_event(), TxEvent::NewRequest { .. }));
    assert_eq!(sim.layer.stats().rejected_merged, 0);
    sim.take_sent();
    // A copy whose Vias name no transaction of ours is merged as before.
    let other = back
        .replace("z9hG4bKnext", "z9hG4bKnext2")
        .replace("z9hG4bKours", "z9hG4bKtheirs");
    sim.receive(&other, udp());
    assert_eq!(status(&sim.one_sent()), 482);
    assert_eq!(sim.layer.stats().rejected_merged, 1);
}

#[test]
fn badbranch_is_matched_by_the_rfc_2543_rules() {
    let mut sim = Sim::new();
    let m = torture("badbranch.dat");
    sim.receive_msg(m.clone(), udp());
    let (id, request) = match sim.one_event() {
        TxEvent::NewRequest { id, request, .. } => (id, request),
        e => panic!("{e:?}"),
    };
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("bb")))
        .unwrap();
    sim.drain();
    let ok = sim.one_sent();
    // The same request again is a retransmission: the 200 again.
    sim.receive_msg(m.clone(), udp());
    assert_eq!(sim.one_sent(), ok);
    assert!(sim.take_events().is_empty());
    // Same branch "z9hG4bK" but another CSeq: another transaction (with
    // RFC 3261 matching on the branch alone it would be taken for a retransmission).
    let mut other = m.clone();
    other
        .headers_mut()
        .set(drachtio_sip::HeaderName::CSeq, "9 OPTIONS");
    sim.receive_msg(other, udp());
    assert!(matches!(
        sim.one_event(),
        TxEvent::NewRequest { id: i, .. } if i != id
    ));
}

#[test]
fn rfc_2543_ack_matches_the_invite_by_the_response_to_tag() {
    // A branch without the cookie: §17.2.3 RFC 2543 rules.
    let mut sim = Sim::new();
    let text = req("INVITE", "old2543");
    sim.receive(&text, udp());
    let (id, request) = match sim.one_event() {
        TxEvent::NewRequest { id, request, .. } => (id, request),
        e => panic!("{e:?}"),
    };
    sim.layer
        .respond(sim.now, id, tu_response(486, &request, Some("busy")))
        .unwrap();
    sim.drain();
    sim.take_sent();
    sim.receive(&text, udp());
    assert_eq!(status(&sim.one_sent()), 486, "retransmission matched");
    sim.receive(&req_to_tag("ACK", "old2543", "busy"), udp());
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Confirmed));
    assert!(sim.take_events().is_empty());
}
