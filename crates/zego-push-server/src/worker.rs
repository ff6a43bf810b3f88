//! The outbox worker: retries pending rows until ZEGO accepts or rejects them.

use std::time::Duration;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::registrar::{Registrar, RetryOutcome};
use crate::store::now_millis;

/// Runs until `shutdown` turns true, then finishes the rows in flight and
/// releases this instance's leases.
pub async fn run(registrar: Registrar, mut shutdown: watch::Receiver<bool>) {
    let settings = registrar.settings.outbox.clone();
    let owner = registrar.settings.instance_id.clone();
    let semaphore = std::sync::Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut in_flight = JoinSet::new();
    let mut failures = FailureReport::default();
    tracing::info!(instance = %owner, "outbox worker started");

    while !*shutdown.borrow() {
        // Claim what is due, as far as the concurrency limit leaves room.
        let room = semaphore.available_permits().min(usize::try_from(settings.batch_size).unwrap_or(1));
        let claimed = if room == 0 {
            Vec::new()
        } else {
            match registrar.store.claim_due(&owner, settings.lease.as_millis() as i64, room as i64).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "outbox could not claim rows; retrying");
                    Vec::new()
                }
            }
        };
        let claimed_any = !claimed.is_empty();
        for row in claimed {
            let permit = semaphore.clone().acquire_owned().await.expect("the semaphore is never closed");
            let registrar = registrar.clone();
            in_flight.spawn(async move {
                let outcome = registrar.retry_claimed(row).await;
                drop(permit);
                outcome
            });
        }
        while let Some(finished) = in_flight.try_join_next() {
            failures.count(finished.ok());
        }
        failures.log_if_due(&registrar).await;
        if claimed_any {
            continue;
        }

        // Nothing to do now: wait for the next due row, a wake-up or shutdown.
        update_depth(&registrar).await;
        let wait = next_wait(&registrar, settings.poll_interval).await;
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = registrar.wake.notified() => {}
            _ = shutdown.changed() => {}
            Some(finished) = in_flight.join_next(), if !in_flight.is_empty() => failures.count(finished.ok()),
        }
    }

    // Finish the rows in flight, then hand the rest to other instances.
    while in_flight.join_next().await.is_some() {}
    match registrar.store.release_leases(&owner).await {
        Ok(released) => tracing::info!(released, "outbox worker stopped"),
        Err(error) => tracing::warn!(%error, "outbox worker stopped; leases expire on their own"),
    }
}

/// Retries that failed again, logged as one warning per interval rather
/// than one line per row, so that a long ZEGO outage stays visible at the
/// default log level without flooding the log.
#[derive(Debug)]
struct FailureReport {
    failed_again: u64,
    last_error: Option<String>,
    last_logged: std::time::Instant,
}

impl Default for FailureReport {
    fn default() -> Self {
        Self { failed_again: 0, last_error: None, last_logged: std::time::Instant::now() }
    }
}

impl FailureReport {
    const INTERVAL: Duration = Duration::from_secs(30);

    fn count(&mut self, outcome: Option<RetryOutcome>) {
        if let Some(RetryOutcome::FailedAgain { error }) = outcome {
            self.failed_again += 1;
            self.last_error = Some(error);
        }
    }

    async fn log_if_due(&mut self, registrar: &Registrar) {
        if self.failed_again == 0 || self.last_logged.elapsed() < Self::INTERVAL {
            return;
        }
        let depth = registrar.store.outbox_depth().await.ok();
        tracing::warn!(
            failed_again = self.failed_again,
            outbox_depth = depth,
            last_error = self.last_error.as_deref().unwrap_or_default(),
            "queued registrations are still failing; the outbox keeps retrying with backoff"
        );
        self.failed_again = 0;
        self.last_error = None;
        self.last_logged = std::time::Instant::now();
    }
}

async fn update_depth(registrar: &Registrar) {
    match registrar.store.outbox_depth().await {
        Ok(depth) => registrar.metrics.set_outbox_depth(depth),
        Err(error) => tracing::debug!(%error, "could not count the outbox"),
    }
}

/// Returns how long to sleep: until the next due row, at most `poll_interval`.
async fn next_wait(registrar: &Registrar, poll_interval: Duration) -> Duration {
    match registrar.store.next_due_at().await {
        Ok(Some(due)) => {
            let until_due = u64::try_from(due - now_millis()).unwrap_or(0);
            Duration::from_millis(until_due.max(10)).min(poll_interval)
        }
        _ => poll_interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_report_counts_only_failed_again() {
        let mut report = FailureReport::default();
        report.count(Some(RetryOutcome::Registered));
        report.count(Some(RetryOutcome::Failed));
        report.count(None);
        report.count(Some(RetryOutcome::FailedAgain { error: "unreachable".into() }));
        assert_eq!(report.failed_again, 1);
        assert_eq!(report.last_error.as_deref(), Some("unreachable"));
    }
}
