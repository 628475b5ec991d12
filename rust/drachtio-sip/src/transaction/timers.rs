//! The transaction timers and the table of their deadlines.

use super::{ClientTxId, ServerTxId, TxId};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// The timers of RFC 3261 §17 (Table 4) and RFC 6026, plus the two the UA
/// core needs below the application. Timer C is a proxy timer and absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// INVITE request retransmit, T1 doubling, unreliable only (§17.1.1.2).
    A,
    /// INVITE client timeout, 64*T1 (§17.1.1.2).
    B,
    /// Wait for response retransmissions in Completed, 32 s, 0 on reliable (§17.1.1.2).
    D,
    /// Non-INVITE request retransmit, T1 doubling to T2, unreliable only (§17.1.2.2).
    E,
    /// Non-INVITE client timeout, 64*T1 (§17.1.2.2).
    F,
    /// INVITE non-2xx response retransmit, T1 doubling to T2, unreliable only (§17.2.1).
    G,
    /// Wait for ACK, 64*T1 (§17.2.1).
    H,
    /// Wait for ACK retransmissions in Confirmed, T4, 0 on reliable (§17.2.1).
    I,
    /// Wait for non-INVITE request retransmissions, 64*T1, 0 on reliable (§17.2.2).
    J,
    /// Wait for non-INVITE response retransmissions, T4, 0 on reliable (§17.1.2.2).
    K,
    /// INVITE server Accepted state, 64*T1 (RFC 6026 §8.7).
    L,
    /// INVITE client Accepted state, 64*T1 (RFC 6026 §8.4).
    M,
    /// 2xx retransmit by the UAS core, T1 doubling to T2 (RFC 3261 §13.3.1.4).
    Retransmit2xx,
    /// No final response 64*T1 after sending CANCEL: give up (RFC 3261 §9.1).
    CancelWait,
    /// Reliable provisional response retransmit, T1 doubling, until its
    /// PRACK or for 64*T1 (RFC 3262 §3).
    Reliable1xx,
}

impl Timer {
    const ALL: [Timer; 15] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
        Timer::Retransmit2xx,
        Timer::CancelWait,
        Timer::Reliable1xx,
    ];

    /// A timer after which a transaction that only lingers (absorbing
    /// retransmissions) is dropped: firing it later changes nothing on
    /// the wire. Timer L also reports a missing ACK and ends the 2xx
    /// retransmissions: it joins the grid only once the ACK has come
    /// ([`TimerTable::move_to_grid`]).
    fn lingers(self) -> bool {
        matches!(self, Timer::D | Timer::I | Timer::J | Timer::K | Timer::M)
    }
}

/// Lingering timers ([`Timer::lingers`]) fire on a grid of this step (in
/// ns from the table's epoch), never early: ended transactions are then
/// dropped in a few batches per second instead of one wake-up each (at 300
/// calls/s some 600 a second reach Timer J or L, each at its own instant).
const LINGER_STEP_NS: u64 = 250_000_000;

/// Every armed timer, ordered by deadline. Each (transaction, timer) pair is
/// armed at most once; stopping one removes it, so the table holds nothing
/// for a terminated transaction.
///
/// Compact, because ended transactions keep a timer for 64*T1 (Timers J and
/// L: some 64,000 at 1,000 calls/s): a deadline is kept as nanoseconds since
/// the first clock reading given, and the transaction and timer are packed into one
/// `u64` (16 bytes per entry in each structure, instead of 40).
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    epoch: Option<Instant>,
    queue: BTreeSet<(u64, u64)>,
    armed: HashMap<u64, u64>,
}

/// `id` and `timer` in one number: the id shifted left by 5 bits, one bit
/// for a server transaction, four for the timer.
fn pack(id: TxId, timer: Timer) -> u64 {
    let (n, server) = match id {
        TxId::Client(c) => (c.0, 0),
        TxId::Server(s) => (s.0, 1),
    };
    debug_assert!(n < 1 << 59, "transaction id out of range");
    n << 5 | server << 4 | timer as u64
}

/// The inverse of [`pack`]: `Timer::ALL` lists the timers in declaration
/// order, so a timer's discriminant is its index there.
fn unpack(packed: u64) -> (TxId, Timer) {
    let n = packed >> 5;
    let id = if packed >> 4 & 1 == 1 {
        TxId::Server(ServerTxId(n))
    } else {
        TxId::Client(ClientTxId(n))
    };
    (id, Timer::ALL[(packed & 0xf) as usize])
}

impl TimerTable {
    fn offset(&self, at: Instant) -> u64 {
        let epoch = self.epoch.expect("an offset without an epoch");
        u64::try_from(at.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn instant(&self, offset: u64) -> Instant {
        // `epoch` is set before any deadline is stored.
        self.epoch.expect("a deadline without an epoch") + Duration::from_nanos(offset)
    }

    /// Arms `timer` of `id` for `at` (a lingering timer for `at` moved up
    /// to the next multiple of 250 ms from the epoch), replacing its deadline if it was
    /// armed. `now` is the caller's clock reading (deadlines are counted
    /// from the first one given).
    pub fn set(&mut self, id: TxId, timer: Timer, now: Instant, at: Instant) {
        let key = pack(id, timer);
        self.epoch.get_or_insert(now);
        let mut at = self.offset(at);
        if timer.lingers() && at > self.offset(now) {
            at = at.div_ceil(LINGER_STEP_NS).saturating_mul(LINGER_STEP_NS);
        }
        if let Some(old) = self.armed.insert(key, at) {
            self.queue.remove(&(old, key));
        }
        self.queue.insert((at, key));
    }

    /// Moves an armed timer's deadline up to the lingering grid (never
    /// earlier): for Timer L once the transaction only lingers.
    pub fn move_to_grid(&mut self, id: TxId, timer: Timer) {
        let key = pack(id, timer);
        if let Some(at) = self.armed.get_mut(&key) {
            let moved = at.div_ceil(LINGER_STEP_NS).saturating_mul(LINGER_STEP_NS);
            if moved != *at {
                self.queue.remove(&(*at, key));
                *at = moved;
                self.queue.insert((moved, key));
            }
        }
    }

    pub fn stop(&mut self, id: TxId, timer: Timer) {
        let key = pack(id, timer);
        if let Some(at) = self.armed.remove(&key) {
            self.queue.remove(&(at, key));
        }
    }

    pub fn stop_all(&mut self, id: TxId) {
        for t in Timer::ALL {
            self.stop(id, t);
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.first().map(|&(at, _)| self.instant(at))
    }

    /// Removes and returns the earliest timer due at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(TxId, Timer)> {
        let &(at, key) = self.queue.first()?;
        if self.instant(at) > now {
            return None;
        }
        self.queue.pop_first();
        self.armed.remove(&key);
        Some(unpack(key))
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.armed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        for timer in Timer::ALL {
            for id in [
                TxId::Client(ClientTxId(1)),
                TxId::Server(ServerTxId(1)),
                TxId::Server(ServerTxId((1 << 59) - 1)),
            ] {
                assert_eq!(unpack(pack(id, timer)), (id, timer));
            }
        }
    }

    #[test]
    fn deadlines_in_order_and_re_armed() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        let a = TxId::Server(ServerTxId(7));
        let b = TxId::Client(ClientTxId(8));
        table.set(a, Timer::J, t0, t0 + Duration::from_secs(32));
        table.set(b, Timer::E, t0, t0 + Duration::from_millis(500));
        table.set(b, Timer::E, t0, t0 + Duration::from_secs(1));
        assert_eq!(table.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(table.pop_expired(t0), None);
        assert_eq!(
            table.pop_expired(t0 + Duration::from_secs(40)),
            Some((b, Timer::E))
        );
        table.stop(a, Timer::J);
        assert_eq!(table.pop_expired(t0 + Duration::from_secs(40)), None);
        assert!(table.is_empty());
    }

    #[test]
    fn lingering_timers_fire_on_the_grid_others_exactly() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        let a = TxId::Server(ServerTxId(1));
        let b = TxId::Server(ServerTxId(2));
        let c = TxId::Client(ClientTxId(3));
        // Timer J for 32.1 s moves up to 32.25 s; Timer G stays at 0.6 s.
        table.set(a, Timer::J, t0, t0 + Duration::from_millis(32_100));
        table.set(b, Timer::G, t0, t0 + Duration::from_millis(600));
        // A lingering timer due now (0 on a reliable transport) is not delayed.
        table.set(c, Timer::K, t0, t0);
        assert_eq!(table.pop_expired(t0), Some((c, Timer::K)));
        assert_eq!(table.next_deadline(), Some(t0 + Duration::from_millis(600)));
        assert_eq!(
            table.pop_expired(t0 + Duration::from_millis(600)),
            Some((b, Timer::G))
        );
        assert_eq!(table.pop_expired(t0 + Duration::from_millis(32_249)), None);
        assert_eq!(
            table.next_deadline(),
            Some(t0 + Duration::from_millis(32_250))
        );
        assert_eq!(
            table.pop_expired(t0 + Duration::from_millis(32_250)),
            Some((a, Timer::J))
        );
        assert!(table.is_empty());
    }

    #[test]
    fn timer_l_is_exact_until_moved_to_the_grid() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        let a = TxId::Server(ServerTxId(1));
        table.set(a, Timer::L, t0, t0 + Duration::from_millis(32_100));
        assert_eq!(
            table.next_deadline(),
            Some(t0 + Duration::from_millis(32_100))
        );
        table.move_to_grid(a, Timer::L);
        assert_eq!(
            table.next_deadline(),
            Some(t0 + Duration::from_millis(32_250))
        );
        assert_eq!(
            table.pop_expired(t0 + Duration::from_millis(32_250)),
            Some((a, Timer::L))
        );
        assert!(table.is_empty());
    }
}
