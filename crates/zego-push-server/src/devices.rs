//! Token lifecycle endpoints: unregistration, device lists and resync.

use std::time::{Duration, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use zego_core::{PushProvider, PushToken, UserId};

use crate::auth::Caller;
use crate::body::{bad_request, json_object, required_string, token_field};
use crate::error::AppError;
use crate::store::{StoreError, StoredRegistration};
use crate::AppState;

fn store_error(error: &StoreError) -> AppError {
    tracing::error!(%error, "registry store failed");
    AppError::StoreUnavailable
}

fn parse_user_id(raw: &str) -> Result<UserId, AppError> {
    UserId::parse(raw).map_err(|error| bad_request("invalid_field", error.to_string(), Some("user_id")))
}

/// Returns the forms a token may be stored in: as sent, and normalized as an
/// APNs token (spaces and `< >` removed, lowercase) when it has that shape.
fn stored_token_forms(raw: &str) -> Vec<String> {
    let mut forms = vec![raw.to_owned()];
    if let Ok(apns) = PushToken::parse(raw, PushProvider::Apns) {
        if apns.as_str() != raw {
            forms.push(apns.as_str().to_owned());
        }
    }
    forms
}

/// `POST /api/unregister-push-token`: removes one of a user's tokens, for
/// example at logout, so that the outbox and resync never register it again.
pub(crate) async fn unregister_push_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let caller = state.auth.authenticate(&headers)?;
    let object = json_object(&headers, body)?;
    let user_id = parse_user_id(&required_string(&object, "user_id")?)?;
    let token = token_field(&object)?;
    state.authorize(&caller, user_id.as_str())?;

    for form in stored_token_forms(&token.value) {
        if state
            .registrar
            .store
            .remove_token(user_id.as_str(), &form)
            .await
            .map_err(|error| store_error(&error))?
        {
            tracing::info!(user_id = %user_id, token = %zego_core::values::short_hash(&form), "push token unregistered");
            return Ok(Json(json!({"success": true, "status": "removed"})));
        }
    }
    Err(AppError::TokenNotFound { field: token.name })
}

/// `DELETE /api/users/{user_id}/push-tokens`: removes every token of a user.
pub(crate) async fn unregister_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let caller = state.auth.authenticate(&headers)?;
    let user_id = parse_user_id(&user_id)?;
    state.authorize(&caller, user_id.as_str())?;

    let removed =
        state.registrar.store.remove_user(user_id.as_str()).await.map_err(|error| store_error(&error))?;
    tracing::info!(user_id = %user_id, removed, "all push tokens of a user unregistered");
    Ok(Json(json!({"success": true, "status": "removed", "removed": removed})))
}

/// `GET /api/users/{user_id}/devices`: the user's registrations, newest first,
/// with token hashes instead of tokens.
pub(crate) async fn list_devices(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let caller = state.auth.authenticate(&headers)?;
    let user_id = parse_user_id(&user_id)?;
    state.authorize(&caller, user_id.as_str())?;

    let rows =
        state.registrar.store.list_devices(user_id.as_str()).await.map_err(|error| store_error(&error))?;
    let devices: Vec<Value> = rows.iter().map(device_json).collect();
    Ok(Json(json!({"success": true, "user_id": user_id.as_str(), "devices": devices})))
}

fn timestamp(millis: i64) -> Value {
    match u64::try_from(millis) {
        Ok(millis) => {
            let time = UNIX_EPOCH + Duration::from_millis(millis);
            Value::String(humantime::format_rfc3339_millis(time).to_string())
        }
        Err(_) => Value::Null,
    }
}

fn device_json(row: &StoredRegistration) -> Value {
    json!({
        "token_hash": row.token_hash,
        "provider": row.provider,
        "platform": row.platform,
        "device_id": row.device_id,
        "state": row.state.as_str(),
        "attempts": row.attempts,
        "last_code": row.last_code,
        "last_message": row.last_message,
        "requested_at": timestamp(row.requested_at),
        "registered_at": row.registered_at.map_or(Value::Null, timestamp),
        "next_attempt_at": row.next_attempt_at.map_or(Value::Null, timestamp),
    })
}

/// `POST /api/resync`: registers every active token again, for when the
/// credentials or the ZEGO project changed. Needs an API key (or no
/// authentication on loopback). The outbox sends the rows at the resync
/// rate, and a second resync within the minimum interval is rejected.
pub(crate) async fn resync(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let caller = state.auth.authenticate(&headers)?;
    if matches!(caller, Caller::User(_)) {
        return Err(AppError::ApiKeyRequired);
    }

    {
        let mut last = state.last_resync.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(started) = *last {
            let elapsed = started.elapsed();
            if elapsed < state.http.resync_min_interval {
                let retry_after = state.http.resync_min_interval.saturating_sub(elapsed).as_secs().max(1);
                return Err(AppError::RateLimited { scope: "resync", retry_after });
            }
        }
        *last = Some(std::time::Instant::now());
    }

    let rate = state.http.resync_rate_per_second.max(1);
    let spacing_ms = (1000 / i64::from(rate)).max(1);
    let queued = state.registrar.store.resync(spacing_ms).await.map_err(|error| store_error(&error))?;
    state.registrar.wake.notify_one();
    let estimated_seconds = queued / u64::from(rate);
    tracing::info!(caller = %caller.label(), queued, rate, "resync started");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "success": true,
            "status": "queued",
            "queued": queued,
            "rate_per_second": rate,
            "estimated_seconds": estimated_seconds,
        })),
    ))
}
