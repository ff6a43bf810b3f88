//! The retry outbox: pending rows claimed by one instance at a time.

use sqlx::Row;

use super::callbacks::NOT_HELD_BY_LOGOUT;
use super::{now_millis, with_reader, Backend, Store, StoreError};

/// A pending row leased to this instance's outbox worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: i64,
    pub generation: i64,
    pub token: String,
    pub user_id: String,
    pub provider: String,
    pub platform: String,
    pub device_id: Option<String>,
    /// ZEGO requests sent since the last registration request.
    pub attempts: i64,
    pub requested_at: i64,
}

const CLAIM: &str = "UPDATE registrations SET lease_owner = $1, lease_until = $2
     WHERE id IN (
         SELECT id FROM registrations
         WHERE state = 'pending' AND next_attempt_at <= $3
           AND (lease_until IS NULL OR lease_until < $3)
           AND {not_held}
         ORDER BY next_attempt_at
         LIMIT $4{skip_locked}
     )
     RETURNING id, generation, token, user_id, provider, platform, device_id, attempts, requested_at";

const RELEASE: &str =
    "UPDATE registrations SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1";

impl Store {
    /// Leases up to `limit` due pending rows to `owner` for `lease_ms`.
    ///
    /// A row is due when its next attempt time has come and no unexpired
    /// lease holds it. PostgreSQL skips rows another instance is claiming
    /// at the same moment (`FOR UPDATE SKIP LOCKED`); SQLite has one
    /// writer. Either way each row goes to one instance.
    pub async fn claim_due(
        &self,
        owner: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                let owner = owner.to_owned();
                let sql = CLAIM.replace("{skip_locked}", "").replace("{not_held}", NOT_HELD_BY_LOGOUT);
                writer
                    .run(move |connection| {
                        let mut statement = connection.prepare_cached(&sql)?;
                        let rows = statement.query_map(
                            rusqlite::named_params! {"$1": owner, "$2": now + lease_ms, "$3": now, "$4": limit},
                            |row| {
                                Ok(Claimed {
                                    id: row.get("id")?,
                                    generation: row.get("generation")?,
                                    token: row.get("token")?,
                                    user_id: row.get("user_id")?,
                                    provider: row.get("provider")?,
                                    platform: row.get("platform")?,
                                    device_id: row.get("device_id")?,
                                    attempts: row.get("attempts")?,
                                    requested_at: row.get("requested_at")?,
                                })
                            },
                        )?;
                        Ok(rows.collect::<Result<Vec<_>, _>>()?)
                    })
                    .await
            }
            Backend::Postgres(pool) => {
                let sql = CLAIM
                    .replace("{skip_locked}", " FOR UPDATE SKIP LOCKED")
                    .replace("{not_held}", NOT_HELD_BY_LOGOUT);
                let rows = sqlx::query(&sql)
                    .bind(owner)
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(Claimed {
                            id: row.try_get("id")?,
                            generation: row.try_get("generation")?,
                            token: row.try_get("token")?,
                            user_id: row.try_get("user_id")?,
                            provider: row.try_get("provider")?,
                            platform: row.try_get("platform")?,
                            device_id: row.try_get("device_id")?,
                            attempts: row.try_get("attempts")?,
                            requested_at: row.try_get("requested_at")?,
                        })
                    })
                    .collect()
            }
        }
    }

    /// Releases the leases `owner` still holds, so that another instance
    /// can take the rows at once. Called at shutdown, after in-flight work ended.
    pub async fn release_leases(&self, owner: &str) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                let owner = owner.to_owned();
                writer
                    .run(move |connection| {
                        Ok(connection
                            .prepare_cached(RELEASE)?
                            .execute(rusqlite::named_params! {"$1": owner})?
                            as u64)
                    })
                    .await
            }
            Backend::Postgres(pool) => {
                Ok(sqlx::query(RELEASE).bind(owner).execute(pool).await?.rows_affected())
            }
        }
    }

    /// Returns how many rows are pending, leaving out those held because
    /// their user logged out after the registration request.
    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        let sql =
            format!("SELECT COUNT(*) FROM registrations WHERE state = 'pending' AND {NOT_HELD_BY_LOGOUT}");
        with_reader!(self, |pool| {
            let depth: i64 = sqlx::query_scalar(&sql).fetch_one(pool).await?;
            Ok(depth)
        })
    }

    /// Returns when the next pending row becomes claimable: its next attempt
    /// time, or its lease's end if that is later. Rows held by a logout are left out.
    pub async fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        let sql = format!(
            "SELECT MIN(CASE WHEN lease_until > next_attempt_at THEN lease_until ELSE next_attempt_at END)
             FROM registrations WHERE state = 'pending' AND {NOT_HELD_BY_LOGOUT}"
        );
        with_reader!(self, |pool| {
            let due: Option<i64> = sqlx::query_scalar(&sql).fetch_one(pool).await?;
            Ok(due)
        })
    }
}
