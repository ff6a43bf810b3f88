//! Fuzzes zego-core's value parsers: `UserId`, `PushToken` for each
//! provider, `Platform`, `PushProvider`, `DeviceId` and `Registration`.
//!
//! The input is split at 0xFF bytes, which never occur in UTF-8, into the
//! fields user id, token, platform, provider and device id. A missing
//! provider or device id is `None`. Every parser runs on every field and its
//! verdict is compared with the rule written out again here, so a check that
//! accepts too much fails as well as one that panics. Accepted values must
//! parse again to themselves, and errors must name their field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zego_core::values::{
    APNS_TOKEN_MAX_CHARS, APNS_TOKEN_MIN_CHARS, DEVICE_ID_MAX_CHARS, FCM_TOKEN_MAX_CHARS, USER_ID_MAX_BYTES,
};
use zego_core::{DeviceId, Field, Platform, PushProvider, PushToken, Registration, UserId, ValidationError};

fuzz_target!(|data: &[u8]| {
    let fields: Vec<String> = data
        .split(|byte| *byte == 0xFF)
        .take(5)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();

    for value in &fields {
        check_user_id(value);
        check_fcm_token(value);
        check_apns_token(value);
        check_platform(value);
        check_provider(value);
        check_device_id(value);
    }

    let field = |index: usize| fields.get(index).map(String::as_str);
    check_registration(
        field(0).unwrap_or_default(),
        field(1).unwrap_or_default(),
        field(2).unwrap_or_default(),
        field(3),
        field(4),
    );
});

/// Checks that an error names `field` and that its message is not empty.
fn check_error(error: &ValidationError, field: Field) {
    assert_eq!(error.field, field, "{error}");
    assert!(!error.message.is_empty(), "{error:?}");
    assert!(error.to_string().starts_with(&format!("invalid {}: ", field.as_str())), "{error}");
}

fn is_printable_ascii(value: &str) -> bool {
    value.bytes().all(|byte| byte.is_ascii_graphic())
}

fn check_user_id(value: &str) {
    let valid = !value.is_empty() && value.len() <= USER_ID_MAX_BYTES && is_printable_ascii(value);
    match UserId::parse(value) {
        Ok(id) => {
            assert!(valid, "accepted user id {value:?}");
            assert_eq!(id.as_str(), value);
            assert_eq!(id.to_string(), value);
            assert_eq!(UserId::parse(id.as_str()), Ok(id));
        }
        Err(error) => {
            assert!(!valid, "rejected user id {value:?}: {error}");
            check_error(&error, Field::UserId);
        }
    }
}

fn check_fcm_token(value: &str) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':');
    let chars = value.chars().count();
    let valid = (1..=FCM_TOKEN_MAX_CHARS).contains(&chars) && value.chars().all(allowed);
    match PushToken::parse(value, PushProvider::Fcm) {
        Ok(token) => {
            assert!(valid, "accepted FCM token {value:?}");
            assert_eq!(token.as_str(), value, "an FCM token is kept as sent");
            assert_eq!(token.provider(), PushProvider::Fcm);
            assert_eq!(PushToken::parse(token.as_str(), PushProvider::Fcm), Ok(token));
        }
        Err(error) => {
            assert!(!valid, "rejected FCM token {value:?}: {error}");
            check_error(&error, Field::FcmToken);
        }
    }
}

fn check_apns_token(value: &str) {
    let normalized: String =
        value.chars().filter(|c| !matches!(c, ' ' | '<' | '>')).map(|c| c.to_ascii_lowercase()).collect();
    let digits = normalized.len();
    let valid = normalized.chars().all(|c| c.is_ascii_hexdigit())
        && digits.is_multiple_of(2)
        && (APNS_TOKEN_MIN_CHARS..=APNS_TOKEN_MAX_CHARS).contains(&digits);
    match PushToken::parse(value, PushProvider::Apns) {
        Ok(token) => {
            assert!(valid, "accepted APNs token {value:?}");
            assert_eq!(token.as_str(), normalized);
            assert_eq!(token.provider(), PushProvider::Apns);
            assert_eq!(PushToken::parse(token.as_str(), PushProvider::Apns), Ok(token), "normalizing twice");
        }
        Err(error) => {
            assert!(!valid, "rejected APNs token {value:?}: {error}");
            check_error(&error, Field::FcmToken);
        }
    }
}

fn check_platform(value: &str) {
    let valid = value.eq_ignore_ascii_case("android") || value.eq_ignore_ascii_case("ios");
    match Platform::parse(value) {
        Ok(platform) => {
            assert!(valid, "accepted platform {value:?}");
            assert!(platform.as_str().eq_ignore_ascii_case(value));
            assert_eq!(Platform::parse(platform.as_str()), Ok(platform));
            assert_eq!(Platform::parse(&platform.to_string()), Ok(platform));
        }
        Err(error) => {
            assert!(!valid, "rejected platform {value:?}: {error}");
            check_error(&error, Field::Platform);
        }
    }
}

fn check_provider(value: &str) {
    let valid = value.eq_ignore_ascii_case("fcm") || value.eq_ignore_ascii_case("apns");
    match PushProvider::parse(value) {
        Ok(provider) => {
            assert!(valid, "accepted provider {value:?}");
            assert!(provider.as_str().eq_ignore_ascii_case(value));
            assert_eq!(PushProvider::parse(provider.as_str()), Ok(provider));
            assert_eq!(PushProvider::from_code(i64::from(provider.code())), Some(provider));
        }
        Err(error) => {
            assert!(!valid, "rejected provider {value:?}: {error}");
            check_error(&error, Field::Provider);
        }
    }
}

fn check_device_id(value: &str) {
    let valid = !value.is_empty() && value.len() <= DEVICE_ID_MAX_CHARS && is_printable_ascii(value);
    match DeviceId::parse(value) {
        Ok(id) => {
            assert!(valid, "accepted device id {value:?}");
            assert_eq!(id.as_str(), value);
            assert_eq!(DeviceId::parse(id.as_str()), Ok(id));
        }
        Err(error) => {
            assert!(!valid, "rejected device id {value:?}: {error}");
            check_error(&error, Field::DeviceId);
        }
    }
}

/// Checks `Registration::parse` against its parts: an accepted registration
/// contains what each part's parser returns, and a rejected one fails on the
/// first invalid part in the order user id, platform, provider, token,
/// device id, with that part's message first.
fn check_registration(
    user_id: &str,
    token: &str,
    platform: &str,
    provider: Option<&str>,
    device_id: Option<&str>,
) {
    let result = Registration::parse(user_id, token, platform, provider, device_id);
    let first_error = first_invalid_part(user_id, token, platform, provider, device_id);
    match (result, first_error) {
        (Ok(registration), None) => {
            assert_eq!(registration.user_id.as_str(), user_id);
            assert_eq!(Ok(registration.platform), Platform::parse(platform));
            let expected_provider = provider.map_or(registration.platform.default_provider(), |raw| {
                PushProvider::parse(raw).expect("checked by first_invalid_part")
            });
            assert_eq!(registration.provider(), expected_provider);
            assert_eq!(Ok(&registration.token), PushToken::parse(token, expected_provider).as_ref());
            assert_eq!(registration.device_id.as_ref().map(DeviceId::as_str), device_id);
        }
        (Ok(registration), Some(expected)) => {
            panic!("accepted {registration:?} although {expected}");
        }
        (Err(error), None) => panic!("rejected a registration whose parts are all valid: {error}"),
        (Err(error), Some(expected)) => {
            check_error(&error, expected.field);
            assert!(
                error.message.starts_with(&expected.message),
                "{error} does not start with the message of its part, {expected}"
            );
        }
    }
}

/// Returns the error of the first part that its own parser rejects.
fn first_invalid_part(
    user_id: &str,
    token: &str,
    platform: &str,
    provider: Option<&str>,
    device_id: Option<&str>,
) -> Option<ValidationError> {
    if let Err(error) = UserId::parse(user_id) {
        return Some(error);
    }
    let platform = match Platform::parse(platform) {
        Ok(platform) => platform,
        Err(error) => return Some(error),
    };
    let provider = match provider.map(PushProvider::parse).transpose() {
        Ok(provider) => provider.unwrap_or(platform.default_provider()),
        Err(error) => return Some(error),
    };
    if let Err(error) = PushToken::parse(token, provider) {
        return Some(error);
    }
    device_id.and_then(|id| DeviceId::parse(id).err())
}
