//! Raising the Python exception classes defined in `drachtio.errors`.

use drachtio_sip::ParseError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// `drachtio.errors.ParseError`, imported once: the class lives in Python so
/// that it can inherit from both `DrachtioError` and `ValueError`.
static PARSE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// The Python `drachtio.errors.ParseError` for a core parse error.
pub(crate) fn parse_error(py: Python<'_>, e: &ParseError) -> PyErr {
    let cls = match PARSE_ERROR.import(py, "drachtio.errors", "ParseError") {
        Ok(cls) => cls,
        Err(err) => return err,
    };
    match cls.call1((
        e.to_string(),
        e.kind.as_str(),
        e.offset,
        e.status_code(),
        e.detail,
    )) {
        Ok(value) => PyErr::from_value(value),
        Err(err) => err,
    }
}

/// Converts core results into Python results.
pub(crate) trait IntoPyResult<T> {
    /// Raises `drachtio.errors.ParseError` for an error.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, ParseError> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| parse_error(py, &e))
    }
}

/// A `ValueError` for a bad argument (our caller's mistake, not a peer's).
pub(crate) fn value_error(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}
