//! Names of the environment variables that configure ZEGO access, shared by
//! zego-push-server, the zego-push CLI and zego-mock, so that one
//! environment configures every program.

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
/// The CallbackSecret from the ZEGO console, which signs ZEGO's callbacks.
pub const CALLBACK_SECRET: &str = "ZEGO_CALLBACK_SECRET";
pub const CALLBACK_SECRET_FILE: &str = "ZEGO_CALLBACK_SECRET_FILE";
