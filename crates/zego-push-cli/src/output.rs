//! Writing results: text for people, one JSON document for scripts.

use std::io::Write;

use serde_json::{json, Value};

use crate::exit::{CliError, ExitCode, ResultExt};

/// Prints `value` as pretty JSON on standard output.
pub fn print_json(value: &Value) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value).or_exit(ExitCode::Failure)?;
    writeln!(stdout).or_exit(ExitCode::Failure)?;
    stdout.flush().or_exit(ExitCode::Failure)
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
pub fn print_error(error: &CliError, json: bool) {
    eprintln!("error: {error}");
    if json {
        let document = json!({
            "ok": false,
            "exit_code": error.code.as_i32(),
            "error": error.to_string(),
        });
        let _ = print_json(&document);
    }
}
