//! The guide's `generate_zego_signature`, computed in Rust.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyInt, PyString};
use zego_core::sign::hmac_sha256_hex;
use zego_core::ServerSecret;

use crate::errors::to_py_err;

static BUILTIN_FORMAT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static BUILTIN_SORTED: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Returns the guide's signature of `params`: the lowercase hex HMAC-SHA256,
/// keyed by `server_secret`, of `k1=v1&k2=v2...` over the keys in sorted order.
///
/// Keys and values are written as the guide's f-string writes them
/// (`format(x, "")`, which is `str(x)` for str, int, bool, None and float),
/// and keys are sorted as Python's `sorted` sorts them.
#[pyfunction]
pub(crate) fn guide_signature(
    py: Python<'_>,
    server_secret: &str,
    params: &Bound<'_, PyAny>,
) -> PyResult<String> {
    let secret = ServerSecret::new(server_secret).map_err(|error| to_py_err(py, &error.into()))?;
    let pairs = sorted_pairs(params)?;

    let mut canonical = String::new();
    for (index, (key, value)) in pairs.iter().enumerate() {
        if index > 0 {
            canonical.push('&');
        }
        canonical.push_str(key);
        canonical.push('=');
        canonical.push_str(value);
    }
    Ok(hmac_sha256_hex(&secret, &canonical))
}

/// Returns the parameters as text, in the order of `sorted(params.keys())`.
fn sorted_pairs(params: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    // A plain dict with str keys, the guide's case: Rust's byte order of
    // UTF-8 is the code point order that Python's str comparison uses.
    if let Ok(dict) = params.cast_exact::<PyDict>() {
        if dict.keys().iter().all(|key| key.is_exact_instance_of::<PyString>()) {
            let mut pairs = Vec::with_capacity(dict.len());
            for (key, value) in dict.iter() {
                pairs.push((format_text(&key)?, format_text(&value)?));
            }
            pairs.sort_unstable_by(|left, right| left.0.cmp(&right.0));
            return Ok(pairs);
        }
    }

    // Any other mapping, or keys that are not all str: let Python sort them.
    let py = params.py();
    let sorted = BUILTIN_SORTED.import(py, "builtins", "sorted")?;
    let keys = sorted.call1((params.call_method0("keys")?,))?;
    let mut pairs = Vec::new();
    for key in keys.try_iter()? {
        let key = key?;
        let value = params.get_item(&key)?;
        pairs.push((format_text(&key)?, format_text(&value)?));
    }
    Ok(pairs)
}

/// Writes a value as an f-string does: `format(value, "")`.
fn format_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(text) = value.cast_exact::<PyString>() {
        return Ok(text.to_str()?.to_owned());
    }
    if value.is_exact_instance_of::<PyInt>() {
        if let Ok(number) = value.extract::<i64>() {
            return Ok(number.to_string());
        }
    }
    let format = BUILTIN_FORMAT.import(value.py(), "builtins", "format")?;
    let text = format.call1((value, ""))?;
    Ok(text.cast_into::<PyString>()?.to_str()?.to_owned())
}
