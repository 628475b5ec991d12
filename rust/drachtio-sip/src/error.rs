//! Parse errors: a precise kind, the byte offset where parsing stopped, and
//! the SIP status a server should answer a bad request with.

use std::fmt;

macro_rules! parse_error_kinds {
    ($( $(#[doc = $doc:literal])* $variant:ident => $name:literal, )*) => {
        /// What was wrong with a message. Each kind maps to the SIP status a server
        /// answers a request with ([`ParseErrorKind::status_code`]); responses that fail
        /// to parse are discarded (RFC 3261 §18.1.2, RFC 4475 §3.1.2).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ParseErrorKind {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ParseErrorKind {
            /// Every kind, in declaration order (the order of [`ParseErrorKind::index`]).
            pub const ALL: &'static [ParseErrorKind] = &[$( ParseErrorKind::$variant, )*];

            /// A stable snake_case name for the kind (used in logs, Python and JSON).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( ParseErrorKind::$variant => $name, )*
                }
            }

            /// The kind's position in [`ParseErrorKind::ALL`].
            pub fn index(self) -> usize {
                self as usize
            }
        }
    };
}

parse_error_kinds! {
    /// No bytes, or only whitespace.
    Empty => "empty",
    /// The header section does not end with an empty line.
    UnterminatedHeaders => "unterminated_headers",
    /// The header section (or another message part) is not valid UTF-8.
    InvalidUtf8 => "invalid_utf8",
    /// The request line is not `Method SP Request-URI SP SIP-Version`
    /// (extra or missing spaces, trailing whitespace: RFC 4475 lwsstart, trws, lwsruri).
    BadRequestLine => "bad_request_line",
    /// The method is not a token.
    BadMethod => "bad_method",
    /// The Request-URI is not a valid URI, or is one a request line cannot
    /// carry (enclosed in `<>`, or a SIP URI with headers: RFC 4475 ltgtruri, escruri).
    BadRequestUri => "bad_request_uri",
    /// The SIP version is not `SIP/2.0` (answered 505, RFC 3261 §8.2.2... RFC 4475 badvers).
    BadVersion => "bad_version",
    /// The status line is not `SIP-Version SP Status-Code SP Reason-Phrase`.
    BadStatusLine => "bad_status_line",
    /// The status code is not three digits in 100..=699 (RFC 4475 bigcode).
    BadStatusCode => "bad_status_code",
    /// A header line has no colon, or its name is not a token.
    BadHeaderLine => "bad_header_line",
    /// A URI inside a header is malformed.
    BadUri => "bad_uri",
    /// A Via header value is malformed (RFC 4475 badinv01).
    BadVia => "bad_via",
    /// A From, To, Contact, Route or Record-Route value is malformed
    /// (unbalanced quotes, RFC 4475 quotbal).
    BadNameAddr => "bad_name_addr",
    /// CSeq is not `number method`, or the number is over 2**31-1 (RFC 3261 §8.1.1.5, RFC 4475 scalar02).
    BadCSeq => "bad_cseq",
    /// The CSeq method differs from the request method (RFC 4475 mismatch01, mismatch02).
    CSeqMethodMismatch => "cseq_method_mismatch",
    /// Call-ID is empty or not a word.
    BadCallId => "bad_call_id",
    /// Max-Forwards is not an integer in 0..=255.
    BadMaxForwards => "bad_max_forwards",
    /// Content-Length is not a non-negative integer (RFC 4475 ncl).
    BadContentLength => "bad_content_length",
    /// Content-Length says more bytes than the message carries (RFC 3261 §18.3, RFC 4475 clerr).
    BodyTooShort => "body_too_short",
    /// A typed header value that is malformed in another way.
    BadHeaderValue => "bad_header_value",
    /// A header section or body larger than the configured limit (stream framer).
    TooLarge => "too_large",
}

impl ParseErrorKind {
    /// The SIP status a server should answer a request that failed this way with.
    pub fn status_code(self) -> u16 {
        match self {
            ParseErrorKind::BadVersion => 505,
            ParseErrorKind::TooLarge => 513,
            _ => 400,
        }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message, header or URI that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}{}", detail.map(|d| format!(": {d}")).unwrap_or_default())]
pub struct ParseError {
    /// What was wrong.
    pub kind: ParseErrorKind,
    /// Byte offset in the input where the problem was found.
    pub offset: usize,
    /// A short human-readable detail, e.g. the header name.
    pub detail: Option<&'static str>,
}

impl ParseError {
    /// An error of `kind` at `offset`.
    pub fn new(kind: ParseErrorKind, offset: usize) -> Self {
        ParseError {
            kind,
            offset,
            detail: None,
        }
    }

    /// The same error with a detail.
    pub fn with_detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The same error, its offset moved by `base` (a value parsed on its own
    /// reports offsets relative to itself; the message parser rebases them).
    pub fn rebase(mut self, base: usize) -> Self {
        self.offset += base;
        self
    }

    /// The SIP status a server should answer with (see [`ParseErrorKind::status_code`]).
    pub fn status_code(&self) -> u16 {
        self.kind.status_code()
    }
}

pub(crate) fn err(kind: ParseErrorKind, offset: usize) -> ParseError {
    ParseError::new(kind, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed_once_at_its_index_with_a_name_of_its_own() {
        let mut names = std::collections::HashSet::new();
        for (i, kind) in ParseErrorKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert!(names.insert(kind.as_str()), "{kind}");
        }
    }
}
