//! The SQLite backend: one database file `<data_dir>/tern.db` in WAL mode.
//!
//! Concurrency: readers use the pool freely (WAL lets them run beside a writer). Every write
//! runs in `BEGIN IMMEDIATE`, which takes SQLite's write lock up front, so a transaction that
//! reads a status and then updates it cannot lose a race (a deferred `BEGIN` would fail with
//! `SQLITE_BUSY` on upgrade instead of waiting). Writers of this process also queue on one
//! async mutex, so they wait in order rather than in SQLite's sleeping busy handler; other
//! processes on the same file (`tern admin …`) still wait through the busy timeout.

mod group_life;
mod group_tasks;
mod groups;
mod identity;
mod leases;
mod ledger;
mod notify;
mod part_journal;
mod read;
mod runs;
mod sync;
mod sync_queue;
mod tasks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tern_core::{
    BandwidthPolicy, BatchTarget, ClaimedRun, Counters, DeliveryState, Error, FailureReason, Fence,
    GroupChange, GroupEvent, GroupId, GroupSpec, GroupStatus, GroupTotals, LeaseCheck, LeaseTerms,
    LedgerEntry, NodeId, Notification, NotifySubject, OutcomeBatch, OutcomeKind, Result, RunEnding,
    RunRecord, Secret, SplitProgress, Task, TaskEvent, TaskFilter, TaskGroup, TaskId, TaskPriority,
    TaskSecrets, TaskSpec, TaskStatus, TaskStore,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::db_error;
use crate::seal::Sealer;

/// Name of the database file inside the data dir.
pub const DB_FILE: &str = "tern.db";
/// How long a statement waits for another process's write lock before `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Pool size: a few readers beside the one writer SQLite allows.
const MAX_CONNECTIONS: u32 = 4;

/// [`TaskStore`] on an embedded SQLite database.
#[derive(Debug)]
pub struct SqliteTaskStore {
    pool: SqlitePool,
    sealer: Sealer,
    write_lock: Mutex<()>,
}

/// A write transaction holding this process's write turn; rolls back when dropped uncommitted.
struct WriteTx<'a> {
    // Declared first so the transaction ends before the turn is handed on.
    tx: Transaction<'static, Sqlite>,
    _turn: MutexGuard<'a, ()>,
}

impl WriteTx<'_> {
    fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }

    async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db_error)
    }
}

impl SqliteTaskStore {
    /// Opens (creating if needed) `<data_dir>/tern.db` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Self> {
        let db_path = data_dir.join(DB_FILE);
        let private = |err: std::io::Error| {
            Error::Internal(format!("cannot make {} private: {err}", db_path.display()))
        };
        crate::perms::private_dir(data_dir).map_err(private)?;
        crate::perms::precreate_private_file(&db_path).map_err(private)?;
        crate::perms::tighten_database_files(&db_path).map_err(private)?;
        let options = SqliteConnectOptions::new().filename(&db_path);
        let store = Self::open_with(options, data_dir).await?;
        // The WAL side files exist only now; an existing database may have left them looser.
        crate::perms::tighten_database_files(&db_path).map_err(private)?;
        Ok(store)
    }

    /// Opens the database a `sqlite:` URL names; the seal key still lives in `data_dir`.
    pub async fn open_url(database_url: &str, data_dir: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(database_url)
            .map_err(|err| Error::invalid("database", err.to_string()))?;
        Self::open_with(options, data_dir).await
    }

    async fn open_with(options: SqliteConnectOptions, data_dir: &Path) -> Result<Self> {
        crate::perms::private_dir(data_dir).map_err(|err| {
            Error::Internal(format!("cannot create {}: {err}", data_dir.display()))
        })?;
        let sealer = Sealer::load(data_dir)?;
        crate::perms::tighten_file(&data_dir.join(crate::SEAL_KEY_FILE))
            .map_err(|err| Error::Internal(format!("cannot make the seal key private: {err}")))?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        crate::migrations::migrate_sqlite(&pool).await?;
        check_seal_key(&pool, &sealer).await?;
        Ok(SqliteTaskStore {
            pool,
            sealer,
            write_lock: Mutex::new(()),
        })
    }

    /// Closes the pool, checkpointing the WAL; later calls fail as unavailable.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Recounts a task's ledger with `GROUP BY` (what the stored counters must always equal).
    pub async fn ledger_counters(&self, id: TaskId) -> Result<Counters> {
        ledger::aggregate(&self.pool, id).await
    }

    /// Takes this process's write turn and opens a `BEGIN IMMEDIATE` transaction.
    async fn begin_write(&self) -> Result<WriteTx<'_>> {
        let turn = self.write_lock.lock().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        Ok(WriteTx { tx, _turn: turn })
    }
}

/// Stores the key check value at first open, then refuses a key that cannot open it.
async fn check_seal_key(pool: &SqlitePool, sealer: &Sealer) -> Result<()> {
    sqlx::query("INSERT INTO seal_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
        .bind(sealer.seal_check_value()?)
        .execute(pool)
        .await
        .map_err(db_error)?;
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed FROM seal_check WHERE id = 1")
        .fetch_one(pool)
        .await
        .map_err(db_error)?;
    sealer.verify_check_value(&sealed)
}

/// The missing-task error.
fn not_found(id: TaskId) -> Error {
    Error::TaskNotFound(id)
}

#[async_trait]
impl TaskStore for SqliteTaskStore {
    async fn put_token(&self, project_id: &str, token_sha256: &str) -> Result<()> {
        self.store_token(project_id, token_sha256).await
    }

    async fn project_for_token(&self, token_sha256: &str) -> Result<Option<String>> {
        self.token_project(token_sha256).await
    }

    async fn put_credential(
        &self,
        project_id: &str,
        access_key: &str,
        secret_key: &Secret,
    ) -> Result<()> {
        self.store_credential(project_id, access_key, secret_key)
            .await
    }

    async fn credential(&self, access_key: &str) -> Result<Option<(String, Secret)>> {
        self.unseal_credential(access_key).await
    }

    async fn record_privacy_agreement(&self, project_id: &str, now_ms: i64) -> Result<()> {
        self.store_privacy_agreement(project_id, now_ms).await
    }

    async fn privacy_agreement(&self, project_id: &str) -> Result<Option<i64>> {
        self.read_privacy_agreement(project_id).await
    }

    async fn create_task(
        &self,
        project_id: &str,
        spec: &TaskSpec,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<Task> {
        self.create(project_id, spec, secrets, now_ms).await
    }

    async fn get_task(&self, id: TaskId) -> Result<Option<Task>> {
        read::fetch_task(&self.pool, id).await
    }

    async fn list_tasks(
        &self,
        project_id: &str,
        filter: &TaskFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Task>, u64)> {
        self.list(project_id, filter, offset, limit).await
    }

    async fn delete_task(&self, id: TaskId) -> Result<()> {
        self.delete(id).await
    }

    async fn transition(&self, id: TaskId, event: TaskEvent, now_ms: i64) -> Result<Task> {
        self.apply_transition(id, event, now_ms).await
    }

    async fn start_task(
        &self,
        id: TaskId,
        secrets: &TaskSecrets,
        failed_only: bool,
        now_ms: i64,
    ) -> Result<Task> {
        self.start(id, secrets, failed_only, now_ms).await
    }

    async fn secrets(&self, id: TaskId) -> Result<Option<TaskSecrets>> {
        self.unseal_secrets(id).await
    }

    async fn finish_run(
        &self,
        id: TaskId,
        fence: Option<Fence>,
        ending: &RunEnding,
        elapsed_ms: i64,
        now_ms: i64,
    ) -> Result<Task> {
        self.end_run(id, fence, ending, elapsed_ms, now_ms).await
    }

    async fn update_bandwidth_policy(&self, id: TaskId, policy: &BandwidthPolicy) -> Result<Task> {
        self.replace_task_policy(id, policy).await
    }

    async fn batch_update_tasks(
        &self,
        project_id: &str,
        target: &BatchTarget,
        policy: &BandwidthPolicy,
        priority: Option<TaskPriority>,
    ) -> Result<Vec<TaskId>> {
        self.update_batch(project_id, target, policy, priority)
            .await
    }

    async fn claim_next_runnable(
        &self,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<Option<ClaimedRun>> {
        self.claim(terms, now_ms).await
    }

    async fn resume_node_runs(&self, terms: &LeaseTerms, now_ms: i64) -> Result<Vec<ClaimedRun>> {
        self.resume_own(terms, now_ms).await
    }

    async fn renew_lease(
        &self,
        id: TaskId,
        fence: Fence,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<LeaseCheck> {
        self.renew(id, fence, terms, now_ms).await
    }

    async fn wind_down_pausing(
        &self,
        own_node: Option<&NodeId>,
        now_ms: i64,
    ) -> Result<Vec<TaskId>> {
        self.wind_down(own_node, now_ms).await
    }

    async fn task_runs(&self, id: TaskId) -> Result<Vec<RunRecord>> {
        self.runs_of(id).await
    }

    async fn tasks_in_status(&self, statuses: &[TaskStatus]) -> Result<Vec<Task>> {
        self.in_status(statuses).await
    }

    async fn count_tasks_by_status(&self) -> Result<Vec<(TaskStatus, u64)>> {
        self.count_by_status().await
    }

    async fn record_batch(&self, id: TaskId, batch: &OutcomeBatch) -> Result<()> {
        self.record(id, batch).await
    }

    async fn ledger_entry(&self, id: TaskId, key: &str) -> Result<Option<LedgerEntry>> {
        ledger::entry(&self.pool, id, key).await
    }

    async fn ledger_page(
        &self,
        id: TaskId,
        kind: OutcomeKind,
        after_key: Option<&str>,
        limit: u64,
    ) -> Result<Vec<LedgerEntry>> {
        ledger::page(&self.pool, id, kind, after_key, limit).await
    }

    async fn create_group(
        &self,
        project_id: &str,
        spec: &GroupSpec,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<TaskGroup> {
        self.insert_group(project_id, spec, secrets, now_ms).await
    }

    async fn get_group(&self, id: &GroupId) -> Result<Option<TaskGroup>> {
        read::fetch_group(&self.pool, id).await
    }

    async fn list_groups(
        &self,
        project_id: &str,
        status: Option<GroupStatus>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<TaskGroup>, u64)> {
        self.group_page(project_id, status, offset, limit).await
    }

    async fn groups_in_status(&self, statuses: &[GroupStatus]) -> Result<Vec<TaskGroup>> {
        self.groups_in(statuses).await
    }

    async fn group_transition(
        &self,
        id: &GroupId,
        event: GroupEvent,
        now_ms: i64,
    ) -> Result<TaskGroup> {
        self.apply_group_event(id, event, now_ms).await
    }

    async fn group_secrets(&self, id: &GroupId) -> Result<Option<TaskSecrets>> {
        self.unseal_group_secrets(id).await
    }

    async fn create_group_task(
        &self,
        id: &GroupId,
        spec: &TaskSpec,
        secrets: &TaskSecrets,
        split: &SplitProgress,
        now_ms: i64,
    ) -> Result<Task> {
        self.add_group_task(id, spec, secrets, split, now_ms).await
    }

    async fn claim_group_split(
        &self,
        id: &GroupId,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<Option<Fence>> {
        self.claim_split(id, terms, now_ms).await
    }

    async fn renew_group_split(
        &self,
        id: &GroupId,
        fence: Fence,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<bool> {
        self.renew_split(id, fence, terms, now_ms).await
    }

    async fn update_group_split(&self, id: &GroupId, split: &SplitProgress) -> Result<()> {
        self.save_group_split(id, split).await
    }

    async fn finish_group_split(&self, id: &GroupId, split: &SplitProgress) -> Result<TaskGroup> {
        self.end_group_split(id, split).await
    }

    async fn fail_group_creation(&self, id: &GroupId, reason: &FailureReason) -> Result<TaskGroup> {
        self.fail_group_split(id, reason).await
    }

    async fn group_totals(&self, id: &GroupId) -> Result<GroupTotals> {
        self.sum_group_tasks(id).await
    }

    async fn settle_group(
        &self,
        id: &GroupId,
        splitting: bool,
        now_ms: i64,
    ) -> Result<Option<TaskGroup>> {
        self.settle(id, splitting, now_ms).await
    }

    async fn stop_group(&self, id: &GroupId, now_ms: i64) -> Result<GroupChange> {
        self.stop_group_and_tasks(id, now_ms).await
    }

    async fn start_group(
        &self,
        id: &GroupId,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<GroupChange> {
        self.start_group_and_tasks(id, secrets, now_ms).await
    }

    async fn retry_group(
        &self,
        id: &GroupId,
        secrets: Option<&TaskSecrets>,
        failed_only: bool,
        now_ms: i64,
    ) -> Result<GroupChange> {
        self.retry_group_and_tasks(id, secrets, failed_only, now_ms)
            .await
    }

    async fn update_group_bandwidth_policy(
        &self,
        id: &GroupId,
        policy: &BandwidthPolicy,
    ) -> Result<GroupChange> {
        self.set_group_policy(id, policy).await
    }

    async fn delete_group(&self, id: &GroupId) -> Result<()> {
        self.remove_group(id).await
    }

    async fn put_notification(&self, notification: &Notification) -> Result<()> {
        self.upsert_notification(notification).await
    }

    async fn record_notification_outcome(
        &self,
        subject: &NotifySubject,
        ended_at_ms: i64,
        state: DeliveryState,
        error_message: &str,
        attempts: u32,
    ) -> Result<()> {
        self.update_notification_outcome(subject, ended_at_ms, state, error_message, attempts)
            .await
    }

    async fn notification(&self, subject: &NotifySubject) -> Result<Option<Notification>> {
        self.read_notification(subject).await
    }

    async fn pending_notifications(&self) -> Result<Vec<Notification>> {
        self.read_pending_notifications().await
    }
}

/// Associated data binding sealed task secrets to their task.
fn task_secrets_context(id: TaskId) -> String {
    format!("task-secrets:{id}")
}
