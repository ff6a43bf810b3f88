//! `zego-push sign`: prints what a PushRegister request signs and its signature.

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use zego_core::{FixedClock, FixedNonce, Platform, PushProvider, SignatureScheme, SignedRequest, Signer};

use crate::cli::{GlobalArgs, SignArgs};
use crate::exit::{CliError, ExitCode};
use crate::fields::FieldNames;
use crate::output;

pub fn run(global: &GlobalArgs, args: SignArgs) -> Result<ExitCode, CliError> {
    let provider = provider_of(args.platform.as_deref(), args.provider.as_deref())?;
    if args.nonce.as_deref() == Some("") {
        return Err(CliError::input("invalid --nonce: it must not be empty"));
    }
    let (app_id, secret) = args.credentials.require()?;

    let mut signer = Signer::new(app_id, secret, args.protocol.scheme);
    if let Some(timestamp) = args.timestamp {
        signer = signer.with_clock(Arc::new(FixedClock::new(timestamp)));
    }
    if let Some(nonce) = args.nonce {
        signer = signer.with_nonces(Arc::new(FixedNonce(nonce)));
    }
    let signed =
        signer.sign_fields(&args.protocol.action, &args.user_id, &args.token, i64::from(provider.code()));

    if global.json {
        output::print_json(&to_json(&signed))?;
    } else {
        output::print_text(&to_text(&signed))?;
    }
    Ok(ExitCode::Success)
}

/// Returns the provider: `--provider` when given, else the platform's own.
fn provider_of(platform: Option<&str>, provider: Option<&str>) -> Result<PushProvider, CliError> {
    if let Some(provider) = provider {
        return PushProvider::parse(provider)
            .map_err(|error| CliError::input(FieldNames::Flags.describe(&error)));
    }
    let platform = platform.unwrap_or_default();
    let platform =
        Platform::parse(platform).map_err(|error| CliError::input(FieldNames::Flags.describe(&error)))?;
    Ok(platform.default_provider())
}

fn describe_scheme(scheme: SignatureScheme) -> &'static str {
    match scheme {
        SignatureScheme::Guide => {
            "guide: HMAC-SHA256 over the sorted parameters, hex, in the Signature header"
        }
        SignatureScheme::V2 => {
            "v2: MD5 over AppId, SignatureNonce, ServerSecret and Timestamp, hex, in the query string"
        }
    }
}

fn pairs_to_json(pairs: &[(String, String)]) -> Value {
    let map: Map<String, Value> =
        pairs.iter().map(|(name, value)| (name.clone(), Value::String(value.clone()))).collect();
    Value::Object(map)
}

/// Returns the signed request as JSON. The V2 canonical string shows the
/// secret as `****`; the guide's canonical string does not contain it.
pub fn to_json(signed: &SignedRequest) -> Value {
    json!({
        "scheme": signed.scheme.as_str(),
        "canonical": signed.canonical,
        "nonce": signed.nonce,
        "timestamp": signed.timestamp,
        "signature": signed.signature,
        "query": pairs_to_json(&signed.query),
        "headers": pairs_to_json(&signed.headers),
        "body": signed.body,
    })
}

fn to_text(signed: &SignedRequest) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "scheme     {}", describe_scheme(signed.scheme));
    let _ = writeln!(text, "canonical  {}", signed.canonical);
    let _ = writeln!(text, "nonce      {}", signed.nonce);
    let _ = writeln!(text, "timestamp  {}", signed.timestamp);
    let _ = writeln!(text, "signature  {}", signed.signature);
    text
}

#[cfg(test)]
mod tests {
    use zego_core::{AppId, ServerSecret};

    use super::*;

    #[test]
    fn provider_flag_wins_over_platform() {
        assert_eq!(provider_of(Some("android"), Some("apns")).unwrap(), PushProvider::Apns);
        assert_eq!(provider_of(Some("iOS"), None).unwrap(), PushProvider::Apns);
        assert_eq!(provider_of(Some("android"), None).unwrap(), PushProvider::Fcm);
    }

    #[test]
    fn rejects_unknown_platform() {
        let error = provider_of(Some("web"), None).unwrap_err();
        assert_eq!(error.code, ExitCode::Input);
        assert!(error.to_string().contains("--platform"), "{error}");
    }

    #[test]
    fn v2_json_hides_secret() {
        let secret = "0123456789abcdef0123456789abcdef";
        let signer =
            Signer::new(AppId::new(1).unwrap(), ServerSecret::new(secret).unwrap(), SignatureScheme::V2)
                .with_clock(Arc::new(FixedClock::new(5)))
                .with_nonces(Arc::new(FixedNonce("n".into())));
        let signed = signer.sign_fields("PushRegister", "u", "t", 1);
        let document = to_json(&signed).to_string();
        assert!(!document.contains(secret), "{document}");
        assert!(document.contains("1n****5"), "{document}");
    }
}
