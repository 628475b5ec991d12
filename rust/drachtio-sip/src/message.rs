//! SIP requests and responses.

use crate::header::{HeaderName, Headers};
use crate::scan::is_token_str;
use crate::text::Text;
use crate::uri::Uri;
use bytes::Bytes;
use std::fmt;

macro_rules! methods {
    ($( $variant:ident => $name:literal ),* $(,)?) => {
        /// A SIP method. Methods are case-sensitive (RFC 3261 §7.1).
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum Method {
            $( #[doc = $name] $variant, )*
            /// Any other method (a token), as written.
            Extension(Text),
        }

        impl Method {
            /// The method name.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Method::$variant => $name, )*
                    Method::Extension(t) => t.as_str(),
                }
            }

            /// The name of each method of RFC 3261 and its extensions that
            /// has a variant, in the order of [`Method::index`].
            pub const STANDARD: &'static [&'static str] = &[$( $name, )*];

            /// The position of the method in [`Method::STANDARD`]; that
            /// list's length for an extension method.
            pub fn index(&self) -> usize {
                let mut i = 0;
                $(
                    if let Method::$variant = self {
                        return i;
                    }
                    i += 1;
                )*
                i
            }

            fn lookup(s: &str) -> Option<Method> {
                match s {
                    $( $name => Some(Method::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

methods! {
    Invite => "INVITE",
    Ack => "ACK",
    Bye => "BYE",
    Cancel => "CANCEL",
    Options => "OPTIONS",
    Register => "REGISTER",
    Prack => "PRACK",
    Subscribe => "SUBSCRIBE",
    Notify => "NOTIFY",
    Publish => "PUBLISH",
    Info => "INFO",
    Refer => "REFER",
    Message => "MESSAGE",
    Update => "UPDATE",
}

impl Method {
    /// The method for `name`, sharing its buffer when it is an extension.
    /// `None` if `name` is not a token.
    pub fn from_text(name: &Text) -> Option<Method> {
        if let Some(m) = Self::lookup(name) {
            return Some(m);
        }
        is_token_str(name).then(|| Method::Extension(name.clone()))
    }

    /// The method for `name` (copied). `None` if `name` is not a token.
    pub fn parse(name: &str) -> Option<Method> {
        Self::lookup(name)
            .or_else(|| is_token_str(name).then(|| Method::Extension(Text::from(name))))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The headers, in order.
    pub headers: Headers,
    /// The body (may be empty).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code, 100..=699.
    pub status: u16,
    /// The reason phrase (may be empty).
    pub reason: Text,
    /// The headers, in order.
    pub headers: Headers,
    /// The body (may be empty).
    pub body: Bytes,
}

/// A SIP message: a request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }
}

impl Response {
    /// A response with no headers and no body; the reason phrase defaults to
    /// the RFC 3261 §21 phrase for the code.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            reason: Text::from_static(reason_phrase(status)),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }
}

impl Message {
    /// The headers.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The headers, mutable.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    /// Replaces the body (Content-Length is computed when serializing).
    pub fn set_body(&mut self, body: Bytes) {
        match self {
            Message::Request(r) => r.body = body,
            Message::Response(r) => r.body = body,
        }
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Message::Request(_) => None,
            Message::Response(r) => Some(r),
        }
    }

    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self, Message::Request(_))
    }

    /// The first value of header `name` (any case, long or compact form).
    pub fn header(&self, name: &str) -> Option<&Text> {
        self.headers().get(&HeaderName::new(name))
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Message {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Message {
        Message::Response(r)
    }
}

/// Whether `reason` can be a Reason-Phrase: UTF-8 text without control
/// characters other than HTAB (RFC 3261 §25.1 `Reason-Phrase`, `UTF8-CONT`;
/// DEL is refused too). The parser and the message constructors apply it.
pub fn is_reason_phrase(reason: &str) -> bool {
    !reason
        .bytes()
        .any(|c| (c < b' ' && c != b'\t') || c == 0x7f)
}

/// The reason phrase RFC 3261 §21 (and later RFCs) give for `code`; a generic
/// phrase for the class when the code is not listed.
// The class ranges at the end deliberately overlap the codes listed before them.
#[allow(clippy::match_overlapping_arm)]
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Unknown Resource-Priority",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        428 => "Use Identity Header",
        429 => "Provide Referrer Identity",
        430 => "Flow Failed",
        433 => "Anonymity Disallowed",
        436 => "Bad Identity-Info",
        437 => "Unsupported Certificate",
        438 => "Invalid Identity Header",
        439 => "First Hop Lacks Outbound Support",
        440 => "Max-Breadth Exceeded",
        469 => "Bad Info Package",
        470 => "Consent Needed",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        494 => "Security Agreement Required",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        555 => "Push Notification Service Not Supported",
        580 => "Precondition Failure",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        608 => "Rejected",
        100..=199 => "Provisional",
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Global Failure",
    }
}
