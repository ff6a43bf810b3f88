//! `POST /api/zego/callback`: ZEGO's server callbacks, verified and recorded.
//!
//! The callback's `signature` is the SHA-1 of the sorted CallbackSecret,
//! `timestamp` and `nonce`; the body itself is not signed. So a callback is
//! accepted only once per timestamp and nonce, and only within the freshness
//! window, or a captured one could be sent again with another body.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Map, Value};
use zego_core::callback::{verify_callback, CallbackError};
use zego_core::UserId;

use crate::body::{bad_request, json_object};
use crate::error::AppError;
use crate::store::{CallEventKind, CallbackEvent, CallbackRecord, PresenceState, Store};
use crate::AppState;

/// The route, which the per-address rate limit leaves alone: ZEGO sends
/// every callback from a few addresses.
pub const ROUTE: &str = "/api/zego/callback";

/// Reads a field ZEGO sends as a string or a number, as text.
fn text_field(object: &Map<String, Value>, name: &str) -> Option<String> {
    match object.get(name)? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Reads a field ZEGO sends as a number or a numeric string.
fn integer_field(object: &Map<String, Value>, name: &str) -> Option<i64> {
    match object.get(name)? {
        Value::Number(number) => number.as_i64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Reads a ZEGO time as Unix milliseconds. Values of 10^11 and more are taken
/// as milliseconds already, smaller ones as seconds.
fn time_field(object: &Map<String, Value>, name: &str) -> Option<i64> {
    let value = integer_field(object, name).filter(|value| *value > 0)?;
    Some(if value >= 100_000_000_000 { value } else { value.saturating_mul(1000) })
}

fn user_id_field(object: &Map<String, Value>, name: &'static str) -> Result<String, AppError> {
    let raw = object.get(name).and_then(Value::as_str).ok_or_else(|| {
        bad_request("missing_field", format!("{name} is required for this event"), Some(name))
    })?;
    UserId::parse(raw)
        .map(|user| user.as_str().to_owned())
        .map_err(|error| bad_request("invalid_field", error.to_string(), Some(name)))
}

/// Builds the event to store from a verified callback body.
///
/// NOTE: ZEGO's callback pages say the data needs URL-decoding. String values
/// are taken as sent, because no real ZEGO callback was available to check.
fn event_of(object: &Map<String, Value>, event: &str, timestamp_ms: i64) -> Result<CallbackEvent, AppError> {
    let call_kind = match event {
        "user_action" => {
            let user_id = user_id_field(object, "user_id")?;
            let action = integer_field(object, "action").ok_or_else(|| {
                bad_request("missing_field", "action is required for user_action".into(), Some("action"))
            })?;
            let (state, time_name) = match action {
                0 => (PresenceState::Online, "login_time"),
                1 => (PresenceState::LoggedOut, "logout_time"),
                2 => (PresenceState::Offline, "offline_time"),
                other => {
                    return Err(bad_request(
                        "invalid_field",
                        format!("action is {other}; ZEGO sends 0 (online), 1 (logout) or 2 (offline)"),
                        Some("action"),
                    ))
                }
            };
            return Ok(CallbackEvent::Presence {
                user_id,
                state,
                changed_at: time_field(object, time_name).unwrap_or(timestamp_ms),
                os: text_field(object, "os"),
                session_id: text_field(object, "session_id"),
            });
        }
        "call_create" => CallEventKind::Created,
        "call_cancel" => CallEventKind::Cancelled,
        "call_timeout" => CallEventKind::TimedOut,
        _ => return Ok(CallbackEvent::Other),
    };
    let call_id =
        text_field(object, "call_id").filter(|id| !id.is_empty() && id.len() <= 128).ok_or_else(|| {
            bad_request("missing_field", format!("call_id is required for {event}"), Some("call_id"))
        })?;
    let user_ids = match object.get("user_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|id| id.as_str().and_then(|id| UserId::parse(id).ok()).map(|id| id.as_str().to_owned()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad_request("invalid_field", "user_ids must hold valid user ids".into(), Some("user_ids"))
            })?,
        Some(_) => {
            return Err(bad_request("invalid_field", "user_ids must be a list".into(), Some("user_ids")))
        }
    };
    Ok(CallbackEvent::Call {
        kind: call_kind,
        call_id,
        caller: text_field(object, "caller"),
        user_ids,
        reason: text_field(object, "reason"),
        occurred_at: time_field(object, "create_time").unwrap_or(timestamp_ms),
    })
}

/// Logs each called user that has no push token ZEGO confirmed: on a killed
/// app, that user's phone cannot ring.
async fn warn_unreachable_callees(
    store: Store,
    metrics: crate::metrics::Metrics,
    call_id: String,
    users: Vec<String>,
) {
    for user_id in users {
        match store.registered_count(&user_id).await {
            Ok(0) => {
                metrics.callee_without_token();
                tracing::warn!(
                    call_id,
                    user_id,
                    "a call invitation went to a user without a registered push token; on a killed app it cannot ring"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot check the called users' push tokens"),
        }
    }
}

#[utoipa::path(
    post,
    path = "/api/zego/callback",
    tag = "callbacks",
    summary = "Receive ZEGO's server callbacks",
    description = "The URL to configure as the callback address in the ZEGO console. Needs the CallbackSecret \
        (--callback-secret-file or ZEGO_CALLBACK_SECRET); without it the endpoint answers HTTP 404. The signature, \
        timestamp and nonce are checked first: a wrong signature gets HTTP 401, a timestamp outside the freshness \
        window (300 s by default) HTTP 401, and a timestamp and nonce accepted before HTTP 409. Then the event is \
        stored: `user_action` (login, logout, offline) updates the user's state, shown in the device list, and a \
        logout holds the user's pending registrations in the outbox until the user logs in or registers again; \
        `call_create`, `call_cancel` and `call_timeout` are recorded, and a call to a user without a registered \
        push token is logged. Other events are acknowledged and not stored. No bearer credentials are needed, and \
        the per-address rate limit does not apply.",
    request_body(content = crate::openapi::CallbackRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The callback is verified; `status` is `recorded`, or `ignored` for an event this server does not use or another AppId",
            body = crate::openapi::CallbackReply,
            example = json!({"success": true, "status": "recorded", "event": "user_action"})),
        (status = 400, description = "The body is not a JSON object, or a field of a known event is missing or invalid",
            body = crate::openapi::ErrorReply),
        (status = 401, description = "The signature is missing or does not match (`invalid_callback_signature`), or the timestamp is missing, not a number or outside the freshness window (`stale_callback`)",
            body = crate::openapi::ErrorReply,
            headers(("WWW-Authenticate" = String, description = "Always `ZegoCallbackSignature`: the callback authenticates with ZEGO's signature, not a bearer credential"))),
        (status = 404, description = "No CallbackSecret is configured (`callbacks_disabled`)", body = crate::openapi::ErrorReply),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 409, description = "A callback with this timestamp and nonce was accepted before (`replayed_callback`); nothing changed",
            body = crate::openapi::ErrorReply),
        (status = 413, response = crate::openapi::PayloadTooLarge),
        (status = 415, response = crate::openapi::UnsupportedMediaType),
        (status = 431, response = crate::openapi::HeadersTooLarge),
        (status = 503, response = crate::openapi::StoreUnavailable),
    )
)]
pub(crate) async fn receive_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let metrics = &state.registrar.metrics;
    let Some(settings) = &state.http.callbacks else {
        return Err(AppError::CallbacksDisabled);
    };
    let object = json_object(&headers, body)?;
    let event = object.get("event").and_then(Value::as_str).unwrap_or("").to_owned();
    let label = crate::metrics::callback_event_label(&event);

    // Verify before anything else is read.
    let timestamp = text_field(&object, "timestamp").unwrap_or_default();
    let nonce = text_field(&object, "nonce").unwrap_or_default();
    let signature = object.get("signature").and_then(Value::as_str).unwrap_or_default();
    if signature.is_empty() {
        metrics.callback(label, "rejected");
        tracing::warn!(event = label, "callback rejected: it has no signature");
        return Err(AppError::CallbackSignature {
            message: "the callback has no signature field; ZEGO signs every callback it sends".into(),
        });
    }
    let now = crate::store::now_millis() / 1000;
    if let Err(error) =
        verify_callback(&settings.secret.0, &timestamp, &nonce, signature, now, settings.window_seconds)
    {
        metrics.callback(label, "rejected");
        tracing::warn!(event = label, %error, "callback rejected");
        return Err(match error {
            CallbackError::BadSignature => AppError::CallbackSignature { message: error.to_string() },
            CallbackError::Stale { .. } | CallbackError::BadTimestamp(_) => {
                AppError::CallbackStale { message: error.to_string() }
            }
        });
    }
    let timestamp: i64 = timestamp.trim().parse().expect("verify_callback checked the timestamp");

    let app_id = state.registrar.zego.signer().app_id().get();
    if let Some(sent) = integer_field(&object, "appid") {
        if sent != i64::from(app_id) {
            metrics.callback(label, "ignored");
            tracing::warn!(event = label, appid = sent, "callback for another AppId ignored");
            return Ok(Json(json!({"success": true, "status": "ignored", "event": event,
                "reason": "the callback is for another AppId"})));
        }
    }

    let stored_event = event_of(&object, &event, timestamp.saturating_mul(1000)).inspect_err(|_| {
        metrics.callback(label, "invalid");
        tracing::warn!(event = label, "signed callback rejected: a field of its event is missing or invalid");
    })?;
    let ignored = stored_event == CallbackEvent::Other;
    let window = i64::try_from(settings.window_seconds).unwrap_or(i64::MAX / 4);
    let record = state
        .registrar
        .store
        .record_callback(timestamp, &nonce, stored_event.clone(), window)
        .await
        .map_err(|error| {
            tracing::error!(%error, "registry store failed");
            AppError::StoreUnavailable
        })?;
    if record == CallbackRecord::Replayed {
        metrics.callback(label, "replayed");
        tracing::warn!(event = label, "callback rejected: its timestamp and nonce were accepted before");
        return Err(AppError::CallbackReplayed);
    }

    match &stored_event {
        CallbackEvent::Presence { user_id, state: presence, .. } => {
            tracing::info!(user_id, state = presence.as_str(), "user state recorded");
            if *presence == PresenceState::Online {
                // Registrations held by an earlier logout are due again.
                state.registrar.wake.notify_one();
            }
        }
        CallbackEvent::Call { kind, call_id, user_ids, .. } => {
            tracing::info!(call_id, event = kind.as_str(), callees = user_ids.len(), "call event recorded");
            if *kind == CallEventKind::Created {
                tokio::spawn(warn_unreachable_callees(
                    state.registrar.store.clone(),
                    metrics.clone(),
                    call_id.clone(),
                    user_ids.clone(),
                ));
            }
        }
        CallbackEvent::Other => {
            tracing::debug!(event = label, "callback acknowledged; its event is not used");
        }
    }
    let status = if ignored { "ignored" } else { "recorded" };
    metrics.callback(label, status);
    Ok(Json(json!({"success": true, "status": status, "event": event})))
}
