//! Command-line flags and environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use zego_core::{ClientConfig, Region, RetryPolicy, SignatureScheme};

/// Names of every environment variable the server reads.
pub mod env {
    pub const LISTEN: &str = "ZEGO_PUSH_LISTEN";
    pub const DATABASE_URL: &str = "ZEGO_PUSH_DATABASE_URL";
    pub const LOG_FORMAT: &str = "ZEGO_PUSH_LOG_FORMAT";
    pub const APP_ID: &str = "ZEGO_APP_ID";
    pub const SERVER_SECRET: &str = "ZEGO_SERVER_SECRET";
    pub const SERVER_SECRET_FILE: &str = "ZEGO_SERVER_SECRET_FILE";
    pub const BASE_URL: &str = "ZEGO_BASE_URL";
    pub const REGION: &str = "ZEGO_REGION";
    pub const ACTION: &str = "ZEGO_ACTION";
    pub const SIGNATURE_SCHEME: &str = "ZEGO_SIGNATURE_SCHEME";
    pub const TIMEOUT_MS: &str = "ZEGO_TIMEOUT_MS";
    pub const CONNECT_TIMEOUT_MS: &str = "ZEGO_CONNECT_TIMEOUT_MS";
    pub const MAX_ATTEMPTS: &str = "ZEGO_MAX_ATTEMPTS";
    pub const INSECURE_NO_AUTH: &str = "ZEGO_PUSH_INSECURE_ALLOW_UNAUTHENTICATED";
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Registers mobile push tokens (FCM, APNs) with ZEGO's offline push service.
///
/// Serves POST /api/register-push-token. Without ZEGO_APP_ID and
/// ZEGO_SERVER_SECRET it runs in sandbox mode: it listens on loopback only
/// and sends every call to an in-process fake ZEGO (zego-mock), so nothing
/// reaches ZEGO. Once listening it prints
/// "zego-push-server listening on http://ADDRESS" on standard output.
#[derive(Debug, Clone, Parser)]
#[command(version)]
pub struct Args {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Registry database. Defaults to sqlite://zego-push.db, or
    /// sqlite://zego-push-sandbox.db in sandbox mode.
    #[arg(long, env = env::DATABASE_URL)]
    pub database_url: Option<String>,

    /// Log line format.
    #[arg(long, env = env::LOG_FORMAT, value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// The ZEGO project's AppId.
    #[arg(long, env = env::APP_ID)]
    pub app_id: Option<String>,

    /// The ZEGO project's ServerSecret. Prefer the environment variable or
    /// --server-secret-file, which stay out of shell history and `ps`.
    #[arg(long, env = env::SERVER_SECRET, hide_env_values = true)]
    pub server_secret: Option<String>,

    /// A file whose content is the ServerSecret.
    #[arg(long, env = env::SERVER_SECRET_FILE, conflicts_with = "server_secret")]
    pub server_secret_file: Option<PathBuf>,

    /// ZEGO API base URL. Overrides --zego-region.
    #[arg(long, env = env::BASE_URL)]
    pub zego_base_url: Option<String>,

    /// ZEGO region whose API host to use: unified, sha, hkg, fra, lax, bom or sgp.
    #[arg(long, env = env::REGION, default_value = "unified")]
    pub zego_region: Region,

    /// The ZEGO action that binds a push token to a user.
    #[arg(long, env = env::ACTION, default_value = zego_core::client::DEFAULT_ACTION)]
    pub zego_action: String,

    /// Request signing scheme: guide (sorted-parameter HMAC-SHA256) or v2 (ZEGO Signature 2.0, MD5).
    #[arg(long, env = env::SIGNATURE_SCHEME, default_value = "guide")]
    pub zego_scheme: SignatureScheme,

    /// Time allowed for one ZEGO request, in milliseconds.
    #[arg(long, env = env::TIMEOUT_MS, default_value_t = 5_000)]
    pub zego_timeout_ms: u64,

    /// Time allowed to connect to ZEGO, in milliseconds.
    #[arg(long, env = env::CONNECT_TIMEOUT_MS, default_value_t = 2_000)]
    pub zego_connect_timeout_ms: u64,

    /// ZEGO requests sent at most within one registration request, for retryable failures.
    #[arg(long, env = env::MAX_ATTEMPTS, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub zego_max_attempts: u32,

    /// Serve registrations without authentication on a non-loopback address.
    /// Anyone who reaches the port can then bind their phone to any user's calls.
    #[arg(long, env = env::INSECURE_NO_AUTH)]
    pub insecure_allow_unauthenticated: bool,
}

impl Args {
    /// Returns the ZEGO client settings, pointed at `base_url`.
    pub fn client_config(&self, base_url: String) -> ClientConfig {
        ClientConfig {
            base_url,
            action: self.zego_action.clone(),
            scheme: self.zego_scheme,
            connect_timeout: Duration::from_millis(self.zego_connect_timeout_ms),
            timeout: Duration::from_millis(self.zego_timeout_ms),
            retry: RetryPolicy { max_attempts: self.zego_max_attempts, ..RetryPolicy::default() },
        }
    }

    /// Returns the ZEGO base URL to use with real credentials.
    pub fn live_base_url(&self) -> String {
        self.zego_base_url.clone().unwrap_or_else(|| self.zego_region.base_url("rtc"))
    }
}
