//! The table of open stream connections (TCP, TLS), each known by its
//! transport and remote address, and the limits on them: a bound on
//! inbound (accepted) connections with eviction of an idle one at the
//! bound, a bound per source address, and a separate budget for the
//! connections the stack opens itself. Sans-IO: every decision takes `now`.
//!
//! A connection is *in use* while it carries SIP messages: its last
//! message, in either direction, is less than `idle_after` old. At the
//! inbound bound a new connection takes the place of one that is not in
//! use: first the oldest that has not carried a single message yet (a peer
//! that opens connections and sends nothing), then the one whose last
//! message is the oldest. A connection in use is never evicted; when every
//! one is, the new connection is refused.
//!
//! The table also counts the connections by direction and transport: each
//! inbound one is opened when admitted, each outbound one when the stack
//! has connected it, and each of those closed when it leaves the table.

use crate::send::Outgoing;
use crate::stats::{ByDirection, ByTransport, Connections};
use drachtio_sip::transaction::Peer;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Messages queued for one connection before sends to it fail.
const CONN_QUEUE: usize = 1024;

/// Who opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Accepted from a peer.
    Inbound,
    /// Opened by the stack to send.
    Outbound,
}

/// The bounds of a [`ConnTable`] (`StackConfig` fields of the same meaning).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) inbound: usize,
    pub(crate) per_ip: usize,
    pub(crate) outbound: usize,
    pub(crate) idle_after: Duration,
}

/// When a connection last carried a SIP message: written by its task,
/// read by the table when it looks for a connection to evict.
#[derive(Debug)]
pub(crate) struct Activity {
    origin: Instant,
    /// Milliseconds after `origin`; `NEVER` until the first message.
    last_ms: AtomicU64,
}

const NEVER: u64 = u64::MAX;

impl Activity {
    fn new(origin: Instant) -> Activity {
        Activity {
            origin,
            last_ms: AtomicU64::new(NEVER),
        }
    }

    /// A SIP message was read from or written to the connection at `now`.
    pub(crate) fn message(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.origin).as_millis();
        self.last_ms
            .store(u64::try_from(ms).unwrap_or(NEVER - 1), Ordering::Relaxed);
    }

    fn last(&self) -> Option<Duration> {
        match self.last_ms.load(Ordering::Relaxed) {
            NEVER => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
}

/// One open connection.
pub(crate) struct Conn {
    pub(crate) id: u64,
    /// Dropping the table's sender ends the connection's task once it has
    /// written what was queued.
    pub(crate) sender: mpsc::Sender<Outgoing>,
    direction: Direction,
    /// Counted as opened: inbound ones from their admission, outbound
    /// ones once connected.
    counted: bool,
    /// When it was accepted or opened, after the table's origin.
    opened: Duration,
    activity: Arc<Activity>,
}

/// What a connection's task gets when the table admits it.
pub(crate) struct Registered {
    pub(crate) id: u64,
    pub(crate) rx: mpsc::Receiver<Outgoing>,
    pub(crate) activity: Arc<Activity>,
}

/// The answer to a connection accepted from a peer.
pub(crate) enum Admission {
    /// Admitted; the connection to `evicted`, if any, made room for it
    /// (its task ends).
    Admitted {
        conn: Registered,
        evicted: Option<Peer>,
    },
    /// Its address already has `per_ip` inbound connections.
    PerIpLimit,
    /// `inbound` connections are open and all are in use.
    Full,
}

/// Open connections by transport and remote address, with their counts: a
/// TCP and a TLS connection to one address are two connections.
pub(crate) struct ConnTable {
    limits: Limits,
    origin: Instant,
    by_peer: HashMap<Peer, Conn>,
    per_ip: HashMap<IpAddr, usize>,
    inbound: usize,
    outbound: usize,
    next_id: u64,
    opened: ByDirection,
    closed: ByDirection,
}

/// The counts of `direction` in `counts`.
fn of(counts: &mut ByDirection, direction: Direction) -> &mut ByTransport {
    match direction {
        Direction::Inbound => &mut counts.inbound,
        Direction::Outbound => &mut counts.outbound,
    }
}

impl ConnTable {
    pub(crate) fn new(limits: Limits, origin: Instant) -> ConnTable {
        ConnTable {
            limits,
            origin,
            by_peer: HashMap::new(),
            per_ip: HashMap::new(),
            inbound: 0,
            outbound: 0,
            next_id: 1,
            opened: ByDirection::default(),
            closed: ByDirection::default(),
        }
    }

    pub(crate) fn get(&self, remote: &Peer) -> Option<&Conn> {
        self.by_peer.get(remote)
    }

    /// Listed connections: (inbound, outbound), outbound ones being
    /// connected included (they count toward the outbound budget).
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.inbound, self.outbound)
    }

    /// The connections opened, closed, and open now (opened and not closed).
    pub(crate) fn connections(&self) -> Connections {
        let minus = |a: &ByTransport, b: &ByTransport| {
            ByTransport(std::array::from_fn(|i| a.0[i] - b.0[i]))
        };
        Connections {
            open: ByDirection {
                inbound: minus(&self.opened.inbound, &self.closed.inbound),
                outbound: minus(&self.opened.outbound, &self.closed.outbound),
            },
            opened: self.opened,
            closed: self.closed,
        }
    }

    /// The stack has connected connection `id` to `remote`, which it
    /// opened: counted as opened if it is still the one listed.
    pub(crate) fn connected(&mut self, remote: &Peer, id: u64) {
        if let Some(conn) = self.by_peer.get_mut(remote).filter(|c| c.id == id) {
            if !conn.counted {
                conn.counted = true;
                self.opened.outbound[remote.transport] += 1;
            }
        }
    }

    /// Admits a connection accepted from `remote` at `now`, evicting a
    /// connection not in use when the inbound bound is reached.
    pub(crate) fn admit_inbound(&mut self, now: Instant, remote: Peer) -> Admission {
        if self.per_ip.get(&remote.addr.ip()).copied().unwrap_or(0) >= self.limits.per_ip {
            return Admission::PerIpLimit;
        }
        let mut evicted = None;
        if self.inbound >= self.limits.inbound {
            let Some(peer) = self.eviction_candidate(now) else {
                return Admission::Full;
            };
            self.take(&peer);
            evicted = Some(peer);
        }
        let conn = self.insert(now, remote, Direction::Inbound);
        Admission::Admitted { conn, evicted }
    }

    /// Registers a connection the stack opens to `remote`; `None` when the
    /// outbound budget is spent.
    pub(crate) fn open_outbound(&mut self, now: Instant, remote: Peer) -> Option<Registered> {
        if self.outbound >= self.limits.outbound {
            return None;
        }
        Some(self.insert(now, remote, Direction::Outbound))
    }

    /// Forgets connection `id` to `remote` if it is still the one listed;
    /// returns whether it was.
    pub(crate) fn remove(&mut self, remote: &Peer, id: u64) -> bool {
        if self.by_peer.get(remote).is_some_and(|c| c.id == id) {
            self.take(remote);
            true
        } else {
            false
        }
    }

    /// Forgets every connection (the stack has stopped).
    pub(crate) fn clear(&mut self) {
        for (remote, conn) in self.by_peer.drain() {
            if conn.counted {
                of(&mut self.closed, conn.direction)[remote.transport] += 1;
            }
        }
        self.per_ip.clear();
        self.inbound = 0;
        self.outbound = 0;
    }

    fn insert(&mut self, now: Instant, remote: Peer, direction: Direction) -> Registered {
        let (sender, rx) = mpsc::channel(CONN_QUEUE);
        let id = self.next_id;
        self.next_id += 1;
        let activity = Arc::new(Activity::new(self.origin));
        let conn = Conn {
            id,
            sender,
            direction,
            counted: direction == Direction::Inbound,
            opened: now.saturating_duration_since(self.origin),
            activity: activity.clone(),
        };
        // A second connection with the same transport and remote address
        // (through another listener): the first is no longer reachable by
        // them, so it is ended rather than left uncounted.
        self.take(&remote);
        if conn.counted {
            of(&mut self.opened, direction)[remote.transport] += 1;
        }
        match direction {
            Direction::Inbound => {
                self.inbound += 1;
                *self.per_ip.entry(remote.addr.ip()).or_insert(0) += 1;
            }
            Direction::Outbound => self.outbound += 1,
        }
        self.by_peer.insert(remote, conn);
        Registered { id, rx, activity }
    }

    fn take(&mut self, remote: &Peer) -> Option<Conn> {
        let conn = self.by_peer.remove(remote)?;
        if conn.counted {
            of(&mut self.closed, conn.direction)[remote.transport] += 1;
        }
        match conn.direction {
            Direction::Inbound => {
                self.inbound -= 1;
                if let Some(n) = self.per_ip.get_mut(&remote.addr.ip()) {
                    *n -= 1;
                    if *n == 0 {
                        self.per_ip.remove(&remote.addr.ip());
                    }
                }
            }
            Direction::Outbound => self.outbound -= 1,
        }
        Some(conn)
    }

    /// The inbound connection to evict at `now`, if one is not in use:
    /// the oldest without a message yet, else the one whose last message
    /// is the oldest and older than `idle_after`.
    fn eviction_candidate(&self, now: Instant) -> Option<Peer> {
        let now = now.saturating_duration_since(self.origin);
        let inbound = self
            .by_peer
            .iter()
            .filter(|(_, c)| c.direction == Direction::Inbound);
        let silent = inbound
            .clone()
            .filter(|(_, c)| c.activity.last().is_none())
            .min_by_key(|(_, c)| c.opened);
        if let Some((addr, _)) = silent {
            return Some(*addr);
        }
        inbound
            .filter_map(|(addr, c)| c.activity.last().map(|last| (addr, last)))
            .filter(|(_, last)| now.saturating_sub(*last) >= self.limits.idle_after)
            .min_by_key(|(_, last)| *last)
            .map(|(addr, _)| *addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drachtio_sip::transaction::Transport;

    const LIMITS: Limits = Limits {
        inbound: 3,
        per_ip: 2,
        outbound: 1,
        idle_after: Duration::from_secs(20),
    };

    /// A TCP peer.
    fn addr(s: &str) -> Peer {
        Peer {
            transport: Transport::Tcp,
            addr: s.parse().unwrap(),
        }
    }

    /// A table on a simulated clock: `at(s)` is `s` seconds after its origin.
    struct Sim {
        table: ConnTable,
        origin: Instant,
        conns: HashMap<Peer, Registered>,
    }

    impl Sim {
        fn new() -> Sim {
            let origin = Instant::now();
            Sim {
                table: ConnTable::new(LIMITS, origin),
                origin,
                conns: HashMap::new(),
            }
        }

        fn at(&self, secs: u64) -> Instant {
            self.origin + Duration::from_secs(secs)
        }

        /// Accepts `remote` at `secs`: the address evicted, or the refusal.
        fn accept(&mut self, secs: u64, remote: &str) -> Result<Option<Peer>, &'static str> {
            let remote = addr(remote);
            match self.table.admit_inbound(self.at(secs), remote) {
                Admission::Admitted { conn, evicted } => {
                    if let Some(gone) = evicted {
                        let mut rx = self.conns.remove(&gone).unwrap().rx;
                        assert!(
                            matches!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)),
                            "the evicted connection's task is told to end"
                        );
                    }
                    self.conns.insert(remote, conn);
                    Ok(evicted)
                }
                Admission::PerIpLimit => Err("per ip"),
                Admission::Full => Err("full"),
            }
        }

        fn message(&self, secs: u64, remote: &str) {
            self.conns[&addr(remote)].activity.message(self.at(secs));
        }
    }

    #[test]
    fn at_the_bound_the_oldest_silent_connection_goes_first() {
        let mut sim = Sim::new();
        assert_eq!(sim.accept(0, "192.0.2.1:1000"), Ok(None));
        assert_eq!(sim.accept(1, "192.0.2.2:1000"), Ok(None));
        assert_eq!(sim.accept(2, "192.0.2.3:1000"), Ok(None));
        sim.message(2, "192.0.2.1:1000");
        // .2 and .3 never sent a message: the older of them, .2, goes.
        assert_eq!(
            sim.accept(3, "192.0.2.4:1000"),
            Ok(Some(addr("192.0.2.2:1000")))
        );
        sim.message(3, "192.0.2.3:1000");
        sim.message(3, "192.0.2.4:1000");
        // Every one is in use: refused.
        assert_eq!(sim.accept(4, "192.0.2.5:1000"), Err("full"));
        // 20 s after its last message .1 is no longer in use; .3 and .4 are.
        assert_eq!(sim.accept(21, "192.0.2.5:1000"), Err("full"));
        assert_eq!(
            sim.accept(22, "192.0.2.5:1000"),
            Ok(Some(addr("192.0.2.1:1000")))
        );
        assert_eq!(sim.table.counts(), (3, 0));
    }

    #[test]
    fn the_longest_unused_goes_when_none_is_silent() {
        let mut sim = Sim::new();
        for (i, a) in ["192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1"]
            .iter()
            .enumerate()
        {
            sim.accept(0, a).unwrap();
            sim.message(10 - i as u64, a);
        }
        // Last messages at 10, 9 and 8 s: .3 has been unused the longest.
        assert_eq!(sim.accept(40, "192.0.2.9:1"), Ok(Some(addr("192.0.2.3:1"))));
        sim.message(40, "192.0.2.9:1");
        assert_eq!(sim.accept(40, "192.0.2.8:1"), Ok(Some(addr("192.0.2.2:1"))));
        // The newcomer has sent nothing yet: the next one takes its place.
        assert_eq!(sim.accept(40, "192.0.2.7:1"), Ok(Some(addr("192.0.2.8:1"))));
    }

    #[test]
    fn one_address_has_at_most_per_ip_inbound_connections() {
        let mut sim = Sim::new();
        assert_eq!(sim.accept(0, "192.0.2.1:1000"), Ok(None));
        assert_eq!(sim.accept(0, "192.0.2.1:1001"), Ok(None));
        assert_eq!(sim.accept(0, "192.0.2.1:1002"), Err("per ip"));
        // Another address is not affected, and a closed one frees its place.
        assert_eq!(sim.accept(0, "[2001:db8::1]:1000"), Ok(None));
        let id = sim.conns[&addr("192.0.2.1:1000")].id;
        assert!(sim.table.remove(&addr("192.0.2.1:1000"), id));
        assert!(!sim.table.remove(&addr("192.0.2.1:1000"), id), "only once");
        assert_eq!(sim.accept(1, "192.0.2.1:1003"), Ok(None));
        // The address of the evicted connection counts one less too.
        sim.message(1, "192.0.2.1:1001");
        sim.message(1, "192.0.2.1:1003");
        assert_eq!(
            sim.accept(1, "192.0.2.7:1"),
            Ok(Some(addr("[2001:db8::1]:1000")))
        );
        assert_eq!(
            sim.table.per_ip.get(&addr("[2001:db8::1]:1").addr.ip()),
            None
        );
    }

    #[test]
    fn outbound_connections_have_their_own_budget() {
        let mut sim = Sim::new();
        for (i, a) in ["192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1"]
            .iter()
            .enumerate()
        {
            sim.accept(0, a).unwrap();
            sim.message(i as u64, a);
        }
        assert_eq!(sim.accept(3, "192.0.2.4:1"), Err("full"));
        // The inbound bound is reached, yet the stack may open one...
        let out = sim
            .table
            .open_outbound(sim.at(1), addr("198.51.100.1:5060"));
        assert!(out.is_some());
        // ...and only one, whatever the inbound side holds.
        assert!(sim
            .table
            .open_outbound(sim.at(1), addr("198.51.100.2:5060"))
            .is_none());
        assert_eq!(sim.table.counts(), (3, 1));
        // Outbound connections are never evicted for inbound ones.
        assert_eq!(sim.accept(30, "192.0.2.4:1"), Ok(Some(addr("192.0.2.1:1"))));
        assert!(sim.table.get(&addr("198.51.100.1:5060")).is_some());
    }

    #[test]
    fn a_second_connection_from_one_address_replaces_the_first() {
        let mut sim = Sim::new();
        let first = sim
            .table
            .open_outbound(sim.at(0), addr("192.0.2.1:5060"))
            .unwrap();
        sim.accept(0, "192.0.2.1:5060").unwrap();
        assert_eq!(sim.table.counts(), (1, 0));
        assert!(!sim.table.remove(&addr("192.0.2.1:5060"), first.id));
        // The first one's channel is closed: its task ends.
        let mut rx = first.rx;
        assert!(matches!(
            rx.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn connections_are_counted_by_direction_and_transport() {
        let mut sim = Sim::new();
        let ws = Peer {
            transport: Transport::Ws,
            ..addr("192.0.2.1:1000")
        };
        let tls = Peer {
            transport: Transport::Tls,
            ..addr("198.51.100.1:5061")
        };
        sim.accept(0, "192.0.2.1:1000").unwrap();
        assert!(matches!(
            sim.table.admit_inbound(sim.at(0), ws),
            Admission::Admitted { .. }
        ));
        let out = sim.table.open_outbound(sim.at(0), tls).unwrap();
        let c = sim.table.connections();
        assert_eq!(c.opened.inbound[Transport::Tcp], 1);
        assert_eq!(c.opened.inbound[Transport::Ws], 1);
        // Still connecting: neither opened nor open.
        assert_eq!(c.opened.outbound.total(), 0);
        assert_eq!(c.open.total(), 2);
        sim.table.connected(&tls, out.id);
        sim.table.connected(&tls, out.id);
        let c = sim.table.connections();
        assert_eq!(c.opened.outbound[Transport::Tls], 1, "counted once");
        assert_eq!(c.open.outbound[Transport::Tls], 1);

        // Closed: gone from `open`, counted in `closed`, by its transport.
        assert!(sim.table.remove(&ws, sim.table.get(&ws).unwrap().id));
        let c = sim.table.connections();
        assert_eq!(c.closed.inbound[Transport::Ws], 1);
        assert_eq!(c.open.inbound[Transport::Ws], 0);
        assert_eq!(c.open.inbound[Transport::Tcp], 1);

        // An outbound connection that never connected is never counted.
        let never = addr("198.51.100.2:5060");
        assert!(
            sim.table.open_outbound(sim.at(1), never).is_none(),
            "the outbound budget is one"
        );
        assert!(sim.table.remove(&tls, out.id));
        let pending = sim.table.open_outbound(sim.at(1), never).unwrap();
        assert!(sim.table.remove(&never, pending.id));
        let c = sim.table.connections();
        assert_eq!(c.opened.outbound.total(), 1);
        assert_eq!(c.closed.outbound[Transport::Tls], 1);
        assert_eq!(c.closed.outbound[Transport::Tcp], 0);

        // The stack stops: every one left is closed.
        sim.table.clear();
        let c = sim.table.connections();
        assert_eq!(c.open.total(), 0);
        assert_eq!(c.closed, c.opened);
        assert_eq!(c.closed.total(), 3);
    }

    #[test]
    fn tcp_and_tls_connections_to_one_address_are_two_connections() {
        let mut sim = Sim::new();
        let tcp = addr("192.0.2.1:5061");
        let tls = Peer {
            transport: Transport::Tls,
            ..tcp
        };
        assert!(matches!(
            sim.table.admit_inbound(sim.at(0), tcp),
            Admission::Admitted { evicted: None, .. }
        ));
        let out = sim.table.open_outbound(sim.at(0), tls).unwrap();
        assert_eq!(sim.table.counts(), (1, 1));
        assert!(sim.table.get(&tcp).is_some());
        assert_eq!(sim.table.get(&tls).map(|c| c.id), Some(out.id));
        // Closing one leaves the other.
        assert!(sim.table.remove(&tls, out.id));
        assert!(sim.table.get(&tcp).is_some());
        assert_eq!(sim.table.counts(), (1, 0));
    }
}
