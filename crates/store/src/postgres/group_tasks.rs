//! The tasks of a task group on PostgreSQL: creating them with the splitter's progress, and
//! summing them up.
//!
//! `add_group_task` inserts the task and writes the split progress in one transaction,
//! conditioned on the group still being Creating, so a stopped or deleted group never gains a
//! task and a splitter restarted after a crash neither repeats nor skips a slice.

use sqlx::{PgConnection, Row};
use tern_core::{
    Counters, Error, GroupId, GroupStatus, GroupTotals, GroupType, Result, SplitProgress, Task,
    TaskSecrets, TaskSpec, TaskStatus,
};

use super::groups::{group_head, not_found};
use super::read::fetch_group;
use super::PgTaskStore;
use crate::error::{db_error, from_db};
use crate::rows::{split_columns, SplitColumns};

/// The group's tasks counted by status and their counters summed. Codes are bound ($2–$8) from
/// [`TaskStatus::code`]. The casts keep PostgreSQL's `SUM(BIGINT)` (a NUMERIC) a `BIGINT`.
const TOTALS_SQL: &str = "SELECT COUNT(*), \
     CAST(COALESCE(SUM(CASE WHEN status = $2 THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN status = $3 THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN status = $4 THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN status IN ($5, $6) THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(CASE WHEN status IN ($7, $8) THEN 1 ELSE 0 END), 0) AS BIGINT), \
     CAST(COALESCE(SUM(succeeded_num), 0) AS BIGINT), \
     CAST(COALESCE(SUM(succeeded_size), 0) AS BIGINT), \
     CAST(COALESCE(SUM(skipped_num), 0) AS BIGINT), \
     CAST(COALESCE(SUM(skipped_size), 0) AS BIGINT), \
     CAST(COALESCE(SUM(failed_num), 0) AS BIGINT), \
     CAST(COALESCE(SUM(failed_size), 0) AS BIGINT), \
     CAST(COALESCE(SUM(migrate_speed), 0) AS BIGINT), \
     CAST(COALESCE(SUM(total_time_ms), 0) AS BIGINT) \
     FROM tasks WHERE group_id = $1";

/// Writes split progress if the group is still in `expected` (read in this transaction).
pub(super) async fn write_split(
    conn: &mut PgConnection,
    id: &GroupId,
    split: &SplitColumns,
    expected: GroupStatus,
) -> Result<()> {
    super::leases::check_split_fence(conn, id, split.fence).await?;
    let updated = sqlx::query(
        "UPDATE task_groups SET source_index = $1, last_key = $2, lines_done = $3, done = $4, \
         task_num = $5, assigned_num = $6, assigned_size = $7 WHERE id = $8 AND status = $9",
    )
    .bind(split.source_index)
    .bind(split.last_key.as_deref())
    .bind(split.lines_done)
    .bind(split.done)
    .bind(split.task_num)
    .bind(split.assigned_num)
    .bind(split.assigned_size)
    .bind(&id.0)
    .bind(expected.code())
    .execute(conn)
    .await
    .map_err(db_error)?;
    if updated.rows_affected() != 1 {
        return Err(Error::Unavailable(format!(
            "task group {id} changed status concurrently; retry"
        )));
    }
    Ok(())
}

impl PgTaskStore {
    /// Creates a task of a Creating group and saves the split progress, in one transaction.
    pub(super) async fn add_group_task(
        &self,
        id: &GroupId,
        spec: &TaskSpec,
        secrets: &TaskSecrets,
        split: &SplitProgress,
        now_ms: i64,
    ) -> Result<Task> {
        let columns = split_columns(split)?;
        let mut spec = spec.clone();
        spec.group_id = Some(id.0.clone());
        spec.group_type = GroupType::GroupTask;
        let mut tx = self.begin_write().await?;
        let (project_id, status) = group_head(tx.conn(), id).await?;
        if status != GroupStatus::Creating {
            // Stopped or failed meanwhile: the splitter's next step is refused like any
            // event the status does not take.
            return Err(Error::GroupRefused {
                status,
                event: tern_core::GroupEvent::BeginCreating,
            });
        }
        let task = self
            .insert_task(tx.conn(), &project_id, &spec, secrets, now_ms)
            .await?;
        write_split(tx.conn(), id, &columns, status).await?;
        tx.commit().await?;
        Ok(task)
    }

    /// Saves split progress unless deletion began.
    pub(super) async fn save_group_split(&self, id: &GroupId, split: &SplitProgress) -> Result<()> {
        let columns = split_columns(split)?;
        let mut tx = self.begin_write().await?;
        let (_, status) = group_head(tx.conn(), id).await?;
        write_split(tx.conn(), id, &columns, status).await?;
        tx.commit().await
    }

    /// Counts the group's tasks by status and sums their counters in one query.
    pub(super) async fn sum_group_tasks(&self, id: &GroupId) -> Result<GroupTotals> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        totals_in(&mut conn, id).await
    }
}

/// [`PgTaskStore::sum_group_tasks`] inside the caller's transaction.
pub(super) async fn totals_in(conn: &mut PgConnection, id: &GroupId) -> Result<GroupTotals> {
    let row = sqlx::query(TOTALS_SQL)
        .bind(&id.0)
        .bind(TaskStatus::Failed.code())
        .bind(TaskStatus::Succeeded.code())
        .bind(TaskStatus::Paused.code())
        .bind(TaskStatus::Migrating.code())
        .bind(TaskStatus::Pausing.code())
        .bind(TaskStatus::Waiting.code())
        .bind(TaskStatus::Retrying.code())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    let column = |index: usize, what: &str| -> Result<u64> {
        from_db(row.try_get(index).map_err(db_error)?, what)
    };
    let task_num = column(0, "task count")?;
    if task_num == 0 && fetch_group(&mut *conn, id).await?.is_none() {
        return Err(not_found(id));
    }
    let mut counters = Counters {
        successful_num: column(6, "succeeded_num")?,
        successful_size: column(7, "succeeded_size")?,
        skipped_num: column(8, "skipped_num")?,
        skipped_size: column(9, "skipped_size")?,
        failed_num: column(10, "failed_num")?,
        failed_size: column(11, "failed_size")?,
        ..Counters::default()
    };
    counters.total_num = counters.successful_num + counters.skipped_num + counters.failed_num;
    counters.total_size = counters.successful_size + counters.skipped_size + counters.failed_size;
    Ok(GroupTotals {
        task_num,
        failed_task_num: column(1, "failed tasks")?,
        complete_task_num: column(2, "complete tasks")?,
        paused_task_num: column(3, "paused tasks")?,
        executing_task_num: column(4, "executing tasks")?,
        waiting_task_num: column(5, "waiting tasks")?,
        counters,
        migrate_speed: row.try_get(12).map_err(db_error)?,
        total_time_ms: row.try_get(13).map_err(db_error)?,
    })
}
