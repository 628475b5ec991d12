//! The hub of a stack: the state shared by the runtime's tasks and the API
//! callers, and the pump that moves the transaction layer's outputs to the
//! transports ([`crate::send`]) and to the event queue.
//!
//! Locks, always taken in this order and never across an `.await`:
//! `send_order` → `placeholders` → `core` → `queue`; `conns`, `ws_names`
//! and `udp` are taken alone. [`Shared::pump`] runs on the runtime's thread, and with
//! [`crate::UdpReader::Caller`] on the caller's thread too; `send_order`
//! keeps the order in which the layer produced messages and events the
//! order in which they reach sockets and the queue.

use crate::capture::Capture;
use crate::config::StackConfig;
use crate::conns::{ConnTable, Limits};
use crate::dns::Dns;
use crate::resolve::{Placeholder, Resolutions};
use crate::route;
use crate::send::Failure;
use crate::stats::Counters;
use crate::stream::StreamEndpoint;
use crate::tls::Tls;
use crate::udp::UdpEndpoint;
use crate::ws::WsNames;
use crate::StackEvent;
use bytes::Bytes;
use drachtio_sip::transaction::{Incoming, Peer, TransactionLayer, TxEvent, TxId};
use drachtio_sip::{HeaderName, Message, ParseError, Request, Response};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;
use tokio::sync::Notify;

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
    /// Replaced whole by [`crate::Stack::reload_tls`]; a handshake uses
    /// the one current when it starts.
    tls: RwLock<Arc<Tls>>,
    pub(crate) conns: Mutex<ConnTable>,
    /// The names WebSocket clients gave, mapped to their connections.
    pub(crate) ws_names: Mutex<WsNames>,
    pub(crate) placeholders: Mutex<HashMap<SocketAddr, Placeholder>>,
    pub(crate) next_placeholder: AtomicU32,
    pub(crate) route_cache: Mutex<HashMap<IpAddr, IpAddr>>,
    /// When closing must end, once `close` was called.
    pub(crate) close_deadline: Mutex<Option<Instant>>,
    pub(crate) closing: AtomicBool,
    pub(crate) closed: AtomicBool,
    pub(crate) handle: tokio::runtime::Handle,
    /// Name resolutions, in the order asked for.
    pub(crate) resolutions: Resolutions,
    /// Where copies of the messages go, if anywhere.
    pub(crate) capture: Option<Capture>,
    /// The DNS resolver (RFC 3263) and its cache.
    pub(crate) dns: Dns,
}

impl Shared {
    pub(crate) fn new(
        config: StackConfig,
        notify: Arc<dyn Fn() + Send + Sync>,
        udp: Vec<UdpEndpoint>,
        streams: Vec<StreamEndpoint>,
        tls: Tls,
        capture: Option<Capture>,
        handle: tokio::runtime::Handle,
    ) -> Shared {
        let limits = Limits {
            inbound: config.max_tcp_connections,
            per_ip: config.max_tcp_connections_per_ip,
            outbound: config.max_tcp_outbound,
            idle_after: config.tcp_message_timeout,
        };
        let dns = {
            let _runtime = handle.enter();
            Dns::new(&config.nameservers)
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
            tls: RwLock::new(Arc::new(tls)),
            conns: Mutex::new(ConnTable::new(limits, Instant::now())),
            ws_names: Mutex::new(WsNames::default()),
            placeholders: Mutex::new(HashMap::new()),
            next_placeholder: AtomicU32::new(1),
            route_cache: Mutex::new(HashMap::new()),
            close_deadline: Mutex::new(None),
            closing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            resolutions: Resolutions::new(handle.clone()),
            capture,
            dns,
            handle,
        }
    }

    /// Queues an event that is not the layer's; `notify` runs after every
    /// lock is released.
    pub(crate) fn push_event(&self, event: StackEvent, bounded: bool) {
        let became_non_empty = lock(&self.queue).push(event, bounded, &self.counters);
        if became_non_empty {
            (self.notify)();
        }
    }

    /// The TLS certificates and authorities now.
    pub(crate) fn tls(&self) -> Arc<Tls> {
        self.tls
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Uses `tls` for the handshakes that start from now on.
    pub(crate) fn replace_tls(&self, tls: Tls) {
        *self.tls.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(tls);
    }

    /// How many events wait to be drained.
    pub(crate) fn events_queued(&self) -> usize {
        lock(&self.queue).events.len()
    }

    pub(crate) fn drain_events(&self, max: usize) -> Vec<StackEvent> {
        let mut q = lock(&self.queue);
        let n = max.min(q.events.len());
        q.events.drain(..n).collect()
    }

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
            let mut unanswered = Vec::new();
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
                while let Some(id) = core.layer.poll_unanswered() {
                    unanswered.push(id);
                }
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
            let again = !unanswered.is_empty();
            // RFC 3263 §4.3: what failed before any response tries the next target.
            self.fail_over(unanswered);
            drop(order);
            // After every lock is released: `notify` may call back into the stack.
            if notify && notify_consumer {
                (self.notify)();
            }
            if failures.is_empty() && !again {
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
        self.counters.parse_kinds.add(error.kind);
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
