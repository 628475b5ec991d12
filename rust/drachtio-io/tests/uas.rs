//! The stack as UAS: requests from raw UDP and TCP peers, answered through
//! the API, with the transport's rules on the wire.

mod util;

use drachtio_io::StackEvent;
use drachtio_sip::transaction::{Transport, TxEvent};
use drachtio_sip::{HeaderName, StreamItem};
use std::time::Duration;
use tokio::net::UdpSocket;
use util::*;

#[tokio::test]
async fn invite_over_udp_answered_with_2xx_retransmitted_until_ack() {
    let mut h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let stack_addr = h.addr(Transport::Udp, false);
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = peer.local_addr().unwrap();
    let invite = request(
        "INVITE",
        "UDP",
        &format!("127.0.0.1:{}", me.port() + 1),
        "z9hG4bKu1",
        "call-u1",
        "",
    );
    peer.send_to(invite.as_bytes(), stack_addr).await.unwrap();

    let (trying, from) = recv_udp(&peer).await;
    assert_eq!(from, stack_addr);
    assert_eq!(status(&trying), 100);
    // RFC 3581: rport filled, received added even though the IP is the same;
    // the response went to the source port, not the Via port.
    let via = format!(
        "SIP/2.0/UDP 127.0.0.1:{};rport={};branch=z9hG4bKu1;received=127.0.0.1",
        me.port() + 1,
        me.port()
    );
    assert_eq!(header(&trying, "Via"), via);

    let (id, req) = h.new_request().await;
    assert_eq!(
        header(&drachtio_sip::Message::Request(req.clone()), "Via"),
        via
    );
    h.stack.respond(id, response_to(&req, 180, "uas1")).unwrap();
    h.stack.respond(id, response_to(&req, 200, "uas1")).unwrap();
    let (ringing, _) = recv_udp(&peer).await;
    assert_eq!(status(&ringing), 180);
    assert_eq!(header(&ringing, "To"), "<sip:service@example.com>;tag=uas1");
    let (ok, _) = recv_udp(&peer).await;
    assert_eq!(status(&ok), 200);
    // §13.3.1.4: the 2xx again after T1 (50 ms), then after 2*T1.
    let (again, _) = recv_udp(&peer).await;
    assert_eq!((status(&again), header(&again, "CSeq")), (200, "1 INVITE"));
    let (again, _) = recv_udp(&peer).await;
    assert_eq!(status(&again), 200);

    let ack = request(
        "ACK",
        "UDP",
        &me.to_string(),
        "z9hG4bKu1ack",
        "call-u1",
        ";tag=uas1",
    );
    peer.send_to(ack.as_bytes(), stack_addr).await.unwrap();
    match h.next().await {
        StackEvent::Transaction(TxEvent::AckFor2xx {
            id: got,
            request,
            peer: p,
            ..
        }) => {
            assert_eq!(got, Some(id));
            assert_eq!(request.method.as_str(), "ACK");
            assert_eq!((p.transport, p.addr), (Transport::Udp, me));
        }
        e => panic!("expected the ACK, got {e:?}"),
    }
    // Retransmission stopped: nothing more within 4*T1... and beyond.
    assert!(quiet_udp(&peer, Duration::from_millis(500)).await);
    let stats = h.stack.stats();
    assert_eq!(stats.received[Transport::Udp], 2);
    assert_eq!(stats.sent[Transport::Udp], 5);
}

#[tokio::test]
async fn invite_over_tcp_split_and_pipelined_answered_on_the_same_connection() {
    let mut h = Harness::start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let mut peer = TcpPeer::connect(h.addr(Transport::Tcp, false)).await;
    let me = peer.local();
    let invite = request(
        "INVITE",
        "TCP",
        "client.example.com:5070",
        "z9hG4bKt1",
        "call-t1",
        "",
    );
    let bytes = invite.as_bytes();
    for chunk in [&bytes[..10], &bytes[10..100], &bytes[100..]] {
        peer.send(chunk).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let trying = peer.recv().await;
    assert_eq!(status(&trying), 100);
    // A name in sent-by always differs from the source: received added;
    // rport filled on TCP too.
    assert_eq!(
        header(&trying, "Via"),
        format!(
            "SIP/2.0/TCP client.example.com:5070;rport={};branch=z9hG4bKt1;received=127.0.0.1",
            me.port()
        )
    );
    let (id, req) = h.new_request().await;
    h.stack.respond(id, response_to(&req, 200, "t1")).unwrap();
    let ok = peer.recv().await;
    assert_eq!((status(&ok), header(&ok, "Call-ID")), (200, "call-t1"));

    // The ACK and a new request in one write.
    let ack = request(
        "ACK",
        "TCP",
        "client.example.com:5070",
        "z9hG4bKt1ack",
        "call-t1",
        ";tag=t1",
    );
    let options = request(
        "OPTIONS",
        "TCP",
        "client.example.com:5070",
        "z9hG4bKt2",
        "call-t2",
        "",
    );
    peer.send(format!("{ack}{options}").as_bytes()).await;
    match h.next().await {
        StackEvent::Transaction(TxEvent::AckFor2xx { id: got, .. }) => assert_eq!(got, Some(id)),
        e => panic!("expected the ACK, got {e:?}"),
    }
    let (oid, oreq) = h.new_request().await;
    assert_eq!(oreq.method.as_str(), "OPTIONS");
    h.stack.respond(oid, response_to(&oreq, 200, "t2")).unwrap();
    // The name in sent-by is never resolved: the response uses the connection.
    let ok = peer.recv().await;
    assert_eq!((status(&ok), header(&ok, "Call-ID")), (200, "call-t2"));
    // The counter moves just after the write the peer has already read.
    eventually(|| h.stack.stats().sent[Transport::Tcp] == 3).await;
    let stats = h.stack.stats();
    assert_eq!(stats.received[Transport::Tcp], 3);
    assert_eq!(stats.connections.open.total(), 1);
}

#[tokio::test]
async fn tcp_garbage_disconnects_only_that_connection() {
    let mut h = Harness::start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let addr = h.addr(Transport::Tcp, false);
    let mut bad = TcpPeer::connect(addr).await;
    let mut good = TcpPeer::connect(addr).await;
    bad.send(b"\x00\x01 this is not SIP\r\n\r\n").await;
    assert_eq!(bad.item().await, None, "the garbage connection is closed");
    match h.next().await {
        StackEvent::Malformed { answered, peer, .. } => {
            assert_eq!((answered, peer.addr), (None, bad.local()))
        }
        e => panic!("expected a malformed notice, got {e:?}"),
    }
    // A keep-alive ping and a request on the other connection still work.
    good.send(b"\r\n\r\n").await;
    assert_eq!(good.item().await, Some(StreamItem::Pong));
    let options = request(
        "OPTIONS",
        "TCP",
        "127.0.0.1:5999",
        "z9hG4bKg1",
        "call-g1",
        "",
    );
    good.send(options.as_bytes()).await;
    let (id, req) = h.new_request().await;
    h.stack.respond(id, response_to(&req, 200, "g")).unwrap();
    assert_eq!(status(&good.recv().await), 200);
    let stats = h.stack.stats();
    assert_eq!(stats.tcp_garbage_disconnects, 1);
    assert_eq!(stats.tcp_pings_answered, 1);
    assert_eq!(stats.connections.open.total(), 1);
}

/// Requests framed before the garbage that ends a connection are handed up
/// first, and the connection stays open until they are answered.
#[tokio::test]
async fn tcp_garbage_after_complete_requests_answers_them_then_closes() {
    let mut h = Harness::start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let mut peer = TcpPeer::connect(h.addr(Transport::Tcp, false)).await;
    // Port 9 (discard): nothing listens there, so answers can only come
    // back on this connection.
    let first = request("OPTIONS", "TCP", "127.0.0.1:9", "z9hG4bKga", "call-ga", "");
    let second = request("INFO", "TCP", "127.0.0.1:9", "z9hG4bKgb", "call-gb", "");
    let garbage = "OPTIONS sip:x SIP/2.0\r\nContent-Length: many\r\n\r\n";
    peer.send(format!("{first}{second}{garbage}").as_bytes())
        .await;
    let (id1, req1) = h.new_request().await;
    let (id2, req2) = h.new_request().await;
    match h.next().await {
        StackEvent::Malformed { answered, .. } => assert_eq!(answered, None),
        e => panic!("expected the malformed notice after the requests, got {e:?}"),
    }
    h.stack.respond(id2, response_to(&req2, 200, "gb")).unwrap();
    h.stack.respond(id1, response_to(&req1, 200, "ga")).unwrap();
    let a = peer.recv().await;
    let b = peer.recv().await;
    assert_eq!((status(&a), header(&a, "Call-ID")), (200, "call-gb"));
    assert_eq!((status(&b), header(&b, "Call-ID")), (200, "call-ga"));
    assert_eq!(peer.item().await, None, "closed once both are answered");
    eventually(|| h.stack.stats().connections.open.total() == 0).await;
    let stats = h.stack.stats();
    assert_eq!(stats.tcp_garbage_disconnects, 1);
    assert_eq!(stats.send_errors, 0);
}

#[tokio::test]
async fn tcp_malformed_request_answered_and_connection_kept() {
    let mut h = Harness::start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let mut peer = TcpPeer::connect(h.addr(Transport::Tcp, false)).await;
    let bad = request(
        "OPTIONS",
        "TCP",
        "127.0.0.1:5999",
        "z9hG4bKm1",
        "call-m1",
        "",
    )
    .replace("SIP/2.0\r\n", "SIP/7.0\r\n");
    peer.send(bad.as_bytes()).await;
    let reply = peer.recv().await;
    assert_eq!(
        (status(&reply), header(&reply, "Call-ID")),
        (505, "call-m1")
    );
    match h.next().await {
        StackEvent::Malformed {
            answered, error, ..
        } => {
            assert_eq!(
                (answered, error.kind),
                (Some(505), drachtio_sip::ParseErrorKind::BadVersion)
            )
        }
        e => panic!("expected a malformed notice, got {e:?}"),
    }
    let good = request(
        "OPTIONS",
        "TCP",
        "127.0.0.1:5999",
        "z9hG4bKm2",
        "call-m2",
        "",
    );
    peer.send(good.as_bytes()).await;
    let (_, req) = h.new_request().await;
    assert_eq!(
        header(&drachtio_sip::Message::Request(req), "Call-ID"),
        "call-m2"
    );
}

#[tokio::test]
async fn rfc4475_invalid_requests_over_udp_get_400_or_505() {
    let h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let stack_addr = h.addr(Transport::Udp, false);
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/sip/rfc4475");
    let cases = [
        ("badinv01", 400),
        ("clerr", 400),
        ("ncl", 400),
        ("scalar02", 400),
        ("quotbal", 400),
        ("ltgtruri", 400),
        ("lwsruri", 400),
        ("lwsstart", 400),
        ("trws", 400),
        ("escruri", 400),
        ("regbadct", 400),
        ("badvers", 505),
        ("mismatch01", 400),
        ("mismatch02", 400),
        ("mcl01", 400),
    ];
    for (name, want) in cases {
        let data = std::fs::read(dir.join(format!("{name}.dat"))).unwrap();
        peer.send_to(&data, stack_addr).await.unwrap();
        // Read as text: the reply copies the request's Via, broken or not.
        let mut buf = vec![0u8; 65536];
        let n = tokio::time::timeout(WAIT, peer.recv(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{name}: no reply"))
            .unwrap();
        let reply = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(
            reply.starts_with(&format!("SIP/2.0 {want} ")),
            "{name}: {reply}"
        );
        let call_id = |text: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix("Call-ID: ")
                        .or_else(|| l.strip_prefix("i: "))
                })
                .map(|s| s.trim().to_string())
        };
        let request_text = String::from_utf8_lossy(&data).to_string();
        assert_eq!(call_id(&reply), call_id(&request_text), "{name}");
        let to = reply.lines().find(|l| l.starts_with("To: ")).unwrap();
        assert!(to.contains(";tag="), "{name}: {to}");
    }
    // bigcode and scalarlg are responses: dropped, never answered.
    for name in ["bigcode", "scalarlg"] {
        let data = std::fs::read(dir.join(format!("{name}.dat"))).unwrap();
        peer.send_to(&data, stack_addr).await.unwrap();
    }
    assert!(quiet_udp(&peer, Duration::from_millis(300)).await);
    let stats = h.stack.stats();
    assert_eq!(stats.parse_errors, 17);
    assert_eq!(stats.malformed_answered, 15);
    assert_eq!(stats.malformed_dropped, 2);
}

#[tokio::test]
async fn notify_is_edge_triggered() {
    let mut h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let stack_addr = h.addr(Transport::Udp, false);
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let via = peer.local_addr().unwrap().to_string();
    for i in 0..3 {
        let r = request(
            "OPTIONS",
            "UDP",
            &via,
            &format!("z9hG4bKn{i}"),
            &format!("call-n{i}"),
            "",
        );
        peer.send_to(r.as_bytes(), stack_addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.stack.stats().transactions.requests_received, 3);
    // Three events queued, one notification: the queue was empty only before the first.
    assert_eq!(h.notified.load(std::sync::atomic::Ordering::SeqCst), 1);
    let events = h.stack.drain_events(10);
    assert_eq!(events.len(), 3);
    assert!(h.stack.drain_events(10).is_empty());
    let r = request("OPTIONS", "UDP", &via, "z9hG4bKn9", "call-n9", "");
    peer.send_to(r.as_bytes(), stack_addr).await.unwrap();
    let (_, req) = h.new_request().await;
    assert_eq!(
        req.headers.get(&HeaderName::CallId).unwrap().as_str(),
        "call-n9"
    );
    assert_eq!(h.notified.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn full_event_queue_answers_503() {
    let mut cfg = config(&[(Transport::Udp, "127.0.0.1:0")]);
    cfg.event_queue_capacity = 2;
    let h = Harness::start(cfg);
    let stack_addr = h.addr(Transport::Udp, false);
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let via = peer.local_addr().unwrap().to_string();
    for i in 0..3 {
        let r = request(
            "OPTIONS",
            "UDP",
            &via,
            &format!("z9hG4bKf{i}"),
            &format!("call-f{i}"),
            "",
        );
        peer.send_to(r.as_bytes(), stack_addr).await.unwrap();
    }
    let (reply, _) = recv_udp(&peer).await;
    assert_eq!(
        (status(&reply), header(&reply, "Call-ID")),
        (503, "call-f2")
    );
    assert!(header(&reply, "To").contains(";tag="));
    let events = h.stack.drain_events(10);
    assert_eq!(events.len(), 2);
    assert_eq!(h.stack.stats().rejected_overload, 1);
}

#[tokio::test]
async fn ipv6_listener_answers() {
    let mut h = Harness::start(config(&[
        (Transport::Udp, "127.0.0.1:0"),
        (Transport::Udp, "[::1]:0"),
    ]));
    let stack_addr = h.addr(Transport::Udp, true);
    let peer = UdpSocket::bind("[::1]:0").await.unwrap();
    let me = peer.local_addr().unwrap();
    let r = request(
        "OPTIONS",
        "UDP",
        &me.to_string(),
        "z9hG4bKv6",
        "call-v6",
        "",
    );
    peer.send_to(r.as_bytes(), stack_addr).await.unwrap();
    let (id, req) = h.new_request().await;
    h.stack.respond(id, response_to(&req, 200, "v6")).unwrap();
    let (ok, from) = recv_udp(&peer).await;
    assert_eq!((status(&ok), from), (200, stack_addr));
    assert_eq!(
        header(&ok, "Via"),
        format!(
            "SIP/2.0/UDP {me};rport={};branch=z9hG4bKv6;received=::1",
            me.port()
        )
    );
}
