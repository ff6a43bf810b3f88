//! `zego-push register`, run as a binary against a zego-mock on loopback.

mod common;

use common::{describe, run, run_json, zego_push, zego_push_at, zego_push_for, Mock, APP_ID, CLOSED_URL};
use zego_mock::{CodeFault, Faults};

const REGISTER: [&str; 7] =
    ["register", "--user-id", "user123", "--token", "fcm_token_1", "--platform", "android"];

#[test]
fn register_prints_zego_reply() {
    let mock = Mock::start();
    let output = run(zego_push_for(&mock).args(REGISTER));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Code 0"), "{text}");
    assert!(text.contains("\"Message\": \"success\""), "{text}");

    let registrations = mock.state().registrations();
    assert_eq!(registrations.len(), 1);
    assert_eq!(registrations[0].user_id, "user123");
    assert_eq!(registrations[0].push_id, "fcm_token_1");
    assert_eq!(registrations[0].push_provider, 1);
}

#[test]
fn register_logs_hide_secret_and_token() {
    let mock = Mock::start();
    let output = run(zego_push_for(&mock).arg("-vvv").args(REGISTER));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("sending PushRegister"), "-vvv logs nothing: {logs}");
    assert!(!logs.contains(common::SECRET), "the secret is in the logs: {logs}");
    assert!(!logs.contains("fcm_token_1"), "the token is in the logs: {logs}");
}

#[test]
fn register_debug_logs_each_request() {
    let mock = Mock::start();
    mock.set_faults(Faults { http_500: 1, ..Faults::default() });
    let output = run(zego_push_for(&mock).arg("-vv").args(REGISTER));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("sending a ZEGO request"), "{logs}");
    assert!(logs.contains(&format!("url=\"{}/\"", mock.base_url)), "{logs}");
    assert!(logs.contains("scheme=\"guide\""), "{logs}");
    assert!(logs.contains("retrying attempt=1"), "{logs}");
    assert!(logs.contains("ZEGO request succeeded"), "{logs}");
    assert!(logs.contains("attempts=2"), "{logs}");
    assert!(!logs.contains(common::SECRET), "the secret is in the logs: {logs}");
    assert!(!logs.contains("fcm_token_1"), "the token is in the logs: {logs}");

    let output = run(zego_push_for(&mock).arg("-v").args(REGISTER));
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(!logs.contains("sending a ZEGO request"), "-v logs each request: {logs}");
}

#[test]
fn register_json_carries_reply() {
    let mock = Mock::start();
    let (code, document) = run_json(zego_push_for(&mock).arg("--json").args(REGISTER));
    assert_eq!(code, 0, "{document}");
    assert_eq!(document["ok"], true);
    assert_eq!(document["reply"]["Code"], 0);
    assert!(document["reply"]["RequestId"].is_string());
}

#[test]
fn register_v2_scheme_is_accepted() {
    let mock = Mock::start();
    let output = run(zego_push_for(&mock).args(REGISTER).args(["--scheme", "v2"]));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(mock.state().registrations()[0].scheme, "v2");
}

#[test]
fn register_dry_run_sends_nothing() {
    let mock = Mock::start();
    let (code, document) = run_json(zego_push_for(&mock).arg("--json").args(REGISTER).arg("--dry-run"));
    assert_eq!(code, 0, "{document}");
    assert_eq!(document["method"], "POST");
    assert_eq!(document["url"], format!("{}/?Action=PushRegister", mock.base_url));
    assert_eq!(document["headers"]["Content-Type"], "application/json");
    assert_eq!(document["headers"]["AppId"], APP_ID);
    let signature = document["headers"]["Signature"].as_str().expect("a Signature header");
    assert_eq!(signature.len(), 64);
    assert_eq!(document["signature"]["signature"], signature);
    assert_eq!(document["body"]["UserId"], "user123");
    assert_eq!(document["body"]["PushID"], "fcm_token_1");
    assert_eq!(document["body"]["PushProvider"], 1);
    assert!(mock.state().calls().is_empty(), "a dry run sent a request");
}

#[test]
fn register_dry_run_text_shows_request() {
    let mock = Mock::start();
    let output = run(zego_push_for(&mock).args(REGISTER).arg("--dry-run"));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(&format!("POST {}/?Action=PushRegister", mock.base_url)), "{text}");
    assert!(text.contains("Signature: "), "{text}");
    assert!(text.contains("\"PushID\":\"fcm_token_1\""), "{text}");
    assert!(mock.state().calls().is_empty());
}

#[test]
fn register_rejects_invalid_input() {
    let mock = Mock::start();
    let too_long = "u".repeat(33);
    let output = run(zego_push_for(&mock).args([
        "register",
        "--user-id",
        &too_long,
        "--token",
        "t",
        "--platform",
        "android",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid --user-id"), "{}", describe(&output));
    assert!(mock.state().calls().is_empty(), "an invalid registration was sent");
}

#[test]
fn register_apns_token_needs_hex() {
    let mock = Mock::start();
    let output = run(zego_push_for(&mock).args([
        "register",
        "--user-id",
        "u",
        "--token",
        "not-hex",
        "--platform",
        "ios",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("APNs token"), "{}", describe(&output));
}

#[test]
fn register_errors_name_flags() {
    let mock = Mock::start();
    let apns_65 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0";
    let output = run(zego_push_for(&mock).args([
        "register",
        "--user-id",
        "u",
        "--token",
        apns_65,
        "--platform",
        "ios",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid --token: has 65 hex digits"), "{stderr}");
    assert!(stderr.contains("give --provider fcm"), "{stderr}");
    assert!(!stderr.contains("fcm_token"), "{stderr}");
    assert!(!stderr.contains("\"provider\""), "{stderr}");
    assert!(mock.state().calls().is_empty(), "an invalid registration was sent");
}

#[test]
fn register_reports_rejection() {
    let mock = Mock::start();
    let (code, document) = run_json(
        zego_push_for(&mock)
            .env("ZEGO_SERVER_SECRET", "ffffffffffffffffffffffffffffffff")
            .arg("--json")
            .args(REGISTER),
    );
    assert_eq!(code, 3, "{document}");
    assert_eq!(document["ok"], false);
    assert_eq!(document["error"]["kind"], "rejected");
    assert_eq!(document["error"]["code"], 100_000_005);
    assert_eq!(document["error"]["class"], "credentials");
    assert_eq!(document["reply"]["Code"], 100_000_005);
}

#[test]
fn register_reports_injected_code() {
    let mock = Mock::start();
    mock.set_faults(Faults {
        code: Some(CodeFault { code: 660_200_001, message: "user does not exist".into(), count: None }),
        ..Faults::default()
    });
    let output = run(zego_push_for(&mock).args(REGISTER));
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Code 660200001"), "{}", describe(&output));
    assert!(output.stdout.is_empty(), "a rejection was printed on stdout: {}", describe(&output));
}

#[test]
fn register_reports_unreachable_host() {
    let (code, document) =
        run_json(zego_push_at(CLOSED_URL).arg("--json").args(REGISTER).args(["--max-attempts", "1"]));
    assert_eq!(code, 4, "{document}");
    assert_eq!(document["error"]["kind"], "unreachable");
    assert!(document["error"]["hint"].as_str().unwrap().contains("--base-url"), "{document}");

    let output = run(zego_push_at(CLOSED_URL).args(REGISTER).args(["--max-attempts", "1"]));
    assert_eq!(output.status.code(), Some(4), "{}", describe(&output));
    let text = describe(&output);
    assert!(text.contains("fix: check the network, proxy and firewall"), "{text}");
    assert!(text.contains("--region"), "{text}");
}

#[test]
fn register_without_app_id_is_input_error() {
    let output = run(zego_push().env("ZEGO_SERVER_SECRET", common::SECRET).args(REGISTER));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no AppId"));
}

#[test]
fn register_json_error_goes_to_stdout() {
    let (code, document) = run_json(zego_push().arg("--json").args(REGISTER));
    assert_eq!(code, 2);
    assert_eq!(document["ok"], false);
    assert_eq!(document["exit_code"], 2);
    assert!(document["error"].as_str().unwrap().contains("AppId"), "{document}");
}

#[test]
fn help_lists_exit_codes() {
    let cases: [(&[&str], &[&str]); 8] = [
        (&["--help"], &["0", "1", "2", "3", "4", "5", "6", "7", "130"]),
        (&["sign", "--help"], &["0", "1", "2"]),
        (&["register", "--help"], &["0", "1", "2", "3", "4"]),
        (&["doctor", "--help"], &["0", "1", "2", "5"]),
        (&["import", "--help"], &["0", "1", "2", "3", "4", "6", "130"]),
        (&["token", "--help"], &["0", "1", "2"]),
        (&["token", "inspect", "--help"], &["0", "1", "2"]),
        (&["verify-callback", "--help"], &["0", "1", "2", "7"]),
    ];
    for (args, codes) in cases {
        let output = run(zego_push().args(args));
        assert!(output.status.success(), "{}", describe(&output));
        let text = String::from_utf8_lossy(&output.stdout);
        let table =
            text.split("Exit status:").nth(1).unwrap_or_else(|| panic!("{args:?}: no table in {text}"));
        let listed: Vec<&str> = table.lines().filter_map(|line| line.split_whitespace().next()).collect();
        assert_eq!(listed, codes, "{args:?}: {table}");
    }
}

#[test]
fn help_hides_secret_from_environment() {
    let output =
        run(zego_push().env("ZEGO_SERVER_SECRET", "visible-only-if-leaked").args(["register", "--help"]));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("ZEGO_SERVER_SECRET"), "{text}");
    assert!(!text.contains("visible-only-if-leaked"), "{text}");
}

#[test]
fn register_rejects_out_of_range_timeouts() {
    let mock = Mock::start();
    for flag in ["--timeout-ms", "--connect-timeout-ms"] {
        for value in ["0", "600001"] {
            let output = run(zego_push_for(&mock).args(REGISTER).args([flag, value]));
            assert_eq!(output.status.code(), Some(2), "{flag} {value}: {}", describe(&output));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
        }
    }
    assert!(mock.state().calls().is_empty(), "a request was sent with an invalid timeout");

    let output = run(zego_push_for(&mock).args(REGISTER).args(["--timeout-ms", "600000"]));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn register_rejects_unknown_region_with_base_url() {
    let mock = Mock::start();
    let output = run(zego_push_for(&mock).args(REGISTER).args(["--region", "mars", "--dry-run"]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("mars"), "{}", describe(&output));
}

#[test]
fn flag_error_honours_json() {
    let mock = Mock::start();
    for args in [vec!["--json", "register", "--user-id", "u"], vec!["register", "--bogus", "--json"]] {
        let output = run(zego_push_for(&mock).args(&args));
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", describe(&output));
        let document: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("{args:?}: stdout is not JSON ({error}): {}", describe(&output)));
        assert_eq!(document["ok"], false, "{args:?}");
        assert_eq!(document["exit_code"], 2, "{args:?}");
        assert!(!document["error"].as_str().unwrap().is_empty(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("Usage:"),
            "{args:?}: {}",
            describe(&output)
        );
    }
    let output = run(zego_push_for(&mock).args(["register", "--bogus"]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(output.stdout.is_empty(), "text mode printed on stdout: {}", describe(&output));

    let output = run(zego_push_for(&mock).args(["--json", "register", "--help"]));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Usage:"), "{}", describe(&output));
}

#[test]
fn closed_stdout_exits_quietly() {
    // Output larger than a pipe buffer, so the write fails however fast the reader closes.
    let user_id = "a".repeat(100_000);
    let mut child = zego_push_for(&Mock::start())
        .args(["sign", "--user-id", &user_id, "--token", "t", "--platform", "android"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("zego-push starts");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("zego-push runs");
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(output.stderr.is_empty(), "{}", describe(&output));
}

#[test]
fn register_rejects_invalid_proxy_variable() {
    for value in ["socks5://user:s3cret@127.0.0.1:1", "htp://user:s3cret@127.0.0.1:1"] {
        let output = run(zego_push_at("https://zego.invalid")
            .env("HTTPS_PROXY", value)
            // Should HTTPS_PROXY ever be skipped, requests still stay on loopback.
            .env("ALL_PROXY", CLOSED_URL)
            .args(REGISTER));
        assert_eq!(output.status.code(), Some(2), "{value}: {}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("HTTPS_PROXY "), "{stderr}");
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
}

#[test]
fn invalid_environment_value_is_named() {
    let output = run(zego_push().env("ZEGO_TIMEOUT_MS", "abc").args(REGISTER));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid value 'abc' for '--timeout-ms <MS>'"), "{stderr}");
    assert!(
        stderr.contains("note: the value comes from the environment variable ZEGO_TIMEOUT_MS"),
        "{stderr}"
    );

    let (code, document) = run_json(zego_push().env("ZEGO_TIMEOUT_MS", "abc").arg("--json").args(REGISTER));
    assert_eq!(code, 2, "{document}");
    let message = document["error"].as_str().unwrap_or_default();
    assert!(message.contains("environment variable ZEGO_TIMEOUT_MS"), "{document}");

    // Typed on the command line, the flag itself is the source.
    let output = run(zego_push().env("ZEGO_TIMEOUT_MS", "abc").args(REGISTER).args(["--timeout-ms", "x"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid value 'x'"), "{stderr}");
    assert!(!stderr.contains("environment variable"), "{stderr}");
}
