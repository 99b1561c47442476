//! `tern worker`: a scheduler node without HTTP. It claims tasks and group splits from a
//! database it shares with `tern serve` nodes (PostgreSQL; RFC 0011) until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use tern_scheduler::Scheduler;

use crate::config::ServeSettings;
use crate::serve::{scheduler_config, shutdown_signal, SHUTDOWN_GRACE};

/// Arguments of `tern worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Database URL shared with the serve nodes [env TERN_DATABASE].
    #[arg(long)]
    database: Option<String>,
    /// Config file (TOML: regions, scheduler settings).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory: this node's id and, without `TERN_SEAL_KEY`, its seal key
    /// [default: ./tern-data; env TERN_DATA_DIR].
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Runs the node until SIGINT/SIGTERM; its runs commit what finished and resume on any node.
pub async fn run(args: WorkerArgs) -> Result<ExitCode> {
    let settings =
        ServeSettings::resolve(args.config.as_deref(), None, args.data_dir, args.database)?;
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    let (store, _sync) =
        tern_store::open_with_sync(settings.database.as_deref(), &settings.data_dir)
            .await
            .context("opening the task store")?;
    let node = crate::node::identify(&settings.data_dir, settings.node_id.as_deref())?;
    let scheduler = Scheduler::new(store, scheduler_config(&settings, &node.id));
    let claim_loop = scheduler.start().await.context("starting the scheduler")?;
    println!("tern: worker {} running", node.id);
    tracing::info!(node = %node.id, data_dir = %settings.data_dir.display(), "tern worker started");
    shutdown_signal().await;
    scheduler.shutdown(SHUTDOWN_GRACE).await;
    claim_loop.abort();
    tracing::info!(node = %node.id, "tern worker stopped; its running tasks resume on the next claim");
    Ok(ExitCode::SUCCESS)
}
