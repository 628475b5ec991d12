//! Where SIP messages go, in one place (see `docs/routing.md`):
//!
//! - the next hop of a request a UAC sends (RFC 3261 §8.1.2, the route set
//!   of §12.2.1.1, `maddr` of §18.1.1): [`next_hop`];
//! - the top Via of a request sent (§18.1.1, RFC 3581 §3): [`set_top_via`];
//! - the `received`/`rport` stamp on a request received (§18.2.1,
//!   RFC 3581 §4): [`stamp_received`];
//! - where a response goes (§18.2.2, RFC 3581 §4): [`response_target`].
//!
//! Pure functions of messages; resolving a host name is the caller's.

mod next_hop;
mod target;
mod via;

pub use next_hop::{next_hop, Hop, RouteError, RouteForm};
pub use target::{response_target, Destination, Target, DEFAULT_PORT};
pub use via::{has_branch, set_top_via, stamp_received};
