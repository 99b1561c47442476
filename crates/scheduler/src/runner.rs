//! Runs one claimed task: builds the migration from the stored spec and secrets, persists
//! outcomes in batches, writes the object lists, and ends the task in the right status.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{self, StreamExt, TryStreamExt};
use tern_core::{
    continues_earlier_claim, FailedObjectRecord, FailureCode, FailureReason, Fence, NodeSpec,
    OutcomeBatch, OutcomeKind, RegionTable, StoragePlan, Task, TaskId, TaskSecrets, TaskStore,
    TaskType,
};
use tern_engine::objectlist::{failed_row, plain_row, write_lines};
use tern_engine::{
    Event, KeySource, Location, Migration, MigrationOptions, PartCheckpoints, Selection, Storage,
    Throttle, Tuning,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::archive::SourceArchive;
use crate::checkpoint::CheckpointTracker;
use crate::hooks::{Breakpoint, TestHooks};
use crate::{now_ms, SchedulerConfig};

/// Ledger rows read per page when a run streams them (object lists, failed-only retries).
const LEDGER_PAGE: u64 = 1000;

/// How a run ended, as far as the scheduler is concerned.
#[derive(Debug)]
pub(crate) enum RunEnd {
    /// Every listed object has an outcome.
    Completed {
        /// Where the failed-object list went, when one was written.
        failed_object_record: Option<FailedObjectRecord>,
    },
    /// The task's token was cancelled (stop or shutdown).
    Cancelled,
    /// A run-fatal error (bad endpoint, unreadable listing, store failure).
    Fatal(FailureReason),
    /// Another node claimed the task (this node's lease expired): nothing more may be written.
    LeaseLost,
}

/// Everything one run needs.
pub(crate) struct TaskRun {
    pub store: Arc<dyn TaskStore>,
    pub config: Arc<SchedulerConfig>,
    pub task: Task,
    pub throttle: Arc<Throttle>,
    pub cancel: CancellationToken,
    /// The claim's fence, carried by every commit of this run.
    pub fence: Fence,
}

impl TaskRun {
    /// Runs the task to an end and reports how it ended.
    pub async fn run(&self, hooks: Option<Arc<TestHooks>>) -> RunEnd {
        let secrets = match self.store.secrets(self.task.id).await {
            Ok(Some(secrets)) => secrets,
            Ok(None) => {
                return RunEnd::Fatal(FailureReason::new(
                    FailureCode::Internal,
                    "the task has no credentials; start it again with credentials",
                ))
            }
            Err(err) => {
                return RunEnd::Fatal(FailureReason::new(
                    FailureCode::Internal,
                    format!("cannot read the task's credentials: {err}"),
                ))
            }
        };
        let continues = match self.store.task_runs(self.task.id).await {
            Ok(runs) => continues_earlier_claim(&runs, self.fence, self.task.start_time_ms),
            Err(err) => {
                return RunEnd::Fatal(FailureReason::new(
                    FailureCode::Internal,
                    format!("cannot read the task's runs: {err}"),
                ))
            }
        };
        let migration = match self.build_migration(&secrets, continues).await {
            Ok(migration) => migration,
            Err(reason) => return RunEnd::Fatal(reason),
        };
        let end = self.drive(&migration, hooks.as_deref()).await;
        if let RunEnd::Completed { .. } = end {
            if let Some(hooks) = &hooks {
                hooks.reached(Breakpoint::BeforeObjectLists).await;
            }
            return match self.write_object_lists(&migration.destination).await {
                Ok(failed_object_record) => RunEnd::Completed {
                    failed_object_record,
                },
                // The lists are a report; their failure must not hide the objects' outcomes.
                Err(err) => {
                    tracing::warn!(task_id = %self.task.id, error = %err, "writing object lists failed");
                    RunEnd::Completed {
                        failed_object_record: None,
                    }
                }
            };
        }
        end
    }

    /// `continues` tells whether this run continues an earlier claim of the same start.
    async fn build_migration(
        &self,
        secrets: &TaskSecrets,
        continues: bool,
    ) -> Result<Migration, FailureReason> {
        let spec = &self.task.spec;
        let regions: &RegionTable = &self.config.regions;
        let invalid = |err: tern_engine::Error| {
            FailureReason::new(FailureCode::SourceNotFound, err.to_string())
        };
        let source_node = NodeSpec {
            cloud_type: spec.src.cloud_type,
            region: spec.src.region.clone(),
            bucket: spec.src.bucket.clone(),
            credentials: secrets.src.clone(),
            app_id: spec.src.app_id.clone(),
        };
        let destination_node = NodeSpec {
            cloud_type: spec.dst.cloud_type,
            region: spec.dst.region.clone(),
            bucket: spec.dst.bucket.clone(),
            credentials: secrets.dst.clone(),
            app_id: None,
        };
        let source_tuning = Tuning {
            storage_class: None,
            request_payer: spec.enable_requester_pays,
        };
        let engine_metrics = &self.config.metrics.engine;
        // A URL list names no source bucket or region: its objects come by URL.
        let source_location = if spec.task_type == TaskType::UrlList {
            None
        } else {
            Some(Location::from_node(&source_node, regions).map_err(invalid)?)
        };
        let source = match &source_location {
            None => tern_engine::urllist::url_list_source().map_err(invalid)?,
            Some(location) => Storage::open_source_tuned(location, &source_tuning, engine_metrics)
                .map_err(invalid)?,
        };
        let http = crate::sources::http_source(spec, secrets)
            .map_err(|err| FailureReason::new(FailureCode::SourceNotFound, err.to_string()))?;
        let destination_location =
            Location::from_node(&destination_node, regions).map_err(invalid)?;
        // Checked at create; a task stored before that check is refused here, not run without it.
        let plan = tern_core::destination_storage_plan(
            &spec.dst_storage_policy,
            source_location.as_ref().map(|l| l.protocol),
            destination_location.protocol,
        )
        .map_err(|err| invalid(tern_engine::Error::Core(err)))?;
        let storage_class = match plan {
            StoragePlan::Fixed(class) => class,
            StoragePlan::FromSource => None,
        };
        let destination_tuning = Tuning {
            storage_class: storage_class.map(str::to_owned),
            request_payer: false,
        };
        let destination =
            Storage::open_tuned(&destination_location, &destination_tuning, engine_metrics)
                .map_err(invalid)?;
        let archive = SourceArchive {
            location: source_location.as_ref(),
            request_payer: spec.enable_requester_pays,
            enable_restore: spec.enable_restore,
            plan,
        };
        let (restore, class_mapping) = archive
            .open(&destination_location, engine_metrics)
            .map_err(invalid)?;

        let selection = if self.task.failed_only && spec.task_type == TaskType::UrlList {
            // A URL list's failed objects are found again by their lines.
            self.url_list_selection(secrets)?
        } else if self.task.failed_only {
            // Streamed from the ledger page by page: a retry of a million failed objects
            // holds one page, not a million keys.
            let store = Arc::clone(&self.store);
            let id = self.task.id;
            Selection::Keys(KeySource::new(move || {
                ledger_rows(Arc::clone(&store), id, OutcomeKind::Failed)
                    .map_ok(|entry| entry.key)
                    .boxed()
            }))
        } else {
            match spec.task_type {
                TaskType::Object => Selection::Objects(spec.src.object_keys.clone()),
                TaskType::Prefix => Selection::Prefixes(spec.src.object_keys.clone()),
                TaskType::List => {
                    let list_file = spec.src.list_file.clone().ok_or_else(|| {
                        FailureReason::new(
                            FailureCode::ListFileUnreadable,
                            "the list task has no list_file",
                        )
                    })?;
                    // OMS keeps list files in a bucket of the destination's region and account.
                    let node = NodeSpec {
                        cloud_type: spec.dst.cloud_type,
                        region: spec.dst.region.clone(),
                        bucket: list_file.bucket.clone(),
                        credentials: secrets.dst.clone(),
                        app_id: None,
                    };
                    let storage = Location::from_node(&node, regions)
                        .and_then(|l| Storage::open_counted(&l, &self.config.metrics.engine))
                        .map_err(invalid)?;
                    Selection::ListFile {
                        storage,
                        path: list_file.key,
                        lines: spec.src.list_lines,
                    }
                }
                TaskType::UrlList => self.url_list_selection(secrets)?,
            }
        };

        let mut migration = Migration::new(source, destination, selection);
        migration.dst_prefix = spec.dst.save_prefix.clone();
        migration.options = MigrationOptions {
            overwrite: spec.object_overwrite_mode,
            check: spec.consistency_check,
            since_ms: spec.migrate_since_s.map(|s| s.saturating_mul(1000)),
            metadata: spec.enable_metadata_migration,
            transfers: self.config.transfers_per_task,
            part_size: self.config.part_size,
            memory: Arc::clone(&self.config.memory),
            server_side_copy: self.config.server_side_copy,
            // Only a run that continues an earlier attempt (a resume after a crash or a
            // takeover) can find its own lost copies at the destination. The attempt may have
            // died before committing anything, so its claim record is what tells.
            run_started_ms: self
                .task
                .start_time_ms
                .filter(|_| self.task.listed_num > 0 || continues),
            ..MigrationOptions::default()
        };
        migration.throttle = Arc::clone(&self.throttle);
        migration.http = http;
        migration.restore = restore;
        migration.class_mapping = class_mapping;
        // Large objects into an S3 destination checkpoint their parts in the store, so a crash
        // or stop costs the parts in flight, not the object (RFC 0012).
        let journal: Arc<dyn tern_core::PartJournal> = Arc::clone(&self.store) as _;
        migration.part_checkpoints = Some(PartCheckpoints {
            journal,
            task: self.task.id,
        });
        if !self.task.failed_only && spec.task_type == TaskType::Prefix {
            // A group's slice starts after its range start; a resumed run after its checkpoint,
            // which always lies further on.
            let range = spec.src.key_range.clone().unwrap_or_default();
            migration.start_after = match (range.start_after, self.task.checkpoint.clone()) {
                (Some(start), Some(checkpoint)) => Some(start.max(checkpoint)),
                (start, checkpoint) => start.or(checkpoint),
            };
            migration.end_at = range.end;
        }
        Ok(migration)
    }

    /// The URL-list file of a `url_list` task, in the destination's region and account.
    fn url_list_selection(&self, secrets: &TaskSecrets) -> Result<Selection, FailureReason> {
        let spec = &self.task.spec;
        let list_file = spec.src.list_file.clone().ok_or_else(|| {
            FailureReason::new(
                FailureCode::ListFileUnreadable,
                "the url_list task has no list_file",
            )
        })?;
        let node = NodeSpec {
            cloud_type: spec.dst.cloud_type,
            region: spec.dst.region.clone(),
            bucket: list_file.bucket.clone(),
            credentials: secrets.dst.clone(),
            app_id: None,
        };
        let storage = Location::from_node(&node, &self.config.regions)
            .and_then(|l| Storage::open(&l))
            .map_err(|err| FailureReason::new(FailureCode::ListFileUnreadable, err.to_string()))?;
        Ok(Selection::UrlList {
            storage,
            path: list_file.key,
            lines: spec.src.list_lines,
        })
    }

    /// An empty batch fenced with this run's claim.
    fn new_batch(&self) -> OutcomeBatch {
        OutcomeBatch {
            fence: Some(self.fence),
            ..OutcomeBatch::default()
        }
    }

    /// Runs the engine and commits its events in batches.
    async fn drive(&self, migration: &Migration, hooks: Option<&TestHooks>) -> RunEnd {
        let (sender, mut events) = mpsc::channel::<Event>(4096);
        let ordered = matches!(migration.selection, Selection::Prefixes(_));
        let engine_cancel = self.cancel.child_token();
        let engine = {
            let migration = migration.clone();
            let cancel = engine_cancel.clone();
            tokio::spawn(async move { migration.run(sender, cancel).await })
        };

        let mut tracker = CheckpointTracker::default();
        let mut batch = self.new_batch();
        let mut last_flush = Instant::now();
        let mut last_bytes = 0u64;
        let mut listed_size_total = 0u64;
        let mut done_size_total = 0u64;
        let mut committed_copies = false;
        loop {
            let event = tokio::time::timeout(self.config.batch_interval, events.recv()).await;
            match event {
                Ok(Some(Event::Listed { key, size })) => {
                    batch.listed_num += 1;
                    batch.listed_size += size;
                    listed_size_total += size;
                    if ordered {
                        tracker.listed(key);
                    }
                }
                Ok(Some(Event::Finished(outcome))) => {
                    done_size_total += outcome.size;
                    if ordered {
                        tracker.finished(outcome.key.clone());
                    }
                    batch.outcomes.push(outcome);
                }
                // The engine logs the restore with the key; the object's outcome follows.
                Ok(Some(Event::Planned { .. } | Event::Restoring { .. })) => {}
                Ok(None) => break,
                Err(_elapsed) => {}
            }
            if batch.outcomes.len() >= self.config.batch_outcomes
                || last_flush.elapsed() >= self.config.batch_interval
            {
                let elapsed = last_flush.elapsed().as_secs_f64().max(0.001);
                let bytes = migration.progress_bytes.load(Ordering::Relaxed);
                batch.migrate_speed = ((bytes - last_bytes) as f64 / elapsed) as i64;
                batch.left_time_ms = if batch.migrate_speed > 0 {
                    (listed_size_total.saturating_sub(done_size_total) as f64
                        / batch.migrate_speed as f64
                        * 1000.0) as i64
                } else {
                    0
                };
                last_bytes = bytes;
                batch.checkpoint = tracker.take_checkpoint();
                hold_first_commit(hooks, &batch, &mut committed_copies).await;
                if let Err(err) = self.store.record_batch(self.task.id, &batch).await {
                    tracing::error!(task_id = %self.task.id, error = %err, "committing outcomes failed; stopping the run");
                    engine_cancel.cancel();
                    // The engine's own result no longer matters: the store failure ends the run.
                    if let Err(join_error) = engine.await {
                        tracing::error!(task_id = %self.task.id, error = %join_error, "the engine panicked");
                    }
                    if matches!(err, tern_core::Error::LeaseLost(_)) {
                        return RunEnd::LeaseLost;
                    }
                    return RunEnd::Fatal(FailureReason::new(
                        FailureCode::Internal,
                        "the task store failed while saving progress",
                    ));
                }
                self.config.metrics.record_committed(&batch.outcomes);
                batch = self.new_batch();
                last_flush = Instant::now();
            }
        }
        let result = engine.await;
        batch.checkpoint = tracker.take_checkpoint();
        let finished_cleanly = matches!(result, Ok(Ok(_)));
        batch.is_query_over = finished_cleanly;
        batch.migrate_speed = 0;
        batch.left_time_ms = 0;
        hold_first_commit(hooks, &batch, &mut committed_copies).await;
        if let Err(err) = self.store.record_batch(self.task.id, &batch).await {
            tracing::error!(task_id = %self.task.id, error = %err, "committing the last outcomes failed");
            if matches!(err, tern_core::Error::LeaseLost(_)) {
                return RunEnd::LeaseLost;
            }
            return RunEnd::Fatal(FailureReason::new(
                FailureCode::Internal,
                "the task store failed while saving progress",
            ));
        }
        self.config.metrics.record_committed(&batch.outcomes);
        match result {
            Ok(Ok(_summary)) => RunEnd::Completed {
                failed_object_record: None,
            },
            Ok(Err(tern_engine::Error::Cancelled)) => RunEnd::Cancelled,
            Ok(Err(err)) => RunEnd::Fatal(FailureReason::new(err.failure_code(), err.to_string())),
            Err(join_error) => {
                tracing::error!(task_id = %self.task.id, error = %join_error, "the engine panicked");
                RunEnd::Fatal(FailureReason::new(
                    FailureCode::Internal,
                    "internal error; restart the task",
                ))
            }
        }
    }

    /// Writes the failed, succeeded and skipped lists into the destination bucket (OMS §1.2),
    /// and says where the failed list went (recorded with the run's end).
    async fn write_object_lists(
        &self,
        destination: &Storage,
    ) -> Result<Option<FailedObjectRecord>, String> {
        let id = self.task.id;
        let task = self
            .store
            .get_task(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("task vanished")?;
        let mut record = None;
        if task.spec.enable_failed_object_recording && task.counters.failed_num > 0 {
            let key = object_list_key(id, "failed");
            let now = now_ms();
            let rows = ledger_rows(Arc::clone(&self.store), id, OutcomeKind::Failed)
                .map(move |entry| entry.map(|e| failed_row(&e.detail, now, &e.key, &e.message)));
            record = Some(match write_lines(destination, &key, rows).await {
                Ok(_) => FailedObjectRecord {
                    result: true,
                    list_file_key: key,
                    error_code: String::new(),
                },
                Err(err) => FailedObjectRecord {
                    result: false,
                    list_file_key: String::new(),
                    error_code: err.failure_code().as_str().to_owned(),
                },
            });
        }
        for (kind, name) in [
            (OutcomeKind::Succeeded, "success"),
            (OutcomeKind::Skipped, "skip"),
        ] {
            let key = object_list_key(id, name);
            let rows = ledger_rows(Arc::clone(&self.store), id, kind)
                .map(|entry| entry.map(|e| plain_row(&e.key, e.size, &e.detail)));
            if let Err(err) = write_lines(destination, &key, rows).await {
                tracing::warn!(task_id = %id, list = name, error = %err, "object list not written");
            }
        }
        Ok(record)
    }
}

/// Where a task's `failed`, `success` or `skip` list goes in the destination bucket.
pub(crate) fn object_list_key(id: TaskId, name: &str) -> String {
    format!("oms/{name}_object_lists/{id}/{name}-objects-list.txt")
}

/// Rows of one task's ledger of one kind, streamed page by page in key order.
fn ledger_rows(
    store: Arc<dyn TaskStore>,
    id: TaskId,
    kind: OutcomeKind,
) -> impl futures::Stream<Item = tern_engine::Result<tern_core::LedgerEntry>> + Send + 'static {
    stream::try_unfold(
        (store, None::<String>, false),
        move |(store, after, ended)| async move {
            if ended {
                return Ok(None);
            }
            let page = store
                .ledger_page(id, kind, after.as_deref(), LEDGER_PAGE)
                .await
                .map_err(tern_engine::Error::Core)?;
            let next_after = page.last().map(|e| e.key.clone());
            let ended = (page.len() as u64) < LEDGER_PAGE;
            Ok(Some((
                stream::iter(page.into_iter().map(Ok)),
                (store, next_after, ended),
            )))
        },
    )
    .map(|page: tern_engine::Result<_>| match page {
        Ok(rows) => rows.boxed(),
        Err(err) => stream::once(async move { Err(err) }).boxed(),
    })
    .flatten()
}

/// Holds a test's run before it commits its first copied objects (`Breakpoint::BeforeFirstCommit`).
async fn hold_first_commit(hooks: Option<&TestHooks>, batch: &OutcomeBatch, committed: &mut bool) {
    if *committed || batch.outcomes.is_empty() {
        return;
    }
    *committed = true;
    if let Some(hooks) = hooks {
        hooks.reached(Breakpoint::BeforeFirstCommit).await;
    }
}
