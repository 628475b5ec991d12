//! Client transactions sent to another target (RFC 3263 §4.3): `retarget`,
//! failover on a timeout or a transport error before any response, and
//! `give_up`, on a simulated clock.

mod transaction_util;

use drachtio_sip::transaction::{ClientState, LocalError, Peer, Transport, TxEvent, TxId};
use drachtio_sip::{HeaderName, Message};
use transaction_util::*;

fn second(transport: Transport) -> Peer {
    Peer {
        transport,
        addr: "192.0.2.2:5070".parse().unwrap(),
    }
}

fn top_via(m: &Message) -> String {
    hdr(m, "Via")
}

#[test]
fn retarget_changes_transport_via_and_timers() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(sim.now, parse_request(&req("INVITE", "z9hG4bKr1")), udp())
        .unwrap();
    sim.drain();
    sim.take_sent();
    sim.layer
        .retarget(sim.now, id, second(Transport::Tcp), false, |r| {
            r.headers.replace_first_value(
                &HeaderName::Via,
                Some("SIP/2.0/TCP 192.0.2.100:5060;branch=z9hG4bKr1"),
            );
        })
        .unwrap();
    sim.drain();
    let sent = std::mem::take(&mut sim.sent);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.peer, second(Transport::Tcp));
    let m = drachtio_sip::parse(&sent[0].1.bytes).unwrap();
    assert_eq!(top_via(&m), "SIP/2.0/TCP 192.0.2.100:5060;branch=z9hG4bKr1");
    // Reliable now: no Timer A retransmissions, Timer B from the retarget.
    sim.run_until(31_999);
    assert!(sim.take_sent().is_empty());
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
fn timeout_with_failover_waits_for_the_next_target_under_a_new_branch() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(sim.now, parse_request(&req("OPTIONS", "z9hG4bKf1")), udp())
        .unwrap();
    sim.layer
        .retarget(sim.now, id, udp(), true, |_| {})
        .unwrap();
    sim.run_until(32_000);
    assert!(sim.take_events().is_empty(), "no timeout reported");
    assert_eq!(sim.layer.poll_unanswered(), Some(id));
    assert_eq!(sim.layer.poll_unanswered(), None);
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Trying));
    sim.take_sent();
    sim.layer
        .retarget(sim.now, id, second(Transport::Udp), false, |r| {
            r.headers.replace_first_value(
                &HeaderName::Via,
                Some("SIP/2.0/UDP 192.0.2.100:5060;branch=z9hG4bKf2"),
            );
        })
        .unwrap();
    sim.drain();
    let first = sim.sent.remove(0).1;
    assert_eq!(first.peer, second(Transport::Udp));
    // A response to the new branch reaches the transaction.
    let request = request_of(&drachtio_sip::parse(&first.bytes).unwrap()).clone();
    sim.receive_msg(
        response_to(&request, 200, Some("t")),
        second(Transport::Udp),
    );
    match sim.one_event() {
        TxEvent::Response {
            id: got, response, ..
        } => {
            assert_eq!((got, response.status), (id, 200));
        }
        other => panic!("expected the 200, got {other:?}"),
    }
}

#[test]
fn transport_error_with_failover_then_give_up_reports_it() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(sim.now, parse_request(&req("INVITE", "z9hG4bKg1")), tcp())
        .unwrap();
    sim.layer
        .retarget(sim.now, id, tcp(), true, |_| {})
        .unwrap();
    sim.drain();
    sim.layer.transport_error(sim.now, TxId::Client(id));
    sim.drain();
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.poll_unanswered(), Some(id));
    sim.layer.give_up(sim.now, id);
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
fn only_an_unanswered_transaction_is_retargeted() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(sim.now, parse_request(&req("INVITE", "z9hG4bKn1")), udp())
        .unwrap();
    sim.drain();
    let request = request_of(&sim.one_sent()).clone();
    sim.receive_msg(response_to(&request, 180, Some("t")), udp());
    assert_eq!(
        sim.layer.retarget(sim.now, id, tcp(), false, |_| {}),
        Err(LocalError::NotRetargetable)
    );
    let other = sim
        .layer
        .send_request(sim.now, parse_request(&req("INVITE", "z9hG4bKn2")), udp())
        .unwrap();
    // A branch already in use by another transaction is refused.
    assert_eq!(
        sim.layer.retarget(sim.now, other, tcp(), false, |r| {
            r.headers
                .replace_first_value(&HeaderName::Via, Some("SIP/2.0/TCP h;branch=z9hG4bKn1"));
        }),
        Err(LocalError::DuplicateBranch)
    );
}

#[test]
fn a_503_with_failover_is_acknowledged_and_waits_for_the_next_target() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(sim.now, parse_request(&req("INVITE", "z9hG4bKu1")), udp())
        .unwrap();
    sim.layer
        .retarget(sim.now, id, udp(), true, |_| {})
        .unwrap();
    sim.drain();
    let sent = sim.take_sent();
    let request = request_of(&sent[sent.len() - 1].1).clone();
    sim.receive_msg(response_to(&request, 180, Some("r")), udp());
    assert!(matches!(sim.one_event(), TxEvent::Response { .. }));
    sim.receive_msg(response_to(&request, 503, Some("r")), udp());
    // §17.1.1.3: the 503 is acknowledged; the TU does not see it.
    assert_eq!(method(&sim.one_sent()), "ACK");
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.poll_unanswered(), Some(id));
    // The next target: a new attempt, Calling again.
    sim.layer
        .retarget(sim.now, id, second(Transport::Udp), true, |r| {
            r.headers.replace_first_value(
                &HeaderName::Via,
                Some("SIP/2.0/UDP 192.0.2.100:5060;branch=z9hG4bKu2"),
            );
        })
        .unwrap();
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Calling));
    sim.drain();
    let again = request_of(&sim.one_sent()).clone();
    // Its 503 too, then giving up reports that 503.
    sim.receive_msg(response_to(&again, 503, Some("s")), second(Transport::Udp));
    assert_eq!(method(&sim.one_sent()), "ACK");
    assert_eq!(sim.layer.poll_unanswered(), Some(id));
    sim.layer.give_up(sim.now, id);
    sim.drain();
    match sim.one_event() {
        TxEvent::Response {
            id: got, response, ..
        } => {
            assert_eq!((got, response.status), (id, 503));
        }
        other => panic!("expected the 503, got {other:?}"),
    }
    assert_eq!(sim.layer.client_state(id), None);
}

#[test]
fn a_503_without_failover_is_the_final_response() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request(sim.now, parse_request(&req("OPTIONS", "z9hG4bKu3")), udp())
        .unwrap();
    sim.drain();
    let request = request_of(&sim.one_sent()).clone();
    sim.receive_msg(response_to(&request, 503, Some("r")), udp());
    assert!(matches!(
        sim.one_event(),
        TxEvent::Response { id: got, response, .. } if got == id && response.status == 503
    ));
    assert_eq!(sim.layer.poll_unanswered(), None);
}
