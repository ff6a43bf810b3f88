//! Logs, request ids, metrics and readiness, with the real server binary
//! against the real zego-mock binary.

use std::time::Duration;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};
use zego_push_e2e::{send_json, set_mock_faults, short_hash, start_live_with_env, Process, SECRET};
use zego_push_server::auth::hash_api_key;

/// The HS256 secret the server verifies user JWTs with.
const JWT_SECRET: &str = "jwt-secret-for-observability-tests-0123456789";
/// The API key of the app backend, configured on the server only as its hash.
const API_KEY: &str = "backend-api-key-5d1c0e7a9b3f";
/// An API key the server does not accept.
const WRONG_API_KEY: &str = "wrong-api-key-83b6f2c4e1a0";

/// ZEGO's code for a signature that does not match the ServerSecret.
const SIGNATURE_ERROR: i64 = 100_000_005;

fn registration(user_id: &str, token: &str) -> Value {
    json!({"user_id": user_id, "fcm_token": token, "platform": "android"})
}

async fn register(server: &Process, bearer: Option<&str>, user_id: &str, token: &str) -> (u16, Value) {
    let body = registration(user_id, token);
    let (status, _, reply) =
        send_json(Method::POST, &server.url("/api/register-push-token"), bearer, Some(&body)).await;
    (status, reply)
}

/// Stops the server with SIGTERM and returns its whole log.
fn stop_and_read_log(server: &mut Process) -> String {
    server.terminate();
    let exit = server.wait_exit(Duration::from_secs(10));
    assert!(exit.is_some(), "the server did not exit within 10 s of SIGTERM");
    server.log()
}

/// Parses every non-empty log line as JSON, failing on the first that is not a JSON object.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("a log line is not JSON ({error}): {line}"));
            assert!(value.is_object(), "a log line is JSON but not an object: {line}");
            value
        })
        .collect()
}

/// Returns the id of the request span a JSON log line was written in, if any.
fn request_id_of(line: &Value) -> Option<&str> {
    line["span"]["id"].as_str()
}

fn user_jwt(user_id: &str) -> String {
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
    let claims = json!({"sub": user_id, "exp": exp});
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap()
}

#[tokio::test]
async fn json_log_lines_carry_request_id() {
    let mut live = start_live_with_env(&["--log-format", "json"], &[]);
    let url = live.server.url("/api/register-push-token");

    let (status, headers, reply) =
        send_json(Method::POST, &url, None, Some(&registration("alice", "fcm-token-a"))).await;
    assert_eq!(status, 200, "{reply}");
    let generated_id = headers.get("x-request-id").map(|value| value.to_str().unwrap().to_owned());
    assert!(generated_id.is_some(), "the reply has no x-request-id: {headers:?}");
    let generated_id = generated_id.unwrap();

    let response = reqwest::Client::new()
        .post(&url)
        .header("x-request-id", "abc-123")
        .json(&registration("bob", "fcm-token-b"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("x-request-id").unwrap(), "abc-123", "the incoming id is not echoed");

    let log = stop_and_read_log(&mut live.server);
    let lines = json_lines(&log);
    let generated_hash = short_hash("fcm-token-a");
    let generated_lines: Vec<&Value> =
        lines.iter().filter(|line| line.to_string().contains(&generated_hash)).collect();
    assert!(!generated_lines.is_empty(), "no log line names the token hash {generated_hash}:\n{log}");
    for line in generated_lines {
        assert_eq!(
            request_id_of(line),
            Some(generated_id.as_str()),
            "a registration line lacks its id: {line}"
        );
    }
    let echoed_lines: Vec<&Value> =
        lines.iter().filter(|line| line.to_string().contains(&short_hash("fcm-token-b"))).collect();
    assert!(!echoed_lines.is_empty(), "no log line names the second token's hash:\n{log}");
    for line in echoed_lines {
        assert_eq!(request_id_of(line), Some("abc-123"), "the incoming id is not in the log: {line}");
    }
}

#[tokio::test]
async fn log_never_contains_secrets_or_tokens() {
    let api_key_entry = format!("backend={}", hash_api_key(API_KEY));
    let args = [
        "--auth",
        "jwt,api-key",
        "--jwt-secret",
        JWT_SECRET,
        "--api-key",
        &api_key_entry,
        "--outbox-base-delay-ms",
        "600000",
    ];
    // Debug lines of every crate, the HTTP client and SQL included, are scanned too.
    let mut live = start_live_with_env(&args, &[("RUST_LOG", "debug")]);
    let jwt = user_jwt("bob");
    let tokens = ["fcm-token-success", "fcm-token-jwt-user", "fcm-token-rejected", "fcm-token-queued"];

    let (status, reply) = register(&live.server, Some(API_KEY), "alice", tokens[0]).await;
    assert_eq!(status, 200, "success case: {reply}");
    let (status, reply) = register(&live.server, Some(&jwt), "bob", tokens[1]).await;
    assert_eq!(status, 200, "JWT case: {reply}");

    set_mock_faults(&live.mock, json!({"code": {"code": SIGNATURE_ERROR, "count": 1}})).await;
    let (status, reply) = register(&live.server, Some(API_KEY), "carol", tokens[2]).await;
    assert_eq!(status, 502, "rejection case: {reply}");

    set_mock_faults(&live.mock, json!({"drop_connections": 3})).await;
    let (status, reply) = register(&live.server, Some(API_KEY), "dave", tokens[3]).await;
    assert_eq!(status, 202, "queued case: {reply}");

    let (status, reply) =
        register(&live.server, Some(WRONG_API_KEY), "erin", "fcm-token-unauthenticated").await;
    assert_eq!(status, 401, "wrong API key case: {reply}");
    let tampered_jwt = format!("{jwt}x");
    let (status, reply) =
        register(&live.server, Some(&tampered_jwt), "bob", "fcm-token-unauthenticated").await;
    assert_eq!(status, 401, "tampered JWT case: {reply}");
    let (status, reply) = register(&live.server, Some(&jwt), "mallory", "fcm-token-forbidden").await;
    assert_eq!(status, 403, "JWT for another user case: {reply}");

    let log = stop_and_read_log(&mut live.server);
    let secrets = [
        ("the ServerSecret", SECRET),
        ("the JWT secret", JWT_SECRET),
        ("the API key", API_KEY),
        ("the rejected API key", WRONG_API_KEY),
        ("the user JWT", jwt.as_str()),
        ("the JWT's signature", jwt.rsplit('.').next().unwrap()),
        ("a token from an unauthenticated request", "fcm-token-unauthenticated"),
        ("the token of a forbidden request", "fcm-token-forbidden"),
    ];
    for (name, secret) in secrets {
        assert!(!log.contains(secret), "{name} appears in the server log:\n{log}");
    }
    for token in tokens {
        assert!(!log.contains(token), "the push token {token} appears in the server log:\n{log}");
        let hash = short_hash(token);
        assert!(log.contains(&hash), "the hash {hash} of {token} is not in the server log:\n{log}");
    }
}

#[tokio::test]
async fn metrics_count_registration_outcomes() {
    // A long outbox backoff keeps the queued row pending while the metrics are read.
    let live = start_live_with_env(&["--outbox-base-delay-ms", "600000"], &[]);
    let (status, reply) = register(&live.server, None, "alice", "fcm-token-a").await;
    assert_eq!(status, 200, "{reply}");

    set_mock_faults(&live.mock, json!({"code": {"code": SIGNATURE_ERROR, "count": 1}})).await;
    let (status, reply) = register(&live.server, None, "bob", "fcm-token-b").await;
    assert_eq!(status, 502, "{reply}");

    set_mock_faults(&live.mock, json!({"drop_connections": 3})).await;
    let (status, reply) = register(&live.server, None, "carol", "fcm-token-c").await;
    assert_eq!(status, 202, "{reply}");

    let response = reqwest::get(live.server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let text = response.text().await.unwrap();
    let expected = [
        r#"zego_push_registrations_total{outcome="registered",provider="fcm",source="request"} 1"#,
        r#"zego_push_registrations_total{outcome="failed",provider="fcm",source="request"} 1"#,
        r#"zego_push_registrations_total{outcome="queued",provider="fcm",source="request"} 1"#,
        r#"zego_push_zego_replies_total{code="0"} 1"#,
        r#"zego_push_zego_replies_total{code="100000005"} 1"#,
        "zego_push_outbox_depth 1",
        "zego_push_zego_request_duration_seconds_count 3",
        // The three dropped connections were the first request and two retries.
        "zego_push_zego_retries_total 2",
    ];
    for line in expected {
        assert!(text.lines().any(|metric| metric == line), "/metrics lacks the line {line}:\n{text}");
    }
}

#[tokio::test]
async fn readyz_reports_store_and_outbox_depth() {
    let live = start_live_with_env(&["--outbox-base-delay-ms", "600000"], &[]);
    let (status, _, ready) = send_json(Method::GET, &live.server.url("/readyz"), None, None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["store"], "ok");
    assert_eq!(ready["outbox_depth"], 0);

    set_mock_faults(&live.mock, json!({"drop_connections": 3})).await;
    let (status, reply) = register(&live.server, None, "alice", "fcm-token-a").await;
    assert_eq!(status, 202, "{reply}");
    let (status, _, ready) = send_json(Method::GET, &live.server.url("/readyz"), None, None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["outbox_depth"], 1, "the queued registration is not counted: {ready}");
}
