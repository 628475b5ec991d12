//! The JSON form of SIP messages (the seed protocol's "JSON SIP Message
//! format"), in both directions. `docs/json-form.md` specifies it.
//!
//! Numbers that are part of header values (ports, CSeq, Max-Forwards) are
//! strings, as in the seed's example; `status_code` is a number. When reading,
//! either is accepted.

use crate::header::{is_header_value, Header, HeaderName, Headers};
use crate::message::{Message, Method, Request, Response};
use crate::scan::{list_items, unquote};
use crate::text::Text;
use crate::typed::{scan_name_addr, scan_via, CSeq, NameAddr, ViaSpans};
use crate::uri::Scanned;
use crate::uri::{Param, Uri};
use crate::ParseError;
use base64::Engine as _;
use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};
use smallvec::SmallVec;
use std::fmt;

/// A JSON value that does not describe a valid message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Where in the document, e.g. `headers.via[0].host`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for JsonError {}

fn jerr(path: impl Into<String>, message: impl Into<String>) -> JsonError {
    JsonError {
        path: path.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------- to JSON
//
// The JSON form is produced by `serde::Serialize` implementations over the
// message's typed views, so that any serde serializer writes it directly:
// serde_json to bytes for the control protocol, and the Python binding to
// Python objects, neither building an intermediate `serde_json::Value`.

/// The JSON form of a message, as a [`Serialize`] value.
#[derive(Debug, Clone, Copy)]
pub struct JsonForm<'a>(pub &'a Message);

/// The JSON form of `msg` as a `serde_json::Value`.
pub fn to_json(msg: &Message) -> Value {
    // Serializing to a Value cannot fail: every map key is a string.
    serde_json::to_value(JsonForm(msg)).unwrap_or(Value::Null)
}

/// The JSON form of `msg`, written as JSON text.
pub fn to_json_vec(msg: &Message) -> Vec<u8> {
    // Writing to a Vec cannot fail.
    serde_json::to_vec(&JsonForm(msg)).unwrap_or_default()
}

/// The JSON form of a URI (see [`UriForm`]) as a `serde_json::Value`.
pub fn uri_json(uri: &Uri) -> Value {
    serde_json::to_value(UriForm(uri)).unwrap_or(Value::Null)
}

impl Serialize for JsonForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let mut map = s.serialize_map(Some(2 + usize::from(!m.body().is_empty())))?;
        match m {
            Message::Request(r) => map.serialize_entry("request_uri", &RequestLineForm(r))?,
            Message::Response(r) => map.serialize_entry("status_line", &StatusLineForm(r))?,
        }
        map.serialize_entry("headers", &HeadersForm(m.headers()))?;
        if !m.body().is_empty() {
            map.serialize_entry("payload", &PayloadForm(m))?;
        }
        map.end()
    }
}

struct RequestLineForm<'a>(&'a Request);

impl Serialize for RequestLineForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("method", self.0.method.as_str())?;
        map.serialize_entry("version", "SIP/2.0")?;
        map.serialize_entry("url", &UriForm(&self.0.uri))?;
        map.end()
    }
}

struct StatusLineForm<'a>(&'a Response);

impl Serialize for StatusLineForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("version", "SIP/2.0")?;
        map.serialize_entry("status_code", &self.0.status)?;
        map.serialize_entry("reason", self.0.reason.as_str())?;
        map.end()
    }
}

/// A value written with its `Display` form (a number as a string, a parameter).
struct Shown<T>(T);

impl<T: fmt::Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A number written as a string, as in the seed's JSON form.
struct NumStr(u32);

impl Serialize for NumStr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(itoa::Buffer::new().format(self.0))
    }
}

/// A host as written in URIs (IPv6 in brackets).
struct HostForm<'a>(&'a crate::uri::Host);

impl Serialize for HostForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.kind {
            crate::uri::HostKind::Ipv6 => s.collect_str(self.0),
            _ => s.serialize_str(&self.0.text),
        }
    }
}

/// A parameter as `name=value`, or `name` for a flag (no formatting needed).
struct ParamForm<'a>(&'a Param);

impl Serialize for ParamForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0.value {
            None => s.serialize_str(&self.0.name),
            Some(_) => s.collect_str(self.0),
        }
    }
}

struct ParamsForm<'a>(&'a [Param]);

impl Serialize for ParamsForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ParamForm))
    }
}

/// The JSON form of a URI: `{scheme, user, password, host, port, params, headers}`
/// for SIP (absent parts omitted), `{scheme, number, params}` for tel, and
/// `{scheme, value}` for any other URI.
#[derive(Debug, Clone, Copy)]
pub struct UriForm<'a>(pub &'a Uri);

impl Serialize for UriForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("scheme", self.0.scheme())?;
        match self.0 {
            Uri::Sip(u) => {
                if let Some(user) = &u.user {
                    map.serialize_entry("user", user.as_str())?;
                }
                if let Some(p) = &u.password {
                    map.serialize_entry("password", p.as_str())?;
                }
                map.serialize_entry("host", &HostForm(&u.host))?;
                if let Some(p) = u.port {
                    map.serialize_entry("port", &NumStr(p.into()))?;
                }
                if !u.params.is_empty() {
                    map.serialize_entry("params", &ParamsForm(&u.params))?;
                }
                if !u.headers.is_empty() {
                    let hs: Vec<String> =
                        u.headers.iter().map(|(n, v)| format!("{n}={v}")).collect();
                    map.serialize_entry("headers", &hs)?;
                }
            }
            Uri::Tel(t) => {
                map.serialize_entry("number", t.number.as_str())?;
                if !t.params.is_empty() {
                    map.serialize_entry("params", &ParamsForm(&t.params))?;
                }
            }
            Uri::Other { value, .. } => map.serialize_entry("value", value.as_str())?,
        }
        map.end()
    }
}

// The header values are written from borrowed scans of the header text
// (the same scanners that validate them), so building the JSON form of a
// message allocates almost nothing and touches no reference counts.

type Pairs<'a> = SmallVec<[(&'a str, Option<&'a str>); 6]>;

fn offset(base: &str, part: &str) -> usize {
    part.as_ptr() as usize - base.as_ptr() as usize
}

/// `part_a ... part_b` as one slice of `base`, if the text between them is
/// exactly `gap` bytes long (the parts are slices of `base`).
fn joined<'a>(base: &'a str, first: &str, last: &str, gap: usize, total: usize) -> Option<&'a str> {
    let start = offset(base, first);
    let end = offset(base, last) + last.len();
    (end - start == total + gap).then(|| &base[start..end])
}

/// A parameter `name=value` (or `name`), written as found when the text is
/// exactly that, else formatted without the whitespace around `=`.
struct RawParam<'a> {
    base: &'a str,
    name: &'a str,
    value: Option<&'a str>,
}

impl Serialize for RawParam<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.value {
            None => s.serialize_str(self.name),
            Some(v) => match joined(self.base, self.name, v, 1, self.name.len() + v.len()) {
                Some(raw) => s.serialize_str(raw),
                None => s.collect_str(&format_args!("{}={}", self.name, v)),
            },
        }
    }
}

struct RawParams<'a, 'b> {
    base: &'a str,
    items: &'b [(&'a str, Option<&'a str>)],
}

impl Serialize for RawParams<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.items.iter().map(|&(name, value)| RawParam {
            base: self.base,
            name,
            value,
        }))
    }
}

fn find<'a>(items: &[(&'a str, Option<&'a str>)], name: &str) -> Option<Option<&'a str>> {
    items
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
}

/// A host as written in URIs (IPv6 in brackets).
struct HostStr<'a>(&'a str, crate::uri::HostKind);

impl Serialize for HostStr<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.1 {
            crate::uri::HostKind::Ipv6 => s.collect_str(&format_args!("[{}]", self.0)),
            _ => s.serialize_str(self.0),
        }
    }
}

/// A URI inside a header value, in the form of [`UriForm`].
struct UriSpans<'a> {
    raw: &'a str,
    scanned: Scanned<'a>,
    params: Pairs<'a>,
    headers: SmallVec<[(&'a str, Option<&'a str>); 2]>,
}

impl<'a> UriSpans<'a> {
    fn scan(raw: &'a str) -> Result<Self, ParseError> {
        let mut params = Pairs::new();
        let mut headers = SmallVec::new();
        let scanned = crate::uri::scan(raw, &mut |n, v| params.push((n, v)), &mut |n, v| {
            headers.push((n, Some(v)))
        })?;
        Ok(UriSpans {
            raw,
            scanned,
            params,
            headers,
        })
    }
}

impl Serialize for UriSpans<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        let params = RawParams {
            base: self.raw,
            items: &self.params,
        };
        match &self.scanned {
            Scanned::Sip {
                secure,
                user,
                password,
                host,
                host_kind,
                port,
            } => {
                map.serialize_entry("scheme", if *secure { "sips" } else { "sip" })?;
                if let Some(u) = user {
                    map.serialize_entry("user", u)?;
                }
                if let Some(p) = password {
                    map.serialize_entry("password", p)?;
                }
                map.serialize_entry("host", &HostStr(host, *host_kind))?;
                if let Some(p) = port {
                    map.serialize_entry("port", &NumStr((*p).into()))?;
                }
                if !self.params.is_empty() {
                    map.serialize_entry("params", &params)?;
                }
                if !self.headers.is_empty() {
                    map.serialize_entry(
                        "headers",
                        &RawParams {
                            base: self.raw,
                            items: &self.headers,
                        },
                    )?;
                }
            }
            Scanned::Tel { number } => {
                map.serialize_entry("scheme", "tel")?;
                map.serialize_entry("number", number)?;
                if !self.params.is_empty() {
                    map.serialize_entry("params", &params)?;
                }
            }
            Scanned::Other { scheme } => {
                map.serialize_entry("scheme", scheme)?;
                map.serialize_entry("value", self.raw)?;
            }
        }
        map.end()
    }
}

/// One name-addr value (From, To, Contact, Route, Record-Route).
struct NameAddrSpansForm<'a> {
    base: &'a str,
    display: Option<&'a str>,
    uri: UriSpans<'a>,
    params: Pairs<'a>,
    with_tag: bool,
}

impl<'a> NameAddrSpansForm<'a> {
    fn scan(base: &'a str, with_tag: bool) -> Result<Self, ParseError> {
        let mut params = Pairs::new();
        let sp = scan_name_addr(base, &mut |n, v| params.push((n, v)))?;
        let uri = UriSpans::scan(sp.uri)?;
        Ok(NameAddrSpansForm {
            base,
            display: sp.display,
            uri,
            params,
            with_tag,
        })
    }
}

impl Serialize for NameAddrSpansForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let tag = if self.with_tag {
            find(&self.params, "tag").flatten()
        } else {
            None
        };
        let mut map = s.serialize_map(Some(3 + usize::from(tag.is_some())))?;
        match self.display {
            Some(d) if d.starts_with('"') => map.serialize_entry("display", &unquote(d))?,
            Some(d) => map.serialize_entry("display", d)?,
            None => map.serialize_entry("display", "")?,
        }
        if let Some(t) = tag {
            map.serialize_entry("tag", t)?;
        }
        map.serialize_entry("url", &self.uri)?;
        map.serialize_entry(
            "params",
            &RawParams {
                base: self.base,
                items: &self.params,
            },
        )?;
        map.end()
    }
}

/// One Via value.
struct ViaSpansForm<'a> {
    base: &'a str,
    spans: ViaSpans<'a>,
    params: Pairs<'a>,
}

impl<'a> ViaSpansForm<'a> {
    fn scan(base: &'a str) -> Result<Self, ParseError> {
        let mut params = Pairs::new();
        let spans = scan_via(base, &mut |n, v| params.push((n, v)))?;
        Ok(ViaSpansForm {
            base,
            spans,
            params,
        })
    }
}

impl Serialize for ViaSpansForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let [name, version, transport] = self.spans.protocol;
        let mut map = s.serialize_map(None)?;
        let total = name.len() + version.len() + transport.len();
        match joined(self.base, name, transport, 2, total) {
            Some(raw) => map.serialize_entry("protocol", raw)?,
            None => map.serialize_entry(
                "protocol",
                &Shown(format_args!("{name}/{version}/{transport}")),
            )?,
        }
        map.serialize_entry("host", &HostStr(self.spans.host, self.spans.host_kind))?;
        if let Some(p) = self.spans.port {
            map.serialize_entry("port", &NumStr(p.into()))?;
        }
        for key in ["branch", "rport", "received"] {
            if let Some(val) = find(&self.params, key) {
                map.serialize_entry(key, val.unwrap_or(""))?;
            }
        }
        map.serialize_entry(
            "params",
            &RawParams {
                base: self.base,
                items: &self.params,
            },
        )?;
        map.end()
    }
}

/// One header line in its JSON form: the structured values it holds, or its
/// raw text when it has no structured form or does not parse.
enum LineForm<'a> {
    Vias(Vec<ViaSpansForm<'a>>),
    NameAddrs(Vec<NameAddrSpansForm<'a>>),
    Star,
    CSeq(u32, &'a str),
    MaxForwards(u8),
    Raw(&'a str),
}

fn scan_list<'a, T>(v: &'a str, one: impl Fn(&'a str) -> Result<T, ParseError>) -> Option<Vec<T>> {
    list_items(v)
        .map(|(_, item)| {
            if item.is_empty() {
                None
            } else {
                one(item).ok()
            }
        })
        .collect()
}

impl<'a> LineForm<'a> {
    fn of(h: &'a Header) -> LineForm<'a> {
        let v = h.value.as_str();
        let parsed = match h.name {
            HeaderName::Via => scan_list(v, ViaSpansForm::scan).map(LineForm::Vias),
            HeaderName::From | HeaderName::To => NameAddrSpansForm::scan(v, true)
                .ok()
                .map(|na| LineForm::NameAddrs(vec![na])),
            HeaderName::Contact if v.trim_matches([' ', '\t']) == "*" => Some(LineForm::Star),
            HeaderName::Contact | HeaderName::Route | HeaderName::RecordRoute => {
                scan_list(v, |x| NameAddrSpansForm::scan(x, false)).map(LineForm::NameAddrs)
            }
            HeaderName::CSeq => CSeq::parse(&h.value)
                .ok()
                .map(|c| LineForm::CSeq(c.seq, cseq_method(v))),
            HeaderName::MaxForwards => crate::typed::parse_max_forwards(v)
                .ok()
                .map(LineForm::MaxForwards),
            _ => None,
        };
        parsed.unwrap_or(LineForm::Raw(v))
    }

    fn count(&self) -> usize {
        match self {
            LineForm::Vias(v) => v.len(),
            LineForm::NameAddrs(v) => v.len(),
            _ => 1,
        }
    }

    fn serialize_values<S: SerializeSeq>(&self, seq: &mut S) -> Result<(), S::Error> {
        match self {
            LineForm::Vias(v) => v.iter().try_for_each(|v| seq.serialize_element(v)),
            LineForm::NameAddrs(v) => v.iter().try_for_each(|na| seq.serialize_element(na)),
            _ => seq.serialize_element(&OneValue(self)),
        }
    }
}

/// The method word of a CSeq value that parsed.
fn cseq_method(v: &str) -> &str {
    v.trim_matches([' ', '\t'])
        .rsplit([' ', '\t'])
        .next()
        .unwrap_or("")
}

/// A line form holding exactly one value, serialized as that value.
struct OneValue<'a, 'b>(&'b LineForm<'a>);

impl Serialize for OneValue<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            LineForm::Vias(v) => v[0].serialize(s),
            LineForm::NameAddrs(v) => v[0].serialize(s),
            LineForm::Star => s.serialize_str("*"),
            LineForm::CSeq(seq, method) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("seq", &NumStr(*seq))?;
                map.serialize_entry("method", method)?;
                map.end()
            }
            LineForm::MaxForwards(n) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("count", &NumStr((*n).into()))?;
                map.end()
            }
            LineForm::Raw(t) => s.serialize_str(t),
        }
    }
}

/// All lines of one header name: a single value, or a list (always a list for
/// Via, Route and Record-Route).
struct GroupForm<'a> {
    lines: Vec<LineForm<'a>>,
    always_list: bool,
}

impl Serialize for GroupForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n: usize = self.lines.iter().map(LineForm::count).sum();
        if n == 1 && !self.always_list {
            return OneValue(&self.lines[0]).serialize(s);
        }
        let mut seq = s.serialize_seq(Some(n))?;
        for line in &self.lines {
            line.serialize_values(&mut seq)?;
        }
        seq.end()
    }
}

struct HeadersForm<'a>(&'a Headers);

impl Serialize for HeadersForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Keys in order of first appearance, each with all lines of that name.
        let all: Vec<&Header> = self.0.iter().collect();
        let mut map = s.serialize_map(None)?;
        for (i, h) in all.iter().enumerate() {
            if all[..i].iter().any(|p| p.name == h.name) {
                continue;
            }
            let lines = all[i..]
                .iter()
                .filter(|x| x.name == h.name)
                .map(|x| LineForm::of(x))
                .collect();
            let always_list = matches!(
                h.name,
                HeaderName::Via | HeaderName::Route | HeaderName::RecordRoute
            );
            map.serialize_entry(&h.name.json_key(), &GroupForm { lines, always_list })?;
        }
        map.end()
    }
}

struct PayloadForm<'a>(&'a Message);

impl Serialize for PayloadForm<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let body = self.0.body();
        let mut map = s.serialize_map(None)?;
        if let Some(ct) = self.0.headers().get(&HeaderName::ContentType) {
            map.serialize_entry("type", ct.as_str())?;
        }
        match std::str::from_utf8(body) {
            Ok(text) => map.serialize_entry("content", text)?,
            Err(_) => {
                map.serialize_entry(
                    "content",
                    &base64::engine::general_purpose::STANDARD.encode(body),
                )?;
                map.serialize_entry("encoding", "base64")?;
            }
        }
        map.end()
    }
}

// -------------------------------------------------------------- from JSON

/// Builds a message from its JSON form.
pub fn from_json(v: &Value) -> Result<Message, JsonError> {
    let obj = v
        .as_object()
        .ok_or_else(|| jerr("$", "expected an object"))?;
    let mut headers = Headers::new();
    if let Some(h) = obj.get("headers") {
        let hm = h
            .as_object()
            .ok_or_else(|| jerr("headers", "expected an object"))?;
        for (key, val) in hm {
            push_header_json(&mut headers, key, val, &format!("headers.{key}"))?;
        }
    }
    let body = match obj.get("payload") {
        None | Some(Value::Null) => Bytes::new(),
        Some(p) => payload_from_json(p)?,
    };
    if let Some(ct) = obj
        .get("payload")
        .and_then(|p| p.get("type"))
        .and_then(Value::as_str)
    {
        if !body.is_empty() && !headers.contains(&HeaderName::ContentType) {
            headers.push(
                HeaderName::ContentType,
                scalar_text(&Value::from(ct), "payload.type")?,
            );
        }
    }
    if let Some(rl) = obj.get("request_uri") {
        let method = str_field(rl, "method", "request_uri")?;
        let method =
            Method::parse(method).ok_or_else(|| jerr("request_uri.method", "not a token"))?;
        check_version(rl, "request_uri")?;
        let url = rl
            .get("url")
            .ok_or_else(|| jerr("request_uri.url", "missing"))?;
        let uri = uri_from_json(url, "request_uri.url")?;
        Ok(Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }))
    } else if let Some(sl) = obj.get("status_line") {
        let code = sl
            .get("status_code")
            .ok_or_else(|| jerr("status_line.status_code", "missing"))?;
        let status = num_or_str(code)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|c| (100..=699).contains(c));
        let status = status
            .ok_or_else(|| jerr("status_line.status_code", "expected a status code 100-699"))?;
        check_version(sl, "status_line")?;
        let reason = match sl.get("reason") {
            None | Some(Value::Null) => Text::from_static(crate::reason_phrase(status)),
            Some(Value::String(s)) => Text::from(s.as_str()),
            Some(_) => return Err(jerr("status_line.reason", "expected a string")),
        };
        Ok(Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }))
    } else {
        Err(jerr("$", "expected 'request_uri' or 'status_line'"))
    }
}

/// Builds header lines from the simple form `{"User-Agent": "x", "X-Tags": ["a", "b"]}`
/// (header names as written, values strings or lists of strings).
pub fn headers_from_simple(map: &Map<String, Value>) -> Result<Vec<Header>, JsonError> {
    let mut out = Vec::with_capacity(map.len());
    for (name, val) in map {
        let path = format!("headers.{name}");
        check_header_name(name, &path)?;
        let hn = HeaderName::new(name);
        match val {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    out.push(Header {
                        name: hn.clone(),
                        value: scalar_text(item, &format!("{path}[{i}]"))?,
                    });
                }
            }
            other => out.push(Header {
                name: hn,
                value: scalar_text(other, &path)?,
            }),
        }
    }
    Ok(out)
}

fn check_header_name(name: &str, path: &str) -> Result<(), JsonError> {
    if name.is_empty() || !name.bytes().all(crate::scan::is_token) {
        return Err(jerr(path, "header name must be a token"));
    }
    Ok(())
}

fn scalar_text(v: &Value, path: &str) -> Result<Text, JsonError> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(jerr(path, "expected a string")),
    };
    if !is_header_value(&s) {
        return Err(jerr(path, "header values cannot contain CR or LF"));
    }
    Ok(Text::from(s))
}

fn check_version(v: &Value, path: &str) -> Result<(), JsonError> {
    match v.get("version") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("SIP/2.0") => Ok(()),
        Some(_) => Err(jerr(format!("{path}.version"), "only SIP/2.0 is supported")),
    }
}

fn str_field<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, JsonError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| jerr(format!("{path}.{key}"), "expected a string"))
}

fn opt_str(v: &Value, key: &str, path: &str) -> Result<Option<String>, JsonError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(jerr(format!("{path}.{key}"), "expected a string")),
    }
}

fn num_or_str(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn params_from_json(v: Option<&Value>, path: &str) -> Result<String, JsonError> {
    let mut out = String::new();
    match v {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, it) in items.iter().enumerate() {
                let s = it.as_str().ok_or_else(|| {
                    jerr(
                        format!("{path}[{i}]"),
                        "expected a string 'name' or 'name=value'",
                    )
                })?;
                out.push(';');
                out.push_str(s);
            }
        }
        Some(_) => return Err(jerr(path, "expected a list of strings")),
    }
    Ok(out)
}

/// Builds a URI from its JSON form (see [`uri_json`]); a plain string is parsed as a URI.
pub fn uri_from_json(v: &Value, path: &str) -> Result<Uri, JsonError> {
    let s = uri_string_from_json(v, path)?;
    Uri::parse_str(&s).map_err(|e| jerr(path, format!("invalid URI {s:?}: {e}")))
}

fn uri_string_from_json(v: &Value, path: &str) -> Result<String, JsonError> {
    if let Value::String(s) = v {
        return Ok(s.clone());
    }
    let scheme = str_field(v, "scheme", path)?.to_ascii_lowercase();
    let mut s = String::new();
    match scheme.as_str() {
        "sip" | "sips" => {
            s.push_str(&scheme);
            s.push(':');
            if let Some(user) = opt_str(v, "user", path)? {
                s.push_str(&user);
                if let Some(pw) = opt_str(v, "password", path)? {
                    s.push(':');
                    s.push_str(&pw);
                }
                s.push('@');
            }
            s.push_str(str_field(v, "host", path)?);
            if let Some(p) = opt_str(v, "port", path)? {
                s.push(':');
                s.push_str(&p);
            }
            s.push_str(&params_from_json(
                v.get("params"),
                &format!("{path}.params"),
            )?);
            if let Some(Value::Array(hs)) = v.get("headers") {
                for (i, h) in hs.iter().enumerate() {
                    s.push(if i == 0 { '?' } else { '&' });
                    s.push_str(h.as_str().ok_or_else(|| {
                        jerr(format!("{path}.headers[{i}]"), "expected 'name=value'")
                    })?);
                }
            }
        }
        "tel" => {
            s.push_str("tel:");
            let number = opt_str(v, "number", path)?.or(opt_str(v, "user", path)?);
            s.push_str(&number.ok_or_else(|| jerr(format!("{path}.number"), "missing"))?);
            s.push_str(&params_from_json(
                v.get("params"),
                &format!("{path}.params"),
            )?);
        }
        _ => s.push_str(str_field(v, "value", path)?),
    }
    Ok(s)
}

fn name_addr_from_json(v: &Value, path: &str) -> Result<String, JsonError> {
    if let Value::String(s) = v {
        return Ok(s.clone());
    }
    let url = v
        .get("url")
        .ok_or_else(|| jerr(format!("{path}.url"), "missing"))?;
    let uri = uri_from_json(url, &format!("{path}.url"))?;
    let mut na = NameAddr::new(uri);
    na.set_display_name(opt_str(v, "display", path)?.as_deref());
    let mut s = na.to_string();
    match v.get("params") {
        Some(p @ Value::Array(_)) => {
            s.push_str(&params_from_json(Some(p), &format!("{path}.params"))?)
        }
        _ => {
            if let Some(tag) = opt_str(v, "tag", path)? {
                s.push_str(";tag=");
                s.push_str(&tag);
            }
        }
    }
    Ok(s)
}

fn via_from_json(v: &Value, path: &str) -> Result<String, JsonError> {
    if let Value::String(s) = v {
        return Ok(s.clone());
    }
    let mut s = format!(
        "{} {}",
        str_field(v, "protocol", path)?,
        str_field(v, "host", path)?
    );
    if let Some(p) = opt_str(v, "port", path)? {
        s.push(':');
        s.push_str(&p);
    }
    match v.get("params") {
        Some(p @ Value::Array(_)) => {
            s.push_str(&params_from_json(Some(p), &format!("{path}.params"))?)
        }
        _ => {
            for key in ["branch", "received", "rport"] {
                if let Some(val) = opt_str(v, key, path)? {
                    s.push(';');
                    s.push_str(key);
                    if !val.is_empty() {
                        s.push('=');
                        s.push_str(&val);
                    }
                }
            }
        }
    }
    Ok(s)
}

/// The header name for a JSON key: a known header's snake_case key or long
/// name, else the key with `_` turned into `-`.
fn header_name_for_key(key: &str) -> HeaderName {
    let dashed = key.replace('_', "-");
    HeaderName::new(&dashed)
}

fn push_header_json(
    headers: &mut Headers,
    key: &str,
    val: &Value,
    path: &str,
) -> Result<(), JsonError> {
    check_header_name(key, path)?;
    let name = header_name_for_key(key);
    if let Value::Array(items) = val {
        for (i, it) in items.iter().enumerate() {
            push_one(headers, &name, it, &format!("{path}[{i}]"))?;
        }
        return Ok(());
    }
    push_one(headers, &name, val, path)
}

fn push_one(
    headers: &mut Headers,
    name: &HeaderName,
    val: &Value,
    path: &str,
) -> Result<(), JsonError> {
    let text = match (name, val) {
        (_, Value::String(_) | Value::Number(_)) => scalar_text(val, path)?.to_string(),
        (HeaderName::Via, Value::Object(_)) => via_from_json(val, path)?,
        (
            HeaderName::From
            | HeaderName::To
            | HeaderName::Contact
            | HeaderName::Route
            | HeaderName::RecordRoute,
            Value::Object(_),
        ) => name_addr_from_json(val, path)?,
        (HeaderName::CSeq, Value::Object(_)) => {
            let seq = val
                .get("seq")
                .and_then(num_or_str)
                .ok_or_else(|| jerr(format!("{path}.seq"), "expected a number"))?;
            format!("{} {}", seq, str_field(val, "method", path)?)
        }
        (HeaderName::MaxForwards, Value::Object(_)) => {
            let n = val
                .get("count")
                .and_then(num_or_str)
                .ok_or_else(|| jerr(format!("{path}.count"), "expected a number"))?;
            n.to_string()
        }
        _ => {
            return Err(jerr(
                path,
                "expected a string (this header has no structured form)",
            ))
        }
    };
    if !is_header_value(&text) {
        return Err(jerr(path, "header values cannot contain CR or LF"));
    }
    headers.push(name.clone(), Text::from(text));
    Ok(())
}

fn payload_from_json(p: &Value) -> Result<Bytes, JsonError> {
    match p {
        Value::String(s) => Ok(Bytes::copy_from_slice(s.as_bytes())),
        Value::Object(_) => {
            let content = match p.get("content") {
                None | Some(Value::Null) => return Ok(Bytes::new()),
                Some(Value::String(s)) => s,
                Some(_) => return Err(jerr("payload.content", "expected a string")),
            };
            match p.get("encoding").and_then(Value::as_str) {
                None => Ok(Bytes::copy_from_slice(content.as_bytes())),
                Some(e) if e.eq_ignore_ascii_case("base64") => {
                    base64::engine::general_purpose::STANDARD
                        .decode(content)
                        .map(Bytes::from)
                        .map_err(|e| jerr("payload.content", format!("invalid base64: {e}")))
                }
                Some(e) => Err(jerr("payload.encoding", format!("unknown encoding {e:?}"))),
            }
        }
        _ => Err(jerr(
            "payload",
            "expected an object {type, content} or a string",
        )),
    }
}
