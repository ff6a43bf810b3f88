//! `zego-push doctor`: the integration guide's troubleshooting checklist as checks.
//!
//! Each check ends as pass, warn or fail, with the fix. A check that cannot
//! run is skip, and a setting only the ZEGO console shows is info. The
//! command exits with [`ExitCode::CheckFailed`] when any check failed.

mod apns;
mod checks;
mod host;

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::cli::{DoctorArgs, GlobalArgs};
use crate::exit::{CliError, ExitCode};
use crate::output;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Not run, because its input is missing or an earlier check failed.
    Skip,
    /// Something to check by hand; no API exposes it.
    Info,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
            Status::Info => "INFO",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// A stable name for scripts, such as `clock_skew`.
    pub name: &'static str,
    pub status: Status,
    /// A one-line description of the finding.
    pub summary: String,
    /// Measured or read values, such as a certificate's subject.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
    /// The action that fixes a warning or failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn new(name: &'static str, status: Status, summary: impl Into<String>) -> Self {
        Self { name, status, summary: summary.into(), details: Map::new(), fix: None }
    }

    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }
}

pub async fn run(global: &GlobalArgs, args: DoctorArgs) -> Result<ExitCode, CliError> {
    check_test_device(&args)?;
    let checks = checks::run_all(&args).await;
    let failed = checks.iter().any(|check| check.status == Status::Fail);
    let code = if failed { ExitCode::CheckFailed } else { ExitCode::Success };

    if global.json {
        let count = |status: Status| checks.iter().filter(|check| check.status == status).count();
        output::print_json(&json!({
            "ok": !failed,
            "exit_code": code.as_i32(),
            "counts": {
                "pass": count(Status::Pass),
                "warn": count(Status::Warn),
                "fail": count(Status::Fail),
                "skip": count(Status::Skip),
                "info": count(Status::Info),
            },
            "checks": checks,
        }))?;
    } else {
        output::print_text(&to_text(&checks))?;
    }
    Ok(code)
}

/// Rejects a real token without the user and push service it belongs to,
/// because doctor would otherwise bind it to its own placeholder user or to
/// the wrong provider, and still pass. Rejects a real user without a token
/// too, because the placeholder token could replace that user's real one.
fn check_test_device(args: &DoctorArgs) -> Result<(), CliError> {
    if args.token.is_none() {
        if let Some(user_id) = &args.user_id {
            return Err(CliError::input(format!(
                "missing --token: without it, doctor would register its placeholder token for user {user_id:?}, which can replace that user's real token, so give --token and --platform of the user's test device, or leave out --user-id to test with user zego-push-doctor"
            )));
        }
        return Ok(());
    }
    if args.user_id.is_none() {
        return Err(CliError::input(
            "missing --user-id: --token is registered for a user, so give the user id the test device is logged in as",
        ));
    }
    if args.platform.is_none() && args.provider.is_none() {
        return Err(CliError::input(
            "missing --platform or --provider: give --platform (android or ios) or --provider (fcm or apns) with --token, so that the token is registered with its own push service",
        ));
    }
    Ok(())
}

fn to_text(checks: &[Check]) -> String {
    let mut text = String::new();
    for check in checks {
        let _ = writeln!(text, "{}  {:<16} {}", check.status.label(), check.name, check.summary);
        for (key, value) in &check.details {
            let value = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(text, "{:24}{key}: {value}", "");
        }
        if let Some(fix) = &check.fix {
            let _ = writeln!(text, "{:24}fix: {fix}", "");
        }
    }
    let count = |status: Status| checks.iter().filter(|check| check.status == status).count();
    let _ = writeln!(
        text,
        "\ndoctor: {} pass, {} warn, {} fail, {} skip",
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skip)
    );
    text
}
