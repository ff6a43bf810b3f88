//! Storage of ZEGO's callbacks: users' login state, call invitation events,
//! and the nonces of accepted callbacks, so that a callback sent twice is rejected.

use rusqlite::named_params;
use sqlx::Row;

use super::{with_reader, Backend, Store, StoreError};

/// A user's ZIM state, from the login and logout callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceState {
    /// Logged in (ZEGO's action 0).
    Online,
    /// Logged out on purpose (action 1). The outbox defers the user's
    /// registrations requested before the logout.
    LoggedOut,
    /// Disconnected or killed (action 2): the state in which a push must reach the phone.
    Offline,
}

impl PresenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceState::Online => "online",
            PresenceState::LoggedOut => "logged_out",
            PresenceState::Offline => "offline",
        }
    }

    fn parse(value: &str) -> Result<Self, StoreError> {
        match value {
            "online" => Ok(PresenceState::Online),
            "logged_out" => Ok(PresenceState::LoggedOut),
            "offline" => Ok(PresenceState::Offline),
            other => Err(StoreError::Corrupt(format!("unknown presence state {other:?}"))),
        }
    }
}

/// A user's last known state.
///
/// NOTE: the state is per user, not per device, because ZEGO's callback names
/// no push token; with several devices the last callback wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub state: PresenceState,
    /// When the state changed, by ZEGO's clock, in Unix milliseconds.
    pub changed_at: i64,
    pub os: Option<String>,
    pub session_id: Option<String>,
    /// When this server recorded it.
    pub recorded_at: i64,
}

/// A call invitation event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEventKind {
    Created,
    Cancelled,
    TimedOut,
}

impl CallEventKind {
    /// ZEGO's `event` name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallEventKind::Created => "call_create",
            CallEventKind::Cancelled => "call_cancel",
            CallEventKind::TimedOut => "call_timeout",
        }
    }
}

/// An event from a verified callback, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackEvent {
    Presence {
        user_id: String,
        state: PresenceState,
        changed_at: i64,
        os: Option<String>,
        session_id: Option<String>,
    },
    Call {
        kind: CallEventKind,
        call_id: String,
        caller: Option<String>,
        user_ids: Vec<String>,
        reason: Option<String>,
        occurred_at: i64,
    },
    /// An event this server does not use; only its nonce is kept.
    Other,
}

/// The result of storing a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackRecord {
    /// The event is stored (or, for [`CallbackEvent::Other`], its nonce).
    Recorded,
    /// A callback with this timestamp and nonce was accepted before; nothing changed.
    Replayed,
}

/// The values of one callback, owned so that they can move to the SQLite writer.
#[derive(Debug, Clone)]
struct CallbackValues {
    timestamp: i64,
    nonce: String,
    event: CallbackEvent,
    now: i64,
    /// Nonces of callbacks with a timestamp before this (Unix seconds) are
    /// forgotten: the freshness window rejects such callbacks anyway.
    forget_before: i64,
}

const FORGET_NONCES: &str = "DELETE FROM callback_nonces WHERE timestamp < $1";
const INSERT_NONCE: &str = "INSERT INTO callback_nonces (timestamp, nonce, recorded_at) VALUES ($1, $2, $3)
     ON CONFLICT (timestamp, nonce) DO NOTHING";
const UPSERT_PRESENCE: &str =
    "INSERT INTO user_presence (user_id, state, changed_at, os, session_id, recorded_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, changed_at = excluded.changed_at,
         os = excluded.os, session_id = excluded.session_id, recorded_at = excluded.recorded_at
     WHERE user_presence.changed_at <= excluded.changed_at";
const INSERT_CALL_EVENT: &str =
    "INSERT INTO call_events (call_id, event, caller, user_ids, reason, occurred_at, recorded_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// The condition, on a `registrations` row, that its user logged out after
/// the row's registration request: the outbox leaves such a row alone.
pub(super) const NOT_HELD_BY_LOGOUT: &str = "NOT EXISTS (
         SELECT 1 FROM user_presence
         WHERE user_presence.user_id = registrations.user_id
           AND user_presence.state = 'logged_out'
           AND user_presence.changed_at >= registrations.requested_at)";

fn user_ids_json(user_ids: &[String]) -> String {
    serde_json::to_string(user_ids).expect("strings serialize")
}

impl Store {
    /// Stores a verified callback's event, unless a callback with the same
    /// `timestamp` and `nonce` was stored before, in one transaction. Nonces
    /// with a timestamp more than twice `window_seconds` ago are forgotten.
    pub async fn record_callback(
        &self,
        timestamp: i64,
        nonce: &str,
        event: CallbackEvent,
        window_seconds: i64,
    ) -> Result<CallbackRecord, StoreError> {
        let now = super::now_millis();
        let values = CallbackValues {
            timestamp,
            nonce: nonce.to_owned(),
            event,
            now,
            forget_before: now / 1000 - 2 * window_seconds.max(1),
        };
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                writer.run(move |connection| record_sqlite(connection, &values)).await
            }
            Backend::Postgres(pool) => {
                let mut transaction = pool.begin().await?;
                sqlx::query(FORGET_NONCES).bind(values.forget_before).execute(&mut *transaction).await?;
                let inserted = sqlx::query(INSERT_NONCE)
                    .bind(values.timestamp)
                    .bind(&values.nonce)
                    .bind(values.now)
                    .execute(&mut *transaction)
                    .await?
                    .rows_affected();
                if inserted == 0 {
                    transaction.rollback().await?;
                    return Ok(CallbackRecord::Replayed);
                }
                match &values.event {
                    CallbackEvent::Presence { user_id, state, changed_at, os, session_id } => {
                        sqlx::query(UPSERT_PRESENCE)
                            .bind(user_id)
                            .bind(state.as_str())
                            .bind(changed_at)
                            .bind(os)
                            .bind(session_id)
                            .bind(values.now)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    CallbackEvent::Call { kind, call_id, caller, user_ids, reason, occurred_at } => {
                        sqlx::query(INSERT_CALL_EVENT)
                            .bind(call_id)
                            .bind(kind.as_str())
                            .bind(caller)
                            .bind(user_ids_json(user_ids))
                            .bind(reason)
                            .bind(occurred_at)
                            .bind(values.now)
                            .execute(&mut *transaction)
                            .await?;
                    }
                    CallbackEvent::Other => {}
                }
                transaction.commit().await?;
                Ok(CallbackRecord::Recorded)
            }
        }
    }

    /// Returns a user's last known state, if a callback reported one.
    pub async fn presence(&self, user_id: &str) -> Result<Option<Presence>, StoreError> {
        let sql =
            "SELECT state, changed_at, os, session_id, recorded_at FROM user_presence WHERE user_id = $1";
        with_reader!(self, |pool| {
            let row = sqlx::query(sql).bind(user_id).fetch_optional(pool).await?;
            row.map(|row| {
                Ok(Presence {
                    state: PresenceState::parse(row.try_get::<&str, _>("state")?)?,
                    changed_at: row.try_get("changed_at")?,
                    os: row.try_get("os")?,
                    session_id: row.try_get("session_id")?,
                    recorded_at: row.try_get("recorded_at")?,
                })
            })
            .transpose()
        })
    }

    /// Returns the call events stored for `call_id`, oldest first, as
    /// (event, caller, called users, reason, occurred at).
    pub async fn call_events(&self, call_id: &str) -> Result<Vec<StoredCallEvent>, StoreError> {
        let sql = "SELECT event, caller, user_ids, reason, occurred_at FROM call_events
             WHERE call_id = $1 ORDER BY id";
        with_reader!(self, |pool| {
            let rows = sqlx::query(sql).bind(call_id).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    let user_ids: String = row.try_get("user_ids")?;
                    Ok(StoredCallEvent {
                        event: row.try_get("event")?,
                        caller: row.try_get("caller")?,
                        user_ids: serde_json::from_str(&user_ids)
                            .map_err(|error| StoreError::Corrupt(format!("call event user_ids: {error}")))?,
                        reason: row.try_get("reason")?,
                        occurred_at: row.try_get("occurred_at")?,
                    })
                })
                .collect()
        })
    }

    /// Returns how many of `user_id`'s registrations ZEGO has confirmed.
    pub async fn registered_count(&self, user_id: &str) -> Result<i64, StoreError> {
        with_reader!(self, |pool| {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM registrations WHERE user_id = $1 AND state = 'registered'",
            )
            .bind(user_id)
            .fetch_one(pool)
            .await?;
            Ok(count)
        })
    }
}

/// A stored call invitation event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCallEvent {
    pub event: String,
    pub caller: Option<String>,
    pub user_ids: Vec<String>,
    pub reason: Option<String>,
    pub occurred_at: i64,
}

fn record_sqlite(
    connection: &rusqlite::Connection,
    values: &CallbackValues,
) -> Result<CallbackRecord, StoreError> {
    connection.prepare_cached(FORGET_NONCES)?.execute(named_params! {"$1": values.forget_before})?;
    let inserted = connection
        .prepare_cached(INSERT_NONCE)?
        .execute(named_params! {"$1": values.timestamp, "$2": values.nonce, "$3": values.now})?;
    if inserted == 0 {
        return Ok(CallbackRecord::Replayed);
    }
    match &values.event {
        CallbackEvent::Presence { user_id, state, changed_at, os, session_id } => {
            connection.prepare_cached(UPSERT_PRESENCE)?.execute(named_params! {
                "$1": user_id, "$2": state.as_str(), "$3": changed_at, "$4": os, "$5": session_id,
                "$6": values.now,
            })?;
        }
        CallbackEvent::Call { kind, call_id, caller, user_ids, reason, occurred_at } => {
            connection.prepare_cached(INSERT_CALL_EVENT)?.execute(named_params! {
                "$1": call_id, "$2": kind.as_str(), "$3": caller, "$4": user_ids_json(user_ids),
                "$5": reason, "$6": occurred_at, "$7": values.now,
            })?;
        }
        CallbackEvent::Other => {}
    }
    Ok(CallbackRecord::Recorded)
}
