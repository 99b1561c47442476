//! Task lifecycle on PostgreSQL: create, list, delete, and every status change.
//!
//! Every status change locks the task's row while reading its status (`FOR UPDATE`), asks
//! [`TaskStatus::apply`] for the next one and writes it with `WHERE status = <the one read>`,
//! in one transaction. At READ COMMITTED the lock is what serializes racers: the second waits,
//! then reads the first one's committed status.

use rand::Rng;
use sqlx::PgConnection;
use tern_core::{
    Error, Result, Task, TaskEvent, TaskFilter, TaskId, TaskSecrets, TaskSpec, TaskStatus,
};

use super::read::{fetch_task, select_tasks, task_from_row};
use super::{not_found, task_secrets_context, PgTaskStore};
use crate::error::{db_error, to_db};
use crate::rows::{bandwidth_json, secrets_from_json, secrets_json, spec_json};

/// Smallest task id: ids have 15 digits, as OMS shows them.
const MIN_TASK_ID: i64 = 100_000_000_000_000;
/// Largest task id (OMS: below 999999999999999).
const MAX_TASK_ID: i64 = 999_999_999_999_998;
/// Random ids collide with odds of n / 9·10^14; a few draws always suffice.
const ID_ATTEMPTS: usize = 8;

impl PgTaskStore {
    /// Inserts a task in status 1 under a fresh random id, with its sealed secrets.
    pub(super) async fn create(
        &self,
        project_id: &str,
        spec: &TaskSpec,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<Task> {
        let mut tx = self.begin_write().await?;
        let task = self
            .insert_task(tx.conn(), project_id, spec, secrets, now_ms)
            .await?;
        tx.commit().await?;
        Ok(task)
    }

    /// `create` inside the caller's write transaction (shared with `create_group_task`).
    pub(super) async fn insert_task(
        &self,
        conn: &mut PgConnection,
        project_id: &str,
        spec: &TaskSpec,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<Task> {
        let spec_text = spec_json(spec)?;
        let policy_text = bandwidth_json(&spec.bandwidth_policy)?;
        let plaintext = secrets_json(secrets)?;
        for _ in 0..ID_ATTEMPTS {
            // Random rather than sequential ids disclose nothing about other projects' tasks.
            let id = TaskId(rand::rng().random_range(MIN_TASK_ID..=MAX_TASK_ID));
            let name = format!("{}-to-{}-{id}", spec.src.bucket, spec.dst.bucket);
            let inserted = sqlx::query(
                "INSERT INTO tasks (id, project_id, name, status, priority_rank, group_id, spec, \
                 bandwidth_policy, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id.0)
            .bind(project_id)
            .bind(&name)
            .bind(TaskStatus::Waiting.code())
            .bind(spec.task_priority.rank())
            .bind(spec.group_id.as_deref())
            .bind(&spec_text)
            .bind(&policy_text)
            .bind(now_ms)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            if inserted.rows_affected() == 0 {
                continue;
            }
            let sealed = self.sealer.seal(&task_secrets_context(id), &plaintext)?;
            store_sealed_secrets(&mut *conn, id, sealed).await?;
            return fetch_task(&mut *conn, id)
                .await?
                .ok_or_else(|| not_found(id));
        }
        Err(Error::Internal("no free task id found".to_owned()))
    }

    /// A page of a project's tasks, newest first, with the count of all that match.
    pub(super) async fn list(
        &self,
        project_id: &str,
        filter: &TaskFilter,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<Task>, u64)> {
        // `$n IS NULL OR …` keeps one statement for every filter combination; the project
        // index does the narrowing.
        const MATCHES: &str = "WHERE project_id = $1 AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR group_id = $3) AND ($4 IS NULL OR strpos(name, $4) > 0)";
        let status = filter.status.map(TaskStatus::code);
        let group_id = filter.group_id.as_deref();
        let name = filter.name.as_deref();
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM tasks {MATCHES}"))
            .bind(project_id)
            .bind(status)
            .bind(group_id)
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let rows = sqlx::query(&format!(
            "{} {MATCHES} ORDER BY created_at_ms DESC, seq DESC LIMIT $5 OFFSET $6",
            select_tasks!("")
        ))
        .bind(project_id)
        .bind(status)
        .bind(group_id)
        .bind(name)
        .bind(to_db(limit, "limit")?)
        .bind(to_db(offset, "offset")?)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let tasks = rows.iter().map(task_from_row).collect::<Result<Vec<_>>>()?;
        Ok((tasks, crate::error::from_db(total, "task count")?))
    }

    /// Deletes a task that is not busy, with its ledger and secrets.
    pub(super) async fn delete(&self, id: TaskId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        current_status(tx.conn(), id)
            .await?
            .apply(TaskEvent::Delete)?;
        for statement in [
            "DELETE FROM ledger WHERE task_id = $1",
            "DELETE FROM task_secrets WHERE task_id = $1",
            "DELETE FROM task_runs WHERE task_id = $1",
            // The uploads stay at the destination for its lifecycle rule (RFC 0012).
            "DELETE FROM multipart_parts WHERE task_id = $1",
            "DELETE FROM multipart_uploads WHERE task_id = $1",
            "DELETE FROM tasks WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(id.0)
                .execute(tx.conn())
                .await
                .map_err(db_error)?;
        }
        tx.commit().await
    }

    /// Applies a scheduler's or a user's plain status event (claim, stop, stopped); the others
    /// carry data and have their own operations.
    pub(super) async fn apply_transition(
        &self,
        id: TaskId,
        event: TaskEvent,
        now_ms: i64,
    ) -> Result<Task> {
        if !matches!(
            event,
            TaskEvent::Claim | TaskEvent::Stop | TaskEvent::Stopped
        ) {
            return Err(Error::Internal(format!(
                "{event:?} is not a plain transition: use its own store operation"
            )));
        }
        let mut tx = self.begin_write().await?;
        let status = current_status(tx.conn(), id).await?;
        if event == TaskEvent::Stopped {
            super::leases::check_no_live_run(tx.conn(), id, now_ms).await?;
        }
        apply_event(tx.conn(), id, status, event, now_ms).await?;
        let task = fetch_task(tx.conn(), id)
            .await?
            .ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        Ok(task)
    }

    /// Re-opens a paused or failed task for a new run with fresh secrets.
    pub(super) async fn start(
        &self,
        id: TaskId,
        secrets: &TaskSecrets,
        failed_only: bool,
        now_ms: i64,
    ) -> Result<Task> {
        let mut tx = self.begin_write().await?;
        current_status(tx.conn(), id).await?;
        let task = fetch_task(tx.conn(), id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let event = if failed_only {
            TaskEvent::Retry
        } else {
            TaskEvent::Start
        };
        let next = task.status.apply(event)?;
        task.spec.src.check_start_secrets(secrets)?;
        self.restart(
            tx.conn(),
            id,
            task.status,
            next,
            secrets,
            failed_only,
            now_ms,
        )
        .await?;
        let task = fetch_task(tx.conn(), id)
            .await?
            .ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        Ok(task)
    }

    /// Writes a restart decided by core (`status` → `next`) inside the caller's transaction:
    /// the new status, a fresh run's columns and the sealed secrets. Shared with group start
    /// and retry.
    #[allow(
        clippy::too_many_arguments,
        reason = "one row's whole restart, all needed"
    )]
    pub(super) async fn restart(
        &self,
        conn: &mut PgConnection,
        id: TaskId,
        status: TaskStatus,
        next: TaskStatus,
        secrets: &TaskSecrets,
        failed_only: bool,
        now_ms: i64,
    ) -> Result<()> {
        let sealed = self
            .sealer
            .seal(&task_secrets_context(id), &secrets_json(secrets)?)?;
        // A new run lists from scratch; the ledger (and so the counters) carries over, and
        // `record_batch` only lets failed outcomes be replaced.
        let updated = sqlx::query(
            "UPDATE tasks SET status = $1, failed_only = $2, listed_num = 0, listed_size = 0, \
             is_query_over = FALSE, checkpoint = NULL, error_code = NULL, error_message = NULL, \
             migrate_speed = 0, left_time_ms = 0, start_time_ms = $3 WHERE id = $4 AND status = $5",
        )
        .bind(next.code())
        .bind(failed_only)
        .bind(now_ms)
        .bind(id.0)
        .bind(status.code())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() != 1 {
            return Err(changed_concurrently(id));
        }
        store_sealed_secrets(conn, id, sealed).await
    }

    /// Unseals a task's secrets; `None` once erased, `NotFound` for an unknown task.
    pub(super) async fn unseal_secrets(&self, id: TaskId) -> Result<Option<TaskSecrets>> {
        let sealed: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT sealed FROM task_secrets WHERE task_id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        let Some(sealed) = sealed else {
            let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM tasks WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
            return match exists {
                Some(_) => Ok(None),
                None => Err(not_found(id)),
            };
        };
        let plaintext = self.sealer.open(&task_secrets_context(id), &sealed)?;
        secrets_from_json(&plaintext).map(Some)
    }

    /// Every task in one of `statuses`, oldest first.
    pub(super) async fn in_status(&self, statuses: &[TaskStatus]) -> Result<Vec<Task>> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        // The codes are small integers from the enum, so inlining them is safe.
        let codes: Vec<String> = statuses.iter().map(|s| s.code().to_string()).collect();
        let sql = format!(
            "{} WHERE status IN ({}) ORDER BY created_at_ms, seq",
            select_tasks!(""),
            codes.join(", ")
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(task_from_row).collect()
    }

    /// Counts tasks per status over every project.
    pub(super) async fn count_by_status(&self) -> Result<Vec<(TaskStatus, u64)>> {
        let rows: Vec<(i32, i64)> =
            sqlx::query_as("SELECT status, COUNT(*) FROM tasks GROUP BY status")
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        rows.into_iter()
            .map(|(code, count)| {
                let status = TaskStatus::from_code(code).ok_or_else(|| {
                    tern_core::Error::Internal(format!("unknown task status {code} in the store"))
                })?;
                Ok((status, u64::try_from(count).unwrap_or(0)))
            })
            .collect()
    }
}

/// Reads a task's status inside a transaction and locks its row until the transaction ends.
pub(super) async fn current_status(conn: &mut PgConnection, id: TaskId) -> Result<TaskStatus> {
    let code: Option<i32> = sqlx::query_scalar("SELECT status FROM tasks WHERE id = $1 FOR UPDATE")
        .bind(id.0)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    parse_status(id, code.ok_or_else(|| not_found(id))?)
}

pub(super) fn parse_status(id: TaskId, code: i32) -> Result<TaskStatus> {
    TaskStatus::from_code(code)
        .ok_or_else(|| Error::Internal(format!("task {id}: stored status {code} is unknown")))
}

/// Writes the status `event` leads to from `status` (read in this transaction), stamps the
/// first claim's start time and erases secrets when the new status requires it.
pub(super) async fn apply_event(
    conn: &mut PgConnection,
    id: TaskId,
    status: TaskStatus,
    event: TaskEvent,
    now_ms: i64,
) -> Result<TaskStatus> {
    let next = status.apply(event)?;
    let updated = sqlx::query(
        "UPDATE tasks SET status = $1, \
         start_time_ms = CASE WHEN $2 THEN COALESCE(start_time_ms, $3) ELSE start_time_ms END \
         WHERE id = $4 AND status = $5",
    )
    .bind(next.code())
    .bind(event == TaskEvent::Claim)
    .bind(now_ms)
    .bind(id.0)
    .bind(status.code())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if updated.rows_affected() != 1 {
        return Err(changed_concurrently(id));
    }
    if next.erases_secrets() {
        erase_secrets(conn, id).await?;
    }
    Ok(next)
}

/// DESIGN.md invariant 3: a task that stopped, failed or succeeded keeps no secrets.
pub(super) async fn erase_secrets(conn: &mut PgConnection, id: TaskId) -> Result<()> {
    sqlx::query("DELETE FROM task_secrets WHERE task_id = $1")
        .bind(id.0)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A compare-and-set lost: another writer changed the row between read and write (the row
/// lock taken by the read makes this a bug guard; retrying reads it anew).
pub(super) fn changed_concurrently(id: TaskId) -> Error {
    Error::Unavailable(format!("task {id} changed status concurrently; retry"))
}

/// Inserts or replaces a task's sealed secrets.
async fn store_sealed_secrets(conn: &mut PgConnection, id: TaskId, sealed: Vec<u8>) -> Result<()> {
    sqlx::query(
        "INSERT INTO task_secrets (task_id, sealed) VALUES ($1, $2) \
         ON CONFLICT (task_id) DO UPDATE SET sealed = excluded.sealed",
    )
    .bind(id.0)
    .bind(sealed)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}
