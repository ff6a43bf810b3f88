//! The ZEGO API side of the mock: checks a request's signature as ZEGO
//! does, then serves PushRegister.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use zego_core::codes;
use zego_core::sign::{canonical_string, hmac_sha256_hex, md5_signature, ParamValue};
use zego_core::{AppId, ServerSecret};

use crate::state::{MockState, RecordedCall, RecordedRegistration};
use crate::SharedState;

/// The only action the mock serves.
pub const PUSH_REGISTER: &str = "PushRegister";

/// A rejected request: the ZEGO code and message to return, and a short
/// outcome name for the call record.
struct Rejection {
    code: i64,
    message: String,
    outcome: &'static str,
}

fn reject(code: i64, outcome: &'static str, message: impl Into<String>) -> Rejection {
    Rejection { code, message: message.into(), outcome }
}

/// A request whose signature checked out.
struct Verified {
    app_id: AppId,
    scheme: &'static str,
    timestamp: i64,
    nonce: String,
    /// The business parameters: the JSON body.
    params: serde_json::Map<String, Value>,
}

pub(crate) async fn handle(
    State(state): State<SharedState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let action = query.get("Action").cloned().unwrap_or_default();

    if state.take_http_500(&action) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "zego-mock: injected HTTP 500").into_response();
    }
    let request_id = new_request_id();
    if let Some((code, message)) = state.take_code_fault() {
        state.record_call(RecordedCall { action, code: Some(code), outcome: "injected_code".into() });
        return reply(code, &message, &request_id);
    }

    let result = check_action(&action)
        .and_then(|()| verify(&state, &query, &headers, &body))
        .and_then(|verified| push_register(&state, verified, &request_id));
    match result {
        Ok(()) => {
            state.record_call(RecordedCall { action, code: Some(codes::SUCCESS), outcome: "ok".into() });
            reply(codes::SUCCESS, "success", &request_id)
        }
        Err(rejection) => {
            tracing::debug!(code = rejection.code, outcome = rejection.outcome, "request rejected");
            state.record_call(RecordedCall {
                action,
                code: Some(rejection.code),
                outcome: rejection.outcome.into(),
            });
            reply(rejection.code, &rejection.message, &request_id)
        }
    }
}

fn reply(code: i64, message: &str, request_id: &str) -> Response {
    Json(json!({"Code": code, "Message": message, "RequestId": request_id})).into_response()
}

fn new_request_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

fn check_action(action: &str) -> Result<(), Rejection> {
    if action.is_empty() {
        return Err(reject(codes::ACTION_EMPTY, "action_empty", "Action is empty"));
    }
    if action != PUSH_REGISTER {
        return Err(reject(
            codes::ACTION_UNSUPPORTED,
            "action_unsupported",
            format!("Action {action} is not supported"),
        ));
    }
    Ok(())
}

/// Checks the request's signature under whichever scheme it uses:
/// Signature 2.0 when the query carries `SignatureVersion` or `Signature`,
/// the guide's scheme otherwise.
fn verify(
    state: &MockState,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, Rejection> {
    let params = parse_body(body)?;
    if query.contains_key("SignatureVersion") || query.contains_key("Signature") {
        verify_v2(state, query, params)
    } else {
        verify_guide(state, headers, params)
    }
}

fn parse_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, Rejection> {
    if body.is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(reject(codes::BAD_PARAMETER, "bad_body", "body is not a JSON object")),
        Err(error) => Err(reject(codes::BAD_PARAMETER, "bad_body", format!("body is not JSON: {error}"))),
    }
}

fn lookup_app<'a>(
    state: &'a MockState,
    raw_app_id: Option<&str>,
) -> Result<(AppId, &'a ServerSecret), Rejection> {
    let raw = raw_app_id.unwrap_or_default();
    let app_id: AppId = raw
        .parse()
        .map_err(|_| reject(100_000_001, "app_id_format", format!("AppId {raw:?} format error")))?;
    let secret = state
        .config
        .apps
        .get(&app_id)
        .ok_or_else(|| reject(codes::APP_ID_UNKNOWN, "app_id_unknown", "ServerSecret lookup failed"))?;
    Ok((app_id, secret))
}

fn check_timestamp(state: &MockState, timestamp: i64) -> Result<(), Rejection> {
    let now = state.config.clock.unix_seconds();
    let skew = now.abs_diff(timestamp);
    if skew > state.config.max_skew.as_secs() {
        return Err(reject(
            codes::SIGNATURE_EXPIRED,
            "signature_expired",
            format!("signature expired: timestamp {timestamp} is {skew} s from server time {now}"),
        ));
    }
    Ok(())
}

fn signatures_match(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.to_ascii_lowercase().as_bytes()).into()
}

fn verify_v2(
    state: &MockState,
    query: &HashMap<String, String>,
    params: serde_json::Map<String, Value>,
) -> Result<Verified, Rejection> {
    let (app_id, secret) = lookup_app(state, query.get("AppId").map(String::as_str))?;
    if query.get("SignatureVersion").map(String::as_str) != Some("2.0") {
        return Err(reject(100_000_014, "signature_version", "unsupported SignatureVersion"));
    }
    let timestamp = query.get("Timestamp").and_then(|raw| raw.parse::<i64>().ok()).ok_or_else(|| {
        reject(codes::BAD_PARAMETER, "bad_timestamp", "Timestamp is missing or not an integer")
    })?;
    check_timestamp(state, timestamp)?;
    let nonce = query.get("SignatureNonce").cloned().unwrap_or_default();
    let expected = md5_signature(app_id, &nonce, secret, timestamp);
    let given = query.get("Signature").map(String::as_str).unwrap_or_default();
    if !signatures_match(&expected, given) {
        return Err(reject(codes::SIGNATURE_ERROR, "signature_error", "signature error"));
    }
    Ok(Verified { app_id, scheme: "v2", timestamp, nonce, params })
}

fn verify_guide(
    state: &MockState,
    headers: &HeaderMap,
    params: serde_json::Map<String, Value>,
) -> Result<Verified, Rejection> {
    let header_app_id = headers.get("AppId").and_then(|value| value.to_str().ok());
    let body_app_id = params.get("AppId").and_then(value_text);
    let (app_id, secret) = lookup_app(state, header_app_id.or(body_app_id.as_deref()))?;
    if let (Some(header), Some(body)) = (header_app_id, body_app_id.as_deref()) {
        if header.trim() != body.trim() {
            return Err(reject(codes::BAD_PARAMETER, "app_id_mismatch", "AppId header and body differ"));
        }
    }

    let timestamp =
        params.get("Timestamp").and_then(|value| value_text(value)?.parse::<i64>().ok()).ok_or_else(
            || reject(codes::BAD_PARAMETER, "bad_timestamp", "Timestamp is missing or not an integer"),
        )?;
    check_timestamp(state, timestamp)?;

    let mut signed = Vec::with_capacity(params.len());
    for (key, value) in &params {
        let value = match value {
            Value::String(text) => ParamValue::Str(text.clone()),
            Value::Number(number) if number.is_i64() => ParamValue::Int(number.as_i64().unwrap_or_default()),
            _ => {
                return Err(reject(
                    codes::BAD_PARAMETER,
                    "bad_parameter",
                    format!("parameter {key} must be a string or an integer"),
                ))
            }
        };
        signed.push((key.as_str(), value));
    }
    let expected = hmac_sha256_hex(secret, &canonical_string(&signed));
    let given = headers.get("Signature").and_then(|value| value.to_str().ok()).unwrap_or_default();
    if !signatures_match(&expected, given) {
        return Err(reject(codes::SIGNATURE_ERROR, "signature_error", "signature error"));
    }

    let nonce = params.get("Nonce").and_then(value_text).unwrap_or_default();
    Ok(Verified { app_id, scheme: "guide", timestamp, nonce, params })
}

/// Returns a string or integer JSON value as text.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) if number.is_i64() => Some(number.to_string()),
        _ => None,
    }
}

fn push_register(state: &MockState, verified: Verified, request_id: &str) -> Result<(), Rejection> {
    let params = &verified.params;
    let user_id = params.get("UserId").and_then(Value::as_str).unwrap_or_default();
    if user_id.is_empty() {
        return Err(reject(codes::BAD_PARAMETER, "bad_parameter", "UserId is missing"));
    }
    if user_id.len() > 32 {
        return Err(reject(660_000_012, "user_id_too_long", "UserId is longer than 32 bytes"));
    }
    let push_id = params.get("PushID").and_then(Value::as_str).unwrap_or_default();
    if push_id.is_empty() {
        return Err(reject(codes::BAD_PARAMETER, "bad_parameter", "PushID is missing"));
    }
    let push_provider = params.get("PushProvider").and_then(Value::as_i64).unwrap_or_default();
    if !matches!(push_provider, 1 | 2) {
        return Err(reject(
            codes::BAD_PARAMETER,
            "bad_parameter",
            "PushProvider must be 1 (FCM) or 2 (APNs)",
        ));
    }

    state.record_registration(RecordedRegistration {
        app_id: verified.app_id.get(),
        user_id: user_id.to_owned(),
        push_id: push_id.to_owned(),
        push_provider,
        scheme: verified.scheme.to_owned(),
        timestamp: verified.timestamp,
        nonce: verified.nonce,
        request_id: request_id.to_owned(),
    });
    Ok(())
}
