//! A run's end and the user's updates of running tasks on PostgreSQL, each one transaction whose
//! decision comes from core ([`TaskStatus::end_run`], [`TaskStatus::apply`]).

use tern_core::{
    BandwidthPolicy, BatchTarget, Error, Fence, GroupId, Result, RunEnding, Task, TaskEvent,
    TaskId, TaskPriority,
};

use super::leases::{check_task_fence, end_lease};
use super::read::fetch_task;
use super::tasks::{changed_concurrently, current_status, erase_secrets, parse_status};
use super::{not_found, PgTaskStore};
use crate::error::{db_error, from_db};
use crate::rows::bandwidth_json;

impl PgTaskStore {
    /// Ends a run: status, reason, failed-object record, time spent and secrets together.
    pub(super) async fn end_run(
        &self,
        id: TaskId,
        fence: Option<Fence>,
        ending: &RunEnding,
        elapsed_ms: i64,
        now_ms: i64,
    ) -> Result<Task> {
        let mut tx = self.begin_write().await?;
        let status = current_status(tx.conn(), id).await?;
        check_task_fence(tx.conn(), id, fence).await?;
        let failed_num: i64 = sqlx::query_scalar("SELECT failed_num FROM tasks WHERE id = $1")
            .bind(id.0)
            .fetch_one(tx.conn())
            .await
            .map_err(db_error)?;
        let (next, reason) = status.end_run(ending, from_db(failed_num, "failed_num")?)?;
        let record = match ending {
            RunEnding::Completed {
                failed_object_record,
            } => failed_object_record.as_ref(),
            RunEnding::Stopped | RunEnding::Fatal(_) => None,
        };
        let updated = sqlx::query(
            "UPDATE tasks SET status = $1, error_code = $2, error_message = $3, \
             total_time_ms = total_time_ms + $4, migrate_speed = 0, left_time_ms = 0, \
             failed_record_result = CASE WHEN $5 THEN $6 ELSE failed_record_result END, \
             failed_record_key = CASE WHEN $5 THEN $7 ELSE failed_record_key END, \
             failed_record_error_code = CASE WHEN $5 THEN $8 ELSE failed_record_error_code END \
             WHERE id = $9 AND status = $10",
        )
        .bind(next.code())
        .bind(reason.as_ref().map(|r| r.code.as_str()))
        .bind(reason.as_ref().map(|r| r.message.as_str()))
        .bind(elapsed_ms.max(0))
        .bind(record.is_some())
        .bind(record.map(|r| r.result))
        .bind(record.map(|r| r.list_file_key.as_str()))
        .bind(record.map(|r| r.error_code.as_str()))
        .bind(id.0)
        .bind(status.code())
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        if updated.rows_affected() != 1 {
            return Err(changed_concurrently(id));
        }
        if next.erases_secrets() {
            erase_secrets(tx.conn(), id).await?;
        }
        end_lease(tx.conn(), id, now_ms).await?;
        let task = fetch_task(tx.conn(), id)
            .await?
            .ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        Ok(task)
    }

    /// Replaces one task's bandwidth policy unless it has finished.
    pub(super) async fn replace_task_policy(
        &self,
        id: TaskId,
        policy: &BandwidthPolicy,
    ) -> Result<Task> {
        let policy_json = bandwidth_json(policy)?;
        let mut tx = self.begin_write().await?;
        let status = current_status(tx.conn(), id).await?;
        status.apply(TaskEvent::UpdateBandwidth)?;
        sqlx::query("UPDATE tasks SET bandwidth_policy = $1 WHERE id = $2")
            .bind(policy_json)
            .bind(id.0)
            .execute(tx.conn())
            .await
            .map_err(db_error)?;
        let task = fetch_task(tx.conn(), id)
            .await?
            .ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        Ok(task)
    }

    /// `batch_update_tasks`: every target checked first (an unknown or foreign id changes
    /// nothing), then each task updated as far as its status allows.
    pub(super) async fn update_batch(
        &self,
        project_id: &str,
        target: &BatchTarget,
        policy: &BandwidthPolicy,
        priority: Option<tern_core::TaskPriority>,
    ) -> Result<Vec<TaskId>> {
        let policy_json = bandwidth_json(policy)?;
        let mut tx = self.begin_write().await?;
        let targets: Vec<(i64, i32)> = match target {
            BatchTarget::Group(group_id) => {
                let owner: Option<String> =
                    sqlx::query_scalar("SELECT project_id FROM task_groups WHERE id = $1")
                        .bind(group_id)
                        .fetch_optional(tx.conn())
                        .await
                        .map_err(db_error)?;
                // Another project's group reads exactly like a missing one.
                if owner.as_deref() != Some(project_id) {
                    return Err(Error::GroupNotFound(GroupId(group_id.clone())));
                }
                // Locked in `seq` order, as every group operation locks them.
                sqlx::query_as(
                    "SELECT id, status FROM tasks WHERE project_id = $1 AND group_id = $2 \
                     ORDER BY seq FOR UPDATE",
                )
                .bind(project_id)
                .bind(group_id)
                .fetch_all(tx.conn())
                .await
                .map_err(db_error)?
            }
            BatchTarget::Tasks(ids) => {
                // One statement locks them all in `seq` order (the order group operations lock
                // in), whatever order the caller listed them in, so batches cannot deadlock.
                let raw_ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
                let locked: std::collections::HashMap<i64, i32> = sqlx::query_as(
                    "SELECT id, status FROM tasks WHERE id = ANY($1) AND project_id = $2 \
                     ORDER BY seq FOR UPDATE",
                )
                .bind(&raw_ids)
                .bind(project_id)
                .fetch_all(tx.conn())
                .await
                .map_err(db_error)?
                .into_iter()
                .collect();
                let mut rows = Vec::with_capacity(ids.len());
                for id in ids {
                    // Another project's task reads exactly like a missing one.
                    let code = locked.get(&id.0).ok_or_else(|| not_found(*id))?;
                    rows.push((id.0, *code));
                }
                rows
            }
        };
        let mut changed = Vec::new();
        for (raw_id, code) in targets {
            let id = TaskId(raw_id);
            let status = parse_status(id, code)?;
            if status.apply(TaskEvent::UpdateBandwidth).is_ok() {
                sqlx::query("UPDATE tasks SET bandwidth_policy = $1 WHERE id = $2")
                    .bind(&policy_json)
                    .bind(id.0)
                    .execute(tx.conn())
                    .await
                    .map_err(db_error)?;
                changed.push(id);
            }
            if let Some(priority) = priority {
                if status.apply(TaskEvent::UpdatePriority).is_ok() {
                    set_priority(&mut tx, id, priority).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(changed)
    }
}

async fn set_priority(tx: &mut super::WriteTx, id: TaskId, priority: TaskPriority) -> Result<()> {
    sqlx::query("UPDATE tasks SET priority_rank = $1 WHERE id = $2")
        .bind(priority.rank())
        .bind(id.0)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
    Ok(())
}
