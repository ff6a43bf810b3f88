//! Validation messages in the words of each front-end.
//!
//! zego-core's [`ValidationError`] names the fields of the server's JSON body
//! (`fcm_token`) and its hints show JSON (`send "provider": "fcm"`). The
//! CLI names its flags instead, and `import` names its file's columns.

use zego_core::values::FCM_PROVIDER_HINT as CORE_PROVIDER_HINT;
use zego_core::{Field, ValidationError};

/// How a front-end names the registration fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldNames {
    /// The flags of `register` and `doctor`: `--user-id`, `--token`, ...
    Flags,
    /// The columns or keys of an `import` file: `user_id`, `token`, ...
    Columns,
}

impl FieldNames {
    /// Returns the name of `field` as the user wrote it.
    pub fn name(self, field: Field) -> &'static str {
        match (self, field) {
            (FieldNames::Flags, Field::UserId) => "--user-id",
            (FieldNames::Flags, Field::FcmToken) => "--token",
            (FieldNames::Flags, Field::Platform) => "--platform",
            (FieldNames::Flags, Field::Provider) => "--provider",
            (FieldNames::Flags, Field::DeviceId) => "--device-id",
            (FieldNames::Columns, Field::UserId) => "user_id",
            (FieldNames::Columns, Field::FcmToken) => "token",
            (FieldNames::Columns, Field::Platform) => "platform",
            (FieldNames::Columns, Field::Provider) => "provider",
            (FieldNames::Columns, Field::DeviceId) => "device_id",
        }
    }

    fn provider_hint(self) -> &'static str {
        match self {
            FieldNames::Flags => "give --provider fcm",
            FieldNames::Columns => "set the provider column to fcm",
        }
    }

    /// Returns `error` as a message that names the flag or column at fault.
    pub fn describe(self, error: &ValidationError) -> String {
        let message = error.message.replace(CORE_PROVIDER_HINT, self.provider_hint());
        format!("invalid {}: {message}", self.name(error.field))
    }
}

#[cfg(test)]
mod tests {
    use zego_core::Registration;

    use super::*;

    const APNS_65: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0";

    #[test]
    fn flags_replace_json_names() {
        let error = Registration::parse("u", APNS_65, "ios", None, None).unwrap_err();
        assert!(error.to_string().contains(CORE_PROVIDER_HINT), "zego-core's hint changed: {error}");

        let message = FieldNames::Flags.describe(&error);
        assert!(message.starts_with("invalid --token: has 65 hex digits"), "{message}");
        assert!(message.ends_with("give --provider fcm"), "{message}");
        assert!(!message.contains("fcm_token"), "{message}");
        assert!(!message.contains('"'), "{message}");
    }

    #[test]
    fn columns_replace_json_names() {
        let error = Registration::parse("u", "abc:def", "ios", None, None).unwrap_err();
        let message = FieldNames::Columns.describe(&error);
        assert!(message.starts_with("invalid token: "), "{message}");
        assert!(message.ends_with("set the provider column to fcm"), "{message}");

        let error = Registration::parse("u", "t", "android", None, Some("")).unwrap_err();
        assert!(FieldNames::Columns.describe(&error).starts_with("invalid device_id: "));
    }
}
