//! `POST /api/register-push-token`: the integration guide's endpoint.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use zego_core::Registration;

use crate::body::{json_object, optional_string, required_string, token_field, validation_error};
use crate::error::AppError;
use crate::registrar::RegisterOutcome;
use crate::AppState;

pub(crate) async fn register_push_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    // Authenticate, then read and validate the request.
    let caller = state.auth.authenticate(&headers)?;
    let object = json_object(&headers, body)?;
    let user_id = required_string(&object, "user_id")?;
    let token = token_field(&object)?;
    let platform = required_string(&object, "platform")?;
    let provider = optional_string(&object, "provider")?;
    let device_id = optional_string(&object, "device_id")?;
    let registration =
        Registration::parse(&user_id, &token.value, &platform, provider.as_deref(), device_id.as_deref())
            .map_err(|error| validation_error(&error, token.name))?;
    state.authorize(&caller, registration.user_id.as_str())?;

    // Store it, call ZEGO, and answer with the outcome.
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
                "message": "ZEGO could not be reached; the registration is stored and will be retried, so do not send it again",
                "reason": reason,
                "next_attempt_at": next_attempt_at,
            })),
        )),
        RegisterOutcome::Rejected(api) => {
            Err(AppError::ZegoRejected { message: api.to_string(), reply: api.reply })
        }
        RegisterOutcome::Misconfigured(message) => Err(AppError::Misconfigured { message }),
    }
}
