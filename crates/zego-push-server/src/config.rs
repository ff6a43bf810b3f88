//! Configuration from flags, environment variables and an optional TOML
//! file, in that order of precedence, then built-in defaults.
//!
//! Every setting has a flag (`--zego-timeout-ms`), an environment variable
//! ([`env`]) and a TOML key: the flag's name with `_` for `-`
//! (`zego_timeout_ms = 5000`), except `--api-key`, whose key is the list
//! `api_keys`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use zego_core::{ClientConfig, Region, RetryPolicy, SignatureScheme};

use crate::auth::{ApiKeyEntry, AuthMode, AuthSettings, JwtAlgorithm, JwtSettings};
use crate::registrar::OutboxSettings;
use crate::{CallbackSecret, CallbackSettings, HttpSettings, TokenSettings};

/// Names of every environment variable the server reads.
pub mod env {
    pub use zego_core::env::{
        ACTION, APP_ID, BASE_URL, CALLBACK_SECRET, CALLBACK_SECRET_FILE, CONNECT_TIMEOUT_MS, MAX_ATTEMPTS,
        REGION, SERVER_SECRET, SERVER_SECRET_FILE, SIGNATURE_SCHEME, TIMEOUT_MS,
    };
    pub const CONFIG: &str = "ZEGO_PUSH_CONFIG";
    pub const LISTEN: &str = "ZEGO_PUSH_LISTEN";
    pub const DATABASE_URL: &str = "ZEGO_PUSH_DATABASE_URL";
    pub const LOG_FORMAT: &str = "ZEGO_PUSH_LOG_FORMAT";
    pub const MAX_CONCURRENT_REQUESTS: &str = "ZEGO_MAX_CONCURRENT_REQUESTS";
    pub const AUTH: &str = "ZEGO_PUSH_AUTH";
    pub const JWT_ALGORITHM: &str = "ZEGO_PUSH_JWT_ALGORITHM";
    pub const JWT_SECRET: &str = "ZEGO_PUSH_JWT_SECRET";
    pub const JWT_SECRET_FILE: &str = "ZEGO_PUSH_JWT_SECRET_FILE";
    pub const JWT_PUBLIC_KEY_FILE: &str = "ZEGO_PUSH_JWT_PUBLIC_KEY_FILE";
    pub const JWT_ISSUER: &str = "ZEGO_PUSH_JWT_ISSUER";
    pub const JWT_AUDIENCE: &str = "ZEGO_PUSH_JWT_AUDIENCE";
    pub const JWT_LEEWAY_SECONDS: &str = "ZEGO_PUSH_JWT_LEEWAY_SECONDS";
    pub const API_KEYS: &str = "ZEGO_PUSH_API_KEYS";
    pub const INSECURE_NO_AUTH: &str = "ZEGO_PUSH_INSECURE_ALLOW_UNAUTHENTICATED";
    pub const UNCHANGED_WINDOW_SECS: &str = "ZEGO_PUSH_UNCHANGED_WINDOW_SECS";
    pub const DEVICE_LIMIT: &str = "ZEGO_PUSH_DEVICE_LIMIT";
    pub const RATE_LIMIT_PER_ADDRESS: &str = "ZEGO_PUSH_RATE_LIMIT_PER_ADDRESS";
    pub const RATE_LIMIT_PER_USER: &str = "ZEGO_PUSH_RATE_LIMIT_PER_USER";
    pub const TRUST_FORWARDED_FOR: &str = "ZEGO_PUSH_TRUST_FORWARDED_FOR";
    pub const REQUEST_TIMEOUT_MS: &str = "ZEGO_PUSH_REQUEST_TIMEOUT_MS";
    pub const OUTBOX_POLL_MS: &str = "ZEGO_PUSH_OUTBOX_POLL_MS";
    pub const OUTBOX_CONCURRENCY: &str = "ZEGO_PUSH_OUTBOX_CONCURRENCY";
    pub const OUTBOX_BASE_DELAY_MS: &str = "ZEGO_PUSH_OUTBOX_BASE_DELAY_MS";
    pub const OUTBOX_MAX_DELAY_MS: &str = "ZEGO_PUSH_OUTBOX_MAX_DELAY_MS";
    pub const OUTBOX_MAX_AGE_HOURS: &str = "ZEGO_PUSH_OUTBOX_MAX_AGE_HOURS";
    pub const RESYNC_RATE: &str = "ZEGO_PUSH_RESYNC_RATE";
    pub const RESYNC_MIN_INTERVAL_SECS: &str = "ZEGO_PUSH_RESYNC_MIN_INTERVAL_SECS";
    pub const CALLBACK_WINDOW_SECS: &str = "ZEGO_PUSH_CALLBACK_WINDOW_SECS";
    pub const TOKEN_DEFAULT_SECS: &str = "ZEGO_PUSH_TOKEN_DEFAULT_SECS";
    pub const TOKEN_MAX_SECS: &str = "ZEGO_PUSH_TOKEN_MAX_SECS";
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Registers mobile push tokens (FCM, APNs) with ZEGO's offline push service.
///
/// Serves POST /api/register-push-token. Without ZEGO_APP_ID and
/// ZEGO_SERVER_SECRET it runs in sandbox mode: it listens on loopback only
/// and sends every call to an in-process fake ZEGO (zego-mock), so nothing
/// reaches ZEGO. Once listening it prints
/// "zego-push-server listening on http://ADDRESS" on standard output.
///
/// Settings come from flags, then environment variables, then the TOML file
/// given with --config (keys are the flag names with '_' for '-'), then defaults.
#[derive(Debug, Clone, Default, Parser, Deserialize)]
#[command(version)]
#[serde(deny_unknown_fields)]
pub struct Args {
    #[command(subcommand)]
    #[serde(skip)]
    pub command: Option<Command>,

    /// A TOML file with settings, below flags and environment variables in precedence.
    #[arg(long, env = env::CONFIG)]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Address to listen on, as IP:PORT; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, env = env::LISTEN, value_parser = parse_listen)]
    #[serde(default, deserialize_with = "deserialize_listen")]
    pub listen: Option<SocketAddr>,

    /// Registry database: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE
    /// [default: sqlite://zego-push.db, in sandbox mode sqlite://zego-push-sandbox.db].
    #[arg(long, env = env::DATABASE_URL)]
    pub database_url: Option<String>,

    /// Log line format [default: text].
    #[arg(long, env = env::LOG_FORMAT, value_enum)]
    pub log_format: Option<LogFormat>,

    /// The ZEGO project's AppId.
    #[arg(long, env = env::APP_ID)]
    #[serde(default, deserialize_with = "deserialize_app_id")]
    pub app_id: Option<String>,

    /// The ZEGO project's ServerSecret. Prefer --server-secret-file or the
    /// environment variable, which stay out of shell history and `ps`.
    #[arg(long, env = env::SERVER_SECRET, hide_env_values = true)]
    pub server_secret: Option<String>,

    /// A file whose content is the ServerSecret.
    #[arg(long, env = env::SERVER_SECRET_FILE)]
    pub server_secret_file: Option<PathBuf>,

    /// ZEGO API base URL; overrides --zego-region. Requests use the proxy in
    /// HTTPS_PROXY, HTTP_PROXY or ALL_PROXY unless NO_PROXY lists the host or
    /// the URL is on loopback.
    #[arg(long, env = env::BASE_URL)]
    pub zego_base_url: Option<String>,

    /// ZEGO region whose API host to use: unified, sha, hkg, fra, lax, bom or sgp [default: unified].
    #[arg(long, env = env::REGION)]
    pub zego_region: Option<String>,

    /// The ZEGO action that binds a push token to a user [default: PushRegister].
    #[arg(long, env = env::ACTION)]
    pub zego_action: Option<String>,

    /// Request signing scheme: guide (sorted-parameter HMAC-SHA256) or v2
    /// (ZEGO Signature 2.0, MD5) [default: guide].
    #[arg(long, env = env::SIGNATURE_SCHEME)]
    pub zego_scheme: Option<String>,

    /// Time allowed for one ZEGO request, in milliseconds [default: 5000].
    #[arg(long, env = env::TIMEOUT_MS)]
    pub zego_timeout_ms: Option<u64>,

    /// Time allowed to connect to ZEGO (through a proxy: to the proxy, and to
    /// open the tunnel), in milliseconds [default: 2000].
    #[arg(long, env = env::CONNECT_TIMEOUT_MS)]
    pub zego_connect_timeout_ms: Option<u64>,

    /// ZEGO requests sent at most within one registration request, 1 to 10 [default: 3].
    #[arg(long, env = env::MAX_ATTEMPTS)]
    pub zego_max_attempts: Option<u32>,

    /// ZEGO requests in flight at most; more wait for a free slot [default: 128].
    #[arg(long, env = env::MAX_CONCURRENT_REQUESTS)]
    pub zego_max_concurrent_requests: Option<usize>,

    /// Authentication: none, jwt, api-key, or a comma list such as jwt,api-key [default: none].
    /// "none" is allowed only on a loopback address unless --insecure-allow-unauthenticated.
    #[arg(long, env = env::AUTH)]
    pub auth: Option<String>,

    /// JWT signature algorithm: HS256, RS256 or ES256 [default: HS256].
    #[arg(long, env = env::JWT_ALGORITHM)]
    pub jwt_algorithm: Option<String>,

    /// The HS256 secret, at least 32 bytes.
    #[arg(long, env = env::JWT_SECRET, hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// A file whose content is the HS256 secret.
    #[arg(long, env = env::JWT_SECRET_FILE)]
    pub jwt_secret_file: Option<PathBuf>,

    /// A PEM file with the RS256 or ES256 public key.
    #[arg(long, env = env::JWT_PUBLIC_KEY_FILE)]
    pub jwt_public_key_file: Option<PathBuf>,

    /// The required `iss` claim of JWTs.
    #[arg(long, env = env::JWT_ISSUER)]
    pub jwt_issuer: Option<String>,

    /// The required `aud` claim of JWTs.
    #[arg(long, env = env::JWT_AUDIENCE)]
    pub jwt_audience: Option<String>,

    /// Allowed clock skew for `exp` and `nbf`, in seconds [default: 30].
    #[arg(long, env = env::JWT_LEEWAY_SECONDS)]
    pub jwt_leeway_seconds: Option<u64>,

    /// An accepted API key as NAME=sha256:HEX (from `zego-push-server hash-api-key`);
    /// repeat the flag, or separate entries with commas in the environment variable.
    #[arg(long = "api-key", env = env::API_KEYS, value_delimiter = ',', hide_env_values = true)]
    #[serde(default)]
    pub api_keys: Vec<String>,

    /// Serve without authentication on a non-loopback address. Anyone who
    /// reaches the port can then bind their phone to any user's calls.
    #[arg(long, env = env::INSECURE_NO_AUTH, num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub insecure_allow_unauthenticated: Option<bool>,

    /// Reply from the store to an identical registration that succeeded less than this many
    /// seconds ago from the store, without calling ZEGO; 0 turns it off [default: 3600].
    #[arg(long, env = env::UNCHANGED_WINDOW_SECS)]
    pub unchanged_window_secs: Option<u64>,

    /// The maximum number of active devices per user; registering one more removes the
    /// least recently registered; 0 means no limit [default: 10].
    #[arg(long, env = env::DEVICE_LIMIT)]
    pub device_limit: Option<usize>,

    /// API requests per minute per client address; 0 turns it off [default: 600].
    #[arg(long, env = env::RATE_LIMIT_PER_ADDRESS)]
    pub rate_limit_per_address: Option<u32>,

    /// Requests per minute per user id that change registrations or issue
    /// tokens (register, unregister, delete a user's tokens, zego-token); 0
    /// turns it off [default: 30].
    #[arg(long, env = env::RATE_LIMIT_PER_USER)]
    pub rate_limit_per_user: Option<u32>,

    /// Take the client address from X-Forwarded-For (its last entry), for a
    /// server behind a reverse proxy that sets it.
    #[arg(long, env = env::TRUST_FORWARDED_FOR, num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub trust_forwarded_for: Option<bool>,

    /// Time allowed for one HTTP request, in milliseconds [default: 30000].
    #[arg(long, env = env::REQUEST_TIMEOUT_MS)]
    pub request_timeout_ms: Option<u64>,

    /// How often the outbox looks for due rows when idle, in milliseconds [default: 1000].
    #[arg(long, env = env::OUTBOX_POLL_MS)]
    pub outbox_poll_ms: Option<u64>,

    /// Outbox rows worked at once [default: 16].
    #[arg(long, env = env::OUTBOX_CONCURRENCY)]
    pub outbox_concurrency: Option<usize>,

    /// Outbox backoff before the first retry, in milliseconds; it doubles per attempt [default: 2000].
    #[arg(long, env = env::OUTBOX_BASE_DELAY_MS)]
    pub outbox_base_delay_ms: Option<u64>,

    /// Largest outbox backoff, in milliseconds [default: 300000].
    #[arg(long, env = env::OUTBOX_MAX_DELAY_MS)]
    pub outbox_max_delay_ms: Option<u64>,

    /// Hours after which a row still pending is marked failed [default: 72].
    #[arg(long, env = env::OUTBOX_MAX_AGE_HOURS)]
    pub outbox_max_age_hours: Option<u64>,

    /// Registrations per second the outbox sends during a resync [default: 20].
    #[arg(long, env = env::RESYNC_RATE)]
    pub resync_rate: Option<u32>,

    /// Shortest time between two resyncs through any instance on the same
    /// database, in seconds [default: 600].
    #[arg(long, env = env::RESYNC_MIN_INTERVAL_SECS)]
    pub resync_min_interval_secs: Option<u64>,

    /// The CallbackSecret from the ZEGO console. Without it (or
    /// --callback-secret-file), POST /api/zego/callback returns HTTP 404.
    #[arg(long, env = env::CALLBACK_SECRET, hide_env_values = true)]
    pub callback_secret: Option<String>,

    /// A file whose content is the CallbackSecret.
    #[arg(long, env = env::CALLBACK_SECRET_FILE)]
    pub callback_secret_file: Option<PathBuf>,

    /// How far a callback's timestamp may be from this server's clock, in seconds [default: 300].
    #[arg(long, env = env::CALLBACK_WINDOW_SECS)]
    pub callback_window_secs: Option<u64>,

    /// The validity of a Token04 from POST /api/zego-token when the request names none,
    /// in seconds [default: 3600].
    #[arg(long, env = env::TOKEN_DEFAULT_SECS)]
    pub token_default_secs: Option<u64>,

    /// The maximum validity a request to POST /api/zego-token may ask for, in seconds [default: 86400].
    #[arg(long, env = env::TOKEN_MAX_SECS)]
    pub token_max_secs: Option<u64>,
}

/// Subcommands besides serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Read an API key from standard input and print the NAME=sha256:HEX entry
    /// that --api-key expects, so that only the hash is stored in configuration.
    HashApiKey {
        /// The name the key appears under in logs.
        #[arg(long, default_value = "backend")]
        name: String,
    },
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn config_error(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// Fills every setting left unset in `self` from `file`.
macro_rules! merge_fields {
    ($target:expr, $file:expr, [$($field:ident),* $(,)?]) => {
        $( if $target.$field.is_none() { $target.$field = $file.$field.take(); } )*
    };
}

/// Clears the form of a secret (its value or its file) that came from the
/// environment when the other form came from a flag.
fn keep_flag_form<A, B>(
    value: &mut Option<A>,
    value_source: Option<ValueSource>,
    file: &mut Option<B>,
    file_source: Option<ValueSource>,
) {
    match (value_source, file_source) {
        (Some(ValueSource::CommandLine), Some(ValueSource::EnvVariable)) => *file = None,
        (Some(ValueSource::EnvVariable), Some(ValueSource::CommandLine)) => *value = None,
        _ => {}
    }
}

impl Args {
    /// Parses the command line and the environment. When one form of a
    /// secret comes from a flag and the other from the environment, the flag
    /// wins, as for every other setting. clap alone would keep both.
    pub fn parse_with_precedence() -> Self {
        let matches = Self::command().get_matches();
        let mut args = Self::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
        args.drop_secrets_below_flags(&matches);
        args
    }

    fn drop_secrets_below_flags(&mut self, matches: &clap::ArgMatches) {
        let source = |id: &str| matches.value_source(id);
        keep_flag_form(
            &mut self.server_secret,
            source("server_secret"),
            &mut self.server_secret_file,
            source("server_secret_file"),
        );
        keep_flag_form(
            &mut self.jwt_secret,
            source("jwt_secret"),
            &mut self.jwt_secret_file,
            source("jwt_secret_file"),
        );
        keep_flag_form(
            &mut self.callback_secret,
            source("callback_secret"),
            &mut self.callback_secret_file,
            source("callback_secret_file"),
        );
    }

    /// Adds the settings of the TOML file named by `--config` below flags and environment.
    pub fn merge_config_file(mut self) -> Result<Self, ConfigError> {
        let Some(path) = self.config.clone() else { return Ok(self) };
        let mut file = read_config_file(&path)?;
        // A secret and its file are one setting: either form given by a flag
        // or the environment hides both forms in the file.
        if self.server_secret.is_some() || self.server_secret_file.is_some() {
            file.server_secret = None;
            file.server_secret_file = None;
        }
        if self.jwt_secret.is_some() || self.jwt_secret_file.is_some() {
            file.jwt_secret = None;
            file.jwt_secret_file = None;
        }
        if self.callback_secret.is_some() || self.callback_secret_file.is_some() {
            file.callback_secret = None;
            file.callback_secret_file = None;
        }
        merge_fields!(
            self,
            file,
            [
                listen,
                database_url,
                log_format,
                app_id,
                server_secret,
                server_secret_file,
                zego_base_url,
                zego_region,
                zego_action,
                zego_scheme,
                zego_timeout_ms,
                zego_connect_timeout_ms,
                zego_max_attempts,
                zego_max_concurrent_requests,
                auth,
                jwt_algorithm,
                jwt_secret,
                jwt_secret_file,
                jwt_public_key_file,
                jwt_issuer,
                jwt_audience,
                jwt_leeway_seconds,
                insecure_allow_unauthenticated,
                unchanged_window_secs,
                device_limit,
                rate_limit_per_address,
                rate_limit_per_user,
                trust_forwarded_for,
                request_timeout_ms,
                outbox_poll_ms,
                outbox_concurrency,
                outbox_base_delay_ms,
                outbox_max_delay_ms,
                outbox_max_age_hours,
                resync_rate,
                resync_min_interval_secs,
                callback_secret,
                callback_secret_file,
                callback_window_secs,
                token_default_secs,
                token_max_secs,
            ]
        );
        if self.api_keys.is_empty() {
            self.api_keys = file.api_keys;
        }
        Ok(self)
    }

    pub fn listen(&self) -> SocketAddr {
        self.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    pub fn log_format(&self) -> LogFormat {
        self.log_format.unwrap_or(LogFormat::Text)
    }

    pub fn insecure_allow_unauthenticated(&self) -> bool {
        self.insecure_allow_unauthenticated.unwrap_or(false)
    }

    pub fn zego_action(&self) -> String {
        self.zego_action.clone().unwrap_or_else(|| zego_core::client::DEFAULT_ACTION.to_owned())
    }

    pub fn zego_scheme(&self) -> Result<SignatureScheme, ConfigError> {
        self.zego_scheme
            .as_deref()
            .map_or(Ok(SignatureScheme::Guide), |text| text.parse().map_err(config_error))
    }

    /// Returns the ZEGO client settings, pointed at `base_url`.
    pub fn client_config(&self, base_url: String) -> Result<ClientConfig, ConfigError> {
        let max_attempts = self.zego_max_attempts.unwrap_or(3);
        if !(1..=10).contains(&max_attempts) {
            return Err(config_error(format!("--zego-max-attempts is {max_attempts}; use 1 to 10")));
        }
        Ok(ClientConfig {
            base_url,
            action: self.zego_action(),
            scheme: self.zego_scheme()?,
            connect_timeout: Duration::from_millis(self.zego_connect_timeout_ms.unwrap_or(2_000)),
            timeout: Duration::from_millis(self.zego_timeout_ms.unwrap_or(5_000)),
            retry: RetryPolicy { max_attempts, ..RetryPolicy::default() },
            max_concurrent_requests: self.zego_max_concurrent_requests.unwrap_or(128).max(1),
            ..ClientConfig::default()
        })
    }

    /// Returns the ZEGO base URL to use with real credentials.
    pub fn live_base_url(&self) -> Result<String, ConfigError> {
        let region: Region =
            self.zego_region.as_deref().map_or(Ok(Region::Unified), str::parse).map_err(config_error)?;
        if let Some(url) = &self.zego_base_url {
            return Ok(url.clone());
        }
        Ok(region.base_url("rtc"))
    }

    /// Returns the authentication settings, reading key files.
    pub fn auth_settings(&self) -> Result<AuthSettings, ConfigError> {
        let modes = AuthMode::parse_list(self.auth.as_deref().unwrap_or("none"))
            .map_err(|error| config_error(error.to_string()))?;
        let mut settings = AuthSettings { modes, ..AuthSettings::default() };

        if settings.modes.contains(&AuthMode::Jwt) {
            let algorithm: JwtAlgorithm = self
                .jwt_algorithm
                .as_deref()
                .unwrap_or("HS256")
                .parse()
                .map_err(|error: crate::auth::AuthConfigError| config_error(error.to_string()))?;
            let mut jwt = JwtSettings::new(algorithm);
            jwt.hs256_secret =
                match (&self.jwt_secret, &self.jwt_secret_file) {
                    (Some(_), Some(_)) => return Err(config_error(
                        "the JWT secret and a JWT secret file are both given as flags (--jwt-secret, --jwt-secret-file), both in the environment (ZEGO_PUSH_JWT_SECRET, ZEGO_PUSH_JWT_SECRET_FILE) or both in the config file (jwt_secret, jwt_secret_file); give one of them",
                    )),
                    (Some(secret), None) => Some(secret.clone()),
                    (None, Some(path)) => {
                        Some(read_file(path, "--jwt-secret-file")?.trim_end_matches(['\n', '\r']).to_owned())
                    }
                    (None, None) => None,
                };
            jwt.public_key_pem = self
                .jwt_public_key_file
                .as_deref()
                .map(|path| read_file(path, "--jwt-public-key-file"))
                .transpose()?;
            jwt.issuer.clone_from(&self.jwt_issuer);
            jwt.audience.clone_from(&self.jwt_audience);
            if let Some(leeway) = self.jwt_leeway_seconds {
                jwt.leeway_seconds = leeway;
            }
            settings.jwt = Some(jwt);
        }
        for entry in &self.api_keys {
            settings
                .api_keys
                .extend(ApiKeyEntry::parse_list(entry).map_err(|error| config_error(error.to_string()))?);
        }
        Ok(settings)
    }

    /// Builds the authenticator, naming flags rather than internal setting paths in errors.
    pub fn authenticator(&self) -> Result<crate::auth::Authenticator, ConfigError> {
        crate::auth::Authenticator::new(self.auth_settings()?)
            .map_err(|error| config_error(flag_names(&error.to_string())))
    }

    pub fn http_settings(&self) -> Result<HttpSettings, ConfigError> {
        let defaults = HttpSettings::default();
        Ok(HttpSettings {
            trust_forwarded_for: self.trust_forwarded_for.unwrap_or(false),
            request_timeout: self.request_timeout_ms.map_or(defaults.request_timeout, Duration::from_millis),
            resync_rate_per_second: self.resync_rate.unwrap_or(defaults.resync_rate_per_second),
            resync_min_interval: self
                .resync_min_interval_secs
                .map_or(defaults.resync_min_interval, Duration::from_secs),
            tokens: self.token_settings()?,
            callbacks: self.callback_settings()?,
        })
    }

    /// Returns the validity limits of `POST /api/zego-token`.
    pub fn token_settings(&self) -> Result<TokenSettings, ConfigError> {
        let defaults = TokenSettings::default();
        let max = self.token_max_secs.unwrap_or(defaults.max_seconds);
        let default = self.token_default_secs.unwrap_or(defaults.default_seconds.min(max));
        if max == 0 || default == 0 {
            return Err(config_error("--token-default-secs and --token-max-secs must be at least 1"));
        }
        if default > max {
            return Err(config_error(format!(
                "--token-default-secs ({default}) is longer than --token-max-secs ({max})"
            )));
        }
        Ok(TokenSettings { default_seconds: default, max_seconds: max })
    }

    /// Returns the CallbackSecret and freshness window, or `None` when no secret is set.
    pub fn callback_settings(&self) -> Result<Option<CallbackSettings>, ConfigError> {
        let secret = match (&self.callback_secret, &self.callback_secret_file) {
            (Some(_), Some(_)) => {
                return Err(config_error(
                    "the CallbackSecret and a CallbackSecret file are both given as flags (--callback-secret, --callback-secret-file), both in the environment (ZEGO_CALLBACK_SECRET, ZEGO_CALLBACK_SECRET_FILE) or both in the config file (callback_secret, callback_secret_file); give one of them",
                ))
            }
            (Some(secret), None) => secret.trim().to_owned(),
            (None, Some(path)) => read_file(path, "--callback-secret-file")?.trim().to_owned(),
            (None, None) => return Ok(None),
        };
        if secret.is_empty() {
            return Err(config_error("the CallbackSecret is empty; copy it from the ZEGO console"));
        }
        let window = self.callback_window_secs.unwrap_or(300);
        if window == 0 {
            return Err(config_error("--callback-window-secs must be at least 1"));
        }
        Ok(Some(CallbackSettings { secret: CallbackSecret(secret), window_seconds: window }))
    }

    pub fn outbox_settings(&self) -> OutboxSettings {
        let defaults = OutboxSettings::default();
        OutboxSettings {
            poll_interval: self.outbox_poll_ms.map_or(defaults.poll_interval, Duration::from_millis),
            concurrency: self.outbox_concurrency.unwrap_or(defaults.concurrency).max(1),
            base_delay: self.outbox_base_delay_ms.map_or(defaults.base_delay, Duration::from_millis),
            max_delay: self.outbox_max_delay_ms.map_or(defaults.max_delay, Duration::from_millis),
            max_age: self
                .outbox_max_age_hours
                .map_or(defaults.max_age, |hours| Duration::from_secs(hours * 3600)),
            ..defaults
        }
    }

    pub fn unchanged_window(&self) -> Duration {
        Duration::from_secs(self.unchanged_window_secs.unwrap_or(3600))
    }

    pub fn device_limit(&self) -> usize {
        self.device_limit.unwrap_or(10)
    }

    /// Returns the per-address and per-user limits, in requests per minute.
    pub fn rate_limits(&self) -> (u32, u32) {
        (self.rate_limit_per_address.unwrap_or(600), self.rate_limit_per_user.unwrap_or(30))
    }
}

/// Replaces the authenticator's setting paths with the flags and variables that set them.
fn flag_names(message: &str) -> String {
    const NAMES: [(&str, &str); 7] = [
        ("the setting jwt.hs256_secret", "--jwt-secret (ZEGO_PUSH_JWT_SECRET) or --jwt-secret-file"),
        ("the setting jwt.public_key_pem", "--jwt-public-key-file (ZEGO_PUSH_JWT_PUBLIC_KEY_FILE)"),
        ("the setting jwt.leeway_seconds", "--jwt-leeway-seconds"),
        ("the setting jwt.issuer", "--jwt-issuer"),
        ("the setting jwt.audience", "--jwt-audience"),
        ("the setting api_keys", "--api-key (ZEGO_PUSH_API_KEYS)"),
        ("the setting jwt is missing", "--jwt-secret or --jwt-public-key-file is missing"),
    ];
    let mut text = message.to_owned();
    for (path, flag) in NAMES {
        text = text.replace(path, flag);
    }
    text.replace("in jwt.public_key_pem", "in --jwt-public-key-file")
}

fn read_file(path: &Path, flag: &str) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|error| config_error(format!("cannot read {flag} {}: {error}", path.display())))
}

/// Parses a listen address. Host names are rejected because the server binds
/// one address, and a name may resolve to several or to a public one.
fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    value.parse().map_err(|_| {
        format!("{value:?} is not an IP:PORT address; use, for example, 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080")
    })
}

fn deserialize_listen<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    let value = String::deserialize(deserializer)?;
    parse_listen(&value).map(Some).map_err(serde::de::Error::custom)
}

/// Accepts the AppId as a TOML string or integer, since it is a number in
/// the ZEGO console. The range is checked with the other credentials.
fn deserialize_app_id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct AppIdVisitor;

    impl serde::de::Visitor<'_> for AppIdVisitor {
        type Value = Option<String>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("the AppId as a string or an integer from 1 to 4294967295")
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(Some(value.to_owned()))
        }

        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Ok(Some(value.to_string()))
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Ok(Some(value.to_string()))
        }
    }

    deserializer.deserialize_any(AppIdVisitor)
}

fn read_config_file(path: &Path) -> Result<Args, ConfigError> {
    let text = read_file(path, "--config")?;
    toml::from_str(&text)
        .map_err(|error| config_error(format!("invalid configuration file {}: {error}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        let mut all = vec!["zego-push-server"];
        all.extend_from_slice(args);
        Args::try_parse_from(all).unwrap()
    }

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn listen_without_ip_is_explained() {
        let error =
            Args::try_parse_from(["zego-push-server", "--listen", "localhost:8080"]).unwrap_err().to_string();
        assert!(error.contains("is not an IP:PORT address"), "{error}");

        let file = config_file("listen = \"8080\"\n");
        let error = parse(&["--config", file.path().to_str().unwrap()]).merge_config_file().unwrap_err();
        assert!(error.0.contains("is not an IP:PORT address"), "{error}");
    }

    #[test]
    fn app_id_of_wrong_type_names_the_rule() {
        let file = config_file("app_id = 1.5\n");
        let error = parse(&["--config", file.path().to_str().unwrap()]).merge_config_file().unwrap_err();
        assert!(error.0.contains("an integer from 1 to 4294967295"), "{error}");
        assert!(!error.0.contains("AppIdValue"), "{error}");
    }

    #[test]
    fn app_id_may_be_toml_integer() {
        let file = config_file("app_id = 1234567890\nlisten = \"127.0.0.1:9000\"\n");
        let args = parse(&["--config", file.path().to_str().unwrap()]).merge_config_file().unwrap();
        assert_eq!(args.app_id.as_deref(), Some("1234567890"));
        assert_eq!(args.listen().port(), 9000);
    }

    #[test]
    fn boolean_flags_accept_one_and_zero() {
        assert_eq!(parse(&["--trust-forwarded-for", "1"]).trust_forwarded_for, Some(true));
        assert_eq!(parse(&["--trust-forwarded-for", "0"]).trust_forwarded_for, Some(false));
        assert_eq!(
            parse(&["--insecure-allow-unauthenticated", "yes"]).insecure_allow_unauthenticated,
            Some(true)
        );
    }

    #[test]
    fn flag_wins_over_file() {
        let file = config_file("listen = \"127.0.0.1:9000\"\ndevice_limit = 4\nauth = \"api-key\"\n");
        let args = parse(&["--config", file.path().to_str().unwrap(), "--listen", "127.0.0.1:7000"])
            .merge_config_file()
            .unwrap();
        assert_eq!(args.listen().port(), 7000);
        assert_eq!(args.device_limit(), 4);
        assert_eq!(args.auth.as_deref(), Some("api-key"));
    }

    #[test]
    fn defaults_apply_without_file() {
        let args = parse(&[]).merge_config_file().unwrap();
        assert_eq!(args.listen().to_string(), "127.0.0.1:8080");
        assert_eq!(args.device_limit(), 10);
        assert_eq!(args.rate_limits(), (600, 30));
        assert!(!args.insecure_allow_unauthenticated());
        assert_eq!(args.zego_scheme().unwrap(), SignatureScheme::Guide);
    }

    #[test]
    fn file_rejects_unknown_keys() {
        let file = config_file("listn = \"127.0.0.1:9000\"\n");
        let error = parse(&["--config", file.path().to_str().unwrap()]).merge_config_file().unwrap_err();
        assert!(error.to_string().contains("listn"), "{error}");
    }

    #[test]
    fn bool_flag_without_value_is_true() {
        assert_eq!(parse(&["--insecure-allow-unauthenticated"]).insecure_allow_unauthenticated, Some(true));
        assert_eq!(parse(&["--trust-forwarded-for", "false"]).trust_forwarded_for, Some(false));
    }

    #[test]
    fn api_keys_from_file_and_flags() {
        let hash = crate::auth::hash_api_key("key-one-for-tests");
        let file = config_file(&format!("api_keys = [\"one={hash}\"]\nauth = \"api-key\"\n"));
        let args = parse(&["--config", file.path().to_str().unwrap()]).merge_config_file().unwrap();
        let settings = args.auth_settings().unwrap();
        assert_eq!(settings.api_keys.len(), 1);
        assert_eq!(settings.api_keys[0].name, "one");
    }

    #[test]
    fn rejects_out_of_range_attempts() {
        let error =
            parse(&["--zego-max-attempts", "0"]).client_config("http://127.0.0.1:1".into()).unwrap_err();
        assert!(error.to_string().contains("1 to 10"), "{error}");
    }

    #[test]
    fn flag_secret_hides_both_secret_forms_in_file() {
        let file =
            config_file("server_secret_file = \"/nonexistent/secret\"\njwt_secret = \"file-secret\"\n");
        let args = parse(&[
            "--config",
            file.path().to_str().unwrap(),
            "--server-secret",
            "flag-secret",
            "--jwt-secret-file",
            "/run/jwt",
        ])
        .merge_config_file()
        .unwrap();
        assert_eq!(args.server_secret.as_deref(), Some("flag-secret"));
        assert_eq!(args.server_secret_file, None);
        assert_eq!(args.jwt_secret, None);
        assert_eq!(args.jwt_secret_file.as_deref(), Some(Path::new("/run/jwt")));
    }

    #[test]
    fn auth_errors_name_flags() {
        let error = parse(&["--auth", "jwt"]).authenticator().unwrap_err().to_string();
        assert!(error.contains("--jwt-secret"), "{error}");
        assert!(!error.contains("hs256_secret"), "{error}");
        let error = parse(&["--auth", "api-key"]).authenticator().unwrap_err().to_string();
        assert!(error.contains("--api-key"), "{error}");
    }

    #[test]
    fn rejects_unknown_region_even_with_base_url() {
        let args = parse(&["--zego-region", "mars", "--zego-base-url", "http://127.0.0.1:9"]);
        assert!(args.live_base_url().is_err());
    }

    #[test]
    fn rejects_unknown_region() {
        let error = parse(&["--zego-region", "mars"]).live_base_url().unwrap_err();
        assert!(error.to_string().contains("unknown ZEGO region"), "{error}");
    }
}
