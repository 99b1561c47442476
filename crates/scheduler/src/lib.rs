//! tern's scheduler: runs migration tasks on the engine and keeps the store true.
//!
//! Depends on `tern-core` (the `TaskStore` trait, never a concrete store) and `tern-engine`.
//!
//! Concurrency model: one loop claims runnable tasks (priority, then age) while fewer than
//! `max_running_tasks` run; each claimed task runs on its own tokio task with a child of the
//! root `CancellationToken`. Stop cancels the child: the engine stops between objects, the run
//! commits what finished and the task moves 7 → 3. Shutdown cancels the root: runs commit what
//! finished and leave their tasks in status 2, and the next start resumes them from their
//! checkpoint (invariant 1 of DESIGN.md: the ledger has one row per key, so nothing is counted
//! twice). A panicking run fails its task, never the process.
//!
//! Sync tasks run beside the tasks in [`sync::SyncRunner`]: one worker per synchronizing sync
//! task copies its queued events in batches (its own concurrency model is in [`sync`]).
//!
//! Outcomes are committed with listing counts and the checkpoint in one transaction per batch
//! (`batch_outcomes` objects or `batch_interval`, whichever comes first).
//!
//! The scheduler decides no status itself: it sends each operation to the store, which asks
//! core and writes the transition in one transaction (`finish_run`, `stop_group`, …), and it
//! passes core's typed refusals on. What it owns is this node's runtime: which runs and
//! splitters are alive here and their cancellation tokens. A claim and the registration of
//! its run happen under one lock (`claim_turn`) that a stop also takes, so a stop can never
//! fall between them and miss the run it must cancel.

mod archive;
mod checkpoint;
mod groups;
pub mod hooks;
mod leases;
mod metrics;
pub mod notify;
mod runner;
mod sources;
pub use sources::{check_url_list_file, UrlListProblem};
mod split;
pub mod sync;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tern_core::{
    BandwidthPolicy, ClaimedRun, FailureCode, FailureReason, Fence, GroupId, LeaseTerms,
    RegionTable, RunEnding, Task, TaskEvent, TaskId, TaskSecrets, TaskStatus, TaskStore,
};
use tern_engine::{MemoryBudget, Throttle};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::hooks::{Breakpoint, FailurePoint, TestHooks};
pub use crate::metrics::{OutcomeLabels, SchedulerMetrics};
use crate::notify::{Notifier, NotifyConfig};
use crate::runner::{RunEnd, TaskRun};
pub use crate::sync::{SyncConfig, SyncRunner};

/// Attempts at writing a run's end before the task is left migrating for the next start.
const FINISH_RUN_ATTEMPTS: u32 = 5;
/// First wait between those attempts; it doubles each time.
const FINISH_RUN_BACKOFF: Duration = Duration::from_millis(100);

/// Tasks run at once by default.
pub const DEFAULT_MAX_RUNNING_TASKS: usize = 2;
/// Outcomes per committed batch by default.
pub const DEFAULT_BATCH_OUTCOMES: usize = 500;
/// Longest time between commits by default.
pub const DEFAULT_BATCH_INTERVAL: Duration = Duration::from_secs(1);
/// Most objects per group task by default.
pub const DEFAULT_GROUP_TASK_MAX_OBJECTS: u64 = 100_000;

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How `cloud_type` + `region` become endpoints.
    pub regions: RegionTable,
    /// Tasks run at once.
    pub max_running_tasks: usize,
    /// Objects in flight per task.
    pub transfers_per_task: usize,
    /// Multipart part size.
    pub part_size: usize,
    /// The process's budget for copy buffers, shared by every task it runs.
    pub memory: Arc<MemoryBudget>,
    /// Copy server-side between buckets of one S3 endpoint (`MigrationOptions::server_side_copy`).
    pub server_side_copy: bool,
    /// Outcomes per committed batch.
    pub batch_outcomes: usize,
    /// Longest time between commits.
    pub batch_interval: Duration,
    /// Most objects one task of a group gets when the splitter cuts a prefix or list file.
    pub group_task_max_objects: u64,
    /// Where end-of-run notifications (`smn_config`) go.
    pub notify: NotifyConfig,
    /// Counters for `/metrics`; the server registers them in its registry.
    pub metrics: SchedulerMetrics,
    /// This node's id and lease length (RFC 0011); runs renew their leases every fifth of it.
    pub lease: LeaseTerms,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            regions: RegionTable::builtin(),
            max_running_tasks: DEFAULT_MAX_RUNNING_TASKS,
            transfers_per_task: tern_engine::run::DEFAULT_TRANSFERS,
            part_size: tern_engine::run::DEFAULT_PART_SIZE,
            memory: MemoryBudget::process_default(),
            server_side_copy: true,
            batch_outcomes: DEFAULT_BATCH_OUTCOMES,
            batch_interval: DEFAULT_BATCH_INTERVAL,
            group_task_max_objects: DEFAULT_GROUP_TASK_MAX_OBJECTS,
            notify: NotifyConfig::default(),
            metrics: SchedulerMetrics::default(),
            lease: LeaseTerms::new(leases::ephemeral_node_id()),
        }
    }
}

/// Errors the scheduler reports to its callers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A store or domain error.
    #[error(transparent)]
    Core(#[from] tern_core::Error),
}

/// Result with the scheduler error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

struct Running {
    cancel: CancellationToken,
    throttle: Arc<Throttle>,
    fence: Fence,
    /// Set when renewal found the task claimed elsewhere: the run ends without writing.
    lease_lost: Arc<AtomicBool>,
}

/// A splitter of this node: its cancellation and the split lease's fence.
struct Splitter {
    cancel: CancellationToken,
    fence: Fence,
}

/// Runs tasks from a [`TaskStore`].
pub struct Scheduler {
    store: Arc<dyn TaskStore>,
    config: Arc<SchedulerConfig>,
    root: CancellationToken,
    running: Mutex<HashMap<TaskId, Running>>,
    splitters: Mutex<HashMap<GroupId, Splitter>>,
    /// Held from a claim to its run's registration, and by a stop before it looks for the run.
    claim_turn: tokio::sync::Mutex<()>,
    wake: Notify,
    hooks: Option<Arc<TestHooks>>,
    notifier: Arc<Notifier>,
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Scheduler {
    /// A scheduler over `store`; call [`Scheduler::start`] to begin.
    pub fn new(store: Arc<dyn TaskStore>, config: SchedulerConfig) -> Arc<Self> {
        Self::build(store, config, None)
    }

    /// A scheduler whose runs stop at the test's breakpoints and fail at its failure points.
    pub fn for_test(
        store: Arc<dyn TaskStore>,
        config: SchedulerConfig,
        hooks: Arc<TestHooks>,
    ) -> Arc<Self> {
        Self::build(store, config, Some(hooks))
    }

    fn build(
        store: Arc<dyn TaskStore>,
        config: SchedulerConfig,
        hooks: Option<Arc<TestHooks>>,
    ) -> Arc<Self> {
        let notifier = Arc::new(Notifier::new(Arc::clone(&store), config.notify.clone()));
        Arc::new(Scheduler {
            store,
            notifier,
            config: Arc::new(config),
            root: CancellationToken::new(),
            running: Mutex::new(HashMap::new()),
            splitters: Mutex::new(HashMap::new()),
            claim_turn: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            hooks,
        })
    }

    /// Holds the caller at `point` while a test has it armed.
    pub(crate) async fn breakpoint(&self, point: Breakpoint) {
        if let Some(hooks) = &self.hooks {
            hooks.reached(point).await;
        }
    }

    fn injected_failure(&self, point: FailurePoint) -> bool {
        self.hooks
            .as_ref()
            .is_some_and(|hooks| hooks.should_fail(point))
    }

    /// The store the scheduler works on.
    pub fn store(&self) -> &Arc<dyn TaskStore> {
        &self.store
    }

    /// This node's id (logs and run records).
    pub fn node(&self) -> &tern_core::NodeId {
        &self.config.lease.node
    }

    /// Takes back the runs a previous process of this node left (their stops finished, their
    /// migrations resumed), then claims tasks and renews leases until shutdown.
    pub async fn start(self: &Arc<Self>) -> Result<tokio::task::JoinHandle<()>> {
        let node = &self.config.lease.node;
        for id in self.store.wind_down_pausing(Some(node), now_ms()).await? {
            tracing::info!(task_id = %id, node = %node, "finished a stop interrupted by a restart");
        }
        for claimed in self
            .store
            .resume_node_runs(&self.config.lease, now_ms())
            .await?
        {
            tracing::info!(task_id = %claimed.task.id, node = %node, checkpoint = ?claimed.task.checkpoint, "resuming a task after restart");
            self.spawn_run(claimed);
        }
        self.notifier.resume_pending().await;
        let renewer = Arc::clone(self);
        tokio::spawn(async move { renewer.renew_loop().await });
        let this = Arc::clone(self);
        Ok(tokio::spawn(async move { this.claim_loop().await }))
    }

    async fn claim_loop(self: Arc<Self>) {
        loop {
            if self.root.is_cancelled() {
                return;
            }
            while self.running_count() < self.config.max_running_tasks {
                let turn = self.claim_turn.lock().await;
                match self
                    .store
                    .claim_next_runnable(&self.config.lease, now_ms())
                    .await
                {
                    Ok(Some(claimed)) => {
                        self.breakpoint(Breakpoint::AfterClaim).await;
                        self.spawn_run(claimed);
                        drop(turn);
                    }
                    Ok(None) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "claiming a task failed");
                        break;
                    }
                }
            }
            self.tick_groups().await;
            tokio::select! {
                _ = self.root.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    fn running_count(&self) -> usize {
        self.lock_running().len()
    }

    fn lock_splitters(&self) -> std::sync::MutexGuard<'_, HashMap<GroupId, Splitter>> {
        self.splitters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<TaskId, Running>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn spawn_run(self: &Arc<Self>, claimed: ClaimedRun) {
        let ClaimedRun { task, fence } = claimed;
        let id = task.id;
        let node = self.config.lease.node.clone();
        let lease_lost = Arc::new(AtomicBool::new(false));
        let cancel = self.root.child_token();
        let throttle = Arc::new(
            Throttle::new(task.spec.bandwidth_policy.clone(), None)
                .counted(&self.config.metrics.engine),
        );
        self.lock_running().insert(
            id,
            Running {
                cancel: cancel.clone(),
                throttle: Arc::clone(&throttle),
                fence,
                lease_lost: Arc::clone(&lease_lost),
            },
        );
        let run = TaskRun {
            store: Arc::clone(&self.store),
            config: Arc::clone(&self.config),
            task,
            throttle,
            cancel,
            fence,
        };
        let this = Arc::clone(self);
        let hooks = self.hooks.clone();
        let span = tracing::info_span!("run", task_id = %id, node = %node, fence = %fence);
        let run_span = span.clone();
        let future = async move {
            let started = Instant::now();
            tracing::info!(task_id = %id, node = %node, fence = %fence, "task run starts");
            // A panic inside the run fails this task only.
            let run_future =
                tracing::Instrument::instrument(async move { run.run(hooks).await }, run_span);
            let end = match tokio::spawn(run_future).await {
                Ok(end) => end,
                Err(join_error) => {
                    tracing::error!(task_id = %id, error = %join_error, "task run panicked");
                    RunEnd::Fatal(FailureReason::new(
                        FailureCode::Internal,
                        "internal error; restart the task",
                    ))
                }
            };
            tracing::info!(task_id = %id, end = ?end, "task run ends");
            let ending = match end {
                RunEnd::Completed {
                    failed_object_record,
                } => Some(RunEnding::Completed {
                    failed_object_record,
                }),
                // Shutdown leaves the task migrating so the next start resumes it; a user's
                // stop ends in paused.
                // Another node owns the task now: its run writes the rest.
                _ if lease_lost.load(Ordering::SeqCst) => None,
                RunEnd::LeaseLost => None,
                RunEnd::Cancelled if this.root.is_cancelled() => None,
                RunEnd::Cancelled => Some(RunEnding::Stopped),
                RunEnd::Fatal(reason) => Some(RunEnding::Fatal(reason)),
            };
            if let Some(ending) = ending {
                let elapsed_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
                this.finish_run(id, fence, &ending, elapsed_ms).await;
            }
            this.lock_running().remove(&id);
            this.wake.notify_one();
        };
        tokio::spawn(tracing::Instrument::instrument(future, span));
    }

    /// Writes a run's end, retrying while the store is unavailable. A store error never reads
    /// as success: if every attempt fails, the task stays migrating and the next start resumes
    /// and ends it.
    async fn finish_run(&self, id: TaskId, fence: Fence, ending: &RunEnding, elapsed_ms: i64) {
        self.breakpoint(Breakpoint::BeforeFinishRun).await;
        let mut backoff = FINISH_RUN_BACKOFF;
        for attempt in 1..=FINISH_RUN_ATTEMPTS {
            let result = if self.injected_failure(FailurePoint::FinishRun) {
                Err(tern_core::Error::Unavailable("injected failure".into()))
            } else {
                self.store
                    .finish_run(id, Some(fence), ending, elapsed_ms, now_ms())
                    .await
            };
            match result {
                Ok(task) => {
                    tracing::info!(task_id = %id, status = task.status.code(), "task run recorded");
                    // After the commit, never inside it: delivery runs on its own task.
                    self.notifier.task_ended(&task, now_ms());
                    return;
                }
                Err(tern_core::Error::LeaseLost(what)) => {
                    tracing::warn!(task_id = %id, "{what} was claimed by another node; its run ends it");
                    return;
                }
                Err(err) if err.kind() == tern_core::ErrorKind::Unavailable => {
                    tracing::warn!(task_id = %id, attempt, error = %err, "ending the run failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Err(err) => {
                    tracing::error!(task_id = %id, error = %err, "the run's end was refused");
                    return;
                }
            }
        }
        tracing::error!(task_id = %id, "the run's end could not be written; the task stays migrating until the next start");
    }

    /// Refuses an `smn_config` whose `topic_urn` (or `message_template_name`) the config's
    /// `[[notifications]]` does not map, naming the field.
    pub fn check_smn_config(
        &self,
        topic_urn: &str,
        message_template_name: Option<&str>,
    ) -> Result<(), tern_core::Error> {
        self.notifier.check(topic_urn, message_template_name)
    }

    /// Wakes the claim loop (after a task was created or started).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops a task: 2 → 7 now, 7 → 3 once the run has committed what finished.
    pub async fn stop_task(&self, id: TaskId) -> Result<Task> {
        let task = self.store.transition(id, TaskEvent::Stop, now_ms()).await?;
        self.cancel_stopped_runs(&[task.id]).await;
        match task.status {
            TaskStatus::Pausing => Ok(self.store.get_task(id).await?.unwrap_or(task)),
            _ => Ok(task),
        }
    }

    /// Cancels the runs of tasks a stop moved to pausing. A pausing task that no run of this
    /// node holds (its run ended, or it was left by a restart) is wound down directly.
    pub(crate) async fn cancel_stopped_runs(&self, ids: &[TaskId]) {
        // Any claim in progress registers its run before we look.
        let _turn = self.claim_turn.lock().await;
        for &id in ids {
            let cancel = self
                .lock_running()
                .get(&id)
                .map(|running| running.cancel.clone());
            match cancel {
                Some(cancel) => cancel.cancel(),
                None => match self
                    .store
                    .transition(id, TaskEvent::Stopped, now_ms())
                    .await
                {
                    Ok(_) => {}
                    // Not pausing any more (it was waiting and went to paused at once).
                    Err(tern_core::Error::TaskRefused { .. }) => {}
                    // Another node runs it: that node sees the stop at its next renewal.
                    Err(tern_core::Error::InvalidState(reason)) => {
                        tracing::debug!(task_id = %id, %reason, "the stop goes to the node running the task")
                    }
                    Err(err) => {
                        tracing::warn!(task_id = %id, error = %err, "winding a stopped task down failed")
                    }
                },
            }
        }
    }

    /// Starts a paused or failed task again with fresh credentials.
    pub async fn start_task(
        &self,
        id: TaskId,
        secrets: &TaskSecrets,
        failed_only: bool,
    ) -> Result<Task> {
        let task = self
            .store
            .start_task(id, secrets, failed_only, now_ms())
            .await?;
        self.wake();
        Ok(task)
    }

    /// Replaces a task's bandwidth policy; a running task follows it from its next chunk.
    pub async fn update_bandwidth_policy(&self, id: TaskId, policy: BandwidthPolicy) -> Result<()> {
        self.store.update_bandwidth_policy(id, &policy).await?;
        self.retune_runs(&[id], &policy);
        Ok(())
    }

    /// `batch_update_tasks`: the store updates what core allows in one transaction; the runs
    /// of this node follow the new policy.
    pub async fn batch_update_tasks(
        &self,
        project_id: &str,
        target: &tern_core::BatchTarget,
        policy: BandwidthPolicy,
        priority: Option<tern_core::TaskPriority>,
    ) -> Result<()> {
        let changed = self
            .store
            .batch_update_tasks(project_id, target, &policy, priority)
            .await?;
        self.retune_runs(&changed, &policy);
        Ok(())
    }

    /// Gives the runs of `ids` that this node holds a new bandwidth policy.
    pub(crate) fn retune_runs(&self, ids: &[TaskId], policy: &BandwidthPolicy) {
        let running = self.lock_running();
        for id in ids {
            if let Some(run) = running.get(id) {
                run.throttle.set_policy(policy.clone());
            }
        }
    }

    /// The counters this scheduler keeps for `/metrics`.
    pub fn metrics(&self) -> &SchedulerMetrics {
        &self.config.metrics
    }

    /// Tells whether a task runs on this node now.
    pub fn is_running(&self, id: TaskId) -> bool {
        self.lock_running().contains_key(&id)
    }

    /// Shuts down: stops claiming, cancels runs (they commit what finished) and waits for them,
    /// at most `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        tracing::info!("scheduler shutdown: stop claiming and cancel runs");
        self.root.cancel();
        let deadline = Instant::now() + grace;
        while self.running_count() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!(
            still_running = self.running_count(),
            "scheduler shutdown complete"
        );
    }
}
