//! `GET /openapi.json` from the real binary.

use serde_json::Value;
use zego_push_e2e::{start_server, ServerOptions};

/// The method and path of every route the server serves.
const ROUTES: [(&str, &str); 11] = [
    ("post", "/api/register-push-token"),
    ("post", "/api/unregister-push-token"),
    ("delete", "/api/users/{user_id}/push-tokens"),
    ("get", "/api/users/{user_id}/devices"),
    ("post", "/api/resync"),
    ("post", "/api/zego-token"),
    ("post", "/api/zego/callback"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

#[tokio::test]
async fn openapi_document_served_by_binary() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path(), &ServerOptions::default());

    let response = reqwest::get(server.url("/openapi.json")).await.expect("the server answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers().get("content-type").and_then(|value| value.to_str().ok());
    assert_eq!(content_type, Some("application/json"));
    assert!(response.headers().contains_key("x-request-id"), "{:?}", response.headers());
    let document: Value = response.json().await.expect("the document is JSON");

    let version = document["openapi"].as_str().expect("the document has an openapi version");
    assert!(version.starts_with("3."), "openapi is {version}");
    assert_eq!(document["info"]["title"], "zego-push");
    // This crate and zego-push-server both take the workspace version.
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));

    let paths = document["paths"].as_object().expect("the document has paths");
    for (method, path) in ROUTES {
        assert!(paths.get(path).is_some_and(|item| item.get(method).is_some()), "{method} {path} is missing");
    }
    assert_eq!(paths.len(), ROUTES.len(), "unexpected paths: {:?}", paths.keys().collect::<Vec<_>>());
}
