//! The sans-IO parts of a stateful proxy core (RFC 3261 §16) that sit above
//! the transaction layer run under
//! [`Policy::Proxy`](crate::transaction::Policy).

mod timer_c;

pub use timer_c::{TimerC, TimerCExpiry};
