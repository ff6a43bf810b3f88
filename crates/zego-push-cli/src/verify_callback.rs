//! `zego-push verify-callback`: checks the signature and timestamp of a
//! callback from ZEGO's servers.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use zego_core::callback::verify_callback;
use zego_core::sign::{Clock, SystemClock};
use zeroize::Zeroizing;

use crate::cli::{GlobalArgs, VerifyCallbackArgs};
use crate::env;
use crate::exit::{CliError, ExitCode, ResultExt};
use crate::output;

pub fn run(global: &GlobalArgs, args: &VerifyCallbackArgs) -> Result<ExitCode, CliError> {
    let secret = read_callback_secret(args.callback_secret_file.as_deref())?;
    let now = SystemClock.unix_seconds();
    verify_callback(&secret, &args.timestamp, &args.nonce, &args.signature, now, args.window_secs)
        .or_exit(ExitCode::CallbackRejected)?;

    if global.json {
        output::print_json(&json!({"ok": true, "timestamp": args.timestamp.trim(), "now": now}))?;
    } else {
        output::print_text("valid: the signature matches and the timestamp is within the window")?;
    }
    Ok(ExitCode::Success)
}

/// Reads the CallbackSecret from, in order of precedence: the file given
/// with --callback-secret-file, the file named by ZEGO_CALLBACK_SECRET_FILE,
/// and ZEGO_CALLBACK_SECRET, as the ServerSecret's forms are read.
/// Surrounding whitespace is removed.
fn read_callback_secret(path: Option<&Path>) -> Result<Zeroizing<String>, CliError> {
    let file_from_environment =
        std::env::var_os(env::CALLBACK_SECRET_FILE).filter(|path| !path.is_empty()).map(PathBuf::from);
    let text = match path.or(file_from_environment.as_deref()) {
        Some(path) => Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the CallbackSecret file {}", path.display()))
                .or_exit(ExitCode::Input)?,
        ),
        None => match std::env::var(env::CALLBACK_SECRET) {
            Ok(text) => Zeroizing::new(text),
            Err(std::env::VarError::NotPresent) => Zeroizing::new(String::new()),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(CliError::input(format!("{} is not valid UTF-8", env::CALLBACK_SECRET)))
            }
        },
    };
    let trimmed = Zeroizing::new(text.trim().to_owned());
    if trimmed.is_empty() {
        return Err(CliError::input(format!(
            "no CallbackSecret: give --callback-secret-file PATH or set {} or {}, with the CallbackSecret from the ZEGO console",
            env::CALLBACK_SECRET_FILE,
            env::CALLBACK_SECRET
        )));
    }
    Ok(trimmed)
}
