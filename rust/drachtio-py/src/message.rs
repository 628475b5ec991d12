//! `SipMessage` and its two subclasses, `SipRequest` and `SipResponse`. Each
//! holds the core's parsed `Message`; typed header views are parsed from the
//! raw header values each time they are read, so `parse` costs no more than
//! the core parser plus one object.

use crate::convert::{check_line_text, headers_arg, json_to_py, py_to_json};
use crate::errors::{value_error, IntoPyResult};
use crate::views::{PyCSeq, PyNameAddr, PyUri, PyVia};
use bytes::Bytes;
use drachtio_sip::json;
use drachtio_sip::typed::{parse_content_length, parse_max_forwards};
use drachtio_sip::{
    CSeq, Contact, HeaderName, Message, Method, NameAddr, Request, Response, Text, Uri, Via,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

/// What `SipRequest` and `SipResponse` share. It cannot be instantiated.
#[pyclass(name = "SipMessage", module = "drachtio._core", frozen, subclass)]
#[derive(Debug)]
pub struct PySipMessage {
    pub(crate) msg: Message,
}

/// A SIP request.
#[pyclass(name = "SipRequest", module = "drachtio._core", frozen, extends = PySipMessage)]
#[derive(Debug)]
pub struct PySipRequest;

/// A SIP response.
#[pyclass(name = "SipResponse", module = "drachtio._core", frozen, extends = PySipMessage)]
#[derive(Debug)]
pub struct PySipResponse;

/// Wraps a core message in a `SipRequest` or `SipResponse`.
pub(crate) fn message_into_py(py: Python<'_>, msg: Message) -> PyResult<Bound<'_, PyAny>> {
    let is_request = msg.is_request();
    let init = PyClassInitializer::from(PySipMessage { msg });
    if is_request {
        Ok(Bound::new(py, init.add_subclass(PySipRequest))?.into_any())
    } else {
        Ok(Bound::new(py, init.add_subclass(PySipResponse))?.into_any())
    }
}

/// Builds a message from its JSON form; a `ValueError` names the bad part.
pub(crate) fn message_from_dict<'py>(
    py: Python<'py>,
    d: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let msg = json::from_json(&py_to_json(d)?).map_err(|e| value_error(e.to_string()))?;
    message_into_py(py, msg)
}

fn body_arg(body: Option<&Bound<'_, PyBytes>>) -> Bytes {
    body.map_or_else(Bytes::new, |b| Bytes::copy_from_slice(b.as_bytes()))
}

impl PySipMessage {
    fn values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a Text> + 'a {
        self.msg.headers().get_all(name)
    }

    fn name_addr(&self, py: Python<'_>, name: &HeaderName) -> PyResult<Option<PyNameAddr>> {
        self.msg
            .headers()
            .get(name)
            .map(|v| NameAddr::parse(v).map(|addr| PyNameAddr { addr }))
            .transpose()
            .or_raise(py)
    }

    fn name_addr_list(&self, py: Python<'_>, name: &HeaderName) -> PyResult<Vec<PyNameAddr>> {
        let mut out = Vec::new();
        for v in self.values(name) {
            for addr in NameAddr::parse_list(v).or_raise(py)? {
                out.push(PyNameAddr { addr });
            }
        }
        Ok(out)
    }

    fn request(&self) -> &Request {
        match &self.msg {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!("a SipRequest always holds a request"),
        }
    }

    fn response(&self) -> &Response {
        match &self.msg {
            Message::Response(r) => r,
            Message::Request(_) => unreachable!("a SipResponse always holds a response"),
        }
    }
}

#[pymethods]
impl PySipMessage {
    /// Messages are compared by value, and may not be hashed.
    #[classattr]
    const __hash__: Option<Py<PyAny>> = None;

    /// Whether this is a request.
    #[getter]
    fn is_request(&self) -> bool {
        self.msg.is_request()
    }

    /// Every header as `(name, value)`, in order; known names in their canonical
    /// long form (`v` becomes `Via`), others as received.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for h in self.msg.headers() {
            let pair = PyTuple::new(
                py,
                [
                    PyString::new(py, h.name.as_str()),
                    PyString::new(py, &h.value),
                ],
            )?;
            list.append(pair)?;
        }
        Ok(list)
    }

    /// The value of the first header named `name` (any case, long or compact form).
    fn header(&self, name: &str) -> Option<&str> {
        self.msg.header(name).map(Text::as_str)
    }

    /// The values of every header named `name`, one per header line.
    fn header_all(&self, name: &str) -> Vec<&str> {
        let name = HeaderName::new(name);
        self.msg
            .headers()
            .iter()
            .filter(|h| h.name == name)
            .map(|h| h.value.as_str())
            .collect()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.msg.headers().contains(&HeaderName::new(name))
    }

    /// The body.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.msg.body())
    }

    /// The message as bytes, Content-Length set from the body.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.msg.to_bytes())
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.to_bytes(py)
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.msg == other.msg
    }

    /// The JSON form of the message (`docs/json-form.md`) as Python objects.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &json::to_json(&self.msg))
    }

    /// Every Via value, top first (RFC 3261 §20.42).
    #[getter]
    fn vias(&self, py: Python<'_>) -> PyResult<Vec<PyVia>> {
        let mut out = Vec::new();
        for v in self.values(&HeaderName::Via) {
            for via in Via::parse_list(v).or_raise(py)? {
                out.push(PyVia { via });
            }
        }
        Ok(out)
    }

    /// The From header.
    #[getter]
    fn from_(&self, py: Python<'_>) -> PyResult<Option<PyNameAddr>> {
        self.name_addr(py, &HeaderName::From)
    }

    /// The To header.
    #[getter]
    fn to(&self, py: Python<'_>) -> PyResult<Option<PyNameAddr>> {
        self.name_addr(py, &HeaderName::To)
    }

    /// Every Contact address, in order; empty for `Contact: *`.
    #[getter]
    fn contacts(&self, py: Python<'_>) -> PyResult<Vec<PyNameAddr>> {
        let mut out = Vec::new();
        for v in self.values(&HeaderName::Contact) {
            if let Contact::Addresses(addrs) = Contact::parse(v).or_raise(py)? {
                out.extend(addrs.into_iter().map(|addr| PyNameAddr { addr }));
            }
        }
        Ok(out)
    }

    /// Whether a Contact is `*` (remove all bindings, RFC 3261 §10.2.2).
    #[getter]
    fn contact_is_star(&self) -> bool {
        self.values(&HeaderName::Contact)
            .any(|v| v.trim_matches([' ', '\t']) == "*")
    }

    /// The Call-ID.
    #[getter]
    fn call_id(&self) -> Option<&str> {
        self.msg
            .headers()
            .get(&HeaderName::CallId)
            .map(Text::as_str)
    }

    /// The CSeq header.
    #[getter]
    fn cseq(&self, py: Python<'_>) -> PyResult<Option<PyCSeq>> {
        self.msg
            .headers()
            .get(&HeaderName::CSeq)
            .map(|v| CSeq::parse(v).map(|cseq| PyCSeq { cseq }))
            .transpose()
            .or_raise(py)
    }

    /// Max-Forwards, 0 to 255.
    #[getter]
    fn max_forwards(&self, py: Python<'_>) -> PyResult<Option<u8>> {
        self.msg
            .headers()
            .get(&HeaderName::MaxForwards)
            .map(|v| parse_max_forwards(v))
            .transpose()
            .or_raise(py)
    }

    /// Content-Length as written in the headers (`to_bytes` always writes the body's length).
    #[getter]
    fn content_length(&self, py: Python<'_>) -> PyResult<Option<usize>> {
        self.msg
            .headers()
            .get(&HeaderName::ContentLength)
            .map(|v| parse_content_length(v))
            .transpose()
            .or_raise(py)
    }

    /// Every Route value, in order.
    #[getter]
    fn route(&self, py: Python<'_>) -> PyResult<Vec<PyNameAddr>> {
        self.name_addr_list(py, &HeaderName::Route)
    }

    /// Every Record-Route value, in order.
    #[getter]
    fn record_route(&self, py: Python<'_>) -> PyResult<Vec<PyNameAddr>> {
        self.name_addr_list(py, &HeaderName::RecordRoute)
    }
}

#[pymethods]
impl PySipRequest {
    #[new]
    #[pyo3(signature = (method, uri, headers = None, body = None),
           text_signature = "(method, uri, headers=(), body=b'')")]
    fn new(
        py: Python<'_>,
        method: &str,
        uri: &Bound<'_, PyAny>,
        headers: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyBytes>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let method = Method::parse(method).ok_or_else(|| {
            value_error(format!("method {method:?} is not a token (RFC 3261 §25.1)"))
        })?;
        let uri = match uri.cast::<PyUri>() {
            Ok(u) => u.get().uri.clone(),
            Err(_) => Uri::parse_str(uri.extract::<&str>()?).or_raise(py)?,
        };
        if uri.as_sip().is_some_and(|u| !u.headers.is_empty()) {
            return Err(value_error(
                "a Request-URI must not contain headers (RFC 3261 §19.1.1)",
            ));
        }
        let msg = Message::Request(Request {
            method,
            uri,
            headers: headers_arg(headers)?,
            body: body_arg(body),
        });
        Ok(PyClassInitializer::from(PySipMessage { msg }).add_subclass(PySipRequest))
    }

    /// The method (case-sensitive, RFC 3261 §7.1).
    #[getter]
    fn method<'a>(slf: &'a Bound<'_, Self>) -> &'a str {
        slf.as_super().get().request().method.as_str()
    }

    /// The Request-URI.
    #[getter]
    fn uri(slf: &Bound<'_, Self>) -> PyUri {
        PyUri {
            uri: slf.as_super().get().request().uri.clone(),
        }
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let r = slf.as_super().get().request();
        format!("<SipRequest {} {}>", r.method, r.uri)
    }
}

#[pymethods]
impl PySipResponse {
    #[new]
    #[pyo3(signature = (status, reason = None, headers = None, body = None),
           text_signature = "(status, reason=None, headers=(), body=b'')")]
    fn new(
        status: i64,
        reason: Option<&str>,
        headers: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyBytes>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let status = u16::try_from(status)
            .ok()
            .filter(|s| (100..=699).contains(s))
            .ok_or_else(|| value_error(format!("status {status} is not in 100..699")))?;
        let mut response = Response::new(status);
        if let Some(reason) = reason {
            check_line_text("reason phrase", reason)?;
            response.reason = Text::from(reason);
        }
        response.headers = headers_arg(headers)?;
        response.body = body_arg(body);
        let msg = Message::Response(response);
        Ok(PyClassInitializer::from(PySipMessage { msg }).add_subclass(PySipResponse))
    }

    /// The status code, 100 to 699.
    #[getter]
    fn status(slf: &Bound<'_, Self>) -> u16 {
        slf.as_super().get().response().status
    }

    /// The reason phrase (may be empty).
    #[getter]
    fn reason<'a>(slf: &'a Bound<'_, Self>) -> &'a str {
        slf.as_super().get().response().reason.as_str()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let r = slf.as_super().get().response();
        format!("<SipResponse {} {}>", r.status, r.reason)
    }
}
