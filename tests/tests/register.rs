//! `POST /api/register-push-token` end to end: the real server binary
//! against the real zego-mock binary, over loopback sockets.

use serde_json::json;
use zego_push_e2e::{
    mock_calls, mock_registrations, register, set_mock_faults, start_mock, start_server, Process,
    ServerOptions, APP_ID, SECRET,
};
use zego_push_server::store::{State, Store};

/// The body of the integration guide's curl example, byte for byte.
const GUIDE_CURL_BODY: &str = r#"{
    "fcm_token": "actual_device_token",
    "platform": "android",
    "user_id": "test_user_001"
  }"#;

const APNS_TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

struct Live {
    dir: tempfile::TempDir,
    mock: Process,
    server: Process,
}

fn start_live(secret: &str) -> Live {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let options = ServerOptions {
        live: Some((APP_ID.into(), secret.into(), mock.base_url.clone())),
        ..ServerOptions::default()
    };
    let server = start_server(dir.path(), &options);
    Live { dir, mock, server }
}

async fn open_store(live: &Live) -> Store {
    Store::open(&zego_push_e2e::database_url(live.dir.path())).await.unwrap()
}

#[tokio::test]
async fn guide_curl_body_gets_guide_success_response() {
    let live = start_live(SECRET);
    let (status, reply) = register(&live.server, GUIDE_CURL_BODY).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["success"], true);
    assert_eq!(reply["data"]["Code"], 0);
    assert_eq!(reply["data"]["Message"], "success");
    assert_eq!(reply["status"], "registered");

    let registered = mock_registrations(&live.mock).await;
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["user_id"], "test_user_001");
    assert_eq!(registered[0]["push_id"], "actual_device_token");
    assert_eq!(registered[0]["push_provider"], 1);
    assert_eq!(registered[0]["app_id"], 1_234_567_890);

    let row = open_store(&live).await.find_by_token("actual_device_token").await.unwrap().unwrap();
    assert_eq!(row.state, State::Registered);
    assert_eq!(row.user_id, "test_user_001");
    assert_eq!(row.last_code, Some(0));
}

#[tokio::test]
async fn sandbox_mode_answers_guide_curl_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &ServerOptions::default());
    let (status, reply) = register(&server, GUIDE_CURL_BODY).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["success"], true);
    assert_eq!(reply["data"]["Code"], 0);
    assert_eq!(reply["data"]["Message"], "success");

    let log = server.log();
    assert!(log.contains("SANDBOX MODE"), "{log}");
    assert!(log.contains("nothing reaches ZEGO"), "{log}");
    assert!(log.contains("ZEGO_APP_ID"), "{log}");
}

#[tokio::test]
async fn platform_in_any_case_maps_to_provider() {
    let live = start_live(SECRET);
    let cases = [
        ("Android", "fcm-token-1", 1),
        ("ANDROID", "fcm-token-2", 1),
        ("android", "fcm-token-3", 1),
        ("iOS", APNS_TOKEN, 2),
        ("IOS", &APNS_TOKEN.to_uppercase(), 2),
    ];
    for (index, (platform, token, _)) in cases.iter().enumerate() {
        let body = json!({"user_id": format!("user{index}"), "fcm_token": token, "platform": platform});
        let (status, reply) = register(&live.server, &body.to_string()).await;
        assert_eq!(status, 200, "{platform}: {reply}");
    }

    let registered = mock_registrations(&live.mock).await;
    assert_eq!(registered.len(), cases.len());
    for (index, (platform, _, provider)) in cases.iter().enumerate() {
        assert_eq!(registered[index]["user_id"], format!("user{index}"));
        assert_eq!(registered[index]["push_provider"], *provider, "{platform}");
    }
    // APNs tokens reach ZEGO lowercased.
    assert_eq!(registered[4]["push_id"], APNS_TOKEN);
}

#[tokio::test]
async fn ios_non_hex_token_without_provider_is_400_naming_fcm_token() {
    let live = start_live(SECRET);
    let body = json!({"user_id": "u1", "fcm_token": "dGVzdA:APA91bHx", "platform": "ios"});
    let (status, reply) = register(&live.server, &body.to_string()).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["success"], false);
    assert_eq!(reply["error"]["field"], "fcm_token");
    assert_eq!(reply["error"]["code"], "invalid_field");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains(r#""provider": "fcm""#), "{message}");
    assert!(mock_calls(&live.mock).await.is_empty());

    let with_provider =
        json!({"user_id": "u1", "fcm_token": "dGVzdA:APA91bHx", "platform": "ios", "provider": "fcm"});
    let (status, reply) = register(&live.server, &with_provider.to_string()).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(mock_registrations(&live.mock).await[0]["push_provider"], 1);
}

#[tokio::test]
async fn wrong_secret_surfaces_zego_code_as_502() {
    let live = start_live("ffffffffffffffffffffffffffffffff");
    let (status, reply) = register(&live.server, GUIDE_CURL_BODY).await;
    assert_eq!(status, 502, "{reply}");
    assert_eq!(reply["success"], false);
    assert_eq!(reply["data"]["Code"], 100_000_005);
    assert_eq!(reply["error"]["code"], "zego_rejected");
    assert!(reply["error"]["message"].as_str().unwrap().contains("ServerSecret"), "{reply}");
    assert_eq!(mock_calls(&live.mock).await.len(), 1, "a signature error is not retried");

    let row = open_store(&live).await.find_by_token("actual_device_token").await.unwrap().unwrap();
    assert_eq!(row.state, State::Failed);
    assert_eq!(row.last_code, Some(100_000_005));

    let log = live.server.log();
    assert!(!log.contains("ffffffffffffffffffffffffffffffff"), "the secret appears in the log");
    assert!(!log.contains("actual_device_token"), "the token appears in the log");
}

#[tokio::test]
async fn dropped_connections_are_retried_into_success() {
    let live = start_live(SECRET);
    set_mock_faults(&live.mock, json!({"drop_connections": 2})).await;
    let (status, reply) = register(&live.server, GUIDE_CURL_BODY).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["data"]["Code"], 0);

    let outcomes: Vec<String> = mock_calls(&live.mock)
        .await
        .iter()
        .map(|call| call["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outcomes, ["dropped", "dropped", "ok"]);
    let row = open_store(&live).await.find_by_token("actual_device_token").await.unwrap().unwrap();
    assert_eq!(row.attempts, 3);
}

#[tokio::test]
async fn permanent_code_is_not_retried() {
    let live = start_live(SECRET);
    set_mock_faults(&live.mock, json!({"code": {"code": 660_200_001, "message": "user does not exist"}}))
        .await;
    let (status, reply) = register(&live.server, GUIDE_CURL_BODY).await;
    assert_eq!(status, 502, "{reply}");
    assert_eq!(reply["data"]["Code"], 660_200_001);
    assert_eq!(mock_calls(&live.mock).await.len(), 1);
}

#[tokio::test]
async fn unreachable_zego_is_202_queued_and_row_stays_pending() {
    let dir = tempfile::tempdir().unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let options = ServerOptions {
        live: Some((APP_ID.into(), SECRET.into(), format!("http://127.0.0.1:{closed_port}"))),
        ..ServerOptions::default()
    };
    let server = start_server(dir.path(), &options);
    let (status, reply) = register(&server, GUIDE_CURL_BODY).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["success"], true);
    assert_eq!(reply["status"], "queued");

    let store = Store::open(&zego_push_e2e::database_url(dir.path())).await.unwrap();
    let row = store.find_by_token("actual_device_token").await.unwrap().unwrap();
    assert_eq!(row.state, State::Pending);
    assert_eq!(row.attempts, 3);
    assert!(row.next_attempt_at.is_some());
}
