//! Names of every environment variable `zego-push` reads (besides `RUST_LOG`).
//!
//! The `ZEGO_*` names are the ones zego-push-server reads, so one environment
//! configures both programs.

pub use zego_core::env::{
    ACTION, APP_ID, BASE_URL, CONNECT_TIMEOUT_MS, MAX_ATTEMPTS, REGION, SERVER_SECRET, SERVER_SECRET_FILE,
    SIGNATURE_SCHEME, TIMEOUT_MS,
};
/// The CallbackSecret that `verify-callback` checks signatures with, in a
/// file or as the value, when --callback-secret-file is not given.
pub use zego_core::env::{CALLBACK_SECRET, CALLBACK_SECRET_FILE};

/// The password of the APNs `.p12` file that `doctor` opens. The CLI alone reads it.
pub const P12_PASSWORD: &str = "ZEGO_PUSH_P12_PASSWORD";
