//! `POST /api/register-push-token`: the integration guide's endpoint.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

use crate::body::parse_registration;
use crate::error::AppError;
use crate::registrar::RegisterOutcome;
use crate::AppState;

#[utoipa::path(
    post,
    path = "/api/register-push-token",
    tag = "registration",
    summary = "Register a device's push token for a user with ZEGO",
    description = "Stores the registration, then calls ZEGO within the request. When ZEGO cannot be reached in time, \
        the registration stays stored, the outbox retries it, and the reply is HTTP 202: the client must not send it again. \
        The checks run in this order: credentials (401), content type (415), body size (413), body and fields (400), \
        permission for `user_id` (403), then the rate limit per user (429). Before all of them, the server checks \
        the size of the headers (431) and the rate limit per client address (429).",
    security(("bearer" = [])),
    request_body(content = crate::openapi::RegisterRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "ZEGO accepted the registration, now or within the unchanged window",
            body = crate::openapi::RegisterReply,
            examples(
                ("registered" = (value = json!({"success": true, "data": {"Code": 0, "Message": "success", "RequestId": "2237461048592376"}, "status": "registered"}))),
                ("unchanged" = (value = json!({"success": true, "data": {"Code": 0, "Message": "success", "RequestId": "2237461048592376"}, "status": "unchanged"}))),
            )),
        (status = 202, description = "ZEGO was unreachable, slow or busy; the registration is stored and the outbox retries it. A success: do not send it again",
            body = crate::openapi::QueuedReply,
            example = json!({"success": true, "status": "queued", "message": "ZEGO has not taken the registration yet; it is stored and will be retried, so do not send it again", "reason": "ZEGO did not reply in time", "next_attempt_at": "2026-01-01T00:00:02.000Z"})),
        (status = 400, description = "The body is not a JSON object (`malformed_json`, `invalid_body`), or a field is missing (`missing_field`) or breaks a rule (`invalid_field`); `error.field` names the field",
            body = crate::openapi::ErrorReply),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::SubjectMismatch),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 431, response = crate::openapi::HeadersTooLarge),
        (status = 500, description = "This server is misconfigured, for example its ZEGO base URL (`server_misconfigured`); the registration is stored as failed",
            body = crate::openapi::ErrorReply),
        (status = 502, description = "ZEGO rejected the registration with a permanent code (`zego_rejected`); `data` is ZEGO's reply. Not retried",
            body = crate::openapi::ZegoRejectedReply,
            example = json!({"success": false, "error": {"code": "zego_rejected", "message": "ZEGO rejected the request with Code 100000005 (\"signature error\"): the signature does not match; the ServerSecret does not belong to this AppId, or the signing scheme is wrong"}, "data": {"Code": 100_000_005, "Message": "signature error", "RequestId": "2237461048592376"}})),
        (status = 503, response = crate::openapi::StoreUnavailable),
    )
)]
pub(crate) async fn register_push_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    // Authenticate, then read and validate the request.
    let caller = state.auth.authenticate(&headers)?;
    let registration = parse_registration(&headers, body)?;
    state.authorize(&caller, registration.user_id.as_str())?;

    // Store it, call ZEGO, and reply with the outcome.
    let outcome = state.registrar.register(&registration).await.map_err(|error| {
        tracing::error!(%error, "registry store failed");
        AppError::StoreUnavailable
    })?;
    match outcome {
        RegisterOutcome::Registered { reply } => {
            Ok((StatusCode::OK, Json(json!({"success": true, "data": reply, "status": "registered"}))))
        }
        RegisterOutcome::Unchanged { request_id } => {
            let mut data = json!({"Code": 0, "Message": "success"});
            if let Some(request_id) = request_id {
                data["RequestId"] = Value::String(request_id);
            }
            Ok((StatusCode::OK, Json(json!({"success": true, "data": data, "status": "unchanged"}))))
        }
        RegisterOutcome::Queued { reason, next_attempt_at } => Ok((
            StatusCode::ACCEPTED,
            Json(json!({
                "success": true,
                "status": "queued",
                "message": "ZEGO has not taken the registration yet; it is stored and will be retried, so do not send it again",
                "reason": reason,
                "next_attempt_at": crate::devices::timestamp(next_attempt_at),
            })),
        )),
        RegisterOutcome::Rejected(api) => {
            Err(AppError::ZegoRejected { message: api.to_string(), reply: api.reply })
        }
        RegisterOutcome::Misconfigured(message) => Err(AppError::Misconfigured { message }),
    }
}
