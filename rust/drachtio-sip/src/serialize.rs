//! Writing messages to bytes. Content-Length is always computed from the body.

use crate::header::HeaderName;
use crate::message::{Message, Request, Response};
use std::io::Write;

impl Message {
    /// Appends the message to `out`. Headers are written in order with their
    /// canonical long names; Content-Length is set to the body's length (at the
    /// position of the first Content-Length header, or last if there was none).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Message::Request(r) => r.write_to(out),
            Message::Response(r) => r.write_to(out),
        }
    }

    /// The message as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body().len() + 64 * (self.headers().len() + 1));
        self.write_to(&mut out);
        out
    }

    /// The length of [`Message::to_bytes`], counted without writing.
    pub fn serialized_len(&self) -> usize {
        match self {
            Message::Request(r) => r.serialized_len(),
            Message::Response(r) => r.serialized_len(),
        }
    }
}

impl Request {
    /// Appends the request to `out` (see [`Message::write_to`]).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.emit(out);
    }

    /// The length of the request as written (see [`Message::serialized_len`]).
    pub fn serialized_len(&self) -> usize {
        let mut n = Counter(0);
        self.emit(&mut n);
        n.0
    }

    fn emit<W: Write>(&self, out: &mut W) {
        // Writing to a Vec or a Counter cannot fail.
        let _ = out.write_all(self.method.as_str().as_bytes());
        let _ = write!(out, " {} SIP/2.0\r\n", self.uri);
        emit_headers_and_body(&self.headers, &self.body, out);
    }
}

impl Response {
    /// Appends the response to `out` (see [`Message::write_to`]).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.emit(out);
    }

    /// The length of the response as written (see [`Message::serialized_len`]).
    pub fn serialized_len(&self) -> usize {
        let mut n = Counter(0);
        self.emit(&mut n);
        n.0
    }

    fn emit<W: Write>(&self, out: &mut W) {
        let _ = write!(out, "SIP/2.0 {} ", self.status);
        let _ = out.write_all(self.reason.as_bytes());
        let _ = out.write_all(b"\r\n");
        emit_headers_and_body(&self.headers, &self.body, out);
    }
}

/// A writer that only counts bytes.
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn emit_headers_and_body<W: Write>(headers: &crate::header::Headers, body: &[u8], out: &mut W) {
    let mut wrote_length = false;
    for h in headers {
        if h.name == HeaderName::ContentLength {
            if !wrote_length {
                let _ = write!(out, "Content-Length: {}\r\n", body.len());
                wrote_length = true;
            }
            continue;
        }
        let _ = out.write_all(h.name.as_str().as_bytes());
        let _ = out.write_all(b": ");
        let _ = out.write_all(h.value.as_bytes());
        let _ = out.write_all(b"\r\n");
    }
    if !wrote_length {
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    }
    let _ = out.write_all(b"\r\n");
    let _ = out.write_all(body);
}
