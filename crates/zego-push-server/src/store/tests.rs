//! The store test suite, run against a SQLite file and a real PostgreSQL.
//!
//! PostgreSQL comes from `ZEGO_PUSH_TEST_POSTGRES_URL`, which
//! `scripts/test.sh` sets after starting a server; each test gets a
//! database of its own. Without the variable the tests fail, unless
//! `ZEGO_PUSH_TEST_SKIP_POSTGRES=1` selects the SQLite half only.

use std::collections::HashSet;
use std::future::Future;

use sqlx::Connection;
use zego_core::Registration;

use super::*;

pub(crate) const POSTGRES_URL_VAR: &str = "ZEGO_PUSH_TEST_POSTGRES_URL";
const SKIP_POSTGRES_VAR: &str = "ZEGO_PUSH_TEST_SKIP_POSTGRES";

/// A store under test.
pub(crate) struct TestStore {
    pub store: Store,
    pub url: String,
}

/// Creates an empty PostgreSQL database on the test server and returns its URL.
pub(crate) async fn fresh_postgres_url(base_url: &str) -> String {
    let name = format!("zp_test_{}", hex::encode(rand::random::<[u8; 6]>()));
    let mut admin = sqlx::PgConnection::connect(base_url)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to the test PostgreSQL at {base_url}: {error}"));
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    admin.close().await.unwrap();
    let mut url = url::Url::parse(base_url).unwrap();
    url.set_path(&name);
    url.to_string()
}

/// Returns the stores to test, SQLite always and PostgreSQL unless explicitly
/// skipped, with the directory that contains the SQLite file.
pub(crate) async fn test_stores() -> (tempfile::TempDir, Vec<TestStore>) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let mut stores = vec![TestStore { store: Store::open(&sqlite_url).await.unwrap(), url: sqlite_url }];

    match std::env::var(POSTGRES_URL_VAR) {
        Ok(base_url) => {
            let url = fresh_postgres_url(&base_url).await;
            stores.push(TestStore { store: Store::open(&url).await.unwrap(), url });
        }
        Err(_) if std::env::var(SKIP_POSTGRES_VAR).as_deref() == Ok("1") => {}
        Err(error) => panic!(
            "{POSTGRES_URL_VAR} is unusable ({error}): run scripts/test.sh, which starts PostgreSQL, \
             or set {SKIP_POSTGRES_VAR}=1 to test SQLite only"
        ),
    }
    (dir, stores)
}

/// Runs `check` against every test store.
async fn for_each_store<F, Fut>(check: F)
where
    F: Fn(TestStore) -> Fut,
    Fut: Future<Output = ()>,
{
    // The directory lives here, because a check's future may not capture it.
    let (_dir, stores) = test_stores().await;
    for store in stores {
        check(store).await;
    }
}

fn registration(user: &str, token: &str, device: &str) -> Registration {
    Registration::parse(user, token, "android", None, Some(device)).unwrap()
}

fn request(registration: &Registration) -> UpsertRequest<'_> {
    UpsertRequest {
        registration,
        lease_owner: "test",
        lease_ms: 60_000,
        unchanged_window_ms: 0,
        device_limit: 0,
    }
}

async fn upsert(store: &Store, request: &UpsertRequest<'_>) -> (i64, i64) {
    match store.upsert_pending(request).await.unwrap() {
        UpsertOutcome::Pending { id, generation, .. } => (id, generation),
        UpsertOutcome::Unchanged(row) => panic!("expected a pending row, got unchanged {row:?}"),
    }
}

async fn state_of(store: &Store, token: &str) -> State {
    store.find_by_token(token).await.unwrap().unwrap().state
}

#[tokio::test]
async fn pending_row_is_written_then_registered() {
    for_each_store(|test| async move {
        let store = &test.store;
        let reg = registration("alice", "tok-1", "phone-1");
        let (id, generation) = upsert(store, &request(&reg)).await;

        let row = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(row.state, State::Pending, "{}", store.backend_name());
        assert_eq!(row.user_id, "alice");
        assert_eq!(row.device_id.as_deref(), Some("phone-1"));
        assert_eq!(row.token_hash, reg.token.short_hash());

        let completion = Completion::Registered { request_id: Some("req-1".into()) };
        assert!(store.complete(id, generation, 2, &completion).await.unwrap());
        let row = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(row.state, State::Registered);
        assert_eq!(row.attempts, 2);
        assert_eq!(row.last_code, Some(0));
        assert_eq!(row.zego_request_id.as_deref(), Some("req-1"));
        assert!(row.registered_at.is_some());
    })
    .await;
}

#[tokio::test]
async fn unchanged_registration_is_answered_from_store() {
    for_each_store(|test| async move {
        let store = &test.store;
        let reg = registration("alice", "tok-1", "phone-1");
        let windowed = UpsertRequest { unchanged_window_ms: 60_000, ..request(&reg) };

        let (id, generation) = upsert(store, &windowed).await;
        // Still pending: a repeat is not unchanged yet.
        let (id2, generation2) = upsert(store, &windowed).await;
        assert_eq!(id, id2);
        assert_eq!(generation2, generation + 1);
        assert!(!store
            .complete(id, generation, 1, &Completion::Registered { request_id: None })
            .await
            .unwrap());
        assert!(store
            .complete(id, generation2, 1, &Completion::Registered { request_id: None })
            .await
            .unwrap());

        let seen_before = store.find_by_token("tok-1").await.unwrap().unwrap().requested_at;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        let outcome = store.upsert_pending(&windowed).await.unwrap();
        assert!(matches!(outcome, UpsertOutcome::Unchanged(ref row) if row.id == id), "{outcome:?}");
        let seen_after = store.find_by_token("tok-1").await.unwrap().unwrap().requested_at;
        assert!(seen_after > seen_before, "an unchanged registration refreshes requested_at");

        // Another device id, or a window of 0, is a new registration.
        let other_device = registration("alice", "tok-1", "phone-2");
        let other_request = UpsertRequest { unchanged_window_ms: 60_000, ..request(&other_device) };
        let outcome = store.upsert_pending(&other_request).await.unwrap();
        assert!(matches!(outcome, UpsertOutcome::Pending { .. }), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn token_moves_to_second_user() {
    for_each_store(|test| async move {
        let store = &test.store;
        let alice = registration("alice", "tok-1", "phone-1");
        let bob = registration("bob", "tok-1", "phone-1");
        upsert(store, &request(&alice)).await;
        let outcome = store.upsert_pending(&request(&bob)).await.unwrap();
        let UpsertOutcome::Pending { moved_from, .. } = outcome else { panic!("{outcome:?}") };
        assert_eq!(moved_from.as_deref(), Some("alice"));
        assert_eq!(store.find_by_token("tok-1").await.unwrap().unwrap().user_id, "bob");
        assert!(store.list_devices("alice").await.unwrap().is_empty());
        assert_eq!(store.list_devices("bob").await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn device_limit_evicts_least_recently_registered() {
    for_each_store(|test| async move {
        let store = &test.store;
        let tokens = ["tok-a", "tok-b", "tok-c"];
        let mut hashes = Vec::new();
        for (index, token) in tokens.iter().enumerate() {
            let reg = registration("alice", token, &format!("phone-{index}"));
            hashes.push(reg.token.short_hash());
            let outcome =
                store.upsert_pending(&UpsertRequest { device_limit: 2, ..request(&reg) }).await.unwrap();
            let UpsertOutcome::Pending { evicted, .. } = outcome else { panic!() };
            if index < 2 {
                assert!(evicted.is_empty());
            } else {
                assert_eq!(evicted, vec![hashes[0].clone()]);
            }
            // Distinct request times, so the order is well defined.
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        assert_eq!(state_of(store, "tok-a").await, State::Removed);
        assert_eq!(state_of(store, "tok-b").await, State::Pending);
        assert_eq!(state_of(store, "tok-c").await, State::Pending);

        // Registering the oldest again makes it the newest and evicts tok-b.
        let again = registration("alice", "tok-a", "phone-0");
        store.upsert_pending(&UpsertRequest { device_limit: 2, ..request(&again) }).await.unwrap();
        assert_eq!(state_of(store, "tok-a").await, State::Pending);
        assert_eq!(state_of(store, "tok-b").await, State::Removed);
    })
    .await;
}

#[tokio::test]
async fn failed_and_retry_completions_are_recorded() {
    for_each_store(|test| async move {
        let store = &test.store;
        let reg = registration("alice", "tok-1", "phone-1");
        let (id, generation) = upsert(store, &request(&reg)).await;
        let retry = Completion::Retry { code: Some(1), message: "busy".into(), next_attempt_at: 12_345 };
        assert!(store.complete(id, generation, 3, &retry).await.unwrap());
        let row = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(row.state, State::Pending);
        assert_eq!(row.next_attempt_at, Some(12_345));
        assert_eq!(row.attempts, 3);
        assert_eq!(row.last_code, Some(1));

        let failed = Completion::Failed { code: Some(100_000_005), message: "signature error".into() };
        assert!(store.complete(id, generation, 1, &failed).await.unwrap());
        let row = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(row.state, State::Failed);
        assert_eq!(row.attempts, 4);
        assert_eq!(row.last_code, Some(100_000_005));
        assert_eq!(row.last_message.as_deref(), Some("signature error"));
        assert_eq!(row.next_attempt_at, None);
    })
    .await;
}

#[tokio::test]
async fn claim_skips_leased_rows_until_lease_expires() {
    for_each_store(|test| async move {
        let store = &test.store;
        let reg = registration("alice", "tok-1", "phone-1");
        // The request holds a lease, so the outbox leaves the row alone.
        let (id, generation) = upsert(store, &request(&reg)).await;
        assert!(store.claim_due("worker", 60_000, 10).await.unwrap().is_empty());

        // Once the request hands the row to the outbox, it is claimable when due.
        let retry = Completion::Retry { code: None, message: "unreachable".into(), next_attempt_at: 0 };
        store.complete(id, generation, 1, &retry).await.unwrap();
        let claimed = store.claim_due("worker-1", 60_000, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].token, "tok-1");
        assert_eq!(claimed[0].attempts, 1);
        assert!(store.claim_due("worker-2", 60_000, 10).await.unwrap().is_empty());

        // A released lease makes it claimable again at once.
        assert_eq!(store.release_leases("worker-1").await.unwrap(), 1);
        assert_eq!(store.claim_due("worker-2", 0, 10).await.unwrap().len(), 1);
        // A lease of 0 ms has expired by the next claim.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        assert_eq!(store.claim_due("worker-3", 60_000, 10).await.unwrap().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn concurrent_claims_never_share_a_row() {
    for_each_store(|test| async move {
        let store = &test.store;
        for index in 0..200 {
            let reg = registration(&format!("user{index}"), &format!("tok-{index}"), "phone");
            let (id, generation) = upsert(store, &request(&reg)).await;
            let retry = Completion::Retry { code: None, message: "queued".into(), next_attempt_at: 0 };
            store.complete(id, generation, 0, &retry).await.unwrap();
        }

        let mut claimers = Vec::new();
        for worker in 0..8 {
            let store = store.clone();
            claimers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store.claim_due(&format!("worker-{worker}"), 60_000, 7).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|row| row.id));
                }
            }));
        }
        let mut seen = HashSet::new();
        for claimer in claimers {
            for id in claimer.await.unwrap() {
                assert!(seen.insert(id), "row {id} claimed twice on {}", store.backend_name());
            }
        }
        assert_eq!(seen.len(), 200);
    })
    .await;
}

#[tokio::test]
async fn stale_generation_cannot_overwrite_newer_request() {
    for_each_store(|test| async move {
        let store = &test.store;
        let reg = registration("alice", "tok-1", "phone-1");
        let (id, old_generation) = upsert(store, &request(&reg)).await;
        store.remove_token("alice", "tok-1").await.unwrap();
        let applied = store
            .complete(id, old_generation, 1, &Completion::Registered { request_id: None })
            .await
            .unwrap();
        assert!(!applied);
        assert_eq!(state_of(store, "tok-1").await, State::Removed);
    })
    .await;
}

#[tokio::test]
async fn unregister_token_and_user() {
    for_each_store(|test| async move {
        let store = &test.store;
        for (token, device) in [("tok-1", "a"), ("tok-2", "b"), ("tok-3", "c")] {
            upsert(store, &request(&registration("alice", token, device))).await;
        }
        upsert(store, &request(&registration("bob", "tok-4", "d"))).await;

        assert!(!store.remove_token("bob", "tok-1").await.unwrap(), "bob does not own tok-1");
        assert!(store.remove_token("alice", "tok-1").await.unwrap());
        assert!(!store.remove_token("alice", "tok-1").await.unwrap(), "already removed");
        assert_eq!(store.list_devices("alice").await.unwrap().len(), 2);

        assert_eq!(store.remove_user("alice").await.unwrap(), 2);
        assert!(store.list_devices("alice").await.unwrap().is_empty());
        assert_eq!(store.list_devices("bob").await.unwrap().len(), 1);
        assert_eq!(store.remove_user("nobody").await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn resync_queues_active_rows_spaced_apart() {
    for_each_store(|test| async move {
        let store = &test.store;
        let mut ids = Vec::new();
        for index in 0..3 {
            let reg = registration("alice", &format!("tok-{index}"), &format!("d{index}"));
            let (id, generation) = upsert(store, &request(&reg)).await;
            store.complete(id, generation, 1, &Completion::Registered { request_id: None }).await.unwrap();
            ids.push(id);
        }
        store.remove_token("alice", "tok-2").await.unwrap();

        let now = now_millis();
        assert_eq!(store.start_resync(now, 0, 1_000).await.unwrap(), ResyncStart::Started { queued: 2 });
        let first = store.find_by_token("tok-0").await.unwrap().unwrap();
        let second = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(first.state, State::Pending);
        assert_eq!(second.state, State::Pending);
        let gap = second.next_attempt_at.unwrap() - first.next_attempt_at.unwrap();
        assert_eq!(gap, 1_000);
        assert_eq!(first.next_attempt_at, Some(now));
        assert_eq!(state_of(store, "tok-2").await, State::Removed);
        assert_eq!(store.outbox_depth().await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn resync_waits_for_min_interval() {
    for_each_store(|test| async move {
        let store = &test.store;
        let alice = registration("alice", "tok-1", "phone-1");
        let (id, generation) = upsert(store, &request(&alice)).await;
        store.complete(id, generation, 1, &Completion::Registered { request_id: None }).await.unwrap();

        let start = now_millis();
        let first = store.start_resync(start, 10_000, 50).await.unwrap();
        assert_eq!(first, ResyncStart::Started { queued: 1 });
        let generation_after_first = store.find_by_token("tok-1").await.unwrap().unwrap().generation;

        let second = store.start_resync(start + 4_000, 10_000, 50).await.unwrap();
        assert_eq!(second, ResyncStart::TooSoon { retry_after_ms: 6_000 });
        let row = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(row.generation, generation_after_first, "a rejected resync changed the row");

        let third = store.start_resync(start + 10_000, 10_000, 50).await.unwrap();
        assert_eq!(third, ResyncStart::Started { queued: 1 });

        // The interval counts from the third start now.
        let fourth = store.start_resync(start + 10_001, 10_000, 50).await.unwrap();
        assert_eq!(fourth, ResyncStart::TooSoon { retry_after_ms: 9_999 });
    })
    .await;
}

#[tokio::test]
async fn concurrent_resyncs_start_once() {
    for_each_store(|test| async move {
        let store = &test.store;
        for index in 0..20 {
            upsert(store, &request(&registration(&format!("user{index}"), &format!("tok-{index}"), "phone")))
                .await;
        }

        // Each extra store on the same database acts as another server instance.
        let mut instances = vec![store.clone()];
        for _ in 0..3 {
            instances.push(Store::open(&test.url).await.unwrap());
        }
        let now = now_millis();
        let mut starts = Vec::new();
        for attempt in 0..12 {
            let instance = instances[attempt % instances.len()].clone();
            starts.push(tokio::spawn(async move { instance.start_resync(now, 600_000, 50).await.unwrap() }));
        }
        let mut started = 0;
        for start in starts {
            match start.await.unwrap() {
                ResyncStart::Started { queued } => {
                    started += 1;
                    assert_eq!(queued, 20, "on {}", store.backend_name());
                }
                ResyncStart::TooSoon { retry_after_ms } => {
                    assert_eq!(retry_after_ms, 600_000, "on {}", store.backend_name());
                }
            }
        }
        assert_eq!(started, 1, "resyncs started on {}", store.backend_name());
        for instance in &instances[1..] {
            instance.close().await;
        }
    })
    .await;
}

#[tokio::test]
async fn rows_survive_reopening_the_database() {
    for_each_store(|test| async move {
        upsert(&test.store, &request(&registration("alice", "tok-1", "phone-1"))).await;
        test.store.close().await;
        let reopened = Store::open(&test.url).await.unwrap();
        assert_eq!(reopened.find_by_token("tok-1").await.unwrap().unwrap().user_id, "alice");
        let counts = reopened.count_by_state().await.unwrap();
        assert_eq!(counts, vec![(State::Pending, 1)]);
    })
    .await;
}

#[tokio::test]
async fn unreachable_postgres_names_the_cause() {
    // Port 1 on loopback is closed, so the connection is refused at once.
    let error = Store::open("postgres://postgres:hunter2@127.0.0.1:1/none").await.unwrap_err().to_string();
    assert!(error.contains("cannot connect to PostgreSQL"), "{error}");
    assert!(error.contains("refused"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[tokio::test]
async fn rejects_unknown_database_url() {
    let error = Store::open("mysql://localhost/db").await.unwrap_err();
    assert!(error.to_string().contains("sqlite://"), "{error}");
}

fn presence_event(user: &str, state: PresenceState, changed_at: i64) -> CallbackEvent {
    CallbackEvent::Presence {
        user_id: user.into(),
        state,
        changed_at,
        os: Some("ANDROID".into()),
        session_id: Some("s-1".into()),
    }
}

#[tokio::test]
async fn callback_nonce_is_accepted_once() {
    for_each_store(|test| async move {
        let store = &test.store;
        let now = now_millis() / 1000;
        let event = presence_event("alice", PresenceState::Online, now * 1000);
        assert_eq!(
            store.record_callback(now, "n-1", event.clone(), 300).await.unwrap(),
            CallbackRecord::Recorded
        );
        // The same timestamp and nonce, even with another body, changes nothing.
        let other = presence_event("alice", PresenceState::LoggedOut, now * 1000 + 1);
        assert_eq!(store.record_callback(now, "n-1", other, 300).await.unwrap(), CallbackRecord::Replayed);
        assert_eq!(store.presence("alice").await.unwrap().unwrap().state, PresenceState::Online);
        // Another nonce, or the same nonce at another timestamp, is a new callback.
        assert_eq!(
            store.record_callback(now, "n-2", CallbackEvent::Other, 300).await.unwrap(),
            CallbackRecord::Recorded
        );
        assert_eq!(
            store.record_callback(now - 1, "n-1", CallbackEvent::Other, 300).await.unwrap(),
            CallbackRecord::Recorded
        );
    })
    .await;
}

#[tokio::test]
async fn older_presence_never_overwrites_newer() {
    for_each_store(|test| async move {
        let store = &test.store;
        let now = now_millis() / 1000;
        assert_eq!(store.presence("alice").await.unwrap(), None);
        let newer = presence_event("alice", PresenceState::Offline, 2_000);
        store.record_callback(now, "a", newer, 300).await.unwrap();
        let older = presence_event("alice", PresenceState::Online, 1_000);
        store.record_callback(now, "b", older, 300).await.unwrap();
        let presence = store.presence("alice").await.unwrap().unwrap();
        assert_eq!(
            (presence.state, presence.changed_at),
            (PresenceState::Offline, 2_000),
            "{}",
            store.backend_name()
        );
        assert_eq!(presence.os.as_deref(), Some("ANDROID"));
        let newest = presence_event("alice", PresenceState::LoggedOut, 3_000);
        store.record_callback(now, "c", newest, 300).await.unwrap();
        assert_eq!(store.presence("alice").await.unwrap().unwrap().state, PresenceState::LoggedOut);
    })
    .await;
}

#[tokio::test]
async fn logout_holds_older_pending_rows_until_login() {
    for_each_store(|test| async move {
        let store = &test.store;
        let now = now_millis() / 1000;
        let retry = Completion::Retry { code: None, message: "unreachable".into(), next_attempt_at: 0 };
        let alice = registration("alice", "tok-a", "phone-a");
        let (id, generation) = upsert(store, &request(&alice)).await;
        store.complete(id, generation, 1, &retry).await.unwrap();
        let bob = registration("bob", "tok-b", "phone-b");
        let (id, generation) = upsert(store, &request(&bob)).await;
        store.complete(id, generation, 1, &retry).await.unwrap();
        let requested_at = store.find_by_token("tok-a").await.unwrap().unwrap().requested_at;

        // Alice logs out after her registration request: her row is held.
        let logout = presence_event("alice", PresenceState::LoggedOut, requested_at + 1);
        store.record_callback(now, "logout", logout, 300).await.unwrap();
        assert_eq!(store.outbox_depth().await.unwrap(), 1, "{}", store.backend_name());
        let claimed = store.claim_due("worker", 0, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|row| row.user_id.as_str()).collect::<Vec<_>>(), ["bob"]);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;

        // A registration request after the logout is not held.
        let again = registration("alice", "tok-a2", "phone-a");
        let (id, generation) = upsert(store, &request(&again)).await;
        store.complete(id, generation, 1, &retry).await.unwrap();
        let claimed = store.claim_due("worker", 60_000, 10).await.unwrap();
        let tokens: HashSet<&str> = claimed.iter().map(|row| row.token.as_str()).collect();
        assert!(tokens.contains("tok-a2"), "{tokens:?}");
        assert!(!tokens.contains("tok-a"), "{tokens:?}");
        store.release_leases("worker").await.unwrap();

        // Logging in again releases the deferred row.
        let login = presence_event("alice", PresenceState::Online, requested_at + 2);
        store.record_callback(now, "login", login, 300).await.unwrap();
        let claimed = store.claim_due("worker", 60_000, 10).await.unwrap();
        assert!(claimed.iter().any(|row| row.token == "tok-a"), "{claimed:?}");
        // Every row is pending and none is deferred: alice's two and bob's.
        assert_eq!(store.outbox_depth().await.unwrap(), 3);

        // Going offline (the app was killed) defers nothing: a push must get through then.
        let offline = presence_event("alice", PresenceState::Offline, now_millis() + 10_000);
        store.record_callback(now, "offline", offline, 300).await.unwrap();
        assert_eq!(store.outbox_depth().await.unwrap(), 3);
    })
    .await;
}

#[tokio::test]
async fn call_events_are_recorded_in_order() {
    for_each_store(|test| async move {
        let store = &test.store;
        let now = now_millis() / 1000;
        let create = CallbackEvent::Call {
            kind: CallEventKind::Created,
            call_id: "call-1".into(),
            caller: Some("alice".into()),
            user_ids: vec!["bob".into(), "carol".into()],
            reason: None,
            occurred_at: 1_000,
        };
        let cancel = CallbackEvent::Call {
            kind: CallEventKind::Cancelled,
            call_id: "call-1".into(),
            caller: None,
            user_ids: vec!["bob".into()],
            reason: Some("caller_cancel".into()),
            occurred_at: 2_000,
        };
        store.record_callback(now, "c1", create, 300).await.unwrap();
        store.record_callback(now, "c2", cancel, 300).await.unwrap();
        let events = store.call_events("call-1").await.unwrap();
        assert_eq!(events.len(), 2, "{}", store.backend_name());
        assert_eq!(events[0].event, "call_create");
        assert_eq!(events[0].caller.as_deref(), Some("alice"));
        assert_eq!(events[0].user_ids, ["bob", "carol"]);
        assert_eq!(events[1].event, "call_cancel");
        assert_eq!(events[1].reason.as_deref(), Some("caller_cancel"));
        assert_eq!(store.registered_count("bob").await.unwrap(), 0);
    })
    .await;
}

#[tokio::test]
async fn sqlite_state_check_rebuild_keeps_rows_and_check() {
    // A database made by the first migration alone, as an older release left it.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let first = sqlx::migrate::Migrator {
            migrations: std::borrow::Cow::Owned(SQLITE_MIGRATIONS.migrations[..1].to_vec()),
            ignore_missing: false,
            locking: true,
            no_tx: false,
        };
        first.run(&pool).await.unwrap();
        for (token, state) in [("old-1", "registered"), ("old-2", "pending")] {
            sqlx::query(
                "INSERT INTO registrations (token, token_hash, user_id, provider, platform, state,
                     requested_at, created_at, updated_at) VALUES ($1, 'h', 'alice', 'fcm', 'android', $2, 1, 1, 1)",
            )
            .bind(token)
            .bind(state)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
    }

    let store = Store::open(&url).await.unwrap();
    assert_eq!(state_of(&store, "old-1").await, State::Registered);
    assert_eq!(state_of(&store, "old-2").await, State::Pending);
    let (id, _) = upsert(&store, &request(&registration("bob", "new-1", "phone"))).await;
    assert_eq!(id, 3, "ids continue after the rebuilt rows");
    let Backend::Sqlite { writer, .. } = &store.backend else { unreachable!() };
    let bad = writer
        .run(|connection| Ok(connection.execute("UPDATE registrations SET state = 'lost' WHERE id = 1", [])?))
        .await;
    assert!(bad.is_err(), "the state check still holds: {bad:?}");
}
