//! Ctrl-C and SIGTERM handling for `import`: the first signal asks the run
//! to stop taking rows, a second one exits at once.

use tokio::sync::watch;

use crate::exit::ExitCode;

/// Returns a receiver that turns true at the first Ctrl-C or SIGTERM. A
/// second one exits the process at once.
pub fn listen_for_interrupts() -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        let Ok(mut signals) = Signals::new() else {
            tracing::warn!("cannot listen for Ctrl-C; an interrupted run leaves its rows in flight in doubt");
            // Keep the sender, so the receiver never reads a closed channel as a stop.
            std::future::pending::<()>().await;
            return;
        };
        signals.next().await;
        eprintln!("interrupted: finishing the requests in flight; press Ctrl-C again to stop at once");
        let _ = sender.send(true);
        signals.next().await;
        eprintln!("stopped at once: the rows in flight are in doubt; the next run lists them (see --resend-in-doubt)");
        std::process::exit(ExitCode::Interrupted.as_i32());
    });
    receiver
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

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Waits until a stop is requested.
pub async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}
