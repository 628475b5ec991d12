//! The two policies of the transaction layer on a simulated clock: what a
//! proxy core gets (RFC 3261 §16, RFC 6026 §7) where a UA core gets the
//! UAS checks of §8.2.2 and the 2xx retransmission of §13.3.1.4.

mod transaction_util;

use drachtio_sip::transaction::{
    ClientState, Config, LocalError, Policy, ServerState, ServerTxId, TxEvent,
};
use drachtio_sip::{Message, Request};
use transaction_util::*;

fn proxy() -> Sim {
    Sim::with(Config {
        policy: Policy::Proxy,
        ..config()
    })
}

fn statuses(sent: &[(u64, Message)]) -> Vec<u16> {
    sent.iter().map(|(_, m)| status(m)).collect()
}

/// Receives `text`; returns the new server transaction and its request.
fn new_request(sim: &mut Sim, text: &str) -> (ServerTxId, Request) {
    sim.receive(text, udp());
    match sim.one_event() {
        TxEvent::NewRequest { id, request, .. } => (id, request),
        e => panic!("expected a new request, got {e:?}"),
    }
}

#[test]
fn proxy_forwards_what_a_uas_would_refuse_rfc3261_s16_3() {
    // §8.2.2 is the UAS's: a proxy passes on a Require it does not know
    // (§16.3 looks at Proxy-Require), an unknown Request-URI scheme (its
    // own validation decides) and a request merged at the UAS further on.
    let mut sim = proxy();
    let require = req("INVITE", "z9hG4bKq1")
        .replace("Content-Length: 0", "Require: foo\r\nContent-Length: 0");
    new_request(&mut sim, &require);
    assert_eq!(
        statuses(&sim.take_sent()),
        [100],
        "§16.2: 100 Trying for INVITE"
    );
    let merged = req("INVITE", "z9hG4bKq2").replace("192.0.2.1:5060;branch", "198.51.100.7;branch");
    new_request(&mut sim, &merged);
    assert_eq!(statuses(&sim.take_sent()), [100]);
    let scheme = req("OPTIONS", "z9hG4bKq3").replace("OPTIONS sip:bob", "OPTIONS im:bob");
    new_request(&mut sim, &scheme);
    assert!(sim.take_sent().is_empty());
    let stats = sim.layer.stats();
    let refused = stats.rejected_bad_extension + stats.rejected_merged;
    assert_eq!(refused + stats.rejected_unsupported_scheme, 0);
}

#[test]
fn proxy_server_accepted_sends_every_2xx_and_retransmits_none_rfc6026_s7_1() {
    let mut sim = proxy();
    let text = req("INVITE", "z9hG4bKq4");
    let (id, request) = new_request(&mut sim, &text);
    sim.take_sent();
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("b1")))
        .unwrap();
    sim.drain();
    assert_eq!(statuses(&sim.take_sent()), [200]);
    assert_eq!(sim.layer.server_state(id), Some(ServerState::Accepted));
    // No retransmission of its own: the UAS behind it retransmits.
    sim.run_until(10_000);
    assert!(sim.take_sent().is_empty());
    // A retransmitted INVITE is absorbed.
    sim.receive(&text, udp());
    assert!(sim.take_sent().is_empty());
    // The 2xx retransmitted by the UAS, and the 2xx of another branch
    // (§16.7 step 9), are sent as given.
    for tag in ["b1", "b2"] {
        let forwarded = match response_to(&request, 200, Some(tag)) {
            Message::Response(r) => r,
            Message::Request(_) => unreachable!(),
        };
        sim.layer.respond(sim.now, id, forwarded).unwrap();
        sim.drain();
        let sent = sim.one_sent();
        assert_eq!(
            hdr(&sent, "To"),
            format!("Bob <sip:bob@example.com>;tag={tag}")
        );
    }
    // Only 2xx follow a 2xx.
    assert_eq!(
        sim.layer
            .respond(sim.now, id, tu_response(486, &request, Some("b3"))),
        Err(LocalError::FinalResponseSent)
    );
    // Timer L ends it; no ACK is no news for a proxy (it may not be on the
    // ACK's path).
    sim.run_until(32_000);
    assert_eq!(sim.layer.server_state(id), None);
    assert!(sim.take_events().is_empty());
    assert_eq!(sim.layer.stats().ack_timeouts, 0);
    sim.assert_idle();
}

#[test]
fn ua_server_sends_one_2xx() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKq5"));
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("u")))
        .unwrap();
    assert_eq!(
        sim.layer
            .respond(sim.now, id, tu_response(200, &request, Some("u"))),
        Err(LocalError::FinalResponseSent)
    );
}

#[test]
fn proxy_client_accepted_passes_every_2xx_up_rfc6026_s7_2() {
    let mut sim = proxy();
    let id = sim
        .layer
        .send_request(sim.now, parse_request(&req("INVITE", "z9hG4bKq6")), udp())
        .unwrap();
    sim.drain();
    let sent = sim.one_sent();
    let r = request_of(&sent).clone();
    // The 2xx, its retransmission and another fork's: each goes up to be
    // forwarded; the layer sends no ACK (the ACK is end to end).
    for tag in ["a", "a", "b"] {
        sim.receive_msg(response_to(&r, 200, Some(tag)), udp());
        match sim.one_event() {
            TxEvent::Response {
                id: got, response, ..
            } => {
                assert_eq!((got, response.status), (id, 200));
            }
            e => panic!("expected a response, got {e:?}"),
        }
        assert!(sim.take_sent().is_empty());
    }
    assert_eq!(sim.layer.client_state(id), Some(ClientState::Accepted));
    assert_eq!(sim.layer.stats().response_retransmissions_absorbed, 0);
    sim.run_until(32_000);
    assert_eq!(sim.layer.client_state(id), None, "Timer M");
    sim.assert_idle();
}

#[test]
fn ua_layer_server_answered_as_proxy_retransmits_no_2xx() {
    // A UA layer whose transaction user decides, after the request came,
    // to forward it: the transaction is a proxy core's from then on.
    let mut sim = Sim::new();
    let text = req("INVITE", "z9hG4bKq7");
    let (id, request) = new_request(&mut sim, &text);
    sim.take_sent();
    sim.layer.answer_as_proxy(id).unwrap();
    sim.layer
        .respond(sim.now, id, tu_response(200, &request, Some("p1")))
        .unwrap();
    sim.drain();
    assert_eq!(statuses(&sim.take_sent()), [200]);
    sim.run_until(10_000);
    assert!(sim.take_sent().is_empty(), "no 2xx retransmission");
    let again = match response_to(&request, 200, Some("p2")) {
        Message::Response(r) => r,
        Message::Request(_) => unreachable!(),
    };
    sim.layer.respond(sim.now, id, again).unwrap();
    sim.drain();
    assert_eq!(statuses(&sim.take_sent()), [200], "another branch's 2xx");
    sim.run_until(32_000);
    assert!(sim.take_events().is_empty(), "no ACK timeout");
    assert_eq!(
        sim.layer.answer_as_proxy(id),
        Err(LocalError::UnknownTransaction)
    );
}

#[test]
fn answer_as_proxy_refused_after_a_final_response() {
    let mut sim = Sim::new();
    let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKq8"));
    sim.layer
        .respond(sim.now, id, tu_response(486, &request, Some("x")))
        .unwrap();
    assert_eq!(
        sim.layer.answer_as_proxy(id),
        Err(LocalError::FinalResponseSent)
    );
}

#[test]
fn ua_layer_client_sent_as_proxy_passes_every_2xx_up() {
    let mut sim = Sim::new();
    let id = sim
        .layer
        .send_request_as(
            sim.now,
            parse_request(&req("INVITE", "z9hG4bKq9")),
            udp(),
            Policy::Proxy,
        )
        .unwrap();
    sim.drain();
    let r = request_of(&sim.one_sent()).clone();
    for tag in ["a", "a"] {
        sim.receive_msg(response_to(&r, 200, Some(tag)), udp());
        match sim.one_event() {
            TxEvent::Response { id: got, .. } => assert_eq!(got, id),
            e => panic!("expected a response, got {e:?}"),
        }
    }
    assert!(sim.take_sent().is_empty(), "the proxy sends no ACK");
}

#[test]
fn proxy_client_takes_responses_with_the_vias_of_earlier_hops() {
    // §8.1.3.3 discards them at a UAC only.
    for (policy, expected) in [(Policy::Proxy, 1), (Policy::UserAgent, 0)] {
        let mut sim = Sim::new();
        sim.layer
            .send_request_as(
                sim.now,
                parse_request(&req("INVITE", "z9hG4bKv1")),
                udp(),
                policy,
            )
            .unwrap();
        sim.drain();
        let r = request_of(&sim.one_sent()).clone();
        let text = String::from_utf8(response_to(&r, 180, Some("t")).to_bytes().to_vec())
            .unwrap()
            .replacen(
                "\r\nFrom:",
                "\r\nVia: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKcaller\r\nFrom:",
                1,
            );
        sim.receive(&text, udp());
        assert_eq!(sim.take_events().len(), expected, "{policy:?}");
    }
}

#[test]
fn proxy_server_passes_every_ack_of_its_2xx_up() {
    // Each 2xx the UAS retransmits reaches the UAC, whose ACK for each the
    // proxy forwards; a UA core takes the first and absorbs the others.
    for (policy, expected) in [(Policy::Proxy, 2), (Policy::UserAgent, 1)] {
        let mut sim = Sim::with(Config { policy, ..config() });
        let (id, request) = new_request(&mut sim, &req("INVITE", "z9hG4bKa1"));
        sim.layer
            .respond(sim.now, id, tu_response(200, &request, Some("u")))
            .unwrap();
        sim.drain();
        let ack = req_to_tag("ACK", "z9hG4bKack1", "u");
        sim.receive(&ack, udp());
        sim.receive(&ack, udp());
        let acks = sim
            .take_events()
            .into_iter()
            .filter(|(_, e)| matches!(e, TxEvent::AckFor2xx { id: Some(i), .. } if *i == id))
            .count();
        assert_eq!(acks, expected, "{policy:?}");
    }
}
