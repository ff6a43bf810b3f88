//! Rate limits, header and time limits, and graceful shutdown, with the
//! real server binary against the real zego-mock binary.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use zego_push_e2e::{
    assert_rate_limited, mock_calls, mock_registrations, outbox_depth, send_json, set_mock_faults,
    start_live, wait_for_empty_outbox, Process,
};

fn registration(user_id: &str, token: &str) -> Value {
    json!({"user_id": user_id, "fcm_token": token, "platform": "android"})
}

async fn register(server: &Process, user_id: &str, token: &str) -> (u16, HeaderMap, Value) {
    let body = registration(user_id, token);
    send_json(Method::POST, &server.url("/api/register-push-token"), None, Some(&body)).await
}

#[tokio::test]
async fn user_rate_limit_rejects_third_registration() {
    let live = start_live(&["--rate-limit-per-user", "2"]);
    for token in ["fcm-token-1", "fcm-token-2"] {
        let (status, _, reply) = register(&live.server, "alice", token).await;
        assert_eq!(status, 200, "{token}: {reply}");
    }

    let (status, headers, reply) = register(&live.server, "alice", "fcm-token-3").await;
    assert_rate_limited(status, &headers, &reply);
    assert_eq!(mock_registrations(&live.mock).await.len(), 2, "the limited request reached ZEGO");

    let (status, _, reply) = register(&live.server, "bob", "fcm-token-bob").await;
    assert_eq!(status, 200, "another user is limited too: {reply}");
}

#[tokio::test]
async fn address_rate_limit_spares_health_checks() {
    let live = start_live(&["--rate-limit-per-address", "3"]);
    let devices_url = live.server.url("/api/users/alice/devices");
    for request in 1..=3 {
        let (status, _, reply) = send_json(Method::GET, &devices_url, None, None).await;
        assert_eq!(status, 200, "request {request}: {reply}");
    }

    let (status, headers, reply) = send_json(Method::GET, &devices_url, None, None).await;
    assert_rate_limited(status, &headers, &reply);

    let (status, _, reply) = register(&live.server, "bob", "fcm-token-bob").await;
    assert_eq!(status, 429, "the limit covers every API route: {reply}");
    assert!(mock_calls(&live.mock).await.is_empty(), "a limited registration reached ZEGO");

    for _ in 0..5 {
        let (status, _, reply) = send_json(Method::GET, &live.server.url("/healthz"), None, None).await;
        assert_eq!(status, 200, "/healthz is rate limited: {reply}");
    }
}

#[tokio::test]
async fn oversized_headers_get_431_json_error() {
    let live = start_live(&[]);
    let url = live.server.url("/api/register-push-token");
    let send_with_padding = |bytes: usize| {
        reqwest::Client::new()
            .post(&url)
            .header("x-padding", "a".repeat(bytes))
            .json(&registration("alice", "fcm-token-a"))
            .send()
    };

    let response = send_with_padding(17 * 1024).await.unwrap();
    assert_eq!(response.status(), 431);
    let reply: Value = response.json().await.expect("the 431 reply is JSON");
    assert_eq!(reply["success"], false);
    assert_eq!(reply["error"]["code"], "headers_too_large");
    assert!(mock_calls(&live.mock).await.is_empty(), "a request with oversized headers reached ZEGO");

    let response = send_with_padding(8 * 1024).await.unwrap();
    assert_eq!(response.status(), 200, "headers below 16 KiB are accepted");
}

#[tokio::test]
async fn timed_out_request_gets_json_error() {
    let live = start_live(&["--request-timeout-ms", "300", "--zego-timeout-ms", "5000"]);
    set_mock_faults(&live.mock, json!({"latency_ms": 2000})).await;

    let (status, headers, reply) = register(&live.server, "alice", "fcm-token-a").await;
    assert_eq!(status, 408, "{reply}");
    assert_eq!(reply["success"], false, "the 408 reply is not a JSON error body: {reply} {headers:?}");
    assert!(reply["error"]["code"].is_string(), "the 408 reply has no error.code: {reply}");
    assert!(headers.contains_key("x-request-id"), "the 408 reply has no x-request-id: {headers:?}");
}

#[tokio::test]
async fn timed_out_registration_is_sent_by_outbox() {
    // With one ZEGO attempt of at most 1 s, the request's lease on its row is
    // (1 s timeout + 2 s backoff cap + 1 s rate-limit pause) * 1 attempt
    // + 1 s for an attempt signed again + 5 s = 10 s.
    let live = start_live(&[
        "--request-timeout-ms",
        "300",
        "--zego-max-attempts",
        "1",
        "--zego-timeout-ms",
        "1000",
        "--outbox-poll-ms",
        "100",
    ]);
    set_mock_faults(&live.mock, json!({"latency_ms": 2000})).await;

    let (status, _, reply) = register(&live.server, "alice", "fcm-token-a").await;
    assert_eq!(status, 408, "{reply}");
    set_mock_faults(&live.mock, json!({})).await;

    // The row stays pending under the request's lease, then the outbox
    // registers it. /readyz is not rate limited, so it can be polled.
    wait_for_empty_outbox(&live.server, Duration::from_secs(25)).await;
    let devices_url = live.server.url("/api/users/alice/devices");
    let (status, _, reply) = send_json(Method::GET, &devices_url, None, None).await;
    assert_eq!(status, 200, "{reply}");
    let device = &reply["devices"][0];
    assert!(device.is_object(), "the timed-out registration was lost: {reply}");
    assert_eq!(device["state"], "registered", "{reply}");
    assert_eq!(device["last_code"], 0);

    let registered = mock_registrations(&live.mock).await;
    assert!(registered.iter().any(|entry| entry["push_id"] == "fcm-token-a"), "{registered:?}");
    let log = live.server.log();
    assert!(log.contains("queued push token registered"), "the outbox did not log the registration:\n{log}");
}

#[tokio::test]
async fn sigterm_finishes_request_in_flight() {
    let mut live = start_live(&[]);
    set_mock_faults(&live.mock, json!({"latency_ms": 1500})).await;

    let url = live.server.url("/api/register-push-token");
    let in_flight = tokio::spawn(async move {
        send_json(Method::POST, &url, None, Some(&registration("alice", "fcm-token-a"))).await
    });

    // The row is stored as pending before ZEGO is called, so a pending row
    // means the request is waiting for the mock.
    let deadline = Instant::now() + Duration::from_secs(5);
    while outbox_depth(&live.server).await == 0 {
        assert!(Instant::now() < deadline, "the registration did not reach the store within 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    live.server.terminate();

    let (status, _, reply) = in_flight.await.unwrap();
    assert_eq!(status, 200, "the request in flight did not complete: {reply}");
    assert_eq!(reply["status"], "registered");

    let exit = live.server.wait_exit(Duration::from_secs(10));
    assert!(exit.is_some(), "the server did not exit within 10 s of SIGTERM");
    assert!(exit.unwrap().success(), "the server exited with {exit:?}");
    let log = live.server.log();
    assert!(log.contains("outbox worker stopped"), "{log}");
    assert!(log.contains("zego-push-server stopped"), "{log}");
}

/// Opens a connection to `server` and sends a request line and one header,
/// but never the blank line that ends the headers.
async fn open_stalled_request(server: &Process) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let address = server.base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: zego-push\r\n").await.unwrap();
    stream
}

/// Reads until the server closes `stream`, failing after `guard`, which is
/// far longer than the server's limit and only stops a hung test.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, guard: Duration) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let closed = tokio::time::timeout(guard, async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(count) => received.extend_from_slice(&buffer[..count]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept a connection with unfinished headers open for {guard:?}");
    received
}

#[tokio::test]
async fn stalled_headers_close_connection() {
    let live = start_live(&["--request-timeout-ms", "500"]);
    let mut stream = open_stalled_request(&live.server).await;

    let received = read_until_closed(&mut stream, Duration::from_secs(30)).await;

    assert!(
        received.is_empty(),
        "a request without its headers got a reply: {}",
        String::from_utf8_lossy(&received)
    );
    let (status, _, reply) = send_json(Method::GET, &live.server.url("/healthz"), None, None).await;
    assert_eq!(status, 200, "the server still serves other clients: {reply}");
}

#[tokio::test]
async fn sigterm_does_not_wait_for_stalled_client() {
    let mut live = start_live(&["--request-timeout-ms", "1000"]);
    let mut stream = open_stalled_request(&live.server).await;
    // The server accepts connections in order, so once a later connection is
    // served, the stalled one has been accepted.
    let (status, _, _) = send_json(Method::GET, &live.server.url("/healthz"), None, None).await;
    assert_eq!(status, 200);

    live.server.terminate();

    // The server drops the stalled connection at the header timeout and
    // exits. The guard is thirty times the timeout.
    read_until_closed(&mut stream, Duration::from_secs(30)).await;
    let exit = live.server.wait_exit(Duration::from_secs(30));
    assert!(exit.is_some(), "the server did not exit within 30 s of SIGTERM with a stalled client");
    assert!(exit.unwrap().success(), "the server exited with {exit:?}");
}
