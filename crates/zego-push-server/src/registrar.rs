//! Registration with ZEGO behind the store: the request path and the
//! outbox worker share this code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;
use tokio::sync::Notify;
use zego_core::{ApiError, Error as ZegoError, Registration, ZegoClient};

use crate::metrics::Metrics;
use crate::store::{now_millis, Claimed, Completion, Store, StoreError, UpsertOutcome, UpsertRequest};

/// Settings of the registration path and the outbox.
#[derive(Debug, Clone)]
pub struct RegistrarSettings {
    /// This process's id in row leases.
    pub instance_id: String,
    /// An identical registration that succeeded less than this long ago gets
    /// its reply from the store; zero turns this off.
    pub unchanged_window: Duration,
    /// The maximum number of active devices per user; 0 means no limit.
    pub device_limit: usize,
    /// How long a request's row is left alone by the outbox while the request calls ZEGO.
    pub request_lease: Duration,
    pub outbox: OutboxSettings,
}

/// Settings of the outbox worker.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// How often the worker looks for due rows when nothing wakes it.
    pub poll_interval: Duration,
    /// Rows claimed at a time.
    pub batch_size: i64,
    /// Rows worked at once.
    pub concurrency: usize,
    /// How long a claimed row is left alone by other instances; it must
    /// exceed the longest a registration call can take.
    pub lease: Duration,
    /// The backoff before the first retry; it doubles with every attempt.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A row still pending this long after its registration request is marked failed.
    pub max_age: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            batch_size: 64,
            concurrency: 16,
            lease: Duration::from_secs(60),
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
            max_age: Duration::from_secs(72 * 3600),
        }
    }
}

impl OutboxSettings {
    /// Returns the wait before the next attempt after `attempts` failed ones:
    /// half of `min(max_delay, base_delay * 2^(attempts - 1))` plus a random
    /// part up to the other half, so that rows failing together spread out.
    pub fn delay(&self, attempts: i64) -> Duration {
        let exponent = attempts.saturating_sub(1).clamp(0, 20) as u32;
        let cap = self.base_delay.saturating_mul(1 << exponent).min(self.max_delay);
        let half = cap / 2;
        let jitter_micros = rand::rng().random_range(0..=half.as_micros() as u64);
        half + Duration::from_micros(jitter_micros)
    }
}

/// The outcome of a registration request.
#[derive(Debug)]
pub enum RegisterOutcome {
    /// ZEGO replied with Code 0; `reply` is its reply.
    Registered { reply: Value },
    /// The same registration succeeded within the window; ZEGO was not called.
    Unchanged { request_id: Option<String> },
    /// ZEGO was unreachable or busy; the outbox retries the stored row.
    Queued { reason: String, next_attempt_at: i64 },
    /// ZEGO rejected the registration with a permanent code.
    Rejected(Box<ApiError>),
    /// A fault of this server's configuration, not of the request.
    Misconfigured(String),
}

/// The outcome of the outbox's attempt at one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    Registered,
    /// Still pending; `error` is why this attempt failed.
    FailedAgain {
        error: String,
    },
    /// Given up: a permanent code, an invalid row or too old.
    Failed,
}

/// Registers tokens with ZEGO and records every outcome in the store.
#[derive(Debug, Clone)]
pub struct Registrar {
    pub store: Store,
    pub zego: ZegoClient,
    pub metrics: Metrics,
    pub settings: Arc<RegistrarSettings>,
    /// Wakes the outbox worker when a row is queued.
    pub wake: Arc<Notify>,
}

fn provider_label(registration: &Registration) -> &'static str {
    registration.provider().as_str()
}

impl Registrar {
    /// Stores the registration, then calls ZEGO within the request.
    ///
    /// Only a failure to store the request is an error: once stored, the
    /// registration is either settled or left to the outbox.
    pub async fn register(&self, registration: &Registration) -> Result<RegisterOutcome, StoreError> {
        let request = UpsertRequest {
            registration,
            lease_owner: &self.settings.instance_id,
            lease_ms: self.settings.request_lease.as_millis() as i64,
            unchanged_window_ms: self.settings.unchanged_window.as_millis() as i64,
            device_limit: self.settings.device_limit,
        };
        let (id, generation) = match self.store.upsert_pending(&request).await? {
            UpsertOutcome::Unchanged(row) => {
                self.metrics.registration("unchanged", provider_label(registration), "request");
                tracing::debug!(user_id = %registration.user_id, token = %registration.token.short_hash(), "registration unchanged");
                return Ok(RegisterOutcome::Unchanged { request_id: row.zego_request_id });
            }
            UpsertOutcome::Pending { id, generation, moved_from, evicted } => {
                if let Some(previous_user) = moved_from {
                    tracing::info!(
                        token = %registration.token.short_hash(),
                        from_user = %previous_user,
                        to_user = %registration.user_id,
                        "token moved to another user"
                    );
                }
                for token_hash in evicted {
                    tracing::info!(
                        user_id = %registration.user_id,
                        token = %token_hash,
                        limit = self.settings.device_limit,
                        "device removed by the per-user device limit"
                    );
                }
                (id, generation)
            }
        };

        let (result, attempts) = self.call_zego(registration).await;
        let provider = provider_label(registration);
        match result {
            Ok(reply) => {
                let request_id = reply.get("RequestId").and_then(Value::as_str).map(str::to_owned);
                self.record(id, generation, attempts, Completion::Registered { request_id }).await;
                self.metrics.registration("registered", provider, "request");
                tracing::info!(
                    user_id = %registration.user_id,
                    token = %registration.token.short_hash(),
                    provider,
                    attempts,
                    "push token registered"
                );
                Ok(RegisterOutcome::Registered { reply })
            }
            Err(error) if is_worth_retrying(&error) => {
                let detail = error.to_string();
                let next_attempt_at =
                    now_millis() + self.settings.outbox.delay(i64::from(attempts)).as_millis() as i64;
                let completion =
                    Completion::Retry { code: error.zego_code(), message: detail.clone(), next_attempt_at };
                self.record(id, generation, attempts, completion).await;
                self.wake.notify_one();
                self.metrics.registration("queued", provider, "request");
                tracing::warn!(
                    user_id = %registration.user_id,
                    token = %registration.token.short_hash(),
                    attempts,
                    error = %detail,
                    "ZEGO unavailable; registration queued for retry"
                );
                Ok(RegisterOutcome::Queued { reason: public_reason(&error), next_attempt_at })
            }
            Err(ZegoError::Api(api)) => {
                let completion = Completion::Failed { code: Some(api.code), message: api.to_string() };
                self.record(id, generation, attempts, completion).await;
                self.metrics.registration("failed", provider, "request");
                tracing::warn!(
                    user_id = %registration.user_id,
                    token = %registration.token.short_hash(),
                    code = api.code,
                    error = %api,
                    "ZEGO rejected the registration"
                );
                Ok(RegisterOutcome::Rejected(api))
            }
            Err(error) => {
                let message = error.to_string();
                let completion = Completion::Failed { code: None, message: message.clone() };
                self.record(id, generation, attempts, completion).await;
                self.metrics.registration("failed", provider, "request");
                tracing::error!(error = %message, "registration failed because of the server's configuration");
                Ok(RegisterOutcome::Misconfigured(message))
            }
        }
    }

    /// Works one row claimed by the outbox and returns the outcome.
    pub async fn retry_claimed(&self, row: Claimed) -> RetryOutcome {
        let now = now_millis();
        let registration = match Registration::parse(
            &row.user_id,
            &row.token,
            &row.platform,
            Some(&row.provider),
            row.device_id.as_deref(),
        ) {
            Ok(registration) => registration,
            Err(error) => {
                let completion =
                    Completion::Failed { code: None, message: format!("stored row is invalid: {error}") };
                self.record(row.id, row.generation, 0, completion).await;
                tracing::error!(id = row.id, %error, "outbox row failed validation; marked failed");
                return RetryOutcome::Failed;
            }
        };
        let provider = provider_label(&registration);

        let age = Duration::from_millis(u64::try_from(now - row.requested_at).unwrap_or(0));
        if age > self.settings.outbox.max_age {
            let message = format!(
                "gave up after {} attempts over {} hours without a reply from ZEGO",
                row.attempts,
                age.as_secs() / 3600
            );
            tracing::info!(user_id = %registration.user_id, token = %registration.token.short_hash(), "{message}");
            self.record(row.id, row.generation, 0, Completion::Failed { code: None, message }).await;
            self.metrics.registration("failed", provider, "outbox");
            return RetryOutcome::Failed;
        }

        let (result, attempts) = self.call_zego(&registration).await;
        match result {
            Ok(reply) => {
                let request_id = reply.get("RequestId").and_then(Value::as_str).map(str::to_owned);
                self.record(row.id, row.generation, attempts, Completion::Registered { request_id }).await;
                self.metrics.registration("registered", provider, "outbox");
                tracing::info!(
                    user_id = %registration.user_id,
                    token = %registration.token.short_hash(),
                    attempts = row.attempts + i64::from(attempts),
                    "queued push token registered"
                );
                RetryOutcome::Registered
            }
            Err(error) if is_worth_retrying(&error) => {
                let total_attempts = row.attempts + i64::from(attempts);
                let delay = self.settings.outbox.delay(total_attempts);
                let next_attempt_at = now_millis() + delay.as_millis() as i64;
                let completion = Completion::Retry {
                    code: error.zego_code(),
                    message: error.to_string(),
                    next_attempt_at,
                };
                self.record(row.id, row.generation, attempts, completion).await;
                tracing::debug!(
                    token = %registration.token.short_hash(),
                    attempts = total_attempts,
                    ?delay,
                    %error,
                    "queued registration failed again"
                );
                RetryOutcome::FailedAgain { error: error.to_string() }
            }
            Err(error) => {
                tracing::info!(
                    user_id = %registration.user_id,
                    token = %registration.token.short_hash(),
                    %error,
                    "queued registration failed permanently"
                );
                let completion = Completion::Failed { code: error.zego_code(), message: error.to_string() };
                self.record(row.id, row.generation, attempts, completion).await;
                self.metrics.registration("failed", provider, "outbox");
                RetryOutcome::Failed
            }
        }
    }

    /// Calls ZEGO and records latency, code and retries.
    async fn call_zego(&self, registration: &Registration) -> (Result<Value, ZegoError>, u32) {
        let started = Instant::now();
        let result = self.zego.register(registration).await;
        let seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(registered) => {
                self.metrics.zego_call(seconds, Some(0), registered.attempts);
                (Ok(registered.reply), registered.attempts)
            }
            Err(error) => {
                let attempts = error.attempts();
                self.metrics.zego_call(seconds, error.zego_code(), attempts);
                (Err(error), attempts)
            }
        }
    }

    /// Stores a completion. A store failure is logged, not returned: the row
    /// stays pending under its lease, so the outbox works it again later.
    async fn record(&self, id: i64, generation: i64, attempts: u32, completion: Completion) {
        match self.store.complete(id, generation, attempts, &completion).await {
            Ok(true) => {}
            Ok(false) => tracing::debug!(id, "row changed while ZEGO was called; the newer version wins"),
            Err(error) => {
                tracing::error!(id, %error, "could not record a registration outcome; the outbox will retry the row");
            }
        }
    }
}

/// Returns why ZEGO could not take a registration, in words fit for an API
/// client: without addresses or library internals, which go to the log.
fn public_reason(error: &ZegoError) -> String {
    match error {
        ZegoError::Timeout { .. } => "ZEGO did not reply in time".into(),
        ZegoError::Api(api) => format!("ZEGO is busy (Code {})", api.code),
        ZegoError::MalformedReply { .. } => "ZEGO's reply could not be read".into(),
        // A connection failure, or HTTP 5xx without a ZEGO reply.
        _ => "ZEGO could not be reached or replied with an HTTP error".into(),
    }
}

/// Tells whether a failure leaves the row to the outbox: ZEGO unreachable,
/// slow or busy, or a reply that is not a ZEGO reply (a proxy's error page).
fn is_worth_retrying(error: &ZegoError) -> bool {
    error.is_retryable() || matches!(error, ZegoError::MalformedReply { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_delay_doubles_within_jitter_and_cap() {
        let settings = OutboxSettings {
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            ..OutboxSettings::default()
        };
        for _ in 0..100 {
            let first = settings.delay(1);
            assert!(first >= Duration::from_secs(1), "{first:?}");
            assert!(first <= Duration::from_secs(2), "{first:?}");
            let third = settings.delay(3);
            assert!(third >= Duration::from_secs(4), "{third:?}");
            assert!(third <= Duration::from_secs(8), "{third:?}");
            let late = settings.delay(40);
            assert!(late >= Duration::from_secs(30), "{late:?}");
            assert!(late <= Duration::from_secs(60), "{late:?}");
        }
    }
}
