//! `POST /api/register-push-token`: the integration guide's endpoint.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Map, Value};
use zego_core::{Error as ZegoError, Field, Registration, ValidationError};

use crate::error::AppError;
use crate::store::{now_millis, StoreError};
use crate::AppState;

/// The largest accepted request body.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Delay before a pending row is due again after ZEGO stayed unreachable.
const RETRY_AFTER_MS: i64 = 30_000;

/// The body's token field. The guide names it `fcm_token`; `push_token`
/// is accepted too, because an APNs token is not an FCM token.
struct TokenField {
    name: &'static str,
    value: String,
}

/// The raw request fields, before validation.
struct RequestFields {
    user_id: String,
    token: TokenField,
    platform: String,
    provider: Option<String>,
    device_id: Option<String>,
}

pub(crate) async fn register_push_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    // Read and validate the request.
    check_content_type(&headers)?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge { limit: BODY_LIMIT }
        } else {
            bad_request("invalid_body", format!("the request body could not be read: {rejection}"), None)
        }
    })?;
    let fields = parse_fields(&body)?;
    let registration = Registration::parse(
        &fields.user_id,
        &fields.token.value,
        &fields.platform,
        fields.provider.as_deref(),
        fields.device_id.as_deref(),
    )
    .map_err(|error| validation_error(&error, fields.token.name))?;

    // Store it before calling ZEGO, so that nothing is lost if ZEGO or this process fails.
    let upserted = state.store.upsert_pending(&registration).await.map_err(store_error)?;
    if let Some(previous_user) = &upserted.moved_from {
        tracing::info!(
            token = %registration.token.short_hash(),
            from_user = %previous_user,
            to_user = %registration.user_id,
            "token moved to another user"
        );
    }

    // Register with ZEGO and record the outcome.
    match state.zego.register(&registration).await {
        Ok(registered) => {
            state
                .store
                .mark_registered(upserted.id, registered.attempts, registered.request_id.as_deref())
                .await
                .map_err(store_error)?;
            tracing::info!(
                user_id = %registration.user_id,
                token = %registration.token.short_hash(),
                provider = %registration.provider(),
                attempts = registered.attempts,
                "push token registered"
            );
            Ok((
                StatusCode::OK,
                Json(json!({"success": true, "data": registered.reply, "status": "registered"})),
            ))
        }
        Err(error) => Err(record_failure(&state, upserted.id, &registration, error).await),
    }
}

async fn record_failure(
    state: &AppState,
    id: i64,
    registration: &Registration,
    error: ZegoError,
) -> AppError {
    let attempts = error.attempts();
    let code = error.zego_code();
    let message = error.to_string();
    tracing::warn!(
        user_id = %registration.user_id,
        token = %registration.token.short_hash(),
        attempts,
        code,
        error = %message,
        "push token registration failed"
    );

    let stored = if error.is_retryable() {
        state.store.mark_retry(id, attempts, code, &message, now_millis() + RETRY_AFTER_MS).await
    } else {
        state.store.mark_failed(id, attempts, code, &message).await
    };
    if let Err(store_failure) = stored {
        tracing::error!(error = %store_failure, "could not record the outcome of a registration");
    }

    match error {
        ZegoError::Api(api) if !api.is_retryable() => AppError::ZegoRejected { message, reply: api.reply },
        error if error.is_retryable() => AppError::ZegoUnavailable {
            message: format!("{message}; the registration is stored as pending, try again later"),
        },
        ZegoError::MalformedReply { .. } => AppError::ZegoBadReply { message },
        _ => AppError::Internal,
    }
}

// Takes the error by value so that it fits `map_err`.
#[allow(clippy::needless_pass_by_value)]
fn store_error(error: StoreError) -> AppError {
    tracing::error!(%error, "registry store failed");
    AppError::StoreUnavailable
}

fn bad_request(code: &'static str, message: String, field: Option<&str>) -> AppError {
    AppError::BadRequest { code, message, field: field.map(str::to_owned) }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), AppError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
    let is_json = content_type.is_some_and(|value| {
        let mime = value.split(';').next().unwrap_or_default().trim();
        mime.eq_ignore_ascii_case("application/json")
    });
    if is_json {
        Ok(())
    } else {
        Err(AppError::UnsupportedMediaType)
    }
}

fn validation_error(error: &ValidationError, token_field: &str) -> AppError {
    let field = match error.field {
        Field::FcmToken => token_field,
        other => other.as_str(),
    };
    bad_request("invalid_field", format!("invalid {field}: {}", error.message), Some(field))
}

/// Reads the fields from a JSON object body. Unknown fields are ignored.
fn parse_fields(body: &[u8]) -> Result<RequestFields, AppError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        bad_request("malformed_json", format!("the request body is not valid JSON: {error}"), None)
    })?;
    let Value::Object(object) = value else {
        return Err(bad_request("malformed_json", "the request body must be a JSON object".into(), None));
    };

    let user_id = required_string(&object, "user_id")?;
    let token = token_field(&object)?;
    let platform = required_string(&object, "platform")?;
    let provider = optional_string(&object, "provider")?;
    let device_id = optional_string(&object, "device_id")?;
    Ok(RequestFields { user_id, token, platform, provider, device_id })
}

fn required_string(object: &Map<String, Value>, name: &'static str) -> Result<String, AppError> {
    optional_string(object, name)?
        .ok_or_else(|| bad_request("missing_field", format!("{name} is required"), Some(name)))
}

fn optional_string(object: &Map<String, Value>, name: &'static str) -> Result<Option<String>, AppError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(bad_request(
            "invalid_field",
            format!("{name} must be a string, not {}", json_type(other)),
            Some(name),
        )),
    }
}

fn token_field(object: &Map<String, Value>) -> Result<TokenField, AppError> {
    let fcm = optional_string(object, "fcm_token")?;
    let push = optional_string(object, "push_token")?;
    match (fcm, push) {
        (Some(fcm), Some(push)) if fcm != push => Err(bad_request(
            "invalid_field",
            "fcm_token and push_token differ; send the token in one of them".into(),
            Some("push_token"),
        )),
        (Some(value), _) => Ok(TokenField { name: "fcm_token", value }),
        (None, Some(value)) => Ok(TokenField { name: "push_token", value }),
        (None, None) => Err(bad_request(
            "missing_field",
            "fcm_token is required (push_token is accepted as another name)".into(),
            Some("fcm_token"),
        )),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<RequestFields, AppError> {
        parse_fields(body.as_bytes())
    }

    fn field_of(error: AppError) -> Option<String> {
        match error {
            AppError::BadRequest { field, .. } => field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn reads_guide_body() {
        let fields =
            parse(r#"{"fcm_token": "t", "platform": "android", "user_id": "u", "extra": 1}"#).unwrap();
        assert_eq!(fields.user_id, "u");
        assert_eq!(fields.token.name, "fcm_token");
        assert_eq!(fields.platform, "android");
        assert_eq!(fields.provider, None);
    }

    #[test]
    fn accepts_push_token_alias() {
        let fields = parse(r#"{"push_token": "t", "platform": "ios", "user_id": "u"}"#).unwrap();
        assert_eq!(fields.token.name, "push_token");
    }

    #[test]
    fn rejects_missing_fields_by_name() {
        assert_eq!(
            field_of(parse(r#"{"fcm_token": "t", "platform": "ios"}"#).err().unwrap()).unwrap(),
            "user_id"
        );
        assert_eq!(
            field_of(parse(r#"{"user_id": "u", "platform": "ios"}"#).err().unwrap()).unwrap(),
            "fcm_token"
        );
        assert_eq!(
            field_of(parse(r#"{"user_id": "u", "fcm_token": "t"}"#).err().unwrap()).unwrap(),
            "platform"
        );
    }

    #[test]
    fn rejects_wrong_types() {
        let error = parse(r#"{"user_id": 5, "fcm_token": "t", "platform": "ios"}"#).err().unwrap();
        assert_eq!(field_of(error).unwrap(), "user_id");
    }

    #[test]
    fn rejects_non_object_and_bad_json() {
        assert!(field_of(parse("[1]").err().unwrap()).is_none());
        assert!(field_of(parse("{").err().unwrap()).is_none());
    }

    #[test]
    fn rejects_conflicting_token_names() {
        let error = parse(r#"{"user_id": "u", "fcm_token": "a", "push_token": "b", "platform": "ios"}"#)
            .err()
            .unwrap();
        assert_eq!(field_of(error).unwrap(), "push_token");
    }
}
