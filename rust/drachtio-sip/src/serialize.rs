//! Writing messages to bytes. Content-Length is always computed from the body.

use crate::header::HeaderName;
use crate::message::{Message, Request, Response};
use std::io::Write as _;

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
}

impl Request {
    /// Appends the request to `out` (see [`Message::write_to`]).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_str().as_bytes());
        out.push(b' ');
        // Writing to a Vec cannot fail.
        let _ = write!(out, "{}", self.uri);
        out.extend_from_slice(b" SIP/2.0\r\n");
        write_headers_and_body(&self.headers, &self.body, out);
    }
}

impl Response {
    /// Appends the response to `out` (see [`Message::write_to`]).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let _ = write!(out, "SIP/2.0 {} ", self.status);
        out.extend_from_slice(self.reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        write_headers_and_body(&self.headers, &self.body, out);
    }
}

fn write_headers_and_body(headers: &crate::header::Headers, body: &[u8], out: &mut Vec<u8>) {
    let mut wrote_length = false;
    for h in headers {
        if h.name == HeaderName::ContentLength {
            if !wrote_length {
                let _ = write!(out, "Content-Length: {}\r\n", body.len());
                wrote_length = true;
            }
            continue;
        }
        out.extend_from_slice(h.name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !wrote_length {
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}
