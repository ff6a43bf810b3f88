//! `zego-push import`, run as a binary against a zego-mock on loopback:
//! invalid rows, resumption after Ctrl-C and after a crash, and the stops
//! for unreachable hosts and rejected credentials.

mod common;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    describe, run, run_json, send_signal, wait_until, write_file, zego_push, zego_push_at, zego_push_for,
    Mock, CLOSED_URL,
};
use serde_json::Value;
use zego_mock::{CodeFault, Faults};

/// Writes a CSV of `rows` valid Android rows with distinct tokens `token-NNNNN`.
fn write_rows(dir: &Path, rows: usize) -> PathBuf {
    let mut text = String::from("user_id,token,platform\n");
    for index in 0..rows {
        let _ = writeln!(text, "user{index:05},token-{index:05},android");
    }
    write_file(dir, "rows.csv", &text)
}

fn import(mock: &Mock, file: &Path) -> Command {
    let mut command = zego_push_for(mock);
    command.args(["--json", "import", "--rate", "0"]).arg(file);
    command
}

/// Reads the failures file into (line, token, error) rows. Byte records,
/// because the `original` column may keep bytes that are not UTF-8.
fn read_failures(path: &Path) -> Vec<(u64, String, String)> {
    let mut reader = csv::Reader::from_path(path).expect("the failures file is CSV");
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).expect("a UTF-8 field");
    reader
        .byte_records()
        .map(|record| {
            let record = record.expect("a CSV record");
            (text(&record[0]).parse().expect("a line number"), text(&record[2]), text(&record[6]))
        })
        .collect()
}

fn failures_path(file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.failed.csv", file.display()))
}

#[test]
fn import_skips_invalid_rows() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "mixed.csv",
        "user_id,token,platform,provider,device_id\n\
         alice,fcm-alice,android,,phone\n\
         bob smith,fcm-bob,android,,\n\
         carol,fcm-carol,web,,\n\
         \n\
         dave,fcm:dave,ios,fcm,\n\
         erin,0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,ios,,\n\
         alice,fcm-alice,android,,phone\n\
         frank,fcm-frank,android,,,extra\n",
    );

    let (code, summary) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 6, "{summary}");
    assert_eq!(summary["rows"], 7, "the blank line is not a row");
    assert_eq!(summary["registered"], 3);
    assert_eq!(summary["invalid"], 3);
    assert_eq!(summary["duplicates"], 1);
    assert_eq!(summary["not_attempted"], 0);

    let failures = read_failures(&failures_path(&file));
    let lines: Vec<u64> = failures.iter().map(|(line, _, _)| *line).collect();
    assert_eq!(lines, [3, 4, 9]);
    assert!(failures[0].2.contains("invalid user_id"), "{failures:?}");
    assert!(failures[1].2.contains("invalid platform"), "{failures:?}");
    assert!(failures[2].2.contains("has 6 fields"), "{failures:?}");

    let registered = mock.registrations_by_token();
    assert_eq!(registered.len(), 3);
    assert_eq!(registered.get("fcm:dave"), Some(&1));
    assert_eq!(
        mock.state().registrations().iter().find(|r| r.user_id == "erin").map(|r| r.push_provider),
        Some(2)
    );
}

#[test]
fn import_errors_name_columns() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "ios.csv",
        "user_id,fcm_token,platform\n\
         u1,firebase:token,ios\n\
         u2,0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0,ios\n",
    );
    let (code, summary) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 6, "{summary}");
    assert_eq!(summary["invalid"], 2);

    let failures = read_failures(&failures_path(&file));
    for (line, _, error) in &failures {
        assert!(error.starts_with("invalid token: "), "line {line}: {error}");
        assert!(error.contains("set the provider column to fcm"), "line {line}: {error}");
        assert!(!error.contains("fcm_token"), "line {line}: {error}");
    }
    assert!(failures[1].2.contains("has 65 hex digits"), "{failures:?}");
}

#[test]
fn import_jsonl_rows() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "rows.jsonl",
        "{\"user_id\":\"u1\",\"fcm_token\":\"t1\",\"platform\":\"android\"}\n\
         {\"user_id\":\"u2\",\"push_token\":\"t2\",\"platform\":\"iOS\",\"provider\":\"fcm\"}\n\
         {\"user_id\":\"u3\",\"token\":\"t3\"}\n\
         not json\n\
         {\"user_id\":\"u5\",\"token\":null,\"push_token\":\"t5\",\"platform\":\"android\"}\n\
         {\"token\":\"t6\",\"platform\":\"android\"}\n",
    );
    let (code, summary) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 6, "{summary}");
    assert_eq!(summary["registered"], 3);
    assert_eq!(summary["invalid"], 3);
    let failures = read_failures(&failures_path(&file));
    let lines: Vec<u64> = failures.iter().map(|(line, _, _)| *line).collect();
    assert_eq!(lines, [3, 4, 6]);
    assert_eq!(failures[0].2, "invalid platform: missing");
    assert_eq!(failures[2].2, "invalid user_id: missing");
    assert_eq!(mock.registrations_by_token().get("t5"), Some(&1), "a null token key counts as absent");

    // CSV names the missing user id the same way.
    let csv = write_file(dir.path(), "rows.csv", "user_id,token,platform\n,t7,android\n");
    let (code, summary) = run_json(&mut import(&mock, &csv));
    assert_eq!(code, 6, "{summary}");
    let failures = read_failures(&failures_path(&csv));
    assert!(failures[0].2.starts_with("invalid user_id: "), "{failures:?}");
}

#[test]
fn import_rerun_skips_registered_rows() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 50);

    let (code, first) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["registered"], 50);
    assert!(!failures_path(&file).exists(), "no failures, no failures file");

    let (code, second) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 0, "{second}");
    assert_eq!(second["registered"], 0);
    assert_eq!(second["already_registered"], 50);
    assert_eq!(mock.registration_count(), 50);

    let (code, restarted) = run_json(import(&mock, &file).arg("--restart"));
    assert_eq!(code, 0, "{restarted}");
    assert_eq!(restarted["registered"], 50, "--restart sends every row again");
}

#[test]
fn import_interrupt_then_resume() {
    const ROWS: usize = 10_000;
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), ROWS);
    let stderr_path = dir.path().join("interrupted.stderr");

    // Start the import and interrupt it once part of the rows are registered.
    let child = import(&mock, &file)
        .args(["--concurrency", "16"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("zego-push starts");
    wait_until(Duration::from_secs(60), "2,000 registrations", || mock.registration_count() >= 2_000);
    send_signal(child.id(), "INT");
    let output = child.wait_with_output().expect("zego-push exits");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted: finishing the requests in flight"), "{stderr}");
    let interrupted: Value = serde_json::from_slice(&output.stdout).expect("a JSON summary");
    assert_eq!(interrupted["stopped"], "interrupted");

    let registered_before_resume = mock.registration_count();
    assert!(registered_before_resume < ROWS, "the run was not interrupted mid-way");
    assert_eq!(interrupted["registered"], registered_before_resume);
    assert_eq!(interrupted["not_attempted"], ROWS - registered_before_resume);

    // Resume: only the rest is sent.
    let (code, resumed) = run_json(import(&mock, &file).args(["--concurrency", "16"]));
    assert_eq!(code, 0, "{resumed}");
    assert_eq!(resumed["already_registered"], registered_before_resume);
    assert_eq!(resumed["registered"], ROWS - registered_before_resume);
    assert_eq!(resumed["in_doubt"], 0);

    let by_token = mock.registrations_by_token();
    assert_eq!(by_token.len(), ROWS, "every row is registered");
    let repeated: Vec<(&String, &usize)> = by_token.iter().filter(|(_, count)| **count != 1).collect();
    assert!(repeated.is_empty(), "rows registered more than once: {repeated:?}");
}

#[test]
fn import_second_interrupt_prints_json_error() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 20);
    let state = PathBuf::from(format!("{}.state.jsonl", file.display()));
    let stderr_path = dir.path().join("stopped.stderr");

    // Slow the mock so the second Ctrl-C comes while requests are in flight.
    mock.set_faults(Faults { latency_ms: 5_000, ..Faults::default() });
    let child = import(&mock, &file)
        .args(["--concurrency", "2"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("zego-push starts");
    wait_until(Duration::from_secs(60), "a row in flight", || {
        std::fs::read_to_string(&state).is_ok_and(|text| text.contains("\"type\":\"sending\""))
    });
    send_signal(child.id(), "INT");
    wait_until(Duration::from_secs(60), "the first Ctrl-C to be handled", || {
        std::fs::read_to_string(&stderr_path).is_ok_and(|text| text.contains("interrupted:"))
    });
    send_signal(child.id(), "INT");
    let output = child.wait_with_output().expect("zego-push exits");
    mock.set_faults(Faults::default());

    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("stopped at once"), "{stderr}");
    let document: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("stdout is not one JSON document ({error}):\n{}", String::from_utf8_lossy(&output.stdout))
    });
    assert_eq!(document["ok"], false, "{document}");
    assert_eq!(document["exit_code"], 130, "{document}");
    let error = document["error"].as_str().expect("an error message");
    assert!(error.starts_with("stopped at once: the rows in flight are in doubt"), "{error}");
    assert_eq!(document.get("stopped"), None, "no summary: {document}");
}

#[test]
fn import_sigterm_names_its_signal() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 5);
    let state = PathBuf::from(format!("{}.state.jsonl", file.display()));

    mock.set_faults(Faults { latency_ms: 500, ..Faults::default() });
    let child = zego_push_for(&mock)
        .args(["import", "--rate", "0", "--concurrency", "1"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zego-push starts");
    wait_until(Duration::from_secs(60), "a row in flight", || {
        std::fs::read_to_string(&state).is_ok_and(|text| text.contains("\"type\":\"sending\""))
    });
    send_signal(child.id(), "TERM");
    let output = child.wait_with_output().expect("zego-push exits");
    mock.set_faults(Faults::default());

    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("interrupted by SIGTERM: finishing the requests in flight"), "{stderr}");
    assert!(stderr.contains("send SIGTERM or press Ctrl-C again to stop at once"), "{stderr}");
    assert!(!stderr.contains("flight; press Ctrl-C again"), "{stderr}");

    // The rows never sent are not sent "again" by the next run.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let next_run: Vec<&str> = stdout.lines().filter(|line| line.starts_with("next run:")).collect();
    assert_eq!(next_run.len(), 1, "{stdout}");
    assert!(next_run[0].ends_with("rows not attempted by this run"), "{stdout}");
    assert!(!next_run[0].contains("again"), "{stdout}");
}

#[test]
fn import_crash_then_resume() {
    const ROWS: usize = 2_000;
    const CONCURRENCY: usize = 8;
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), ROWS);

    // Slow the mock so every slot has a request in flight, then kill the import.
    mock.set_faults(Faults { latency_ms: 30, ..Faults::default() });
    let mut child = import(&mock, &file)
        .args(["--concurrency", &CONCURRENCY.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("zego-push starts");
    wait_until(Duration::from_secs(60), "200 registrations", || mock.registration_count() >= 200);
    child.kill().expect("SIGKILL is sent");
    child.wait().expect("zego-push is reaped");
    mock.set_faults(Faults::default());

    // Resume without --resend-in-doubt: the rows in doubt are listed, not sent.
    let (code, resumed) = run_json(import(&mock, &file).args(["--concurrency", &CONCURRENCY.to_string()]));
    let in_doubt_count = resumed["in_doubt"].as_u64().unwrap();
    assert!(in_doubt_count >= 1, "no row was in flight at the kill: {resumed}");
    assert!(in_doubt_count <= CONCURRENCY as u64, "more rows in doubt than slots: {resumed}");
    assert_eq!(code, 6, "{resumed}");
    let in_doubt: HashSet<String> = read_failures(&failures_path(&file))
        .into_iter()
        .filter(|(_, _, error)| error.starts_with("in doubt"))
        .map(|(_, token, _)| token)
        .collect();
    assert_eq!(in_doubt.len() as u64, in_doubt_count);

    let by_token = mock.registrations_by_token();
    assert!(
        by_token.values().all(|count| *count == 1),
        "a row was registered twice without --resend-in-doubt"
    );
    for index in 0..ROWS {
        let token = format!("token-{index:05}");
        if !by_token.contains_key(&token) {
            assert!(in_doubt.contains(&token), "{token} is neither registered nor in doubt");
        }
    }

    // --resend-in-doubt sends exactly those rows again.
    let (code, resent) = run_json(import(&mock, &file).arg("--resend-in-doubt"));
    assert_eq!(code, 0, "{resent}");
    assert_eq!(resent["registered"].as_u64(), Some(in_doubt_count));
    let by_token = mock.registrations_by_token();
    assert_eq!(by_token.len(), ROWS, "every row is registered");
    for (token, count) in &by_token {
        if *count > 1 {
            assert!(in_doubt.contains(token), "{token} was registered {count} times but was not in doubt");
        }
    }
}

#[test]
fn import_stops_when_zego_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 100);
    let (code, summary) = run_json(
        zego_push_at(CLOSED_URL)
            .args(["--json", "import", "--rate", "0", "--concurrency", "2", "--max-attempts", "1"])
            .args(["--max-unreachable", "5"])
            .arg(&file),
    );
    assert_eq!(code, 4, "{summary}");
    assert_eq!(summary["stopped"], "unreachable");
    let unreachable = summary["unreachable"].as_u64().unwrap();
    assert!((5..=7).contains(&unreachable), "{summary}");
    assert!(summary["not_attempted"].as_u64().unwrap() >= 90, "{summary}");

    let output = run(zego_push_at(CLOSED_URL)
        .args(["import", "--rate", "0", "--concurrency", "1", "--max-attempts", "1"])
        .args(["--max-unreachable", "1", "--restart"])
        .arg(&file));
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("unreachable or busy for 1 row in a row"), "{stdout}");
    assert!(stdout.contains("fix: check the network, proxy and firewall"), "{stdout}");
    assert!(stdout.contains("--base-url or --region"), "{stdout}");
}

#[test]
fn import_stops_on_rejected_credentials() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 100);
    let (code, summary) = run_json(
        import(&mock, &file)
            .env("ZEGO_SERVER_SECRET", "ffffffffffffffffffffffffffffffff")
            .args(["--concurrency", "1"]),
    );
    assert_eq!(code, 3, "{summary}");
    assert_eq!(summary["stopped"], "rejected");
    assert_eq!(summary["rejected"], 1);
    assert_eq!(summary["not_attempted"], 99);

    // With the right secret the same state file resumes, sending the rejected row again.
    let (code, resumed) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 0, "{resumed}");
    assert_eq!(resumed["registered"], 100);
}

#[test]
fn import_retry_failed_resends_rejected() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 5);
    mock.set_faults(Faults {
        code: Some(CodeFault { code: 660_200_001, message: "user does not exist".into(), count: Some(1) }),
        ..Faults::default()
    });

    let (code, first) = run_json(import(&mock, &file).args(["--concurrency", "1"]));
    assert_eq!(code, 6, "{first}");
    assert_eq!(first["rejected"], 1);
    assert_eq!(first["registered"], 4);
    let failures = read_failures(&failures_path(&file));
    assert_eq!(failures.len(), 1);
    assert!(failures[0].2.contains("660200001"), "{failures:?}");

    let (code, second) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 6, "{second}");
    assert_eq!(second["rejected_earlier"], 1);
    assert_eq!(second["registered"], 0);

    let (code, third) = run_json(import(&mock, &file).arg("--retry-failed"));
    assert_eq!(code, 0, "{third}");
    assert_eq!(third["registered"], 1);
    assert_eq!(mock.registrations_by_token().len(), 5);
    assert!(!failures_path(&file).exists(), "a run without failures deletes the old failures file");
}

#[test]
fn import_summary_says_what_rerun_sends() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 3);

    let output = run(zego_push_for(&mock)
        .env("ZEGO_SERVER_SECRET", "ffffffffffffffffffffffffffffffff")
        .args(["import", "--rate", "0", "--concurrency", "1"])
        .arg(&file));
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("next run: sends 1 row again (rejected for the credentials or configuration) and 2 rows not attempted by this run\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("--retry-failed"), "{stdout}");

    mock.set_faults(Faults {
        code: Some(CodeFault { code: 2, message: "bad parameter".into(), count: Some(1) }),
        ..Faults::default()
    });
    let output = run(zego_push_for(&mock).args(["import", "--rate", "0", "--concurrency", "1"]).arg(&file));
    assert_eq!(output.status.code(), Some(6), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("skips 1 row rejected for the row itself"), "{stdout}");
    assert!(stdout.contains("unless --retry-failed is given"), "{stdout}");
    assert!(!stdout.contains("sends 1 row again"), "{stdout}");

    let (code, summary) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 6, "{summary}");
    assert_eq!(summary["resent_with_retry_failed"], 1);
    assert_eq!(summary["resent_next_run"], 0);
}

#[test]
fn import_summary_counts_one_row() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 1);
    let output = run(zego_push_for(&mock).args(["import", "--rate", "0"]).arg(&file));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(": 1 row in "), "{stdout}");
}

#[test]
fn import_rejects_other_apps_state() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 3);
    let (code, _) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 0);

    let output = run(import(&mock, &file).env("ZEGO_APP_ID", "42"));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("AppId 1234567890"), "{}", describe(&output));
}

#[test]
fn import_rate_is_a_maximum() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 40);
    let started = Instant::now();
    let child = zego_push_for(&mock)
        .args(["--json", "import", "--rate", "20"])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zego-push starts");

    // At 20 per second, the first half second holds at most 11 starts; the
    // old limiter's burst of 20 let about 30 through. Counting from the
    // spawn only lowers the count, so a slow machine cannot fail this.
    std::thread::sleep(Duration::from_millis(500).saturating_sub(started.elapsed()));
    let early = mock.registration_count();
    assert!(early <= 20, "{early} calls in the first 0.5 s at --rate 20");

    let output = child.wait_with_output().expect("zego-push runs");
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(mock.registration_count(), 40);
}

#[test]
fn import_text_summary_names_files() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "two.csv", "user_id,token,platform\nu1,t1,android\nu2,t2,web\n");
    let output = run(zego_push_for(&mock).args(["import", "--rate", "0"]).arg(&file));
    assert_eq!(output.status.code(), Some(6), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("registered"), "{stdout}");
    assert!(stdout.contains("two.csv.failed.csv"), "{stdout}");
    assert!(stdout.contains("two.csv.state.jsonl"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3: invalid platform"), "{stderr}");
}

#[test]
fn import_rejects_missing_header_column() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "bad.csv", "user,token,platform\nu1,t1,android\n");
    let output = run(zego_push_for(&mock).args(["import"]).arg(&file));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no user_id column"));
    assert!(mock.state().calls().is_empty());
}

#[test]
fn import_reports_unwritable_failures_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 20);
    let failures = dir.path().join("no-such-directory").join("failed.csv");
    let unreachable_import = |json: bool| {
        let mut command = zego_push_at(CLOSED_URL);
        if json {
            command.arg("--json");
        }
        command
            .args(["import", "--rate", "0", "--concurrency", "1", "--max-attempts", "1"])
            .args(["--max-unreachable", "2", "--restart", "--failures"])
            .arg(&failures)
            .arg(&file);
        command
    };

    // The run stops for the unreachable host, and the failures file error is still reported.
    let output = run(&mut unreachable_import(true));
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let summary: Value = serde_json::from_slice(&output.stdout).expect("a JSON summary");
    assert_eq!(summary["stopped"], "unreachable");
    assert_eq!(summary["failures_file"], Value::Null);
    let error = summary["failures_file_error"].as_str().expect("an error message");
    assert!(error.starts_with("cannot write the failures file"), "{error}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: cannot write the failures file"), "{stderr}");

    let output = run(&mut unreachable_import(false));
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("error: cannot write the failures file"), "{stdout}");
    assert!(!stdout.contains("failures file:"), "{stdout}");
}

#[test]
fn import_unwritable_failures_file_exits_1() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "two.csv", "user_id,token,platform\nu1,t1,android\nu2,t2,web\n");
    let failures = dir.path().join("no-such-directory").join("failed.csv");
    let output =
        run(zego_push_for(&mock).args(["import", "--rate", "0", "--failures"]).arg(&failures).arg(&file));
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("skipped; the failures file was not written"), "{stdout}");
    assert!(!stdout.contains("see the failures file"), "{stdout}");
    assert!(!stdout.contains("stopped:"), "the run did not stop early: {stdout}");
}

#[test]
fn import_rejects_two_token_columns() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "both.csv", "user_id,token,fcm_token,platform\nu1,t1,t2,android\n");
    let output = run(zego_push_for(&mock).args(["import"]).arg(&file));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("more than one column for the same field: token, fcm_token"), "{stderr}");
    assert!(mock.state().calls().is_empty());
}

#[test]
fn import_jsonl_conflicting_tokens_are_invalid() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "both.jsonl",
        "{\"user_id\":\"u1\",\"token\":\"t1\",\"fcm_token\":\"t2\",\"platform\":\"android\"}\n\
         {\"user_id\":\"u2\",\"token\":\"t3\",\"platform\":\"android\",\"platform\":\"ios\"}\n\
         {\"user_id\":\"u4\",\"fcm_token\":\"t4\",\"push_token\":\"t4\",\"platform\":\"android\"}\n",
    );
    let (code, summary) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 6, "{summary}");
    assert_eq!(summary["invalid"], 2);
    assert_eq!(summary["registered"], 1);
    let failures = read_failures(&failures_path(&file));
    assert_eq!(failures[0].0, 1);
    assert!(failures[0].2.contains("token and fcm_token have different values"), "{failures:?}");
    assert_eq!(failures[1].0, 2);
    assert!(failures[1].2.contains("platform is given twice with different values"), "{failures:?}");
    assert_eq!(failures[0].1, "", "the token column takes neither of the two tokens");
    assert_eq!(mock.registrations_by_token().keys().collect::<Vec<_>>(), ["t4"]);

    // The failures file, imported unedited, registers nothing: each row
    // still lacks the field whose value the user has to choose.
    let (code, summary) = run_json(&mut import(&mock, &failures_path(&file)));
    assert_eq!(code, 6, "{summary}");
    assert_eq!(summary["invalid"], 2);
    assert_eq!(summary["registered"], 0);
    let failures = read_failures(&failures_path(&failures_path(&file)));
    assert!(failures[0].2.starts_with("invalid token: must not be empty"), "{failures:?}");
    assert!(failures[1].2.starts_with("invalid platform: must not be empty"), "{failures:?}");
    assert_eq!(mock.registrations_by_token().keys().collect::<Vec<_>>(), ["t4"]);
}

/// Reads the failures file's `original` column, as bytes.
fn read_originals(path: &Path) -> Vec<Vec<u8>> {
    let mut reader = csv::Reader::from_path(path).expect("the failures file is CSV");
    let headers = reader.byte_headers().expect("a header row").clone();
    let column = headers.iter().position(|name| name == b"original").expect("an original column");
    reader.byte_records().map(|record| record.expect("a CSV record")[column].to_vec()).collect()
}

#[test]
fn import_failures_keep_original_rows() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let jsonl_rows: [&[u8]; 3] = [
        b"{\"user_id\": 42, \"token\": \"t1\", \"platform\": \"android\"}",
        b"{\"user_id\": \"u2\", \"token\": \"t2\",",
        b"{\"user_id\": \"ren\xe9\", \"token\": \"t3\", \"platform\": \"ios\"}",
    ];
    let jsonl = dir.path().join("rows.jsonl");
    std::fs::write(&jsonl, [jsonl_rows.join(&b"\n"[..]), b"\n".to_vec()].concat()).unwrap();
    let (code, summary) = run_json(&mut import(&mock, &jsonl));
    assert_eq!(code, 6, "{summary}");
    assert_eq!(summary["invalid"], 3);
    assert_eq!(read_originals(&failures_path(&jsonl)), jsonl_rows);
    let failures = read_failures(&failures_path(&jsonl));
    assert!(failures[1].2.starts_with("invalid row: is not valid JSON: EOF while parsing"), "{failures:?}");
    assert!(failures[1].2.ends_with(" at column 32 of the line"), "{failures:?}");
    assert!(!failures[1].2.contains("line 1"), "{failures:?}");
    assert!(failures[2].2.contains("is not valid UTF-8 (byte 0xE9 at byte 17 of the line)"), "{failures:?}");

    let csv_rows: [&[u8]; 2] = [b"u1,t1,web,notes", b"\"u\xe92\",t2,android,\"a, b\""];
    let csv = dir.path().join("rows.csv");
    std::fs::write(
        &csv,
        [b"user_id,token,platform,notes\r\n".to_vec(), csv_rows.join(&b"\r\n"[..])].concat(),
    )
    .unwrap();
    let (code, summary) = run_json(&mut import(&mock, &csv));
    assert_eq!(code, 6, "{summary}");
    assert_eq!(read_originals(&failures_path(&csv)), csv_rows);
    let failures = read_failures(&failures_path(&csv));
    assert!(
        failures[1]
            .2
            .starts_with("invalid row: user_id is not valid UTF-8 (byte 0xE9 at byte 2 of the field)"),
        "{failures:?}"
    );

    // Fix the row in the failures file and import that file.
    let fixed = std::fs::read(failures_path(&csv)).unwrap();
    let fixed = String::from_utf8_lossy(&fixed).replacen("u1,t1,web", "u1,t1,android", 1);
    let fixed = write_file(dir.path(), "fixed.csv", &fixed);
    let (code, summary) = run_json(&mut import(&mock, &fixed));
    assert_eq!(code, 6, "{summary}");
    assert_eq!(summary["registered"], 1);
    assert_eq!(mock.registrations_by_token().get("t1"), Some(&1));
}

#[test]
fn import_ignores_bytes_of_other_columns() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.csv");
    std::fs::write(&file, b"user_id,token,platform,notes\nu1,t1,android,caf\xe9\n").unwrap();
    let (code, summary) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["registered"], 1);
    assert_eq!(mock.registrations_by_token().get("t1"), Some(&1));
}

#[test]
fn import_rejects_json_array() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "rows.json",
        "[\n  {\"user_id\": \"u1\", \"token\": \"t1\", \"platform\": \"android\"},\n  {\"user_id\": \"u2\", \"token\": \"t2\", \"platform\": \"android\"}\n]\n",
    );
    let output = run(zego_push_for(&mock).args(["import"]).arg(&file));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("looks like a JSON array"), "{stderr}");
    assert!(stderr.contains("one JSON object per line"), "{stderr}");
    assert!(stderr.contains("jq -c '.[]'"), "{stderr}");
    assert!(mock.state().calls().is_empty(), "nothing is sent");
    assert!(!failures_path(&file).exists());
}

#[test]
fn import_missing_file_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(zego_push_at(CLOSED_URL).args(["import"]).arg(dir.path().join("tokens.txt")));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tokens.txt was not found"), "{stderr}");
    assert!(!stderr.contains("extension"), "{stderr}");
}

#[test]
fn import_empty_platform_says_empty() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "rows.csv", "user_id,token,platform\nu1,t1,\n");
    let (code, summary) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 6, "{summary}");
    let failures = read_failures(&failures_path(&file));
    assert!(failures[0].2.starts_with("invalid platform: must not be empty"), "{failures:?}");
}

#[test]
fn import_resumes_with_corrected_base_url() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 20);

    // A wrong base URL: nothing is registered, and the summary suggests a corrected one.
    let output = run(zego_push_at(CLOSED_URL)
        .args(["import", "--rate", "0", "--concurrency", "1", "--max-attempts", "1"])
        .args(["--max-unreachable", "3"])
        .arg(&file));
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("if --base-url or --region was wrong, run again with the right one"), "{stdout}");
    assert!(
        stdout.contains(
            "next run: sends 3 rows again (unreachable or busy) and 17 rows not attempted by this run\n"
        ),
        "{stdout}"
    );

    // The same state file is used with the corrected base URL.
    let output = run(import(&mock, &file).stderr(Stdio::piped()));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("note: the endpoint changed from http://127.0.0.1:1"), "{stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).expect("a JSON summary");
    assert_eq!(summary["registered"], 20);
    assert_eq!(mock.registration_count(), 20);
}

#[test]
fn import_keeps_endpoint_with_registered_rows() {
    let mock = Mock::start();
    let other = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 5);
    let (code, summary) = run_json(&mut import(&mock, &file));
    assert_eq!(code, 0, "{summary}");

    // The state file records rows registered at the first mock, so the other one is rejected.
    let output = run(&mut import(&other, &file));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("records 5 rows registered, rejected or in doubt"), "{stderr}");
    assert!(stderr.contains("give another --state or --restart"), "{stderr}");
    assert!(other.state().calls().is_empty(), "nothing is sent to the other endpoint");

    // The first mock now drops every connection, so its endpoint is
    // unreachable. With rows registered there, the summary suggests keeping
    // the endpoint. (Stopping the mock would free its port for other tests.)
    mock.set_faults(Faults { drop_connections: 1000, ..Faults::default() });
    let file = write_rows(dir.path(), 10);
    let output = run(zego_push_at(&mock.base_url)
        .args(["import", "--rate", "0", "--concurrency", "1", "--max-attempts", "1"])
        .args(["--max-unreachable", "1"])
        .arg(&file));
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("so run again with the same --base-url and --region"), "{stdout}");
    assert!(!stdout.contains("if --base-url or --region was wrong"), "{stdout}");
}

#[test]
fn import_help_says_which_rows_fail() {
    let output = run(zego_push().args(["import", "--help"]));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let help = String::from_utf8_lossy(&output.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("lists each row this run reached and did not register"), "{help}");
    assert!(
        help.contains("Rows not attempted, duplicates and rows already registered are left out"),
        "{help}"
    );
    assert!(!help.contains("every row not registered"), "{help}");
}

#[test]
fn import_failures_leave_out_not_attempted() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_rows(dir.path(), 10);
    let (code, summary) = run_json(
        import(&mock, &file)
            .env("ZEGO_SERVER_SECRET", "ffffffffffffffffffffffffffffffff")
            .args(["--concurrency", "1"]),
    );
    assert_eq!(code, 3, "{summary}");
    assert_eq!(summary["not_attempted"], 9);
    assert_eq!(summary["resent_next_run"], 10);
    let lines: Vec<u64> = read_failures(&failures_path(&file)).iter().map(|(line, _, _)| *line).collect();
    assert_eq!(lines, [2], "only the row sent is listed, not the rows never reached");
}
