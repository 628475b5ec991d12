//! The SIP transport of drachtio: UDP, TCP and TLS sockets on a tokio runtime of
//! its own, driving the sans-IO core (`drachtio_sip`'s parser, stream framer
//! and transaction layer) and owning the clock.
//!
//! A [`Stack`] is started with a [`StackConfig`] and a `notify` callback; it
//! runs on one dedicated OS thread. Events go up through a bounded queue
//! ([`Stack::drain_events`]), announced by `notify` when the queue becomes
//! non-empty; calls down ([`Stack::respond`], [`Stack::send_request`], ...)
//! never block on I/O and may come from any thread. See `docs/transport.md`.

#![warn(missing_docs)]

mod capture;
mod config;
mod conns;
mod dns;
mod hub;
mod icmp;
mod nat;
pub use nat::Network;
mod resolve;
mod rfc3263;
mod route;
pub use route::next_hop;
mod send;
mod size;
mod stats;
mod stream;
mod tcp;
mod tls;
mod udp;
mod ws;
pub use ws::SUBPROTOCOL as WS_SUBPROTOCOL;

pub use capture::CaptureConfig;
pub use config::{ListenSpec, StackConfig, TlsConfig, UdpReader, LISTEN_TRANSPORTS};
pub use stats::Stats;

use capture::Capture;
use drachtio_sip::routing::{response_target, Destination, RouteForm, Target};
use drachtio_sip::transaction::{
    ClientTxId, LocalError, Peer, Policy, ServerTxId, Transport, TxEvent, TxId,
};
use drachtio_sip::{Message, ParseError, Request, Response, TransportError};
use hub::{lock, Shared};
use std::io;
use std::net::SocketAddr;
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use stream::StreamEndpoint;
use udp::UdpEndpoint;

/// What the stack tells its user, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
// Nearly every event is a `Transaction`: boxing it would cost an allocation
// per event and save nothing.
#[allow(clippy::large_enum_variant)]
pub enum StackEvent {
    /// An event of the transaction layer (new request, response, ACK for a
    /// 2xx, CANCEL, timeout, ACK timeout). Its `TransportError` comes as
    /// [`StackEvent::TransportError`] instead.
    Transaction(TxEvent),
    /// A message could not be sent (connection refused or lost, name not
    /// resolved, no socket for the address family...). With `tx: Some`, that
    /// transaction has ended; with `None`, a message outside a transaction
    /// (an ACK for a 2xx, a stateless message) was lost.
    TransportError {
        /// The transaction ended by the failure.
        tx: Option<TxId>,
        /// Where the message was going, when known.
        peer: Option<Peer>,
        /// What went wrong.
        reason: String,
    },
    /// A received message failed to parse (or to frame, on TCP).
    Malformed {
        /// Its source.
        peer: Peer,
        /// The local address it arrived on.
        local: SocketAddr,
        /// The parse error.
        error: ParseError,
        /// The status the stack answered with, if it could answer.
        answered: Option<u16>,
    },
    /// A WebSocket connection (WS, WSS) ended after its upgrade: closed by
    /// the peer, timed out, closed for a message too large, or failed. The
    /// names its client gave no longer reach it: dialogs over it are cut
    /// off (RFC 7118 §5.2). Dropped, like `Malformed`, when the queue is full.
    ConnectionClosed {
        /// The client.
        peer: Peer,
        /// The local address it was connected to.
        local: SocketAddr,
        /// Why it ended.
        reason: String,
    },
    /// The stack has stopped: the last event.
    Closed,
}

/// Why a call down was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    /// Misuse of the transaction layer (unknown transaction, a second final
    /// response, a request without the mandatory headers...).
    #[error(transparent)]
    Local(#[from] LocalError),
    /// The stack is closing (no new transaction) or closed.
    #[error("the stack is closed")]
    Closed,
    /// No next hop could be found for the request.
    #[error("no route: {0}")]
    NoRoute(&'static str),
    /// The stack has no listener of the transport, so it sends nothing
    /// over it (TCP aside: a stack with only UDP listeners still sends
    /// over TCP).
    #[error("the stack has no {0} listener")]
    NotListening(Transport),
    /// A transport name is unknown, or a `sips:` URI names one that is not
    /// secure.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The message is meant for UDP, is larger than a datagram can be, and
    /// the stack has no TCP listener to send it over instead. Nothing was
    /// sent: a server transaction can still be answered.
    #[error("{} and the stack has no TCP listener", size::too_large(.what, *.len, *.limit))]
    TooLargeForUdp {
        /// "request" or "response".
        what: &'static str,
        /// Its size, serialized.
        len: usize,
        /// The largest UDP payload for its address family.
        limit: usize,
    },
}

/// A running SIP stack. Every method takes `&self` and may be called from
/// any thread; none blocks on the network.
pub struct Stack {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    thread_id: std::thread::ThreadId,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("local_addrs", &self.local_addrs())
            .finish()
    }
}

impl Stack {
    /// Binds every listener (errors such as EADDRINUSE are returned here),
    /// then runs the stack on a new OS thread. `notify` is called on that
    /// thread each time the event queue goes from empty to non-empty (with
    /// [`UdpReader::Caller`], also on a thread calling down), after every
    /// lock is released; it must not block.
    pub fn start(config: StackConfig, notify: Arc<dyn Fn() + Send + Sync>) -> io::Result<Stack> {
        if config.listen.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a stack needs at least one listen address",
            ));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let tls = match tls::Tls::load(&config.tls) {
            Ok(tls) => tls,
            Err(e) => {
                runtime.shutdown_background();
                return Err(e);
            }
        };
        let capture = match config.capture.clone().map(Capture::open).transpose() {
            Ok(capture) => capture,
            Err(e) => {
                runtime.shutdown_background();
                let reason = format!("capture socket: {e}");
                return Err(io::Error::new(e.kind(), reason));
            }
        };
        let bound = {
            let _guard = runtime.enter();
            bind_all(&config, &tls)
        };
        let (udp, tcp, listeners) = match bound {
            Ok(b) => b,
            Err(e) => {
                // Dropping a runtime may block, which tokio forbids inside
                // an async context such as the caller's.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        let shared = Arc::new(Shared::new(
            config,
            notify,
            udp,
            tcp,
            tls,
            capture,
            runtime.handle().clone(),
        ));
        let driver_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("drachtio-io".into())
            .spawn(move || run(runtime, driver_shared, listeners))?;
        let thread_id = thread.thread().id();
        Ok(Stack {
            shared,
            thread: Mutex::new(Some(thread)),
            thread_id,
        })
    }

    /// The bound addresses, with the real ports when port 0 was asked.
    pub fn local_addrs(&self) -> Vec<(Transport, SocketAddr)> {
        let udp = self
            .shared
            .udp
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        udp.iter()
            .map(|e| (Transport::Udp, e.local))
            .chain(self.shared.streams.iter().map(|e| (e.transport, e.local)))
            .collect()
    }

    /// The `host:port` the stack names itself with toward `dest` over
    /// `transport`, as in the Via sent-by of its requests: the listener
    /// bound to `local` (else the one of `transport` the stack sends from),
    /// its external address unless `dest` is in one of its local networks
    /// (an unknown `dest` gets the external address), else its bound
    /// address (bound to an unspecified address: the source address of
    /// the route to `dest`). For the Contact and Record-Route the layers
    /// above build.
    pub fn advertised(
        &self,
        transport: Transport,
        local: Option<SocketAddr>,
        dest: Option<std::net::IpAddr>,
    ) -> String {
        self.shared.sent_by_from(transport, local, dest)
    }

    /// Takes up to `max` queued events, oldest first, without blocking.
    /// `notify` is called again only after the queue has been emptied, so
    /// drain until this returns fewer than `max` events.
    pub fn drain_events(&self, max: usize) -> Vec<StackEvent> {
        self.shared.drain_events(max)
    }

    /// Sends `response` in server transaction `id`: provisional responses,
    /// then one final response (see `docs/transactions.md` for what the
    /// layer copies from the request).
    pub fn respond(&self, id: ServerTxId, response: Response) -> Result<(), StackError> {
        self.running()?;
        let shared = &self.shared;
        lock(&shared.core).layer.respond_checked(
            Instant::now(),
            id,
            response,
            |response, peer, local| {
                shared.check_response_size(peer.transport, response, local.is_ipv6())
            },
        )?;
        self.kick();
        Ok(())
    }

    /// A PRACK acknowledged reliable provisional response `rseq` of INVITE
    /// server transaction `id` (RFC 3262 §3): its retransmission stops.
    /// Returns whether it was the one awaiting a PRACK.
    pub fn prack(&self, id: ServerTxId, rseq: u32) -> Result<bool, StackError> {
        self.running()?;
        let matched = lock(&self.shared.core)
            .layer
            .prack(Instant::now(), id, rseq);
        self.kick();
        Ok(matched)
    }

    /// Server transaction `id` is answered by a proxy core from now on
    /// (see `TransactionLayer::answer_as_proxy`).
    pub fn answer_as_proxy(&self, id: ServerTxId) -> Result<(), StackError> {
        self.running()?;
        lock(&self.shared.core).layer.answer_as_proxy(id)?;
        Ok(())
    }

    /// Starts a client transaction. With `dest: None` the next hop comes
    /// from the Route set or the Request-URI (RFC 3261 §8.1.2, §18.1.1); a
    /// host name (there or in `dest`) is resolved afterwards, and failing that the transaction
    /// ends with a [`StackEvent::TransportError`]. The stack sets the top
    /// Via's transport and sent-by (adding a Via with `rport` if there is
    /// none); a request over 1300 bytes meant for UDP goes over TCP.
    pub fn send_request(
        &self,
        request: Request,
        dest: Option<Destination>,
    ) -> Result<ClientTxId, StackError> {
        let policy = lock(&self.shared.core).layer.config().policy;
        self.send_request_as(request, dest, policy)
    }

    /// [`send_request`](Self::send_request) on behalf of `policy`'s core (a
    /// proxy core forwarding a request: every 2xx is passed up).
    pub fn send_request_as(
        &self,
        mut request: Request,
        dest: Option<Destination>,
        policy: Policy,
    ) -> Result<ClientTxId, StackError> {
        self.accepting()?;
        let (dest, query) = match dest {
            Some(d) => (d, None),
            None => route::next_hop_query(&request, RouteForm::Loose)?,
        };
        let (transport, dest) = self.reachable(dest.transport, dest.target)?;
        match dest {
            Target::Addr(addr) => {
                let transport =
                    self.shared
                        .prepare_request(&mut request, transport, Some(addr.ip()), None)?;
                let id = lock(&self.shared.core).layer.send_request_as(
                    Instant::now(),
                    request,
                    Peer { transport, addr },
                    policy,
                )?;
                self.kick();
                Ok(id)
            }
            Target::Name(host, port) => {
                let first = transport;
                let transport = self
                    .shared
                    .prepare_request(&mut request, transport, None, None)?;
                // A destination given, or the next hop's URI, as RFC 3263
                // reads it; a request moved to TCP by its size stays there.
                let mut query =
                    query.unwrap_or_else(|| rfc3263::Query::pinned(host.clone(), transport, port));
                if transport != first {
                    query.transport = Some(transport);
                }
                let addr = self.shared.new_placeholder(&host, port);
                let result = lock(&self.shared.core).layer.send_request_as(
                    Instant::now(),
                    request,
                    Peer { transport, addr },
                    policy,
                );
                let id = match result {
                    Ok(id) => id,
                    Err(e) => {
                        self.shared.drop_placeholder(addr);
                        return Err(e.into());
                    }
                };
                self.shared.add_placeholder_owner(addr, id);
                let shared = self.shared.clone();
                self.shared
                    .resolutions
                    .run(shared.resolve_placeholder(addr, query, transport));
                self.kick();
                Ok(id)
            }
        }
    }

    /// Cancels INVITE client transaction `id` (RFC 3261 §9.1); returns the
    /// CANCEL's own client transaction.
    pub fn cancel(&self, id: ClientTxId) -> Result<ClientTxId, StackError> {
        self.running()?;
        let cancel = lock(&self.shared.core).layer.cancel(Instant::now(), id)?;
        self.shared.inherit_placeholder(id, cancel);
        self.kick();
        Ok(cancel)
    }

    /// Sends the ACK for a 2xx reported on client transaction `id`
    /// (§13.2.2.4); the layer re-sends it for each retransmission of that
    /// 2xx. With `dest: None` the next hop comes from the ACK's Route set or
    /// Request-URI.
    pub fn send_ack_for_2xx(
        &self,
        id: ClientTxId,
        mut ack: Request,
        dest: Option<Destination>,
    ) -> Result<(), StackError> {
        self.running()?;
        if ack.method != drachtio_sip::Method::Ack {
            return Err(LocalError::NotAck.into());
        }
        let (transport, dest) = self.destination(&ack, dest)?;
        match dest {
            Target::Addr(addr) => {
                let transport =
                    self.shared
                        .prepare_request(&mut ack, transport, Some(addr.ip()), None)?;
                lock(&self.shared.core).layer.send_ack_for_2xx(
                    Instant::now(),
                    id,
                    ack,
                    Peer { transport, addr },
                )?;
                self.kick();
            }
            Target::Name(host, port) => {
                let transport = self
                    .shared
                    .prepare_request(&mut ack, transport, None, None)?;
                self.shared
                    .after_resolving(host, port, transport, move |layer, peer| {
                        // Checked above: the method is ACK; a Via problem
                        // would have been caught by the same call on an address.
                        let _ = layer.send_ack_for_2xx(Instant::now(), id, ack, peer);
                    });
            }
        }
        Ok(())
    }

    /// Sends a message outside any transaction, as is but for the top Via
    /// of a request (set as in [`Stack::send_request`], with a new branch
    /// if the stack adds the Via). With `dest: None`, a request goes to its
    /// next hop and a response to its top Via (RFC 3261 §18.2.2).
    pub fn send_stateless(
        &self,
        message: Message,
        dest: Option<Destination>,
    ) -> Result<(), StackError> {
        self.running()?;
        let (transport, dest) = match (&message, dest) {
            (_, Some(d)) => (d.transport, d.target),
            (Message::Request(r), None) => {
                let d = route::next_hop(r, RouteForm::Loose)?;
                (d.transport, d.target)
            }
            (Message::Response(r), None) => {
                let transport = response_transport(r)?;
                let dest = response_target(&r.headers, transport.is_reliable())
                    .ok_or(StackError::NoRoute("the response has no usable Via"))?;
                (transport, dest)
            }
        };
        let (transport, dest) = self.reachable(transport, dest)?;
        let ip = match &dest {
            Target::Addr(a) => Some(a.ip()),
            Target::Name(..) => None,
        };
        let (message, transport) = match message {
            Message::Request(mut r) => {
                let branch = lock(&self.shared.core).layer.new_branch();
                let transport = self
                    .shared
                    .prepare_request(&mut r, transport, ip, Some(branch))?;
                (Message::Request(r), transport)
            }
            Message::Response(r) => {
                let v6 = ip.is_some_and(|ip| ip.is_ipv6());
                self.shared.check_response_size(transport, &r, v6)?;
                (Message::Response(r), transport)
            }
        };
        match dest {
            Target::Addr(addr) => {
                lock(&self.shared.core).layer.send_stateless(
                    Instant::now(),
                    message,
                    Peer { transport, addr },
                    None,
                );
                self.kick();
            }
            Target::Name(host, port) => {
                self.shared
                    .after_resolving(host, port, transport, move |layer, peer| {
                        layer.send_stateless(Instant::now(), message, peer, None);
                    });
            }
        }
        Ok(())
    }

    /// A fresh tag for a From or To header, from the layer's generator.
    pub fn new_tag(&self) -> String {
        lock(&self.shared.core).layer.new_tag()
    }

    /// The counters of the transport and of the transaction layer.
    pub fn stats(&self) -> Stats {
        let transactions = lock(&self.shared.core).layer.stats().clone();
        let mut gauges = self.shared.conn_gauges();
        gauges.events_queued = self.shared.events_queued() as u64;
        self.shared.counters.snapshot(gauges, transactions)
    }

    /// Loads the certificate, key and authorities of `tls` anew (e.g. renewed
    /// files) for the TLS handshakes that start from now on; connections
    /// already open keep theirs. On an error (a file that cannot be read or
    /// used, no certificate while a TLS or WSS listener needs one) nothing
    /// changes.
    pub fn reload_tls(&self, tls: &TlsConfig) -> io::Result<()> {
        let loaded = tls::Tls::load(tls)?;
        if let Some(secure) = self.shared.streams.iter().find(|s| s.transport.is_secure()) {
            if !loaded.can_accept() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "the {} listener needs a certificate and its key \
                         (tls_certificate, tls_key)",
                        secure.transport
                    ),
                ));
            }
        }
        self.shared.replace_tls(loaded);
        Ok(())
    }

    /// Starts closing without waiting: TCP listeners stop accepting, new
    /// requests are answered 503, pending transactions run until they end
    /// or `grace` has passed, then the runtime stops, the sockets are
    /// closed and [`StackEvent::Closed`] is queued. Idempotent: the first
    /// grace period stands.
    pub fn begin_close(&self, grace: Duration) {
        let mut deadline = lock(&self.shared.close_deadline);
        if deadline.is_none() {
            *deadline = Some(Instant::now() + grace);
            self.shared.closing.store(true, Ordering::SeqCst);
        }
        drop(deadline);
        self.shared.wake.notify_one();
    }

    /// [`Stack::begin_close`], then waits for the stack's thread to end (at
    /// most about `grace`). Called from the stack's own thread (inside
    /// `notify`), it does not wait.
    pub fn close(&self, grace: Duration) {
        self.begin_close(grace);
        if std::thread::current().id() == self.thread_id {
            return;
        }
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Each UDP socket's local address and descriptor, in the order
    /// [`Stack::receive_udp`] numbers them: the sockets to watch for
    /// [`UdpReader::Caller`]. The descriptors stay open until the stack has
    /// closed ([`StackEvent::Closed`]); watch a duplicate of each.
    pub fn udp_sockets(&self) -> Vec<(SocketAddr, RawFd)> {
        let udp = self
            .shared
            .udp
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        udp.iter()
            .map(|e| (e.local, e.socket.as_raw_fd()))
            .collect()
    }

    /// Reads the datagrams waiting on UDP socket `index` (up to a batch of
    /// 64; call again while the socket stays readable), hands them to the
    /// transaction layer and sends what they produce, on the calling thread
    /// ([`UdpReader::Caller`]). Their events are queued without `notify`:
    /// drain them after this returns. Returns the number of datagrams read,
    /// or `None` once the stack has closed its sockets.
    pub fn receive_udp(&self, index: usize) -> Option<usize> {
        let (socket, local) = {
            let udp = self
                .shared
                .udp
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let ep = udp.get(index)?;
            (ep.socket.clone(), ep.local)
        };
        Some(udp::receive_now(&self.shared, &socket, local))
    }

    /// After a call down changed the layer: with [`UdpReader::Caller`] send
    /// what it produced from this thread, otherwise wake the stack's thread
    /// to do it.
    fn kick(&self) {
        match self.shared.config.udp_reader {
            UdpReader::Caller => self.shared.pump(Vec::new()),
            UdpReader::StackThread => self.shared.wake.notify_one(),
        }
    }

    /// Whether the stack has stopped.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    fn running(&self) -> Result<(), StackError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            Err(StackError::Closed)
        } else {
            Ok(())
        }
    }

    fn accepting(&self) -> Result<(), StackError> {
        if self.shared.closing.load(Ordering::SeqCst) {
            Err(StackError::Closed)
        } else {
            Ok(())
        }
    }

    fn check_transport(&self, transport: Transport) -> Result<(), StackError> {
        let usable = match transport {
            Transport::Tcp => true,
            Transport::Udp | Transport::Tls | Transport::Ws | Transport::Wss => {
                self.shared.listens_on(transport)
            }
        };
        if usable {
            Ok(())
        } else {
            Err(StackError::NotListening(transport))
        }
    }

    /// `target` as the stack can reach it on `transport`: over WebSocket,
    /// an open connection's address ([`Shared::ws_target`]).
    fn reachable(
        &self,
        transport: Transport,
        target: Target,
    ) -> Result<(Transport, Target), StackError> {
        match transport {
            Transport::Ws | Transport::Wss => self.shared.ws_target(transport, target),
            Transport::Udp | Transport::Tcp | Transport::Tls => {
                self.check_transport(transport)?;
                Ok((transport, target))
            }
        }
    }

    fn destination(
        &self,
        request: &Request,
        dest: Option<Destination>,
    ) -> Result<(Transport, Target), StackError> {
        let Destination { transport, target } = match dest {
            Some(d) => d,
            None => route::next_hop(request, RouteForm::Loose)?,
        };
        self.reachable(transport, target)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.close(Duration::ZERO);
    }
}

type Bound = (
    Vec<UdpEndpoint>,
    Vec<StreamEndpoint>,
    Vec<(tokio::net::TcpListener, Transport)>,
);

/// Binds every listener of `config`, in the runtime's context.
fn bind_all(config: &StackConfig, tls: &tls::Tls) -> io::Result<Bound> {
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    let mut listeners = Vec::new();
    for spec in &config.listen {
        match spec.transport {
            Transport::Udp => {
                let socket = udp::bind(spec.addr, config.udp_recv_buffer)?;
                let local = socket.local_addr()?;
                udp.push(UdpEndpoint {
                    local,
                    socket: Arc::new(socket),
                    nat: spec.nat(local.port()),
                    backlog: Arc::default(),
                });
            }
            Transport::Tcp | Transport::Tls | Transport::Ws | Transport::Wss => {
                if spec.transport.is_secure() && !tls.can_accept() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "a {} listener needs a certificate and its key \
                             (tls_certificate, tls_key)",
                            spec.transport
                        ),
                    ));
                }
                let listener = tokio::net::TcpListener::from_std(tcp::bind(spec.addr)?)?;
                let local = listener.local_addr()?;
                tcp.push(StreamEndpoint {
                    transport: spec.transport,
                    local,
                    nat: spec.nat(local.port()),
                });
                listeners.push((listener, spec.transport));
            }
        }
    }
    Ok((udp, tcp, listeners))
}

/// The transport named in a response's top Via.
fn response_transport(response: &Response) -> Result<Transport, StackError> {
    let line = response
        .headers
        .get(&drachtio_sip::HeaderName::Via)
        .ok_or(StackError::NoRoute("the response has no Via"))?;
    let items = drachtio_sip::split_list(line);
    let via = items
        .first()
        .and_then(|v| drachtio_sip::Via::parse(&line.slice_ref(v)).ok())
        .ok_or(StackError::NoRoute("the response has no usable Via"))?;
    Ok(Transport::parse(&via.transport)?)
}

/// The stack's thread: the receive loops, the listeners and the driver,
/// until closing ends; then everything is dropped and `Closed` queued.
fn run(
    runtime: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    listeners: Vec<(tokio::net::TcpListener, Transport)>,
) {
    runtime.block_on(async {
        let udp: Vec<_> = {
            let eps = shared.udp.read().unwrap_or_else(PoisonError::into_inner);
            eps.iter().map(|e| (e.socket.clone(), e.local)).collect()
        };
        if shared.config.udp_reader == UdpReader::StackThread {
            for (socket, local) in udp {
                tokio::spawn(udp::receive_loop(shared.clone(), socket, local));
            }
        }
        let accepting: Vec<_> = listeners
            .into_iter()
            .map(|(l, transport)| tokio::spawn(tcp::accept_loop(shared.clone(), l, transport)))
            .collect();
        drive(&shared, accepting).await;
    });
    // Dropping the tasks closes every socket they own; the UDP sockets are
    // also held here.
    runtime.shutdown_background();
    shared
        .udp
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .clear();
    lock(&shared.conns).clear();
    shared.closed.store(true, Ordering::SeqCst);
    shared.flush_all_captures();
    shared.push_event(StackEvent::Closed, false);
}

/// Runs the layer's timers, flushes what callers queued, sends the capture
/// copies due, and ends the stack once closing is over.
async fn drive(shared: &Arc<Shared>, mut accepting: Vec<tokio::task::JoinHandle<()>>) {
    loop {
        lock(&shared.core).layer.handle_timeout(Instant::now());
        shared.pump(Vec::new());
        shared.gc_placeholders();
        shared.flush_capture(Instant::now());
        let grace = *lock(&shared.close_deadline);
        let next = {
            let mut core = lock(&shared.core);
            if let Some(grace) = grace {
                for l in accepting.drain(..) {
                    l.abort();
                }
                if core.layer.transaction_count() == (0, 0) || Instant::now() >= grace {
                    return;
                }
            }
            let next = earliest(core.layer.poll_timeout(), shared.capture_deadline());
            core.armed = next;
            earliest(next, grace)
        };
        match next {
            Some(at) => {
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = tokio::time::sleep_until(coalesce(at).into()) => {}
                }
            }
            None => shared.wake.notified().await,
        }
    }
}

/// The earlier of two instants, either of which may be missing.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Timers fire on a grid of this step: at 1,000 calls/s some 2,000 ended
/// transactions reach Timer J or L each second, each at its own instant,
/// and waking for each one cost more than the work it does.
const TIMER_STEP: Duration = Duration::from_millis(10);

/// `at`, moved up to the next multiple of [`TIMER_STEP`] (from an arbitrary
/// process-wide origin): no timer fires more than 10 ms late, none early.
fn coalesce(at: Instant) -> Instant {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    let Some(since) = at.checked_duration_since(origin) else {
        return at;
    };
    let step = TIMER_STEP.as_nanos();
    let rest = since.as_nanos() % step;
    if rest == 0 {
        at
    } else {
        at + Duration::from_nanos((step - rest) as u64)
    }
}
