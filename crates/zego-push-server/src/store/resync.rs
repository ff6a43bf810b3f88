//! Resync: queuing every active registration for ZEGO again.

use rusqlite::named_params;

use super::{now_millis, Backend, Store, StoreError};

const RESYNC: &str = "WITH ranked AS (
         SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS position
         FROM registrations WHERE state IN ('registered', 'pending')
     )
     UPDATE registrations
     SET state = 'pending', generation = generation + 1, attempts = 0,
         next_attempt_at = $1 + ranked.position * $2, lease_owner = NULL,
         lease_until = NULL, updated_at = $1
     FROM ranked
     WHERE registrations.id = ranked.id";

impl Store {
    /// Queues every registered or pending row for registration again, due
    /// one after another `spacing_ms` apart from now, so that the outbox
    /// sends them at a bounded rate. Returns how many rows were queued.
    pub async fn resync(&self, spacing_ms: i64) -> Result<u64, StoreError> {
        let now = now_millis();
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                writer
                    .run(move |connection| {
                        let statement = &mut connection.prepare_cached(RESYNC)?;
                        Ok(statement.execute(named_params! {"$1": now, "$2": spacing_ms})? as u64)
                    })
                    .await
            }
            Backend::Postgres(pool) => {
                Ok(sqlx::query(RESYNC).bind(now).bind(spacing_ms).execute(pool).await?.rows_affected())
            }
        }
    }
}
