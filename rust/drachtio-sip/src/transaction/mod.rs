//! The SIP transaction layer of RFC 3261 §17, as updated by RFC 6026, sans-IO.
//!
//! [`TransactionLayer`] owns every client and server transaction and their
//! timers. It never reads a clock and never touches a socket: every entry
//! point takes `now`, and its outputs are drained with
//! [`TransactionLayer::poll_transmit`], [`TransactionLayer::poll_event`] and
//! [`TransactionLayer::poll_timeout`] (the shape of quinn-proto).
//!
//! Besides the four state machines, the layer does what its transaction
//! user needs below it (see `docs/transactions.md`): 100 Trying for every
//! INVITE, the ACK for non-2xx final responses (§17.1.1.3), CANCEL matching
//! (§9.2), 400 for a request missing a mandatory header; and, as its
//! [`Policy`] says, what a UA core and a proxy core do differently: for a UA,
//! 2xx retransmission until the ACK (§13.3.1.4), merged-request detection
//! (§8.2.2.2) and the checks of §8.2.2 (416, 420); for a proxy, every 2xx
//! passed through the Accepted states (RFC 6026 §7).

mod client;
mod index;
mod layer;
mod matching;
mod message_counts;
mod policy;
mod server;
mod timers;

/// Where [`Outbound::Response`] goes; defined with the routing rules.
pub use crate::routing::Target;
pub use crate::transport::Transport;
pub use layer::TransactionLayer;
pub use message_counts::{MessageCounts, MethodCounts, StatusCounts};
pub use policy::Policy;
pub(crate) use policy::{understood_scheme, unsupported_tags};

use crate::error::ParseError;
use crate::message::{Message, Method, Request, Response};
use crate::routing::response_target;
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use timers::{Timer, TimerTable};

/// Timer values, policy and UA options of a [`TransactionLayer`].
#[derive(Clone, Debug)]
pub struct Config {
    /// T1, the RTT estimate (RFC 3261 §17.1.1.1): 500 ms by default.
    pub t1: Duration,
    /// T2, the longest retransmit interval for non-INVITE requests and INVITE
    /// responses: 4 s by default.
    pub t2: Duration,
    /// T4, the longest time a message stays in the network: 5 s by default.
    pub t4: Duration,
    /// Option tags this UA supports; a request whose Require lists another is
    /// answered 420 (RFC 3261 §8.2.2.3) under [`Policy::UserAgent`].
    pub supported: Vec<String>,
    /// Who the layer works for: a UA core (the default) or a proxy core.
    pub policy: Policy,
    /// Seed of the generator of branches and tags. `None` seeds from the
    /// process's random hash keys; tests pass a fixed seed.
    pub seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            supported: Vec::new(),
            policy: Policy::UserAgent,
            seed: None,
        }
    }
}

impl Config {
    /// 64*T1: Timers B, F, H, L, M, and J on unreliable transports.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: "at least 32 s" on unreliable transports (RFC 3261 §17.1.1.2);
    /// 64*T1 when that is longer.
    pub fn timer_d(&self) -> Duration {
        Duration::from_secs(32).max(self.t1x64())
    }
}

/// The remote end of a message: transport and address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The transport.
    pub transport: Transport,
    /// The remote address.
    pub addr: SocketAddr,
}

/// A message received by the I/O layer.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The parsed message.
    pub message: Message,
    /// Where it came from.
    pub peer: Peer,
    /// The local address it arrived on.
    pub local: SocketAddr,
}

/// A message for the I/O layer to send, serialized by the layer: a server
/// transaction keeps its last response in this form to re-send it, which is
/// what it holds while it waits out Timer J or L (not the parsed message,
/// whose header values would keep the whole received request alive).
#[derive(Clone, Debug)]
pub struct Transmit {
    /// The transaction it belongs to, for [`TransactionLayer::transport_error`].
    pub tx: Option<TxId>,
    /// Where to send it. For a response, the source of the request.
    pub peer: Peer,
    /// For a response, the local address the request arrived on.
    pub local: Option<SocketAddr>,
    /// The message.
    pub bytes: Bytes,
    /// A request, or a response and where it goes.
    pub kind: Outbound,
}

/// What a [`Transmit`] carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// A request of this method, for `peer`.
    Request(Method),
    /// A response with this status. RFC 3261 §18.2.2: over the connection
    /// the request came on while it is open, else to the target of its top
    /// Via ([`response_target`]; `None`: to `peer`).
    Response(u16, Option<Target>),
}

impl Transmit {
    /// Serializes `request` for `peer`.
    pub fn request(tx: Option<TxId>, peer: Peer, request: &Request) -> Transmit {
        let mut out = Vec::with_capacity(request.body.len() + 64 * (request.headers.len() + 1));
        request.write_to(&mut out);
        Transmit {
            tx,
            peer,
            local: None,
            bytes: Bytes::from(out),
            kind: Outbound::Request(request.method.clone()),
        }
    }

    /// Serializes `response` for the source `peer` of its request, which
    /// arrived on `local`.
    pub fn response(
        tx: Option<TxId>,
        peer: Peer,
        local: Option<SocketAddr>,
        response: &Response,
    ) -> Transmit {
        let mut out = Vec::with_capacity(response.body.len() + 64 * (response.headers.len() + 1));
        response.write_to(&mut out);
        // Kept while the transaction waits out Timer J or L: no spare capacity.
        out.shrink_to_fit();
        let target = response_target(&response.headers, peer.transport.is_reliable());
        Transmit {
            tx,
            peer,
            local,
            bytes: Bytes::from(out),
            kind: Outbound::Response(response.status, target),
        }
    }
}

/// A client transaction handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(pub u64);

/// A server transaction handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(pub u64);

/// A client or server transaction handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxId {
    /// A client transaction.
    Client(ClientTxId),
    /// A server transaction.
    Server(ServerTxId),
}

/// What the transaction layer tells its user (the UA core above it).
/// Retransmissions never appear here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxEvent {
    /// A new request (not ACK or CANCEL) created a server transaction; answer
    /// it with [`TransactionLayer::respond`]. For an INVITE the layer has
    /// already sent 100 Trying.
    NewRequest {
        /// The server transaction.
        id: ServerTxId,
        /// The request.
        request: Request,
        /// Where it came from.
        peer: Peer,
        /// The local address it arrived on.
        local: SocketAddr,
    },
    /// A response for a client transaction: every provisional response, the
    /// first final response, and the first 2xx of each To tag (forking).
    Response {
        /// The client transaction.
        id: ClientTxId,
        /// The response.
        response: Response,
        /// Where it came from.
        peer: Peer,
    },
    /// An ACK for a 2xx (RFC 3261 §13.3.1.4, RFC 6026): it is not part of the
    /// INVITE transaction. `id` is the INVITE server transaction whose 2xx it
    /// acknowledges (its 2xx retransmission has stopped), or `None` when no
    /// transaction matched (a late or in-dialog ACK for the dialog layer).
    AckFor2xx {
        /// The matched INVITE server transaction, if any.
        id: Option<ServerTxId>,
        /// The ACK.
        request: Request,
        /// Where it came from.
        peer: Peer,
        /// The local address it arrived on.
        local: SocketAddr,
    },
    /// A CANCEL matched this INVITE server transaction before its final
    /// response: the layer has answered the CANCEL 200 and the INVITE 487
    /// (RFC 3261 §9.2).
    CancelReceived {
        /// The cancelled INVITE server transaction.
        id: ServerTxId,
        /// The CANCEL request.
        request: Request,
    },
    /// The transaction timed out: Timer B or F on a client transaction (or no
    /// final response 64*T1 after a CANCEL, §9.1), Timer H on an INVITE server
    /// transaction (no ACK for a non-2xx final response).
    Timeout {
        /// The transaction.
        id: TxId,
    },
    /// A 2xx to an INVITE was retransmitted for 64*T1 without an ACK
    /// (RFC 3261 §13.3.1.4): the dialog should be ended with a BYE.
    AckTimeout {
        /// The INVITE server transaction.
        id: ServerTxId,
    },
    /// A reliable provisional response was retransmitted for 64*T1 without
    /// a PRACK (RFC 3262 §3): the INVITE should be answered 5xx. The
    /// transaction stays in Proceeding.
    PrackTimeout {
        /// The INVITE server transaction.
        id: ServerTxId,
    },
    /// The I/O layer reported that a message of this transaction could not
    /// be sent; the transaction is terminated.
    TransportError {
        /// The transaction.
        id: TxId,
    },
}

/// State of a client transaction; a terminated one no longer exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// INVITE sent, no response yet (§17.1.1.2).
    Calling,
    /// Non-INVITE request sent, no response yet (§17.1.2.2).
    Trying,
    /// A provisional response received.
    Proceeding,
    /// A final response received (for INVITE, a non-2xx one, ACK sent).
    Completed,
    /// A 2xx to the INVITE received (RFC 6026 §7.2).
    Accepted,
}

/// State of a server transaction; a terminated one no longer exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// Non-INVITE request received, no response sent (§17.2.2).
    Trying,
    /// A provisional response sent (INVITE: from creation, with 100 Trying).
    Proceeding,
    /// A final response sent (for INVITE, a non-2xx one).
    Completed,
    /// INVITE: the ACK for the non-2xx final response received.
    Confirmed,
    /// INVITE: a 2xx sent (RFC 6026 §7.1); a UA core retransmits it until
    /// the ACK, a proxy forwards every further 2xx.
    Accepted,
}

/// Counters of what the layer handled on its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests passed to [`TransactionLayer::handle_incoming`].
    pub requests_received: u64,
    /// Responses passed to [`TransactionLayer::handle_incoming`].
    pub responses_received: u64,
    /// Retransmitted requests absorbed by a server transaction.
    pub request_retransmissions_absorbed: u64,
    /// Retransmitted responses absorbed by a client transaction.
    pub response_retransmissions_absorbed: u64,
    /// Requests and responses sent again (by a timer or for a retransmission).
    pub retransmissions_sent: u64,
    /// Requests dropped because no response could be formed (no usable Via).
    pub dropped_without_via: u64,
    /// ACKs dropped: missing mandatory headers, or no final response to acknowledge.
    pub dropped_acks: u64,
    /// Responses that matched no client transaction, or were malformed
    /// (no Via or CSeq, more than one Via: RFC 3261 §8.1.3.3).
    pub dropped_responses: u64,
    /// ACKs passed up without a matching transaction.
    pub acks_without_transaction: u64,
    /// Requests answered 400 for a missing mandatory header.
    pub rejected_missing_header: u64,
    /// Requests answered 416 (unsupported Request-URI scheme).
    pub rejected_unsupported_scheme: u64,
    /// Requests answered 420 (unsupported Require option tag).
    pub rejected_bad_extension: u64,
    /// Requests answered 482 (merged request, §8.2.2.2).
    pub rejected_merged: u64,
    /// CANCELs answered 481 (nothing to cancel).
    pub cancels_unmatched: u64,
    /// INVITE server transactions cancelled (answered 487).
    pub cancels_matched: u64,
    /// Transactions ended by Timer B, F, H or the §9.1 CANCEL wait, and
    /// reliable provisional responses never acknowledged (RFC 3262 §3).
    pub timeouts: u64,
    /// 2xx responses never acknowledged within 64*T1.
    pub ack_timeouts: u64,
    /// Requests by method and responses by status, in each direction
    /// (not in [`Stats::fields`]: they are counts by label).
    pub messages: MessageCounts,
}

impl Stats {
    /// Every counter with its name, in declaration order (for export to
    /// metrics or Python without listing the names again).
    pub fn fields(&self) -> [(&'static str, u64); 17] {
        [
            ("requests_received", self.requests_received),
            ("responses_received", self.responses_received),
            (
                "request_retransmissions_absorbed",
                self.request_retransmissions_absorbed,
            ),
            (
                "response_retransmissions_absorbed",
                self.response_retransmissions_absorbed,
            ),
            ("retransmissions_sent", self.retransmissions_sent),
            ("dropped_without_via", self.dropped_without_via),
            ("dropped_acks", self.dropped_acks),
            ("dropped_responses", self.dropped_responses),
            ("acks_without_transaction", self.acks_without_transaction),
            ("rejected_missing_header", self.rejected_missing_header),
            (
                "rejected_unsupported_scheme",
                self.rejected_unsupported_scheme,
            ),
            ("rejected_bad_extension", self.rejected_bad_extension),
            ("rejected_merged", self.rejected_merged),
            ("cancels_unmatched", self.cancels_unmatched),
            ("cancels_matched", self.cancels_matched),
            ("timeouts", self.timeouts),
            ("ack_timeouts", self.ack_timeouts),
        ]
    }
}

/// Misuse of the layer by its user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocalError {
    /// The transaction does not exist (never did, or has terminated).
    #[error("unknown transaction")]
    UnknownTransaction,
    /// The server transaction has already sent its final response.
    #[error("a final response was already sent for this transaction")]
    FinalResponseSent,
    /// The status code is not in 100..=699.
    #[error("invalid status code {0}")]
    InvalidStatus(u16),
    /// The request lacks a header the transaction needs.
    #[error("the request has no usable {0} header")]
    MissingHeader(&'static str),
    /// A header the transaction needs is malformed.
    #[error("malformed header: {0}")]
    BadHeader(ParseError),
    /// The CSeq method differs from the request method.
    #[error("CSeq method differs from the request method")]
    CSeqMismatch,
    /// ACK is not sent in a transaction (use `send_ack_for_2xx`; ACKs for
    /// non-2xx responses are sent by the client transaction itself).
    #[error("ACK is not sent in a transaction")]
    AckInTransaction,
    /// `send_ack_for_2xx` was given a request that is not an ACK.
    #[error("not an ACK")]
    NotAck,
    /// A client transaction with the same branch and method exists.
    #[error("a client transaction with this branch and method exists")]
    DuplicateBranch,
    /// Only an INVITE client transaction without a final response can be cancelled.
    #[error("only an INVITE client transaction without a final response can be cancelled")]
    NotCancellable,
    /// `cancel` was already called for this transaction.
    #[error("this transaction is already being cancelled")]
    AlreadyCancelled,
    /// Only a client transaction that has had no response can be sent to
    /// another target.
    #[error("only a client transaction without a response can be retargeted")]
    NotRetargetable,
}

/// What a state machine step may touch: the clock reading, the timer table,
/// the output queues and the counters. The machines in `client.rs` and
/// `server.rs` act only through it.
pub(crate) struct Cx<'a> {
    pub now: Instant,
    pub id: TxId,
    pub config: &'a Config,
    timers: &'a mut TimerTable,
    transmits: &'a mut VecDeque<Transmit>,
    events: &'a mut VecDeque<TxEvent>,
    pub stats: &'a mut Stats,
    pub terminated: bool,
    /// The transaction failed with no response and waits to be retargeted
    /// ([`TransactionLayer::poll_unanswered`]).
    pub unanswered: bool,
}

impl Cx<'_> {
    pub fn start(&mut self, timer: Timer, after: Duration) {
        self.timers.set(self.id, timer, self.now, self.now + after);
    }

    /// Moves an armed timer of this transaction up to the lingering grid.
    pub fn linger(&mut self, timer: Timer) {
        self.timers.move_to_grid(self.id, timer);
    }

    pub fn stop(&mut self, timer: Timer) {
        self.timers.stop(self.id, timer);
    }

    /// Sends a request; returns what was queued, for a re-send.
    pub fn send_request(&mut self, peer: Peer, request: &Request) -> Transmit {
        let t = Transmit::request(Some(self.id), peer, request);
        self.transmits.push_back(t.clone());
        t
    }

    /// Sends a response; returns what was queued, for a re-send.
    pub fn send_response(
        &mut self,
        peer: Peer,
        local: SocketAddr,
        response: &Response,
    ) -> Transmit {
        let t = Transmit::response(Some(self.id), peer, Some(local), response);
        self.transmits.push_back(t.clone());
        t
    }

    /// Sends again what [`Cx::send_request`] or [`Cx::send_response`] returned.
    pub fn resend(&mut self, t: &Transmit) {
        self.transmits.push_back(t.clone());
    }

    pub fn event(&mut self, event: TxEvent) {
        self.events.push_back(event);
    }

    pub fn terminate(&mut self) {
        self.terminated = true;
    }
}
