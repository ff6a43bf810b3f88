//! `zego-push sign`, run as a binary, against the published vectors and the
//! integration guide's own Python code.
//!
//! The Python comparison starts one `python3` process (or the interpreter
//! named by `PYTHON`) that runs the guide's `generate_zego_signature`, and
//! one `zego-push sign --json` per generated input. A missing interpreter
//! fails the test. Inputs come from `StdRng` with a fixed seed.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{run, run_json, zego_push, APP_ID, SECRET};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// The guide's function with its body unchanged, and a driver loop. The
/// function reads the module-level `ZEGO_SERVER_SECRET`, so the driver sets
/// that global before each call. `guide_query_string` repeats the function's
/// first two lines, so the canonical string can be compared too.
const GUIDE_SCRIPT: &str = r#"
import hashlib
import hmac
import json
import sys

ZEGO_SERVER_SECRET = None

def generate_zego_signature(params):
    # Sort keys alphabetically
    sorted_keys = sorted(params.keys())
    # Create query string: key1=val1&key2=val2...
    query_string = "&".join([f"{k}={params[k]}" for k in sorted_keys])

    # HMAC-SHA256 signature
    signature = hmac.new(
        ZEGO_SERVER_SECRET.encode('utf-8'),
        query_string.encode('utf-8'),
        hashlib.sha256
    ).hexdigest()
    return signature

def guide_query_string(params):
    sorted_keys = sorted(params.keys())
    return "&".join([f"{k}={params[k]}" for k in sorted_keys])

for line in sys.stdin:
    case = json.loads(line)
    ZEGO_SERVER_SECRET = case["secret"]
    params = {
        "AppId": str(case["app_id"]),
        "UserId": case["user_id"],
        "PushID": case["push_id"],
        "PushProvider": 1 if case["platform"] == "android" else 2,
        "Timestamp": case["timestamp"],
        "Nonce": case["nonce"],
    }
    result = {"canonical": guide_query_string(params), "signature": generate_zego_signature(params)}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
"#;

/// Signature 2.0 with hashlib: md5(str(AppId) + nonce + secret + str(timestamp)).
const MD5_SCRIPT: &str = r#"
import hashlib
import json
import sys

for line in sys.stdin:
    case = json.loads(line)
    text = str(case["app_id"]) + case["nonce"] + case["secret"] + str(case["timestamp"])
    sys.stdout.write(json.dumps({"signature": hashlib.md5(text.encode()).hexdigest()}) + "\n")
    sys.stdout.flush()
"#;

const GUIDE_CASES: usize = 150;
const MD5_CASES: usize = 40;

const HEX_LOWER: &[u8] = b"0123456789abcdef";
const FCM_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-:";
/// User-id characters that URL encoding would escape, and some it keeps.
/// The guide's canonical string writes them all unchanged.
const USER_ID_ALPHABET: &[u8] = b"&=%?+#/;@!$'()*,[]{}|\\^`\"<>~.:-_ab12XY";

fn random_from(rng: &mut StdRng, alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}

/// Returns printable ASCII without space, as a ServerSecret may contain.
fn random_graphic(rng: &mut StdRng, len: usize) -> String {
    (0..len).map(|_| char::from(rng.random_range(0x21u8..=0x7E))).collect()
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs a Python script over JSON-line cases and returns one JSON value per case.
fn run_python(script: &str, cases: &[Value]) -> Vec<Value> {
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {} (set PYTHON to a Python 3): {error}", python()));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut input = String::new();
    for case in cases {
        input.push_str(&case.to_string());
        input.push('\n');
    }
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("python runs");
    writer.join().expect("the writer thread ends").expect("python reads its input");
    assert!(output.status.success(), "python failed: {}", String::from_utf8_lossy(&output.stderr));
    let results: Vec<Value> = String::from_utf8(output.stdout)
        .expect("python prints UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).expect("python prints JSON"))
        .collect();
    assert_eq!(results.len(), cases.len(), "python printed one result per case");
    results
}

/// Runs `zego-push sign --json` for one case.
fn sign(case: &Value, scheme: &str) -> Value {
    let mut command = zego_push();
    command
        .env("ZEGO_APP_ID", case["app_id"].to_string())
        .env("ZEGO_SERVER_SECRET", case["secret"].as_str().unwrap())
        .args(["--json", "sign", "--scheme", scheme])
        // The `--flag=value` form keeps values that start with '-' from reading as flags.
        .arg(format!("--user-id={}", case["user_id"].as_str().unwrap()))
        .arg(format!("--token={}", case["push_id"].as_str().unwrap()))
        .arg(format!("--platform={}", case["platform"].as_str().unwrap()))
        .arg(format!("--nonce={}", case["nonce"].as_str().unwrap()))
        .arg(format!("--timestamp={}", case["timestamp"]));
    let (code, document) = run_json(&mut command);
    assert_eq!(code, 0, "sign failed for {case}: {document}");
    document
}

#[test]
fn sign_matches_published_vector() {
    let output = run(zego_push().env("ZEGO_APP_ID", APP_ID).env("ZEGO_SERVER_SECRET", SECRET).args([
        "sign",
        "--user-id",
        "user123",
        "--token",
        "fcm_device_token_here",
        "--platform",
        "android",
        "--nonce",
        "1a2b3c4d",
        "--timestamp",
        "1700000000",
    ]));
    assert!(output.status.success(), "{}", common::describe(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("canonical  AppId=1234567890&Nonce=1a2b3c4d&PushID=fcm_device_token_here&PushProvider=1&Timestamp=1700000000&UserId=user123"),
        "{text}"
    );
    assert!(text.contains("nonce      1a2b3c4d"), "{text}");
    assert!(text.contains("timestamp  1700000000"), "{text}");
    assert!(
        text.contains("signature  4b051f8877638c81884a2e894c033100b5dcc6336b8e6541545da8b67eb17424"),
        "{text}"
    );
}

#[test]
fn sign_v2_matches_published_vector() {
    let (code, document) = run_json(
        zego_push()
            .env("ZEGO_APP_ID", "12345")
            .env("ZEGO_SERVER_SECRET", "9193cc662a4c0ec135ec71fb57194b38")
            .args([
                "--json",
                "sign",
                "--scheme",
                "v2",
                "--user-id",
                "u",
                "--token",
                "t",
                "--provider",
                "apns",
            ])
            .args(["--nonce", "4fd24687296dd9f3", "--timestamp", "1615186943"]),
    );
    assert_eq!(code, 0, "{document}");
    assert_eq!(document["signature"], "43e5cfcca828314675f91b001390566a");
    assert_eq!(document["canonical"], "123454fd24687296dd9f3****1615186943");
    assert_eq!(document["query"]["SignatureVersion"], "2.0");
    assert_eq!(document["body"]["PushProvider"], 2);
}

#[test]
fn sign_never_prints_secret() {
    for scheme in ["guide", "v2"] {
        let output = run(zego_push().env("ZEGO_APP_ID", APP_ID).env("ZEGO_SERVER_SECRET", SECRET).args([
            "--json",
            "-vvv",
            "sign",
            "--scheme",
            scheme,
            "--user-id",
            "u",
            "--token",
            "t",
            "--platform",
            "android",
        ]));
        assert!(output.status.success(), "{}", common::describe(&output));
        let all =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(!all.contains(SECRET), "{scheme}: the secret was printed:\n{all}");
    }
}

#[test]
fn sign_reads_secret_from_stdin_and_file() {
    let expected = "4b051f8877638c81884a2e894c033100b5dcc6336b8e6541545da8b67eb17424";
    let args = [
        "--json",
        "sign",
        "--user-id",
        "user123",
        "--token",
        "fcm_device_token_here",
        "--platform",
        "android",
        "--nonce",
        "1a2b3c4d",
        "--timestamp",
        "1700000000",
    ];

    let mut child = zego_push()
        .env("ZEGO_APP_ID", APP_ID)
        .args(args)
        .arg("--server-secret-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{SECRET}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["signature"], expected, "from stdin");

    let dir = tempfile::tempdir().unwrap();
    let secret_file = common::write_file(dir.path(), "secret", &format!("{SECRET}\n"));
    let (code, document) = run_json(
        zego_push()
            .env("ZEGO_APP_ID", APP_ID)
            .env("ZEGO_SERVER_SECRET", "a-different-secret-that-loses")
            .args(args)
            .arg("--server-secret-file")
            .arg(&secret_file),
    );
    assert_eq!(code, 0);
    assert_eq!(document["signature"], expected, "from a file, which wins over the environment");

    let other_file = common::write_file(dir.path(), "other", "ffffffffffffffffffffffffffffffff\n");
    let (code, document) = run_json(
        zego_push()
            .env("ZEGO_APP_ID", APP_ID)
            .env("ZEGO_SERVER_SECRET_FILE", &other_file)
            .args(args)
            .args(["--server-secret", SECRET]),
    );
    assert_eq!(code, 0);
    assert_eq!(document["signature"], expected, "from the flag, which wins over ZEGO_SERVER_SECRET_FILE");

    let (code, document) = run_json(
        zego_push()
            .env("ZEGO_APP_ID", APP_ID)
            .env("ZEGO_SERVER_SECRET", "a-different-secret-that-loses")
            .env("ZEGO_SERVER_SECRET_FILE", &secret_file)
            .args(args),
    );
    assert_eq!(code, 0);
    assert_eq!(document["signature"], expected, "ZEGO_SERVER_SECRET_FILE wins over ZEGO_SERVER_SECRET");
}

#[test]
fn sign_usage_leaves_out_secret_flag() {
    let output = run(zego_push().env("ZEGO_APP_ID", APP_ID).env("ZEGO_SERVER_SECRET", SECRET).args([
        "sign",
        "--user-id",
        "u",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}", common::describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let usage = stderr.lines().find(|line| line.starts_with("Usage:")).expect("a usage line");
    assert!(!usage.contains("--server-secret"), "{usage}");
}

#[test]
fn sign_without_secret_is_input_error() {
    let output = run(zego_push().env("ZEGO_APP_ID", APP_ID).args([
        "sign",
        "--user-id",
        "u",
        "--token",
        "t",
        "--platform",
        "android",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}", common::describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no ServerSecret"), "{stderr}");
    for source in ["ZEGO_SERVER_SECRET", "--server-secret-file", "--server-secret-stdin"] {
        assert!(stderr.contains(source), "{source} is not named: {stderr}");
    }
}

#[test]
fn sign_rejects_unknown_platform() {
    let output = run(zego_push().env("ZEGO_APP_ID", APP_ID).env("ZEGO_SERVER_SECRET", SECRET).args([
        "sign",
        "--user-id",
        "u",
        "--token",
        "t",
        "--platform",
        "web",
    ]));
    assert_eq!(output.status.code(), Some(2), "{}", common::describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--platform"));
}

#[test]
fn sign_matches_guide_python() {
    let mut rng = StdRng::seed_from_u64(0x05ee_dc11);
    let cases: Vec<Value> = (0..GUIDE_CASES)
        .map(|index| {
            let secret = if index % 2 == 0 {
                random_from(&mut rng, HEX_LOWER, 32)
            } else {
                let len = rng.random_range(1..=64);
                random_graphic(&mut rng, len)
            };
            let user_len = rng.random_range(1..=32);
            let push_len = rng.random_range(1..=200);
            json!({
                "app_id": rng.random_range(1..=u32::MAX),
                "secret": secret,
                "user_id": random_from(&mut rng, USER_ID_ALPHABET, user_len),
                "push_id": random_from(&mut rng, FCM_ALPHABET, push_len),
                "platform": if rng.random_bool(0.5) { "android" } else { "ios" },
                "timestamp": rng.random_range(0..(1_i64 << 40)),
                "nonce": random_from(&mut rng, HEX_LOWER, 8),
            })
        })
        .collect();

    let expected = run_python(GUIDE_SCRIPT, &cases);
    for (index, (case, python)) in cases.iter().zip(&expected).enumerate() {
        let ours = sign(case, "guide");
        assert_eq!(
            ours["canonical"], python["canonical"],
            "case {index}: canonical string differs for {case}"
        );
        assert_eq!(ours["signature"], python["signature"], "case {index}: signature differs for {case}");
    }
}

#[test]
fn sign_v2_matches_python_md5() {
    let mut rng = StdRng::seed_from_u64(0x0005_eed2);
    let cases: Vec<Value> = (0..MD5_CASES)
        .map(|_| {
            json!({
                "app_id": rng.random_range(1..=u32::MAX),
                "secret": random_from(&mut rng, HEX_LOWER, 32),
                "user_id": "u",
                "push_id": "t",
                "platform": "android",
                "timestamp": rng.random_range(0..(1_i64 << 40)),
                "nonce": random_from(&mut rng, HEX_LOWER, 16),
            })
        })
        .collect();

    let expected = run_python(MD5_SCRIPT, &cases);
    for (index, (case, python)) in cases.iter().zip(&expected).enumerate() {
        let ours = sign(case, "v2");
        assert_eq!(ours["signature"], python["signature"], "case {index}: signature differs for {case}");
    }
}
