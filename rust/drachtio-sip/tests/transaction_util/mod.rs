//! Shared helpers for the transaction tests: a layer on a simulated clock
//! ([`Sim`]), two layers over a lossy simulated network ([`Pair`]), and
//! message builders. Every message crosses the "wire" as bytes and is parsed
//! again, as the I/O layer would.
#![allow(dead_code)]

use drachtio_sip::transaction::{
    Config, Incoming, Peer, TransactionLayer, Transmit, Transport, TxEvent,
};
use drachtio_sip::{parse, HeaderName, Message, Request, Response};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The remote end seen by the layer under test.
pub fn peer(transport: Transport) -> Peer {
    Peer {
        transport,
        addr: "192.0.2.1:5060".parse().unwrap(),
    }
}

pub fn udp() -> Peer {
    peer(Transport::Udp)
}

pub fn tcp() -> Peer {
    peer(Transport::Tcp)
}

pub fn local() -> SocketAddr {
    "192.0.2.100:5060".parse().unwrap()
}

pub fn config() -> Config {
    Config {
        seed: Some(7),
        ..Config::default()
    }
}

/// A request as a peer would send it: standard headers, CSeq `1 <method>`.
pub fn req(method: &str, branch: &str) -> String {
    format!(
        "{method} sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: Alice <sip:alice@example.com>;tag=from1\r\n\
         To: Bob <sip:bob@example.com>\r\n\
         Call-ID: call-1@192.0.2.1\r\n\
         CSeq: 1 {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// [`req`] with a To tag.
pub fn req_to_tag(method: &str, branch: &str, tag: &str) -> String {
    req(method, branch).replace(
        "To: Bob <sip:bob@example.com>",
        &format!("To: Bob <sip:bob@example.com>;tag={tag}"),
    )
}

pub fn parse_request(text: &str) -> Request {
    match parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

/// The response a peer would send to `req` (via the wire).
pub fn response_to(req: &Request, status: u16, to_tag: Option<&str>) -> Message {
    let mut r = Response::new(status);
    for name in [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        for v in req.headers.get_all(&name) {
            let v = match to_tag {
                Some(t) if name == HeaderName::To => format!("{v};tag={t}"),
                _ => v.to_string(),
            };
            r.headers.push(name.clone(), v);
        }
    }
    wire(&Message::Response(r))
}

/// A response from the TU: only the status and, with a tag, the To header.
pub fn tu_response(status: u16, req: &Request, to_tag: Option<&str>) -> Response {
    let mut r = Response::new(status);
    if let Some(t) = to_tag {
        let to = req.headers.get(&HeaderName::To).unwrap();
        r.headers.push(HeaderName::To, format!("{to};tag={t}"));
    }
    r
}

/// Through bytes and back.
pub fn wire(m: &Message) -> Message {
    parse(&m.to_bytes()).unwrap()
}

pub fn status(m: &Message) -> u16 {
    m.as_response().expect("a response").status
}

pub fn method(m: &Message) -> &str {
    m.as_request().expect("a request").method.as_str()
}

pub fn hdr(m: &Message, name: &str) -> String {
    m.header(name)
        .unwrap_or_else(|| panic!("no {name} in {m:?}"))
        .to_string()
}

pub fn request_of(m: &Message) -> &Request {
    m.as_request().expect("a request")
}

/// One layer on a simulated clock; outputs are collected with the
/// millisecond at which they were produced.
pub struct Sim {
    pub layer: TransactionLayer,
    pub base: Instant,
    pub now: Instant,
    pub sent: Vec<(u64, Transmit)>,
    pub events: Vec<(u64, TxEvent)>,
}

impl Sim {
    pub fn new() -> Sim {
        Sim::with(config())
    }

    pub fn with(config: Config) -> Sim {
        let base = Instant::now();
        Sim {
            layer: TransactionLayer::new(config),
            base,
            now: base,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn ms(&self) -> u64 {
        (self.now - self.base).as_millis() as u64
    }

    pub fn drain(&mut self) {
        let ms = self.ms();
        while let Some(t) = self.layer.poll_transmit() {
            self.sent.push((ms, t));
        }
        while let Some(e) = self.layer.poll_event() {
            self.events.push((ms, e));
        }
    }

    /// Runs every timer up to `ms` (absolute, from the start), in order.
    pub fn run_until(&mut self, ms: u64) {
        let target = self.base + Duration::from_millis(ms);
        self.drain();
        while let Some(t) = self.layer.poll_timeout() {
            if t > target {
                break;
            }
            assert!(t >= self.now, "a deadline in the past");
            self.now = t;
            self.layer.handle_timeout(t);
            self.drain();
        }
        self.now = target;
    }

    /// Runs timers until none is left; returns the time in ms.
    pub fn run_to_idle(&mut self) -> u64 {
        self.drain();
        while let Some(t) = self.layer.poll_timeout() {
            self.now = t;
            self.layer.handle_timeout(t);
            self.drain();
        }
        self.ms()
    }

    pub fn receive(&mut self, text: &str, from: Peer) {
        self.receive_msg(parse(text.as_bytes()).unwrap(), from);
    }

    pub fn receive_msg(&mut self, message: Message, from: Peer) {
        self.layer.handle_incoming(
            self.now,
            Incoming {
                message,
                peer: from,
                local: local(),
            },
        );
        self.drain();
    }

    pub fn take_sent(&mut self) -> Vec<(u64, Message)> {
        self.sent
            .drain(..)
            .map(|(ms, t)| (ms, parse(&t.bytes).unwrap()))
            .collect()
    }

    pub fn take_events(&mut self) -> Vec<(u64, TxEvent)> {
        std::mem::take(&mut self.events)
    }

    /// The one message sent since the last take.
    pub fn one_sent(&mut self) -> Message {
        let mut s = self.take_sent();
        assert_eq!(s.len(), 1, "expected one message, got {s:#?}");
        s.pop().unwrap().1
    }

    /// The one event since the last take.
    pub fn one_event(&mut self) -> TxEvent {
        let mut e = self.take_events();
        assert_eq!(e.len(), 1, "expected one event, got {e:#?}");
        e.pop().unwrap().1
    }

    pub fn assert_idle(&self) {
        assert!(
            self.layer.is_idle(),
            "layer not idle: {:?}",
            self.layer.transaction_count()
        );
    }
}

/// Decides whether the network loses a message: the side that sent it, the
/// message, and how many messages with the same summary that side sent before.
pub type DropRule = Box<dyn FnMut(Side, &Message, usize) -> bool>;

/// Which side of a [`Pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Uac,
    Uas,
}

/// Two layers, a UAC and a UAS, joined by a network that delivers at once
/// unless `drop` says to lose the message. Every message sent is logged as
/// `(ms, from side, summary)` for assertions on the whole flow.
pub struct Pair {
    pub uac: TransactionLayer,
    pub uas: TransactionLayer,
    pub base: Instant,
    pub now: Instant,
    pub transport: Transport,
    pub drop: DropRule,
    pub log: Vec<(u64, Side, String, bool)>,
    pub uac_events: Vec<(u64, TxEvent)>,
    pub uas_events: Vec<(u64, TxEvent)>,
}

pub fn summary(m: &Message) -> String {
    match m {
        Message::Request(r) => r.method.as_str().to_string(),
        Message::Response(r) => {
            let cseq = m.header("CSeq").unwrap();
            let method = cseq.split_whitespace().nth(1).unwrap();
            format!("{} {method}", r.status)
        }
    }
}

impl Pair {
    pub fn new(transport: Transport) -> Pair {
        let base = Instant::now();
        Pair {
            uac: TransactionLayer::new(Config {
                seed: Some(1),
                ..Config::default()
            }),
            uas: TransactionLayer::new(Config {
                seed: Some(2),
                ..Config::default()
            }),
            base,
            now: base,
            transport,
            drop: Box::new(|_, _, _| false),
            log: Vec::new(),
            uac_events: Vec::new(),
            uas_events: Vec::new(),
        }
    }

    pub fn ms(&self) -> u64 {
        (self.now - self.base).as_millis() as u64
    }

    pub fn uas_peer(&self) -> Peer {
        Peer {
            transport: self.transport,
            addr: "192.0.2.2:5060".parse().unwrap(),
        }
    }

    /// Delivers queued messages (and what they cause) until both sides are quiet.
    pub fn deliver(&mut self) {
        loop {
            let mut moved = false;
            for side in [Side::Uac, Side::Uas] {
                let (from, to) = match side {
                    Side::Uac => (&mut self.uac, &mut self.uas),
                    Side::Uas => (&mut self.uas, &mut self.uac),
                };
                while let Some(t) = from.poll_transmit() {
                    moved = true;
                    let message = parse(&t.bytes).unwrap();
                    let s = summary(&message);
                    let n = self
                        .log
                        .iter()
                        .filter(|(_, sd, x, _)| *sd == side && *x == s)
                        .count();
                    let lost = (self.drop)(side, &message, n);
                    let ms = (self.now - self.base).as_millis() as u64;
                    self.log.push((ms, side, s, lost));
                    if !lost {
                        let peer = Peer {
                            transport: self.transport,
                            addr: if side == Side::Uac {
                                "192.0.2.1:5060".parse().unwrap()
                            } else {
                                "192.0.2.2:5060".parse().unwrap()
                            },
                        };
                        to.handle_incoming(
                            self.now,
                            Incoming {
                                message,
                                peer,
                                local: peer.addr,
                            },
                        );
                    }
                }
            }
            let ms = self.ms();
            while let Some(e) = self.uac.poll_event() {
                self.uac_events.push((ms, e));
            }
            while let Some(e) = self.uas.poll_event() {
                self.uas_events.push((ms, e));
            }
            if !moved {
                return;
            }
        }
    }

    /// Runs both sides' timers up to `ms`, delivering as it goes.
    pub fn run_until(&mut self, ms: u64) {
        let target = self.base + Duration::from_millis(ms);
        self.deliver();
        loop {
            let next = [self.uac.poll_timeout(), self.uas.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= target => {
                    self.now = t;
                    self.uac.handle_timeout(t);
                    self.uas.handle_timeout(t);
                    self.deliver();
                }
                _ => break,
            }
        }
        self.now = target;
    }

    pub fn run_to_idle(&mut self) {
        self.run_until(10 * 60 * 1000);
        assert!(self.uac.is_idle(), "uac not idle");
        assert!(self.uas.is_idle(), "uas not idle");
    }

    /// The log as `"ms side summary"` lines, lost messages marked `(lost)`.
    pub fn log_lines(&self) -> Vec<String> {
        self.log
            .iter()
            .map(|(ms, side, s, lost)| {
                let side = if *side == Side::Uac { "uac" } else { "uas" };
                let lost = if *lost { " (lost)" } else { "" };
                format!("{ms} {side} {s}{lost}")
            })
            .collect()
    }

    pub fn take_uas_events(&mut self) -> Vec<(u64, TxEvent)> {
        std::mem::take(&mut self.uas_events)
    }

    pub fn take_uac_events(&mut self) -> Vec<(u64, TxEvent)> {
        std::mem::take(&mut self.uac_events)
    }

    /// A request from the UAC side with a fresh branch.
    pub fn uac_request(&mut self, method: &str) -> Request {
        let mut r = parse_request(&req(method, "x"));
        let via = format!("SIP/2.0/{} 192.0.2.1:5060", self.transport.as_str());
        r.headers.set(HeaderName::Via, via);
        r
    }
}
