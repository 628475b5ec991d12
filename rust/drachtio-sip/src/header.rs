//! Header names (long and compact forms, case-insensitive) and the ordered
//! header list of a message.

use crate::text::Text;

macro_rules! known_headers {
    ($( $variant:ident => $canon:literal, $snake:literal, [$($compact:literal)?] ;)*) => {
        /// A header name: one the core knows (compared by identity) or another
        /// (compared case-insensitively, spelling kept as received).
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( #[doc = $canon] $variant, )*
            /// Any other header, spelled as received.
            Other(Text),
        }

        impl HeaderName {
            /// The canonical long form, e.g. `Call-ID`.
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canon, )*
                    HeaderName::Other(t) => t.as_str(),
                }
            }

            /// The name as a JSON key: lower case, `-` replaced by `_` (`call_id`).
            pub fn json_key(&self) -> std::borrow::Cow<'static, str> {
                match self {
                    $( HeaderName::$variant => std::borrow::Cow::Borrowed($snake), )*
                    HeaderName::Other(t) => std::borrow::Cow::Owned(t.to_ascii_lowercase().replace('-', "_")),
                }
            }

            /// The compact form (RFC 3261 §7.3.3 and later RFCs), if any.
            pub fn compact(&self) -> Option<char> {
                match self {
                    $( HeaderName::$variant => known_headers!(@compact $($compact)?), )*
                    HeaderName::Other(_) => None,
                }
            }

            fn lookup(name: &str) -> Option<HeaderName> {
                if name.len() == 1 {
                    let c = name.as_bytes()[0].to_ascii_lowercase();
                    $( $( if c == $compact.as_bytes()[0] { return Some(HeaderName::$variant); } )? )*
                    return None;
                }
                $( if name.len() == $canon.len() && name.eq_ignore_ascii_case($canon) {
                    return Some(HeaderName::$variant);
                } )*
                None
            }
        }
    };
    (@compact $c:literal) => { Some($c.as_bytes()[0] as char) };
    (@compact) => { None };
}

known_headers! {
    Via => "Via", "via", ["v"];
    From => "From", "from", ["f"];
    To => "To", "to", ["t"];
    CallId => "Call-ID", "call_id", ["i"];
    CSeq => "CSeq", "cseq", [];
    Contact => "Contact", "contact", ["m"];
    MaxForwards => "Max-Forwards", "max_forwards", [];
    ContentLength => "Content-Length", "content_length", ["l"];
    ContentType => "Content-Type", "content_type", ["c"];
    ContentEncoding => "Content-Encoding", "content_encoding", ["e"];
    ContentDisposition => "Content-Disposition", "content_disposition", [];
    Route => "Route", "route", [];
    RecordRoute => "Record-Route", "record_route", [];
    Expires => "Expires", "expires", [];
    MinExpires => "Min-Expires", "min_expires", [];
    Require => "Require", "require", [];
    Supported => "Supported", "supported", ["k"];
    ProxyRequire => "Proxy-Require", "proxy_require", [];
    Unsupported => "Unsupported", "unsupported", [];
    Allow => "Allow", "allow", [];
    AllowEvents => "Allow-Events", "allow_events", ["u"];
    Accept => "Accept", "accept", [];
    RSeq => "RSeq", "rseq", [];
    RAck => "RAck", "rack", [];
    SessionExpires => "Session-Expires", "session_expires", ["x"];
    MinSe => "Min-SE", "min_se", [];
    Authorization => "Authorization", "authorization", [];
    ProxyAuthorization => "Proxy-Authorization", "proxy_authorization", [];
    WwwAuthenticate => "WWW-Authenticate", "www_authenticate", [];
    ProxyAuthenticate => "Proxy-Authenticate", "proxy_authenticate", [];
    Event => "Event", "event", ["o"];
    SubscriptionState => "Subscription-State", "subscription_state", [];
    ReferTo => "Refer-To", "refer_to", ["r"];
    ReferredBy => "Referred-By", "referred_by", ["b"];
    Subject => "Subject", "subject", ["s"];
    Identity => "Identity", "identity", ["y"];
    AcceptContact => "Accept-Contact", "accept_contact", ["a"];
    RejectContact => "Reject-Contact", "reject_contact", ["j"];
    RequestDisposition => "Request-Disposition", "request_disposition", ["d"];
    UserAgent => "User-Agent", "user_agent", [];
    Server => "Server", "server", [];
    Date => "Date", "date", [];
    Timestamp => "Timestamp", "timestamp", [];
    Warning => "Warning", "warning", [];
    RetryAfter => "Retry-After", "retry_after", [];
}

/// Whether `value` can be written as a header value: it holds no CR and no
/// LF, so it stays on its header's line (RFC 3261 §7.3.1; a folded value is
/// written unfolded). Any other byte may appear: a quoted string may carry
/// any control character but CR and LF as a `quoted-pair` (§25.1). Every
/// value the parser returns passes, so a received value can be copied into
/// another message as it is.
pub fn is_header_value(value: &str) -> bool {
    memchr::memchr2(b'\r', b'\n', value.as_bytes()).is_none()
}

impl HeaderName {
    /// The name for `name` (long or compact form, any case). Never fails: an
    /// unknown name becomes [`HeaderName::Other`] with its spelling kept.
    pub fn new(name: &str) -> HeaderName {
        Self::lookup(name).unwrap_or_else(|| HeaderName::Other(Text::from(name)))
    }

    /// Like [`HeaderName::new`], sharing the buffer of `name` when it is unknown.
    pub fn from_text(name: Text) -> HeaderName {
        Self::lookup(&name).unwrap_or(HeaderName::Other(name))
    }

    /// The name for `name`, a slice of `buf`: known names cost no slicing.
    pub(crate) fn from_slice_of(buf: &Text, name: &str) -> HeaderName {
        Self::lookup(name).unwrap_or_else(|| HeaderName::Other(buf.slice_ref(name)))
    }

    /// Headers whose value may be a comma-separated list of values
    /// (RFC 3261 §7.3.1); others (Date, WWW-Authenticate, ...) are one value.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Via
                | HeaderName::Contact
                | HeaderName::Route
                | HeaderName::RecordRoute
                | HeaderName::Require
                | HeaderName::Supported
                | HeaderName::ProxyRequire
                | HeaderName::Unsupported
                | HeaderName::Allow
                | HeaderName::AllowEvents
                | HeaderName::Accept
                | HeaderName::ContentEncoding
                | HeaderName::Warning
                | HeaderName::AcceptContact
                | HeaderName::RejectContact
                | HeaderName::RequestDisposition
        )
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}
impl Eq for HeaderName {}

impl std::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header line: its name and its value as received (surrounding
/// whitespace trimmed, line folding replaced by a single space).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The header name.
    pub name: HeaderName,
    /// The raw value.
    pub value: Text,
}

/// The headers of a message, in order. Names compare case-insensitively and
/// compact forms equal their long forms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// An empty list with room for `n` headers.
    pub fn with_capacity(n: usize) -> Self {
        Headers(Vec::with_capacity(n))
    }

    /// Appends a header at the end.
    pub fn push(&mut self, name: HeaderName, value: impl Into<Text>) {
        self.0.push(Header {
            name,
            value: value.into(),
        });
    }

    /// Inserts a header before all others (e.g. a new top Via).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<Text>) {
        self.0.insert(
            0,
            Header {
                name,
                value: value.into(),
            },
        );
    }

    /// The value of the first header named `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&Text> {
        self.0.iter().find(|h| &h.name == name).map(|h| &h.value)
    }

    /// The raw values of every header named `name`, in order (one per header
    /// line; see [`crate::split_list`] to split comma-separated lists).
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a Text> + 'a {
        self.0
            .iter()
            .filter(move |h| &h.name == name)
            .map(|h| &h.value)
    }

    /// Whether a header named `name` is present.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.0.iter().any(|h| &h.name == name)
    }

    /// Replaces every header named `name` by one with `value`, at the position
    /// of the first (or at the end if there was none).
    pub fn set(&mut self, name: HeaderName, value: impl Into<Text>) {
        let value = value.into();
        match self.0.iter().position(|h| h.name == name) {
            Some(i) => {
                self.0[i].value = value;
                let mut j = 0;
                self.0.retain(|h| {
                    j += 1;
                    j - 1 <= i || h.name != name
                });
            }
            None => self.0.push(Header { name, value }),
        }
    }

    /// Replaces the first value of the first header line named `name` by
    /// `value`, keeping the rest of that line's comma-separated list;
    /// `None` removes the value, and the line when nothing is left of it
    /// (a top Via rewritten or popped, a Route used up).
    pub fn replace_first_value(&mut self, name: &HeaderName, value: Option<&str>) {
        let Some(i) = self.0.iter().position(|h| &h.name == name) else {
            return;
        };
        let line = self.0[i].value.clone();
        let items = crate::scan::split_list(&line);
        let kept: Vec<&str> = value.into_iter().chain(items.into_iter().skip(1)).collect();
        if kept.is_empty() {
            self.0.remove(i);
        } else {
            self.0[i].value = Text::from(kept.join(", "));
        }
    }

    /// Removes the last value of the last header line named `name` (and the
    /// line when nothing is left of it): a strict router's Route used up.
    pub fn remove_last_value(&mut self, name: &HeaderName) {
        let Some(i) = self.0.iter().rposition(|h| &h.name == name) else {
            return;
        };
        let line = self.0[i].value.clone();
        let mut items = crate::scan::split_list(&line);
        items.pop();
        if items.is_empty() {
            self.0.remove(i);
        } else {
            self.0[i].value = Text::from(items.join(", "));
        }
    }

    /// Removes every header named `name`; returns how many were removed.
    pub fn remove(&mut self, name: &HeaderName) -> usize {
        let before = self.0.len();
        self.0.retain(|h| &h.name != name);
        before - self.0.len()
    }

    /// All headers in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<I: IntoIterator<Item = Header>>(iter: I) -> Self {
        Headers(iter.into_iter().collect())
    }
}
