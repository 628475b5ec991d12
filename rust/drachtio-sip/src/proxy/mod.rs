//! The sans-IO parts of a stateful, forking proxy core (RFC 3261 §16) that
//! sit above a transaction layer run under
//! [`Policy::Proxy`](crate::transaction::Policy): the checks and edits of
//! what it forwards ([`validate`], [`preprocess_route`], [`forward`],
//! [`upstream_response`]), the response context of each request
//! ([`ResponseContext`]) and Timer C ([`TimerC`]). See `docs/routing.md`.

mod context;
mod forward;
mod timer_c;

pub use context::{ContextAction, ResponseContext};
pub use forward::{forward, preprocess_route, upstream_response, validate, Forwarding, Refusal};
pub use timer_c::{TimerC, TimerCExpiry};
