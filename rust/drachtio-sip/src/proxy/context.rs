//! The response context of a stateful, forking proxy (RFC 3261 §16.7): the
//! server transaction of a request, the client transactions it was
//! forwarded on (its branches), which responses go upstream and when, the
//! best final response, the CANCELs of the branches still pending, and
//! Timer C of each INVITE branch (§16.8). Sans-IO: every input takes `now`,
//! outputs are polled.

use super::timer_c::{TimerC, TimerCExpiry};
use crate::header::{HeaderName, Headers};
use crate::message::Response;
use crate::transaction::ClientTxId;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What the proxy core must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContextAction {
    /// Send this response upstream in the server transaction: received
    /// from a branch, our Via already removed (`upstream_response`).
    Forward(Response),
    /// Answer upstream with a response of this status made by the proxy
    /// (408 when the best is a branch that timed out, 500 in place of a
    /// 503, §16.7 step 6): the caller builds it, with a To tag.
    Respond(u16),
    /// Send a CANCEL on this INVITE branch (`TransactionLayer::cancel`).
    CancelBranch(ClientTxId),
}

/// A final response kept for the choice of the best (§16.7 step 4).
#[derive(Clone, Debug)]
enum Stored {
    Received(Response),
    /// Made by the proxy: a branch that timed out (408) or failed (503).
    Made(u16),
}

impl Stored {
    fn status(&self) -> u16 {
        match self {
            Stored::Received(r) => r.status,
            Stored::Made(s) => *s,
        }
    }
}

#[derive(Debug)]
struct Branch {
    id: ClientTxId,
    /// `None` once the branch has its final response.
    timer_c: Option<TimerC>,
    /// No final response yet.
    pending: bool,
    /// A CANCEL was asked for it.
    cancelled: bool,
}

/// The response context of one request a proxy forwards.
#[derive(Debug)]
pub struct ResponseContext {
    invite: bool,
    timer_c: Duration,
    branches: Vec<Branch>,
    stored: Vec<Stored>,
    /// No more branches will be added: the target set is exhausted.
    closed: bool,
    /// A 6xx came: no new branch (§16.7 step 5).
    search_ended: bool,
    /// A final response has gone upstream (or the layer answered 487 to a
    /// CANCEL).
    final_sent: bool,
    actions: VecDeque<ContextAction>,
}

impl ResponseContext {
    /// A context for a request (`invite`: an INVITE), with this Timer C for
    /// its INVITE branches ([`TimerC::DEFAULT`], say); a value not over 3
    /// minutes, which §16.6 forbids, is raised to just over.
    pub fn new(invite: bool, timer_c: Duration) -> ResponseContext {
        ResponseContext {
            invite,
            timer_c: timer_c.max(TimerC::MIN + Duration::from_millis(1)),
            branches: Vec::new(),
            stored: Vec::new(),
            closed: false,
            search_ended: false,
            final_sent: false,
            actions: VecDeque::new(),
        }
    }

    /// The request was forwarded on client transaction `id` (§16.6 item
    /// 10); an INVITE branch starts its Timer C (item 11). `false`, and
    /// nothing recorded, once the search has ended (a 6xx, a final response
    /// sent upstream, [`ResponseContext::close`]): the caller must not
    /// forward then.
    pub fn add_branch(&mut self, now: Instant, id: ClientTxId) -> bool {
        if self.closed || self.search_ended || self.final_sent {
            return false;
        }
        let timer_c = if self.invite {
            TimerC::start(now, self.timer_c)
        } else {
            None
        };
        self.branches.push(Branch {
            id,
            timer_c,
            pending: true,
            cancelled: false,
        });
        true
    }

    /// No more targets: the best response goes upstream once every branch
    /// has its final response (§16.7 step 6).
    pub fn close(&mut self) {
        self.closed = true;
        self.send_best_if_complete();
    }

    /// A response of branch `id`, with our Via already removed.
    pub fn on_response(&mut self, now: Instant, id: ClientTxId, response: Response) {
        let status = response.status;
        let Some(branch) = self.branches.iter_mut().find(|b| b.id == id) else {
            return;
        };
        if let Some(c) = &mut branch.timer_c {
            c.on_response(now, status);
        }
        match status {
            // §16.7 step 5: 100 is never forwarded.
            100 => {}
            // Step 5: a provisional response is forwarded at once, until a
            // final one has been sent.
            101..=199 => {
                if !self.final_sent {
                    self.actions.push_back(ContextAction::Forward(response));
                }
            }
            // Step 5: every 2xx is forwarded at once (for an INVITE, after a
            // final response too); step 10: the others are cancelled.
            200..=299 => {
                branch.pending = false;
                branch.timer_c = None;
                if !self.final_sent || self.invite {
                    self.actions.push_back(ContextAction::Forward(response));
                }
                self.final_sent = true;
                self.cancel_pending();
            }
            _ => {
                if !branch.pending {
                    return;
                }
                branch.pending = false;
                branch.timer_c = None;
                // Step 5: a 6xx ends the search and cancels the others.
                if status >= 600 {
                    self.search_ended = true;
                    self.cancel_pending();
                }
                self.stored.push(Stored::Received(response));
                self.send_best_if_complete();
            }
        }
    }

    /// Branch `id` ended without a final response: its client transaction
    /// timed out (`status` 408, §16.7 step 4 via §16.8) or could not be sent
    /// (503, §16.9).
    pub fn on_branch_failure(&mut self, id: ClientTxId, status: u16) {
        let Some(branch) = self.branches.iter_mut().find(|b| b.id == id && b.pending) else {
            return;
        };
        branch.pending = false;
        branch.timer_c = None;
        self.stored.push(Stored::Made(status));
        self.send_best_if_complete();
    }

    /// The upstream request was cancelled (§16.10): the layer has answered
    /// it 487; every pending branch is cancelled.
    pub fn on_cancel_received(&mut self) {
        self.final_sent = true;
        self.cancel_pending();
    }

    /// The next thing to do.
    pub fn poll_action(&mut self) -> Option<ContextAction> {
        self.actions.pop_front()
    }

    /// When [`ResponseContext::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.branches
            .iter()
            .filter_map(|b| b.timer_c.as_ref()?.poll_timeout())
            .min()
    }

    /// Runs the Timers C due by `now` (§16.8): a branch that had a
    /// provisional response is cancelled, one that had none counts as a 408.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut timed_out = Vec::new();
        for b in &mut self.branches {
            let Some(c) = &mut b.timer_c else { continue };
            match c.handle_timeout(now) {
                Some(TimerCExpiry::Cancel) if !b.cancelled => {
                    b.cancelled = true;
                    self.actions.push_back(ContextAction::CancelBranch(b.id));
                }
                Some(TimerCExpiry::RequestTimeout) => timed_out.push(b.id),
                Some(TimerCExpiry::Cancel) | None => {}
            }
        }
        for id in timed_out {
            self.on_branch_failure(id, 408);
        }
    }

    /// Whether nothing is left to do: a final response sent upstream and
    /// every branch done.
    pub fn is_done(&self) -> bool {
        self.final_sent && self.branches.iter().all(|b| !b.pending) && self.actions.is_empty()
    }

    fn cancel_pending(&mut self) {
        if !self.invite {
            return;
        }
        for b in self
            .branches
            .iter_mut()
            .filter(|b| b.pending && !b.cancelled)
        {
            b.cancelled = true;
            self.actions.push_back(ContextAction::CancelBranch(b.id));
        }
    }

    /// §16.7 step 6: once every branch is done and no more will come, the
    /// best final response goes upstream.
    fn send_best_if_complete(&mut self) {
        let complete =
            (self.closed || self.search_ended) && self.branches.iter().all(|b| !b.pending);
        if self.final_sent || !complete {
            return;
        }
        self.final_sent = true;
        let best = match best_index(&self.stored) {
            Some(i) => self.stored[i].clone(),
            // No branch at all: nobody to reach.
            None => Stored::Made(480),
        };
        let action = match best {
            // Step 6: a 503 is not forwarded; a 500 goes instead.
            s if s.status() == 503 => ContextAction::Respond(500),
            Stored::Made(status) => ContextAction::Respond(status),
            Stored::Received(mut r) => {
                if matches!(r.status, 401 | 407) {
                    aggregate_challenges(&mut r.headers, &self.stored);
                }
                ContextAction::Forward(r)
            }
        };
        self.actions.push_back(action);
    }
}

/// §16.7 step 6: a 6xx if there is one, else the lowest class; the first
/// received within it.
fn best_index(stored: &[Stored]) -> Option<usize> {
    let rank = |s: &Stored| {
        let class = s.status() / 100;
        if class == 6 {
            0
        } else {
            class
        }
    };
    (0..stored.len()).min_by_key(|&i| (rank(&stored[i]), i))
}

/// §16.7 step 7: the chosen 401 or 407 carries the WWW-Authenticate and
/// Proxy-Authenticate values of every other 401 and 407, unmodified.
fn aggregate_challenges(headers: &mut Headers, stored: &[Stored]) {
    let chosen: Vec<_> = headers.iter().cloned().collect();
    let mut seen_self = false;
    for s in stored {
        let Stored::Received(r) = s else { continue };
        if !matches!(r.status, 401 | 407) {
            continue;
        }
        let same = r.headers.iter().eq(chosen.iter());
        if same && !seen_self {
            seen_self = true;
            continue;
        }
        for name in [HeaderName::WwwAuthenticate, HeaderName::ProxyAuthenticate] {
            for v in r.headers.get_all(&name) {
                headers.push(name.clone(), v.clone());
            }
        }
    }
}
