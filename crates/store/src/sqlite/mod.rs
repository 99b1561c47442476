//! The SQLite backend: one database file `<data_dir>/tern.db` in WAL mode.
//!
//! Concurrency: readers use the pool freely (WAL lets them run beside a writer). Every write
//! runs in `BEGIN IMMEDIATE`, which takes SQLite's write lock up front, so a transaction that
//! reads a status and then updates it cannot lose a race (a deferred `BEGIN` would fail with
//! `SQLITE_BUSY` on upgrade instead of waiting). Writers of this process also queue on one
//! async mutex, so they wait in order rather than in SQLite's sleeping busy handler; other
//! processes on the same file (`tern admin …`) still wait through the busy timeout.

mod ledger;
mod tasks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool, Transaction};
use tern_core::{
    BandwidthPolicy, Counters, Error, FailedObjectRecord, LedgerEntry, OutcomeBatch, OutcomeKind,
    Result, Secret, Task, TaskEvent, TaskFilter, TaskId, TaskPriority, TaskSecrets, TaskSpec,
    TaskStatus, TaskStore,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::db_error;
use crate::rows::TaskRow;
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
        let options = SqliteConnectOptions::new().filename(data_dir.join(DB_FILE));
        Self::open_with(options, data_dir).await
    }

    /// Opens the database a `sqlite:` URL names; the seal key still lives in `data_dir`.
    pub async fn open_url(database_url: &str, data_dir: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(database_url)
            .map_err(|err| Error::invalid("database", err.to_string()))?;
        Self::open_with(options, data_dir).await
    }

    async fn open_with(options: SqliteConnectOptions, data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|err| {
            Error::Internal(format!("cannot create {}: {err}", data_dir.display()))
        })?;
        let sealer = Sealer::load(data_dir)?;
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

    /// Runs one `UPDATE tasks … WHERE id = $last` and reports a missing task.
    async fn update_one(&self, id: TaskId, query: SqliteQuery<'_>) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = query.execute(tx.conn()).await.map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(not_found(id));
        }
        tx.commit().await
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// The missing-task error.
fn not_found(id: TaskId) -> Error {
    Error::NotFound(format!("task {id}"))
}

/// Prepends the task column list to the rest of a `SELECT` (as a `&'static str`).
macro_rules! select_tasks {
    ($rest:literal) => {
        concat!(
            "SELECT id, project_id, name, status, priority_rank, group_id, spec, \
             bandwidth_policy, succeeded_num, succeeded_size, skipped_num, skipped_size, \
             failed_num, failed_size, listed_num, listed_size, created_at_ms, start_time_ms, \
             total_time_ms, is_query_over, migrate_speed, left_time_ms, error_code, \
             error_message, failed_record_result, failed_record_key, failed_record_error_code, \
             failed_only, checkpoint FROM tasks ",
            $rest
        )
    };
}
pub(crate) use select_tasks;

/// Reads one `select_tasks!` row into a task.
fn task_from_row(row: &SqliteRow) -> Result<Task> {
    let task_row = (|| -> std::result::Result<TaskRow, sqlx::Error> {
        Ok(TaskRow {
            id: row.try_get("id")?,
            project_id: row.try_get("project_id")?,
            name: row.try_get("name")?,
            status: row.try_get("status")?,
            priority_rank: row.try_get("priority_rank")?,
            group_id: row.try_get("group_id")?,
            spec: row.try_get("spec")?,
            bandwidth_policy: row.try_get("bandwidth_policy")?,
            succeeded_num: row.try_get("succeeded_num")?,
            succeeded_size: row.try_get("succeeded_size")?,
            skipped_num: row.try_get("skipped_num")?,
            skipped_size: row.try_get("skipped_size")?,
            failed_num: row.try_get("failed_num")?,
            failed_size: row.try_get("failed_size")?,
            listed_num: row.try_get("listed_num")?,
            listed_size: row.try_get("listed_size")?,
            created_at_ms: row.try_get("created_at_ms")?,
            start_time_ms: row.try_get("start_time_ms")?,
            total_time_ms: row.try_get("total_time_ms")?,
            is_query_over: row.try_get("is_query_over")?,
            migrate_speed: row.try_get("migrate_speed")?,
            left_time_ms: row.try_get("left_time_ms")?,
            error_code: row.try_get("error_code")?,
            error_message: row.try_get("error_message")?,
            failed_record_result: row.try_get("failed_record_result")?,
            failed_record_key: row.try_get("failed_record_key")?,
            failed_record_error_code: row.try_get("failed_record_error_code")?,
            failed_only: row.try_get("failed_only")?,
            checkpoint: row.try_get("checkpoint")?,
        })
    })()
    .map_err(db_error)?;
    task_row.into_task()
}

/// Reads one task through any connection (pool or open transaction).
async fn fetch_task<'c, E>(executor: E, id: TaskId) -> Result<Option<Task>>
where
    E: sqlx::Executor<'c, Database = Sqlite>,
{
    let row = sqlx::query(select_tasks!("WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(executor)
        .await
        .map_err(db_error)?;
    row.as_ref().map(task_from_row).transpose()
}

#[async_trait]
impl TaskStore for SqliteTaskStore {
    async fn put_token(&self, project_id: &str, token_sha256: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tokens (token_sha256, project_id) VALUES ($1, $2) \
             ON CONFLICT (token_sha256) DO UPDATE SET project_id = excluded.project_id",
        )
        .bind(token_sha256)
        .bind(project_id)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await
    }

    async fn project_for_token(&self, token_sha256: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT project_id FROM tokens WHERE token_sha256 = $1")
            .bind(token_sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn put_credential(
        &self,
        project_id: &str,
        access_key: &str,
        secret_key: &Secret,
    ) -> Result<()> {
        let sealed = self.sealer.seal(
            &credential_context(access_key),
            secret_key.expose().as_bytes(),
        )?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO credentials (access_key, project_id, sealed_secret_key) \
             VALUES ($1, $2, $3) ON CONFLICT (access_key) DO UPDATE SET \
             project_id = excluded.project_id, sealed_secret_key = excluded.sealed_secret_key",
        )
        .bind(access_key)
        .bind(project_id)
        .bind(sealed)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await
    }

    async fn credential(&self, access_key: &str) -> Result<Option<(String, Secret)>> {
        let row: Option<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT project_id, sealed_secret_key FROM credentials WHERE access_key = $1",
        )
        .bind(access_key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some((project_id, sealed)) = row else {
            return Ok(None);
        };
        let plaintext = self.sealer.open(&credential_context(access_key), &sealed)?;
        let secret_key = String::from_utf8(plaintext)
            .map_err(|_| Error::Internal("unsealed secret key is not UTF-8".to_owned()))?;
        Ok(Some((project_id, Secret::new(secret_key))))
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
        fetch_task(&self.pool, id).await
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

    async fn update_bandwidth_policy(&self, id: TaskId, policy: &BandwidthPolicy) -> Result<()> {
        let policy_json = crate::rows::bandwidth_json(policy)?;
        let query = sqlx::query("UPDATE tasks SET bandwidth_policy = $1 WHERE id = $2")
            .bind(policy_json)
            .bind(id.0);
        self.update_one(id, query).await
    }

    async fn update_priority(&self, id: TaskId, priority: TaskPriority) -> Result<()> {
        let query = sqlx::query("UPDATE tasks SET priority_rank = $1 WHERE id = $2")
            .bind(priority.rank())
            .bind(id.0);
        self.update_one(id, query).await
    }

    async fn set_error_reason(&self, id: TaskId, reason: Option<(String, String)>) -> Result<()> {
        let (code, message) = reason.unzip();
        let query =
            sqlx::query("UPDATE tasks SET error_code = $1, error_message = $2 WHERE id = $3")
                .bind(code)
                .bind(message)
                .bind(id.0);
        self.update_one(id, query).await
    }

    async fn set_failed_object_record(
        &self,
        id: TaskId,
        record: &FailedObjectRecord,
    ) -> Result<()> {
        let query = sqlx::query(
            "UPDATE tasks SET failed_record_result = $1, failed_record_key = $2, \
             failed_record_error_code = $3 WHERE id = $4",
        )
        .bind(record.result)
        .bind(record.list_file_key.clone())
        .bind(record.error_code.clone())
        .bind(id.0);
        self.update_one(id, query).await
    }

    async fn add_total_time(&self, id: TaskId, elapsed_ms: i64) -> Result<()> {
        let query =
            sqlx::query("UPDATE tasks SET total_time_ms = total_time_ms + $1 WHERE id = $2")
                .bind(elapsed_ms)
                .bind(id.0);
        self.update_one(id, query).await
    }

    async fn claim_next_runnable(&self, now_ms: i64) -> Result<Option<Task>> {
        self.claim(now_ms).await
    }

    async fn tasks_in_status(&self, statuses: &[TaskStatus]) -> Result<Vec<Task>> {
        self.in_status(statuses).await
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
}

/// Associated data binding a sealed SK to its access key.
fn credential_context(access_key: &str) -> String {
    format!("credential:{access_key}")
}

/// Associated data binding sealed task secrets to their task.
fn task_secrets_context(id: TaskId) -> String {
    format!("task-secrets:{id}")
}
