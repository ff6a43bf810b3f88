//! Harness for the end-to-end tests: starts the real `zego-mock` and
//! `zego-push-server` binaries on loopback ports and stops them on drop.
//!
//! The binaries come from `$ZEGO_PUSH_BIN_DIR`, or else from the target
//! directory this test binary was built in; `cargo build --workspace --bins`
//! must have run first.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The AppId the test mock accepts.
pub const APP_ID: &str = "1234567890";
/// The ServerSecret of [`APP_ID`].
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// Returns the path of a workspace binary.
pub fn binary(name: &str) -> PathBuf {
    let dir = std::env::var_os("ZEGO_PUSH_BIN_DIR").map_or_else(
        || {
            // Test binaries live in target/<profile>/deps; the binaries one level up.
            let exe = std::env::current_exe().expect("the test binary has a path");
            exe.parent().and_then(Path::parent).expect("target/<profile>/deps has two parents").to_path_buf()
        },
        PathBuf::from,
    );
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} does not exist; run `cargo build --workspace --bins` before the end-to-end tests",
        path.display()
    );
    path
}

/// A child process that is killed when dropped.
#[derive(Debug)]
pub struct Process {
    pub child: Child,
    /// The `http://ADDRESS` the process announced.
    pub base_url: String,
    log: PathBuf,
}

impl Process {
    /// Spawns `command` and waits for its `... listening on http://ADDRESS` line.
    fn spawn(mut command: Command, log: PathBuf) -> Self {
        let log_file = std::fs::File::create(&log).expect("the log file can be created");
        command.stdout(Stdio::piped()).stderr(log_file).stdin(Stdio::null());
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");

        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some((_, url)) = line.split_once(" listening on ") {
                    let _ = sender.send(url.trim().to_owned());
                }
            }
        });
        if let Ok(base_url) = receiver.recv_timeout(Duration::from_secs(30)) {
            Self { child, base_url, log }
        } else {
            let _ = child.kill();
            let status = child.wait().ok();
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the process did not announce its address (exit status {status:?}); its log:\n{log_text}");
        }
    }

    /// Returns everything the process wrote to standard error so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends SIGTERM, as a process manager does to stop a service.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("the kill command runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Kills the process with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `timeout` for the process to exit and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        wait_exit(&mut self.child, timeout)
    }
}

/// Waits up to `timeout` for `child` to exit and returns its status, or
/// `None` when it still runs.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a `zego-mock` that accepts [`APP_ID`] and [`SECRET`].
pub fn start_mock(dir: &Path) -> Process {
    let mut command = Command::new(binary("zego-mock"));
    command
        .args(["--listen", "127.0.0.1:0", "--app", &format!("{APP_ID}:{SECRET}")])
        .env_remove("ZEGO_APP_ID")
        .env_remove("ZEGO_SERVER_SECRET");
    Process::spawn(command, dir.join("zego-mock.log"))
}

/// Settings of a server under test.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `(AppId, ServerSecret, ZEGO base URL)`; `None` starts sandbox mode.
    pub live: Option<(String, String, String)>,
    pub extra_args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// A database URL other than the SQLite file in the test directory.
    pub database_url: Option<String>,
    /// The log file's name in the test directory [default: zego-push-server.log].
    pub log_name: Option<String>,
}

impl ServerOptions {
    /// Options for a live-mode server that sends to `mock` with the test credentials.
    pub fn live(mock: &Process) -> Self {
        Self { live: Some((APP_ID.into(), SECRET.into(), mock.base_url.clone())), ..Self::default() }
    }

    /// Adds command-line arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(mut self, args: I) -> Self {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }
}

/// Starts a `zego-push-server` with its database in `dir`.
pub fn start_server(dir: &Path, options: &ServerOptions) -> Process {
    let mut command = server_command(dir, options);
    command.args(["--listen", "127.0.0.1:0"]);
    let log_name = options.log_name.clone().unwrap_or_else(|| "zego-push-server.log".into());
    Process::spawn(command, dir.join(log_name))
}

/// Returns the database URL of a server started in `dir`.
pub fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("registry.db").display())
}

/// Builds the server command without `--listen`, with a clean ZEGO environment.
pub fn server_command(dir: &Path, options: &ServerOptions) -> Command {
    let mut command = Command::new(binary("zego-push-server"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("ZEGO_") {
            command.env_remove(name);
        }
    }
    let database = options.database_url.clone().unwrap_or_else(|| database_url(dir));
    command.args(["--database-url", &database]).env("RUST_LOG", "info").current_dir(dir);
    if let Some((app_id, secret, base_url)) = &options.live {
        command.env("ZEGO_APP_ID", app_id).env("ZEGO_SERVER_SECRET", secret).env("ZEGO_BASE_URL", base_url);
    }
    for (name, value) in &options.env {
        command.env(name, value);
    }
    command.args(&options.extra_args);
    command
}

/// Returns the server's outbox depth from `/readyz`.
pub async fn outbox_depth(server: &Process) -> i64 {
    let ready: Value =
        reqwest::get(server.url("/readyz")).await.expect("the server answers").json().await.expect("JSON");
    ready["outbox_depth"].as_i64().expect("readyz reports outbox_depth")
}

/// Waits until the server's outbox is empty, failing after `timeout`.
pub async fn wait_for_empty_outbox(server: &Process, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let depth = outbox_depth(server).await;
        if depth == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the outbox still holds {depth} rows after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Returns the PostgreSQL server for tests from `ZEGO_PUSH_TEST_POSTGRES_URL`,
/// which `scripts/test.sh` sets after starting one.
pub fn postgres_base_url() -> String {
    std::env::var("ZEGO_PUSH_TEST_POSTGRES_URL").expect(
        "ZEGO_PUSH_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL for the tests",
    )
}

/// Returns the CA certificate that signed the TLS certificate of the test
/// PostgreSQL server, from `ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT`, which
/// `scripts/test.sh` sets after starting one.
pub fn postgres_sslrootcert() -> PathBuf {
    let path = std::env::var_os("ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT").map(PathBuf::from).expect(
        "ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT is not set: run scripts/test.sh, or set it to the CA certificate \
         that signed the TLS certificate of the server in ZEGO_PUSH_TEST_POSTGRES_URL",
    );
    assert!(
        path.is_file(),
        "ZEGO_PUSH_TEST_POSTGRES_SSLROOTCERT names {}, which is not a file",
        path.display()
    );
    path
}

/// Sends a request with a bearer credential and returns status, headers and JSON reply.
pub async fn send_json(
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, headers, json)
}

/// Sends a JSON body to the registration endpoint and returns status and JSON reply.
pub async fn register(server: &Process, body: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/api/register-push-token"))
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let json = response.json().await.expect("the reply is JSON");
    (status, json)
}

/// Returns what the mock registered.
pub async fn mock_registrations(mock: &Process) -> Vec<Value> {
    mock_get(mock, "/_mock/registrations").await
}

/// Returns the API calls the mock saw.
pub async fn mock_calls(mock: &Process) -> Vec<Value> {
    mock_get(mock, "/_mock/calls").await
}

async fn mock_get(mock: &Process, path: &str) -> Vec<Value> {
    reqwest::get(mock.url(path)).await.expect("the mock answers").json().await.expect("the mock replies JSON")
}

/// Replaces the mock's faults.
pub async fn set_mock_faults(mock: &Process, faults: Value) {
    let response = reqwest::Client::new()
        .post(mock.url("/_mock/faults"))
        .json(&faults)
        .send()
        .await
        .expect("the mock answers");
    assert_eq!(response.status(), 200, "the mock accepts the faults {faults}");
}

/// A zego-mock and a live-mode server that sends to it, sharing one directory.
#[derive(Debug)]
pub struct Live {
    pub dir: tempfile::TempDir,
    pub mock: Process,
    pub server: Process,
}

/// Starts a mock and a live-mode server that sends to it, with `args` added.
pub fn start_live(args: &[&str]) -> Live {
    start_live_with_env(args, &[])
}

/// Like [`start_live`], with environment variables for the server.
pub fn start_live_with_env(args: &[&str], env: &[(&str, &str)]) -> Live {
    let dir = tempfile::tempdir().expect("a temporary directory can be made");
    let mock = start_mock(dir.path());
    let mut options = ServerOptions::live(&mock).args(args.iter().copied());
    options.env.extend(env.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())));
    let server = start_server(dir.path(), &options);
    Live { dir, mock, server }
}

/// Returns the first 12 hex digits of the token's SHA-256, as the server logs and lists it.
pub fn short_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(token.as_bytes())[..6])
}

/// Returns the `Retry-After` header's seconds, if the header is there and numeric.
pub fn retry_after_seconds(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers.get("retry-after")?.to_str().ok()?.parse().ok()
}

/// Asserts that a reply is HTTP 429 `rate_limited` with a positive
/// `Retry-After`, and returns its seconds.
pub fn assert_rate_limited(status: u16, headers: &reqwest::header::HeaderMap, reply: &Value) -> u64 {
    assert_eq!(status, 429, "{reply}");
    assert_eq!(reply["success"], false, "{reply}");
    assert_eq!(reply["error"]["code"], "rate_limited", "{reply}");
    let retry_after = retry_after_seconds(headers);
    assert!(
        retry_after.is_some_and(|seconds| seconds > 0),
        "Retry-After is {:?}",
        headers.get("retry-after")
    );
    retry_after.unwrap_or_default()
}
