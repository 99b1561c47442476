//! The PostgreSQL backend: several tern nodes share one database (DESIGN.md), each with the
//! same seal key (`TERN_SEAL_KEY`).
//!
//! Concurrency: transactions run at READ COMMITTED. Every status change locks the row it reads
//! (`SELECT … FOR UPDATE`), asks core for the next status and writes it with `WHERE status =
//! <the one read>`, so racers queue on the row and the loser reads the winner's status (and
//! gets core's refusal) instead of overwriting it. Operations that move a group and its tasks
//! lock the group first, then its tasks in `seq` order, so two of them cannot deadlock.
//! Claiming skips rows another node has locked (`FOR UPDATE SKIP LOCKED`) rather than
//! waiting for them. docs/rfcs/0009-postgres.md has the reasoning and the lease plan.

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
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tern_core::{
    BandwidthPolicy, BatchTarget, ClaimedRun, Counters, DeliveryState, Error, FailureReason, Fence,
    GroupChange, GroupEvent, GroupId, GroupSpec, GroupStatus, GroupTotals, LeaseCheck, LeaseTerms,
    LedgerEntry, NodeId, Notification, NotifySubject, OutcomeBatch, OutcomeKind, Result, RunEnding,
    RunRecord, Secret, SplitProgress, Task, TaskEvent, TaskFilter, TaskGroup, TaskId, TaskPriority,
    TaskSecrets, TaskSpec, TaskStatus, TaskStore,
};

use crate::error::db_error;
use crate::seal::Sealer;

/// Pool size per node: the scheduler's runs, the API's requests and the notifier share it.
const MAX_CONNECTIONS: u32 = 8;
/// How long a caller waits for a pooled connection before the store reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// [`TaskStore`] on a PostgreSQL database shared by several nodes.
#[derive(Debug)]
pub struct PgTaskStore {
    pool: PgPool,
    sealer: Sealer,
}

/// A transaction; rolls back when dropped uncommitted.
struct WriteTx {
    tx: Transaction<'static, Postgres>,
}

impl WriteTx {
    fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db_error)
    }
}

impl PgTaskStore {
    /// Connects to the database a `postgres://` URL names, brings its schema up to date and
    /// checks the seal key (`TERN_SEAL_KEY`, else `<data_dir>/seal.key`) against it.
    pub async fn connect(database_url: &str, data_dir: &Path) -> Result<Self> {
        // sqlx's parse errors name the bad part, never the whole URL (it may hold a password).
        let options = PgConnectOptions::from_str(database_url).map_err(|err| {
            Error::invalid("database", format!("not a valid postgres:// URL: {err}"))
        })?;
        crate::perms::private_dir(data_dir).map_err(|err| {
            Error::Internal(format!("cannot create {}: {err}", data_dir.display()))
        })?;
        let sealer = Sealer::load(data_dir)?;
        crate::perms::tighten_file(&data_dir.join(crate::SEAL_KEY_FILE))
            .map_err(|err| Error::Internal(format!("cannot make the seal key private: {err}")))?;
        let address = format!("{}:{}", options.get_host(), options.get_port());
        // sqlx retries a refused connection until the acquire timeout, so a node started with
        // its database waits for it; past that, say where it looked.
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|err| match err {
                sqlx::Error::PoolTimedOut => Error::Unavailable(format!(
                    "cannot connect to PostgreSQL at {address} within {ACQUIRE_TIMEOUT:?}"
                )),
                other => db_error(other),
            })?;
        crate::migrations::migrate_postgres(&pool).await?;
        check_seal_key(&pool, &sealer).await?;
        Ok(PgTaskStore { pool, sealer })
    }

    /// Closes the pool; later calls fail as unavailable.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Recounts a task's ledger with `GROUP BY` (what the stored counters must always equal).
    pub async fn ledger_counters(&self, id: TaskId) -> Result<Counters> {
        ledger::aggregate(&self.pool, id).await
    }

    /// Opens a transaction (READ COMMITTED; callers lock the rows they decide on).
    async fn begin_write(&self) -> Result<WriteTx> {
        let tx = self.pool.begin().await.map_err(db_error)?;
        Ok(WriteTx { tx })
    }
}

/// Stores the key check value at first open, then refuses a key that cannot open it. Two nodes
/// opening a fresh database together both insert; the loser's insert does nothing and it
/// checks the winner's value like any later node.
async fn check_seal_key(pool: &PgPool, sealer: &Sealer) -> Result<()> {
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
impl TaskStore for PgTaskStore {
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
