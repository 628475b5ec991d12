//! Read-only typed views of header values and URIs. Each wraps the core's
//! parsed value (which shares the message's buffer) and converts a part to a
//! Python object only when it is read.

use crate::errors::{value_error, IntoPyResult};
use drachtio_sip::uri::find_param;
use drachtio_sip::{CSeq, Method, NameAddr, Param, Text, Transport, Uri, Via};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

pub(crate) type ParamList<'a> = Vec<(&'a str, Option<&'a str>)>;

pub(crate) fn param_list(params: &[Param]) -> ParamList<'_> {
    params
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_deref()))
        .collect()
}

/// A parameter's value; `""` for a flag parameter such as `lr`.
pub(crate) fn param_value<'a>(params: &'a [Param], name: &str) -> Option<&'a str> {
    find_param(params, name).map(|v| v.map_or("", Text::as_str))
}

pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// `Name('text')`, quoting `text` the way Python's `repr` does.
pub(crate) fn repr_call(py: Python<'_>, name: &str, text: &str) -> PyResult<String> {
    Ok(format!("{name}({})", PyString::new(py, text).repr()?))
}

/// Generates the `#[pymethods]` block of a read-only view wrapping a core
/// value in field `$field`: the given methods plus `__str__` (the header value
/// as the core writes it), `__repr__`, `__eq__` and a `__hash__` consistent with it.
macro_rules! view_methods {
    ($ty:ident, $field:ident, $pyname:literal, { $($methods:tt)* }) => {
        #[pymethods]
        impl $ty {
            $($methods)*

            fn __str__(&self) -> String {
                self.$field.to_string()
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                $crate::views::repr_call(py, $pyname, &self.$field.to_string())
            }

            fn __eq__(&self, other: &Self) -> bool {
                self.$field == other.$field
            }

            fn __hash__(&self) -> u64 {
                $crate::views::hash_str(&self.$field.to_string())
            }
        }
    };
}
pub(crate) use view_methods;

/// A URI: `sip:`/`sips:` (RFC 3261 §19.1), `tel:` (RFC 3966) or any other
/// scheme, kept as written. Two URIs are equal when they are written the same.
#[pyclass(name = "Uri", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PyUri {
    pub(crate) uri: Uri,
}

view_methods!(PyUri, uri, "Uri", {
    #[new]
    fn new(py: Python<'_>, value: &str) -> PyResult<Self> {
        Ok(PyUri {
            uri: Uri::parse_str(value).or_raise(py)?,
        })
    }

    /// `sip`, `sips`, `tel`, or the scheme as written.
    #[getter]
    fn scheme(&self) -> &str {
        self.uri.scheme()
    }

    /// The user part of a SIP URI, `%` escapes kept.
    #[getter]
    fn user(&self) -> Option<&str> {
        self.uri.as_sip().and_then(|u| u.user.as_deref())
    }

    /// The user part with `%` escapes decoded; bytes, since it may hold any byte.
    #[getter]
    fn user_unescaped<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.uri
            .as_sip()
            .and_then(|u| u.user_unescaped())
            .map(|b| PyBytes::new(py, &b))
    }

    /// The password of a SIP URI, `%` escapes kept.
    #[getter]
    fn password(&self) -> Option<&str> {
        self.uri.as_sip().and_then(|u| u.password.as_deref())
    }

    /// The host of a SIP URI; an IPv6 address without its brackets.
    #[getter]
    fn host(&self) -> Option<&str> {
        self.uri.as_sip().map(|u| u.host.text.as_str())
    }

    /// The port of a SIP URI, if written.
    #[getter]
    fn port(&self) -> Option<u16> {
        self.uri.as_sip().and_then(|u| u.port)
    }

    /// The parameters in order; the value is `None` for a flag such as `lr`.
    #[getter]
    fn params(&self) -> ParamList<'_> {
        match &self.uri {
            Uri::Sip(u) => param_list(&u.params),
            Uri::Tel(t) => param_list(&t.params),
            Uri::Other { .. } => Vec::new(),
        }
    }

    /// The headers of a SIP URI (`?subject=x&priority=urgent`).
    #[getter]
    fn headers(&self) -> Vec<(&str, &str)> {
        self.uri.as_sip().map_or_else(Vec::new, |u| {
            u.headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect()
        })
    }

    /// The number of a `tel:` URI, as written.
    #[getter]
    fn number(&self) -> Option<&str> {
        match &self.uri {
            Uri::Tel(t) => Some(t.number.as_str()),
            _ => None,
        }
    }

    /// The `transport` parameter of a SIP URI, lower-cased.
    #[getter]
    fn transport(&self) -> Option<String> {
        self.uri.as_sip().and_then(|u| u.transport())
    }

    /// The transport of a request sent to this SIP URI, lower-cased: its
    /// `transport` parameter, else `"udp"` (`"tls"` for `sips:`); `None`
    /// for another scheme. Raises `ValueError` for an unknown transport or
    /// a `sips:` URI with `transport=udp`.
    #[getter]
    fn next_hop_transport(&self) -> PyResult<Option<&'static str>> {
        self.hop_transport().map(|t| t.map(Transport::name))
    }

    /// The port of a request sent to this SIP URI: its port, else the
    /// default of `next_hop_transport` (5060, 5061 for TLS...).
    #[getter]
    fn next_hop_port(&self) -> PyResult<Option<u16>> {
        let Some(transport) = self.hop_transport()? else {
            return Ok(None);
        };
        Ok(self
            .uri
            .as_sip()
            .map(|u| u.port.unwrap_or(transport.default_port())))
    }

    /// A parameter's value (any case): `""` for a flag, `None` when absent.
    fn param(&self, name: &str) -> Option<&str> {
        match &self.uri {
            Uri::Sip(u) => param_value(&u.params, name),
            Uri::Tel(t) => param_value(&t.params, name),
            Uri::Other { .. } => None,
        }
    }
});

impl PyUri {
    fn hop_transport(&self) -> PyResult<Option<Transport>> {
        self.uri
            .as_sip()
            .map(|u| Transport::of_uri(u).map_err(|e| PyValueError::new_err(e.to_string())))
            .transpose()
    }
}

/// One Via value (RFC 3261 §20.42).
#[pyclass(name = "Via", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PyVia {
    pub(crate) via: Via,
}

view_methods!(PyVia, via, "Via", {
    #[new]
    fn new(py: Python<'_>, value: &str) -> PyResult<Self> {
        Ok(PyVia {
            via: Via::parse(&Text::from(value)).or_raise(py)?,
        })
    }

    /// `SIP/2.0/UDP`, without the whitespace the message may have had.
    #[getter]
    fn protocol(&self) -> String {
        self.via.protocol()
    }

    /// The transport as written: `UDP`, `TCP`, `TLS`, `SCTP`, `WS`...
    #[getter]
    fn transport(&self) -> &str {
        &self.via.transport
    }

    /// The sent-by host; an IPv6 address without its brackets.
    #[getter]
    fn host(&self) -> &str {
        &self.via.host.text
    }

    /// The sent-by port, if written.
    #[getter]
    fn port(&self) -> Option<u16> {
        self.via.port
    }

    /// The branch parameter.
    #[getter]
    fn branch(&self) -> Option<&str> {
        self.via.branch().map(Text::as_str)
    }

    /// The received parameter (RFC 3261 §18.2.1).
    #[getter]
    fn received(&self) -> Option<&str> {
        self.via.received().map(Text::as_str)
    }

    /// The rport parameter (RFC 3581): the port when filled in, `True` when
    /// present without a value, `None` when absent.
    #[getter]
    fn rport<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(match self.via.rport() {
            None => None,
            Some(None) => Some(PyBool::new(py, true).to_owned().into_any()),
            Some(Some(port)) => Some(port.into_pyobject(py)?.into_any()),
        })
    }

    /// The maddr parameter.
    #[getter]
    fn maddr(&self) -> Option<&str> {
        self.via.maddr().map(Text::as_str)
    }

    /// The ttl parameter.
    #[getter]
    fn ttl(&self) -> Option<u8> {
        self.via.ttl()
    }

    /// The parameters in order; the value is `None` for a flag.
    #[getter]
    fn params(&self) -> ParamList<'_> {
        param_list(&self.via.params)
    }

    /// A parameter's value (any case): `""` for a flag, `None` when absent.
    fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.via.params, name)
    }
});

/// A name-addr or addr-spec with header parameters: one value of From, To,
/// Contact, Route, Record-Route (RFC 3261 §20).
#[pyclass(name = "NameAddr", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PyNameAddr {
    pub(crate) addr: NameAddr,
}

view_methods!(PyNameAddr, addr, "NameAddr", {
    #[new]
    fn new(py: Python<'_>, value: &str) -> PyResult<Self> {
        Ok(PyNameAddr {
            addr: NameAddr::parse(&Text::from(value)).or_raise(py)?,
        })
    }

    /// The display name without its quotes and escapes; `None` when absent.
    #[getter]
    fn display_name(&self) -> Option<String> {
        self.addr.display_name()
    }

    /// The URI.
    #[getter]
    fn uri(&self) -> PyUri {
        PyUri {
            uri: self.addr.uri.clone(),
        }
    }

    /// The tag parameter.
    #[getter]
    fn tag(&self) -> Option<&str> {
        self.addr.tag().map(Text::as_str)
    }

    /// The q parameter of a Contact; `None` if absent or not a number.
    #[getter]
    fn q(&self) -> Option<f64> {
        // Parsed here as f64: the core's f32 would show 0.33 as 0.33000001311.
        self.addr
            .param("q")
            .flatten()
            .and_then(|v| v.parse::<f64>().ok())
    }

    /// The expires parameter of a Contact; `None` if absent or not a 32-bit number.
    #[getter]
    fn expires(&self) -> Option<u32> {
        self.addr.expires()
    }

    /// The parameters in order; the value is `None` for a flag.
    #[getter]
    fn params(&self) -> ParamList<'_> {
        param_list(&self.addr.params)
    }

    /// A parameter's value (any case): `""` for a flag, `None` when absent.
    fn param(&self, name: &str) -> Option<&str> {
        param_value(&self.addr.params, name)
    }
});

/// The CSeq header: a sequence number and a method (RFC 3261 §20.16).
#[pyclass(name = "CSeq", module = "drachtio._core", frozen)]
#[derive(Debug, Clone)]
pub struct PyCSeq {
    pub(crate) cseq: CSeq,
}

#[pymethods]
impl PyCSeq {
    #[new]
    fn new(seq: u32, method: &str) -> PyResult<Self> {
        let method = Method::parse(method)
            .ok_or_else(|| value_error(format!("method {method:?} is not a token")))?;
        Ok(PyCSeq {
            cseq: CSeq { seq, method },
        })
    }

    /// The sequence number.
    #[getter]
    fn seq(&self) -> u32 {
        self.cseq.seq
    }

    /// The method.
    #[getter]
    fn method(&self) -> &str {
        self.cseq.method.as_str()
    }

    fn __str__(&self) -> String {
        self.cseq.to_string()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "CSeq({}, {})",
            self.cseq.seq,
            PyString::new(py, self.cseq.method.as_str()).repr()?
        ))
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.cseq == other.cseq
    }

    fn __hash__(&self) -> u64 {
        hash_str(&self.cseq.to_string())
    }
}
