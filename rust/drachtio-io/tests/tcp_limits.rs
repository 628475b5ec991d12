//! The bounds on TCP connections: the idle timeout, the first message
//! within `tcp_message_timeout`, the bound per address, eviction of a
//! connection not in use at the inbound bound, and the outbound budget.

mod util;

use drachtio_io::{StackConfig, StackEvent};
use drachtio_sip::transaction::{Peer, Transport, TxId};
use drachtio_sip::{Message, StreamItem};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpSocket};
use util::*;

fn tcp_config(tune: impl FnOnce(&mut StackConfig)) -> StackConfig {
    let mut cfg = config(&[(Transport::Tcp, "127.0.0.1:0")]);
    tune(&mut cfg);
    cfg
}

/// Sends an OPTIONS on `peer` and answers it 200 through the stack.
async fn options_answered(h: &mut Harness, peer: &mut TcpPeer, call_id: &str) {
    let text = request(
        "OPTIONS",
        "TCP",
        "127.0.0.1:9",
        &format!("z9hG4bK{call_id}"),
        call_id,
        "",
    );
    peer.send(text.as_bytes()).await;
    let (id, req) = h.new_request().await;
    assert_eq!(header(&Message::Request(req.clone()), "Call-ID"), call_id);
    h.stack.respond(id, response_to(&req, 200, "t")).unwrap();
    assert_eq!(status(&peer.recv().await), 200);
}

/// A connection from `ip` (any of 127.0.0.0/8) to `addr`.
async fn connect_from(ip: &str, addr: SocketAddr) -> TcpPeer {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    TcpPeer::from_stream(socket.connect(addr).await.unwrap())
}

/// Whether the stack keeps `peer` open: a ping is still answered.
async fn still_open(peer: &mut TcpPeer) -> bool {
    peer.send(b"\r\n\r\n").await;
    peer.item().await == Some(StreamItem::Pong)
}

#[tokio::test]
async fn a_connection_in_use_is_kept_over_the_bound_and_closed_when_idle() {
    let mut h = Harness::start(tcp_config(|c| {
        c.max_tcp_connections = 1;
        c.tcp_idle_timeout = Duration::from_millis(300);
    }));
    let addr = h.addr(Transport::Tcp, false);
    let mut first = TcpPeer::connect(addr).await;
    options_answered(&mut h, &mut first, "busy1").await;
    let mut second = TcpPeer::connect(addr).await;
    assert_eq!(second.item().await, None, "over the bound: closed at once");
    let started = Instant::now();
    assert_eq!(first.item().await, None, "closed when idle");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    let stats = h.stack.stats();
    assert_eq!(stats.tcp_connections_rejected, 1);
    assert_eq!(stats.tcp_evicted, 0);
    assert_eq!(stats.tcp_idle_closed, 1);
    assert_eq!(stats.connections.open.total(), 0);
}

#[tokio::test]
async fn a_connection_without_a_sip_message_is_closed_pings_do_not_count() {
    let mut h = Harness::start(tcp_config(|c| {
        c.tcp_message_timeout = Duration::from_millis(400);
    }));
    let addr = h.addr(Transport::Tcp, false);
    let mut pinging = TcpPeer::connect(addr).await;
    let mut talking = TcpPeer::connect(addr).await;
    options_answered(&mut h, &mut talking, "talk1").await;
    let started = Instant::now();
    // Keep-alives every 100 ms keep the idle timeout away, not this one.
    let closed_after = loop {
        pinging.send(b"\r\n\r\n").await;
        match pinging.item().await {
            Some(StreamItem::Pong) => {}
            None => break started.elapsed(),
            other => panic!("unexpected {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(4), "never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        closed_after >= Duration::from_millis(200),
        "{closed_after:?}"
    );
    // The connection that sent a message outlives the timeout.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(still_open(&mut talking).await);
    let stats = h.stack.stats();
    assert_eq!(stats.tcp_no_message_closed, 1);
    assert_eq!(stats.tcp_idle_closed, 0);
    assert_eq!(stats.connections.open.inbound[Transport::Tcp], 1);
}

#[tokio::test]
async fn one_address_has_at_most_max_tcp_connections_per_ip() {
    let mut h = Harness::start(tcp_config(|c| c.max_tcp_connections_per_ip = 2));
    let addr = h.addr(Transport::Tcp, false);
    let mut a = connect_from("127.0.0.1", addr).await;
    let mut b = connect_from("127.0.0.1", addr).await;
    options_answered(&mut h, &mut a, "ip1").await;
    options_answered(&mut h, &mut b, "ip2").await;
    let mut third = connect_from("127.0.0.1", addr).await;
    assert_eq!(third.item().await, None, "a third from 127.0.0.1: closed");
    let mut other = connect_from("127.0.0.2", addr).await;
    options_answered(&mut h, &mut other, "ip3").await;
    // A place freed is a place again.
    drop(a);
    eventually(|| h.stack.stats().connections.open.inbound[Transport::Tcp] == 2).await;
    let mut again = connect_from("127.0.0.1", addr).await;
    options_answered(&mut h, &mut again, "ip4").await;
    let stats = h.stack.stats();
    assert_eq!(stats.tcp_per_ip_rejected, 1);
    assert_eq!(stats.connections.opened.inbound[Transport::Tcp], 4);
}

#[tokio::test]
async fn at_the_bound_a_connection_not_in_use_makes_room() {
    let in_use = Duration::from_secs(2);
    let mut h = Harness::start(tcp_config(|c| {
        c.max_tcp_connections = 2;
        c.tcp_message_timeout = in_use;
    }));
    let addr = h.addr(Transport::Tcp, false);
    let mut talking = TcpPeer::connect(addr).await;
    options_answered(&mut h, &mut talking, "ev1").await;
    let mut silent = TcpPeer::connect(addr).await;
    // The silent one goes for the newcomer.
    let mut newcomer = TcpPeer::connect(addr).await;
    assert_eq!(
        silent.item().await,
        None,
        "the silent connection is evicted"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    options_answered(&mut h, &mut newcomer, "ev2").await;
    // Both carried a message just now: a third is refused.
    let mut refused = TcpPeer::connect(addr).await;
    assert_eq!(refused.item().await, None, "every connection in use");
    assert!(still_open(&mut talking).await && still_open(&mut newcomer).await);
    let stats = h.stack.stats();
    assert_eq!((stats.tcp_evicted, stats.tcp_connections_rejected), (1, 1));
    // Once neither has carried a message for `in_use`, the one whose last
    // message is the oldest makes room (pings do not keep it in use).
    tokio::time::sleep(in_use + Duration::from_millis(500)).await;
    let mut late = TcpPeer::connect(addr).await;
    assert_eq!(talking.item().await, None, "the longest unused is evicted");
    options_answered(&mut h, &mut late, "ev3").await;
    assert!(still_open(&mut newcomer).await);
    let stats = h.stack.stats();
    assert_eq!(stats.tcp_evicted, 2);
    assert_eq!(stats.connections.open.inbound[Transport::Tcp], 2);
}

#[tokio::test]
async fn outbound_connections_have_a_budget_apart_from_inbound_ones() {
    let mut h = Harness::start(tcp_config(|c| {
        c.max_tcp_connections = 1;
        c.max_tcp_outbound = 1;
    }));
    let addr = h.addr(Transport::Tcp, false);
    let mut inbound = TcpPeer::connect(addr).await;
    options_answered(&mut h, &mut inbound, "out0").await;
    let mut refused = TcpPeer::connect(addr).await;
    assert_eq!(refused.item().await, None, "the inbound bound is reached");
    // The stack can still open a connection to send a request.
    let uas = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = Peer {
        transport: Transport::Tcp,
        addr: uas.local_addr().unwrap(),
    };
    let options = |call_id: &str| {
        let text = request(
            "OPTIONS",
            "TCP",
            "127.0.0.1:9",
            &format!("z9hG4bK{call_id}"),
            call_id,
            "",
        );
        match msg(&text) {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    };
    h.stack
        .send_request(options("out1"), Some(dest.into()))
        .unwrap();
    let (stream, _) = tokio::time::timeout(WAIT, uas.accept())
        .await
        .unwrap()
        .unwrap();
    let mut conn = TcpPeer::from_stream(stream);
    assert_eq!(header(&conn.recv().await, "Call-ID"), "out1");
    // A second destination is over the outbound budget.
    let other = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dest = Peer {
        transport: Transport::Tcp,
        addr: other.local_addr().unwrap(),
    };
    let id = h
        .stack
        .send_request(options("out2"), Some(dest.into()))
        .unwrap();
    match h.next().await {
        StackEvent::TransportError { tx, reason, .. } => {
            assert_eq!(tx, Some(TxId::Client(id)));
            assert_eq!(reason, "too many outbound TCP connections");
        }
        e => panic!("expected a transport error, got {e:?}"),
    }
    let stats = h.stack.stats();
    assert_eq!(stats.tcp_outbound_rejected, 1);
    assert_eq!(
        (
            stats.connections.open.inbound[Transport::Tcp],
            stats.connections.open.outbound[Transport::Tcp]
        ),
        (1, 1)
    );
}
