//! The Python extension module `zego_push._native`.
//!
//! The pure-Python package `zego_push` (python/zego_push) re-exports what
//! this module defines; Python code never imports `_native` directly.
//!
//! - [`client`]: the `Client` class around [`zego_core::ZegoClient`], and
//!   `validate_registration`, its input check on its own.
//! - [`signature`]: the guide's `generate_zego_signature`, computed in Rust.
//! - [`token04`]: Token04 generation and parsing, and callback signature checks.
//! - [`errors`]: the mapping from [`zego_core::Error`] to Python exceptions.
//! - [`runtime`]: the per-thread runtimes for blocking calls and the helper that releases the GIL.
//! - [`convert`]: ZEGO's JSON reply as Python objects.

use pyo3::prelude::*;

mod client;
mod convert;
mod errors;
mod runtime;
mod signature;
mod token04;

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<client::Client>()?;
    module.add_function(wrap_pyfunction!(client::validate_registration, module)?)?;
    module.add_function(wrap_pyfunction!(signature::guide_signature, module)?)?;
    module.add_class::<token04::TokenInfo>()?;
    module.add_function(wrap_pyfunction!(token04::generate_token04, module)?)?;
    module.add_function(wrap_pyfunction!(token04::parse_token04, module)?)?;
    module.add_function(wrap_pyfunction!(token04::verify_callback_signature, module)?)?;
    module.add("DEFAULT_BASE_URL", zego_core::DEFAULT_BASE_URL)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
