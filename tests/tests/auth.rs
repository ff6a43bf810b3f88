//! Each authentication mode of the real server binary: what it accepts and
//! what it rejects, and that one user cannot act for another.

use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};
use zego_push_e2e::{
    binary, mock_registrations, send_json, start_mock, start_server, Process, ServerOptions,
};

const JWT_SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!!";
const API_KEY: &str = "backend-key-0123456789abcdef";

/// A P-256 key pair made once with OpenSSL for these tests; the private key exists only here.
const ES256_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgH3oB3J5DYqVXn+HL
TDp9+/z6NsK0st92XVUMloM36Z2hRANCAARImQAPKBJ5ZUVvrct45s0Z8yshIA2Q
oJE4Z47IRe7zIKpancjBVsB7OT/lAb8QhfecXiB2dFND8jETjaAg85iu
-----END PRIVATE KEY-----
";
const ES256_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAESJkADygSeWVFb63LeObNGfMrISAN
kKCROGeOyEXu8yCqWp3IwVbAezk/5QG/EIX3nF4gdnRTQ/IxE42gIPOYrg==
-----END PUBLIC KEY-----
";

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
    iss: &'a str,
    aud: &'a str,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn hs256(sub: &str, exp: u64, secret: &str) -> String {
    let claims = Claims { sub, exp, iss: "https://login.example", aud: "zego-push" };
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn body(user_id: &str, token: &str) -> Value {
    json!({"user_id": user_id, "fcm_token": token, "platform": "android"})
}

async fn register(
    server: &Process,
    bearer: Option<&str>,
    body: &Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    send_json(Method::POST, &server.url("/api/register-push-token"), bearer, Some(body)).await
}

fn jwt_server(dir: &std::path::Path, mock: &Process) -> Process {
    let options = ServerOptions::live(mock).args([
        "--auth",
        "jwt",
        "--jwt-issuer",
        "https://login.example",
        "--jwt-audience",
        "zego-push",
    ]);
    let options = ServerOptions { env: vec![("ZEGO_PUSH_JWT_SECRET".into(), JWT_SECRET.into())], ..options };
    start_server(dir, &options)
}

#[tokio::test]
async fn jwt_mode_accepts_own_user_and_rejects_others() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let server = jwt_server(dir.path(), &mock);
    let alice = hs256("alice", now() + 600, JWT_SECRET);

    let (status, _, reply) = register(&server, Some(&alice), &body("alice", "tok-alice")).await;
    assert_eq!(status, 200, "{reply}");

    let (status, _, reply) = register(&server, Some(&alice), &body("bob", "tok-bob")).await;
    assert_eq!(status, 403, "{reply}");
    assert_eq!(reply["error"]["code"], "forbidden");
    assert_eq!(reply["error"]["field"], "user_id");

    let registered = mock_registrations(&mock).await;
    assert_eq!(registered.len(), 1, "only alice's own registration reaches ZEGO");
    assert_eq!(registered[0]["user_id"], "alice");
}

#[tokio::test]
async fn jwt_mode_rejects_missing_bad_and_expired_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let server = jwt_server(dir.path(), &mock);

    let (status, headers, reply) = register(&server, None, &body("alice", "tok-1")).await;
    assert_eq!(status, 401, "{reply}");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");

    let forged = hs256("alice", now() + 600, "another-secret-that-is-32-bytes-long!!");
    let (status, headers, reply) = register(&server, Some(&forged), &body("alice", "tok-1")).await;
    assert_eq!(status, 401, "{reply}");
    assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));

    let expired = hs256("alice", now() - 3600, JWT_SECRET);
    let (status, _, reply) = register(&server, Some(&expired), &body("alice", "tok-1")).await;
    assert_eq!(status, 401, "{reply}");
    assert_eq!(reply["error"]["code"], "token_expired");

    let (status, _, reply) = register(&server, Some("not-a-jwt"), &body("alice", "tok-1")).await;
    assert_eq!(status, 401, "{reply}");
    assert!(mock_registrations(&mock).await.is_empty());
}

#[tokio::test]
async fn es256_public_key_file_verifies_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("jwt-public.pem");
    std::fs::write(&key_file, ES256_PUBLIC_PEM).unwrap();
    let mock = start_mock(dir.path());
    let options = ServerOptions::live(&mock).args([
        "--auth",
        "jwt",
        "--jwt-algorithm",
        "ES256",
        "--jwt-public-key-file",
        key_file.to_str().unwrap(),
        "--jwt-issuer",
        "https://login.example",
        "--jwt-audience",
        "zego-push",
    ]);
    let server = start_server(dir.path(), &options);

    let claims = Claims { sub: "carol", exp: now() + 600, iss: "https://login.example", aud: "zego-push" };
    let key = EncodingKey::from_ec_pem(ES256_PRIVATE_PEM.as_bytes()).unwrap();
    let token = encode(&Header::new(Algorithm::ES256), &claims, &key).unwrap();
    let (status, _, reply) = register(&server, Some(&token), &body("carol", "tok-carol")).await;
    assert_eq!(status, 200, "{reply}");

    // An HS256 token is rejected: the server accepts only the configured algorithm.
    let hs = hs256("carol", now() + 600, JWT_SECRET);
    let (status, _, reply) = register(&server, Some(&hs), &body("carol", "tok-carol")).await;
    assert_eq!(status, 401, "{reply}");
}

/// Returns the `NAME=sha256:HEX` entry that `zego-push-server hash-api-key` prints.
fn hash_api_key_with_binary(key: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(binary("zego-push-server"))
        .args(["hash-api-key", "--name", "backend"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(key.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let entry = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(entry.starts_with("backend=sha256:"), "{entry}");
    assert!(!entry.contains(key));
    entry
}

#[test]
fn hash_api_key_rejects_invalid_name() {
    use std::io::Write;
    let mut child = Command::new(binary("zego-push-server"))
        .args(["hash-api-key", "--name", "bad name"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The name is checked before the key is read, so the write may find the pipe closed.
    let _ = child.stdin.take().unwrap().write_all(API_KEY.as_bytes());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid --name"), "{stderr}");
    assert!(stderr.contains("\"bad name\""), "{stderr}");
}

#[tokio::test]
async fn api_key_mode_acts_for_any_user() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let entry = hash_api_key_with_binary(API_KEY);
    let server = start_server(
        dir.path(),
        &ServerOptions::live(&mock).args(["--auth", "api-key", "--api-key", &entry]),
    );

    for user in ["alice", "bob"] {
        let (status, _, reply) = register(&server, Some(API_KEY), &body(user, &format!("tok-{user}"))).await;
        assert_eq!(status, 200, "{user}: {reply}");
    }
    let (status, _, reply) =
        send_json(Method::GET, &server.url("/api/users/alice/devices"), Some(API_KEY), None).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["devices"].as_array().unwrap().len(), 1);

    let (status, _, reply) = send_json(Method::POST, &server.url("/api/resync"), Some(API_KEY), None).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["queued"], 2);

    let (status, _, reply) = register(&server, Some("wrong-key-0123456789"), &body("alice", "tok-x")).await;
    assert_eq!(status, 401, "{reply}");
    let (status, _, reply) = register(&server, None, &body("alice", "tok-x")).await;
    assert_eq!(status, 401, "{reply}");
}

#[tokio::test]
async fn combined_modes_keep_users_to_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let entry = hash_api_key_with_binary(API_KEY);
    let options = ServerOptions::live(&mock).args([
        "--auth",
        "jwt,api-key",
        "--api-key",
        &entry,
        "--jwt-issuer",
        "https://login.example",
        "--jwt-audience",
        "zego-push",
    ]);
    let options = ServerOptions { env: vec![("ZEGO_PUSH_JWT_SECRET".into(), JWT_SECRET.into())], ..options };
    let server = start_server(dir.path(), &options);
    let alice = hs256("alice", now() + 600, JWT_SECRET);

    let (status, _, _) = register(&server, Some(&alice), &body("alice", "tok-a")).await;
    assert_eq!(status, 200);
    let (status, _, _) = register(&server, Some(API_KEY), &body("bob", "tok-b")).await;
    assert_eq!(status, 200);

    // A user sees only their own devices, and a resync needs the API key.
    let (status, _, _) =
        send_json(Method::GET, &server.url("/api/users/bob/devices"), Some(&alice), None).await;
    assert_eq!(status, 403);
    let (status, _, _) =
        send_json(Method::GET, &server.url("/api/users/alice/devices"), Some(&alice), None).await;
    assert_eq!(status, 200);
    let (status, _, reply) = send_json(Method::POST, &server.url("/api/resync"), Some(&alice), None).await;
    assert_eq!(status, 403, "{reply}");
    let (status, _, _) =
        send_json(Method::DELETE, &server.url("/api/users/bob/push-tokens"), Some(&alice), None).await;
    assert_eq!(status, 403);
    let unregister = json!({"user_id": "bob", "fcm_token": "tok-b"});
    let (status, _, _) =
        send_json(Method::POST, &server.url("/api/unregister-push-token"), Some(&alice), Some(&unregister))
            .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn none_mode_on_loopback_accepts_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let server = start_server(dir.path(), &ServerOptions::live(&mock).args(["--auth", "none"]));
    let (status, _, reply) = register(&server, None, &body("alice", "tok-1")).await;
    assert_eq!(status, 200, "{reply}");
}

#[test]
fn jwt_mode_without_key_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServerOptions::default().args(["--auth", "jwt", "--listen", "127.0.0.1:0"]);
    let output = zego_push_e2e::server_command(dir.path(), &options).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("jwt"), "{stderr}");
}
