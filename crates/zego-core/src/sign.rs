//! The two request-signing schemes.
//!
//! - [`SignatureScheme::Guide`]: the integration guide's scheme. All request
//!   parameters, sorted by key, are joined as `key=value` with `&` and signed
//!   with HMAC-SHA256 keyed by the ServerSecret; the lowercase hex signature
//!   travels in the `Signature` header and the parameters in the JSON body.
//! - [`SignatureScheme::V2`]: ZEGO's documented Signature 2.0:
//!   `md5(AppId + SignatureNonce + ServerSecret + Timestamp)` in lowercase
//!   hex, sent with the other common parameters in the query string.
//!
//! Time and nonce come from a [`Clock`] and a [`NonceSource`], so tests can
//! fix both; production nonces come from the operating system's CSPRNG
//! through `rand`'s thread-local generator.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rand::RngCore;
use serde_json::json;
use sha2::Sha256;

use crate::credentials::{AppId, ServerSecret};
use crate::values::Registration;

/// The method by which a request proves it comes from the holder of the ServerSecret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SignatureScheme {
    /// Sorted-parameter HMAC-SHA256, as in the integration guide's Python code.
    #[default]
    Guide,
    /// ZEGO's Signature 2.0: MD5 over AppId, nonce, secret and timestamp.
    V2,
}

impl SignatureScheme {
    /// Returns the scheme's name as used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::Guide => "guide",
            SignatureScheme::V2 => "v2",
        }
    }
}

impl fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignatureScheme {
    type Err = String;

    /// Parses `guide` (also `hmac-sha256`) or `v2` (also `md5`, `2.0`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "guide" | "hmac" | "hmac-sha256" => Ok(SignatureScheme::Guide),
            "v2" | "2.0" | "md5" | "signature-v2" => Ok(SignatureScheme::V2),
            _ => Err(format!(
                "unknown signature scheme {s:?}; use \"guide\" (sorted-parameter HMAC-SHA256) or \"v2\" (ZEGO Signature 2.0, MD5)"
            )),
        }
    }
}

/// The source of request timestamps, in Unix seconds.
pub trait Clock: Send + Sync + fmt::Debug {
    fn unix_seconds(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_seconds(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(elapsed) => elapsed.as_secs() as i64,
            Err(before_epoch) => -(before_epoch.duration().as_secs() as i64),
        }
    }
}

/// A clock that returns a set time, which tests may move.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn new(unix_seconds: i64) -> Self {
        Self(AtomicI64::new(unix_seconds))
    }

    pub fn set(&self, unix_seconds: i64) {
        self.0.store(unix_seconds, Ordering::Relaxed);
    }
}

impl Clock for FixedClock {
    fn unix_seconds(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The source of request nonces.
pub trait NonceSource: Send + Sync + fmt::Debug {
    /// Returns a fresh nonce in the shape `scheme` uses.
    fn nonce(&self, scheme: SignatureScheme) -> String;
}

/// Random nonces: 8 lowercase hex digits for the guide's scheme (the guide
/// takes the first 8 characters of a UUID4) and 16 for Signature 2.0 (ZEGO's
/// samples use 8 random bytes).
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomNonce;

impl NonceSource for RandomNonce {
    fn nonce(&self, scheme: SignatureScheme) -> String {
        let mut bytes = [0u8; 8];
        let len = match scheme {
            SignatureScheme::Guide => 4,
            SignatureScheme::V2 => 8,
        };
        rand::rng().fill_bytes(&mut bytes[..len]);
        hex::encode(&bytes[..len])
    }
}

/// A nonce that never changes, for tests and for comparing signatures with
/// another implementation.
#[derive(Debug, Clone)]
pub struct FixedNonce(pub String);

impl NonceSource for FixedNonce {
    fn nonce(&self, _scheme: SignatureScheme) -> String {
        self.0.clone()
    }
}

/// A parameter value in the guide's canonical string, written as Python's
/// `str()` writes it: integers in decimal, strings unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Str(String),
    Int(i64),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Str(value) => f.write_str(value),
            ParamValue::Int(value) => write!(f, "{value}"),
        }
    }
}

/// Builds the guide's canonical string: keys sorted by byte order, each pair
/// written `key=value`, pairs joined with `&`, nothing escaped.
pub fn canonical_string<K: AsRef<str>>(params: &[(K, ParamValue)]) -> String {
    let mut sorted: Vec<&(K, ParamValue)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.as_ref().as_bytes().cmp(b.0.as_ref().as_bytes()));
    let mut out = String::new();
    for (index, (key, value)) in sorted.into_iter().enumerate() {
        if index > 0 {
            out.push('&');
        }
        out.push_str(key.as_ref());
        out.push('=');
        out.push_str(&value.to_string());
    }
    out
}

/// Returns HMAC-SHA256 of `message` keyed by the secret, as lowercase hex.
pub fn hmac_sha256_hex(secret: &ServerSecret, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Returns ZEGO's Signature 2.0: `md5(AppId + nonce + secret + timestamp)` as lowercase hex.
pub fn md5_signature(app_id: AppId, nonce: &str, secret: &ServerSecret, timestamp: i64) -> String {
    let mut hasher = Md5::new();
    hasher.update(app_id.get().to_string().as_bytes());
    hasher.update(nonce.as_bytes());
    hasher.update(secret.expose_secret().as_bytes());
    hasher.update(timestamp.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// A request ready to send: where its parameters go and what was signed.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedRequest {
    pub scheme: SignatureScheme,
    /// Query parameters, in order, including `Action`.
    pub query: Vec<(String, String)>,
    /// Headers besides `Content-Type: application/json`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: serde_json::Value,
    /// The string that was signed. For Signature 2.0 the secret inside it
    /// is shown as `****`.
    pub canonical: String,
    pub nonce: String,
    pub timestamp: i64,
    pub signature: String,
}

/// Signs requests for one ZEGO project.
#[derive(Clone)]
pub struct Signer {
    app_id: AppId,
    secret: ServerSecret,
    scheme: SignatureScheme,
    clock: Arc<dyn Clock>,
    nonces: Arc<dyn NonceSource>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("app_id", &self.app_id)
            .field("secret", &self.secret)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Creates a signer with the system clock and random nonces.
    pub fn new(app_id: AppId, secret: ServerSecret, scheme: SignatureScheme) -> Self {
        Self { app_id, secret, scheme, clock: Arc::new(SystemClock), nonces: Arc::new(RandomNonce) }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_nonces(mut self, nonces: Arc<dyn NonceSource>) -> Self {
        self.nonces = nonces;
        self
    }

    pub fn app_id(&self) -> AppId {
        self.app_id
    }

    pub fn scheme(&self) -> SignatureScheme {
        self.scheme
    }

    pub fn secret(&self) -> &ServerSecret {
        &self.secret
    }

    /// Signs a PushRegister call (or another action with the same
    /// parameters) for one registration, with a fresh timestamp and nonce.
    pub fn sign_push_register(&self, action: &str, registration: &Registration) -> SignedRequest {
        let user_id = registration.user_id.as_str();
        let push_id = registration.token.as_str();
        let provider = i64::from(registration.provider().code());
        self.sign_fields(action, user_id, push_id, provider)
    }

    /// Signs a PushRegister call from raw field values. Callers that have
    /// a [`Registration`] use [`Self::sign_push_register`]; this form
    /// serves tools that compare signatures for arbitrary inputs.
    pub fn sign_fields(&self, action: &str, user_id: &str, push_id: &str, provider: i64) -> SignedRequest {
        let timestamp = self.clock.unix_seconds();
        let nonce = self.nonces.nonce(self.scheme);
        let app_id = self.app_id.to_string();

        match self.scheme {
            SignatureScheme::Guide => {
                let params = [
                    ("AppId", ParamValue::Str(app_id.clone())),
                    ("UserId", ParamValue::Str(user_id.to_owned())),
                    ("PushID", ParamValue::Str(push_id.to_owned())),
                    ("PushProvider", ParamValue::Int(provider)),
                    ("Timestamp", ParamValue::Int(timestamp)),
                    ("Nonce", ParamValue::Str(nonce.clone())),
                ];
                let canonical = canonical_string(&params);
                let signature = hmac_sha256_hex(&self.secret, &canonical);
                // The guide's Python keeps AppId a string in the body.
                let body = json!({
                    "AppId": app_id,
                    "UserId": user_id,
                    "PushID": push_id,
                    "PushProvider": provider,
                    "Timestamp": timestamp,
                    "Nonce": nonce,
                });
                SignedRequest {
                    scheme: self.scheme,
                    query: vec![("Action".into(), action.into())],
                    headers: vec![("AppId".into(), app_id), ("Signature".into(), signature.clone())],
                    body,
                    canonical,
                    nonce,
                    timestamp,
                    signature,
                }
            }
            SignatureScheme::V2 => {
                let signature = md5_signature(self.app_id, &nonce, &self.secret, timestamp);
                let canonical = format!("{app_id}{nonce}****{timestamp}");
                let query = vec![
                    ("Action".into(), action.into()),
                    ("AppId".into(), app_id),
                    ("SignatureNonce".into(), nonce.clone()),
                    ("Timestamp".into(), timestamp.to_string()),
                    ("SignatureVersion".into(), "2.0".into()),
                    ("Signature".into(), signature.clone()),
                ];
                let body = json!({
                    "UserId": user_id,
                    "PushID": push_id,
                    "PushProvider": provider,
                });
                SignedRequest {
                    scheme: self.scheme,
                    query,
                    headers: Vec::new(),
                    body,
                    canonical,
                    nonce,
                    timestamp,
                    signature,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guide_vector_signer(
        scheme: SignatureScheme,
        nonce: &str,
        now: i64,
        app_id: u32,
        secret: &str,
    ) -> Signer {
        Signer::new(AppId::new(app_id).unwrap(), ServerSecret::new(secret).unwrap(), scheme)
            .with_clock(Arc::new(FixedClock::new(now)))
            .with_nonces(Arc::new(FixedNonce(nonce.into())))
    }

    #[test]
    fn guide_scheme_matches_published_vector() {
        let signer = guide_vector_signer(
            SignatureScheme::Guide,
            "1a2b3c4d",
            1_700_000_000,
            1_234_567_890,
            "0123456789abcdef0123456789abcdef",
        );
        let signed = signer.sign_fields("PushRegister", "user123", "fcm_device_token_here", 1);
        assert_eq!(
            signed.canonical,
            "AppId=1234567890&Nonce=1a2b3c4d&PushID=fcm_device_token_here&PushProvider=1&Timestamp=1700000000&UserId=user123"
        );
        assert_eq!(signed.signature, "4b051f8877638c81884a2e894c033100b5dcc6336b8e6541545da8b67eb17424");
        assert_eq!(signed.body["AppId"], "1234567890");
        assert_eq!(signed.body["PushProvider"], 1);
        assert_eq!(signed.body["Timestamp"], 1_700_000_000);
        assert!(signed.headers.contains(&("Signature".into(), signed.signature.clone())));
        assert_eq!(signed.query, vec![("Action".to_string(), "PushRegister".to_string())]);
    }

    #[test]
    fn v2_scheme_matches_published_vector() {
        let signature = md5_signature(
            AppId::new(12345).unwrap(),
            "4fd24687296dd9f3",
            &ServerSecret::new("9193cc662a4c0ec135ec71fb57194b38").unwrap(),
            1_615_186_943,
        );
        assert_eq!(signature, "43e5cfcca828314675f91b001390566a");
    }

    #[test]
    fn v2_request_carries_common_parameters_in_query() {
        let signer = guide_vector_signer(
            SignatureScheme::V2,
            "4fd24687296dd9f3",
            1_615_186_943,
            12345,
            "9193cc662a4c0ec135ec71fb57194b38",
        );
        let signed = signer.sign_fields("PushRegister", "u", "t", 2);
        assert_eq!(signed.signature, "43e5cfcca828314675f91b001390566a");
        assert_eq!(signed.canonical, "123454fd24687296dd9f3****1615186943");
        let query: Vec<&str> = signed.query.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            query,
            ["Action", "AppId", "SignatureNonce", "Timestamp", "SignatureVersion", "Signature"]
        );
        assert!(signed.headers.is_empty());
        assert_eq!(signed.body["PushProvider"], 2);
    }

    #[test]
    fn canonical_string_sorts_by_bytes() {
        let params = [
            ("b", ParamValue::Int(2)),
            ("B", ParamValue::Str("x".into())),
            ("a", ParamValue::Str("1&2=3".into())),
        ];
        assert_eq!(canonical_string(&params), "B=x&a=1&2=3&b=2");
    }

    #[test]
    fn random_nonces_have_scheme_shape() {
        let guide = RandomNonce.nonce(SignatureScheme::Guide);
        let v2 = RandomNonce.nonce(SignatureScheme::V2);
        assert_eq!(guide.len(), 8);
        assert_eq!(v2.len(), 16);
        assert!(guide.chars().chain(v2.chars()).all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(RandomNonce.nonce(SignatureScheme::V2), v2);
    }

    #[test]
    fn scheme_parses_aliases() {
        assert_eq!("GUIDE".parse::<SignatureScheme>().unwrap(), SignatureScheme::Guide);
        assert_eq!("md5".parse::<SignatureScheme>().unwrap(), SignatureScheme::V2);
        assert!("sha1".parse::<SignatureScheme>().unwrap_err().contains("\"guide\""));
    }

    #[test]
    fn signer_debug_hides_secret() {
        let signer = guide_vector_signer(SignatureScheme::Guide, "n", 0, 1, "topsecretvalue");
        assert!(!format!("{signer:?}").contains("topsecretvalue"));
    }
}
