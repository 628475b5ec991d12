//! Cutting SIP messages out of a byte stream (TCP, TLS, WebSocket): sans-IO,
//! the transport feeds whatever it read and takes whole messages out.
//!
//! On a stream the end of a message is found from its Content-Length
//! (RFC 3261 §18.3): the header section runs to the first empty line (§7.5)
//! and the body is Content-Length bytes. RFC 3261 §18.3 makes Content-Length
//! mandatory on streams; a message without one is taken to have an empty
//! body, so that whatever follows it is framed as the next message rather
//! than swallowed.
//!
//! Between messages, RFC 5626 §3.5.1 keep-alives are recognised: a client
//! sends a double CRLF ("ping") and the server answers with a single CRLF
//! ("pong").
//!
//! ```
//! use drachtio_sip::{FrameLimits, StreamFramer, StreamItem};
//!
//! let mut framer = StreamFramer::new(FrameLimits::default());
//! framer.feed(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nl: 2\r\n\r\nhi");
//! assert_eq!(framer.next_item().unwrap(), Some(StreamItem::Ping));
//! let Some(StreamItem::Message(bytes)) = framer.next_item().unwrap() else {
//!     panic!("expected a message");
//! };
//! assert!(bytes.ends_with(b"\r\n\r\nhi"));
//! assert_eq!(framer.next_item().unwrap(), None);
//! ```

use crate::error::{err, ParseError, ParseErrorKind as K};
use bytes::{Bytes, BytesMut};

/// Size limits that keep one connection from making the framer buffer
/// without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest header section (start line, headers and the empty line that
    /// ends them) accepted; longer is [`K::TooLarge`]. Default 16 KiB.
    pub max_header_bytes: usize,
    /// Largest Content-Length accepted; more is [`K::TooLarge`]. Default 1 MiB.
    pub max_body_bytes: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_header_bytes: 16 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// One thing cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// One whole message, header section and body, ready for
    /// [`crate::parse_bytes`].
    Message(Bytes),
    /// A double-CRLF keep-alive ping (RFC 5626 §3.5.1): the transport answers
    /// it with a single CRLF pong.
    Ping,
    /// A single CRLF between messages: the pong answering our ping
    /// (RFC 5626 §3.5.1), or a stray CRLF before a message (RFC 3261 §7.5).
    Pong,
}

/// Where the framer is within the current message.
#[derive(Debug, Clone, Copy)]
enum State {
    /// Looking for the empty line ending the header section; the first
    /// `searched` bytes of the buffer were already searched.
    Head { searched: usize },
    /// The header section is known; the whole message is `len` bytes.
    Body { len: usize },
}

/// A sans-IO SIP stream framer: [`feed`](StreamFramer::feed) it the bytes
/// read from a connection, then call [`next_item`](StreamFramer::next_item)
/// until it returns `Ok(None)`.
///
/// After an error the framer is poisoned: it discards further input and
/// returns the same error again; the transport closes the connection, since
/// the message boundaries are lost. While a message is incomplete the
/// buffer holds less than `max_header_bytes + max_body_bytes` bytes (for
/// `max_header_bytes >= 4`), plus whatever was fed since the last call to
/// `next_item`.
#[derive(Debug)]
pub struct StreamFramer {
    limits: FrameLimits,
    buf: BytesMut,
    state: State,
    error: Option<ParseError>,
}

impl StreamFramer {
    /// A framer for a new connection.
    pub fn new(limits: FrameLimits) -> Self {
        StreamFramer {
            limits,
            buf: BytesMut::new(),
            state: State::Head { searched: 0 },
            error: None,
        }
    }

    /// Appends bytes read from the connection. Ignored once the framer is
    /// poisoned.
    pub fn feed(&mut self, data: &[u8]) {
        if self.error.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// The number of bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next message or keep-alive, `Ok(None)` if more bytes are needed.
    ///
    /// A lone CRLF at the end of the buffer is held back, because it may be
    /// the first half of a ping split across two reads; it is returned as
    /// [`StreamItem::Pong`] as soon as the next byte shows it is not. A side
    /// waiting for the pong to its own ping can take it at once with
    /// [`take_pong`](StreamFramer::take_pong).
    ///
    /// # Errors
    ///
    /// [`K::TooLarge`] when the header section grows past
    /// `max_header_bytes` or Content-Length is over `max_body_bytes`;
    /// [`K::BadContentLength`] when Content-Length is not a number or two
    /// Content-Length headers disagree. The offset is relative to the start
    /// of the message. Every later call returns the same error.
    pub fn next_item(&mut self) -> Result<Option<StreamItem>, ParseError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        self.step().inspect_err(|e| {
            self.error = Some(e.clone());
            self.buf = BytesMut::new();
        })
    }

    /// If the buffer holds nothing but a held-back lone CRLF (see
    /// [`next_item`](StreamFramer::next_item)), consumes it and returns
    /// `true`: it is the pong answering a ping this side sent
    /// (RFC 5626 §4.4.1; servers never send pings).
    pub fn take_pong(&mut self) -> bool {
        let at_boundary = matches!(self.state, State::Head { .. });
        if self.error.is_none() && at_boundary && self.buf[..] == b"\r\n"[..] {
            self.buf.clear();
            self.state = State::Head { searched: 0 };
            true
        } else {
            false
        }
    }

    fn step(&mut self) -> Result<Option<StreamItem>, ParseError> {
        if let State::Head { searched } = self.state {
            if let Some(ka) = self.keep_alive() {
                return Ok(ka);
            }
            let max = self.limits.max_header_bytes;
            let limit = self.buf.len().min(max);
            // The terminator may straddle the old end of the search.
            let from = searched.saturating_sub(3).min(limit);
            let Some(p) = memchr::memmem::find(&self.buf[from..limit], b"\r\n\r\n") else {
                if self.buf.len() >= max {
                    return Err(
                        err(K::TooLarge, max).with_detail("header section longer than the limit")
                    );
                }
                self.state = State::Head { searched: limit };
                return Ok(None);
            };
            let head_len = from + p + 4;
            let body_len = content_length(&self.buf[..head_len])?.unwrap_or(0);
            if body_len > self.limits.max_body_bytes {
                return Err(err(K::TooLarge, head_len).with_detail("body longer than the limit"));
            }
            self.state = State::Body {
                len: head_len + body_len,
            };
        }
        let State::Body { len } = self.state else {
            unreachable!("the header section was just found");
        };
        if self.buf.len() < len {
            return Ok(None);
        }
        self.state = State::Head { searched: 0 };
        Ok(Some(StreamItem::Message(self.buf.split_to(len).freeze())))
    }

    /// At a message boundary: `Some(item)` for a keep-alive (consumed),
    /// `Some(None)` when a leading CR/CRLF cannot be told apart yet, `None`
    /// when the buffer starts a message.
    fn keep_alive(&mut self) -> Option<Option<StreamItem>> {
        let b = &self.buf[..];
        if b.is_empty() || b == b"\r" || b == b"\r\n" || b == b"\r\n\r" {
            return Some(None);
        }
        let item = if b.starts_with(b"\r\n\r\n") {
            let _ = self.buf.split_to(4);
            StreamItem::Ping
        } else if b.starts_with(b"\r\n") {
            let _ = self.buf.split_to(2);
            StreamItem::Pong
        } else {
            return None;
        };
        self.state = State::Head { searched: 0 };
        Some(Some(item))
    }
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The body length a header section (ending with CRLFCRLF) declares, the same
/// way the message parser reads it: header names in any case, long or
/// compact (`l`, RFC 3261 §7.3.3), whitespace around the colon and folded
/// lines allowed (§7.3.1).
fn content_length(head: &[u8]) -> Result<Option<usize>, ParseError> {
    // Without the final CRLF, every line of `lines` ends with CRLF.
    let lines = &head[..head.len() - 2];
    let mut found: Option<usize> = None;
    let mut pos = match memchr::memmem::find(lines, b"\r\n") {
        Some(p) => p + 2,
        None => return Ok(None),
    };
    while pos < lines.len() {
        let start = pos;
        let mut end = pos;
        // A logical header line runs to the CRLF not followed by whitespace.
        loop {
            let cr = end + memchr::memmem::find(&lines[end..], b"\r\n").unwrap_or(0);
            end = cr + 2;
            if end >= lines.len() || !is_ws(lines[end]) {
                break;
            }
        }
        pos = end;
        let line = &lines[start..end - 2];
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = trim_ws(&line[..colon]);
        if !name.eq_ignore_ascii_case(b"content-length") && !name.eq_ignore_ascii_case(b"l") {
            continue;
        }
        let offset = start + colon + 1;
        let n = parse_length(&line[colon + 1..]).map_err(|kind| {
            err(kind, offset).with_detail(match kind {
                K::TooLarge => "Content-Length longer than the limit",
                _ => "Content-Length is not a non-negative integer",
            })
        })?;
        if found.is_some_and(|prev| prev != n) {
            // Which one to trust is ambiguous: refuse rather than guess.
            return Err(
                err(K::BadContentLength, offset).with_detail("conflicting Content-Length values")
            );
        }
        found = Some(n);
    }
    Ok(found)
}

/// Parses a (possibly folded) Content-Length value.
fn parse_length(value: &[u8]) -> Result<usize, K> {
    let mut digits: Option<&[u8]> = None;
    for piece in value.split(|&c| c == b'\n') {
        let piece = trim_ws(piece.strip_suffix(b"\r").unwrap_or(piece));
        if piece.is_empty() {
            continue;
        }
        if digits.is_some() {
            return Err(K::BadContentLength);
        }
        digits = Some(piece);
    }
    let digits = digits.ok_or(K::BadContentLength)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(K::BadContentLength);
    }
    // Only digits remain: the one way to fail is overflow, a length over any limit.
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(K::TooLarge)
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ws(*last) {
            break;
        }
        s = rest;
    }
    s
}
