//! Ctrl-C and SIGTERM handling for `import`: the first signal asks the run
//! to stop taking rows, a second one exits at once.

use std::sync::{Mutex, PoisonError};

use tokio::sync::watch;

use crate::exit::{CliError, ExitCode};
use crate::output;

const STOPPED_AT_ONCE: &str =
    "stopped at once: the rows in flight are in doubt; the next run lists them (see --resend-in-doubt)";

/// Whether the summary has been printed. The summary and the immediate stop
/// both take this lock, so standard output gets exactly one of them.
static SUMMARY_PRINTED: Mutex<bool> = Mutex::new(false);

/// Returns a receiver that turns true at the first Ctrl-C or SIGTERM. A
/// second one exits the process at once, after printing the JSON error
/// document on standard output when `json` is set.
pub fn listen_for_interrupts(json: bool) -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        let Ok(mut signals) = Signals::new() else {
            tracing::warn!("cannot listen for Ctrl-C; an interrupted run leaves its rows in flight in doubt");
            // Keep the sender, so the receiver never reads a closed channel as a stop.
            std::future::pending::<()>().await;
            return;
        };
        let first = signals.next().await;
        eprintln!("{}", first_signal_message(first));
        let _ = sender.send(true);
        signals.next().await;
        stop_at_once(json);
    });
    receiver
}

/// Exits with 130 without waiting for the requests in flight, unless the
/// summary is already printed, in which case the run is exiting anyway.
///
/// It prints no summary, because the immediate stop is the way out when the
/// requests in flight or the state file hang, and the summary waits for both.
fn stop_at_once(json: bool) {
    let summary_printed = SUMMARY_PRINTED.lock().unwrap_or_else(PoisonError::into_inner);
    if *summary_printed {
        return;
    }
    eprintln!("{STOPPED_AT_ONCE}");
    if json {
        output::print_json_error(&CliError::new(ExitCode::Interrupted, anyhow::anyhow!(STOPPED_AT_ONCE)));
    }
    std::process::exit(ExitCode::Interrupted.as_i32());
}

/// Prints the summary with `print`, unless an immediate stop has begun, in
/// which case this waits for the process to exit.
pub fn print_summary(print: impl FnOnce() -> Result<(), CliError>) -> Result<(), CliError> {
    let mut summary_printed = SUMMARY_PRINTED.lock().unwrap_or_else(PoisonError::into_inner);
    let result = print();
    *summary_printed = true;
    result
}

/// Returns the line printed at the first signal, with how to stop at once.
fn first_signal_message(signal: Signal) -> &'static str {
    match signal {
        Signal::Interrupt => {
            "interrupted: finishing the requests in flight; press Ctrl-C again to stop at once"
        }
        Signal::Terminate => {
            "interrupted by SIGTERM: finishing the requests in flight; send SIGTERM or press Ctrl-C again to stop at once"
        }
    }
}

/// A signal that stops the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM, on Unix only.
    #[cfg_attr(not(unix), allow(dead_code))]
    Terminate,
}

/// Ctrl-C (SIGINT) and, on Unix, SIGTERM.
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            #[cfg(unix)]
            terminate: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    /// Waits for the next signal and returns which one it was.
    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}

/// Waits until a stop is requested.
pub async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}
