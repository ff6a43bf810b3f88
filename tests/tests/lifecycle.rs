//! The token lifecycle end to end: unchanged registrations, tokens that
//! move between users, unregistration, the per-user device limit and
//! resync, with the real server binary against the real zego-mock binary.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use zego_push_e2e::{
    assert_rate_limited, mock_registrations, send_json, short_hash, start_live, wait_for_empty_outbox,
    Process,
};

const APNS_TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

async fn register(server: &Process, user_id: &str, token: &str, platform: &str) -> (u16, Value) {
    let body = json!({"user_id": user_id, "fcm_token": token, "platform": platform});
    let (status, _, reply) =
        send_json(Method::POST, &server.url("/api/register-push-token"), None, Some(&body)).await;
    (status, reply)
}

async fn unregister(server: &Process, user_id: &str, token: &str) -> (u16, Value) {
    let body = json!({"user_id": user_id, "fcm_token": token});
    let (status, _, reply) =
        send_json(Method::POST, &server.url("/api/unregister-push-token"), None, Some(&body)).await;
    (status, reply)
}

/// Returns the devices listed for `user_id`, failing unless the list request succeeds.
async fn devices(server: &Process, user_id: &str) -> Vec<Value> {
    let url = server.url(&format!("/api/users/{user_id}/devices"));
    let (status, _, reply) = send_json(Method::GET, &url, None, None).await;
    assert_eq!(status, 200, "listing the devices of {user_id} failed: {reply}");
    reply["devices"].as_array().cloned().expect("the device list has a devices array")
}

fn token_hashes(devices: &[Value]) -> Vec<String> {
    devices.iter().map(|device| device["token_hash"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Returns how often the mock registered `token`.
async fn registrations_of(mock: &Process, token: &str) -> usize {
    mock_registrations(mock).await.iter().filter(|registration| registration["push_id"] == token).count()
}

#[tokio::test]
async fn unchanged_token_is_answered_from_store() {
    let live = start_live(&[]);
    let (status, reply) = register(&live.server, "alice", "fcm-token-a", "android").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "registered");

    let (status, reply) = register(&live.server, "alice", "fcm-token-a", "android").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["success"], true);
    assert_eq!(reply["status"], "unchanged");
    assert_eq!(reply["data"]["Code"], 0);
    assert_eq!(mock_registrations(&live.mock).await.len(), 1, "the second request must not reach ZEGO");
}

#[tokio::test]
async fn zero_unchanged_window_calls_zego_again() {
    let live = start_live(&["--unchanged-window-secs", "0"]);
    for _ in 0..2 {
        let (status, reply) = register(&live.server, "alice", "fcm-token-a", "android").await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["status"], "registered");
    }
    assert_eq!(mock_registrations(&live.mock).await.len(), 2);
}

#[tokio::test]
async fn token_moves_to_new_user() {
    let live = start_live(&[]);
    let token = "fcm-token-shared-phone";
    let (status, reply) = register(&live.server, "user-a", token, "android").await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = register(&live.server, "user-b", token, "android").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "registered", "a move is registered with ZEGO again");

    let devices_a = devices(&live.server, "user-a").await;
    assert!(devices_a.is_empty(), "user-a still lists the moved token: {devices_a:?}");

    let devices_b = devices(&live.server, "user-b").await;
    assert_eq!(token_hashes(&devices_b), [short_hash(token)]);
    assert_eq!(devices_b[0]["state"], "registered");
    assert!(devices_b[0].get("token").is_none(), "a device carries a token field: {}", devices_b[0]);
    assert!(!devices_b[0].to_string().contains(token), "a device contains the raw token: {}", devices_b[0]);

    let registered = mock_registrations(&live.mock).await;
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[1]["user_id"], "user-b");
}

#[tokio::test]
async fn unregister_removes_token_idempotently() {
    let live = start_live(&[]);
    let (status, reply) = register(&live.server, "alice", "fcm-token-a", "android").await;
    assert_eq!(status, 200, "{reply}");

    let (status, reply) = unregister(&live.server, "alice", "fcm-token-a").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["success"], true);
    assert_eq!(reply["status"], "removed");
    assert!(devices(&live.server, "alice").await.is_empty(), "the removed token is still listed");

    // A logout retried after a network error succeeds again.
    let (status, reply) = unregister(&live.server, "alice", "fcm-token-a").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "removed");

    // A token the user never had is not found.
    let (status, reply) = unregister(&live.server, "alice", "fcm-token-never").await;
    assert_eq!(status, 404, "{reply}");
    assert_eq!(reply["success"], false);
    assert_eq!(reply["error"]["code"], "token_not_found");
    assert_eq!(reply["error"]["field"], "fcm_token");

    // Another user's token is not found either.
    let (status, reply) = register(&live.server, "bob", "fcm-token-b", "android").await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = unregister(&live.server, "alice", "fcm-token-b").await;
    assert_eq!(status, 404, "{reply}");
    assert_eq!(devices(&live.server, "bob").await.len(), 1, "bob's token stays");
}

#[tokio::test]
async fn unregister_finds_apns_token_in_any_form() {
    let live = start_live(&[]);
    let (status, reply) = register(&live.server, "alice", APNS_TOKEN, "ios").await;
    assert_eq!(status, 200, "{reply}");

    // The form iOS prints a device token in: uppercase, in <> with a space every 8 digits.
    let groups: Vec<String> = APNS_TOKEN
        .to_uppercase()
        .as_bytes()
        .chunks(8)
        .map(|chunk| String::from_utf8(chunk.to_vec()).unwrap())
        .collect();
    let spaced = format!("<{}>", groups.join(" "));
    let (status, reply) = unregister(&live.server, "alice", &spaced).await;
    assert_eq!(status, 200, "{spaced} was not found: {reply}");
    assert_eq!(reply["status"], "removed");
    assert!(devices(&live.server, "alice").await.is_empty(), "the removed APNs token is still listed");
}

#[tokio::test]
async fn delete_user_removes_all_tokens() {
    let live = start_live(&[]);
    for token in ["fcm-token-1", "fcm-token-2", "fcm-token-3"] {
        let (status, reply) = register(&live.server, "alice", token, "android").await;
        assert_eq!(status, 200, "{reply}");
    }
    let (status, reply) = register(&live.server, "bob", "fcm-token-bob", "android").await;
    assert_eq!(status, 200, "{reply}");

    let url = live.server.url("/api/users/alice/push-tokens");
    let (status, _, reply) = send_json(Method::DELETE, &url, None, None).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["status"], "removed");
    assert_eq!(reply["removed"], 3);
    assert!(devices(&live.server, "alice").await.is_empty(), "alice still has devices");
    assert_eq!(devices(&live.server, "bob").await.len(), 1, "another user's token was removed");

    let (status, _, reply) = send_json(Method::DELETE, &url, None, None).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["removed"], 0, "a second delete found tokens again");
}

#[tokio::test]
async fn device_limit_evicts_least_recent_device() {
    let live = start_live(&["--device-limit", "2"]);
    let tokens = ["fcm-token-first", "fcm-token-second", "fcm-token-third"];
    for token in tokens {
        let (status, reply) = register(&live.server, "alice", token, "android").await;
        assert_eq!(status, 200, "{token}: {reply}");
    }

    let listed = devices(&live.server, "alice").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.iter().all(|device| device["state"] == "registered"), "{listed:?}");
    let hashes = token_hashes(&listed);
    assert_eq!(hashes, [short_hash(tokens[2]), short_hash(tokens[1])], "newest first, the first evicted");

    assert!(!hashes.contains(&short_hash(tokens[0])), "the evicted token is still listed");
}

#[tokio::test]
async fn resync_registers_active_tokens_again() {
    let live = start_live(&["--resync-rate", "50", "--outbox-poll-ms", "100"]);
    let tokens = [("alice", "fcm-token-a"), ("bob", "fcm-token-b"), ("carol", "fcm-token-c")];
    for (user_id, token) in tokens {
        let (status, reply) = register(&live.server, user_id, token, "android").await;
        assert_eq!(status, 200, "{reply}");
    }
    let (status, reply) = unregister(&live.server, "carol", "fcm-token-c").await;
    assert_eq!(status, 200, "{reply}");

    let (status, _, reply) = send_json(Method::POST, &live.server.url("/api/resync"), None, None).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["status"], "queued");
    assert_eq!(reply["queued"], 2, "only the two active rows are queued");
    assert_eq!(reply["rate_per_second"], 50);

    wait_for_empty_outbox(&live.server, Duration::from_secs(15)).await;
    assert_eq!(registrations_of(&live.mock, "fcm-token-a").await, 2);
    assert_eq!(registrations_of(&live.mock, "fcm-token-b").await, 2);
    assert_eq!(registrations_of(&live.mock, "fcm-token-c").await, 1, "a removed token was registered again");
    for (user_id, _) in &tokens[..2] {
        let listed = devices(&live.server, user_id).await;
        assert_eq!(listed[0]["state"], "registered", "{user_id}: {listed:?}");
    }
}

#[tokio::test]
async fn second_resync_is_rate_limited() {
    let live = start_live(&["--resync-min-interval-secs", "600"]);
    let url = live.server.url("/api/resync");
    let (status, _, reply) = send_json(Method::POST, &url, None, None).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["queued"], 0);

    let (status, headers, reply) = send_json(Method::POST, &url, None, None).await;
    let retry_after = assert_rate_limited(status, &headers, &reply);
    assert!(retry_after <= 600, "Retry-After is {retry_after}");
}
