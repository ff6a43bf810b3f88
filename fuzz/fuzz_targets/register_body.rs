//! Fuzzes the body parser of `POST /api/register-push-token`, the function
//! the server's handler calls, with arbitrary bytes as the body.
//!
//! Beyond "does not panic", it checks that an accepted body re-validates to
//! the same registration and matches the JSON it came from, and that a
//! rejected body gets a 400 whose error names a field of the request.
#![no_main]

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use zego_core::{DeviceId, Platform, PushProvider, PushToken, Registration};
use zego_push_server::error::AppError;
use zego_push_server::{parse_registration, BODY_LIMIT};

/// The fields a 400 may name: every field the body has.
const FIELDS: [&str; 6] = ["user_id", "fcm_token", "push_token", "platform", "provider", "device_id"];

fuzz_target!(|data: &[u8]| {
    // The server rejects a larger body with 413 before the parser runs.
    if data.len() > BODY_LIMIT {
        return;
    }

    check_body(data);
    check_content_type(data);
});

fn headers_with_content_type(value: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, value);
    headers
}

fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Registration, AppError> {
    parse_registration(headers, Ok(Bytes::copy_from_slice(body)))
}

/// Parses `data` as a JSON body and checks the outcome.
fn check_body(data: &[u8]) {
    let headers = headers_with_content_type(HeaderValue::from_static("application/json"));
    match parse(&headers, data) {
        Ok(registration) => {
            check_matches_json(data, &registration);
            check_revalidates(&headers, &registration);
        }
        Err(error) => check_bad_request(error),
    }
}

/// Checks an accepted registration against the JSON object it came from.
fn check_matches_json(data: &[u8], registration: &Registration) {
    let object: Map<String, Value> = serde_json::from_slice(data).expect("an accepted body is a JSON object");
    let text = |name: &str| object.get(name).and_then(Value::as_str);

    assert_eq!(text("user_id"), Some(registration.user_id.as_str()));

    let platform = text("platform").expect("an accepted body has a platform");
    assert_eq!(Platform::parse(platform), Ok(registration.platform));

    let provider = match text("provider") {
        Some(raw) => PushProvider::parse(raw).expect("an accepted provider parses"),
        None => registration.platform.default_provider(),
    };
    assert_eq!(registration.provider(), provider);

    let raw_token = text("fcm_token").or_else(|| text("push_token")).expect("an accepted body has a token");
    assert_eq!(PushToken::parse(raw_token, provider).as_ref(), Ok(&registration.token));
    if provider == PushProvider::Fcm {
        assert_eq!(registration.token.as_str(), raw_token, "an FCM token is kept as sent");
    }

    assert_eq!(text("device_id"), registration.device_id.as_ref().map(DeviceId::as_str));
}

/// Checks that the registration's own values parse again to the same
/// registration, directly and as a new request body.
fn check_revalidates(headers: &HeaderMap, registration: &Registration) {
    let device_id = registration.device_id.as_ref().map(DeviceId::as_str);
    let again = Registration::parse(
        registration.user_id.as_str(),
        registration.token.as_str(),
        registration.platform.as_str(),
        Some(registration.provider().as_str()),
        device_id,
    );
    assert_eq!(again.as_ref(), Ok(registration));

    let body = json!({
        "user_id": registration.user_id.as_str(),
        "push_token": registration.token.as_str(),
        "platform": registration.platform.as_str(),
        "provider": registration.provider().as_str(),
        "device_id": device_id,
    });
    let again = parse(headers, body.to_string().as_bytes()).expect("a canonical body parses");
    assert_eq!(&again, registration);
}

/// Checks that a rejected JSON body gets a 400 with a known code, and that
/// every code but `malformed_json` names a field of the request.
fn check_bad_request(error: AppError) {
    let AppError::BadRequest { code, message, field } = &error else {
        panic!("a JSON body was rejected with something other than a 400: {error:?}");
    };
    assert!(!message.is_empty(), "{error:?}");
    match *code {
        "malformed_json" => assert_eq!(field, &None, "{error:?}"),
        "missing_field" | "invalid_field" => {
            let field = field.as_deref().expect("a field error names its field");
            assert!(FIELDS.contains(&field), "unknown field in {error:?}");
            assert!(message.contains(field), "the message does not name the field: {error:?}");
        }
        other => panic!("unexpected error code {other:?} in {error:?}"),
    }
    assert_eq!(error.into_response().status(), StatusCode::BAD_REQUEST);
}

/// Sends `data` as the Content-Type of an empty JSON object. The request gets
/// 400 for a missing user_id when the value is taken as JSON, and 415 when not.
fn check_content_type(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let headers = headers_with_content_type(value);
    let error = parse(&headers, b"{}").expect_err("an empty object has no user_id");
    let status = error.into_response().status();

    let lowercase = String::from_utf8_lossy(data).to_ascii_lowercase();
    if status == StatusCode::BAD_REQUEST {
        assert!(lowercase.contains("application/json"), "{lowercase:?} was taken as JSON");
    } else {
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        // Only the exact media type is certain here. A value with bytes
        // outside visible ASCII, such as U+0085 after it, is 415 too.
        assert_ne!(lowercase, "application/json", "{lowercase:?} was not taken as JSON");
    }
}
