//! The bridge to `drachtio-io`: `_SipStack` (driven by `drachtio.stack.SipStack`
//! on an asyncio loop) and the event classes it hands up.
//!
//! The stack runs on its own thread and never takes the GIL. Its `notify`
//! callback writes one byte to a non-blocking socket pair; Python watches the
//! other end with `loop.add_reader` and then drains the queued events in
//! batches, each batch converted to Python objects here (see `docs/bridge.md`).

use crate::message::{message_into_py, PySipMessage, PySipRequest, PySipResponse};
use drachtio_io::{
    CaptureConfig, ListenSpec, Stack, StackConfig, StackError, StackEvent, Stats, TlsConfig,
    UdpReader,
};
use drachtio_sip::routing::{Destination, RouteForm, Target};
use drachtio_sip::transaction::{
    ClientTxId, Config as TimerConfig, LocalError, Peer, Policy, ServerTxId, Transport, TxEvent,
    TxId,
};
use drachtio_sip::{Host, HostKind, Message, Request, Text};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use pyo3::IntoPyObjectExt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Defines a frozen event class with read-only attributes and a `__repr__`
/// listing them.
macro_rules! event_class {
    ($(#[doc = $doc:literal])* $ty:ident, $pyname:literal { $($field:ident : $fty:ty),* $(,)? }) => {
        $(#[doc = $doc])*
        #[pyclass(name = $pyname, module = "drachtio._core", frozen)]
        #[derive(Debug)]
        pub struct $ty {
            $( #[pyo3(get)] $field: $fty, )*
        }

        #[pymethods]
        impl $ty {
            #[allow(unused_variables)]
            fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
                let py = slf.py();
                let this = slf.get();
                let parts: Vec<String> = vec![$(
                    format!(
                        "{}={}",
                        stringify!($field),
                        (&this.$field).into_bound_py_any(py)?.repr()?
                    ),
                )*];
                Ok(format!("{}({})", $pyname, parts.join(", ")))
            }
        }
    };
}

event_class!(
    /// A new request (not ACK or CANCEL) in server transaction `tx_id`; answer
    /// it with `SipStack.respond`. An INVITE has already had its 100 Trying.
    PyRequestEvent, "RequestEvent" {
        tx_id: u64,
        request: Py<PyAny>,
        source: Py<PyAny>,
        local: Py<PyAny>,
    }
);

event_class!(
    /// A response in client transaction `tx_id`: each provisional response,
    /// the first final response, and the first 2xx of each To tag; `source`
    /// is where it came from, `(transport, ip, port)`.
    PyResponseEvent, "ResponseEvent" {
        tx_id: u64,
        response: Py<PyAny>,
        source: Py<PyAny>,
    }
);

event_class!(
    /// The ACK for a 2xx. `tx_id` is the INVITE server transaction it
    /// acknowledges (its 2xx retransmission has stopped), or `None` for an
    /// ACK that matched no transaction.
    PyAckEvent, "AckEvent" {
        tx_id: Option<u64>,
        request: Py<PyAny>,
        source: Py<PyAny>,
        local: Py<PyAny>,
    }
);

event_class!(
    /// A CANCEL matched INVITE server transaction `tx_id` before its final
    /// response: the stack has answered the CANCEL 200 and the INVITE 487.
    PyCancelEvent, "CancelEvent" {
        tx_id: u64,
        request: Py<PyAny>,
    }
);

event_class!(
    /// Transaction `tx_id` timed out (Timer B, F or H, or no final response
    /// 64*T1 after a CANCEL).
    PyTimeoutEvent, "TimeoutEvent" {
        tx_id: u64,
    }
);

event_class!(
    /// The 2xx of INVITE server transaction `tx_id` was retransmitted for
    /// 64*T1 without an ACK (RFC 3261 §13.3.1.4): end the call with a BYE.
    PyAckTimeoutEvent, "AckTimeoutEvent" {
        tx_id: u64,
    }
);

event_class!(
    /// The reliable provisional response of INVITE server transaction
    /// `tx_id` was retransmitted for 64*T1 without a PRACK (RFC 3262 §3):
    /// answer the INVITE 5xx.
    PyPrackTimeoutEvent, "PrackTimeoutEvent" {
        tx_id: u64,
    }
);

event_class!(
    /// A message could not be sent. With a `tx_id`, that transaction has
    /// ended; with `None`, a message outside a transaction was lost.
    PyTransportErrorEvent, "TransportErrorEvent" {
        tx_id: Option<u64>,
        dest: Option<Py<PyAny>>,
        reason: String,
    }
);

event_class!(
    /// A received message failed to parse (or to frame, on TCP); `answered`
    /// is the status the stack sent back, if it could answer.
    PyMalformedEvent, "MalformedEvent" {
        source: Py<PyAny>,
        local: Py<PyAny>,
        kind: String,
        reason: String,
        answered: Option<u16>,
    }
);

event_class!(
    /// A WebSocket connection (`ws`, `wss`) from `source` ended after its
    /// upgrade; the names its client gave no longer reach it.
    PyConnectionClosedEvent, "ConnectionClosedEvent" {
        source: Py<PyAny>,
        local: Py<PyAny>,
        reason: String,
    }
);

event_class!(
    /// The stack has stopped and its sockets are closed: the last event.
    PyClosedEvent, "ClosedEvent" {}
);

/// The I/O stack with its wake-up socket. Private: `drachtio.SipStack` wraps
/// it on an asyncio loop.
#[pyclass(name = "_SipStack", module = "drachtio._core", frozen)]
#[derive(Debug)]
pub struct PyStack {
    stack: Stack,
    wakeup: UnixStream,
}

#[pymethods]
impl PyStack {
    #[new]
    #[pyo3(signature = (listen, *, t1 = 0.5, t2 = 4.0, t4 = 5.0, tcp_idle_timeout = 180.0,
                        max_tcp_connections = 1024, max_tcp_connections_per_ip = 64,
                        max_tcp_outbound = 1024, tcp_message_timeout = 20.0,
                        event_queue_capacity = 10_000,
                        udp_recv_buffer = 4_194_304, supported = None,
                        receive_on_loop = false, tls_certificate = None, tls_key = None,
                        tls_ca = None, tls_client_ca = None, tls_system_roots = false,
                        capture = None, capture_id = 0,
                        capture_password = None, nameservers = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        listen: Vec<String>,
        t1: f64,
        t2: f64,
        t4: f64,
        tcp_idle_timeout: f64,
        max_tcp_connections: usize,
        max_tcp_connections_per_ip: usize,
        max_tcp_outbound: usize,
        tcp_message_timeout: f64,
        event_queue_capacity: usize,
        udp_recv_buffer: usize,
        supported: Option<Vec<String>>,
        receive_on_loop: bool,
        tls_certificate: Option<PathBuf>,
        tls_key: Option<PathBuf>,
        tls_ca: Option<PathBuf>,
        tls_client_ca: Option<PathBuf>,
        tls_system_roots: bool,
        capture: Option<(String, u16)>,
        capture_id: u32,
        capture_password: Option<String>,
        nameservers: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let nameservers = nameservers
            .unwrap_or_default()
            .iter()
            .map(|s| parse_nameserver(s))
            .collect::<PyResult<Vec<_>>>()?;
        let listen = listen
            .iter()
            .map(|s| parse_listen(s))
            .collect::<PyResult<Vec<_>>>()?;
        if event_queue_capacity == 0 {
            return Err(PyValueError::new_err(
                "event_queue_capacity must be at least 1",
            ));
        }
        let capture = match capture {
            None => None,
            Some((host, port)) => Some(CaptureConfig {
                collector: collector_address(&host, port)?,
                agent_id: capture_id,
                password: capture_password,
            }),
        };
        let config = StackConfig {
            listen,
            timers: TimerConfig {
                t1: seconds("t1", t1)?,
                t2: seconds("t2", t2)?,
                t4: seconds("t4", t4)?,
                supported: supported.unwrap_or_default(),
                policy: Policy::UserAgent,
                seed: None,
            },
            tcp_idle_timeout: seconds("tcp_idle_timeout", tcp_idle_timeout)?,
            max_tcp_connections,
            max_tcp_connections_per_ip,
            max_tcp_outbound,
            tcp_message_timeout: seconds("tcp_message_timeout", tcp_message_timeout)?,
            event_queue_capacity,
            udp_recv_buffer,
            udp_reader: if receive_on_loop {
                UdpReader::Caller
            } else {
                UdpReader::StackThread
            },
            tls: TlsConfig {
                certificate: tls_certificate,
                key: tls_key,
                ca: tls_ca,
                client_ca: tls_client_ca,
                system_roots: tls_system_roots,
            },
            capture,
            nameservers,
            ..StackConfig::default()
        };
        let (wakeup, ring) = UnixStream::pair().map_err(os_error)?;
        wakeup.set_nonblocking(true).map_err(os_error)?;
        ring.set_nonblocking(true).map_err(os_error)?;
        // Runs on the stack's thread: never blocks and never touches Python.
        // WouldBlock means bytes are already pending, which is wake-up enough.
        let notify = Arc::new(move || {
            let _ = (&ring).write(&[1]);
        });
        let stack = Stack::start(config, notify).map_err(os_error)?;
        Ok(PyStack { stack, wakeup })
    }

    /// The file descriptor that becomes readable when events are queued.
    #[getter]
    fn wakeup_fd(&self) -> i32 {
        self.wakeup.as_raw_fd()
    }

    /// Reads every pending wake-up byte (call before draining).
    fn _clear_wakeup(&self) {
        let mut buf = [0u8; 256];
        loop {
            match (&self.wakeup).read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => return,
            }
        }
    }

    /// The descriptor of each UDP socket, in `_receive_udp`'s numbering
    /// (`receive_on_loop`: the loop watches duplicates of them).
    fn _udp_fds(&self) -> Vec<i32> {
        self.stack
            .udp_sockets()
            .into_iter()
            .map(|(_, fd)| fd)
            .collect()
    }

    /// `receive_on_loop`: reads what UDP socket `index` holds (a batch at
    /// most), hands it to the transaction layer and sends what it produces;
    /// drain the events next. The count of datagrams read, or `None` once
    /// the stack has closed its sockets.
    fn _receive_udp(&self, index: usize) -> Option<usize> {
        self.stack.receive_udp(index)
    }

    /// Takes up to `max` queued events, oldest first, as Python objects. The
    /// wake-up fires again only once the queue has been emptied: drain until
    /// fewer than `max` come back.
    fn _drain<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyList>> {
        let events = self.stack.drain_events(max);
        let list = PyList::empty(py);
        for event in events {
            list.append(event_into_py(py, event)?)?;
        }
        Ok(list)
    }

    /// The `(host, port)` the stack names itself with toward `dest` over
    /// `transport`, from the listener bound to `local` if given (NAT:
    /// `Stack::advertised`).
    #[pyo3(signature = (transport, local = None, dest = None))]
    fn advertised(
        &self,
        transport: &str,
        local: Option<(String, u16)>,
        dest: Option<String>,
    ) -> PyResult<(String, u16)> {
        let transport = parse_transport(transport)?;
        let local = match local {
            Some((ip, port)) => Some(SocketAddr::new(
                ip.parse()
                    .map_err(|_| PyValueError::new_err(format!("{ip:?} is not an IP address")))?,
                port,
            )),
            None => None,
        };
        let dest = dest.and_then(|d| d.trim_matches(['[', ']']).parse::<IpAddr>().ok());
        let sent_by = self.stack.advertised(transport, local, dest);
        let (host, port) = sent_by
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| PyValueError::new_err(format!("no port in {sent_by:?}")))?;
        Ok((host.trim_matches(['[', ']']).to_string(), port))
    }

    /// Every bound listener as `(transport, host, port)`, real ports included.
    #[getter]
    fn local_addresses<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        self.stack
            .local_addrs()
            .into_iter()
            .map(|(t, a)| peer_tuple(py, t, a))
            .collect()
    }

    /// Sends `response` in server transaction `tx_id`.
    fn respond(
        &self,
        py: Python<'_>,
        tx_id: u64,
        response: &Bound<'_, PySipResponse>,
    ) -> PyResult<()> {
        let response = match &response.as_super().get().msg {
            Message::Response(r) => r.clone(),
            Message::Request(_) => unreachable!("a SipResponse always holds a response"),
        };
        self.stack
            .respond(ServerTxId(tx_id), response)
            .map_err(|e| stack_error(py, e))
    }

    /// Starts a client transaction; returns its id. With `proxy`, on behalf
    /// of the proxy core (an INVITE's every 2xx is reported).
    #[pyo3(signature = (request, dest = None, *, proxy = false))]
    fn send_request(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PySipRequest>,
        dest: Option<(String, String, u16)>,
        proxy: bool,
    ) -> PyResult<u64> {
        let dest = dest.map(parse_dest).transpose()?;
        let policy = if proxy {
            Policy::Proxy
        } else {
            Policy::UserAgent
        };
        self.stack
            .send_request_as(request_of(request), dest, policy)
            .map(|id| id.0)
            .map_err(|e| stack_error(py, e))
    }

    /// Server transaction `tx_id` is answered by the proxy core from now on:
    /// no 2xx retransmission of its own, every 2xx forwarded.
    fn answer_as_proxy(&self, py: Python<'_>, tx_id: u64) -> PyResult<()> {
        self.stack
            .answer_as_proxy(ServerTxId(tx_id))
            .map_err(|e| stack_error(py, e))
    }

    /// Cancels INVITE client transaction `tx_id`; returns the CANCEL's id.
    fn cancel(&self, py: Python<'_>, tx_id: u64) -> PyResult<u64> {
        self.stack
            .cancel(ClientTxId(tx_id))
            .map(|id| id.0)
            .map_err(|e| stack_error(py, e))
    }

    /// Sends the ACK for a 2xx received in client transaction `tx_id`.
    #[pyo3(signature = (tx_id, ack, dest = None))]
    fn send_ack(
        &self,
        py: Python<'_>,
        tx_id: u64,
        ack: &Bound<'_, PySipRequest>,
        dest: Option<(String, String, u16)>,
    ) -> PyResult<()> {
        let dest = dest.map(parse_dest).transpose()?;
        self.stack
            .send_ack_for_2xx(ClientTxId(tx_id), request_of(ack), dest)
            .map_err(|e| stack_error(py, e))
    }

    /// Sends a request or response outside any transaction.
    #[pyo3(signature = (message, dest = None))]
    fn send_stateless(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PySipMessage>,
        dest: Option<(String, String, u16)>,
    ) -> PyResult<()> {
        let dest = dest.map(parse_dest).transpose()?;
        self.stack
            .send_stateless(message.get().msg.clone(), dest)
            .map_err(|e| stack_error(py, e))
    }

    /// A PRACK acknowledged reliable provisional response `rseq` of INVITE
    /// server transaction `tx_id` (RFC 3262 §3): its retransmission stops.
    /// Returns whether it was the one awaiting a PRACK.
    fn prack(&self, py: Python<'_>, tx_id: u64, rseq: u32) -> PyResult<bool> {
        self.stack
            .prack(ServerTxId(tx_id), rseq)
            .map_err(|e| stack_error(py, e))
    }

    /// A fresh tag for a From or To header.
    fn new_tag(&self) -> String {
        self.stack.new_tag()
    }

    /// The counters of the transport and of the transaction layer.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.stack.stats())
    }

    /// Loads the TLS certificate, key and authorities again, for the
    /// handshakes from now on; nothing changes on an error.
    #[pyo3(signature = (tls_certificate = None, tls_key = None, tls_ca = None,
                        tls_client_ca = None, tls_system_roots = false))]
    fn reload_tls(
        &self,
        tls_certificate: Option<PathBuf>,
        tls_key: Option<PathBuf>,
        tls_ca: Option<PathBuf>,
        tls_client_ca: Option<PathBuf>,
        tls_system_roots: bool,
    ) -> PyResult<()> {
        self.stack
            .reload_tls(&TlsConfig {
                certificate: tls_certificate,
                key: tls_key,
                ca: tls_ca,
                client_ca: tls_client_ca,
                system_roots: tls_system_roots,
            })
            .map_err(os_error)
    }

    /// Messages counted by label: `requests_received` and `requests_sent` by
    /// method, `responses_received` and `responses_sent` by status,
    /// `parse_errors` by kind; only labels counted at least once.
    fn message_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.stack.stats();
        let counts = &stats.transactions.messages;
        let d = PyDict::new(py);
        for (name, methods) in [
            ("requests_received", &counts.requests_received),
            ("requests_sent", &counts.requests_sent),
        ] {
            let by = PyDict::new(py);
            for (method, n) in methods.iter() {
                by.set_item(method, n)?;
            }
            d.set_item(name, by)?;
        }
        for (name, statuses) in [
            ("responses_received", &counts.responses_received),
            ("responses_sent", &counts.responses_sent),
        ] {
            let by = PyDict::new(py);
            for (status, n) in statuses.iter() {
                by.set_item(status.to_string(), n)?;
            }
            d.set_item(name, by)?;
        }
        let kinds = PyDict::new(py);
        for (kind, n) in stats.parse_errors_by_kind {
            kinds.set_item(kind, n)?;
        }
        d.set_item("parse_errors", kinds)?;
        Ok(d)
    }

    /// Starts a graceful close (see `drachtio.SipStack.close`); a
    /// `ClosedEvent` is queued when it ends. Idempotent.
    fn begin_close(&self, grace: f64) -> PyResult<()> {
        self.stack.begin_close(seconds_or_zero("grace", grace)?);
        Ok(())
    }

    /// Whether the stack has stopped.
    #[getter]
    fn is_closed(&self) -> bool {
        self.stack.is_closed()
    }
}

fn request_of(request: &Bound<'_, PySipRequest>) -> Request {
    match &request.as_super().get().msg {
        Message::Request(r) => r.clone(),
        Message::Response(_) => unreachable!("a SipRequest always holds a request"),
    }
}

/// An `OSError` with the errno set, as Python's own socket calls raise.
fn os_error(e: io::Error) -> PyErr {
    match e.raw_os_error() {
        Some(errno) => PyOSError::new_err((errno, e.to_string())),
        None => PyOSError::new_err(e.to_string()),
    }
}

fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    match Duration::try_from_secs_f64(value) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be a positive number of seconds, not {value}"
        ))),
    }
}

fn seconds_or_zero(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be a number of seconds >= 0, not {value}"
        ))
    })
}

/// A transport name in any case; `ValueError` when it is none.
pub(crate) fn parse_transport(name: &str) -> PyResult<Transport> {
    Transport::parse(name).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A DNS server: `"127.0.0.1"` (port 53), `"127.0.0.1:5353"`, `"::1"`,
/// `"[::1]:5353"`.
fn parse_nameserver(spec: &str) -> PyResult<SocketAddr> {
    if let Ok(ip) = spec.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    spec.parse().map_err(|_| {
        PyValueError::new_err(format!(
            "name server {spec:?} is not an IP address, IP:PORT or [IPv6]:PORT"
        ))
    })
}

/// `"udp:127.0.0.1:5060"`, `"tcp:[::1]:0"`, with NAT parameters
/// (`;external=HOST[:PORT]`, `;local-net=ADDRESS/PREFIX`).
fn parse_listen(spec: &str) -> PyResult<ListenSpec> {
    ListenSpec::parse(spec).map_err(PyValueError::new_err)
}

/// Checks a listen spec as the stack would read it: `(transport, host,
/// port)`, or `ValueError` saying what is wrong.
#[pyfunction]
#[pyo3(name = "_parse_listen")]
pub(crate) fn py_parse_listen(spec: &str) -> PyResult<(String, String, u16)> {
    let listen = parse_listen(spec)?;
    Ok((
        listen.transport.name().to_string(),
        listen.addr.ip().to_string(),
        listen.addr.port(),
    ))
}

/// `("udp", "127.0.0.1", 5060)`, `("tcp", "::1", 5060)` or
/// `("udp", "proxy.example.com", 5060)`: an IP address, or a host name the
/// stack resolves before sending.
fn parse_dest((transport, host, port): (String, String, u16)) -> PyResult<Destination> {
    let transport = parse_transport(&transport)?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&host);
    let target = match bare.parse::<IpAddr>() {
        Ok(ip) => Target::Addr(SocketAddr::new(ip, port)),
        Err(_) => match Host::parse(&Text::from(host.as_str())) {
            Ok(h) if h.kind == HostKind::Domain => Target::Name(h.text.to_string(), port),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "destination host {host:?} is neither an IP address nor a host name"
                )))
            }
        },
    };
    Ok(Destination { transport, target })
}

/// The next hop of `request` (RFC 3261 §8.1.2) as a destination
/// `(transport, host, port)`: its first Route, else its Request-URI; with
/// `strict_router`, its Request-URI (the request was formed for a strict
/// router first in its route set, §12.2.1.1). The host is an IP address or a
/// name to resolve. Raises `drachtio.LocalError` when there is none.
#[pyfunction]
#[pyo3(signature = (request, strict_router = false))]
fn next_hop(
    py: Python<'_>,
    request: &Bound<'_, PySipRequest>,
    strict_router: bool,
) -> PyResult<(String, String, u16)> {
    let form = if strict_router {
        RouteForm::StrictRouter
    } else {
        RouteForm::Loose
    };
    let dest = drachtio_io::next_hop(&request_of(request), form).map_err(|e| stack_error(py, e))?;
    let (host, port) = match dest.target {
        Target::Addr(addr) => (addr.ip().to_string(), addr.port()),
        Target::Name(name, port) => (name, port),
    };
    Ok((dest.transport.as_str().to_ascii_lowercase(), host, port))
}

fn peer_tuple(
    py: Python<'_>,
    transport: Transport,
    addr: SocketAddr,
) -> PyResult<Bound<'_, PyTuple>> {
    (transport.name(), addr.ip().to_string(), addr.port()).into_pyobject(py)
}

fn addr_tuple(py: Python<'_>, addr: SocketAddr) -> PyResult<Py<PyAny>> {
    (addr.ip().to_string(), addr.port()).into_py_any(py)
}

fn tx_number(id: TxId) -> u64 {
    match id {
        TxId::Client(c) => c.0,
        TxId::Server(s) => s.0,
    }
}

fn event_into_py(py: Python<'_>, event: StackEvent) -> PyResult<Bound<'_, PyAny>> {
    let source = |p: Peer| -> PyResult<Py<PyAny>> {
        Ok(peer_tuple(py, p.transport, p.addr)?.unbind().into_any())
    };
    let message = |m: Message| -> PyResult<Py<PyAny>> { Ok(message_into_py(py, m)?.unbind()) };
    match event {
        StackEvent::Transaction(tx) => match tx {
            TxEvent::NewRequest {
                id,
                request,
                peer,
                local,
            } => PyRequestEvent {
                tx_id: id.0,
                request: message(Message::Request(request))?,
                source: source(peer)?,
                local: addr_tuple(py, local)?,
            }
            .into_bound_py_any(py),
            TxEvent::Response { id, response, peer } => PyResponseEvent {
                tx_id: id.0,
                response: message(Message::Response(response))?,
                source: source(peer)?,
            }
            .into_bound_py_any(py),
            TxEvent::AckFor2xx {
                id,
                request,
                peer,
                local,
            } => PyAckEvent {
                tx_id: id.map(|i| i.0),
                request: message(Message::Request(request))?,
                source: source(peer)?,
                local: addr_tuple(py, local)?,
            }
            .into_bound_py_any(py),
            TxEvent::CancelReceived { id, request } => PyCancelEvent {
                tx_id: id.0,
                request: message(Message::Request(request))?,
            }
            .into_bound_py_any(py),
            TxEvent::Timeout { id } => PyTimeoutEvent {
                tx_id: tx_number(id),
            }
            .into_bound_py_any(py),
            TxEvent::AckTimeout { id } => PyAckTimeoutEvent { tx_id: id.0 }.into_bound_py_any(py),
            TxEvent::PrackTimeout { id } => {
                PyPrackTimeoutEvent { tx_id: id.0 }.into_bound_py_any(py)
            }
            // The stack reports these as its own TransportError; kept for
            // completeness of the match.
            TxEvent::TransportError { id } => PyTransportErrorEvent {
                tx_id: Some(tx_number(id)),
                dest: None,
                reason: "transport error".to_string(),
            }
            .into_bound_py_any(py),
        },
        StackEvent::TransportError { tx, peer, reason } => PyTransportErrorEvent {
            tx_id: tx.map(tx_number),
            dest: peer.map(source).transpose()?,
            reason,
        }
        .into_bound_py_any(py),
        StackEvent::Malformed {
            peer,
            local,
            error,
            answered,
        } => PyMalformedEvent {
            source: source(peer)?,
            local: addr_tuple(py, local)?,
            kind: error.kind.as_str().to_string(),
            reason: error.to_string(),
            answered,
        }
        .into_bound_py_any(py),
        StackEvent::ConnectionClosed {
            peer,
            local,
            reason,
        } => PyConnectionClosedEvent {
            source: source(peer)?,
            local: addr_tuple(py, local)?,
            reason,
        }
        .into_bound_py_any(py),
        StackEvent::Closed => PyClosedEvent {}.into_bound_py_any(py),
    }
}

/// The Python exception for a refused call down: `UnknownTransaction`,
/// `TransactionFinished`, `StackClosed`, else `LocalError` (all in
/// `drachtio.errors`).
fn stack_error(py: Python<'_>, e: StackError) -> PyErr {
    let class = match &e {
        StackError::Local(LocalError::UnknownTransaction) => "UnknownTransaction",
        StackError::Local(LocalError::FinalResponseSent) => "TransactionFinished",
        StackError::Closed => "StackClosed",
        _ => "LocalError",
    };
    let raised = py
        .import("drachtio.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|cls| cls.call1((e.to_string(),)));
    match raised {
        Ok(value) => PyErr::from_value(value),
        Err(err) => err,
    }
}

/// The capture collector's address: `host` an IP address or a name
/// resolved now (the first address it has).
fn collector_address(host: &str, port: u16) -> PyResult<SocketAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "capture: cannot resolve the collector {host}:{port}"
            ))
        })
}

/// Every counter in one flat dict (the names of the transport's and the
/// layer's counters do not overlap).
fn stats_dict<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, value) in s.fields() {
        d.set_item(name, value)?;
    }
    Ok(d)
}

/// Registers the stack and event classes and `next_hop`. `_SipStack` is set
/// as an attribute only: `add_class` would list it in `__all__`, and it is
/// not public.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.setattr("_SipStack", m.py().get_type::<PyStack>())?;
    // Set, not added: `add_function` would list it in `__all__`, and the
    // `drachtio` package does not re-export it (the server uses it).
    m.setattr("next_hop", wrap_pyfunction!(next_hop, m)?)?;
    m.add_class::<PyRequestEvent>()?;
    m.add_class::<PyResponseEvent>()?;
    m.add_class::<PyAckEvent>()?;
    m.add_class::<PyCancelEvent>()?;
    m.add_class::<PyTimeoutEvent>()?;
    m.add_class::<PyAckTimeoutEvent>()?;
    m.add_class::<PyPrackTimeoutEvent>()?;
    m.add_class::<PyTransportErrorEvent>()?;
    m.add_class::<PyMalformedEvent>()?;
    m.add_class::<PyConnectionClosedEvent>()?;
    m.add_class::<PyClosedEvent>()?;
    Ok(())
}
