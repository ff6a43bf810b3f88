//! Verification of the callbacks ZEGO's servers send to a backend.
//!
//! ZEGO signs a callback by sorting the strings `[CallbackSecret, timestamp,
//! nonce]` lexicographically, concatenating them, and sending the lowercase
//! hex SHA-1 of the result as `signature`.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::credentials::CredentialError;

/// A rejected callback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error(
        "the callback signature does not match; check the CallbackSecret configured in the ZEGO console"
    )]
    BadSignature,
    #[error("the callback timestamp {timestamp} is {skew} s away from this machine's clock, more than the {window} s allowed")]
    Stale { timestamp: i64, skew: u64, window: u64 },
    #[error("the callback timestamp {0:?} is not a Unix time in seconds")]
    BadTimestamp(String),
}

/// Checks that a CallbackSecret is set: an empty or whitespace-only secret
/// is a configuration error, because anyone can compute the signature of
/// an empty secret and so forge a callback.
pub fn check_callback_secret(callback_secret: &str) -> Result<(), CredentialError> {
    if callback_secret.trim().is_empty() {
        return Err(CredentialError::CallbackSecret {
            rule: "it is empty or only whitespace; set it to the CallbackSecret from the ZEGO console, where the callback URL is configured",
        });
    }
    Ok(())
}

/// Returns ZEGO's callback signature for these values.
pub fn callback_signature(callback_secret: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [callback_secret, timestamp, nonce];
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Checks a callback's signature in constant time, then that its timestamp
/// is within `window_seconds` of `now` (Unix seconds).
///
/// An empty or whitespace-only secret never verifies: it returns
/// [`CallbackError::BadSignature`]. Front-ends call [`check_callback_secret`]
/// first to report it as a configuration error.
pub fn verify_callback(
    callback_secret: &str,
    timestamp: &str,
    nonce: &str,
    signature: &str,
    now: i64,
    window_seconds: u64,
) -> Result<(), CallbackError> {
    if check_callback_secret(callback_secret).is_err() {
        return Err(CallbackError::BadSignature);
    }
    let expected = callback_signature(callback_secret, timestamp, nonce);
    let received = signature.trim().to_ascii_lowercase();
    if !bool::from(expected.as_bytes().ct_eq(received.as_bytes())) {
        return Err(CallbackError::BadSignature);
    }
    let parsed: i64 =
        timestamp.trim().parse().map_err(|_| CallbackError::BadTimestamp(timestamp.to_owned()))?;
    let skew = now.abs_diff(parsed);
    if skew > window_seconds {
        return Err(CallbackError::Stale { timestamp: parsed, skew, window: window_seconds });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_published_example() {
        assert_eq!(
            callback_signature("secret", "1470820198", "123412"),
            "5bd59fd62953a8059fb7eaba95720f66d19e4517"
        );
    }

    #[test]
    fn accepts_fresh_signed_callback() {
        let signature = callback_signature("secret", "1470820198", "123412");
        assert_eq!(verify_callback("secret", "1470820198", "123412", &signature, 1_470_820_200, 300), Ok(()));
        let upper = signature.to_uppercase();
        assert_eq!(verify_callback("secret", "1470820198", "123412", &upper, 1_470_820_200, 300), Ok(()));
    }

    #[test]
    fn rejects_wrong_signature_and_secret() {
        let signature = callback_signature("secret", "1470820198", "123412");
        let error = verify_callback("other", "1470820198", "123412", &signature, 1_470_820_198, 300);
        assert_eq!(error, Err(CallbackError::BadSignature));
        let error = verify_callback("secret", "1470820198", "123413", &signature, 1_470_820_198, 300);
        assert_eq!(error, Err(CallbackError::BadSignature));
    }

    #[test]
    fn rejects_empty_or_blank_secret() {
        for secret in ["", " ", "\t\n"] {
            let signature = callback_signature(secret, "1470820198", "123412");
            let error = verify_callback(secret, "1470820198", "123412", &signature, 1_470_820_198, 300);
            assert_eq!(error, Err(CallbackError::BadSignature), "{secret:?}");

            let error = check_callback_secret(secret).unwrap_err();
            assert!(error.to_string().contains("CallbackSecret"), "{error}");
            assert!(error.to_string().contains("empty"), "{error}");
        }
        assert_eq!(check_callback_secret("secret"), Ok(()));
    }

    #[test]
    fn rejects_stale_timestamp() {
        let signature = callback_signature("secret", "1470820198", "123412");
        let error = verify_callback("secret", "1470820198", "123412", &signature, 1_470_820_198 + 301, 300);
        assert!(matches!(error, Err(CallbackError::Stale { skew: 301, .. })), "{error:?}");
    }

    #[test]
    fn rejects_non_numeric_timestamp() {
        let signature = callback_signature("secret", "soon", "n");
        let error = verify_callback("secret", "soon", "n", &signature, 0, 300);
        assert!(matches!(error, Err(CallbackError::BadTimestamp(_))), "{error:?}");
    }
}
