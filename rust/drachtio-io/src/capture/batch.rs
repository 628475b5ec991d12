//! The copies waiting to leave together, sans-IO: the caller says what
//! time it is.
//!
//! Each copy sent on its own costs a system call and, above all, a
//! wake-up of the collector's reader; copies sent together in one
//! `sendmmsg` wake it about once. A batch leaves when it is full
//! ([`MAX_COPIES`] copies or [`MAX_BYTES`] bytes), at once, or
//! [`MAX_WAIT`] after its oldest copy was added, from the stack's timers.
//! The time each copy carries is that of its message, not of its sending.

use super::hep::{encode_into, Packet};
use std::time::{Duration, Instant};

/// Copies sent together at most.
pub(crate) const MAX_COPIES: usize = 64;
/// Bytes of copies held at most: a batch this large is full.
pub(crate) const MAX_BYTES: usize = 256 * 1024;
/// How long a copy waits for others at most (the stack's timers, on a
/// 10 ms grid, may add up to 10 ms).
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(20);

/// HEP packets back to back in one buffer, whose memory is kept from one
/// batch to the next.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    /// Where each packet ends in `bytes`.
    ends: Vec<usize>,
    /// When the oldest copy waiting was added.
    since: Option<Instant>,
}

impl Batch {
    /// Adds the packet of `p`, made at `now`. Returns whether the batch is
    /// full now: it is to be sent at once.
    pub(crate) fn push(&mut self, now: Instant, p: &Packet<'_>) -> bool {
        encode_into(&mut self.bytes, p);
        self.ends.push(self.bytes.len());
        self.since.get_or_insert(now);
        self.is_full()
    }

    /// Holds [`MAX_COPIES`] copies or [`MAX_BYTES`] bytes.
    pub(crate) fn is_full(&self) -> bool {
        self.ends.len() >= MAX_COPIES || self.bytes.len() >= MAX_BYTES
    }

    /// When the batch must leave, full or not: [`MAX_WAIT`] after its
    /// oldest copy; `None` when empty.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + MAX_WAIT)
    }

    /// Whether the batch must leave at `now`: full, or its deadline reached.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.is_full() || self.deadline().is_some_and(|deadline| now >= deadline)
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The packets, in the order they were added.
    pub(crate) fn packets(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.bytes[start..end])
    }

    /// Empties the batch; its memory stays for the next one.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drachtio_sip::transaction::Transport;

    fn packet(payload: &[u8]) -> Packet<'_> {
        Packet {
            transport: Transport::Udp,
            src: "127.0.0.1:5060".parse().unwrap(),
            dst: "127.0.0.1:5070".parse().unwrap(),
            time: (1_700_000_000, 0),
            agent_id: 1,
            password: None,
            payload,
        }
    }

    /// The message each packet carries: its last chunk's value.
    fn payloads(batch: &Batch) -> Vec<Vec<u8>> {
        batch
            .packets()
            .map(|p| super::super::hep::chunks(p).pop().unwrap().1)
            .collect()
    }

    #[test]
    fn a_batch_is_due_its_wait_after_its_oldest_copy_and_not_before() {
        let t0 = Instant::now();
        let mut batch = Batch::default();
        assert_eq!(batch.deadline(), None);
        assert!(!batch.is_due(t0 + MAX_WAIT * 10));
        assert!(!batch.push(t0, &packet(b"one")));
        // A later copy does not move the deadline: the oldest one waits.
        assert!(!batch.push(t0 + MAX_WAIT / 2, &packet(b"two")));
        assert_eq!(batch.deadline(), Some(t0 + MAX_WAIT));
        assert!(!batch.is_due(t0 + MAX_WAIT - Duration::from_nanos(1)));
        assert!(batch.is_due(t0 + MAX_WAIT));
        assert_eq!(payloads(&batch), [b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn a_batch_of_max_copies_is_full_at_once() {
        let t0 = Instant::now();
        let mut batch = Batch::default();
        for _ in 1..MAX_COPIES {
            assert!(!batch.push(t0, &packet(b"x")));
        }
        assert!(batch.push(t0, &packet(b"x")));
        assert!(batch.is_due(t0));
        assert_eq!(batch.len(), MAX_COPIES);
    }

    #[test]
    fn a_batch_of_max_bytes_is_full_whatever_its_count() {
        let t0 = Instant::now();
        let mut batch = Batch::default();
        // Five such packets (each with its headers) pass MAX_BYTES; four do not.
        let big = vec![b'a'; MAX_BYTES / 5];
        for _ in 0..4 {
            assert!(!batch.push(t0, &packet(&big)));
        }
        assert!(batch.push(t0, &packet(&big)));
        assert_eq!(batch.len(), 5);
    }

    #[test]
    fn a_cleared_batch_is_empty_and_starts_its_wait_anew() {
        let t0 = Instant::now();
        let mut batch = Batch::default();
        batch.push(t0, &packet(b"old"));
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.packets().count(), 0);
        assert_eq!(batch.deadline(), None);
        let t1 = t0 + Duration::from_secs(5);
        batch.push(t1, &packet(b"new"));
        assert_eq!(batch.deadline(), Some(t1 + MAX_WAIT));
        assert_eq!(payloads(&batch), [b"new".to_vec()]);
    }
}
