//! Fuzzes Token04 generation and parsing together. A token generated from
//! arbitrary inputs in either format must parse back to the same claims.
//! Changing any one byte of it, in the base64 text or in the decoded frame,
//! must make parsing fail or return other claims, never the same ones.
//!
//! Inputs the generator rejects must get the error code of the first
//! invalid input: ZEGO's 1 AppId, 3 user id and 6 effective time, and 7 for
//! claims too long for the frame.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use zego_core::token04::{self, ParsedToken04, Token04Claims, Token04Options, TokenFormat};
use zego_core::ServerSecret;

const SECRET: &str = "fa94dd0f974cf2e293728a526b028271";
const OTHER_SECRET: &str = "00000000000000000000000000000000";

#[derive(Arbitrary, Debug)]
struct Input {
    app_id: u32,
    user_id: String,
    effective_seconds: i64,
    payload: String,
    /// Bytes appended to the payload. They let the plaintext grow to the
    /// 65,535-byte limit of the frame's u16 length field, far beyond the
    /// input size libFuzzer would otherwise try.
    payload_padding: u16,
    cbc: bool,
    now: i64,
    nonce: i64,
    /// The IV. GCM uses its first 12 bytes as the nonce, and CBC all 16.
    iv: [u8; 16],
    /// The index of the byte to change, modulo the length of the text or frame.
    flip_at: u32,
    /// The bits to change in that byte. A mask of 0 is taken as 1.
    flip_mask: u8,
}

fuzz_target!(|input: Input| {
    let secret = ServerSecret::new(SECRET).expect("the fixed secret is valid");
    let format = if input.cbc { TokenFormat::Cbc } else { TokenFormat::Gcm };
    let iv_len = if input.cbc { 16 } else { 12 };
    let options = Token04Options {
        format,
        now: Some(input.now),
        nonce: Some(input.nonce),
        iv: Some(input.iv[..iv_len].to_vec()),
    };
    let mut payload = input.payload.clone();
    payload.extend(std::iter::repeat_n('p', usize::from(input.payload_padding)));

    let expected = Token04Claims {
        app_id: input.app_id,
        user_id: input.user_id.clone(),
        nonce: input.nonce,
        ctime: input.now,
        expire: input.now.saturating_add(input.effective_seconds),
        payload,
    };
    let generated = token04::generate(
        input.app_id,
        &input.user_id,
        &secret,
        input.effective_seconds,
        &expected.payload,
        &options,
    );

    // Rejected inputs get the code for the first invalid one. GCM adds a
    // 16-byte tag and CBC pads to the next multiple of 16, so in both formats
    // the ciphertext fits the u16 length field when the plaintext has at
    // most 65,519 bytes.
    let plaintext_len = serde_json::to_vec(&expected).expect("the claims serialize").len();
    let expected_code = if input.app_id == 0 {
        Some(1)
    } else if input.user_id.is_empty() {
        Some(3)
    } else if input.effective_seconds <= 0 {
        Some(6)
    } else if plaintext_len > usize::from(u16::MAX) - 16 {
        Some(7)
    } else {
        None
    };
    let token = match (generated, expected_code) {
        (Ok(token), None) => token,
        (Err(error), Some(code)) => {
            assert_eq!(error.code, code, "{error:?}");
            return;
        }
        (Ok(_), Some(code)) => panic!("generated a token for inputs that need error code {code}"),
        (Err(error), None) => panic!("rejected valid inputs: {error:?}"),
    };

    // The token parses back to what went in.
    let parsed = token04::parse(&token, &secret).expect("a generated token parses");
    assert_eq!(parsed, ParsedToken04 { format, claims: expected });

    // Another secret cannot read it.
    let other = ServerSecret::new(OTHER_SECRET).expect("the other secret is valid");
    assert!(token04::parse(&token, &other).is_err(), "parsed with the wrong secret");

    // One changed byte in the text or in the frame is never read as the same token.
    let mask = input.flip_mask.max(1);
    let mut text = token.clone().into_bytes();
    let at = input.flip_at as usize % text.len();
    // Text bytes are ASCII, so a mask below 0x80 keeps the text UTF-8.
    text[at] ^= (mask & 0x7F).max(1);
    let text = String::from_utf8(text).expect("ASCII stays UTF-8");
    check_changed(&text, &secret, &parsed, "text", at);

    let engine = base64::engine::general_purpose::STANDARD;
    let mut frame = engine.decode(&token[2..]).expect("a generated token is base64");
    let at = input.flip_at as usize % frame.len();
    frame[at] ^= mask;
    let changed = format!("04{}", engine.encode(&frame));
    check_changed(&changed, &secret, &parsed, "frame", at);
});

fn check_changed(token: &str, secret: &ServerSecret, original: &ParsedToken04, part: &str, at: usize) {
    if let Ok(parsed) = token04::parse(token, secret) {
        assert_ne!(&parsed, original, "a token with its {part} byte {at} changed parsed to the same claims");
    }
}
