//! The server transactions: INVITE (RFC 3261 §17.2.1, Figure 7, as updated
//! by RFC 6026 §7.1 and Figure 5 there) and non-INVITE (§17.2.2, Figure 8).
//! Under [`Policy::UserAgent`](super::Policy) the UAS core's 2xx
//! retransmission (§13.3.1.4) runs in the INVITE machine's Accepted state,
//! so retransmissions never reach the application; under `Proxy` that state
//! sends every 2xx the TU forwards.

use super::matching::{AckKey, MergeKey, ServerKey};
use super::timers::Timer;
use super::{Cx, Outbound, Peer, Policy, ServerState, Transmit, TxEvent, TxId};
use crate::fields::RSeq;
use crate::header::{HeaderName, Headers};
use crate::message::{Request, Response};
use crate::text::Text;
use crate::typed::NameAddr;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::Duration;

/// One server transaction. `invite` selects the machine.
#[derive(Debug)]
pub(crate) struct ServerTx {
    pub invite: bool,
    pub state: ServerState,
    /// The request that created the transaction, until the final response
    /// is sent (then only that response is needed, to re-send it).
    pub request: Option<Box<Request>>,
    pub peer: Peer,
    pub local: SocketAddr,
    pub key: ServerKey,
    /// The merged-request and ACK keys. Boxed together: most transactions
    /// have neither (a request in a dialog has no merge key, and only INVITE
    /// has an ACK key).
    keys: Option<Box<(Option<MergeKey>, Option<AckKey>)>>,
    /// The To tag of the request (compared for RFC 2543 matching).
    pub request_to_tag: Option<Text>,
    /// The To tag of our responses, once one carried a tag.
    pub local_tag: Option<Text>,
    /// The last response sent, as sent (its bytes and where it went).
    last_response: Option<(Bytes, Outbound)>,
    /// Current interval of Timer G or of the 2xx retransmission.
    interval: Duration,
    acked: bool,
    /// Who answers the request: a UA core, or a proxy core once the
    /// transaction user chose to forward it.
    pub policy: Policy,
    /// The reliable provisional response awaiting its PRACK (RFC 3262 §3).
    reliable: Option<Box<Reliable>>,
}

/// A reliable provisional response being retransmitted until its PRACK.
#[derive(Debug)]
struct Reliable {
    rseq: u32,
    bytes: Bytes,
    kind: Outbound,
    /// The current retransmit interval, and the time retransmitted so far.
    interval: Duration,
    elapsed: Duration,
}

/// What can happen to a server transaction.
#[derive(Debug)]
pub(crate) enum ServerInput {
    /// The request arrived again.
    Retransmission,
    /// An ACK matched the transaction.
    Ack {
        request: Box<Request>,
        peer: Peer,
        local: SocketAddr,
    },
    /// A response from the transaction user (or made by the layer).
    Respond(Response),
    /// A PRACK acknowledged the reliable provisional response of this RSeq
    /// (the TU matched it, RFC 3262 §3).
    Prack(u32),
    Timer(Timer),
    TransportError,
}

impl ServerTx {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        request: Request,
        peer: Peer,
        local: SocketAddr,
        key: ServerKey,
        merge_key: Option<MergeKey>,
        ack_key: Option<AckKey>,
        request_to_tag: Option<Text>,
        policy: Policy,
    ) -> ServerTx {
        let invite = request.method == crate::message::Method::Invite;
        ServerTx {
            invite,
            // §17.2.1: an INVITE server transaction starts in Proceeding
            // (it sends 100 Trying at once); §17.2.2: non-INVITE in Trying.
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            request: Some(Box::new(request)),
            peer,
            local,
            key,
            keys: (merge_key.is_some() || ack_key.is_some())
                .then(|| Box::new((merge_key, ack_key))),
            request_to_tag,
            local_tag: None,
            last_response: None,
            interval: Duration::ZERO,
            acked: false,
            reliable: None,
            policy,
        }
    }

    /// The merged-request key (§8.2.2.2), for a request without To tag.
    pub fn merge_key(&self) -> Option<&MergeKey> {
        self.keys.as_ref()?.0.as_ref()
    }

    /// The RSeq of the reliable provisional response awaiting its PRACK.
    pub fn awaited_prack(&self) -> Option<u32> {
        self.reliable.as_ref().map(|r| r.rseq)
    }

    /// The key of the ACK for a 2xx, for an INVITE.
    pub fn ack_key(&self) -> Option<&AckKey> {
        self.keys.as_ref()?.1.as_ref()
    }

    pub fn step(&mut self, cx: &mut Cx<'_>, input: ServerInput) {
        if self.invite {
            self.invite_step(cx, input)
        } else {
            self.non_invite_step(cx, input)
        }
    }

    /// The INVITE server transaction, one arm per transition.
    fn invite_step(&mut self, cx: &mut Cx<'_>, input: ServerInput) {
        use ServerInput as In;
        use ServerState as S;
        let reliable = self.peer.transport.is_reliable();
        let (t1, t2, t4, t64) = (cx.config.t1, cx.config.t2, cx.config.t4, cx.config.t1x64());
        match (self.state, input) {
            // §17.2.1: a retransmitted INVITE gets the last provisional response again.
            (S::Proceeding, In::Retransmission) => {
                cx.stats.request_retransmissions_absorbed += 1;
                self.resend(cx);
            }
            // §17.2.1: provisional responses from the TU are sent, state
            // unchanged. RFC 3262 §3: one with an RSeq is reliable: it is
            // retransmitted from T1, doubling, until its PRACK.
            (S::Proceeding, In::Respond(r)) if r.status < 200 => {
                let rseq = r
                    .headers
                    .get(&HeaderName::RSeq)
                    .and_then(|v| RSeq::parse(v).ok());
                self.send(cx, r);
                if let (Some(RSeq(rseq)), Some((bytes, kind))) = (rseq, &self.last_response) {
                    self.reliable = Some(Box::new(Reliable {
                        rseq,
                        bytes: bytes.clone(),
                        kind: kind.clone(),
                        interval: t1,
                        elapsed: Duration::ZERO,
                    }));
                    cx.start(Timer::Reliable1xx, t1);
                }
            }
            // RFC 3262 §3: retransmit the reliable provisional response; after
            // 64*T1 without its PRACK, tell the TU (which should answer 5xx).
            (S::Proceeding, In::Timer(Timer::Reliable1xx)) => {
                let Some(rel) = self.reliable.as_mut() else {
                    return;
                };
                rel.elapsed += rel.interval;
                if rel.elapsed >= t64 {
                    self.reliable = None;
                    cx.stats.timeouts += 1;
                    let TxId::Server(id) = cx.id else {
                        unreachable!("server transaction with a client id")
                    };
                    cx.event(TxEvent::PrackTimeout { id });
                } else {
                    // The last wait ends at 64*T1 exactly.
                    rel.interval = (rel.interval * 2).min(t64 - rel.elapsed);
                    cx.start(Timer::Reliable1xx, rel.interval);
                    cx.stats.retransmissions_sent += 1;
                    cx.resend(&Transmit {
                        tx: Some(cx.id),
                        peer: self.peer,
                        local: Some(self.local),
                        bytes: rel.bytes.clone(),
                        kind: rel.kind.clone(),
                    });
                }
            }
            // RFC 3262 §3: the PRACK stops the retransmission.
            (S::Proceeding, In::Prack(rseq)) => {
                if self.awaited_prack() == Some(rseq) {
                    self.reliable = None;
                    cx.stop(Timer::Reliable1xx);
                }
            }
            // RFC 6026 §7.1: a 2xx moves to Accepted, Timer L = 64*T1. A UAS
            // core retransmits the 2xx from T1, doubling to T2, until the ACK
            // (§13.3.1.4); this is end to end, so it runs on reliable
            // transports too.
            (S::Proceeding, In::Respond(r)) if r.status < 300 => {
                self.send(cx, r);
                self.state = S::Accepted;
                if self.policy.retransmits_2xx() {
                    self.interval = t1;
                    cx.start(Timer::Retransmit2xx, t1);
                }
                cx.start(Timer::L, t64);
            }
            // §17.2.1: a 300-699 moves to Completed; Timer G (unreliable only), Timer H.
            (S::Proceeding, In::Respond(r)) => {
                self.send(cx, r);
                self.state = S::Completed;
                if !reliable {
                    self.interval = t1;
                    cx.start(Timer::G, t1);
                }
                cx.start(Timer::H, t64);
            }
            // §17.2.1: an ACK before any final response has nothing to acknowledge.
            (S::Proceeding, In::Ack { .. }) => cx.stats.dropped_acks += 1,
            // §17.2.1: a retransmitted INVITE in Completed gets the final response again.
            (S::Completed, In::Retransmission) => {
                cx.stats.request_retransmissions_absorbed += 1;
                self.resend(cx);
            }
            // §17.2.1: Timer G retransmits the final response, doubling to T2.
            (S::Completed, In::Timer(Timer::G)) => {
                self.resend(cx);
                self.interval = (self.interval * 2).min(t2);
                cx.start(Timer::G, self.interval);
            }
            // §17.2.1: Timer H: no ACK came; inform the TU.
            (S::Completed, In::Timer(Timer::H)) => {
                cx.stats.timeouts += 1;
                cx.event(TxEvent::Timeout { id: cx.id });
                cx.terminate();
            }
            // §17.2.1: the ACK moves to Confirmed; Timer I = T4, zero on reliable.
            (S::Completed, In::Ack { .. }) => {
                cx.stop(Timer::G);
                cx.stop(Timer::H);
                self.state = S::Confirmed;
                if reliable {
                    cx.terminate();
                } else {
                    cx.start(Timer::I, t4);
                }
            }
            // §17.2.1: Confirmed absorbs ACK and INVITE retransmissions.
            (S::Confirmed, In::Retransmission | In::Ack { .. }) => {
                cx.stats.request_retransmissions_absorbed += 1;
            }
            // §17.2.1: Timer I ends the transaction.
            (S::Confirmed, In::Timer(Timer::I)) => cx.terminate(),
            // RFC 6026 §7.1: a 2xx from the TU in Accepted is sent (a proxy
            // forwards each 2xx it receives; the layer lets only a proxy's
            // TU give more than one final response).
            (S::Accepted, In::Respond(r)) if (200..300).contains(&r.status) => self.send(cx, r),
            // RFC 6026 §7.1: a retransmitted INVITE in Accepted is absorbed.
            (S::Accepted, In::Retransmission) => {
                cx.stats.request_retransmissions_absorbed += 1;
            }
            // RFC 6026 §7.1 and §13.3.1.4: the ACK for the 2xx stops its
            // retransmission and goes to the TU once; repeated ACKs are
            // absorbed, but by a proxy, which forwards each (every 2xx it
            // forwarded gets its own from the UAC, §13.2.2.4).
            (
                S::Accepted,
                In::Ack {
                    request,
                    peer,
                    local,
                },
            ) => {
                if self.acked && !self.policy.forwards_every_2xx() {
                    cx.stats.request_retransmissions_absorbed += 1;
                } else if self.acked {
                    let TxId::Server(id) = cx.id else {
                        unreachable!("server transaction with a client id")
                    };
                    cx.event(TxEvent::AckFor2xx {
                        id: Some(id),
                        request: *request,
                        peer,
                        local,
                    });
                } else {
                    self.acked = true;
                    cx.stop(Timer::Retransmit2xx);
                    // Now Accepted only absorbs retransmissions: Timer L
                    // may fire on the lingering grid.
                    cx.linger(Timer::L);
                    // Accepted absorbs retransmitted INVITEs without an
                    // answer: the 2xx is not needed any more.
                    self.last_response = None;
                    let TxId::Server(id) = cx.id else {
                        unreachable!("server transaction with a client id")
                    };
                    cx.event(TxEvent::AckFor2xx {
                        id: Some(id),
                        request: *request,
                        peer,
                        local,
                    });
                }
            }
            // §13.3.1.4: retransmit the 2xx, doubling to T2.
            (S::Accepted, In::Timer(Timer::Retransmit2xx)) => {
                self.resend(cx);
                self.interval = (self.interval * 2).min(t2);
                cx.start(Timer::Retransmit2xx, self.interval);
            }
            // RFC 6026 §7.1: Timer L ends Accepted; without an ACK by then the
            // TU is told (§13.3.1.4: the session should be ended).
            (S::Accepted, In::Timer(Timer::L)) => {
                if !self.acked && self.policy.retransmits_2xx() {
                    cx.stats.ack_timeouts += 1;
                    let TxId::Server(id) = cx.id else {
                        unreachable!("server transaction with a client id")
                    };
                    cx.event(TxEvent::AckTimeout { id });
                }
                cx.terminate();
            }
            // §17.2.1 (and RFC 6026 §7.1 for Accepted): a transport error
            // terminates the transaction and informs the TU.
            (_, In::TransportError) => {
                cx.event(TxEvent::TransportError { id: cx.id });
                cx.terminate();
            }
            // The layer refuses a second final response before stepping
            // (LocalError::FinalResponseSent); timers of a left state are stopped.
            (
                _,
                In::Respond(_) | In::Timer(_) | In::Ack { .. } | In::Retransmission | In::Prack(_),
            ) => {}
        }
    }

    /// The non-INVITE server transaction, one arm per transition.
    fn non_invite_step(&mut self, cx: &mut Cx<'_>, input: ServerInput) {
        use ServerInput as In;
        use ServerState as S;
        let reliable = self.peer.transport.is_reliable();
        match (self.state, input) {
            // §17.2.2: a retransmission in Trying is discarded (nothing to resend).
            (S::Trying, In::Retransmission) => cx.stats.request_retransmissions_absorbed += 1,
            // §17.2.2: a provisional response moves to Proceeding.
            (S::Trying | S::Proceeding, In::Respond(r)) if r.status < 200 => {
                self.send(cx, r);
                self.state = S::Proceeding;
            }
            // §17.2.2: a final response moves to Completed; Timer J = 64*T1,
            // zero on reliable transports.
            (S::Trying | S::Proceeding, In::Respond(r)) => {
                self.send(cx, r);
                self.state = S::Completed;
                if reliable {
                    cx.terminate();
                } else {
                    cx.start(Timer::J, cx.config.t1x64());
                }
            }
            // §17.2.2: retransmissions in Proceeding and Completed get the last
            // response again.
            (S::Proceeding | S::Completed, In::Retransmission) => {
                cx.stats.request_retransmissions_absorbed += 1;
                self.resend(cx);
            }
            // §17.2.2: Timer J ends the transaction.
            (S::Completed, In::Timer(Timer::J)) => cx.terminate(),
            // §17.2.2: a transport error informs the TU and terminates.
            (_, In::TransportError) => {
                cx.event(TxEvent::TransportError { id: cx.id });
                cx.terminate();
            }
            // ACK never matches a non-INVITE transaction (it is keyed as INVITE).
            (_, In::Ack { .. }) => cx.stats.dropped_acks += 1,
            (_, In::Respond(_) | In::Timer(_) | In::Retransmission | In::Prack(_)) => {}
        }
    }

    fn send(&mut self, cx: &mut Cx<'_>, r: Response) {
        if self.local_tag.is_none() {
            // In a dialog the response's tag is the request's, which the
            // transaction already holds in a buffer of its own.
            self.local_tag = match to_tag(&r.headers) {
                Some(t) if Some(&t) == self.request_to_tag.as_ref() => self.request_to_tag.clone(),
                t => t.map(|t| t.unshared()),
            };
        }
        let t = cx.send_response(self.peer, self.local, &r);
        self.last_response = Some((t.bytes, t.kind));
        if r.status >= 200 {
            // From here on only the last response is re-sent (for up to
            // 64*T1), from its bytes: the request, and the response's
            // header values that share its buffer, are released.
            self.request = None;
            // RFC 3262 §3: a final response ends the wait for a PRACK.
            if self.reliable.take().is_some() {
                cx.stop(Timer::Reliable1xx);
            }
        }
    }

    fn resend(&self, cx: &mut Cx<'_>) {
        if let Some((bytes, kind)) = &self.last_response {
            cx.stats.retransmissions_sent += 1;
            cx.resend(&Transmit {
                tx: Some(cx.id),
                peer: self.peer,
                local: Some(self.local),
                bytes: bytes.clone(),
                kind: kind.clone(),
            });
        }
    }
}

/// The tag of the To header, if it has one.
pub(crate) fn to_tag(headers: &Headers) -> Option<Text> {
    let to = headers.get(&HeaderName::To)?;
    NameAddr::parse(to).ok()?.tag().cloned()
}

/// Completes a response from the TU: Via, From, To, Call-ID and CSeq are
/// copied from the request when the response has none of that name
/// (§8.2.6.2), placed before the TU's headers. Nothing the TU gave changes.
pub(crate) fn complete_response(req: &Request, mut resp: Response) -> Response {
    const COPIED: [HeaderName; 5] = [
        HeaderName::Via,
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ];
    if COPIED.iter().all(|n| resp.headers.contains(n)) {
        return resp;
    }
    let mut headers = Headers::with_capacity(resp.headers.len() + 6);
    for name in &COPIED {
        if !resp.headers.contains(name) {
            for v in req.headers.get_all(name) {
                headers.push(name.clone(), v.clone());
            }
        }
    }
    for h in &resp.headers {
        headers.push(h.name.clone(), h.value.clone());
    }
    resp.headers = headers;
    resp
}

/// A response made by the layer itself (100, 400, 416, 420, 481, 482, 487,
/// 200 to CANCEL). Every one but 100 carries a To tag (§8.2.6.2); 100 copies
/// the Timestamp (§8.2.6.1).
pub(crate) fn make_response(req: &Request, status: u16, tag: Option<&Text>) -> Response {
    let mut r = complete_response(req, Response::new(status));
    if let Some(tag) = tag {
        add_to_tag(&mut r.headers, tag);
    }
    if status == 100 {
        if let Some(ts) = req.headers.get(&HeaderName::Timestamp) {
            r.headers.push(HeaderName::Timestamp, ts.clone());
        }
    }
    r
}

/// Adds `;tag=` to the To header unless it has a tag.
fn add_to_tag(headers: &mut Headers, tag: &Text) {
    if to_tag(headers).is_some() {
        return;
    }
    if let Some(to) = headers.get(&HeaderName::To) {
        let v = format!("{to};tag={tag}");
        headers.set(HeaderName::To, v);
    }
}
