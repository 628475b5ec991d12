//! Capture through a running stack: the copies of a UDP exchange reach a
//! collector socket as HEP3 packets, in order, sent by the stack's timers
//! since a few copies never fill a batch. The layer's timers are the
//! standard ones or slower (no transaction timer before 5 s): the copies
//! leave when their batch's wait is over, not at a transaction's timer.

mod util;

use drachtio_io::{CaptureConfig, StackConfig, UdpReader};
use drachtio_sip::transaction::{Config as TimerConfig, Peer, Transport};
use drachtio_sip::Message;
use std::time::Duration;
use tokio::net::UdpSocket;
use util::*;

/// The message a HEP3 packet carries: the value of its chunk 15.
fn hep_payload(packet: &[u8]) -> Vec<u8> {
    assert_eq!(&packet[..4], b"HEP3");
    assert_eq!(
        usize::from(u16::from_be_bytes([packet[4], packet[5]])),
        packet.len()
    );
    let mut rest = &packet[6..];
    while !rest.is_empty() {
        let kind = u16::from_be_bytes([rest[2], rest[3]]);
        let len = usize::from(u16::from_be_bytes([rest[4], rest[5]]));
        if kind == 15 {
            return rest[6..len].to_vec();
        }
        rest = &rest[len..];
    }
    panic!("no payload chunk")
}

async fn next_copy(collector: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0u8; 65536];
    let n = tokio::time::timeout(WAIT, collector.recv(&mut buf))
        .await
        .expect("no copy in time")
        .unwrap();
    hep_payload(&buf[..n])
}

/// A UDP stack capturing to `collector`, with the standard timers.
fn capturing(collector: &UdpSocket, reader: UdpReader) -> StackConfig {
    let mut cfg = config(&[(Transport::Udp, "127.0.0.1:0")]);
    cfg.timers = TimerConfig::default();
    cfg.udp_reader = reader;
    cfg.capture = Some(CaptureConfig {
        collector: collector.local_addr().unwrap(),
        agent_id: 9,
        password: None,
    });
    cfg
}

#[tokio::test]
async fn the_copies_of_a_request_and_its_response_reach_the_collector_in_order() {
    let collector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut h = Harness::start(capturing(&collector, UdpReader::StackThread));
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = peer.local_addr().unwrap();
    let options = request(
        "OPTIONS",
        "UDP",
        &me.to_string(),
        "z9hG4bKcap1",
        "call-cap1",
        "",
    );
    peer.send_to(options.as_bytes(), h.addr(Transport::Udp, false))
        .await
        .unwrap();
    let (id, req) = h.new_request().await;
    h.stack.respond(id, response_to(&req, 200, "cap")).unwrap();
    let (ok, _) = recv_udp(&peer).await;
    assert_eq!(status(&ok), 200);

    assert_eq!(next_copy(&collector).await, options.as_bytes());
    assert!(next_copy(&collector)
        .await
        .starts_with(b"SIP/2.0 200 OK\r\n"));
    eventually(|| h.stack.stats().capture_sent == 2).await;
    assert_eq!(h.stack.stats().capture_failed, 0);
}

#[tokio::test]
async fn a_copy_made_on_the_callers_thread_wakes_the_stacks_timers() {
    // UdpReader::Caller: the caller's thread sends. Once the stack's thread
    // sleeps until the layer's next timer (far away with T1 = 10 s), only
    // the copy can wake it before then.
    let collector = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = capturing(&collector, UdpReader::Caller);
    cfg.timers.t1 = Duration::from_secs(10);
    cfg.timers.t2 = Duration::from_secs(40);
    let h = Harness::start(cfg);
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dest = Peer {
        transport: Transport::Udp,
        addr: peer.local_addr().unwrap(),
    };
    for i in 0..3 {
        let text = request(
            "OPTIONS",
            "UDP",
            "127.0.0.1:5999",
            &format!("z9hG4bKcap2-{i}"),
            &format!("call-cap2-{i}"),
            "",
        );
        let Message::Request(options) = msg(&text) else {
            unreachable!()
        };
        h.stack
            .send_stateless(options.into(), Some(dest.into()))
            .unwrap();
        let (sent, _) = recv_udp(&peer).await;
        let copy = next_copy(&collector).await;
        assert_eq!(msg(std::str::from_utf8(&copy).unwrap()), sent);
    }
}
