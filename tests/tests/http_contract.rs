//! Status codes and error bodies of the server for malformed requests,
//! and its start-up rules.

use zego_push_e2e::{register, server_command, start_mock, start_server, ServerOptions, APP_ID, SECRET};

async fn post_raw(url: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().post(url).body(body);
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &ServerOptions::default());
    let url = server.url("/api/register-push-token");

    let (status, reply) = post_raw(&url, Some("application/json"), b"{not json".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["code"], "malformed_json");
    assert_eq!(reply["success"], false);

    let (status, reply) = post_raw(&url, Some("text/plain"), b"{}".to_vec()).await;
    assert_eq!(status, 415);
    assert_eq!(reply["error"]["code"], "unsupported_media_type");

    let (status, reply) = post_raw(&url, None, b"{}".to_vec()).await;
    assert_eq!(status, 415, "{reply}");

    let oversized =
        format!(r#"{{"user_id": "u", "platform": "android", "fcm_token": "{}"}}"#, "a".repeat(17 * 1024));
    let (status, reply) = post_raw(&url, Some("application/json"), oversized.into_bytes()).await;
    assert_eq!(status, 413);
    assert_eq!(reply["error"]["code"], "body_too_large");

    let (status, reply) = register(&server, r#"{"user_id": "u", "platform": "web", "fcm_token": "t"}"#).await;
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["field"], "platform");

    let (status, reply) = register(&server, r#"{"platform": "android", "fcm_token": "t"}"#).await;
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["code"], "missing_field");
    assert_eq!(reply["error"]["field"], "user_id");

    let long_user =
        format!(r#"{{"user_id": "{}", "platform": "android", "fcm_token": "t"}}"#, "u".repeat(33));
    let (status, reply) = register(&server, &long_user).await;
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["field"], "user_id");
    assert!(reply["error"]["message"].as_str().unwrap().contains("32 bytes"));

    let (status, reply) =
        register(&server, r#"{"user_id": "u", "platform": "ios", "push_token": "not-hex"}"#).await;
    assert_eq!(status, 400);
    assert_eq!(reply["error"]["field"], "push_token");
}

#[tokio::test]
async fn charset_parameter_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &ServerOptions::default());
    let body = br#"{"user_id": "u", "platform": "android", "fcm_token": "t"}"#.to_vec();
    let (status, reply) =
        post_raw(&server.url("/api/register-push-token"), Some("application/json; charset=utf-8"), body)
            .await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn health_endpoints_and_unknown_paths() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &ServerOptions::default());

    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = reqwest::get(server.url("/readyz")).await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");

    let missing = reqwest::get(server.url("/api/nothing")).await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

#[test]
fn refuses_non_loopback_listener_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServerOptions {
        live: Some((APP_ID.into(), SECRET.into(), "http://127.0.0.1:9".into())),
        ..ServerOptions::default()
    };
    let output = server_command(dir.path(), &options).args(["--listen", "0.0.0.0:0"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("without authentication"), "{stderr}");
    assert!(stderr.contains("--insecure-allow-unauthenticated"), "{stderr}");
}

#[test]
fn sandbox_refuses_non_loopback_listener() {
    let dir = tempfile::tempdir().unwrap();
    let output = server_command(dir.path(), &ServerOptions::default())
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sandbox mode listens on loopback only"), "{stderr}");
}

#[test]
fn half_configured_credentials_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let output = server_command(dir.path(), &ServerOptions::default())
        .env("ZEGO_APP_ID", APP_ID)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no ServerSecret is"), "{stderr}");
    assert!(stderr.contains("ZEGO_SERVER_SECRET_FILE"), "{stderr}");
}

#[test]
fn bad_secret_error_does_not_echo_secret() {
    let dir = tempfile::tempdir().unwrap();
    let output = server_command(dir.path(), &ServerOptions::default())
        .env("ZEGO_APP_ID", APP_ID)
        .env("ZEGO_SERVER_SECRET", "has space secretvalue")
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid ServerSecret"), "{stderr}");
    assert!(!stderr.contains("secretvalue"), "{stderr}");
}

#[test]
fn busy_port_error_suggests_another_address() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output =
        server_command(dir.path(), &ServerOptions::default()).args(["--listen", &address]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--listen"), "{stderr}");
    assert_eq!(stderr.matches("cannot listen").count(), 1, "the error is printed once: {stderr}");
}

#[test]
fn missing_database_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("registry.db");
    let options = ServerOptions {
        database_url: Some(format!("sqlite://{}", missing.display())),
        ..ServerOptions::default()
    };
    let output = server_command(dir.path(), &options).args(["--listen", "127.0.0.1:0"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(stderr.contains("no-such-dir"), "{stderr}");
}

#[tokio::test]
async fn secret_flag_overrides_environment_file() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let wrong_secret = dir.path().join("wrong.secret");
    std::fs::write(&wrong_secret, "ffffffffffffffffffffffffffffffff\n").unwrap();
    // The environment names a file with a wrong secret; the flag gives the right one.
    let options = ServerOptions {
        env: vec![
            ("ZEGO_APP_ID".into(), APP_ID.into()),
            ("ZEGO_BASE_URL".into(), mock.base_url.clone()),
            ("ZEGO_SERVER_SECRET_FILE".into(), wrong_secret.display().to_string()),
        ],
        ..ServerOptions::default()
    }
    .args(["--server-secret", SECRET]);
    let server = start_server(dir.path(), &options);

    let (status, reply) =
        register(&server, r#"{"user_id": "alice", "fcm_token": "tok-alice", "platform": "android"}"#).await;
    assert_eq!(status, 200, "the mock rejects the environment file's secret: {reply}");
}

#[test]
fn both_secret_flags_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("server.secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let output = server_command(dir.path(), &ServerOptions::default())
        .env("ZEGO_APP_ID", APP_ID)
        .args(["--server-secret", SECRET, "--server-secret-file"])
        .arg(&secret_file)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("both given as flags"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
}

#[test]
fn unparsable_database_url_hides_password() {
    let dir = tempfile::tempdir().unwrap();
    // Port 99999 does not parse, so nothing is connected to.
    let options = ServerOptions {
        database_url: Some("postgres://zego:hunter2@127.0.0.1:99999/zego".into()),
        ..ServerOptions::default()
    };
    let output = server_command(dir.path(), &options).args(["--listen", "127.0.0.1:0"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid database URL"), "{stderr}");
    assert!(stderr.contains("postgres://zego:****@127.0.0.1:99999/zego"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn silent_postgres_port_fails_start_up() {
    let dir = tempfile::tempdir().unwrap();
    // The kernel completes the TCP handshake for the backlog, but nothing
    // ever replies to the PostgreSQL start-up message.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let options = ServerOptions {
        database_url: Some(format!("postgres://zego:hunter2@127.0.0.1:{port}/zego")),
        ..ServerOptions::default()
    };
    let output = server_command(dir.path(), &options).args(["--listen", "127.0.0.1:0"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port} accepted no PostgreSQL session within 10 s")),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    drop(silent);
}

#[tokio::test]
async fn wrong_method_gets_json_405() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &ServerOptions::default());
    let response = reqwest::get(server.url("/api/register-push-token")).await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "method_not_allowed");
}
