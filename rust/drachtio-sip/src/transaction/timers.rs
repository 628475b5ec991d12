//! The transaction timers and the table of their deadlines.

use super::TxId;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

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
}

impl Timer {
    const ALL: [Timer; 14] = [
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
    ];
}

/// Every armed timer, ordered by deadline. Each (transaction, timer) pair is
/// armed at most once; stopping one removes it, so the table holds nothing
/// for a terminated transaction.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    queue: BTreeSet<(Instant, TxId, Timer)>,
    armed: HashMap<(TxId, Timer), Instant>,
}

impl TimerTable {
    pub fn set(&mut self, id: TxId, timer: Timer, at: Instant) {
        if let Some(old) = self.armed.insert((id, timer), at) {
            self.queue.remove(&(old, id, timer));
        }
        self.queue.insert((at, id, timer));
    }

    pub fn stop(&mut self, id: TxId, timer: Timer) {
        if let Some(at) = self.armed.remove(&(id, timer)) {
            self.queue.remove(&(at, id, timer));
        }
    }

    pub fn stop_all(&mut self, id: TxId) {
        for t in Timer::ALL {
            self.stop(id, t);
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.first().map(|&(at, _, _)| at)
    }

    /// Removes and returns the earliest timer due at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(TxId, Timer)> {
        let &(at, id, timer) = self.queue.first()?;
        if at > now {
            return None;
        }
        self.queue.pop_first();
        self.armed.remove(&(id, timer));
        Some((id, timer))
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.armed.is_empty()
    }
}
