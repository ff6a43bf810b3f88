//! `zego-push`: signs, registers and imports push tokens for ZEGO's offline
//! push service, and checks a project's set-up. It also generates and
//! decodes Token04 login tokens and checks the signatures of ZEGO callbacks.
//!
//! - [`cli`]: the flags and subcommands (clap derive; doc comments are the help).
//! - [`settings`]: credentials and ZEGO client settings from flags, environment and files.
//! - [`exit`]: the exit codes and the error type that carries one.
//! - [`fields`]: validation messages that name the CLI's flags or the import file's columns.
//! - [`sign`], [`register`], [`doctor`], [`import`], [`token`], [`verify_callback`]: one
//!   module per subcommand.

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
mod token;
mod verify_callback;

use std::io::IsTerminal;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::exit::{CliError, ExitCode};

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return report_parse_error(&error),
    };
    init_logging(cli.global.verbose);
    // Before the runtime starts its threads: see `capture_local_offset`.
    token::capture_local_offset();

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

/// Prints a flag error, and with `--json` on the command line also the JSON
/// error document on standard output. Help and version output stay as clap
/// prints them.
fn report_parse_error(error: &clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;

    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        error.exit();
    }
    let note = env_source_note(error, &<Cli as clap::CommandFactory>::command());
    let _ = error.print();
    if let Some(note) = &note {
        eprintln!("note: {note}");
    }
    if !json_requested() {
        return ExitCode::Input.into();
    }
    // The message is the rendered text before its blank line and usage, on one line.
    let rendered = error.render().to_string();
    let message = rendered.split("\n\n").next().unwrap_or_default();
    let mut message = message.trim_start_matches("error: ").split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(note) = note {
        message = format!("{message}; {note}");
    }
    let error = CliError::input(message);
    output::print_json_error(&error);
    error.code.into()
}

/// Returns a note naming the environment variable that supplied a value
/// clap rejected. clap's message names only the flag, which the user may
/// never have typed.
fn env_source_note(error: &clap::Error, command: &clap::Command) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};

    if !matches!(error.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return None;
    }
    let Some(ContextValue::String(flag)) = error.get(ContextKind::InvalidArg) else { return None };
    let long = flag.split_whitespace().next()?.strip_prefix("--")?;
    let typed_flag = format!("--{long}");
    let typed_with_value = format!("--{long}=");
    for arg in std::env::args().skip(1).take_while(|arg| arg != "--") {
        if arg == typed_flag || arg.starts_with(&typed_with_value) {
            return None;
        }
    }
    let variable = find_long_arg(command, long)?.get_env()?.to_str()?;
    std::env::var_os(variable)?;
    Some(format!("the value comes from the environment variable {variable}"))
}

fn find_long_arg<'a>(command: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .or_else(|| command.get_subcommands().find_map(|subcommand| find_long_arg(subcommand, long)))
}

/// Returns whether `--json` is among the arguments, before any `--`, because
/// a command line that clap rejects has no parsed value to read it from.
fn json_requested() -> bool {
    std::env::args_os().skip(1).take_while(|arg| arg != "--").any(|arg| arg == "--json")
}

async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let global = cli.global;
    match cli.command {
        Command::Sign(args) => sign::run(&global, args),
        Command::Register(args) => register::run(&global, args).await,
        Command::Doctor(args) => doctor::run(&global, args).await,
        Command::Import(args) => import::run(&global, args).await,
        Command::Token(args) => token::run(&global, args),
        Command::VerifyCallback(args) => verify_callback::run(&global, &args),
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
