//! The mapping from [`zego_core::Error`] to the Python exceptions of
//! `zego_push` (defined in python/zego_push/_errors.py, so that they carry
//! attributes and pickle like ordinary Python exceptions).
//!
//! | Rust error | Python exception |
//! |---|---|
//! | `InvalidInput` | `InvalidInput` (a `ValueError`), with `field` |
//! | `InvalidCredentials`, `InvalidConfig` | `ConfigurationError` (a `ValueError`) |
//! | `Api` | `ZegoApiError`, with `code`, `message`, `request_id`, `retryable`, `reply` |
//! | `Transport`, `Timeout`, `MalformedReply` | `TransportError`, with `is_timeout` |

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};
use zego_core::values::FCM_PROVIDER_HINT;
use zego_core::Error;

use crate::convert::json_to_py;

const ERRORS_MODULE: &str = "zego_push._errors";

/// zego-core's hint for an iOS app that uses Firebase, as a Python keyword
/// argument instead of the server's JSON field.
const PYTHON_PROVIDER_HINT: &str = "pass provider=\"fcm\"";

static INVALID_INPUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONFIGURATION_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ZEGO_API_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TRANSPORT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Converts a core error into the matching `zego_push` exception.
pub(crate) fn to_py_err(py: Python<'_>, error: &Error) -> PyErr {
    match build_exception(py, error) {
        Ok(exception) => exception,
        // The exception classes could not be imported or built: raise that
        // failure, which names the missing module or attribute.
        Err(failure) => failure,
    }
}

fn build_exception(py: Python<'_>, error: &Error) -> PyResult<PyErr> {
    let mut description = error.to_string();
    let fields = PyDict::new(py);

    let (class, name) = match error {
        Error::InvalidInput(invalid) => {
            description = description.replace(FCM_PROVIDER_HINT, PYTHON_PROVIDER_HINT);
            fields.set_item("field", invalid.field.as_str())?;
            fields.set_item("message", invalid.message.replace(FCM_PROVIDER_HINT, PYTHON_PROVIDER_HINT))?;
            (&INVALID_INPUT, "InvalidInput")
        }
        Error::InvalidCredentials(_) | Error::InvalidConfig(_) => {
            (&CONFIGURATION_ERROR, "ConfigurationError")
        }
        Error::Api(api) => {
            fields.set_item("code", api.code)?;
            fields.set_item("message", &api.message)?;
            fields.set_item("request_id", api.request_id.as_deref())?;
            fields.set_item("retryable", api.is_retryable())?;
            fields.set_item("attempts", api.attempts)?;
            fields.set_item("reply", json_to_py(py, &api.reply)?)?;
            (&ZEGO_API_ERROR, "ZegoApiError")
        }
        Error::Transport { endpoint, attempts, .. } => {
            set_transport_fields(&fields, endpoint, *attempts, false, true)?;
            (&TRANSPORT_ERROR, "TransportError")
        }
        Error::Timeout { endpoint, attempts, .. } => {
            set_transport_fields(&fields, endpoint, *attempts, true, true)?;
            (&TRANSPORT_ERROR, "TransportError")
        }
        // A body that is not a ZEGO reply is not retried by the client, so
        // it is reported as not retryable.
        Error::MalformedReply { endpoint, attempts, .. } => {
            set_transport_fields(&fields, endpoint, *attempts, false, false)?;
            (&TRANSPORT_ERROR, "TransportError")
        }
    };

    let class = class.import(py, ERRORS_MODULE, name)?;
    let exception = class.call((description,), Some(&fields))?;
    Ok(PyErr::from_value(exception))
}

fn set_transport_fields(
    fields: &Bound<'_, PyDict>,
    endpoint: &str,
    attempts: u32,
    is_timeout: bool,
    retryable: bool,
) -> PyResult<()> {
    fields.set_item("endpoint", endpoint)?;
    fields.set_item("attempts", attempts)?;
    fields.set_item("is_timeout", is_timeout)?;
    fields.set_item("retryable", retryable)
}
