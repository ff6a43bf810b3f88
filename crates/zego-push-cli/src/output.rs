//! Writing results: text for people, one JSON document for scripts.

use std::io::Write;

use serde_json::{json, Value};

use crate::exit::{CliError, ExitCode, ResultExt};

/// What to do when no ZEGO reply came back.
pub const UNREACHABLE_FIX: &str = "check the network, proxy and firewall between this machine and the ZEGO host, check --base-url or --region, and check ZEGO's service status";

/// Returns `count` and `noun`, with an `s` unless `count` is 1.
pub fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("{count} {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Prints `value` as pretty JSON on standard output.
pub fn print_json(value: &Value) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value).or_exit(ExitCode::Failure)?;
    text.push('\n');
    print_text(&text)
}

/// Prints text on standard output.
pub fn print_text(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).or_exit(ExitCode::Failure)?;
    if !text.ends_with('\n') {
        writeln!(stdout).or_exit(ExitCode::Failure)?;
    }
    stdout.flush().or_exit(ExitCode::Failure)
}

/// Reports the error that ends the command: always one line on standard
/// error, and with `--json` also a JSON document on standard output, so a
/// script that parses standard output gets every outcome.
///
/// A closed standard output, as when the output is piped to `head`, is not
/// reported: the reader stopped on purpose, and the exit status is still 1.
pub fn print_error(error: &CliError, json: bool) {
    if is_broken_pipe(&error.error) {
        return;
    }
    eprintln!("error: {error}");
    if json {
        print_json_error(error);
    }
}

/// Prints `{"ok": false, "exit_code": N, "error": "..."}` on standard output.
pub fn print_json_error(error: &CliError) {
    let document = json!({
        "ok": false,
        "exit_code": error.code.as_i32(),
        "error": error.to_string(),
    });
    let _ = print_json(&document);
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.downcast_ref::<std::io::Error>().is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe)
}
