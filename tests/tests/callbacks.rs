//! `POST /api/zego/callback` on the real server binary: signatures,
//! freshness and replays are checked, and the recorded login state shows in
//! the device list and defers a logged-out user's registrations in the outbox.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde_json::{json, Value};
use zego_core::callback::callback_signature;
use zego_push_e2e::{
    mock_registrations, outbox_depth, send_json, set_mock_faults, start_mock, start_server, Process,
    ServerOptions, APP_ID,
};

const CALLBACK_SECRET: &str = "callback-secret-from-the-console";

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// Returns `fields` with `appid`, `timestamp`, `nonce` and a valid `signature` added.
fn signed(fields: Value, timestamp: i64, nonce: &str) -> Value {
    let mut body = fields;
    body["appid"] = json!(APP_ID);
    body["timestamp"] = json!(timestamp);
    body["nonce"] = json!(nonce);
    body["signature"] = json!(callback_signature(CALLBACK_SECRET, &timestamp.to_string(), nonce));
    body
}

fn user_action(user_id: &str, action: i64, time: i64) -> Value {
    let time_field = ["login_time", "logout_time", "offline_time"][usize::try_from(action).unwrap()];
    json!({"event": "user_action", "user_id": user_id, "action": action, "os": "ANDROID",
        "session_id": "s-1", time_field: time})
}

async fn send_callback(server: &Process, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    send_json(Method::POST, &server.url("/api/zego/callback"), None, Some(body)).await
}

fn callback_server(dir: &std::path::Path, mock: &Process, args: &[&str]) -> Process {
    let mut options = ServerOptions::live(mock).args(args.iter().copied());
    options.env.push(("ZEGO_CALLBACK_SECRET".into(), CALLBACK_SECRET.into()));
    start_server(dir, &options)
}

async fn device_list(server: &Process, user_id: &str) -> Value {
    let url = server.url(&format!("/api/users/{user_id}/devices"));
    let (status, _, reply) = send_json(Method::GET, &url, None, None).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

#[tokio::test]
async fn callback_signature_freshness_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let server = callback_server(dir.path(), &mock, &["--callback-window-secs", "300"]);
    let now = now();

    // A wrong signature.
    let mut forged = signed(user_action("alice", 0, now), now, "1001");
    forged["signature"] = json!(callback_signature("another-secret", &now.to_string(), "1001"));
    let (status, headers, reply) = send_callback(&server, &forged).await;
    assert_eq!(status, 401, "{reply}");
    assert_eq!(reply["error"]["code"], "invalid_callback_signature");
    assert!(headers.contains_key("www-authenticate"));
    let (status, _, reply) = send_callback(&server, &json!({"event": "user_action"})).await;
    assert_eq!(status, 401, "an unsigned callback: {reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("no signature"), "{reply}");

    // A correctly signed callback outside the freshness window.
    let stale = signed(user_action("alice", 0, now - 1000), now - 1000, "1002");
    let (status, _, reply) = send_callback(&server, &stale).await;
    assert_eq!(status, 401, "{reply}");
    assert_eq!(reply["error"]["code"], "stale_callback");

    // A valid one is recorded once; the same timestamp and nonce again is rejected.
    let valid = signed(user_action("alice", 0, now), now, "1003");
    let (status, _, reply) = send_callback(&server, &valid).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "recorded");
    let (status, _, reply) = send_callback(&server, &valid).await;
    assert_eq!(status, 409, "{reply}");
    assert_eq!(reply["error"]["code"], "replayed_callback");
    let mut changed = signed(user_action("alice", 1, now), now, "1003");
    changed["signature"] = valid["signature"].clone();
    let (status, _, reply) = send_callback(&server, &changed).await;
    assert_eq!(status, 409, "a replayed nonce with another body: {reply}");

    // The recorded state shows in the device list.
    let devices = device_list(&server, "alice").await;
    assert_eq!(devices["presence"]["state"], "online", "{devices}");
    assert_eq!(devices["presence"]["os"], "ANDROID", "{devices}");

    // Events this server does not use, and other AppIds, are acknowledged.
    let other = signed(json!({"event": "room_login"}), now, "1004");
    let (status, _, reply) = send_callback(&server, &other).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("ignored")), "{reply}");
    let mut foreign = signed(user_action("alice", 1, now), now, "1005");
    foreign["appid"] = json!("42");
    let (status, _, reply) = send_callback(&server, &foreign).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("ignored")), "{reply}");
    assert_eq!(device_list(&server, "alice").await["presence"]["state"], "online");

    // A signed callback with a broken known event is a 400.
    let broken = signed(json!({"event": "user_action", "user_id": "alice", "action": 7}), now, "1006");
    let (status, _, reply) = send_callback(&server, &broken).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (400, Some("action")), "{reply}");

    let metrics = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"zego_push_callbacks_total{event="user_action",outcome="recorded"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"zego_push_callbacks_total{event="user_action",outcome="replayed"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"zego_push_callbacks_total{event="user_action",outcome="invalid"} 1"#),
        "{metrics}"
    );
    assert!(!server.log().contains(CALLBACK_SECRET), "the CallbackSecret leaked into the log");
}

#[tokio::test]
async fn callbacks_off_without_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let plain = start_server(dir.path(), &ServerOptions::live(&mock));
    let now = now();
    let (status, _, reply) = send_callback(&plain, &signed(user_action("alice", 0, now), now, "1")).await;
    assert_eq!(status, 404, "{reply}");
    assert_eq!(reply["error"]["code"], "callbacks_disabled");
}

#[tokio::test]
async fn callbacks_skip_address_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let now = now();

    // One API request per minute per address, but every callback gets HTTP 200.
    let limited = callback_server(dir.path(), &mock, &["--rate-limit-per-address", "1"]);
    for nonce in 0..5 {
        let body = signed(user_action("alice", 0, now), now, &format!("n{nonce}"));
        let (status, _, reply) = send_callback(&limited, &body).await;
        assert_eq!(status, 200, "{reply}");
    }
}

#[tokio::test]
async fn logout_defers_outbox_until_login() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    set_mock_faults(&mock, json!({"drop_connections": 1_000_000})).await;
    let server = callback_server(
        dir.path(),
        &mock,
        &[
            "--outbox-poll-ms",
            "100",
            "--outbox-base-delay-ms",
            "100",
            "--outbox-max-delay-ms",
            "300",
            "--zego-max-attempts",
            "1",
        ],
    );
    for (user, token) in [("alice", "alice-token"), ("bob", "bob-token")] {
        let body = json!({"user_id": user, "fcm_token": token, "platform": "android"});
        let (status, _, reply) =
            send_json(Method::POST, &server.url("/api/register-push-token"), None, Some(&body)).await;
        assert_eq!(status, 202, "{reply}");
    }

    // Alice logs out a second after her registration request.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let logout_at = now();
    let (status, _, reply) =
        send_callback(&server, &signed(user_action("alice", 1, logout_at), logout_at, "logout")).await;
    assert_eq!(status, 200, "{reply}");
    let devices = device_list(&server, "alice").await;
    assert_eq!(devices["presence"]["state"], "logged_out", "{devices}");
    assert_eq!(devices["devices"][0]["held_by_logout"], true, "{devices}");
    assert_eq!(device_list(&server, "bob").await["devices"][0]["held_by_logout"], false);
    assert_eq!(outbox_depth(&server).await, 1, "only bob's row is due");

    // ZEGO recovers: bob is registered, and alice is not, even 2 s after the outbox emptied.
    set_mock_faults(&mock, json!({})).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while outbox_depth(&server).await > 0 {
        assert!(std::time::Instant::now() < deadline, "bob's row was never sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pushed: Vec<String> = mock_registrations(&mock)
        .await
        .iter()
        .map(|row| row["push_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(pushed, ["bob-token"], "a logged-out user's token was sent");

    // Alice logs in again: her held registration goes out, once.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let login_at = now();
    let (status, _, reply) =
        send_callback(&server, &signed(user_action("alice", 0, login_at), login_at, "login")).await;
    assert_eq!(status, 200, "{reply}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let pushed = mock_registrations(&mock).await;
        if pushed.iter().any(|row| row["push_id"] == "alice-token") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "alice's token was not sent after her login");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alice_count =
        mock_registrations(&mock).await.iter().filter(|row| row["push_id"] == "alice-token").count();
    assert_eq!(alice_count, 1);
    assert_eq!(device_list(&server, "alice").await["devices"][0]["state"], "registered");
}

#[tokio::test]
async fn call_events_recorded_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let server = callback_server(dir.path(), &mock, &[]);
    let body = json!({"user_id": "bob", "fcm_token": "bob-token", "platform": "android"});
    let (status, _, reply) =
        send_json(Method::POST, &server.url("/api/register-push-token"), None, Some(&body)).await;
    assert_eq!(status, 200, "{reply}");

    let now = now();
    let create = json!({"event": "call_create", "call_id": "call-1", "caller": "alice",
        "user_ids": ["bob", "carol"], "create_time": now, "timeout": 60, "payload": ""});
    let (status, _, reply) = send_callback(&server, &signed(create, now, "c1")).await;
    assert_eq!((status, reply["status"].as_str()), (200, Some("recorded")), "{reply}");
    for (event, nonce) in [("call_cancel", "c2"), ("call_timeout", "c3")] {
        let body =
            json!({"event": event, "call_id": "call-1", "user_ids": ["carol"], "reason": "caller_cancel"});
        let (status, _, reply) = send_callback(&server, &signed(body, now, nonce)).await;
        assert_eq!((status, reply["status"].as_str()), (200, Some("recorded")), "{event}: {reply}");
    }
    let missing = signed(json!({"event": "call_cancel", "user_ids": ["carol"]}), now, "c4");
    let (status, _, reply) = send_callback(&server, &missing).await;
    assert_eq!((status, reply["error"]["field"].as_str()), (400, Some("call_id")), "{reply}");

    // carol has no push token, so the server warns; bob has one.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.log().contains("without a registered push token") {
        assert!(std::time::Instant::now() < deadline, "no warning for carol: {}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = reqwest::get(server.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("zego_push_callees_without_push_token_total 1"), "{metrics}");
    assert!(
        metrics.contains(r#"zego_push_callbacks_total{event="call_timeout",outcome="recorded"} 1"#),
        "{metrics}"
    );
}
