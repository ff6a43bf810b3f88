//! The registry: one row per device token, written before ZEGO is called.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use zego_core::Registration;

/// A registration's state in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Stored; ZEGO has not confirmed it yet.
    Pending,
    /// ZEGO replied with Code 0.
    Registered,
    /// ZEGO rejected it with a permanent code.
    Failed,
    /// Unregistered by the app.
    Removed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Registered => "registered",
            State::Failed => "failed",
            State::Removed => "removed",
        }
    }

    fn parse(value: &str) -> Result<Self, StoreError> {
        match value {
            "pending" => Ok(State::Pending),
            "registered" => Ok(State::Registered),
            "failed" => Ok(State::Failed),
            "removed" => Ok(State::Removed),
            other => Err(StoreError::Corrupt(format!("unknown state {other:?}"))),
        }
    }
}

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("the database holds an unexpected value: {0}")]
    Corrupt(String),
}

/// A stored registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRegistration {
    pub id: i64,
    pub token_hash: String,
    pub user_id: String,
    pub provider: String,
    pub platform: String,
    pub device_id: Option<String>,
    pub state: State,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_code: Option<i64>,
    pub last_message: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub registered_at: Option<i64>,
}

/// What storing a registration changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    pub id: i64,
    /// The user that held the token before, when it was another user.
    pub moved_from: Option<String>,
}

/// The registry store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Returns the current time in Unix milliseconds.
pub fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as i64)
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    ///
    /// `url` is `sqlite://PATH` or `sqlite::memory:`.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::InvalidUrl {
                url: url.to_owned(),
                reason: "only sqlite:// URLs are supported, for example sqlite://zego-push.db".into(),
            });
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|error| StoreError::InvalidUrl { url: url.to_owned(), reason: error.to_string() })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL survives a process crash; only an OS crash can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Stores a registration as pending, before ZEGO is called. A token
    /// already stored is taken over by this user and device.
    pub async fn upsert_pending(&self, registration: &Registration) -> Result<Upserted, StoreError> {
        let now = now_millis();
        let token = registration.token.as_str();
        let mut tx = self.pool.begin().await?;

        let previous: Option<String> =
            sqlx::query_scalar("SELECT user_id FROM registrations WHERE token = ?")
                .bind(token)
                .fetch_optional(&mut *tx)
                .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO registrations
                 (token, token_hash, user_id, provider, platform, device_id, state, attempts,
                  next_attempt_at, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)
             ON CONFLICT (token) DO UPDATE SET
                 user_id = excluded.user_id,
                 provider = excluded.provider,
                 platform = excluded.platform,
                 device_id = excluded.device_id,
                 state = 'pending',
                 attempts = 0,
                 next_attempt_at = excluded.next_attempt_at,
                 last_code = NULL,
                 last_message = NULL,
                 updated_at = excluded.updated_at
             RETURNING id",
        )
        .bind(token)
        .bind(registration.token.short_hash())
        .bind(registration.user_id.as_str())
        .bind(registration.provider().as_str())
        .bind(registration.platform.as_str())
        .bind(registration.device_id.as_ref().map(zego_core::DeviceId::as_str))
        .bind(now)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;

        let moved_from = previous.filter(|user| user != registration.user_id.as_str());
        Ok(Upserted { id, moved_from })
    }

    /// Records ZEGO's Code 0.
    pub async fn mark_registered(
        &self,
        id: i64,
        attempts: u32,
        request_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        sqlx::query(
            "UPDATE registrations
             SET state = 'registered', attempts = attempts + ?, next_attempt_at = NULL,
                 last_code = 0, last_message = 'success', zego_request_id = ?,
                 updated_at = ?, registered_at = ?
             WHERE id = ?",
        )
        .bind(i64::from(attempts))
        .bind(request_id)
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a permanent rejection.
    pub async fn mark_failed(
        &self,
        id: i64,
        attempts: u32,
        code: Option<i64>,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE registrations
             SET state = 'failed', attempts = attempts + ?, next_attempt_at = NULL,
                 last_code = ?, last_message = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(i64::from(attempts))
        .bind(code)
        .bind(message)
        .bind(now_millis())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failure worth retrying; the row stays pending, due at `next_attempt_at`.
    pub async fn mark_retry(
        &self,
        id: i64,
        attempts: u32,
        code: Option<i64>,
        message: &str,
        next_attempt_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE registrations
             SET state = 'pending', attempts = attempts + ?, next_attempt_at = ?,
                 last_code = ?, last_message = ?, updated_at = ?
             WHERE id = ?",
        )
        .bind(i64::from(attempts))
        .bind(next_attempt_at)
        .bind(code)
        .bind(message)
        .bind(now_millis())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Returns the row of a token, if stored.
    pub async fn find_by_token(&self, token: &str) -> Result<Option<StoredRegistration>, StoreError> {
        let row = sqlx::query(
            "SELECT id, token_hash, user_id, provider, platform, device_id, state, attempts,
                    next_attempt_at, last_code, last_message, created_at, updated_at, registered_at
             FROM registrations WHERE token = ?",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredRegistration {
                id: row.try_get("id")?,
                token_hash: row.try_get("token_hash")?,
                user_id: row.try_get("user_id")?,
                provider: row.try_get("provider")?,
                platform: row.try_get("platform")?,
                device_id: row.try_get("device_id")?,
                state: State::parse(row.try_get::<&str, _>("state")?)?,
                attempts: row.try_get("attempts")?,
                next_attempt_at: row.try_get("next_attempt_at")?,
                last_code: row.try_get("last_code")?,
                last_message: row.try_get("last_message")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                registered_at: row.try_get("registered_at")?,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(user: &str, token: &str) -> Registration {
        Registration::parse(user, token, "android", None, Some("phone-1")).unwrap()
    }

    async fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("registry.db").display());
        let store = Store::open(&url).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn pending_row_is_written_then_registered() {
        let (_dir, store) = temp_store().await;
        let upserted = store.upsert_pending(&registration("alice", "tok-1")).await.unwrap();
        assert_eq!(upserted.moved_from, None);

        let row = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(row.state, State::Pending);
        assert_eq!(row.user_id, "alice");
        assert_eq!(row.device_id.as_deref(), Some("phone-1"));

        store.mark_registered(upserted.id, 2, Some("req-1")).await.unwrap();
        let row = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(row.state, State::Registered);
        assert_eq!(row.attempts, 2);
        assert_eq!(row.last_code, Some(0));
        assert!(row.registered_at.is_some());
    }

    #[tokio::test]
    async fn token_moves_to_second_user() {
        let (_dir, store) = temp_store().await;
        let first = store.upsert_pending(&registration("alice", "tok-1")).await.unwrap();
        let second = store.upsert_pending(&registration("bob", "tok-1")).await.unwrap();
        assert_eq!(first.id, second.id);
        assert_eq!(second.moved_from.as_deref(), Some("alice"));
        let row = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(row.user_id, "bob");
    }

    #[tokio::test]
    async fn failed_and_retry_states_are_recorded() {
        let (_dir, store) = temp_store().await;
        let id = store.upsert_pending(&registration("alice", "tok-1")).await.unwrap().id;
        store.mark_retry(id, 3, Some(1), "busy", 12_345).await.unwrap();
        let row = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(row.state, State::Pending);
        assert_eq!(row.next_attempt_at, Some(12_345));
        assert_eq!(row.attempts, 3);

        store.mark_failed(id, 1, Some(100_000_005), "signature error").await.unwrap();
        let row = store.find_by_token("tok-1").await.unwrap().unwrap();
        assert_eq!(row.state, State::Failed);
        assert_eq!(row.attempts, 4);
        assert_eq!(row.last_code, Some(100_000_005));
        assert_eq!(row.next_attempt_at, None);
    }

    #[tokio::test]
    async fn rows_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("registry.db").display());
        {
            let store = Store::open(&url).await.unwrap();
            store.upsert_pending(&registration("alice", "tok-1")).await.unwrap();
        }
        let store = Store::open(&url).await.unwrap();
        assert!(store.find_by_token("tok-1").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn rejects_non_sqlite_url() {
        let error = Store::open("mysql://localhost/db").await.unwrap_err();
        assert!(error.to_string().contains("sqlite://"), "{error}");
    }
}
