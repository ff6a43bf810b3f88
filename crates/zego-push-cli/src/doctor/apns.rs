//! Opening an APNs certificate (`.p12`) and reading what ZEGO's iOS push needs.
//!
//! Apple's push certificates carry the app's bundle id (the APNs topic) in
//! the subject's UID attribute, and the APNs environment in extensions:
//! 1.2.840.113635.100.6.3.1 for development (the sandbox),
//! 1.2.840.113635.100.6.3.2 for production, and 1.2.840.113635.100.6.3.6
//! (the topics extension) on certificates valid in both.

use std::path::Path;

use p12_keystore::error::Error as P12Error;
use p12_keystore::Pkcs12Archive;
use serde_json::Value;
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::ber::BerObject;

use super::{Check, Status};
use crate::cli::ApnsEnvironment;

const OID_APNS_DEVELOPMENT: &str = "1.2.840.113635.100.6.3.1";
const OID_APNS_PRODUCTION: &str = "1.2.840.113635.100.6.3.2";
const OID_APNS_TOPICS: &str = "1.2.840.113635.100.6.3.6";
/// The LDAP `uid` attribute, where Apple puts the bundle id.
const OID_USER_ID: &str = "0.9.2342.19200300.100.1.1";

/// A certificate that expires sooner than this many days gets a warning.
pub const EXPIRY_WARN_DAYS: i64 = 30;

const SECONDS_PER_DAY: i64 = 86_400;

const NAME: &str = "apns_certificate";

/// The push certificate's fields, read from a `.p12` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    pub subject: String,
    pub issuer: String,
    /// The subject's UID: the bundle id the certificate pushes to.
    pub topic: Option<String>,
    /// The topics listed in the topics extension, if it is present.
    pub topics: Vec<String>,
    pub development: bool,
    pub production: bool,
    /// Validity, in Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub has_private_key: bool,
}

impl CertificateInfo {
    /// Returns "development", "production", "development and production", or `None`.
    pub fn environment(&self) -> Option<&'static str> {
        match (self.development, self.production) {
            (true, true) => Some("development and production"),
            (true, false) => Some("development"),
            (false, true) => Some("production"),
            (false, false) => None,
        }
    }

    pub fn supports(&self, environment: ApnsEnvironment) -> bool {
        match environment {
            ApnsEnvironment::Development => self.development,
            ApnsEnvironment::Production => self.production,
        }
    }
}

/// A reason a `.p12` file cannot be read.
#[derive(Debug)]
pub enum OpenError {
    WrongPassword,
    NotPkcs12(String),
    NoCertificate,
    BadCertificate(String),
}

/// Opens PKCS#12 data with `password` and reads its push certificate: the
/// one that belongs to the private key, else the first with an APNs
/// environment extension, else the first.
pub fn inspect(data: &[u8], password: &str) -> Result<CertificateInfo, OpenError> {
    let archive = Pkcs12Archive::from_pkcs12(data, password).map_err(|error| match error {
        // A MAC that does not verify, or a decrypted block with bad padding,
        // both mean the key derived from the password is wrong.
        P12Error::MacError(_) | P12Error::UnpadError => OpenError::WrongPassword,
        other => OpenError::NotPkcs12(other.to_string()),
    })?;

    let key_ids: Vec<&[u8]> =
        archive.keys.iter().filter_map(|key| key.local_key_id.as_ref()).map(AsRef::as_ref).collect();
    let mut parsed = Vec::new();
    for bag in &archive.certs {
        let (_, certificate) = x509_parser::parse_x509_certificate(bag.cert.as_der())
            .map_err(|error| OpenError::BadCertificate(error.to_string()))?;
        let belongs_to_key = bag.local_key_id.as_deref().is_some_and(|id| key_ids.contains(&id));
        parsed.push((belongs_to_key, certificate));
    }
    let chosen = parsed
        .iter()
        .find(|(belongs_to_key, _)| *belongs_to_key)
        .or_else(|| parsed.iter().find(|(_, certificate)| has_apns_extension(certificate)))
        .or_else(|| parsed.first())
        .ok_or(OpenError::NoCertificate)?;

    Ok(describe(&chosen.1, !archive.keys.is_empty()))
}

fn has_apns_extension(certificate: &X509Certificate<'_>) -> bool {
    certificate.extensions().iter().any(|extension| {
        let oid = extension.oid.to_id_string();
        oid == OID_APNS_DEVELOPMENT || oid == OID_APNS_PRODUCTION || oid == OID_APNS_TOPICS
    })
}

fn describe(certificate: &X509Certificate<'_>, has_private_key: bool) -> CertificateInfo {
    let topic = certificate
        .subject()
        .iter_attributes()
        .find(|attribute| attribute.attr_type().to_id_string() == OID_USER_ID)
        .and_then(|attribute| attribute.as_str().ok())
        .map(str::to_owned);

    let mut info = CertificateInfo {
        subject: certificate.subject().to_string(),
        issuer: certificate.issuer().to_string(),
        topic,
        topics: Vec::new(),
        development: false,
        production: false,
        not_before: certificate.validity().not_before.timestamp(),
        not_after: certificate.validity().not_after.timestamp(),
        has_private_key,
    };
    for extension in certificate.extensions() {
        match extension.oid.to_id_string().as_str() {
            OID_APNS_DEVELOPMENT => info.development = true,
            OID_APNS_PRODUCTION => info.production = true,
            OID_APNS_TOPICS => {
                info.development = true;
                info.production = true;
                info.topics = topics_of(extension.value);
            }
            _ => {}
        }
    }
    info
}

/// Reads the topics extension: a SEQUENCE whose UTF8String items are the
/// topics, each followed by a SEQUENCE of its kinds (such as "voip").
fn topics_of(value: &[u8]) -> Vec<String> {
    let Ok((_, object)) = x509_parser::der_parser::parse_der(value) else {
        return Vec::new();
    };
    let items: &[BerObject<'_>] = object.as_sequence().map(Vec::as_slice).unwrap_or_default();
    items.iter().filter_map(|item| item.as_str().ok()).map(str::to_owned).collect()
}

/// Opens the file and judges the certificate as of `now` (Unix seconds).
pub fn check_file(path: &Path, password: &str, expected: Option<ApnsEnvironment>, now: i64) -> Check {
    let file = path.display().to_string();
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(error) => {
            return Check::new(NAME, Status::Fail, format!("cannot read {file}: {error}"))
                .with_fix("check the path given with --p12")
                .with_detail("file", file);
        }
    };
    let info = match inspect(&data, password) {
        Ok(info) => info,
        Err(error) => return open_failure(&file, &error).with_detail("file", file),
    };
    judge(&info, expected, now).with_detail("file", file).with_details_of(&info, now)
}

fn open_failure(file: &str, error: &OpenError) -> Check {
    match error {
        OpenError::WrongPassword => Check::new(NAME, Status::Fail, format!("the password does not open {file}"))
            .with_fix("give the password chosen when the certificate was exported, with --p12-password-file or ZEGO_PUSH_P12_PASSWORD"),
        OpenError::NotPkcs12(reason) => {
            Check::new(NAME, Status::Fail, format!("{file} cannot be read as a PKCS#12 (.p12) file: {reason}"))
                .with_fix("export the certificate and its private key from Keychain Access as a .p12 file")
        }
        OpenError::NoCertificate => Check::new(NAME, Status::Fail, format!("{file} contains no certificate"))
            .with_fix("export the push certificate together with its private key from Keychain Access"),
        OpenError::BadCertificate(reason) => {
            Check::new(NAME, Status::Fail, format!("{file} contains a certificate that cannot be parsed: {reason}"))
        }
    }
}

/// Decides pass, warn or fail, most severe finding first.
fn judge(info: &CertificateInfo, expected: Option<ApnsEnvironment>, now: i64) -> Check {
    let renew = "create a new VoIP Services certificate in the Apple Developer portal, export it with its private key as .p12, and upload it to the ZEGO console";
    let days_left = (info.not_after - now).div_euclid(SECONDS_PER_DAY);

    if info.not_after <= now {
        return Check::new(
            NAME,
            Status::Fail,
            format!("expired on {} ({} days ago)", format_time(info.not_after), -days_left),
        )
        .with_fix(renew);
    }
    if info.not_before > now {
        return Check::new(NAME, Status::Fail, format!("not valid until {}", format_time(info.not_before)))
            .with_fix("check this machine's clock, or wait until the certificate becomes valid");
    }
    if !info.has_private_key {
        return Check::new(NAME, Status::Fail, "the file has no private key, which ZEGO needs to push")
            .with_fix("export the certificate together with its private key from Keychain Access");
    }
    let Some(environment) = info.environment() else {
        return Check::new(
            NAME,
            Status::Warn,
            "the certificate has no APNs environment extension, so it is not an Apple push certificate",
        )
        .with_fix(
            "export the \"VoIP Services\" or \"Apple Push Notification service\" certificate of the app",
        );
    };
    if let Some(expected) = expected {
        if !info.supports(expected) {
            return Check::new(
                NAME,
                Status::Fail,
                format!("the certificate is for {environment}, not {}", expected.as_str()),
            )
            .with_fix(format!(
                "upload a {} certificate, or set the ZEGO console's iOS environment to match this one",
                expected.as_str()
            ));
        }
    }
    if days_left < EXPIRY_WARN_DAYS {
        return Check::new(
            NAME,
            Status::Warn,
            format!("expires in {days_left} days, on {}", format_time(info.not_after)),
        )
        .with_fix(format!("renew it before it expires: {renew}"));
    }
    Check::new(
        NAME,
        Status::Pass,
        format!(
            "opens; {environment}; valid for {days_left} more days, until {}",
            format_time(info.not_after)
        ),
    )
}

impl Check {
    fn with_details_of(self, info: &CertificateInfo, now: i64) -> Self {
        let mut check = self
            .with_detail("subject", info.subject.clone())
            .with_detail("issuer", info.issuer.clone())
            .with_detail("topic", info.topic.clone().map_or(Value::Null, Value::String));
        if !info.topics.is_empty() {
            check = check.with_detail("topics", info.topics.clone());
        }
        check
            .with_detail(
                "environment",
                info.environment().map_or(Value::Null, |text| Value::String(text.into())),
            )
            .with_detail("not_before", format_time(info.not_before))
            .with_detail("not_after", format_time(info.not_after))
            .with_detail("days_left", (info.not_after - now).div_euclid(SECONDS_PER_DAY))
            .with_detail("private_key", info.has_private_key)
    }
}

/// Formats Unix seconds as RFC 3339 in UTC.
fn format_time(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|time| time.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix_seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = SECONDS_PER_DAY;
    const NOW: i64 = 1_800_000_000;

    fn info(not_after: i64) -> CertificateInfo {
        CertificateInfo {
            subject: "UID=com.example.app, CN=VoIP Services: com.example.app".into(),
            issuer: "CN=Apple Worldwide Developer Relations Certification Authority".into(),
            topic: Some("com.example.app".into()),
            topics: Vec::new(),
            development: false,
            production: true,
            not_before: NOW - 100 * DAY,
            not_after,
            has_private_key: true,
        }
    }

    #[test]
    fn valid_certificate_passes() {
        let check = judge(&info(NOW + 200 * DAY), None, NOW);
        assert_eq!(check.status, Status::Pass, "{}", check.summary);
        assert!(check.summary.contains("200 more days"), "{}", check.summary);
    }

    #[test]
    fn warns_under_thirty_days() {
        assert_eq!(judge(&info(NOW + 29 * DAY + 10), None, NOW).status, Status::Warn);
        assert_eq!(judge(&info(NOW + 30 * DAY + 10), None, NOW).status, Status::Pass);
    }

    #[test]
    fn fails_when_expired() {
        let check = judge(&info(NOW - 3 * DAY), None, NOW);
        assert_eq!(check.status, Status::Fail);
        assert!(check.summary.contains("3 days ago"), "{}", check.summary);
    }

    #[test]
    fn fails_on_environment_mismatch() {
        let check = judge(&info(NOW + 200 * DAY), Some(ApnsEnvironment::Development), NOW);
        assert_eq!(check.status, Status::Fail);
        assert!(check.summary.contains("production, not development"), "{}", check.summary);
    }

    #[test]
    fn fails_without_private_key() {
        let mut without_key = info(NOW + 200 * DAY);
        without_key.has_private_key = false;
        assert_eq!(judge(&without_key, None, NOW).status, Status::Fail);
    }

    #[test]
    fn formats_times_as_rfc3339() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
    }
}
