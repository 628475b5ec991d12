//! Destinations named by a host name: resolution (RFC 3263, `dns.rs`), the
//! placeholder addresses that let a client transaction start before it
//! ends, and failover to the next target.

use crate::hub::{lock, Shared};
use crate::rfc3263::Query;
use crate::route;
use crate::send::{not_listening, Failure, Outgoing};
use crate::stats::Counters;
use crate::StackEvent;
use drachtio_sip::transaction::{
    ClientState, ClientTxId, Peer, TransactionLayer, Transmit, Transport, TxId,
};
use drachtio_sip::{HeaderName, Request};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Instant;
use tokio::sync::mpsc;

/// Transmits held for a destination whose name is being resolved (dropped
/// when it is: the transactions are then sent again, `retarget`).
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
    /// The targets in the order to try them (RFC 3263), and the one in use.
    Resolved(Vec<Peer>, usize),
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
    /// resolved (`t` is held, and dropped once the resolution has sent its
    /// transaction again).
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
            Resolution::Resolved(targets, current) => {
                t.peer = targets[*current];
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
        let query = Query::pinned(host.to_string(), transport, port);
        let targets = self
            .dns
            .targets(&query, &[transport], |p| self.can_send_to(p))
            .await?;
        Ok(targets[0].addr)
    }

    /// Whether the stack has a socket for `peer`: UDP needs one of the
    /// address's family.
    fn can_send_to(&self, peer: Peer) -> bool {
        peer.transport != Transport::Udp
            || self
                .udp
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(|e| e.local.is_ipv6() == peer.addr.is_ipv6())
    }

    /// The transports a resolution may choose (RFC 3263 §4.1): those the
    /// stack has listeners of, and TCP.
    fn supported(&self) -> Vec<Transport> {
        [Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .filter(|t| *t == Transport::Tcp || self.listens_on(*t))
            .collect()
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

    /// Resolves placeholder `addr` (RFC 3263) and sends its transactions
    /// to the first target, each able to fail over to the next; on failure
    /// they end with a transport error.
    pub(crate) async fn resolve_placeholder(
        self: Arc<Self>,
        addr: SocketAddr,
        query: Query,
        transport: Transport,
    ) {
        // What the transactions queued so far is taken from the layer now and
        // held, so that none of it leaves once they are retargeted (the
        // request would go twice).
        self.pump(Vec::new());
        let supported = self.supported();
        let result = self
            .dns
            .targets(&query, &supported, |p| self.can_send_to(p))
            .await;
        let owners = {
            let mut ph = lock(&self.placeholders);
            let Some(p) = ph.get_mut(&addr) else {
                return;
            };
            p.resolution = match &result {
                Ok(targets) => Resolution::Resolved(targets.clone(), 0),
                Err(reason) => Resolution::Failed(reason.clone()),
            };
            // What waited is sent again by `retarget`.
            p.owners.clone()
        };
        let mut failures = Vec::new();
        match result {
            Ok(targets) => {
                let more = targets.len() > 1;
                for id in owners {
                    self.retarget(id, addr, targets[0], more, None);
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

    /// Sends client transaction `id` to `target`, its top Via rewritten for
    /// that transport (with `branch`, a new attempt, RFC 3263 §4.3); with
    /// `more`, a failure before any response comes back for the next target.
    /// The layer keeps placeholder `addr` as the peer, with the target's
    /// transport: each message is mapped to the target in use when it is
    /// sent, with the name it was resolved from (TLS verifies against it).
    fn retarget(
        &self,
        id: ClientTxId,
        addr: SocketAddr,
        target: Peer,
        more: bool,
        branch: Option<String>,
    ) {
        let sent_by = self.sent_by(target.transport, Some(target.addr.ip()));
        let rewrite = |r: &mut Request| {
            route::set_top_via(&mut r.headers, target.transport, &sent_by, None);
            if let Some(b) = branch {
                set_branch(r, &b);
            }
        };
        // An error means the transaction has ended or been answered meanwhile.
        let peer = Peer {
            transport: target.transport,
            addr,
        };
        let _ = lock(&self.core)
            .layer
            .retarget(Instant::now(), id, peer, more, rewrite);
    }

    /// Client transactions that failed before any response (a timeout, a
    /// transport error) and may fail over: each goes to the next target of
    /// its placeholder as a new attempt with a new branch, or ends.
    pub(crate) fn fail_over(&self, unanswered: Vec<ClientTxId>) {
        for id in unanswered {
            let next = {
                let mut ph = lock(&self.placeholders);
                ph.iter_mut()
                    .find(|(_, p)| p.owners.contains(&id))
                    .and_then(|(addr, p)| match &mut p.resolution {
                        Resolution::Resolved(targets, current) if *current + 1 < targets.len() => {
                            *current += 1;
                            Some((*addr, targets[*current], *current + 1 < targets.len()))
                        }
                        _ => None,
                    })
            };
            match next {
                Some((addr, target, more)) => {
                    Counters::inc(&self.counters.dns_failovers);
                    let branch = lock(&self.core).layer.new_branch();
                    self.retarget(id, addr, target, more, Some(branch));
                }
                None => lock(&self.core).layer.give_up(Instant::now(), id),
            }
        }
    }

    /// ICMP said `addrs` are unreachable over UDP: the transactions whose
    /// DNS target in use is one of them, still without a response, fail
    /// with a transport error (and so fail over, RFC 3263 §4.3).
    pub(crate) fn unreachable(self: &Arc<Self>, addrs: &[SocketAddr]) {
        let failures: Vec<Failure> = {
            let ph = lock(&self.placeholders);
            let core = lock(&self.core);
            let waiting = |id: &ClientTxId| {
                matches!(
                    core.layer.client_state(*id),
                    Some(ClientState::Calling | ClientState::Trying)
                )
            };
            ph.values()
                .filter_map(|p| match &p.resolution {
                    Resolution::Resolved(targets, current) => {
                        let target = targets[*current];
                        (target.transport == Transport::Udp && addrs.contains(&target.addr))
                            .then_some((target, &p.owners))
                    }
                    _ => None,
                })
                .flat_map(|(target, owners)| {
                    owners
                        .iter()
                        .filter(|id| waiting(id))
                        .map(move |id| Failure {
                            tx: Some(TxId::Client(*id)),
                            peer: target,
                            reason: format!("{} is unreachable (ICMP)", target.addr),
                        })
                })
                .collect()
        };
        if !failures.is_empty() {
            self.pump(failures);
        }
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

/// Replaces the branch of `request`'s top Via (a new attempt, RFC 3263 §4.3).
fn set_branch(request: &mut Request, branch: &str) {
    let Some(line) = request.headers.get(&HeaderName::Via) else {
        return;
    };
    let items = drachtio_sip::split_list(line);
    let Some(first) = items.first() else {
        return;
    };
    let top = line.slice_ref(first).to_string();
    let lower = top.to_ascii_lowercase();
    let Some(at) = lower.find(";branch=") else {
        return;
    };
    let start = at + ";branch=".len();
    let end = top[start..]
        .find([';', ',', ' '])
        .map_or(top.len(), |n| start + n);
    let value = format!("{}{branch}{}", &top[..start], &top[end..]);
    request
        .headers
        .replace_first_value(&HeaderName::Via, Some(&value));
}
