//! Flags and subcommands. Each doc comment is the help text of its flag.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use zego_core::SignatureScheme;

use crate::env;
use crate::exit::{
    exit_codes_help, DOCTOR_EXIT_CODES, EXIT_CODES_HELP, IMPORT_EXIT_CODES, REGISTER_EXIT_CODES,
    SIGN_EXIT_CODES, TOKEN_EXIT_CODES, VERIFY_CALLBACK_EXIT_CODES,
};

/// Registers mobile push tokens (FCM, APNs) with ZEGO's offline push
/// service, and finds out why calls do not ring.
///
/// Settings come from flags, then environment variables. The ZEGO_* variable
/// names are the ones zego-push-server reads. The ServerSecret is never
/// printed; pass it through ZEGO_SERVER_SECRET, --server-secret-file or
/// --server-secret-stdin, which keep it out of shell history.
#[derive(Debug, Parser)]
#[command(name = "zego-push", version, after_help = EXIT_CODES_HELP, after_long_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Output settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Print one JSON document on standard output instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Log more detail on standard error: -v for each step, -vv for each
    /// ZEGO request, -vvv for everything. RUST_LOG overrides it.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the canonical string, nonce, timestamp and signature of a
    /// PushRegister request, to compare with another implementation.
    ///
    /// The values are signed as given, without the input rules of
    /// `register`, so that any implementation's output can be compared.
    #[command(after_help = exit_codes_help(SIGN_EXIT_CODES))]
    Sign(SignArgs),

    /// Send one PushRegister call and print ZEGO's reply.
    ///
    /// The user id, token and platform are checked with the same rules as
    /// zego-push-server before anything is sent.
    #[command(after_help = exit_codes_help(REGISTER_EXIT_CODES))]
    Register(RegisterArgs),

    /// Run the integration guide's troubleshooting checklist and print each
    /// check as pass, warn or fail, with the fix.
    ///
    /// The checks, in order: credentials, host_reachable, clock_skew,
    /// push_register, apns_certificate (with --p12), resource_id (with
    /// --resource-id) and console. clock_skew compares the host's Date header
    /// with this machine's clock: it warns past 60 s and fails past 600 s.
    /// push_register sends a test PushRegister that must return Code 0. It
    /// uses user zego-push-doctor and a placeholder token unless --token is
    /// given, which needs --user-id and --platform or --provider. --user-id
    /// without --token exits with 2, because the placeholder token could
    /// replace that user's real token. console lists what only the ZEGO
    /// console shows.
    /// The exit status is 5 when a check fails; warnings alone exit with 0.
    #[command(after_help = exit_codes_help(DOCTOR_EXIT_CODES))]
    Doctor(DoctorArgs),

    /// Register every row of a CSV or JSON Lines file.
    ///
    /// Columns (CSV header row) or keys (JSON Lines): user_id, token
    /// (also fcm_token or push_token), platform, and optional provider and
    /// device_id. Invalid rows are reported with their line number and
    /// skipped. A state file records each row's outcome, so a run stopped by
    /// Ctrl-C or a crash resumes where it stopped when started again.
    #[command(after_help = exit_codes_help(IMPORT_EXIT_CODES))]
    Import(ImportArgs),

    /// Generate a Token04, the login token of ZEGO's client SDKs, or decode
    /// one with `token inspect`.
    ///
    /// The token is encrypted with the ServerSecret, which must be the
    /// 32-character secret from the ZEGO console. Nothing is sent to ZEGO.
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        after_help = exit_codes_help(TOKEN_EXIT_CODES)
    )]
    Token(TokenArgs),

    /// Check the signature and timestamp of a callback that ZEGO's servers
    /// sent to this backend.
    ///
    /// The signature is the lowercase hex SHA-1 of the CallbackSecret,
    /// timestamp and nonce, sorted as strings and concatenated. Exits with 0
    /// when it matches and the timestamp is within --window-secs of this
    /// machine's clock, and with 7 and the reason otherwise.
    #[command(after_help = exit_codes_help(VERIFY_CALLBACK_EXIT_CODES))]
    VerifyCallback(VerifyCallbackArgs),
}

/// The ZEGO project's credentials.
#[derive(Debug, Clone, Args)]
pub struct CredentialArgs {
    /// The ZEGO project's AppId, from the ZEGO console.
    #[arg(long, env = env::APP_ID)]
    pub app_id: Option<String>,

    /// The ServerSecret [env: ZEGO_SERVER_SECRET]. A value given as a flag
    /// is visible in shell history and to other users through `ps`; prefer
    /// ZEGO_SERVER_SECRET, --server-secret-file or --server-secret-stdin.
    // NOTE: the environment variables are read in `read_secret_text`, not by
    // clap, so that each flag wins over both variables.
    #[arg(long)]
    pub server_secret: Option<String>,

    /// A file whose content is the ServerSecret; surrounding whitespace is
    /// ignored [env: ZEGO_SERVER_SECRET_FILE]. Wins over --server-secret.
    #[arg(long, value_name = "PATH")]
    pub server_secret_file: Option<PathBuf>,

    /// Read the ServerSecret from the first line of standard input. Wins
    /// over --server-secret-file and --server-secret.
    #[arg(long)]
    pub server_secret_stdin: bool,
}

/// Request action and signing scheme.
#[derive(Debug, Clone, Args)]
pub struct ProtocolArgs {
    /// Request signing scheme: guide (sorted-parameter HMAC-SHA256, as in
    /// the integration guide) or v2 (ZEGO Signature 2.0, MD5).
    #[arg(long, env = env::SIGNATURE_SCHEME, default_value = "guide", value_parser = parse_scheme)]
    pub scheme: SignatureScheme,

    /// The ZEGO action that binds a push token to a user.
    #[arg(long, env = env::ACTION, default_value = zego_core::client::DEFAULT_ACTION)]
    pub action: String,
}

/// ZEGO API address and timeouts.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// ZEGO API base URL; overrides --region [default: https://rtc-api.zego.im].
    /// Requests use the proxy in HTTPS_PROXY, HTTP_PROXY or ALL_PROXY unless
    /// NO_PROXY lists the host or the URL is on loopback.
    #[arg(long, env = env::BASE_URL, value_name = "URL")]
    pub base_url: Option<String>,

    /// ZEGO region whose API host to use: unified, sha, hkg, fra, lax, bom or sgp.
    #[arg(long, env = env::REGION, default_value = "unified")]
    pub region: String,

    /// Time allowed for one ZEGO request, in milliseconds; 1 to 600000.
    #[arg(long, env = env::TIMEOUT_MS, default_value_t = 5_000, value_name = "MS", value_parser = parse_timeout_ms)]
    pub timeout_ms: u64,

    /// Time allowed to connect to ZEGO (through a proxy: to the proxy, and to
    /// open the tunnel), in milliseconds; 1 to 600000.
    #[arg(long, env = env::CONNECT_TIMEOUT_MS, default_value_t = 2_000, value_name = "MS", value_parser = parse_timeout_ms)]
    pub connect_timeout_ms: u64,

    /// Maximum requests sent for one registration when ZEGO is unreachable
    /// or busy, the first included; 1 to 10.
    #[arg(long, env = env::MAX_ATTEMPTS, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub max_attempts: u32,
}

/// The largest timeout accepted, in milliseconds: 10 minutes.
const MAX_TIMEOUT_MS: u64 = 600_000;

/// Parses a timeout in milliseconds. A timeout of 0 makes every request
/// time out at once, and each is then sent again up to --max-attempts times.
fn parse_timeout_ms(value: &str) -> Result<u64, String> {
    let ms: u64 = value.parse().map_err(|_| format!("{value:?} is not a whole number of milliseconds"))?;
    if (1..=MAX_TIMEOUT_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!("{ms} ms is out of range; use 1 to {MAX_TIMEOUT_MS} milliseconds"))
    }
}

fn parse_scheme(value: &str) -> Result<SignatureScheme, String> {
    value.parse()
}

/// The other names of `--token` in `sign`, `register` and `doctor`: the
/// guide's `fcm_token`, the server's `push_token` and ZEGO's `PushID`.
const TOKEN_ALIASES: [&str; 3] = ["fcm-token", "push-token", "push-id"];

/// One registration's fields, as `register` and `doctor` take them.
#[derive(Debug, Clone, Args)]
pub struct RegistrationArgs {
    /// The ZEGO user id to bind the token to: 1 to 32 bytes of printable ASCII.
    #[arg(long)]
    pub user_id: String,

    /// The device's push token: an FCM registration token, or an APNs
    /// (VoIP) device token in hex.
    #[arg(long, visible_aliases = TOKEN_ALIASES)]
    pub token: String,

    /// The device's platform: android or ios.
    #[arg(long)]
    pub platform: String,

    /// The push service: fcm or apns [default: fcm for android, apns for ios].
    #[arg(long)]
    pub provider: Option<String>,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    #[command(flatten)]
    pub credentials: CredentialArgs,

    #[command(flatten)]
    pub protocol: ProtocolArgs,

    /// The UserId to sign.
    #[arg(long)]
    pub user_id: String,

    /// The PushID (device token) to sign.
    #[arg(long, visible_aliases = TOKEN_ALIASES)]
    pub token: String,

    /// The platform: android signs PushProvider 1 (FCM), ios 2 (APNs).
    #[arg(long, required_unless_present = "provider")]
    pub platform: Option<String>,

    /// The push service: fcm (PushProvider 1) or apns (2); wins over --platform.
    #[arg(long)]
    pub provider: Option<String>,

    /// The nonce to sign with [default: random, 8 hex digits for guide, 16 for v2].
    #[arg(long)]
    pub nonce: Option<String>,

    /// The timestamp to sign with, in Unix seconds [default: now].
    #[arg(long, allow_negative_numbers = true)]
    pub timestamp: Option<i64>,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    pub credentials: CredentialArgs,

    #[command(flatten)]
    pub protocol: ProtocolArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub registration: RegistrationArgs,

    /// Print the exact request (URL, headers with the signature, body)
    /// instead of sending it.
    #[arg(long)]
    pub dry_run: bool,
}

/// The APNs environment a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApnsEnvironment {
    /// The sandbox: builds run from Xcode.
    Development,
    /// TestFlight and App Store builds.
    Production,
}

impl ApnsEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            ApnsEnvironment::Development => "development",
            ApnsEnvironment::Production => "production",
        }
    }
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub credentials: CredentialArgs,

    #[command(flatten)]
    pub protocol: ProtocolArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// The user id of the test PushRegister [default: zego-push-doctor]. It
    /// requires --token, so that the placeholder token never replaces a real
    /// user's token.
    #[arg(long)]
    pub user_id: Option<String>,

    /// The token of the test PushRegister; use a test device's real token to
    /// check its binding. Needs --user-id, and --platform or --provider
    /// [default: a placeholder token].
    #[arg(long, visible_aliases = TOKEN_ALIASES)]
    pub token: Option<String>,

    /// The platform of the test PushRegister: android or ios [default:
    /// android without --token; with --token, from --provider].
    #[arg(long)]
    pub platform: Option<String>,

    /// The push service of the test PushRegister: fcm or apns [default: fcm
    /// for android, apns for ios].
    #[arg(long)]
    pub provider: Option<String>,

    /// Do not send the test PushRegister.
    #[arg(long)]
    pub skip_register: bool,

    /// An APNs certificate (.p12) to open and check: subject, topic,
    /// environment and days to expiry.
    #[arg(long, value_name = "FILE", visible_alias = "apns-certificate")]
    pub p12: Option<PathBuf>,

    /// The password of the .p12 file [default: empty].
    #[arg(long, env = env::P12_PASSWORD, hide_env_values = true)]
    pub p12_password: Option<String>,

    /// A file whose first line is the password of the .p12 file.
    #[arg(long, value_name = "PATH", conflicts_with = "p12_password")]
    pub p12_password_file: Option<PathBuf>,

    /// The APNs environment the certificate must support, as set in the
    /// ZEGO console.
    #[arg(long, value_enum)]
    pub apns_environment: Option<ApnsEnvironment>,

    /// A resourceID to check for well-formedness, as the caller's invitation
    /// sends it and the ZEGO console configures it.
    #[arg(long)]
    pub resource_id: Option<String>,
}

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub credentials: CredentialArgs,

    #[command(flatten)]
    pub protocol: ProtocolArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// The CSV or JSON Lines file to import.
    pub file: PathBuf,

    /// The file format [default: from the extension: .csv is CSV; .jsonl,
    /// .ndjson and .json are JSON Lines].
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,

    /// Rows sent to ZEGO at the same time; 1 to 256.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// Maximum requests started per second, spaced at least 1/N s apart;
    /// 0 means no limit.
    // NOTE: ZEGO publishes no rate limit for PushRegister; 50 per second is a
    // cautious default, not a measured limit. Code 7 means a limit was hit.
    #[arg(long, default_value_t = 50)]
    pub rate: u32,

    /// The state file that records each row's outcome [default: FILE.state.jsonl].
    #[arg(long, value_name = "PATH")]
    pub state: Option<PathBuf>,

    /// The CSV file that lists each row this run reached and did not
    /// register, with the reason. Rows not attempted, duplicates and rows
    /// already registered are left out [default: FILE.failed.csv].
    #[arg(long, value_name = "PATH")]
    pub failures: Option<PathBuf>,

    /// Send again the rows that ZEGO rejected in an earlier run.
    #[arg(long)]
    pub retry_failed: bool,

    /// Send again the rows that an earlier run was sending when it crashed.
    /// Each may then reach ZEGO a second time.
    #[arg(long)]
    pub resend_in_doubt: bool,

    /// Delete the state file and start over: every row is sent again.
    #[arg(long)]
    pub restart: bool,

    /// Stop the run after this many rows in a row found ZEGO unreachable or busy.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_unreachable: u32,
}

/// The encryption of a generated Token04.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenFormatArg {
    /// AES-256-GCM, the current format.
    Gcm,
    /// AES-256-CBC, the older format that ZEGO still accepts.
    Cbc,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub action: Option<TokenAction>,

    #[command(flatten)]
    pub generate: TokenGenerateArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Decode a Token04 with the ServerSecret and print its fields, times in
    /// local time, and whether it has expired.
    ///
    /// An expired token still exits with 0. A token that cannot be decoded,
    /// because it is malformed, changed or encrypted with another
    /// ServerSecret, exits with 2.
    #[command(after_help = exit_codes_help(TOKEN_EXIT_CODES))]
    Inspect(TokenInspectArgs),
}

/// The flags of `token` without a subcommand, which generates a token.
#[derive(Debug, Args)]
pub struct TokenGenerateArgs {
    #[command(flatten)]
    pub credentials: CredentialArgs,

    /// The user id the token logs in.
    #[arg(long, required = true)]
    pub user_id: Option<String>,

    /// How long the token is valid, in seconds from now: 1 to 31536000
    /// (365 days).
    #[arg(long, default_value_t = 3_600, allow_negative_numbers = true, value_name = "SECONDS")]
    pub effective_seconds: i64,

    /// The token's payload, such as a JSON text with room privileges; ZIM
    /// does not support a payload.
    #[arg(long, default_value = "")]
    pub payload: String,

    /// The encryption: gcm (AES-256-GCM, current) or cbc (AES-256-CBC, older).
    #[arg(long, value_enum, default_value = "gcm")]
    pub format: TokenFormatArg,
}

/// The ServerSecret flags alone, for commands that need no AppId.
// The field names are the flag names of `CredentialArgs`.
#[allow(clippy::struct_field_names)]
#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// The ServerSecret [env: ZEGO_SERVER_SECRET]. A value given as a flag
    /// is visible in shell history and to other users through `ps`; prefer
    /// ZEGO_SERVER_SECRET, --server-secret-file or --server-secret-stdin.
    #[arg(long)]
    pub server_secret: Option<String>,

    /// A file whose content is the ServerSecret; surrounding whitespace is
    /// ignored [env: ZEGO_SERVER_SECRET_FILE]. Wins over --server-secret.
    #[arg(long, value_name = "PATH")]
    pub server_secret_file: Option<PathBuf>,

    /// Read the ServerSecret from the first line of standard input. Wins
    /// over --server-secret-file and --server-secret.
    #[arg(long)]
    pub server_secret_stdin: bool,
}

impl SecretArgs {
    /// Returns these flags as credentials without an AppId, to read the
    /// secret with the same precedence as every other command.
    pub fn to_credentials(&self) -> CredentialArgs {
        CredentialArgs {
            app_id: None,
            server_secret: self.server_secret.clone(),
            server_secret_file: self.server_secret_file.clone(),
            server_secret_stdin: self.server_secret_stdin,
        }
    }
}

#[derive(Debug, Args)]
pub struct TokenInspectArgs {
    #[command(flatten)]
    pub secret: SecretArgs,

    /// The token to decode, starting with "04".
    pub token: String,
}

#[derive(Debug, Args)]
pub struct VerifyCallbackArgs {
    /// A file whose content is the CallbackSecret from the ZEGO console;
    /// surrounding whitespace is ignored [env: ZEGO_CALLBACK_SECRET_FILE, or
    /// ZEGO_CALLBACK_SECRET with the secret itself].
    #[arg(long, value_name = "PATH")]
    pub callback_secret_file: Option<PathBuf>,

    /// The callback's `timestamp` field, in Unix seconds.
    #[arg(long, allow_hyphen_values = true)]
    pub timestamp: String,

    /// The callback's `nonce` field.
    #[arg(long, allow_hyphen_values = true)]
    pub nonce: String,

    /// The callback's `signature` field: 40 hex digits.
    #[arg(long)]
    pub signature: String,

    /// The largest difference allowed between the timestamp and this
    /// machine's clock, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub window_secs: u64,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_definition_is_valid() {
        Cli::command().debug_assert();
    }

    /// Returns the `--token` value that `args` set, parsed as a command line.
    fn token_of(args: &[&str]) -> String {
        let cli = Cli::try_parse_from(args).unwrap_or_else(|error| panic!("{args:?}: {error}"));
        match cli.command {
            Command::Sign(sign) => sign.token,
            Command::Register(register) => register.registration.token,
            Command::Doctor(doctor) => doctor.token.expect("doctor got a token"),
            other => panic!("{args:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn token_aliases_match_across_subcommands() {
        for flag in ["--token", "--fcm-token", "--push-token", "--push-id"] {
            let sign = ["zego-push", "sign", "--user-id", "u", flag, "t1", "--platform", "android"];
            assert_eq!(token_of(&sign), "t1", "sign {flag}");
            let register = ["zego-push", "register", "--user-id", "u", flag, "t2", "--platform", "android"];
            assert_eq!(token_of(&register), "t2", "register {flag}");
            let doctor = ["zego-push", "doctor", "--user-id", "u", flag, "t3", "--platform", "android"];
            assert_eq!(token_of(&doctor), "t3", "doctor {flag}");
        }
    }
}
