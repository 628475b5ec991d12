//! Helpers for the transport tests: a stack on loopback with port 0, an
//! event reader woken by `notify`, and raw peers speaking SIP text.
#![allow(dead_code)]

use drachtio_io::{ListenSpec, Stack, StackConfig, StackEvent};
use drachtio_sip::transaction::{Config as TimerConfig, Transport, TxEvent};
use drachtio_sip::{parse, HeaderName, Message, Request, Response, StreamFramer, StreamItem};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

pub const WAIT: Duration = Duration::from_secs(5);

pub fn fast_timers() -> TimerConfig {
    TimerConfig {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        t4: Duration::from_millis(500),
        seed: Some(7),
        ..TimerConfig::default()
    }
}

pub fn config(listen: &[(Transport, &str)]) -> StackConfig {
    StackConfig {
        listen: listen
            .iter()
            .map(|(t, a)| ListenSpec {
                transport: *t,
                addr: a.parse().unwrap(),
                advertise: None,
                local_networks: Vec::new(),
            })
            .collect(),
        timers: fast_timers(),
        ..StackConfig::default()
    }
}

/// A stack and the events it queued, read as `notify` announces them.
pub struct Harness {
    pub stack: Stack,
    pub notified: Arc<AtomicUsize>,
    wake: Arc<tokio::sync::Notify>,
    buf: VecDeque<StackEvent>,
}

impl Harness {
    pub fn start(config: StackConfig) -> Harness {
        let notified = Arc::new(AtomicUsize::new(0));
        let wake = Arc::new(tokio::sync::Notify::new());
        let (n, w) = (notified.clone(), wake.clone());
        let stack = Stack::start(
            config,
            Arc::new(move || {
                n.fetch_add(1, Ordering::SeqCst);
                w.notify_one();
            }),
        )
        .unwrap();
        Harness {
            stack,
            notified,
            wake,
            buf: VecDeque::new(),
        }
    }

    pub fn addr(&self, transport: Transport, v6: bool) -> SocketAddr {
        self.stack
            .local_addrs()
            .into_iter()
            .find(|(t, a)| *t == transport && a.is_ipv6() == v6)
            .unwrap()
            .1
    }

    /// The next event; panics after `WAIT`.
    pub async fn next(&mut self) -> StackEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(e) = self.buf.pop_front() {
                return e;
            }
            self.buf.extend(self.stack.drain_events(64));
            if !self.buf.is_empty() {
                continue;
            }
            if tokio::time::timeout_at(deadline, self.wake.notified())
                .await
                .is_err()
            {
                panic!("no event within {WAIT:?}");
            }
        }
    }

    pub async fn new_request(&mut self) -> (drachtio_sip::transaction::ServerTxId, Request) {
        match self.next().await {
            StackEvent::Transaction(TxEvent::NewRequest { id, request, .. }) => (id, request),
            e => panic!("expected a new request, got {e:?}"),
        }
    }
}

pub fn msg(text: &str) -> Message {
    parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

pub fn header<'a>(m: &'a Message, name: &str) -> &'a str {
    m.header(name)
        .unwrap_or_else(|| panic!("no {name} in {m:?}"))
        .as_str()
}

pub fn status(m: &Message) -> u16 {
    m.as_response().expect("a response").status
}

/// A request from a raw peer at `via` (`host:port`).
pub fn request(
    method: &str,
    transport: &str,
    via: &str,
    branch: &str,
    call_id: &str,
    extra: &str,
) -> String {
    format!(
        "{method} sip:service@example.com SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {via};rport;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=a1\r\n\
         To: <sip:service@example.com>{extra}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A response to `req` built with its headers, with `To` tag `tag`.
pub fn response_to(req: &Request, status: u16, tag: &str) -> Response {
    let mut r = Response::new(status);
    let to = req.headers.get(&HeaderName::To).unwrap();
    r.headers.push(HeaderName::To, format!("{to};tag={tag}"));
    r
}

pub async fn recv_udp(sock: &UdpSocket) -> (Message, SocketAddr) {
    let mut buf = vec![0u8; 65536];
    let (n, from) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .expect("no datagram in time")
        .unwrap();
    (parse(&buf[..n]).unwrap(), from)
}

/// Whether a datagram arrives within `d`.
pub async fn quiet_udp(sock: &UdpSocket, d: Duration) -> bool {
    let mut buf = vec![0u8; 65536];
    tokio::time::timeout(d, sock.recv_from(&mut buf))
        .await
        .is_err()
}

/// A raw TCP peer reading whole messages.
pub struct TcpPeer {
    pub stream: TcpStream,
    framer: StreamFramer,
}

impl TcpPeer {
    pub async fn connect(addr: SocketAddr) -> TcpPeer {
        TcpPeer {
            stream: TcpStream::connect(addr).await.unwrap(),
            framer: StreamFramer::new(Default::default()),
        }
    }

    pub fn from_stream(stream: TcpStream) -> TcpPeer {
        TcpPeer {
            stream,
            framer: StreamFramer::new(Default::default()),
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next item; `None` at end of stream.
    pub async fn item(&mut self) -> Option<StreamItem> {
        let mut buf = vec![0u8; 65536];
        loop {
            if let Some(item) = self.framer.next_item().unwrap() {
                return Some(item);
            }
            if self.framer.take_pong() {
                return Some(StreamItem::Pong);
            }
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut buf))
                .await
                .expect("nothing read in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.framer.feed(&buf[..n]);
        }
    }

    pub async fn recv(&mut self) -> Message {
        match self.item().await {
            Some(StreamItem::Message(b)) => parse(&b).unwrap(),
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// Waits until `cond` holds; panics after `WAIT`.
pub async fn eventually(cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "condition never held");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
