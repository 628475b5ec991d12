//! Destinations named by a host name: resolution (A/AAAA), and the
//! placeholder addresses that let a client transaction start before it ends.

use crate::hub::{lock, Shared};
use crate::send::{not_listening, Failure, Outgoing};
use crate::StackEvent;
use drachtio_sip::transaction::{ClientTxId, Peer, TransactionLayer, Transmit, Transport, TxId};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use tokio::sync::mpsc;

/// Transmits held for a destination whose name is being resolved.
const MAX_HELD: usize = 8;

/// Resolutions waiting their turn (beyond it they run at once, unordered).
const MAX_QUEUED: usize = 4096;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs name resolutions, and the sends that wait for them, one after the
/// other in the order they were asked for: two messages to the same name
/// (a 2xx's ACK, then the next request of the dialog) then leave in the
/// order they were sent, whichever lookup would have finished first.
pub(crate) struct Resolutions {
    queue: mpsc::Sender<Job>,
    handle: tokio::runtime::Handle,
}

impl Resolutions {
    pub(crate) fn new(handle: tokio::runtime::Handle) -> Resolutions {
        let (queue, mut jobs) = mpsc::channel::<Job>(MAX_QUEUED);
        handle.spawn(async move {
            while let Some(job) = jobs.recv().await {
                job.await;
            }
        });
        Resolutions { queue, handle }
    }

    /// Runs `job` after those asked for before it.
    pub(crate) fn run(&self, job: impl Future<Output = ()> + Send + 'static) {
        if let Err(e) = self.queue.try_send(Box::pin(job)) {
            let job = match e {
                mpsc::error::TrySendError::Full(job) | mpsc::error::TrySendError::Closed(job) => {
                    job
                }
            };
            self.handle.spawn(job);
        }
    }
}

pub(crate) enum Resolution {
    Waiting(Vec<Transmit>),
    Resolved(SocketAddr),
    Failed(String),
}

/// A destination named by a host name: client transactions are started at
/// once with a placeholder address (`0.x.y.z`, never a real peer) that the
/// pump maps to the resolved one, so `send_request` returns its id without
/// waiting for DNS.
pub(crate) struct Placeholder {
    resolution: Resolution,
    /// The name being resolved.
    host: Arc<str>,
    /// The client transactions sending to it (an INVITE and its CANCEL).
    owners: Vec<ClientTxId>,
}

/// A transmit whose destination is known, with the host name it was
/// resolved from, if it was named.
pub(crate) type Named = (Transmit, Option<Arc<str>>);

pub(crate) fn is_placeholder(addr: SocketAddr) -> bool {
    matches!(addr.ip(), IpAddr::V4(ip) if ip.octets()[0] == 0 && !ip.is_unspecified())
}

impl Shared {
    /// `t` with a placeholder address replaced by the resolved one, and
    /// the name it was resolved from; `None` while the name is being
    /// resolved (`t` is held and sent after).
    pub(crate) fn resolved(&self, mut t: Transmit) -> Result<Option<Named>, Failure> {
        if !is_placeholder(t.peer.addr) {
            return Ok(Some((t, None)));
        }
        let mut ph = lock(&self.placeholders);
        let Some(placeholder) = ph.get_mut(&t.peer.addr) else {
            return Err(Failure {
                tx: t.tx,
                peer: t.peer,
                reason: "destination no longer known".into(),
            });
        };
        match &mut placeholder.resolution {
            Resolution::Resolved(addr) => {
                t.peer.addr = *addr;
                Ok(Some((t, Some(placeholder.host.clone()))))
            }
            Resolution::Waiting(held) => {
                if held.len() < MAX_HELD {
                    held.push(t);
                }
                Ok(None)
            }
            Resolution::Failed(reason) => Err(Failure {
                tx: t.tx,
                peer: t.peer,
                reason: reason.clone(),
            }),
        }
    }

    /// Resolves `host` (A/AAAA), then sends `out` to it on `out.peer`'s transport.
    pub(crate) fn send_after_resolving(
        self: &Arc<Self>,
        host: String,
        port: u16,
        mut out: Outgoing,
        local: Option<SocketAddr>,
    ) {
        out.name = Some(host.as_str().into());
        let shared = self.clone();
        self.resolutions.run(async move {
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

    /// A placeholder address for `host:port`, being resolved.
    pub(crate) fn new_placeholder(&self, host: &str, port: u16) -> SocketAddr {
        let n = self.next_placeholder.fetch_add(1, Ordering::Relaxed) % 0x00ff_ffff + 1;
        let [_, a, b, c] = n.to_be_bytes();
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(0, a, b, c)), port);
        lock(&self.placeholders).insert(
            addr,
            Placeholder {
                resolution: Resolution::Waiting(Vec::new()),
                host: host.into(),
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
            Ok(_) => {
                // Sent through the placeholder, now resolved, so that each
                // goes with the name it was resolved from.
                for t in held {
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
        self.resolutions.run(async move {
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
