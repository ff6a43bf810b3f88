//! The zego-push HTTP server: routes, the registry store and sandbox mode.
//!
//! [`app`] builds the router from an [`AppState`]; [`serve`] runs it on a
//! listener until a shutdown future completes, so tests can drive both.

pub mod config;
pub mod error;
mod register;
pub mod sandbox;
pub mod store;

use std::future::Future;
use std::io;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use zego_core::ZegoClient;

pub use register::BODY_LIMIT;

use crate::error::AppError;
use crate::store::Store;

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub zego: ZegoClient,
}

/// Builds the server's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/register-push-token",
            post(register::register_push_token).layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes
/// the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready", "checks": {"store": "ok"}}))),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "checks": {"store": "unavailable"}})),
            )
        }
    }
}

async fn not_found() -> AppError {
    AppError::NotFound
}
