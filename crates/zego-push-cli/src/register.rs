//! `zego-push register`: one PushRegister call, or with `--dry-run` the
//! request it would send.

use std::fmt::Write as _;

use serde_json::{json, Value};
use zego_core::{codes, Registration, ZegoClient};

use crate::cli::{GlobalArgs, RegisterArgs, RegistrationArgs};
use crate::exit::{exit_code_of, CliError, ExitCode};
use crate::fields::FieldNames;
use crate::{output, settings};

pub async fn run(global: &GlobalArgs, args: RegisterArgs) -> Result<ExitCode, CliError> {
    let registration = parse_registration(&args.registration)?;
    let (app_id, secret) = args.credentials.require()?;
    let client = settings::client(app_id, secret, &args.protocol, &args.connection)?;

    if args.dry_run {
        let request = dry_run_request(&client, &registration);
        if global.json {
            output::print_json(&request)?;
        } else {
            output::print_text(&dry_run_text(&request))?;
        }
        return Ok(ExitCode::Success);
    }

    tracing::info!(
        endpoint = client.endpoint(),
        user_id = registration.user_id.as_str(),
        token = %registration.token.short_hash(),
        "sending PushRegister"
    );
    let result = settings::register_logged(&client, &registration).await;
    let (document, code) = match &result {
        Ok(registered) => (
            json!({"ok": true, "attempts": registered.attempts, "reply": registered.reply}),
            ExitCode::Success,
        ),
        Err(error) => (error_json(error), exit_code_of(error)),
    };
    if global.json {
        output::print_json(&document)?;
    } else {
        // A success goes to standard output and a failure to standard error,
        // so that redirecting standard output captures only a successful reply.
        match &result {
            Ok(registered) => output::print_text(&format!(
                "registered: ZEGO replied Code 0 after {} attempt(s)\n{}",
                registered.attempts,
                pretty(&registered.reply)
            ))?,
            Err(error) => eprintln!("{}", error_text(error)),
        }
    }
    Ok(code)
}

/// Validates the flags with the rules zego-push-server applies to its request body.
pub fn parse_registration(args: &RegistrationArgs) -> Result<Registration, CliError> {
    Registration::parse(&args.user_id, &args.token, &args.platform, args.provider.as_deref(), None)
        .map_err(|error| CliError::input(FieldNames::Flags.describe(&error)))
}

/// Returns the request `client` would send, exactly: method, URL with its
/// query, the headers it sets, and the body.
fn dry_run_request(client: &ZegoClient, registration: &Registration) -> Value {
    let signed = client.sign(registration);
    let url = client.request_url(&signed);
    let mut headers = serde_json::Map::new();
    headers.insert("Content-Type".into(), "application/json".into());
    for (name, value) in &signed.headers {
        headers.insert(name.clone(), Value::String(value.clone()));
    }
    json!({
        "method": "POST",
        "url": url.as_str(),
        "headers": headers,
        "body": signed.body,
        "signature": {
            "scheme": signed.scheme.as_str(),
            "canonical": signed.canonical,
            "nonce": signed.nonce,
            "timestamp": signed.timestamp,
            "signature": signed.signature,
        },
    })
}

fn dry_run_text(request: &Value) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "# dry run: nothing was sent");
    let _ = writeln!(text, "POST {}", request["url"].as_str().unwrap_or_default());
    if let Some(headers) = request["headers"].as_object() {
        for (name, value) in headers {
            let _ = writeln!(text, "{name}: {}", value.as_str().unwrap_or_default());
        }
    }
    let _ = writeln!(text);
    let _ = writeln!(text, "{}", request["body"]);
    let _ = writeln!(text);
    let _ =
        writeln!(text, "# signed string: {}", request["signature"]["canonical"].as_str().unwrap_or_default());
    text
}

/// Describes a failed call as JSON: what kind of failure, and ZEGO's reply when there is one.
pub fn error_json(error: &zego_core::Error) -> Value {
    match error {
        zego_core::Error::Api(api) => json!({
            "ok": false,
            "error": {
                "kind": "rejected",
                "code": api.code,
                "class": api.class.as_str(),
                "message": api.message,
                "request_id": api.request_id,
                "hint": codes::hint(api.code),
            },
            "attempts": api.attempts,
            "reply": api.reply,
        }),
        other if exit_code_of(other) == ExitCode::Unreachable => json!({
            "ok": false,
            "error": {
                "kind": "unreachable",
                "message": other.to_string(),
                "hint": output::UNREACHABLE_FIX,
            },
            "attempts": other.attempts(),
        }),
        other => json!({
            "ok": false,
            "error": {
                "kind": "invalid",
                "message": other.to_string(),
            },
            "attempts": other.attempts(),
        }),
    }
}

fn error_text(error: &zego_core::Error) -> String {
    match error {
        zego_core::Error::Api(api) => format!(
            "rejected: ZEGO replied Code {} ({:?}) after {} attempt(s)\nfix: {}\n{}",
            api.code,
            api.message,
            api.attempts,
            codes::hint(api.code),
            pretty(&api.reply)
        ),
        other if exit_code_of(other) == ExitCode::Unreachable => {
            format!("failed: {other}\nfix: {}", output::UNREACHABLE_FIX)
        }
        other => format!("failed: {other}"),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}
