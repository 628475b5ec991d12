//! A stateful proxy's edits of the messages it forwards: the checks on a
//! request before it is forwarded (RFC 3261 §16.3), the Route
//! pre-processing (§16.4), the forwarded copy (§16.6) and the response sent
//! back upstream (§16.7 step 3). Pure functions of messages.

use crate::header::{HeaderName, Headers};
use crate::message::Request;
use crate::message::Response;
use crate::scan::split_list;
use crate::text::Text;
use crate::transaction::{understood_scheme, unsupported_tags, Transport};
use crate::typed::{CSeq, NameAddr, Via};
use crate::uri::{SipUri, Uri};

/// Why the proxy answers a request itself instead of forwarding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// §16.3 item 1: a header the proxy needs is malformed (400).
    BadHeader(&'static str),
    /// §16.3 item 2: a Request-URI scheme the proxy does not understand (416).
    UnsupportedScheme,
    /// §16.3 item 3: Max-Forwards is 0 (483).
    TooManyHops,
    /// §16.3 item 4: the request has been here before, unchanged (482).
    LoopDetected,
    /// §16.3 item 5: Proxy-Require names option tags the proxy does not
    /// support (420, with them in Unsupported).
    BadExtension(Vec<Text>),
}

impl Refusal {
    /// The status code of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadHeader(_) => 400,
            Refusal::UnsupportedScheme => 416,
            Refusal::TooManyHops => 483,
            Refusal::LoopDetected => 482,
            Refusal::BadExtension(_) => 420,
        }
    }
}

/// The checks of §16.3 on a request to forward, in its order. `sent_by` is
/// the sent-by this proxy writes in its Via (the one the stack sends with),
/// for loop detection; `supported` the option tags it supports.
pub fn validate(request: &Request, sent_by: &str, supported: &[String]) -> Result<(), Refusal> {
    if !understood_scheme(&request.uri) {
        return Err(Refusal::UnsupportedScheme);
    }
    if max_forwards(&request.headers)? == Some(0) {
        return Err(Refusal::TooManyHops);
    }
    if looped(request, sent_by) {
        return Err(Refusal::LoopDetected);
    }
    let unsupported = unsupported_tags(&request.headers, &HeaderName::ProxyRequire, supported);
    if !unsupported.is_empty() {
        return Err(Refusal::BadExtension(unsupported));
    }
    Ok(())
}

/// §16.4: a Request-URI this proxy placed in a Record-Route (`is_own`), put
/// there by a strict router before it, is replaced by the last Route value,
/// which is removed; then a first Route naming this proxy is removed.
pub fn preprocess_route(request: &mut Request, is_own: impl Fn(&SipUri) -> bool) {
    if let Uri::Sip(uri) = &request.uri {
        if is_own(uri) {
            if let Some(last) = last_route(&request.headers) {
                request.uri = last;
                request.headers.remove_last_value(&HeaderName::Route);
            }
        }
    }
    let Some(line) = request.headers.get(&HeaderName::Route).cloned() else {
        return;
    };
    let items = split_list(&line);
    let Some(first) = items.first() else {
        return;
    };
    let own = match NameAddr::parse(&line.slice_ref(first)) {
        Ok(NameAddr {
            uri: Uri::Sip(uri), ..
        }) => is_own(&uri),
        _ => false,
    };
    if !own {
        return;
    }
    request
        .headers
        .replace_first_value(&HeaderName::Route, None);
}

/// The URI of the last Route value, when it parses.
fn last_route(headers: &Headers) -> Option<Uri> {
    let line = headers.get_all(&HeaderName::Route).last()?;
    let last = *split_list(line).last()?;
    NameAddr::parse(&line.slice_ref(last)).ok().map(|n| n.uri)
}

/// How to forward a request to one target (§16.6).
#[derive(Clone, Debug)]
pub struct Forwarding<'a> {
    /// The new Request-URI (item 2); `None` keeps the request's.
    pub target: Option<Uri>,
    /// The transport and sent-by of the Via this proxy adds (item 8).
    pub transport: Transport,
    /// Our sent-by, `host[:port]`.
    pub sent_by: &'a str,
    /// A fresh `z9hG4bK` branch, unique to this client transaction (as
    /// `TransactionLayer::new_branch` makes); the loop-detection part is
    /// appended to it.
    pub branch: &'a str,
    /// When the proxy wants to stay on the dialog's path: its URI, added
    /// as `Record-Route: <uri;lr>` above the others (item 4).
    pub record_route: Option<&'a str>,
}

/// The copy of `received` to forward to one target (§16.6 items 1 to 8):
/// Request-URI replaced by the target, Max-Forwards decremented (70 when
/// absent), Record-Route added if asked, a Via with a branch whose second
/// part detects loops. `received` has passed [`validate`].
pub fn forward(received: &Request, f: &Forwarding<'_>) -> Request {
    let mut out = Request::new(
        received.method.clone(),
        f.target.clone().unwrap_or_else(|| received.uri.clone()),
    );
    out.body = received.body.clone();
    let branch = format!(
        "{}.{}",
        f.branch,
        loop_part(received, top_via_text(received))
    );
    out.headers.push(
        HeaderName::Via,
        format!(
            "SIP/2.0/{} {};branch={branch}",
            f.transport.as_str(),
            f.sent_by
        ),
    );
    if let Some(uri) = f.record_route {
        out.headers
            .push(HeaderName::RecordRoute, format!("<{uri};lr>"));
    }
    let hops = max_forwards(&received.headers).ok().flatten();
    for h in &received.headers {
        if h.name == HeaderName::MaxForwards {
            continue;
        }
        out.headers.push(h.name.clone(), h.value.clone());
    }
    let hops = hops.map_or(70, |n| n.saturating_sub(1));
    out.headers.push(HeaderName::MaxForwards, hops.to_string());
    out
}

/// The response to send upstream (§16.7 step 3): our Via, the top one,
/// removed. `None` when no Via is left: the response was for this proxy.
pub fn upstream_response(mut response: Response) -> Option<Response> {
    response.headers.get(&HeaderName::Via)?;
    response.headers.replace_first_value(&HeaderName::Via, None);
    response
        .headers
        .contains(&HeaderName::Via)
        .then_some(response)
}

fn max_forwards(headers: &Headers) -> Result<Option<u32>, Refusal> {
    let Some(v) = headers.get(&HeaderName::MaxForwards) else {
        return Ok(None);
    };
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::BadHeader("Max-Forwards"));
    }
    Ok(Some(v.parse().unwrap_or(u32::MAX)))
}

/// Every Via value, top first, as written.
fn via_texts(headers: &Headers) -> Vec<Text> {
    headers
        .get_all(&HeaderName::Via)
        .flat_map(|line| split_list(line).into_iter().map(|v| line.slice_ref(v)))
        .collect()
}

fn top_via_text(request: &Request) -> Text {
    via_texts(&request.headers)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// §16.3 item 4: a Via of ours whose branch's loop part is what this
/// request, with the Via below ours as its top one, hashes to.
fn looped(request: &Request, sent_by: &str) -> bool {
    let vias = via_texts(&request.headers);
    vias.windows(2).any(|pair| {
        let Ok(via) = Via::parse(&pair[0]) else {
            return false;
        };
        let ours = match via.port {
            Some(p) => format!("{}:{p}", via.host),
            None => via.host.to_string(),
        };
        let loop_of = |b: &Text| b.rsplit_once('.').map(|(_, l)| l.to_string());
        ours.eq_ignore_ascii_case(sent_by)
            && via.branch().and_then(loop_of) == Some(loop_part(request, pair[1].clone()))
    })
}

/// The second part of the branch (§16.6 item 8): a hash of what makes the
/// request the same request at this proxy: To and From tags, Call-ID,
/// Request-URI, the top Via as received, CSeq number, Proxy-Require and
/// Proxy-Authorization. FNV-1a: stable across builds and processes.
fn loop_part(request: &Request, top_via: Text) -> String {
    let h = &request.headers;
    let tag = |name: &HeaderName| {
        h.get(name)
            .and_then(|v| NameAddr::parse(v).ok())
            .and_then(|n| n.tag().map(|t| t.to_string()))
            .unwrap_or_default()
    };
    let seq = h
        .get(&HeaderName::CSeq)
        .and_then(|c| CSeq::parse(c).ok())
        .map_or(0, |c| c.seq);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain([0]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(&tag(&HeaderName::To));
    feed(&tag(&HeaderName::From));
    feed(h.get(&HeaderName::CallId).map_or("", |t| t.as_str()));
    feed(&request.uri.to_string());
    feed(&top_via);
    feed(&seq.to_string());
    for name in [HeaderName::ProxyRequire, HeaderName::ProxyAuthorization] {
        for v in h.get_all(&name) {
            feed(v);
        }
    }
    format!("{hash:016x}")
}
