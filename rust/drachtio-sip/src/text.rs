//! `Text`: an immutable, cheaply cloned UTF-8 string that shares the buffer a
//! message was parsed from (slicing costs a reference-count increment, not a copy).

use bytes::Bytes;
use std::fmt;
use std::ops::Deref;

/// An immutable UTF-8 string backed by [`Bytes`].
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Bytes);

impl Text {
    /// An empty text.
    pub const fn new() -> Self {
        Text(Bytes::new())
    }

    /// A text from a `'static` string, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Text(Bytes::from_static(s.as_bytes()))
    }

    /// Wraps bytes the caller has already checked to be UTF-8.
    ///
    /// Only the parser calls this, on slices of a buffer it validated once.
    pub(crate) fn from_utf8_bytes(b: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&b).is_ok());
        Text(b)
    }

    /// The text as a `&str`.
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor takes a `&str`/`String` or bytes the parser
        // validated as UTF-8 (see `from_utf8_bytes`), and the bytes are immutable.
        // This is the crate's only `unsafe`: re-validating on every access would
        // cost O(n) on the hottest path.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// A sub-text for `sub`, which must be a slice of `self.as_str()`; it shares
    /// the same buffer. A `sub` from elsewhere is copied.
    pub fn slice_ref(&self, sub: &str) -> Text {
        if sub.is_empty() {
            return Text::new();
        }
        let base = self.0.as_ptr() as usize;
        let p = sub.as_ptr() as usize;
        if p >= base && p + sub.len() <= base + self.0.len() {
            Text(self.0.slice(p - base..p - base + sub.len()))
        } else {
            Text::from(sub)
        }
    }

    /// A copy in a buffer of its own: keeping it does not keep alive the
    /// buffer this text is a slice of (a whole received message).
    pub fn unshared(&self) -> Text {
        Text(Bytes::copy_from_slice(&self.0))
    }

    /// Moves `texts` into one new buffer of their own (one allocation for
    /// all), so that keeping them does not keep alive the buffers they were
    /// slices of.
    pub fn unshare_all(texts: &mut [&mut Text]) {
        let len = texts.iter().map(|t| t.0.len()).sum();
        let mut buf = Vec::with_capacity(len);
        for t in texts.iter() {
            buf.extend_from_slice(&t.0);
        }
        let buf = Bytes::from(buf);
        let mut at = 0;
        for t in texts.iter_mut() {
            let n = t.0.len();
            t.0 = buf.slice(at..at + n);
            at += n;
        }
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The shared buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text(Bytes::from(s.into_bytes()))
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
