//! Character classes and small scanning helpers shared by the URI and header
//! parsers (RFC 3261 §25.1). Everything works on byte offsets into a `&str`.

// Character classes as bits of one lookup table: the parser's inner loops
// test a byte against a class with one load and one AND.
pub(crate) const TOKEN: u8 = 1;
pub(crate) const UNRESERVED: u8 = 2;
pub(crate) const USER: u8 = 4;
pub(crate) const PASSWORD: u8 = 8;
pub(crate) const URI_PARAM: u8 = 16;
pub(crate) const URI_HEADER: u8 = 32;
pub(crate) const HOST: u8 = 64;

const fn build_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alnum = b.is_ascii_alphanumeric();
        let mut v = 0;
        if alnum
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            v |= TOKEN;
        }
        let unreserved = alnum
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            );
        if unreserved {
            v |= UNRESERVED;
        }
        if unreserved
            || matches!(
                b,
                b'%' | b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/'
            )
        {
            v |= USER;
        }
        if unreserved || matches!(b, b'%' | b'&' | b'=' | b'+' | b'$' | b',') {
            v |= PASSWORD;
        }
        if unreserved || matches!(b, b'%' | b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
            v |= URI_PARAM;
        }
        if unreserved || matches!(b, b'%' | b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
            v |= URI_HEADER;
        }
        if alnum || b == b'-' || b == b'.' {
            v |= HOST;
        }
        t[c] = v;
        c += 1;
    }
    t
}

static CLASSES: [u8; 256] = build_classes();

/// Whether byte `b` is in `class` (one of the constants above, or several OR-ed).
#[inline(always)]
pub(crate) fn is(b: u8, class: u8) -> bool {
    CLASSES[b as usize] & class != 0
}

/// `token` characters (RFC 3261 §25.1).
#[inline(always)]
pub(crate) fn is_token(b: u8) -> bool {
    is(b, TOKEN)
}

/// `s` without leading spaces and tabs (a byte loop: `trim_matches` with a
/// char pattern costs several times more on these short values).
#[inline]
pub(crate) fn trim_ws_start(s: &str) -> &str {
    let b = s.as_bytes();
    let i = skip_ws(b, 0);
    &s[i..]
}

/// `s` without trailing spaces and tabs.
#[inline]
pub(crate) fn trim_ws_end(s: &str) -> &str {
    let b = s.as_bytes();
    let mut e = b.len();
    while e > 0 && is_ws(b[e - 1]) {
        e -= 1;
    }
    &s[..e]
}

/// `s` without surrounding spaces and tabs.
#[inline]
pub(crate) fn trim_ws(s: &str) -> &str {
    trim_ws_end(trim_ws_start(s))
}

pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Skips spaces and tabs from `i`.
pub(crate) fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_ws(s[i]) {
        i += 1;
    }
    i
}

/// End of the token starting at `i`.
pub(crate) fn token_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_token(s[i]) {
        i += 1;
    }
    i
}

/// Whether all of `s` is a non-empty token.
pub(crate) fn is_token_str(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token)
}

/// End (one past the closing quote) of the quoted string whose opening quote
/// is at `i`, honouring `\` escapes; `None` if it is not closed.
pub(crate) fn quoted_end(s: &[u8], i: usize) -> Option<usize> {
    debug_assert_eq!(s.get(i), Some(&b'"'));
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// Removes the quotes and `\` escapes of a quoted string (RFC 3261 `quoted-pair`).
pub(crate) fn unquote(q: &str) -> String {
    let inner = q
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(q);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes `s` as a quoted string, escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Position of the first `sep` at nesting depth zero: outside quoted strings
/// and outside `<...>`, starting at `from`.
pub(crate) fn find_unnested(s: &[u8], from: usize, sep: u8) -> Option<usize> {
    let mut i = from;
    let mut angle = false;
    while i < s.len() {
        // Jump to the next byte that matters.
        let p = if angle {
            memchr::memchr(b'>', &s[i..])
        } else {
            memchr::memchr3(sep, b'"', b'<', &s[i..])
        };
        i += p?;
        match s[i] {
            b'"' if !angle => {
                i = quoted_end(s, i)?;
                continue;
            }
            b'<' => angle = true,
            b'>' => angle = false,
            _ => return Some(i),
        }
        i += 1;
    }
    None
}

/// Splits a header value into its comma-separated values (RFC 3261 §7.3.1),
/// respecting quoted strings and `<...>`; each value is trimmed, empty ones
/// are kept so that callers can reject them.
pub fn split_list(value: &str) -> Vec<&str> {
    list_items(value).map(|(_, v)| v).collect()
}

/// Iterates over the comma-separated values of a header value, as
/// [`split_list`] does, without allocating; yields each value's byte offset too.
pub(crate) fn list_items(value: &str) -> ListItems<'_> {
    ListItems {
        value,
        start: Some(0),
    }
}

pub(crate) struct ListItems<'a> {
    value: &'a str,
    start: Option<usize>,
}

impl<'a> Iterator for ListItems<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let start = self.start?;
        let b = self.value.as_bytes();
        // Most values hold no comma at all: then there is one item, whatever
        // quotes or brackets it has.
        let end = if start == 0 && !b.contains(&b',') {
            self.start = None;
            b.len()
        } else {
            match find_unnested(b, start, b',') {
                Some(i) => {
                    self.start = Some(i + 1);
                    i
                }
                None => {
                    self.start = None;
                    self.value.len()
                }
            }
        };
        let raw = &self.value[start..end];
        let item = trim_ws_start(raw);
        let off = start + (raw.len() - item.len());
        Some((off, trim_ws_end(item)))
    }
}

/// Decodes `%XX` escapes (RFC 3261 `escaped`); invalid escapes are kept as
/// written. The result may contain any byte, so it is returned as bytes.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether `%` escapes in `s` are all well formed (`%` followed by two hex digits).
pub(crate) fn escapes_ok(s: &[u8]) -> bool {
    let Some(mut i) = s.iter().position(|&c| c == b'%') else {
        return true;
    };
    while i < s.len() {
        if s[i] == b'%' {
            if i + 2 >= s.len() {
                return false;
            }
            if hex(s[i + 1]).is_none() || hex(s[i + 2]).is_none() {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}
