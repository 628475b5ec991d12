//! The JSON form of SIP messages (the seed protocol's "JSON SIP Message
//! format"), in both directions. `docs/json-form.md` specifies it.
//!
//! Numbers that are part of header values (ports, CSeq, Max-Forwards) are
//! strings, as in the seed's example; `status_code` is a number. When reading,
//! either is accepted.

use crate::header::{Header, HeaderName, Headers};
use crate::message::{Message, Method, Request, Response};
use crate::text::Text;
use crate::typed::{CSeq, Contact, NameAddr, Via};
use crate::uri::{Param, Uri};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Map, Value};
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

/// The JSON form of `msg`.
pub fn to_json(msg: &Message) -> Value {
    let mut out = Map::new();
    match msg {
        Message::Request(r) => {
            out.insert(
                "request_uri".into(),
                json!({"method": r.method.as_str(), "version": "SIP/2.0", "url": uri_json(&r.uri)}),
            );
        }
        Message::Response(r) => {
            out.insert(
                "status_line".into(),
                json!({"version": "SIP/2.0", "status_code": r.status, "reason": r.reason.as_str()}),
            );
        }
    }
    out.insert("headers".into(), Value::Object(headers_json(msg.headers())));
    if !msg.body().is_empty() {
        out.insert("payload".into(), payload_json(msg));
    }
    Value::Object(out)
}

/// The JSON form of a URI: `{scheme, user, password, host, port, params, headers}`
/// for SIP (absent parts omitted), `{scheme, number, params}` for tel, and
/// `{scheme, value}` for any other URI.
pub fn uri_json(uri: &Uri) -> Value {
    let mut m = Map::new();
    m.insert("scheme".into(), uri.scheme().into());
    match uri {
        Uri::Sip(u) => {
            if let Some(user) = &u.user {
                m.insert("user".into(), user.as_str().into());
            }
            if let Some(p) = &u.password {
                m.insert("password".into(), p.as_str().into());
            }
            m.insert("host".into(), u.host.to_string().into());
            if let Some(p) = u.port {
                m.insert("port".into(), p.to_string().into());
            }
            if !u.params.is_empty() {
                m.insert("params".into(), params_json(&u.params));
            }
            if !u.headers.is_empty() {
                m.insert(
                    "headers".into(),
                    u.headers
                        .iter()
                        .map(|(n, v)| Value::from(format!("{n}={v}")))
                        .collect(),
                );
            }
        }
        Uri::Tel(t) => {
            m.insert("number".into(), t.number.as_str().into());
            if !t.params.is_empty() {
                m.insert("params".into(), params_json(&t.params));
            }
        }
        Uri::Other { value, .. } => {
            m.insert("value".into(), value.as_str().into());
        }
    }
    Value::Object(m)
}

fn params_json(params: &[Param]) -> Value {
    params.iter().map(|p| Value::from(p.to_string())).collect()
}

fn name_addr_json(na: &NameAddr, with_tag: bool) -> Value {
    let mut m = Map::new();
    m.insert(
        "display".into(),
        na.display_name().unwrap_or_default().into(),
    );
    if with_tag {
        if let Some(t) = na.tag() {
            m.insert("tag".into(), t.as_str().into());
        }
    }
    m.insert("url".into(), uri_json(&na.uri));
    m.insert("params".into(), params_json(&na.params));
    Value::Object(m)
}

fn via_json(v: &Via) -> Value {
    let mut m = Map::new();
    m.insert("protocol".into(), v.protocol().into());
    m.insert("host".into(), v.host.to_string().into());
    if let Some(p) = v.port {
        m.insert("port".into(), p.to_string().into());
    }
    for key in ["branch", "rport", "received"] {
        if let Some(val) = v.param(key) {
            m.insert(key.into(), val.map(|t| t.as_str()).unwrap_or("").into());
        }
    }
    m.insert("params".into(), params_json(&v.params));
    Value::Object(m)
}

/// The structured JSON of one header line, or `None` if the header has no
/// structured form or its value does not parse (then the raw string is used).
fn structured(h: &Header) -> Option<Vec<Value>> {
    match h.name {
        HeaderName::Via => Via::parse_list(&h.value)
            .ok()
            .map(|v| v.iter().map(via_json).collect()),
        HeaderName::From | HeaderName::To => NameAddr::parse(&h.value)
            .ok()
            .map(|na| vec![name_addr_json(&na, true)]),
        HeaderName::Contact => match Contact::parse(&h.value).ok()? {
            Contact::Star => Some(vec![Value::from("*")]),
            Contact::Addresses(v) => Some(v.iter().map(|na| name_addr_json(na, false)).collect()),
        },
        HeaderName::Route | HeaderName::RecordRoute => NameAddr::parse_list(&h.value)
            .ok()
            .map(|v| v.iter().map(|na| name_addr_json(na, false)).collect()),
        HeaderName::CSeq => CSeq::parse(&h.value)
            .ok()
            .map(|c| vec![json!({"seq": c.seq.to_string(), "method": c.method.as_str()})]),
        HeaderName::MaxForwards => crate::typed::parse_max_forwards(&h.value)
            .ok()
            .map(|n| vec![json!({"count": n.to_string()})]),
        _ => None,
    }
}

/// Headers that are always a list in the JSON form, even with one value.
fn always_list(name: &HeaderName) -> bool {
    matches!(
        name,
        HeaderName::Via | HeaderName::Route | HeaderName::RecordRoute
    )
}

fn headers_json(headers: &Headers) -> Map<String, Value> {
    // Values gathered per key in order of first appearance; then a key holding
    // a single value becomes that value (Via, Route and Record-Route stay lists).
    let mut out: Map<String, Value> = Map::new();
    for h in headers {
        let values = structured(h).unwrap_or_else(|| vec![Value::from(h.value.as_str())]);
        let entry = out
            .entry(h.name.json_key().into_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = entry {
            a.extend(values);
        }
    }
    for h in headers {
        if always_list(&h.name) {
            continue;
        }
        if let Some(Value::Array(a)) = out.get_mut(h.name.json_key().as_ref()) {
            if a.len() == 1 {
                let v = a.pop().unwrap_or(Value::Null);
                out.insert(h.name.json_key().into_owned(), v);
            }
        }
    }
    out
}

fn payload_json(msg: &Message) -> Value {
    let body = msg.body();
    let mut m = Map::new();
    if let Some(ct) = msg.headers().get(&HeaderName::ContentType) {
        m.insert("type".into(), ct.as_str().into());
    }
    match std::str::from_utf8(body) {
        Ok(s) => {
            m.insert("content".into(), s.into());
        }
        Err(_) => {
            m.insert(
                "content".into(),
                base64::engine::general_purpose::STANDARD
                    .encode(body)
                    .into(),
            );
            m.insert("encoding".into(), "base64".into());
        }
    }
    Value::Object(m)
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
    if s.contains(['\r', '\n']) {
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
    if text.contains(['\r', '\n']) {
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
