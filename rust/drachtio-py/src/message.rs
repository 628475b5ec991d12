//! `SipMessage` and its two subclasses, `SipRequest` and `SipResponse`. Each
//! holds the core's parsed `Message`; typed header views are parsed from the
//! raw header values each time they are read, so `parse` costs no more than
//! the core parser plus one object.

use crate::convert::{check_reason_phrase, headers_arg, py_to_json, to_py};
use crate::errors::{value_error, IntoPyResult};
use crate::fields::{
    PyChallenge, PyCredentials, PyEvent, PyMediaType, PyRAck, PySessionExpires, PySubscriptionState,
};
use crate::views::{PyCSeq, PyNameAddr, PyUri, PyVia};
use bytes::Bytes;
use drachtio_sip::json;
use drachtio_sip::{
    Contact, HeaderName, Message, Method, OptionTags, Request, Response, Text, Uri,
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

fn wrap<T, P>(values: Vec<T>, f: impl FnMut(T) -> P) -> Vec<P> {
    values.into_iter().map(f).collect()
}

fn tags(tags: Option<OptionTags>) -> Vec<String> {
    tags.map_or_else(Vec::new, |t| t.iter().map(|t| t.to_string()).collect())
}

/// About what the JSON form of `msg` takes: twice its headers and body (the
/// form repeats parsed parts beside the raw values, and escapes CR LF), plus
/// room for the start line and the keys.
fn json_capacity(msg: &Message) -> usize {
    let headers: usize = msg
        .headers()
        .iter()
        .map(|h| h.name.as_str().len() + h.value.len() + 8)
        .sum();
    2 * (headers + msg.body().len()) + 512
}

fn body_arg(body: Option<&Bound<'_, PyBytes>>) -> Bytes {
    body.map_or_else(Bytes::new, |b| Bytes::copy_from_slice(b.as_bytes()))
}

impl PySipMessage {
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
        to_py(py, &json::JsonForm(&self.msg))
    }

    /// The JSON form of the message as UTF-8 JSON text, written directly
    /// (faster than serializing `to_dict()` for the wire).
    fn to_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        // Sized for the whole text up front: growing from serde_json's small
        // default buffer copies it several times over.
        let mut out = Vec::with_capacity(json_capacity(&self.msg));
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &json::JsonForm(&self.msg));
        PyBytes::new(py, &out)
    }

    /// Every Via value, top first (RFC 3261 §20.42).
    #[getter]
    fn vias(&self, py: Python<'_>) -> PyResult<Vec<PyVia>> {
        Ok(wrap(self.msg.vias().or_raise(py)?, |via| PyVia { via }))
    }

    /// The topmost Via value; only that value is parsed.
    #[getter]
    fn top_via(&self, py: Python<'_>) -> PyResult<Option<PyVia>> {
        Ok(self.msg.top_via().or_raise(py)?.map(|via| PyVia { via }))
    }

    /// The From header.
    #[getter]
    fn from_(&self, py: Python<'_>) -> PyResult<Option<PyNameAddr>> {
        Ok(self
            .msg
            .from_header()
            .or_raise(py)?
            .map(|addr| PyNameAddr { addr }))
    }

    /// The To header.
    #[getter]
    fn to(&self, py: Python<'_>) -> PyResult<Option<PyNameAddr>> {
        Ok(self
            .msg
            .to_header()
            .or_raise(py)?
            .map(|addr| PyNameAddr { addr }))
    }

    /// Every Contact address of all Contact lines, in order; empty for `Contact: *`.
    #[getter]
    fn contacts(&self, py: Python<'_>) -> PyResult<Vec<PyNameAddr>> {
        Ok(match self.msg.contact().or_raise(py)? {
            Some(Contact::Addresses(addrs)) => wrap(addrs, |addr| PyNameAddr { addr }),
            Some(Contact::Star) | None => Vec::new(),
        })
    }

    /// Whether the Contact is `*`: remove all bindings (RFC 3261 §10.2.2).
    #[getter]
    fn contact_is_star(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(matches!(
            self.msg.contact().or_raise(py)?,
            Some(Contact::Star)
        ))
    }

    /// The Call-ID.
    #[getter]
    fn call_id(&self) -> Option<&str> {
        self.msg.call_id().map(Text::as_str)
    }

    /// The CSeq header.
    #[getter]
    fn cseq(&self, py: Python<'_>) -> PyResult<Option<PyCSeq>> {
        Ok(self.msg.cseq().or_raise(py)?.map(|cseq| PyCSeq { cseq }))
    }

    /// Max-Forwards, 0 to 255.
    #[getter]
    fn max_forwards(&self, py: Python<'_>) -> PyResult<Option<u8>> {
        self.msg.max_forwards().or_raise(py)
    }

    /// Content-Length as written in the headers (`to_bytes` always writes the body's length).
    #[getter]
    fn content_length(&self, py: Python<'_>) -> PyResult<Option<usize>> {
        self.msg.content_length().or_raise(py)
    }

    /// Every Route value of all Route lines, in order.
    #[getter]
    fn route(&self, py: Python<'_>) -> PyResult<Vec<PyNameAddr>> {
        Ok(wrap(self.msg.route().or_raise(py)?, |addr| PyNameAddr {
            addr,
        }))
    }

    /// Every Record-Route value of all Record-Route lines, in order.
    #[getter]
    fn record_route(&self, py: Python<'_>) -> PyResult<Vec<PyNameAddr>> {
        Ok(wrap(self.msg.record_route().or_raise(py)?, |addr| {
            PyNameAddr { addr }
        }))
    }

    /// The Content-Type header.
    #[getter]
    fn content_type(&self, py: Python<'_>) -> PyResult<Option<PyMediaType>> {
        Ok(self
            .msg
            .content_type()
            .or_raise(py)?
            .map(|media| PyMediaType { media }))
    }

    /// The Expires header, in seconds.
    #[getter]
    fn expires(&self, py: Python<'_>) -> PyResult<Option<u32>> {
        self.msg.expires().or_raise(py)
    }

    /// The option tags of all Require lines, in order.
    #[getter]
    fn require(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(tags(self.msg.require().or_raise(py)?))
    }

    /// The option tags of all Supported lines, in order.
    #[getter]
    fn supported(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(tags(self.msg.supported().or_raise(py)?))
    }

    /// The option tags of all Proxy-Require lines, in order.
    #[getter]
    fn proxy_require(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(tags(self.msg.proxy_require().or_raise(py)?))
    }

    /// The option tags of all Unsupported lines, in order.
    #[getter]
    fn unsupported(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(tags(self.msg.unsupported().or_raise(py)?))
    }

    /// The RSeq header of a reliable provisional response (RFC 3262 §7.1).
    #[getter]
    fn rseq(&self, py: Python<'_>) -> PyResult<Option<u32>> {
        Ok(self.msg.rseq().or_raise(py)?.map(|r| r.0))
    }

    /// The RAck header of a PRACK (RFC 3262 §7.2).
    #[getter]
    fn rack(&self, py: Python<'_>) -> PyResult<Option<PyRAck>> {
        Ok(self.msg.rack().or_raise(py)?.map(|rack| PyRAck { rack }))
    }

    /// The Session-Expires header (RFC 4028 §4).
    #[getter]
    fn session_expires(&self, py: Python<'_>) -> PyResult<Option<PySessionExpires>> {
        Ok(self
            .msg
            .session_expires()
            .or_raise(py)?
            .map(|se| PySessionExpires { se }))
    }

    /// The Min-SE header in seconds (RFC 4028 §5); its parameters are left out.
    #[getter]
    fn min_se(&self, py: Python<'_>) -> PyResult<Option<u32>> {
        Ok(self.msg.min_se().or_raise(py)?.map(|m| m.delta))
    }

    /// Every Authorization value, one per line.
    #[getter]
    fn authorization(&self, py: Python<'_>) -> PyResult<Vec<PyCredentials>> {
        Ok(wrap(self.msg.authorization().or_raise(py)?, |creds| {
            PyCredentials { creds }
        }))
    }

    /// Every Proxy-Authorization value, one per line.
    #[getter]
    fn proxy_authorization(&self, py: Python<'_>) -> PyResult<Vec<PyCredentials>> {
        Ok(wrap(
            self.msg.proxy_authorization().or_raise(py)?,
            |creds| PyCredentials { creds },
        ))
    }

    /// Every WWW-Authenticate challenge, one per line.
    #[getter]
    fn www_authenticate(&self, py: Python<'_>) -> PyResult<Vec<PyChallenge>> {
        Ok(wrap(
            self.msg.www_authenticate().or_raise(py)?,
            |challenge| PyChallenge { challenge },
        ))
    }

    /// Every Proxy-Authenticate challenge, one per line.
    #[getter]
    fn proxy_authenticate(&self, py: Python<'_>) -> PyResult<Vec<PyChallenge>> {
        Ok(wrap(
            self.msg.proxy_authenticate().or_raise(py)?,
            |challenge| PyChallenge { challenge },
        ))
    }

    /// The Event header (RFC 6665 §8.2.1).
    #[getter]
    fn event(&self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        Ok(self
            .msg
            .event()
            .or_raise(py)?
            .map(|event| PyEvent { event }))
    }

    /// The Subscription-State header (RFC 6665 §8.2.3).
    #[getter]
    fn subscription_state(&self, py: Python<'_>) -> PyResult<Option<PySubscriptionState>> {
        Ok(self
            .msg
            .subscription_state()
            .or_raise(py)?
            .map(|sub| PySubscriptionState { sub }))
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
            check_reason_phrase(reason)?;
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
