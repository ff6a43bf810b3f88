//! `zego-push import FILE`: registers every row of a CSV or JSON Lines file.
//!
//! Rows are sent with bounded concurrency and a rate limit. The state file
//! ([`journal`]) makes a stopped run resumable without sending a row twice:
//!
//! - A row's `sending` record is on disk before its request is sent, and its
//!   outcome record is on disk before its concurrency slot takes another row.
//! - Ctrl-C or SIGTERM stops taking new rows, lets the requests in flight
//!   finish and records their outcomes, then exits with 130. A second Ctrl-C
//!   exits at once, which is a crash as far as the state file is concerned.
//! - After a crash, each row whose `sending` record has no outcome is in
//!   doubt: ZEGO may or may not have it. There are at most `--concurrency`
//!   such rows. A resumed run does not send them (it lists them in the
//!   failures file) unless `--resend-in-doubt` is given.
//! - The next run skips rows recorded as registered, sends again rows that
//!   failed because ZEGO was unreachable or busy, and skips rows ZEGO
//!   rejected unless `--retry-failed` is given.
//!
//! Within one row, the client retries after a timeout or a dropped
//! connection (`--max-attempts`). If the lost attempt had reached ZEGO,
//! ZEGO receives that row twice, which `--max-attempts 1` rules out.

mod input;
mod journal;
mod progress;
mod report;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinSet};
use zego_core::{CodeClass, Registered, Registration, ZegoClient};

use self::input::{InputItem, RawRow};
use self::journal::{row_key, Header, Journal, Record, RowState, FORMAT_VERSION};
use self::progress::Progress;
use self::report::{Counts, FailedRow, StopReason, Summary};
use crate::cli::{GlobalArgs, ImportArgs};
use crate::exit::{CliError, ExitCode};
use crate::{output, settings};

/// Failures printed one per line on standard error; the rest are only in the failures file.
const PRINTED_FAILURES: u64 = 20;

const IN_DOUBT_REASON: &str = "in doubt: an earlier run was sending this row when it stopped, so ZEGO may or may not have it; --resend-in-doubt sends it again";

pub async fn run(global: &GlobalArgs, args: ImportArgs) -> Result<ExitCode, CliError> {
    let started = Instant::now();

    let format = input::detect_format(&args.file, args.format)?;
    let (app_id, secret) = args.credentials.require()?;
    let client = settings::client(app_id, secret, &args.protocol, &args.connection)?;

    // Read the input once to check its header and count its rows.
    let total = input::count_rows(&args.file, format)?;

    // Open the state file, which refuses a run against another AppId, endpoint or action.
    let state_path = args.state.clone().unwrap_or_else(|| with_suffix(&args.file, ".state.jsonl"));
    let failures_path = args.failures.clone().unwrap_or_else(|| with_suffix(&args.file, ".failed.csv"));
    let header = Header {
        version: FORMAT_VERSION,
        app_id: app_id.get(),
        endpoint: client.endpoint().to_owned(),
        action: args.protocol.action.clone(),
        input: args.file.display().to_string(),
    };
    let (journal, previous) = Journal::open(&state_path, &header, args.restart)?;
    tracing::info!(
        input = %args.file.display(),
        rows = total,
        state = %state_path.display(),
        recorded_rows = previous.len(),
        endpoint = client.endpoint(),
        concurrency = args.concurrency,
        rate = args.rate,
        "import started"
    );

    // Send every row, then wait for the requests in flight.
    let stop = listen_for_interrupts();
    let rows = spawn_reader(&args.file, format)?;
    let mut importer = Importer::new(&args, client, journal, previous, total);
    importer.dispatch(rows, stop).await;
    importer.drain().await;
    importer.progress.finish();
    let Importer { counts, mut failures, stop_reason, journal, .. } = importer;
    drop(journal);

    // Report.
    let mut stop_reason = stop_reason;
    let failures_written = match report::write_failures(&failures_path, &mut failures) {
        Ok(written) => written,
        Err(error) => {
            let message = format!("cannot write the failures file {}: {error}", failures_path.display());
            stop_reason.get_or_insert(StopReason::Internal(message));
            false
        }
    };
    let code = exit_code(stop_reason.as_ref(), &counts);
    tracing::info!(
        registered = counts.registered,
        not_registered = counts.not_registered(),
        exit_code = code.as_i32(),
        "import finished"
    );
    let summary = Summary {
        input: &args.file,
        state: &state_path,
        failures: failures_written.then_some(failures_path.as_path()),
        counts,
        stopped: stop_reason.as_ref(),
        max_unreachable: args.max_unreachable,
        elapsed: started.elapsed(),
        exit_code: code.as_i32(),
    };
    if global.json {
        output::print_json(&summary.to_json())?;
    } else {
        output::print_text(&summary.to_text())?;
    }
    Ok(code)
}

fn exit_code(stop_reason: Option<&StopReason>, counts: &Counts) -> ExitCode {
    match stop_reason {
        Some(StopReason::Interrupted) => ExitCode::Interrupted,
        Some(StopReason::Unreachable) => ExitCode::Unreachable,
        Some(StopReason::Rejected { code: Some(_), .. }) => ExitCode::Rejected,
        Some(StopReason::Rejected { code: None, .. } | StopReason::Input(_)) => ExitCode::Input,
        Some(StopReason::Internal(_)) => ExitCode::Failure,
        None if counts.not_registered() > 0 => ExitCode::RowsFailed,
        None => ExitCode::Success,
    }
}

/// Returns `path` with `suffix` appended to its file name: rows.csv becomes rows.csv.state.jsonl.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Returns a receiver that turns true at the first Ctrl-C or SIGTERM. A
/// second one exits the process at once.
fn listen_for_interrupts() -> watch::Receiver<bool> {
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
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Reads the file on its own thread, so parsing does not hold up the async runtime.
fn spawn_reader(
    path: &Path,
    format: crate::cli::InputFormat,
) -> Result<mpsc::Receiver<Result<InputItem, CliError>>, CliError> {
    let rows = input::open(path, format)?;
    let (sender, receiver) = mpsc::channel(1024);
    std::thread::Builder::new()
        .name("import-reader".into())
        .spawn(move || {
            for item in rows {
                if sender.blocking_send(item).is_err() {
                    break;
                }
            }
        })
        .map_err(|error| CliError::new(ExitCode::Failure, error))?;
    Ok(receiver)
}

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

/// The state of one import run.
struct Importer {
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
    fn new(
        args: &ImportArgs,
        client: ZegoClient,
        journal: Journal,
        previous: HashMap<String, RowState>,
        total: u64,
    ) -> Self {
        let limiter = NonZeroU32::new(args.rate).map(|rate| RateLimiter::direct(Quota::per_second(rate)));
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
                    self.invalid(line, raw, &format!("invalid row: {reason}"));
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
                    self.invalid(line, raw, &error.to_string());
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
        tracing::debug!(line, user_id = registration.user_id.as_str(), token = %registration.token.short_hash(), "sending");
        self.tasks.spawn(async move {
            let result = client.register(&registration).await;
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
            self.progress.note("more rows are not registered; the failures file lists every one");
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
