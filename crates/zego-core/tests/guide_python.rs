//! Compares both signing schemes with Python reference code over generated inputs.
//!
//! The guide scheme is checked against the integration guide's
//! `generate_zego_signature`, and Signature 2.0 against `hashlib.md5`. Each
//! test starts one `python3` process (or the interpreter named by the
//! `PYTHON` environment variable), writes one JSON object per input to its
//! stdin and reads one JSON object per input from its stdout. A missing
//! interpreter fails the test.
//!
//! Inputs come from `StdRng` seeded with a constant, so a run is repeatable
//! for a given `rand` version. A failure message prints the input index and
//! the whole input.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use zego_core::sign::md5_signature;
use zego_core::{AppId, FixedClock, FixedNonce, ServerSecret, SignatureScheme, Signer};

/// The guide's function with its body unchanged, plus a driver loop. The
/// function reads the secret from the module-level `ZEGO_SERVER_SECRET`, so the
/// driver sets that global before each call. `guide_query_string` repeats the
/// function's first two lines so the test can compare the signed string too.
const GUIDE_SCRIPT: &str = r#"
import hashlib
import hmac
import json
import sys

ZEGO_SERVER_SECRET = None

def generate_zego_signature(params):
    sorted_keys = sorted(params.keys())
    query_string = "&".join([f"{k}={params[k]}" for k in sorted_keys])
    signature = hmac.new(ZEGO_SERVER_SECRET.encode('utf-8'), query_string.encode('utf-8'), hashlib.sha256).hexdigest()
    return signature

def guide_query_string(params):
    sorted_keys = sorted(params.keys())
    return "&".join([f"{k}={params[k]}" for k in sorted_keys])

for line in sys.stdin.buffer:
    case = json.loads(line)
    ZEGO_SERVER_SECRET = case["secret"]
    params = {
        "AppId": str(case["app_id"]),
        "UserId": case["user_id"],
        "PushID": case["push_id"],
        "PushProvider": case["provider"],
        "Timestamp": case["timestamp"],
        "Nonce": case["nonce"],
    }
    assert type(params["PushProvider"]) is int
    assert type(params["Timestamp"]) is int
    result = {"canonical": guide_query_string(params), "signature": generate_zego_signature(params)}
    sys.stdout.write(json.dumps(result) + "\n")
"#;

/// Signature 2.0 computed with hashlib: md5(str(AppId) + nonce + secret + str(timestamp)) as lowercase hex.
const MD5_SCRIPT: &str = r#"
import hashlib
import json
import sys

for line in sys.stdin.buffer:
    case = json.loads(line)
    app_id = case["app_id"]
    nonce = case["nonce"]
    secret = case["secret"]
    ts = case["timestamp"]
    signature = hashlib.md5((str(app_id)+nonce+secret+str(ts)).encode()).hexdigest()
    sys.stdout.write(json.dumps({"signature": signature}) + "\n")
"#;

const GUIDE_RANDOM_CASES: usize = 1_000;
const MD5_RANDOM_CASES: usize = 200;

/// Upper bound (exclusive) of generated timestamps: 2^40 seconds.
const MAX_TIMESTAMP: i64 = 1 << 40;

const HEX_LOWER: &[u8] = b"0123456789abcdef";
const FCM_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-:";
/// Characters for user ids that URL encoding would escape (`&`, `=`, `%`, `?`,
/// `+` and others), plus a few that it keeps. The guide's canonical string
/// writes all of them unchanged.
const QUERY_SPECIALS: &[u8] = b"&=%?+#/;@!$'()*,[]{}|\\^`\"<>~.:ab12";

#[derive(Debug, Clone)]
struct GuideInput {
    app_id: u32,
    secret: String,
    user_id: String,
    push_id: String,
    provider: i64,
    timestamp: i64,
    nonce: String,
}

#[derive(Debug, Clone)]
struct Md5Input {
    app_id: u32,
    nonce: String,
    secret: String,
    timestamp: i64,
}

fn random_from(rng: &mut StdRng, alphabet: &[u8], len: usize) -> String {
    (0..len).map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())])).collect()
}

/// Returns `len` characters of printable ASCII other than space (0x21..=0x7E).
fn random_graphic(rng: &mut StdRng, len: usize) -> String {
    (0..len).map(|_| char::from(rng.random_range(0x21u8..=0x7E))).collect()
}

/// Returns a ServerSecret: a third have the console's 32-hex shape, the rest
/// are 1 to 64 characters of printable ASCII without whitespace.
fn random_secret(rng: &mut StdRng) -> String {
    if rng.random_ratio(1, 3) {
        random_from(rng, HEX_LOWER, 32)
    } else {
        let len = rng.random_range(1..=64);
        random_graphic(rng, len)
    }
}

/// Returns a user id of 1 to 32 bytes. A quarter are drawn mostly from
/// characters that URL encoding would escape.
fn random_user_id(rng: &mut StdRng) -> String {
    let len = rng.random_range(1..=32);
    if rng.random_ratio(1, 4) {
        random_from(rng, QUERY_SPECIALS, len)
    } else {
        random_graphic(rng, len)
    }
}

fn random_fcm_token(rng: &mut StdRng) -> String {
    let len = rng.random_range(1..=300);
    random_from(rng, FCM_ALPHABET, len)
}

/// Returns an APNs device token: an even number of lowercase hex digits, 64 to 200.
fn random_apns_token(rng: &mut StdRng) -> String {
    let len = 2 * rng.random_range(32..=100);
    random_from(rng, HEX_LOWER, len)
}

fn random_nonce(rng: &mut StdRng) -> String {
    format!("{:08x}", rng.random::<u32>())
}

fn random_guide_input(rng: &mut StdRng) -> GuideInput {
    let push_id = if rng.random_bool(0.5) { random_fcm_token(rng) } else { random_apns_token(rng) };
    GuideInput {
        app_id: rng.random_range(1..=u32::MAX),
        secret: random_secret(rng),
        user_id: random_user_id(rng),
        push_id,
        provider: rng.random_range(1..=2),
        timestamp: rng.random_range(0..MAX_TIMESTAMP),
        nonce: random_nonce(rng),
    }
}

/// Returns inputs at the ends of each range, followed by seeded random inputs.
fn guide_inputs() -> Vec<GuideInput> {
    let mut inputs = vec![
        GuideInput {
            app_id: 1,
            secret: "s".into(),
            user_id: "&".into(),
            push_id: "a".into(),
            provider: 1,
            timestamp: 0,
            nonce: "00000000".into(),
        },
        GuideInput {
            app_id: u32::MAX,
            secret: "~".repeat(64),
            user_id: "a=b&c=d%20e?f+g".into(),
            push_id: "Z".repeat(300),
            provider: 2,
            timestamp: MAX_TIMESTAMP - 1,
            nonce: "ffffffff".into(),
        },
        GuideInput {
            app_id: 1_234_567_890,
            secret: "0123456789abcdef0123456789abcdef".into(),
            user_id: "u".repeat(32),
            push_id: "0".repeat(64),
            provider: 2,
            timestamp: 1_700_000_000,
            nonce: "1a2b3c4d".into(),
        },
        GuideInput {
            app_id: 42,
            secret: "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".into(),
            user_id: "%%==&&??++".into(),
            push_id: "f".repeat(200),
            provider: 1,
            timestamp: 1,
            nonce: "deadbeef".into(),
        },
    ];

    let mut rng = StdRng::seed_from_u64(0x5EED_0001);
    inputs.extend((0..GUIDE_RANDOM_CASES).map(|_| random_guide_input(&mut rng)));
    inputs
}

fn md5_inputs() -> Vec<Md5Input> {
    let mut inputs = vec![
        Md5Input {
            app_id: 12345,
            nonce: "4fd24687296dd9f3".into(),
            secret: "9193cc662a4c0ec135ec71fb57194b38".into(),
            timestamp: 1_615_186_943,
        },
        Md5Input {
            app_id: u32::MAX,
            nonce: "ffffffff".into(),
            secret: "~".repeat(64),
            timestamp: MAX_TIMESTAMP - 1,
        },
        Md5Input { app_id: 1, nonce: "0000000000000000".into(), secret: "x".into(), timestamp: 0 },
    ];

    let mut rng = StdRng::seed_from_u64(0x5EED_0002);
    for _ in 0..MD5_RANDOM_CASES {
        // ZEGO's Signature 2.0 samples use 16 hex digits, and the guide's nonces have 8.
        let nonce_len = if rng.random_bool(0.5) { 16 } else { 8 };
        inputs.push(Md5Input {
            app_id: rng.random_range(1..=u32::MAX),
            nonce: random_from(&mut rng, HEX_LOWER, nonce_len),
            secret: random_secret(&mut rng),
            timestamp: rng.random_range(0..MAX_TIMESTAMP),
        });
    }
    inputs
}

/// Runs `script` with `python3 -c` (or `$PYTHON -c`), writes `requests` to its
/// stdin as JSON lines and returns the JSON object it writes for each one.
///
/// Panics if the interpreter cannot be started, exits with an error or
/// returns a different number of lines than it was sent.
fn run_python(script: &str, requests: &[Value]) -> Vec<Value> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "failed to start Python interpreter {python:?}: {error}. \
                 Install Python 3 or set PYTHON to its path; this test needs it to check signatures."
            )
        });

    let mut payload = String::new();
    for request in requests {
        payload.push_str(&request.to_string());
        payload.push('\n');
    }

    // Write stdin on another thread, because Python's output can fill the
    // stdout pipe before it has read all of its input.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = thread::spawn(move || stdin.write_all(payload.as_bytes()));

    let output = child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("failed to read output of {python:?}: {error}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{python:?} exited with {}. Its stderr:\n{stderr}", output.status);
    writer.join().expect("stdin writer thread panicked").unwrap_or_else(|error| {
        panic!("failed to write inputs to {python:?}: {error}. Its stderr:\n{stderr}")
    });

    let stdout = String::from_utf8(output.stdout).expect("Python output is UTF-8");
    let responses: Vec<Value> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("invalid JSON line from Python {line:?}: {error}"))
        })
        .collect();
    assert_eq!(
        responses.len(),
        requests.len(),
        "Python returned a different number of lines than inputs. Its stderr:\n{stderr}"
    );
    responses
}

fn response_field<'a>(response: &'a Value, field: &str, index: usize) -> &'a str {
    response[field].as_str().unwrap_or_else(|| {
        panic!("Python output for input {index} has no string field {field:?}: {response}")
    })
}

#[test]
fn guide_signature_matches_python_over_generated_inputs() {
    let inputs = guide_inputs();
    assert!(inputs.len() >= 1_000, "only {} inputs generated", inputs.len());

    let requests: Vec<Value> = inputs
        .iter()
        .map(|input| {
            json!({
                "app_id": input.app_id,
                "secret": input.secret,
                "user_id": input.user_id,
                "push_id": input.push_id,
                "provider": input.provider,
                "timestamp": input.timestamp,
                "nonce": input.nonce,
            })
        })
        .collect();
    let responses = run_python(GUIDE_SCRIPT, &requests);

    let mut canonical_mismatches = Vec::new();
    let mut signature_mismatches = Vec::new();
    for (index, (input, response)) in inputs.iter().zip(&responses).enumerate() {
        let app_id = AppId::new(input.app_id).expect("generated AppId is non-zero");
        let secret = ServerSecret::new(input.secret.as_str()).expect("generated ServerSecret is valid");
        assert_eq!(
            secret.expose_secret(),
            input.secret,
            "ServerSecret::new changed generated secret at input {index}"
        );
        let signer = Signer::new(app_id, secret, SignatureScheme::Guide)
            .with_clock(Arc::new(FixedClock::new(input.timestamp)))
            .with_nonces(Arc::new(FixedNonce(input.nonce.clone())));
        let signed_request =
            signer.sign_fields("PushRegister", &input.user_id, &input.push_id, input.provider);

        let python_canonical = response_field(response, "canonical", index);
        let python_signature = response_field(response, "signature", index);
        if signed_request.canonical != python_canonical {
            canonical_mismatches.push(format!(
                "input {index} {input:?}\n  rust:   {}\n  python: {python_canonical}",
                signed_request.canonical
            ));
        }
        if signed_request.signature != python_signature {
            signature_mismatches.push(format!(
                "input {index} {input:?}\n  rust:   {}\n  python: {python_signature}",
                signed_request.signature
            ));
        }
    }

    assert!(
        canonical_mismatches.is_empty(),
        "canonical string differs from Python for {} of {} inputs:\n{}",
        canonical_mismatches.len(),
        inputs.len(),
        canonical_mismatches.join("\n")
    );
    assert!(
        signature_mismatches.is_empty(),
        "signature differs from Python for {} of {} inputs:\n{}",
        signature_mismatches.len(),
        inputs.len(),
        signature_mismatches.join("\n")
    );
}

#[test]
fn v2_md5_signature_matches_python_over_generated_inputs() {
    let inputs = md5_inputs();

    let requests: Vec<Value> = inputs
        .iter()
        .map(|input| {
            json!({
                "app_id": input.app_id,
                "nonce": input.nonce,
                "secret": input.secret,
                "timestamp": input.timestamp,
            })
        })
        .collect();
    let responses = run_python(MD5_SCRIPT, &requests);

    let mut mismatches = Vec::new();
    for (index, (input, response)) in inputs.iter().zip(&responses).enumerate() {
        let app_id = AppId::new(input.app_id).expect("generated AppId is non-zero");
        let secret = ServerSecret::new(input.secret.as_str()).expect("generated ServerSecret is valid");
        let rust_signature = md5_signature(app_id, &input.nonce, &secret, input.timestamp);

        let python_signature = response_field(response, "signature", index);
        if rust_signature != python_signature {
            mismatches.push(format!(
                "input {index} {input:?}\n  rust:   {rust_signature}\n  python: {python_signature}"
            ));
        }
    }

    assert!(
        mismatches.is_empty(),
        "Signature 2.0 differs from Python for {} of {} inputs:\n{}",
        mismatches.len(),
        inputs.len(),
        mismatches.join("\n")
    );
}
