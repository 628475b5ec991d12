//! State shared by the runtime's tasks and the API callers, and the pump
//! that moves the transaction layer's outputs to sockets and to the event
//! queue.
//!
//! Locks, always taken in this order and never across an `.await`:
//! `send_order` → `placeholders` → `core` → `queue`; `conns` and `udp` are
//! taken alone. [`Shared::pump`] runs on the runtime's thread, and with
//! [`crate::UdpReader::Caller`] on the caller's thread too; `send_order`
//! keeps the order in which the layer produced messages and events the
//! order in which they reach sockets and the queue.

use crate::config::StackConfig;
use crate::conns::{ConnTable, Limits};
use crate::route;
use crate::size;
use crate::stats::Counters;
use crate::{StackError, StackEvent};
use bytes::Bytes;
use drachtio_sip::transaction::{
    ClientTxId, Incoming, Outbound, Peer, Target, TransactionLayer, Transmit, Transport, TxEvent,
    TxId,
};
use drachtio_sip::{HeaderName, Message, ParseError, Request, Response};
use std::collections::{HashMap, VecDeque};
use std::net::UdpSocket;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;
use tokio::io::Interest;
use tokio::sync::Notify;

/// Transmits held for a destination whose name is being resolved.
const MAX_HELD: usize = 8;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The transaction layer and what must change together with it.
pub(crate) struct Core {
    pub(crate) layer: TransactionLayer,
    /// Why a transaction was given `transport_error`, until its event is drained.
    tx_errors: HashMap<TxId, (Peer, String)>,
    /// The deadline the driver sleeps until.
    pub(crate) armed: Option<Instant>,
}

struct EventQueue {
    events: VecDeque<StackEvent>,
    capacity: usize,
}

impl EventQueue {
    fn full(&self) -> bool {
        self.events.len() >= self.capacity
    }

    /// Queues `event`; a `bounded` one is dropped when the queue is full.
    /// Returns whether the queue went from empty to non-empty.
    fn push(&mut self, event: StackEvent, bounded: bool, counters: &Counters) -> bool {
        if bounded && self.full() {
            Counters::inc(&counters.events_dropped);
            return false;
        }
        let was_empty = self.events.is_empty();
        self.events.push_back(event);
        was_empty
    }
}

/// A message that could not be sent.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) tx: Option<TxId>,
    pub(crate) peer: Peer,
    pub(crate) reason: String,
}

pub(crate) struct UdpEndpoint {
    pub(crate) local: SocketAddr,
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) advertise: Option<String>,
    /// Datagrams waiting for the socket to become writable, in send order.
    pub(crate) backlog: Arc<Mutex<UdpBacklog>>,
}

/// The datagrams of one UDP socket that could not be sent at once. While it
/// is not empty every new datagram joins its end, so that datagrams leave in
/// the order they were queued; one task drains it.
#[derive(Default)]
pub(crate) struct UdpBacklog {
    queue: std::collections::VecDeque<(Outgoing, SocketAddr)>,
    draining: bool,
}

/// Datagrams a UDP socket may hold back before further sends fail.
const UDP_BACKLOG_LIMIT: usize = 16_384;

/// A listener of a stream transport (TCP, TLS).
pub(crate) struct StreamEndpoint {
    pub(crate) transport: Transport,
    pub(crate) local: SocketAddr,
    pub(crate) advertise: Option<String>,
}

/// Bytes for a socket, with what to report if they cannot be written.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) bytes: Bytes,
    pub(crate) tx: Option<TxId>,
    pub(crate) peer: Peer,
    /// The status of a response; `None` for a request.
    pub(crate) status: Option<u16>,
}

impl Outgoing {
    pub(crate) fn fail(self, reason: &str) -> Failure {
        Failure {
            tx: self.tx,
            peer: self.peer,
            reason: reason.to_string(),
        }
    }
}

enum Resolution {
    Waiting(Vec<Transmit>),
    Resolved(SocketAddr),
    Failed(String),
}

/// A destination named by a host name: client transactions are started at
/// once with a placeholder address (`0.x.y.z`, never a real peer) that the
/// pump maps to the resolved one, so `send_request` returns its id without
/// waiting for DNS.
struct Placeholder {
    resolution: Resolution,
    /// The client transactions sending to it (an INVITE and its CANCEL).
    owners: Vec<ClientTxId>,
}

pub(crate) fn is_placeholder(addr: SocketAddr) -> bool {
    matches!(addr.ip(), IpAddr::V4(ip) if ip.octets()[0] == 0 && !ip.is_unspecified())
}

pub(crate) struct Shared {
    pub(crate) core: Mutex<Core>,
    queue: Mutex<EventQueue>,
    /// Held by a pump from taking transmits until they are sent.
    send_order: Mutex<()>,
    notify: Arc<dyn Fn() + Send + Sync>,
    /// Wakes the driver: a caller changed the layer, or a deadline moved earlier.
    pub(crate) wake: Notify,
    pub(crate) counters: Counters,
    pub(crate) config: StackConfig,
    pub(crate) udp: RwLock<Vec<UdpEndpoint>>,
    pub(crate) streams: Vec<StreamEndpoint>,
    pub(crate) conns: Mutex<ConnTable>,
    placeholders: Mutex<HashMap<SocketAddr, Placeholder>>,
    next_placeholder: AtomicU32,
    route_cache: Mutex<HashMap<IpAddr, IpAddr>>,
    /// When closing must end, once `close` was called.
    pub(crate) close_deadline: Mutex<Option<Instant>>,
    pub(crate) closing: AtomicBool,
    pub(crate) closed: AtomicBool,
    pub(crate) handle: tokio::runtime::Handle,
}

impl Shared {
    pub(crate) fn new(
        config: StackConfig,
        notify: Arc<dyn Fn() + Send + Sync>,
        udp: Vec<UdpEndpoint>,
        streams: Vec<StreamEndpoint>,
        handle: tokio::runtime::Handle,
    ) -> Shared {
        let limits = Limits {
            inbound: config.max_tcp_connections,
            per_ip: config.max_tcp_connections_per_ip,
            outbound: config.max_tcp_outbound,
            idle_after: config.tcp_message_timeout,
        };
        Shared {
            core: Mutex::new(Core {
                layer: TransactionLayer::new(config.timers.clone()),
                tx_errors: HashMap::new(),
                armed: None,
            }),
            queue: Mutex::new(EventQueue {
                events: VecDeque::new(),
                capacity: config.event_queue_capacity,
            }),
            send_order: Mutex::new(()),
            notify,
            wake: Notify::new(),
            counters: Counters::default(),
            config,
            udp: RwLock::new(udp),
            streams,
            conns: Mutex::new(ConnTable::new(limits, Instant::now())),
            placeholders: Mutex::new(HashMap::new()),
            next_placeholder: AtomicU32::new(1),
            route_cache: Mutex::new(HashMap::new()),
            close_deadline: Mutex::new(None),
            closing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            handle,
        }
    }

    // ------------------------------------------------------------ events

    /// Queues an event that is not the layer's; `notify` runs after every
    /// lock is released.
    pub(crate) fn push_event(&self, event: StackEvent, bounded: bool) {
        let became_non_empty = lock(&self.queue).push(event, bounded, &self.counters);
        if became_non_empty {
            (self.notify)();
        }
    }

    pub(crate) fn drain_events(&self, max: usize) -> Vec<StackEvent> {
        let mut q = lock(&self.queue);
        let n = max.min(q.events.len());
        q.events.drain(..n).collect()
    }

    // ------------------------------------------------------------ the pump

    /// Reports `failures` to the layer, then moves every queued event to the
    /// event queue and every transmit to its socket, until nothing is left.
    pub(crate) fn pump(self: &Arc<Self>, failures: Vec<Failure>) {
        self.pump_and_notify(failures, true);
    }

    /// [`Shared::pump`]; with `notify_consumer` false, events queued here do
    /// not call `notify`: the caller drains the queue itself right after.
    pub(crate) fn pump_and_notify(
        self: &Arc<Self>,
        mut failures: Vec<Failure>,
        notify_consumer: bool,
    ) {
        loop {
            // Pumps may run on two threads (UdpReader::Caller): what one
            // takes from the layer leaves before what the next one takes.
            let order = lock(&self.send_order);
            let mut transmits = Vec::new();
            let mut notify = false;
            let mut rearm = false;
            {
                let mut guard = lock(&self.core);
                let core = &mut *guard;
                let now = Instant::now();
                let mut loose = Vec::new();
                for f in failures.drain(..) {
                    Counters::inc(&self.counters.send_errors);
                    match f.tx {
                        Some(tx) if !core.tx_errors.contains_key(&tx) => {
                            core.tx_errors.insert(tx, (f.peer, f.reason));
                            core.layer.transport_error(now, tx);
                        }
                        // A second failure of the same transaction in this batch.
                        Some(_) => {}
                        None => loose.push(f),
                    }
                }
                let closing = self.closing.load(Ordering::Relaxed);
                let mut q = lock(&self.queue);
                for f in loose {
                    notify |= q.push(
                        StackEvent::TransportError {
                            tx: None,
                            peer: Some(f.peer),
                            reason: f.reason,
                        },
                        true,
                        &self.counters,
                    );
                }
                while let Some(event) = core.layer.poll_event() {
                    let (event, bounded) = match event {
                        TxEvent::NewRequest { id, request, .. } if closing || q.full() => {
                            let counter = if closing {
                                &self.counters.rejected_closing
                            } else {
                                &self.counters.rejected_overload
                            };
                            Counters::inc(counter);
                            let response = unavailable(&request, &mut core.layer);
                            // The transaction is new: a first response cannot be refused.
                            let _ = core.layer.respond(now, id, response);
                            continue;
                        }
                        TxEvent::TransportError { id } => match core.tx_errors.remove(&id) {
                            Some((peer, reason)) => (
                                StackEvent::TransportError {
                                    tx: Some(id),
                                    peer: Some(peer),
                                    reason,
                                },
                                false,
                            ),
                            None => (
                                StackEvent::Transaction(TxEvent::TransportError { id }),
                                false,
                            ),
                        },
                        // Stray ACKs come from the network without bound.
                        e @ TxEvent::AckFor2xx { id: None, .. } => {
                            (StackEvent::Transaction(e), true)
                        }
                        e => (StackEvent::Transaction(e), false),
                    };
                    notify |= q.push(event, bounded, &self.counters);
                }
                drop(q);
                // Errors for transactions that had already ended produce no event.
                core.tx_errors.clear();
                while let Some(t) = core.layer.poll_transmit() {
                    transmits.push(t);
                }
                let next = core.layer.poll_timeout();
                if let Some(next) = next {
                    rearm = core.armed.map_or(true, |armed| next < armed);
                }
            }
            if rearm {
                self.wake.notify_one();
            }
            for t in transmits {
                if let Err(f) = self.dispatch(t) {
                    failures.push(f);
                }
            }
            drop(order);
            // After every lock is released: `notify` may call back into the stack.
            if notify && notify_consumer {
                (self.notify)();
            }
            if failures.is_empty() {
                return;
            }
        }
    }

    /// Hands received messages to the layer, then pumps
    /// ([`Shared::pump_and_notify`]).
    pub(crate) fn handle_incoming(self: &Arc<Self>, batch: Vec<Incoming>, notify_consumer: bool) {
        {
            let mut core = lock(&self.core);
            let now = Instant::now();
            for incoming in batch {
                core.layer.handle_incoming(now, incoming);
            }
        }
        self.pump_and_notify(Vec::new(), notify_consumer);
    }

    /// A parsed message from the network, with `received`/`rport` added to a
    /// request's top Via (RFC 3261 §18.2.1, RFC 3581 §4).
    pub(crate) fn incoming(message: Message, peer: Peer, local: SocketAddr) -> Incoming {
        let message = match message {
            Message::Request(mut r) => {
                route::stamp_received(&mut r, peer.addr);
                Message::Request(r)
            }
            m => m,
        };
        Incoming {
            message,
            peer,
            local,
        }
    }

    /// A message that failed to parse: counted and reported; returns the
    /// response to send back to its source when one can be formed.
    pub(crate) fn on_malformed(
        &self,
        data: &[u8],
        error: ParseError,
        peer: Peer,
        local: SocketAddr,
    ) -> Option<Bytes> {
        Counters::inc(&self.counters.parse_errors);
        let tag = lock(&self.core).layer.new_tag();
        let response = route::error_response(data, error.status_code(), &tag);
        Counters::inc(if response.is_some() {
            &self.counters.malformed_answered
        } else {
            &self.counters.malformed_dropped
        });
        self.push_event(
            StackEvent::Malformed {
                peer,
                local,
                answered: response.as_ref().map(|r| r.status),
                error,
            },
            true,
        );
        response.map(|r| Bytes::from(Message::Response(r).to_bytes()))
    }

    // ------------------------------------------------------------ sending

    fn dispatch(self: &Arc<Self>, t: Transmit) -> Result<(), Failure> {
        let mut t = t;
        if is_placeholder(t.peer.addr) {
            let mut ph = lock(&self.placeholders);
            match ph.get_mut(&t.peer.addr).map(|p| &mut p.resolution) {
                Some(Resolution::Resolved(addr)) => t.peer.addr = *addr,
                Some(Resolution::Waiting(held)) => {
                    if held.len() < MAX_HELD {
                        held.push(t);
                    }
                    return Ok(());
                }
                Some(Resolution::Failed(reason)) => {
                    return Err(Failure {
                        tx: t.tx,
                        peer: t.peer,
                        reason: reason.clone(),
                    })
                }
                None => {
                    return Err(Failure {
                        tx: t.tx,
                        peer: t.peer,
                        reason: "destination no longer known".into(),
                    })
                }
            }
        }
        let Transmit {
            tx,
            peer,
            local,
            bytes,
            kind,
        } = t;
        let (status, response_target) = match kind {
            Outbound::Response(status, target) => (Some(status), Some(target)),
            Outbound::Request => (None, None),
        };
        let out = Outgoing {
            bytes,
            tx,
            peer,
            status,
        };
        match peer.transport {
            Transport::Udp => {
                let v6 = local.map_or(peer.addr.is_ipv6(), |l| l.is_ipv6());
                if status.is_some()
                    && size::over_udp_limit(out.bytes.len(), v6).is_some()
                    && self.listens_on(Transport::Tcp)
                {
                    return self.response_over_tcp(out, local);
                }
                let dest = match response_target.flatten() {
                    Some(Target::Addr(a)) => a,
                    Some(Target::Name(host, port)) => {
                        self.send_after_resolving(host, port, out, local);
                        return Ok(());
                    }
                    None => peer.addr,
                };
                self.send_udp(local, dest, out)
            }
            Transport::Tcp | Transport::Tls => {
                let Some(target) = response_target else {
                    return self.send_stream(peer, out);
                };
                // §18.2.2: over the connection the request came on while it is open.
                let Some(out) = self.send_on_open_connection(peer, out)? else {
                    return Ok(());
                };
                match target {
                    Some(Target::Addr(addr)) => self.send_stream(Peer { addr, ..peer }, out),
                    Some(Target::Name(host, port)) => {
                        self.send_after_resolving(host, port, out, local);
                        Ok(())
                    }
                    None => self.send_stream(peer, out),
                }
            }
            Transport::Ws | Transport::Wss => Err(out.fail(&not_listening(peer.transport))),
        }
    }

    /// Whether the stack has a listener of `transport`.
    pub(crate) fn listens_on(&self, transport: Transport) -> bool {
        match transport {
            Transport::Udp => !self
                .udp
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty(),
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                self.streams.iter().any(|e| e.transport == transport)
            }
        }
    }

    pub(crate) fn send_udp(
        self: &Arc<Self>,
        local: Option<SocketAddr>,
        dest: SocketAddr,
        out: Outgoing,
    ) -> Result<(), Failure> {
        let (socket, backlog, v6) = {
            let udp = self.udp.read().unwrap_or_else(PoisonError::into_inner);
            let ep = local
                .and_then(|l| udp.iter().find(|e| e.local == l))
                .or_else(|| udp.iter().find(|e| e.local.is_ipv6() == dest.is_ipv6()));
            match ep {
                Some(ep) => (ep.socket.clone(), ep.backlog.clone(), ep.local.is_ipv6()),
                None => return Err(out.fail("no UDP socket for this address family")),
            }
        };
        // The calls down refuse such messages first; whatever still gets
        // here fails with a reason naming its size, not the system's.
        if let Some(limit) = size::over_udp_limit(out.bytes.len(), v6) {
            Counters::inc(&self.counters.too_large_for_udp);
            let what = if out.status.is_some() {
                "response"
            } else {
                "request"
            };
            let reason = size::too_large(what, out.bytes.len(), limit);
            return Err(out.fail(&reason));
        }
        let mut queued = lock(&backlog);
        // Straight to the socket only when nothing is held back, including
        // the datagram the drain task may be holding while it waits.
        if queued.queue.is_empty() && !queued.draining {
            match socket.send_to(&out.bytes, dest) {
                Ok(_) => {
                    Counters::inc(&self.counters.udp_sent);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(out.fail(&e.to_string())),
            }
        }
        if queued.queue.len() >= UDP_BACKLOG_LIMIT {
            return Err(out.fail("UDP send queue full"));
        }
        queued.queue.push_back((out, dest));
        if !queued.draining {
            queued.draining = true;
            let shared = self.clone();
            let backlog = backlog.clone();
            self.handle
                .spawn(async move { shared.drain_udp(socket, backlog).await });
        }
        Ok(())
    }

    /// Sends a socket's held-back datagrams in order, waiting for it to be
    /// writable; ends when the backlog is empty. Only this task watches the
    /// socket for writability (through a duplicate descriptor, registered
    /// while it runs): otherwise every datagram sent would wake the stack's
    /// thread when its buffer is freed.
    async fn drain_udp(self: Arc<Self>, socket: Arc<UdpSocket>, backlog: Arc<Mutex<UdpBacklog>>) {
        let writable = socket
            .try_clone()
            .and_then(|dup| crate::udp::watch(Arc::new(dup), Interest::WRITABLE));
        loop {
            let next = {
                let mut queued = lock(&backlog);
                match queued.queue.pop_front() {
                    Some(item) => item,
                    None => {
                        queued.draining = false;
                        return;
                    }
                }
            };
            let (out, dest) = next;
            let sent = match &writable {
                Ok(fd) => loop {
                    match fd.writable().await {
                        Ok(mut guard) => {
                            match guard.try_io(|fd| fd.get_ref().send_to(&out.bytes, dest)) {
                                Ok(result) => break result,
                                Err(_would_block) => continue,
                            }
                        }
                        Err(e) => break Err(e),
                    }
                },
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            match sent {
                Ok(_) => Counters::inc(&self.counters.udp_sent),
                Err(e) => {
                    let reason = e.to_string();
                    self.pump(vec![out.fail(&reason)]);
                }
            }
        }
    }

    /// Resolves `host` (A/AAAA), then sends `out` to it on `out.peer`'s transport.
    pub(crate) fn send_after_resolving(
        self: &Arc<Self>,
        host: String,
        port: u16,
        out: Outgoing,
        local: Option<SocketAddr>,
    ) {
        let shared = self.clone();
        self.handle.spawn(async move {
            let transport = out.peer.transport;
            let result = match shared.resolve(&host, port, transport).await {
                Ok(addr) => match transport {
                    Transport::Udp => shared.send_udp(local, addr, out),
                    Transport::Tcp | Transport::Tls => {
                        shared.send_stream(Peer { transport, addr }, out)
                    }
                    Transport::Ws | Transport::Wss => Err(out.fail(&not_listening(transport))),
                },
                Err(reason) => Err(out.fail(&reason)),
            };
            if let Err(f) = result {
                shared.pump(vec![f]);
            }
        });
    }

    /// The first address of `host` this stack can send to on `transport`.
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
        transport: Transport,
    ) -> Result<SocketAddr, String> {
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        let usable = |a: &SocketAddr| {
            transport != Transport::Udp
                || self
                    .udp
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .any(|e| e.local.is_ipv6() == a.is_ipv6())
        };
        addrs
            .into_iter()
            .find(usable)
            .ok_or_else(|| format!("no usable address for {host}"))
    }

    // ------------------------------------------------------------ requests

    /// The sent-by we write in Via for `transport` toward `dest`: the
    /// advertised address of a listener of that transport, else its bound
    /// address, else (bound to an unspecified address) the address of the
    /// interface the system would send from. TCP without a TCP listener
    /// takes the UDP listener's (RFC 3261 §18: a UA sends over both); a
    /// secure transport only ever names its own listener.
    pub(crate) fn sent_by(&self, transport: Transport, dest: Option<IpAddr>) -> String {
        let v6 = dest.is_some_and(|ip| ip.is_ipv6());
        let udp = self.udp.read().unwrap_or_else(PoisonError::into_inner);
        let udp_candidates = || {
            udp.iter()
                .map(|e| (e.local, e.advertise.as_ref()))
                .collect::<Vec<_>>()
        };
        let stream_candidates = |t: Transport| {
            self.streams
                .iter()
                .filter(|e| e.transport == t)
                .map(|e| (e.local, e.advertise.as_ref()))
                .collect::<Vec<_>>()
        };
        let candidates: Vec<(SocketAddr, Option<&String>)> = match transport {
            Transport::Udp => udp_candidates(),
            Transport::Tcp => {
                let tcp = stream_candidates(Transport::Tcp);
                if tcp.is_empty() {
                    udp_candidates()
                } else {
                    tcp
                }
            }
            Transport::Tls | Transport::Ws | Transport::Wss => stream_candidates(transport),
        };
        let chosen = candidates
            .iter()
            .find(|(l, _)| l.is_ipv6() == v6)
            .or(candidates.first());
        let Some(&(local, advertise)) = chosen else {
            return "invalid".to_string();
        };
        if let Some(a) = advertise {
            return a.clone();
        }
        if !local.ip().is_unspecified() {
            return local.to_string();
        }
        SocketAddr::new(self.route_source(dest, local.is_ipv6()), local.port()).to_string()
    }

    fn route_source(&self, dest: Option<IpAddr>, v6: bool) -> IpAddr {
        // Documentation addresses (RFC 5737, RFC 3849): a route lookup only.
        let dest = dest.unwrap_or(if v6 {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
        } else {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
        });
        if let Some(ip) = lock(&self.route_cache).get(&dest) {
            return *ip;
        }
        let unspecified: IpAddr = if dest.is_ipv6() {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        // Connecting a UDP socket sends nothing; it makes the system pick the
        // source address of the route to `dest`.
        let ip = std::net::UdpSocket::bind((unspecified, 0))
            .and_then(|s| s.connect((dest, 9)).map(|_| s))
            .and_then(|s| s.local_addr())
            .map(|a| a.ip())
            .unwrap_or(unspecified);
        let mut cache = lock(&self.route_cache);
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(dest, ip);
        ip
    }

    /// Sets the top Via for sending over `transport` to `dest`, and applies
    /// RFC 3261 §18.1.1: a request over 1300 bytes meant for UDP goes over
    /// TCP, for this request only, when the stack has a TCP listener; else
    /// one larger than a datagram can be is refused. Returns the transport
    /// to use.
    pub(crate) fn prepare_request(
        &self,
        request: &mut Request,
        transport: Transport,
        dest: Option<IpAddr>,
        branch: Option<String>,
    ) -> Result<Transport, StackError> {
        let sent_by = self.sent_by(transport, dest);
        route::set_top_via(&mut request.headers, transport, &sent_by, branch.clone());
        if transport != Transport::Udp {
            return Ok(transport);
        }
        // The layer adds `;branch=z9hG4bK` and 16 hex digits when missing.
        let extra = if route::has_branch(&request.headers) {
            0
        } else {
            31
        };
        let len = request.serialized_len() + extra;
        if len <= size::MTU_LIMIT {
            return Ok(transport);
        }
        if !self.listens_on(Transport::Tcp) {
            // The family is not known before a name is resolved: the
            // smaller (IPv4) limit.
            self.fits_udp("request", len, dest.is_some_and(|ip| ip.is_ipv6()))?;
            return Ok(transport);
        }
        Counters::inc(&self.counters.mtu_tcp_switches);
        let sent_by = self.sent_by(Transport::Tcp, dest);
        route::set_top_via(&mut request.headers, Transport::Tcp, &sent_by, branch);
        Ok(Transport::Tcp)
    }

    /// A placeholder address for a destination being resolved.
    pub(crate) fn new_placeholder(&self, port: u16) -> SocketAddr {
        let n = self.next_placeholder.fetch_add(1, Ordering::Relaxed) % 0x00ff_ffff + 1;
        let [_, a, b, c] = n.to_be_bytes();
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(0, a, b, c)), port);
        lock(&self.placeholders).insert(
            addr,
            Placeholder {
                resolution: Resolution::Waiting(Vec::new()),
                owners: Vec::new(),
            },
        );
        addr
    }

    pub(crate) fn drop_placeholder(&self, addr: SocketAddr) {
        lock(&self.placeholders).remove(&addr);
    }

    /// Records that client transaction `id` sends to placeholder `addr`.
    pub(crate) fn add_placeholder_owner(&self, addr: SocketAddr, id: ClientTxId) {
        if let Some(p) = lock(&self.placeholders).get_mut(&addr) {
            p.owners.push(id);
        }
    }

    /// A CANCEL for `invite` goes where the INVITE went.
    pub(crate) fn inherit_placeholder(&self, invite: ClientTxId, cancel: ClientTxId) {
        for p in lock(&self.placeholders).values_mut() {
            if p.owners.contains(&invite) {
                p.owners.push(cancel);
            }
        }
    }

    /// Resolves placeholder `addr` and sends what waited for it; on failure
    /// its transactions end with a transport error.
    pub(crate) async fn resolve_placeholder(
        self: Arc<Self>,
        addr: SocketAddr,
        host: String,
        transport: Transport,
    ) {
        let result = self.resolve(&host, addr.port(), transport).await;
        let (held, owners) = {
            let mut ph = lock(&self.placeholders);
            let Some(p) = ph.get_mut(&addr) else {
                return;
            };
            let next = match &result {
                Ok(a) => Resolution::Resolved(*a),
                Err(reason) => Resolution::Failed(reason.clone()),
            };
            let held = match std::mem::replace(&mut p.resolution, next) {
                Resolution::Waiting(held) => held,
                _ => Vec::new(),
            };
            (held, p.owners.clone())
        };
        let mut failures = Vec::new();
        match result {
            Ok(resolved) => {
                for mut t in held {
                    t.peer.addr = resolved;
                    if let Err(f) = self.dispatch(t) {
                        failures.push(f);
                    }
                }
            }
            Err(reason) => {
                for id in owners {
                    failures.push(Failure {
                        tx: Some(TxId::Client(id)),
                        peer: Peer { transport, addr },
                        reason: reason.clone(),
                    });
                }
            }
        }
        self.pump(failures);
    }

    /// Forgets placeholders whose transactions have all ended.
    pub(crate) fn gc_placeholders(&self) {
        let mut ph = lock(&self.placeholders);
        if ph.is_empty() {
            return;
        }
        let core = lock(&self.core);
        ph.retain(|_, p| {
            p.owners.is_empty()
                || p.owners
                    .iter()
                    .any(|id| core.layer.client_state(*id).is_some())
        });
    }

    /// Resolves `host`, then runs `then` on the layer with the peer and pumps.
    /// Resolution failure is reported as a transport error event.
    pub(crate) fn after_resolving<F>(
        self: &Arc<Self>,
        host: String,
        port: u16,
        transport: Transport,
        then: F,
    ) where
        F: FnOnce(&mut TransactionLayer, Peer) + Send + 'static,
    {
        let shared = self.clone();
        self.handle.spawn(async move {
            match shared.resolve(&host, port, transport).await {
                Ok(addr) => {
                    then(&mut lock(&shared.core).layer, Peer { transport, addr });
                    shared.pump(Vec::new());
                }
                Err(reason) => shared.push_event(
                    StackEvent::TransportError {
                        tx: None,
                        peer: None,
                        reason,
                    },
                    true,
                ),
            }
        });
    }
}

/// Why nothing can be sent over `transport`.
pub(crate) fn not_listening(transport: Transport) -> String {
    StackError::NotListening(transport).to_string()
}

/// The 503 for a request the stack will not hand up (RFC 3261 §21.5.4),
/// with a To tag (§8.2.6.2).
fn unavailable(request: &Request, layer: &mut TransactionLayer) -> Response {
    let mut response = Response::new(503);
    if let Some(to) = request.headers.get(&HeaderName::To) {
        let value = if to.to_ascii_lowercase().contains(";tag=") {
            to.to_string()
        } else {
            format!("{to};tag={}", layer.new_tag())
        };
        response.headers.push(HeaderName::To, value);
    }
    response
}
