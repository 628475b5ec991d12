//! Server transactions (RFC 3261 §17.2, RFC 6026 §7.1) and the UAS core's
//! 2xx retransmission (§13.3.1.4) on a simulated clock, UDP and TCP.

mod transaction_util;

use drachtio_sip::transaction::{LocalError, Peer, ServerState, ServerTxId, TxEvent, TxId};
use drachtio_sip::{Message, Request, Response};
use transaction_util::*;

/// Receives `text` and returns the new server transaction and its request.
fn new_request(sim: &mut Sim, text: &str, from: Peer) -> (ServerTxId, Request) {
    sim.receive(text, from);
    let events = sim.take_events();
    match &events[..] {
        [(
            _,
            TxEvent::NewRequest {
                id,
                request,
                peer,
                local: l,
            },
        )] => {
            assert_eq!(*peer, from);
            assert_eq!(*l, local());
            (*id, request.clone())
        }
        other => panic!("expected one NewRequest, got {other:#?}"),
    }
}

fn times(sent: &[(u64, Message)]) -> Vec<u64> {
    sent.iter().map(|(ms, _)| *ms).collect()
}

fn statuses(sent: &[(u64, Message)]) -> Vec<u16> {
    sent.iter().map(|(_, m)| status(m)).collect()
}

// ---- non-INVITE server (§17.2.2) ----

#[test]
fn non_invite_trying_absorbs_retransmissions_silently() {
    let mut sim = Sim::new();
    let text = req("OPTIONS", "z9hG4bKs1");
    let (id, request) = new_request(&mut sim, &text, udp());
    assert_eq!(request, parse_request(&text));
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Trying));
    assert!(sim.take_sent().is_empty(), "no 100 for non-INVITE");
    sim.receive(&text, udp());
    assert!(sim.take_sent().is_empty());
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().request_retransmissions_absorbed, 1);
}

#[test]
fn non_invite_proceeding_and_completed_resend_the_last_response() {
    let mut sim = Sim::new();
    let text = req("REGISTER", "z9hG4bKs2");
    let (id, request) = new_request(&mut sim, &text, udp());
    sim.layer
        .respond(sim.now, id, tu_response(100, &request, None))
        .unwrap();
    sim.drain();
    assert_eq!(status(&sim.one_sent()), 100);
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Proceeding));
    sim.receive(&text, udp());
    assert_eq!(status(&sim.one_sent()), 100);
    sim.run_until(1_000);
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("uas")))
        .unwrap();
    sim.drain();
    let ok = sim.one_sent();
    // The layer completed the response from the request.
    assert_eq!(
        String::from_utf8(ok.to_bytes()).unwrap(),
        "SIP/2.0 200 OK\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKs2\r\n\
         From: Alice <sip:alice@example.com>;tag=from1\r\n\
         Call-ID: call-1@192.0.2.1\r\n\
         CSeq: 1 REGISTER\r\n\
         To: Bob <sip:bob@example.com>;tag=uas\r\n\
         Content-Length: 0\r\n\r\n"
    );
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Completed));
    sim.receive(&text, udp());
    assert_eq!(sim.one_sent(), ok);
    // No retransmission of its own; Timer J = 64*T1 from the final response.
    sim.run_until(32_999);
    assert!(sim.take_sent().is_empty());
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Completed));
    sim.run_until(33_000);
    assert_eq!(sim.layer.server_state(id), None);
    assert!(sim.take_events().is_empty());
    sim.assert_idle();
    // A late retransmission is a new request now.
    let (id2, _) = new_request(&mut sim, &text, udp());
    assert_ne!(id2, id);
}

#[test]
fn non_invite_on_tcp_terminates_with_the_final_response() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("BYE", "z9hG4bKs3"), tcp());
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("t")))
        .unwrap();
    sim.drain();
    assert_eq!(sim.sent[0].1.peer, tcp());
    assert_eq!(sim.sent[0].1.local, Some(local()));
    assert_eq!(sim.sent[0].1.tx, Some(TxId::Server(id)));
    assert_eq!(status(&sim.one_sent()), 200);
    assert_eq!(sim.layer.server_state(id), None);
    sim.assert_idle();
}

#[test]
fn respond_misuse_is_a_local_error() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INFO", "z9hG4bKs4"), udp());
    let now = sim.now;
    assert_eq!(
        sim.layer.respond(now, id, Response::new(99)),
        Err(LocalError::InvalidStatus(99))
    );
    assert_eq!(
        sim.layer.respond(now, id, Response::new(700)),
        Err(LocalError::InvalidStatus(700))
    );
    assert_eq!(
        sim.layer
            .respond(now, ServerTxId(12345), Response::new(200)),
        Err(LocalError::UnknownTransaction)
    );
    sim.layer
        .respond(now, id, tu_response(200, &request, Some("t")))
        .unwrap();
    assert_eq!(
        sim.layer.respond(now, id, Response::new(500)),
        Err(LocalError::FinalResponseSent)
    );
}

#[test]
fn non_invite_transport_error() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INFO", "z9hG4bKs5"), tcp());
    sim.layer
        .respond(sim.now, id, tu_response(180, &request, None))
        .unwrap();
    sim.layer.transport_error(sim.now, TxId::Server(id));
    sim.drain();
    assert_eq!(
        sim.take_events(),
        [(
            0,
            TxEvent::TransportError {
                id: TxId::Server(id)
            }
        )]
    );
    sim.assert_idle();
}

// ---- INVITE server (§17.2.1, RFC 6026 §7.1) ----

#[test]
fn invite_gets_100_trying_at_once_without_to_tag() {
    let mut sim = Sim::new();
    let text = req("INVITE", "z9hG4bKv1")
        .replace("Content-Length: 0", "Timestamp: 54\r\nContent-Length: 0");
    let (id, _) = new_request(&mut sim, &text, udp());
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Proceeding));
    let trying = sim.one_sent();
    assert_eq!(
        String::from_utf8(trying.to_bytes()).unwrap(),
        "SIP/2.0 100 Trying\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKv1\r\n\
         From: Alice <sip:alice@example.com>;tag=from1\r\n\
         To: Bob <sip:bob@example.com>\r\n\
         Call-ID: call-1@192.0.2.1\r\n\
         CSeq: 1 INVITE\r\n\
         Timestamp: 54\r\n\
         Content-Length: 0\r\n\r\n"
    );
    // §17.2.1: a retransmitted INVITE gets the latest provisional again.
    sim.receive(&text, udp());
    assert_eq!(sim.one_sent(), trying);
    assert!(sim.take_events().is_empty());
}

#[test]
fn invite_non_2xx_timer_g_doubles_to_t2_and_timer_h_times_out_on_udp() {
    let mut sim = Sim::new();
    let text = req("INVITE", "z9hG4bKv2");
    let (id, request) = new_request(&mut sim, &text, udp());
    sim.take_sent();
    sim.layer
        .respond(sim.now, id, tu_response(180, &request, Some("u")))
        .unwrap();
    sim.drain();
    assert_eq!(status(&sim.one_sent()), 180);
    sim.receive(&text, udp());
    assert_eq!(status(&sim.one_sent()), 180);
    sim.layer
        .respond(sim.now, id, tu_response(486, &request, Some("u")))
        .unwrap();
    sim.drain();
    assert_eq!(status(&sim.one_sent()), 486);
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Completed));
    sim.run_until(40_000);
    let sent = sim.take_sent();
    assert_eq!(
        times(&sent),
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert!(statuses(&sent).iter().all(|&s| s == 486));
    assert_eq!(
        sim.take_events(),
        [(
            32_000,
            TxEvent::Timeout {
                id: TxId::Server(id)
            }
        )]
    );
    sim.assert_idle();
}

#[test]
fn invite_non_2xx_ack_moves_to_confirmed_and_timer_i_is_t4() {
    let mut sim = Sim::new();
    let text = req("INVITE", "z9hG4bKv3");
    let (id, request) = new_request(&mut sim, &text, udp());
    sim.layer
        .respond(sim.now, id, tu_response(404, &request, Some("u")))
        .unwrap();
    sim.run_until(2_000); // retransmissions at 500 and 1500
    assert_eq!(statuses(&sim.take_sent()), [100, 404, 404, 404]);
    let ack = req_to_tag("ACK", "z9hG4bKv3", "u");
    sim.receive(&ack, udp());
    assert!(
        sim.take_events().is_empty(),
        "the ACK for a non-2xx stays here"
    );
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Confirmed));
    // Confirmed absorbs ACK and INVITE retransmissions, sends nothing.
    sim.receive(&ack, udp());
    sim.receive(&text, udp());
    assert!(sim.take_sent().is_empty());
    assert!(sim.take_events().is_empty());
    sim.run_until(6_999);
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Confirmed));
    sim.run_until(7_000);
    assert_eq!(sim.layer.server_state(id), None);
    assert!(sim.take_sent().is_empty(), "Timer G stopped by the ACK");
    sim.assert_idle();
}

#[test]
fn invite_non_2xx_on_tcp_no_timer_g_and_ack_terminates() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKv4"), tcp());
    sim.layer
        .respond(sim.now, id, tu_response(480, &request, Some("u")))
        .unwrap();
    sim.run_until(20_000);
    assert_eq!(statuses(&sim.take_sent()), [100, 480]);
    sim.receive(&req_to_tag("ACK", "z9hG4bKv4", "u"), tcp());
    assert_eq!(sim.layer.server_state(id), None);
    sim.assert_idle();
}

#[test]
fn invite_non_2xx_on_tcp_timer_h() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKv5"), tcp());
    sim.run_until(1_000);
    sim.layer
        .respond(sim.now, id, tu_response(480, &request, Some("u")))
        .unwrap();
    sim.run_until(60_000);
    assert_eq!(statuses(&sim.take_sent()), [100, 480]);
    assert_eq!(
        sim.take_events(),
        [(
            33_000,
            TxEvent::Timeout {
                id: TxId::Server(id)
            }
        )]
    );
    sim.assert_idle();
}

#[test]
fn invite_2xx_retransmitted_until_the_ack_then_timer_l() {
    let mut sim = Sim::new();
    let text = req("INVITE", "z9hG4bKv6");
    let (id, request) = new_request(&mut sim, &text, udp());
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("u")))
        .unwrap();
    sim.drain();
    assert_eq!(statuses(&sim.take_sent()), [100, 200]);
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Accepted));
    // RFC 6026 §7.1: a retransmitted INVITE in Accepted is absorbed.
    sim.receive(&text, udp());
    assert!(sim.take_sent().is_empty());
    sim.run_until(4_000);
    let sent = sim.take_sent();
    assert_eq!(times(&sent), [500, 1500, 3500]);
    assert!(statuses(&sent).iter().all(|&s| s == 200));
    // The ACK for the 2xx has its own branch (§13.2.2.4).
    let ack = req_to_tag("ACK", "z9hG4bKack6", "u");
    sim.receive(&ack, udp());
    assert_eq!(
        sim.take_events(),
        [(
            4_000,
            TxEvent::AckFor2xx {
                id: Some(id),
                request: parse_request(&ack),
                peer: udp(),
                local: local(),
            }
        )]
    );
    // Retransmitted ACKs are absorbed; retransmission of the 2xx stopped.
    sim.receive(&ack, udp());
    assert!(sim.take_events().is_empty());
    sim.run_until(31_999);
    assert!(sim.take_sent().is_empty());
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Accepted));
    sim.run_until(32_000);
    assert_eq!(sim.layer.server_state(id), None);
    assert!(sim.take_events().is_empty(), "acknowledged: no AckTimeout");
    sim.assert_idle();
    // After Timer L an ACK goes to the TU without a transaction.
    sim.receive(&ack, udp());
    assert!(matches!(
        sim.one_event(),
        TxEvent::AckFor2xx { id: None, .. }
    ));
    assert_eq!(sim.layer.stats().acks_without_transaction, 1);
}

#[test]
fn invite_2xx_without_ack_reports_ack_timeout_after_64_t1() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKv7"), udp());
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("u")))
        .unwrap();
    sim.run_until(40_000);
    let sent = sim.take_sent();
    assert_eq!(
        times(&sent[2..]),
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(sim.take_events(), [(32_000, TxEvent::AckTimeout { id })]);
    assert_eq!(sim.layer.stats().ack_timeouts, 1);
    sim.assert_idle();
}

#[test]
fn invite_2xx_is_retransmitted_on_tcp_too() {
    // §13.3.1.4 is end to end: a proxy further on may use UDP.
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKv8"), tcp());
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("u")))
        .unwrap();
    sim.run_until(2_000);
    assert_eq!(times(&sim.take_sent()), [0, 0, 500, 1500]);
    sim.receive(&req_to_tag("ACK", "z9hG4bKa8", "u"), tcp());
    assert!(matches!(
        sim.one_event(),
        TxEvent::AckFor2xx { id: Some(i), .. } if i == id
    ));
    let end = sim.run_to_idle();
    assert_eq!(end, 32_000);
    assert!(sim.take_sent().is_empty());
}

#[test]
fn ack_with_wrong_to_tag_does_not_stop_the_2xx() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKv9"), udp());
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("u")))
        .unwrap();
    sim.drain();
    sim.take_sent();
    sim.receive(&req_to_tag("ACK", "z9hG4bKa9", "other"), udp());
    assert!(matches!(
        sim.one_event(),
        TxEvent::AckFor2xx { id: None, .. }
    ));
    sim.run_until(600);
    assert_eq!(status(&sim.one_sent()), 200);
}

#[test]
fn ack_before_any_final_response_is_dropped() {
    let mut sim = Sim::new();
    let (id, _) = new_request(&mut sim, &req("INVITE", "z9hG4bKv10"), udp());
    sim.take_sent();
    sim.receive(&req("ACK", "z9hG4bKv10"), udp());
    assert!(sim.take_events().is_empty());
    assert!(sim.take_sent().is_empty());
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Proceeding));
    assert_eq!(sim.layer.stats().dropped_acks, 1);
}

#[test]
fn invite_transport_error_in_completed() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKv11"), udp());
    sim.layer
        .respond(sim.now, id, tu_response(500, &request, Some("u")))
        .unwrap();
    sim.layer.transport_error(sim.now, TxId::Server(id));
    sim.drain();
    assert_eq!(
        sim.one_event(),
        TxEvent::TransportError {
            id: TxId::Server(id)
        }
    );
    sim.assert_idle();
}

#[test]
fn same_branch_from_another_sent_by_is_another_transaction() {
    // §17.2.3: the sent-by is part of the key.
    let mut sim = Sim::new();
    // (In-dialog requests, so that §8.2.2.2 merging does not apply.)
    let a = req_to_tag("OPTIONS", "z9hG4bKsb", "d");
    let b = a.replace("192.0.2.1:5060;branch", "192.0.2.9:5060;branch");
    let (ia, _) = new_request(&mut sim, &a, udp());
    let (ib, _) = new_request(&mut sim, &b, udp());
    assert_ne!(ia, ib);
    assert_eq!(sim.layer.transaction_count(), (0, 2));
}

#[test]
fn a_refused_check_leaves_the_transaction_answerable() {
    let mut sim = Sim::new();
    let text = req("OPTIONS", "z9hG4bKs9");
    let (id, request) = new_request(&mut sim, &text, udp());
    let mut seen = None;
    let refused = sim.layer.respond_checked(
        sim.now,
        id,
        tu_response(200, &request, Some("uas")),
        |response, peer, l| {
            // The response as it will be sent: completed from the request.
            seen = Some((response.clone(), peer, l));
            Err(LocalError::InvalidStatus(0))
        },
    );
    assert_eq!(refused, Err(LocalError::InvalidStatus(0)));
    let (response, peer, l) = seen.expect("check called");
    assert_eq!((peer, l), (udp(), local()));
    let completed = Message::Response(response);
    assert_eq!(
        completed.serialized_len(),
        completed.to_bytes().len(),
        "the length the check can measure"
    );
    assert_eq!(
        hdr(&completed, "Via"),
        "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKs9"
    );
    sim.drain();
    assert!(sim.take_sent().is_empty(), "nothing sent");
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Trying));
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("uas")))
        .unwrap();
    sim.drain();
    assert_eq!(status(&sim.one_sent()), 200);
}

// ---- reliable provisional responses (RFC 3262 §3) ----

/// A 183 the TU made reliable: `Require: 100rel` and an RSeq.
fn reliable_183(request: &Request, rseq: u32) -> Response {
    let mut response = tu_response(183, request, Some("u"));
    response
        .headers
        .push(drachtio_sip::HeaderName::Require, "100rel");
    response
        .headers
        .push(drachtio_sip::HeaderName::RSeq, rseq.to_string());
    response
}

#[test]
fn reliable_provisional_is_retransmitted_from_t1_doubling_until_its_prack() {
    for from in [udp(), tcp()] {
        let mut sim = Sim::new();
        let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKr1"), from);
        sim.layer
            .respond(sim.now, id, reliable_183(&request, 7))
            .unwrap();
        sim.run_until(3_600);
        let sent = sim.take_sent();
        // 100, the 183, then the 183 again at T1, 3*T1, 7*T1: end to end, on TCP too.
        assert_eq!(statuses(&sent), [100, 183, 183, 183, 183]);
        assert_eq!(times(&sent[2..]), [500, 1500, 3500]);
        // Another RSeq acknowledges nothing; the right one stops the retransmission.
        assert!(!sim.layer.prack(sim.now, id, 6));
        assert!(sim.layer.prack(sim.now, id, 7));
        assert!(!sim.layer.prack(sim.now, id, 7));
        sim.run_until(40_000);
        assert!(sim.take_sent().is_empty());
        assert!(sim.take_events().is_empty());
        assert_eq!(sim.layer.server_state(id), Some(ServerState::Proceeding));
    }
}

#[test]
fn a_final_response_ends_the_wait_for_a_prack() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKr2"), udp());
    sim.layer
        .respond(sim.now, id, reliable_183(&request, 1))
        .unwrap();
    sim.layer
        .respond(sim.now, id, tu_response(486, &request, Some("u")))
        .unwrap();
    sim.run_until(40_000);
    let sent = sim.take_sent();
    // The 183 went out once: the 486 stopped its retransmission.
    assert_eq!(statuses(&sent).iter().filter(|&&s| s == 183).count(), 1);
    assert!(!sim.layer.prack(sim.now, id, 1));
    assert!(sim
        .take_events()
        .iter()
        .all(|(_, e)| !matches!(e, TxEvent::PrackTimeout { .. })));
}

#[test]
fn reliable_provisional_without_prack_reports_prack_timeout_after_64_t1() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKr3"), udp());
    sim.layer
        .respond(sim.now, id, reliable_183(&request, 1))
        .unwrap();
    sim.run_until(40_000);
    let sent = sim.take_sent();
    // T1 doubling, no T2 cap, for 64*T1; then the TU is told.
    assert_eq!(times(&sent[2..]), [500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(sim.take_events(), [(32_000, TxEvent::PrackTimeout { id })]);
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Proceeding));
    assert!(!sim.layer.prack(sim.now, id, 1));
}
