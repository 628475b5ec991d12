//! Conversions between Python objects and core values: serde forms into
//! Python objects, Python objects into JSON values, header lists given as
//! arguments, and the checks those arguments need.

use crate::errors::value_error;
use drachtio_sip::{is_header_value, is_reason_phrase, Header, HeaderName, Headers, Text};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};
use serde::ser::{self, Impossible, Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value};
use std::fmt::{self, Write as _};

/// Deeper JSON than this is refused rather than risking the native stack.
const MAX_JSON_DEPTH: usize = 128;

/// Keys of the JSON form (`drachtio_sip::json`). Their Python strings
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

const _: () = assert!(CACHED_KEYS.len() < NO_KEY as usize);

/// An open-addressed table of indexes into `CACHED_KEYS` (`NO_KEY` where
/// empty), built at compile time: a lookup costs one hash and about one
/// string comparison, where the binary search it replaced took seven.
const KEY_SLOTS: [u8; 256] = key_slots();
const NO_KEY: u8 = u8::MAX;

/// Length, first, middle and last byte: enough to spread these keys (about
/// one probe each), and cheaper than hashing every byte.
const fn key_hash(k: &[u8]) -> usize {
    let n = k.len();
    if n == 0 {
        return 0;
    }
    let h =
        (n as u64) | ((k[0] as u64) << 8) | ((k[n / 2] as u64) << 16) | ((k[n - 1] as u64) << 24);
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize
}

const fn key_slots() -> [u8; 256] {
    let mut slots = [NO_KEY; 256];
    let mut k = 0;
    while k < CACHED_KEYS.len() {
        let mut i = key_hash(CACHED_KEYS[k].as_bytes());
        while slots[i] != NO_KEY {
            i = (i + 1) % slots.len();
        }
        slots[i] = k as u8;
        k += 1;
    }
    slots
}

fn cached_key_index(key: &str) -> Option<usize> {
    let mut i = key_hash(key.as_bytes());
    loop {
        let k = KEY_SLOTS[i];
        if k == NO_KEY {
            return None;
        }
        if CACHED_KEYS[usize::from(k)] == key {
            return Some(usize::from(k));
        }
        i = (i + 1) % KEY_SLOTS.len();
    }
}

static KEY_STRINGS: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

/// A serde form (such as `drachtio_sip::json::JsonForm`) as Python objects:
/// maps as dict, sequences as list, strings, integers, bool and None. Other
/// serde types are refused, since the JSON form never produces them.
pub(crate) fn to_py<'py, T: Serialize + ?Sized>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let keys = KEY_STRINGS.get_or_init(py, || {
        CACHED_KEYS
            .iter()
            .map(|k| PyString::intern(py, k).unbind())
            .collect()
    });
    Ok(value.serialize(PyBuilder {
        py,
        keys,
        as_key: false,
    })?)
}

/// Longer `Display` output than this is formatted into a heap string instead.
const SHORT_TEXT: usize = 128;

/// A `fmt::Write` into a fixed stack buffer; fails once the buffer is full.
struct ShortText {
    bytes: [u8; SHORT_TEXT],
    len: usize,
}

impl fmt::Write for ShortText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The error of [`PyBuilder`]: the Python exception to raise.
#[derive(Debug)]
struct BuildError(PyErr);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BuildError {}

impl ser::Error for BuildError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        BuildError(value_error(msg.to_string()))
    }
}

impl From<PyErr> for BuildError {
    fn from(e: PyErr) -> Self {
        BuildError(e)
    }
}

impl From<BuildError> for PyErr {
    fn from(e: BuildError) -> Self {
        e.0
    }
}

fn unsupported(what: &str) -> BuildError {
    BuildError(PyTypeError::new_err(format!(
        "{what} has no Python form here"
    )))
}

/// A serde `Serializer` whose output is a Python object.
#[derive(Clone, Copy)]
struct PyBuilder<'py> {
    py: Python<'py>,
    keys: &'py [Py<PyString>],
    /// Strings written as map keys go through the interned key table.
    as_key: bool,
}

impl<'py> PyBuilder<'py> {
    fn string(self, s: &str) -> Bound<'py, PyAny> {
        if self.as_key {
            if let Some(i) = cached_key_index(s) {
                return self.keys[i].bind(self.py).clone().into_any();
            }
        }
        PyString::new(self.py, s).into_any()
    }

    fn value(self) -> Self {
        PyBuilder {
            as_key: false,
            ..self
        }
    }
}

/// Refuses the serde types the JSON form never produces.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*) -> $ok:ty;)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ok, BuildError> {
            Err(unsupported(stringify!($method)))
        })*
    };
}

impl<'py> Serializer for PyBuilder<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = BuildError;
    type SerializeSeq = ListBuilder<'py>;
    type SerializeTuple = Impossible<Self::Ok, BuildError>;
    type SerializeTupleStruct = Impossible<Self::Ok, BuildError>;
    type SerializeTupleVariant = Impossible<Self::Ok, BuildError>;
    type SerializeMap = DictBuilder<'py>;
    type SerializeStruct = Impossible<Self::Ok, BuildError>;
    type SerializeStructVariant = Impossible<Self::Ok, BuildError>;

    fn serialize_bool(self, v: bool) -> Result<Self::Ok, BuildError> {
        Ok(PyBool::new(self.py, v).to_owned().into_any())
    }

    fn serialize_i8(self, v: i8) -> Result<Self::Ok, BuildError> {
        Ok(PyInt::new(self.py, v).into_any())
    }

    fn serialize_i16(self, v: i16) -> Result<Self::Ok, BuildError> {
        Ok(PyInt::new(self.py, v).into_any())
    }

    fn serialize_i32(self, v: i32) -> Result<Self::Ok, BuildError> {
        Ok(PyInt::new(self.py, v).into_any())
    }

    fn serialize_i64(self, v: i64) -> Result<Self::Ok, BuildError> {
        Ok(PyInt::new(self.py, v).into_any())
    }

    fn serialize_u8(self, v: u8) -> Result<Self::Ok, BuildError> {
        Ok(PyInt::new(self.py, v).into_any())
    }

    fn serialize_u16(self, v: u16) -> Result<Self::Ok, BuildError> {
        Ok(PyInt::new(self.py, v).into_any())
    }

    fn serialize_u32(self, v: u32) -> Result<Self::Ok, BuildError> {
        Ok(PyInt::new(self.py, v).into_any())
    }

    fn serialize_u64(self, v: u64) -> Result<Self::Ok, BuildError> {
        Ok(PyInt::new(self.py, v).into_any())
    }

    fn serialize_str(self, v: &str) -> Result<Self::Ok, BuildError> {
        Ok(self.string(v))
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<Self::Ok, BuildError> {
        let mut short = ShortText {
            bytes: [0; SHORT_TEXT],
            len: 0,
        };
        if write!(short, "{value}").is_ok() {
            let text = std::str::from_utf8(&short.bytes[..short.len])
                .map_err(|e| BuildError(value_error(e.to_string())))?;
            Ok(self.string(text))
        } else {
            Ok(self.string(&value.to_string()))
        }
    }

    fn serialize_none(self) -> Result<Self::Ok, BuildError> {
        Ok(self.py.None().into_bound(self.py))
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, BuildError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Self::Ok, BuildError> {
        self.serialize_none()
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<ListBuilder<'py>, BuildError> {
        Ok(ListBuilder {
            items: Vec::with_capacity(len.unwrap_or(0)),
            builder: self.value(),
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<DictBuilder<'py>, BuildError> {
        Ok(DictBuilder {
            dict: PyDict::new(self.py),
            key: None,
            builder: self.value(),
        })
    }

    refuse! {
        serialize_f32(f32) -> Self::Ok;
        serialize_f64(f64) -> Self::Ok;
        serialize_char(char) -> Self::Ok;
        serialize_bytes(&[u8]) -> Self::Ok;
        serialize_unit_struct(&'static str) -> Self::Ok;
        serialize_unit_variant(&'static str, u32, &'static str) -> Self::Ok;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _value: &T,
    ) -> Result<Self::Ok, BuildError> {
        Err(unsupported("serialize_newtype_struct"))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Self::Ok, BuildError> {
        Err(unsupported("serialize_newtype_variant"))
    }
}

struct ListBuilder<'py> {
    items: Vec<Bound<'py, PyAny>>,
    builder: PyBuilder<'py>,
}

impl<'py> SerializeSeq for ListBuilder<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = BuildError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), BuildError> {
        self.items.push(value.serialize(self.builder)?);
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, BuildError> {
        Ok(PyList::new(self.builder.py, self.items)?.into_any())
    }
}

struct DictBuilder<'py> {
    dict: Bound<'py, PyDict>,
    /// A key given by `serialize_key`, waiting for its value.
    key: Option<Bound<'py, PyAny>>,
    builder: PyBuilder<'py>,
}

impl<'py> DictBuilder<'py> {
    fn key_builder(&self) -> PyBuilder<'py> {
        PyBuilder {
            as_key: true,
            ..self.builder
        }
    }
}

impl<'py> SerializeMap for DictBuilder<'py> {
    type Ok = Bound<'py, PyAny>;
    type Error = BuildError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), BuildError> {
        self.key = Some(key.serialize(self.key_builder())?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), BuildError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| BuildError(value_error("map value without a key")))?;
        self.dict.set_item(key, value.serialize(self.builder)?)?;
        Ok(())
    }

    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), BuildError> {
        let key = key.serialize(self.key_builder())?;
        self.dict.set_item(key, value.serialize(self.builder)?)?;
        Ok(())
    }

    fn end(self) -> Result<Self::Ok, BuildError> {
        Ok(self.dict.into_any())
    }
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

/// Refuses a Reason-Phrase the parser would refuse ([`is_reason_phrase`]).
pub(crate) fn check_reason_phrase(s: &str) -> PyResult<()> {
    if is_reason_phrase(s) {
        return Ok(());
    }
    Err(value_error(format!(
        "reason phrase {s:?} contains a control character"
    )))
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
    if !is_header_value(value) {
        return Err(value_error(format!(
            "header value {value:?} of {name} contains CR or LF"
        )));
    }
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
