//! Helpers for the tests that run the real `zego-push` binary: a zego-mock
//! on a loopback port, a command with a clean environment, and APNs
//! certificates generated at test time.
//!
//! Every command starts with `ZEGO_BASE_URL` set to a closed loopback port,
//! so a test that leaves out its mock's address sends nothing anywhere.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use zego_core::{AppId, ServerSecret};
use zego_mock::{Faults, MockConfig, MockServer, MockState};

/// The AppId the test mock accepts.
pub const APP_ID: &str = "1234567890";
/// The ServerSecret of [`APP_ID`].
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";
/// A loopback address where nothing listens, for unreachable-host cases.
pub const CLOSED_URL: &str = "http://127.0.0.1:1";

/// A zego-mock served by its own runtime, stopped on drop.
pub struct Mock {
    runtime: tokio::runtime::Runtime,
    server: Option<MockServer>,
    pub base_url: String,
}

impl Mock {
    /// Starts a mock that accepts [`APP_ID`] on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime starts");
        let config =
            MockConfig::single(AppId::new(1_234_567_890).unwrap(), ServerSecret::new(SECRET).unwrap());
        let server = runtime
            .block_on(MockServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config))
            .expect("the mock binds a loopback port");
        let base_url = server.base_url();
        Self { runtime, server: Some(server), base_url }
    }

    pub fn state(&self) -> &Arc<MockState> {
        self.server.as_ref().expect("the mock runs").state()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.state().set_faults(faults);
    }

    /// Returns how often the mock registered each push token.
    pub fn registrations_by_token(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for registration in self.state().registrations() {
            *counts.entry(registration.push_id).or_insert(0) += 1;
        }
        counts
    }

    pub fn registration_count(&self) -> usize {
        self.state().registrations().len()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

/// Returns a `zego-push` command with no inherited ZEGO settings and the
/// base URL on a closed loopback port.
pub fn zego_push() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zego-push"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("ZEGO_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.env("ZEGO_BASE_URL", CLOSED_URL).stdin(std::process::Stdio::null());
    command
}

/// Returns a `zego-push` command with the test credentials, pointed at `base_url`.
pub fn zego_push_at(base_url: &str) -> Command {
    let mut command = zego_push();
    command.env("ZEGO_APP_ID", APP_ID).env("ZEGO_SERVER_SECRET", SECRET).env("ZEGO_BASE_URL", base_url);
    command
}

/// Returns a `zego-push` command with the test credentials, pointed at the mock.
pub fn zego_push_for(mock: &Mock) -> Command {
    zego_push_at(&mock.base_url)
}

/// Runs a command and returns its output.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("zego-push runs")
}

/// Runs a command that prints JSON and returns its exit code and document.
pub fn run_json(command: &mut Command) -> (i32, Value) {
    let output = run(command);
    let code = output.status.code().expect("zego-push exits with a code");
    let document = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}); exit code {code}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, document)
}

/// Returns standard output and standard error as one text, for failure messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Waits until `condition` holds, failing the test after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends a signal to a process with the `kill` command.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("the kill command runs");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).expect("the file can be created");
    file.write_all(text.as_bytes()).expect("the file can be written");
    path
}

/// Serves HTTP on a loopback port and replies to every request with 200
/// and the given `Date` header, for clock-skew checks. Returns the base URL.
pub fn serve_fixed_date(date: std::time::SystemTime) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port binds");
    let address = listener.local_addr().expect("the listener has an address");
    let header = httpdate::fmt_http_date(date);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let body = "{}";
            let response = format!(
                "HTTP/1.1 200 OK\r\nDate: {header}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{address}")
}

/// An APNs-like certificate to generate.
pub struct CertificateSpec<'a> {
    /// The bundle id, written as the subject's UID.
    pub topic: &'a str,
    /// Seconds from now: negative is in the past.
    pub not_before_offset: i64,
    pub not_after_offset: i64,
    /// Apple's environment extensions to add.
    pub environment: Environment,
    pub encryption: Encryption,
}

/// How a generated `.p12` file is encrypted.
#[derive(Debug, Clone, Copy)]
pub enum Encryption {
    /// PBES2 with AES-256 and an HMAC-SHA256 MAC, as OpenSSL 3 writes by default.
    Aes,
    /// The legacy 3DES encryption with a SHA-1 MAC.
    TripleDes,
    /// The legacy 40-bit RC2 encryption with a SHA-1 MAC.
    Rc2,
}

/// Which APNs environment extensions a generated certificate carries.
#[derive(Debug, Clone, Copy)]
pub enum Environment {
    Development,
    Production,
    /// The topics extension, valid in both environments.
    Universal,
    None,
}

const OID_USER_ID: [u64; 7] = [0, 9, 2342, 19_200_300, 100, 1, 1];

/// Returns the DER of an ASN.1 UTF8String.
fn der_utf8(text: &str) -> Vec<u8> {
    let mut der = vec![0x0c, u8::try_from(text.len()).expect("short text")];
    der.extend_from_slice(text.as_bytes());
    der
}

/// Returns the DER of an ASN.1 SEQUENCE of already encoded items.
fn der_sequence(items: &[Vec<u8>]) -> Vec<u8> {
    let content: Vec<u8> = items.concat();
    let mut der = vec![0x30, u8::try_from(content.len()).expect("short sequence")];
    der.extend_from_slice(&content);
    der
}

/// Generates a self-signed certificate and its private key and writes them
/// as a password-protected `.p12` file.
pub fn write_p12(path: &Path, spec: &CertificateSpec<'_>, password: &str) {
    let key = rcgen::KeyPair::generate().expect("a key pair generates");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("empty names are valid");
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CustomDnType(OID_USER_ID.to_vec()), spec.topic);
    name.push(rcgen::DnType::CommonName, format!("VoIP Services: {}", spec.topic));
    name.push(rcgen::DnType::OrganizationName, "Example Ltd");
    params.distinguished_name = name;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::seconds(spec.not_before_offset);
    params.not_after = now + time::Duration::seconds(spec.not_after_offset);

    let null = vec![0x05, 0x00];
    let apple_oid = |last: u64| vec![1, 2, 840, 113_635, 100, 6, 3, last];
    match spec.environment {
        Environment::Development => {
            params.custom_extensions.push(rcgen::CustomExtension::from_oid_content(&apple_oid(1), null));
        }
        Environment::Production => {
            params.custom_extensions.push(rcgen::CustomExtension::from_oid_content(&apple_oid(2), null));
        }
        Environment::Universal => {
            let voip = format!("{}.voip", spec.topic);
            let topics = der_sequence(&[
                der_utf8(spec.topic),
                der_sequence(&[der_utf8("app")]),
                der_utf8(&voip),
                der_sequence(&[der_utf8("voip")]),
            ]);
            params.custom_extensions.push(rcgen::CustomExtension::from_oid_content(&apple_oid(6), topics));
        }
        Environment::None => {}
    }
    let certificate = params.self_signed(&key).expect("the certificate signs");

    let private_key = p12_keystore::PrivateKey::from_der(&key.serialize_der()).expect("PKCS#8 parses");
    let certificate = p12_keystore::Certificate::from_der(certificate.der()).expect("the DER parses");
    let chain = p12_keystore::PrivateKeyChain::new(b"apns-key-1".as_slice(), private_key, [certificate]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry("apns", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
    let legacy = |algorithm| {
        store
            .writer(password)
            .encryption_algorithm(algorithm)
            .mac_algorithm(p12_keystore::MacAlgorithm::HmacSha1)
    };
    let writer = match spec.encryption {
        Encryption::Aes => store.writer(password),
        Encryption::TripleDes => legacy(p12_keystore::EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc),
        // The crate names RC2 "Rc4"; it writes the pbeWithSHAAnd40BitRC2-CBC identifier.
        Encryption::Rc2 => legacy(p12_keystore::EncryptionAlgorithm::PbeWithShaAnd40BitRc4Cbc),
    };
    let data = writer.write().expect("the .p12 file encodes");
    std::fs::write(path, data).expect("the .p12 file can be written");
}
