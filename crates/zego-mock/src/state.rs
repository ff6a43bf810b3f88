//! The mock's state: configured apps, injected faults, and a record of calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zego_core::sign::{Clock, SystemClock};
use zego_core::{AppId, ServerSecret};

/// ZEGO's allowed clock skew between a request's timestamp and its own clock.
pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(600);

/// Settings of a mock server.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// The AppIds the mock accepts, each with its ServerSecret.
    pub apps: HashMap<AppId, ServerSecret>,
    /// The largest accepted difference between a request's timestamp and the mock's clock.
    pub max_skew: Duration,
    pub clock: Arc<dyn Clock>,
}

impl MockConfig {
    /// Creates a configuration that accepts `apps`, with ZEGO's skew window and the system clock.
    pub fn new(apps: HashMap<AppId, ServerSecret>) -> Self {
        Self { apps, max_skew: DEFAULT_MAX_SKEW, clock: Arc::new(SystemClock) }
    }

    /// Creates a configuration that accepts one app.
    pub fn single(app_id: AppId, secret: ServerSecret) -> Self {
        Self::new(HashMap::from([(app_id, secret)]))
    }
}

/// A ZEGO code to reply with instead of checking the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeFault {
    pub code: i64,
    #[serde(default = "default_fault_message")]
    pub message: String,
    /// How many calls get this code; `None` means every call until the faults are cleared.
    #[serde(default)]
    pub count: Option<u32>,
}

fn default_fault_message() -> String {
    "injected by zego-mock".to_owned()
}

/// Faults applied to ZEGO API calls (never to the `/_mock/` control routes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Added before every call is handled, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// The next N calls get HTTP 500 with a plain-text body.
    #[serde(default)]
    pub http_500: u32,
    /// The next N calls have their connection closed without a reply.
    #[serde(default)]
    pub drop_connections: u32,
    /// The next calls get a reply with this ZEGO code.
    #[serde(default)]
    pub code: Option<CodeFault>,
}

/// A PushRegister call that passed every check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRegistration {
    pub app_id: u32,
    pub user_id: String,
    pub push_id: String,
    pub push_provider: i64,
    /// `guide` or `v2`.
    pub scheme: String,
    pub timestamp: i64,
    pub nonce: String,
    pub request_id: String,
}

/// One ZEGO API call and how the mock answered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCall {
    pub action: String,
    /// The ZEGO code returned, or `None` when the mock dropped the connection
    /// or answered with HTTP 500.
    pub code: Option<i64>,
    /// The outcome, for example `ok`, `signature_error`, `dropped`.
    pub outcome: String,
}

#[derive(Debug, Default)]
struct Records {
    faults: Faults,
    registrations: Vec<RecordedRegistration>,
    calls: Vec<RecordedCall>,
}

/// The shared state of one mock server.
#[derive(Debug)]
pub struct MockState {
    pub(crate) config: MockConfig,
    records: Mutex<Records>,
}

/// The connection layer's action on a call before the API handler runs.
pub(crate) enum ConnectionFault {
    None,
    Drop,
}

impl MockState {
    pub(crate) fn new(config: MockConfig) -> Self {
        Self { config, records: Mutex::new(Records::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        // A panic while the lock is held cannot leave the records half-written.
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Returns how many apps the mock knows.
    pub fn app_count(&self) -> usize {
        self.config.apps.len()
    }

    /// Replaces the active faults.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Returns every registration that passed the checks, oldest first.
    pub fn registrations(&self) -> Vec<RecordedRegistration> {
        self.lock().registrations.clone()
    }

    /// Returns every API call, oldest first.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// Clears faults, registrations and calls.
    pub fn reset(&self) {
        *self.lock() = Records::default();
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.lock().faults.latency_ms)
    }

    /// Consumes one dropped-connection fault, if any is left.
    pub(crate) fn take_connection_fault(&self, action: &str) -> ConnectionFault {
        let mut records = self.lock();
        if records.faults.drop_connections == 0 {
            return ConnectionFault::None;
        }
        records.faults.drop_connections -= 1;
        records.calls.push(RecordedCall { action: action.to_owned(), code: None, outcome: "dropped".into() });
        ConnectionFault::Drop
    }

    /// Consumes one HTTP 500 fault, if any is left.
    pub(crate) fn take_http_500(&self, action: &str) -> bool {
        let mut records = self.lock();
        if records.faults.http_500 == 0 {
            return false;
        }
        records.faults.http_500 -= 1;
        records.calls.push(RecordedCall {
            action: action.to_owned(),
            code: None,
            outcome: "http_500".into(),
        });
        true
    }

    /// Consumes one injected code, if any is left.
    pub(crate) fn take_code_fault(&self) -> Option<(i64, String)> {
        let mut records = self.lock();
        let fault = records.faults.code.as_mut()?;
        let taken = (fault.code, fault.message.clone());
        match fault.count {
            Some(0) => {
                records.faults.code = None;
                return None;
            }
            Some(1) => records.faults.code = None,
            Some(n) => fault.count = Some(n - 1),
            None => {}
        }
        Some(taken)
    }

    pub(crate) fn record_call(&self, call: RecordedCall) {
        self.lock().calls.push(call);
    }

    pub(crate) fn record_registration(&self, registration: RecordedRegistration) {
        self.lock().registrations.push(registration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> MockState {
        MockState::new(MockConfig::single(AppId::new(1).unwrap(), ServerSecret::new("s").unwrap()))
    }

    #[test]
    fn code_fault_counts_down() {
        let state = state();
        state.set_faults(Faults {
            code: Some(CodeFault { code: 1, message: "busy".into(), count: Some(2) }),
            ..Faults::default()
        });
        assert_eq!(state.take_code_fault(), Some((1, "busy".into())));
        assert_eq!(state.take_code_fault(), Some((1, "busy".into())));
        assert_eq!(state.take_code_fault(), None);
    }

    #[test]
    fn code_fault_without_count_persists() {
        let state = state();
        state.set_faults(Faults {
            code: Some(CodeFault { code: 3, message: "no".into(), count: None }),
            ..Faults::default()
        });
        for _ in 0..5 {
            assert!(state.take_code_fault().is_some());
        }
    }

    #[test]
    fn drop_fault_counts_down_and_is_recorded() {
        let state = state();
        state.set_faults(Faults { drop_connections: 1, ..Faults::default() });
        assert!(matches!(state.take_connection_fault("PushRegister"), ConnectionFault::Drop));
        assert!(matches!(state.take_connection_fault("PushRegister"), ConnectionFault::None));
        assert_eq!(state.calls()[0].outcome, "dropped");
    }

    #[test]
    fn faults_reject_unknown_fields() {
        let parsed: Result<Faults, _> = serde_json::from_str(r#"{"latency": 5}"#);
        assert!(parsed.is_err());
    }
}
