//! ZEGO project credentials: the AppId and the ServerSecret, and the
//! errors of these and of the CallbackSecret.

use std::fmt;
use std::str::FromStr;

use zeroize::Zeroizing;

/// A rejected credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "invalid AppId {value:?}: an AppId is a number from 1 to 4294967295, as shown in the ZEGO console"
    )]
    AppId { value: String },
    #[error("invalid ServerSecret: {rule}")]
    ServerSecret { rule: &'static str },
    #[error("invalid CallbackSecret: {rule}")]
    CallbackSecret { rule: &'static str },
}

/// A ZEGO project's AppId: a non-zero unsigned 32-bit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppId(u32);

impl AppId {
    pub fn new(value: u32) -> Result<Self, CredentialError> {
        if value == 0 {
            return Err(CredentialError::AppId { value: "0".into() });
        }
        Ok(Self(value))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl FromStr for AppId {
    type Err = CredentialError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let invalid = || CredentialError::AppId { value: s.to_owned() };
        if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let value: u32 = trimmed.parse().map_err(|_| invalid())?;
        Self::new(value).map_err(|_| invalid())
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A ZEGO ServerSecret.
///
/// `Debug` and `Display` print `****`; the bytes are zeroed when the value
/// is dropped. The only way to read the secret is [`ServerSecret::expose_secret`].
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSecret(Zeroizing<String>);

/// The length of the ServerSecret the ZEGO console issues (32 hex characters).
pub const CONSOLE_SECRET_LEN: usize = 32;

impl ServerSecret {
    /// Accepts 1 to 256 characters of printable ASCII without whitespace.
    ///
    /// The console issues 32 hex characters ([`Self::has_console_shape`]);
    /// other shapes are accepted because signing works with any key, and
    /// the doctor reports the difference as a warning.
    pub fn new(value: impl Into<String>) -> Result<Self, CredentialError> {
        let value = Zeroizing::new(value.into());
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(CredentialError::ServerSecret {
                rule: "it is empty; copy it from the ZEGO console's project page",
            });
        }
        if trimmed.len() > 256 {
            return Err(CredentialError::ServerSecret {
                rule: "it is longer than 256 characters; a console secret has 32",
            });
        }
        if !trimmed.chars().all(|c| c.is_ascii_graphic()) {
            return Err(CredentialError::ServerSecret {
                rule: "it contains whitespace or non-ASCII characters; copy it again from the ZEGO console",
            });
        }
        // Surrounding whitespace (a trailing newline from a file) is not part of the secret.
        let secret = if trimmed.len() == value.len() { value } else { Zeroizing::new(trimmed.to_owned()) };
        Ok(Self(secret))
    }

    /// Returns the secret itself. Use it only to compute a signature.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Tells whether the secret has the shape the console issues: 32 hex characters.
    pub fn has_console_shape(&self) -> bool {
        self.0.len() == CONSOLE_SECRET_LEN && self.0.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

impl fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerSecret(****)")
    }
}

impl fmt::Display for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn secret_is_never_printed() {
        let secret = ServerSecret::new(SECRET).unwrap();
        assert_eq!(format!("{secret}"), "****");
        assert_eq!(format!("{secret:?}"), "ServerSecret(****)");
        assert_eq!(format!("{secret:#?}"), "ServerSecret(****)");
        assert!(!format!("{:?}", Some(&secret)).contains(SECRET));
        assert_eq!(secret.expose_secret(), SECRET);
    }

    #[test]
    fn secret_trims_trailing_newline() {
        let secret = ServerSecret::new(format!("{SECRET}\n")).unwrap();
        assert_eq!(secret.expose_secret(), SECRET);
        assert!(secret.has_console_shape());
    }

    #[test]
    fn rejects_empty_or_spaced_secret() {
        assert!(ServerSecret::new("").is_err());
        assert!(ServerSecret::new("   ").is_err());
        let err = ServerSecret::new("abc def").unwrap_err();
        assert!(err.to_string().contains("whitespace"));
        assert!(!err.to_string().contains("abc"));
    }

    #[test]
    fn secret_shape_check() {
        assert!(!ServerSecret::new("short").unwrap().has_console_shape());
        assert!(!ServerSecret::new("z".repeat(32)).unwrap().has_console_shape());
    }

    #[test]
    fn app_id_parses_digits() {
        assert_eq!("1234567890".parse::<AppId>().unwrap().get(), 1_234_567_890);
        assert_eq!(" 42 ".parse::<AppId>().unwrap().get(), 42);
    }

    #[test]
    fn rejects_bad_app_id() {
        for bad in ["", "0", "-1", "12a", "4294967296", "YOUR_ZEGO_APP_ID"] {
            let err = bad.parse::<AppId>().unwrap_err();
            assert!(err.to_string().contains("AppId"), "{bad}");
        }
    }
}
