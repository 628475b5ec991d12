//! Messages counted by method (requests) and by status (responses), in each
//! direction, for metrics.

use crate::message::{Message, Method};

/// Requests by method: one count per method of [`Method::STANDARD`], then
/// one for every extension method.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MethodCounts {
    counts: [u64; METHOD_SLOTS],
}

const METHOD_SLOTS: usize = 15;
const _: () = assert!(METHOD_SLOTS == Method::STANDARD.len() + 1);

impl MethodCounts {
    fn add(&mut self, method: &Method) {
        self.counts[method.index()] += 1;
    }

    /// Each method counted at least once with its count; extension methods
    /// together under `"other"`.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Method::STANDARD
            .iter()
            .copied()
            .chain(std::iter::once("other"))
            .zip(self.counts.iter().copied())
            .filter(|&(_, n)| n > 0)
    }
}

/// Responses by status code (100 to 699, as the parser accepts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Indexed by `status - 100`; empty until the first response.
    counts: Vec<u64>,
}

const FIRST_STATUS: u16 = 100;
const STATUS_SLOTS: usize = 600;

impl StatusCounts {
    fn add(&mut self, status: u16) {
        let Some(i) = status.checked_sub(FIRST_STATUS).map(usize::from) else {
            return;
        };
        if i >= STATUS_SLOTS {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; STATUS_SLOTS];
        }
        self.counts[i] += 1;
    }

    /// Each status counted at least once with its count, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (FIRST_STATUS..)
            .zip(self.counts.iter().copied())
            .filter(|&(_, n)| n > 0)
    }
}

/// Every message the transaction layer received or queued for sending,
/// retransmissions included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// Requests received, by method.
    pub requests_received: MethodCounts,
    /// Requests sent, by method.
    pub requests_sent: MethodCounts,
    /// Responses received, by status.
    pub responses_received: StatusCounts,
    /// Responses sent, by status.
    pub responses_sent: StatusCounts,
}

impl MessageCounts {
    pub(crate) fn received(&mut self, message: &Message) {
        match message {
            Message::Request(r) => self.requests_received.add(&r.method),
            Message::Response(r) => self.responses_received.add(r.status),
        }
    }

    pub(crate) fn request_sent(&mut self, method: &Method) {
        self.requests_sent.add(method);
    }

    pub(crate) fn response_sent(&mut self, status: u16) {
        self.responses_sent.add(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_counted_under_their_names_and_extensions_together() {
        let mut c = MethodCounts::default();
        c.add(&Method::Invite);
        c.add(&Method::Invite);
        c.add(&Method::Update);
        c.add(&Method::parse("FOO").unwrap());
        c.add(&Method::parse("BAR").unwrap());
        let got: Vec<_> = c.iter().collect();
        assert_eq!(got, vec![("INVITE", 2), ("UPDATE", 1), ("other", 2)]);
    }

    #[test]
    fn every_standard_method_has_its_own_slot() {
        for (i, name) in Method::STANDARD.iter().enumerate() {
            assert_eq!(Method::parse(name).unwrap().index(), i, "{name}");
        }
    }

    #[test]
    fn statuses_are_counted_in_order_and_out_of_range_ones_ignored() {
        let mut c = StatusCounts::default();
        assert_eq!(c.iter().count(), 0);
        for s in [486, 100, 699, 486, 99, 700, 0] {
            c.add(s);
        }
        let got: Vec<_> = c.iter().collect();
        assert_eq!(got, vec![(100, 1), (486, 2), (699, 1)]);
    }
}
