//! Whole flows between two transaction layers (a UAC and a UAS) over a
//! simulated network that loses chosen messages: each loss is recovered by
//! retransmission, the transaction users see every message once, and both
//! layers end empty once their timers have run.

mod transaction_util;

use drachtio_sip::transaction::{
    ClientTxId, Incoming, LocalError, Peer, ServerTxId, Transport, TxEvent,
};
use drachtio_sip::{HeaderName, Message, Method, Request, Response};
use transaction_util::*;

/// The ACK a UAC core builds for a 2xx (§13.2.2.4): a new branch (the layer
/// adds it), To from the response.
fn ack_for(invite: &Request, ok: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    let via = invite.headers.get(&HeaderName::Via).unwrap();
    let sent_by = via.split(";branch").next().unwrap();
    ack.headers.push(HeaderName::Via, sent_by);
    ack.headers.push(HeaderName::MaxForwards, "70");
    for name in [HeaderName::From, HeaderName::CallId] {
        ack.headers
            .push(name.clone(), invite.headers.get(&name).unwrap().clone());
    }
    ack.headers.push(
        HeaderName::To,
        ok.headers.get(&HeaderName::To).unwrap().clone(),
    );
    ack.headers.push(HeaderName::CSeq, "1 ACK");
    ack
}

fn start_invite(p: &mut Pair) -> (ClientTxId, Request) {
    let invite = p.uac_request("INVITE");
    let peer = p.uas_peer();
    let id = p.uac.send_request(p.now, invite.clone(), peer).unwrap();
    (id, invite)
}

/// The UAS TU's single NewRequest so far.
fn new_request(p: &mut Pair) -> (ServerTxId, Request) {
    let events = p.take_uas_events();
    match &events[..] {
        [(_, TxEvent::NewRequest { id, request, .. })] => (*id, request.clone()),
        other => panic!("expected one NewRequest, got {other:#?}"),
    }
}

/// The UAC TU's responses so far, as (ms, status).
fn responses(p: &mut Pair) -> Vec<(u64, u16)> {
    p.take_uac_events()
        .into_iter()
        .map(|(ms, e)| match e {
            TxEvent::Response { response, .. } => (ms, response.status),
            other => panic!("expected a response, got {other:?}"),
        })
        .collect()
}

fn last_response(p: &Pair) -> Response {
    p.uac_events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            TxEvent::Response { response, .. } => Some(response.clone()),
            _ => None,
        })
        .expect("a response")
}

#[test]
fn invite_lost_once_is_retransmitted_then_200_and_ack() {
    let mut p = Pair::new(Transport::Udp);
    p.drop = Box::new(|side, m, n| side == Side::Uac && summary(m) == "INVITE" && n == 0);
    let (cid, invite) = start_invite(&mut p);
    p.run_until(500);
    let (sid, request) = new_request(&mut p);
    p.uas
        .respond(p.now, sid, tu_response(200, &request, Some("uas")))
        .unwrap();
    p.deliver();
    let ok = last_response(&p);
    assert_eq!(responses(&mut p), [(500, 100), (500, 200)]);
    let uas = p.uas_peer();
    p.uac
        .send_ack_for_2xx(p.now, cid, ack_for(&invite, &ok), uas)
        .unwrap();
    p.deliver();
    assert!(matches!(
        &p.take_uas_events()[..],
        [(500, TxEvent::AckFor2xx { id: Some(i), .. })] if *i == sid
    ));
    p.run_to_idle();
    assert_eq!(
        p.log_lines(),
        [
            "0 uac INVITE (lost)",
            "500 uac INVITE",
            "500 uas 100 INVITE",
            "500 uas 200 INVITE",
            "500 uac ACK",
        ]
    );
    assert!(p.take_uac_events().is_empty() && p.take_uas_events().is_empty());
}

#[test]
fn lost_2xx_and_lost_ack_are_recovered_by_2xx_retransmission() {
    let mut p = Pair::new(Transport::Udp);
    p.drop = Box::new(|side, m, n| {
        n == 0
            && ((side == Side::Uas && summary(m) == "200 INVITE")
                || (side == Side::Uac && summary(m) == "ACK"))
    });
    let (cid, invite) = start_invite(&mut p);
    p.deliver();
    let (sid, request) = new_request(&mut p);
    p.run_until(1_000);
    p.uas
        .respond(p.now, sid, tu_response(200, &request, Some("uas")))
        .unwrap();
    p.run_until(1_500);
    let ok = last_response(&p);
    assert_eq!(responses(&mut p), [(0, 100), (1_500, 200)]);
    let uas = p.uas_peer();
    p.uac
        .send_ack_for_2xx(p.now, cid, ack_for(&invite, &ok), uas)
        .unwrap();
    p.run_to_idle();
    // The second 2xx retransmission makes the UAC layer resend the TU's ACK.
    assert_eq!(
        p.log_lines(),
        [
            "0 uac INVITE",
            "0 uas 100 INVITE",
            "1000 uas 200 INVITE (lost)",
            "1500 uas 200 INVITE",
            "1500 uac ACK (lost)",
            "2500 uas 200 INVITE",
            "2500 uac ACK",
        ]
    );
    assert!(
        p.take_uac_events().is_empty(),
        "2xx retransmissions stay below the TU"
    );
    let acks = p.take_uas_events();
    assert!(matches!(
        &acks[..],
        [(2_500, TxEvent::AckFor2xx { id: Some(i), .. })] if *i == sid
    ));
}

#[test]
fn lost_provisionals_are_resent_on_invite_retransmission() {
    let mut p = Pair::new(Transport::Udp);
    p.drop = Box::new(|side, m, n| {
        side == Side::Uas && (summary(m) == "100 INVITE" || (summary(m) == "180 INVITE" && n == 0))
    });
    start_invite(&mut p);
    p.deliver();
    let (sid, request) = new_request(&mut p);
    p.uas
        .respond(p.now, sid, tu_response(180, &request, Some("uas")))
        .unwrap();
    p.run_until(1_000);
    p.uas
        .respond(p.now, sid, tu_response(486, &request, Some("uas")))
        .unwrap();
    p.run_to_idle();
    assert_eq!(
        p.log_lines(),
        [
            "0 uac INVITE",
            "0 uas 100 INVITE (lost)",
            "0 uas 180 INVITE (lost)",
            "500 uac INVITE",
            "500 uas 180 INVITE",
            "1000 uas 486 INVITE",
            "1000 uac ACK",
        ]
    );
    assert_eq!(responses(&mut p), [(500, 180), (1_000, 486)]);
    assert!(
        p.take_uas_events().is_empty(),
        "the ACK for a 486 stays in the layer"
    );
}

#[test]
fn lost_non_2xx_and_lost_ack_are_recovered_by_timer_g() {
    let mut p = Pair::new(Transport::Udp);
    p.drop = Box::new(|side, m, n| {
        n == 0
            && ((side == Side::Uas && summary(m) == "486 INVITE")
                || (side == Side::Uac && summary(m) == "ACK"))
    });
    start_invite(&mut p);
    p.deliver();
    let (sid, request) = new_request(&mut p);
    p.uas
        .respond(p.now, sid, tu_response(486, &request, Some("uas")))
        .unwrap();
    p.run_to_idle();
    assert_eq!(
        p.log_lines(),
        [
            "0 uac INVITE",
            "0 uas 100 INVITE",
            "0 uas 486 INVITE (lost)",
            "500 uas 486 INVITE",
            "500 uac ACK (lost)",
            "1500 uas 486 INVITE",
            "1500 uac ACK",
        ]
    );
    assert_eq!(responses(&mut p), [(0, 100), (500, 486)]);
    assert!(p.take_uas_events().is_empty());
}

#[test]
fn non_invite_lost_request_and_lost_response() {
    let mut p = Pair::new(Transport::Udp);
    p.drop = Box::new(|side, m, n| {
        n == 0
            && ((side == Side::Uac && summary(m) == "OPTIONS")
                || (side == Side::Uas && summary(m) == "200 OPTIONS"))
    });
    let options = p.uac_request("OPTIONS");
    let peer = p.uas_peer();
    p.uac.send_request(p.now, options, peer).unwrap();
    p.run_until(500);
    let (sid, request) = new_request(&mut p);
    p.uas
        .respond(p.now, sid, tu_response(200, &request, Some("uas")))
        .unwrap();
    p.run_to_idle();
    assert_eq!(
        p.log_lines(),
        [
            "0 uac OPTIONS (lost)",
            "500 uac OPTIONS",
            "500 uas 200 OPTIONS (lost)",
            "1500 uac OPTIONS",
            "1500 uas 200 OPTIONS",
        ]
    );
    assert_eq!(responses(&mut p), [(1_500, 200)]);
    assert!(
        p.take_uas_events().is_empty(),
        "the retransmission is not a new request"
    );
}

#[test]
fn tcp_flow_has_no_retransmissions() {
    let mut p = Pair::new(Transport::Tcp);
    let (cid, invite) = start_invite(&mut p);
    p.deliver();
    let (sid, request) = new_request(&mut p);
    p.run_until(200);
    p.uas
        .respond(p.now, sid, tu_response(180, &request, Some("uas")))
        .unwrap();
    p.run_until(3_000);
    p.uas
        .respond(p.now, sid, tu_response(200, &request, Some("uas")))
        .unwrap();
    p.deliver();
    let ok = last_response(&p);
    let uas = p.uas_peer();
    p.uac
        .send_ack_for_2xx(p.now, cid, ack_for(&invite, &ok), uas)
        .unwrap();
    p.run_to_idle();
    assert_eq!(
        p.log_lines(),
        [
            "0 uac INVITE",
            "0 uas 100 INVITE",
            "200 uas 180 INVITE",
            "3000 uas 200 INVITE",
            "3000 uac ACK",
        ]
    );
    assert_eq!(responses(&mut p), [(0, 100), (200, 180), (3_000, 200)]);
}

#[test]
fn cancel_before_the_final_response() {
    let mut p = Pair::new(Transport::Udp);
    let (cid, _) = start_invite(&mut p);
    p.deliver();
    let (sid, request) = new_request(&mut p);
    p.run_until(100);
    let cancel_id = p.uac.cancel(p.now, cid).unwrap();
    p.deliver();
    let uas_events = p.take_uas_events();
    assert!(matches!(
        &uas_events[..],
        [(100, TxEvent::CancelReceived { id, request })]
            if *id == sid && request.method == Method::Cancel
    ));
    // The UAS TU answers too late.
    assert_eq!(
        p.uas
            .respond(p.now, sid, tu_response(200, &request, Some("uas"))),
        Err(LocalError::FinalResponseSent)
    );
    let uac_events = p.take_uac_events();
    let got: Vec<(ClientTxId, u16)> = uac_events
        .iter()
        .map(|(_, e)| match e {
            TxEvent::Response { id, response, .. } => (*id, response.status),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, [(cid, 100), (cancel_id, 200), (cid, 487)]);
    p.run_to_idle();
    assert_eq!(
        p.log_lines(),
        [
            "0 uac INVITE",
            "0 uas 100 INVITE",
            "100 uac CANCEL",
            "100 uas 200 CANCEL",
            "100 uas 487 INVITE",
            "100 uac ACK",
        ]
    );
}

#[test]
fn cancel_crossing_the_2xx_gets_200_and_the_call_goes_on() {
    let mut p = Pair::new(Transport::Udp);
    let (cid, invite) = start_invite(&mut p);
    p.deliver();
    let (sid, request) = new_request(&mut p);
    p.run_until(100);
    // Both sent before either arrives: the CANCEL reaches the UAS after its 2xx.
    p.uas
        .respond(p.now, sid, tu_response(200, &request, Some("uas")))
        .unwrap();
    let cancel_id = p.uac.cancel(p.now, cid).unwrap();
    p.deliver();
    assert!(
        p.take_uas_events().is_empty(),
        "no CancelReceived after the 2xx"
    );
    let ok = last_response(&p);
    let got: Vec<(ClientTxId, u16)> = p
        .take_uac_events()
        .into_iter()
        .map(|(_, e)| match e {
            TxEvent::Response { id, response, .. } => (id, response.status),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, [(cid, 100), (cid, 200), (cancel_id, 200)]);
    let uas = p.uas_peer();
    p.uac
        .send_ack_for_2xx(p.now, cid, ack_for(&invite, &ok), uas)
        .unwrap();
    p.deliver();
    assert!(matches!(
        &p.take_uas_events()[..],
        [(100, TxEvent::AckFor2xx { id: Some(i), .. })] if *i == sid
    ));
    p.run_to_idle();
    assert_eq!(
        p.log_lines(),
        [
            "0 uac INVITE",
            "0 uas 100 INVITE",
            "100 uac CANCEL",
            "100 uas 200 INVITE",
            "100 uas 200 CANCEL",
            "100 uac ACK",
        ]
    );
}

#[test]
fn duplicated_and_late_messages_do_not_reach_the_tu() {
    let mut p = Pair::new(Transport::Udp);
    let options = p.uac_request("OPTIONS");
    let peer = p.uas_peer();
    let cid = p.uac.send_request(p.now, options, peer).unwrap();
    p.deliver();
    let (sid, request) = new_request(&mut p);
    p.uas
        .respond(p.now, sid, tu_response(200, &request, Some("uas")))
        .unwrap();
    p.deliver();
    let ok = last_response(&p);
    assert_eq!(responses(&mut p), [(0, 200)]);
    // The network duplicates the request and the response.
    let from_uac = Peer {
        transport: Transport::Udp,
        addr: "192.0.2.1:5060".parse().unwrap(),
    };
    p.uas.handle_incoming(
        p.now,
        Incoming {
            message: Message::Request(request.clone()),
            peer: from_uac,
            local: peer.addr,
        },
    );
    p.uac.handle_incoming(
        p.now,
        Incoming {
            message: Message::Response(ok.clone()),
            peer,
            local: from_uac.addr,
        },
    );
    p.deliver();
    assert!(p.take_uas_events().is_empty());
    assert!(p.take_uac_events().is_empty());
    p.run_to_idle();
    // A response after the client transaction ended is dropped and counted.
    p.uac.handle_incoming(
        p.now,
        Incoming {
            message: Message::Response(ok),
            peer,
            local: from_uac.addr,
        },
    );
    assert!(p.uac.poll_event().is_none());
    assert_eq!(p.uac.stats().dropped_responses, 1);
    assert_eq!(p.uac.client_state(cid), None);
    assert_eq!(
        p.log_lines(),
        ["0 uac OPTIONS", "0 uas 200 OPTIONS", "0 uas 200 OPTIONS"]
    );
}
