//! URIs: `sip:`/`sips:` (RFC 3261 §19.1, §25.1), `tel:` (RFC 3966), and any
//! other absolute URI kept as an opaque value.

use crate::error::{err, ParseError, ParseErrorKind::BadUri};
use crate::scan::{escapes_ok, is, unescape, HOST, PASSWORD, URI_HEADER, URI_PARAM, USER};
use crate::text::Text;
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A `name[=value]` parameter, as written (URI parameters keep their escapes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// The parameter name.
    pub name: Text,
    /// The value, `None` for a flag parameter such as `lr`.
    pub value: Option<Text>,
}

impl Param {
    /// A parameter `name=value` (or a flag when `value` is `None`).
    pub fn new(name: impl Into<Text>, value: Option<&str>) -> Param {
        Param {
            name: name.into(),
            value: value.map(Text::from),
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={}", self.name, v),
            None => f.write_str(&self.name),
        }
    }
}

/// Finds a parameter by name (case-insensitive): `Some(None)` for a flag,
/// `Some(Some(v))` for a valued one, `None` if absent.
pub fn find_param<'a>(params: &'a [Param], name: &str) -> Option<Option<&'a Text>> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value.as_ref())
}

/// What kind of host a [`Host`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// A domain name.
    Domain,
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address (written in brackets in URIs and Via).
    Ipv6,
}

/// A host as written (without the brackets of an IPv6 reference).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// The host text; for IPv6, without brackets.
    pub text: Text,
    /// Domain, IPv4 or IPv6.
    pub kind: HostKind,
}

impl Host {
    /// Parses `host` (a domain, an IPv4 address, or an IPv6 reference in
    /// brackets). Offsets in errors are relative to `host`.
    pub fn parse(host: &Text) -> Result<Host, ParseError> {
        let (kind, inner) = scan_host(host)?;
        Ok(Host {
            text: host.slice_ref(inner),
            kind,
        })
    }

    /// A domain-name host.
    pub fn domain(name: &str) -> Host {
        Host {
            text: Text::from(name),
            kind: HostKind::Domain,
        }
    }

    /// The host's IP address, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.kind {
            HostKind::Domain => None,
            HostKind::Ipv4 => self.text.parse().ok(),
            HostKind::Ipv6 => self
                .text
                .parse()
                .ok()
                .or_else(|| self.text.replacen(":::", "::", 1).parse().ok()),
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Host {
        let kind = if ip.is_ipv4() {
            HostKind::Ipv4
        } else {
            HostKind::Ipv6
        };
        Host {
            text: Text::from(ip.to_string()),
            kind,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == HostKind::Ipv6 {
            write!(f, "[{}]", self.text)
        } else {
            f.write_str(&self.text)
        }
    }
}

/// A `sip:` or `sips:` URI. User, password and parameters keep their `%` escapes
/// as written; [`SipUri::user_unescaped`] decodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// The user part, escapes kept.
    pub user: Option<Text>,
    /// The password, escapes kept.
    pub password: Option<Text>,
    /// The host.
    pub host: Host,
    /// The port, if written.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Vec<Param>,
    /// URI headers (`?subject=x&priority=urgent`), name and value.
    pub headers: Vec<(Text, Text)>,
}

impl SipUri {
    /// A `sip:` URI with only a host.
    pub fn new(host: Host) -> SipUri {
        SipUri {
            secure: false,
            user: None,
            password: None,
            host,
            port: None,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// The scheme, `sip` or `sips`.
    pub fn scheme(&self) -> &'static str {
        if self.secure {
            "sips"
        } else {
            "sip"
        }
    }

    /// The user part with `%` escapes decoded (may contain any byte).
    pub fn user_unescaped(&self) -> Option<Vec<u8>> {
        self.user.as_deref().map(unescape)
    }

    /// A URI parameter: `Some(None)` for a flag, `Some(Some(v))` with a value.
    pub fn param(&self, name: &str) -> Option<Option<&Text>> {
        find_param(&self.params, name)
    }

    /// The `transport` parameter, lower-cased.
    pub fn transport(&self) -> Option<String> {
        self.param("transport")
            .flatten()
            .map(|t| t.to_ascii_lowercase())
    }
}

/// A `tel:` URI (RFC 3966): the number and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelUri {
    /// The telephone number as written (`+1-201-555-0123`).
    pub number: Text,
    /// Parameters (`;phone-context=example.com`).
    pub params: Vec<Param>,
}

/// A URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    /// `sip:` or `sips:`.
    Sip(SipUri),
    /// `tel:`.
    Tel(TelUri),
    /// Any other absolute URI (`mailto:`, `urn:`, `http:` ...), kept as written.
    Other {
        /// The scheme, as written.
        scheme: Text,
        /// The whole URI.
        value: Text,
    },
}

/// Checks a host and tells its kind; for an IPv6 reference, also returns the
/// address without brackets.
pub(crate) fn scan_host(s: &str) -> Result<(HostKind, &str), ParseError> {
    let b = s.as_bytes();
    if b.first() == Some(&b'[') {
        let inner = s
            .strip_prefix('[')
            .and_then(|x| x.strip_suffix(']'))
            .ok_or_else(|| err(BadUri, 0).with_detail("unclosed IPv6 reference"))?;
        // RFC 5118 §4.10: an extra colon before an embedded IPv4 address
        // ("2001:db8:::192.0.2.1") is a known ABNF mistake; tolerate it.
        if inner.parse::<Ipv6Addr>().is_err()
            && inner.replacen(":::", "::", 1).parse::<Ipv6Addr>().is_err()
        {
            return Err(err(BadUri, 1).with_detail("invalid IPv6 address"));
        }
        return Ok((HostKind::Ipv6, inner));
    }
    if b.is_empty() {
        return Err(err(BadUri, 0).with_detail("empty host"));
    }
    if let Some(i) = b.iter().position(|&c| !is(c, HOST)) {
        return Err(err(BadUri, i).with_detail("invalid character in host"));
    }
    if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
        s.parse::<Ipv4Addr>()
            .map_err(|_| err(BadUri, 0).with_detail("invalid IPv4 address"))?;
        return Ok((HostKind::Ipv4, s));
    }
    Ok((HostKind::Domain, s))
}

/// The parts of a URI as borrowed slices. Parameters and URI headers are
/// handed to callbacks as they are found, so that checking a URI allocates
/// nothing and building one allocates only what it keeps.
pub(crate) enum Scanned<'a> {
    Sip {
        secure: bool,
        user: Option<&'a str>,
        password: Option<&'a str>,
        host: &'a str,
        host_kind: HostKind,
        port: Option<u16>,
    },
    Tel {
        number: &'a str,
    },
    Other {
        scheme: &'a str,
    },
}

pub(crate) type OnParam<'x, 'a> = &'x mut dyn FnMut(&'a str, Option<&'a str>);
pub(crate) type OnHeader<'x, 'a> = &'x mut dyn FnMut(&'a str, &'a str);

/// End of the run of `class` bytes in `b` starting at `i`.
#[inline]
fn run(b: &[u8], mut i: usize, class: u8) -> usize {
    while i < b.len() && is(b[i], class) {
        i += 1;
    }
    i
}

/// Checks the `%` escapes of a URI part that passed its character-class check.
#[inline]
fn escapes(part: &str, off: usize) -> Result<(), ParseError> {
    if escapes_ok(part.as_bytes()) {
        Ok(())
    } else {
        Err(err(BadUri, off).with_detail("bad %-escape"))
    }
}

/// Scans `name[=value]` URI parameters separated by `;` (`s` starts after the
/// first `;`).
fn scan_uri_params<'a>(
    s: &'a str,
    base: usize,
    on_param: OnParam<'_, 'a>,
) -> Result<(), ParseError> {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let ns = i;
        i = run(b, i, URI_PARAM);
        if i == ns {
            return Err(err(BadUri, base + i).with_detail("empty URI parameter"));
        }
        let name = &s[ns..i];
        escapes(name, base + ns)?;
        let mut value = None;
        if i < b.len() && b[i] == b'=' {
            let vs = i + 1;
            i = run(b, vs, URI_PARAM);
            escapes(&s[vs..i], base + vs)?;
            value = Some(&s[vs..i]);
        }
        on_param(name, value);
        if i == b.len() {
            return Ok(());
        }
        if b[i] != b';' {
            return Err(err(BadUri, base + i).with_detail("invalid character in URI parameter"));
        }
        i += 1;
    }
}

pub(crate) fn scan<'a>(
    s: &'a str,
    on_param: OnParam<'_, 'a>,
    on_header: OnHeader<'_, 'a>,
) -> Result<Scanned<'a>, ParseError> {
    let b = s.as_bytes();
    let colon = memchr::memchr(b':', b).ok_or_else(|| err(BadUri, 0).with_detail("no scheme"))?;
    let scheme = &s[..colon];
    if scheme.is_empty()
        || !b[0].is_ascii_alphabetic()
        || !scheme
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return Err(err(BadUri, 0).with_detail("invalid scheme"));
    }
    let rest = &s[colon + 1..];
    let base = colon + 1;
    if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
        scan_sip(rest, base, scheme.len() == 4, on_param, on_header)
    } else if scheme.eq_ignore_ascii_case("tel") {
        let (num, params) = match rest.find(';') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if num.is_empty() {
            return Err(err(BadUri, base).with_detail("empty telephone number"));
        }
        // RFC 3966 global/local number digits and visual separators.
        if let Some(i) = num.bytes().position(|c| {
            !(c.is_ascii_hexdigit() || matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#'))
        }) {
            return Err(err(BadUri, base + i).with_detail("invalid character in telephone number"));
        }
        if let Some(p) = params {
            scan_uri_params(p, base + num.len() + 1, on_param)?;
        }
        Ok(Scanned::Tel { number: num })
    } else {
        if rest.is_empty() {
            return Err(err(BadUri, base).with_detail("empty URI"));
        }
        if let Some(i) = b
            .iter()
            .position(|&c| c <= b' ' || c >= 0x7f || matches!(c, b'<' | b'>' | b'"'))
        {
            return Err(err(BadUri, i).with_detail("invalid character in URI"));
        }
        Ok(Scanned::Other { scheme })
    }
}

fn scan_sip<'a>(
    rest: &'a str,
    base: usize,
    secure: bool,
    on_param: OnParam<'_, 'a>,
    on_header: OnHeader<'_, 'a>,
) -> Result<Scanned<'a>, ParseError> {
    let b = rest.as_bytes();
    // userinfo cannot contain an unescaped '@', nor can anything after the
    // host, so the first '@' ends the userinfo (RFC 3261 §25.1).
    let (user, password, hs) = match memchr::memchr(b'@', b) {
        Some(at) => {
            let ue = run(b, 0, USER);
            if ue == 0 && (at == 0 || b[0] == b':') {
                return Err(err(BadUri, base).with_detail("empty user"));
            }
            let mut i = ue;
            let mut password = None;
            if b[i] == b':' {
                i = run(b, ue + 1, PASSWORD);
                password = Some(&rest[ue + 1..i]);
            }
            if i != at {
                let detail = if b[i] >= 0x80 {
                    "non-ASCII character in user or password (write it %-escaped)"
                } else {
                    "invalid character in user or password"
                };
                return Err(err(BadUri, base + i).with_detail(detail));
            }
            escapes(&rest[..ue], base)?;
            if let Some(p) = password {
                escapes(p, base + ue + 1)?;
            }
            (Some(&rest[..ue]), password, at + 1)
        }
        None => (None, None, 0),
    };
    // host[:port] ends at the first ';' or '?' (outside an IPv6 reference).
    let mut i = if b.get(hs) == Some(&b'[') {
        memchr::memchr(b']', &b[hs..])
            .map(|p| hs + p + 1)
            .ok_or_else(|| err(BadUri, base + hs).with_detail("unclosed IPv6 reference"))?
    } else {
        run(b, hs, HOST)
    };
    let (host_kind, host) = scan_host(&rest[hs..i]).map_err(|e| e.rebase(base + hs))?;
    let mut port = None;
    if i < b.len() && b[i] == b':' {
        let ps = i + 1;
        i = ps;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == ps {
            return Err(err(BadUri, base + ps).with_detail("invalid port"));
        }
        port = Some(
            rest[ps..i]
                .parse::<u16>()
                .map_err(|_| err(BadUri, base + ps).with_detail("port out of range"))?,
        );
    }
    if i < b.len() && b[i] == b';' {
        let pe = memchr::memchr(b'?', &b[i..]).map_or(b.len(), |p| i + p);
        scan_uri_params(&rest[i + 1..pe], base + i + 1, on_param)?;
        i = pe;
    }
    if i < b.len() && b[i] == b'?' {
        loop {
            let ns = i + 1;
            i = run(b, ns, URI_HEADER);
            if i == ns || i == b.len() || b[i] != b'=' {
                return Err(err(BadUri, base + i).with_detail("URI header must be 'name=value'"));
            }
            let vs = i + 1;
            i = run(b, vs, URI_HEADER);
            escapes(&rest[ns..vs - 1], base + ns)?;
            escapes(&rest[vs..i], base + vs)?;
            on_header(&rest[ns..vs - 1], &rest[vs..i]);
            if i == b.len() || b[i] != b'&' {
                break;
            }
        }
    }
    if i < b.len() {
        return Err(err(BadUri, base + i).with_detail("invalid character in URI"));
    }
    Ok(Scanned::Sip {
        secure,
        user,
        password,
        host,
        host_kind,
        port,
    })
}

impl Uri {
    /// Parses a URI from `t` (no surrounding whitespace or brackets). Parts of
    /// the result share `t`'s buffer. Error offsets are relative to `t`.
    pub fn parse(t: &Text) -> Result<Uri, ParseError> {
        let mut params = Vec::new();
        let mut headers = Vec::new();
        let scanned = scan(
            t,
            &mut |n, v| {
                params.push(Param {
                    name: t.slice_ref(n),
                    value: v.map(|v| t.slice_ref(v)),
                })
            },
            &mut |n, v| headers.push((t.slice_ref(n), t.slice_ref(v))),
        )?;
        Ok(match scanned {
            Scanned::Sip {
                secure,
                user,
                password,
                host,
                host_kind,
                port,
            } => Uri::Sip(SipUri {
                secure,
                user: user.map(|u| t.slice_ref(u)),
                password: password.map(|p| t.slice_ref(p)),
                host: Host {
                    text: t.slice_ref(host),
                    kind: host_kind,
                },
                port,
                params,
                headers,
            }),
            Scanned::Tel { number } => Uri::Tel(TelUri {
                number: t.slice_ref(number),
                params,
            }),
            Scanned::Other { scheme } => Uri::Other {
                scheme: t.slice_ref(scheme),
                value: t.clone(),
            },
        })
    }

    /// Checks that `s` is a valid URI without building it (allocates nothing).
    /// Returns whether it is a SIP URI with headers (not allowed in a Request-URI).
    pub(crate) fn check(s: &str) -> Result<bool, ParseError> {
        let mut has_headers = false;
        scan(s, &mut |_, _| {}, &mut |_, _| has_headers = true)?;
        Ok(has_headers)
    }

    /// Parses a URI from a string (copied).
    pub fn parse_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse(&Text::from(s))
    }

    /// The scheme (`sip`, `sips`, `tel`, or as written for others).
    pub fn scheme(&self) -> &str {
        match self {
            Uri::Sip(u) => u.scheme(),
            Uri::Tel(_) => "tel",
            Uri::Other { scheme, .. } => scheme,
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// Writes the URI to `out`.
    pub fn write_to(&self, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = write!(out, "{self}");
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())?;
        f.write_char(':')?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_char('@')?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        for p in &self.params {
            write!(f, ";{p}")?;
        }
        for (i, (n, v)) in self.headers.iter().enumerate() {
            write!(f, "{}{n}={v}", if i == 0 { '?' } else { '&' })?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Tel(t) => {
                write!(f, "tel:{}", t.number)?;
                for p in &t.params {
                    write!(f, ";{p}")?;
                }
                Ok(())
            }
            Uri::Other { value, .. } => f.write_str(value),
        }
    }
}

impl std::str::FromStr for Uri {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse_str(s)
    }
}
