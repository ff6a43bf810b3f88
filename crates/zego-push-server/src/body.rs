//! Reading JSON request bodies and their fields, with errors that name the field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::{Map, Value};
use zego_core::{Field, Registration, ValidationError};

use crate::error::AppError;

/// The largest accepted request body.
pub const BODY_LIMIT: usize = 16 * 1024;

pub fn bad_request(code: &'static str, message: String, field: Option<&str>) -> AppError {
    AppError::BadRequest { code, message, field: field.map(str::to_owned) }
}

/// Checks the content type and parses the body as a JSON object.
pub fn json_object(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, AppError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
    let is_json = content_type.is_some_and(|value| {
        let mime = value.split(';').next().unwrap_or_default().trim();
        mime.eq_ignore_ascii_case("application/json")
    });
    if !is_json {
        return Err(AppError::UnsupportedMediaType);
    }

    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge { limit: BODY_LIMIT }
        } else {
            bad_request("invalid_body", format!("the request body could not be read: {rejection}"), None)
        }
    })?;
    let value: Value = serde_json::from_slice(&body).map_err(|error| {
        bad_request("malformed_json", format!("the request body is not valid JSON: {error}"), None)
    })?;
    match value {
        Value::Object(object) => Ok(object),
        _ => Err(bad_request("malformed_json", "the request body must be a JSON object".into(), None)),
    }
}

pub fn required_string(object: &Map<String, Value>, name: &'static str) -> Result<String, AppError> {
    optional_string(object, name)?
        .ok_or_else(|| bad_request("missing_field", format!("{name} is required"), Some(name)))
}

pub fn optional_string(object: &Map<String, Value>, name: &'static str) -> Result<Option<String>, AppError> {
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

/// The body's token field. The guide names it `fcm_token`; `push_token`
/// is accepted too, because an APNs token is not an FCM token.
#[derive(Debug)]
pub struct TokenField {
    pub name: &'static str,
    pub value: String,
}

pub fn token_field(object: &Map<String, Value>) -> Result<TokenField, AppError> {
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

/// Parses and validates the body of `POST /api/register-push-token`,
/// checking the content type, then the JSON object, then each field.
pub fn parse_registration(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Registration, AppError> {
    let object = json_object(headers, body)?;
    let user_id = required_string(&object, "user_id")?;
    let token = token_field(&object)?;
    let platform = required_string(&object, "platform")?;
    let provider = optional_string(&object, "provider")?;
    let device_id = optional_string(&object, "device_id")?;

    Registration::parse(&user_id, &token.value, &platform, provider.as_deref(), device_id.as_deref())
        .map_err(|error| validation_error(&error, token.name))
}

/// Turns a validation error into a 400 naming the field as the client sent it.
pub fn validation_error(error: &ValidationError, token_field: &str) -> AppError {
    let field = match error.field {
        Field::FcmToken => token_field,
        other => other.as_str(),
    };
    bad_request("invalid_field", format!("invalid {field}: {}", error.message), Some(field))
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
    use axum::http::HeaderValue;

    use super::*;

    fn object(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).unwrap()
    }

    fn field_of(error: AppError) -> Option<String> {
        match error {
            AppError::BadRequest { field, .. } => field,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn token_field_prefers_fcm_token_name() {
        let token = token_field(&object(r#"{"fcm_token": "t"}"#)).unwrap();
        assert_eq!(token.name, "fcm_token");
        let token = token_field(&object(r#"{"push_token": "t"}"#)).unwrap();
        assert_eq!(token.name, "push_token");
        let token = token_field(&object(r#"{"push_token": "t", "fcm_token": "t"}"#)).unwrap();
        assert_eq!(token.name, "fcm_token");
    }

    #[test]
    fn rejects_conflicting_token_names() {
        let error = token_field(&object(r#"{"fcm_token": "a", "push_token": "b"}"#)).unwrap_err();
        assert_eq!(field_of(error).unwrap(), "push_token");
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let body = object(r#"{"user_id": 5}"#);
        assert_eq!(field_of(required_string(&body, "user_id").unwrap_err()).unwrap(), "user_id");
        assert_eq!(field_of(required_string(&body, "platform").unwrap_err()).unwrap(), "platform");
        assert_eq!(optional_string(&object(r#"{"provider": null}"#), "provider").unwrap(), None);
    }

    #[test]
    fn parse_registration_names_token_field_as_sent() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let body = br#"{"user_id": "u1", "push_token": "not hex", "platform": "ios"}"#;
        let error = parse_registration(&headers, Ok(Bytes::from_static(body))).unwrap_err();
        assert_eq!(field_of(error).unwrap(), "push_token");

        let body = br#"{"user_id": "u1", "fcm_token": "t-1", "platform": "Android"}"#;
        let registration = parse_registration(&headers, Ok(Bytes::from_static(body))).unwrap();
        assert_eq!(registration.user_id.as_str(), "u1");
        assert_eq!(registration.token.as_str(), "t-1");
    }

    #[test]
    fn content_type_must_be_json() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            json_object(&headers, Ok(Bytes::from_static(b"{}"))),
            Err(AppError::UnsupportedMediaType)
        ));
        headers.insert(header::CONTENT_TYPE, "Application/JSON; charset=utf-8".parse().unwrap());
        assert!(json_object(&headers, Ok(Bytes::from_static(b"{}"))).is_ok());
        assert!(field_of(json_object(&headers, Ok(Bytes::from_static(b"[1]"))).unwrap_err()).is_none());
    }

    #[test]
    fn content_type_with_non_ascii_is_415() {
        // U+0085 is whitespace to str::trim, but a header value with bytes
        // outside visible ASCII is not read as text at all.
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_bytes(b"application/json\xc2\x85").unwrap());
        assert!(matches!(
            json_object(&headers, Ok(Bytes::from_static(b"{}"))),
            Err(AppError::UnsupportedMediaType)
        ));
    }
}
