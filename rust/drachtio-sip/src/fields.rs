//! Typed views of the headers a SIP server needs beyond those in
//! [`crate::typed`]: Content-Type, option tags (Require, Supported,
//! Proxy-Require, Unsupported), Expires, RSeq/RAck (RFC 3262), session timers
//! (RFC 4028), authentication (RFC 3261 §22) and events (RFC 6665); plus the
//! accessors on [`Message`] for every typed view.
//!
//! Each view is parsed on demand from one header value and its parts share
//! that value's buffer. Error offsets are relative to the header value.
//! Parameters the view understands become typed fields; `params` keeps the
//! others in order, and `Display` writes the known ones first.

use crate::error::{err, ParseError, ParseErrorKind};
use crate::header::HeaderName;
use crate::message::{Message, Method};
use crate::scan::{quoted_end, skip_ws, split_list, token_end, unquote};
use crate::text::Text;
use crate::typed::{
    parse_content_length, parse_max_forwards, parse_params, CSeq, Contact, NameAddr, Via,
};
use crate::uri::{find_param, Param};
use std::fmt;

const BAD: ParseErrorKind = ParseErrorKind::BadHeaderValue;

fn bad(offset: usize, detail: &'static str) -> ParseError {
    err(BAD, offset).with_detail(detail)
}

/// Byte offset of `sub`, a slice of `whole`'s buffer, within `whole`.
fn offset_of(whole: &str, sub: &str) -> usize {
    (sub.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

/// A parameter value without its quotes and escapes (tokens as they are).
fn plain(v: &str) -> String {
    if v.starts_with('"') {
        unquote(v)
    } else {
        v.to_string()
    }
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    for p in params {
        write!(f, ";{p}")?;
    }
    Ok(())
}

fn digits_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// `delta-seconds` at `s[i..]`: the value and where its digits end.
fn delta_at(s: &str, i: usize) -> Result<(u32, usize), ParseError> {
    let e = digits_end(s.as_bytes(), i);
    if e == i {
        return Err(bad(i, "expected delta-seconds"));
    }
    let v = s[i..e]
        .parse::<u32>()
        .map_err(|_| bad(i, "delta-seconds over 2**32-1"))?;
    Ok((v, e))
}

/// Parses `delta-seconds` (RFC 3261 §25.1), e.g. an Expires value (§20.19):
/// decimal digits, surrounding spaces allowed, at most 2**32-1.
///
/// A value too large is an error; RFC 4475 §3.1.2.19 (scalar02) suggests the
/// caller then use its default expiry rather than reject the request.
pub fn parse_delta_seconds(s: &str) -> Result<u32, ParseError> {
    let b = s.as_bytes();
    let (v, e) = delta_at(s, skip_ws(b, 0))?;
    let end = skip_ws(b, e);
    if end != b.len() {
        return Err(bad(end, "unexpected character after delta-seconds"));
    }
    Ok(v)
}

/// `delta-seconds *( SEMI generic-param )`.
fn delta_with_params(t: &Text) -> Result<(u32, Vec<Param>), ParseError> {
    let s = t.as_str();
    let (v, e) = delta_at(s, skip_ws(s.as_bytes(), 0))?;
    Ok((v, parse_params(t, s, e, BAD)?))
}

/// Removes the parameter `name` from `params`; an error if it occurs twice.
fn take_param(s: &str, params: &mut Vec<Param>, name: &str) -> Result<Option<Param>, ParseError> {
    let mut found = params.iter().filter(|p| p.name.eq_ignore_ascii_case(name));
    match (found.next(), found.next()) {
        (_, Some(dup)) => Err(bad(offset_of(s, &dup.name), "duplicate parameter")),
        (None, None) => Ok(None),
        (Some(_), None) => {
            let i = params
                .iter()
                .position(|p| p.name.eq_ignore_ascii_case(name))
                .unwrap_or_default();
            Ok(Some(params.remove(i)))
        }
    }
}

/// The value of a parameter that must have one.
fn valued<'a>(s: &str, p: &'a Param, detail: &'static str) -> Result<&'a Text, ParseError> {
    p.value
        .as_ref()
        .ok_or_else(|| bad(offset_of(s, &p.name), detail))
}

/// A parameter whose value is `delta-seconds`.
fn delta_param(s: &str, p: &Param) -> Result<u32, ParseError> {
    let v = valued(s, p, "parameter needs a delta-seconds value")?;
    parse_delta_seconds(v).map_err(|e| e.rebase(offset_of(s, v)))
}

/// A media type: the value of Content-Type (RFC 3261 §20.15), e.g.
/// `multipart/mixed;boundary="unique-boundary-1"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaType {
    /// The type (`m-type`), as written: `application`.
    pub mtype: Text,
    /// The subtype (`m-subtype`), as written: `sdp`.
    pub subtype: Text,
    /// The parameters in order; every one has a value (token or quoted string, quotes kept).
    pub params: Vec<Param>,
}

impl MediaType {
    /// A media type without parameters, e.g. `MediaType::new("application", "sdp")`.
    pub fn new(mtype: &str, subtype: &str) -> MediaType {
        MediaType {
            mtype: Text::from(mtype),
            subtype: Text::from(subtype),
            params: Vec::new(),
        }
    }

    /// Parses `m-type SLASH m-subtype *( SEMI m-parameter )`.
    pub fn parse(t: &Text) -> Result<MediaType, ParseError> {
        let s = t.as_str();
        let b = s.as_bytes();
        let i = skip_ws(b, 0);
        let te = token_end(b, i);
        if te == i {
            return Err(bad(i, "expected media type"));
        }
        let mut j = skip_ws(b, te);
        if j == b.len() || b[j] != b'/' {
            return Err(bad(j, "expected '/' after media type"));
        }
        j = skip_ws(b, j + 1);
        let se = token_end(b, j);
        if se == j {
            return Err(bad(j, "expected media subtype"));
        }
        let params = parse_params(t, s, se, BAD)?;
        if let Some(p) = params.iter().find(|p| p.value.is_none()) {
            return Err(bad(
                offset_of(s, &p.name),
                "media-type parameter without value",
            ));
        }
        Ok(MediaType {
            mtype: t.slice_ref(&s[i..te]),
            subtype: t.slice_ref(&s[j..se]),
            params,
        })
    }

    /// `type/subtype` in lower case (media types compare case-insensitively),
    /// e.g. `application/sdp`.
    pub fn essence(&self) -> String {
        format!("{}/{}", self.mtype, self.subtype).to_ascii_lowercase()
    }

    /// Whether this is `essence` (`type/subtype`, any case), parameters ignored.
    pub fn is(&self, essence: &str) -> bool {
        essence.split_once('/').is_some_and(|(t, s)| {
            self.mtype.eq_ignore_ascii_case(t) && self.subtype.eq_ignore_ascii_case(s)
        })
    }

    /// A parameter's value without quotes (name compared case-insensitively),
    /// e.g. `boundary`.
    pub fn param(&self, name: &str) -> Option<String> {
        find_param(&self.params, name).flatten().map(|v| plain(v))
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.mtype, self.subtype)?;
        write_params(f, &self.params)
    }
}

/// Option tags (RFC 3261 §19.2): the values of Require, Supported,
/// Proxy-Require and Unsupported, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionTags {
    /// The tags as written, e.g. `100rel`, `timer`.
    pub tags: Vec<Text>,
}

impl OptionTags {
    /// Parses a comma-separated list of option-tag tokens. An empty value is
    /// valid (an empty Supported header means no extension is supported,
    /// RFC 3261 §20.37) and gives no tags.
    pub fn parse(t: &Text) -> Result<OptionTags, ParseError> {
        let s = t.as_str();
        if s.trim_matches([' ', '\t']).is_empty() {
            return Ok(OptionTags::default());
        }
        let mut tags = Vec::new();
        for v in split_list(s) {
            let off = offset_of(s, v);
            if v.is_empty() {
                return Err(bad(off, "empty option-tag"));
            }
            let e = token_end(v.as_bytes(), 0);
            if e != v.len() {
                return Err(bad(off + e, "option-tag is not a token"));
            }
            tags.push(t.slice_ref(v));
        }
        Ok(OptionTags { tags })
    }

    /// Whether `tag` is present (tokens compare case-insensitively, RFC 3261 §7.3.1).
    pub fn contains(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }

    /// The tags in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Text> {
        self.tags.iter()
    }

    /// Number of tags.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether there are no tags.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

impl<'a> IntoIterator for &'a OptionTags {
    type Item = &'a Text;
    type IntoIter = std::slice::Iter<'a, Text>;
    fn into_iter(self) -> Self::IntoIter {
        self.tags.iter()
    }
}

impl fmt::Display for OptionTags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, t) in self.tags.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            f.write_str(t)?;
        }
        Ok(())
    }
}

/// `response-num` at `s[i..]`: 1..=2**31-1 (RFC 3262 §3, §7.1).
fn response_num_at(s: &str, i: usize) -> Result<(u32, usize), ParseError> {
    let e = digits_end(s.as_bytes(), i);
    if e == i {
        return Err(bad(i, "expected response-num"));
    }
    match s[i..e].parse::<u32>() {
        Ok(v) if (1..=RSeq::MAX).contains(&v) => Ok((v, e)),
        _ => Err(bad(i, "response-num must be in 1..2**31-1")),
    }
}

/// The RSeq header of a reliable provisional response (RFC 3262 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RSeq(pub u32);

impl RSeq {
    /// The largest value (2**31-1, RFC 3262 §3).
    pub const MAX: u32 = (1 << 31) - 1;

    /// Parses `1*DIGIT` in 1..=2**31-1.
    pub fn parse(t: &Text) -> Result<RSeq, ParseError> {
        let s = t.as_str();
        let b = s.as_bytes();
        let (v, e) = response_num_at(s, skip_ws(b, 0))?;
        let end = skip_ws(b, e);
        if end != b.len() {
            return Err(bad(end, "unexpected character after response-num"));
        }
        Ok(RSeq(v))
    }
}

impl fmt::Display for RSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The RAck header of a PRACK (RFC 3262 §7.2): which reliable provisional
/// response it acknowledges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RAck {
    /// The RSeq of the acknowledged response.
    pub response_num: u32,
    /// The CSeq number of the acknowledged response.
    pub cseq_num: u32,
    /// The CSeq method of the acknowledged response.
    pub method: Method,
}

impl RAck {
    /// Parses `response-num LWS CSeq-num LWS Method`.
    pub fn parse(t: &Text) -> Result<RAck, ParseError> {
        let s = t.as_str();
        let b = s.as_bytes();
        let (response_num, e) = response_num_at(s, skip_ws(b, 0))?;
        let j = skip_ws(b, e);
        if j == e {
            return Err(bad(e, "expected whitespace after response-num"));
        }
        // The rest has the shape of a CSeq value.
        let cseq = CSeq::parse(&t.slice_ref(&s[j..])).map_err(|x| {
            bad(
                x.offset + j,
                x.detail.unwrap_or("invalid CSeq-num or method"),
            )
        })?;
        Ok(RAck {
            response_num,
            cseq_num: cseq.seq,
            method: cseq.method,
        })
    }

    /// Whether this acknowledges the response carrying `rseq` and `cseq`
    /// (RFC 3262 §4).
    pub fn matches(&self, rseq: RSeq, cseq: &CSeq) -> bool {
        self.response_num == rseq.0 && self.cseq_num == cseq.seq && self.method == cseq.method
    }
}

impl fmt::Display for RAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.response_num, self.cseq_num, self.method)
    }
}

/// Which side refreshes the session (RFC 4028 §4 `refresher-param`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refresher {
    /// `uac`: the client of the session refresh request.
    Uac,
    /// `uas`: the server of the session refresh request.
    Uas,
}

impl Refresher {
    /// `uac` or `uas`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

impl fmt::Display for Refresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Session-Expires header (RFC 4028 §4), e.g. `1800;refresher=uac`.
///
/// The parser does not enforce the 90-second floor: answering 422 with a
/// Min-SE (RFC 4028 §8) is the session-timer logic's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    /// The session interval in seconds.
    pub delta: u32,
    /// The `refresher` parameter.
    pub refresher: Option<Refresher>,
    /// Other parameters, in order.
    pub params: Vec<Param>,
}

impl SessionExpires {
    /// Parses `delta-seconds *( SEMI (refresher-param / generic-param) )`.
    pub fn parse(t: &Text) -> Result<SessionExpires, ParseError> {
        let s = t.as_str();
        let (delta, mut params) = delta_with_params(t)?;
        let refresher = match take_param(s, &mut params, "refresher")? {
            None => None,
            Some(p) => {
                let v = valued(s, &p, "refresher needs a value")?;
                if v.eq_ignore_ascii_case("uac") {
                    Some(Refresher::Uac)
                } else if v.eq_ignore_ascii_case("uas") {
                    Some(Refresher::Uas)
                } else {
                    return Err(bad(offset_of(s, v), "refresher must be uac or uas"));
                }
            }
        };
        Ok(SessionExpires {
            delta,
            refresher,
            params,
        })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        if let Some(r) = self.refresher {
            write!(f, ";refresher={r}")?;
        }
        write_params(f, &self.params)
    }
}

/// The Min-SE header (RFC 4028 §5): the smallest session interval accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinSe {
    /// The minimum session interval in seconds.
    pub delta: u32,
    /// Parameters, in order.
    pub params: Vec<Param>,
}

impl MinSe {
    /// Parses `delta-seconds *( SEMI generic-param )`.
    pub fn parse(t: &Text) -> Result<MinSe, ParseError> {
        let (delta, params) = delta_with_params(t)?;
        Ok(MinSe { delta, params })
    }
}

impl fmt::Display for MinSe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        write_params(f, &self.params)
    }
}

/// One `auth-param` of a credential or challenge (RFC 3261 §25.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthParam {
    /// The parameter name, e.g. `realm`.
    pub name: Text,
    /// The value as written: a token, or a quoted string with its quotes and escapes.
    pub value: Text,
}

impl AuthParam {
    /// A parameter with a raw `value` (quote it yourself if it is not a token).
    pub fn new(name: &str, value: &str) -> AuthParam {
        AuthParam {
            name: Text::from(name),
            value: Text::from(value),
        }
    }

    /// The value without quotes and escapes.
    pub fn unquoted(&self) -> String {
        plain(&self.value)
    }

    /// Whether the value was written as a quoted string.
    pub fn is_quoted(&self) -> bool {
        self.value.starts_with('"')
    }
}

impl fmt::Display for AuthParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

type AuthParts = (Text, Option<Text>, Vec<AuthParam>);

/// `auth-scheme LWS auth-param *(COMMA auth-param)` (RFC 3261 §25.1), or
/// `auth-scheme LWS token68` as RFC 8898 uses for Bearer tokens.
fn parse_auth(t: &Text) -> Result<AuthParts, ParseError> {
    let s = t.as_str();
    let b = s.as_bytes();
    let i = skip_ws(b, 0);
    let se = token_end(b, i);
    if se == i {
        return Err(bad(i, "expected auth-scheme"));
    }
    let scheme = t.slice_ref(&s[i..se]);
    let mut j = skip_ws(b, se);
    if j == b.len() {
        return Err(bad(j, "expected auth-params after the auth-scheme"));
    }
    if j == se {
        return Err(bad(se, "expected whitespace after the auth-scheme"));
    }
    let mut te = j;
    while te < b.len() && is_token68(b[te]) {
        te += 1;
    }
    while te < b.len() && b[te] == b'=' {
        te += 1;
    }
    if te > j && skip_ws(b, te) == b.len() {
        return Ok((scheme, Some(t.slice_ref(&s[j..te])), Vec::new()));
    }
    let mut params = Vec::new();
    loop {
        let ne = token_end(b, j);
        if ne == j {
            return Err(bad(j, "expected auth-param name"));
        }
        let mut k = skip_ws(b, ne);
        if k == b.len() || b[k] != b'=' {
            return Err(bad(k, "expected '=' after auth-param name"));
        }
        k = skip_ws(b, k + 1);
        let vs = k;
        if k < b.len() && b[k] == b'"' {
            // Digest values such as qop="auth,auth-int" hold commas.
            k = quoted_end(b, k).ok_or_else(|| bad(vs, "unterminated quoted string"))?;
        } else {
            k = token_end(b, k);
            if k == vs {
                return Err(bad(vs, "auth-param value must be a token or quoted string"));
            }
        }
        params.push(AuthParam {
            name: t.slice_ref(&s[j..ne]),
            value: t.slice_ref(&s[vs..k]),
        });
        k = skip_ws(b, k);
        if k == b.len() {
            return Ok((scheme, None, params));
        }
        if b[k] != b',' {
            return Err(bad(k, "expected ',' between auth-params"));
        }
        j = skip_ws(b, k + 1);
    }
}

fn find_auth<'a>(params: &'a [AuthParam], name: &str) -> Option<&'a AuthParam> {
    params.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

fn write_auth(
    f: &mut fmt::Formatter<'_>,
    scheme: &Text,
    token68: &Option<Text>,
    params: &[AuthParam],
) -> fmt::Result {
    f.write_str(scheme)?;
    if let Some(t) = token68 {
        write!(f, " {t}")?;
    }
    for (n, p) in params.iter().enumerate() {
        let sep = if n == 0 { " " } else { ", " };
        write!(f, "{sep}{p}")?;
    }
    Ok(())
}

/// An authentication header value: a scheme followed by comma-separated
/// auth-params or a single token68 (RFC 3261 §20.7, §20.27, §20.28, §20.44,
/// §25.1). [`Credentials`] and [`Challenge`] are its two uses; they share the
/// grammar and differ only in the parameters they name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Auth<K> {
    /// The scheme as written, e.g. `Digest` (compare case-insensitively).
    pub scheme: Text,
    /// A single token instead of parameters (`Bearer <token>`, RFC 8898).
    pub token68: Option<Text>,
    /// The auth-params in order, values as written.
    pub params: Vec<AuthParam>,
    kind: std::marker::PhantomData<K>,
}

/// Marks an [`Auth`] value of Authorization / Proxy-Authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialsKind {}

/// Marks an [`Auth`] value of WWW-Authenticate / Proxy-Authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeKind {}

/// The value of Authorization or Proxy-Authorization (RFC 3261 §20.7, §20.28,
/// §22.4), e.g. `Digest username="bob", realm="biloxi.com", ...`.
pub type Credentials = Auth<CredentialsKind>;

/// The value of WWW-Authenticate or Proxy-Authenticate (RFC 3261 §20.44,
/// §20.27, §22.1), e.g. `Digest realm="atlanta.com", nonce="...", qop="auth"`.
pub type Challenge = Auth<ChallengeKind>;

impl<K> Auth<K> {
    /// Parses `auth-scheme LWS auth-param *(COMMA auth-param)` (or a token68).
    pub fn parse(t: &Text) -> Result<Self, ParseError> {
        let (scheme, token68, params) = parse_auth(t)?;
        Ok(Auth {
            scheme,
            token68,
            params,
            kind: std::marker::PhantomData,
        })
    }

    /// Whether the scheme is `Digest` (any case).
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }

    /// A parameter's value without quotes (name compared case-insensitively).
    pub fn param(&self, name: &str) -> Option<String> {
        find_auth(&self.params, name).map(AuthParam::unquoted)
    }

    /// A parameter's value as written (quotes kept).
    pub fn raw_param(&self, name: &str) -> Option<&Text> {
        find_auth(&self.params, name).map(|p| &p.value)
    }

    /// The `realm` parameter.
    pub fn realm(&self) -> Option<String> {
        self.param("realm")
    }

    /// The `nonce` parameter.
    pub fn nonce(&self) -> Option<String> {
        self.param("nonce")
    }
}

impl Auth<CredentialsKind> {
    /// The `username` parameter.
    pub fn username(&self) -> Option<String> {
        self.param("username")
    }

    /// The `uri` parameter (the digest-uri).
    pub fn uri(&self) -> Option<String> {
        self.param("uri")
    }

    /// The `response` parameter (the request digest).
    pub fn response(&self) -> Option<String> {
        self.param("response")
    }
}

impl Auth<ChallengeKind> {
    /// The `opaque` parameter.
    pub fn opaque(&self) -> Option<String> {
        self.param("opaque")
    }

    /// The `algorithm` parameter (absent means MD5, RFC 2617 §3.2.1).
    pub fn algorithm(&self) -> Option<String> {
        self.param("algorithm")
    }

    /// The qop options offered (`qop="auth,auth-int"` gives `["auth",
    /// "auth-int"]`); empty when there is no qop parameter.
    pub fn qop(&self) -> Vec<String> {
        self.param("qop")
            .map(|q| {
                q.split(',')
                    .map(|o| o.trim_matches([' ', '\t']))
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `stale=true` (any case): the nonce expired but the credentials
    /// were right, so retry without asking the user (RFC 2617 §3.2.1).
    pub fn stale(&self) -> bool {
        self.param("stale")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

impl<K> fmt::Display for Auth<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_auth(f, &self.scheme, &self.token68, &self.params)
    }
}

/// The Event header (RFC 6665 §8.2.1), e.g. `presence;id=7`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventHeader {
    /// The event type as written: a package and optional templates,
    /// separated by dots (`presence.winfo`).
    pub event_type: Text,
    /// The `id` parameter, which tells subscriptions in one dialog apart.
    pub id: Option<Text>,
    /// Other parameters, in order.
    pub params: Vec<Param>,
}

impl EventHeader {
    /// Parses `event-type *( SEMI event-param )`.
    pub fn parse(t: &Text) -> Result<EventHeader, ParseError> {
        let s = t.as_str();
        let b = s.as_bytes();
        let i = skip_ws(b, 0);
        let e = token_end(b, i);
        if e == i {
            return Err(bad(i, "expected event-type"));
        }
        let event_type = &s[i..e];
        // event-type = event-package *( "." event-template ), each non-empty.
        if event_type.split('.').any(str::is_empty) {
            return Err(bad(i, "empty event-package or event-template"));
        }
        let mut params = parse_params(t, s, e, BAD)?;
        let id = match take_param(s, &mut params, "id")? {
            None => None,
            Some(p) => {
                let v = valued(s, &p, "id needs a value")?;
                if v.starts_with('"') {
                    return Err(bad(offset_of(s, v), "id must be a token"));
                }
                Some(v.clone())
            }
        };
        Ok(EventHeader {
            event_type: t.slice_ref(event_type),
            id,
            params,
        })
    }

    /// The event package: the event type up to the first dot (`presence`).
    pub fn package(&self) -> &str {
        self.event_type
            .split('.')
            .next()
            .unwrap_or(&self.event_type)
    }
}

impl fmt::Display for EventHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.event_type)?;
        if let Some(id) = &self.id {
            write!(f, ";id={id}")?;
        }
        write_params(f, &self.params)
    }
}

/// The state of a subscription (RFC 6665 §8.2.3 `substate-value`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Substate {
    /// `active`.
    Active,
    /// `pending`.
    Pending,
    /// `terminated`.
    Terminated,
    /// An extension value, as written.
    Other(Text),
}

impl Substate {
    /// The value: `active`, `pending`, `terminated` or the extension as written.
    pub fn as_str(&self) -> &str {
        match self {
            Substate::Active => "active",
            Substate::Pending => "pending",
            Substate::Terminated => "terminated",
            Substate::Other(t) => t,
        }
    }
}

impl fmt::Display for Substate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Subscription-State header of a NOTIFY (RFC 6665 §8.2.3), e.g.
/// `active;expires=600` or `terminated;reason=timeout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionState {
    /// The state.
    pub state: Substate,
    /// The `reason` parameter as written (`deactivated`, `timeout`, `rejected`, ...).
    pub reason: Option<Text>,
    /// The `expires` parameter: seconds left in the subscription.
    pub expires: Option<u32>,
    /// The `retry-after` parameter: seconds before re-subscribing.
    pub retry_after: Option<u32>,
    /// Other parameters, in order.
    pub params: Vec<Param>,
}

impl SubscriptionState {
    /// Parses `substate-value *( SEMI subexp-params )`.
    pub fn parse(t: &Text) -> Result<SubscriptionState, ParseError> {
        let s = t.as_str();
        let b = s.as_bytes();
        let i = skip_ws(b, 0);
        let e = token_end(b, i);
        if e == i {
            return Err(bad(i, "expected substate-value"));
        }
        let v = &s[i..e];
        let state = if v.eq_ignore_ascii_case("active") {
            Substate::Active
        } else if v.eq_ignore_ascii_case("pending") {
            Substate::Pending
        } else if v.eq_ignore_ascii_case("terminated") {
            Substate::Terminated
        } else {
            Substate::Other(t.slice_ref(v))
        };
        let mut params = parse_params(t, s, e, BAD)?;
        let reason = match take_param(s, &mut params, "reason")? {
            Some(p) => Some(valued(s, &p, "reason needs a value")?.clone()),
            None => None,
        };
        let expires = match take_param(s, &mut params, "expires")? {
            Some(p) => Some(delta_param(s, &p)?),
            None => None,
        };
        let retry_after = match take_param(s, &mut params, "retry-after")? {
            Some(p) => Some(delta_param(s, &p)?),
            None => None,
        };
        Ok(SubscriptionState {
            state,
            reason,
            expires,
            retry_after,
            params,
        })
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.state.as_str())?;
        if let Some(r) = &self.reason {
            write!(f, ";reason={r}")?;
        }
        if let Some(x) = self.expires {
            write!(f, ";expires={x}")?;
        }
        if let Some(x) = self.retry_after {
            write!(f, ";retry-after={x}")?;
        }
        write_params(f, &self.params)
    }
}

fn first<T>(
    m: &Message,
    name: HeaderName,
    parse: impl FnOnce(&Text) -> Result<T, ParseError>,
) -> Result<Option<T>, ParseError> {
    m.headers().get(&name).map(parse).transpose()
}

fn option_tags(m: &Message, name: HeaderName) -> Result<Option<OptionTags>, ParseError> {
    let mut out: Option<OptionTags> = None;
    for v in m.headers().get_all(&name) {
        let tags = OptionTags::parse(v)?.tags;
        out.get_or_insert_with(OptionTags::default)
            .tags
            .extend(tags);
    }
    Ok(out)
}

fn all_lines<T>(
    m: &Message,
    name: HeaderName,
    parse: fn(&Text) -> Result<T, ParseError>,
) -> Result<Vec<T>, ParseError> {
    m.headers().get_all(&name).map(parse).collect()
}

fn all_values<T>(
    m: &Message,
    name: HeaderName,
    parse_list: fn(&Text) -> Result<Vec<T>, ParseError>,
) -> Result<Vec<T>, ParseError> {
    let mut out = Vec::new();
    for v in m.headers().get_all(&name) {
        out.extend(parse_list(v)?);
    }
    Ok(out)
}

/// Typed header accessors. Each parses on demand; `Ok(None)` (or an empty
/// `Vec`) means the header is absent. Where a header may appear on several
/// lines the values of all lines are merged in order. Error offsets are
/// relative to the value of the header line that failed.
impl Message {
    /// Every Via value, top first.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        all_values(self, HeaderName::Via, Via::parse_list)
    }

    /// The topmost Via value (only that value is parsed).
    pub fn top_via(&self) -> Result<Option<Via>, ParseError> {
        first(self, HeaderName::Via, |v| {
            let top = split_list(v)[0];
            if top.is_empty() {
                return Err(err(ParseErrorKind::BadVia, 0).with_detail("empty list element"));
            }
            Via::parse(&v.slice_ref(top)).map_err(|e| e.rebase(offset_of(v, top)))
        })
    }

    /// The From header (named so as not to shadow `From::from`).
    pub fn from_header(&self) -> Result<Option<NameAddr>, ParseError> {
        first(self, HeaderName::From, NameAddr::parse)
    }

    /// The To header.
    pub fn to_header(&self) -> Result<Option<NameAddr>, ParseError> {
        first(self, HeaderName::To, NameAddr::parse)
    }

    /// The Call-ID value.
    pub fn call_id(&self) -> Option<&Text> {
        self.headers().get(&HeaderName::CallId)
    }

    /// The CSeq header.
    pub fn cseq(&self) -> Result<Option<CSeq>, ParseError> {
        first(self, HeaderName::CSeq, CSeq::parse)
    }

    /// The Contact values of all Contact lines; `*` is valid only as the sole
    /// value (RFC 3261 §10.2.2).
    pub fn contact(&self) -> Result<Option<Contact>, ParseError> {
        let mut out: Option<Contact> = None;
        for v in self.headers().get_all(&HeaderName::Contact) {
            out = Some(match (out, Contact::parse(v)?) {
                (None, c) => c,
                (Some(Contact::Addresses(mut a)), Contact::Addresses(b)) => {
                    a.extend(b);
                    Contact::Addresses(a)
                }
                _ => {
                    return Err(err(ParseErrorKind::BadNameAddr, 0)
                        .with_detail("Contact '*' must be the only Contact value"))
                }
            });
        }
        Ok(out)
    }

    /// The Max-Forwards value.
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        first(self, HeaderName::MaxForwards, |v| parse_max_forwards(v))
    }

    /// The Content-Length value.
    pub fn content_length(&self) -> Result<Option<usize>, ParseError> {
        first(self, HeaderName::ContentLength, |v| parse_content_length(v))
    }

    /// The Route values of all Route lines, in order.
    pub fn route(&self) -> Result<Vec<NameAddr>, ParseError> {
        all_values(self, HeaderName::Route, NameAddr::parse_list)
    }

    /// The Record-Route values of all Record-Route lines, in order.
    pub fn record_route(&self) -> Result<Vec<NameAddr>, ParseError> {
        all_values(self, HeaderName::RecordRoute, NameAddr::parse_list)
    }

    /// The Content-Type header.
    pub fn content_type(&self) -> Result<Option<MediaType>, ParseError> {
        first(self, HeaderName::ContentType, MediaType::parse)
    }

    /// The Expires header in seconds (see [`parse_delta_seconds`] for values
    /// too large).
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        first(self, HeaderName::Expires, |v| parse_delta_seconds(v))
    }

    /// The option tags of all Require lines.
    pub fn require(&self) -> Result<Option<OptionTags>, ParseError> {
        option_tags(self, HeaderName::Require)
    }

    /// The option tags of all Supported lines (`Some` and empty for an empty
    /// Supported header).
    pub fn supported(&self) -> Result<Option<OptionTags>, ParseError> {
        option_tags(self, HeaderName::Supported)
    }

    /// The option tags of all Proxy-Require lines.
    pub fn proxy_require(&self) -> Result<Option<OptionTags>, ParseError> {
        option_tags(self, HeaderName::ProxyRequire)
    }

    /// The option tags of all Unsupported lines.
    pub fn unsupported(&self) -> Result<Option<OptionTags>, ParseError> {
        option_tags(self, HeaderName::Unsupported)
    }

    /// The RSeq header.
    pub fn rseq(&self) -> Result<Option<RSeq>, ParseError> {
        first(self, HeaderName::RSeq, RSeq::parse)
    }

    /// The RAck header.
    pub fn rack(&self) -> Result<Option<RAck>, ParseError> {
        first(self, HeaderName::RAck, RAck::parse)
    }

    /// The Session-Expires header.
    pub fn session_expires(&self) -> Result<Option<SessionExpires>, ParseError> {
        first(self, HeaderName::SessionExpires, SessionExpires::parse)
    }

    /// The Min-SE header.
    pub fn min_se(&self) -> Result<Option<MinSe>, ParseError> {
        first(self, HeaderName::MinSe, MinSe::parse)
    }

    /// Every Authorization value (one per line; several realms may be answered).
    pub fn authorization(&self) -> Result<Vec<Credentials>, ParseError> {
        all_lines(self, HeaderName::Authorization, Credentials::parse)
    }

    /// Every Proxy-Authorization value.
    pub fn proxy_authorization(&self) -> Result<Vec<Credentials>, ParseError> {
        all_lines(self, HeaderName::ProxyAuthorization, Credentials::parse)
    }

    /// Every WWW-Authenticate value (one challenge per line).
    pub fn www_authenticate(&self) -> Result<Vec<Challenge>, ParseError> {
        all_lines(self, HeaderName::WwwAuthenticate, Challenge::parse)
    }

    /// Every Proxy-Authenticate value.
    pub fn proxy_authenticate(&self) -> Result<Vec<Challenge>, ParseError> {
        all_lines(self, HeaderName::ProxyAuthenticate, Challenge::parse)
    }

    /// The Event header.
    pub fn event(&self) -> Result<Option<EventHeader>, ParseError> {
        first(self, HeaderName::Event, EventHeader::parse)
    }

    /// The Subscription-State header.
    pub fn subscription_state(&self) -> Result<Option<SubscriptionState>, ParseError> {
        first(
            self,
            HeaderName::SubscriptionState,
            SubscriptionState::parse,
        )
    }
}
