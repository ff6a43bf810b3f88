//! The real server binary on the test PostgreSQL over TLS. scripts/postgres.sh
//! gives the test server a certificate for 127.0.0.1 signed by a test CA, whose
//! certificate `postgres_sslrootcert` returns.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use sqlx::Connection;
use zego_push_e2e::{
    postgres_base_url, postgres_sslrootcert, register, server_command, start_mock, start_server, wait_exit,
    ServerOptions,
};

/// How long a server that cannot connect to PostgreSQL may take to exit. The
/// server gives up on its first connection after 10 s.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Returns `base_url` with `params` appended to its query, percent-encoded.
fn url_with_params(base_url: &str, params: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse(base_url).expect("ZEGO_PUSH_TEST_POSTGRES_URL is a valid URL");
    url.query_pairs_mut().extend_pairs(params);
    url.into()
}

/// Starts the server on `database_url`, registers one token and checks that
/// every PostgreSQL session named `application_name` is encrypted.
async fn assert_server_connects_encrypted(database_url: String, application_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mock = start_mock(dir.path());
    let server = start_server(
        dir.path(),
        &ServerOptions { database_url: Some(database_url), ..ServerOptions::live(&mock) },
    );

    let body = format!(
        r#"{{"user_id": "tls-user", "fcm_token": "{application_name}-{}", "platform": "android"}}"#,
        std::process::id()
    );
    let (status, reply): (u16, Value) = register(&server, &body).await;
    assert_eq!(status, 200, "{reply}");

    let mut admin = sqlx::PgConnection::connect(&postgres_base_url())
        .await
        .expect("the test PostgreSQL accepts connections");
    let sessions: Vec<(bool,)> = sqlx::query_as(
        "SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid WHERE a.application_name = $1",
    )
    .bind(application_name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!sessions.is_empty(), "the server holds no connection named {application_name}");
    assert!(sessions.iter().all(|(ssl,)| *ssl), "a server connection is not encrypted: {sessions:?}");
    admin.close().await.unwrap();
}

/// Writes a new self-signed CA certificate to `path`. It has the subject name
/// of the test CA of scripts/postgres.sh but its own key, so a client rejects
/// it only when it checks the signature of the server's certificate.
fn write_unrelated_ca(path: &Path) {
    let key = rcgen::KeyPair::generate().expect("a key pair generates");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("empty names are valid");
    params.distinguished_name.push(rcgen::DnType::CommonName, "zego-push test CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let certificate = params.self_signed(&key).expect("the certificate signs");
    std::fs::write(path, certificate.pem()).expect("the CA certificate can be written");
}

#[tokio::test]
async fn server_connects_with_sslmode_require() {
    let application_name = "zego-push-tls-require";
    let database_url = url_with_params(
        &postgres_base_url(),
        &[("sslmode", "require"), ("application_name", application_name)],
    );
    assert_server_connects_encrypted(database_url, application_name).await;
}

#[tokio::test]
async fn server_connects_with_sslmode_verify_full() {
    let application_name = "zego-push-tls-verify-full";
    let sslrootcert = postgres_sslrootcert();
    let database_url = url_with_params(
        &postgres_base_url(),
        &[
            ("sslmode", "verify-full"),
            ("sslrootcert", sslrootcert.to_str().expect("the CA certificate's path is UTF-8")),
            ("application_name", application_name),
        ],
    );
    assert_server_connects_encrypted(database_url, application_name).await;
}

#[test]
fn verify_full_rejects_unrelated_ca() {
    let dir = tempfile::tempdir().unwrap();
    let wrong_root = dir.path().join("unrelated-ca.crt");
    write_unrelated_ca(&wrong_root);
    let database_url = url_with_params(
        &postgres_base_url(),
        &[
            ("sslmode", "verify-full"),
            ("sslrootcert", wrong_root.to_str().expect("the temporary directory's path is UTF-8")),
        ],
    );

    let log_path = dir.path().join("zego-push-server.log");
    let log_file = std::fs::File::create(&log_path).expect("the log file can be created");
    let options = ServerOptions { database_url: Some(database_url), ..ServerOptions::default() };
    let mut command = server_command(dir.path(), &options);
    command.args(["--listen", "127.0.0.1:0"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log_file);
    let mut server = command.spawn().expect("the server binary starts");

    // A server that accepted the certificate would keep running, so the wait
    // is bounded.
    let status = wait_exit(&mut server, EXIT_TIMEOUT);
    if status.is_none() {
        let _ = server.kill();
        let _ = server.wait();
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();

    let status =
        status.unwrap_or_else(|| panic!("the server still ran after {EXIT_TIMEOUT:?}; its log:\n{log}"));
    assert!(!status.success(), "the server exited with {status}; its log:\n{log}");
    assert!(log.contains("cannot connect to PostgreSQL"), "the log names no connection error:\n{log}");
    assert!(log.contains("invalid peer certificate"), "the log names no certificate error:\n{log}");
}
