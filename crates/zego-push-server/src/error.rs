//! The server's error type, which alone decides status codes and error bodies.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// A request that did not end in a registration.
#[derive(Debug)]
pub enum AppError {
    /// 400: the body is not JSON or a field breaks a rule.
    BadRequest { code: &'static str, message: String, field: Option<String> },
    /// 413: the body is larger than the limit.
    PayloadTooLarge { limit: usize },
    /// 415: the body is not declared as JSON.
    UnsupportedMediaType,
    /// 404: no such route.
    NotFound,
    /// 502: ZEGO replied with a permanent non-zero code; `reply` is ZEGO's reply.
    ZegoRejected { message: String, reply: Value },
    /// 502: ZEGO's reply could not be read.
    ZegoBadReply { message: String },
    /// 503: ZEGO stayed unreachable or busy; the registration is stored as pending.
    ZegoUnavailable { message: String },
    /// 503: the store failed.
    StoreUnavailable,
    /// 500: a fault of this server.
    Internal,
}

impl AppError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            AppError::BadRequest { code, message, .. } => (StatusCode::BAD_REQUEST, code, message.clone()),
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
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such endpoint".into()),
            AppError::ZegoRejected { message, .. } => {
                (StatusCode::BAD_GATEWAY, "zego_rejected", message.clone())
            }
            AppError::ZegoBadReply { message } => {
                (StatusCode::BAD_GATEWAY, "zego_bad_reply", message.clone())
            }
            AppError::ZegoUnavailable { message } => {
                (StatusCode::SERVICE_UNAVAILABLE, "zego_unavailable", message.clone())
            }
            AppError::StoreUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the registry database is unavailable; try again later".into(),
            ),
            AppError::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error".into())
            }
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let mut error = json!({"code": code, "message": message});
        if let AppError::BadRequest { field: Some(field), .. } = &self {
            error["field"] = Value::String(field.clone());
        }
        let mut body = json!({"success": false, "error": error});
        if let AppError::ZegoRejected { reply, .. } = self {
            body["data"] = reply;
        }
        (status, Json(body)).into_response()
    }
}
