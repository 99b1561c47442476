//! `tern serve`: the OMS v2 API with its scheduler, on the embedded SQLite by default.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use tern_core::{LeaseTerms, TaskStore};
use tern_scheduler::{Scheduler, SchedulerConfig, SyncConfig, SyncRunner};
use tern_server::AppState;

use crate::admin::{new_access_key, new_project_id, new_secret, new_token};
use crate::config::ServeSettings;

/// File in the data dir that marks the first-start project as created (holds its id only).
const BOOTSTRAP_MARKER: &str = "bootstrap-project";
/// How long running tasks get to commit what finished when the server stops.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Arguments of `tern serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080; env TERN_LISTEN].
    #[arg(long)]
    listen: Option<String>,
    /// Data directory: SQLite database and seal key [default: ./tern-data; env TERN_DATA_DIR].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Config file (TOML: regions, scheduler settings).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Database URL [default: SQLite in the data dir; env TERN_DATABASE].
    #[arg(long)]
    database: Option<String>,
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> Result<ExitCode> {
    let settings = ServeSettings::resolve(
        args.config.as_deref(),
        args.listen,
        args.data_dir,
        args.database,
    )?;
    // Bind first: a busy port must fail before the first start creates and prints an identity,
    // or that one-time identity would be shown by a run that never served and not again.
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    let (store, sync_store) =
        tern_store::open_with_sync(settings.database.as_deref(), &settings.data_dir)
            .await
            .context("opening the task store")?;
    bootstrap_first_project(&store, &settings.data_dir).await?;

    let node = crate::node::identify(&settings.data_dir, settings.node_id.as_deref())?;
    let regions = settings.regions.clone();
    let scheduler = Scheduler::new(Arc::clone(&store), scheduler_config(&settings, &node.id));
    let claim_loop = scheduler.start().await.context("starting the scheduler")?;
    let sync = SyncRunner::new(
        sync_store,
        SyncConfig {
            regions: regions.clone(),
            reconcile_interval: settings.sync_reconcile_interval,
            server_side_copy: settings.server_side_copy,
            memory: Arc::clone(&settings.memory),
            node: node.id.clone(),
            ..SyncConfig::default()
        },
    );
    sync.start().await.context("starting the sync tasks")?;
    let state = AppState::new(store, Arc::clone(&scheduler), Arc::clone(&sync), regions);
    println!("tern: listening on http://{address}");
    tracing::info!(%address, node = %node.id, data_dir = %settings.data_dir.display(), "tern serve started");

    tern_server::serve(listener, state, shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("shutdown 1/3: stopped accepting requests");
    scheduler.shutdown(SHUTDOWN_GRACE).await;
    sync.shutdown(SHUTDOWN_GRACE).await;
    tracing::info!("shutdown 2/3: scheduler stopped; running tasks will resume on next start");
    claim_loop.abort();
    tracing::info!("shutdown 3/3: done");
    Ok(ExitCode::SUCCESS)
}

/// The scheduler settings of a node (`serve` or `worker`) with id `node_id`.
pub(crate) fn scheduler_config(settings: &ServeSettings, node_id: &str) -> SchedulerConfig {
    SchedulerConfig {
        regions: settings.regions.clone(),
        max_running_tasks: settings.max_running_tasks,
        transfers_per_task: settings.transfers_per_task,
        group_task_max_objects: settings.group_task_max_objects,
        notify: settings.notify.clone(),
        part_size: settings.part_size,
        memory: Arc::clone(&settings.memory),
        server_side_copy: settings.server_side_copy,
        lease: LeaseTerms {
            node: tern_core::NodeId(node_id.to_owned()),
            duration_ms: settings.lease_ms,
        },
        ..SchedulerConfig::default()
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// On the very first start, creates a project with a token and an AK/SK and prints them once,
/// so the quick start can call the API right away. Later starts print nothing secret.
async fn bootstrap_first_project(store: &Arc<dyn TaskStore>, data_dir: &Path) -> Result<()> {
    let marker = data_dir.join(BOOTSTRAP_MARKER);
    if marker.exists() {
        return Ok(());
    }
    let project_id = new_project_id();
    let token = new_token();
    let access_key = new_access_key();
    let secret_key = new_secret();
    store
        .put_token(&project_id, &tern_server::token_digest(&token))
        .await
        .context("storing the first token")?;
    store
        .put_credential(
            &project_id,
            &access_key,
            &tern_core::Secret::new(secret_key.clone()),
        )
        .await
        .context("storing the first credential")?;
    // Printed before the marker is written: if writing the marker fails, the next start
    // creates (and prints) another project rather than leaving none ever shown.
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "tern: first start: created project {project_id}. These secrets are shown only now:\n\
         TERN_PROJECT_ID={project_id}\nTERN_TOKEN={token}\nTERN_AK={access_key}\nTERN_SK={secret_key}"
    )
    .and_then(|()| stdout.flush())
    .context("printing the first project's secrets")?;
    drop(stdout);
    std::fs::write(&marker, format!("{project_id}\n"))
        .with_context(|| format!("writing {}", marker.display()))?;
    Ok(())
}
