//! The error type of every fallible operation in this crate.

use std::time::Duration;

use crate::codes::{self, CodeClass};
use crate::credentials::CredentialError;
use crate::values::ValidationError;

/// A failure of an operation on ZEGO's API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request value broke an input rule; nothing was sent.
    #[error(transparent)]
    InvalidInput(#[from] ValidationError),

    /// The AppId or ServerSecret is malformed; nothing was sent.
    #[error(transparent)]
    InvalidCredentials(#[from] CredentialError),

    /// The client configuration is unusable (for example a bad base URL).
    #[error("invalid ZEGO client configuration: {0}")]
    InvalidConfig(String),

    /// No reply: the connection failed or broke, or ZEGO replied with an
    /// HTTP 5xx status and no ZEGO reply.
    #[error("no reply from ZEGO at {endpoint} after {attempts} attempt(s): {reason}")]
    Transport {
        endpoint: String,
        attempts: u32,
        reason: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// No reply within the configured time.
    #[error(
        "ZEGO at {endpoint}{} did not reply within {timeout:?} ({attempts} attempt(s))",
        through_proxy(.proxy.as_deref())
    )]
    Timeout {
        endpoint: String,
        attempts: u32,
        timeout: Duration,
        /// The proxy the requests went through, without its credentials.
        proxy: Option<String>,
    },

    /// ZEGO replied with a non-zero `Code`. Boxed because the reply it
    /// carries would make every `Result` of this crate large.
    #[error(transparent)]
    Api(Box<ApiError>),

    /// ZEGO replied with something that is not a ZEGO reply.
    #[error("ZEGO at {endpoint} replied with HTTP {status} and a body that is not a ZEGO reply ({reason}): {excerpt:?}")]
    MalformedReply {
        endpoint: String,
        attempts: u32,
        status: u16,
        reason: String,
        /// The first 200 characters of the body.
        excerpt: String,
    },
}

impl Error {
    /// Tells whether trying the same request later may succeed: the peer
    /// was unreachable, slow, busy or rate-limiting.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::Timeout { .. } => true,
            Error::Api(api) => api.is_retryable(),
            _ => false,
        }
    }

    /// Returns how many requests were sent, or 0 when none was.
    pub fn attempts(&self) -> u32 {
        match self {
            Error::Transport { attempts, .. }
            | Error::Timeout { attempts, .. }
            | Error::MalformedReply { attempts, .. } => *attempts,
            Error::Api(api) => api.attempts,
            Error::InvalidInput(_) | Error::InvalidCredentials(_) | Error::InvalidConfig(_) => 0,
        }
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Returns ZEGO's reply code when ZEGO replied with one.
    pub fn zego_code(&self) -> Option<i64> {
        match self {
            Error::Api(api) => Some(api.code),
            _ => None,
        }
    }
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Error::Api(Box::new(error))
    }
}

/// Joins an error and its causes as "error: cause: cause", leaving out a
/// cause whose text the message already contains.
/// Returns " (through the proxy URL)" for messages about a proxied request,
/// or nothing without a proxy.
pub fn through_proxy(proxy: Option<&str>) -> String {
    proxy.map(|proxy| format!(" (through the proxy {proxy})")).unwrap_or_default()
}

pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A ZEGO reply with a non-zero `Code`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("ZEGO rejected the request with Code {code} ({message:?}): {hint}", hint = codes::hint(*code))]
pub struct ApiError {
    pub code: i64,
    pub message: String,
    pub request_id: Option<String>,
    pub class: CodeClass,
    /// Requests sent, including the one that got this reply.
    pub attempts: u32,
    /// ZEGO's whole reply, as received.
    pub reply: serde_json::Value,
}

impl ApiError {
    pub fn is_retryable(&self) -> bool {
        self.class.is_retryable()
    }

    /// Tells whether the AppId and ServerSecret are at fault.
    pub fn is_credentials(&self) -> bool {
        self.class == CodeClass::Credentials
    }

    /// Tells whether the base URL, action, scheme or console set-up is at fault.
    pub fn is_configuration(&self) -> bool {
        matches!(self.class, CodeClass::Configuration | CodeClass::ClockSkew)
    }
}
