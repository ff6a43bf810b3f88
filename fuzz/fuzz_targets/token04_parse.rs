//! Fuzzes `token04::parse` with a fixed 32-character secret on arbitrary
//! text, and on arbitrary bytes framed as a Token04 (`"04"` and the bytes
//! in base64). The framed form lets mutations reach the unframing and
//! decryption steps without first having to produce valid base64.
//!
//! A rejection must carry code 0 and a message. A decryption that succeeds
//! must hold claims whose expiry agrees with the frame.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use zego_core::token04::{self, ParsedToken04};
use zego_core::ServerSecret;

/// The secret of the Token04 test vectors.
const SECRET: &str = "fa94dd0f974cf2e293728a526b028271";

fuzz_target!(|data: &[u8]| {
    let secret = ServerSecret::new(SECRET).expect("the fixed secret is valid");

    let text = String::from_utf8_lossy(data);
    check(&text, &secret);

    let framed = format!("04{}", base64::engine::general_purpose::STANDARD.encode(data));
    check(&framed, &secret);
});

fn check(token: &str, secret: &ServerSecret) {
    match token04::parse(token, secret) {
        Ok(parsed) => check_parsed(&parsed),
        Err(error) => {
            assert_eq!(error.code, 0, "a parse error has code 0: {error:?}");
            assert!(!error.message.is_empty(), "{error:?}");
        }
    }
}

fn check_parsed(parsed: &ParsedToken04) {
    let expire = parsed.claims.expire;
    assert!(parsed.is_expired_at(expire));
    if let Some(before) = expire.checked_sub(1) {
        assert!(!parsed.is_expired_at(before));
    }
}
