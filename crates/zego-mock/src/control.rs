//! The control routes under `/_mock/`, for tests in another process.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::{Faults, RecordedCall, RecordedRegistration};
use crate::SharedState;

pub(crate) async fn get_faults(State(state): State<SharedState>) -> Json<Faults> {
    Json(state.faults())
}

/// Replaces the active faults; fields left out are cleared.
pub(crate) async fn set_faults(
    State(state): State<SharedState>,
    faults: Result<Json<Faults>, JsonRejection>,
) -> Response {
    match faults {
        Ok(Json(faults)) => {
            tracing::info!(?faults, "faults set");
            state.set_faults(faults.clone());
            Json(faults).into_response()
        }
        Err(rejection) => {
            (StatusCode::BAD_REQUEST, Json(json!({"error": rejection.body_text()}))).into_response()
        }
    }
}

pub(crate) async fn registrations(State(state): State<SharedState>) -> Json<Vec<RecordedRegistration>> {
    Json(state.registrations())
}

pub(crate) async fn calls(State(state): State<SharedState>) -> Json<Vec<RecordedCall>> {
    Json(state.calls())
}

pub(crate) async fn reset(State(state): State<SharedState>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}
