//! No accepted registration is lost: not when the server is killed under
//! load, not when ZEGO is down for a while, and not registered twice when
//! several instances share one PostgreSQL outbox, nor by resyncs through
//! two instances within the minimum interval.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::Connection;
use tokio::sync::Semaphore;
use zego_push_e2e::{
    assert_rate_limited, mock_calls, mock_registrations, postgres_base_url, register, send_json,
    set_mock_faults, start_mock, start_server, wait_for_empty_outbox, Process, ServerOptions,
};

/// Outbox settings that retry within a test's patience.
const FAST_OUTBOX: [&str; 8] = [
    "--outbox-poll-ms",
    "100",
    "--outbox-base-delay-ms",
    "200",
    "--outbox-max-delay-ms",
    "1000",
    "--rate-limit-per-address",
    "0",
];

fn token(index: usize) -> String {
    format!("durability-token-{index:05}")
}

fn body(index: usize) -> String {
    json!({"user_id": format!("user{index}"), "fcm_token": token(index), "platform": "android"}).to_string()
}

/// Returns how many times the mock registered each token.
async fn registration_counts(mock: &Process) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for registration in mock_registrations(mock).await {
        *counts.entry(registration["push_id"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_registration() {
    const TOKENS: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    // A slow ZEGO that also drops the first 300 calls, so that some
    // registrations are acknowledged as queued (202) and some as registered (200).
    set_mock_faults(&mock, json!({"latency_ms": 100, "drop_connections": 300})).await;
    let options = ServerOptions::live(&mock).args(FAST_OUTBOX).args([
        "--rate-limit-per-user",
        "0",
        "--zego-timeout-ms",
        "2000",
        "--zego-max-attempts",
        "1",
    ]);
    let mut first =
        start_server(dir.path(), &ServerOptions { log_name: Some("first.log".into()), ..options.clone() });

    // Register 2,000 tokens, 64 at a time, and remember which the server acknowledged.
    let url = first.url("/api/register-push-token");
    let client = reqwest::Client::new();
    let permits = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::new();
    for index in 0..TOKENS {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let sent = client
                .post(&url)
                .header("Content-Type", "application/json")
                .body(body(index))
                .timeout(Duration::from_secs(20))
                .send()
                .await;
            drop(permit);
            match sent {
                Ok(response) if matches!(response.status().as_u16(), 200 | 202) => {
                    Some((index, response.status().as_u16()))
                }
                _ => None,
            }
        }));
        // Kill the server once the load is well under way.
        if index == 600 {
            first.kill();
        }
    }
    let mut acknowledged = HashSet::new();
    let mut queued = 0;
    for task in tasks {
        if let Some((index, status)) = task.await.unwrap() {
            acknowledged.insert(index);
            queued += usize::from(status == 202);
        }
    }
    eprintln!("acknowledged {} registrations, {queued} of them queued", acknowledged.len());
    assert!(queued > 0, "no registration was acknowledged as queued before the kill");
    assert!(acknowledged.len() > queued, "no registration was acknowledged as registered before the kill");
    assert!(acknowledged.len() < TOKENS, "the kill came after the load finished");

    // A new server on the same database finishes the outbox.
    set_mock_faults(&mock, json!({})).await;
    let second = start_server(dir.path(), &ServerOptions { log_name: Some("second.log".into()), ..options });
    wait_for_empty_outbox(&second, Duration::from_secs(60)).await;

    let counts = registration_counts(&mock).await;
    let lost: Vec<usize> =
        acknowledged.iter().copied().filter(|index| !counts.contains_key(&token(*index))).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged registrations never reached ZEGO, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}

#[tokio::test]
async fn zego_down_then_up_registers_each_row_once() {
    const TOKENS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    set_mock_faults(&mock, json!({"drop_connections": 1_000_000})).await;
    let options = ServerOptions::live(&mock).args(FAST_OUTBOX).args(["--zego-max-attempts", "2"]);
    let server = start_server(dir.path(), &options);

    for index in 0..TOKENS {
        let (status, reply) = register(&server, &body(index)).await;
        assert_eq!(status, 202, "{reply}");
        assert_eq!(reply["status"], "queued");
        assert_eq!(reply["success"], true);
    }

    // While ZEGO is down, the outbox keeps trying and nothing is registered.
    let deadline = Instant::now() + Duration::from_secs(10);
    while mock_calls(&mock).await.len() <= 2 * TOKENS {
        assert!(Instant::now() < deadline, "the outbox did not retry while ZEGO was down");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(mock_registrations(&mock).await.is_empty());

    // ZEGO comes back: every row is registered exactly once.
    set_mock_faults(&mock, json!({})).await;
    wait_for_empty_outbox(&server, Duration::from_secs(60)).await;
    let counts = registration_counts(&mock).await;
    assert_eq!(counts.len(), TOKENS);
    for index in 0..TOKENS {
        assert_eq!(counts.get(&token(index)), Some(&1), "{}", token(index));
    }
}

/// Creates an empty database for one test. The tests in this file run in
/// one process, so `label` keeps their databases apart.
async fn fresh_postgres_database(label: &str) -> String {
    let base_url = postgres_base_url();
    let name = format!("zp_e2e_{}_{label}", std::process::id());
    let mut admin =
        sqlx::PgConnection::connect(&base_url).await.expect("the test PostgreSQL accepts connections");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    url_with_database(&base_url, &name)
}

fn url_with_database(base_url: &str, name: &str) -> String {
    let (server, _) = base_url.rsplit_once('/').expect("the URL names a database");
    format!("{server}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_never_register_a_row_twice() {
    const TOKENS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_postgres_database("outbox").await;
    let mock = start_mock(dir.path());
    set_mock_faults(&mock, json!({"drop_connections": 1_000_000})).await;
    let options = ServerOptions { database_url: Some(database_url), ..ServerOptions::live(&mock) }
        .args(FAST_OUTBOX)
        .args(["--zego-max-attempts", "1", "--rate-limit-per-user", "0"]);
    let first =
        start_server(dir.path(), &ServerOptions { log_name: Some("first.log".into()), ..options.clone() });
    let second = start_server(dir.path(), &ServerOptions { log_name: Some("second.log".into()), ..options });

    // Queue every token while ZEGO is down, half through each instance.
    for index in 0..TOKENS {
        let server = if index % 2 == 0 { &first } else { &second };
        let (status, reply): (u16, Value) = register(server, &body(index)).await;
        assert_eq!(status, 202, "{reply}");
    }

    // ZEGO comes back slowly, so the two outbox workers run side by side.
    set_mock_faults(&mock, json!({"latency_ms": 20})).await;
    wait_for_empty_outbox(&first, Duration::from_secs(90)).await;
    wait_for_empty_outbox(&second, Duration::from_secs(30)).await;

    let counts = registration_counts(&mock).await;
    assert_eq!(counts.len(), TOKENS);
    let twice: Vec<&String> =
        counts.iter().filter(|(_, count)| **count > 1).map(|(token, _)| token).collect();
    assert!(twice.is_empty(), "registered more than once: {twice:?}");

    let worked = |log: String| log.matches("queued push token registered").count();
    let (by_first, by_second) = (worked(first.log()), worked(second.log()));
    assert_eq!(by_first + by_second, TOKENS, "each row is registered by exactly one instance's outbox");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_interval_is_shared_by_instances() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_postgres_database("resync").await;
    let mock = start_mock(dir.path());
    let options = ServerOptions { database_url: Some(database_url), ..ServerOptions::live(&mock) }
        .args(FAST_OUTBOX)
        .args(["--resync-min-interval-secs", "600"]);
    let first =
        start_server(dir.path(), &ServerOptions { log_name: Some("first.log".into()), ..options.clone() });
    let second = start_server(dir.path(), &ServerOptions { log_name: Some("second.log".into()), ..options });
    let (status, reply): (u16, Value) = register(&first, &body(0)).await;
    assert_eq!(status, 200, "{reply}");

    let (status, _, reply) = send_json(Method::POST, &first.url("/api/resync"), None, None).await;
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["queued"], 1);

    let (status, headers, reply) = send_json(Method::POST, &second.url("/api/resync"), None, None).await;
    let retry_after = assert_rate_limited(status, &headers, &reply);
    assert!(retry_after <= 600, "Retry-After is {retry_after}");

    // Registered once on request and once by the single resync.
    wait_for_empty_outbox(&first, Duration::from_secs(30)).await;
    let counts = registration_counts(&mock).await;
    assert_eq!(counts.get(&token(0)), Some(&2), "{counts:?}");
    assert_eq!(first.log().matches("resync started").count(), 1);
    assert_eq!(second.log().matches("resync started").count(), 0);
}
