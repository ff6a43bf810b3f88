//! Token04 generation and parsing, and callback signature checks, with the
//! shapes of ZEGO's own Python helper `token04.py`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyString};
use zego_core::callback::{check_callback_secret, verify_callback};
use zego_core::sign::{Clock, SystemClock};
use zego_core::token04::{self, Token04Error, Token04Options, TokenFormat};
use zego_core::ServerSecret;

use crate::errors::to_py_err;

/// The outcome of `generate_token04`, shaped as `TokenInfo` in ZEGO's
/// `token04.py`: `error_code` 0 and `error_message` "success" with a token,
/// or ZEGO's code and the reason with an empty token.
#[pyclass(frozen, get_all, module = "zego_push")]
pub(crate) struct TokenInfo {
    token: String,
    error_code: u32,
    error_message: String,
}

#[pymethods]
impl TokenInfo {
    fn __repr__(&self) -> String {
        format!(
            "TokenInfo(token={:?}, error_code={}, error_message={:?})",
            self.token, self.error_code, self.error_message
        )
    }
}

impl TokenInfo {
    fn failed(error: Token04Error) -> Self {
        Self { token: String::new(), error_code: error.code, error_message: error.message }
    }
}

/// Builds ZEGO's code 5 error for a secret that `ServerSecret` rejects
/// before its length is checked (empty, whitespace or not printable ASCII).
fn invalid_secret(reason: &str) -> Token04Error {
    Token04Error { code: 5, message: format!("the ServerSecret is invalid: {reason}") }
}

/// Generates a GCM Token04. Invalid inputs return ZEGO's code in the
/// result instead of raising, as `token04.py` does.
#[pyfunction]
#[pyo3(signature = (app_id, user_id, secret, effective_time_in_seconds, payload = ""))]
pub(crate) fn generate_token04(
    py: Python<'_>,
    app_id: i64,
    user_id: &str,
    secret: &str,
    effective_time_in_seconds: i64,
    payload: &str,
) -> TokenInfo {
    let Ok(app_id) = u32::try_from(app_id) else {
        return TokenInfo::failed(Token04Error {
            code: 1,
            message: format!("the AppId {app_id} is invalid: it must be from 1 to 4294967295"),
        });
    };
    let secret = match ServerSecret::new(secret) {
        Ok(secret) => secret,
        Err(error) => return TokenInfo::failed(invalid_secret(&error.to_string())),
    };
    let options = Token04Options { format: TokenFormat::Gcm, ..Token04Options::default() };
    let result = py
        .detach(|| token04::generate(app_id, user_id, &secret, effective_time_in_seconds, payload, &options));
    match result {
        Ok(token) => TokenInfo { token, error_code: 0, error_message: "success".to_owned() },
        Err(error) => TokenInfo::failed(error),
    }
}

/// Decodes a Token04 with the secret and returns its claims as a dict, with
/// `format` ("gcm" or "cbc"). Raises `ValueError` when it cannot be decoded.
#[pyfunction]
pub(crate) fn parse_token04<'py>(py: Python<'py>, token: &str, secret: &str) -> PyResult<Bound<'py, PyDict>> {
    let secret = ServerSecret::new(secret).map_err(|error| PyValueError::new_err(error.to_string()))?;
    let parsed = token04::parse(token, &secret)
        .map_err(|error| PyValueError::new_err(format!("invalid token: {}", error.message)))?;
    let claims = parsed.claims;
    let dict = PyDict::new(py);
    dict.set_item("app_id", claims.app_id)?;
    dict.set_item("user_id", claims.user_id)?;
    dict.set_item("nonce", claims.nonce)?;
    dict.set_item("ctime", claims.ctime)?;
    dict.set_item("expire", claims.expire)?;
    dict.set_item("payload", claims.payload)?;
    let format = match parsed.format {
        TokenFormat::Gcm => "gcm",
        TokenFormat::Cbc => "cbc",
    };
    dict.set_item("format", format)?;
    Ok(dict)
}

/// Returns whether a callback's signature matches and its timestamp is
/// within `window_seconds` of `now` (Unix seconds, the system clock by
/// default). A mismatch, a stale or a non-numeric timestamp returns False.
/// So does a timestamp or nonce that is neither a str nor an int that fits
/// in 64 bits (a bool is rejected), and a signature that is not a str. An
/// empty or whitespace-only secret raises `ConfigurationError`, because
/// anyone could forge that signature.
#[pyfunction]
#[pyo3(signature = (callback_secret, timestamp, nonce, signature, *, window_seconds = 300, now = None))]
pub(crate) fn verify_callback_signature(
    py: Python<'_>,
    callback_secret: &str,
    timestamp: &Bound<'_, PyAny>,
    nonce: &Bound<'_, PyAny>,
    signature: &Bound<'_, PyAny>,
    window_seconds: u64,
    now: Option<i64>,
) -> PyResult<bool> {
    // The server and the CLI drop surrounding whitespace too, such as the
    // newline at the end of a secret read from a file.
    let callback_secret = callback_secret.trim();
    check_callback_secret(callback_secret).map_err(|error| to_py_err(py, &error.into()))?;
    let (Some(timestamp), Some(nonce), Some(signature)) =
        (callback_field_text(timestamp), callback_field_text(nonce), string_text(signature))
    else {
        return Ok(false);
    };
    let now = now.unwrap_or_else(|| SystemClock.unix_seconds());
    Ok(verify_callback(callback_secret, &timestamp, &nonce, &signature, now, window_seconds).is_ok())
}

/// Reads a callback's `timestamp` or `nonce` as zego-push-server does: a
/// str as it is, an int that fits in 64 bits (signed or unsigned) as its
/// decimal digits. Returns `None` for any other value (None, bool, float,
/// a larger int), which then fails the check.
fn callback_field_text(value: &Bound<'_, PyAny>) -> Option<String> {
    if value.is_instance_of::<PyBool>() {
        return None;
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(number) = value.extract::<i64>() {
            return Some(number.to_string());
        }
        return value.extract::<u64>().ok().map(|number| number.to_string());
    }
    string_text(value)
}

/// Returns the text of a str, or `None` for any other value and for a str
/// that is not valid UTF-8 (one with a lone surrogate).
fn string_text(value: &Bound<'_, PyAny>) -> Option<String> {
    let text = value.cast::<PyString>().ok()?;
    text.to_str().ok().map(str::to_owned)
}
