//! The proxy core's rules (`drachtio_sip::proxy`, RFC 3261 §16) for the
//! server's proxy: the checks and edits of a forwarded request and of the
//! responses sent back, and `ProxyContext`, the response context of one
//! proxied request, run on times the caller passes in (see
//! `docs/routing.md`).

use crate::message::{message_into_py, PySipRequest, PySipResponse};
use drachtio_sip::proxy::{
    forward, preprocess_route, upstream_response, validate, ContextAction, Forwarding,
    ResponseContext,
};
use drachtio_sip::transaction::{ClientTxId, Transport};
use drachtio_sip::{Message, Request, Response, Uri};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use pyo3::IntoPyObjectExt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn request_of(request: &Bound<'_, PySipRequest>) -> Request {
    match &request.as_super().get().msg {
        Message::Request(r) => r.clone(),
        Message::Response(_) => unreachable!("a SipRequest always holds a request"),
    }
}

fn response_of(response: &Bound<'_, PySipResponse>) -> Response {
    match &response.as_super().get().msg {
        Message::Response(r) => r.clone(),
        Message::Request(_) => unreachable!("a SipResponse always holds a response"),
    }
}

/// The checks of §16.3 on a request to forward, in order: `None` when it
/// may be forwarded, else `(status, detail)`: 400 with the malformed
/// header's name, 416, 483, 482, or 420 with the Proxy-Require option tags
/// not supported. `sent_by` lists the `host:port` this server writes in its
/// Via (one per listener), for loop detection.
#[pyfunction]
fn proxy_check(
    request: &Bound<'_, PySipRequest>,
    sent_by: Vec<String>,
    supported: Vec<String>,
) -> Option<(u16, Vec<String>)> {
    let request = request_of(request);
    let mut first = None;
    let ours = if sent_by.is_empty() {
        vec![String::new()]
    } else {
        sent_by
    };
    for sent_by in &ours {
        match validate(&request, sent_by, &supported) {
            Err(r) if r.status() == 482 => {
                first = Some(Err(r));
                break;
            }
            r => {
                first.get_or_insert(r);
            }
        }
    }
    let refusal = first?.err()?;
    let detail = match &refusal {
        drachtio_sip::proxy::Refusal::BadHeader(name) => vec![name.to_string()],
        drachtio_sip::proxy::Refusal::BadExtension(tags) => {
            tags.iter().map(|t| t.to_string()).collect()
        }
        _ => Vec::new(),
    };
    Some((refusal.status(), detail))
}

/// The copy of `request` to forward to `target` (§16.4, §16.6): a first
/// Route naming one of `own` (`(host, port)`) removed, the Request-URI set
/// to `target` (kept when `None`), Max-Forwards decremented, `Record-Route:
/// <record_route;lr>` on top when given, and a Via with `branch` followed by
/// the loop-detection part. The stack sets the Via's transport and sent-by
/// when it sends the request.
#[pyfunction]
#[pyo3(signature = (request, target, branch, own, record_route = None))]
fn proxy_forward<'py>(
    py: Python<'py>,
    request: &Bound<'py, PySipRequest>,
    target: Option<&str>,
    branch: &str,
    own: Vec<(String, u16)>,
    record_route: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut received = request_of(request);
    let target = target
        .map(|t| {
            Uri::parse_str(t)
                .map_err(|e| PyValueError::new_err(format!("target {t:?} is not a URI: {e}")))
        })
        .transpose()?;
    preprocess_route(&mut received, |uri| {
        own.iter().any(|(host, port)| {
            uri.host.text.eq_ignore_ascii_case(host) && uri.port.unwrap_or(5060) == *port
        })
    });
    let out = forward(
        &received,
        &Forwarding {
            target,
            transport: Transport::Udp,
            sent_by: "0.0.0.0",
            branch,
            record_route,
        },
    );
    message_into_py(py, Message::Request(out))
}

/// The response to send upstream (§16.7 step 3): the top Via, ours, removed;
/// `None` when no Via is left (the response was for this server).
#[pyfunction]
fn proxy_upstream_response<'py>(
    py: Python<'py>,
    response: &Bound<'py, PySipResponse>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    upstream_response(response_of(response))
        .map(|r| message_into_py(py, Message::Response(r)))
        .transpose()
}

/// The response context of one proxied request (§16.7): its branches, the
/// best response, the CANCEL of the others, Timer C. Sans-IO: every call
/// takes `now`, seconds on the caller's monotonic clock; branches are
/// numbered by the caller. What it asks for comes out of `poll_actions` as
/// `("forward", SipResponse)`, `("respond", status)` or `("cancel", branch)`.
#[pyclass(name = "ProxyContext", module = "drachtio._core", frozen)]
#[derive(Debug)]
pub struct PyProxyContext {
    inner: Mutex<Clock>,
}

#[derive(Debug)]
struct Clock {
    context: ResponseContext,
    /// The caller's `now` at creation and the instant it stands for.
    origin: (f64, Instant),
}

impl Clock {
    fn instant(&self, now: f64) -> Instant {
        let (t0, i0) = self.origin;
        i0 + Duration::try_from_secs_f64(now - t0).unwrap_or(Duration::ZERO)
    }

    fn seconds(&self, at: Instant) -> f64 {
        let (t0, i0) = self.origin;
        t0 + at.saturating_duration_since(i0).as_secs_f64()
    }
}

#[pymethods]
impl PyProxyContext {
    /// A context for an INVITE (`invite`) or another request, created at
    /// `now`. `timer_c` is Timer C in seconds (over 180; 185 by default).
    #[new]
    #[pyo3(signature = (invite, now, timer_c = 185.0))]
    fn new(invite: bool, now: f64, timer_c: f64) -> PyResult<Self> {
        let timer_c = Duration::try_from_secs_f64(timer_c)
            .ok()
            .filter(|d| *d > drachtio_sip::proxy::TimerC::MIN)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "timer_c must be over 180 seconds (RFC 3261 §16.6), not {timer_c}"
                ))
            })?;
        Ok(PyProxyContext {
            inner: Mutex::new(Clock {
                context: ResponseContext::new(invite, timer_c),
                origin: (now, Instant::now()),
            }),
        })
    }

    /// Branch `branch` was sent at `now`; `False` when the search is over.
    fn add_branch(&self, branch: u64, now: f64) -> bool {
        let mut c = self.lock();
        let at = c.instant(now);
        c.context.add_branch(at, ClientTxId(branch))
    }

    /// No branch will be added: the best response goes upstream once every
    /// branch has its final response.
    fn close(&self) {
        self.lock().context.close();
    }

    /// A response (as received, our Via on top) of branch `branch` at `now`.
    fn on_response(&self, branch: u64, response: &Bound<'_, PySipResponse>, now: f64) {
        let mut c = self.lock();
        let at = c.instant(now);
        c.context
            .on_response(at, ClientTxId(branch), response_of(response));
    }

    /// Branch `branch` ended without a response: `status` stands for it
    /// (503 when it could not be sent, 408 when it timed out).
    fn on_branch_failure(&self, branch: u64, status: u16) {
        self.lock()
            .context
            .on_branch_failure(ClientTxId(branch), status);
    }

    /// The caller cancelled the request (§16.10).
    fn on_cancel(&self) {
        self.lock().context.on_cancel_received();
    }

    /// Timer C of the branches, at `now`.
    fn handle_timeout(&self, now: f64) {
        let mut c = self.lock();
        let at = c.instant(now);
        c.context.handle_timeout(at);
    }

    /// When `handle_timeout` is next due, or `None`.
    fn poll_timeout(&self) -> Option<f64> {
        let c = self.lock();
        c.context.poll_timeout().map(|at| c.seconds(at))
    }

    /// Whether a final response went upstream and no branch is pending.
    #[getter]
    fn is_done(&self) -> bool {
        self.lock().context.is_done()
    }

    /// What the context asks for, oldest first.
    fn poll_actions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let mut c = self.lock();
        while let Some(action) = c.context.poll_action() {
            let item = match action {
                ContextAction::Forward(r) => {
                    ("forward", message_into_py(py, Message::Response(r))?).into_bound_py_any(py)?
                }
                ContextAction::Respond(status) => ("respond", status).into_bound_py_any(py)?,
                ContextAction::CancelBranch(id) => ("cancel", id.0).into_bound_py_any(py)?,
            };
            list.append(item)?;
        }
        Ok(list)
    }
}

impl PyProxyContext {
    fn lock(&self) -> std::sync::MutexGuard<'_, Clock> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Registers the proxy functions and `ProxyContext` as attributes (the
/// server uses them; the `drachtio` package does not re-export them).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.setattr("ProxyContext", m.py().get_type::<PyProxyContext>())?;
    m.setattr("proxy_check", wrap_pyfunction!(proxy_check, m)?)?;
    m.setattr("proxy_forward", wrap_pyfunction!(proxy_forward, m)?)?;
    m.setattr(
        "proxy_upstream_response",
        wrap_pyfunction!(proxy_upstream_response, m)?,
    )?;
    Ok(())
}
