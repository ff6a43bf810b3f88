//! Registration requests and their outcomes, and unregistration.
//!
//! Each write has a SQLite form, run on the writer thread with rusqlite, and
//! a PostgreSQL form, run with sqlx. Both use the same SQL text.

use rusqlite::{named_params, OptionalExtension};
use sqlx::Row;
use zego_core::Registration;

use super::{now_millis, Backend, State, Store, StoreError, StoredRegistration, STORED_COLUMNS};

/// A registration request to store before ZEGO is called.
#[derive(Debug, Clone)]
pub struct UpsertRequest<'a> {
    pub registration: &'a Registration,
    /// The instance that will call ZEGO for this request.
    pub lease_owner: &'a str,
    /// How long other instances and the outbox leave the row alone.
    pub lease_ms: i64,
    /// An identical registration that succeeded less than this long ago gets
    /// its reply from the store; 0 turns this off.
    pub unchanged_window_ms: i64,
    /// The maximum number of devices a user may have registered; 0 means no limit.
    pub device_limit: usize,
}

/// The result of storing a registration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// The same token, user, provider, platform and device were registered
    /// within the window; nothing changed and ZEGO need not be called.
    Unchanged(Box<StoredRegistration>),
    /// The row is pending and leased to the caller, which now calls ZEGO.
    Pending {
        id: i64,
        generation: i64,
        /// The user that held the token before, when it was another user.
        moved_from: Option<String>,
        /// Token hashes of the user's devices removed by the device limit.
        evicted: Vec<String>,
    },
}

/// The outcome of a ZEGO call for a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// ZEGO replied with Code 0.
    Registered { request_id: Option<String> },
    /// A permanent failure: the row is given up.
    Failed { code: Option<i64>, message: String },
    /// A failure worth retrying at `next_attempt_at`.
    Retry { code: Option<i64>, message: String, next_attempt_at: i64 },
}

/// An upsert's values, owned so that they can move to the writer thread.
#[derive(Debug, Clone)]
struct UpsertValues {
    token: String,
    token_hash: String,
    user_id: String,
    provider: &'static str,
    platform: &'static str,
    device_id: Option<String>,
    lease_owner: String,
    lease_until: i64,
    unchanged_window_ms: i64,
    device_limit: usize,
    now: i64,
}

impl UpsertValues {
    fn new(request: &UpsertRequest<'_>) -> Self {
        let registration = request.registration;
        let now = now_millis();
        Self {
            token: registration.token.as_str().to_owned(),
            token_hash: registration.token.short_hash(),
            user_id: registration.user_id.as_str().to_owned(),
            provider: registration.provider().as_str(),
            platform: registration.platform.as_str(),
            device_id: registration.device_id.as_ref().map(|device| device.as_str().to_owned()),
            lease_owner: request.lease_owner.to_owned(),
            lease_until: now + request.lease_ms,
            unchanged_window_ms: request.unchanged_window_ms,
            device_limit: request.device_limit,
            now,
        }
    }

    /// Tells whether `row` is this registration, done within the window.
    fn is_unchanged(&self, row: &StoredRegistration) -> bool {
        self.unchanged_window_ms > 0
            && row.state == State::Registered
            && row.user_id == self.user_id
            && row.provider == self.provider
            && row.platform == self.platform
            && row.device_id == self.device_id
            && row
                .registered_at
                .is_some_and(|registered_at| self.now - registered_at < self.unchanged_window_ms)
    }

    /// Returns the rows beyond the device limit among the user's active
    /// rows, keeping the most recently requested, never the row just written.
    fn over_limit(&self, mut active: Vec<ActiveRow>, written: i64) -> Vec<(i64, String)> {
        if self.device_limit == 0 || active.len() <= self.device_limit {
            return Vec::new();
        }
        active.sort_unstable_by_key(|row| std::cmp::Reverse((row.requested_at, row.id)));
        active
            .into_iter()
            .skip(self.device_limit)
            .filter(|row| row.id != written)
            .map(|row| (row.id, row.token_hash))
            .collect()
    }

    fn outcome(
        &self,
        existing: Option<StoredRegistration>,
        id: i64,
        generation: i64,
        evicted: Vec<String>,
    ) -> UpsertOutcome {
        let moved_from = existing.map(|row| row.user_id).filter(|user| *user != self.user_id);
        UpsertOutcome::Pending { id, generation, moved_from, evicted }
    }
}

/// One of a user's active rows, for the device limit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ActiveRow {
    id: i64,
    token_hash: String,
    requested_at: i64,
}

/// The insert of a new token's row, shared by [`INSERT_ROW`] and [`UPSERT`].
macro_rules! insert_row {
    () => {
        "INSERT INTO registrations
         (token, token_hash, user_id, provider, platform, device_id, state, generation, attempts,
          next_attempt_at, lease_owner, lease_until, requested_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 1, 0, $7, $8, $9, $7, $7, $7)"
    };
}

/// SQLite inserts a new token with this and takes over a stored one with
/// [`TAKE_OVER`]: the writer already read the row, and RETURNING would cost
/// SQLite a temporary table per statement.
const INSERT_ROW: &str = insert_row!();

const TAKE_OVER: &str = "UPDATE registrations SET
         user_id = $3, provider = $4, platform = $5, device_id = $6, state = 'pending',
         generation = generation + 1, attempts = 0, next_attempt_at = $7, lease_owner = $8,
         lease_until = $9, last_code = NULL, last_message = NULL, requested_at = $7, updated_at = $7
     WHERE id = $10";

/// PostgreSQL inserts or takes over in one statement.
const UPSERT: &str = concat!(
    insert_row!(),
    "
     ON CONFLICT (token) DO UPDATE SET
         user_id = excluded.user_id,
         provider = excluded.provider,
         platform = excluded.platform,
         device_id = excluded.device_id,
         state = 'pending',
         generation = registrations.generation + 1,
         attempts = 0,
         next_attempt_at = excluded.next_attempt_at,
         lease_owner = excluded.lease_owner,
         lease_until = excluded.lease_until,
         last_code = NULL,
         last_message = NULL,
         requested_at = excluded.requested_at,
         updated_at = excluded.updated_at
     RETURNING id, generation"
);

/// A user's pending and registered rows. The states sort as failed <
/// pending < registered < removed, so the range is a plain scan of the
/// (user_id, state) index; an IN list or ORDER BY would cost SQLite a
/// temporary table. The caller sorts, and only when over the limit.
const ACTIVE_OF_USER: &str = "SELECT id, token_hash, requested_at FROM registrations
     WHERE user_id = $1 AND state BETWEEN 'pending' AND 'registered'";

const TOUCH: &str = "UPDATE registrations SET requested_at = $1 WHERE id = $2";

const REMOVE_BY_ID: &str = "UPDATE registrations
     SET state = 'removed', generation = generation + 1, next_attempt_at = NULL,
         lease_owner = NULL, lease_until = NULL, updated_at = $1
     WHERE id = $2";

const COMPLETE: &str = "UPDATE registrations
     SET state = $1, attempts = attempts + $2, next_attempt_at = $3, lease_owner = NULL,
         lease_until = NULL, last_code = $4, last_message = $5,
         zego_request_id = COALESCE($6, zego_request_id),
         registered_at = COALESCE($7, registered_at), updated_at = $8
     WHERE id = $9 AND generation = $10";

const REMOVE_TOKEN: &str = "UPDATE registrations
     SET state = 'removed', generation = generation + 1, next_attempt_at = NULL,
         lease_owner = NULL, lease_until = NULL, updated_at = $1
     WHERE token = $2 AND user_id = $3 AND state <> 'removed'";

const REMOVE_USER: &str = "UPDATE registrations
     SET state = 'removed', generation = generation + 1, next_attempt_at = NULL,
         lease_owner = NULL, lease_until = NULL, updated_at = $1
     WHERE user_id = $2 AND state <> 'removed'";

/// The values a completion writes: state, code, message, next attempt,
/// ZEGO request id and registration time.
type CompletionValues<'a> = (&'static str, Option<i64>, &'a str, Option<i64>, Option<&'a str>, Option<i64>);

fn completion_values(completion: &Completion, now: i64) -> CompletionValues<'_> {
    match completion {
        Completion::Registered { request_id } => {
            ("registered", Some(0), "success", None, request_id.as_deref(), Some(now))
        }
        Completion::Failed { code, message } => ("failed", *code, message, None, None, None),
        Completion::Retry { code, message, next_attempt_at } => {
            ("pending", *code, message, Some(*next_attempt_at), None, None)
        }
    }
}

impl Store {
    /// Stores a registration request as pending and leased to the caller,
    /// unless the same registration succeeded within the window.
    ///
    /// A token stored for another user moves to this user. When the user
    /// then has more active devices than the limit, the least recently
    /// registered ones are marked removed.
    pub async fn upsert_pending(&self, request: &UpsertRequest<'_>) -> Result<UpsertOutcome, StoreError> {
        let values = UpsertValues::new(request);
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                writer.run(move |connection| upsert_sqlite(connection, &values)).await
            }
            Backend::Postgres(pool) => upsert_postgres(pool, &values).await,
        }
    }

    /// Records how a ZEGO call for a row ended and releases its lease.
    ///
    /// Returns false, changing nothing, when the row changed since the call
    /// started (a newer registration request, an unregistration or a resync).
    pub async fn complete(
        &self,
        id: i64,
        generation: i64,
        attempts: u32,
        completion: &Completion,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let attempts = i64::from(attempts);
        let changed = match &self.backend {
            Backend::Sqlite { writer, .. } => {
                let completion = completion.clone();
                writer
                    .run(move |connection| {
                        let (state, code, message, next_attempt_at, request_id, registered_at) =
                            completion_values(&completion, now);
                        let changed = connection.prepare_cached(COMPLETE)?.execute(named_params! {
                            "$1": state, "$2": attempts, "$3": next_attempt_at, "$4": code, "$5": message,
                            "$6": request_id, "$7": registered_at, "$8": now, "$9": id, "$10": generation,
                        })?;
                        Ok(changed as u64)
                    })
                    .await?
            }
            Backend::Postgres(pool) => {
                let (state, code, message, next_attempt_at, request_id, registered_at) =
                    completion_values(completion, now);
                sqlx::query(COMPLETE)
                    .bind(state)
                    .bind(attempts)
                    .bind(next_attempt_at)
                    .bind(code)
                    .bind(message)
                    .bind(request_id)
                    .bind(registered_at)
                    .bind(now)
                    .bind(id)
                    .bind(generation)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
        };
        Ok(changed == 1)
    }

    /// Marks one of a user's tokens removed. Returns false when the user has
    /// no such active token.
    pub async fn remove_token(&self, user_id: &str, token: &str) -> Result<bool, StoreError> {
        let now = now_millis();
        let changed = match &self.backend {
            Backend::Sqlite { writer, .. } => {
                let (user_id, token) = (user_id.to_owned(), token.to_owned());
                writer
                    .run(move |connection| {
                        let statement = &mut connection.prepare_cached(REMOVE_TOKEN)?;
                        Ok(statement.execute(named_params! {"$1": now, "$2": token, "$3": user_id})? as u64)
                    })
                    .await?
            }
            Backend::Postgres(pool) => sqlx::query(REMOVE_TOKEN)
                .bind(now)
                .bind(token)
                .bind(user_id)
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(changed == 1)
    }

    /// Marks every token of a user removed and returns how many there were.
    pub async fn remove_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                let user_id = user_id.to_owned();
                writer
                    .run(move |connection| {
                        let statement = &mut connection.prepare_cached(REMOVE_USER)?;
                        Ok(statement.execute(named_params! {"$1": now, "$2": user_id})? as u64)
                    })
                    .await
            }
            Backend::Postgres(pool) => {
                Ok(sqlx::query(REMOVE_USER).bind(now).bind(user_id).execute(pool).await?.rows_affected())
            }
        }
    }
}

fn upsert_sqlite(
    connection: &rusqlite::Connection,
    values: &UpsertValues,
) -> Result<UpsertOutcome, StoreError> {
    // Reply to an unchanged registration from the store.
    let select = format!("SELECT {STORED_COLUMNS} FROM registrations WHERE token = $1");
    let existing = connection
        .prepare_cached(&select)?
        .query_row(named_params! {"$1": values.token}, super::stored_from_sqlite_row)
        .optional()?
        .transpose()?;
    if let Some(row) = &existing {
        if values.is_unchanged(row) {
            // The device was seen now, which matters to the device limit.
            connection.prepare_cached(TOUCH)?.execute(named_params! {"$1": values.now, "$2": row.id})?;
            return Ok(UpsertOutcome::Unchanged(Box::new(row.clone())));
        }
    }

    // Insert the row, or take it over for this user and request. The
    // writer thread is the only writer, so the row read above is current.
    let (id, generation) = if let Some(row) = &existing {
        connection.prepare_cached(TAKE_OVER)?.execute(named_params! {
            "$3": values.user_id, "$4": values.provider, "$5": values.platform, "$6": values.device_id,
            "$7": values.now, "$8": values.lease_owner, "$9": values.lease_until, "$10": row.id,
        })?;
        (row.id, row.generation + 1)
    } else {
        connection.prepare_cached(INSERT_ROW)?.execute(named_params! {
            "$1": values.token, "$2": values.token_hash, "$3": values.user_id, "$4": values.provider,
            "$5": values.platform, "$6": values.device_id, "$7": values.now, "$8": values.lease_owner,
            "$9": values.lease_until,
        })?;
        (connection.last_insert_rowid(), 1)
    };

    // Enforce the device limit on the user's active rows.
    let mut evicted = Vec::new();
    if values.device_limit > 0 {
        let active: Vec<ActiveRow> = connection
            .prepare_cached(ACTIVE_OF_USER)?
            .query_map(named_params! {"$1": values.user_id}, |row| {
                Ok(ActiveRow { id: row.get(0)?, token_hash: row.get(1)?, requested_at: row.get(2)? })
            })?
            .collect::<Result<_, _>>()?;
        for (evicted_id, token_hash) in values.over_limit(active, id) {
            connection
                .prepare_cached(REMOVE_BY_ID)?
                .execute(named_params! {"$1": values.now, "$2": evicted_id})?;
            evicted.push(token_hash);
        }
    }
    Ok(values.outcome(existing, id, generation, evicted))
}

async fn upsert_postgres(pool: &sqlx::PgPool, values: &UpsertValues) -> Result<UpsertOutcome, StoreError> {
    let mut tx = pool.begin().await?;

    // Reply to an unchanged registration from the store.
    let select = format!("SELECT {STORED_COLUMNS} FROM registrations WHERE token = $1 FOR UPDATE");
    let existing = sqlx::query(&select).bind(&values.token).fetch_optional(&mut *tx).await?;
    let existing = existing.as_ref().map(super::stored_from_row).transpose()?;
    if let Some(row) = &existing {
        if values.is_unchanged(row) {
            sqlx::query(TOUCH).bind(values.now).bind(row.id).execute(&mut *tx).await?;
            tx.commit().await?;
            return Ok(UpsertOutcome::Unchanged(Box::new(row.clone())));
        }
    }

    // Insert the row, or take it over for this user and request.
    let upserted = sqlx::query(UPSERT)
        .bind(&values.token)
        .bind(&values.token_hash)
        .bind(&values.user_id)
        .bind(values.provider)
        .bind(values.platform)
        .bind(&values.device_id)
        .bind(values.now)
        .bind(&values.lease_owner)
        .bind(values.lease_until)
        .fetch_one(&mut *tx)
        .await?;
    let id: i64 = upserted.try_get("id")?;
    let generation: i64 = upserted.try_get("generation")?;

    // Enforce the device limit on the user's active rows, locked against concurrent requests.
    let mut evicted = Vec::new();
    if values.device_limit > 0 {
        let active_sql = format!("{ACTIVE_OF_USER} FOR UPDATE");
        let rows = sqlx::query(&active_sql).bind(&values.user_id).fetch_all(&mut *tx).await?;
        let active = rows
            .iter()
            .map(|row| {
                Ok(ActiveRow {
                    id: row.try_get("id")?,
                    token_hash: row.try_get("token_hash")?,
                    requested_at: row.try_get("requested_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        for (evicted_id, token_hash) in values.over_limit(active, id) {
            sqlx::query(REMOVE_BY_ID).bind(values.now).bind(evicted_id).execute(&mut *tx).await?;
            evicted.push(token_hash);
        }
    }
    tx.commit().await?;
    Ok(values.outcome(existing, id, generation, evicted))
}
