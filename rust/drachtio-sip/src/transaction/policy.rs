//! What the transaction user needs of the layer beyond the RFC 3261 §17
//! machines, and where a UA core and a proxy core differ: the UAS checks of
//! §8.2.2, the UAS core's 2xx retransmission (§13.3.1.4), and what becomes
//! of 2xx responses in the Accepted states of RFC 6026.

use super::matching::{MergeKey, Summary};
use crate::header::{HeaderName, Headers};
use crate::message::Request;
use crate::scan::split_list;
use crate::text::Text;
use crate::uri::Uri;

/// Who the layer works for. Both send 100 Trying for a new INVITE at once
/// (§17.2.1; §16.2 for a proxy) and answer a CANCEL (§9.2, §16.10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// A user agent core (UAC, UAS, B2BUA): the §8.2.2 checks, the 2xx
    /// retransmitted until its ACK, 2xx retransmissions kept below the TU.
    #[default]
    UserAgent,
    /// A stateful proxy core (§16): no UAS checks (its own validation,
    /// §16.3, is the proxy core's), no 2xx retransmission of its own, every
    /// 2xx passed up and forwarded as it comes.
    Proxy,
}

impl Policy {
    /// Whether a new request is checked as a UAS checks it (§8.2.2): a
    /// Request-URI scheme not understood gets 416, a merged request 482,
    /// a Require option tag not supported 420. A proxy forwards such
    /// requests: the UAS they reach decides (§16.3 has it look at
    /// Proxy-Require, not Require).
    pub fn checks_as_uas(self) -> bool {
        self == Policy::UserAgent
    }

    /// Whether the INVITE server transaction retransmits its 2xx from T1,
    /// doubling to T2, until the ACK comes (§13.3.1.4, the UAS core's
    /// duty), and reports an ACK that never came. A proxy does not: the UAS
    /// behind it retransmits, and the proxy forwards each copy.
    pub fn retransmits_2xx(self) -> bool {
        self == Policy::UserAgent
    }

    /// Whether a response with more than one Via is discarded (§8.1.3.3:
    /// it was not meant for a UAC). A proxy's client transactions get
    /// responses with a Via for each hop before it.
    pub fn discards_multi_via_responses(self) -> bool {
        self == Policy::UserAgent
    }

    /// Whether every 2xx goes through the Accepted states (RFC 6026 §7.1,
    /// §7.2): an INVITE client transaction passes each 2xx it receives to
    /// the TU, and an INVITE server transaction sends each 2xx the TU gives
    /// it, so that a proxy forwards 2xx responses, retransmissions and the
    /// 2xx of other branches included (§16.7 step 9). A UA core instead
    /// passes up the first 2xx of each To tag and answers a retransmission
    /// with its ACK again (§13.2.2.4); its server transaction sends one 2xx.
    pub fn forwards_every_2xx(self) -> bool {
        self == Policy::Proxy
    }
}

/// Why the UAS checks refuse a new request.
pub(crate) enum Rejection {
    /// §8.2.2.1: 416.
    UnsupportedScheme,
    /// §8.2.2.2: 482.
    Merged,
    /// §8.2.2.3: 420, with the option tags not supported.
    BadExtension(Vec<Text>),
}

impl Rejection {
    /// The status code of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::UnsupportedScheme => 416,
            Rejection::Merged => 482,
            Rejection::BadExtension(_) => 420,
        }
    }
}

/// The checks of RFC 3261 §8.2.2, in its order; `merged` says whether a
/// transaction in progress holds a merge key. Max-Forwards 0 is not
/// rejected: it limits forwarding, and a UAS does not forward (§8.2.2).
pub(crate) fn uas_check(
    request: &Request,
    s: &Summary,
    supported: &[String],
    merged: impl FnOnce(&MergeKey) -> bool,
) -> Option<Rejection> {
    // §8.2.2.1: a Request-URI scheme we do not understand gets 416.
    if !understood_scheme(&request.uri) {
        return Some(Rejection::UnsupportedScheme);
    }
    // §8.2.2.2: same From tag, Call-ID and CSeq as a transaction in
    // progress, but not a retransmission of it: a merged request.
    if MergeKey::of(&request.method, s).is_some_and(|k| merged(&k)) {
        return Some(Rejection::Merged);
    }
    // §8.2.2.3: an option tag in Require that we do not support gets 420.
    let unsupported = unsupported_tags(&request.headers, &HeaderName::Require, supported);
    (!unsupported.is_empty()).then_some(Rejection::BadExtension(unsupported))
}

/// Whether a Request-URI scheme is one the stack understands (RFC 3261
/// §8.2.2.1 for a UAS, §16.3 item 2 for a proxy): `sip`, `sips`, `tel`.
pub(crate) fn understood_scheme(uri: &Uri) -> bool {
    matches!(uri.scheme(), "sip" | "sips" | "tel")
}

/// The option tags of every `name` header (Require for a UAS, §8.2.2.3;
/// Proxy-Require for a proxy, §16.3 item 5) not in `supported`, compared
/// without case.
pub(crate) fn unsupported_tags(
    headers: &Headers,
    name: &HeaderName,
    supported: &[String],
) -> Vec<Text> {
    let mut unsupported = Vec::new();
    for v in headers.get_all(name) {
        for tag in split_list(v) {
            let known = supported.iter().any(|t| t.eq_ignore_ascii_case(tag));
            if !tag.is_empty() && !known {
                unsupported.push(v.slice_ref(tag));
            }
        }
    }
    unsupported
}
