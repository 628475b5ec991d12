//! The stack as UAC: requests through the API to raw peers, next-hop
//! resolution, the MTU rule, transport errors, and closing.

mod util;

use drachtio_io::{StackError, StackEvent, UdpReader};
use drachtio_sip::transaction::{Peer, Transport, TxEvent, TxId};
use drachtio_sip::{Message, Request, StreamItem, TransportError};
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use util::*;

/// An OPTIONS without Via (the stack adds it) to `uri`.
fn options(uri: &str, call_id: &str, body_len: usize) -> Request {
    let text = format!(
        "OPTIONS {uri} SIP/2.0\r\n\
         From: <sip:stack@example.com>;tag=s1\r\n\
         To: <{uri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: {body_len}\r\n\r\n{}",
        "x".repeat(body_len)
    );
    match msg(&text) {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    }
}

/// The raw peer's answer to a request it received: headers copied, To tagged.
fn answer(req: &Message, status: u16) -> String {
    format!(
        "SIP/2.0 {status} OK\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=uas\r\nCall-ID: {}\r\nCSeq: {}\r\nContent-Length: 0\r\n\r\n",
        header(req, "Via"),
        header(req, "From"),
        header(req, "To"),
        header(req, "Call-ID"),
        header(req, "CSeq"),
    )
}

#[tokio::test]
async fn options_over_udp_to_the_request_uri() {
    let mut h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let stack_addr = h.addr(Transport::Udp, false);
    let uas = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("sip:uas@{}", uas.local_addr().unwrap());
    let id = h
        .stack
        .send_request(options(&uri, "call-c1", 0), None)
        .unwrap();

    let (req, from) = recv_udp(&uas).await;
    assert_eq!(from, stack_addr);
    let via = header(&req, "Via");
    let prefix = format!("SIP/2.0/UDP {stack_addr};rport;branch=z9hG4bK");
    assert!(via.starts_with(&prefix), "{via}");
    assert_eq!(header(&req, "Max-Forwards"), "70");
    // Timer E: the request again after T1 (50 ms) while unanswered.
    let (again, _) = recv_udp(&uas).await;
    assert_eq!(header(&again, "Via"), via);
    uas.send_to(answer(&req, 200).as_bytes(), from)
        .await
        .unwrap();
    match h.next().await {
        StackEvent::Transaction(TxEvent::Response {
            id: got,
            response,
            peer,
        }) => {
            assert_eq!((got, response.status), (id, 200));
            assert_eq!(peer.transport, Transport::Udp);
            assert_eq!(peer.addr, uas.local_addr().unwrap());
        }
        e => panic!("expected the response, got {e:?}"),
    }
}

#[tokio::test]
async fn large_requests_go_over_tcp_for_that_request_only() {
    let mut h = Harness::start(config(&[
        (Transport::Udp, "127.0.0.1:0"),
        (Transport::Tcp, "127.0.0.1:0"),
    ]));
    let tcp_addr = h.addr(Transport::Tcp, false);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let uas = UdpSocket::bind(("127.0.0.1", port)).await.unwrap();
    let uri = format!("sip:uas@127.0.0.1:{port}");

    let big = h
        .stack
        .send_request(options(&uri, "call-big", 1400), None)
        .unwrap();
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut conn = TcpPeer::from_stream(stream);
    let req = conn.recv().await;
    assert_eq!(header(&req, "Call-ID"), "call-big");
    let via = header(&req, "Via");
    let prefix = format!("SIP/2.0/TCP {tcp_addr};rport;branch=z9hG4bK");
    assert!(via.starts_with(&prefix), "{via}");
    conn.send(answer(&req, 200).as_bytes()).await;
    match h.next().await {
        StackEvent::Transaction(TxEvent::Response { id, response, .. }) => {
            assert_eq!((id, response.status), (big, 200))
        }
        e => panic!("expected the response, got {e:?}"),
    }
    // Never sticky: the next small request to the same place uses UDP.
    h.stack
        .send_request(options(&uri, "call-small", 10), None)
        .unwrap();
    let (req, _) = recv_udp(&uas).await;
    assert_eq!(header(&req, "Call-ID"), "call-small");
    assert!(header(&req, "Via").starts_with("SIP/2.0/UDP "));
    assert_eq!(h.stack.stats().mtu_tcp_switches, 1);
}

#[tokio::test]
async fn tcp_connection_reused_for_the_same_destination() {
    let mut h = Harness::start(config(&[(Transport::Tcp, "127.0.0.1:0")]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = listener.local_addr().unwrap();
    let peer = Peer {
        transport: Transport::Tcp,
        addr: dest,
    };
    let uri = format!("sip:uas@{dest};transport=tcp");
    let first = h
        .stack
        .send_request(options(&uri, "call-r1", 0), Some(peer.into()))
        .unwrap();
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut conn = TcpPeer::from_stream(stream);
    let req = conn.recv().await;
    conn.send(answer(&req, 200).as_bytes()).await;
    let second = h
        .stack
        .send_request(options(&uri, "call-r2", 0), None)
        .unwrap();
    let req2 = conn.recv().await;
    assert_eq!(header(&req2, "Call-ID"), "call-r2");
    conn.send(answer(&req2, 486).as_bytes()).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        match h.next().await {
            StackEvent::Transaction(TxEvent::Response { id, response, .. }) => {
                got.push((id, response.status))
            }
            e => panic!("expected a response, got {e:?}"),
        }
    }
    assert_eq!(got, [(first, 200), (second, 486)]);
    // A keep-alive ping from the stack's side of a connection it opened is answered too.
    conn.send(b"\r\n\r\n").await;
    assert_eq!(conn.item().await, Some(StreamItem::Pong));
    let stats = h.stack.stats();
    assert_eq!(stats.connections.opened.outbound[Transport::Tcp], 1);
    assert_eq!(stats.connections.open.total(), 1);
}

#[tokio::test]
async fn refused_connection_ends_the_transaction_with_a_transport_error() {
    let mut h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    // A port with nobody listening: bind then drop.
    let dest = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let uri = format!("sip:uas@{dest};transport=tcp");
    let id = h
        .stack
        .send_request(options(&uri, "call-e1", 0), None)
        .unwrap();
    match h.next().await {
        StackEvent::TransportError { tx, peer, reason } => {
            assert_eq!(tx, Some(TxId::Client(id)));
            assert_eq!(
                peer,
                Some(Peer {
                    transport: Transport::Tcp,
                    addr: dest
                })
            );
            assert!(
                reason.starts_with(&format!("cannot connect to {dest}")),
                "{reason}"
            );
        }
        e => panic!("expected a transport error, got {e:?}"),
    }
    assert_eq!(h.stack.stats().send_errors, 1);
}

#[tokio::test]
async fn host_names_resolved_after_send_request_returns() {
    let mut h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let uas = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = uas.local_addr().unwrap().port();
    let uri = format!("sip:uas@localhost:{port}");
    let id = h
        .stack
        .send_request(options(&uri, "call-d1", 0), None)
        .unwrap();
    let (req, from) = recv_udp(&uas).await;
    assert_eq!(header(&req, "Call-ID"), "call-d1");
    uas.send_to(answer(&req, 200).as_bytes(), from)
        .await
        .unwrap();
    match h.next().await {
        StackEvent::Transaction(TxEvent::Response {
            id: got, response, ..
        }) => {
            assert_eq!((got, response.status), (id, 200))
        }
        e => panic!("expected the response, got {e:?}"),
    }
    // RFC 6761: .invalid never resolves.
    let id = h
        .stack
        .send_request(options("sip:uas@no-such-host.invalid", "call-d2", 0), None)
        .unwrap();
    match h.next().await {
        StackEvent::TransportError { tx, reason, .. } => {
            assert_eq!(tx, Some(TxId::Client(id)));
            assert!(
                reason.starts_with("cannot resolve no-such-host.invalid"),
                "{reason}"
            );
        }
        e => panic!("expected a transport error, got {e:?}"),
    }
}

#[tokio::test]
async fn a_request_to_a_name_leaves_once() {
    // The request queued before the name is resolved is held and sent by
    // the resolution, never also as first queued: over TCP a second copy
    // would be a new request to the peer.
    let h = Harness::start(config(&[
        (Transport::Udp, "127.0.0.1:0"),
        (Transport::Tcp, "127.0.0.1:0"),
    ]));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let uri = format!("sip:uas@localhost:{port};transport=tcp");
    const N: usize = 20;
    for n in 0..N {
        h.stack
            .send_request(options(&uri, &format!("call-once-{n}"), 0), None)
            .unwrap();
    }
    let (mut conn, _) = listener.accept().await.unwrap();
    let mut framer = drachtio_sip::StreamFramer::new(Default::default());
    let mut call_ids = Vec::new();
    let mut buf = vec![0u8; 65536];
    // Every request, then a quiet moment in which a copy would show.
    loop {
        let wait = if call_ids.len() < N {
            WAIT
        } else {
            Duration::from_millis(300)
        };
        let read = tokio::time::timeout(wait, tokio::io::AsyncReadExt::read(&mut conn, &mut buf));
        let Ok(n) = read.await else {
            assert!(call_ids.len() >= N, "only {} requests came", call_ids.len());
            break;
        };
        let n = n.unwrap();
        assert!(n > 0, "closed");
        framer.feed(&buf[..n]);
        while let Some(item) = framer.next_item().unwrap() {
            if let StreamItem::Message(bytes) = item {
                let m = drachtio_sip::parse(&bytes).unwrap();
                call_ids.push(header(&m, "Call-ID").to_string());
            }
        }
    }
    let expected: Vec<String> = (0..N).map(|n| format!("call-once-{n}")).collect();
    assert_eq!(call_ids, expected);
}

#[tokio::test]
async fn icmp_port_unreachable_ends_a_request_to_a_name() {
    // Nobody listens: ICMP says so, and the transaction ends with that
    // (a next DNS target would get the request), not with Timer F. (The
    // server's tests cover UdpReader::Caller: tests/server/test_dns.py.)
    {
        let mut h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
        let port = {
            let closed = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            closed.local_addr().unwrap().port()
        };
        let uri = format!("sip:uas@localhost:{port}");
        let id = h
            .stack
            .send_request(options(&uri, "call-icmp", 0), None)
            .unwrap();
        match h.next().await {
            StackEvent::TransportError { tx, reason, .. } => {
                assert_eq!(tx, Some(TxId::Client(id)));
                assert_eq!(reason, format!("127.0.0.1:{port} is unreachable (ICMP)"));
            }
            e => panic!("expected a transport error, got {e:?}"),
        }
    }
}

#[tokio::test]
async fn misuse_is_a_local_error() {
    let h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let mut no_cseq = options("sip:uas@127.0.0.1:5999", "call-l1", 0);
    no_cseq.headers.remove(&drachtio_sip::HeaderName::CSeq);
    assert_eq!(
        h.stack.send_request(no_cseq, None),
        Err(StackError::Local(
            drachtio_sip::transaction::LocalError::MissingHeader("CSeq")
        ))
    );
    assert!(matches!(
        h.stack
            .send_request(options("tel:+15551234", "call-l2", 0), None),
        Err(StackError::NoRoute(_))
    ));
    assert_eq!(
        h.stack.send_request(
            options("sip:uas@127.0.0.1;transport=sctp", "call-l3", 0),
            None
        ),
        Err(StackError::Transport(TransportError::Unknown(
            "sctp".into()
        )))
    );
    assert_eq!(
        h.stack.send_request(
            options("sips:uas@127.0.0.1;transport=udp", "call-l4", 0),
            None
        ),
        Err(StackError::Transport(TransportError::NotSecure("UDP")))
    );
    // A transport the stack has no listener of is refused by name, whether
    // the URI or the caller names it.
    for (uri, transport) in [
        ("sips:uas@127.0.0.1", Transport::Tls),
        ("sip:uas@127.0.0.1;transport=tls", Transport::Tls),
        ("sip:uas@127.0.0.1;transport=ws", Transport::Ws),
        ("sips:uas@127.0.0.1;transport=ws", Transport::Wss),
    ] {
        assert_eq!(
            h.stack.send_request(options(uri, "call-l5", 0), None),
            Err(StackError::NotListening(transport)),
            "{uri}"
        );
    }
    let peer = Peer {
        transport: Transport::Tls,
        addr: "127.0.0.1:5061".parse().unwrap(),
    };
    assert_eq!(
        h.stack.send_request(
            options("sip:uas@127.0.0.1", "call-l6", 0),
            Some(peer.into())
        ),
        Err(StackError::NotListening(Transport::Tls))
    );
    assert_eq!(
        h.stack.respond(
            drachtio_sip::transaction::ServerTxId(99),
            drachtio_sip::Response::new(200)
        ),
        Err(StackError::Local(
            drachtio_sip::transaction::LocalError::UnknownTransaction
        ))
    );
}

#[tokio::test]
async fn close_frees_the_ports() {
    let mut h = Harness::start(config(&[
        (Transport::Udp, "127.0.0.1:0"),
        (Transport::Tcp, "127.0.0.1:0"),
        (Transport::Udp, "[::1]:0"),
    ]));
    let addrs = h.stack.local_addrs();
    assert_eq!(addrs.len(), 3);
    // A connection open at close time does not keep the port.
    let _conn = TcpPeer::connect(h.addr(Transport::Tcp, false)).await;
    // A pending transaction is given up when the grace period ends.
    let uas = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("sip:uas@{}", uas.local_addr().unwrap());
    h.stack
        .send_request(options(&uri, "call-x1", 0), None)
        .unwrap();
    let started = std::time::Instant::now();
    h.stack.close(Duration::from_millis(200));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(h.stack.is_closed());
    assert_eq!(h.next().await, StackEvent::Closed);
    assert_eq!(
        h.stack.send_request(options(&uri, "call-x2", 0), None),
        Err(StackError::Closed)
    );
    for (t, a) in addrs {
        match t {
            Transport::Udp => drop(std::net::UdpSocket::bind(a).unwrap()),
            _ => drop(std::net::TcpListener::bind(a).unwrap()),
        }
    }
    h.stack.close(Duration::ZERO);
}

#[tokio::test]
async fn close_with_nothing_pending_is_immediate_and_start_reports_bind_errors() {
    let h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let taken = h.addr(Transport::Udp, false);
    let err = drachtio_io::Stack::start(
        config(&[(Transport::Udp, &taken.to_string())]),
        std::sync::Arc::new(|| {}),
    )
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let started = std::time::Instant::now();
    h.stack.close(Duration::from_secs(10));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(drachtio_io::Stack::start(config(&[]), std::sync::Arc::new(|| {})).is_err());
}

fn invite(uri: &str, call_id: &str) -> Request {
    let mut r = options(uri, call_id, 0);
    r.method = drachtio_sip::Method::Invite;
    r.headers.set(drachtio_sip::HeaderName::CSeq, "1 INVITE");
    r
}

#[tokio::test]
async fn invite_cancelled_then_invite_acknowledged() {
    let mut h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let uas = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("sip:uas@{}", uas.local_addr().unwrap());

    let id = h.stack.send_request(invite(&uri, "call-i1"), None).unwrap();
    let (inv, from) = recv_udp(&uas).await;
    uas.send_to(answer(&inv, 180).as_bytes(), from)
        .await
        .unwrap();
    match h.next().await {
        StackEvent::Transaction(TxEvent::Response {
            id: got, response, ..
        }) => {
            assert_eq!((got, response.status), (id, 180))
        }
        e => panic!("expected the 180, got {e:?}"),
    }
    let cancel_id = h.stack.cancel(id).unwrap();
    // Skip INVITE retransmissions (Timer A) until the CANCEL.
    let cancel = loop {
        let (m, _) = recv_udp(&uas).await;
        if m.as_request().unwrap().method.as_str() == "CANCEL" {
            break m;
        }
    };
    // §9.1: the CANCEL's top Via is the INVITE's.
    assert_eq!(header(&cancel, "Via"), header(&inv, "Via"));
    uas.send_to(answer(&cancel, 200).as_bytes(), from)
        .await
        .unwrap();
    uas.send_to(answer(&inv, 487).as_bytes(), from)
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        match h.next().await {
            StackEvent::Transaction(TxEvent::Response { id, response, .. }) => {
                got.push((id, response.status))
            }
            e => panic!("expected a response, got {e:?}"),
        }
    }
    got.sort();
    assert_eq!(got, [(id, 487), (cancel_id, 200)]);
    // §17.1.1.3: the layer acknowledges the 487 itself, same Via.
    let ack = loop {
        let (m, _) = recv_udp(&uas).await;
        if m.as_request().is_some_and(|r| r.method.as_str() == "ACK") {
            break m;
        }
    };
    assert_eq!(header(&ack, "Via"), header(&inv, "Via"));

    let id = h.stack.send_request(invite(&uri, "call-i2"), None).unwrap();
    let (inv, from) = recv_udp(&uas).await;
    uas.send_to(answer(&inv, 200).as_bytes(), from)
        .await
        .unwrap();
    let ok = match h.next().await {
        StackEvent::Transaction(TxEvent::Response {
            id: got, response, ..
        }) => {
            assert_eq!((got, response.status), (id, 200));
            response
        }
        e => panic!("expected the 200, got {e:?}"),
    };
    let mut ack = invite(&uri, "call-i2");
    ack.method = drachtio_sip::Method::Ack;
    ack.headers.set(drachtio_sip::HeaderName::CSeq, "1 ACK");
    ack.headers.set(
        drachtio_sip::HeaderName::To,
        ok.headers
            .get(&drachtio_sip::HeaderName::To)
            .unwrap()
            .clone(),
    );
    h.stack.send_ack_for_2xx(id, ack, None).unwrap();
    let ack = loop {
        let (m, _) = recv_udp(&uas).await;
        if m.as_request().is_some_and(|r| r.method.as_str() == "ACK") {
            break m;
        }
    };
    assert_eq!(
        header(&ack, "To"),
        header(&inv, "To").to_string() + ";tag=uas"
    );
    let via = header(&ack, "Via");
    assert!(
        via.starts_with(&format!(
            "SIP/2.0/UDP {};rport;branch=z9hG4bK",
            h.addr(Transport::Udp, false)
        )),
        "{via}"
    );
    assert_ne!(
        via,
        header(&inv, "Via"),
        "the ACK for a 2xx has its own branch"
    );
}

#[tokio::test]
async fn a_burst_of_datagrams_leaves_in_order() {
    burst_leaves_in_order(UdpReader::StackThread).await;
}

#[tokio::test]
async fn a_burst_sent_from_the_callers_thread_leaves_in_order() {
    // UdpReader::Caller: the calling thread sends; what would block waits in
    // the same backlog, drained on the stack's thread.
    burst_leaves_in_order(UdpReader::Caller).await;
}

async fn burst_leaves_in_order(reader: UdpReader) {
    // Far more datagrams than a socket buffer takes at once: the ones that
    // would block wait in a per-socket backlog behind the earlier ones.
    // Stateless sends, so that no retransmission can reorder what arrives.
    let mut cfg = config(&[(Transport::Udp, "127.0.0.1:0")]);
    cfg.udp_reader = reader;
    let h = Harness::start(cfg);
    let uas = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dest = Peer {
        transport: Transport::Udp,
        addr: uas.local_addr().unwrap(),
    };
    let uri = format!("sip:uas@{}", dest.addr);
    let n = 3000;
    for i in 0..n {
        let mut req = options(&uri, &format!("burst-{i}"), 0);
        req.headers.push_front(
            drachtio_sip::HeaderName::Via,
            format!("SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKburst{i}"),
        );
        h.stack
            .send_stateless(req.into(), Some(dest.into()))
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 65536];
    while seen.len() < n {
        let Ok(Ok((len, _))) =
            tokio::time::timeout(Duration::from_secs(2), uas.recv_from(&mut buf)).await
        else {
            break;
        };
        let req = msg(std::str::from_utf8(&buf[..len]).unwrap());
        let call_id = header(&req, "Call-ID").to_string();
        seen.push(
            call_id
                .trim_start_matches("burst-")
                .parse::<usize>()
                .unwrap(),
        );
    }
    // The receiving socket may drop datagrams under such a burst; those that
    // arrive must arrive in the order they were sent.
    assert!(seen.len() >= 50, "only {} of {n} arrived", seen.len());
    if let Some(w) = seen.windows(2).position(|w| w[0] >= w[1]) {
        panic!(
            "out of order at position {w}: {} then {}",
            seen[w],
            seen[w + 1]
        );
    }
}
