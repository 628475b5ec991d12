//! Keys that match messages to transactions: responses to client
//! transactions (RFC 3261 §17.1.3), requests to server transactions
//! (§17.2.3, with the RFC 2543 fallback), CANCEL to its INVITE (§9.2),
//! merged requests (§8.2.2.2) and the ACK for a 2xx to its INVITE (§13.3.1.4).

use crate::message::{Message, Method, Request};
use crate::text::Text;
use crate::typed::{CSeq, Via};

/// The RFC 3261 branch prefix (§8.1.1.7).
pub(crate) const MAGIC_COOKIE: &str = "z9hG4bK";

/// Whether `branch` was made by an RFC 3261 element. A branch that is only
/// the cookie (RFC 4475 badbranch) carries no unique part and is matched by
/// the RFC 2543 rules.
pub(crate) fn is_rfc3261_branch(branch: &str) -> bool {
    branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
}

/// The headers every transaction depends on, parsed once.
#[derive(Debug)]
pub(crate) struct Summary {
    pub via: Via,
    pub call_id: Text,
    pub cseq: CSeq,
    pub from_tag: Option<Text>,
    pub to_tag: Option<Text>,
}

/// Why a [`Summary`] could not be made.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// No top Via (or one that does not parse): no response can be routed.
    Via,
    /// Another mandatory header is missing or malformed.
    Header(&'static str),
}

impl Summary {
    /// The summary of a request (From, To, Call-ID, CSeq, Max-Forwards and Via
    /// are mandatory, RFC 3261 §8.1.1) or of a response (only Via and CSeq are
    /// needed to match it; To for its tag).
    pub fn of(msg: &Message) -> Result<Summary, Missing> {
        let via = match msg.top_via() {
            Ok(Some(v)) => v,
            _ => return Err(Missing::Via),
        };
        let cseq = match msg.cseq() {
            Ok(Some(c)) => c,
            _ => return Err(Missing::Header("CSeq")),
        };
        let to_tag = match msg.to_header() {
            Ok(Some(to)) => to.tag().cloned(),
            _ if msg.is_request() => return Err(Missing::Header("To")),
            _ => None,
        };
        if !msg.is_request() {
            return Ok(Summary {
                via,
                call_id: Text::new(),
                cseq,
                from_tag: None,
                to_tag,
            });
        }
        let from_tag = match msg.from_header() {
            Ok(Some(from)) => from.tag().cloned(),
            _ => return Err(Missing::Header("From")),
        };
        let call_id = msg.call_id().cloned().ok_or(Missing::Header("Call-ID"))?;
        if !matches!(msg.max_forwards(), Ok(Some(_))) {
            return Err(Missing::Header("Max-Forwards"));
        }
        Ok(Summary {
            via,
            call_id,
            cseq,
            from_tag,
            to_tag,
        })
    }

    pub fn branch(&self) -> Option<&Text> {
        self.via.branch()
    }
}

/// A client transaction: the branch of the top Via and the CSeq method (§17.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    pub branch: Text,
    pub method: Method,
}

/// A server transaction (§17.2.3). ACK is keyed as INVITE so that it finds the
/// INVITE transaction it acknowledges.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ServerKey {
    /// Branch with the magic cookie: branch, sent-by, method.
    Rfc3261 {
        branch: Text,
        host: Text,
        port: Option<u16>,
        method: Method,
    },
    /// Otherwise (boxed: rare, and twice the size): see [`Rfc2543Key`].
    Rfc2543(Box<Rfc2543Key>),
}

/// Request-URI, From tag, Call-ID, CSeq, top Via. The To tag is compared
/// after the lookup (for an ACK it is the tag of our response).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Rfc2543Key {
    request_uri: String,
    from_tag: Option<Text>,
    call_id: Text,
    cseq: u32,
    method: Method,
    top_via: String,
}

/// `host` in lower case, shared when it already is.
fn lowercase(host: &Text) -> Text {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Text::from(host.to_ascii_lowercase())
    } else {
        host.clone()
    }
}

fn key_method(m: &Method) -> Method {
    match m {
        Method::Ack => Method::Invite,
        m => m.clone(),
    }
}

impl ServerKey {
    /// The key of `req`, as if its method were `method` (used to find the
    /// INVITE a CANCEL refers to, §9.2).
    pub fn of(req: &Request, s: &Summary, method: &Method) -> ServerKey {
        let method = key_method(method);
        match s.branch() {
            Some(b) if is_rfc3261_branch(b) => ServerKey::Rfc3261 {
                branch: b.clone(),
                host: lowercase(&s.via.host.text),
                port: s.via.port,
                method,
            },
            _ => ServerKey::Rfc2543(Box::new(Rfc2543Key {
                request_uri: req.uri.to_string(),
                from_tag: s.from_tag.clone(),
                call_id: s.call_id.clone(),
                cseq: s.cseq.seq,
                method,
                top_via: s.via.to_string(),
            })),
        }
    }

    /// Its text, for [`Text::unshare_all`].
    pub fn texts_mut(&mut self) -> Vec<&mut Text> {
        match self {
            ServerKey::Rfc3261 { branch, host, .. } => vec![branch, host],
            ServerKey::Rfc2543(k) => k.from_tag.iter_mut().chain([&mut k.call_id]).collect(),
        }
    }

    pub fn is_rfc2543(&self) -> bool {
        matches!(self, ServerKey::Rfc2543(_))
    }
}

/// A request without To tag that shares these with an ongoing server
/// transaction but not its branch is a merged request (§8.2.2.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct MergeKey {
    pub from_tag: Text,
    pub call_id: Text,
    pub cseq: u32,
    pub method: Method,
}

impl MergeKey {
    pub fn of(method: &Method, s: &Summary) -> Option<MergeKey> {
        if s.to_tag.is_some() {
            return None;
        }
        Some(MergeKey {
            from_tag: s.from_tag.clone()?,
            call_id: s.call_id.clone(),
            cseq: s.cseq.seq,
            method: method.clone(),
        })
    }

    /// Its text, for [`Text::unshare_all`].
    pub fn texts_mut(&mut self) -> [&mut Text; 2] {
        [&mut self.from_tag, &mut self.call_id]
    }
}

/// The ACK for a 2xx has its own branch (§13.2.2.4); it is matched to the
/// INVITE by Call-ID, CSeq number and From tag (and To tag, checked after).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AckKey {
    pub call_id: Text,
    pub cseq: u32,
    pub from_tag: Option<Text>,
}

impl AckKey {
    pub fn of(s: &Summary) -> AckKey {
        AckKey {
            call_id: s.call_id.clone(),
            cseq: s.cseq.seq,
            from_tag: s.from_tag.clone(),
        }
    }

    /// Its text, for [`Text::unshare_all`].
    pub fn texts_mut(&mut self) -> Vec<&mut Text> {
        self.from_tag
            .iter_mut()
            .chain([&mut self.call_id])
            .collect()
    }
}
