//! Client transactions (RFC 3261 §17.1, RFC 6026 §7.2) on a simulated clock:
//! every timer, every transition, UDP and TCP.

mod transaction_util;

use drachtio_sip::transaction::{ClientState, ClientTxId, LocalError, Peer, TxEvent, TxId};
use drachtio_sip::{HeaderName, Message, Request};
use transaction_util::*;

fn send(sim: &mut Sim, method: &str, branch: &str, to: Peer) -> (ClientTxId, Request) {
    let id = sim
        .layer
        .send_request(sim.now, parse_request(&req(method, branch)), to)
        .unwrap();
    sim.drain();
    let sent = sim.one_sent();
    (id, request_of(&sent).clone())
}

fn times(sent: &[(u64, Message)]) -> Vec<u64> {
    sent.iter().map(|(ms, _)| *ms).collect()
}

fn response_event(e: &TxEvent) -> (ClientTxId, u16) {
    match e {
        TxEvent::Response { id, response, .. } => (*id, response.status),
        other => panic!("expected a response event, got {other:?}"),
    }
}

// ---- non-INVITE client (§17.1.2) ----

#[test]
fn non_invite_timer_e_doubles_to_t2_then_timer_f_times_out_on_udp() {
    let mut sim = Sim::new();
    let (id, _) = send(&mut sim, "OPTIONS", "z9hG4bKo1", udp());
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Trying));
    sim.run_until(40_000);
    let sent = sim.take_sent();
    assert_eq!(
        times(&sent),
        [500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert!(sent.iter().all(|(_, m)| method(m) == "OPTIONS"));
    assert_eq!(
        sim.take_events(),
        [(
            32_000,
            TxEvent::Timeout {
                id: TxId::Client(id)
            }
        )]
    );
    assert_eq!(sim.layer.client_state(id), None);
    assert_eq!(sim.layer.stats().timeouts, 1);
    assert_eq!(sim.layer.stats().retransmissions_sent, 10);
    sim.assert_idle();
}

#[test]
fn non_invite_no_retransmission_on_tcp_timer_f_still_runs() {
    let mut sim = Sim::new();
    let (id, _) = send(&mut sim, "OPTIONS", "z9hG4bKo2", tcp());
    sim.run_until(31_999);
    assert!(sim.take_sent().is_empty());
    assert!(sim.take_events().is_empty());
    sim.run_until(32_000);
    assert_eq!(
        sim.take_events(),
        [(
            32_000,
            TxEvent::Timeout {
                id: TxId::Client(id)
            }
        )]
    );
    sim.assert_idle();
}

#[test]
fn non_invite_proceeding_retransmits_every_t2() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "OPTIONS", "z9hG4bKo3", udp());
    sim.run_until(600); // one retransmission at 500; next E due at 1500
    assert_eq!(times(&sim.take_sent()), [500]);
    sim.receive_msg(response_to(&r, 100, None), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 100));
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Proceeding));
    sim.run_until(14_000);
    // §17.1.2.2: the pending E fires at 1500, then every T2.
    assert_eq!(times(&sim.take_sent()), [1500, 5500, 9500, 13500]);
    // A second provisional also goes up; state unchanged.
    sim.receive_msg(response_to(&r, 180, Some("t")), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 180));
    sim.receive_msg(response_to(&r, 200, Some("t")), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 200));
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Completed));
}

#[test]
fn response_event_carries_the_peer_it_came_from() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "OPTIONS", "z9hG4bKo9", udp());
    // A UDP response may come from another address than the request went to.
    let other = Peer {
        transport: udp().transport,
        addr: "192.0.2.77:5099".parse().unwrap(),
    };
    sim.receive_msg(response_to(&r, 200, Some("t")), other);
    match sim.one_event() {
        TxEvent::Response { id: got, peer, .. } => assert_eq!((got, peer), (id, other)),
        e => panic!("expected a response event, got {e:?}"),
    }
}

#[test]
fn non_invite_completed_absorbs_retransmissions_and_timer_k_is_t4() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "OPTIONS", "z9hG4bKo4", udp());
    sim.run_until(100);
    sim.receive_msg(response_to(&r, 200, Some("t")), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 200));
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Completed));
    sim.run_until(2_000);
    sim.receive_msg(response_to(&r, 200, Some("t")), udp());
    assert!(sim.take_events().is_empty());
    assert!(sim.take_sent().is_empty(), "no retransmission in Completed");
    assert_eq!(sim.layer.stats().response_retransmissions_absorbed, 1);
    sim.run_until(5_099);
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Completed));
    // T4 after the response is 5,100 ms; a lingering timer fires on the next
    // step of the 250 ms grid, never early.
    sim.run_until(5_249);
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Completed));
    sim.run_until(5_250);
    assert_eq!(sim.layer.client_state(id), None);
    sim.assert_idle();
}

#[test]
fn non_invite_on_tcp_terminates_on_the_final_response() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "REGISTER", "z9hG4bKo5", tcp());
    sim.receive_msg(response_to(&r, 401, Some("t")), tcp());
    assert_eq!(response_event(&sim.one_event()), (id, 401));
    assert_eq!(sim.layer.client_state(id), None);
    sim.assert_idle();
}

#[test]
fn non_invite_transport_error_terminates_and_informs() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(sim.now, parse_request(&req("MESSAGE", "z9hG4bKo6")), udp())
        .unwrap();
    let t = sim.layer.poll_transmit().unwrap();
    assert_eq!(t.tx, Some(TxId::Client(id)));
    sim.layer.transport_error(sim.now, t.tx.unwrap());
    sim.drain();
    assert_eq!(
        sim.one_event(),
        TxEvent::TransportError {
            id: TxId::Client(id)
        }
    );
    sim.assert_idle();
}

#[test]
fn stray_and_malformed_responses_are_dropped_and_counted() {
    let mut sim = Sim::new();
    let (_, r) = send(&mut sim, "OPTIONS", "z9hG4bKo7", udp());
    // Another branch: matches nothing.
    let other = parse_request(&req("OPTIONS", "z9hG4bKother"));
    sim.receive_msg(response_to(&other, 200, None), udp());
    // Same branch, other method (§17.1.3: the CSeq method is part of the key).
    let mut as_info = r.clone();
    as_info.headers.set(HeaderName::CSeq, "1 INFO");
    sim.receive_msg(response_to(&as_info, 200, None), udp());
    // Two Vias (§8.1.3.3).
    let mut two_vias = r.clone();
    two_vias
        .headers
        .push(HeaderName::Via, "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKx");
    sim.receive_msg(response_to(&two_vias, 200, None), udp());
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().dropped_responses, 3);
    assert_eq!(sim.layer.stats().responses_received, 3);
}

#[test]
fn send_request_adds_a_branch_when_the_top_via_has_none() {
    let mut sim = Sim::new();
    let mut r = parse_request(&req("OPTIONS", "x"));
    r.headers.set(
        HeaderName::Via,
        "SIP/2.0/UDP 192.0.2.100:5060, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKold",
    );
    r.headers.remove(&HeaderName::MaxForwards);
    let id = sim.layer.send_request(sim.now, r, udp()).unwrap();
    sim.drain();
    let sent = sim.one_sent();
    let via = hdr(&sent, "Via");
    let (top, rest) = via.split_once(", ").unwrap();
    let branch = top
        .strip_prefix("SIP/2.0/UDP 192.0.2.100:5060;branch=z9hG4bK")
        .unwrap();
    assert_eq!(branch.len(), 16);
    assert_eq!(rest, "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKold");
    assert_eq!(hdr(&sent, "Max-Forwards"), "70");
    // Responses match on the generated branch (a peer removes its own Via
    // before answering; here we are the first hop).
    let mut answered = request_of(&sent).clone();
    answered.headers.set(HeaderName::Via, top);
    sim.receive_msg(response_to(&answered, 200, None), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 200));
}

#[test]
fn send_request_misuse_is_a_local_error() {
    let mut sim = Sim::new();
    let now = sim.now;
    let l = &mut sim.layer;
    assert_eq!(
        l.send_request(now, parse_request(&req("ACK", "z9hG4bKa")), udp()),
        Err(LocalError::AckInTransaction)
    );
    let mut no_via = parse_request(&req("OPTIONS", "z9hG4bKa"));
    no_via.headers.remove(&HeaderName::Via);
    assert_eq!(
        l.send_request(now, no_via, udp()),
        Err(LocalError::MissingHeader("Via"))
    );
    let mut no_call_id = parse_request(&req("OPTIONS", "z9hG4bKa"));
    no_call_id.headers.remove(&HeaderName::CallId);
    assert_eq!(
        l.send_request(now, no_call_id, udp()),
        Err(LocalError::MissingHeader("Call-ID"))
    );
    let mut mismatch = parse_request(&req("OPTIONS", "z9hG4bKa"));
    mismatch.headers.set(HeaderName::CSeq, "1 INFO");
    assert_eq!(
        l.send_request(now, mismatch, udp()),
        Err(LocalError::CSeqMismatch)
    );
    l.send_request(now, parse_request(&req("OPTIONS", "z9hG4bKa")), udp())
        .unwrap();
    assert_eq!(
        l.send_request(now, parse_request(&req("OPTIONS", "z9hG4bKa")), udp()),
        Err(LocalError::DuplicateBranch)
    );
    assert_eq!(
        l.cancel(now, ClientTxId(999)),
        Err(LocalError::UnknownTransaction)
    );
}

// ---- INVITE client (§17.1.1, RFC 6026 §7.2) ----

#[test]
fn invite_timer_a_doubles_without_cap_then_timer_b_times_out_on_udp() {
    let mut sim = Sim::new();
    let (id, _) = send(&mut sim, "INVITE", "z9hG4bKi1", udp());
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Calling));
    sim.run_until(60_000);
    let sent = sim.take_sent();
    assert_eq!(times(&sent), [500, 1500, 3500, 7500, 15500, 31500]);
    assert!(sent.iter().all(|(_, m)| method(m) == "INVITE"));
    assert_eq!(
        sim.take_events(),
        [(
            32_000,
            TxEvent::Timeout {
                id: TxId::Client(id)
            }
        )]
    );
    sim.assert_idle();
}

#[test]
fn invite_on_tcp_no_timer_a_timer_b_at_64_t1() {
    let mut sim = Sim::new();
    let (id, _) = send(&mut sim, "INVITE", "z9hG4bKi2", tcp());
    sim.run_until(60_000);
    assert!(sim.take_sent().is_empty());
    assert_eq!(
        sim.take_events(),
        [(
            32_000,
            TxEvent::Timeout {
                id: TxId::Client(id)
            }
        )]
    );
    sim.assert_idle();
}

#[test]
fn invite_provisional_stops_a_and_b_proceeding_waits() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "INVITE", "z9hG4bKi3", udp());
    sim.run_until(700);
    assert_eq!(times(&sim.take_sent()), [500]);
    sim.receive_msg(response_to(&r, 100, None), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 100));
    sim.receive_msg(response_to(&r, 180, Some("b")), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 180));
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Proceeding));
    assert_eq!(sim.layer.poll_timeout(), None, "no timer in Proceeding");
    sim.run_until(100_000);
    assert!(sim.take_sent().is_empty());
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Proceeding));
}

#[test]
fn invite_non_2xx_is_acked_by_the_transaction_and_timer_d_is_32s() {
    let mut sim = Sim::new();
    let mut inv = parse_request(&req("INVITE", "z9hG4bKi4"));
    inv.headers
        .push(HeaderName::Route, "<sip:proxy.example.com;lr>");
    let id = sim.layer.send_request(sim.now, inv, udp()).unwrap();
    sim.drain();
    let r = request_of(&sim.one_sent()).clone();
    sim.run_until(1000);
    sim.take_sent();
    sim.receive_msg(response_to(&r, 486, Some("busy")), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 486));
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Completed));
    let ack = sim.one_sent();
    // §17.1.1.3: the ACK.
    assert_eq!(
        String::from_utf8(ack.to_bytes()).unwrap(),
        "ACK sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKi4\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:proxy.example.com;lr>\r\n\
         From: Alice <sip:alice@example.com>;tag=from1\r\n\
         To: Bob <sip:bob@example.com>;tag=busy\r\n\
         Call-ID: call-1@192.0.2.1\r\n\
         CSeq: 1 ACK\r\n\
         Content-Length: 0\r\n\r\n"
    );
    // A retransmitted 486 gets the ACK again, and does not reach the TU.
    sim.run_until(5_000);
    sim.receive_msg(response_to(&r, 486, Some("busy")), udp());
    assert!(sim.take_events().is_empty());
    assert_eq!(method(&sim.one_sent()), "ACK");
    sim.run_until(32_999);
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Completed));
    sim.run_until(33_000);
    assert_eq!(sim.layer.client_state(id), None);
    assert!(sim.take_sent().is_empty(), "Timer A stopped");
    sim.assert_idle();
}

#[test]
fn invite_non_2xx_on_tcp_terminates_at_once_after_the_ack() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "INVITE", "z9hG4bKi5", tcp());
    sim.receive_msg(response_to(&r, 603, Some("d")), tcp());
    assert_eq!(response_event(&sim.one_event()), (id, 603));
    assert_eq!(method(&sim.one_sent()), "ACK");
    assert_eq!(sim.layer.client_state(id), None);
    sim.assert_idle();
}

#[test]
fn invite_2xx_moves_to_accepted_and_timer_m_ends_it() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "INVITE", "z9hG4bKi6", udp());
    sim.receive_msg(response_to(&r, 200, Some("ok")), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 200));
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Accepted));
    assert!(sim.take_sent().is_empty(), "the TU sends the ACK for a 2xx");
    // A retransmission before the TU's ACK is absorbed.
    sim.receive_msg(response_to(&r, 200, Some("ok")), udp());
    assert!(sim.take_events().is_empty());
    assert!(sim.take_sent().is_empty());
    // The TU's ACK, then a retransmission: the ACK is sent again by the layer.
    let mut ack = parse_request(&req_to_tag("ACK", "z9hG4bKack6", "ok"));
    ack.headers.set(HeaderName::CSeq, "1 ACK");
    sim.layer
        .send_ack_for_2xx(sim.now, id, ack.clone(), udp())
        .unwrap();
    sim.drain();
    assert_eq!(request_of(&sim.one_sent()), &ack);
    sim.run_until(3_000);
    sim.receive_msg(response_to(&r, 200, Some("ok")), udp());
    assert!(sim.take_events().is_empty());
    assert_eq!(request_of(&sim.one_sent()), &ack);
    // A 2xx from another fork (other To tag) reaches the TU.
    sim.receive_msg(response_to(&r, 200, Some("fork2")), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 200));
    assert!(sim.take_sent().is_empty());
    sim.run_until(31_999);
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Accepted));
    sim.run_until(32_000);
    assert_eq!(sim.layer.client_state(id), None);
    sim.assert_idle();
    // After Timer M the ACK still goes out (stateless).
    sim.layer.send_ack_for_2xx(sim.now, id, ack, udp()).unwrap();
    sim.drain();
    assert_eq!(method(&sim.one_sent()), "ACK");
}

#[test]
fn invite_transport_error_in_calling() {
    let mut sim = Sim::new();
    let (id, _) = send(&mut sim, "INVITE", "z9hG4bKi7", tcp());
    sim.layer.transport_error(sim.now, TxId::Client(id));
    sim.drain();
    assert_eq!(
        sim.one_event(),
        TxEvent::TransportError {
            id: TxId::Client(id)
        }
    );
    sim.assert_idle();
}

#[test]
fn send_ack_for_2xx_needs_an_ack() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.layer.send_ack_for_2xx(
            sim.now,
            ClientTxId(1),
            parse_request(&req("BYE", "z9hG4bKb")),
            udp()
        ),
        Err(LocalError::NotAck)
    );
}

// ---- CANCEL (§9.1) ----

#[test]
fn cancel_in_proceeding_sends_the_cancel_as_its_own_transaction() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "INVITE", "z9hG4bKc1", udp());
    sim.receive_msg(response_to(&r, 180, Some("b")), udp());
    sim.take_events();
    let cid = sim.layer.cancel(sim.now, id).unwrap();
    sim.drain();
    let cancel = sim.one_sent();
    assert_eq!(
        String::from_utf8(cancel.to_bytes()).unwrap(),
        "CANCEL sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKc1\r\n\
         Max-Forwards: 70\r\n\
         From: Alice <sip:alice@example.com>;tag=from1\r\n\
         To: Bob <sip:bob@example.com>\r\n\
         Call-ID: call-1@192.0.2.1\r\n\
         CSeq: 1 CANCEL\r\n\
         Content-Length: 0\r\n\r\n"
    );
    assert_eq!(sim.layer.client_state(cid), Some(ClientState::Trying));
    assert_eq!(
        sim.layer.cancel(sim.now, id),
        Err(LocalError::AlreadyCancelled)
    );
    assert_eq!(
        sim.layer.cancel(sim.now, cid),
        Err(LocalError::NotCancellable)
    );
    // The CANCEL retransmits on Timer E.
    sim.run_until(500);
    assert_eq!(method(&sim.one_sent()), "CANCEL");
    sim.receive_msg(response_to(request_of(&cancel), 200, Some("b")), udp());
    assert_eq!(response_event(&sim.one_event()), (cid, 200));
    sim.receive_msg(response_to(&r, 487, Some("b")), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 487));
    assert_eq!(method(&sim.one_sent()), "ACK");
    let end = sim.run_to_idle();
    assert_eq!(end, 32_500, "Timer D of the INVITE (32 s after 500 ms)");
    sim.assert_idle();
}

#[test]
fn cancel_in_calling_waits_for_a_provisional() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "INVITE", "z9hG4bKc2", udp());
    let cid = sim.layer.cancel(sim.now, id).unwrap();
    sim.drain();
    assert!(sim.take_sent().is_empty(), "§9.1: not before a provisional");
    assert_eq!(sim.layer.client_state(cid), None);
    sim.run_until(600);
    assert_eq!(method(&sim.one_sent()), "INVITE");
    sim.receive_msg(response_to(&r, 100, None), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 100));
    assert_eq!(method(&sim.one_sent()), "CANCEL");
    assert_eq!(sim.layer.client_state(cid), Some(ClientState::Trying));
}

#[test]
fn cancel_without_final_response_gives_up_after_64_t1() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "INVITE", "z9hG4bKc3", tcp());
    sim.receive_msg(response_to(&r, 180, Some("b")), tcp());
    sim.take_events();
    sim.run_until(1_000);
    let cid = sim.layer.cancel(sim.now, id).unwrap();
    sim.drain();
    let cancel = sim.one_sent();
    sim.receive_msg(response_to(request_of(&cancel), 200, Some("b")), tcp());
    assert_eq!(response_event(&sim.one_event()), (cid, 200));
    sim.run_until(32_999);
    assert!(sim.take_events().is_empty());
    sim.run_until(33_000);
    assert_eq!(
        sim.take_events(),
        [(
            33_000,
            TxEvent::Timeout {
                id: TxId::Client(id)
            }
        )]
    );
    sim.assert_idle();
}

#[test]
fn cancel_after_the_final_response_is_refused() {
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "INVITE", "z9hG4bKc4", udp());
    sim.receive_msg(response_to(&r, 200, Some("ok")), udp());
    assert_eq!(
        sim.layer.cancel(sim.now, id),
        Err(LocalError::NotCancellable)
    );
    let (oid, _) = send(&mut sim, "OPTIONS", "z9hG4bKc5", udp());
    assert_eq!(
        sim.layer.cancel(sim.now, oid),
        Err(LocalError::NotCancellable)
    );
}

#[test]
fn an_ack_for_a_2xx_without_max_forwards_gets_one() {
    // RFC 3261 §8.1.1.6: as for any request the TU sends (a receiving stack
    // drops a request without Max-Forwards).
    let mut sim = Sim::new();
    let (id, r) = send(&mut sim, "INVITE", "z9hG4bKi7", udp());
    sim.receive_msg(response_to(&r, 200, Some("ok")), udp());
    assert_eq!(response_event(&sim.one_event()), (id, 200));
    let mut ack = parse_request(&req_to_tag("ACK", "z9hG4bKack7", "ok"));
    ack.headers.set(HeaderName::CSeq, "1 ACK");
    ack.headers.remove(&HeaderName::MaxForwards);
    sim.layer.send_ack_for_2xx(sim.now, id, ack, udp()).unwrap();
    sim.drain();
    let sent = sim.one_sent();
    assert_eq!(
        request_of(&sent)
            .headers
            .get(&HeaderName::MaxForwards)
            .map(|v| v.as_str()),
        Some("70")
    );
}
