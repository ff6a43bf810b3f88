//! The import run itself: takes rows from the reader, sends them with
//! bounded concurrency and a rate limit, and records each outcome.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinSet};
use zego_core::{CodeClass, Registered, Registration, ZegoClient};

use super::input::{InputItem, RawRow};
use super::interrupt::stop_requested;
use super::journal::{row_key, Journal, Record, RowState};
use super::progress::Progress;
use super::report::{Counts, FailedRow, StopReason};
use crate::cli::ImportArgs;
use crate::exit::CliError;
use crate::fields::FieldNames;
use crate::settings;

/// Failed rows printed one per line on standard error; the rest are only in the failures file.
const PRINTED_FAILURES: u64 = 20;

const IN_DOUBT_REASON: &str = "in doubt: an earlier run was sending this row when it stopped, so ZEGO may or may not have it; --resend-in-doubt sends it again";

/// A finished request: the row, ZEGO's reply, and whether its outcome was recorded.
struct Sent {
    line: u64,
    raw: RawRow,
    result: Result<Registered, zego_core::Error>,
    recorded: std::io::Result<()>,
}

/// The effect of a failed row on the run.
enum FailureKind {
    /// The row itself is at fault; sent again only with --retry-failed.
    Permanent,
    /// Unreachable or busy; the next run sends the row again.
    Transient,
    /// The credentials or configuration are at fault, so every row would fail: stop.
    RunLevel,
}

fn failure_kind(error: &zego_core::Error) -> FailureKind {
    use zego_core::Error;
    match error {
        Error::Api(api) => match api.class {
            CodeClass::Input | CodeClass::Permanent => FailureKind::Permanent,
            CodeClass::Retryable => FailureKind::Transient,
            CodeClass::Credentials | CodeClass::Configuration | CodeClass::ClockSkew => FailureKind::RunLevel,
        },
        Error::Transport { .. } | Error::Timeout { .. } | Error::MalformedReply { .. } => {
            FailureKind::Transient
        }
        Error::InvalidInput(_) | Error::InvalidCredentials(_) | Error::InvalidConfig(_) => {
            FailureKind::RunLevel
        }
    }
}

/// Returns the state-file record of a finished request's outcome.
fn outcome_record(key: String, line: u64, result: &Result<Registered, zego_core::Error>) -> Record {
    match result {
        Ok(registered) => Record::Registered { key, line, request_id: registered.request_id.clone() },
        Err(error) => Record::Failed {
            key,
            line,
            permanent: matches!(failure_kind(error), FailureKind::Permanent),
            code: error.zego_code(),
            reason: error.to_string(),
        },
    }
}

/// The counts, failures and stop reason of a finished run.
#[derive(Debug)]
pub struct Outcome {
    pub counts: Counts,
    pub failures: Vec<FailedRow>,
    pub stop_reason: Option<StopReason>,
}

/// The state of one import run.
pub struct Importer {
    client: ZegoClient,
    journal: Arc<Journal>,
    /// Row states recorded by earlier runs, by row key.
    previous: HashMap<String, RowState>,
    /// The first line of each row key seen in this run.
    seen: HashMap<String, u64>,
    /// Maximum requests in flight at once.
    concurrency: usize,
    limiter: Option<DefaultDirectRateLimiter>,
    tasks: JoinSet<Sent>,
    retry_failed: bool,
    resend_in_doubt: bool,
    max_unreachable: u32,
    consecutive_unreachable: u32,
    counts: Counts,
    failures: Vec<FailedRow>,
    stop_reason: Option<StopReason>,
    progress: Progress,
}

impl Importer {
    pub fn new(
        args: &ImportArgs,
        client: ZegoClient,
        journal: Journal,
        previous: HashMap<String, RowState>,
        total: u64,
    ) -> Self {
        // A burst of 1 spaces request starts 1/rate seconds apart, so no
        // one-second window holds more than `rate` starts. governor's default
        // burst equals the rate, which let the first second send twice as many.
        let limiter = NonZeroU32::new(args.rate)
            .map(|rate| RateLimiter::direct(Quota::per_second(rate).allow_burst(NonZeroU32::MIN)));
        Self {
            client,
            journal: Arc::new(journal),
            previous,
            seen: HashMap::new(),
            concurrency: usize::from(args.concurrency),
            limiter,
            tasks: JoinSet::new(),
            retry_failed: args.retry_failed,
            resend_in_doubt: args.resend_in_doubt,
            max_unreachable: args.max_unreachable,
            consecutive_unreachable: 0,
            counts: Counts { rows: total, ..Counts::default() },
            failures: Vec::new(),
            stop_reason: None,
            progress: Progress::new(total),
        }
    }

    /// Sends the rows, waits for the requests in flight, and closes the state file.
    pub async fn run(
        mut self,
        rows: mpsc::Receiver<Result<InputItem, CliError>>,
        stop: watch::Receiver<bool>,
    ) -> Outcome {
        self.dispatch(rows, stop).await;
        self.drain().await;
        self.progress.finish();
        Outcome { counts: self.counts, failures: self.failures, stop_reason: self.stop_reason }
    }

    /// Takes rows from the reader and sends those not handled before, until
    /// the file ends or the run must stop.
    async fn dispatch(
        &mut self,
        mut rows: mpsc::Receiver<Result<InputItem, CliError>>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            self.reap_finished();
            if self.stop_reason.is_some() {
                break;
            }
            let item = tokio::select! {
                biased;
                () = stop_requested(&mut stop) => {
                    self.stop(StopReason::Interrupted);
                    break;
                }
                item = rows.recv() => item,
            };
            let (line, raw) = match item {
                None => break,
                Some(Err(error)) => {
                    self.stop(StopReason::Input(error.to_string()));
                    break;
                }
                Some(Ok(InputItem::Invalid { line, raw, reason })) => {
                    self.invalid(line, raw, &reason);
                    continue;
                }
                Some(Ok(InputItem::Row { line, raw })) => (line, raw),
            };

            let registration = match Registration::parse(
                &raw.user_id,
                &raw.token,
                &raw.platform,
                raw.provider.as_deref(),
                raw.device_id.as_deref(),
            ) {
                Ok(registration) => registration,
                Err(error) => {
                    self.invalid(line, raw, &FieldNames::Columns.describe(&error));
                    continue;
                }
            };
            let Some(key) = self.key_to_send(line, &raw, &registration) else {
                self.update_progress();
                continue;
            };

            // Wait for a free slot and the rate limit, unless a stop comes first.
            if !self.wait_for_slot(&mut stop).await {
                break;
            }
            if let Some(limiter) = &self.limiter {
                tokio::select! {
                    biased;
                    () = stop_requested(&mut stop) => {
                        self.stop(StopReason::Interrupted);
                        break;
                    }
                    () = limiter.until_ready() => {}
                }
            }
            self.reap_finished();
            if self.stop_reason.is_some() {
                break;
            }

            if let Err(error) = self.journal.append(&Record::Sending { key: key.clone(), line }).await {
                self.stop(StopReason::Internal(format!("cannot write the state file: {error}")));
                break;
            }
            self.spawn_send(line, raw, key, registration);
        }
    }

    /// Decides from earlier runs and earlier lines whether to send the row,
    /// and returns its key when it is to be sent.
    fn key_to_send(&mut self, line: u64, raw: &RawRow, registration: &Registration) -> Option<String> {
        let key = row_key(registration);
        if let Some(first_line) = self.seen.get(&key) {
            tracing::debug!(line, first_line, "skipping a duplicate row");
            self.counts.duplicates += 1;
            return None;
        }
        self.seen.insert(key.clone(), line);

        match self.previous.get(&key) {
            Some(RowState::Registered) => {
                self.counts.already_registered += 1;
                None
            }
            Some(RowState::Failed { permanent: true, code, reason }) if !self.retry_failed => {
                self.counts.rejected_earlier += 1;
                let reason = format!("{reason} (in an earlier run; --retry-failed sends it again)");
                self.record_failure(line, raw.clone(), reason, *code);
                None
            }
            Some(RowState::InDoubt) if !self.resend_in_doubt => {
                self.counts.in_doubt += 1;
                self.record_failure(line, raw.clone(), IN_DOUBT_REASON.to_owned(), None);
                None
            }
            _ => Some(key),
        }
    }

    /// Reaps finished requests until fewer than `--concurrency` are in
    /// flight, and returns false when the run must stop.
    ///
    /// A slot is free only once its row's outcome is on disk and counted
    /// here. So after a crash at most one row per slot is in doubt, and a
    /// rejection that stops the run is counted before that slot sends again.
    async fn wait_for_slot(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        while self.tasks.len() >= self.concurrency {
            let joined = tokio::select! {
                biased;
                () = stop_requested(stop) => {
                    self.stop(StopReason::Interrupted);
                    return false;
                }
                joined = self.tasks.join_next() => joined,
            };
            if let Some(joined) = joined {
                self.tally(joined);
            }
        }
        self.stop_reason.is_none()
    }

    fn spawn_send(&mut self, line: u64, raw: RawRow, key: String, registration: Registration) {
        let client = self.client.clone();
        let journal = Arc::clone(&self.journal);
        tracing::debug!(line, "sending the row");
        self.tasks.spawn(async move {
            let result = settings::register_logged(&client, &registration).await;
            let recorded = journal.append(&outcome_record(key, line, &result)).await;
            Sent { line, raw, result, recorded }
        });
    }

    fn reap_finished(&mut self) {
        while let Some(joined) = self.tasks.try_join_next() {
            self.tally(joined);
        }
    }

    /// Waits for every request in flight and records its outcome.
    async fn drain(&mut self) {
        if !self.tasks.is_empty() {
            tracing::info!(in_flight = self.tasks.len(), "waiting for the requests in flight");
        }
        while let Some(joined) = self.tasks.join_next().await {
            self.tally(joined);
        }
    }

    fn tally(&mut self, joined: Result<Sent, JoinError>) {
        let sent = match joined {
            Ok(sent) => sent,
            Err(error) => {
                self.stop(StopReason::Internal(format!("a request task failed: {error}")));
                return;
            }
        };
        if let Err(error) = &sent.recorded {
            self.stop(StopReason::Internal(format!("cannot write the state file: {error}")));
        }

        match sent.result {
            Ok(_) => {
                self.counts.registered += 1;
                self.consecutive_unreachable = 0;
            }
            Err(error) => {
                let reason = error.to_string();
                let code = error.zego_code();
                match failure_kind(&error) {
                    FailureKind::Permanent => {
                        self.counts.rejected += 1;
                        self.consecutive_unreachable = 0;
                        self.record_failure(sent.line, sent.raw, reason, code);
                    }
                    FailureKind::Transient => {
                        self.counts.unreachable += 1;
                        self.consecutive_unreachable += 1;
                        let reason = format!("{reason}; the next run sends it again");
                        self.record_failure(sent.line, sent.raw, reason, code);
                        if self.consecutive_unreachable >= self.max_unreachable {
                            self.stop(StopReason::Unreachable);
                        }
                    }
                    FailureKind::RunLevel => {
                        self.counts.rejected += 1;
                        self.counts.rejected_for_setup += 1;
                        self.record_failure(sent.line, sent.raw, reason.clone(), code);
                        self.stop(StopReason::Rejected { code, reason });
                    }
                }
            }
        }
        self.update_progress();
    }

    fn invalid(&mut self, line: u64, raw: RawRow, reason: &str) {
        self.counts.invalid += 1;
        self.record_failure(line, raw, reason.to_owned(), None);
        self.update_progress();
    }

    fn record_failure(&mut self, line: u64, raw: RawRow, reason: String, code: Option<i64>) {
        let printed = self.failures.len() as u64;
        if printed < PRINTED_FAILURES {
            self.progress.note(&format!("line {line}: {reason}"));
        } else if printed == PRINTED_FAILURES {
            self.progress.note("more rows failed; the failures file lists them all");
        }
        self.failures.push(FailedRow { line, raw, reason, code });
    }

    fn stop(&mut self, reason: StopReason) {
        if self.stop_reason.is_none() {
            tracing::info!(reason = reason.as_str(), in_flight = self.tasks.len(), "stopping the import");
            self.stop_reason = Some(reason);
        }
    }

    fn update_progress(&mut self) {
        self.progress.update(self.counts.done(), self.counts.not_registered());
    }
}
