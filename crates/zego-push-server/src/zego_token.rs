//! `POST /api/zego-token`: a Token04 login token for ZEGO's client SDKs.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};
use zego_core::token04::{self, RtcPrivilege, Token04Options, TokenFormat};
use zego_core::UserId;

use crate::auth::Caller;
use crate::body::{bad_request, json_object, optional_string};
use crate::devices::timestamp;
use crate::error::AppError;
use crate::AppState;

/// Reads `effective_time_in_seconds`, or the default, within the maximum.
fn effective_seconds(object: &Map<String, Value>, state: &AppState) -> Result<u64, AppError> {
    const FIELD: &str = "effective_time_in_seconds";
    let limits = state.http.tokens;
    let Some(value) = object.get(FIELD).filter(|value| !value.is_null()) else {
        return Ok(limits.default_seconds);
    };
    let seconds = value.as_u64().filter(|seconds| *seconds > 0).ok_or_else(|| {
        bad_request(
            "invalid_field",
            format!("{FIELD} must be a positive whole number of seconds"),
            Some(FIELD),
        )
    })?;
    if seconds > limits.max_seconds {
        return Err(bad_request(
            "invalid_field",
            format!("{FIELD} is {seconds}; this server issues tokens for at most {} s", limits.max_seconds),
            Some(FIELD),
        ));
    }
    Ok(seconds)
}

fn optional_bool(object: &Map<String, Value>, name: &'static str, default: bool) -> Result<bool, AppError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(bad_request("invalid_field", format!("{name} must be true or false"), Some(name))),
    }
}

/// Reads the optional `rtc_privilege` object into ZEGO's RTC privilege payload.
fn rtc_privilege(object: &Map<String, Value>) -> Result<Option<RtcPrivilege>, AppError> {
    const FIELD: &str = "rtc_privilege";
    let privilege = match object.get(FIELD) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(privilege)) => privilege,
        Some(_) => {
            return Err(bad_request(
                "invalid_field",
                format!("{FIELD} must be an object with room_id, login_room, publish_stream and stream_ids"),
                Some(FIELD),
            ))
        }
    };
    let room_id = optional_string(privilege, "room_id")?
        .filter(|room| !room.is_empty() && room.len() <= 128)
        .ok_or_else(|| {
            bad_request(
                "invalid_field",
                "rtc_privilege.room_id must be 1 to 128 characters".into(),
                Some(FIELD),
            )
        })?;
    let stream_ids = match privilege.get("stream_ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) if list.len() <= 100 => Some(
            list.iter()
                .map(|id| id.as_str().filter(|id| !id.is_empty() && id.len() <= 256).map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    bad_request(
                        "invalid_field",
                        "rtc_privilege.stream_ids must hold non-empty strings".into(),
                        Some(FIELD),
                    )
                })?,
        ),
        Some(_) => {
            return Err(bad_request(
                "invalid_field",
                "rtc_privilege.stream_ids must be a list of at most 100 stream ids, or null for any".into(),
                Some(FIELD),
            ))
        }
    };
    Ok(Some(RtcPrivilege {
        room_id,
        login_room: optional_bool(privilege, "login_room", true)?,
        publish_stream: optional_bool(privilege, "publish_stream", true)?,
        stream_ids,
    }))
}

#[utoipa::path(
    post,
    path = "/api/zego-token",
    tag = "tokens",
    summary = "Issue a Token04 login token for ZEGO's client SDKs",
    description = "Returns a Token04 (AES-256-GCM) for `user_id`, signed with this server's AppId and ServerSecret, \
        for the call kit's login. Authentication is the same as for registration, and a user's JWT gets tokens for \
        its own `sub` only (`user_id` may then be left out). `effective_time_in_seconds` defaults to 3600 and may not \
        exceed the server's maximum (86400 by default). `rtc_privilege` adds ZEGO's RTC privilege payload (room, login \
        and publish rights, stream ids); only an API key may ask for it, because the privileges are the backend's \
        decision. The checks run in this order: credentials (401), content type (415), body size (413), body and \
        fields (400), permission (403), then the rate limit per user (429).",
    security(("bearer" = [])),
    request_body(content = crate::openapi::TokenRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The token", body = crate::openapi::TokenReply,
            example = json!({"success": true, "data": {"token": "04AAAAAGVT...", "app_id": 1_234_567_890_u32,
                "user_id": "alice", "format": "gcm", "effective_time_in_seconds": 3600,
                "issued_at": "2026-01-01T00:00:00.000Z", "expires_at": "2026-01-01T01:00:00.000Z"}})),
        (status = 400, description = "The body is not a JSON object (`malformed_json`), or a field is missing (`missing_field`) or breaks a rule (`invalid_field`); `error.field` names the field",
            body = crate::openapi::ErrorReply),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, description = "The JWT's `sub` claim is not `user_id` (`forbidden`), or a user's JWT asked for `rtc_privilege`",
            body = crate::openapi::ErrorReply),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 431, response = crate::openapi::HeadersTooLarge),
        (status = 500, description = "The ServerSecret is not the 32-character secret Token04 needs (`server_misconfigured`)",
            body = crate::openapi::ErrorReply),
    )
)]
pub(crate) async fn issue_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let caller = state.auth.authenticate(&headers)?;
    let object = json_object(&headers, body)?;
    let user_id = match (optional_string(&object, "user_id")?, &caller) {
        (Some(user_id), _) => user_id,
        (None, Caller::User(subject)) => subject.clone(),
        (None, _) => return Err(bad_request("missing_field", "user_id is required".into(), Some("user_id"))),
    };
    let user_id = UserId::parse(&user_id)
        .map_err(|error| bad_request("invalid_field", error.to_string(), Some("user_id")))?;
    let seconds = effective_seconds(&object, &state)?;
    let privilege = rtc_privilege(&object)?;
    if privilege.is_some() && matches!(caller, Caller::User(_)) {
        tracing::warn!(user_id = %user_id, "a user's JWT asked for RTC privileges; only an API key may");
        return Err(AppError::ApiKeyRequired);
    }
    state.authorize(&caller, user_id.as_str())?;

    let signer = state.registrar.zego.signer();
    let app_id = signer.app_id().get();
    let payload = privilege.as_ref().map(RtcPrivilege::to_payload).unwrap_or_default();
    let issued_at = crate::store::now_millis() / 1000;
    let options =
        Token04Options { format: TokenFormat::Gcm, now: Some(issued_at), ..Token04Options::default() };
    let effective = i64::try_from(seconds).unwrap_or(i64::MAX);
    let token = token04::generate(app_id, user_id.as_str(), signer.secret(), effective, &payload, &options)
        .map_err(|error| {
        tracing::error!(code = error.code, %error, "Token04 generation failed");
        AppError::Misconfigured { message: format!("this server cannot issue Token04s: {error}") }
    })?;
    state.registrar.metrics.token_issued();
    tracing::info!(user_id = %user_id, seconds, rtc_privilege = privilege.is_some(), caller = %caller.label(), "Token04 issued");
    Ok(Json(json!({
        "success": true,
        "data": {
            "token": token,
            "app_id": app_id,
            "user_id": user_id.as_str(),
            "format": "gcm",
            "effective_time_in_seconds": seconds,
            "issued_at": timestamp(issued_at * 1000),
            "expires_at": timestamp((issued_at + effective) * 1000),
        }
    })))
}
