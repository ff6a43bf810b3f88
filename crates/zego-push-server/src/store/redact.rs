//! Database URLs without their passwords, for logs and error messages.
//!
//! The URL is read as text, not parsed: a password with an unencoded `@`,
//! `/`, `?` or `#` makes a URL parser see another host or path, and its
//! remainder would then be printed.

/// Query parameters that carry a password (PostgreSQL's `password` and
/// `sslpassword`, the key file's passphrase).
const PASSWORD_PARAMETERS: [&str; 2] = ["password", "sslpassword"];

/// Returns `url` with every password replaced by `****`: the one after the
/// user name (everything from the first `:` to the last `@` of the URL) and
/// the values of the `password` and `sslpassword` query parameters.
pub fn redact_database_url(url: &str) -> String {
    let mut redacted = url.to_owned();
    if let Some(range) = userinfo_password_range(url) {
        redacted.replace_range(range, "****");
    }
    for range in query_password_ranges(&redacted).into_iter().rev() {
        redacted.replace_range(range, "****");
    }
    redacted
}

/// Returns `message` with each password of `url` replaced by `****`, for
/// error messages that may quote parts of the URL.
pub(crate) fn redact_url_error(message: &str, url: &str) -> String {
    let mut secrets: Vec<String> = Vec::new();
    let ranges = userinfo_password_range(url).into_iter().chain(query_password_ranges(url));
    for range in ranges {
        let raw = &url[range];
        secrets.push(raw.to_owned());
        if let Ok(decoded) = percent_decode(raw) {
            secrets.push(decoded);
        }
    }
    // The longest first, so that a password containing another is replaced whole.
    secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    let mut redacted = message.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        redacted = redacted.replace(secret.as_str(), "****");
    }
    redacted
}

/// Returns the byte range of the password between `scheme://user:` and the
/// last `@`, if the URL has one.
fn userinfo_password_range(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let at = start + url[start..].rfind('@')?;
    let colon = start + url[start..at].find(':')?;
    Some(colon + 1..at)
}

/// Returns the byte ranges of the values of the password query parameters.
fn query_password_ranges(url: &str) -> Vec<std::ops::Range<usize>> {
    let Some(question) = url.find('?') else { return Vec::new() };
    let mut ranges = Vec::new();
    let mut position = question + 1;
    for pair in url[question + 1..].split('&') {
        if let Some((name, value)) = pair.split_once('=') {
            if PASSWORD_PARAMETERS.iter().any(|parameter| name.eq_ignore_ascii_case(parameter)) {
                let value_start = position + name.len() + 1;
                ranges.push(value_start..value_start + value.len());
            }
        }
        position += pair.len() + 1;
    }
    ranges
}

fn percent_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|pair| std::str::from_utf8(pair).ok());
        match (bytes[index], hex.and_then(|pair| u8::from_str_radix(pair, 16).ok())) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_password_after_user() {
        assert_eq!(
            redact_database_url("postgres://user:hunter2@127.0.0.1:5432/db"),
            "postgres://user:****@127.0.0.1:5432/db"
        );
    }

    #[test]
    fn hides_passwords_with_url_delimiters() {
        for (url, expected) in [
            ("postgres://zego:hunter2@127.0.0.1:99999/zego", "postgres://zego:****@127.0.0.1:99999/zego"),
            ("postgres://zego:Secret#Pw77@127.0.0.1/db", "postgres://zego:****@127.0.0.1/db"),
            ("postgres://zego:a/b?c@127.0.0.1/db", "postgres://zego:****@127.0.0.1/db"),
            ("postgres://zp2:p@ss/w:rd%Z@127.0.0.1:55499/zp2db", "postgres://zp2:****@127.0.0.1:55499/zp2db"),
            ("postgres://zego:hunter2@[::1:1/db", "postgres://zego:****@[::1:1/db"),
        ] {
            assert_eq!(redact_database_url(url), expected, "{url}");
        }
    }

    #[test]
    fn hides_password_query_parameters() {
        assert_eq!(
            redact_database_url("postgres://zego@127.0.0.1/db?sslmode=require&password=hunter2&PASSWORD=x"),
            "postgres://zego@127.0.0.1/db?sslmode=require&password=****&PASSWORD=****"
        );
        assert_eq!(
            redact_database_url("postgres://zego:pw@127.0.0.1/db?sslpassword=keypass"),
            "postgres://zego:****@127.0.0.1/db?sslpassword=****"
        );
    }

    #[test]
    fn keeps_urls_without_password() {
        for url in [
            "sqlite://zego-push.db",
            "postgres://127.0.0.1:99999/db",
            "postgres://zego@127.0.0.1/db",
            "postgres://127.0.0.1/db?sslmode=require",
        ] {
            assert_eq!(redact_database_url(url), url);
        }
    }

    #[test]
    fn error_message_loses_encoded_and_decoded_password() {
        let url = "postgres://zego:p%40ss%2Fword@127.0.0.1/db?password=other-secret";
        let message = "password authentication failed for p@ss/word, p%40ss%2Fword and other-secret";
        let redacted = redact_url_error(message, url);
        assert_eq!(redacted, "password authentication failed for ****, **** and ****");
    }
}
