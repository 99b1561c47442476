//! Sync tasks at work: one worker per synchronizing task claims its queued events in batches,
//! copies them with the engine under the task's policies, and resolves each batch in one
//! transaction (outcomes and counters together).
//!
//! Concurrency model: a worker is a tokio task with a child of the runner's root
//! `CancellationToken`. It wakes when events are accepted (a `Notify` permit, so a wake between
//! a claim and the wait is not lost), when a retry falls due (a short fallback timer), or when
//! reconciliation is due. Batches of one task run one after another, so a key is never copied
//! twice at once; different tasks run side by side. A stop, a delete or a shutdown cancels the
//! worker: copies finished so far are resolved, the rest go back to the queue unchanged. After
//! a crash, start-up returns the node's own claimed events to the queue, so an accepted event is
//! copied and counted exactly once (a copy that finished but was not recorded is found unchanged and
//! counted as skipped under the default overwrite mode, or copied again under FULL_OVERWRITE).
//!
//! Several serve nodes on one database each run a worker per synchronizing task; their claims
//! name the node and expire after `claim_lease`, so a node releases and resolves only its own
//! events, and a node that died leaves its batch to the others once the claim expires. Each
//! event is counted by the node that resolves it while still holding it, so exactly once.
//!
//! Deletes at the source are never propagated: events and reconciliation only ever copy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use tern_core::{
    ClaimedEvent, EventResolution, FailureCode, NodeSpec, Outcome, OutcomeKind, RegionTable,
    SyncClaim, SyncSpec, SyncStatus, SyncStore, SyncTask, SyncTaskId, TaskSecrets,
};
use tern_engine::{
    Event, KeySource, Location, MemoryBudget, Migration, MigrationOptions, Selection, Storage,
};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{now_ms, Result};

mod reconcile;

/// Events copied per batch by default.
pub const DEFAULT_SYNC_BATCH_EVENTS: usize = 64;
/// Tries of an event that keeps failing transiently before it counts as failed.
pub const DEFAULT_SYNC_MAX_ATTEMPTS: u32 = 3;
/// How long a claim on sync events holds by default (see [`SyncConfig::claim_lease`]).
pub const DEFAULT_SYNC_CLAIM_LEASE: Duration = Duration::from_secs(600);
/// First wait before a transient failure is retried; it doubles with each try.
pub const DEFAULT_SYNC_RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// How often an idle worker looks at its queue without being woken (retries falling due; new
/// events wake it at once).
const IDLE_FALLBACK: Duration = Duration::from_millis(500);
/// How long a worker waits after a store error before trying again.
const STORE_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Settings of the sync runner.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// How `cloud_type` + `region` become endpoints.
    pub regions: RegionTable,
    /// Events claimed and copied per batch.
    pub batch_events: usize,
    /// Objects in flight per batch.
    pub transfers: usize,
    /// Multipart part size.
    pub part_size: usize,
    /// The process's budget for copy buffers, shared with the scheduler's tasks.
    pub memory: Arc<MemoryBudget>,
    /// Copy server-side between buckets of one S3 endpoint (`MigrationOptions::server_side_copy`).
    pub server_side_copy: bool,
    /// Tries of a transiently failing event before it counts as failed.
    pub max_attempts: u32,
    /// First wait before a retry.
    pub retry_backoff: Duration,
    /// Period of the reconciliation pass (list both sides, queue what events missed);
    /// `None`, the default, turns it off.
    pub reconcile_interval: Option<Duration>,
    /// This node's id: its claims on events are its own, so nodes sharing a database release
    /// and resolve only theirs (the scheduler's node id).
    pub node: String,
    /// How long a claim on a batch of events holds before another node may take the events
    /// (a node that died mid-batch). A batch copying for longer may be copied again by another
    /// node; each event is still counted once.
    pub claim_lease: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            regions: RegionTable::builtin(),
            batch_events: DEFAULT_SYNC_BATCH_EVENTS,
            transfers: tern_engine::run::DEFAULT_TRANSFERS,
            part_size: tern_engine::run::DEFAULT_PART_SIZE,
            memory: MemoryBudget::process_default(),
            server_side_copy: true,
            max_attempts: DEFAULT_SYNC_MAX_ATTEMPTS,
            retry_backoff: DEFAULT_SYNC_RETRY_BACKOFF,
            reconcile_interval: None,
            node: "local".to_owned(),
            claim_lease: DEFAULT_SYNC_CLAIM_LEASE,
        }
    }
}

struct Worker {
    cancel: CancellationToken,
    wake: Arc<Notify>,
    join: JoinHandle<()>,
}

/// Runs the sync tasks of a [`SyncStore`]; the API calls its operations so the workers follow.
pub struct SyncRunner {
    store: Arc<dyn SyncStore>,
    config: Arc<SyncConfig>,
    root: CancellationToken,
    workers: Mutex<HashMap<SyncTaskId, Worker>>,
    /// Set by [`SyncRunner::start`]; until then operations only write the store (a runner
    /// that is never started, as in route tests, copies nothing).
    started: AtomicBool,
}

impl SyncRunner {
    /// A runner over `store`; call [`SyncRunner::start`] to resume synchronizing tasks.
    pub fn new(store: Arc<dyn SyncStore>, config: SyncConfig) -> Arc<Self> {
        Arc::new(SyncRunner {
            store,
            config: Arc::new(config),
            root: CancellationToken::new(),
            workers: Mutex::new(HashMap::new()),
            started: AtomicBool::new(false),
        })
    }

    /// The store the runner works on.
    pub fn store(&self) -> &Arc<dyn SyncStore> {
        &self.store
    }

    /// Returns events a previous process held to the queue, then starts a worker per
    /// synchronizing task.
    pub async fn start(self: &Arc<Self>) -> Result<()> {
        self.store
            .release_sync_events(None, &self.config.node)
            .await?;
        self.started.store(true, Ordering::SeqCst);
        for task in self
            .store
            .sync_tasks_in_status(SyncStatus::Synchronizing)
            .await?
        {
            tracing::info!(sync_task_id = %task.id, "resuming a sync task");
            self.spawn_worker(task).await;
        }
        Ok(())
    }

    /// Creates a sync task (it starts synchronizing at once).
    pub async fn create(
        self: &Arc<Self>,
        project_id: &str,
        spec: &SyncSpec,
        secrets: &TaskSecrets,
    ) -> Result<SyncTask> {
        let task = self
            .store
            .create_sync_task(project_id, spec, secrets, now_ms())
            .await?;
        self.spawn_worker(task.clone()).await;
        Ok(task)
    }

    /// Stops a sync task; what its worker copied so far is recorded, the rest stays queued.
    pub async fn stop(&self, id: &SyncTaskId) -> Result<SyncTask> {
        let task = self.store.stop_sync_task(id, now_ms()).await?;
        self.cancel_worker(id);
        Ok(task)
    }

    /// Starts a stopped sync task with fresh credentials; queued events resume.
    pub async fn start_task(
        self: &Arc<Self>,
        id: &SyncTaskId,
        secrets: &TaskSecrets,
    ) -> Result<SyncTask> {
        let task = self.store.start_sync_task(id, secrets, now_ms()).await?;
        self.spawn_worker(task.clone()).await;
        Ok(task)
    }

    /// Deletes a sync task with its queue and statistics.
    pub async fn delete(&self, id: &SyncTaskId) -> Result<()> {
        self.store.delete_sync_task(id).await?;
        self.cancel_worker(id);
        Ok(())
    }

    /// Persists events and wakes the task's worker; returns how many were newly queued.
    pub async fn accept_events(&self, id: &SyncTaskId, keys: &[String]) -> Result<u64> {
        let queued = self.store.accept_sync_events(id, keys, now_ms()).await?;
        if let Some(worker) = self.lock_workers().get(id) {
            worker.wake.notify_one();
        }
        Ok(queued)
    }

    /// Stops every worker (they record what finished and return the rest to the queue) and
    /// waits for them, at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        tracing::info!("sync runner shutdown: cancel workers");
        self.root.cancel();
        let joins: Vec<JoinHandle<()>> = self
            .lock_workers()
            .drain()
            .map(|(_, worker)| worker.join)
            .collect();
        let all = futures::future::join_all(joins);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("sync workers did not stop in time");
        }
    }

    fn lock_workers(&self) -> std::sync::MutexGuard<'_, HashMap<SyncTaskId, Worker>> {
        self.workers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cancel_worker(&self, id: &SyncTaskId) {
        if let Some(worker) = self.lock_workers().get(id) {
            worker.cancel.cancel();
        }
    }

    /// Starts the task's worker, after the previous one (a stop just before a start) has
    /// ended: that one returns its claimed events to the queue when it ends, which must not
    /// happen to the new worker's claims.
    async fn spawn_worker(self: &Arc<Self>, task: SyncTask) {
        let previous = self.lock_workers().remove(&task.id);
        if let Some(previous) = previous {
            previous.cancel.cancel();
            let _ = previous.join.await;
        }
        if self.root.is_cancelled() || !self.started.load(Ordering::SeqCst) {
            return;
        }
        let cancel = self.root.child_token();
        let wake = Arc::new(Notify::new());
        let id = task.id.clone();
        let work = Work {
            store: Arc::clone(&self.store),
            config: Arc::clone(&self.config),
            task,
            cancel: cancel.clone(),
            wake: Arc::clone(&wake),
        };
        let store = Arc::clone(&self.store);
        let node = self.config.node.clone();
        let join = tokio::spawn(async move {
            let id = work.task.id.clone();
            // A panic ends this worker only; its claimed events return to the queue.
            if let Err(panic) = tokio::spawn(work.run()).await {
                tracing::error!(sync_task_id = %id, error = %panic, "sync worker panicked");
                if let Err(err) = store.release_sync_events(Some(&id), &node).await {
                    tracing::warn!(sync_task_id = %id, error = %err, "returning claimed events failed; the next start returns them");
                }
            }
        });
        self.lock_workers()
            .insert(id, Worker { cancel, wake, join });
    }
}

/// One sync task's worker.
struct Work {
    store: Arc<dyn SyncStore>,
    config: Arc<SyncConfig>,
    task: SyncTask,
    cancel: CancellationToken,
    wake: Arc<Notify>,
}

/// Both ends of a sync task, opened once per worker.
struct Ends {
    source: Storage,
    destination: Storage,
    archive: crate::archive::ArchiveParts,
}

impl Work {
    async fn run(self) {
        let id = self.task.id.clone();
        match self.open_ends().await {
            Ok(ends) => self.serve(&ends).await,
            Err(message) => {
                tracing::warn!(sync_task_id = %id, error = %message, "sync task cannot reach its buckets; events stay queued");
            }
        }
        if let Err(err) = self
            .store
            .release_sync_events(Some(&id), &self.config.node)
            .await
        {
            tracing::warn!(sync_task_id = %id, error = %err, "returning claimed events failed; the next start returns them");
        }
    }

    async fn open_ends(&self) -> std::result::Result<Ends, String> {
        let secrets = match self.store.sync_secrets(&self.task.id).await {
            Ok(Some(secrets)) => secrets,
            Ok(None) => return Err("the sync task has no credentials".into()),
            Err(err) => return Err(format!("reading credentials: {err}")),
        };
        let spec = &self.task.spec;
        let source = NodeSpec {
            cloud_type: spec.src_cloud_type,
            region: spec.src_region.clone(),
            bucket: spec.src_bucket.clone(),
            credentials: secrets.src,
            app_id: spec.app_id.clone(),
        };
        let destination = NodeSpec {
            cloud_type: spec.dst_cloud_type,
            region: spec.dst_region.clone(),
            bucket: spec.dst_bucket.clone(),
            credentials: secrets.dst,
            app_id: None,
        };
        let regions = &self.config.regions;
        let source_location =
            Location::from_node(&source, regions).map_err(|err| err.to_string())?;
        let source = Storage::open_source(&source_location).map_err(|err| err.to_string())?;
        let destination_location =
            Location::from_node(&destination, regions).map_err(|err| err.to_string())?;
        // Checked at create; the class is written as the task's dst_storage_policy names it.
        let plan = tern_core::destination_storage_plan(
            &spec.dst_storage_policy,
            Some(source_location.protocol),
            destination_location.protocol,
        )
        .map_err(|err| err.to_string())?;
        let storage_class = match plan {
            tern_core::StoragePlan::Fixed(class) => class,
            tern_core::StoragePlan::FromSource => None,
        };
        let tuning = tern_engine::Tuning {
            storage_class: storage_class.map(str::to_owned),
            request_payer: false,
        };
        let metrics = tern_engine::EngineMetrics::default();
        let destination = Storage::open_tuned(&destination_location, &tuning, &metrics)
            .map_err(|err| err.to_string())?;
        let archive = crate::archive::SourceArchive {
            location: Some(&source_location),
            request_payer: false,
            enable_restore: spec.enable_restore,
            plan,
        }
        .open(&destination_location, &metrics)
        .map_err(|err| err.to_string())?;
        Ok(Ends {
            source,
            destination,
            archive,
        })
    }

    async fn serve(&self, ends: &Ends) {
        let id = &self.task.id;
        let interval = self.config.reconcile_interval;
        let mut next_reconcile = interval.map(|every| Instant::now() + every);
        let limit = self.config.batch_events.max(1) as u64;
        let claim = SyncClaim {
            node: self.config.node.clone(),
            lease_ms: i64::try_from(self.config.claim_lease.as_millis()).unwrap_or(i64::MAX),
        };
        while !self.cancel.is_cancelled() {
            let events = match self
                .store
                .claim_sync_events(id, &claim, limit, now_ms())
                .await
            {
                Ok(events) => events,
                Err(err) => {
                    tracing::warn!(sync_task_id = %id, error = %err, "claiming sync events failed");
                    self.pause(STORE_ERROR_PAUSE).await;
                    continue;
                }
            };
            if !events.is_empty() {
                self.copy_batch(ends, events).await;
                continue;
            }
            let reconcile_in = next_reconcile
                .map(|at| at.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::MAX);
            tokio::select! {
                _ = self.cancel.cancelled() => {}
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_FALLBACK) => {}
                _ = tokio::time::sleep(reconcile_in), if next_reconcile.is_some() => {
                    self.reconcile(ends).await;
                    next_reconcile = interval.map(|every| Instant::now() + every);
                }
            }
        }
    }

    async fn pause(&self, how_long: Duration) {
        tokio::select! {
            _ = self.cancel.cancelled() => {}
            _ = tokio::time::sleep(how_long) => {}
        }
    }

    fn migration(&self, ends: &Ends, selection: Selection, dry_run: bool) -> Migration {
        let spec = &self.task.spec;
        let mut migration =
            Migration::new(ends.source.clone(), ends.destination.clone(), selection);
        migration.options = MigrationOptions {
            overwrite: spec.object_overwrite_mode,
            check: spec.consistency_check,
            metadata: spec.enable_metadata_migration,
            transfers: self.config.transfers,
            part_size: self.config.part_size,
            memory: Arc::clone(&self.config.memory),
            dry_run,
            server_side_copy: self.config.server_side_copy,
            ..MigrationOptions::default()
        };
        (migration.restore, migration.class_mapping) = ends.archive.clone();
        migration
    }

    /// Copies one batch and resolves it in one transaction.
    async fn copy_batch(&self, ends: &Ends, events: Vec<ClaimedEvent>) {
        let id = &self.task.id;
        let keys: Arc<Vec<String>> = Arc::new(events.iter().map(|e| e.key.clone()).collect());
        let selection = Selection::Keys(KeySource::new(move || {
            let keys = Arc::clone(&keys);
            stream::iter((0..keys.len()).map(move |index| Ok(keys[index].clone()))).boxed()
        }));
        let migration = self.migration(ends, selection, false);
        let (sender, mut receiver) = mpsc::channel(events.len() * 2 + 8);
        let cancel = self.cancel.child_token();
        let run = tokio::spawn(async move { migration.run(sender, cancel).await });
        let mut finished: HashMap<String, (u64, Outcome)> = HashMap::new();
        while let Some(event) = receiver.recv().await {
            if let Event::Finished(outcome) = event {
                finished.insert(outcome.key, (outcome.size, outcome.outcome));
            }
        }
        let run_error = match run.await {
            Ok(Ok(_)) => None,
            Ok(Err(err)) => Some(err.to_string()),
            Err(join) => Some(format!("copy panicked: {join}")),
        };
        let now = now_ms();
        let mut resolutions = Vec::with_capacity(events.len());
        for event in events {
            let resolution = match finished.remove(&event.key) {
                Some((size, outcome)) => self.resolve_outcome(&event, size, outcome, now),
                // Stopped before its copy finished: it stays claimed and returns to the
                // queue unchanged when the worker ends.
                None if self.cancel.is_cancelled() => continue,
                // The run could not go on (an end unreachable, credentials refused): a
                // transient failure of every unfinished event.
                None => self.retry_or_fail(&event, 0, now),
            };
            resolutions.push((event, resolution));
        }
        if let Some(error) = &run_error {
            if !self.cancel.is_cancelled() {
                tracing::warn!(sync_task_id = %id, error = %error, "sync batch ended early; unfinished events will be retried");
            }
        }
        // Written with retries: the copies are done, and losing their outcomes would only
        // mean copying again after the next restart.
        let mut backoff = Duration::from_millis(100);
        for attempt in 1..=5 {
            match self
                .store
                .resolve_sync_events(id, &self.config.node, &resolutions, now)
                .await
            {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(sync_task_id = %id, attempt, error = %err, "recording sync outcomes failed");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }

    fn resolve_outcome(
        &self,
        event: &ClaimedEvent,
        size: u64,
        outcome: Outcome,
        now: i64,
    ) -> EventResolution {
        match outcome {
            Outcome::Succeeded { .. } => EventResolution::Done {
                kind: OutcomeKind::Succeeded,
                size,
            },
            Outcome::Skipped(_) => EventResolution::Done {
                kind: OutcomeKind::Skipped,
                size,
            },
            Outcome::Failed { code, message } => {
                if is_permanent(code) {
                    tracing::info!(sync_task_id = %self.task.id, code = %code, error = %message, "sync event failed");
                    EventResolution::Done {
                        kind: OutcomeKind::Failed,
                        size,
                    }
                } else {
                    self.retry_or_fail(event, size, now)
                }
            }
        }
    }

    fn retry_or_fail(&self, event: &ClaimedEvent, size: u64, now: i64) -> EventResolution {
        let tries = event.attempts.saturating_add(1);
        if tries >= self.config.max_attempts {
            return EventResolution::Done {
                kind: OutcomeKind::Failed,
                size,
            };
        }
        let wait = self
            .config
            .retry_backoff
            .saturating_mul(1u32 << event.attempts.min(10));
        EventResolution::Retry {
            not_before_ms: now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
        }
    }
}

/// Tells whether a failure will not pass by retrying: the key is not at the source, or it
/// cannot be a key at the destination.
fn is_permanent(code: FailureCode) -> bool {
    matches!(
        code,
        FailureCode::SourceNotFound | FailureCode::DestinationKeyTooLong
    )
}
