//! The message parser (RFC 3261 §7, §25): start line, headers with folding and
//! compact names, body delimited by Content-Length (§18.3).

use crate::error::{err, ParseError, ParseErrorKind as K};
use crate::header::{is_header_value, Header, HeaderName, Headers};
use crate::message::{is_reason_phrase, Message, Method, Request, Response};
use crate::scan::{is_token, is_ws, trim_ws, trim_ws_end, trim_ws_start};
use crate::text::Text;
use crate::typed::{
    check_call_id, check_contact, check_name_addr, check_via_list, parse_content_length,
    parse_max_forwards, CSeq,
};
use crate::uri::Uri;
use bytes::Bytes;

/// Parses one message from a datagram (or a whole message cut from a stream by
/// the [`crate::StreamFramer`]). The bytes are copied once; see [`parse_bytes`]
/// to parse a buffer you already own.
pub fn parse(data: &[u8]) -> Result<Message, ParseError> {
    parse_bytes(Bytes::copy_from_slice(data))
}

/// Parses one message; header values and the body share `data`.
///
/// - Leading CRLFs are skipped (RFC 3261 §7.5).
/// - With a Content-Length, the body is that many bytes and anything after it
///   is ignored; more than the datagram holds is [`K::BodyTooShort`]. Without
///   one, the body is the rest of the datagram (§18.3).
/// - The headers every layer above relies on (Via, From, To, Call-ID, CSeq,
///   Max-Forwards, Content-Length, Contact) are validated here, so a request
///   that parses can be answered; other headers are checked when their typed
///   view is asked for.
pub fn parse_bytes(data: Bytes) -> Result<Message, ParseError> {
    let mut start = 0;
    while data[start..].starts_with(b"\r\n") {
        start += 2;
    }
    if data[start..].iter().all(|c| c.is_ascii_whitespace()) {
        return Err(err(K::Empty, start));
    }
    let mut lines = LineEnds::new();
    let head_end = find_head_end(&data, start, &mut lines)
        .ok_or_else(|| err(K::UnterminatedHeaders, data.len()))?;
    let head_str = std::str::from_utf8(&data[start..head_end + 2])
        .map_err(|e| err(K::InvalidUtf8, start + e.valid_up_to()))?;
    let head = Text::from_utf8_bytes(data.slice(start..head_end + 2));
    debug_assert_eq!(head.len(), head_str.len());
    let hs = head.as_str();
    let line_end = lines.next_end(hs.as_bytes(), 0, start);
    let first = &hs[..line_end];

    // One header per recorded line after the start line (folded lines make
    // this a slight overestimate); sized once, the list never reallocates.
    let mut headers = Headers::with_capacity(lines.count().saturating_sub(1).max(1));
    let mut content_length = None;
    let mut cseq = None;
    parse_headers(
        &head,
        line_end + 2,
        start,
        &mut lines,
        &mut headers,
        &mut content_length,
        &mut cseq,
    )?;

    let body_start = head_end + 4;
    let available = data.len() - body_start;
    let body = match content_length {
        Some(n) if n > available => {
            return Err(err(K::BodyTooShort, data.len())
                .with_detail("Content-Length is larger than the message body"))
        }
        Some(n) => data.slice(body_start..body_start + n),
        None => data.slice(body_start..),
    };

    if first.starts_with("SIP/") {
        let (status, reason) = parse_status_line(&head, first, start)?;
        Ok(Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }))
    } else {
        let (method, uri) = parse_request_line(&head, first, start)?;
        if let Some(c) = cseq {
            if c.method != method {
                return Err(err(K::CSeqMethodMismatch, start)
                    .with_detail("CSeq method differs from the request method"));
            }
        }
        Ok(Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }))
    }
}

fn parse_request_line(head: &Text, line: &str, base: usize) -> Result<(Method, Uri), ParseError> {
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly two single spaces.
    let mut parts = line.split(' ');
    let (Some(m), Some(u), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(err(K::BadRequestLine, base)
            .with_detail("expected 'Method SP Request-URI SP SIP-Version'"));
    };
    if m.is_empty() || u.is_empty() || v.is_empty() {
        return Err(err(K::BadRequestLine, base)
            .with_detail("expected 'Method SP Request-URI SP SIP-Version'"));
    }
    let method = Method::from_text(&head.slice_ref(m)).ok_or_else(|| err(K::BadMethod, base))?;
    let uoff = base + m.len() + 1;
    check_version(v, uoff + u.len() + 1)?;
    if u.starts_with('<') {
        return Err(
            err(K::BadRequestUri, uoff).with_detail("Request-URI must not be enclosed in '<>'")
        );
    }
    let uri = Uri::parse(&head.slice_ref(u)).map_err(|e| {
        err(K::BadRequestUri, uoff + e.offset)
            .with_detail(e.detail.unwrap_or("invalid Request-URI"))
    })?;
    if let Uri::Sip(s) = &uri {
        if !s.headers.is_empty() {
            // RFC 3261 §19.1.1: headers are not allowed in a Request-URI (RFC 4475 escruri).
            return Err(
                err(K::BadRequestUri, uoff).with_detail("Request-URI must not contain headers")
            );
        }
    }
    Ok((method, uri))
}

fn check_version(v: &str, off: usize) -> Result<(), ParseError> {
    if v.eq_ignore_ascii_case("SIP/2.0") {
        return Ok(());
    }
    // Byte-wise: the field may hold any UTF-8, and byte 4 need not be a char boundary.
    let b = v.as_bytes();
    let ok_shape = b.len() > 4
        && b[..4].eq_ignore_ascii_case(b"SIP/")
        && b[4..].iter().all(|c| c.is_ascii_digit() || *c == b'.');
    if ok_shape {
        Err(err(K::BadVersion, off).with_detail("only SIP/2.0 is supported"))
    } else {
        Err(err(K::BadRequestLine, off).with_detail("invalid SIP-Version"))
    }
}

fn parse_status_line(head: &Text, line: &str, base: usize) -> Result<(u16, Text), ParseError> {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (the phrase may be empty).
    let (v, rest) = line
        .split_once(' ')
        .ok_or_else(|| err(K::BadStatusLine, base).with_detail("no status code"))?;
    check_version(v, base).map_err(|e| {
        if e.kind == K::BadVersion {
            e
        } else {
            err(K::BadStatusLine, base)
        }
    })?;
    let coff = base + v.len() + 1;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
        return Err(err(K::BadStatusCode, coff).with_detail("status code must be three digits"));
    }
    let status: u16 = code.parse().map_err(|_| err(K::BadStatusCode, coff))?;
    if !(100..=699).contains(&status) {
        return Err(err(K::BadStatusCode, coff).with_detail("status code out of range 100-699"));
    }
    if !is_reason_phrase(reason) {
        return Err(
            err(K::BadStatusLine, coff + 4).with_detail("control character in reason phrase")
        );
    }
    Ok((status, head.slice_ref(reason)))
}

/// Parses header lines from `head[pos..]` (which ends with CRLF) into `out`,
/// validating the headers the layers above depend on.
fn parse_headers(
    head: &Text,
    mut pos: usize,
    base: usize,
    lines: &mut LineEnds,
    out: &mut Headers,
    content_length: &mut Option<usize>,
    cseq: &mut Option<CSeq>,
) -> Result<(), ParseError> {
    let s = head.as_str();
    let b = s.as_bytes();
    while pos < b.len() {
        let line_start = pos;
        if is_ws(b[pos]) {
            return Err(err(K::BadHeaderLine, base + pos)
                .with_detail("continuation line before any header"));
        }
        let colon = match memchr::memchr2(b':', b'\r', &b[pos..]) {
            Some(p) if b[pos + p] == b':' => pos + p,
            _ => {
                return Err(err(K::BadHeaderLine, base + pos).with_detail("header line without ':'"))
            }
        };
        let name_str = trim_ws_end(&s[pos..colon]);
        if name_str.is_empty() || !name_str.bytes().all(is_token) {
            return Err(err(K::BadHeaderLine, base + pos).with_detail("invalid header name"));
        }
        // The value runs to the CRLF that is not followed by whitespace (folding).
        let mut end = colon + 1;
        let mut folded = false;
        loop {
            // The head ends with CRLF and was cut at CRLFCRLF, so each line ends at
            // the next LF, preceded by CR (a bare LF inside a value is kept as is).
            let cr = lines.next_end(b, end, base);
            end = cr + 2;
            if end < b.len() && is_ws(b[end]) {
                folded = true;
                continue;
            }
            let raw = &s[colon + 1..cr.min(b.len())];
            let value = if folded {
                Text::from(unfold(raw))
            } else {
                head.slice_ref(trim_ws(raw))
            };
            let name = HeaderName::from_slice_of(head, name_str);
            let voff = base + colon + 1 + (raw.len() - trim_ws_start(raw).len());
            if !is_header_value(&value) {
                // A bare CR or LF: a peer that ends lines at LF alone would
                // read a header line that this parser does not see.
                return Err(
                    err(K::BadHeaderLine, voff).with_detail("CR or LF inside a header value")
                );
            }
            validate(&name, &value, voff, content_length, cseq)?;
            out.push(name, value);
            break;
        }
        pos = end;
        debug_assert!(pos > line_start);
    }
    Ok(())
}

/// Where the lines of a header section end (the offset of each CR), found
/// once while looking for the end of the header section and reused by the
/// header loop. Sections with more lines than fit fall back to searching again.
struct LineEnds {
    ends: [u32; 64],
    len: usize,
    next: usize,
}

impl LineEnds {
    fn new() -> Self {
        LineEnds {
            ends: [0; 64],
            len: 0,
            next: 0,
        }
    }

    /// How many line ends were recorded (capped at the table's size).
    fn count(&self) -> usize {
        self.len
    }

    fn record(&mut self, cr: usize) {
        if self.len < self.ends.len() {
            self.ends[self.len] = cr as u32;
            self.len += 1;
        }
    }

    /// The end of the line that starts at or after `from` (offsets relative to
    /// the buffer the ends were recorded in, shifted by `base`).
    fn next_end(&mut self, b: &[u8], from: usize, base: usize) -> usize {
        while self.next < self.len {
            let cr = self.ends[self.next] as usize - base;
            self.next += 1;
            if cr >= from {
                return cr;
            }
        }
        crlf_from(b, from)
    }
}

/// Position of the CRLF that starts the CRLFCRLF ending the header section.
/// Walking line by line is faster here than a substring search, which keeps
/// finding candidate CRLFs on every line.
fn find_head_end(b: &[u8], mut from: usize, lines: &mut LineEnds) -> Option<usize> {
    if b.len() > u32::MAX as usize {
        return None;
    }
    loop {
        let cr = crlf_from(b, from);
        if cr == b.len() {
            return None;
        }
        lines.record(cr);
        if b.get(cr + 2..cr + 4) == Some(b"\r\n") {
            return Some(cr);
        }
        from = cr + 2;
    }
}

/// Position of the next CRLF at or after `from` (or the end of `b`).
fn crlf_from(b: &[u8], mut from: usize) -> usize {
    while let Some(p) = memchr::memchr(b'\n', &b[from..]) {
        let lf = from + p;
        if lf > 0 && b[lf - 1] == b'\r' {
            return lf - 1;
        }
        from = lf + 1;
    }
    b.len()
}

/// Replaces each line fold (CRLF followed by whitespace) and the whitespace
/// around it by one space (RFC 3261 §7.3.1).
fn unfold(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, line) in raw.split("\r\n").enumerate() {
        let l = trim_ws(line);
        if l.is_empty() {
            continue;
        }
        if i > 0 && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(l);
    }
    out
}

fn validate(
    name: &HeaderName,
    value: &Text,
    off: usize,
    content_length: &mut Option<usize>,
    cseq: &mut Option<CSeq>,
) -> Result<(), ParseError> {
    let detail = |e: ParseError, what: &'static str| {
        let d = e.detail.unwrap_or(what);
        e.rebase(off).with_detail(d)
    };
    match name {
        HeaderName::ContentLength => {
            let n = parse_content_length(value).map_err(|e| detail(e, "Content-Length"))?;
            if content_length.is_some_and(|prev| prev != n) {
                // Two different lengths leave the body undelimited (RFC 4475 mcl01).
                return Err(
                    err(K::BadContentLength, off).with_detail("conflicting Content-Length headers")
                );
            }
            *content_length = Some(n);
        }
        HeaderName::CSeq => {
            *cseq = Some(CSeq::parse(value).map_err(|e| detail(e, "CSeq"))?);
        }
        HeaderName::MaxForwards => {
            parse_max_forwards(value).map_err(|e| detail(e, "Max-Forwards"))?;
        }
        HeaderName::CallId => check_call_id(value).map_err(|e| detail(e, "Call-ID"))?,
        HeaderName::Via => check_via_list(value).map_err(|e| detail(e, "Via"))?,
        HeaderName::From | HeaderName::To => {
            check_name_addr(value).map_err(|e| detail(e, "From/To"))?
        }
        HeaderName::Contact => check_contact(value).map_err(|e| detail(e, "Contact"))?,
        _ => {}
    }
    Ok(())
}

impl Header {
    /// A header from a name and a value given as strings.
    pub fn new(name: &str, value: &str) -> Header {
        Header {
            name: HeaderName::new(name),
            value: Text::from(value),
        }
    }
}
