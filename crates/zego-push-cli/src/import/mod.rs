//! `zego-push import FILE`: registers every row of a CSV or JSON Lines file.
//!
//! Rows are sent with bounded concurrency and a rate limit. The state file
//! ([`journal`]) makes a stopped run resumable without sending a row twice:
//!
//! - A row's `sending` record is on disk before its request is sent, and its
//!   outcome record is on disk before its concurrency slot takes another row.
//! - Ctrl-C or SIGTERM stops taking new rows, lets the requests in flight
//!   finish and records their outcomes, then exits with 130. A second Ctrl-C
//!   exits at once without a summary (with `--json`, standard output gets
//!   the JSON error document), which is a crash as far as the state file is
//!   concerned.
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

mod importer;
mod input;
mod interrupt;
mod journal;
mod progress;
mod report;

use std::path::{Path, PathBuf};
use std::time::Instant;

use tokio::sync::mpsc;

use self::importer::{Importer, Outcome};
use self::input::InputItem;
use self::journal::{Header, Journal, FORMAT_VERSION};
use self::report::{Counts, StopReason, Summary};
use crate::cli::{GlobalArgs, ImportArgs};
use crate::exit::{CliError, ExitCode};
use crate::{output, settings};

pub async fn run(global: &GlobalArgs, args: ImportArgs) -> Result<ExitCode, CliError> {
    let started = Instant::now();

    input::check_readable(&args.file)?;
    let format = input::detect_format(&args.file, args.format)?;
    let (app_id, secret) = args.credentials.require()?;
    let client = settings::client(app_id, secret, &args.protocol, &args.connection)?;

    // Read the input once to check its header and count its rows.
    let total = input::count_rows(&args.file, format)?;

    // Open the state file. It rejects a run against another AppId or
    // action, and against another endpoint unless every row it records is
    // sent again anyway.
    let state_path = args.state.clone().unwrap_or_else(|| with_suffix(&args.file, ".state.jsonl"));
    let failures_path = args.failures.clone().unwrap_or_else(|| with_suffix(&args.file, ".failed.csv"));
    let header = Header {
        version: FORMAT_VERSION,
        app_id: app_id.get(),
        endpoint: client.endpoint().to_owned(),
        action: args.protocol.action.clone(),
        input: args.file.display().to_string(),
    };
    let (journal, resumed) = Journal::open(&state_path, &header, args.restart)?;
    if let Some(previous_endpoint) = &resumed.moved_from {
        eprintln!(
            "note: the endpoint changed from {previous_endpoint} to {}; the state file records no row registered, rejected or in doubt there, so it is used for the new endpoint",
            client.endpoint()
        );
    }
    let previous = resumed.states;
    // Whether the state file ties its rows to this endpoint before this run.
    let tied_before = previous.values().any(|state| !state.is_sent_again());
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
    let stop = interrupt::listen_for_interrupts(global.json);
    let rows = spawn_reader(&args.file, format)?;
    let importer = Importer::new(&args, client, journal, previous, total);
    let Outcome { counts, mut failures, stop_reason } = importer.run(rows, stop).await;

    // Report. A failures file that cannot be written is reported on its
    // own, so it is never hidden behind the reason the run stopped.
    let (failures_written, failures_error) = match report::write_failures(&failures_path, &mut failures) {
        Ok(written) => (written, None),
        Err(error) => {
            let message = format!("cannot write the failures file {}: {error}", failures_path.display());
            eprintln!("error: {message}");
            (false, Some(message))
        }
    };
    let code = exit_code(stop_reason.as_ref(), failures_error.is_some(), &counts);
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
        failures_error: failures_error.as_deref(),
        counts,
        stopped: stop_reason.as_ref(),
        max_unreachable: args.max_unreachable,
        endpoint_tied: tied_before || counts.registered > 0 || counts.rejected > counts.rejected_for_setup,
        elapsed: started.elapsed(),
        exit_code: code.as_i32(),
    };
    interrupt::print_summary(|| {
        if global.json {
            output::print_json(&summary.to_json())
        } else {
            output::print_text(&summary.to_text())
        }
    })?;
    Ok(code)
}

/// Returns the exit code: the reason the run stopped comes first, then a
/// failures file that could not be written, then rows not registered.
fn exit_code(stop_reason: Option<&StopReason>, failures_error: bool, counts: &Counts) -> ExitCode {
    match stop_reason {
        Some(StopReason::Interrupted) => ExitCode::Interrupted,
        Some(StopReason::Unreachable) => ExitCode::Unreachable,
        Some(StopReason::Rejected { code: Some(_), .. }) => ExitCode::Rejected,
        Some(StopReason::Rejected { code: None, .. } | StopReason::Input(_)) => ExitCode::Input,
        Some(StopReason::Internal(_)) => ExitCode::Failure,
        None if failures_error => ExitCode::Failure,
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
