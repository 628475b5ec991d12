//! CANCEL received by the server side (RFC 3261 §9.2): before and after the
//! final response, retransmitted, and matching nothing.

mod transaction_util;

use drachtio_sip::transaction::{LocalError, ServerState, ServerTxId, TxEvent};
use drachtio_sip::Request;
use transaction_util::*;

fn invite(sim: &mut Sim, branch: &str) -> (ServerTxId, Request) {
    sim.receive(&req("INVITE", branch), udp());
    let id = match sim.one_event() {
        TxEvent::NewRequest { id, .. } => id,
        e => panic!("{e:?}"),
    };
    assert_eq!(status(&sim.one_sent()), 100);
    (id, parse_request(&req("INVITE", branch)))
}

#[test]
fn cancel_before_the_final_response_gets_200_and_the_invite_487() {
    let mut sim = Sim::new();
    let (id, request) = invite(&mut sim, "z9hG4bKx1");
    sim.layer
        .respond(sim.now, id, tu_response(180, &request, Some("uas1")))
        .unwrap();
    sim.drain();
    sim.take_sent();
    let cancel = req("CANCEL", "z9hG4bKx1");
    sim.receive(&cancel, udp());
    assert_eq!(
        sim.take_events(),
        [(
            0,
            TxEvent::CancelReceived {
                id,
                request: parse_request(&cancel)
            }
        )]
    );
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 2);
    let (ok, terminated) = (&sent[0].1, &sent[1].1);
    assert_eq!((status(ok), hdr(ok, "CSeq").as_str()), (200, "1 CANCEL"));
    assert_eq!(
        (status(terminated), hdr(terminated, "CSeq").as_str()),
        (487, "1 INVITE")
    );
    // §9.2: both carry the To tag the TU already used.
    let to = "Bob <sip:bob@example.com>;tag=uas1";
    assert_eq!(hdr(ok, "To"), to);
    assert_eq!(hdr(terminated, "To"), to);
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Completed));
    assert_eq!(sim.layer.stats().cancels_matched, 1);
    // The TU's late answer is refused.
    assert_eq!(
        sim.layer
            .respond(sim.now, id, tu_response(200, &request, Some("uas1"))),
        Err(LocalError::FinalResponseSent)
    );
    // A retransmitted CANCEL gets the 200 again, nothing else.
    sim.receive(&cancel, udp());
    assert_eq!(status(&sim.one_sent()), 200);
    assert!(sim.take_events().is_empty());
    // The ACK for the 487 is absorbed.
    sim.receive(&req_to_tag("ACK", "z9hG4bKx1", "uas1"), udp());
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Confirmed));
    sim.run_to_idle();
    sim.assert_idle();
}

#[test]
fn cancel_before_any_tu_response_uses_one_fresh_to_tag() {
    let mut sim = Sim::new();
    let (id, _) = invite(&mut sim, "z9hG4bKx2");
    sim.receive(&req("CANCEL", "z9hG4bKx2"), udp());
    assert!(matches!(sim.one_event(), TxEvent::CancelReceived { id: i, .. } if i == id));
    let sent = sim.take_sent();
    let tag_of = |m| {
        hdr(m, "To")
            .split_once(";tag=")
            .map(|(_, t)| t.to_string())
            .expect("a To tag")
    };
    let (t200, t487) = (tag_of(&sent[0].1), tag_of(&sent[1].1));
    assert_eq!(t200.len(), 16);
    assert_eq!(t200, t487);
}

#[test]
fn cancel_after_the_final_response_gets_200_only() {
    let mut sim = Sim::new();
    let (id, request) = invite(&mut sim, "z9hG4bKx3");
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("u")))
        .unwrap();
    sim.drain();
    assert_eq!(status(&sim.one_sent()), 200);
    sim.receive(&req("CANCEL", "z9hG4bKx3"), udp());
    let ok = sim.one_sent();
    assert_eq!((status(&ok), hdr(&ok, "CSeq").as_str()), (200, "1 CANCEL"));
    assert_eq!(hdr(&ok, "To"), "Bob <sip:bob@example.com>;tag=u");
    assert!(sim.take_events().is_empty(), "CANCEL has no effect now");
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Accepted));
}

#[test]
fn cancel_matching_nothing_gets_481() {
    let mut sim = Sim::new();
    let cancel = req("CANCEL", "z9hG4bKnothing");
    sim.receive(&cancel, udp());
    let r = sim.one_sent();
    assert_eq!(status(&r), 481);
    assert_eq!(hdr(&r, "CSeq"), "1 CANCEL");
    assert!(hdr(&r, "To").contains(";tag="));
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().cancels_unmatched, 1);
    // Its retransmission is absorbed by the CANCEL's own transaction.
    sim.receive(&cancel, udp());
    assert_eq!(sim.one_sent(), r);
    assert_eq!(sim.layer.stats().cancels_unmatched, 1);
    sim.run_to_idle();
    sim.assert_idle();
}

#[test]
fn cancel_of_a_terminated_invite_gets_481() {
    let mut sim = Sim::new();
    let (id, request) = invite(&mut sim, "z9hG4bKx4");
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("u")))
        .unwrap();
    sim.receive(&req_to_tag("ACK", "z9hG4bKa4", "u"), udp());
    sim.run_until(40_000);
    assert_eq!(sim.layer.server_state(id), None);
    sim.take_sent();
    sim.receive(&req("CANCEL", "z9hG4bKx4"), udp());
    assert_eq!(status(&sim.one_sent()), 481);
}

#[test]
fn cancel_for_another_branch_does_not_match() {
    let mut sim = Sim::new();
    let (id, _) = invite(&mut sim, "z9hG4bKx5");
    sim.receive(&req("CANCEL", "z9hG4bKx5other"), udp());
    assert_eq!(status(&sim.one_sent()), 481);
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Proceeding));
}
