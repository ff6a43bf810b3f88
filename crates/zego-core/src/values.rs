//! Validated input values.
//!
//! Each type is built only through its parser, so a value that exists is
//! valid. Every rejection is a [`ValidationError`] naming the input field
//! and the rule that failed.

use std::fmt;

/// Maximum length of a user id in bytes. ZIM rejects longer ids with code 660000012.
pub const USER_ID_MAX_BYTES: usize = 32;
/// Maximum length of an FCM registration token. Google documents no fixed
/// length; tokens are usually 140 to 165 characters and stay well below 4 KiB.
pub const FCM_TOKEN_MAX_CHARS: usize = 4096;
/// Minimum length of an APNs token in hex characters (32 bytes).
pub const APNS_TOKEN_MIN_CHARS: usize = 64;
/// Maximum length of an APNs token in hex characters. Apple documents the length
/// is variable; 108- and 160-character tokens exist, so the bound is generous.
pub const APNS_TOKEN_MAX_CHARS: usize = 200;
/// Maximum length of a device id.
pub const DEVICE_ID_MAX_CHARS: usize = 128;

/// An input field, named as it appears in the JSON body of
/// `POST /api/register-push-token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    UserId,
    FcmToken,
    Platform,
    Provider,
    DeviceId,
}

impl Field {
    /// Returns the field's name in the request body.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::UserId => "user_id",
            Field::FcmToken => "fcm_token",
            Field::Platform => "platform",
            Field::Provider => "provider",
            Field::DeviceId => "device_id",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input value that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {message}")]
pub struct ValidationError {
    /// The field at fault.
    pub field: Field,
    /// The rule that failed and, where it helps, how to fix the value.
    pub message: String,
}

impl ValidationError {
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

fn is_printable_ascii(c: char) -> bool {
    c.is_ascii_graphic()
}

/// Returns the first character outside printable ASCII, with its position.
fn first_unprintable(value: &str) -> Option<(usize, char)> {
    value.chars().enumerate().find(|(_, c)| !is_printable_ascii(*c))
}

/// A ZEGO user id: 1 to 32 bytes of printable ASCII without whitespace.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

impl UserId {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let err = |message: String| ValidationError::new(Field::UserId, message);
        if value.is_empty() {
            return Err(err("must not be empty".into()));
        }
        if value.len() > USER_ID_MAX_BYTES {
            return Err(err(format!(
                "is {} bytes long; ZEGO accepts at most {USER_ID_MAX_BYTES} bytes",
                value.len()
            )));
        }
        if let Some((position, c)) = first_unprintable(value) {
            return Err(err(format!(
                "contains {c:?} at position {position}; only printable ASCII without whitespace is allowed"
            )));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UserId").field(&self.0).finish()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The mobile platform a token comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Android,
    Ios,
}

impl Platform {
    /// Parses `android` or `ios` in any letter case.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if value.eq_ignore_ascii_case("android") {
            Ok(Platform::Android)
        } else if value.eq_ignore_ascii_case("ios") {
            Ok(Platform::Ios)
        } else if value.is_empty() {
            Err(ValidationError::new(
                Field::Platform,
                String::from("must not be empty; use \"android\" or \"ios\""),
            ))
        } else {
            Err(ValidationError::new(
                Field::Platform,
                format!("{value:?} is not a known platform; use \"android\" or \"ios\""),
            ))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
        }
    }

    /// Returns the provider a token from this platform uses unless the request names one.
    pub fn default_provider(self) -> PushProvider {
        match self {
            Platform::Android => PushProvider::Fcm,
            Platform::Ios => PushProvider::Apns,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The push service that delivers to a token. The numbers are ZEGO's
/// `PushProvider` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushProvider {
    /// Firebase Cloud Messaging, `PushProvider` 1.
    Fcm = 1,
    /// Apple Push Notification service, `PushProvider` 2.
    Apns = 2,
}

impl PushProvider {
    /// Parses `fcm` or `apns` in any letter case.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        if value.eq_ignore_ascii_case("fcm") {
            Ok(PushProvider::Fcm)
        } else if value.eq_ignore_ascii_case("apns") {
            Ok(PushProvider::Apns)
        } else {
            Err(ValidationError::new(
                Field::Provider,
                format!("{value:?} is not a known provider; use \"fcm\" or \"apns\""),
            ))
        }
    }

    /// Maps ZEGO's numeric `PushProvider` value back to a provider.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            1 => Some(PushProvider::Fcm),
            2 => Some(PushProvider::Apns),
            _ => None,
        }
    }

    /// Returns ZEGO's numeric `PushProvider` value.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PushProvider::Fcm => "fcm",
            PushProvider::Apns => "apns",
        }
    }
}

impl fmt::Display for PushProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device push token, checked against the rules of its provider.
///
/// FCM tokens keep their exact text. APNs tokens are normalized: spaces and
/// `<` `>` are removed and hex digits are lowercased.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PushToken {
    value: String,
    provider: PushProvider,
}

impl PushToken {
    pub fn parse(value: &str, provider: PushProvider) -> Result<Self, ValidationError> {
        match provider {
            PushProvider::Fcm => Self::parse_fcm(value),
            PushProvider::Apns => Self::parse_apns(value),
        }
    }

    fn parse_fcm(value: &str) -> Result<Self, ValidationError> {
        let err = |message: String| ValidationError::new(Field::FcmToken, message);
        if value.is_empty() {
            return Err(err("must not be empty".into()));
        }
        let chars = value.chars().count();
        if chars > FCM_TOKEN_MAX_CHARS {
            return Err(err(format!(
                "is {chars} characters long; an FCM token has at most {FCM_TOKEN_MAX_CHARS}"
            )));
        }
        if let Some((position, c)) = value
            .chars()
            .enumerate()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':')))
        {
            return Err(err(format!(
                "contains {c:?} at position {position}; an FCM token contains only A-Z, a-z, 0-9, '_', '-' and ':'"
            )));
        }
        Ok(Self { value: value.to_owned(), provider: PushProvider::Fcm })
    }

    fn parse_apns(value: &str) -> Result<Self, ValidationError> {
        let err = |message: String| ValidationError::new(Field::FcmToken, message);
        let normalized: String =
            value.chars().filter(|c| !matches!(c, ' ' | '<' | '>')).map(|c| c.to_ascii_lowercase()).collect();
        if normalized.is_empty() {
            return Err(err("must not be empty".into()));
        }
        if let Some((position, c)) = normalized.chars().enumerate().find(|(_, c)| !c.is_ascii_hexdigit()) {
            return Err(err(format!(
                "contains {c:?} at position {position} after removing spaces and '<' '>'; an APNs token is hex digits"
            )));
        }
        let len = normalized.len();
        if !(APNS_TOKEN_MIN_CHARS..=APNS_TOKEN_MAX_CHARS).contains(&len) {
            return Err(err(format!(
                "has {len} hex digits; an APNs token has {APNS_TOKEN_MIN_CHARS} to {APNS_TOKEN_MAX_CHARS}"
            )));
        }
        if !len.is_multiple_of(2) {
            return Err(err(format!("has {len} hex digits; an APNs token has an even number of hex digits")));
        }
        Ok(Self { value: normalized, provider: PushProvider::Apns })
    }

    /// Returns the token as sent to ZEGO.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn provider(&self) -> PushProvider {
        self.provider
    }

    /// Returns a short, stable hash of the token for logs: the first 12 hex
    /// digits of its SHA-256. Tokens themselves are never logged.
    pub fn short_hash(&self) -> String {
        short_hash(&self.value)
    }
}

/// Returns the first 12 hex digits of the SHA-256 of `value`.
pub fn short_hash(value: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(value.as_bytes());
    hex::encode(&digest[..6])
}

// The token is shown only as a hash, so `value` is left out on purpose.
#[allow(clippy::missing_fields_in_debug)]
impl fmt::Debug for PushToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushToken")
            .field("provider", &self.provider)
            .field("sha256", &self.short_hash())
            .finish()
    }
}

/// An app-chosen id that distinguishes one user's devices: 1 to 128
/// characters of printable ASCII without whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceId(String);

impl DeviceId {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let err = |message: String| ValidationError::new(Field::DeviceId, message);
        if value.is_empty() {
            return Err(err("must not be empty when given".into()));
        }
        if value.len() > DEVICE_ID_MAX_CHARS {
            return Err(err(format!(
                "is {} characters long; at most {DEVICE_ID_MAX_CHARS} are allowed",
                value.len()
            )));
        }
        if let Some((position, c)) = first_unprintable(value) {
            return Err(err(format!(
                "contains {c:?} at position {position}; only printable ASCII without whitespace is allowed"
            )));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One device token to bind to one user: the validated content of a
/// registration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub user_id: UserId,
    pub token: PushToken,
    pub platform: Platform,
    pub device_id: Option<DeviceId>,
}

/// The end of the message that rejects an iOS token that is not hex but is
/// a valid FCM token. It names the server's JSON field, so the CLI and the
/// Python package replace it with their own words.
pub const FCM_PROVIDER_HINT: &str = "send \"provider\": \"fcm\"";

impl Registration {
    /// Validates the raw request fields.
    ///
    /// `provider` defaults to the platform's own service. An iOS request
    /// whose token is not hex and names no provider is rejected with a hint
    /// to send `"provider": "fcm"`, because an iOS app that uses Firebase
    /// has an FCM token.
    pub fn parse(
        user_id: &str,
        token: &str,
        platform: &str,
        provider: Option<&str>,
        device_id: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let user_id = UserId::parse(user_id)?;
        let platform = Platform::parse(platform)?;
        let explicit_provider = provider.map(PushProvider::parse).transpose()?;
        let provider = explicit_provider.unwrap_or(platform.default_provider());

        let token = match PushToken::parse(token, provider) {
            Ok(token) => token,
            Err(error)
                if explicit_provider.is_none()
                    && platform == Platform::Ios
                    && PushToken::parse(token, PushProvider::Fcm).is_ok() =>
            {
                return Err(ValidationError::new(
                    error.field,
                    format!(
                        "{}. If this iOS app uses Firebase, the token is an FCM token: {FCM_PROVIDER_HINT}",
                        error.message
                    ),
                ));
            }
            Err(error) => return Err(error),
        };
        let device_id = device_id.map(DeviceId::parse).transpose()?;

        Ok(Self { user_id, token, platform, device_id })
    }

    pub fn provider(&self) -> PushProvider {
        self.token.provider()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APNS_64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn user_id_accepts_32_bytes() {
        let id = "a".repeat(32);
        assert_eq!(UserId::parse(&id).unwrap().as_str(), id);
    }

    #[test]
    fn rejects_user_id_over_32_bytes() {
        let err = UserId::parse(&"a".repeat(33)).unwrap_err();
        assert_eq!(err.field, Field::UserId);
        assert!(err.message.contains("at most 32 bytes"), "{err}");
    }

    #[test]
    fn rejects_empty_user_id() {
        let err = UserId::parse("").unwrap_err();
        assert_eq!(err.field, Field::UserId);
        assert!(err.message.contains("empty"));
    }

    #[test]
    fn rejects_user_id_with_whitespace_or_non_ascii() {
        for bad in ["user 1", "user\t1", "usér", "user\n", "\u{7f}x"] {
            let err = UserId::parse(bad).unwrap_err();
            assert_eq!(err.field, Field::UserId, "{bad:?}");
            assert!(err.message.contains("printable ASCII"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn user_id_counts_bytes_not_characters() {
        // 11 three-byte characters are 33 bytes: the byte rule fires first.
        let err = UserId::parse(&"€".repeat(11)).unwrap_err();
        assert!(err.message.contains("bytes"), "{err}");
    }

    #[test]
    fn platform_matches_any_case() {
        for (raw, expected) in [
            ("android", Platform::Android),
            ("Android", Platform::Android),
            ("ANDROID", Platform::Android),
            ("ios", Platform::Ios),
            ("iOS", Platform::Ios),
            ("IOS", Platform::Ios),
        ] {
            assert_eq!(Platform::parse(raw).unwrap(), expected, "{raw}");
        }
    }

    #[test]
    fn rejects_unknown_platform() {
        for bad in ["", "web", " android", "apple"] {
            let err = Platform::parse(bad).unwrap_err();
            assert_eq!(err.field, Field::Platform);
            assert!(err.message.contains("\"android\" or \"ios\""));
        }
        let err = Platform::parse("").unwrap_err();
        assert!(err.message.starts_with("must not be empty"), "{}", err.message);
    }

    #[test]
    fn provider_parses_and_maps_to_codes() {
        assert_eq!(PushProvider::parse("FCM").unwrap().code(), 1);
        assert_eq!(PushProvider::parse("apns").unwrap().code(), 2);
        assert_eq!(PushProvider::from_code(2), Some(PushProvider::Apns));
        assert_eq!(PushProvider::from_code(3), None);
        let err = PushProvider::parse("hms").unwrap_err();
        assert_eq!(err.field, Field::Provider);
    }

    #[test]
    fn fcm_token_keeps_exact_text() {
        let raw = "dGVzdA:APA91b-Hx_9";
        let token = PushToken::parse(raw, PushProvider::Fcm).unwrap();
        assert_eq!(token.as_str(), raw);
    }

    #[test]
    fn rejects_fcm_token_with_url_characters() {
        for bad in ["abc/def", "abc?x", "abc%20", "abc def", "abc\u{0}"] {
            let err = PushToken::parse(bad, PushProvider::Fcm).unwrap_err();
            assert_eq!(err.field, Field::FcmToken);
            assert!(err.message.contains("A-Z, a-z, 0-9"), "{bad:?}");
        }
    }

    #[test]
    fn fcm_token_length_bound() {
        assert!(PushToken::parse(&"a".repeat(4096), PushProvider::Fcm).is_ok());
        let err = PushToken::parse(&"a".repeat(4097), PushProvider::Fcm).unwrap_err();
        assert!(err.message.contains("at most 4096"));
        assert!(PushToken::parse("", PushProvider::Fcm).is_err());
    }

    #[test]
    fn apns_token_is_normalized() {
        let raw = format!("<{} {}>", &APNS_64[..32].to_uppercase(), &APNS_64[32..]);
        let token = PushToken::parse(&raw, PushProvider::Apns).unwrap();
        assert_eq!(token.as_str(), APNS_64);
    }

    #[test]
    fn apns_token_accepts_long_tokens() {
        for len in [64, 108, 160, 200] {
            let raw = "ab".repeat(len / 2);
            assert!(PushToken::parse(&raw, PushProvider::Apns).is_ok(), "{len}");
        }
    }

    #[test]
    fn rejects_apns_token_of_bad_shape() {
        let cases = [
            ("ab".repeat(31), "64 to 200"),
            ("ab".repeat(101), "64 to 200"),
            (format!("{APNS_64}a"), "even number"),
            (format!("{}zz", &APNS_64[..62]), "hex digits"),
            // A short or long odd length breaks the range rule first.
            ("abc".to_owned(), "has 3 hex digits; an APNs token has 64 to 200"),
            ("a".repeat(201), "has 201 hex digits; an APNs token has 64 to 200"),
        ];
        for (raw, rule) in cases {
            let err = PushToken::parse(&raw, PushProvider::Apns).unwrap_err();
            assert_eq!(err.field, Field::FcmToken);
            assert!(err.message.contains(rule), "{raw}: {err}");
        }
        let err = PushToken::parse("abc", PushProvider::Apns).unwrap_err();
        assert!(!err.message.contains("even number"), "{err}");
    }

    #[test]
    fn token_debug_shows_hash_not_token() {
        let token = PushToken::parse("secret-token-text", PushProvider::Fcm).unwrap();
        let debug = format!("{token:?}");
        assert!(!debug.contains("secret-token-text"));
        assert!(debug.contains(&token.short_hash()));
        assert_eq!(token.short_hash().len(), 12);
    }

    #[test]
    fn registration_uses_platform_default_provider() {
        let android = Registration::parse("u1", "fcm_token", "Android", None, None).unwrap();
        assert_eq!(android.provider(), PushProvider::Fcm);
        let ios = Registration::parse("u1", APNS_64, "iOS", None, None).unwrap();
        assert_eq!(ios.provider(), PushProvider::Apns);
    }

    #[test]
    fn registration_suggests_fcm_provider_for_ios_fcm_token() {
        let err = Registration::parse("u1", "fcm:token-from-firebase", "ios", None, None).unwrap_err();
        assert_eq!(err.field, Field::FcmToken);
        assert!(err.message.contains("\"provider\": \"fcm\""), "{err}");
    }

    #[test]
    fn registration_accepts_ios_fcm_token_with_provider() {
        let reg = Registration::parse("u1", "fcm:token-from-firebase", "ios", Some("fcm"), None).unwrap();
        assert_eq!(reg.provider(), PushProvider::Fcm);
        assert_eq!(reg.platform, Platform::Ios);
    }

    #[test]
    fn registration_validates_device_id() {
        let reg = Registration::parse("u1", "tok", "android", None, Some("pixel-7")).unwrap();
        assert_eq!(reg.device_id.unwrap().as_str(), "pixel-7");
        let err = Registration::parse("u1", "tok", "android", None, Some("")).unwrap_err();
        assert_eq!(err.field, Field::DeviceId);
    }
}
