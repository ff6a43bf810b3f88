//! The import summary and the failures file.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::input::RawRow;
use crate::output::{plural, UNREACHABLE_FIX};

/// How many rows ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Rows in the file, valid or not.
    pub rows: u64,
    /// Registered by this run.
    pub registered: u64,
    /// Registered by an earlier run, so not sent.
    pub already_registered: u64,
    /// The same registration as an earlier line of the file, so not sent.
    pub duplicates: u64,
    /// Rows that break an input rule.
    pub invalid: u64,
    /// Rows ZEGO rejected in this run.
    pub rejected: u64,
    /// The part of `rejected` that ZEGO rejected for the credentials or
    /// configuration, which every row shares; the next run sends them again.
    pub rejected_for_setup: u64,
    /// Rows not registered because ZEGO was unreachable or busy; the next run sends them again.
    pub unreachable: u64,
    /// Rows ZEGO rejected in an earlier run, skipped without `--retry-failed`.
    pub rejected_earlier: u64,
    /// Rows an earlier run was sending when it stopped, skipped without `--resend-in-doubt`.
    pub in_doubt: u64,
}

impl Counts {
    /// Rows handled so far in any way.
    pub fn done(&self) -> u64 {
        self.registered + self.already_registered + self.duplicates + self.not_registered()
    }

    /// Rows handled and not registered.
    pub fn not_registered(&self) -> u64 {
        self.invalid + self.rejected + self.unreachable + self.rejected_earlier + self.in_doubt
    }

    /// Rows this run did not reach because it stopped early.
    pub fn not_attempted(&self) -> u64 {
        self.rows.saturating_sub(self.done())
    }

    /// Rows not registered that the next run sends again without any flag.
    pub fn resent_next_run(&self) -> u64 {
        self.unreachable + self.rejected_for_setup + self.not_attempted()
    }

    /// Rows rejected for themselves, in this run or an earlier one, that
    /// only `--retry-failed` sends again.
    pub fn resent_with_retry_failed(&self) -> u64 {
        self.rejected - self.rejected_for_setup + self.rejected_earlier
    }
}

/// A row that is not registered, for the failures file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRow {
    pub line: u64,
    pub raw: RawRow,
    pub reason: String,
    /// ZEGO's reply code, when ZEGO replied.
    pub code: Option<i64>,
}

/// The reason a run stopped before the end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    Interrupted,
    /// ZEGO was unreachable or busy for `--max-unreachable` rows in a row.
    Unreachable,
    /// ZEGO rejected the credentials or the configuration, which every row
    /// shares; `code` is `None` when the client refused the configuration
    /// before sending.
    Rejected {
        code: Option<i64>,
        reason: String,
    },
    /// The input file could not be read to its end.
    Input(String),
    /// The state file could not be written, or a task failed.
    Internal(String),
}

impl StopReason {
    pub fn as_str(&self) -> &'static str {
        match self {
            StopReason::Interrupted => "interrupted",
            StopReason::Unreachable => "unreachable",
            StopReason::Rejected { .. } => "rejected",
            StopReason::Input(_) => "input",
            StopReason::Internal(_) => "internal",
        }
    }

    /// Describes the stop. `endpoint_tied` is whether the state file
    /// records rows this endpoint registered, rejected or may have
    /// received, which keeps the next run on the same endpoint.
    fn describe(&self, max_unreachable: u32, endpoint_tied: bool) -> String {
        match self {
            StopReason::Interrupted => {
                "interrupted: the requests in flight were finished and recorded".into()
            }
            StopReason::Unreachable => {
                let rerun = if endpoint_tied {
                    "the state file records rows registered, rejected or in doubt at this endpoint, so run again with the same --base-url and --region; another endpoint needs another --state or --restart, which sends every row again"
                } else {
                    "if --base-url or --region was wrong, run again with the right one: the state file records no row registered, rejected or in doubt at this endpoint, so the next run uses it for the new one"
                };
                format!(
                    "stopped: ZEGO was unreachable or busy for {} in a row\nfix: {}\n{rerun}",
                    plural(u64::from(max_unreachable), "row"),
                    UNREACHABLE_FIX
                )
            }
            StopReason::Rejected { reason, .. } => {
                format!("stopped: the credentials or configuration are wrong for every row: {reason}")
            }
            StopReason::Input(error) | StopReason::Internal(error) => format!("stopped: {error}"),
        }
    }
}

/// Writes the failures file, sorted by line, through a temporary file so a
/// crash never leaves half a file. With no failures, an old file is deleted,
/// so it cannot be mistaken for this run's.
pub fn write_failures(path: &Path, failures: &mut [FailedRow]) -> io::Result<bool> {
    if failures.is_empty() {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        return Ok(false);
    }
    failures.sort_by_key(|failure| failure.line);

    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    {
        let mut writer = csv::Writer::from_path(&temporary)?;
        writer.write_record([
            "line",
            "user_id",
            "token",
            "platform",
            "provider",
            "device_id",
            "error",
            "code",
            "original",
        ])?;
        for failure in failures.iter() {
            let raw = &failure.raw;
            let line = failure.line.to_string();
            let code = failure.code.map(|code| code.to_string()).unwrap_or_default();
            // Byte fields, so an original row that is not UTF-8 is written unchanged.
            writer.write_record([
                line.as_bytes(),
                raw.user_id.as_bytes(),
                raw.token.as_bytes(),
                raw.platform.as_bytes(),
                raw.provider.as_deref().unwrap_or_default().as_bytes(),
                raw.device_id.as_deref().unwrap_or_default().as_bytes(),
                failure.reason.as_bytes(),
                code.as_bytes(),
                &raw.original,
            ])?;
        }
        writer.flush()?;
    }
    std::fs::rename(&temporary, path)?;
    Ok(true)
}

/// Returns the `next run:` line for the rows the next run sends without a
/// flag, naming only the causes that apply. Rows not attempted are not
/// sent "again", because this run did not send them.
fn resend_note(counts: &Counts) -> Option<String> {
    let causes: Vec<(u64, &str)> = [
        (counts.unreachable, "unreachable or busy"),
        (counts.rejected_for_setup, "rejected for the credentials or configuration"),
    ]
    .into_iter()
    .filter(|(count, _)| *count > 0)
    .collect();

    let mut parts = Vec::new();
    let sent_again: u64 = causes.iter().map(|(count, _)| count).sum();
    if sent_again > 0 {
        let why = match causes.as_slice() {
            [(_, cause)] => (*cause).to_owned(),
            _ => {
                causes.iter().map(|(count, cause)| format!("{count} {cause}")).collect::<Vec<_>>().join(", ")
            }
        };
        parts.push(format!("{} again ({why})", plural(sent_again, "row")));
    }
    let not_attempted = counts.not_attempted();
    if not_attempted > 0 {
        parts.push(format!("{} not attempted by this run", plural(not_attempted, "row")));
    }
    (!parts.is_empty()).then(|| format!("next run: sends {}", parts.join(" and ")))
}

/// Everything the summary reports.
#[derive(Debug)]
pub struct Summary<'a> {
    pub input: &'a Path,
    pub state: &'a Path,
    /// The failures file, when this run wrote one.
    pub failures: Option<&'a Path>,
    /// The error that kept the failures file from being written.
    pub failures_error: Option<&'a str>,
    pub counts: Counts,
    pub stopped: Option<&'a StopReason>,
    pub max_unreachable: u32,
    /// Whether the state file records rows this endpoint registered,
    /// rejected or may have received, so that it cannot move to another.
    pub endpoint_tied: bool,
    pub elapsed: Duration,
    pub exit_code: i32,
}

impl Summary<'_> {
    /// Says which rows that are not registered a rerun of the same command
    /// sends, and which need a flag.
    fn rerun_notes(&self) -> Vec<String> {
        let counts = &self.counts;
        let mut notes = Vec::new();
        notes.extend(resend_note(counts));
        let retry_only = counts.resent_with_retry_failed();
        if retry_only > 0 {
            notes.push(format!(
                "next run: skips {} rejected for the row itself (such as code 2, a bad parameter) unless --retry-failed is given",
                plural(retry_only, "row")
            ));
        }
        if counts.in_doubt > 0 {
            notes.push(format!(
                "next run: skips {} in doubt unless --resend-in-doubt is given",
                plural(counts.in_doubt, "row")
            ));
        }
        notes
    }

    pub fn to_json(&self) -> Value {
        let counts = &self.counts;
        json!({
            "ok": self.exit_code == 0,
            "exit_code": self.exit_code,
            "input": self.input.display().to_string(),
            "state_file": self.state.display().to_string(),
            "failures_file": self.failures.map(|path| path.display().to_string()),
            "failures_file_error": self.failures_error,
            "rows": counts.rows,
            "registered": counts.registered,
            "already_registered": counts.already_registered,
            "duplicates": counts.duplicates,
            "invalid": counts.invalid,
            "rejected": counts.rejected,
            "unreachable": counts.unreachable,
            "rejected_earlier": counts.rejected_earlier,
            "in_doubt": counts.in_doubt,
            "not_attempted": counts.not_attempted(),
            "resent_next_run": counts.resent_next_run(),
            "resent_with_retry_failed": counts.resent_with_retry_failed(),
            "stopped": self.stopped.map(StopReason::as_str),
            "elapsed_ms": self.elapsed.as_millis() as u64,
        })
    }

    pub fn to_text(&self) -> String {
        let counts = &self.counts;
        let mut text = String::new();
        let _ = writeln!(
            text,
            "import {}: {} in {:.1} s",
            self.input.display(),
            plural(counts.rows, "row"),
            self.elapsed.as_secs_f64()
        );
        let (invalid_note, rejected_note) = if self.failures.is_some() {
            ("skipped; see the failures file", "see the failures file")
        } else {
            ("skipped; the failures file was not written", "the failures file was not written")
        };
        let lines: [(&str, u64, &str); 9] = [
            ("registered", counts.registered, ""),
            ("already registered", counts.already_registered, "by an earlier run"),
            ("duplicate", counts.duplicates, "same registration as an earlier line"),
            ("invalid", counts.invalid, invalid_note),
            ("rejected by ZEGO", counts.rejected, rejected_note),
            ("unreachable or busy", counts.unreachable, "the next run sends them again"),
            ("rejected earlier", counts.rejected_earlier, "--retry-failed sends them again"),
            ("in doubt", counts.in_doubt, "--resend-in-doubt sends them again"),
            ("not attempted", counts.not_attempted(), "run the same command again to resume"),
        ];
        for (label, count, note) in lines {
            if count == 0 && label != "registered" {
                continue;
            }
            if note.is_empty() {
                let _ = writeln!(text, "  {label:<20} {count:>8}");
            } else {
                let _ = writeln!(text, "  {label:<20} {count:>8}  ({note})");
            }
        }
        if let Some(stopped) = self.stopped {
            let _ = writeln!(text, "{}", stopped.describe(self.max_unreachable, self.endpoint_tied));
        }
        for line in self.rerun_notes() {
            let _ = writeln!(text, "{line}");
        }
        if let Some(failures) = self.failures {
            let _ = writeln!(text, "failures file: {}", failures.display());
        }
        if let Some(error) = self.failures_error {
            let _ = writeln!(text, "error: {error}");
        }
        let _ = writeln!(text, "state file: {}", self.state.display());
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_attempted_is_the_rest() {
        let counts = Counts { rows: 10, registered: 4, invalid: 1, duplicates: 1, ..Counts::default() };
        assert_eq!(counts.done(), 6);
        assert_eq!(counts.not_attempted(), 4);
        assert_eq!(counts.not_registered(), 1);
    }

    #[test]
    fn resend_note_names_causes_that_apply() {
        let cases = [
            (Counts { rows: 34, ..Counts::default() }, "next run: sends 34 rows not attempted by this run"),
            (
                Counts { rows: 16, unreachable: 16, ..Counts::default() },
                "next run: sends 16 rows again (unreachable or busy)",
            ),
            (
                Counts { rows: 20, rejected: 1, rejected_for_setup: 1, ..Counts::default() },
                "next run: sends 1 row again (rejected for the credentials or configuration) and 19 rows not attempted by this run",
            ),
            (
                Counts { rows: 4, unreachable: 3, rejected: 1, rejected_for_setup: 1, ..Counts::default() },
                "next run: sends 4 rows again (3 unreachable or busy, 1 rejected for the credentials or configuration)",
            ),
        ];
        for (counts, expected) in cases {
            assert_eq!(resend_note(&counts).as_deref(), Some(expected), "{counts:?}");
        }

        let finished = Counts { rows: 2, registered: 1, rejected: 1, ..Counts::default() };
        assert_eq!(resend_note(&finished), None, "a row rejected for itself is not sent without a flag");
    }

    #[test]
    fn failures_file_is_sorted_csv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("failed.csv");
        let row = |line: u64, reason: &str| FailedRow {
            line,
            raw: RawRow {
                user_id: "u".into(),
                token: "t,1".into(),
                platform: "ios".into(),
                original: b"u,\"t,1\",ios".to_vec(),
                ..RawRow::default()
            },
            reason: reason.into(),
            code: None,
        };
        let mut failures = vec![row(9, "second"), row(3, "first")];
        assert!(write_failures(&path, &mut failures).unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "line,user_id,token,platform,provider,device_id,error,code,original");
        assert_eq!(lines[1], "3,u,\"t,1\",ios,,,first,,\"u,\"\"t,1\"\",ios\"");
        assert!(lines[2].starts_with("9,"));

        assert!(!write_failures(&path, &mut []).unwrap());
        assert!(!path.exists());
    }
}
