//! Counters of the transport, readable from any thread.

use drachtio_sip::transaction::Transport;
use drachtio_sip::ParseErrorKind;
use std::ops::{Index, IndexMut};
use std::sync::atomic::{AtomicU64, Ordering};

/// A count for each transport, in the order of [`Transport::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByTransport(pub [u64; Transport::ALL.len()]);

impl ByTransport {
    /// The sum over the transports.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl Index<Transport> for ByTransport {
    type Output = u64;

    fn index(&self, transport: Transport) -> &u64 {
        &self.0[transport as usize]
    }
}

impl IndexMut<Transport> for ByTransport {
    fn index_mut(&mut self, transport: Transport) -> &mut u64 {
        &mut self.0[transport as usize]
    }
}

/// Stream connections (TCP, TLS, WS, WSS) of each direction by transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByDirection {
    /// Accepted from peers.
    pub inbound: ByTransport,
    /// Opened by the stack.
    pub outbound: ByTransport,
}

impl ByDirection {
    /// The sum over both directions and every transport.
    pub fn total(&self) -> u64 {
        self.inbound.total() + self.outbound.total()
    }
}

/// The stream connections, read from the connection table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Connections {
    /// Open now: accepted, or connected by the stack (one it is still
    /// connecting is not open yet), and not closed since.
    pub open: ByDirection,
    /// Accepted from peers (inbound); connected by the stack (outbound).
    /// A TLS or WebSocket connection counts from its TCP connection, before
    /// its handshake.
    pub opened: ByDirection,
    /// Of those, closed by either side, for whatever reason.
    pub closed: ByDirection,
}

/// `N` atomic counters indexed by an enum's position: counting costs one
/// relaxed add, whichever the counter.
#[derive(Debug)]
struct AtomicCounts<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for AtomicCounts<N> {
    fn default() -> Self {
        AtomicCounts(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> AtomicCounts<N> {
    fn add(&self, index: usize) {
        self.0[index].fetch_add(1, Ordering::Relaxed);
    }

    fn load(&self) -> [u64; N] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}

/// One counter per transport.
#[derive(Debug, Default)]
pub(crate) struct PerTransport(AtomicCounts<{ Transport::ALL.len() }>);

impl PerTransport {
    pub(crate) fn add(&self, transport: Transport) {
        self.0.add(transport as usize);
    }

    fn snapshot(&self) -> ByTransport {
        ByTransport(self.0.load())
    }
}

/// `[udp, tcp, tls, ws, wss]` each followed by `$suffix`: the names of
/// [`Stats::fields`], in the order of [`Transport::ALL`].
macro_rules! per_transport_names {
    ($suffix:literal) => {
        [
            concat!("udp", $suffix),
            concat!("tcp", $suffix),
            concat!("tls", $suffix),
            concat!("ws", $suffix),
            concat!("wss", $suffix),
        ]
    };
}

type Names = [&'static str; Transport::ALL.len()];

const RECEIVED: Names = per_transport_names!("_received");
const SENT: Names = per_transport_names!("_sent");
const INBOUND_OPEN: Names = per_transport_names!("_inbound_open");
const OUTBOUND_OPEN: Names = per_transport_names!("_outbound_open");
const INBOUND_OPENED: Names = per_transport_names!("_inbound_opened");
const OUTBOUND_OPENED: Names = per_transport_names!("_outbound_opened");
const INBOUND_CLOSED: Names = per_transport_names!("_inbound_closed");
const OUTBOUND_CLOSED: Names = per_transport_names!("_outbound_closed");

/// `counts` under `names`, UDP's left out when `streams_only`.
fn named(
    out: &mut Vec<(&'static str, u64)>,
    names: &Names,
    counts: &ByTransport,
    streams_only: bool,
) {
    for (t, (name, n)) in Transport::ALL.iter().zip(names.iter().zip(counts.0)) {
        if !(streams_only && *t == Transport::Udp) {
            out.push((name, n));
        }
    }
}

/// Parse errors by kind, one counter per [`ParseErrorKind::ALL`].
#[derive(Debug, Default)]
pub(crate) struct ParseErrorCounts(AtomicCounts<{ ParseErrorKind::ALL.len() }>);

impl ParseErrorCounts {
    pub(crate) fn add(&self, kind: ParseErrorKind) {
        self.0.add(kind.index());
    }

    fn snapshot(&self) -> Vec<(&'static str, u64)> {
        ParseErrorKind::ALL
            .iter()
            .zip(self.0.load())
            .map(|(kind, n)| (kind.as_str(), n))
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
            /// SIP messages received, by transport: UDP datagrams (keep-alives
            /// included), messages framed from TCP and TLS connections,
            /// WebSocket messages.
            pub received: ByTransport,
            /// SIP messages sent, by transport.
            pub sent: ByTransport,
            /// The stream connections by direction and transport.
            pub connections: Connections,
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
            pub(crate) received: PerTransport,
            pub(crate) sent: PerTransport,
            pub(crate) parse_kinds: ParseErrorCounts,
        }

        /// What is read from the stack's state when a snapshot is taken.
        #[derive(Debug, Default)]
        pub(crate) struct Gauges {
            $( pub(crate) $gauge: u64, )*
            pub(crate) connections: Connections,
        }

        impl Stats {
            /// Every counter with its name, the transport's then the
            /// transaction layer's (the names do not overlap). The counts
            /// by transport are named `udp_received`, `tls_sent`...; the
            /// connections `tcp_inbound_open`, `wss_outbound_opened`,
            /// `ws_inbound_closed`... (no UDP), with their sum
            /// `connections_open`.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                let mut out = vec![
                    $( (stringify!($name), self.$name), )*
                    $( (stringify!($gauge), self.$gauge), )*
                ];
                named(&mut out, &RECEIVED, &self.received, false);
                named(&mut out, &SENT, &self.sent, false);
                let c = &self.connections;
                for (names, counts) in [
                    (&INBOUND_OPEN, &c.open.inbound),
                    (&OUTBOUND_OPEN, &c.open.outbound),
                    (&INBOUND_OPENED, &c.opened.inbound),
                    (&OUTBOUND_OPENED, &c.opened.outbound),
                    (&INBOUND_CLOSED, &c.closed.inbound),
                    (&OUTBOUND_CLOSED, &c.closed.outbound),
                ] {
                    named(&mut out, names, counts, true);
                }
                out.push(("connections_open", c.open.total()));
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
                    received: self.received.snapshot(),
                    sent: self.sent.snapshot(),
                    connections: gauges.connections,
                    transactions,
                    parse_errors_by_kind: self.parse_kinds.snapshot(),
                }
            }
        }
    };
}

counters! {
counters {
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
    /// either way.
    tls_handshake_failures,
    /// WebSocket connections closed before the HTTP upgrade succeeded: no
    /// `sip` subprotocol offered, not a WebSocket request, or timed out
    /// (RFC 7118 §4).
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
