//! Exit codes, and the error type that carries one to `main`.

use std::fmt;

/// The exit status of `zego-push`. The same table is in `--help` and docs/cli.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCode {
    /// Everything the command set out to do succeeded.
    Success = 0,
    /// An unexpected failure, such as standard output that cannot be written.
    Failure = 1,
    /// Invalid input: a flag, a value, missing credentials, or a file that
    /// cannot be read. Nothing was sent to ZEGO.
    Input = 2,
    /// ZEGO replied with a non-zero `Code`.
    Rejected = 3,
    /// No ZEGO reply: the connection failed, timed out, or the host replied
    /// with something that is not a ZEGO reply.
    Unreachable = 4,
    /// `doctor`: at least one check failed.
    CheckFailed = 5,
    /// `import`: the run finished, but some rows are not registered.
    RowsFailed = 6,
    /// `verify-callback`: the signature does not match, or the timestamp is
    /// invalid or outside the window.
    CallbackRejected = 7,
    /// Stopped by Ctrl-C (SIGINT) or SIGTERM.
    Interrupted = 130,
}

/// The exit-code table printed at the end of `zego-push --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0    success
  1    unexpected failure (for example, standard output cannot be written)
  2    invalid input: a flag, value, credential or file; nothing was sent
  3    ZEGO rejected a request (non-zero Code)
  4    ZEGO unreachable: connection failed, timed out, or the reply is not a ZEGO reply
  5    doctor: at least one check failed
  6    import: finished, but some rows are not registered (see the failures file)
  7    verify-callback: the signature does not match or the timestamp is outside the window
  130  interrupted by Ctrl-C or SIGTERM; run import again to resume";

/// The exit statuses `sign` returns.
pub const SIGN_EXIT_CODES: &[ExitCode] = &[ExitCode::Success, ExitCode::Failure, ExitCode::Input];
/// The exit statuses `register` returns.
pub const REGISTER_EXIT_CODES: &[ExitCode] =
    &[ExitCode::Success, ExitCode::Failure, ExitCode::Input, ExitCode::Rejected, ExitCode::Unreachable];
/// The exit statuses `doctor` returns; a rejected or unreachable ZEGO is a failed check.
pub const DOCTOR_EXIT_CODES: &[ExitCode] =
    &[ExitCode::Success, ExitCode::Failure, ExitCode::Input, ExitCode::CheckFailed];
/// The exit statuses `token` and `token inspect` return.
pub const TOKEN_EXIT_CODES: &[ExitCode] = &[ExitCode::Success, ExitCode::Failure, ExitCode::Input];
/// The exit statuses `verify-callback` returns.
pub const VERIFY_CALLBACK_EXIT_CODES: &[ExitCode] =
    &[ExitCode::Success, ExitCode::Failure, ExitCode::Input, ExitCode::CallbackRejected];
/// The exit statuses `import` returns.
pub const IMPORT_EXIT_CODES: &[ExitCode] = &[
    ExitCode::Success,
    ExitCode::Failure,
    ExitCode::Input,
    ExitCode::Rejected,
    ExitCode::Unreachable,
    ExitCode::RowsFailed,
    ExitCode::Interrupted,
];

/// Returns the rows of [`EXIT_CODES_HELP`] for `codes` only, for a
/// subcommand's `--help`.
pub fn exit_codes_help(codes: &[ExitCode]) -> String {
    let mut text = String::from("Exit status:");
    for line in EXIT_CODES_HELP.lines().skip(1) {
        let status = line.split_whitespace().next().and_then(|status| status.parse::<i32>().ok());
        if codes.iter().any(|code| Some(code.as_i32()) == status) {
            text.push('\n');
            text.push_str(line);
        }
    }
    text
}

impl ExitCode {
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// An error that ends the command, with the exit status it ends with.
#[derive(Debug)]
pub struct CliError {
    pub code: ExitCode,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn new(code: ExitCode, error: impl Into<anyhow::Error>) -> Self {
        Self { code, error: error.into() }
    }

    /// Returns an invalid-input error with `message`.
    pub fn input(message: impl fmt::Display) -> Self {
        Self { code: ExitCode::Input, error: anyhow::anyhow!("{message}") }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl From<zego_core::Error> for CliError {
    fn from(error: zego_core::Error) -> Self {
        Self { code: exit_code_of(&error), error: error.into() }
    }
}

/// Maps a zego-core error to the exit status a script can act on.
pub fn exit_code_of(error: &zego_core::Error) -> ExitCode {
    use zego_core::Error;
    match error {
        Error::InvalidInput(_) | Error::InvalidCredentials(_) | Error::InvalidConfig(_) => ExitCode::Input,
        Error::Api(_) => ExitCode::Rejected,
        Error::Transport { .. } | Error::Timeout { .. } | Error::MalformedReply { .. } => {
            ExitCode::Unreachable
        }
    }
}

/// Attaches an exit code to any error.
pub trait ResultExt<T> {
    fn or_exit(self, code: ExitCode) -> Result<T, CliError>;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for Result<T, E> {
    fn or_exit(self, code: ExitCode) -> Result<T, CliError> {
        self.map_err(|error| CliError::new(code, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_table_lists_every_code() {
        for code in [
            ExitCode::Success,
            ExitCode::Failure,
            ExitCode::Input,
            ExitCode::Rejected,
            ExitCode::Unreachable,
            ExitCode::CheckFailed,
            ExitCode::RowsFailed,
            ExitCode::CallbackRejected,
            ExitCode::Interrupted,
        ] {
            let row = format!("\n  {:<4} ", code.as_i32());
            assert!(EXIT_CODES_HELP.contains(&row), "no help row for {code:?}");
        }
    }

    #[test]
    fn subcommand_help_lists_only_its_codes() {
        let text = exit_codes_help(DOCTOR_EXIT_CODES);
        assert!(text.starts_with("Exit status:\n  0    success"), "{text}");
        assert!(text.contains("\n  5    doctor"), "{text}");
        assert!(!text.contains("\n  6 "), "{text}");
        assert_eq!(text.lines().count(), 1 + DOCTOR_EXIT_CODES.len(), "{text}");
    }

    #[test]
    fn zego_errors_map_to_codes() {
        let input = zego_core::Error::InvalidConfig("bad".into());
        assert_eq!(exit_code_of(&input), ExitCode::Input);
        let timeout = zego_core::Error::Timeout {
            endpoint: "http://127.0.0.1:1/".into(),
            attempts: 1,
            timeout: std::time::Duration::from_secs(1),
            proxy: None,
        };
        assert_eq!(exit_code_of(&timeout), ExitCode::Unreachable);
    }
}
