//! URIs: `sip:`/`sips:` (RFC 3261 §19.1, §25.1), `tel:` (RFC 3966), and any
//! other absolute URI kept as an opaque value.

use crate::error::{err, ParseError, ParseErrorKind::BadUri};
use crate::scan::{escapes_ok, is_unreserved, unescape};
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
        let s = host.as_str();
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
            return Ok(Host {
                text: host.slice_ref(inner),
                kind: HostKind::Ipv6,
            });
        }
        if b.is_empty() {
            return Err(err(BadUri, 0).with_detail("empty host"));
        }
        if let Some(i) = b
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'-' || c == b'.'))
        {
            return Err(err(BadUri, i).with_detail("invalid character in host"));
        }
        let kind = if b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
            s.parse::<Ipv4Addr>()
                .map_err(|_| err(BadUri, 0).with_detail("invalid IPv4 address"))?;
            HostKind::Ipv4
        } else {
            HostKind::Domain
        };
        Ok(Host {
            text: host.clone(),
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

fn is_user_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'%' | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/'
        )
}
fn is_password_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',')
}
fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}
fn is_header_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'%' | b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

fn check(s: &str, base: usize, ok: fn(u8) -> bool, what: &'static str) -> Result<(), ParseError> {
    let b = s.as_bytes();
    if let Some(i) = b.iter().position(|&c| !ok(c)) {
        return Err(err(BadUri, base + i).with_detail(what));
    }
    if !escapes_ok(b) {
        return Err(err(BadUri, base).with_detail("bad %-escape"));
    }
    Ok(())
}

/// Parses `;name[=value]` URI parameters from `s` (which starts after the first `;`).
fn parse_uri_params(
    t: &Text,
    s: &str,
    base: usize,
    out: &mut Vec<Param>,
) -> Result<(), ParseError> {
    let mut off = base;
    for part in s.split(';') {
        let (name, value) = match part.find('=') {
            Some(i) => (&part[..i], Some(&part[i + 1..])),
            None => (part, None),
        };
        if name.is_empty() {
            return Err(err(BadUri, off).with_detail("empty URI parameter"));
        }
        check(
            name,
            off,
            is_param_char,
            "invalid character in URI parameter",
        )?;
        if let Some(v) = value {
            check(
                v,
                off + name.len() + 1,
                is_param_char,
                "invalid character in URI parameter",
            )?;
        }
        out.push(Param {
            name: t.slice_ref(name),
            value: value.map(|v| t.slice_ref(v)),
        });
        off += part.len() + 1;
    }
    Ok(())
}

impl Uri {
    /// Parses a URI from `t` (no surrounding whitespace or brackets). Parts of
    /// the result share `t`'s buffer. Error offsets are relative to `t`.
    pub fn parse(t: &Text) -> Result<Uri, ParseError> {
        let s = t.as_str();
        let b = s.as_bytes();
        let colon = b
            .iter()
            .position(|&c| c == b':')
            .ok_or_else(|| err(BadUri, 0).with_detail("no scheme"))?;
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
            Self::parse_sip(t, rest, base, scheme.len() == 4).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case("tel") {
            let (num, params) = match rest.find(';') {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            if num.is_empty() {
                return Err(err(BadUri, base).with_detail("empty telephone number"));
            }
            check(
                num,
                base,
                |c| {
                    c.is_ascii_hexdigit()
                        || matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
                },
                "invalid character in telephone number",
            )?;
            let mut out = Vec::new();
            if let Some(p) = params {
                parse_uri_params(t, p, base + num.len() + 1, &mut out)?;
            }
            Ok(Uri::Tel(TelUri {
                number: t.slice_ref(num),
                params: out,
            }))
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
            Ok(Uri::Other {
                scheme: t.slice_ref(scheme),
                value: t.clone(),
            })
        }
    }

    /// Parses a URI from a string (copied).
    pub fn parse_str(s: &str) -> Result<Uri, ParseError> {
        Uri::parse(&Text::from(s))
    }

    fn parse_sip(t: &Text, rest: &str, base: usize, secure: bool) -> Result<SipUri, ParseError> {
        // userinfo cannot contain an unescaped '@', nor can anything after the
        // host, so the first '@' ends the userinfo (RFC 3261 §25.1).
        let (user, password, hp, hp_base) = match rest.find('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                let (u, p) = match userinfo.find(':') {
                    Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
                    None => (userinfo, None),
                };
                if u.is_empty() {
                    return Err(err(BadUri, base).with_detail("empty user"));
                }
                check(u, base, is_user_char, "invalid character in user")?;
                if let Some(p) = p {
                    check(
                        p,
                        base + u.len() + 1,
                        is_password_char,
                        "invalid character in password",
                    )?;
                }
                (
                    Some(t.slice_ref(u)),
                    p.map(|p| t.slice_ref(p)),
                    &rest[at + 1..],
                    base + at + 1,
                )
            }
            None => (None, None, rest, base),
        };
        let hb = hp.as_bytes();
        // host[:port] ends at the first ';' or '?' (outside an IPv6 reference).
        let mut end = if hb.first() == Some(&b'[') {
            hb.iter()
                .position(|&c| c == b']')
                .map(|i| i + 1)
                .ok_or_else(|| err(BadUri, hp_base).with_detail("unclosed IPv6 reference"))?
        } else {
            0
        };
        while end < hb.len() && !matches!(hb[end], b';' | b'?' | b':') {
            end += 1;
        }
        let host = Host::parse(&t.slice_ref(&hp[..end])).map_err(|e| e.rebase(hp_base))?;
        let mut port = None;
        if end < hb.len() && hb[end] == b':' {
            let ps = end + 1;
            let mut pe = ps;
            while pe < hb.len() && hb[pe].is_ascii_digit() {
                pe += 1;
            }
            if pe == ps || (pe < hb.len() && !matches!(hb[pe], b';' | b'?')) {
                return Err(err(BadUri, hp_base + ps).with_detail("invalid port"));
            }
            port = Some(
                hp[ps..pe]
                    .parse::<u16>()
                    .map_err(|_| err(BadUri, hp_base + ps).with_detail("port out of range"))?,
            );
            end = pe;
        }
        let mut params = Vec::new();
        let mut headers = Vec::new();
        let tail = &hp[end..];
        let (pstr, hstr) = match tail.find('?') {
            Some(q) => (&tail[..q], Some(&tail[q + 1..])),
            None => (tail, None),
        };
        if let Some(p) = pstr.strip_prefix(';') {
            parse_uri_params(t, p, hp_base + end + 1, &mut params)?;
        }
        if let Some(h) = hstr {
            let mut off = hp_base + end + pstr.len() + 1;
            for part in h.split('&') {
                let (n, v) = part
                    .split_once('=')
                    .ok_or_else(|| err(BadUri, off).with_detail("URI header without '='"))?;
                if n.is_empty() {
                    return Err(err(BadUri, off).with_detail("empty URI header name"));
                }
                check(n, off, is_header_char, "invalid character in URI header")?;
                check(
                    v,
                    off + n.len() + 1,
                    is_header_char,
                    "invalid character in URI header",
                )?;
                headers.push((t.slice_ref(n), t.slice_ref(v)));
                off += part.len() + 1;
            }
        }
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
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
