//! ZEGO reply codes and how the client handles each.

/// The handling of a non-zero ZEGO `Code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeClass {
    /// Busy, rate-limited or an internal gateway error: retry with backoff.
    Retryable,
    /// The timestamp is outside ZEGO's 10-minute window: sign again once;
    /// if it repeats, the local clock is wrong.
    ClockSkew,
    /// The AppId and ServerSecret do not match, or authentication failed.
    Credentials,
    /// The AppId, action, signature version or enabled services are wrong.
    Configuration,
    /// A request value was rejected (bad parameter, user id too long).
    Input,
    /// Any other permanent failure.
    Permanent,
}

impl CodeClass {
    pub fn is_retryable(self) -> bool {
        matches!(self, CodeClass::Retryable)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CodeClass::Retryable => "retryable",
            CodeClass::ClockSkew => "clock_skew",
            CodeClass::Credentials => "credentials",
            CodeClass::Configuration => "configuration",
            CodeClass::Input => "input",
            CodeClass::Permanent => "permanent",
        }
    }
}

/// ZEGO's success code.
pub const SUCCESS: i64 = 0;
/// Timestamp outside the allowed 10 minutes.
pub const SIGNATURE_EXPIRED: i64 = 100_000_004;
/// Signature does not match.
pub const SIGNATURE_ERROR: i64 = 100_000_005;
/// Action missing.
pub const ACTION_EMPTY: i64 = 100_000_006;
/// Action not supported.
pub const ACTION_UNSUPPORTED: i64 = 100_000_007;
/// No ServerSecret found for the AppId.
pub const APP_ID_UNKNOWN: i64 = 100_000_010;
/// Bad parameter.
pub const BAD_PARAMETER: i64 = 2;

/// Tells whether `code` is a per-second rate limit, after which a retry
/// must wait for a later second.
pub fn is_rate_limit(code: i64) -> bool {
    matches!(code, 7 | 660_300_005)
}

/// Classifies a non-zero code.
pub fn classify(code: i64) -> CodeClass {
    match code {
        1 | 7 | 100_000_015 | 660_300_005 => CodeClass::Retryable,
        SIGNATURE_EXPIRED => CodeClass::ClockSkew,
        3 | SIGNATURE_ERROR => CodeClass::Credentials,
        100_000_001 | ACTION_EMPTY | ACTION_UNSUPPORTED | APP_ID_UNKNOWN | 100_000_014 | 100_000_017 => {
            CodeClass::Configuration
        }
        BAD_PARAMETER | 660_000_012 => CodeClass::Input,
        _ => CodeClass::Permanent,
    }
}

/// Returns what a code means and what to do about it, for error messages.
/// An error carries it after the client's own retries, so a retryable code's
/// hint asks the caller to send the request again later.
pub fn hint(code: i64) -> &'static str {
    match code {
        1 => "ZEGO is busy for now; send the request again later",
        2 => "ZEGO rejected a parameter; check the user id, token and provider",
        3 => "authentication failed; check the AppId and ServerSecret",
        7 => "the per-second request limit was exceeded; send fewer requests per second, or send this one again later",
        100_000_001 => "the AppId is malformed; copy it from the ZEGO console",
        SIGNATURE_EXPIRED => {
            "the request timestamp is more than 10 minutes off ZEGO's clock; synchronize this machine's clock (NTP)"
        }
        SIGNATURE_ERROR => {
            "the signature does not match; the ServerSecret does not belong to this AppId, or the signing scheme is wrong"
        }
        ACTION_EMPTY | ACTION_UNSUPPORTED => {
            "ZEGO does not support this action at this address; check the base URL, action name and signing scheme"
        }
        APP_ID_UNKNOWN => "ZEGO found no ServerSecret for this AppId; check the AppId and the region",
        100_000_014 => "ZEGO does not support this signature version; check the signing scheme",
        100_000_015 => "ZEGO's gateway had a temporary internal error; send the request again later",
        100_000_017 => "this ZEGO project has not enabled the service; enable it in the ZEGO console",
        660_300_005 => "the AppId-level rate limit was exceeded; send fewer requests per second, or send this one again later",
        660_000_012 => "the user id is longer than 32 bytes",
        660_200_001 => "the user does not exist or has logged out",
        _ => "see ZEGO's error code list for this code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_documented_codes() {
        for code in [1, 7, 100_000_015, 660_300_005] {
            assert_eq!(classify(code), CodeClass::Retryable, "{code}");
        }
        assert_eq!(classify(100_000_004), CodeClass::ClockSkew);
        for code in [3, 100_000_005] {
            assert_eq!(classify(code), CodeClass::Credentials, "{code}");
        }
        for code in [100_000_001, 100_000_006, 100_000_007, 100_000_010, 100_000_014, 100_000_017] {
            assert_eq!(classify(code), CodeClass::Configuration, "{code}");
        }
        assert_eq!(classify(2), CodeClass::Input);
        assert_eq!(classify(660_200_001), CodeClass::Permanent);
        assert_eq!(classify(424_242), CodeClass::Permanent);
    }

    #[test]
    fn only_retryable_class_retries() {
        assert!(CodeClass::Retryable.is_retryable());
        assert!(!CodeClass::ClockSkew.is_retryable());
        assert!(!CodeClass::Credentials.is_retryable());
    }
}
