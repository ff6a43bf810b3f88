//! Names of every environment variable `zego-push` reads (besides `RUST_LOG`).
//!
//! The `ZEGO_*` names are the ones zego-push-server reads, so one environment
//! configures both programs.

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

/// The password of the APNs `.p12` file that `doctor` opens. The CLI alone reads it.
pub const P12_PASSWORD: &str = "ZEGO_PUSH_P12_PASSWORD";

/// The CallbackSecret that `verify-callback` checks signatures with, when
/// --callback-secret-file is not given.
pub const CALLBACK_SECRET: &str = "ZEGO_CALLBACK_SECRET";
