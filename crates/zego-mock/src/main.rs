//! `zego-mock`: a fake ZEGO server API on a local port.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use zego_core::{AppId, ServerSecret};
use zego_mock::{MockConfig, MockServer};

// The benchmarks run the mock on the same cores as the program they measure,
// so its allocator cost counts against that program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A fake ZEGO server API that checks signatures like ZEGO and injects faults.
///
/// It serves PushRegister at /?Action=PushRegister and the control routes
/// GET|POST /_mock/faults, GET /_mock/registrations, GET /_mock/calls and
/// POST /_mock/reset. A fault body looks like {"latency_ms": 100,
/// "http_500": 2, "drop_connections": 3, "code": {"code": 100000005,
/// "message": "...", "count": 1}}; docs/protocol.md describes each field.
/// Once listening it prints "zego-mock listening on http://ADDRESS" on
/// standard output.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// A known app as APPID:SECRET; repeat for several apps.
    #[arg(long = "app", value_name = "APPID:SECRET")]
    apps: Vec<String>,

    /// A known AppId, paired with --server-secret.
    #[arg(long, env = zego_core::env::APP_ID)]
    app_id: Option<String>,

    /// The ServerSecret of --app-id.
    #[arg(long, env = zego_core::env::SERVER_SECRET, hide_env_values = true)]
    server_secret: Option<String>,

    /// The largest accepted clock skew of a request timestamp, in seconds.
    #[arg(long, default_value_t = 600)]
    max_skew_secs: u64,
}

fn parse_app(spec: &str) -> anyhow::Result<(AppId, ServerSecret)> {
    let Some((app_id, secret)) = spec.split_once(':') else {
        bail!("invalid --app value {spec:?}: expected APPID:SECRET, for example 1234567890:0123456789abcdef0123456789abcdef");
    };
    Ok((app_id.parse()?, ServerSecret::new(secret)?))
}

#[tokio::main]
async fn main() {
    if let Err(error) = run(Args::parse()).await {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "zego_mock=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    // Collect the known apps.
    let mut apps = HashMap::new();
    for spec in &args.apps {
        let (app_id, secret) = parse_app(spec)?;
        apps.insert(app_id, secret);
    }
    match (&args.app_id, &args.server_secret) {
        (Some(app_id), Some(secret)) => {
            apps.insert(app_id.parse()?, ServerSecret::new(secret.as_str())?);
        }
        (None, None) => {}
        _ => bail!("--app-id and --server-secret go together"),
    }
    if apps.is_empty() {
        bail!("no app configured: give --app APPID:SECRET or set ZEGO_APP_ID and ZEGO_SERVER_SECRET");
    }
    let mut config = MockConfig::new(apps);
    config.max_skew = Duration::from_secs(args.max_skew_secs);

    // Serve until interrupted.
    let server = MockServer::bind(args.listen, config)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("zego-mock listening on {}", server.base_url());
    std::io::stdout().flush()?;
    tracing::info!(address = %server.addr(), apps = server.state().app_count(), "zego-mock started");

    shutdown_signal().await;
    tracing::info!("zego-mock stopping");
    server.shutdown().await;
    tracing::info!("zego-mock stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler succeeds");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
