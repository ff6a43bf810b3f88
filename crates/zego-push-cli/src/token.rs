//! `zego-push token`: generates a Token04, and `token inspect` decodes one.

use std::fmt::Write as _;
use std::sync::OnceLock;

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use zego_core::sign::{Clock, SystemClock};
use zego_core::token04::{self, ParsedToken04, RtcPrivilege, Token04Error, Token04Options, TokenFormat};
use zego_core::ServerSecret;

use crate::cli::{CredentialArgs, GlobalArgs, TokenAction, TokenArgs, TokenFormatArg, TokenGenerateArgs};
use crate::env;
use crate::exit::{CliError, ExitCode, ResultExt};
use crate::output;

static LOCAL_OFFSET: OnceLock<UtcOffset> = OnceLock::new();

/// Reads the local UTC offset from the system time zone (`TZ` or
/// /etc/localtime). It must run while the process has one thread, because
/// the `time` crate refuses to read the offset once other threads could
/// change the environment. UTC is used when the offset cannot be read.
pub fn capture_local_offset() {
    let offset = UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC);
    let _ = LOCAL_OFFSET.set(offset);
}

/// Formats Unix seconds as RFC 3339 in local time, with the offset.
fn format_local(unix_seconds: i64) -> String {
    let offset = LOCAL_OFFSET.get().copied().unwrap_or(UtcOffset::UTC);
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .map(|time| time.to_offset(offset))
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix_seconds.to_string())
}

fn format_name(format: TokenFormat) -> &'static str {
    match format {
        TokenFormat::Gcm => "gcm",
        TokenFormat::Cbc => "cbc",
    }
}

pub fn run(global: &GlobalArgs, args: TokenArgs) -> Result<ExitCode, CliError> {
    match args.action {
        Some(TokenAction::Inspect(inspect)) => {
            let secret = read_secret(&inspect.secret.to_credentials())?;
            run_inspect(global, &inspect.token, &secret)
        }
        None => run_generate(global, &args.generate),
    }
}

/// Returns the ServerSecret from the usual sources. Its length is checked by
/// Token04 itself, which reports a wrong length with ZEGO's code 5.
fn read_secret(credentials: &CredentialArgs) -> Result<ServerSecret, CliError> {
    let Some((text, _)) = credentials.read_secret_text().or_exit(ExitCode::Input)? else {
        return Err(CliError::input(format!(
            "no ServerSecret: set {} or {}, or give --server-secret-file PATH or --server-secret-stdin, which keep it out of shell history",
            env::SERVER_SECRET,
            env::SERVER_SECRET_FILE
        )));
    };
    ServerSecret::new(text.as_str()).or_exit(ExitCode::Input)
}

/// Parses the AppId as a number. Zero is passed on, so that Token04 rejects
/// it with ZEGO's code 1 as ZEGO's own helpers do.
fn parse_app_id(credentials: &CredentialArgs) -> Result<u32, CliError> {
    let Some(text) = &credentials.app_id else {
        return Err(CliError::input(format!(
            "no AppId: give --app-id or set {}, with the AppId from the ZEGO console",
            env::APP_ID
        )));
    };
    let trimmed = text.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(CliError::input(format!(
            "invalid --app-id {text:?}: an AppId is a number from 1 to 4294967295, as shown in the ZEGO console"
        )));
    }
    trimmed
        .parse()
        .map_err(|_| CliError::input(format!("invalid --app-id {text:?}: an AppId is at most 4294967295")))
}

fn generate_error(error: &Token04Error) -> CliError {
    CliError::input(format!("cannot generate the Token04: {}{}", error.message, code_suffix(error)))
}

/// Returns " (ZEGO error code N)" for ZEGO's helper codes, " (error code 7)"
/// for this tool's own code, and nothing for code 0.
fn code_suffix(error: &Token04Error) -> String {
    match (error.zego_code(), error.code) {
        (Some(code), _) => format!(" (ZEGO error code {code})"),
        (None, 0) => String::new(),
        (None, code) => format!(" (error code {code})"),
    }
}

/// The maximum `--effective-seconds`: 365 days. A Token04 stays valid until
/// its expiry, so a longer one is a risk if it leaks, and the bound keeps
/// the printed expiry a valid RFC 3339 date.
pub const MAX_EFFECTIVE_SECONDS: i64 = 365 * 86_400;

fn run_generate(global: &GlobalArgs, args: &TokenGenerateArgs) -> Result<ExitCode, CliError> {
    // Values of 0 or less are left to Token04, which reports ZEGO's code 6.
    if args.effective_seconds > MAX_EFFECTIVE_SECONDS {
        return Err(CliError::input(format!(
            "invalid --effective-seconds {}: the maximum is {MAX_EFFECTIVE_SECONDS} s (365 days), so give a shorter time and generate a new token when it expires",
            args.effective_seconds
        )));
    }
    let app_id = parse_app_id(&args.credentials)?;
    let secret = read_secret(&args.credentials)?;
    let user_id = args.user_id.as_deref().unwrap_or_default();
    let format = match args.format {
        TokenFormatArg::Gcm => TokenFormat::Gcm,
        TokenFormatArg::Cbc => TokenFormat::Cbc,
    };

    // Fix the creation time here, so that the printed expiry is the token's.
    let now = SystemClock.unix_seconds();
    let options = Token04Options { format, now: Some(now), ..Token04Options::default() };
    let token = token04::generate(app_id, user_id, &secret, args.effective_seconds, &args.payload, &options)
        .map_err(|error| generate_error(&error))?;
    let expire = now.saturating_add(args.effective_seconds);

    if global.json {
        output::print_json(&json!({
            "token": token,
            "expire": format_local(expire),
            "expire_unix": expire,
            "format": format_name(format),
        }))?;
    } else {
        output::print_text(&token)?;
    }
    Ok(ExitCode::Success)
}

fn run_inspect(global: &GlobalArgs, token: &str, secret: &ServerSecret) -> Result<ExitCode, CliError> {
    let parsed = token04::parse(token, secret).map_err(|error| {
        CliError::input(format!("invalid token: {}{}", error.message, code_suffix(&error)))
    })?;
    let now = SystemClock.unix_seconds();
    if global.json {
        output::print_json(&inspect_json(&parsed, now))?;
    } else {
        output::print_text(&inspect_text(&parsed, now))?;
    }
    Ok(ExitCode::Success)
}

fn inspect_json(parsed: &ParsedToken04, now: i64) -> serde_json::Value {
    let claims = &parsed.claims;
    json!({
        "app_id": claims.app_id,
        "user_id": claims.user_id,
        "nonce": claims.nonce,
        "ctime": format_local(claims.ctime),
        "ctime_unix": claims.ctime,
        "expire": format_local(claims.expire),
        "expire_unix": claims.expire,
        "payload": claims.payload,
        "rtc_privilege": RtcPrivilege::from_payload(&claims.payload).map(|privilege| json!({
            "room_id": privilege.room_id,
            "login_room": privilege.login_room,
            "publish_stream": privilege.publish_stream,
            "stream_ids": privilege.stream_ids,
        })),
        "format": format_name(parsed.format),
        "expired": parsed.is_expired_at(now),
    })
}

fn inspect_text(parsed: &ParsedToken04, now: i64) -> String {
    let claims = &parsed.claims;
    let expired = if parsed.is_expired_at(now) {
        format!("yes, {} s ago", now - claims.expire)
    } else {
        format!("no, {} s left", claims.expire - now)
    };
    // The payload is quoted as a JSON string, so an empty one is visible.
    let payload = serde_json::Value::String(claims.payload.clone());

    let mut text = String::new();
    let _ = writeln!(text, "app_id   {}", claims.app_id);
    let _ = writeln!(text, "user_id  {}", claims.user_id);
    let _ = writeln!(text, "nonce    {}", claims.nonce);
    let _ = writeln!(text, "ctime    {} ({})", format_local(claims.ctime), claims.ctime);
    let _ = writeln!(text, "expire   {} ({})", format_local(claims.expire), claims.expire);
    let _ = writeln!(text, "payload  {payload}");
    if let Some(privilege) = RtcPrivilege::from_payload(&claims.payload) {
        let yes_no = |allowed: bool| if allowed { "yes" } else { "no" };
        let streams = privilege.stream_ids.as_ref().map_or_else(|| "any".to_owned(), |ids| ids.join(", "));
        let _ = writeln!(
            text,
            "rtc      room {}, log in: {}, publish: {}, streams: {streams}",
            privilege.room_id,
            yes_no(privilege.login_room),
            yes_no(privilege.publish_stream)
        );
    }
    let _ = writeln!(text, "format   {}", format_name(parsed.format));
    let _ = writeln!(text, "expired  {expired}");
    text
}
