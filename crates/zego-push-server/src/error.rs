//! The server's error type, which alone decides status codes and error bodies.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::{AuthError, Forbidden};

/// A request that did not end in a registration.
#[derive(Debug)]
pub enum AppError {
    /// 400: the body is not JSON or a field breaks a rule.
    BadRequest { code: &'static str, message: String, field: Option<String> },
    /// 401: credentials are missing or invalid.
    Unauthorized(AuthError),
    /// 403: the credentials do not allow acting for this user.
    Forbidden { user_id: String },
    /// 403: the operation needs an API key.
    ApiKeyRequired,
    /// 404: the user has no such token.
    TokenNotFound { field: &'static str },
    /// 404: no such route.
    NotFound,
    /// 405: the route exists, but not for this method.
    MethodNotAllowed,
    /// 408: the request took longer than the request timeout.
    RequestTimeout { timeout_ms: u64 },
    /// 413: the body is larger than the limit.
    PayloadTooLarge { limit: usize },
    /// 415: the body is not declared as JSON.
    UnsupportedMediaType,
    /// 429: a rate limit was exceeded; retry after this many seconds.
    RateLimited { scope: &'static str, retry_after: u64 },
    /// 431: the headers are larger than the limit.
    HeadersTooLarge { limit: usize },
    /// 502: ZEGO replied with a permanent non-zero code; `reply` is ZEGO's reply.
    ZegoRejected { message: String, reply: Value },
    /// 503: the store failed.
    StoreUnavailable,
    /// 500: this server is misconfigured.
    Misconfigured { message: String },
    /// 404: no CallbackSecret is configured.
    CallbacksDisabled,
    /// 401: a callback's signature is missing or does not match.
    CallbackSignature { message: String },
    /// 401: a callback's timestamp is missing or outside the freshness window.
    CallbackStale { message: String },
    /// 409: a callback with this timestamp and nonce was accepted before.
    CallbackReplayed,
}

impl AppError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            AppError::BadRequest { code, message, .. } => (StatusCode::BAD_REQUEST, code, message.clone()),
            AppError::Unauthorized(_) | AppError::Forbidden { .. } => {
                unreachable!("authentication errors render themselves")
            }
            AppError::ApiKeyRequired => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "this operation needs an API key (Authorization: Bearer <key>); a user's token is not enough"
                    .into(),
            ),
            AppError::TokenNotFound { field } => (
                StatusCode::NOT_FOUND,
                "token_not_found",
                format!(
                    "no active registration of this {field} for this user_id: it was never registered for this user or now belongs to another user, so there is nothing to unregister"
                ),
            ),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such endpoint".into()),
            AppError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not accept this HTTP method; see the Allow header".into(),
            ),
            AppError::RequestTimeout { timeout_ms } => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request took longer than {timeout_ms} ms; a registration may already be stored, and the outbox sends it, so sending it again is safe"
                ),
            ),
            AppError::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the request body is larger than {limit} bytes"),
            ),
            AppError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be JSON with the header Content-Type: application/json".into(),
            ),
            AppError::RateLimited { scope, retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                if *scope == "resync" {
                    format!("a resync started less than the minimum interval ago; retry after {retry_after} s")
                } else {
                    format!("too many requests for this {scope}; retry after {retry_after} s")
                },
            ),
            AppError::HeadersTooLarge { limit } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                format!("the request headers are larger than {limit} bytes"),
            ),
            AppError::ZegoRejected { message, .. } => {
                (StatusCode::BAD_GATEWAY, "zego_rejected", message.clone())
            }
            AppError::StoreUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the registry database is unavailable; try again later".into(),
            ),
            AppError::Misconfigured { message } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "server_misconfigured", message.clone())
            }
            AppError::CallbacksDisabled => (
                StatusCode::NOT_FOUND,
                "callbacks_disabled",
                "this server has no CallbackSecret, so it does not accept ZEGO callbacks; set --callback-secret-file or ZEGO_CALLBACK_SECRET".into(),
            ),
            AppError::CallbackSignature { message } => {
                (StatusCode::UNAUTHORIZED, "invalid_callback_signature", message.clone())
            }
            AppError::CallbackStale { message } => {
                (StatusCode::UNAUTHORIZED, "stale_callback", message.clone())
            }
            AppError::CallbackReplayed => (
                StatusCode::CONFLICT,
                "replayed_callback",
                "a callback with this timestamp and nonce was accepted before; it is not processed again".into(),
            ),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Unauthorized(error) => return error.into_response(),
            AppError::Forbidden { user_id } => return Forbidden { user_id }.into_response(),
            _ => {}
        }
        let (status, code, message) = self.parts();
        let mut error = json!({"code": code, "message": message});
        if let AppError::BadRequest { field: Some(field), .. } = &self {
            error["field"] = Value::String(field.clone());
        }
        if let AppError::TokenNotFound { field } = &self {
            error["field"] = Value::String((*field).to_owned());
        }
        let mut body = json!({"success": false, "error": error});
        let challenge = matches!(self, AppError::CallbackSignature { .. } | AppError::CallbackStale { .. });
        let retry_after = match &self {
            AppError::RateLimited { retry_after, .. } => Some(*retry_after),
            AppError::StoreUnavailable => Some(5),
            _ => None,
        };
        if let AppError::ZegoRejected { reply, .. } = self {
            body["data"] = reply;
        }
        let mut response = (status, Json(body)).into_response();
        if challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("ZegoCallbackSignature"));
        }
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<AuthError> for AppError {
    fn from(error: AuthError) -> Self {
        AppError::Unauthorized(error)
    }
}
