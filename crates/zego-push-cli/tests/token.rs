//! `zego-push token`, `token inspect` and `verify-callback`, run as a
//! binary. The Token04 vectors are the published ones: the plaintext
//! `{"app_id":1,"user_id":"demo","nonce":123456789,"ctime":1700000000,
//! "expire":1700003600,"payload":""}` encrypted with the secret below,
//! checked with Python's `cryptography` package.

mod common;

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{describe, run, run_json, write_file, zego_push};
use serde_json::Value;
use zego_core::callback::callback_signature;

const SECRET: &str = "fa94dd0f974cf2e293728a526b028271";
const OTHER_SECRET: &str = "00000000000000000000000000000000";
const GCM_VECTOR: &str = "04AAAAAGVT/xAADAABAgMEBQYHCAkKCwBzlo4HRoGUdkuLbKIoOhbZY6YpcMaBTLWHRtiSNdXNuWkV2JYrMFwLwjjq6aFvxM5vMUW1ucoWpme7Vck+JCYUW5+rbF2LagnFZkRVec2ODtmU4F4kKEo7U2F+thJs5COIYlau+pkGhJGWuIAhD9RBltNqvwE=";
const CBC_VECTOR: &str = "04AAAAAGVT/xAAEDAxMjM0NTY3ODlhYmNkZWYAcPDOWcZeMCPxbh1dpHzCTREIwK2oIO5x78Qlcu9iUMPYkqBI5TvjB3JwCxC9+klE8/eu//t2uE7+o7gQ53yB/JkIFUA6xyD5rb5rd5NER5knvdDJH2auGOam8ZKJG5qT/1t+UUUnbL8ghIsUgkbwAAg=";

/// Returns a `zego-push` command with `secret` in ZEGO_SERVER_SECRET.
fn with_secret(secret: &str) -> Command {
    let mut command = zego_push();
    command.env("ZEGO_SERVER_SECRET", secret);
    command
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn inspect_json(token: &str) -> (i32, Value) {
    run_json(with_secret(SECRET).args(["--json", "token", "inspect", token]))
}

fn generate_json(extra: &[&str]) -> (i32, Value) {
    let mut command = with_secret(SECRET);
    command.args(["--json", "token", "--app-id", "1234567890", "--user-id", "alice"]).args(extra);
    run_json(&mut command)
}

#[test]
fn inspect_decodes_published_vectors() {
    for (vector, format) in [(GCM_VECTOR, "gcm"), (CBC_VECTOR, "cbc")] {
        let (code, document) = inspect_json(vector);
        assert_eq!(code, 0, "{document}");
        assert_eq!(document["app_id"], 1, "{document}");
        assert_eq!(document["user_id"], "demo", "{document}");
        assert_eq!(document["nonce"], 123_456_789, "{document}");
        assert_eq!(document["ctime_unix"], 1_700_000_000_i64, "{document}");
        assert_eq!(document["expire_unix"], 1_700_003_600_i64, "{document}");
        assert_eq!(document["payload"], "", "{document}");
        assert_eq!(document["format"], format, "{document}");
        assert_eq!(document["expired"], true, "{document}");
    }
}

#[test]
fn inspect_text_shows_local_time() {
    // A POSIX TZ string needs no time zone database: JST is UTC+9.
    let output = run(with_secret(SECRET).env("TZ", "JST-9").args(["token", "inspect", GCM_VECTOR]));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("ctime    2023-11-15T07:13:20+09:00 (1700000000)"), "{text}");
    assert!(text.contains("expire   2023-11-15T08:13:20+09:00 (1700003600)"), "{text}");
    assert!(text.contains("payload  \"\""), "{text}");
    assert!(text.contains("format   gcm"), "{text}");
    assert!(text.contains("expired  yes"), "{text}");
}

#[test]
fn generate_inspect_round_trip() {
    for format in ["gcm", "cbc"] {
        let before = unix_now();
        let (code, generated) = generate_json(&[
            "--effective-seconds",
            "600",
            "--payload",
            "{\"room\":\"r1\"}",
            "--format",
            format,
        ]);
        assert_eq!(code, 0, "{generated}");
        assert_eq!(generated["format"], format, "{generated}");
        let expire = generated["expire_unix"].as_i64().unwrap();
        assert!((before + 600..=unix_now() + 600).contains(&expire), "{generated}");
        assert!(generated["expire"].as_str().unwrap().starts_with("20"), "{generated}");

        let token = generated["token"].as_str().unwrap();
        let (code, inspected) = inspect_json(token);
        assert_eq!(code, 0, "{inspected}");
        assert_eq!(inspected["app_id"], 1_234_567_890_i64, "{inspected}");
        assert_eq!(inspected["user_id"], "alice", "{inspected}");
        assert_eq!(inspected["payload"], "{\"room\":\"r1\"}", "{inspected}");
        assert_eq!(inspected["format"], format, "{inspected}");
        assert_eq!(inspected["expire_unix"], expire, "{inspected}");
        assert_eq!(inspected["expired"], false, "{inspected}");
    }
}

#[test]
fn generate_prints_token_only() {
    let output = run(with_secret(SECRET).args(["token", "--app-id", "7", "--user-id", "bob"]));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("04"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains(SECRET));
}

#[test]
fn generate_reads_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "secret", &format!("{SECRET}\n"));
    let output = run(zego_push()
        .args(["token", "--app-id", "7", "--user-id", "bob", "--server-secret-file"])
        .arg(&path));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let (code, inspected) = inspect_json(&token);
    assert_eq!(code, 0, "{inspected}");
    assert_eq!(inspected["user_id"], "bob", "{inspected}");
}

#[test]
fn generate_input_errors_carry_zego_codes() {
    let cases: [(&str, &[&str], &str); 5] = [
        ("1", &["--app-id", "0", "--user-id", "u"], SECRET),
        ("3", &["--app-id", "1", "--user-id", ""], SECRET),
        ("5", &["--app-id", "1", "--user-id", "u"], "short-secret"),
        ("6", &["--app-id", "1", "--user-id", "u", "--effective-seconds", "0"], SECRET),
        ("6", &["--app-id", "1", "--user-id", "u", "--effective-seconds", "-5"], SECRET),
    ];
    for (zego_code, args, secret) in cases {
        let (code, document) = run_json(with_secret(secret).args(["--json", "token"]).args(args));
        assert_eq!(code, 2, "{args:?}: {document}");
        assert_eq!(document["ok"], false, "{args:?}: {document}");
        let message = document["error"].as_str().unwrap();
        assert!(message.contains(&format!("ZEGO error code {zego_code}")), "{args:?}: {message}");
    }
}

#[test]
fn generate_effective_seconds_upper_bound() {
    let before = unix_now();
    let (code, document) = generate_json(&["--effective-seconds", "31536000"]);
    assert_eq!(code, 0, "{document}");
    let expire = document["expire_unix"].as_i64().unwrap();
    assert!((before + 31_536_000..=unix_now() + 31_536_000).contains(&expire), "{document}");

    for value in ["31536001", "9223372036854775807"] {
        let (code, document) = generate_json(&["--effective-seconds", value]);
        assert_eq!(code, 2, "{value}: {document}");
        let message = document["error"].as_str().unwrap();
        assert!(message.starts_with(&format!("invalid --effective-seconds {value}")), "{message}");
        assert!(message.contains("the maximum is 31536000 s (365 days)"), "{message}");
        assert!(document.get("token").is_none(), "{document}");
    }
}

#[test]
fn generate_too_long_payload_names_own_code() {
    let payload = "x".repeat(70_000);
    let (code, document) = run_json(with_secret(SECRET).args([
        "--json",
        "token",
        "--app-id",
        "1",
        "--user-id",
        "u",
        "--payload",
        &payload,
    ]));
    assert_eq!(code, 2, "{document}");
    let message = document["error"].as_str().unwrap();
    assert!(message.contains("(error code 7)"), "{message}");
    assert!(!message.contains("ZEGO error code"), "{message}");
}

#[test]
fn generate_rejects_non_numeric_app_id() {
    let output = run(with_secret(SECRET).args(["token", "--app-id", "abc", "--user-id", "u"]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid --app-id"), "{}", describe(&output));
}

#[test]
fn inspect_reads_rtc_privilege_payload() {
    let payload = r#"{"room_id":"room-1","privilege":{"1":1,"2":0},"stream_id_list":["s1","s2"]}"#;
    let (code, generated) = generate_json(&["--payload", payload]);
    assert_eq!(code, 0, "{generated}");
    let token = generated["token"].as_str().unwrap();
    let (code, inspected) = inspect_json(token);
    assert_eq!(code, 0, "{inspected}");
    let privilege = &inspected["rtc_privilege"];
    assert_eq!(privilege["room_id"], "room-1", "{inspected}");
    assert_eq!(privilege["login_room"], true, "{inspected}");
    assert_eq!(privilege["publish_stream"], false, "{inspected}");
    assert_eq!(privilege["stream_ids"], serde_json::json!(["s1", "s2"]), "{inspected}");

    let output = run(with_secret(SECRET).args(["token", "inspect", token]));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("rtc      room room-1, log in: yes, publish: no, streams: s1, s2"), "{text}");
    // A token without that payload has no such line, and null in JSON.
    let (_, basic) = inspect_json(GCM_VECTOR);
    assert!(basic["rtc_privilege"].is_null(), "{basic}");
}

#[test]
fn inspect_rejects_wrong_secret() {
    for vector in [GCM_VECTOR, CBC_VECTOR] {
        let (code, document) =
            run_json(with_secret(OTHER_SECRET).args(["--json", "token", "inspect", vector]));
        assert_eq!(code, 2, "{document}");
        let message = document["error"].as_str().unwrap();
        assert!(message.starts_with("invalid token: "), "{message}");
        assert!(message.contains("ServerSecret is wrong"), "{message}");
    }
}

#[test]
fn inspect_rejects_tampered_token() {
    // Change one base64 character inside the ciphertext.
    let mut tampered = GCM_VECTOR.to_owned();
    let index = 40;
    let replacement = if &tampered[index..=index] == "A" { "B" } else { "A" };
    tampered.replace_range(index..=index, replacement);
    let (code, document) = inspect_json(&tampered);
    assert_eq!(code, 2, "{document}");
    assert!(document["error"].as_str().unwrap().starts_with("invalid token: "), "{document}");
}

#[test]
fn inspect_rejects_malformed_tokens() {
    for (token, expected) in [("03abc", "\"04\""), ("04***", "base64"), ("04AAAA", "truncated")] {
        let output = run(with_secret(SECRET).args(["token", "inspect", token]));
        assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("invalid token: "), "{stderr}");
        assert!(stderr.contains(expected), "{token}: {stderr}");
    }
}

#[test]
fn inspect_rejects_short_secret() {
    let (code, document) =
        run_json(with_secret("short-secret").args(["--json", "token", "inspect", GCM_VECTOR]));
    assert_eq!(code, 2, "{document}");
    assert!(document["error"].as_str().unwrap().contains("ZEGO error code 5"), "{document}");
}

#[test]
fn inspect_without_secret_is_input_error() {
    let output = run(zego_push().args(["token", "inspect", GCM_VECTOR]));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no ServerSecret"), "{}", describe(&output));
}

/// Returns a `verify-callback` command for a callback signed with `signed_with`.
fn verify_command(signed_with: &str, timestamp: i64, nonce: &str) -> Command {
    let timestamp = timestamp.to_string();
    let signature = callback_signature(signed_with, &timestamp, nonce);
    let mut command = zego_push();
    command.env("ZEGO_CALLBACK_SECRET", "callback-secret").args([
        "verify-callback",
        "--timestamp",
        &timestamp,
        "--nonce",
        nonce,
        "--signature",
        &signature,
    ]);
    command
}

#[test]
fn verify_callback_accepts_valid() {
    let output = run(&mut verify_command("callback-secret", unix_now(), "123412"));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("valid"), "{}", describe(&output));
}

#[test]
fn verify_callback_reads_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "callback-secret", "from-file\n");
    let mut command = verify_command("from-file", unix_now(), "n1");
    command.env_remove("ZEGO_CALLBACK_SECRET").arg("--callback-secret-file").arg(&path);
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn verify_callback_reads_secret_file_from_environment() {
    // The server reads ZEGO_CALLBACK_SECRET_FILE too, so one environment serves both.
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "callback-secret", "from-env-file\n");
    let mut command = verify_command("from-env-file", unix_now(), "n2");
    command.env("ZEGO_CALLBACK_SECRET", "loses-to-the-file").env("ZEGO_CALLBACK_SECRET_FILE", &path);
    let output = run(&mut command);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn verify_callback_rejects_wrong_signature() {
    let (code, document) = run_json(verify_command("other-secret", unix_now(), "123412").arg("--json"));
    assert_eq!(code, 7, "{document}");
    assert_eq!(document["ok"], false, "{document}");
    assert!(document["error"].as_str().unwrap().contains("signature does not match"), "{document}");
}

#[test]
fn verify_callback_rejects_stale() {
    let output = run(&mut verify_command("callback-secret", unix_now() - 301, "123412"));
    assert_eq!(output.status.code(), Some(7), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("more than the 300 s allowed"), "{stderr}");
}

#[test]
fn verify_callback_window_is_configurable() {
    let mut command = verify_command("callback-secret", unix_now() - 301, "123412");
    let output = run(command.args(["--window-secs", "3600"]));
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn verify_callback_without_secret_is_input_error() {
    let mut command = verify_command("callback-secret", unix_now(), "n");
    let output = run(command.env_remove("ZEGO_CALLBACK_SECRET"));
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no CallbackSecret"), "{}", describe(&output));
}
