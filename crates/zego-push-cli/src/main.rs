//! `zego-push`: signs, registers and imports push tokens for ZEGO's offline
//! push service, and checks a project's set-up.
//!
//! - [`cli`]: the flags and subcommands (clap derive; doc comments are the help).
//! - [`settings`]: credentials and ZEGO client settings from flags, environment and files.
//! - [`exit`]: the exit codes and the error type that carries one.
//! - [`sign`], [`register`], [`doctor`], [`import`]: one module per subcommand.

mod cli;
mod doctor;
mod env;
mod exit;
mod fields;
mod import;
mod output;
mod register;
mod settings;
mod sign;

use std::io::IsTerminal;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::{CliError, ExitCode};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::Failure.into();
        }
    };
    let json = cli.global.json;
    match runtime.block_on(run(cli)) {
        Ok(code) => code.into(),
        Err(error) => {
            output::print_error(&error, json);
            error.code.into()
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let global = cli.global;
    match cli.command {
        Command::Sign(args) => sign::run(&global, args),
        Command::Register(args) => register::run(&global, args).await,
        Command::Doctor(args) => doctor::run(&global, args).await,
        Command::Import(args) => import::run(&global, args).await,
    }
}

/// Sends log events to standard error: warnings by default, more with each
/// `-v`. `RUST_LOG` overrides the level when set.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "info,zego_push=debug,zego_core=debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(verbose >= 2)
        .init();
}
