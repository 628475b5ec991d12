//! [`TransactionLayer`]: routes messages to transactions, creates them, runs
//! their timers, and does the work that must not reach the transaction user
//! (CANCEL, ACK for 2xx, and what its [`Policy`](super::Policy) asks: the
//! UAS checks of §8.2.2 for a UA core).

use super::client::{build_cancel, ClientInput, ClientTx};
use super::index::{Hasher as KeyHasher, Index};
use super::matching::{AckKey, ClientKey, MergeKey, Missing, ServerKey, Summary, MAGIC_COOKIE};
use super::policy::{uas_check, Rejection};
use super::server::{complete_response, make_response, to_tag, ServerInput, ServerTx};
use super::timers::{Timer, TimerTable};
use super::{
    ClientState, ClientTxId, Config, Cx, Incoming, LocalError, Outbound, Peer, Policy, ServerState,
    ServerTxId, Stats, Transmit, TxEvent, TxId,
};
use crate::header::{HeaderName, Headers};
use crate::message::{Message, Method, Request, Response};
use crate::scan::split_list;
use crate::text::Text;
use crate::typed::{CSeq, Via};
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::time::Instant;

/// The context a transaction steps in. A macro rather than a method: it
/// borrows the layer's output fields while a transaction is borrowed from
/// one of its maps, which a `&mut self` method could not.
macro_rules! cx {
    ($layer:ident, $now:expr, $id:expr) => {
        Cx {
            now: $now,
            id: $id,
            config: &$layer.config,
            timers: &mut $layer.timers,
            transmits: &mut $layer.transmits,
            events: &mut $layer.events,
            stats: &mut $layer.stats,
            terminated: false,
            unanswered: false,
        }
    };
}

/// The transaction layer of a SIP user agent (RFC 3261 §17, RFC 6026).
///
/// Inputs: [`handle_incoming`](Self::handle_incoming),
/// [`handle_timeout`](Self::handle_timeout) and the transaction user's calls
/// ([`send_request`](Self::send_request), [`respond`](Self::respond),
/// [`cancel`](Self::cancel), [`send_ack_for_2xx`](Self::send_ack_for_2xx),
/// [`send_stateless`](Self::send_stateless),
/// [`transport_error`](Self::transport_error)). Outputs:
/// [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
/// [`poll_timeout`](Self::poll_timeout). Drain both queues after every input;
/// they hold only what that input produced.
#[derive(Debug)]
pub struct TransactionLayer {
    config: Config,
    rng: SplitMix64,
    next_id: u64,
    // Boxed: a completed transaction stays for up to 64*T1, so these maps
    // hold hundreds of thousands of entries at high call rates; boxing keeps
    // a rehash to moving pointers instead of whole transactions (an unboxed
    // rehash at ~230k entries stalled the stack for over 0.5 s).
    clients: HashMap<ClientTxId, Box<ClientTx>>,
    client_index: HashMap<ClientKey, ClientTxId>,
    servers: HashMap<ServerTxId, Box<ServerTx>>,
    // The server transactions by their keys, which only the transactions
    // hold (see `index.rs`).
    server_index: Index,
    merge_index: Index,
    ack_index: Index,
    hasher: KeyHasher,
    timers: TimerTable,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
    /// Client transactions that may fail over, which failed with no response.
    unanswered: VecDeque<ClientTxId>,
    stats: Stats,
}

/// Branches and tags need 32+ bits of randomness (RFC 3261 §8.1.1.7, §19.3),
/// not a cryptographic generator.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl TransactionLayer {
    /// A layer with no transactions.
    pub fn new(config: Config) -> TransactionLayer {
        let seed = config
            .seed
            .unwrap_or_else(|| RandomState::new().build_hasher().finish());
        TransactionLayer {
            config,
            rng: SplitMix64(seed),
            next_id: 1,
            clients: HashMap::new(),
            client_index: HashMap::new(),
            servers: HashMap::new(),
            server_index: Index::default(),
            merge_index: Index::default(),
            ack_index: Index::default(),
            hasher: KeyHasher::default(),
            timers: TimerTable::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            unanswered: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What the layer has counted.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front()?;
        match &t.kind {
            Outbound::Request(method) => self.stats.messages.request_sent(method),
            Outbound::Response(status, _) => self.stats.messages.response_sent(*status),
        }
        Some(t)
    }

    /// The next event for the transaction user.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Number of live client and server transactions.
    pub fn transaction_count(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }

    /// Whether the layer holds nothing: no transaction, index entry, timer or
    /// queued output.
    pub fn is_idle(&self) -> bool {
        self.clients.is_empty()
            && self.client_index.is_empty()
            && self.servers.is_empty()
            && self.server_index.is_empty()
            && self.merge_index.is_empty()
            && self.ack_index.is_empty()
            && self.timers.is_empty()
            && self.transmits.is_empty()
            && self.events.is_empty()
    }

    /// The state of a client transaction; `None` once terminated.
    pub fn client_state(&self, id: ClientTxId) -> Option<ClientState> {
        self.clients.get(&id).map(|t| t.state)
    }

    /// The state of a server transaction; `None` once terminated.
    pub fn server_state(&self, id: ServerTxId) -> Option<ServerState> {
        self.servers.get(&id).map(|t| t.state)
    }

    /// A fresh `z9hG4bK` branch.
    pub fn new_branch(&mut self) -> String {
        format!("{MAGIC_COOKIE}{:016x}", self.rng.next())
    }

    /// A fresh tag for From or To.
    pub fn new_tag(&mut self) -> String {
        format!("{:016x}", self.rng.next())
    }

    /// Runs every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((id, timer)) = self.timers.pop_expired(now) {
            match id {
                TxId::Client(c) => self.step_client(now, c, ClientInput::Timer(timer)),
                TxId::Server(s) => self.step_server(now, s, ServerInput::Timer(timer)),
            }
        }
    }

    /// A message from the network.
    pub fn handle_incoming(&mut self, now: Instant, incoming: Incoming) {
        let Incoming {
            message,
            peer,
            local,
        } = incoming;
        self.stats.messages.received(&message);
        if message.is_request() {
            self.stats.requests_received += 1;
            let summary = Summary::of(&message);
            let Message::Request(request) = message else {
                unreachable!()
            };
            self.on_request(now, request, summary, peer, local);
        } else {
            self.stats.responses_received += 1;
            self.on_response(now, message, peer);
        }
    }

    /// The I/O layer could not send a message of transaction `id`
    /// ([`Transmit::tx`]): the transaction ends with
    /// [`TxEvent::TransportError`].
    pub fn transport_error(&mut self, now: Instant, id: TxId) {
        match id {
            TxId::Client(c) => self.step_client(now, c, ClientInput::TransportError),
            TxId::Server(s) => self.step_server(now, s, ServerInput::TransportError),
        }
    }

    /// Starts a client transaction for `request` (any method but ACK) sent
    /// to `peer`. The top Via must be present; if it has no branch the layer
    /// adds a fresh `z9hG4bK` one (a branch given is kept as is). Max-Forwards
    /// 70 is added if absent. From, To, Call-ID and CSeq must be present.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        peer: Peer,
    ) -> Result<ClientTxId, LocalError> {
        self.send_request_as(now, request, peer, self.config.policy)
    }

    /// [`send_request`](Self::send_request) on behalf of `policy`'s core: a
    /// proxy core's INVITE client transaction passes every 2xx up
    /// ([`Policy::forwards_every_2xx`]), whatever the layer's policy.
    pub fn send_request_as(
        &mut self,
        now: Instant,
        mut request: Request,
        peer: Peer,
        policy: Policy,
    ) -> Result<ClientTxId, LocalError> {
        if request.method == Method::Ack {
            return Err(LocalError::AckInTransaction);
        }
        let branch = self.ensure_branch(&mut request.headers)?;
        let cseq = match request.headers.get(&HeaderName::CSeq).map(CSeq::parse) {
            Some(Ok(c)) => c,
            Some(Err(e)) => return Err(LocalError::BadHeader(e)),
            None => return Err(LocalError::MissingHeader("CSeq")),
        };
        if cseq.method != request.method {
            return Err(LocalError::CSeqMismatch);
        }
        for (name, what) in [
            (HeaderName::From, "From"),
            (HeaderName::To, "To"),
            (HeaderName::CallId, "Call-ID"),
        ] {
            if !request.headers.contains(&name) {
                return Err(LocalError::MissingHeader(what));
            }
        }
        add_max_forwards(&mut request);
        let key = ClientKey {
            branch,
            method: request.method.clone(),
        };
        if self.client_index.contains_key(&key) {
            return Err(LocalError::DuplicateBranch);
        }
        let id = ClientTxId(self.alloc_id());
        self.start_client(now, id, ClientTx::new(request, peer, key, policy));
        Ok(id)
    }

    /// A client transaction that may fail over ([`Self::retarget`] with
    /// `failover`) and failed: its timeout fired or the I/O layer reported a
    /// transport error before any response, or a 503 came (an INVITE's is
    /// acknowledged). It stays, silent, until the
    /// transaction user sends it elsewhere with [`Self::retarget`] or gives
    /// up with [`Self::give_up`].
    pub fn poll_unanswered(&mut self) -> Option<ClientTxId> {
        self.unanswered.pop_front()
    }

    /// Sends client transaction `id`'s request to `peer` as a new attempt
    /// (RFC 3263 §4.3): `rewrite` may change the request first (the top
    /// Via's transport, sent-by, and a new branch, which re-keys the
    /// transaction); the timers start afresh for `peer`'s transport. With
    /// `failover`, a later timeout or transport error before any response
    /// comes out of [`Self::poll_unanswered`] instead of ending the
    /// transaction, as does a 503. The request must have had no final
    /// response (or have failed over).
    pub fn retarget(
        &mut self,
        now: Instant,
        id: ClientTxId,
        peer: Peer,
        failover: bool,
        rewrite: impl FnOnce(&mut Request),
    ) -> Result<(), LocalError> {
        let tx = self
            .clients
            .get_mut(&id)
            .ok_or(LocalError::UnknownTransaction)?;
        if !tx.can_retarget() {
            return Err(LocalError::NotRetargetable);
        }
        let mut request = tx.request.clone();
        rewrite(&mut request);
        let branch = self.ensure_branch(&mut request.headers)?;
        let tx = self.clients.get_mut(&id).expect("checked above");
        let key = ClientKey {
            branch,
            method: request.method.clone(),
        };
        if key != tx.key {
            if self.client_index.contains_key(&key) {
                return Err(LocalError::DuplicateBranch);
            }
            if self.client_index.get(&tx.key) == Some(&id) {
                self.client_index.remove(&tx.key);
            }
            self.client_index.insert(key.clone(), id);
            tx.key = key;
        }
        tx.request = request;
        tx.peer = peer;
        tx.failover = failover;
        let mut cx = cx!(self, now, TxId::Client(id));
        tx.restart(&mut cx);
        Ok(())
    }

    /// Ends client transaction `id`, which came out of
    /// [`Self::poll_unanswered`], as it would have ended without failover:
    /// with [`TxEvent::Timeout`], [`TxEvent::TransportError`], or the 503
    /// as a [`TxEvent::Response`].
    pub fn give_up(&mut self, now: Instant, id: ClientTxId) {
        let Some(tx) = self.clients.get_mut(&id) else {
            return;
        };
        tx.failover = false;
        let mut cx = cx!(self, now, TxId::Client(id));
        tx.give_up(&mut cx);
        if cx.terminated {
            self.remove_client(id);
        }
    }

    /// Cancels INVITE client transaction `id` (RFC 3261 §9.1): builds the
    /// CANCEL and runs it as its own non-INVITE client transaction, whose id is
    /// returned. Before any provisional response the CANCEL waits for one
    /// (§9.1); if a final response comes first it is never sent and its id
    /// gets no events. If no final response comes 64*T1 after the CANCEL is
    /// sent, the INVITE transaction ends with [`TxEvent::Timeout`].
    pub fn cancel(&mut self, now: Instant, id: ClientTxId) -> Result<ClientTxId, LocalError> {
        let tx = self
            .clients
            .get_mut(&id)
            .ok_or(LocalError::UnknownTransaction)?;
        if !tx.invite || !matches!(tx.state, ClientState::Calling | ClientState::Proceeding) {
            return Err(LocalError::NotCancellable);
        }
        if tx.cancelled {
            return Err(LocalError::AlreadyCancelled);
        }
        tx.cancelled = true;
        let cancel_id = ClientTxId(self.alloc_id());
        let tx = self.clients.get_mut(&id).expect("checked above");
        if tx.state == ClientState::Calling {
            tx.pending_cancel = Some(cancel_id);
        } else {
            self.send_cancel(now, id, cancel_id);
        }
        Ok(cancel_id)
    }

    /// Sends the ACK for a 2xx that client transaction `id` reported
    /// (§13.2.2.4). A branch is added to its top Via if missing. While the
    /// INVITE transaction is in Accepted, a retransmission of that 2xx (same
    /// To tag) gets this ACK again without reaching the TU. If the
    /// transaction has ended the ACK is still sent.
    pub fn send_ack_for_2xx(
        &mut self,
        _now: Instant,
        id: ClientTxId,
        mut ack: Request,
        peer: Peer,
    ) -> Result<(), LocalError> {
        if ack.method != Method::Ack {
            return Err(LocalError::NotAck);
        }
        self.ensure_branch(&mut ack.headers)?;
        add_max_forwards(&mut ack);
        let t = Transmit::request(None, peer, &ack);
        if let Some(tx) = self.clients.get_mut(&id) {
            if tx.state == ClientState::Accepted {
                tx.record_ack_for_2xx(to_tag(&ack.headers), t.clone());
            }
        }
        self.transmits.push_back(t);
        Ok(())
    }

    /// Queues a message outside any transaction (e.g. an in-dialog ACK after
    /// the INVITE transaction ended, or a stateless response). Nothing is
    /// added or checked.
    pub fn send_stateless(
        &mut self,
        _now: Instant,
        message: Message,
        peer: Peer,
        local: Option<SocketAddr>,
    ) {
        self.transmits.push_back(match &message {
            Message::Request(r) => Transmit::request(None, peer, r),
            Message::Response(r) => Transmit::response(None, peer, local, r),
        });
    }

    /// Sends `response` in server transaction `id`: provisional responses,
    /// then one final response (under [`Policy::Proxy`](super::Policy), any
    /// number of 2xx after a 2xx, sent as given). Via, From, To, Call-ID and CSeq are copied
    /// from the request when the response has none; the To tag is the one
    /// the TU wrote (the layer adds none).
    pub fn respond(
        &mut self,
        now: Instant,
        id: ServerTxId,
        response: Response,
    ) -> Result<(), LocalError> {
        self.respond_checked(now, id, response, |_, _, _| Ok(()))
    }

    /// Server transaction `id` is answered by a proxy core from now on
    /// ([`Policy::Proxy`]): it does not retransmit a 2xx of its own and
    /// sends every 2xx given to it (the transaction user forwards a
    /// request it had received as a UA core). Refused once a final
    /// response was sent.
    pub fn answer_as_proxy(&mut self, id: ServerTxId) -> Result<(), LocalError> {
        let tx = self
            .servers
            .get_mut(&id)
            .ok_or(LocalError::UnknownTransaction)?;
        if tx.request.is_none() {
            return Err(LocalError::FinalResponseSent);
        }
        tx.policy = Policy::Proxy;
        Ok(())
    }

    /// [`respond`](Self::respond), once `check` has accepted the response
    /// as it will be sent (completed from the request), given the source of
    /// the request and the local address it arrived on. When `check`
    /// refuses, nothing is sent and the transaction is unchanged: it can
    /// still be answered.
    pub fn respond_checked<E: From<LocalError>>(
        &mut self,
        now: Instant,
        id: ServerTxId,
        response: Response,
        check: impl FnOnce(&Response, Peer, SocketAddr) -> Result<(), E>,
    ) -> Result<(), E> {
        if !(100..=699).contains(&response.status) {
            return Err(LocalError::InvalidStatus(response.status).into());
        }
        let tx = self
            .servers
            .get(&id)
            .ok_or(LocalError::UnknownTransaction)?;
        // The request is released when the final response goes out.
        let response = match &tx.request {
            Some(request) => complete_response(request, response),
            // RFC 6026 §7.1, §16.7 step 9: a proxy forwards every 2xx, each
            // as it came (complete).
            None if tx.policy.forwards_every_2xx()
                && tx.state == ServerState::Accepted
                && (200..300).contains(&response.status) =>
            {
                response
            }
            None => return Err(LocalError::FinalResponseSent.into()),
        };
        check(&response, tx.peer, tx.local)?;
        self.step_server(now, id, ServerInput::Respond(response));
        Ok(())
    }

    /// A PRACK acknowledged reliable provisional response `rseq` of INVITE
    /// server transaction `id` (RFC 3262 §3; the TU matches the PRACK's
    /// RAck): its retransmission stops. Returns whether it was the one
    /// awaiting a PRACK.
    pub fn prack(&mut self, now: Instant, id: ServerTxId, rseq: u32) -> bool {
        let awaited = self.servers.get(&id).and_then(|tx| tx.awaited_prack());
        if awaited != Some(rseq) {
            return false;
        }
        self.step_server(now, id, ServerInput::Prack(rseq));
        true
    }

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Returns the branch of the top Via, adding a fresh one if it has none.
    fn ensure_branch(&mut self, headers: &mut Headers) -> Result<Text, LocalError> {
        let line = headers
            .get(&HeaderName::Via)
            .ok_or(LocalError::MissingHeader("Via"))?
            .clone();
        let items = split_list(&line);
        let top = line.slice_ref(items.first().ok_or(LocalError::MissingHeader("Via"))?);
        let via = Via::parse(&top).map_err(LocalError::BadHeader)?;
        if let Some(b) = via.branch() {
            return Ok(b.clone());
        }
        let branch = Text::from(self.new_branch());
        headers.replace_first_value(&HeaderName::Via, Some(&format!("{top};branch={branch}")));
        Ok(branch)
    }

    fn start_client(&mut self, now: Instant, id: ClientTxId, mut tx: ClientTx) {
        self.client_index.insert(tx.key.clone(), id);
        let mut cx = cx!(self, now, TxId::Client(id));
        tx.start(&mut cx);
        self.clients.insert(id, Box::new(tx));
    }

    /// Sends the CANCEL for INVITE transaction `invite` as transaction
    /// `cancel_id`, and arms the §9.1 wait on the INVITE.
    fn send_cancel(&mut self, now: Instant, invite: ClientTxId, cancel_id: ClientTxId) {
        let Some(tx) = self.clients.get(&invite) else {
            return;
        };
        let cancel = build_cancel(&tx.request);
        let key = ClientKey {
            branch: tx.key.branch.clone(),
            method: Method::Cancel,
        };
        let (peer, policy) = (tx.peer, tx.policy);
        self.timers.set(
            TxId::Client(invite),
            Timer::CancelWait,
            now,
            now + self.config.t1x64(),
        );
        self.start_client(now, cancel_id, ClientTx::new(cancel, peer, key, policy));
    }

    fn step_client(&mut self, now: Instant, id: ClientTxId, input: ClientInput) {
        let Some(tx) = self.clients.get_mut(&id) else {
            return;
        };
        let mut cx = cx!(self, now, TxId::Client(id));
        tx.step(&mut cx, input);
        if cx.terminated {
            self.remove_client(id);
        } else if cx.unanswered {
            self.unanswered.push_back(id);
        } else if tx.state == ClientState::Proceeding {
            // §9.1: a CANCEL asked for in Calling goes out with the first provisional.
            if let Some(cancel_id) = tx.pending_cancel.take() {
                self.send_cancel(now, id, cancel_id);
            }
        }
    }

    fn step_server(&mut self, now: Instant, id: ServerTxId, input: ServerInput) {
        let Some(tx) = self.servers.get_mut(&id) else {
            return;
        };
        let mut cx = cx!(self, now, TxId::Server(id));
        tx.step(&mut cx, input);
        if cx.terminated {
            self.remove_server(id);
        }
    }

    fn remove_client(&mut self, id: ClientTxId) {
        if let Some(tx) = self.clients.remove(&id) {
            if self.client_index.get(&tx.key) == Some(&id) {
                self.client_index.remove(&tx.key);
            }
        }
        self.timers.stop_all(TxId::Client(id));
    }

    fn remove_server(&mut self, id: ServerTxId) {
        if let Some(tx) = self.servers.remove(&id) {
            self.server_index.remove(self.hasher.hash(&tx.key), id);
            if let Some(k) = tx.merge_key() {
                self.merge_index.remove(self.hasher.hash(k), id);
            }
            if let Some(k) = tx.ack_key() {
                self.ack_index.remove(self.hasher.hash(k), id);
            }
        }
        self.timers.stop_all(TxId::Server(id));
    }

    fn on_response(&mut self, now: Instant, message: Message, peer: Peer) {
        let Ok(summary) = Summary::of(&message) else {
            self.stats.dropped_responses += 1;
            return;
        };
        let Some(branch) = summary.branch() else {
            self.stats.dropped_responses += 1;
            return;
        };
        // §17.1.3: branch of the top Via and CSeq method.
        let key = ClientKey {
            branch: branch.clone(),
            method: summary.cseq.method.clone(),
        };
        let Some(&id) = self.client_index.get(&key) else {
            self.stats.dropped_responses += 1;
            return;
        };
        // §8.1.3.3: a UAC discards a response with more than one Via; a
        // proxy's responses carry the Vias of the hops before it.
        let via_count = || {
            message
                .headers()
                .get_all(&HeaderName::Via)
                .map(|v| split_list(v).len())
                .sum::<usize>()
        };
        if self.clients[&id].policy.discards_multi_via_responses() && via_count() != 1 {
            self.stats.dropped_responses += 1;
            return;
        }
        let Message::Response(response) = message else {
            unreachable!()
        };
        self.step_client(now, id, ClientInput::Response(response, peer));
    }

    fn on_request(
        &mut self,
        now: Instant,
        request: Request,
        summary: Result<Summary, Missing>,
        peer: Peer,
        local: SocketAddr,
    ) {
        let s = match summary {
            Ok(s) => s,
            // RFC 3261 §18.2.2: a response is routed by the top Via; without
            // one there is nowhere to send it.
            Err(Missing::Via) => {
                self.stats.dropped_without_via += 1;
                return;
            }
            // §17.2 and §17.1.1.3: ACK is never answered.
            Err(Missing::Header(_)) if request.method == Method::Ack => {
                self.stats.dropped_acks += 1;
                return;
            }
            // RFC 4475 §3.3.1 (insuf): a request missing a mandatory header is
            // answered 400, statelessly: its retransmissions get the same answer.
            Err(Missing::Header(name)) => {
                self.stats.rejected_missing_header += 1;
                let mut r = make_response(&request, 400, None);
                r.reason = Text::from(format!("Missing {name} header"));
                self.transmits
                    .push_back(Transmit::response(None, peer, Some(local), &r));
                return;
            }
        };
        let key = ServerKey::of(&request, &s, &request.method);
        if let Some(id) = self.server_by_key(&key) {
            if self.same_transaction(id, &key, &request, &s) {
                let input = if request.method == Method::Ack {
                    ServerInput::Ack {
                        request: Box::new(request),
                        peer,
                        local,
                    }
                } else {
                    ServerInput::Retransmission
                };
                self.step_server(now, id, input);
                return;
            }
        }
        match request.method {
            Method::Ack => self.on_ack_for_2xx(now, request, &s, peer, local),
            Method::Cancel => self.on_cancel(now, request, s, key, peer, local),
            _ => self.on_new_request(now, request, s, key, peer, local),
        }
    }

    /// §17.2.3 with the RFC 2543 rules: the To tag is compared after the key
    /// lookup; an ACK carries the tag of our final response.
    fn same_transaction(
        &self,
        id: ServerTxId,
        key: &ServerKey,
        req: &Request,
        s: &Summary,
    ) -> bool {
        if !key.is_rfc2543() {
            return true;
        }
        let Some(tx) = self.servers.get(&id) else {
            return false;
        };
        if req.method == Method::Ack {
            s.to_tag.is_none() || s.to_tag == tx.local_tag || s.to_tag == tx.request_to_tag
        } else {
            s.to_tag == tx.request_to_tag
        }
    }

    /// An ACK that matched no transaction by §17.2.3: the ACK for a 2xx, which
    /// has its own branch (§13.2.2.4). It stops the 2xx retransmission of the
    /// INVITE it acknowledges, or goes to the TU on its own.
    fn on_ack_for_2xx(
        &mut self,
        now: Instant,
        request: Request,
        s: &Summary,
        peer: Peer,
        local: SocketAddr,
    ) {
        let key = AckKey::of(s);
        let servers = &self.servers;
        let indexed = self.ack_index.get(self.hasher.hash(&key), |id| {
            servers.get(&id).is_some_and(|t| t.ack_key() == Some(&key))
        });
        let found = indexed.filter(|id| {
            self.servers.get(id).is_some_and(|tx| {
                tx.state == ServerState::Accepted
                    && (tx.local_tag.is_none() || s.to_tag == tx.local_tag)
            })
        });
        match found {
            Some(id) => self.step_server(
                now,
                id,
                ServerInput::Ack {
                    request: Box::new(request),
                    peer,
                    local,
                },
            ),
            None => {
                self.stats.acks_without_transaction += 1;
                self.events.push_back(TxEvent::AckFor2xx {
                    id: None,
                    request,
                    peer,
                    local,
                });
            }
        }
    }

    fn new_server(
        &mut self,
        request: Request,
        s: &Summary,
        key: ServerKey,
        peer: Peer,
        local: SocketAddr,
    ) -> ServerTxId {
        let id = ServerTxId(self.alloc_id());
        let mut key = key;
        let mut merge_key = MergeKey::of(&request.method, s);
        let mut ack_key = (request.method == Method::Invite).then(|| AckKey::of(s));
        let mut to_tag = s.to_tag.clone();
        // What the transaction keeps for up to 64*T1 after its final
        // response must not share the received message's buffer.
        let mut texts = key.texts_mut();
        texts.extend(merge_key.iter_mut().flat_map(MergeKey::texts_mut));
        texts.extend(ack_key.iter_mut().flat_map(AckKey::texts_mut));
        texts.extend(to_tag.iter_mut());
        Text::unshare_all(&mut texts);
        let hashes = (
            self.hasher.hash(&key),
            merge_key.as_ref().map(|k| self.hasher.hash(k)),
            ack_key.as_ref().map(|k| self.hasher.hash(k)),
        );
        let tx = ServerTx::new(
            request,
            peer,
            local,
            key,
            merge_key,
            ack_key,
            to_tag,
            self.config.policy,
        );
        self.servers.insert(id, Box::new(tx));
        let servers = &self.servers;
        let tx = &servers[&id];
        let held = |old: &ServerTxId| servers.get(old);
        self.server_index.insert_last(hashes.0, id, |old| {
            held(&old).is_some_and(|t| t.key == tx.key)
        });
        if let Some(h) = hashes.1 {
            self.merge_index.insert_first(h, id, |old| {
                held(&old).is_some_and(|t| t.merge_key() == tx.merge_key())
            });
        }
        if let Some(h) = hashes.2 {
            self.ack_index.insert_first(h, id, |old| {
                held(&old).is_some_and(|t| t.ack_key() == tx.ack_key())
            });
        }
        id
    }

    /// The server transaction indexed under `key`.
    fn server_by_key(&self, key: &ServerKey) -> Option<ServerTxId> {
        let servers = &self.servers;
        self.server_index.get(self.hasher.hash(key), |id| {
            servers.get(&id).is_some_and(|t| t.key == *key)
        })
    }

    /// A response made by the layer in transaction `id`. All but 100 carry a
    /// To tag: the request's, else the one already used in this transaction,
    /// else a fresh one.
    fn respond_internal(&mut self, now: Instant, id: ServerTxId, status: u16, extra: Headers) {
        let Some(tx) = self.servers.get(&id) else {
            return;
        };
        let tag = match (&tx.request_to_tag, &tx.local_tag) {
            _ if status == 100 => None,
            (Some(_), _) => None,
            (None, Some(t)) => Some(t.clone()),
            (None, None) => Some(Text::from(self.new_tag())),
        };
        let Some(request) = &self.servers[&id].request else {
            return;
        };
        let mut r = make_response(request, status, tag.as_ref());
        for h in &extra {
            r.headers.push(h.name.clone(), h.value.clone());
        }
        self.step_server(now, id, ServerInput::Respond(r));
    }

    /// §9.2: the CANCEL gets its own server transaction; it is answered 200
    /// if it matches a transaction (the INVITE also gets 487 if it had no
    /// final response yet), else 481.
    fn on_cancel(
        &mut self,
        now: Instant,
        request: Request,
        s: Summary,
        key: ServerKey,
        peer: Peer,
        local: SocketAddr,
    ) {
        let invite_key = ServerKey::of(&request, &s, &Method::Invite);
        let invite = self
            .server_by_key(&invite_key)
            .filter(|&id| self.same_transaction(id, &invite_key, &request, &s));
        let cancel_request = request.clone();
        let id = self.new_server(request, &s, key, peer, local);
        let Some(invite) = invite else {
            self.stats.cancels_unmatched += 1;
            self.respond_internal(now, id, 481, Headers::new());
            return;
        };
        // §9.2: the 200 to the CANCEL and the 487 carry the same To tag.
        let inv = self.servers.get_mut(&invite).expect("indexed");
        if inv.request_to_tag.is_none() && inv.local_tag.is_none() {
            inv.local_tag = Some(Text::from(format!("{:016x}", self.rng.next())));
        }
        let tag = inv.local_tag.clone();
        let pending = inv.invite && inv.state == ServerState::Proceeding;
        if let Some(cancel_tx) = self.servers.get_mut(&id) {
            cancel_tx.local_tag = tag;
        }
        self.respond_internal(now, id, 200, Headers::new());
        if pending {
            self.stats.cancels_matched += 1;
            self.respond_internal(now, invite, 487, Headers::new());
            self.events.push_back(TxEvent::CancelReceived {
                id: invite,
                request: cancel_request,
            });
        }
    }

    fn on_new_request(
        &mut self,
        now: Instant,
        request: Request,
        s: Summary,
        key: ServerKey,
        peer: Peer,
        local: SocketAddr,
    ) {
        let rejection = if self.config.policy.checks_as_uas() {
            let (servers, merge_index, hasher) = (&self.servers, &self.merge_index, &self.hasher);
            let clients = &self.client_index;
            uas_check(&request, &s, &self.config.supported, |k| {
                let held =
                    |id: ServerTxId| servers.get(&id).is_some_and(|t| t.merge_key() == Some(k));
                merge_index.get(hasher.hash(k), held).is_some() && !spirals(&request, clients)
            })
        } else {
            None
        };
        let invite = request.method == Method::Invite;
        let event_request = rejection.is_none().then(|| request.clone());
        let id = self.new_server(request, &s, key, peer, local);
        let Some(rejection) = rejection else {
            self.events.push_back(TxEvent::NewRequest {
                id,
                request: event_request.expect("not rejected"),
                peer,
                local,
            });
            // §17.2.1 (§16.2 for a proxy): 100 Trying at once, so the TU may
            // take its time.
            if invite {
                self.respond_internal(now, id, 100, Headers::new());
            }
            return;
        };
        let mut extra = Headers::new();
        match &rejection {
            Rejection::UnsupportedScheme => self.stats.rejected_unsupported_scheme += 1,
            Rejection::Merged => self.stats.rejected_merged += 1,
            Rejection::BadExtension(tags) => {
                self.stats.rejected_bad_extension += 1;
                let list: Vec<&str> = tags.iter().map(|t| t.as_str()).collect();
                extra.push(HeaderName::Unsupported, list.join(", "));
            }
        }
        self.respond_internal(now, id, rejection.status(), extra);
    }
}

/// Whether `request` spirals: it carries, below its top Via, the Via of a
/// client transaction of ours (the TU forwarded it, and it came back). Such
/// a copy is not merged (RFC 3261 §8.2.2.2) but a new request a proxy must
/// take (§16.3 item 4 tells a spiral from a loop). Looked at only when the
/// merge check matched, so its Via parsing costs nothing otherwise.
fn spirals(request: &Request, clients: &HashMap<ClientKey, ClientTxId>) -> bool {
    let mut vias = Vec::new();
    for line in request.headers.get_all(&HeaderName::Via) {
        match Via::parse_list(line) {
            Ok(list) => vias.extend(list),
            Err(_) => return false,
        }
    }
    vias.iter().skip(1).any(|via| {
        via.branch().is_some_and(|branch| {
            clients.contains_key(&ClientKey {
                branch: branch.clone(),
                method: request.method.clone(),
            })
        })
    })
}

/// Adds `Max-Forwards: 70` to a request the TU sent without one (RFC 3261
/// §8.1.1.6: a UAC must insert it; a receiving stack drops a request
/// without it).
fn add_max_forwards(request: &mut Request) {
    if !request.headers.contains(&HeaderName::MaxForwards) {
        request.headers.push(HeaderName::MaxForwards, "70");
    }
}
