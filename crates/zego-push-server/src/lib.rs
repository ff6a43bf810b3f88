//! The zego-push HTTP server: routes, authentication, the registry store,
//! the retry outbox, metrics and sandbox mode.
//!
//! [`app`] builds the router from an [`AppState`]; [`serve`] runs it on a
//! listener until a shutdown future completes, so tests can drive both.

pub mod auth;
mod body;
pub mod config;
mod devices;
pub mod error;
mod http;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
mod register;
pub mod registrar;
pub mod sandbox;
pub mod store;
pub mod worker;
mod zego_callback;
mod zego_token;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{middleware, Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use body::BODY_LIMIT;
// Public for the fuzz targets in fuzz/, which run the handler's own parser.
#[doc(hidden)]
pub use body::parse_registration;

use crate::auth::{Authenticator, Caller};
use crate::error::AppError;
use crate::ratelimit::RateLimits;
use crate::registrar::Registrar;

/// How long `/readyz` and `/metrics` wait for the store.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Take the client address from `X-Forwarded-For` (set by a trusted reverse proxy).
    pub trust_forwarded_for: bool,
    /// The maximum time a request may take before it gets HTTP 408.
    pub request_timeout: Duration,
    /// Rows per second the outbox sends during a resync.
    pub resync_rate_per_second: u32,
    /// The shortest time between two resyncs.
    pub resync_min_interval: Duration,
    /// The validity limits of `POST /api/zego-token`.
    pub tokens: TokenSettings,
    /// The callback checks of `POST /api/zego/callback`, or `None` to turn it off.
    pub callbacks: Option<CallbackSettings>,
}

/// The validity limits of the Token04s `POST /api/zego-token` issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSettings {
    /// The validity when the request names none, in seconds.
    pub default_seconds: u64,
    /// The maximum validity a request may ask for, in seconds.
    pub max_seconds: u64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self { default_seconds: 3600, max_seconds: 86_400 }
    }
}

/// The CallbackSecret. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackSecret(pub String);

impl std::fmt::Debug for CallbackSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackSecret(****)")
    }
}

/// The settings that check ZEGO's callbacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackSettings {
    pub secret: CallbackSecret,
    /// How far a callback's timestamp may be from this server's clock, in seconds.
    pub window_seconds: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            trust_forwarded_for: false,
            request_timeout: Duration::from_secs(30),
            resync_rate_per_second: 20,
            resync_min_interval: Duration::from_secs(600),
            tokens: TokenSettings::default(),
            callbacks: None,
        }
    }
}

/// The state every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub registrar: Registrar,
    pub auth: Authenticator,
    pub limits: RateLimits,
    pub http: Arc<HttpSettings>,
}

impl AppState {
    pub fn new(registrar: Registrar, auth: Authenticator, limits: RateLimits, http: HttpSettings) -> Self {
        Self { registrar, auth, limits, http: Arc::new(http) }
    }

    /// Checks that `caller` may read `user_id`'s data.
    fn authorize_read(caller: &Caller, user_id: &str) -> Result<(), AppError> {
        if caller.may_act_for(user_id) {
            Ok(())
        } else {
            tracing::warn!(caller = %caller.label(), user_id, "caller tried to act for another user");
            Err(AppError::Forbidden { user_id: user_id.to_owned() })
        }
    }

    /// Checks that `caller` may act for `user_id`, then the per-user rate
    /// limit, which applies to changes only.
    fn authorize(&self, caller: &Caller, user_id: &str) -> Result<(), AppError> {
        Self::authorize_read(caller, user_id)?;
        if let Err(retry) = self.limits.check_user(user_id) {
            self.registrar.metrics.rate_limited("user");
            tracing::warn!(user_id, "rate limit per user exceeded");
            return Err(AppError::RateLimited { scope: "user", retry_after: retry.seconds() });
        }
        Ok(())
    }
}

/// Builds the server's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/register-push-token",
            post(register::register_push_token).layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .route(
            "/api/unregister-push-token",
            post(devices::unregister_push_token).layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .route("/api/users/{user_id}/push-tokens", delete(devices::unregister_user))
        .route("/api/users/{user_id}/devices", get(devices::list_devices))
        .route("/api/resync", post(devices::resync))
        .route("/api/zego-token", post(zego_token::issue_token).layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .route(
            zego_callback::ROUTE,
            post(zego_callback::receive_callback).layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), http::request_context))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes
/// the requests in flight.
///
/// A connection that does not deliver a request's complete headers within
/// `header_read_timeout` is closed without a reply. This covers clients that
/// stall halfway through their headers, which would otherwise hold the
/// connection, and the shutdown, for as long as they like, and it closes
/// keep-alive connections idle for that long. The timer starts when the
/// server waits for a request's headers.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    header_read_timeout: Duration,
) -> io::Result<()> {
    let mut connections = hyper::server::conn::http1::Builder::new();
    connections.timer(TokioTimer::new()).header_read_timeout(header_read_timeout).keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    pause_after_accept_error(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(client));
                router.clone().oneshot(request)
            });
        let connection = graceful.watch(connections.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %client, "connection closed with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Waits after a failed accept. A connection reset before it was accepted
/// concerns only that client, so the loop goes on at once. Any other error,
/// such as running out of file descriptors, is logged, and the loop waits a
/// second instead of spinning.
async fn pause_after_accept_error(error: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    description = "Returns HTTP 200 while the process serves requests. Checks nothing else.",
    responses(
        (status = 200, description = "The process serves requests", body = crate::openapi::HealthReply,
            example = json!({"status": "ok"})),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 431, response = crate::openapi::HeadersTooLarge),
    )
)]
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    description = "Returns HTTP 200 when the registry database responds, with the number of registrations waiting \
        in the outbox, and HTTP 503 when it does not.",
    responses(
        (status = 200, description = "The registry database responds", body = crate::openapi::ReadyReply,
            example = json!({"status": "ready", "checks": {"store": "ok", "configuration": "ok"}, "store": "sqlite", "outbox_depth": 0})),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 431, response = crate::openapi::HeadersTooLarge),
        (status = 503, description = "The registry database does not respond", body = crate::openapi::NotReadyReply,
            example = json!({"status": "not_ready", "checks": {"store": "unavailable", "configuration": "ok"}})),
    )
)]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    // Probes give up after about a second (Kubernetes' default timeout), and
    // the pool would wait up to 5 s for a connection to a stopped database.
    let store = match tokio::time::timeout(STORE_CHECK_TIMEOUT, state.registrar.store.ping()).await {
        Ok(result) => result.map_err(|error| error.to_string()),
        Err(_) => Err(format!("the store did not answer within {} ms", STORE_CHECK_TIMEOUT.as_millis())),
    };
    match store {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "checks": {"store": "ok", "configuration": "ok"},
                "store": state.registrar.store.backend_name(),
                // Counted only once the ping passed: with the database down,
                // it would wait for the pool's timeout a second time.
                "outbox_depth": tokio::time::timeout(STORE_CHECK_TIMEOUT, state.registrar.store.outbox_depth())
                    .await
                    .ok()
                    .and_then(Result::ok),
            })),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "not_ready", "checks": {"store": "unavailable", "configuration": "ok"}}),
                ),
            )
        }
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Returns the server's metrics in the OpenMetrics text format, which Prometheus reads: HTTP \
        requests by route and status, registrations by outcome, ZEGO calls and replies, rate-limit rejections \
        and the outbox depth.",
    responses(
        (status = 200, description = "The metrics", body = String,
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 431, response = crate::openapi::HeadersTooLarge),
    )
)]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // A scrape must not wait for an unreachable database: the gauge then
    // keeps its last value.
    let depth = tokio::time::timeout(STORE_CHECK_TIMEOUT, state.registrar.store.outbox_depth()).await;
    if let Ok(Ok(depth)) = depth {
        state.registrar.metrics.set_outbox_depth(depth);
    }
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.registrar.metrics.render(),
    )
}

async fn not_found() -> AppError {
    AppError::NotFound
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}
