//! Typed views of the headers the transaction and dialog layers depend on:
//! Via, name-addr headers (From, To, Contact, Route, Record-Route, Refer-To),
//! CSeq, Max-Forwards, Content-Length and Call-ID. Each is parsed on demand
//! from a header's raw value; the parts share the message's buffer.

use crate::error::{err, ParseError, ParseErrorKind};
use crate::message::Method;
use crate::scan::{
    is_token, is_ws, list_items, quote, quoted_end, skip_ws, token_end, trim_ws, trim_ws_end,
    unquote,
};
use crate::text::Text;
use crate::uri::{find_param, scan_host, Host, HostKind, Param, Uri};
use std::fmt;

fn is_param_value_char(b: u8) -> bool {
    is_token(b) || matches!(b, b':' | b'[' | b']')
}

pub(crate) type OnParam<'x, 'a> = &'x mut dyn FnMut(&'a str, Option<&'a str>);

/// Scans `*( SEMI generic-param )` (RFC 3261 §25.1) from `s[i..]`, allowing
/// whitespace around `;` and `=`. Values are tokens, hosts or quoted strings
/// (quotes kept). Each parameter goes to `on_param` as it is found.
pub(crate) fn scan_params<'a>(
    s: &'a str,
    mut i: usize,
    kind: ParseErrorKind,
    on_param: OnParam<'_, 'a>,
) -> Result<(), ParseError> {
    let b = s.as_bytes();
    loop {
        i = skip_ws(b, i);
        if i == b.len() {
            return Ok(());
        }
        if b[i] != b';' {
            return Err(err(kind, i).with_detail("expected ';' before parameter"));
        }
        i = skip_ws(b, i + 1);
        let ne = token_end(b, i);
        if ne == i {
            return Err(err(kind, i).with_detail("empty parameter"));
        }
        let name = &s[i..ne];
        i = skip_ws(b, ne);
        let mut value = None;
        if i < b.len() && b[i] == b'=' {
            i = skip_ws(b, i + 1);
            let vs = i;
            if i < b.len() && b[i] == b'"' {
                i = quoted_end(b, i)
                    .ok_or_else(|| err(kind, vs).with_detail("unterminated quoted string"))?;
            } else {
                while i < b.len() && is_param_value_char(b[i]) {
                    i += 1;
                }
                if i == vs {
                    return Err(err(kind, vs).with_detail("empty parameter value"));
                }
            }
            value = Some(&s[vs..i]);
        }
        on_param(name, value);
    }
}

/// Parses `*( SEMI generic-param )` into owned parameters sharing `t`'s buffer
/// (`s` is `t` as a `&str`); see [`scan_params`].
pub(crate) fn parse_params(
    t: &Text,
    s: &str,
    i: usize,
    kind: ParseErrorKind,
) -> Result<Vec<Param>, ParseError> {
    let mut out = Vec::new();
    scan_params(s, i, kind, &mut |n, v| {
        out.push(Param {
            name: t.slice_ref(n),
            value: v.map(|v| t.slice_ref(v)),
        })
    })?;
    Ok(out)
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    for p in params {
        write!(f, ";{p}")?;
    }
    Ok(())
}

/// One Via value (RFC 3261 §20.42).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Protocol name, normally `SIP`.
    pub protocol_name: Text,
    /// Protocol version, normally `2.0`.
    pub protocol_version: Text,
    /// Transport as written (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, ...).
    pub transport: Text,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port, if written.
    pub port: Option<u16>,
    /// Parameters in order (`branch`, `received`, `rport`, `maddr`, `ttl`, others).
    pub params: Vec<Param>,
}

/// The parts of one Via value, borrowed from the text being scanned.
pub(crate) struct ViaSpans<'a> {
    pub(crate) protocol: [&'a str; 3],
    pub(crate) host: &'a str,
    pub(crate) host_kind: HostKind,
    pub(crate) port: Option<u16>,
}

/// Scans one Via value; parameters go to `on_param`.
pub(crate) fn scan_via<'a>(
    s: &'a str,
    on_param: OnParam<'_, 'a>,
) -> Result<ViaSpans<'a>, ParseError> {
    use ParseErrorKind::BadVia;
    let b = s.as_bytes();
    let mut protocol: [&str; 3] = [""; 3];
    let mut i = skip_ws(b, 0);
    for (n, part) in protocol.iter_mut().enumerate() {
        if n > 0 {
            if i >= b.len() || b[i] != b'/' {
                return Err(err(BadVia, i).with_detail("expected '/' in sent-protocol"));
            }
            i = skip_ws(b, i + 1);
        }
        let e = token_end(b, i);
        if e == i {
            return Err(err(BadVia, i).with_detail("empty sent-protocol part"));
        }
        *part = &s[i..e];
        i = skip_ws(b, e);
    }
    if i == b.len() {
        return Err(err(BadVia, i).with_detail("missing sent-by"));
    }
    let hs = i;
    if b[i] == b'[' {
        i = b[i..]
            .iter()
            .position(|&c| c == b']')
            .map(|p| i + p + 1)
            .ok_or_else(|| err(BadVia, hs).with_detail("unclosed IPv6 reference"))?;
    } else {
        while i < b.len() && !matches!(b[i], b':' | b';' | b' ' | b'\t') {
            i += 1;
        }
    }
    let (host_kind, host) = scan_host(&s[hs..i])
        .map_err(|e| err(BadVia, e.offset + hs).with_detail(e.detail.unwrap_or("invalid host")))?;
    i = skip_ws(b, i);
    let mut port = None;
    if i < b.len() && b[i] == b':' {
        i = skip_ws(b, i + 1);
        let ps = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        port = Some(
            s[ps..i]
                .parse::<u16>()
                .map_err(|_| err(BadVia, ps).with_detail("invalid port"))?,
        );
    }
    scan_params(s, i, BadVia, on_param)?;
    Ok(ViaSpans {
        protocol,
        host,
        host_kind,
        port,
    })
}

/// Checks every value of a Via header without building them (allocates nothing).
pub(crate) fn check_via_list(s: &str) -> Result<(), ParseError> {
    check_list(s, ParseErrorKind::BadVia, |v| {
        scan_via(v, &mut |_, _| {}).map(|_| ())
    })
}

impl Via {
    /// Parses one Via value (not a comma-separated list).
    pub fn parse(t: &Text) -> Result<Via, ParseError> {
        let mut params = Vec::new();
        let sp = scan_via(t, &mut |n, v| {
            params.push(Param {
                name: t.slice_ref(n),
                value: v.map(|v| t.slice_ref(v)),
            })
        })?;
        Ok(Via {
            protocol_name: t.slice_ref(sp.protocol[0]),
            protocol_version: t.slice_ref(sp.protocol[1]),
            transport: t.slice_ref(sp.protocol[2]),
            host: Host {
                text: t.slice_ref(sp.host),
                kind: sp.host_kind,
            },
            port: sp.port,
            params,
        })
    }

    /// Parses every Via value in a header value (a comma-separated list).
    pub fn parse_list(t: &Text) -> Result<Vec<Via>, ParseError> {
        parse_list(t, ParseErrorKind::BadVia, Via::parse)
    }

    /// `SIP/2.0/UDP`, without the whitespace the message may have had.
    pub fn protocol(&self) -> String {
        format!(
            "{}/{}/{}",
            self.protocol_name, self.protocol_version, self.transport
        )
    }

    /// A parameter: `Some(None)` for a flag, `Some(Some(v))` with a value.
    pub fn param(&self, name: &str) -> Option<Option<&Text>> {
        find_param(&self.params, name)
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&Text> {
        self.param("branch").flatten()
    }

    /// The received parameter (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&Text> {
        self.param("received").flatten()
    }

    /// The rport parameter (RFC 3581): `Some(None)` when present without a
    /// value (a request for it), `Some(Some(port))` when filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.param("rport").map(|v| v.and_then(|p| p.parse().ok()))
    }

    /// The maddr parameter.
    pub fn maddr(&self) -> Option<&Text> {
        self.param("maddr").flatten()
    }

    /// The ttl parameter.
    pub fn ttl(&self) -> Option<u8> {
        self.param("ttl").flatten().and_then(|v| v.parse().ok())
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol_name, self.protocol_version, self.transport, self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_params(f, &self.params)
    }
}

/// A name-addr or addr-spec with header parameters: the value of From, To,
/// Contact, Route, Record-Route, Refer-To, Reply-To (RFC 3261 §20).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name as written: quoted (with its quotes and escapes) or a
    /// run of tokens. `None` when absent.
    pub display: Option<Text>,
    /// The URI.
    pub uri: Uri,
    /// Header parameters (`tag`, `q`, `expires`, ...), values as written.
    pub params: Vec<Param>,
}

/// The parts of one name-addr or addr-spec value, borrowed.
pub(crate) struct NameAddrSpans<'a> {
    pub(crate) display: Option<&'a str>,
    pub(crate) uri: &'a str,
    pub(crate) uri_offset: usize,
}

/// Scans one name-addr / addr-spec value (RFC 3261 §20.10), checking its URI;
/// header parameters go to `on_param`.
pub(crate) fn scan_name_addr<'a>(
    s: &'a str,
    on_param: OnParam<'_, 'a>,
) -> Result<NameAddrSpans<'a>, ParseError> {
    use ParseErrorKind::BadNameAddr;
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0);
    if i == b.len() {
        return Err(err(BadNameAddr, i).with_detail("empty value"));
    }
    let mut display = None;
    let lt = if b[i] == b'"' {
        let q = quoted_end(b, i)
            .ok_or_else(|| err(BadNameAddr, i).with_detail("unterminated quoted display name"))?;
        display = Some(&s[i..q]);
        i = skip_ws(b, q);
        if i == b.len() || b[i] != b'<' {
            return Err(err(BadNameAddr, i).with_detail("expected '<' after display name"));
        }
        Some(i)
    } else {
        // name-addr if a '<' comes before any ';' (an addr-spec's params
        // start at the first ';').
        match b[i..]
            .iter()
            .position(|&c| c == b'<' || c == b';' || c == b'"')
        {
            Some(p) if b[i + p] == b'<' => {
                let d = trim_ws_end(&s[i..i + p]);
                if !d.is_empty() {
                    display = Some(d);
                }
                Some(i + p)
            }
            _ => None,
        }
    };
    let (uri, uri_offset) = match lt {
        Some(lt) => {
            let gt = b[lt..]
                .iter()
                .position(|&c| c == b'>')
                .map(|p| lt + p)
                .ok_or_else(|| err(BadNameAddr, lt).with_detail("missing '>'"))?;
            // Whitespace just inside the brackets is tolerated (RFC 4475 badaspec).
            let inner = trim_ws(&s[lt + 1..gt]);
            let off = inner.as_ptr() as usize - s.as_ptr() as usize;
            i = gt + 1;
            (inner, off)
        }
        None => {
            let e = b[i..]
                .iter()
                .position(|&c| c == b';' || is_ws(c))
                .map_or(b.len(), |p| i + p);
            let spec = &s[i..e];
            if spec.contains('?') {
                // RFC 3261 §20: a URI with '?' (or ',' or ';') must be in brackets
                // (RFC 4475 regbadct).
                return Err(
                    err(BadNameAddr, i).with_detail("a URI with headers must be enclosed in '<>'")
                );
            }
            let off = i;
            i = e;
            (spec, off)
        }
    };
    scan_params(s, i, BadNameAddr, on_param)?;
    Ok(NameAddrSpans {
        display,
        uri,
        uri_offset,
    })
}

/// Checks one name-addr value (From, To) without building it.
pub(crate) fn check_name_addr(s: &str) -> Result<(), ParseError> {
    let sp = scan_name_addr(s, &mut |_, _| {})?;
    Uri::check(sp.uri).map_err(|e| uri_error(e, sp.uri_offset))?;
    Ok(())
}

fn uri_error(e: ParseError, uri_offset: usize) -> ParseError {
    err(ParseErrorKind::BadNameAddr, e.offset + uri_offset)
        .with_detail(e.detail.unwrap_or("invalid URI"))
}

/// Checks a Contact header value (`*` or a list of name-addrs) without building it.
pub(crate) fn check_contact(s: &str) -> Result<(), ParseError> {
    if trim_ws(s) == "*" {
        return Ok(());
    }
    check_list(s, ParseErrorKind::BadNameAddr, check_name_addr)
}

impl NameAddr {
    /// A name-addr for `uri` without display name or parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    /// Parses one value (not a list).
    pub fn parse(t: &Text) -> Result<NameAddr, ParseError> {
        let mut params = Vec::new();
        let sp = scan_name_addr(t, &mut |n, v| {
            params.push(Param {
                name: t.slice_ref(n),
                value: v.map(|v| t.slice_ref(v)),
            })
        })?;
        let uri = Uri::parse(&t.slice_ref(sp.uri)).map_err(|e| uri_error(e, sp.uri_offset))?;
        Ok(NameAddr {
            display: sp.display.map(|d| t.slice_ref(d)),
            uri,
            params,
        })
    }

    /// Parses every value of a comma-separated list (Contact, Route, Record-Route).
    pub fn parse_list(t: &Text) -> Result<Vec<NameAddr>, ParseError> {
        parse_list(t, ParseErrorKind::BadNameAddr, NameAddr::parse)
    }

    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<String> {
        self.display.as_ref().map(|d| {
            if d.starts_with('"') {
                unquote(d)
            } else {
                d.to_string()
            }
        })
    }

    /// Sets the display name (quoted as needed).
    pub fn set_display_name(&mut self, name: Option<&str>) {
        self.display = name.filter(|n| !n.is_empty()).map(|n| {
            if n.split(' ')
                .all(|w| !w.is_empty() && w.bytes().all(is_token))
            {
                Text::from(n)
            } else {
                Text::from(quote(n))
            }
        });
    }

    /// A header parameter: `Some(None)` for a flag, `Some(Some(v))` with a value.
    pub fn param(&self, name: &str) -> Option<Option<&Text>> {
        find_param(&self.params, name)
    }

    /// The tag parameter.
    pub fn tag(&self) -> Option<&Text> {
        self.param("tag").flatten()
    }

    /// The q parameter of a Contact (0.0 to 1.0).
    pub fn q(&self) -> Option<f32> {
        self.param("q").flatten().and_then(|v| v.parse().ok())
    }

    /// The expires parameter of a Contact; `None` if absent or not a 32-bit number.
    pub fn expires(&self) -> Option<u32> {
        self.param("expires").flatten().and_then(|v| v.parse().ok())
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// A Contact header value: `*` (remove all bindings, RFC 3261 §10.2.2) or addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contact {
    /// `Contact: *`.
    Star,
    /// One or more contact addresses.
    Addresses(Vec<NameAddr>),
}

impl Contact {
    /// Parses a Contact header value.
    pub fn parse(t: &Text) -> Result<Contact, ParseError> {
        if trim_ws(t) == "*" {
            return Ok(Contact::Star);
        }
        NameAddr::parse_list(t).map(Contact::Addresses)
    }
}

/// The CSeq header (RFC 3261 §20.16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number (a 32-bit unsigned integer, RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parses a CSeq value.
    pub fn parse(t: &Text) -> Result<CSeq, ParseError> {
        use ParseErrorKind::BadCSeq;
        let s = t.as_str();
        let b = s.as_bytes();
        let i = skip_ws(b, 0);
        let mut e = i;
        while e < b.len() && b[e].is_ascii_digit() {
            e += 1;
        }
        if e == i {
            return Err(err(BadCSeq, i).with_detail("missing sequence number"));
        }
        let seq = s[i..e]
            .parse::<u32>()
            .map_err(|_| err(BadCSeq, i).with_detail("sequence number over 2**32-1"))?;
        let m = skip_ws(b, e);
        if m == e {
            return Err(err(BadCSeq, e).with_detail("expected whitespace after sequence number"));
        }
        let me = token_end(b, m);
        if me == m || skip_ws(b, me) != b.len() {
            return Err(err(BadCSeq, m).with_detail("invalid method"));
        }
        let method = Method::from_text(&t.slice_ref(&s[m..me])).ok_or_else(|| err(BadCSeq, m))?;
        Ok(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Parses a Max-Forwards value: an integer 0..=255 (RFC 3261 §20.22).
pub fn parse_max_forwards(t: &str) -> Result<u8, ParseError> {
    let v = trim_ws(t);
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(err(ParseErrorKind::BadMaxForwards, 0).with_detail("not a number"));
    }
    v.parse::<u8>()
        .map_err(|_| err(ParseErrorKind::BadMaxForwards, 0).with_detail("over 255"))
}

/// Parses a Content-Length value: a non-negative integer (RFC 3261 §20.14).
pub fn parse_content_length(t: &str) -> Result<usize, ParseError> {
    let v = trim_ws(t);
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(
            err(ParseErrorKind::BadContentLength, 0).with_detail("not a non-negative integer")
        );
    }
    v.parse::<usize>()
        .map_err(|_| err(ParseErrorKind::BadContentLength, 0).with_detail("too large"))
}

/// Checks a Call-ID value: `word [ "@" word ]`, no whitespace (RFC 3261 §25.1).
pub fn check_call_id(t: &str) -> Result<(), ParseError> {
    if t.is_empty() {
        return Err(err(ParseErrorKind::BadCallId, 0).with_detail("empty Call-ID"));
    }
    if let Some(i) = t.bytes().position(|c| c <= b' ' || c == 0x7f) {
        return Err(err(ParseErrorKind::BadCallId, i)
            .with_detail("whitespace or control character in Call-ID"));
    }
    Ok(())
}

fn parse_list<T>(
    t: &Text,
    kind: ParseErrorKind,
    one: fn(&Text) -> Result<T, ParseError>,
) -> Result<Vec<T>, ParseError> {
    list_items(t)
        .map(|(off, v)| {
            if v.is_empty() {
                return Err(err(kind, off).with_detail("empty list element"));
            }
            one(&t.slice_ref(v)).map_err(|e| e.rebase(off))
        })
        .collect()
}

fn check_list(
    s: &str,
    kind: ParseErrorKind,
    one: impl Fn(&str) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    for (off, v) in list_items(s) {
        if v.is_empty() {
            return Err(err(kind, off).with_detail("empty list element"));
        }
        one(v).map_err(|e| e.rebase(off))?;
    }
    Ok(())
}
