//! `drachtio._core`: the Python binding of the drachtio SIP core. This is the
//! only crate that knows Python; the public names are re-exported (with
//! types in `_core.pyi`) by the `drachtio` package.

mod convert;
mod errors;
mod fields;
mod message;
mod proxy;
mod stack;
mod views;

use errors::IntoPyResult;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// Parses one SIP message (a datagram, or a whole message cut from a stream).
/// Raises `drachtio.ParseError` when the message is malformed.
#[pyfunction]
fn parse<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let msg = drachtio_sip::parse(data).or_raise(py)?;
    message::message_into_py(py, msg)
}

/// Builds a message from its JSON form (what `SipMessage.to_dict` returns).
/// Raises `ValueError` naming the first bad part, e.g. `headers.via[0]`.
#[pyfunction]
fn from_dict<'py>(py: Python<'py>, d: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    message::message_from_dict(py, d)
}

/// The lower-case name of a transport given in any case (`"TLS"` gives
/// `"tls"`); raises `ValueError` naming the accepted ones.
#[pyfunction]
fn parse_transport(name: &str) -> PyResult<&'static str> {
    stack::parse_transport(name).map(drachtio_sip::Transport::name)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse, m)?)?;
    m.add_function(wrap_pyfunction!(from_dict, m)?)?;
    m.add_class::<message::PySipMessage>()?;
    m.add_class::<message::PySipRequest>()?;
    m.add_class::<message::PySipResponse>()?;
    m.add_class::<views::PyUri>()?;
    m.add_class::<views::PyVia>()?;
    m.add_class::<views::PyNameAddr>()?;
    m.add_class::<views::PyCSeq>()?;
    m.add_class::<fields::PyMediaType>()?;
    m.add_class::<fields::PyRAck>()?;
    m.add_class::<fields::PySessionExpires>()?;
    m.add_class::<fields::PyCredentials>()?;
    m.add_class::<fields::PyChallenge>()?;
    m.add_class::<fields::PyEvent>()?;
    m.add_class::<fields::PySubscriptionState>()?;
    // Private: set as attributes, so that `__all__` does not list them.
    m.setattr("_parse_transport", wrap_pyfunction!(parse_transport, m)?)?;
    m.setattr(
        "_parse_listen",
        wrap_pyfunction!(stack::py_parse_listen, m)?,
    )?;
    let names = |ts: &[drachtio_sip::Transport]| ts.iter().map(|t| t.name()).collect::<Vec<_>>();
    m.setattr(
        "_TRANSPORTS",
        PyTuple::new(m.py(), names(&drachtio_sip::Transport::ALL))?,
    )?;
    m.setattr(
        "_LISTEN_TRANSPORTS",
        PyTuple::new(m.py(), names(&drachtio_io::LISTEN_TRANSPORTS))?,
    )?;
    stack::register(m)?;
    proxy::register(m)?;
    Ok(())
}
