//! The `tern` binary: one-shot copies now; the OMS server and task commands arrive with later
//! issues. It wires the crates together and owns nothing but argument parsing and output.

mod admin;
mod config;
mod copy_cmd;
mod progress;
mod report;
mod serve;
mod units;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tern: object-storage migration with the Huawei Cloud OMS v2 API.
#[derive(Debug, Parser)]
#[command(name = "tern", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Copies objects from SRC to DST once, with a progress bar.
    Copy(copy_cmd::CopyArgs),
    /// Serves the OMS v2 API and runs its tasks (SQLite in the data dir by default).
    Serve(serve::ServeArgs),
    /// Creates tokens and AK/SK credentials for projects.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
}

/// `serve` logs its lifecycle by default; one-shot commands stay quiet unless asked.
fn default_log_filter() -> &'static str {
    if std::env::args().nth(1).as_deref() == Some("serve") {
        "info"
    } else {
        "error"
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TERN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log_filter())),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Copy(args) => copy_cmd::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Admin(command) => admin::run(command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
