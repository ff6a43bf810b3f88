//! `zego-push-server`: registers mobile push tokens with ZEGO.

use std::io::Write;

use anyhow::{bail, Context};
use clap::Parser;
use tokio::net::TcpListener;
use zego_core::{AppId, ServerSecret, ZegoClient};
use zego_push_server::config::{env, Args, LogFormat};
use zego_push_server::store::Store;
use zego_push_server::{app, sandbox, serve, AppState};

const DEFAULT_DATABASE_URL: &str = "sqlite://zego-push.db";
const SANDBOX_DATABASE_URL: &str = "sqlite://zego-push-sandbox.db";

#[tokio::main]
async fn main() {
    let args = Args::parse();
    init_logging(args.log_format);
    if let Err(error) = run(args).await {
        tracing::error!("{error:#}");
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,hyper=warn,zego_mock=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Reads the ServerSecret from the flag, the environment or a file.
fn read_secret(args: &Args) -> anyhow::Result<Option<ServerSecret>> {
    if let Some(path) = &args.server_secret_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the ServerSecret file {}", path.display()))?;
        return Ok(Some(ServerSecret::new(text)?));
    }
    args.server_secret.as_deref().map(ServerSecret::new).transpose().map_err(Into::into)
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Choose live or sandbox mode from the credentials.
    let secret = read_secret(&args)?;
    let app_id = args.app_id.as_deref().map(str::parse::<AppId>).transpose()?;
    let (app_id, secret, base_url, sandbox) = match (app_id, secret) {
        (Some(app_id), Some(secret)) => (app_id, secret, args.live_base_url(), None),
        (None, None) => {
            if !args.listen.ip().is_loopback() {
                bail!(
                    "sandbox mode listens on loopback only, but --listen is {}; set {} and {} to go live",
                    args.listen,
                    env::APP_ID,
                    env::SERVER_SECRET
                );
            }
            let sandbox = sandbox::start().await.context("cannot start the sandbox zego-mock")?;
            (sandbox.app_id, sandbox.secret.clone(), sandbox.mock.base_url(), Some(sandbox))
        }
        (Some(_), None) => bail!(
            "{} is set but {} is not; set both, or neither for sandbox mode",
            env::APP_ID,
            env::SERVER_SECRET
        ),
        (None, Some(_)) => bail!(
            "{} is set but {} is not; set both, or neither for sandbox mode",
            env::SERVER_SECRET,
            env::APP_ID
        ),
    };

    // Refuse to serve registrations without authentication beyond this machine.
    if !args.listen.ip().is_loopback() {
        if args.insecure_allow_unauthenticated {
            tracing::warn!(
                listen = %args.listen,
                "serving registrations WITHOUT authentication on a non-loopback address; anyone who reaches this port can register tokens for any user"
            );
        } else {
            bail!(
                "refusing to serve registrations without authentication on {}: listen on 127.0.0.1, or pass --insecure-allow-unauthenticated ({}=true) if a trusted proxy authenticates callers",
                args.listen,
                env::INSECURE_NO_AUTH
            );
        }
    }

    // Open the store and build the ZEGO client.
    let database_url = args.database_url.clone().unwrap_or_else(|| {
        if sandbox.is_some() { SANDBOX_DATABASE_URL } else { DEFAULT_DATABASE_URL }.to_owned()
    });
    let store = Store::open(&database_url)
        .await
        .with_context(|| format!("cannot open the registry database {database_url}"))?;
    let zego = ZegoClient::new(app_id, secret, args.client_config(base_url))?;

    if let Some(sandbox) = &sandbox {
        tracing::warn!(
            mock = %sandbox.mock.base_url(),
            app_id = %sandbox.app_id,
            "SANDBOX MODE: no ZEGO credentials are set, so registrations go to an in-process fake ZEGO (zego-mock) with a throwaway AppId and nothing reaches ZEGO. To go live, set {} and {}.",
            env::APP_ID,
            env::SERVER_SECRET
        );
    }
    tracing::info!(
        listen = %args.listen,
        zego = %zego.endpoint(),
        action = %args.zego_action,
        scheme = %args.zego_scheme,
        app_id = %app_id,
        database = %database_url,
        "configuration"
    );

    // Serve until SIGINT or SIGTERM.
    let listener =
        TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    println!("zego-push-server listening on http://{address}");
    std::io::stdout().flush()?;
    tracing::info!(%address, "zego-push-server started");

    serve(listener, app(AppState { store, zego }), shutdown_signal()).await?;
    tracing::info!("zego-push-server stopped");
    if let Some(sandbox) = sandbox {
        sandbox.mock.shutdown().await;
    }
    Ok(())
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
