//! Credentials and ZEGO client settings, resolved from the parsed flags.

use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use zego_core::{
    AppId, ClientConfig, Region, Registered, Registration, RetryPolicy, ServerSecret, ZegoClient,
};
use zeroize::Zeroizing;

use crate::cli::{ConnectionArgs, CredentialArgs, ProtocolArgs};
use crate::env;
use crate::exit::{CliError, ExitCode, ResultExt};

/// The source the ServerSecret was read from, for messages. It never contains the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    Stdin,
    FileFlag,
    Flag,
    FileEnvironment,
    Environment,
}

impl SecretSource {
    pub fn describe(self) -> &'static str {
        match self {
            SecretSource::Stdin => "standard input",
            SecretSource::FileFlag => "--server-secret-file",
            SecretSource::Flag => "--server-secret",
            SecretSource::FileEnvironment => env::SERVER_SECRET_FILE,
            SecretSource::Environment => env::SERVER_SECRET,
        }
    }
}

impl CredentialArgs {
    /// Reads the raw ServerSecret text from, in order of precedence:
    /// standard input, --server-secret-file, --server-secret,
    /// ZEGO_SERVER_SECRET_FILE and ZEGO_SERVER_SECRET. Flags win over the
    /// environment, as for every other setting.
    pub fn read_secret_text(&self) -> anyhow::Result<Option<(Zeroizing<String>, SecretSource)>> {
        if self.server_secret_stdin {
            let mut line = Zeroizing::new(String::new());
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the ServerSecret from standard input")?;
            return Ok(Some((line, SecretSource::Stdin)));
        }
        if let Some(path) = &self.server_secret_file {
            let text = read_secret_file(path)?;
            return Ok(Some((text, SecretSource::FileFlag)));
        }
        if let Some(text) = &self.server_secret {
            return Ok(Some((Zeroizing::new(text.clone()), SecretSource::Flag)));
        }
        if let Some(path) = std::env::var_os(env::SERVER_SECRET_FILE).filter(|path| !path.is_empty()) {
            let text = read_secret_file(Path::new(&path))?;
            return Ok(Some((text, SecretSource::FileEnvironment)));
        }
        match std::env::var(env::SERVER_SECRET) {
            Ok(text) if !text.is_empty() => Ok(Some((Zeroizing::new(text), SecretSource::Environment))),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                anyhow::bail!("{} is not valid UTF-8", env::SERVER_SECRET)
            }
        }
    }

    /// Returns the AppId and ServerSecret, both required.
    pub fn require(&self) -> Result<(AppId, ServerSecret), CliError> {
        let Some(raw_app_id) = &self.app_id else {
            return Err(CliError::input(format!(
                "no AppId: give --app-id or set {}, with the AppId from the ZEGO console",
                env::APP_ID
            )));
        };
        let app_id: AppId = raw_app_id.parse().or_exit(ExitCode::Input)?;
        let Some((text, _)) = self.read_secret_text().or_exit(ExitCode::Input)? else {
            return Err(CliError::input(format!(
                "no ServerSecret: set {} or {}, or give --server-secret-file PATH or --server-secret-stdin, which keep it out of shell history",
                env::SERVER_SECRET,
                env::SERVER_SECRET_FILE
            )));
        };
        let secret = ServerSecret::new(text.as_str()).or_exit(ExitCode::Input)?;
        Ok((app_id, secret))
    }
}

fn read_secret_file(path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the ServerSecret file {}", path.display()))?;
    Ok(Zeroizing::new(text))
}

impl ConnectionArgs {
    /// Returns the base URL: --base-url when given, else the region's host.
    /// An unknown --region is rejected either way, so a typo is never hidden.
    pub fn base_url(&self) -> Result<String, CliError> {
        let region: Region = self.region.parse().map_err(CliError::input)?;
        if let Some(url) = &self.base_url {
            return Ok(url.clone());
        }
        Ok(region.base_url("rtc"))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// Returns the ZEGO client settings.
    pub fn client_config(&self, protocol: &ProtocolArgs) -> Result<ClientConfig, CliError> {
        Ok(ClientConfig {
            base_url: self.base_url()?,
            action: protocol.action.clone(),
            scheme: protocol.scheme,
            connect_timeout: self.connect_timeout(),
            timeout: self.timeout(),
            retry: RetryPolicy { max_attempts: self.max_attempts, ..RetryPolicy::default() },
            ..ClientConfig::default()
        })
    }
}

/// Sends one PushRegister and logs the request and its outcome at debug
/// level (-vv). The URL is logged without its query, which carries the V2
/// signature; zego-core logs each retry with its attempt number.
pub async fn register_logged(
    client: &ZegoClient,
    registration: &Registration,
) -> Result<Registered, zego_core::Error> {
    tracing::debug!(
        url = client.endpoint(),
        scheme = client.signer().scheme().as_str(),
        user_id = registration.user_id.as_str(),
        token = %registration.token.short_hash(),
        provider = registration.provider().as_str(),
        "sending a ZEGO request"
    );
    let result = client.register(registration).await;
    match &result {
        Ok(registered) => tracing::debug!(
            url = client.endpoint(),
            code = 0,
            attempts = registered.attempts,
            request_id = registered.request_id.as_deref().unwrap_or_default(),
            "ZEGO request succeeded"
        ),
        Err(error) => tracing::debug!(
            url = client.endpoint(),
            code = error.zego_code(),
            attempts = error.attempts(),
            error = %error,
            "ZEGO request failed"
        ),
    }
    result
}

/// Builds a ZEGO client from the credentials and settings.
pub fn client(
    app_id: AppId,
    secret: ServerSecret,
    protocol: &ProtocolArgs,
    connection: &ConnectionArgs,
) -> Result<ZegoClient, CliError> {
    let config = connection.client_config(protocol)?;
    Ok(ZegoClient::new(app_id, secret, config)?)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::{Cli, Command, RegisterArgs};

    /// Parses a `register` command line; nothing is sent.
    fn register_args(extra: &[&str]) -> RegisterArgs {
        let mut argv =
            vec!["zego-push", "register", "--user-id", "u", "--token", "t", "--platform", "android"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Register(args) => args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn base_url_defaults_to_zego_host() {
        let mut args = register_args(&[]);
        // ZEGO_BASE_URL may be set where the tests run.
        args.connection.base_url = None;
        args.connection.region = "unified".into();
        assert_eq!(args.connection.base_url().unwrap(), zego_core::DEFAULT_BASE_URL);
    }

    #[test]
    fn region_selects_regional_host() {
        let mut args = register_args(&["--region", "fra"]);
        args.connection.base_url = None;
        assert_eq!(args.connection.base_url().unwrap(), "https://rtc-api-fra.zego.im");
    }

    #[test]
    fn base_url_flag_wins_over_region() {
        let args = register_args(&["--region", "fra", "--base-url", "http://127.0.0.1:9"]);
        assert_eq!(args.connection.base_url().unwrap(), "http://127.0.0.1:9");
    }

    #[test]
    fn rejects_unknown_region() {
        let mut args = register_args(&["--region", "mars"]);
        args.connection.base_url = None;
        let error = args.connection.base_url().unwrap_err();
        assert!(error.to_string().contains("unknown ZEGO region"), "{error}");
    }
}
