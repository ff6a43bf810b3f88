//! Token04: the login token a backend issues to ZEGO's client SDKs.
//!
//! The plaintext is compact JSON with `app_id`, `user_id`, `nonce`, `ctime`,
//! `expire` (absolute Unix seconds) and `payload`, encrypted with AES-256
//! keyed by the 32-byte ServerSecret. The current format uses GCM with a
//! 12-byte nonce; the older one CBC with PKCS#7 and a 16-byte IV. Both are
//! framed big-endian as `i64 expire | u16 n | nonce | u16 m | ciphertext`,
//! GCM adding a trailing mode byte 1, and the token is `"04"` followed by
//! the frame in standard base64.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::credentials::ServerSecret;

const VERSION: &str = "04";
const GCM_NONCE_LEN: usize = 12;
const CBC_IV_LEN: usize = 16;
const GCM_MODE: u8 = 1;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// The encryption of a Token04.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenFormat {
    /// AES-256-GCM, the current format.
    #[default]
    Gcm,
    /// AES-256-CBC with PKCS#7, the older format ZEGO still accepts.
    Cbc,
}

/// A Token04 failure. Generation errors carry ZEGO's helper codes: 1 AppId
/// invalid, 3 user id empty, 5 secret not 32 bytes, 6 effective time not
/// positive. Code 7, which ZEGO's helpers do not have, means the user id and
/// payload are too long for the frame. Parse errors have code 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Token04Error {
    pub code: u32,
    pub message: String,
}

impl Token04Error {
    /// Returns the code when it is one of ZEGO's helper codes (1, 3, 5, 6).
    /// Codes 0 and 7 are this crate's own, so they give `None`.
    pub fn zego_code(&self) -> Option<u32> {
        matches!(self.code, 1 | 3 | 5 | 6).then_some(self.code)
    }
}

fn error(code: u32, message: impl Into<String>) -> Token04Error {
    Token04Error { code, message: message.into() }
}

/// The plaintext of a Token04, in ZEGO's field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token04Claims {
    pub app_id: u32,
    pub user_id: String,
    pub nonce: i64,
    pub ctime: i64,
    pub expire: i64,
    pub payload: String,
}

/// Choices that tests fix and production leaves random.
#[derive(Clone, Default)]
pub struct Token04Options {
    pub format: TokenFormat,
    /// The creation time in Unix seconds; the system clock by default.
    pub now: Option<i64>,
    /// The `nonce` claim; a random 32-bit integer by default.
    pub nonce: Option<i64>,
    /// The GCM nonce (12 bytes) or CBC IV (16 bytes); 12 or 16 random
    /// characters from `0-9a-z` by default, as ZEGO's samples make them.
    pub iv: Option<Vec<u8>>,
}

impl fmt::Debug for Token04Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token04Options")
            .field("format", &self.format)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

fn random_alphanumeric(len: usize) -> Vec<u8> {
    const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..len).map(|_| CHARS[rng.random_range(0..CHARS.len())]).collect()
}

fn key_of(secret: &ServerSecret) -> Result<[u8; 32], Token04Error> {
    let bytes = secret.expose_secret().as_bytes();
    bytes.try_into().map_err(|_| {
        error(
            5,
            format!("the ServerSecret is {} bytes long; Token04 needs the 32-character secret", bytes.len()),
        )
    })
}

/// Generates a Token04 for `user_id`, valid for `effective_seconds`.
pub fn generate(
    app_id: u32,
    user_id: &str,
    secret: &ServerSecret,
    effective_seconds: i64,
    payload: &str,
    options: &Token04Options,
) -> Result<String, Token04Error> {
    // Check the inputs in ZEGO's order and with ZEGO's codes.
    if app_id == 0 {
        return Err(error(1, "the AppId is invalid: it must not be 0"));
    }
    if user_id.is_empty() {
        return Err(error(3, "the user id is empty"));
    }
    let key = key_of(secret)?;
    if effective_seconds <= 0 {
        return Err(error(6, format!("the effective time is {effective_seconds} s; it must be positive")));
    }

    // Build the plaintext.
    let ctime = options.now.unwrap_or_else(|| crate::sign::Clock::unix_seconds(&crate::sign::SystemClock));
    let nonce = options.nonce.unwrap_or_else(|| i64::from(rand::rng().random::<i32>()));
    let claims = Token04Claims {
        app_id,
        user_id: user_id.to_owned(),
        nonce,
        ctime,
        expire: ctime.saturating_add(effective_seconds),
        payload: payload.to_owned(),
    };
    let plaintext = serde_json::to_vec(&claims).expect("the claims serialize");

    // Encrypt and frame.
    let (iv, ciphertext) = match options.format {
        TokenFormat::Gcm => {
            let iv = options.iv.clone().unwrap_or_else(|| random_alphanumeric(GCM_NONCE_LEN));
            if iv.len() != GCM_NONCE_LEN {
                return Err(error(0, format!("a GCM nonce has {GCM_NONCE_LEN} bytes, not {}", iv.len())));
            }
            let cipher = Aes256Gcm::new(&key.into());
            let sealed = cipher
                .encrypt(Nonce::from_slice(&iv), plaintext.as_slice())
                .map_err(|_| error(0, "AES-GCM encryption failed"))?;
            (iv, sealed)
        }
        TokenFormat::Cbc => {
            let iv = options.iv.clone().unwrap_or_else(|| random_alphanumeric(CBC_IV_LEN));
            let iv_array: [u8; CBC_IV_LEN] = iv
                .as_slice()
                .try_into()
                .map_err(|_| error(0, format!("a CBC IV has {CBC_IV_LEN} bytes, not {}", iv.len())))?;
            let sealed =
                Aes256CbcEnc::new(&key.into(), &iv_array.into()).encrypt_padded_vec_mut::<Pkcs7>(&plaintext);
            (iv, sealed)
        }
    };
    // The frame stores the ciphertext length in 16 bits, so a longer ciphertext would be cut.
    let Ok(ciphertext_len) = u16::try_from(ciphertext.len()) else {
        return Err(error(
            7,
            format!(
                "the user id and payload encrypt to {} bytes, but a Token04 holds at most {}, so shorten the payload",
                ciphertext.len(),
                u16::MAX
            ),
        ));
    };
    let mut frame = Vec::with_capacity(8 + 2 + iv.len() + 2 + ciphertext.len() + 1);
    frame.extend_from_slice(&claims.expire.to_be_bytes());
    frame.extend_from_slice(&(iv.len() as u16).to_be_bytes());
    frame.extend_from_slice(&iv);
    frame.extend_from_slice(&ciphertext_len.to_be_bytes());
    frame.extend_from_slice(&ciphertext);
    if options.format == TokenFormat::Gcm {
        frame.push(GCM_MODE);
    }
    Ok(format!("{VERSION}{}", base64::engine::general_purpose::STANDARD.encode(frame)))
}

/// The RTC privilege payload of a Token04: the room the token is for, whether
/// it may log in to that room and publish streams, and which stream ids it
/// may publish. ZEGO reads it as JSON with the privilege keys `"1"` (log in)
/// and `"2"` (publish), each 1 (allowed) or 0, and `stream_id_list` null for
/// any stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcPrivilege {
    pub room_id: String,
    pub login_room: bool,
    pub publish_stream: bool,
    /// The stream ids the token may publish; `None` allows any.
    pub stream_ids: Option<Vec<String>>,
}

/// The privilege keys of the RTC payload.
const PRIVILEGE_LOGIN: &str = "1";
const PRIVILEGE_PUBLISH: &str = "2";

impl RtcPrivilege {
    /// Returns the payload string to pass to [`generate`].
    pub fn to_payload(&self) -> String {
        let value = serde_json::json!({
            "room_id": self.room_id,
            "privilege": {
                PRIVILEGE_LOGIN: u8::from(self.login_room),
                PRIVILEGE_PUBLISH: u8::from(self.publish_stream),
            },
            "stream_id_list": self.stream_ids,
        });
        value.to_string()
    }

    /// Reads an RTC privilege payload back, for `token inspect`; `None` when
    /// `payload` is empty or not in this shape.
    pub fn from_payload(payload: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(payload).ok()?;
        let room_id = value.get("room_id")?.as_str()?.to_owned();
        let privilege = value.get("privilege")?.as_object()?;
        let allowed =
            |key: &str| privilege.get(key).and_then(serde_json::Value::as_i64).is_some_and(|v| v == 1);
        let stream_ids = match value.get("stream_id_list") {
            None | Some(serde_json::Value::Null) => None,
            Some(list) => Some(
                list.as_array()?
                    .iter()
                    .map(|id| id.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()?,
            ),
        };
        Some(Self {
            room_id,
            login_room: allowed(PRIVILEGE_LOGIN),
            publish_stream: allowed(PRIVILEGE_PUBLISH),
            stream_ids,
        })
    }
}

/// A Token04 decoded with the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken04 {
    pub format: TokenFormat,
    pub claims: Token04Claims,
}

impl ParsedToken04 {
    /// Tells whether the token has expired at `now` (Unix seconds).
    pub fn is_expired_at(&self, now: i64) -> bool {
        self.claims.expire <= now
    }
}

/// Reads `len` bytes at `offset`, failing with a message naming the `part`.
fn take<'a>(frame: &'a [u8], offset: &mut usize, len: usize, part: &str) -> Result<&'a [u8], Token04Error> {
    let end = offset.checked_add(len).filter(|end| *end <= frame.len());
    let Some(end) = end else {
        return Err(error(0, format!("the token is truncated: its {part} is missing")));
    };
    let bytes = &frame[*offset..end];
    *offset = end;
    Ok(bytes)
}

fn read_u16(frame: &[u8], offset: &mut usize, part: &str) -> Result<usize, Token04Error> {
    let bytes = take(frame, offset, 2, part)?;
    Ok(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])))
}

/// Decodes and decrypts a Token04 with the secret, to debug "token expired"
/// or "wrong user" reports. A wrong secret fails here, and so does a changed
/// byte of a GCM token. The older CBC format has no authentication tag, so a
/// changed byte of a CBC token can decrypt to other valid claims.
pub fn parse(token: &str, secret: &ServerSecret) -> Result<ParsedToken04, Token04Error> {
    let key = key_of(secret)?;
    let Some(encoded) = token.trim().strip_prefix(VERSION) else {
        return Err(error(0, "not a Token04: it does not start with \"04\""));
    };
    let frame = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|decode| {
        error(0, format!("not a Token04: the part after \"04\" is not base64 ({decode})"))
    })?;

    // Unframe: expire, nonce or IV, ciphertext, and for GCM the mode byte.
    let mut offset = 0;
    let expire_bytes = take(&frame, &mut offset, 8, "expiry")?;
    let expire = i64::from_be_bytes(expire_bytes.try_into().expect("8 bytes"));
    let iv_len = read_u16(&frame, &mut offset, "nonce length")?;
    let iv = take(&frame, &mut offset, iv_len, "nonce")?.to_vec();
    let ciphertext_len = read_u16(&frame, &mut offset, "ciphertext length")?;
    let ciphertext = take(&frame, &mut offset, ciphertext_len, "ciphertext")?;
    let rest = &frame[offset..];

    // Decrypt with the mode the frame shows.
    let format = match (iv_len, rest) {
        (GCM_NONCE_LEN, [GCM_MODE]) => TokenFormat::Gcm,
        (CBC_IV_LEN, []) => TokenFormat::Cbc,
        _ => {
            return Err(error(
                0,
                format!("unknown Token04 layout: a {iv_len}-byte nonce and {} trailing bytes", rest.len()),
            ))
        }
    };
    let wrong =
        || error(0, "the token cannot be decrypted: the ServerSecret is wrong or the token was changed");
    let plaintext = match format {
        TokenFormat::Gcm => {
            Aes256Gcm::new(&key.into()).decrypt(Nonce::from_slice(&iv), ciphertext).map_err(|_| wrong())?
        }
        TokenFormat::Cbc => {
            let iv_array: [u8; CBC_IV_LEN] = iv.as_slice().try_into().expect("16 bytes");
            Aes256CbcDec::new(&key.into(), &iv_array.into())
                .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
                .map_err(|_| wrong())?
        }
    };
    let claims: Token04Claims = serde_json::from_slice(&plaintext).map_err(|_| wrong())?;
    if claims.expire != expire {
        return Err(error(0, "the token's header and body disagree on its expiry; it was changed"));
    }
    Ok(ParsedToken04 { format, claims })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "fa94dd0f974cf2e293728a526b028271";
    const GCM_VECTOR: &str = "04AAAAAGVT/xAADAABAgMEBQYHCAkKCwBzlo4HRoGUdkuLbKIoOhbZY6YpcMaBTLWHRtiSNdXNuWkV2JYrMFwLwjjq6aFvxM5vMUW1ucoWpme7Vck+JCYUW5+rbF2LagnFZkRVec2ODtmU4F4kKEo7U2F+thJs5COIYlau+pkGhJGWuIAhD9RBltNqvwE=";
    const CBC_VECTOR: &str = "04AAAAAGVT/xAAEDAxMjM0NTY3ODlhYmNkZWYAcPDOWcZeMCPxbh1dpHzCTREIwK2oIO5x78Qlcu9iUMPYkqBI5TvjB3JwCxC9+klE8/eu//t2uE7+o7gQ53yB/JkIFUA6xyD5rb5rd5NER5knvdDJH2auGOam8ZKJG5qT/1t+UUUnbL8ghIsUgkbwAAg=";

    fn secret() -> ServerSecret {
        ServerSecret::new(SECRET).unwrap()
    }

    fn vector_options(format: TokenFormat, iv: &[u8]) -> Token04Options {
        Token04Options { format, now: Some(1_700_000_000), nonce: Some(123_456_789), iv: Some(iv.to_vec()) }
    }

    #[test]
    fn gcm_matches_published_vector() {
        let iv: Vec<u8> = (0u8..12).collect();
        let token = generate(1, "demo", &secret(), 3600, "", &vector_options(TokenFormat::Gcm, &iv)).unwrap();
        assert_eq!(token, GCM_VECTOR);
    }

    #[test]
    fn cbc_matches_published_vector() {
        let options = vector_options(TokenFormat::Cbc, b"0123456789abcdef");
        let token = generate(1, "demo", &secret(), 3600, "", &options).unwrap();
        assert_eq!(token, CBC_VECTOR);
    }

    #[test]
    fn parses_both_published_vectors() {
        for (vector, format) in [(GCM_VECTOR, TokenFormat::Gcm), (CBC_VECTOR, TokenFormat::Cbc)] {
            let parsed = parse(vector, &secret()).unwrap();
            assert_eq!(parsed.format, format);
            assert_eq!(parsed.claims.app_id, 1);
            assert_eq!(parsed.claims.user_id, "demo");
            assert_eq!(parsed.claims.nonce, 123_456_789);
            assert_eq!(parsed.claims.ctime, 1_700_000_000);
            assert_eq!(parsed.claims.expire, 1_700_003_600);
            assert!(parsed.is_expired_at(1_700_003_600));
            assert!(!parsed.is_expired_at(1_700_003_599));
        }
    }

    #[test]
    fn round_trips_generated_inputs() {
        let mut rng = rand::rng();
        for index in 0..200 {
            let format = if index % 2 == 0 { TokenFormat::Gcm } else { TokenFormat::Cbc };
            let user_id: String =
                (0..rng.random_range(1..=64)).map(|_| rng.random_range(' '..='~')).collect();
            let payload =
                if index % 3 == 0 { String::new() } else { format!("{{\"room_id\":\"r{index}\"}}") };
            let app_id = rng.random_range(1..=u32::MAX);
            let options = Token04Options { format, ..Token04Options::default() };
            let token = generate(app_id, &user_id, &secret(), 7200, &payload, &options).unwrap();
            let parsed = parse(&token, &secret()).unwrap();
            assert_eq!(parsed.format, format);
            assert_eq!(parsed.claims.app_id, app_id);
            assert_eq!(parsed.claims.user_id, user_id);
            assert_eq!(parsed.claims.payload, payload);
            assert_eq!(parsed.claims.expire - parsed.claims.ctime, 7200);
        }
    }

    #[test]
    fn rtc_privilege_payload_round_trip() {
        let privilege = RtcPrivilege {
            room_id: "room-1".into(),
            login_room: true,
            publish_stream: false,
            stream_ids: None,
        };
        let payload = privilege.to_payload();
        assert_eq!(payload, r#"{"room_id":"room-1","privilege":{"1":1,"2":0},"stream_id_list":null}"#);
        assert_eq!(RtcPrivilege::from_payload(&payload), Some(privilege));

        let streams = RtcPrivilege {
            room_id: "r".into(),
            login_room: true,
            publish_stream: true,
            stream_ids: Some(vec!["s1".into(), "s2".into()]),
        };
        let token =
            generate(7, "u", &secret(), 60, &streams.to_payload(), &Token04Options::default()).unwrap();
        let parsed = parse(&token, &secret()).unwrap();
        assert_eq!(RtcPrivilege::from_payload(&parsed.claims.payload), Some(streams));
        assert_eq!(RtcPrivilege::from_payload(""), None);
        assert_eq!(RtcPrivilege::from_payload("{\"room_id\":1}"), None);
    }

    #[test]
    fn input_errors_carry_zego_codes() {
        let options = Token04Options::default();
        assert_eq!(generate(0, "u", &secret(), 60, "", &options).unwrap_err().code, 1);
        assert_eq!(generate(1, "", &secret(), 60, "", &options).unwrap_err().code, 3);
        let short = ServerSecret::new("short-secret").unwrap();
        assert_eq!(generate(1, "u", &short, 60, "", &options).unwrap_err().code, 5);
        assert_eq!(generate(1, "u", &secret(), 0, "", &options).unwrap_err().code, 6);
        assert_eq!(generate(1, "u", &secret(), -5, "", &options).unwrap_err().code, 6);
    }

    #[test]
    fn rejects_payload_over_frame_length_limit() {
        // Without the payload, the plaintext JSON of these claims is 99 bytes.
        // GCM adds a 16-byte tag and CBC pads 65,519 bytes to 65,520, so a
        // 65,420-byte payload is the longest whose ciphertext fits in the
        // frame's 16-bit length field, in both formats.
        let fits = "p".repeat(65_420);
        let over = "p".repeat(65_421);
        let formats =
            [(TokenFormat::Gcm, &b"0123456789ab"[..]), (TokenFormat::Cbc, &b"0123456789abcdef"[..])];
        for (format, iv) in formats {
            let options = vector_options(format, iv);

            let token = generate(1, "demo", &secret(), 3600, &fits, &options).unwrap();
            assert_eq!(parse(&token, &secret()).unwrap().claims.payload, fits, "{format:?}");

            let error = generate(1, "demo", &secret(), 3600, &over, &options).unwrap_err();
            assert_eq!(error.code, 7, "{format:?}");
            assert_eq!(error.zego_code(), None, "{format:?}");
            assert!(error.message.contains("at most 65535"), "{format:?}: {error}");
        }
    }

    #[test]
    fn wrong_secret_and_tampering_fail_to_parse() {
        let other = ServerSecret::new("00000000000000000000000000000000").unwrap();
        for vector in [GCM_VECTOR, CBC_VECTOR] {
            let error = parse(vector, &other).unwrap_err();
            assert!(error.message.contains("ServerSecret is wrong"), "{error}");
        }

        // Flip one ciphertext bit of the GCM vector.
        let mut frame = base64::engine::general_purpose::STANDARD.decode(&GCM_VECTOR[2..]).unwrap();
        frame[30] ^= 1;
        let tampered = format!("04{}", base64::engine::general_purpose::STANDARD.encode(&frame));
        assert!(parse(&tampered, &secret()).is_err());

        // Change the framed expiry only.
        let mut frame = base64::engine::general_purpose::STANDARD.decode(&GCM_VECTOR[2..]).unwrap();
        frame[7] ^= 1;
        let tampered = format!("04{}", base64::engine::general_purpose::STANDARD.encode(&frame));
        let error = parse(&tampered, &secret()).unwrap_err();
        assert!(error.message.contains("expiry"), "{error}");
    }

    #[test]
    fn changed_cbc_iv_can_give_other_claims() {
        // The IV starts at frame byte 10, and plaintext byte 10 is the "1" of
        // `{"app_id":1,`. XOR with 2 turns it into "3", still valid JSON.
        let mut frame = base64::engine::general_purpose::STANDARD.decode(&CBC_VECTOR[2..]).unwrap();
        frame[10 + 10] ^= 2;
        let changed = format!("04{}", base64::engine::general_purpose::STANDARD.encode(&frame));
        let parsed = parse(&changed, &secret()).unwrap();
        assert_eq!(parsed.format, TokenFormat::Cbc);
        assert_eq!(parsed.claims.app_id, 3);
    }

    #[test]
    fn malformed_tokens_are_named() {
        assert!(parse("03abc", &secret()).unwrap_err().message.contains("\"04\""));
        assert!(parse("04***", &secret()).unwrap_err().message.contains("base64"));
        assert!(parse("04AAAA", &secret()).unwrap_err().message.contains("truncated"));
    }
}
