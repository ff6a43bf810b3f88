//! The real server binary on the test PostgreSQL over TLS. scripts/postgres.sh
//! gives the test server a self-signed certificate.

use serde_json::Value;
use sqlx::Connection;
use zego_push_e2e::{postgres_base_url, register, start_mock, start_server, ServerOptions};

/// The application name the server's connections carry in this test.
const APPLICATION_NAME: &str = "zego-push-tls-test";

#[tokio::test]
async fn server_connects_with_sslmode_require() {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let base_url = postgres_base_url();
    let separator = if base_url.contains('?') { '&' } else { '?' };
    let database_url = format!("{base_url}{separator}sslmode=require&application_name={APPLICATION_NAME}");
    let server = start_server(
        dir.path(),
        &ServerOptions { database_url: Some(database_url), ..ServerOptions::live(&mock) },
    );

    let body = format!(
        r#"{{"user_id": "tls-user", "fcm_token": "tls-token-{}", "platform": "android"}}"#,
        std::process::id()
    );
    let (status, reply): (u16, Value) = register(&server, &body).await;
    assert_eq!(status, 200, "{reply}");

    let mut admin =
        sqlx::PgConnection::connect(&base_url).await.expect("the test PostgreSQL accepts connections");
    let sessions: Vec<(bool,)> = sqlx::query_as(
        "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid WHERE a.application_name = $1",
    )
    .bind(APPLICATION_NAME)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!sessions.is_empty(), "the server holds no connection named {APPLICATION_NAME}");
    assert!(sessions.iter().all(|(ssl,)| *ssl), "a server connection is not encrypted: {sessions:?}");
    admin.close().await.unwrap();
}
