//! Middleware around every route: request ids, header limits, the
//! per-address rate limit, metrics, and the request's log span.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::AppError;
use crate::AppState;

/// The header that carries a request's id, in requests and responses.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The largest accepted total size of a request's header names and values.
pub const HEADER_LIMIT: usize = 16 * 1024;

/// Returns the incoming request id when it is short and plain, or a new one.
fn request_id(headers: &HeaderMap) -> String {
    let incoming = headers.get(&REQUEST_ID).and_then(|value| value.to_str().ok());
    match incoming {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) =>
        {
            id.to_owned()
        }
        _ => hex::encode(rand::random::<[u8; 8]>()),
    }
}

fn header_bytes(headers: &HeaderMap) -> usize {
    headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum()
}

/// Returns the client's address: the socket peer, or behind a trusted
/// reverse proxy the last address the proxy added to `X-Forwarded-For`.
pub fn client_address(request: &Request, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .next_back();
        if forwarded.is_some() {
            return forwarded;
        }
    }
    request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip())
}

/// Wraps every request: assigns its id, checks limits, logs and counts it.
pub async fn request_context(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let id = request_id(request.headers());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let span = tracing::info_span!("request", id = %id, method = %request.method(), route = %route);

    let response = async {
        if header_bytes(request.headers()) > HEADER_LIMIT {
            return AppError::HeadersTooLarge { limit: HEADER_LIMIT }.into_response();
        }
        if route.starts_with("/api/") && route != crate::zego_callback::ROUTE {
            if let Some(address) = client_address(&request, state.http.trust_forwarded_for) {
                if let Err(retry) = state.limits.check_address(address) {
                    state.registrar.metrics.rate_limited("address");
                    tracing::warn!(%address, "rate limit per address exceeded");
                    return AppError::RateLimited { scope: "address", retry_after: retry.seconds() }
                        .into_response();
                }
            }
        }
        let timeout = state.http.request_timeout;
        let response = if let Ok(response) = tokio::time::timeout(timeout, next.run(request)).await {
            response
        } else {
            tracing::warn!(?timeout, "request timed out");
            AppError::RequestTimeout { timeout_ms: timeout.as_millis() as u64 }.into_response()
        };
        tracing::debug!(status = response.status().as_u16(), "request finished");
        response
    }
    .instrument(span)
    .await;

    state.registrar.metrics.http_request(&route, response.status().as_u16());
    let mut response = response;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_plain_incoming_request_id() {
        let mut headers = HeaderMap::new();
        headers.insert(&REQUEST_ID, HeaderValue::from_static("abc-123_x.y"));
        assert_eq!(request_id(&headers), "abc-123_x.y");
    }

    #[test]
    fn replaces_unsafe_request_id() {
        let mut headers = HeaderMap::new();
        headers.insert(&REQUEST_ID, HeaderValue::from_static("evil\" id"));
        let id = request_id(&headers);
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn forwarded_for_uses_last_address_when_trusted() {
        let request = Request::builder()
            .header("x-forwarded-for", "203.0.113.9, 127.0.0.5")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(client_address(&request, true), Some("127.0.0.5".parse().unwrap()));
        assert_eq!(client_address(&request, false), None);
    }
}
