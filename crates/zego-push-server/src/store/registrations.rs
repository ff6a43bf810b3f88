//! Registration requests and their outcomes, unregistration and resync.

use sqlx::Row;
use zego_core::Registration;

use super::{now_millis, with_writer, Store, StoreError, StoredRegistration, STORED_COLUMNS};

/// A registration request to store before ZEGO is called.
#[derive(Debug, Clone)]
pub struct UpsertRequest<'a> {
    pub registration: &'a Registration,
    /// The instance that will call ZEGO for this request.
    pub lease_owner: &'a str,
    /// How long other instances and the outbox leave the row alone.
    pub lease_ms: i64,
    /// An identical registration that succeeded less than this long ago is
    /// answered from the store; 0 turns this off.
    pub unchanged_window_ms: i64,
    /// The most devices a user may have registered; 0 means no limit.
    pub device_limit: usize,
}

/// What storing a registration request did.
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

/// How a ZEGO call for a row ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// ZEGO replied with Code 0.
    Registered { request_id: Option<String> },
    /// A permanent failure: the row is given up.
    Failed { code: Option<i64>, message: String },
    /// A failure worth retrying at `next_attempt_at`.
    Retry { code: Option<i64>, message: String, next_attempt_at: i64 },
}

impl Store {
    /// Stores a registration request as pending and leased to the caller,
    /// unless the same registration succeeded within the window.
    ///
    /// A token stored for another user moves to this user. When the user
    /// then has more active devices than the limit, the least recently
    /// registered ones are marked removed.
    pub async fn upsert_pending(&self, request: &UpsertRequest<'_>) -> Result<UpsertOutcome, StoreError> {
        let registration = request.registration;
        let now = now_millis();
        let token = registration.token.as_str();
        let device_id = registration.device_id.as_ref().map(zego_core::DeviceId::as_str);
        let select_sql =
            format!("SELECT {STORED_COLUMNS} FROM registrations WHERE token = $1{}", self.lock_clause());
        let active_sql = format!(
            "SELECT id, token_hash FROM registrations
             WHERE user_id = $1 AND state IN ('pending', 'registered')
             ORDER BY requested_at DESC, id DESC{}",
            self.lock_clause()
        );

        with_writer!(self, |pool| {
            let mut tx = pool.begin().await?;

            // Answer an unchanged registration from the store.
            let existing = sqlx::query(&select_sql).bind(token).fetch_optional(&mut *tx).await?;
            let existing = existing.as_ref().map(super::stored_from_row).transpose()?;
            if let Some(row) = &existing {
                if is_unchanged(row, registration, request.unchanged_window_ms, now) {
                    // The device was seen now, which matters to the device limit.
                    sqlx::query("UPDATE registrations SET requested_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(row.id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    return Ok(UpsertOutcome::Unchanged(Box::new(row.clone())));
                }
            }

            // Insert the row, or take it over for this user and request.
            let upserted = sqlx::query(
                "INSERT INTO registrations
                     (token, token_hash, user_id, provider, platform, device_id, state, generation, attempts,
                      next_attempt_at, lease_owner, lease_until, requested_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', 1, 0, $7, $8, $9, $7, $7, $7)
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
                 RETURNING id, generation",
            )
            .bind(token)
            .bind(registration.token.short_hash())
            .bind(registration.user_id.as_str())
            .bind(registration.provider().as_str())
            .bind(registration.platform.as_str())
            .bind(device_id)
            .bind(now)
            .bind(request.lease_owner)
            .bind(now + request.lease_ms)
            .fetch_one(&mut *tx)
            .await?;
            let id: i64 = upserted.try_get("id")?;
            let generation: i64 = upserted.try_get("generation")?;

            // Enforce the device limit on the user's active rows.
            let mut evicted = Vec::new();
            if request.device_limit > 0 {
                let active =
                    sqlx::query(&active_sql).bind(registration.user_id.as_str()).fetch_all(&mut *tx).await?;
                for row in active.iter().skip(request.device_limit) {
                    let evicted_id: i64 = row.try_get("id")?;
                    if evicted_id == id {
                        continue;
                    }
                    sqlx::query(REMOVE_BY_ID).bind(now).bind(evicted_id).execute(&mut *tx).await?;
                    evicted.push(row.try_get::<String, _>("token_hash")?);
                }
            }
            tx.commit().await?;

            let moved_from =
                existing.map(|row| row.user_id).filter(|user| user != registration.user_id.as_str());
            Ok(UpsertOutcome::Pending { id, generation, moved_from, evicted })
        })
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
        let (state, code, message, next_attempt_at, request_id, registered_at) = match completion {
            Completion::Registered { request_id } => {
                ("registered", Some(0), Some("success"), None, request_id.as_deref(), Some(now))
            }
            Completion::Failed { code, message } => {
                ("failed", *code, Some(message.as_str()), None, None, None)
            }
            Completion::Retry { code, message, next_attempt_at } => {
                ("pending", *code, Some(message.as_str()), Some(*next_attempt_at), None, None)
            }
        };
        let result = with_writer!(self, |pool| {
            sqlx::query(
                "UPDATE registrations
                 SET state = $1, attempts = attempts + $2, next_attempt_at = $3, lease_owner = NULL,
                     lease_until = NULL, last_code = $4, last_message = $5,
                     zego_request_id = COALESCE($6, zego_request_id),
                     registered_at = COALESCE($7, registered_at), updated_at = $8
                 WHERE id = $9 AND generation = $10",
            )
            .bind(state)
            .bind(i64::from(attempts))
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
        });
        Ok(result == 1)
    }

    /// Marks one of a user's tokens removed. Returns false when the user has
    /// no such active token.
    pub async fn remove_token(&self, user_id: &str, token: &str) -> Result<bool, StoreError> {
        let now = now_millis();
        let result = with_writer!(self, |pool| {
            sqlx::query(
                "UPDATE registrations
                 SET state = 'removed', generation = generation + 1, next_attempt_at = NULL,
                     lease_owner = NULL, lease_until = NULL, updated_at = $1
                 WHERE token = $2 AND user_id = $3 AND state <> 'removed'",
            )
            .bind(now)
            .bind(token)
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(result == 1)
    }

    /// Marks every token of a user removed and returns how many there were.
    pub async fn remove_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let now = now_millis();
        let result = with_writer!(self, |pool| {
            sqlx::query(
                "UPDATE registrations
                 SET state = 'removed', generation = generation + 1, next_attempt_at = NULL,
                     lease_owner = NULL, lease_until = NULL, updated_at = $1
                 WHERE user_id = $2 AND state <> 'removed'",
            )
            .bind(now)
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(result)
    }

    /// Queues every registered or pending row for registration again, due
    /// one after another `spacing_ms` apart from now, so that the outbox
    /// sends them at a bounded rate. Returns how many rows were queued.
    pub async fn resync(&self, spacing_ms: i64) -> Result<u64, StoreError> {
        let now = now_millis();
        let result = with_writer!(self, |pool| {
            sqlx::query(
                "WITH ranked AS (
                     SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS position
                     FROM registrations WHERE state IN ('registered', 'pending')
                 )
                 UPDATE registrations
                 SET state = 'pending', generation = generation + 1, attempts = 0,
                     next_attempt_at = $1 + ranked.position * $2, lease_owner = NULL,
                     lease_until = NULL, updated_at = $1
                 FROM ranked
                 WHERE registrations.id = ranked.id",
            )
            .bind(now)
            .bind(spacing_ms)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(result)
    }
}

fn is_unchanged(row: &StoredRegistration, registration: &Registration, window_ms: i64, now: i64) -> bool {
    window_ms > 0
        && row.state == super::State::Registered
        && row.user_id == registration.user_id.as_str()
        && row.provider == registration.provider().as_str()
        && row.platform == registration.platform.as_str()
        && row.device_id.as_deref() == registration.device_id.as_ref().map(zego_core::DeviceId::as_str)
        && row.registered_at.is_some_and(|registered_at| now - registered_at < window_ms)
}

const REMOVE_BY_ID: &str = "UPDATE registrations
     SET state = 'removed', generation = generation + 1, next_attempt_at = NULL,
         lease_owner = NULL, lease_until = NULL, updated_at = $1
     WHERE id = $2";
