//! Reading rows: the column lists of `tasks` and `task_groups` and their conversion into
//! domain values through the backend-neutral mirrors of `rows`.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row};
use tern_core::{GroupId, Result, Task, TaskGroup, TaskId};

use crate::error::db_error;
use crate::rows::{GroupRow, SplitColumns, TaskRow};

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
pub(super) fn task_from_row(row: &PgRow) -> Result<Task> {
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
pub(super) async fn fetch_task<'c, E>(executor: E, id: TaskId) -> Result<Option<Task>>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    let row = sqlx::query(select_tasks!("WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(executor)
        .await
        .map_err(db_error)?;
    row.as_ref().map(task_from_row).transpose()
}

/// Prepends the group column list to the rest of a `SELECT`.
macro_rules! select_groups {
    ($rest:literal) => {
        concat!(
            "SELECT id, project_id, status, spec, bandwidth_policy, source_index, last_key, \
             lines_done, done, task_num, assigned_num, assigned_size, created_at_ms, \
             start_time_ms, error_code, error_msg FROM task_groups ",
            $rest
        )
    };
}

pub(crate) use select_groups;

/// Reads one `select_groups!` row into a group.
pub(super) fn group_from_row(row: &PgRow) -> Result<TaskGroup> {
    let group_row = (|| -> std::result::Result<GroupRow, sqlx::Error> {
        Ok(GroupRow {
            id: row.try_get("id")?,
            project_id: row.try_get("project_id")?,
            status: row.try_get("status")?,
            spec: row.try_get("spec")?,
            bandwidth_policy: row.try_get("bandwidth_policy")?,
            split: SplitColumns {
                source_index: row.try_get("source_index")?,
                last_key: row.try_get("last_key")?,
                lines_done: row.try_get("lines_done")?,
                done: row.try_get("done")?,
                task_num: row.try_get("task_num")?,
                assigned_num: row.try_get("assigned_num")?,
                assigned_size: row.try_get("assigned_size")?,
                fence: None,
            },
            created_at_ms: row.try_get("created_at_ms")?,
            start_time_ms: row.try_get("start_time_ms")?,
            error_code: row.try_get("error_code")?,
            error_msg: row.try_get("error_msg")?,
        })
    })()
    .map_err(db_error)?;
    group_row.into_group()
}

/// Reads one group through any connection (pool or open transaction).
pub(super) async fn fetch_group<'c, E>(executor: E, id: &GroupId) -> Result<Option<TaskGroup>>
where
    E: sqlx::Executor<'c, Database = Postgres>,
{
    let row = sqlx::query(select_groups!("WHERE id = $1"))
        .bind(&id.0)
        .fetch_optional(executor)
        .await
        .map_err(db_error)?;
    row.as_ref().map(group_from_row).transpose()
}
