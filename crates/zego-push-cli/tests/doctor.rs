//! `zego-push doctor`, run as a binary against a zego-mock and a fixed-date
//! HTTP responder on loopback, with `.p12` files generated here.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{
    describe, run, run_json, serve_fixed_date, write_p12, zego_push, zego_push_at, zego_push_for,
    CertificateSpec, Encryption, Environment, Mock, APP_ID, CLOSED_URL,
};
use serde_json::Value;
use zego_mock::{CodeFault, Faults};

const DAY: i64 = 86_400;
const PASSWORD: &str = "correct horse";

/// Returns the check named `name` from doctor's JSON output.
fn check<'a>(document: &'a Value, name: &str) -> &'a Value {
    document["checks"]
        .as_array()
        .expect("checks is an array")
        .iter()
        .find(|check| check["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {document}"))
}

fn status<'a>(document: &'a Value, name: &str) -> &'a str {
    check(document, name)["status"].as_str().expect("status is a string")
}

#[test]
fn doctor_passes_against_mock() {
    let mock = Mock::start();
    let (code, document) =
        run_json(zego_push_for(&mock).args(["--json", "doctor", "--resource-id", "zegouikit_call"]));
    assert_eq!(code, 0, "{document}");
    assert_eq!(document["ok"], true);
    assert_eq!(status(&document, "credentials"), "pass");
    assert_eq!(status(&document, "host_reachable"), "pass");
    assert_eq!(status(&document, "clock_skew"), "pass");
    assert_eq!(status(&document, "push_register"), "pass");
    assert_eq!(status(&document, "apns_certificate"), "skip");
    assert_eq!(status(&document, "resource_id"), "pass");
    assert_eq!(status(&document, "console"), "info");
    let android = check(&document, "console")["details"]["android"].as_str().unwrap();
    assert!(android.contains("service account JSON for FCM HTTP v1"), "{android}");
    assert_eq!(document["exit_code"], 0);
    assert_eq!(document["counts"]["pass"], 5);
    assert_eq!(document["counts"]["warn"], 0);
    assert_eq!(document["counts"]["fail"], 0);
    assert_eq!(document["counts"]["skip"], 1);
    assert_eq!(document["counts"]["info"], 1);

    let registrations = mock.state().registrations();
    assert_eq!(registrations.len(), 1, "doctor sends one test PushRegister");
    assert_eq!(registrations[0].user_id, "zego-push-doctor");
}

#[test]
fn doctor_text_shows_status_and_fix() {
    let mock = Mock::start();
    let output = run(zego_push_for(&mock).env("ZEGO_SERVER_SECRET", "short-secret").args(["doctor"]));
    assert_eq!(output.status.code(), Some(5), "{}", describe(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("WARN  credentials"), "{text}");
    assert!(text.contains("FAIL  push_register"), "{text}");
    assert!(text.contains("fix: the signature does not match"), "{text}");
    assert!(text.contains("PASS  clock_skew"), "{text}");
    assert!(!text.contains("short-secret"), "the secret was printed: {text}");
}

#[test]
fn doctor_uses_given_test_device() {
    let mock = Mock::start();
    let apns = "ab".repeat(32);
    let (code, document) = run_json(zego_push_for(&mock).args([
        "--json",
        "doctor",
        "--user-id",
        "alice",
        "--token",
        &apns,
        "--platform",
        "ios",
    ]));
    assert_eq!(code, 0, "{document}");
    let push_register = check(&document, "push_register");
    let summary = push_register["summary"].as_str().unwrap();
    assert!(summary.contains("given token"), "{summary}");
    assert!(summary.contains("provider apns"), "{summary}");
    assert!(summary.contains("platform ios"), "{summary}");
    assert_eq!(push_register["details"]["provider"], "apns");
    assert_eq!(push_register["details"]["platform"], "ios");
    let registrations = mock.state().registrations();
    assert_eq!(registrations[0].user_id, "alice");
    assert_eq!(registrations[0].push_id, apns);
    assert_eq!(registrations[0].push_provider, 2);
}

#[test]
fn doctor_token_needs_user_and_service() {
    let mock = Mock::start();
    let apns = "ab".repeat(32);
    let cases: [(&[&str], &str); 3] = [
        (&["--token", "abc"], "--user-id"),
        (&["--token", &apns, "--user-id", "alice"], "--platform"),
        (&["--token", &apns, "--platform", "ios"], "--user-id"),
    ];
    for (flags, named) in cases {
        let (code, document) = run_json(zego_push_for(&mock).args(["--json", "doctor"]).args(flags));
        assert_eq!(code, 2, "{flags:?}: {document}");
        assert_eq!(document["exit_code"], 2, "{flags:?}");
        let error = document["error"].as_str().unwrap();
        assert!(error.contains(named), "{flags:?}: {error}");
    }
    assert!(mock.state().calls().is_empty(), "doctor sent a request without the test device's user");
}

#[test]
fn doctor_user_id_needs_token() {
    let mock = Mock::start();
    for extra in [&[][..], &["--skip-register"][..]] {
        let (code, document) =
            run_json(zego_push_for(&mock).args(["--json", "doctor", "--user-id", "alice"]).args(extra));
        assert_eq!(code, 2, "{extra:?}: {document}");
        let error = document["error"].as_str().unwrap();
        assert!(error.starts_with("missing --token"), "{error}");
        assert!(error.contains("can replace that user's real token"), "{error}");
        assert!(error.contains("\"alice\""), "{error}");
    }
    assert!(mock.state().calls().is_empty(), "doctor registered the placeholder token for a real user");
}

#[test]
fn doctor_provider_implies_platform() {
    let mock = Mock::start();
    let apns = "cd".repeat(32);
    let (code, document) = run_json(zego_push_for(&mock).args([
        "--json",
        "doctor",
        "--user-id",
        "bob",
        "--token",
        &apns,
        "--provider",
        "apns",
    ]));
    assert_eq!(code, 0, "{document}");
    assert_eq!(check(&document, "push_register")["details"]["platform"], "ios");
    let registrations = mock.state().registrations();
    assert_eq!(registrations[0].user_id, "bob");
    assert_eq!(registrations[0].push_provider, 2);
}

#[test]
fn doctor_rejection_text_follows_class() {
    let mock = Mock::start();
    let (code, document) = run_json(
        zego_push_for(&mock)
            .env("ZEGO_SERVER_SECRET", "ffffffffffffffffffffffffffffffff")
            .args(["--json", "doctor"]),
    );
    assert_eq!(code, 5, "{document}");
    let summary = check(&document, "push_register")["summary"].as_str().unwrap().to_owned();
    assert!(!summary.contains("not linked"), "{summary}");
    assert!(summary.contains("AppId and ServerSecret"), "{summary}");

    mock.set_faults(Faults {
        code: Some(CodeFault { code: 660_200_001, message: "user does not exist".into(), count: None }),
        ..Faults::default()
    });
    let (code, document) = run_json(zego_push_for(&mock).args(["--json", "doctor"]));
    assert_eq!(code, 5, "{document}");
    let summary = check(&document, "push_register")["summary"].as_str().unwrap();
    assert!(summary.contains("not linked to the user"), "{summary}");
}

#[test]
fn doctor_fails_on_rejected_push_register() {
    let mock = Mock::start();
    let (code, document) = run_json(
        zego_push_for(&mock)
            .env("ZEGO_SERVER_SECRET", "ffffffffffffffffffffffffffffffff")
            .args(["--json", "doctor"]),
    );
    assert_eq!(code, 5, "{document}");
    assert_eq!(document["ok"], false);
    assert_eq!(document["exit_code"], 5);
    assert_eq!(document["counts"]["fail"], 1);
    let push_register = check(&document, "push_register");
    assert_eq!(push_register["status"], "fail");
    assert_eq!(push_register["details"]["code"], 100_000_005);
    assert!(push_register["fix"].as_str().unwrap().contains("ServerSecret"), "{push_register}");
}

#[test]
fn doctor_fails_on_missing_credentials() {
    let (code, document) = run_json(zego_push().args(["--json", "doctor", "--skip-register"]));
    assert_eq!(code, 5, "{document}");
    let credentials = check(&document, "credentials");
    assert_eq!(credentials["status"], "fail");
    assert!(credentials["fix"].as_str().unwrap().contains("ZEGO_APP_ID"), "{credentials}");
    assert_eq!(status(&document, "push_register"), "skip");
}

#[test]
fn doctor_names_both_missing_credentials() {
    let (code, document) = run_json(zego_push().args(["--json", "doctor", "--skip-register"]));
    assert_eq!(code, 5, "{document}");
    let credentials = check(&document, "credentials");
    let summary = credentials["summary"].as_str().unwrap();
    assert_eq!(summary, "no AppId is set, and no ServerSecret is set");
    let fix = credentials["fix"].as_str().unwrap();
    assert!(fix.contains("ZEGO_APP_ID"), "{fix}");
    assert!(fix.contains("ZEGO_SERVER_SECRET"), "{fix}");

    let (code, document) =
        run_json(zego_push().env("ZEGO_APP_ID", "1").args(["--json", "doctor", "--skip-register"]));
    assert_eq!(code, 5, "{document}");
    assert_eq!(check(&document, "credentials")["summary"], "no ServerSecret is set");
}

#[test]
fn doctor_fails_on_malformed_app_id() {
    let (code, document) =
        run_json(zego_push_at(CLOSED_URL).env("ZEGO_APP_ID", "YOUR_ZEGO_APP_ID").args(["--json", "doctor"]));
    assert_eq!(code, 5, "{document}");
    assert_eq!(status(&document, "credentials"), "fail");
}

#[test]
fn doctor_reports_unreachable_host() {
    let (code, document) =
        run_json(zego_push_at(CLOSED_URL).args(["--json", "doctor", "--connect-timeout-ms", "500"]));
    assert_eq!(code, 5, "{document}");
    assert_eq!(status(&document, "credentials"), "pass");
    assert_eq!(status(&document, "host_reachable"), "fail");
    assert_eq!(status(&document, "clock_skew"), "skip");
    assert_eq!(status(&document, "push_register"), "skip");
}

#[test]
fn doctor_fails_on_large_clock_skew() {
    let base_url = serve_fixed_date(SystemTime::now() - Duration::from_secs(20 * 60));
    let (code, document) = run_json(zego_push_at(&base_url).args(["--json", "doctor", "--skip-register"]));
    assert_eq!(code, 5, "{document}");
    let clock = check(&document, "clock_skew");
    assert_eq!(clock["status"], "fail");
    let skew = clock["details"]["skew_seconds"].as_i64().unwrap();
    assert!((1_195..=1_205).contains(&skew), "{clock}");
    assert!(clock["fix"].as_str().unwrap().contains("100000004"), "{clock}");
}

#[test]
fn doctor_warns_on_small_clock_skew() {
    let base_url = serve_fixed_date(SystemTime::now() + Duration::from_secs(3 * 60));
    let (code, document) = run_json(zego_push_at(&base_url).args(["--json", "doctor", "--skip-register"]));
    assert_eq!(code, 0, "{document}");
    let clock = check(&document, "clock_skew");
    assert_eq!(clock["status"], "warn");
    assert!(clock["summary"].as_str().unwrap().contains("behind"), "{clock}");
}

#[test]
fn doctor_fails_on_long_resource_id() {
    let mock = Mock::start();
    let long = "r".repeat(33);
    let (code, document) =
        run_json(zego_push_for(&mock).args(["--json", "doctor", "--skip-register", "--resource-id", &long]));
    assert_eq!(code, 5, "{document}");
    assert_eq!(status(&document, "resource_id"), "fail");
}

/// Runs doctor on a generated certificate and returns the certificate check.
fn certificate_check(path: &Path, password: &str, extra: &[&str]) -> (i32, Value) {
    let mock = Mock::start();
    let (code, document) = run_json(
        zego_push_for(&mock)
            .env("ZEGO_PUSH_P12_PASSWORD", password)
            .args(["--json", "doctor", "--skip-register", "--p12"])
            .arg(path)
            .args(extra),
    );
    (code, check(&document, "apns_certificate").clone())
}

fn spec(environment: Environment, not_after_offset: i64) -> CertificateSpec<'static> {
    CertificateSpec {
        topic: "com.example.app",
        not_before_offset: -100 * DAY,
        not_after_offset,
        environment,
        encryption: Encryption::Aes,
    }
}

#[test]
fn certificate_valid_shows_fields() {
    let dir = tempfile::tempdir().unwrap();
    // Keychain Access exports with a legacy encryption (3DES or RC2) and a SHA-1 MAC.
    for encryption in [Encryption::Aes, Encryption::TripleDes, Encryption::Rc2] {
        let path = dir.path().join(format!("voip-{encryption:?}.p12"));
        write_p12(
            &path,
            &CertificateSpec { encryption, ..spec(Environment::Production, 200 * DAY) },
            PASSWORD,
        );

        let (code, check) = certificate_check(&path, PASSWORD, &[]);
        assert_eq!(code, 0, "{encryption:?}: {check}");
        assert_eq!(check["status"], "pass", "{encryption:?}: {check}");
        let details = &check["details"];
        assert_eq!(details["topic"], "com.example.app", "{encryption:?}");
        assert!(details["subject"].as_str().unwrap().contains("VoIP Services: com.example.app"), "{details}");
        assert_eq!(details["environment"], "production", "{encryption:?}");
        let days_left = details["days_left"].as_i64().unwrap();
        assert!((199..=200).contains(&days_left), "{details}");
        assert_eq!(details["private_key"], true, "{encryption:?}");
    }
}

#[test]
fn certificate_expiring_soon_warns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voip.p12");
    write_p12(&path, &spec(Environment::Development, 12 * DAY), PASSWORD);

    let (code, check) = certificate_check(&path, PASSWORD, &[]);
    assert_eq!(code, 0, "a warning alone exits 0: {check}");
    assert_eq!(check["status"], "warn", "{check}");
    let days_left = check["details"]["days_left"].as_i64().unwrap();
    assert!((11..=12).contains(&days_left), "{check}");
    assert!(check["summary"].as_str().unwrap().contains(&format!("expires in {days_left} days")), "{check}");
    assert_eq!(check["details"]["environment"], "development");
}

#[test]
fn certificate_expired_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voip.p12");
    write_p12(&path, &spec(Environment::Production, -3 * DAY), PASSWORD);

    let (code, check) = certificate_check(&path, PASSWORD, &[]);
    assert_eq!(code, 5, "{check}");
    assert_eq!(check["status"], "fail", "{check}");
    assert!(check["summary"].as_str().unwrap().contains("expired on"), "{check}");
    assert!(check["fix"].as_str().unwrap().contains("upload it to the ZEGO console"), "{check}");
}

#[test]
fn certificate_wrong_password_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voip.p12");
    write_p12(&path, &spec(Environment::Production, 200 * DAY), PASSWORD);

    let (code, check) = certificate_check(&path, "wrong password", &[]);
    assert_eq!(code, 5, "{check}");
    assert_eq!(check["status"], "fail", "{check}");
    assert!(check["summary"].as_str().unwrap().contains("password does not open"), "{check}");
}

#[test]
fn certificate_password_from_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voip.p12");
    write_p12(&path, &spec(Environment::Production, 200 * DAY), PASSWORD);
    let password_file = common::write_file(dir.path(), "password", &format!("{PASSWORD}\n"));

    let mock = Mock::start();
    let (code, document) = run_json(
        zego_push_for(&mock)
            .args(["--json", "doctor", "--skip-register", "--p12"])
            .arg(&path)
            .arg("--p12-password-file")
            .arg(&password_file),
    );
    assert_eq!(code, 0, "{document}");
    assert_eq!(status(&document, "apns_certificate"), "pass");
}

#[test]
fn certificate_universal_lists_topics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("universal.p12");
    write_p12(&path, &spec(Environment::Universal, 300 * DAY), PASSWORD);

    let (code, check) = certificate_check(&path, PASSWORD, &["--apns-environment", "development"]);
    assert_eq!(code, 0, "{check}");
    assert_eq!(check["details"]["environment"], "development and production");
    assert_eq!(check["details"]["topics"], serde_json::json!(["com.example.app", "com.example.app.voip"]));
}

#[test]
fn certificate_environment_mismatch_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("voip.p12");
    write_p12(&path, &spec(Environment::Development, 200 * DAY), PASSWORD);

    let (code, check) = certificate_check(&path, PASSWORD, &["--apns-environment", "production"]);
    assert_eq!(code, 5, "{check}");
    assert!(check["summary"].as_str().unwrap().contains("development, not production"), "{check}");
}

#[test]
fn certificate_without_apple_extension_warns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.p12");
    write_p12(&path, &spec(Environment::None, 200 * DAY), PASSWORD);

    let (_, check) = certificate_check(&path, PASSWORD, &[]);
    assert_eq!(check["status"], "warn", "{check}");
    assert!(check["summary"].as_str().unwrap().contains("not an Apple push certificate"), "{check}");
}

#[test]
fn certificate_file_not_pkcs12_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_file(dir.path(), "not.p12", "this is not a certificate");
    let (code, check) = certificate_check(&path, PASSWORD, &[]);
    assert_eq!(code, 5, "{check}");
    assert!(check["summary"].as_str().unwrap().contains("PKCS#12"), "{check}");
}

#[test]
fn doctor_reports_app_id() {
    let mock = Mock::start();
    let (_, document) = run_json(zego_push_for(&mock).args(["--json", "doctor", "--skip-register"]));
    assert_eq!(check(&document, "credentials")["details"]["app_id"].to_string(), APP_ID);
}

/// Starts a loopback proxy that replies to every request, CONNECT included,
/// with HTTP 403 and a Date header, and records each request's first line.
fn serve_rejecting_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port binds");
    let address = listener.local_addr().expect("the listener has an address");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&lines);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let read = stream.read(&mut request).unwrap_or(0);
            let text = String::from_utf8_lossy(&request[..read]);
            seen.lock().unwrap().push(text.lines().next().unwrap_or_default().to_owned());
            let date = httpdate::fmt_http_date(SystemTime::now());
            let reply = format!(
                "HTTP/1.1 403 Forbidden\r\nDate: {date}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (format!("{address}"), lines)
}

#[test]
fn doctor_names_proxy_it_used() {
    let (proxy, lines) = serve_rejecting_proxy();
    let output = run(zego_push_at("http://zego.invalid")
        .env("HTTP_PROXY", format!("http://user:hunter2@{proxy}"))
        .args(["--json", "doctor", "--skip-register"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let document: Value = serde_json::from_str(&stdout).expect("doctor prints JSON");
    assert_eq!(status(&document, "host_reachable"), "pass", "{document}");
    let summary = check(&document, "host_reachable")["summary"].as_str().expect("summary is a string");
    assert!(summary.contains("answered HTTP 403"), "{summary}");
    assert!(summary.ends_with(&format!("(through the proxy http://{proxy})")), "{summary}");
    assert_eq!(lines.lock().unwrap().first().map(String::as_str), Some("GET http://zego.invalid/ HTTP/1.1"));
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("hunter2"));
}

#[test]
fn doctor_tunnel_failure_names_proxy() {
    let (proxy, lines) = serve_rejecting_proxy();
    let (code, document) =
        run_json(zego_push_at("https://zego.invalid").env("HTTPS_PROXY", format!("http://{proxy}")).args([
            "--json",
            "doctor",
            "--skip-register",
        ]));
    assert_eq!(code, 5, "{document}");
    assert_eq!(status(&document, "host_reachable"), "fail", "{document}");
    let summary = check(&document, "host_reachable")["summary"].as_str().expect("summary is a string");
    assert!(summary.contains(&format!("(through the proxy http://{proxy})")), "{summary}");
    assert_eq!(lines.lock().unwrap().first().map(String::as_str), Some("CONNECT zego.invalid:443 HTTP/1.1"));
}

#[test]
fn doctor_reaches_loopback_without_proxy() {
    let mock = Mock::start();
    let (proxy, lines) = serve_rejecting_proxy();
    let (code, document) = run_json(
        zego_push_for(&mock)
            // The test script lists loopback in NO_PROXY; the bypass must hold without it.
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env("HTTP_PROXY", format!("http://{proxy}"))
            .env("HTTPS_PROXY", format!("http://{proxy}"))
            .args(["--json", "doctor"]),
    );
    assert_eq!(code, 0, "{document}");
    assert_eq!(status(&document, "push_register"), "pass", "{document}");
    assert!(lines.lock().unwrap().is_empty(), "the proxy saw {:?}", lines.lock().unwrap());
}
