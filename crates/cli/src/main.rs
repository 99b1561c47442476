//! The `tern` binary: one-shot copies, the OMS server, and client verbs for a running server.
//! It wires the crates together and owns nothing but argument parsing and output.

mod admin;
mod client;
mod config;
mod copy_cmd;
mod node;
mod progress;
mod report;
mod serve;
mod table;
mod units;
mod verbs;
mod worker;

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
    /// Runs tasks from a database shared with serve nodes, without HTTP (several nodes).
    Worker(worker::WorkerArgs),
    /// Creates tokens and AK/SK credentials for projects.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Lists, shows, creates, stops, starts and deletes tasks on a running server
    /// (`TERN_ENDPOINT`, and `TERN_TOKEN` or `TERN_AK`/`TERN_SK`).
    Task {
        #[command(subcommand)]
        command: verbs::task::TaskCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
    /// Lists, shows, creates, stops, starts, retries and deletes task groups on a running server.
    Group {
        #[command(subcommand)]
        command: verbs::group::GroupCommand,
        #[command(flatten)]
        client: client::ClientArgs,
    },
}

/// `serve` logs its lifecycle by default; one-shot commands stay quiet unless asked.
fn default_log_filter() -> &'static str {
    if matches!(std::env::args().nth(1).as_deref(), Some("serve" | "worker")) {
        "info"
    } else {
        "error"
    }
}

/// Tells whether events of a log target may carry credentials in clear: the signing library
/// (reqsign, reached through the `log` bridge) prints loaded credentials at debug level.
fn is_secret_bearing_target(target: &str) -> bool {
    target == "reqsign" || target.starts_with("reqsign_") || target.starts_with("reqsign::")
}

fn init_logging() {
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    let env_filter = tracing_subscriber::EnvFilter::try_from_env("TERN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log_filter()));
    // Applied after the user's filter, so no `TERN_LOG` (not even `reqsign=trace`) lets
    // credentials reach the log.
    let secret_free =
        tracing_subscriber::filter::filter_fn(|meta| !is_secret_bearing_target(meta.target()));
    // Colour only for a person watching: log files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .with_filter(env_filter)
                .with_filter(secret_free),
        )
        .init();
}

/// Turns off backtrace capture in library errors (OpenDAL captures one per unexpected error and
/// prints it in its `Debug`) unless `RUST_LIB_BACKTRACE` asks for it: a developer's
/// `RUST_BACKTRACE=1` is meant for panics, which keep their backtraces, not for every retry
/// warning. Runs before any other thread exists.
fn disable_library_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
}

fn main() -> ExitCode {
    disable_library_backtraces();
    let cli = Cli::parse();
    init_logging();
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
            Command::Worker(args) => worker::run(args).await,
            Command::Admin(command) => admin::run(command).await,
            Command::Task { command, client } => verbs::task::run(command, client).await,
            Command::Group { command, client } => verbs::group::run(command, client).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_signing_library_targets_are_never_logged() {
        for target in [
            "reqsign",
            "reqsign_core::api",
            "reqsign_aws_v4::credential",
            "reqsign::aws",
        ] {
            assert!(is_secret_bearing_target(target), "{target}");
        }
        for target in ["tern_server", "opendal::services::s3", "reqsigned"] {
            assert!(!is_secret_bearing_target(target), "{target}");
        }
    }
}
