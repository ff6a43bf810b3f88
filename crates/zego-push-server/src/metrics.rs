//! Prometheus metrics, served at `/metrics` in the text exposition format.

use std::fmt::Write as _;
use std::sync::Arc;

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegistrationLabels {
    /// `registered`, `unchanged`, `queued` or `failed`.
    outcome: &'static str,
    /// `fcm` or `apns`.
    provider: &'static str,
    /// `request` for the registration endpoint, `outbox` for the retry worker.
    source: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallbackLabels {
    /// ZEGO's event name, or `other`.
    event: &'static str,
    /// `recorded`, `ignored`, `rejected` (signature or timestamp), `invalid`
    /// (a signed callback whose event has a missing or wrong field) or `replayed`.
    outcome: &'static str,
}

/// Returns the metric label for a callback's `event`: the events this server
/// stores by name, every other one as `other`, so labels stay few.
pub fn callback_event_label(event: &str) -> &'static str {
    match event {
        "user_action" => "user_action",
        "call_create" => "call_create",
        "call_cancel" => "call_cancel",
        "call_timeout" => "call_timeout",
        _ => "other",
    }
}

/// The server's metrics. Cloning shares them.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    registrations: Family<RegistrationLabels, Counter>,
    zego_latency: Histogram,
    zego_codes: Family<CodeLabels, Counter>,
    zego_retries: Counter,
    outbox_depth: Gauge,
    http_requests: Family<HttpLabels, Counter>,
    rate_limited: Family<ScopeLabels, Counter>,
    callbacks: Family<CallbackLabels, Counter>,
    callees_without_token: Counter,
    tokens_issued: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("zego_push");
        let registrations = Family::<RegistrationLabels, Counter>::default();
        registry.register(
            "registrations",
            "Registrations by outcome, provider and source",
            registrations.clone(),
        );
        // 5 ms to about 41 s.
        let zego_latency = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "zego_request_duration_seconds",
            "Time for one registration with ZEGO, retries within it included",
            zego_latency.clone(),
        );
        let zego_codes = Family::<CodeLabels, Counter>::default();
        registry.register("zego_replies", "ZEGO replies by Code", zego_codes.clone());
        let zego_retries = Counter::default();
        registry.register(
            "zego_retries",
            "ZEGO requests sent beyond the first for a registration",
            zego_retries.clone(),
        );
        let outbox_depth = Gauge::default();
        registry.register("outbox_depth", "Registrations pending in the retry outbox", outbox_depth.clone());
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", http_requests.clone());
        let rate_limited = Family::<ScopeLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests rejected by a rate limit, by scope",
            rate_limited.clone(),
        );
        let callbacks = Family::<CallbackLabels, Counter>::default();
        registry.register("callbacks", "ZEGO callbacks by event and outcome", callbacks.clone());
        let callees_without_token = Counter::default();
        registry.register(
            "callees_without_push_token",
            "Users invited to a call while they had no push token ZEGO confirmed",
            callees_without_token.clone(),
        );
        let tokens_issued = Counter::default();
        registry.register("tokens_issued", "Token04 login tokens issued", tokens_issued.clone());

        Self {
            inner: Arc::new(Inner {
                registry,
                registrations,
                zego_latency,
                zego_codes,
                zego_retries,
                outbox_depth,
                http_requests,
                rate_limited,
                callbacks,
                callees_without_token,
                tokens_issued,
            }),
        }
    }

    pub fn registration(&self, outcome: &'static str, provider: &'static str, source: &'static str) {
        self.inner.registrations.get_or_create(&RegistrationLabels { outcome, provider, source }).inc();
    }

    /// Records one registration call to ZEGO: its duration, ZEGO's code if it
    /// replied, and the requests it took.
    pub fn zego_call(&self, seconds: f64, code: Option<i64>, attempts: u32) {
        self.inner.zego_latency.observe(seconds);
        if let Some(code) = code {
            self.inner.zego_codes.get_or_create(&CodeLabels { code: code.to_string() }).inc();
        }
        if attempts > 1 {
            self.inner.zego_retries.inc_by(u64::from(attempts - 1));
        }
    }

    pub fn set_outbox_depth(&self, depth: i64) {
        self.inner.outbox_depth.set(depth);
    }

    pub fn http_request(&self, route: &str, status: u16) {
        self.inner.http_requests.get_or_create(&HttpLabels { route: route.to_owned(), status }).inc();
    }

    pub fn rate_limited(&self, scope: &'static str) {
        self.inner.rate_limited.get_or_create(&ScopeLabels { scope }).inc();
    }

    pub fn callback(&self, event: &'static str, outcome: &'static str) {
        self.inner.callbacks.get_or_create(&CallbackLabels { event, outcome }).inc();
    }

    pub fn callee_without_token(&self) {
        self.inner.callees_without_token.inc();
    }

    pub fn token_issued(&self) {
        self.inner.tokens_issued.inc();
    }

    /// Renders every metric in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = encode(&mut text, &self.inner.registry) {
            let _ = writeln!(text, "# encoding failed: {error}");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_recorded_values() {
        let metrics = Metrics::new();
        metrics.registration("registered", "fcm", "request");
        metrics.zego_call(0.02, Some(0), 3);
        metrics.zego_call(0.5, Some(100_000_005), 1);
        metrics.set_outbox_depth(7);
        metrics.http_request("/api/register-push-token", 200);
        metrics.rate_limited("address");
        metrics.callback(callback_event_label("user_action"), "recorded");
        metrics.callback(callback_event_label("room_login"), "ignored");
        metrics.callee_without_token();
        metrics.token_issued();

        let text = metrics.render();
        assert!(
            text.contains(
                r#"zego_push_registrations_total{outcome="registered",provider="fcm",source="request"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"zego_push_zego_replies_total{code="100000005"} 1"#), "{text}");
        assert!(text.contains("zego_push_zego_retries_total 2"), "{text}");
        assert!(text.contains("zego_push_outbox_depth 7"), "{text}");
        assert!(text.contains("zego_push_zego_request_duration_seconds_count 2"), "{text}");
        assert!(text.contains(r#"zego_push_rate_limited_total{scope="address"} 1"#), "{text}");
        assert!(
            text.contains(r#"zego_push_callbacks_total{event="user_action",outcome="recorded"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"zego_push_callbacks_total{event="other",outcome="ignored"} 1"#), "{text}");
        assert!(text.contains("zego_push_callees_without_push_token_total 1"), "{text}");
        assert!(text.contains("zego_push_tokens_issued_total 1"), "{text}");
    }
}
