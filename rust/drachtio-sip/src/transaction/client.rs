//! The client transactions: INVITE (RFC 3261 §17.1.1, Figure 5, as updated
//! by RFC 6026 §7.2 and Figure 4 there) and non-INVITE (§17.1.2, Figure 6).

use super::matching::ClientKey;
use super::server::to_tag;
use super::timers::Timer;
use super::{ClientState, ClientTxId, Cx, Peer, Policy, Transmit, TxEvent, TxId};
use crate::header::{HeaderName, Headers};
use crate::message::{Method, Request, Response};
use crate::scan::split_list;
use crate::text::Text;
use std::time::Duration;

/// How many forked 2xx responses (distinct To tags) an INVITE client
/// transaction remembers in Accepted; later ones are absorbed.
const MAX_FORKS: usize = 32;

/// One client transaction. `invite` selects the machine.
#[derive(Debug)]
pub(crate) struct ClientTx {
    pub invite: bool,
    pub state: ClientState,
    pub request: Request,
    pub peer: Peer,
    pub key: ClientKey,
    /// The request as sent, for retransmissions.
    sent: Option<Transmit>,
    /// Current interval of Timer A or E.
    interval: Duration,
    /// The ACK sent for the non-2xx final response (Completed).
    ack: Option<Transmit>,
    /// Accepted: the To tag of each 2xx passed to the TU, with the ACK the TU
    /// sent for it (resent when that 2xx is retransmitted, §13.2.2.4).
    forks: Vec<Fork>,
    /// A CANCEL asked for in Calling, sent on the first provisional (§9.1).
    pub pending_cancel: Option<ClientTxId>,
    /// `cancel` was called.
    pub cancelled: bool,
    /// Who sent the request: a UA core or a proxy core forwarding it.
    pub policy: Policy,
    /// A timeout or transport error before any response, or a 503, is
    /// handed to the transaction user to send elsewhere (RFC 3263 §4.3),
    /// not reported.
    pub failover: bool,
    /// Why it failed, while it waits to be sent elsewhere.
    unanswered: Option<Unanswered>,
}

/// Why a transaction that may fail over failed (RFC 3263 §4.3).
#[derive(Debug)]
enum Unanswered {
    /// Timer B or F, with no response at all.
    Timeout,
    /// A transport error, with no response at all.
    TransportError,
    /// A 503 (an INVITE's was acknowledged).
    Unavailable(Response, Peer),
}

/// A 2xx passed to the TU in Accepted: its To tag and the TU's ACK for it.
#[derive(Debug)]
struct Fork {
    tag: Option<Text>,
    ack: Option<Transmit>,
}

/// What can happen to a client transaction.
#[derive(Debug)]
pub(crate) enum ClientInput {
    /// A response and where it came from.
    Response(Response, Peer),
    Timer(Timer),
    TransportError,
}

impl ClientTx {
    pub fn new(request: Request, peer: Peer, key: ClientKey, policy: Policy) -> ClientTx {
        let invite = request.method == Method::Invite;
        ClientTx {
            invite,
            state: if invite {
                ClientState::Calling
            } else {
                ClientState::Trying
            },
            request,
            peer,
            key,
            sent: None,
            interval: Duration::ZERO,
            ack: None,
            forks: Vec::new(),
            pending_cancel: None,
            cancelled: false,
            policy,
            failover: false,
            unanswered: None,
        }
    }

    /// Sends the request and arms the first timers: A and B for INVITE
    /// (§17.1.1.2), E and F for non-INVITE (§17.1.2.2); A and E only on
    /// unreliable transports.
    pub fn start(&mut self, cx: &mut Cx<'_>) {
        let t1 = cx.config.t1;
        let (retransmit, timeout) = if self.invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        self.sent = Some(cx.send_request(self.peer, &self.request));
        if !self.peer.transport.is_reliable() {
            self.interval = t1;
            cx.start(retransmit, t1);
        }
        cx.start(timeout, cx.config.t1x64());
    }

    /// Starts again with fresh timers, after [`ClientTx::peer`] or the
    /// request changed (a new target), as if nothing had been received.
    pub fn restart(&mut self, cx: &mut Cx<'_>) {
        for timer in [Timer::A, Timer::B, Timer::E, Timer::F] {
            cx.stop(timer);
        }
        self.unanswered = None;
        self.state = if self.invite {
            ClientState::Calling
        } else {
            ClientState::Trying
        };
        self.start(cx);
    }

    /// Whether it may be sent to another target: it has had no response,
    /// or failed over.
    pub fn can_retarget(&self) -> bool {
        self.unanswered.is_some()
            || matches!(self.state, ClientState::Calling | ClientState::Trying)
    }

    /// Whether a failure goes to the TU to fail over; if so, the timers
    /// stop and the failure is remembered.
    fn fails_over(&mut self, cx: &mut Cx<'_>, why: Unanswered) -> bool {
        if !self.failover || self.cancelled {
            return false;
        }
        for timer in [Timer::A, Timer::B, Timer::E, Timer::F] {
            cx.stop(timer);
        }
        if let Unanswered::Unavailable(r, _) = &why {
            if self.invite {
                // §17.1.1.3: a non-2xx final response is acknowledged.
                let ack = build_ack(&self.request, r);
                cx.send_request(self.peer, &ack);
            }
        }
        self.failover = false;
        self.unanswered = Some(why);
        cx.unanswered = true;
        true
    }

    /// Ends a transaction that failed over and was not sent elsewhere, with
    /// the event its failure would have given.
    pub fn give_up(&mut self, cx: &mut Cx<'_>) {
        match self.unanswered.take() {
            None => return,
            Some(Unanswered::Timeout) => {
                cx.stats.timeouts += 1;
                cx.event(TxEvent::Timeout { id: cx.id });
            }
            Some(Unanswered::TransportError) => cx.event(TxEvent::TransportError { id: cx.id }),
            Some(Unanswered::Unavailable(r, from)) => self.to_tu(cx, r, from),
        }
        cx.terminate();
    }

    /// Remembers the ACK the TU sent for the 2xx with To tag `tag`.
    pub fn record_ack_for_2xx(&mut self, tag: Option<Text>, ack: Transmit) {
        if let Some(f) = self.forks.iter_mut().find(|f| f.tag == tag) {
            f.ack = Some(ack);
        }
    }

    pub fn step(&mut self, cx: &mut Cx<'_>, input: ClientInput) {
        if self.invite {
            self.invite_step(cx, input)
        } else {
            self.non_invite_step(cx, input)
        }
    }

    /// The INVITE client transaction, one arm per transition.
    fn invite_step(&mut self, cx: &mut Cx<'_>, input: ClientInput) {
        use ClientInput as In;
        use ClientState as S;
        let reliable = self.peer.transport.is_reliable();
        match (self.state, input) {
            // §17.1.1.2: Timer A retransmits the INVITE and doubles (no T2 cap).
            (S::Calling, In::Timer(Timer::A)) => {
                self.retransmit(cx);
                self.interval *= 2;
                cx.start(Timer::A, self.interval);
            }
            // RFC 3263 §4.3: no response from this target; the TU tries the next.
            (S::Calling, In::Timer(Timer::B)) if self.fails_over(cx, Unanswered::Timeout) => {}
            (S::Calling, In::TransportError) if self.fails_over(cx, Unanswered::TransportError) => {
            }
            (S::Calling | S::Proceeding, In::Response(r, from))
                if r.status == 503 && self.failover && !self.cancelled =>
            {
                self.fails_over(cx, Unanswered::Unavailable(r, from));
            }
            // §17.1.1.2: Timer B: no response; inform the TU.
            (S::Calling, In::Timer(Timer::B)) => {
                cx.stats.timeouts += 1;
                cx.event(TxEvent::Timeout { id: cx.id });
                cx.terminate();
            }
            // §17.1.1.2: a provisional response moves to Proceeding (A and B stop)
            // and goes to the TU.
            (S::Calling | S::Proceeding, In::Response(r, from)) if r.status < 200 => {
                cx.stop(Timer::A);
                cx.stop(Timer::B);
                self.state = S::Proceeding;
                self.to_tu(cx, r, from);
            }
            // RFC 6026 §7.2: a 2xx moves to Accepted, Timer M = 64*T1; the TU
            // sends the ACK (§13.2.2.4).
            (S::Calling | S::Proceeding, In::Response(r, from)) if r.status < 300 => {
                self.stop_pending(cx);
                self.state = S::Accepted;
                if !self.policy.forwards_every_2xx() {
                    self.forks.push(Fork {
                        tag: to_tag(&r.headers),
                        ack: None,
                    });
                }
                cx.start(Timer::M, cx.config.t1x64());
                self.to_tu(cx, r, from);
            }
            // §17.1.1.2, §17.1.1.3: a 300-699 is acknowledged by the transaction,
            // goes to the TU, and moves to Completed; Timer D, zero on reliable.
            (S::Calling | S::Proceeding, In::Response(r, from)) => {
                self.stop_pending(cx);
                let ack = build_ack(&self.request, &r);
                self.ack = Some(cx.send_request(self.peer, &ack));
                self.state = S::Completed;
                self.to_tu(cx, r, from);
                if reliable {
                    cx.terminate();
                } else {
                    cx.start(Timer::D, cx.config.timer_d());
                }
            }
            // §9.1: no final response 64*T1 after the CANCEL: give up.
            (S::Proceeding, In::Timer(Timer::CancelWait)) => {
                cx.stats.timeouts += 1;
                cx.event(TxEvent::Timeout { id: cx.id });
                cx.terminate();
            }
            // §17.1.1.2: a retransmitted final response in Completed is
            // acknowledged again, not passed up.
            (S::Completed, In::Response(r, _)) if r.status >= 300 => {
                cx.stats.response_retransmissions_absorbed += 1;
                if let Some(ack) = &self.ack {
                    cx.stats.retransmissions_sent += 1;
                    cx.resend(ack);
                }
            }
            // §17.1.1.2: Timer D ends the transaction.
            (S::Completed, In::Timer(Timer::D)) => cx.terminate(),
            // RFC 6026 §7.2: in Accepted every 2xx goes to the TU, for a
            // proxy to forward it.
            (S::Accepted, In::Response(r, from))
                if (200..300).contains(&r.status) && self.policy.forwards_every_2xx() =>
            {
                self.to_tu(cx, r, from)
            }
            // A UA core: only the first 2xx of each To tag (forking) goes to
            // the TU, and a retransmission gets the TU's ACK again
            // (§13.2.2.4), so retransmissions stay below the TU.
            (S::Accepted, In::Response(r, from)) if (200..300).contains(&r.status) => {
                let tag = to_tag(&r.headers);
                match self.forks.iter().find(|f| f.tag == tag) {
                    Some(Fork { ack, .. }) => {
                        cx.stats.response_retransmissions_absorbed += 1;
                        if let Some(ack) = ack {
                            cx.stats.retransmissions_sent += 1;
                            cx.resend(ack);
                        }
                    }
                    None if self.forks.len() < MAX_FORKS => {
                        self.forks.push(Fork { tag, ack: None });
                        self.to_tu(cx, r, from);
                    }
                    None => cx.stats.response_retransmissions_absorbed += 1,
                }
            }
            // RFC 6026 §7.2: Timer M ends the transaction.
            (S::Accepted, In::Timer(Timer::M)) => cx.terminate(),
            // Late provisional or non-2xx responses after a final one.
            (S::Completed | S::Accepted, In::Response(..)) => {
                cx.stats.response_retransmissions_absorbed += 1;
            }
            // §17.1.1.2: a transport error informs the TU and terminates.
            (S::Calling | S::Proceeding | S::Completed, In::TransportError) => {
                cx.event(TxEvent::TransportError { id: cx.id });
                cx.terminate();
            }
            // Accepted: the dialog is established; a failed ACK resend is the
            // dialog layer's business. Timers of a left state are stopped.
            (_, In::TransportError | In::Timer(_)) | (S::Trying, In::Response(..)) => {}
        }
    }

    /// The non-INVITE client transaction, one arm per transition.
    fn non_invite_step(&mut self, cx: &mut Cx<'_>, input: ClientInput) {
        use ClientInput as In;
        use ClientState as S;
        let reliable = self.peer.transport.is_reliable();
        let t2 = cx.config.t2;
        match (self.state, input) {
            // §17.1.2.2: Timer E in Trying retransmits, doubling to T2.
            (S::Trying, In::Timer(Timer::E)) => {
                self.retransmit(cx);
                self.interval = (self.interval * 2).min(t2);
                cx.start(Timer::E, self.interval);
            }
            // §17.1.2.2: Timer E in Proceeding retransmits every T2.
            (S::Proceeding, In::Timer(Timer::E)) => {
                self.retransmit(cx);
                self.interval = t2;
                cx.start(Timer::E, t2);
            }
            // RFC 3263 §4.3: no response from this target; the TU tries the next.
            (S::Trying, In::Timer(Timer::F)) if self.fails_over(cx, Unanswered::Timeout) => {}
            (S::Trying, In::TransportError) if self.fails_over(cx, Unanswered::TransportError) => {}
            (S::Trying | S::Proceeding, In::Response(r, from))
                if r.status == 503 && self.failover && !self.cancelled =>
            {
                self.fails_over(cx, Unanswered::Unavailable(r, from));
            }
            // §17.1.2.2: Timer F: no final response; inform the TU.
            (S::Trying | S::Proceeding, In::Timer(Timer::F)) => {
                cx.stats.timeouts += 1;
                cx.event(TxEvent::Timeout { id: cx.id });
                cx.terminate();
            }
            // §17.1.2.2: a provisional response moves to Proceeding, to the TU.
            (S::Trying | S::Proceeding, In::Response(r, from)) if r.status < 200 => {
                self.state = S::Proceeding;
                self.to_tu(cx, r, from);
            }
            // §17.1.2.2: a final response moves to Completed, to the TU;
            // Timer K = T4, zero on reliable transports.
            (S::Trying | S::Proceeding, In::Response(r, from)) => {
                cx.stop(Timer::E);
                cx.stop(Timer::F);
                self.state = S::Completed;
                self.to_tu(cx, r, from);
                if reliable {
                    cx.terminate();
                } else {
                    cx.start(Timer::K, cx.config.t4);
                }
            }
            // §17.1.2.2: Completed absorbs response retransmissions.
            (S::Completed, In::Response(..)) => cx.stats.response_retransmissions_absorbed += 1,
            // §17.1.2.2: Timer K ends the transaction.
            (S::Completed, In::Timer(Timer::K)) => cx.terminate(),
            // §17.1.2.2: a transport error informs the TU and terminates.
            (S::Trying | S::Proceeding, In::TransportError) => {
                cx.event(TxEvent::TransportError { id: cx.id });
                cx.terminate();
            }
            (_, In::TransportError | In::Timer(_) | In::Response(..)) => {}
        }
    }

    fn stop_pending(&mut self, cx: &mut Cx<'_>) {
        cx.stop(Timer::A);
        cx.stop(Timer::B);
        cx.stop(Timer::CancelWait);
        self.pending_cancel = None;
    }

    fn retransmit(&self, cx: &mut Cx<'_>) {
        if let Some(t) = &self.sent {
            cx.stats.retransmissions_sent += 1;
            cx.resend(t);
        }
    }

    fn to_tu(&self, cx: &mut Cx<'_>, response: Response, peer: Peer) {
        let TxId::Client(id) = cx.id else {
            unreachable!("client transaction with a server id")
        };
        cx.event(TxEvent::Response { id, response, peer });
    }
}

/// The first value of the top Via header line.
pub(crate) fn top_via_value(headers: &Headers) -> Option<Text> {
    let v = headers.get(&HeaderName::Via)?;
    let first = *split_list(v).first()?;
    Some(v.slice_ref(first))
}

fn copy_all(dst: &mut Headers, src: &Headers, name: HeaderName) {
    for v in src.get_all(&name) {
        dst.push(name.clone(), v.clone());
    }
}

/// A request of `method` for the same transaction or dialog position as
/// `invite`: its Request-URI, top Via, Route set, From, Call-ID and CSeq
/// number, with `to` as To (§17.1.1.3, §9.1).
fn derived_request(invite: &Request, method: Method, to: Option<&Text>) -> Request {
    let mut r = Request::new(method.clone(), invite.uri.clone());
    let h = &invite.headers;
    if let Some(via) = top_via_value(h) {
        r.headers.push(HeaderName::Via, via);
    }
    r.headers.push(HeaderName::MaxForwards, "70");
    copy_all(&mut r.headers, h, HeaderName::Route);
    copy_all(&mut r.headers, h, HeaderName::From);
    if let Some(to) = to.or_else(|| h.get(&HeaderName::To)) {
        r.headers.push(HeaderName::To, to.clone());
    }
    copy_all(&mut r.headers, h, HeaderName::CallId);
    let seq = h
        .get(&HeaderName::CSeq)
        .and_then(|c| crate::typed::CSeq::parse(c).ok())
        .map_or(0, |c| c.seq);
    r.headers
        .push(HeaderName::CSeq, format!("{seq} {}", method.as_str()));
    r
}

/// The ACK for a non-2xx final response (§17.1.1.3): To from the response.
pub(crate) fn build_ack(invite: &Request, response: &Response) -> Request {
    derived_request(invite, Method::Ack, response.headers.get(&HeaderName::To))
}

/// The CANCEL for `invite` (§9.1): same Request-URI, top Via, Route, From,
/// To, Call-ID and CSeq number.
pub(crate) fn build_cancel(invite: &Request) -> Request {
    derived_request(invite, Method::Cancel, None)
}
