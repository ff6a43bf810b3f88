//! The registry: one row per device token, written before ZEGO is called.
//!
//! Two backends share every query: SQLite (a file, for one server instance)
//! and PostgreSQL (for several instances sharing one outbox). Queries use
//! `$N` placeholders, which both accept; the few statements that differ
//! (row locks) are chosen per backend.

mod callbacks;
mod outbox;
mod redact;
mod registrations;
mod resync;
mod sqlite_writer;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Row, SqlitePool};

pub use callbacks::{CallEventKind, CallbackEvent, CallbackRecord, Presence, PresenceState, StoredCallEvent};
pub use outbox::Claimed;
pub use redact::redact_database_url;
use redact::redact_url_error;
pub use registrations::{Completion, UpsertOutcome, UpsertRequest};
pub use resync::ResyncStart;

/// How long opening the first PostgreSQL connection at start-up may take.
const POSTGRES_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A registration's state in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Stored; ZEGO has not confirmed it yet. The outbox retries it.
    Pending,
    /// ZEGO replied with Code 0.
    Registered,
    /// ZEGO rejected it with a permanent code, or the outbox gave up.
    Failed,
    /// Unregistered, or evicted by the per-user device limit.
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
    #[error("invalid database URL: {reason}")]
    InvalidUrl { reason: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("the database holds an unexpected value: {0}")]
    Corrupt(String),
    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the registry store is closed")]
    Closed,
    #[error("cannot connect to PostgreSQL: {0}; check that the server runs and accepts connections from this host, and the URL's host, port, user, password, database and sslmode")]
    Connect(String),
    #[error("SQLite transaction failed: {0}")]
    Transaction(String),
}

/// A stored registration, without the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRegistration {
    pub id: i64,
    pub token_hash: String,
    pub user_id: String,
    pub provider: String,
    pub platform: String,
    pub device_id: Option<String>,
    pub state: State,
    pub generation: i64,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_code: Option<i64>,
    pub last_message: Option<String>,
    pub zego_request_id: Option<String>,
    pub requested_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub registered_at: Option<i64>,
}

const STORED_COLUMNS: &str = "id, token_hash, user_id, provider, platform, device_id, state, generation, \
     attempts, next_attempt_at, last_code, last_message, zego_request_id, requested_at, created_at, \
     updated_at, registered_at";

fn stored_from_row<R: Row>(row: &R) -> Result<StoredRegistration, StoreError>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let state: String = row.try_get("state")?;
    Ok(StoredRegistration {
        id: row.try_get("id")?,
        token_hash: row.try_get("token_hash")?,
        user_id: row.try_get("user_id")?,
        provider: row.try_get("provider")?,
        platform: row.try_get("platform")?,
        device_id: row.try_get("device_id")?,
        state: State::parse(&state)?,
        generation: row.try_get("generation")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_code: row.try_get("last_code")?,
        last_message: row.try_get("last_message")?,
        zego_request_id: row.try_get("zego_request_id")?,
        requested_at: row.try_get("requested_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        registered_at: row.try_get("registered_at")?,
    })
}

/// Decodes a rusqlite row of [`STORED_COLUMNS`]. The outer result is
/// rusqlite's, for `query_row`; the inner one rejects an unknown state.
fn stored_from_sqlite_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<StoredRegistration, StoreError>> {
    let state: String = row.get("state")?;
    let stored = StoredRegistration {
        id: row.get("id")?,
        token_hash: row.get("token_hash")?,
        user_id: row.get("user_id")?,
        provider: row.get("provider")?,
        platform: row.get("platform")?,
        device_id: row.get("device_id")?,
        state: State::Pending,
        generation: row.get("generation")?,
        attempts: row.get("attempts")?,
        next_attempt_at: row.get("next_attempt_at")?,
        last_code: row.get("last_code")?,
        last_message: row.get("last_message")?,
        zego_request_id: row.get("zego_request_id")?,
        requested_at: row.get("requested_at")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        registered_at: row.get("registered_at")?,
    };
    Ok(State::parse(&state).map(|state| StoredRegistration { state, ..stored }))
}

#[derive(Debug, Clone)]
enum Backend {
    /// All writes go through one thread and connection, so writes never
    /// conflict; reads use the sqlx pool.
    Sqlite {
        writer: sqlite_writer::SqliteWriter,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// The registry store.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

/// Runs `$body` with `$pool` bound to the backend's read pool.
macro_rules! with_reader {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            crate::store::Backend::Sqlite { reader: $pool, .. } => $body,
            crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

pub(crate) use with_reader;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Returns the current time in Unix milliseconds.
pub fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as i64)
}

impl Store {
    /// Opens the database at `url`, creating a SQLite file if needed, and applies migrations.
    ///
    /// `url` is `sqlite://PATH`, `sqlite::memory:`, or `postgres://...`
    /// (also `postgresql://...`).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Self::open_sqlite(url).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url).await
        } else {
            Err(StoreError::InvalidUrl {
                reason:
                    "use sqlite://PATH (for example sqlite://zego-push.db) or postgres://USER@HOST/DATABASE"
                        .into(),
            })
        }
    }

    async fn open_sqlite(url: &str) -> Result<Self, StoreError> {
        if url.contains(":memory:") {
            return Err(StoreError::InvalidUrl {
                reason:
                    "an in-memory SQLite database cannot be shared by the writer and the readers; use a file"
                        .into(),
            });
        }
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|error| StoreError::InvalidUrl { reason: error.to_string() })?;
        let directory = options.get_filename().parent().filter(|parent| !parent.as_os_str().is_empty());
        if let Some(directory) = directory {
            if !directory.is_dir() {
                return Err(StoreError::InvalidUrl {
                    reason: format!(
                        "the directory {} does not exist; create it or choose another path",
                        directory.display()
                    ),
                });
            }
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL survives a process crash; only an OS crash can lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(options.clone()).await?;
        SQLITE_MIGRATIONS.run(&reader).await?;
        tracing::info!(migrations = SQLITE_MIGRATIONS.iter().count(), "SQLite schema is up to date");
        let writer = sqlite_writer::SqliteWriter::open(options.get_filename())?;
        Ok(Self { backend: Backend::Sqlite { writer, reader } })
    }

    async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|error| StoreError::InvalidUrl {
            reason: format!(
                "{}; if the password contains @ : / ? # % or a space, percent-encode it (@ as %40, # as %23)",
                redact_url_error(&error.to_string(), url)
            ),
        })?;
        // One direct connection first: the pool's own error on failure is
        // only "timed out", without the cause. sqlx has no connect timeout of
        // its own, so a port that accepts but never replies would hang here.
        let connect = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options);
        let probe = match tokio::time::timeout(POSTGRES_CONNECT_TIMEOUT, connect).await {
            Ok(connected) => {
                connected.map_err(|error| StoreError::Connect(redact_url_error(&error.to_string(), url)))?
            }
            Err(_) => {
                return Err(StoreError::Connect(format!(
                    "{}:{} accepted no PostgreSQL session within {} s",
                    options.get_host(),
                    options.get_port(),
                    POSTGRES_CONNECT_TIMEOUT.as_secs()
                )))
            }
        };
        let _ = sqlx::Connection::close(probe).await;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        tracing::info!(migrations = POSTGRES_MIGRATIONS.iter().count(), "PostgreSQL schema is up to date");
        Ok(Self { backend: Backend::Postgres(pool) })
    }

    /// Returns `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Checks that the database executes a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            // The writer thread must be alive too, or no registration can be stored.
            Backend::Sqlite { writer, reader } => {
                writer.ping().await?;
                sqlx::query("SELECT 1").execute(reader).await?;
            }
            Backend::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { writer, reader } => {
                writer.close().await;
                reader.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// Returns the row of a token, if stored.
    pub async fn find_by_token(&self, token: &str) -> Result<Option<StoredRegistration>, StoreError> {
        let sql = format!("SELECT {STORED_COLUMNS} FROM registrations WHERE token = $1");
        with_reader!(self, |pool| {
            let row = sqlx::query(&sql).bind(token).fetch_optional(pool).await?;
            row.as_ref().map(stored_from_row).transpose()
        })
    }

    /// Returns a user's devices that are not removed, most recently registered first.
    pub async fn list_devices(&self, user_id: &str) -> Result<Vec<StoredRegistration>, StoreError> {
        let sql = format!(
            "SELECT {STORED_COLUMNS} FROM registrations
             WHERE user_id = $1 AND state <> 'removed'
             ORDER BY requested_at DESC, id DESC"
        );
        with_reader!(self, |pool| {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(pool).await?;
            rows.iter().map(stored_from_row).collect()
        })
    }

    /// Returns how many rows are in each state.
    pub async fn count_by_state(&self) -> Result<Vec<(State, i64)>, StoreError> {
        let sql = "SELECT state, COUNT(*) AS rows FROM registrations GROUP BY state";
        with_reader!(self, |pool| {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    Ok((State::parse(row.try_get::<&str, _>("state")?)?, row.try_get::<i64, _>("rows")?))
                })
                .collect()
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
