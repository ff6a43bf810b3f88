//! `zego-push-server`: registers mobile push tokens with ZEGO.

use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use zego_core::{AppId, ServerSecret, ZegoClient};
use zego_push_server::auth::{check_api_key_name, hash_api_key, AuthMode};
use zego_push_server::config::{env, Args, Command, LogFormat};
use zego_push_server::metrics::Metrics;
use zego_push_server::ratelimit::RateLimits;
use zego_push_server::registrar::{Registrar, RegistrarSettings};
use zego_push_server::store::{redact_database_url, Store};
use zego_push_server::{app, sandbox, serve, worker, AppState};

// Under load, glibc's allocator took about 13 % of the server's CPU time
// (perf, see docs/benchmarks.md); mimalloc takes less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_DATABASE_URL: &str = "sqlite://zego-push.db";
const SANDBOX_DATABASE_URL: &str = "sqlite://zego-push-sandbox.db";

#[tokio::main]
async fn main() {
    let args = Args::parse_with_precedence();
    if let Some(Command::HashApiKey { name }) = &args.command {
        std::process::exit(print_api_key_hash(name));
    }
    let args = match args.merge_config_file() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    };
    let log_format = args.log_format();
    init_logging(log_format);
    if let Err(error) = run(args).await {
        // One line, in the format log collectors expect.
        match log_format {
            LogFormat::Json => {
                tracing::error!(error = %format!("{error:#}"), "zego-push-server failed to start");
            }
            LogFormat::Text => eprintln!("error: {error:#}"),
        }
        std::process::exit(1);
    }
}

fn print_api_key_hash(name: &str) -> i32 {
    if let Err(reason) = check_api_key_name(name) {
        eprintln!("error: invalid --name: {reason}");
        return 2;
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Type the API key, then press Enter and Ctrl-D:");
    }
    let mut key = String::new();
    if let Err(error) = stdin.lock().read_to_string(&mut key) {
        eprintln!("error: cannot read the API key from standard input: {error}");
        return 1;
    }
    let key = key.trim_end_matches(['\n', '\r']);
    if key.len() < 16 {
        eprintln!("error: the API key is shorter than 16 characters; use a long random key");
        return 1;
    }
    println!("{name}={}", hash_api_key(key));
    0
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,hyper=warn,zego_mock=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
    }
}

/// Reads the ServerSecret from the flag, the environment or a file.
fn read_secret(args: &Args) -> anyhow::Result<Option<ServerSecret>> {
    if args.server_secret.is_some() && args.server_secret_file.is_some() {
        bail!(
            "the ServerSecret and a ServerSecret file are both given as flags (--server-secret, --server-secret-file), \
             both in the environment ({}, {}) or both in the config file (server_secret, server_secret_file); give one of them",
            env::SERVER_SECRET,
            env::SERVER_SECRET_FILE
        );
    }
    if let Some(path) = &args.server_secret_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the ServerSecret file {}", path.display()))?;
        return Ok(Some(ServerSecret::new(text)?));
    }
    args.server_secret.as_deref().map(ServerSecret::new).transpose().map_err(Into::into)
}

/// Returns a random id for this process's row leases.
fn instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}-{}", host.trim(), std::process::id(), hex::encode(rand::random::<[u8; 4]>()))
}

#[allow(clippy::too_many_lines)]
async fn run(args: Args) -> anyhow::Result<()> {
    let listen = args.listen();
    let auth = args.authenticator()?;
    let http = args.http_settings()?;

    // Bind first, so that a busy port fails before anything else starts.
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!("cannot listen on {listen}; choose another address with --listen or {}", env::LISTEN)
    })?;

    // Choose live or sandbox mode from the credentials.
    let secret = read_secret(&args)?;
    let app_id = args.app_id.as_deref().map(str::parse::<AppId>).transpose()?;
    let (app_id, secret, base_url, sandbox) = match (app_id, secret) {
        (Some(app_id), Some(secret)) => (app_id, secret, args.live_base_url()?, None),
        (None, None) => {
            if !listen.ip().is_loopback() {
                bail!(
                    "sandbox mode listens on loopback only, but --listen is {listen}; set {} and {} to go live",
                    env::APP_ID,
                    env::SERVER_SECRET
                );
            }
            let sandbox = sandbox::start().await.context("cannot start the sandbox zego-mock")?;
            (sandbox.app_id, sandbox.secret.clone(), sandbox.mock.base_url(), Some(sandbox))
        }
        (Some(_), None) => bail!(
            "{} is set but no ServerSecret is: set {} or {}, or unset {} for sandbox mode",
            env::APP_ID,
            env::SERVER_SECRET,
            env::SERVER_SECRET_FILE,
            env::APP_ID
        ),
        (None, Some(_)) => {
            bail!("a ServerSecret is set but {} is not; set both, or neither for sandbox mode", env::APP_ID)
        }
    };

    // Authentication: "none" only on loopback, unless explicitly allowed.
    if auth.allows_anonymous() && !listen.ip().is_loopback() {
        if args.insecure_allow_unauthenticated() {
            tracing::warn!(
                %listen,
                "serving WITHOUT authentication on a non-loopback address; anyone who reaches this port can register tokens for any user"
            );
        } else {
            bail!(
                "refusing to serve without authentication on {listen}: set --auth jwt or --auth api-key, listen on 127.0.0.1, \
                 or pass --insecure-allow-unauthenticated ({}=true) if a trusted proxy authenticates callers",
                env::INSECURE_NO_AUTH
            );
        }
    }

    // Open the store and build the ZEGO client and the registrar.
    let database_url = args.database_url.clone().unwrap_or_else(|| {
        if sandbox.is_some() { SANDBOX_DATABASE_URL } else { DEFAULT_DATABASE_URL }.to_owned()
    });
    let store = Store::open(&database_url).await.with_context(|| {
        format!("cannot open the registry database {}", redact_database_url(&database_url))
    })?;
    let client_config = args.client_config(base_url)?;
    let request_lease = client_config.longest_call() + Duration::from_secs(5);
    let secret_len = secret.expose_secret().len();
    let zego = ZegoClient::new(app_id, secret, client_config)?;
    // A row is leased for as long as one registration call can take, so that a
    // crashed instance's rows return to the outbox soon after that.
    let outbox =
        zego_push_server::registrar::OutboxSettings { lease: request_lease, ..args.outbox_settings() };
    let registrar = Registrar {
        store: store.clone(),
        zego,
        metrics: Metrics::new(),
        settings: Arc::new(RegistrarSettings {
            instance_id: instance_id(),
            unchanged_window: args.unchanged_window(),
            device_limit: args.device_limit(),
            request_lease,
            outbox,
        }),
        wake: Arc::new(Notify::new()),
    };

    if let Some(sandbox) = &sandbox {
        tracing::warn!(
            mock = %sandbox.mock.base_url(),
            app_id = %sandbox.app_id,
            "SANDBOX MODE: no ZEGO credentials are set, so registrations go to an in-process fake ZEGO (zego-mock) with a throwaway AppId and nothing reaches ZEGO. To go live, set {} and {} (or {}).",
            env::APP_ID,
            env::SERVER_SECRET,
            env::SERVER_SECRET_FILE
        );
    }
    if secret_len != 32 {
        tracing::warn!(
            length = secret_len,
            "the ServerSecret is not 32 characters long, so POST /api/zego-token cannot issue Token04s; copy the ServerSecret from the ZEGO console"
        );
    }
    let modes: Vec<&str> = auth.modes().iter().map(|mode| AuthMode::as_str(*mode)).collect();
    let (per_address, per_user) = args.rate_limits();
    tracing::info!(
        %listen,
        zego = %registrar.zego.endpoint(),
        action = %args.zego_action(),
        scheme = %registrar.zego.signer().scheme(),
        app_id = %app_id,
        store = store.backend_name(),
        database = %redact_database_url(&database_url),
        auth = %modes.join(","),
        device_limit = args.device_limit(),
        rate_limit_per_address = per_address,
        rate_limit_per_user = per_user,
        instance = %registrar.settings.instance_id,
        callbacks = http.callbacks.is_some(),
        token_max_secs = http.tokens.max_seconds,
        "configuration"
    );

    // Start the outbox worker and the rate limiter's housekeeping.
    let (stop, stopped) = watch::channel(false);
    let outbox = tokio::spawn(worker::run(registrar.clone(), stopped.clone()));
    let limits = RateLimits::new(per_address, per_user);
    let housekeeping = tokio::spawn(forget_idle_rate_limit_keys(limits.clone(), stopped));

    // Serve until SIGINT or SIGTERM, then stop the worker and close the store.
    let address = listener.local_addr()?;
    println!("zego-push-server listening on http://{address}");
    std::io::stdout().flush()?;
    tracing::info!(%address, "zego-push-server started");

    let request_timeout = http.request_timeout;
    let state = AppState::new(registrar, auth, limits, http);
    serve(listener, app(state), shutdown_signal(), request_timeout).await?;
    tracing::info!("requests finished; stopping the outbox worker");
    let _ = stop.send(true);
    let _ = outbox.await;
    let _ = housekeeping.await;
    store.close().await;
    if let Some(sandbox) = sandbox {
        sandbox.mock.shutdown().await;
    }
    tracing::info!("zego-push-server stopped");
    Ok(())
}

async fn forget_idle_rate_limit_keys(limits: RateLimits, mut stopped: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = interval.tick() => limits.forget_idle_keys(),
            _ = stopped.changed() => return,
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler succeeds");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}
