//! The shared tokio runtime and the one place that releases the GIL.

use std::future::Future;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// Returns the tokio runtime that every `Client` uses, for blocking and for
/// awaitable calls alike. It is pyo3-async-runtimes' runtime (multi-threaded,
/// built on first use), so awaitables and blocking calls share one
/// connection-pool driver and one set of worker threads.
///
/// NOTE: the runtime's threads do not survive `fork()`. A pre-forking server
/// (gunicorn with `--preload`) must not make a ZEGO call before it forks.
pub(crate) fn shared() -> &'static Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Runs `future` to completion on the shared runtime with the GIL released,
/// so that other Python threads run while this one waits for ZEGO.
///
/// The rule for callers: convert every Python argument to owned Rust values
/// before calling, and build Python objects from the output only after it
/// returns. `future` must not hold a `Py`, `Bound` or `Borrowed` reference,
/// because it runs while this thread does not hold the GIL; `Send` enforces
/// most of that. Every blocking call in this crate goes through here.
pub(crate) fn run_without_gil<F>(py: Python<'_>, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    py.detach(|| shared().block_on(future))
}
