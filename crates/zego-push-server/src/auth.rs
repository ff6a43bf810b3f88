//! Request authentication: bearer JWTs (HS256, RS256, ES256) and hashed API keys.
//!
//! [`Authenticator::authenticate`] reads `Authorization: Bearer <value>` and returns the [`Caller`].
//! [`Caller::may_act_for`] then decides for which `user_id` the request may register push tokens.
//! Errors, logs and `Debug` output never contain a token, an API key, the HS256 secret or a full key hash.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::errors::{Error as JwtError, ErrorKind as JwtErrorKind};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// The realm named in every `WWW-Authenticate` challenge.
pub const REALM: &str = "zego-push";

/// The minimum HS256 secret length in bytes. RFC 7518 section 3.2 requires a key at least as long
/// as the hash output, which is 32 bytes for SHA-256.
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// The maximum length of an API key name, which appears in logs and metric labels.
const MAX_API_KEY_NAME_LEN: usize = 64;

/// The DER encoding of the object identifier 1.2.840.10045.3.1.7 (prime256v1), the P-256 curve.
const P256_CURVE_OID_DER: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/// The enabled authentication modes and their settings. Several modes may be enabled at once.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// Enabled modes, for example parsed with [`AuthMode::parse_list`] from `jwt,api-key`.
    pub modes: Vec<AuthMode>,
    /// JWT verification settings, required when [`AuthMode::Jwt`] is enabled.
    pub jwt: Option<JwtSettings>,
    /// Accepted API keys, at least one when [`AuthMode::ApiKey`] is enabled.
    pub api_keys: Vec<ApiKeyEntry>,
}

/// An authentication mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMode {
    /// No authentication, so every request is [`Caller::Anonymous`]. It cannot be combined with other modes.
    None,
    /// A bearer JWT whose `sub` claim is the user.
    Jwt,
    /// A bearer API key of a trusted backend that acts for its users.
    ApiKey,
}

impl AuthMode {
    /// Returns the configuration name: `none`, `jwt` or `api-key`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
            AuthMode::Jwt => "jwt",
            AuthMode::ApiKey => "api-key",
        }
    }

    /// Parses a comma-separated list of modes such as `jwt,api-key`. A mode listed twice is an error.
    pub fn parse_list(text: &str) -> Result<Vec<AuthMode>, AuthConfigError> {
        if text.trim().is_empty() {
            return Err(AuthConfigError::NoMode);
        }
        let mut modes = Vec::new();
        for item in text.split(',') {
            let mode: AuthMode = item.parse()?;
            if modes.contains(&mode) {
                return Err(AuthConfigError::DuplicateMode(mode));
            }
            modes.push(mode);
        }
        Ok(modes)
    }
}

impl FromStr for AuthMode {
    type Err = AuthConfigError;

    /// Parses one mode name, ignoring case and surrounding whitespace.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text.trim();
        [AuthMode::None, AuthMode::Jwt, AuthMode::ApiKey]
            .into_iter()
            .find(|mode| mode.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| AuthConfigError::UnknownMode(name.to_owned()))
    }
}

impl fmt::Display for AuthMode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A JWT signature algorithm that the server can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 and a shared secret.
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and an RSA public key.
    Rs256,
    /// ECDSA with SHA-256 on the P-256 curve.
    Es256,
}

impl JwtAlgorithm {
    /// Returns the JOSE name (`HS256`, `RS256` or `ES256`), as written in a token's `alg` header.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Rs256 => "RS256",
            JwtAlgorithm::Es256 => "ES256",
        }
    }

    fn to_jsonwebtoken(self) -> Algorithm {
        match self {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Es256 => Algorithm::ES256,
        }
    }
}

impl FromStr for JwtAlgorithm {
    type Err = AuthConfigError;

    /// Parses `HS256`, `RS256` or `ES256`, ignoring case and surrounding whitespace.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text.trim();
        [JwtAlgorithm::Hs256, JwtAlgorithm::Rs256, JwtAlgorithm::Es256]
            .into_iter()
            .find(|algorithm| algorithm.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| AuthConfigError::UnknownAlgorithm(name.to_owned()))
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// JWT verification settings. `Debug` prints `****` in place of the HS256 secret.
#[derive(Clone)]
pub struct JwtSettings {
    /// The only algorithm accepted in a token's `alg` header.
    pub algorithm: JwtAlgorithm,
    /// The shared secret for HS256, at least [`MIN_HS256_SECRET_BYTES`] bytes.
    /// It is used as is, without trimming.
    pub hs256_secret: Option<String>,
    /// The PEM public key (`PUBLIC KEY`, `RSA PUBLIC KEY` or `CERTIFICATE`) for RS256 or ES256.
    pub public_key_pem: Option<String>,
    /// The required `iss` claim. When unset, `iss` is not checked.
    pub issuer: Option<String>,
    /// The required `aud` claim. When unset, a token that has an `aud` claim is rejected, as RFC 7519
    /// section 4.1.3 requires of a recipient that is not named in it.
    pub audience: Option<String>,
    /// Allowed clock skew, in seconds, when checking `exp` and `nbf`.
    /// At most [`JwtSettings::MAX_LEEWAY_SECONDS`].
    pub leeway_seconds: u64,
}

impl JwtSettings {
    /// The default for [`JwtSettings::leeway_seconds`].
    pub const DEFAULT_LEEWAY_SECONDS: u64 = 30;

    /// The largest accepted [`JwtSettings::leeway_seconds`]. A larger skew points to a wrong clock, and
    /// the leeway extends the lifetime of every token by as much.
    pub const MAX_LEEWAY_SECONDS: u64 = 300;

    /// Creates settings for `algorithm` with no key, issuer or audience and the default leeway.
    pub fn new(algorithm: JwtAlgorithm) -> Self {
        JwtSettings {
            algorithm,
            hs256_secret: None,
            public_key_pem: None,
            issuer: None,
            audience: None,
            leeway_seconds: Self::DEFAULT_LEEWAY_SECONDS,
        }
    }
}

impl fmt::Debug for JwtSettings {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("JwtSettings")
            .field("algorithm", &self.algorithm)
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "****"))
            .field(
                "public_key_pem",
                &self.public_key_pem.as_ref().map(|pem| format!("<{} bytes of PEM>", pem.len())),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
}

/// An accepted API key: a name for logs and the SHA-256 digest of the key.
///
/// The text form is `NAME=sha256:HEX`, where HEX is the 64 hex digits that [`hash_api_key`] prints.
/// `Debug` shows only the first 8 hex digits of the digest.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyEntry {
    /// 1 to 64 characters from `A-Z a-z 0-9 - _ .`.
    pub name: String,
    /// The SHA-256 digest of the key's UTF-8 bytes.
    pub sha256: [u8; 32],
}

impl ApiKeyEntry {
    /// Parses entries in the form `NAME=sha256:HEX`, separated by commas or whitespace (newlines included).
    pub fn parse_list(text: &str) -> Result<Vec<ApiKeyEntry>, AuthConfigError> {
        text.split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|item| !item.is_empty())
            .enumerate()
            .map(|(index, item)| {
                item.parse().map_err(|error| match error {
                    AuthConfigError::InvalidApiKeyEntry { reason, .. } => {
                        AuthConfigError::InvalidApiKeyEntry { position: Some(index + 1), reason }
                    }
                    other => other,
                })
            })
            .collect()
    }
}

impl FromStr for ApiKeyEntry {
    type Err = AuthConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| AuthConfigError::InvalidApiKeyEntry { position: None, reason };

        let Some((name, hash)) = text.trim().split_once('=') else {
            return Err(invalid("expected NAME=sha256:HEX, but there is no '='".into()));
        };
        check_api_key_name(name).map_err(invalid)?;

        // The hash text is not echoed, because it may be a raw API key pasted here by mistake.
        let Some(hex_digits) = hash.strip_prefix("sha256:") else {
            return Err(invalid(format!(
                "the value for {name} must start with sha256: followed by the hash that the hash-api-key command prints; raw API keys are not accepted"
            )));
        };
        if hex_digits.len() != 64 {
            return Err(invalid(format!(
                "the hash for {name} has {} characters after sha256:, but a SHA-256 hash has 64 hex digits",
                hex_digits.len()
            )));
        }
        let mut sha256 = [0_u8; 32];
        hex::decode_to_slice(hex_digits, &mut sha256).map_err(|_| {
            invalid(format!("the hash for {name} contains characters that are not hex digits"))
        })?;
        Ok(ApiKeyEntry { name: name.to_owned(), sha256 })
    }
}

/// Checks an API key's name: 1 to 64 characters of letters, digits, '-', '_' and '.'.
pub fn check_api_key_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name before '=' is empty".into());
    }
    if name.len() > MAX_API_KEY_NAME_LEN {
        return Err(format!(
            "the name is {} characters long, but at most {MAX_API_KEY_NAME_LEN} are allowed",
            name.len()
        ));
    }
    if !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.')) {
        return Err(format!("the name {name:?} may contain only letters, digits, '-', '_' and '.'"));
    }
    Ok(())
}

impl fmt::Debug for ApiKeyEntry {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ApiKeyEntry")
            .field("name", &self.name)
            .field("sha256", &format_args!("{}…", hex::encode(&self.sha256[..4])))
            .finish()
    }
}

/// Hashes an API key for the configuration, returning `sha256:` and 64 lowercase hex digits.
///
/// The hash is unsalted, so a short or guessable key can be recovered from it by brute force.
/// Use random keys of at least 32 bytes, such as the output of `openssl rand -hex 32`.
pub fn hash_api_key(key: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// An invalid authentication configuration. Settings are named by their [`AuthSettings`] field paths.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("unknown authentication mode {0:?}; use none, jwt or api-key, or a comma-separated list such as jwt,api-key")]
    UnknownMode(String),
    #[error("no authentication mode is set; use none, jwt, api-key or jwt,api-key")]
    NoMode,
    #[error("the authentication mode {0} is listed twice; list each mode once")]
    DuplicateMode(AuthMode),
    #[error("the authentication mode none cannot be combined with other modes; use none alone or remove it")]
    NoneCombined,
    #[error("unknown JWT algorithm {0:?}; use HS256, RS256 or ES256")]
    UnknownAlgorithm(String),
    #[error("the setting {setting} is missing: {reason}")]
    MissingSetting { setting: &'static str, reason: &'static str },
    #[error("the setting {setting} is set but not used: {reason}")]
    UnusedSetting { setting: &'static str, reason: &'static str },
    #[error("the setting {setting} is empty; set a value or leave it unset")]
    EmptySetting { setting: &'static str },
    #[error(
        "the setting jwt.leeway_seconds is {seconds}, but at most {} seconds are allowed; fix the clocks if they differ by more",
        JwtSettings::MAX_LEEWAY_SECONDS
    )]
    LeewayTooLarge { seconds: u64 },
    #[error(
        "the HS256 secret is {length} bytes long, but at least {MIN_HS256_SECRET_BYTES} are required; generate one with `openssl rand -hex 32`"
    )]
    WeakSecret { length: usize },
    #[error("the {algorithm} public key in jwt.public_key_pem is invalid: {reason}")]
    InvalidPublicKey { algorithm: JwtAlgorithm, reason: String },
    #[error("invalid API key entry{}: {reason}", position.map(|n| format!(" {n}")).unwrap_or_default())]
    InvalidApiKeyEntry { position: Option<usize>, reason: String },
    #[error("the API key name {0:?} is used by more than one entry; give each key its own name")]
    DuplicateApiKeyName(String),
    #[error(
        "the API key entries {first:?} and {second:?} have the same hash; give each backend its own key"
    )]
    DuplicateApiKeyHash { first: String, second: String },
}

// ---------------------------------------------------------------------------------------------
// Authenticator
// ---------------------------------------------------------------------------------------------

/// Verifies the credentials of requests. Cloning is cheap because the state is shared.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    modes: Vec<AuthMode>,
    verifier: Verifier,
}

/// The credential checks that the enabled modes select.
enum Verifier {
    Anonymous,
    Jwt(JwtVerifier),
    ApiKeys(Vec<ApiKeyEntry>),
    JwtOrApiKey(JwtVerifier, Vec<ApiKeyEntry>),
}

impl Authenticator {
    /// Validates `settings` and loads the JWT key.
    pub fn new(settings: AuthSettings) -> Result<Self, AuthConfigError> {
        let AuthSettings { modes, jwt, api_keys } = settings;
        check_modes(&modes)?;

        let jwt_enabled = modes.contains(&AuthMode::Jwt);
        let api_key_enabled = modes.contains(&AuthMode::ApiKey);
        if !jwt_enabled && jwt.is_some() {
            tracing::warn!(
                "JWT settings are configured but the jwt authentication mode is not enabled; ignoring them"
            );
        }
        if !api_key_enabled && !api_keys.is_empty() {
            tracing::warn!(
                count = api_keys.len(),
                "API keys are configured but the api-key authentication mode is not enabled; ignoring them"
            );
        }

        let jwt = match jwt {
            Some(settings) if jwt_enabled => Some(JwtVerifier::new(&settings)?),
            None if jwt_enabled => {
                return Err(AuthConfigError::MissingSetting {
                    setting: "jwt",
                    reason:
                        "the jwt authentication mode is enabled, so the JWT algorithm and key are required",
                });
            }
            _ => None,
        };
        if api_key_enabled {
            check_api_keys(&api_keys)?;
        }

        let verifier = match (jwt, api_key_enabled) {
            (Some(jwt), true) => Verifier::JwtOrApiKey(jwt, api_keys),
            (Some(jwt), false) => Verifier::Jwt(jwt),
            (None, true) => Verifier::ApiKeys(api_keys),
            (None, false) => Verifier::Anonymous,
        };
        Ok(Authenticator { inner: Arc::new(Inner { modes, verifier }) })
    }

    /// Returns the enabled modes in configuration order.
    pub fn modes(&self) -> &[AuthMode] {
        &self.inner.modes
    }

    /// Returns whether requests need no credentials, which is the case only in mode none.
    pub fn allows_anonymous(&self) -> bool {
        matches!(self.inner.verifier, Verifier::Anonymous)
    }

    /// Authenticates one request from its `Authorization` header.
    ///
    /// In mode none every request is [`Caller::Anonymous`] and the header is ignored.
    /// Rejections are logged at debug level with the reason only.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, AuthError> {
        let result = match &self.inner.verifier {
            Verifier::Anonymous => return Ok(Caller::Anonymous),
            Verifier::Jwt(jwt) => bearer_credential(headers).and_then(|credential| jwt.verify(credential)),
            Verifier::ApiKeys(entries) => {
                bearer_credential(headers).and_then(|credential| verify_api_key(entries, credential))
            }
            Verifier::JwtOrApiKey(jwt, entries) => bearer_credential(headers).and_then(|credential| {
                if jwt_header_algorithm(credential).is_some() {
                    jwt.verify(credential)
                } else {
                    verify_api_key(entries, credential)
                }
            }),
        };
        if let Err(error) = &result {
            tracing::debug!(reason = %error, "request authentication rejected");
        }
        result
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (jwt, api_keys) = match &self.inner.verifier {
            Verifier::Anonymous => (None, None),
            Verifier::Jwt(jwt) => (Some(jwt), None),
            Verifier::ApiKeys(entries) => (None, Some(entries)),
            Verifier::JwtOrApiKey(jwt, entries) => (Some(jwt), Some(entries)),
        };
        let api_key_names =
            api_keys.map(|entries| entries.iter().map(|entry| entry.name.as_str()).collect::<Vec<_>>());
        formatter
            .debug_struct("Authenticator")
            .field("modes", &self.inner.modes)
            .field("jwt", &jwt)
            .field("api_key_names", &api_key_names)
            .finish()
    }
}

fn check_modes(modes: &[AuthMode]) -> Result<(), AuthConfigError> {
    if modes.is_empty() {
        return Err(AuthConfigError::NoMode);
    }
    for (index, mode) in modes.iter().enumerate() {
        if modes[..index].contains(mode) {
            return Err(AuthConfigError::DuplicateMode(*mode));
        }
    }
    if modes.len() > 1 && modes.contains(&AuthMode::None) {
        return Err(AuthConfigError::NoneCombined);
    }
    Ok(())
}

fn check_api_keys(entries: &[ApiKeyEntry]) -> Result<(), AuthConfigError> {
    if entries.is_empty() {
        return Err(AuthConfigError::MissingSetting {
            setting: "api_keys",
            reason: "the api-key authentication mode is enabled, so at least one NAME=sha256:HEX entry is required",
        });
    }
    for (index, entry) in entries.iter().enumerate() {
        check_api_key_name(&entry.name)
            .map_err(|reason| AuthConfigError::InvalidApiKeyEntry { position: Some(index + 1), reason })?;
        for earlier in &entries[..index] {
            if earlier.name == entry.name {
                return Err(AuthConfigError::DuplicateApiKeyName(entry.name.clone()));
            }
            if earlier.sha256 == entry.sha256 {
                return Err(AuthConfigError::DuplicateApiKeyHash {
                    first: earlier.name.clone(),
                    second: entry.name.clone(),
                });
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Credential checks
// ---------------------------------------------------------------------------------------------

/// Reads the credential from `Authorization: Bearer <value>`. The scheme name is case-insensitive.
fn bearer_credential(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(AuthError::Missing);
    };
    if values.next().is_some() {
        return Err(AuthError::Malformed(
            "the request has more than one Authorization header; send one".into(),
        ));
    }
    let value = value.to_str().map_err(|_| {
        AuthError::Malformed("the Authorization header contains characters that are not visible ASCII".into())
    })?;

    let mut parts = value.split_ascii_whitespace();
    let scheme = parts.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(AuthError::Malformed(
            "the Authorization header must use the Bearer scheme: Authorization: Bearer <token>".into(),
        ));
    }
    let Some(credential) = parts.next() else {
        return Err(AuthError::Malformed(
            "the Authorization header has the Bearer scheme but no token".into(),
        ));
    };
    if parts.next().is_some() {
        return Err(AuthError::Malformed("the bearer token must not contain spaces".into()));
    }
    Ok(credential)
}

/// The verification key and claim rules for JWTs.
#[derive(Clone)]
struct JwtVerifier {
    algorithm: JwtAlgorithm,
    key: DecodingKey,
    validation: Validation,
}

/// The claims read from a verified token beyond those that [`Validation`] checks.
#[derive(Deserialize)]
struct SubjectClaim {
    #[serde(default)]
    sub: Option<Value>,
}

impl JwtVerifier {
    fn new(settings: &JwtSettings) -> Result<Self, AuthConfigError> {
        let algorithm = settings.algorithm;
        let key = match algorithm {
            JwtAlgorithm::Hs256 => hs256_key(settings)?,
            JwtAlgorithm::Rs256 | JwtAlgorithm::Es256 => public_key(settings)?,
        };

        if settings.leeway_seconds > JwtSettings::MAX_LEEWAY_SECONDS {
            return Err(AuthConfigError::LeewayTooLarge { seconds: settings.leeway_seconds });
        }

        let mut validation = Validation::new(algorithm.to_jsonwebtoken());
        validation.leeway = settings.leeway_seconds;
        validation.validate_nbf = true;
        // jsonwebtoken checks `iss` and `aud` only when present, so configured ones are also required.
        let mut required_claims = vec!["exp"];
        if let Some(issuer) = &settings.issuer {
            if issuer.is_empty() {
                return Err(AuthConfigError::EmptySetting { setting: "jwt.issuer" });
            }
            validation.set_issuer(&[issuer]);
            required_claims.push("iss");
        }
        if let Some(audience) = &settings.audience {
            if audience.is_empty() {
                return Err(AuthConfigError::EmptySetting { setting: "jwt.audience" });
            }
            validation.set_audience(&[audience]);
            required_claims.push("aud");
        }
        validation.set_required_spec_claims(&required_claims);

        Ok(JwtVerifier { algorithm, key, validation })
    }

    fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        // This `alg` check gives a precise message. jsonwebtoken repeats it against `validation`.
        let Some(algorithm) = jwt_header_algorithm(token) else {
            return Err(AuthError::InvalidToken(
                "the bearer token is not a JWT: expected three base64url parts separated by dots".into(),
            ));
        };
        if algorithm != self.algorithm.as_str() {
            return Err(AuthError::InvalidToken(format!(
                "the token's alg header is {}, but this server accepts only {}",
                printable_algorithm(&algorithm),
                self.algorithm
            )));
        }

        let data = jsonwebtoken::decode::<SubjectClaim>(token, &self.key, &self.validation)
            .map_err(|error| self.token_error(&error))?;
        match data.claims.sub {
            Some(Value::String(subject)) if !subject.is_empty() => Ok(Caller::User(subject)),
            _ => Err(AuthError::InvalidToken("the sub claim is missing or is not a non-empty string".into())),
        }
    }

    fn token_error(&self, error: &JwtError) -> AuthError {
        let reason = match error.kind() {
            JwtErrorKind::ExpiredSignature => return AuthError::Expired,
            JwtErrorKind::MissingRequiredClaim(claim) => {
                return AuthError::InvalidToken(format!(
                    "the {claim} claim is missing or has the wrong type"
                ));
            }
            JwtErrorKind::ImmatureSignature => {
                "the token is not valid yet, because its nbf claim is in the future"
            }
            JwtErrorKind::InvalidSignature => "the signature does not match the configured key",
            JwtErrorKind::InvalidIssuer => "the iss claim does not match the expected issuer",
            JwtErrorKind::InvalidAudience if self.validation.aud.is_none() => {
                "the token has an aud claim, but this server has no expected audience configured; the server operator must set --jwt-audience (ZEGO_PUSH_JWT_AUDIENCE) to the audience the identity provider issues"
            }
            JwtErrorKind::InvalidAudience => "the aud claim does not match the expected audience",
            JwtErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted",
            JwtErrorKind::InvalidToken
            | JwtErrorKind::Base64(_)
            | JwtErrorKind::Json(_)
            | JwtErrorKind::Utf8(_) => "the token is not a well-formed JWT",
            _ => "the signature could not be verified",
        };
        AuthError::InvalidToken(reason.into())
    }
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .field("leeway_seconds", &self.validation.leeway)
            .finish_non_exhaustive()
    }
}

fn hs256_key(settings: &JwtSettings) -> Result<DecodingKey, AuthConfigError> {
    if settings.public_key_pem.is_some() {
        return Err(AuthConfigError::UnusedSetting {
            setting: "jwt.public_key_pem",
            reason: "HS256 uses jwt.hs256_secret; remove the public key or choose RS256 or ES256",
        });
    }
    let Some(secret) = &settings.hs256_secret else {
        return Err(AuthConfigError::MissingSetting {
            setting: "jwt.hs256_secret",
            reason: "the JWT algorithm is HS256, which verifies tokens with a shared secret",
        });
    };
    if secret.len() < MIN_HS256_SECRET_BYTES {
        return Err(AuthConfigError::WeakSecret { length: secret.len() });
    }
    Ok(DecodingKey::from_secret(secret.as_bytes()))
}

fn public_key(settings: &JwtSettings) -> Result<DecodingKey, AuthConfigError> {
    let algorithm = settings.algorithm;
    if settings.hs256_secret.is_some() {
        return Err(AuthConfigError::UnusedSetting {
            setting: "jwt.hs256_secret",
            reason: "RS256 and ES256 use jwt.public_key_pem; remove the secret or choose HS256",
        });
    }
    let Some(pem) = &settings.public_key_pem else {
        return Err(AuthConfigError::MissingSetting {
            setting: "jwt.public_key_pem",
            reason: "RS256 and ES256 verify tokens with the issuer's PEM public key",
        });
    };
    let invalid = |reason: &str| AuthConfigError::InvalidPublicKey { algorithm, reason: reason.to_owned() };
    // jsonwebtoken loads an RSA private key as a verification key, and every signature check would then
    // fail. A private key also has no place on this server.
    if pem.contains("PRIVATE KEY-----") {
        return Err(invalid(
            "it is a private key; configure the public key instead, for example from `openssl pkey -in KEY -pubout`",
        ));
    }

    match algorithm {
        // NOTE: ring rejects RSA keys shorter than 2048 bits only when verifying, so such a key loads
        // here and then every token fails with "the signature does not match the configured key".
        JwtAlgorithm::Rs256 => DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
            invalid("expected a PEM block PUBLIC KEY or RSA PUBLIC KEY holding an RSA public key")
        }),
        JwtAlgorithm::Es256 => {
            let key = DecodingKey::from_ec_pem(pem.as_bytes())
                .map_err(|_| invalid("expected a PEM block PUBLIC KEY holding an EC public key"))?;
            if !pem_contains_p256_curve(pem) {
                return Err(invalid(
                    "ES256 needs a key on the P-256 curve (prime256v1), but this key uses another curve",
                ));
            }
            Ok(key)
        }
        JwtAlgorithm::Hs256 => unreachable!("HS256 keys are loaded by hs256_key"),
    }
}

/// Returns whether the DER inside `pem` names the P-256 curve. The caller has already parsed the PEM.
fn pem_contains_p256_curve(pem: &str) -> bool {
    let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
    decode_base64(&body)
        .is_some_and(|der| der.windows(P256_CURVE_OID_DER.len()).any(|window| window == P256_CURVE_OID_DER))
}

/// Returns the `alg` header of `value` if it has the shape of a JWT: three dot-separated parts whose
/// first is base64url JSON with a string `alg`. Signature and claims are not checked here.
fn jwt_header_algorithm(value: &str) -> Option<String> {
    let mut parts = value.split('.');
    let header = parts.next()?;
    let (Some(_payload), Some(_signature), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let header: Value = serde_json::from_slice(&decode_base64(header)?).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// Returns `algorithm` for an error message if it is a short alphanumeric name. Anything else is
/// replaced, because the value comes from the client.
fn printable_algorithm(algorithm: &str) -> String {
    if !algorithm.is_empty()
        && algorithm.len() <= 16
        && algorithm.bytes().all(|byte| byte.is_ascii_alphanumeric())
    {
        algorithm.to_owned()
    } else {
        "not a supported algorithm name".to_owned()
    }
}

/// Decodes base64 in the standard or the URL-safe alphabet, skipping `=` padding and ASCII whitespace.
///
/// It is lenient because it only reads the JWT header for routing and the curve of a PEM key.
/// jsonwebtoken decodes both strictly before any signature is trusted.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut output = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits: u32 = 0;
    for byte in text.bytes() {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' | b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            output.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(output)
}

fn verify_api_key(entries: &[ApiKeyEntry], key: &str) -> Result<Caller, AuthError> {
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    match find_api_key(entries, &digest).0 {
        Some(index) => Ok(Caller::ApiKey { name: entries[index].name.clone() }),
        None => Err(AuthError::UnknownApiKey),
    }
}

/// Finds the entry whose hash equals `digest`, comparing with every entry in constant time so that
/// the timing does not reveal which entry matched. Returns the index and the number of comparisons.
fn find_api_key(entries: &[ApiKeyEntry], digest: &[u8; 32]) -> (Option<usize>, usize) {
    let mut found = Choice::from(0);
    let mut matched_index: u64 = 0;
    let mut comparisons = 0;
    for (index, entry) in entries.iter().enumerate() {
        let equal = entry.sha256.ct_eq(digest);
        matched_index = u64::conditional_select(&matched_index, &(index as u64), equal);
        found |= equal;
        comparisons += 1;
    }
    let index = bool::from(found).then_some(matched_index as usize);
    (index, comparisons)
}

// ---------------------------------------------------------------------------------------------
// Callers and responses
// ---------------------------------------------------------------------------------------------

/// The authenticated sender of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Any sender, because authentication is off (mode none).
    Anonymous,
    /// A user, identified by the `sub` claim of a verified JWT.
    User(String),
    /// A trusted backend that acts for its users, identified by the name of its API key.
    ApiKey { name: String },
}

impl Caller {
    /// Returns whether this caller may act for `user_id`. Anonymous and API-key callers may act for
    /// any user, and a JWT user only for the user in its `sub` claim.
    pub fn may_act_for(&self, user_id: &str) -> bool {
        match self {
            Caller::Anonymous | Caller::ApiKey { .. } => true,
            Caller::User(subject) => subject == user_id,
        }
    }

    /// Returns a short label for logs and metrics: `anonymous`, `user` or `api-key:NAME`.
    pub fn label(&self) -> String {
        match self {
            Caller::Anonymous => "anonymous".to_owned(),
            Caller::User(_) => "user".to_owned(),
            Caller::ApiKey { name } => format!("api-key:{name}"),
        }
    }
}

/// A request whose credentials were rejected.
///
/// The messages that this module creates never contain the token or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the request has no Authorization header; send Authorization: Bearer <token>")]
    Missing,
    #[error("{0}")]
    Malformed(String),
    #[error("invalid bearer token: {0}; send a token issued for this server")]
    InvalidToken(String),
    #[error("the bearer token has expired; get a new token and retry")]
    Expired,
    #[error("the API key is not recognized; check the key configured for this server")]
    UnknownApiKey,
}

impl AuthError {
    /// Returns the `WWW-Authenticate` challenge (RFC 6750 section 3). It has no error code when the
    /// request carried no credentials, `invalid_request` when the header is malformed, and
    /// `invalid_token` when a token or key was presented and rejected.
    fn challenge(&self) -> String {
        let error_code = match self {
            AuthError::Missing => return format!("Bearer realm=\"{REALM}\""),
            AuthError::Malformed(_) => "invalid_request",
            AuthError::InvalidToken(_) | AuthError::Expired | AuthError::UnknownApiKey => "invalid_token",
        };
        format!(
            "Bearer realm=\"{REALM}\", error=\"{error_code}\", error_description=\"{}\"",
            challenge_description(&self.to_string())
        )
    }
}

/// Replaces the characters that RFC 6750 section 3 forbids in `error_description`
/// (`"`, `\` and anything outside printable ASCII).
fn challenge_description(message: &str) -> String {
    message
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            ' '..='~' => c,
            _ => '?',
        })
        .collect()
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let code = match self {
            AuthError::Expired => "token_expired",
            _ => "unauthorized",
        };
        let challenge = HeaderValue::from_str(&self.challenge())
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"zego-push\""));
        let body = json!({"success": false, "error": {"code": code, "message": self.to_string()}});
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)], Json(body)).into_response()
    }
}

/// Valid credentials that do not allow acting for the requested `user_id` (HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the credentials do not allow acting for user_id {user_id:?}; a user token may act only for the user in its sub claim"
)]
pub struct Forbidden {
    pub user_id: String,
}

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "error": {"code": "forbidden", "message": self.to_string(), "field": "user_id"},
        });
        (StatusCode::FORBIDDEN, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
    use jsonwebtoken::{encode, get_current_timestamp, EncodingKey, Header};

    use super::*;

    /// A 43-byte HS256 secret used only by these tests.
    const SECRET: &str = "test-only-hs256-secret-0123456789abcdefghij";

    fn hs256_settings() -> JwtSettings {
        JwtSettings { hs256_secret: Some(SECRET.to_owned()), ..JwtSettings::new(JwtAlgorithm::Hs256) }
    }

    fn public_key_settings(algorithm: JwtAlgorithm, pem: &str) -> JwtSettings {
        JwtSettings { public_key_pem: Some(pem.to_owned()), ..JwtSettings::new(algorithm) }
    }

    fn jwt_authenticator(settings: JwtSettings) -> Authenticator {
        Authenticator::new(AuthSettings { modes: vec![AuthMode::Jwt], jwt: Some(settings), api_keys: vec![] })
            .expect("valid JWT settings")
    }

    fn api_key_entries(keys: &[(&str, &str)]) -> Vec<ApiKeyEntry> {
        keys.iter()
            .map(|(name, key)| format!("{name}={}", hash_api_key(key)).parse().expect("valid entry"))
            .collect()
    }

    fn api_key_authenticator(keys: &[(&str, &str)]) -> Authenticator {
        Authenticator::new(AuthSettings {
            modes: vec![AuthMode::ApiKey],
            jwt: None,
            api_keys: api_key_entries(keys),
        })
        .expect("valid API key settings")
    }

    fn mixed_authenticator() -> Authenticator {
        Authenticator::new(AuthSettings {
            modes: AuthMode::parse_list("jwt,api-key").unwrap(),
            jwt: Some(hs256_settings()),
            api_keys: api_key_entries(&[("billing", "billing-key-7f3a9c")]),
        })
        .expect("valid mixed settings")
    }

    fn now() -> u64 {
        get_current_timestamp()
    }

    fn sign(algorithm: Algorithm, key: &EncodingKey, claims: &Value) -> String {
        encode(&Header::new(algorithm), claims, key).expect("signing succeeds")
    }

    fn hs256_token(claims: &Value) -> String {
        sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET.as_bytes()), claims)
    }

    fn valid_claims() -> Value {
        json!({"sub": "alice", "exp": now() + 600})
    }

    fn bearer(value: &str) -> HeaderMap {
        authorization(&format!("Bearer {value}"))
    }

    fn authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn base64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut output = String::new();
        for chunk in bytes.chunks(3) {
            let group = chunk
                .iter()
                .enumerate()
                .fold(0_u32, |group, (i, byte)| group | u32::from(*byte) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                output.push(ALPHABET[(group >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        output
    }

    /// Replaces the claims of a signed token and keeps its header and signature.
    fn with_claims(token: &str, claims: &Value) -> String {
        let parts: Vec<&str> = token.split('.').collect();
        format!("{}.{}.{}", parts[0], base64url(claims.to_string().as_bytes()), parts[2])
    }

    fn invalid_token_reason(result: Result<Caller, AuthError>) -> String {
        match result {
            Err(AuthError::InvalidToken(reason)) => reason,
            other => panic!("expected InvalidToken, got {other:?}"),
        }
    }

    // JWT: HS256

    #[test]
    fn hs256_valid_token_accepted() {
        let authenticator = jwt_authenticator(hs256_settings());

        let caller = authenticator.authenticate(&bearer(&hs256_token(&valid_claims())));

        assert_eq!(caller, Ok(Caller::User("alice".into())));
    }

    #[test]
    fn hs256_wrong_secret_rejected() {
        let authenticator = jwt_authenticator(hs256_settings());
        let other_key = EncodingKey::from_secret(b"another-secret-of-enough-length-0123456789");
        let token = sign(Algorithm::HS256, &other_key, &valid_claims());

        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&token)));

        assert!(reason.contains("signature does not match"), "{reason}");
    }

    #[test]
    fn hs256_tampered_claims_rejected() {
        let authenticator = jwt_authenticator(hs256_settings());
        let token =
            with_claims(&hs256_token(&valid_claims()), &json!({"sub": "mallory", "exp": now() + 600}));

        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&token)));

        assert!(reason.contains("signature does not match"), "{reason}");
    }

    #[test]
    fn expired_token_rejected() {
        let authenticator = jwt_authenticator(hs256_settings());
        let token = hs256_token(&json!({"sub": "alice", "exp": now() - 120}));

        assert_eq!(authenticator.authenticate(&bearer(&token)), Err(AuthError::Expired));
    }

    #[test]
    fn expired_within_leeway_accepted() {
        let authenticator = jwt_authenticator(hs256_settings());
        let token = hs256_token(&json!({"sub": "alice", "exp": now() - 10}));

        assert_eq!(authenticator.authenticate(&bearer(&token)), Ok(Caller::User("alice".into())));
    }

    #[test]
    fn leeway_zero_rejects_just_expired() {
        let authenticator = jwt_authenticator(JwtSettings { leeway_seconds: 0, ..hs256_settings() });
        let token = hs256_token(&json!({"sub": "alice", "exp": now() - 2}));

        assert_eq!(authenticator.authenticate(&bearer(&token)), Err(AuthError::Expired));
    }

    #[test]
    fn missing_exp_rejected() {
        let authenticator = jwt_authenticator(hs256_settings());
        let token = hs256_token(&json!({"sub": "alice"}));

        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&token)));

        assert!(reason.contains("exp claim is missing"), "{reason}");
    }

    #[test]
    fn non_numeric_exp_rejected() {
        let authenticator = jwt_authenticator(hs256_settings());
        let token = hs256_token(&json!({"sub": "alice", "exp": "tomorrow"}));

        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&token)));

        assert!(reason.contains("exp claim is missing or has the wrong type"), "{reason}");
    }

    #[test]
    fn nbf_in_future_rejected() {
        let authenticator = jwt_authenticator(hs256_settings());
        let token = hs256_token(&json!({"sub": "alice", "exp": now() + 600, "nbf": now() + 300}));

        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&token)));

        assert!(reason.contains("nbf"), "{reason}");
    }

    #[test]
    fn nbf_within_leeway_accepted() {
        let authenticator = jwt_authenticator(hs256_settings());
        let token = hs256_token(&json!({"sub": "alice", "exp": now() + 600, "nbf": now() + 10}));

        assert_eq!(authenticator.authenticate(&bearer(&token)), Ok(Caller::User("alice".into())));
    }

    #[test]
    fn issuer_checked_when_configured() {
        let settings = JwtSettings { issuer: Some("https://id.example.com".into()), ..hs256_settings() };
        let authenticator = jwt_authenticator(settings);
        let exp = now() + 600;

        let right = hs256_token(&json!({"sub": "alice", "exp": exp, "iss": "https://id.example.com"}));
        let wrong = hs256_token(&json!({"sub": "alice", "exp": exp, "iss": "https://evil.example.com"}));
        let missing = hs256_token(&json!({"sub": "alice", "exp": exp}));

        assert_eq!(authenticator.authenticate(&bearer(&right)), Ok(Caller::User("alice".into())));
        let wrong_reason = invalid_token_reason(authenticator.authenticate(&bearer(&wrong)));
        assert!(wrong_reason.contains("iss claim does not match"), "{wrong_reason}");
        let missing_reason = invalid_token_reason(authenticator.authenticate(&bearer(&missing)));
        assert!(missing_reason.contains("iss claim is missing"), "{missing_reason}");
    }

    #[test]
    fn issuer_ignored_when_not_configured() {
        let authenticator = jwt_authenticator(hs256_settings());
        let token = hs256_token(&json!({"sub": "alice", "exp": now() + 600, "iss": "anyone"}));

        assert_eq!(authenticator.authenticate(&bearer(&token)), Ok(Caller::User("alice".into())));
    }

    #[test]
    fn audience_checked_when_configured() {
        let settings = JwtSettings { audience: Some("zego-push".into()), ..hs256_settings() };
        let authenticator = jwt_authenticator(settings);
        let exp = now() + 600;

        let right = hs256_token(&json!({"sub": "alice", "exp": exp, "aud": "zego-push"}));
        let right_in_list =
            hs256_token(&json!({"sub": "alice", "exp": exp, "aud": ["billing", "zego-push"]}));
        let wrong = hs256_token(&json!({"sub": "alice", "exp": exp, "aud": "billing"}));
        let missing = hs256_token(&json!({"sub": "alice", "exp": exp}));

        assert_eq!(authenticator.authenticate(&bearer(&right)), Ok(Caller::User("alice".into())));
        assert_eq!(authenticator.authenticate(&bearer(&right_in_list)), Ok(Caller::User("alice".into())));
        let wrong_reason = invalid_token_reason(authenticator.authenticate(&bearer(&wrong)));
        assert!(wrong_reason.contains("aud claim does not match"), "{wrong_reason}");
        let missing_reason = invalid_token_reason(authenticator.authenticate(&bearer(&missing)));
        assert!(missing_reason.contains("aud claim is missing"), "{missing_reason}");
    }

    #[test]
    fn audience_claim_rejected_when_not_configured() {
        let authenticator = jwt_authenticator(hs256_settings());
        let token = hs256_token(&json!({"sub": "alice", "exp": now() + 600, "aud": "zego-push"}));

        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&token)));

        assert!(reason.contains("no expected audience configured"), "{reason}");
    }

    #[test]
    fn missing_or_invalid_sub_rejected() {
        let authenticator = jwt_authenticator(hs256_settings());
        let exp = now() + 600;
        let cases = [
            ("missing", json!({"exp": exp})),
            ("empty", json!({"sub": "", "exp": exp})),
            ("number", json!({"sub": 42, "exp": exp})),
            ("null", json!({"sub": null, "exp": exp})),
        ];

        for (case, claims) in cases {
            let result = authenticator.authenticate(&bearer(&hs256_token(&claims)));
            let reason = invalid_token_reason(result);
            assert!(reason.contains("sub claim"), "{case}: {reason}");
        }
    }

    #[test]
    fn alg_none_token_rejected() {
        let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = base64url(valid_claims().to_string().as_bytes());
        let unsigned = format!("{header}.{claims}.");
        let hs256_signature = hs256_token(&valid_claims()).rsplit('.').next().unwrap().to_owned();
        let with_signature = format!("{header}.{claims}.{hs256_signature}");

        for authenticator in [jwt_authenticator(hs256_settings()), mixed_authenticator()] {
            for token in [&unsigned, &with_signature] {
                let reason = invalid_token_reason(authenticator.authenticate(&bearer(token)));
                assert!(reason.contains("alg header is none"), "{reason}");
            }
        }
    }

    #[test]
    fn other_hmac_algorithm_rejected() {
        let authenticator = jwt_authenticator(hs256_settings());
        let token = sign(Algorithm::HS512, &EncodingKey::from_secret(SECRET.as_bytes()), &valid_claims());

        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&token)));

        assert!(reason.contains("alg header is HS512, but this server accepts only HS256"), "{reason}");
    }

    #[test]
    fn unprintable_alg_not_echoed() {
        let authenticator = jwt_authenticator(hs256_settings());
        let header = base64url(br#"{"alg":"<script>alert(1)</script>"}"#);
        let token = format!("{header}.{}.c2ln", base64url(b"{}"));

        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&token)));

        assert!(!reason.contains("script"), "{reason}");
        assert!(reason.contains("not a supported algorithm name"), "{reason}");
    }

    #[test]
    fn non_jwt_value_rejected_in_jwt_mode() {
        let authenticator = jwt_authenticator(hs256_settings());

        let reason = invalid_token_reason(authenticator.authenticate(&bearer("just-an-opaque-value")));

        assert!(reason.contains("not a JWT"), "{reason}");
    }

    // JWT: RS256 and ES256, with the key pairs at the end of this module

    #[test]
    fn rs256_key_pair_accepted_and_tampering_rejected() {
        let authenticator = jwt_authenticator(public_key_settings(JwtAlgorithm::Rs256, RSA_PUBLIC_PEM));
        let private_key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap();
        let token = sign(Algorithm::RS256, &private_key, &valid_claims());
        let tampered = with_claims(&token, &json!({"sub": "mallory", "exp": now() + 600}));

        assert_eq!(authenticator.authenticate(&bearer(&token)), Ok(Caller::User("alice".into())));
        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&tampered)));
        assert!(reason.contains("signature does not match"), "{reason}");
    }

    #[test]
    fn rs256_rejects_hs256_signed_with_public_key() {
        let authenticator = jwt_authenticator(public_key_settings(JwtAlgorithm::Rs256, RSA_PUBLIC_PEM));
        let confused_key = EncodingKey::from_secret(RSA_PUBLIC_PEM.as_bytes());
        let token = sign(Algorithm::HS256, &confused_key, &valid_claims());

        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&token)));

        assert!(reason.contains("accepts only RS256"), "{reason}");
    }

    #[test]
    fn es256_key_pair_accepted_and_tampering_rejected() {
        let authenticator = jwt_authenticator(public_key_settings(JwtAlgorithm::Es256, EC_PUBLIC_PEM));
        let private_key = EncodingKey::from_ec_pem(EC_PRIVATE_PEM.as_bytes()).unwrap();
        let token = sign(Algorithm::ES256, &private_key, &valid_claims());
        let tampered = with_claims(&token, &json!({"sub": "mallory", "exp": now() + 600}));

        assert_eq!(authenticator.authenticate(&bearer(&token)), Ok(Caller::User("alice".into())));
        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&tampered)));
        assert!(reason.contains("signature does not match"), "{reason}");
    }

    #[test]
    fn es256_rejects_rs256_token() {
        let authenticator = jwt_authenticator(public_key_settings(JwtAlgorithm::Es256, EC_PUBLIC_PEM));
        let rsa_key = EncodingKey::from_rsa_pem(RSA_PRIVATE_PEM.as_bytes()).unwrap();
        let token = sign(Algorithm::RS256, &rsa_key, &valid_claims());

        let reason = invalid_token_reason(authenticator.authenticate(&bearer(&token)));

        assert!(reason.contains("accepts only ES256"), "{reason}");
    }

    // API keys

    #[test]
    fn api_key_accepted() {
        let authenticator =
            api_key_authenticator(&[("billing", "billing-key-7f3a9c"), ("crm", "crm-key-0b12de")]);

        assert_eq!(
            authenticator.authenticate(&bearer("crm-key-0b12de")),
            Ok(Caller::ApiKey { name: "crm".into() })
        );
        assert_eq!(
            authenticator.authenticate(&bearer("billing-key-7f3a9c")),
            Ok(Caller::ApiKey { name: "billing".into() })
        );
    }

    #[test]
    fn wrong_api_key_rejected() {
        let authenticator = api_key_authenticator(&[("billing", "billing-key-7f3a9c")]);

        assert_eq!(authenticator.authenticate(&bearer("billing-key-7f3a9d")), Err(AuthError::UnknownApiKey));
        assert_eq!(authenticator.authenticate(&bearer("billing-key-7f3a9")), Err(AuthError::UnknownApiKey));
    }

    #[test]
    fn api_key_lookup_compares_every_entry() {
        let entries = api_key_entries(&[("first", "key-1"), ("second", "key-2"), ("third", "key-3")]);
        let digest = |key: &str| -> [u8; 32] { Sha256::digest(key.as_bytes()).into() };

        assert_eq!(find_api_key(&entries, &digest("key-1")), (Some(0), 3));
        assert_eq!(find_api_key(&entries, &digest("key-2")), (Some(1), 3));
        assert_eq!(find_api_key(&entries, &digest("key-3")), (Some(2), 3));
        assert_eq!(find_api_key(&entries, &digest("key-4")), (None, 3));
    }

    #[test]
    fn mixed_mode_routes_jwt_and_api_key() {
        let authenticator = mixed_authenticator();
        let token = hs256_token(&valid_claims());

        assert_eq!(authenticator.authenticate(&bearer(&token)), Ok(Caller::User("alice".into())));
        assert_eq!(
            authenticator.authenticate(&bearer("billing-key-7f3a9c")),
            Ok(Caller::ApiKey { name: "billing".into() })
        );
        assert_eq!(authenticator.authenticate(&bearer("a.b.c")), Err(AuthError::UnknownApiKey));
        assert_eq!(authenticator.authenticate(&bearer("unknown-key")), Err(AuthError::UnknownApiKey));
        let forged = hs256_token(&json!({"sub": "alice"}));
        assert!(matches!(authenticator.authenticate(&bearer(&forged)), Err(AuthError::InvalidToken(_))));
    }

    #[test]
    fn mixed_mode_accepts_dotted_api_key() {
        let authenticator = Authenticator::new(AuthSettings {
            modes: vec![AuthMode::Jwt, AuthMode::ApiKey],
            jwt: Some(hs256_settings()),
            api_keys: api_key_entries(&[("dotted", "part1.part2.part3")]),
        })
        .unwrap();

        assert_eq!(
            authenticator.authenticate(&bearer("part1.part2.part3")),
            Ok(Caller::ApiKey { name: "dotted".into() })
        );
    }

    // Authorization header

    #[test]
    fn bearer_scheme_case_insensitive() {
        let authenticator = api_key_authenticator(&[("billing", "billing-key-7f3a9c")]);

        for value in
            ["bearer billing-key-7f3a9c", "BEARER billing-key-7f3a9c", "Bearer   billing-key-7f3a9c "]
        {
            let caller = authenticator.authenticate(&authorization(value));
            assert_eq!(caller, Ok(Caller::ApiKey { name: "billing".into() }), "{value}");
        }
    }

    #[test]
    fn missing_header_rejected() {
        let authenticator = api_key_authenticator(&[("billing", "billing-key-7f3a9c")]);

        assert_eq!(authenticator.authenticate(&HeaderMap::new()), Err(AuthError::Missing));
    }

    #[test]
    fn malformed_header_rejected() {
        let authenticator = api_key_authenticator(&[("billing", "billing-key-7f3a9c")]);
        let cases = [
            ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer scheme"),
            ("billing-key-7f3a9c", "Bearer scheme"),
            ("", "Bearer scheme"),
            ("Bearer", "no token"),
            ("Bearer   ", "no token"),
            ("Bearer billing-key 7f3a9c", "spaces"),
        ];

        for (value, expected) in cases {
            match authenticator.authenticate(&authorization(value)) {
                Err(AuthError::Malformed(reason)) => {
                    assert!(reason.contains(expected), "{value:?}: {reason}");
                }
                other => panic!("{value:?}: expected Malformed, got {other:?}"),
            }
        }
    }

    #[test]
    fn repeated_authorization_header_rejected() {
        let authenticator = api_key_authenticator(&[("billing", "billing-key-7f3a9c")]);
        let mut headers = bearer("billing-key-7f3a9c");
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer billing-key-7f3a9c"));

        let result = authenticator.authenticate(&headers);

        assert!(matches!(result, Err(AuthError::Malformed(reason)) if reason.contains("more than one")));
    }

    #[test]
    fn non_ascii_header_rejected() {
        let authenticator = api_key_authenticator(&[("billing", "billing-key-7f3a9c")]);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_bytes("Bearer clé".as_bytes()).unwrap());

        let result = authenticator.authenticate(&headers);

        assert!(matches!(result, Err(AuthError::Malformed(reason)) if reason.contains("visible ASCII")));
    }

    #[test]
    fn mode_none_returns_anonymous() {
        let authenticator =
            Authenticator::new(AuthSettings { modes: vec![AuthMode::None], ..AuthSettings::default() })
                .unwrap();

        assert!(authenticator.allows_anonymous());
        assert_eq!(authenticator.modes(), &[AuthMode::None]);
        assert_eq!(authenticator.authenticate(&HeaderMap::new()), Ok(Caller::Anonymous));
        assert_eq!(authenticator.authenticate(&authorization("Basic abc")), Ok(Caller::Anonymous));
    }

    #[test]
    fn credential_modes_do_not_allow_anonymous() {
        assert!(!jwt_authenticator(hs256_settings()).allows_anonymous());
        assert!(!api_key_authenticator(&[("billing", "k")]).allows_anonymous());
        assert!(!mixed_authenticator().allows_anonymous());
        assert_eq!(mixed_authenticator().modes(), &[AuthMode::Jwt, AuthMode::ApiKey]);
    }

    #[test]
    fn errors_do_not_contain_credentials() {
        let authenticator = mixed_authenticator();
        let wrong_secret_token = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(b"another-secret-of-enough-length-0123456789"),
            &valid_claims(),
        );
        let expired_token = hs256_token(&json!({"sub": "alice", "exp": now() - 120}));
        let credentials = [wrong_secret_token.as_str(), expired_token.as_str(), "unknown-key-d41d8c"];

        for credential in credentials {
            let error = authenticator.authenticate(&bearer(credential)).unwrap_err();
            let rendered = format!("{error} {error:?} {}", error.challenge());
            assert!(!rendered.contains(credential), "{rendered}");
            let signature = credential.rsplit('.').next().unwrap();
            assert!(!rendered.contains(signature), "{rendered}");
        }
    }

    // hash_api_key and entry parsing

    #[test]
    fn hash_api_key_known_vector() {
        assert_eq!(
            hash_api_key("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hash_api_key_round_trip() {
        let hash = hash_api_key("billing-key-7f3a9c");

        let entry: ApiKeyEntry = format!("billing={hash}").parse().unwrap();

        assert_eq!(entry.name, "billing");
        assert_eq!(entry.sha256, <[u8; 32]>::from(Sha256::digest(b"billing-key-7f3a9c")));
        assert_eq!(format!("sha256:{}", hex::encode(entry.sha256)), hash);
    }

    #[test]
    fn api_key_entry_accepts_uppercase_hex() {
        let hash = hash_api_key("k").to_uppercase().replace("SHA256:", "sha256:");

        let entry: ApiKeyEntry = format!("svc.v2_a-b={hash}").parse().unwrap();

        assert_eq!(entry.sha256, <[u8; 32]>::from(Sha256::digest(b"k")));
    }

    #[test]
    fn api_key_entry_parse_errors() {
        let hex64 = "ab".repeat(32);
        let cases = [
            ("billing".to_owned(), "no '='"),
            (format!("=sha256:{hex64}"), "name before '=' is empty"),
            (format!("bill ing=sha256:{hex64}"), "may contain only"),
            (format!("{}=sha256:{hex64}", "n".repeat(65)), "at most 64"),
            (format!("billing={hex64}"), "must start with sha256:"),
            (format!("billing=md5:{hex64}"), "must start with sha256:"),
            ("billing=sha256:abcd".to_owned(), "has 4 characters"),
            (format!("billing=sha256:{}zz", "ab".repeat(31)), "not hex digits"),
        ];

        for (text, expected) in cases {
            match text.parse::<ApiKeyEntry>() {
                Err(error @ AuthConfigError::InvalidApiKeyEntry { .. }) => {
                    let message = error.to_string();
                    assert!(message.contains(expected), "{text:?}: {message}");
                }
                other => panic!("{text:?}: expected InvalidApiKeyEntry, got {other:?}"),
            }
        }
    }

    #[test]
    fn api_key_entry_error_omits_raw_key() {
        let error = "billing=my-raw-secret-key".parse::<ApiKeyEntry>().unwrap_err();

        assert!(!error.to_string().contains("my-raw-secret-key"), "{error}");
    }

    #[test]
    fn api_key_list_parsing() {
        let text =
            format!("billing={},\ncrm={}  ops={}\n", hash_api_key("a"), hash_api_key("b"), hash_api_key("c"));

        let entries = ApiKeyEntry::parse_list(&text).unwrap();

        let names: Vec<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
        assert_eq!(names, ["billing", "crm", "ops"]);
    }

    #[test]
    fn api_key_list_error_names_position() {
        let text = format!("billing={}, crm=sha256:00", hash_api_key("a"));

        let error = ApiKeyEntry::parse_list(&text).unwrap_err();

        assert!(matches!(error, AuthConfigError::InvalidApiKeyEntry { position: Some(2), .. }), "{error:?}");
        assert!(error.to_string().starts_with("invalid API key entry 2:"), "{error}");
    }

    // Mode and algorithm names

    #[test]
    fn auth_mode_parsing() {
        assert_eq!("none".parse::<AuthMode>().unwrap(), AuthMode::None);
        assert_eq!(" JWT ".parse::<AuthMode>().unwrap(), AuthMode::Jwt);
        assert_eq!("Api-Key".parse::<AuthMode>().unwrap(), AuthMode::ApiKey);
        assert!(
            matches!("apikey".parse::<AuthMode>(), Err(AuthConfigError::UnknownMode(name)) if name == "apikey")
        );
        assert_eq!(AuthMode::parse_list("jwt, api-key").unwrap(), [AuthMode::Jwt, AuthMode::ApiKey]);
        assert!(matches!(AuthMode::parse_list(" "), Err(AuthConfigError::NoMode)));
        assert!(matches!(AuthMode::parse_list("jwt,"), Err(AuthConfigError::UnknownMode(_))));
        assert!(matches!(
            AuthMode::parse_list("jwt,JWT"),
            Err(AuthConfigError::DuplicateMode(AuthMode::Jwt))
        ));
    }

    #[test]
    fn auth_mode_names_round_trip() {
        for mode in [AuthMode::None, AuthMode::Jwt, AuthMode::ApiKey] {
            assert_eq!(mode.to_string().parse::<AuthMode>().unwrap(), mode);
            assert_eq!(mode.to_string(), mode.as_str());
        }
    }

    #[test]
    fn jwt_algorithm_parsing() {
        assert_eq!("hs256".parse::<JwtAlgorithm>().unwrap(), JwtAlgorithm::Hs256);
        assert_eq!("RS256".parse::<JwtAlgorithm>().unwrap(), JwtAlgorithm::Rs256);
        assert_eq!("Es256".parse::<JwtAlgorithm>().unwrap(), JwtAlgorithm::Es256);
        assert_eq!(JwtAlgorithm::Es256.to_string(), "ES256");
        assert!(matches!("none".parse::<JwtAlgorithm>(), Err(AuthConfigError::UnknownAlgorithm(_))));
        assert!(matches!("HS512".parse::<JwtAlgorithm>(), Err(AuthConfigError::UnknownAlgorithm(_))));
    }

    // Callers

    #[test]
    fn may_act_for_cases() {
        let user = Caller::User("alice".into());
        let backend = Caller::ApiKey { name: "billing".into() };

        assert!(user.may_act_for("alice"));
        assert!(!user.may_act_for("bob"));
        assert!(!user.may_act_for("Alice"));
        assert!(!user.may_act_for(""));
        assert!(backend.may_act_for("alice"));
        assert!(backend.may_act_for("bob"));
        assert!(Caller::Anonymous.may_act_for("anyone"));
    }

    #[test]
    fn caller_labels() {
        assert_eq!(Caller::Anonymous.label(), "anonymous");
        assert_eq!(Caller::User("alice".into()).label(), "user");
        assert_eq!(Caller::ApiKey { name: "billing".into() }.label(), "api-key:billing");
    }

    // Debug output

    #[test]
    fn debug_hides_hs256_secret() {
        let settings = hs256_settings();
        let auth_settings =
            AuthSettings { modes: vec![AuthMode::Jwt], jwt: Some(settings.clone()), api_keys: vec![] };
        let authenticator = jwt_authenticator(settings.clone());

        for rendered in [format!("{settings:?}"), format!("{auth_settings:?}"), format!("{authenticator:?}")]
        {
            assert!(!rendered.contains(SECRET), "{rendered}");
        }
        assert!(format!("{settings:?}").contains("****"));
        assert!(format!("{authenticator:?}").contains("Hs256"));
    }

    #[test]
    fn debug_shortens_api_key_hash() {
        let entry: ApiKeyEntry = format!("billing={}", hash_api_key("abc")).parse().unwrap();
        let authenticator = api_key_authenticator(&[("billing", "abc")]);
        let full_hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

        let entry_debug = format!("{entry:?}");
        let authenticator_debug = format!("{authenticator:?}");

        assert!(entry_debug.contains("ba7816bf"), "{entry_debug}");
        assert!(!entry_debug.contains(&full_hex[..9]), "{entry_debug}");
        assert!(!authenticator_debug.contains(&full_hex[..8]), "{authenticator_debug}");
        assert!(authenticator_debug.contains("billing"), "{authenticator_debug}");
    }

    // Configuration validation

    fn config_error(
        modes: &[AuthMode],
        jwt: Option<JwtSettings>,
        api_keys: Vec<ApiKeyEntry>,
    ) -> AuthConfigError {
        Authenticator::new(AuthSettings { modes: modes.to_vec(), jwt, api_keys }).unwrap_err()
    }

    fn jwt_config_error(settings: JwtSettings) -> AuthConfigError {
        config_error(&[AuthMode::Jwt], Some(settings), vec![])
    }

    #[test]
    fn config_rejects_invalid_modes() {
        assert!(matches!(config_error(&[], None, vec![]), AuthConfigError::NoMode));
        assert!(matches!(
            config_error(&[AuthMode::None, AuthMode::ApiKey], None, api_key_entries(&[("a", "k")])),
            AuthConfigError::NoneCombined
        ));
        assert!(matches!(
            config_error(&[AuthMode::ApiKey, AuthMode::ApiKey], None, api_key_entries(&[("a", "k")])),
            AuthConfigError::DuplicateMode(AuthMode::ApiKey)
        ));
    }

    #[test]
    fn config_jwt_without_settings_names_setting() {
        let error = config_error(&[AuthMode::Jwt], None, vec![]);

        assert!(matches!(error, AuthConfigError::MissingSetting { setting: "jwt", .. }), "{error:?}");
    }

    #[test]
    fn config_hs256_without_secret_names_setting() {
        let error = jwt_config_error(JwtSettings::new(JwtAlgorithm::Hs256));

        assert!(
            matches!(error, AuthConfigError::MissingSetting { setting: "jwt.hs256_secret", .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("jwt.hs256_secret"), "{error}");
    }

    #[test]
    fn config_rejects_short_hs256_secret() {
        let short = "a".repeat(MIN_HS256_SECRET_BYTES - 1);
        let error = jwt_config_error(JwtSettings { hs256_secret: Some(short.clone()), ..hs256_settings() });

        assert!(matches!(error, AuthConfigError::WeakSecret { length: 31 }), "{error:?}");
        assert!(!error.to_string().contains(&short), "{error}");
    }

    #[test]
    fn config_accepts_hs256_secret_of_minimum_length() {
        let settings =
            JwtSettings { hs256_secret: Some("a".repeat(MIN_HS256_SECRET_BYTES)), ..hs256_settings() };

        assert!(Authenticator::new(AuthSettings {
            modes: vec![AuthMode::Jwt],
            jwt: Some(settings),
            api_keys: vec![]
        })
        .is_ok());
    }

    #[test]
    fn config_rejects_mismatched_key_material() {
        let pem_with_hs256 = JwtSettings { public_key_pem: Some(RSA_PUBLIC_PEM.into()), ..hs256_settings() };
        let secret_with_rs256 = JwtSettings {
            hs256_secret: Some(SECRET.into()),
            ..public_key_settings(JwtAlgorithm::Rs256, RSA_PUBLIC_PEM)
        };

        let pem_error = jwt_config_error(pem_with_hs256);
        let secret_error = jwt_config_error(secret_with_rs256);

        assert!(matches!(pem_error, AuthConfigError::UnusedSetting { setting: "jwt.public_key_pem", .. }));
        assert!(matches!(secret_error, AuthConfigError::UnusedSetting { setting: "jwt.hs256_secret", .. }));
    }

    #[test]
    fn config_public_key_algorithms_need_pem() {
        for algorithm in [JwtAlgorithm::Rs256, JwtAlgorithm::Es256] {
            let error = jwt_config_error(JwtSettings::new(algorithm));
            assert!(
                matches!(error, AuthConfigError::MissingSetting { setting: "jwt.public_key_pem", .. }),
                "{algorithm}: {error:?}"
            );
        }
    }

    #[test]
    fn config_rejects_bad_public_keys() {
        let cases = [
            (JwtAlgorithm::Rs256, "not a pem"),
            (JwtAlgorithm::Rs256, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            (JwtAlgorithm::Rs256, EC_PUBLIC_PEM),
            (JwtAlgorithm::Rs256, RSA_PRIVATE_PEM),
            (JwtAlgorithm::Es256, RSA_PUBLIC_PEM),
            (JwtAlgorithm::Es256, EC_PRIVATE_PEM),
            (JwtAlgorithm::Es256, P384_PUBLIC_PEM),
        ];

        for (index, (algorithm, pem)) in cases.into_iter().enumerate() {
            let error = jwt_config_error(public_key_settings(algorithm, pem));
            assert!(
                matches!(
                    error,
                    AuthConfigError::InvalidPublicKey { algorithm: reported, .. } if reported == algorithm
                ),
                "case {index}: {error:?}"
            );
        }
    }

    #[test]
    fn config_p384_key_error_names_curve() {
        let error = jwt_config_error(public_key_settings(JwtAlgorithm::Es256, P384_PUBLIC_PEM));

        assert!(error.to_string().contains("P-256"), "{error}");
    }

    #[test]
    fn config_limits_leeway() {
        let maximum = JwtSettings { leeway_seconds: JwtSettings::MAX_LEEWAY_SECONDS, ..hs256_settings() };
        let too_large =
            JwtSettings { leeway_seconds: JwtSettings::MAX_LEEWAY_SECONDS + 1, ..hs256_settings() };
        let overflowing = JwtSettings { leeway_seconds: u64::MAX, ..hs256_settings() };

        jwt_authenticator(maximum);
        assert!(matches!(jwt_config_error(too_large), AuthConfigError::LeewayTooLarge { seconds: 301 }));
        assert!(matches!(jwt_config_error(overflowing), AuthConfigError::LeewayTooLarge { .. }));
    }

    #[test]
    fn config_rejects_empty_issuer_and_audience() {
        let empty_issuer = jwt_config_error(JwtSettings { issuer: Some(String::new()), ..hs256_settings() });
        let empty_audience =
            jwt_config_error(JwtSettings { audience: Some(String::new()), ..hs256_settings() });

        assert!(matches!(empty_issuer, AuthConfigError::EmptySetting { setting: "jwt.issuer" }));
        assert!(matches!(empty_audience, AuthConfigError::EmptySetting { setting: "jwt.audience" }));
    }

    #[test]
    fn config_api_key_mode_needs_keys() {
        let error = config_error(&[AuthMode::ApiKey], None, vec![]);

        assert!(matches!(error, AuthConfigError::MissingSetting { setting: "api_keys", .. }), "{error:?}");
    }

    #[test]
    fn config_rejects_duplicate_api_keys() {
        let same_name = config_error(&[AuthMode::ApiKey], None, api_key_entries(&[("a", "k1"), ("a", "k2")]));
        let same_hash = config_error(&[AuthMode::ApiKey], None, api_key_entries(&[("a", "k1"), ("b", "k1")]));

        assert!(matches!(same_name, AuthConfigError::DuplicateApiKeyName(name) if name == "a"));
        assert!(matches!(
            same_hash,
            AuthConfigError::DuplicateApiKeyHash { first, second } if first == "a" && second == "b"
        ));
    }

    #[test]
    fn config_rejects_invalid_api_key_name_in_struct() {
        let entries = vec![ApiKeyEntry { name: "has space".into(), sha256: [0; 32] }];

        let error = config_error(&[AuthMode::ApiKey], None, entries);

        assert!(matches!(error, AuthConfigError::InvalidApiKeyEntry { position: Some(1), .. }), "{error:?}");
    }

    // Responses

    async fn response_parts(response: Response) -> (StatusCode, Option<String>, Value) {
        let status = response.status();
        let challenge =
            response.headers().get(WWW_AUTHENTICATE).map(|value| value.to_str().unwrap().to_owned());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, challenge, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn missing_credentials_response() {
        let (status, challenge, body) = response_parts(AuthError::Missing.into_response()).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some("Bearer realm=\"zego-push\""));
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "unauthorized");
        assert_eq!(body["error"]["message"], AuthError::Missing.to_string());
    }

    #[tokio::test]
    async fn invalid_token_response() {
        let error = AuthError::InvalidToken("the signature does not match the configured key".into());

        let (status, challenge, body) = response_parts(error.into_response()).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let challenge = challenge.unwrap();
        assert!(challenge
            .starts_with("Bearer realm=\"zego-push\", error=\"invalid_token\", error_description=\""));
        assert!(challenge.contains("signature does not match"), "{challenge}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    #[tokio::test]
    async fn expired_token_response() {
        let (status, challenge, body) = response_parts(AuthError::Expired.into_response()).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(challenge.unwrap().contains("error=\"invalid_token\""));
        assert_eq!(body["error"]["code"], "token_expired");
    }

    #[tokio::test]
    async fn unknown_api_key_response() {
        let (status, challenge, body) = response_parts(AuthError::UnknownApiKey.into_response()).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(challenge.unwrap().contains("error=\"invalid_token\""));
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    #[tokio::test]
    async fn malformed_header_response() {
        let error = AuthError::Malformed("the bearer token must not contain \"spaces\" \\ é".into());

        let (status, challenge, body) = response_parts(error.into_response()).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let challenge = challenge.unwrap();
        assert!(challenge.contains("error=\"invalid_request\""), "{challenge}");
        assert!(
            challenge.contains("error_description=\"the bearer token must not contain 'spaces' / ?\""),
            "{challenge}"
        );
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    #[tokio::test]
    async fn forbidden_response() {
        let forbidden = Forbidden { user_id: "bob".into() };

        let (status, challenge, body) = response_parts(forbidden.into_response()).await;

        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(challenge, None);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "forbidden");
        assert_eq!(body["error"]["field"], "user_id");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("the credentials do not allow acting for user_id \"bob\""), "{message}");
    }

    #[test]
    fn decode_base64_both_alphabets() {
        assert_eq!(decode_base64("-_-_").unwrap(), decode_base64("+/+/").unwrap());
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("YQ").unwrap(), b"a");
        assert_eq!(decode_base64("YW\nJj").unwrap(), b"abc");
        assert_eq!(decode_base64("YW*j"), None);
    }

    #[test]
    fn base64url_helper_round_trips() {
        for text in ["", "a", "ab", "abc", "abcd", "\u{ff}\u{fe}?>"] {
            assert_eq!(decode_base64(&base64url(text.as_bytes())).unwrap(), text.as_bytes(), "{text:?}");
        }
    }

    // Test key pairs, generated once with OpenSSL 3.0 for these tests only:
    //   openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048
    //   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256   (and P-384)
    //   openssl pkey -in KEY -pubout

    const RSA_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCc4yxFCFYdZQPM
bGqxmXk6HeZR/UJsImw3s5cieGo3DKfMFASOJG2xlfX1aNfAOjA2fwuAm9zBhiCy
NSLYXerx4+RG1Mu1uborgkYAaDyC5TY8VIGy2PEu7EL0xjuZY9RrzvXDuhcIScR9
g7qqJpefGZ0gyPv3Qo54bciDIiAerJiYJRbnUXe1oUqHrV4EftGF2sYaTv0n1GlU
STqOsGrlms4jw22XwRXIw2ZmE+gJGRRHZODOxpCQHqWQPN9MCUL70mXw+u6p4PiS
g/yQ+Xe4u4Cqe7Ai+X+VCrw7Ze963abCIVkdCwi48dtuPjrNarSh8nGD97E875lO
6Blno6SLAgMBAAECggEAL68AUo8BFXgRWn2NRCOAbACQc1UFbjZcK+XixrBQoCCx
k152L/m0eWg51HgkMyG8a6PbjCBTTWKF54Qs7hRFh3WbeUfODpK/md/DhPYphiNC
g72vmftD+t4GT708eheUhZvmqLGTtIovNXLnNjX6mXnAfyl3I6TQBpxfeDPUDV4v
2nbD07klWcMZY7oUbl5m5XiK3VuIVTZXzkET+5b3cpQpTM13o18x5F8SCiwf7vMj
bSa1Qgn/P1BAg9Y/h4FA3QqiDeDzKiaTJXVje+/J+TwVPoHa8gaygcsBsvAclXmR
LKVnYYfLqo/euOo/IpUvkXR8Sq5JBHgKlOUxayzWcQKBgQDZmIq/fxqSYEZVwnZJ
veawy1jyTrCTvmb/z9sE5eebb4LTt8p7+fFZjONrRsbf2HwPEoc+oZh+PS1xgISB
WLteP3AL5erxima+Bq/Fbh1EWWznm+QjQoMtsilN6LSgjcCw14y/P1GOM6KElwT9
Her5IkYa5DpixTswlTxhUxtUcwKBgQC4k7Bq4nAS20feb4zaDNolOngohHOuw8gO
tbuC+0T/0QowhDos1zyQJOISD2AGpY2hsHmdE9UbIvI71fQIy7+ajM/3NFFG0Lkz
LnpHB6ywE0/nEv+8blCa58H9DwDXywPDIphaflWXBaF5GB0vLYJaMAdBzTCUl2+I
x3N5ddUBiQKBgG6aOuxbjwYYKagt0DJrdHco5W1E0jxG69Pbs1gqBC/d3oH/Scz6
ntMF6hL9RtlBEM4YfOY4/Wotbovi53dXwuWFGU7y7xkXYGH2xCF2dynmypRviObj
SApSJOyU/Dsf0nIRHlmXtbyyQkli+gYuzuETqs7Ac20BE7T+JlLSC3JBAoGAS/gN
npCAjGJQnE7RbFXp23TLS/HoI0BVsSg/e1OsPJZvWTSzNQ2J0dI8ci592X5+YtRd
2bb1+WtSxCn1fUFPJW9bkWWpJjp2X4h7r4yLGRV5x6PcOlQ1POyyvVNVh3v5mnE8
v9JLrBMXON4h9O8IPdKSyhSIMEB8GZHuB0nmV/ECgYB8NfQeMABfJERaAUMRnJMF
4Ke/U+FCrOircmQ6lh6E9usS+n2csy30WKv7LbevknN0q8Pjg9SiJacUJl2QN7GU
0J03rW8y4hpO9WMWKS9wnBWf4j1p1NGSpA3zgDyMMxb3XbyKqsc/JudZumnWHaFJ
n93Ul6oWAZxlSxa0og5QUw==
-----END PRIVATE KEY-----
";

    const RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnOMsRQhWHWUDzGxqsZl5
Oh3mUf1CbCJsN7OXInhqNwynzBQEjiRtsZX19WjXwDowNn8LgJvcwYYgsjUi2F3q
8ePkRtTLtbm6K4JGAGg8guU2PFSBstjxLuxC9MY7mWPUa871w7oXCEnEfYO6qiaX
nxmdIMj790KOeG3IgyIgHqyYmCUW51F3taFKh61eBH7RhdrGGk79J9RpVEk6jrBq
5ZrOI8Ntl8EVyMNmZhPoCRkUR2TgzsaQkB6lkDzfTAlC+9Jl8PruqeD4koP8kPl3
uLuAqnuwIvl/lQq8O2Xvet2mwiFZHQsIuPHbbj46zWq0ofJxg/exPO+ZTugZZ6Ok
iwIDAQAB
-----END PUBLIC KEY-----
";

    const EC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgd3lTjHdpKW7JZAQt
AwVW5dhcTYWycsWncKSnD0e75JWhRANCAASisf0LFYyQdBbnAjb+W/tE3vcz4tEG
IH2WMY4mZ19oPDcAS3s6Vr8CGe10gw/kh5rTMAsfQXsYjWQccQhBNFYB
-----END PRIVATE KEY-----
";

    const EC_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEorH9CxWMkHQW5wI2/lv7RN73M+LR
BiB9ljGOJmdfaDw3AEt7Ola/AhntdIMP5Iea0zALH0F7GI1kHHEIQTRWAQ==
-----END PUBLIC KEY-----
";

    const P384_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEwM+QL73a3M3N0ivA8/0Wt4QdGTZxDvrM
0catJSapPRY2XiWFfS2a+rEbriVsyvb6YKe6g7Eg4/rbuXq8lm+Bba9rXJM56xGp
QJK4ie070lLIDbGYE3cpdwePJPAZvlb7
-----END PUBLIC KEY-----
";
}
