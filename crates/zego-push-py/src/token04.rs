//! Token04 generation and parsing, and callback signature checks, with the
//! shapes of ZEGO's own Python helper `token04.py`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use zego_core::callback::verify_callback;
use zego_core::sign::{Clock, SystemClock};
use zego_core::token04::{self, Token04Error, Token04Options, TokenFormat};
use zego_core::ServerSecret;

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
#[pyfunction]
#[pyo3(signature = (callback_secret, timestamp, nonce, signature, *, window_seconds = 300, now = None))]
pub(crate) fn verify_callback_signature(
    callback_secret: &str,
    timestamp: &str,
    nonce: &str,
    signature: &str,
    window_seconds: u64,
    now: Option<i64>,
) -> bool {
    let now = now.unwrap_or_else(|| SystemClock.unix_seconds());
    verify_callback(callback_secret, timestamp, nonce, signature, now, window_seconds).is_ok()
}
