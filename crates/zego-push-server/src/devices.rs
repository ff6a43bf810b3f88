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
use crate::store::{self, Presence, PresenceState, ResyncStart, StoreError, StoredRegistration};
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
#[utoipa::path(
    post,
    path = "/api/unregister-push-token",
    tag = "devices",
    summary = "Unregister one of a user's push tokens",
    description = "Marks the registration removed, for example at logout, so that neither the outbox nor a resync \
        registers the token again. ZEGO is not called. The checks run in this order: credentials (401), content type (415), \
        body size (413), body and fields (400), permission for `user_id` (403), then the rate limit per user (429).",
    security(("bearer" = [])),
    request_body(content = crate::openapi::UnregisterRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The token was removed", body = crate::openapi::TokenRemovedReply,
            example = json!({"success": true, "status": "removed"})),
        (status = 400, description = "The body is not a JSON object (`malformed_json`, `invalid_body`), or a field is missing (`missing_field`) or invalid (`invalid_field`); `error.field` names the field",
            body = crate::openapi::ErrorReply),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::SubjectMismatch),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 404, description = "The user never had this token, or it now belongs to another user (`token_not_found`); `error.field` is `fcm_token` or `push_token`, as sent. Unregistering an already unregistered token gets 200",
            body = crate::openapi::ErrorReply),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 431, response = crate::openapi::HeadersTooLarge),
        (status = 503, response = crate::openapi::StoreUnavailable),
    )
)]
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

    let store = &state.registrar.store;
    let forms = stored_token_forms(&token.value);
    for form in &forms {
        if store.remove_token(user_id.as_str(), form).await.map_err(|error| store_error(&error))? {
            tracing::info!(user_id = %user_id, token = %zego_core::values::short_hash(form), "push token unregistered");
            return Ok(Json(json!({"success": true, "status": "removed"})));
        }
    }

    // Unregistering twice succeeds, so that a logout retried after a network error does not fail.
    for form in &forms {
        let row = store.find_by_token(form).await.map_err(|error| store_error(&error))?;
        if row.is_some_and(|row| row.user_id == user_id.as_str() && row.state == store::State::Removed) {
            return Ok(Json(json!({"success": true, "status": "removed"})));
        }
    }
    Err(AppError::TokenNotFound { field: token.name })
}

/// `DELETE /api/users/{user_id}/push-tokens`: removes every token of a user.
#[utoipa::path(
    delete,
    path = "/api/users/{user_id}/push-tokens",
    tag = "devices",
    summary = "Unregister all push tokens of a user",
    description = "Marks every registration of the user removed, for example when the account is deleted. \
        ZEGO is not called. Succeeds with `removed: 0` when the user has no registrations.",
    security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The user id: 1 to 32 bytes of printable ASCII without whitespace, percent-encoded as needed")),
    responses(
        (status = 200, description = "The user's registrations were removed", body = crate::openapi::UserTokensRemovedReply,
            example = json!({"success": true, "status": "removed", "removed": 2})),
        (status = 400, description = "`user_id` breaks the user id rules (`invalid_field`, field `user_id`)",
            body = crate::openapi::ErrorReply),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::SubjectMismatch),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 431, response = crate::openapi::HeadersTooLarge),
        (status = 503, response = crate::openapi::StoreUnavailable),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/users/{user_id}/devices",
    tag = "devices",
    summary = "List a user's registered devices",
    description = "Returns the user's registrations that are not removed, newest registration request first, \
        with a hash of each token in place of the token, and the user's last known ZEGO state from the login and \
        logout callback (`presence`, `null` until a callback reports one). A user without registrations gets an \
        empty list.",
    security(("bearer" = [])),
    params(("user_id" = String, Path, description = "The user id: 1 to 32 bytes of printable ASCII without whitespace, percent-encoded as needed")),
    responses(
        (status = 200, description = "The user's registrations", body = crate::openapi::DeviceList,
            example = json!({"success": true, "user_id": "alice",
                "presence": {"state": "online", "changed_at": "2026-01-01T00:00:00.000Z", "os": "ANDROID",
                    "recorded_at": "2026-01-01T00:00:00.050Z"},
                "devices": [{
                "token_hash": "3f2a9c0b71de", "provider": "fcm", "platform": "android", "device_id": "pixel-8",
                "state": "registered", "attempts": 1, "last_code": 0, "last_message": "success",
                "requested_at": "2026-01-01T00:00:00.000Z", "registered_at": "2026-01-01T00:00:00.120Z",
                "next_attempt_at": null, "held_by_logout": false}]})),
        (status = 400, description = "`user_id` breaks the user id rules (`invalid_field`, field `user_id`)",
            body = crate::openapi::ErrorReply),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::SubjectMismatch),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 429, description = "The rate limit per client address was exceeded (`rate_limited`); listing devices is not limited per user",
            body = crate::openapi::ErrorReply,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 431, response = crate::openapi::HeadersTooLarge),
        (status = 503, response = crate::openapi::StoreUnavailable),
    )
)]
pub(crate) async fn list_devices(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let caller = state.auth.authenticate(&headers)?;
    let user_id = parse_user_id(&user_id)?;
    AppState::authorize_read(&caller, user_id.as_str())?;

    let store = &state.registrar.store;
    let rows = store.list_devices(user_id.as_str()).await.map_err(|error| store_error(&error))?;
    let presence = store.presence(user_id.as_str()).await.map_err(|error| store_error(&error))?;
    let devices: Vec<Value> = rows.iter().map(|row| device_json(row, presence.as_ref())).collect();
    let presence = presence.as_ref().map_or(Value::Null, |presence| {
        json!({
            "state": presence.state.as_str(),
            "changed_at": timestamp(presence.changed_at),
            "os": presence.os,
            "recorded_at": timestamp(presence.recorded_at),
        })
    });
    Ok(Json(json!({"success": true, "user_id": user_id.as_str(), "presence": presence, "devices": devices})))
}

/// Returns Unix milliseconds as an RFC 3339 string, the form every API time uses.
pub(crate) fn timestamp(millis: i64) -> Value {
    match u64::try_from(millis) {
        Ok(millis) => {
            let time = UNIX_EPOCH + Duration::from_millis(millis);
            Value::String(humantime::format_rfc3339_millis(time).to_string())
        }
        Err(_) => Value::Null,
    }
}

/// Tells whether the outbox defers `row` because its user logged out after
/// the registration request; the store applies the same rule.
fn held_by_logout(row: &StoredRegistration, presence: Option<&Presence>) -> bool {
    row.state == store::State::Pending
        && presence.is_some_and(|presence| {
            presence.state == PresenceState::LoggedOut && presence.changed_at >= row.requested_at
        })
}

fn device_json(row: &StoredRegistration, presence: Option<&Presence>) -> Value {
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
        "held_by_logout": held_by_logout(row, presence),
    })
}

/// `POST /api/resync`: registers every active token again, for when the
/// credentials or the ZEGO project changed. Needs an API key (or no
/// authentication on loopback). The outbox sends the rows at the resync
/// rate. A second resync within the minimum interval, through any instance
/// on the same database, is rejected.
#[utoipa::path(
    post,
    path = "/api/resync",
    tag = "devices",
    summary = "Register every active token with ZEGO again",
    description = "Queues every registered or pending registration to be sent to ZEGO again, for when the \
        credentials or the ZEGO project changed. The outbox sends them at the resync rate (20 per second by default). \
        Needs an API key, or authentication mode none; a user's JWT gets HTTP 403. A second resync within the \
        minimum interval (600 s by default), through any server instance on the same database, gets HTTP 429. The request has no body.",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The registrations are queued", body = crate::openapi::ResyncReply,
            example = json!({"success": true, "status": "queued", "queued": 1200, "rate_per_second": 20, "estimated_seconds": 60})),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "The credential is a user's JWT, not an API key (`forbidden`)",
            body = crate::openapi::ErrorReply),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 429, description = "The rate limit per client address was exceeded, or a resync started less than the minimum interval ago (`rate_limited`)",
            body = crate::openapi::ErrorReply,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 431, response = crate::openapi::HeadersTooLarge),
        (status = 503, response = crate::openapi::StoreUnavailable),
    )
)]
pub(crate) async fn resync(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let caller = state.auth.authenticate(&headers)?;
    if matches!(caller, Caller::User(_)) {
        return Err(AppError::ApiKeyRequired);
    }

    let rate = state.http.resync_rate_per_second.max(1);
    let spacing_ms = (1000 / i64::from(rate)).max(1);
    let min_interval_ms = i64::try_from(state.http.resync_min_interval.as_millis()).unwrap_or(i64::MAX);
    let started = state.registrar.store.start_resync(store::now_millis(), min_interval_ms, spacing_ms).await;
    let queued = match started {
        Ok(ResyncStart::Started { queued }) => queued,
        Ok(ResyncStart::TooSoon { retry_after_ms }) => {
            // Rounded up, so that a retry after Retry-After seconds is accepted.
            let retry_after = u64::try_from(retry_after_ms).unwrap_or(0).div_ceil(1000).max(1);
            return Err(AppError::RateLimited { scope: "resync", retry_after });
        }
        Err(error) => return Err(store_error(&error)),
    };
    state.registrar.wake.notify_one();
    let estimated_seconds = queued.div_ceil(u64::from(rate));
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
