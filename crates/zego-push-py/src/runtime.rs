//! The tokio runtimes, and the one place that releases the GIL.

use std::future::Future;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

// Awaitables run on pyo3-async-runtimes' multi-threaded runtime, which
// `pyo3_async_runtimes::tokio::future_into_py` builds on first use and
// shares between every `Client`.

thread_local! {
    /// This thread's runtime for blocking calls. A single-threaded runtime
    /// drives the request on the calling thread itself, which saves the
    /// hand-offs to and from a worker thread that a shared runtime costs on
    /// every call. From one thread that gave about 35 % more calls per
    /// second against a release zego-mock on a 2-core machine.
    static THREAD_RUNTIME: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a single-threaded tokio runtime can be built");
}

/// Runs `future` to completion on this thread's runtime with the GIL
/// released, so that other Python threads run while this one waits for ZEGO.
///
/// The rule for callers: convert every Python argument to owned Rust values
/// before calling, and build Python objects from the output only after it
/// returns. `future` must not hold a `Py`, `Bound` or `Borrowed` reference,
/// because it runs while this thread does not hold the GIL; `Send` enforces
/// most of that. Connections that `future` opens belong to this thread's
/// runtime, so it must use a client that only this thread uses. Every
/// blocking call in this crate goes through here.
///
/// NOTE: runtimes do not survive `fork()`. A pre-forking server (gunicorn
/// with `--preload`) must not make a ZEGO call before it forks.
pub(crate) fn run_without_gil<F>(py: Python<'_>, future: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    py.detach(|| THREAD_RUNTIME.with(|runtime| runtime.block_on(future)))
}
