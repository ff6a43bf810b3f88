//! Resync: queuing every active registration for ZEGO again, at most once
//! per minimum interval across every server instance on the database.
//!
//! The time of the last start is stored in the single row of
//! `resync_state`, and the interval check, the new start time and the queuing
//! of the rows commit in one transaction. Two resyncs through two instances
//! therefore cannot both pass the check, and a resync that fails leaves the
//! recorded time as it was.

use rusqlite::{named_params, OptionalExtension};

use super::{Backend, Store, StoreError};

/// The result of [`Store::start_resync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncStart {
    /// The resync started and queued this many rows.
    Started { queued: u64 },
    /// A resync started less than the minimum interval ago, so nothing
    /// changed. The next one may start after `retry_after_ms` milliseconds.
    TooSoon { retry_after_ms: i64 },
}

const LAST_STARTED: &str = "SELECT last_started_at FROM resync_state WHERE id = 1";

const RECORD_START: &str = "UPDATE resync_state SET last_started_at = $1 WHERE id = 1";

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

/// Returns how many milliseconds a resync at `now` must wait after one that
/// started at `last_started_at`, or `None` when it may start now.
///
/// A start recorded one interval or more after `now` means that a clock was
/// set back, and it is ignored, so that a wrong clock blocks resyncs for at
/// most two intervals.
fn wait_before_resync(last_started_at: Option<i64>, now: i64, min_interval_ms: i64) -> Option<i64> {
    let elapsed = now.saturating_sub(last_started_at?);
    if elapsed >= min_interval_ms || elapsed <= min_interval_ms.saturating_neg() {
        return None;
    }
    Some(min_interval_ms - elapsed)
}

fn missing_row() -> StoreError {
    StoreError::Corrupt("the table resync_state has no row with id 1; its migration seeds that row".into())
}

impl Store {
    /// Starts a resync at `now` (Unix milliseconds) unless another one, through
    /// any server instance on this database, started less than
    /// `min_interval_ms` before.
    ///
    /// A resync marks every registered or pending row pending again, due one
    /// after another `spacing_ms` apart from `now`, so that the outbox sends
    /// them at a bounded rate. The check, the new start time and the queued
    /// rows commit together, so of concurrent calls exactly one starts, and
    /// an error leaves the last start time unchanged.
    pub async fn start_resync(
        &self,
        now: i64,
        min_interval_ms: i64,
        spacing_ms: i64,
    ) -> Result<ResyncStart, StoreError> {
        match &self.backend {
            // The job runs inside the writer's BEGIN IMMEDIATE transaction,
            // which holds SQLite's write lock, so no other write comes
            // between the check and the update, from this process or another.
            Backend::Sqlite { writer, .. } => {
                writer
                    .run(move |connection| {
                        let last_started_at = connection
                            .prepare_cached(LAST_STARTED)?
                            .query_row([], |row| row.get::<_, Option<i64>>(0))
                            .optional()?
                            .ok_or_else(missing_row)?;
                        if let Some(retry_after_ms) =
                            wait_before_resync(last_started_at, now, min_interval_ms)
                        {
                            return Ok(ResyncStart::TooSoon { retry_after_ms });
                        }
                        connection.prepare_cached(RECORD_START)?.execute(named_params! {"$1": now})?;
                        let queued = connection
                            .prepare_cached(RESYNC)?
                            .execute(named_params! {"$1": now, "$2": spacing_ms})?;
                        Ok(ResyncStart::Started { queued: queued as u64 })
                    })
                    .await
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // The row lock makes a concurrent resync wait here until this
                // transaction ends, and then read the start time it recorded.
                let locked = format!("{LAST_STARTED} FOR UPDATE");
                let last_started_at: Option<i64> =
                    sqlx::query_scalar(&locked).fetch_optional(&mut *tx).await?.ok_or_else(missing_row)?;
                if let Some(retry_after_ms) = wait_before_resync(last_started_at, now, min_interval_ms) {
                    tx.rollback().await?;
                    return Ok(ResyncStart::TooSoon { retry_after_ms });
                }
                sqlx::query(RECORD_START).bind(now).execute(&mut *tx).await?;
                let queued =
                    sqlx::query(RESYNC).bind(now).bind(spacing_ms).execute(&mut *tx).await?.rows_affected();
                tx.commit().await?;
                Ok(ResyncStart::Started { queued })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wait_before_resync;

    #[test]
    fn wait_counts_from_last_start() {
        assert_eq!(wait_before_resync(None, 5_000, 1_000), None, "no resync yet");
        assert_eq!(wait_before_resync(Some(5_000), 5_000, 1_000), Some(1_000));
        assert_eq!(wait_before_resync(Some(5_000), 5_999, 1_000), Some(1));
        assert_eq!(wait_before_resync(Some(5_000), 6_000, 1_000), None, "the interval has passed");
        assert_eq!(wait_before_resync(Some(5_000), 5_000, 0), None, "an interval of 0 never waits");
    }

    #[test]
    fn wait_tolerates_clock_set_back() {
        // Another instance's clock slightly ahead still counts.
        assert_eq!(wait_before_resync(Some(5_000), 4_900, 1_000), Some(1_100));
        // A start one interval or more in the future is ignored.
        assert_eq!(wait_before_resync(Some(5_000), 4_000, 1_000), None);
        assert_eq!(wait_before_resync(Some(i64::MAX), i64::MIN, i64::MAX), None);
    }
}
