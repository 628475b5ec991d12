//! Counters of the transport, readable from any thread.

use drachtio_sip::ParseErrorKind;
use std::sync::atomic::{AtomicU64, Ordering};

/// Parse errors by kind, one counter per [`ParseErrorKind::ALL`].
#[derive(Debug)]
pub(crate) struct ParseErrorCounts([AtomicU64; ParseErrorKind::ALL.len()]);

impl Default for ParseErrorCounts {
    fn default() -> Self {
        ParseErrorCounts(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl ParseErrorCounts {
    pub(crate) fn add(&self, kind: ParseErrorKind) {
        self.0[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Vec<(&'static str, u64)> {
        ParseErrorKind::ALL
            .iter()
            .zip(&self.0)
            .map(|(kind, n)| (kind.as_str(), n.load(Ordering::Relaxed)))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

macro_rules! counters {
    (
        counters { $( $(#[doc = $doc:literal])* $name:ident, )* }
        gauges { $( $(#[doc = $gdoc:literal])* $gauge:ident, )* }
    ) => {
        /// A snapshot of the stack's counters ([`crate::Stack::stats`]).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct Stats {
            $( $(#[doc = $doc])* pub $name: u64, )*
            $( $(#[doc = $gdoc])* pub $gauge: u64, )*
            /// The transaction layer's own counters.
            pub transactions: drachtio_sip::transaction::Stats,
            /// Of `parse_errors`, each kind counted at least once with its
            /// count, in the order of [`ParseErrorKind::ALL`].
            pub parse_errors_by_kind: Vec<(&'static str, u64)>,
        }

        /// The counters, moved by the tasks and the callers.
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $( pub(crate) $name: AtomicU64, )*
            pub(crate) parse_kinds: ParseErrorCounts,
        }

        /// What is read from the stack's state when a snapshot is taken.
        #[derive(Debug, Default)]
        pub(crate) struct Gauges {
            $( pub(crate) $gauge: u64, )*
        }

        impl Stats {
            /// Every counter with its name, the transport's then the
            /// transaction layer's (the names do not overlap).
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                let mut out = vec![
                    $( (stringify!($name), self.$name), )*
                    $( (stringify!($gauge), self.$gauge), )*
                ];
                out.extend(self.transactions.fields());
                out
            }
        }

        impl Counters {
            pub(crate) fn snapshot(
                &self,
                gauges: Gauges,
                transactions: drachtio_sip::transaction::Stats,
            ) -> Stats {
                Stats {
                    $( $name: self.$name.load(Ordering::Relaxed), )*
                    $( $gauge: gauges.$gauge, )*
                    transactions,
                    parse_errors_by_kind: self.parse_kinds.snapshot(),
                }
            }
        }
    };
}

counters! {
counters {
    /// Datagrams received on UDP.
    udp_received,
    /// Datagrams sent on UDP.
    udp_sent,
    /// Messages framed from TCP connections.
    tcp_received,
    /// Messages written to TCP connections.
    tcp_sent,
    /// Received messages that failed to parse.
    parse_errors,
    /// Of those, requests answered with 400, 505 or 513 by the stack.
    malformed_answered,
    /// Of those, messages dropped: responses, ACKs, and requests from
    /// which no response could be formed.
    malformed_dropped,
    /// UDP datagrams holding only whitespace (keep-alives), ignored.
    keepalives_received,
    /// New requests answered 503 because the event queue was full.
    rejected_overload,
    /// New requests answered 503 because the stack was closing.
    rejected_closing,
    /// Events dropped because the queue was full (stray ACKs, notices).
    events_dropped,
    /// TCP connections accepted.
    tcp_connections_accepted,
    /// TCP connections opened by the stack.
    tcp_connections_opened,
    /// Inbound TCP connections closed at once: `max_tcp_connections` were
    /// open and every one was in use.
    tcp_connections_rejected,
    /// Inbound TCP connections closed at once: their address already had
    /// `max_tcp_connections_per_ip`.
    tcp_per_ip_rejected,
    /// Inbound TCP connections closed to make room for a new one at the
    /// `max_tcp_connections` bound (they were not in use).
    tcp_evicted,
    /// Inbound TCP connections closed because no complete SIP message came
    /// within `tcp_message_timeout` of their opening.
    tcp_no_message_closed,
    /// TCP connections the stack did not open because `max_tcp_outbound`
    /// were open (each send is reported as a transport error).
    tcp_outbound_rejected,
    /// TCP connections closed because the peer sent bytes that cannot be
    /// framed or parsed into an answerable message.
    tcp_garbage_disconnects,
    /// TCP connections closed by the idle timeout.
    tcp_idle_closed,
    /// CRLFCRLF keep-alive pings answered on TCP (RFC 5626 §3.5.1).
    tcp_pings_answered,
    /// TLS connections closed because the handshake failed or timed out,
    /// either way (the `tcp_` counters count TLS connections too: TLS runs
    /// over TCP).
    tls_handshake_failures,
    /// WebSocket connections closed before the HTTP upgrade succeeded: no
    /// `sip` subprotocol offered, not a WebSocket request, or timed out
    /// (RFC 7118 §4). The `tcp_` counters count WebSocket connections too.
    ws_handshake_failures,
    /// WebSocket connections closed with 1009 for a message larger than a
    /// SIP message may be (`max_header_bytes` + `max_body_bytes`).
    ws_oversized_closed,
    /// Messages that could not be sent (each reported as an event).
    send_errors,
    /// Requests over 1300 bytes sent over TCP instead of UDP (RFC 3261 §18.1.1).
    mtu_tcp_switches,
    /// Responses meant for UDP but larger than a datagram, sent over TCP to
    /// the address their Via names (RFC 3261 §18.2.2).
    large_responses_over_tcp,
    /// Copies of SIP messages sent to the capture collector (HEP).
    capture_sent,
    /// Copies the system could not send at once, dropped.
    capture_failed,
    /// Messages larger than a datagram refused for want of a TCP listener
    /// (the call down failed), or failed as they were sent.
    too_large_for_udp,
    /// Requests sent to the next target of their DNS resolution after the
    /// one before failed with no response (RFC 3263 §4.3).
    dns_failovers,
}
gauges {
    /// TCP connections open now, inbound and outbound.
    tcp_connections_open,
    /// Of those, accepted from peers.
    tcp_inbound_open,
    /// Of those, opened by the stack.
    tcp_outbound_open,
    /// Events (requests, responses, notices) waiting for the consumer to
    /// drain them: the depth of the queue from the stack's thread to the
    /// caller's (at most `event_queue_capacity`, beyond which new requests
    /// are answered 503).
    events_queued,
}
}

impl Counters {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}
