//! A task group's user operations and settling on SQLite. Each is one `BEGIN IMMEDIATE`
//! transaction that asks core for the group's next status ([`GroupStatus::apply`],
//! [`GroupStatus::settle`]) and for each task's ([`GroupEvent::task_move`]), and writes them
//! all, so a crash or a racing request never sees a group moved without its tasks.

use sqlx::SqliteConnection;
use tern_core::{
    BandwidthPolicy, Error, FailureReason, GroupChange, GroupEvent, GroupId, GroupStatus, Result,
    SplitProgress, TaskGroup, TaskId, TaskSecrets, TaskStatus,
};

use super::group_tasks::{totals_in, write_split};
use super::groups::{group_head, group_secrets_context, not_found, store_group_secrets};
use super::read::fetch_group;
use super::tasks::{apply_event, parse_status};
use super::SqliteTaskStore;
use crate::error::db_error;
use crate::rows::{bandwidth_json, secrets_from_json, secrets_json, split_columns};

/// Writes a group's status decided by core, compare-and-set on the status read.
async fn write_group_status(
    conn: &mut SqliteConnection,
    id: &GroupId,
    status: GroupStatus,
    next: GroupStatus,
) -> Result<()> {
    let updated = sqlx::query("UPDATE task_groups SET status = $1 WHERE id = $2 AND status = $3")
        .bind(next.code())
        .bind(&id.0)
        .bind(status.code())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    if updated.rows_affected() != 1 {
        return Err(Error::Unavailable(format!(
            "task group {id} changed status concurrently; retry"
        )));
    }
    if next == GroupStatus::Completed {
        // DESIGN.md invariant 3: a finished group keeps no secrets.
        sqlx::query("DELETE FROM group_secrets WHERE group_id = $1")
            .bind(&id.0)
            .execute(conn)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// Sets or clears a group's failure reason.
async fn write_group_reason(
    conn: &mut SqliteConnection,
    id: &GroupId,
    reason: Option<&FailureReason>,
) -> Result<()> {
    sqlx::query("UPDATE task_groups SET error_code = $1, error_msg = $2 WHERE id = $3")
        .bind(reason.map(|r| r.code.as_str()))
        .bind(reason.map(|r| r.message.as_str()))
        .bind(&id.0)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Every task of a group with its status, in creation order.
async fn group_task_statuses(
    conn: &mut SqliteConnection,
    id: &GroupId,
) -> Result<Vec<(TaskId, TaskStatus)>> {
    let rows: Vec<(i64, i32)> =
        sqlx::query_as("SELECT id, status FROM tasks WHERE group_id = $1 ORDER BY seq")
            .bind(&id.0)
            .fetch_all(conn)
            .await
            .map_err(db_error)?;
    rows.into_iter()
        .map(|(raw, code)| {
            let id = TaskId(raw);
            parse_status(id, code).map(|status| (id, status))
        })
        .collect()
}

async fn load_group(conn: &mut SqliteConnection, id: &GroupId) -> Result<TaskGroup> {
    fetch_group(conn, id).await?.ok_or_else(|| not_found(id))
}

impl SqliteTaskStore {
    /// Marks splitting done and moves the group to monitoring.
    pub(super) async fn end_group_split(
        &self,
        id: &GroupId,
        split: &SplitProgress,
    ) -> Result<TaskGroup> {
        let columns = split_columns(split)?;
        let mut tx = self.begin_write().await?;
        let (_, status) = group_head(tx.conn(), id).await?;
        let next = status.apply(GroupEvent::CreationDone)?;
        write_split(tx.conn(), id, &columns, status).await?;
        write_group_status(tx.conn(), id, status, next).await?;
        let group = load_group(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(group)
    }

    /// Records why splitting failed and moves the group to creation-failed.
    pub(super) async fn fail_group_split(
        &self,
        id: &GroupId,
        reason: &FailureReason,
    ) -> Result<TaskGroup> {
        let mut tx = self.begin_write().await?;
        let (_, status) = group_head(tx.conn(), id).await?;
        let next = status.apply(GroupEvent::CreationFailed)?;
        write_group_status(tx.conn(), id, status, next).await?;
        write_group_reason(tx.conn(), id, Some(reason)).await?;
        let group = load_group(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(group)
    }

    /// Settles a group from its tasks when core says their states decide it.
    pub(super) async fn settle(
        &self,
        id: &GroupId,
        splitting: bool,
        _now_ms: i64,
    ) -> Result<Option<TaskGroup>> {
        let mut tx = self.begin_write().await?;
        let (_, status) = group_head(tx.conn(), id).await?;
        let totals = totals_in(tx.conn(), id).await?;
        let Some((event, reason)) = status.settle(&totals, splitting) else {
            return Ok(None);
        };
        let next = status.apply(event)?;
        write_group_status(tx.conn(), id, status, next).await?;
        if event != GroupEvent::Stopped {
            write_group_reason(tx.conn(), id, reason.as_ref()).await?;
        }
        let group = load_group(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(Some(group))
    }

    /// Stops a group and its running or waiting tasks.
    pub(super) async fn stop_group_and_tasks(
        &self,
        id: &GroupId,
        now_ms: i64,
    ) -> Result<GroupChange> {
        let mut tx = self.begin_write().await?;
        let (_, status) = group_head(tx.conn(), id).await?;
        let event = GroupEvent::Stop;
        let next = status.apply(event)?;
        write_group_status(tx.conn(), id, status, next).await?;
        let mut pausing = Vec::new();
        for (task_id, task_status) in group_task_statuses(tx.conn(), id).await? {
            if event.task_move(task_status).is_some() {
                let moved = apply_event(
                    tx.conn(),
                    task_id,
                    task_status,
                    tern_core::TaskEvent::Stop,
                    now_ms,
                )
                .await?;
                if moved == TaskStatus::Pausing {
                    pausing.push(task_id);
                }
            }
        }
        let group = load_group(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(GroupChange {
            group,
            tasks: pausing,
        })
    }

    /// Starts a paused group with fresh secrets, and its paused tasks.
    pub(super) async fn start_group_and_tasks(
        &self,
        id: &GroupId,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<GroupChange> {
        let mut tx = self.begin_write().await?;
        let group = load_group(tx.conn(), id).await?;
        let event = GroupEvent::Start {
            split_done: group.split.done,
        };
        let next = group.status.apply(event)?;
        group.spec.src.check_start_secrets(secrets)?;
        let tasks = self
            .restart_group(&mut tx, &group, next, event, secrets, false, now_ms)
            .await?;
        let group = load_group(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(GroupChange { group, tasks })
    }

    /// Retries a failed group with the given or the stored secrets, and its failed tasks.
    pub(super) async fn retry_group_and_tasks(
        &self,
        id: &GroupId,
        secrets: Option<&TaskSecrets>,
        failed_only: bool,
        now_ms: i64,
    ) -> Result<GroupChange> {
        let mut tx = self.begin_write().await?;
        let group = load_group(tx.conn(), id).await?;
        let event = GroupEvent::Retry {
            split_done: group.split.done,
        };
        let next = group.status.apply(event)?;
        let secrets = match secrets {
            Some(given) => given.clone(),
            None => self
                .stored_group_secrets(tx.conn(), id)
                .await?
                .ok_or_else(|| {
                    Error::invalid(
                        "dst_ak",
                        "the group holds no credentials any more; give them in the retry body",
                    )
                })?,
        };
        group.spec.src.check_start_secrets(&secrets)?;
        write_group_reason(tx.conn(), id, None).await?;
        let tasks = self
            .restart_group(&mut tx, &group, next, event, &secrets, failed_only, now_ms)
            .await?;
        let group = load_group(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(GroupChange { group, tasks })
    }

    /// The group half of start and retry: status, secrets, and each task core moves.
    #[allow(
        clippy::too_many_arguments,
        reason = "one restart's whole input, all needed"
    )]
    async fn restart_group(
        &self,
        tx: &mut super::WriteTx<'_>,
        group: &TaskGroup,
        next: GroupStatus,
        event: GroupEvent,
        secrets: &TaskSecrets,
        failed_only: bool,
        now_ms: i64,
    ) -> Result<Vec<TaskId>> {
        let id = &group.id;
        write_group_status(tx.conn(), id, group.status, next).await?;
        let sealed = self
            .sealer
            .seal(&group_secrets_context(id), &secrets_json(secrets)?)?;
        store_group_secrets(tx.conn(), id, sealed).await?;
        let mut restarted = Vec::new();
        for (task_id, task_status) in group_task_statuses(tx.conn(), id).await? {
            if let Some(task_next) = event.task_move(task_status) {
                self.restart(
                    tx.conn(),
                    task_id,
                    task_status,
                    task_next,
                    secrets,
                    failed_only,
                    now_ms,
                )
                .await?;
                restarted.push(task_id);
            }
        }
        Ok(restarted)
    }

    async fn stored_group_secrets(
        &self,
        conn: &mut SqliteConnection,
        id: &GroupId,
    ) -> Result<Option<TaskSecrets>> {
        let sealed: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT sealed FROM group_secrets WHERE group_id = $1")
                .bind(&id.0)
                .fetch_optional(conn)
                .await
                .map_err(db_error)?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plaintext = self.sealer.open(&group_secrets_context(id), &sealed)?;
        secrets_from_json(&plaintext).map(Some)
    }

    /// Replaces a group's bandwidth policy and that of its unfinished tasks.
    pub(super) async fn set_group_policy(
        &self,
        id: &GroupId,
        policy: &BandwidthPolicy,
    ) -> Result<GroupChange> {
        let policy_json = bandwidth_json(policy)?;
        let mut tx = self.begin_write().await?;
        let (_, status) = group_head(tx.conn(), id).await?;
        let event = GroupEvent::UpdateBandwidth;
        status.apply(event)?;
        sqlx::query("UPDATE task_groups SET bandwidth_policy = $1 WHERE id = $2")
            .bind(&policy_json)
            .bind(&id.0)
            .execute(tx.conn())
            .await
            .map_err(db_error)?;
        let mut updated = Vec::new();
        for (task_id, task_status) in group_task_statuses(tx.conn(), id).await? {
            if event.task_move(task_status).is_some() {
                sqlx::query("UPDATE tasks SET bandwidth_policy = $1 WHERE id = $2")
                    .bind(&policy_json)
                    .bind(task_id.0)
                    .execute(tx.conn())
                    .await
                    .map_err(db_error)?;
                updated.push(task_id);
            }
        }
        let group = load_group(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(GroupChange {
            group,
            tasks: updated,
        })
    }

    /// Deletes a settled group with its tasks, ledgers and secrets, or changes nothing.
    pub(super) async fn remove_group(&self, id: &GroupId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let (_, status) = group_head(tx.conn(), id).await?;
        status.apply(GroupEvent::Delete)?;
        let busy = group_task_statuses(tx.conn(), id)
            .await?
            .into_iter()
            .filter(|(_, task_status)| task_status.is_busy())
            .count() as u64;
        if busy > 0 {
            return Err(Error::GroupTasksBusy { busy });
        }
        for statement in [
            "DELETE FROM ledger WHERE task_id IN (SELECT id FROM tasks WHERE group_id = $1)",
            "DELETE FROM task_secrets WHERE task_id IN (SELECT id FROM tasks WHERE group_id = $1)",
            "DELETE FROM task_runs WHERE task_id IN (SELECT id FROM tasks WHERE group_id = $1)",
            "DELETE FROM multipart_parts WHERE task_id IN (SELECT id FROM tasks WHERE group_id = $1)",
            "DELETE FROM multipart_uploads WHERE task_id IN (SELECT id FROM tasks WHERE group_id = $1)",
            "DELETE FROM tasks WHERE group_id = $1",
            "DELETE FROM group_secrets WHERE group_id = $1",
            "DELETE FROM task_groups WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(&id.0)
                .execute(tx.conn())
                .await
                .map_err(db_error)?;
        }
        tx.commit().await
    }
}
