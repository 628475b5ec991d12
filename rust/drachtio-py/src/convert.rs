//! Conversions between Python objects and core values: JSON values, header
//! lists given as arguments, and the checks those arguments need.

use crate::errors::value_error;
use drachtio_sip::{Header, HeaderName, Headers, Text};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Deeper JSON than this is refused rather than risking the native stack.
const MAX_JSON_DEPTH: usize = 128;

/// Keys of the JSON form (`drachtio_sip::json`), sorted. Their Python strings
/// are made once, interned: building a dict then skips creating and hashing
/// each key, and Python code indexing with literal keys hits the identity fast path.
const CACHED_KEYS: &[&str] = &[
    "accept",
    "allow",
    "allow_events",
    "authorization",
    "branch",
    "call_id",
    "contact",
    "content",
    "content_disposition",
    "content_length",
    "content_type",
    "count",
    "cseq",
    "date",
    "display",
    "encoding",
    "event",
    "expires",
    "from",
    "headers",
    "host",
    "max_forwards",
    "method",
    "min_expires",
    "min_se",
    "number",
    "params",
    "password",
    "payload",
    "port",
    "protocol",
    "proxy_authenticate",
    "proxy_authorization",
    "proxy_require",
    "rack",
    "reason",
    "received",
    "record_route",
    "refer_to",
    "referred_by",
    "request_uri",
    "require",
    "retry_after",
    "route",
    "rport",
    "rseq",
    "scheme",
    "seq",
    "server",
    "session_expires",
    "status_code",
    "status_line",
    "subject",
    "subscription_state",
    "supported",
    "tag",
    "timestamp",
    "to",
    "type",
    "unsupported",
    "url",
    "user",
    "user_agent",
    "value",
    "version",
    "via",
    "warning",
    "www_authenticate",
];

const fn str_lt(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

const _: () = {
    let mut i = 1;
    while i < CACHED_KEYS.len() {
        assert!(
            str_lt(CACHED_KEYS[i - 1], CACHED_KEYS[i]),
            "CACHED_KEYS must be sorted"
        );
        i += 1;
    }
};

static KEY_STRINGS: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

fn dict_key<'py>(py: Python<'py>, key: &str) -> Bound<'py, PyString> {
    let cached = KEY_STRINGS.get_or_init(py, || {
        CACHED_KEYS
            .iter()
            .map(|k| PyString::intern(py, k).unbind())
            .collect()
    });
    match CACHED_KEYS.binary_search(&key) {
        Ok(i) => cached[i].bind(py).clone(),
        Err(_) => PyString::new(py, key),
    }
}

/// A JSON value as Python objects: dict, list, str, int, float, bool, None.
pub(crate) fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, item) in map {
                dict.set_item(dict_key(py, k), json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A Python object made of dict (str keys), list, tuple, str, int, float, bool
/// and None as a JSON value.
pub(crate) fn py_to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    py_to_json_at(obj, 0)
}

fn py_to_json_at(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_JSON_DEPTH {
        return Err(value_error(format!(
            "nested deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: bool is a subclass of int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(value_error("integer out of the 64-bit range"));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| value_error("NaN and infinity are not JSON numbers"));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, item) in d.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("JSON object keys must be str"))?;
            map.insert(key.to_str()?.to_owned(), py_to_json_at(&item, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        let mut out = Vec::with_capacity(l.len());
        for item in l.iter() {
            out.push(py_to_json_at(&item, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        let mut out = Vec::with_capacity(t.len());
        for item in t.iter() {
            out.push(py_to_json_at(&item, depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    Err(PyTypeError::new_err(format!(
        "cannot convert {} to JSON",
        obj.get_type().name()?
    )))
}

/// RFC 3261 §25.1 `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

/// Refuses text that would break the message framing when written: CR, LF and
/// other control characters except HTAB (RFC 3261 §25.1 `TEXT-UTF8char`).
pub(crate) fn check_line_text(what: &str, s: &str) -> PyResult<()> {
    match s.bytes().find(|&c| (c < b' ' && c != b'\t') || c == 0x7f) {
        Some(c) => Err(value_error(format!(
            "{what} contains control character {c:#04x}"
        ))),
        None => Ok(()),
    }
}

fn header_pair(name: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Header> {
    let (Ok(name), Ok(value)) = (name.cast::<PyString>(), value.cast::<PyString>()) else {
        return Err(PyTypeError::new_err("header names and values must be str"));
    };
    let name = name.to_str()?;
    let value = value.to_str()?;
    if !is_token(name) {
        return Err(value_error(format!(
            "header name {name:?} is not a token (RFC 3261 §25.1)"
        )));
    }
    check_line_text("header value", value)?;
    Ok(Header {
        name: HeaderName::new(name),
        value: Text::from(value),
    })
}

/// Headers given as a sequence of `(name, value)` pairs or a mapping of name to value.
pub(crate) fn headers_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Headers> {
    let Some(obj) = obj else {
        return Ok(Headers::new());
    };
    if let Ok(d) = obj.cast::<PyDict>() {
        return d.iter().map(|(k, v)| header_pair(&k, &v)).collect();
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "headers must be (name, value) pairs or a mapping, not str",
        ));
    }
    if let Ok(m) = obj.cast::<PyMapping>() {
        return m
            .items()?
            .iter()
            .map(|item| {
                let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item.extract()?;
                header_pair(&k, &v)
            })
            .collect();
    }
    let mut out = Headers::new();
    for item in obj.try_iter()? {
        let item = item?;
        let pair = item
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .ok_or_else(|| PyTypeError::new_err("each header must be a (name, value) tuple"))?;
        let h = header_pair(&pair.get_item(0)?, &pair.get_item(1)?)?;
        out.push(h.name, h.value);
    }
    Ok(out)
}
