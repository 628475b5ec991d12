//! Messages too large for a UDP datagram: a response goes over TCP to the
//! address its Via names (RFC 3261 §18.2.2) when the stack has a TCP
//! listener, and is refused at once, its transaction left open, when not; a
//! request is refused at once.

mod util;

use drachtio_io::StackError;
use drachtio_sip::transaction::{Peer, ServerTxId, Transport};
use drachtio_sip::{HeaderName, Message, Request, Response};
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use util::*;

/// The largest UDP payload over IPv4: 65,535 less the IP and UDP headers.
const IPV4_MAX: usize = 65_507;

/// A UDP socket and a TCP listener on one port of 127.0.0.1.
async fn udp_and_tcp_on_one_port() -> (UdpSocket, TcpListener) {
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        if let Ok(udp) = UdpSocket::bind(("127.0.0.1", port)).await {
            return (udp, listener);
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// `req`'s 200 with every header it would copy from the request already
/// there, and a body that makes the whole message exactly `len` bytes.
fn response_of_len(req: &Request, len: usize) -> Response {
    let mut r = response_to(req, 200, "big");
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        for v in req.headers.get_all(&name) {
            r.headers.push(name.clone(), v.clone());
        }
    }
    // Content-Length has five digits for every size tried here.
    r.body = vec![b'x'; 10_000].into();
    let base = Message::Response(r.clone()).serialized_len() - 10_000;
    r.body = vec![b'x'; len - base].into();
    assert_eq!(Message::Response(r.clone()).serialized_len(), len);
    r
}

async fn options_over_udp(
    h: &mut Harness,
    from: &UdpSocket,
    via: &str,
    call_id: &str,
) -> (ServerTxId, Request) {
    let text = request(
        "OPTIONS",
        "UDP",
        via,
        &format!("z9hG4bK{call_id}"),
        call_id,
        "",
    );
    from.send_to(text.as_bytes(), h.addr(Transport::Udp, false))
        .await
        .unwrap();
    h.new_request().await
}

#[tokio::test]
async fn a_response_too_large_for_udp_goes_over_tcp_to_the_via_address() {
    let mut h = Harness::start(config(&[
        (Transport::Udp, "127.0.0.1:0"),
        (Transport::Tcp, "127.0.0.1:0"),
    ]));
    let source = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // The Via names another port than the datagram's source, with rport:
    // over TCP the response goes to the sent-by port (§18.2.2).
    let (_, listener) = udp_and_tcp_on_one_port().await;
    let via = listener.local_addr().unwrap().to_string();
    let (id, req) = options_over_udp(&mut h, &source, &via, "big1").await;
    let big = response_of_len(&req, IPV4_MAX + 1);
    h.stack.respond(id, big.clone()).unwrap();
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("a connection to the Via's address")
        .unwrap();
    let mut conn = TcpPeer::from_stream(stream);
    let ok = conn.recv().await;
    assert_eq!((status(&ok), header(&ok, "Call-ID")), (200, "big1"));
    assert_eq!(ok.as_response().unwrap().body, big.body);
    // The largest datagram still goes over UDP, to the source (rport).
    let (id, req) = options_over_udp(&mut h, &source, &via, "big2").await;
    h.stack
        .respond(id, response_of_len(&req, IPV4_MAX))
        .unwrap();
    let (ok, _) = recv_udp(&source).await;
    assert_eq!((status(&ok), header(&ok, "Call-ID")), (200, "big2"));
    let stats = h.stack.stats();
    assert_eq!(stats.large_responses_over_tcp, 1);
    assert_eq!(stats.send_errors, 0);
}

#[tokio::test]
async fn without_a_tcp_listener_a_response_too_large_is_refused_and_can_be_replaced() {
    let mut h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let via = peer.local_addr().unwrap().to_string();
    let (id, req) = options_over_udp(&mut h, &peer, &via, "big3").await;
    let refused = h.stack.respond(id, response_of_len(&req, IPV4_MAX + 1));
    let Err(e @ StackError::TooLargeForUdp { .. }) = refused else {
        panic!("expected TooLargeForUdp, got {refused:?}");
    };
    assert_eq!(
        e.to_string(),
        "response of 65508 bytes is too large for UDP (at most 65507 bytes) \
         and the stack has no TCP listener"
    );
    assert!(quiet_udp(&peer, Duration::from_millis(200)).await);
    // The transaction is still open: a smaller answer goes out.
    h.stack.respond(id, response_to(&req, 503, "big")).unwrap();
    let (reply, _) = recv_udp(&peer).await;
    assert_eq!((status(&reply), header(&reply, "Call-ID")), (503, "big3"));
    // And the largest that fits is sent, not refused.
    let (id, req) = options_over_udp(&mut h, &peer, &via, "big4").await;
    h.stack
        .respond(id, response_of_len(&req, IPV4_MAX))
        .unwrap();
    let (reply, _) = recv_udp(&peer).await;
    assert_eq!((status(&reply), header(&reply, "Call-ID")), (200, "big4"));
    let stats = h.stack.stats();
    assert_eq!(stats.too_large_for_udp, 1);
    assert_eq!(stats.send_errors, 0);
}

#[tokio::test]
async fn without_a_tcp_listener_a_request_too_large_is_refused() {
    let h = Harness::start(config(&[(Transport::Udp, "127.0.0.1:0")]));
    let uas = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dest = Peer {
        transport: Transport::Udp,
        addr: uas.local_addr().unwrap(),
    };
    let text = format!(
        "MESSAGE sip:uas@{} SIP/2.0\r\n\
         From: <sip:stack@example.com>;tag=s1\r\n\
         To: <sip:uas@example.com>\r\n\
         Call-ID: big5\r\n\
         CSeq: 1 MESSAGE\r\n\
         Content-Length: 70000\r\n\r\n{}",
        dest.addr,
        "x".repeat(70_000)
    );
    let Message::Request(big) = msg(&text) else {
        unreachable!()
    };
    let refused = h.stack.send_request(big.clone(), Some(dest.into()));
    let Err(e @ StackError::TooLargeForUdp { .. }) = refused else {
        panic!("expected TooLargeForUdp, got {refused:?}");
    };
    assert!(
        e.to_string().starts_with("request of 70"),
        "{e}: names the size"
    );
    let refused = h
        .stack
        .send_stateless(Message::Request(big), Some(dest.into()));
    assert!(matches!(refused, Err(StackError::TooLargeForUdp { .. })));
    assert!(quiet_udp(&uas, Duration::from_millis(200)).await);
    // Nothing was started: no event either.
    assert!(h.stack.drain_events(8).is_empty());
    assert_eq!(h.stack.stats().too_large_for_udp, 2);
    // A request that fits still goes.
    let text = text
        .replace("70000", "10")
        .replace(&"x".repeat(70_000), "0123456789");
    let Message::Request(small) = msg(&text) else {
        unreachable!()
    };
    h.stack.send_request(small, Some(dest.into())).unwrap();
    let (req, _) = recv_udp(&uas).await;
    assert_eq!(header(&req, "Call-ID"), "big5");
}
