//! Leases and fences on PostgreSQL (RFC 0011): claims that bump a task's fence and record the
//! run, renewals, the wind-down of pausing tasks no live run holds, and the group split lease.
//! A claim skips rows another node holds locked (`FOR UPDATE SKIP LOCKED`), and a fenced write
//! locks the task row it checks (`FOR UPDATE`), so a takeover cannot slip between the check and
//! the write.

use sqlx::PgConnection;
use tern_core::{
    check_fence, ClaimedRun, Fence, GroupId, GroupStatus, LeaseCheck, LeaseTerms, NodeId, Result,
    RunRecord, TaskEvent, TaskId, TaskStatus,
};

use super::read::fetch_task;
use super::tasks::{apply_event, parse_status};
use super::{not_found, PgTaskStore};
use crate::error::db_error;

impl PgTaskStore {
    /// Claims the most urgent claimable task: waiting or retrying, or migrating with an
    /// expired lease.
    pub(super) async fn claim(
        &self,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<Option<ClaimedRun>> {
        let mut tx = self.begin_write().await?;
        let next: Option<(i64, i32)> = sqlx::query_as(
            "SELECT id, status FROM tasks WHERE status IN ($1, $2) \
             OR (status = $3 AND (lease_until_ms IS NULL OR lease_until_ms < $4)) \
             ORDER BY priority_rank, created_at_ms, seq LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .bind(TaskStatus::Waiting.code())
        .bind(TaskStatus::Retrying.code())
        .bind(TaskStatus::Migrating.code())
        .bind(now_ms)
        .fetch_optional(tx.conn())
        .await
        .map_err(db_error)?;
        let Some((raw_id, code)) = next else {
            return Ok(None);
        };
        let id = TaskId(raw_id);
        let status = parse_status(id, code)?;
        if status != TaskStatus::Migrating {
            apply_event(tx.conn(), id, status, TaskEvent::Claim, now_ms).await?;
        }
        let claimed = take_lease(tx.conn(), id, terms, now_ms).await?;
        tx.commit().await?;
        Ok(Some(claimed))
    }

    /// Claims again every migrating task whose lease names this node.
    pub(super) async fn resume_own(
        &self,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<Vec<ClaimedRun>> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM tasks WHERE status = $1 AND lease_node = $2 \
             ORDER BY created_at_ms, seq FOR UPDATE",
        )
        .bind(TaskStatus::Migrating.code())
        .bind(&terms.node.0)
        .fetch_all(tx.conn())
        .await
        .map_err(db_error)?;
        let mut claimed = Vec::with_capacity(ids.len());
        for id in ids {
            claimed.push(take_lease(tx.conn(), TaskId(id), terms, now_ms).await?);
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Extends a run's lease while its fence holds it.
    pub(super) async fn renew(
        &self,
        id: TaskId,
        fence: Fence,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<LeaseCheck> {
        let mut tx = self.begin_write().await?;
        let code: Option<i32> = sqlx::query_scalar(
            "UPDATE tasks SET lease_until_ms = $1 \
             WHERE id = $2 AND fence = $3 AND status IN ($4, $5) RETURNING status",
        )
        .bind(terms.until(now_ms))
        .bind(id.0)
        .bind(fence.0)
        .bind(TaskStatus::Migrating.code())
        .bind(TaskStatus::Pausing.code())
        .fetch_optional(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await?;
        match code {
            Some(code) => Ok(LeaseCheck::Held(parse_status(id, code)?)),
            None => Ok(LeaseCheck::Lost),
        }
    }

    /// Moves pausing tasks that no live run holds to paused.
    pub(super) async fn wind_down(
        &self,
        own_node: Option<&NodeId>,
        now_ms: i64,
    ) -> Result<Vec<TaskId>> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM tasks WHERE status = $1 \
             AND (lease_until_ms IS NULL OR lease_until_ms < $2 OR lease_node = $3) \
             ORDER BY seq FOR UPDATE SKIP LOCKED",
        )
        .bind(TaskStatus::Pausing.code())
        .bind(now_ms)
        .bind(own_node.map(|node| node.0.as_str()))
        .fetch_all(tx.conn())
        .await
        .map_err(db_error)?;
        let mut wound = Vec::with_capacity(ids.len());
        for raw in ids {
            let id = TaskId(raw);
            apply_event(
                tx.conn(),
                id,
                TaskStatus::Pausing,
                TaskEvent::Stopped,
                now_ms,
            )
            .await?;
            release_lease(tx.conn(), id).await?;
            wound.push(id);
        }
        tx.commit().await?;
        Ok(wound)
    }

    /// The task's runs in claim order.
    pub(super) async fn runs_of(&self, id: TaskId) -> Result<Vec<RunRecord>> {
        let rows: Vec<(i64, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT fence, node, started_ms, ended_ms FROM task_runs WHERE task_id = $1 \
             ORDER BY fence",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(fence, node, started_ms, ended_ms)| RunRecord {
                fence: Fence(fence),
                node: NodeId(node),
                started_ms,
                ended_ms,
            })
            .collect())
    }

    /// Takes the split lease of a waiting or creating group unless another node's is live.
    pub(super) async fn claim_split(
        &self,
        id: &GroupId,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<Option<Fence>> {
        let mut tx = self.begin_write().await?;
        let fence: Option<i64> = sqlx::query_scalar(
            "UPDATE task_groups SET split_fence = split_fence + 1, split_node = $1, \
             split_until_ms = $2 WHERE id = $3 AND status IN ($4, $5) \
             AND (split_until_ms IS NULL OR split_until_ms < $6 OR split_node = $1) \
             RETURNING split_fence",
        )
        .bind(&terms.node.0)
        .bind(terms.until(now_ms))
        .bind(&id.0)
        .bind(GroupStatus::Waiting.code())
        .bind(GroupStatus::Creating.code())
        .bind(now_ms)
        .fetch_optional(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await?;
        Ok(fence.map(Fence))
    }

    /// Extends a split lease while its fence holds it.
    pub(super) async fn renew_split(
        &self,
        id: &GroupId,
        fence: Fence,
        terms: &LeaseTerms,
        now_ms: i64,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE task_groups SET split_until_ms = $1 \
             WHERE id = $2 AND split_fence = $3 AND status IN ($4, $5)",
        )
        .bind(terms.until(now_ms))
        .bind(&id.0)
        .bind(fence.0)
        .bind(GroupStatus::Waiting.code())
        .bind(GroupStatus::Creating.code())
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await?;
        Ok(updated.rows_affected() == 1)
    }
}

/// Bumps the fence, writes the lease and records the run; the task is already migrating.
async fn take_lease(
    conn: &mut PgConnection,
    id: TaskId,
    terms: &LeaseTerms,
    now_ms: i64,
) -> Result<ClaimedRun> {
    let fence: i64 = sqlx::query_scalar(
        "UPDATE tasks SET fence = fence + 1, lease_node = $1, lease_until_ms = $2 \
         WHERE id = $3 RETURNING fence",
    )
    .bind(&terms.node.0)
    .bind(terms.until(now_ms))
    .bind(id.0)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?;
    sqlx::query("INSERT INTO task_runs (task_id, fence, node, started_ms) VALUES ($1, $2, $3, $4)")
        .bind(id.0)
        .bind(fence)
        .bind(&terms.node.0)
        .bind(now_ms)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let task = fetch_task(conn, id).await?.ok_or_else(|| not_found(id))?;
    Ok(ClaimedRun {
        task,
        fence: Fence(fence),
    })
}

/// Refuses a write whose fence another claim replaced (inside the write's transaction).
pub(super) async fn check_task_fence(
    conn: &mut PgConnection,
    id: TaskId,
    fence: Option<Fence>,
) -> Result<()> {
    if fence.is_none() {
        return Ok(());
    }
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT fence FROM tasks WHERE id = $1 FOR UPDATE")
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    let stored = stored.ok_or_else(|| not_found(id))?;
    check_fence(Fence(stored), fence, || format!("task {id}"))
}

/// Refuses a split write whose fence another split claim replaced.
pub(super) async fn check_split_fence(
    conn: &mut PgConnection,
    id: &GroupId,
    fence: Option<Fence>,
) -> Result<()> {
    if fence.is_none() {
        return Ok(());
    }
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT split_fence FROM task_groups WHERE id = $1 FOR UPDATE")
            .bind(&id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    let stored = stored.ok_or_else(|| tern_core::Error::GroupNotFound(id.clone()))?;
    check_fence(Fence(stored), fence, || {
        format!("the split of task group {id}")
    })
}

/// Ends a run's lease and its run record (the run's end was written).
pub(super) async fn end_lease(conn: &mut PgConnection, id: TaskId, now_ms: i64) -> Result<()> {
    sqlx::query(
        "UPDATE task_runs SET ended_ms = $1 WHERE task_id = $2 \
         AND fence = (SELECT fence FROM tasks WHERE id = $2) AND ended_ms IS NULL",
    )
    .bind(now_ms)
    .bind(id.0)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    release_lease(conn, id).await
}

/// Clears the lease's expiry so any node may act on the task (its node is kept for the record).
async fn release_lease(conn: &mut PgConnection, id: TaskId) -> Result<()> {
    sqlx::query("UPDATE tasks SET lease_until_ms = NULL WHERE id = $1")
        .bind(id.0)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Refuses to wind a pausing task down while a run on another node still holds it: that node
/// sees the stop at its next renewal and ends the run itself.
pub(super) async fn check_no_live_run(
    conn: &mut PgConnection,
    id: TaskId,
    now_ms: i64,
) -> Result<()> {
    let row: Option<(Option<String>, Option<i64>)> =
        sqlx::query_as("SELECT lease_node, lease_until_ms FROM tasks WHERE id = $1 FOR UPDATE")
            .bind(id.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    match row {
        Some((node, until)) if !tern_core::lease_expired(until, now_ms) => {
            Err(tern_core::Error::InvalidState(format!(
                "task {id} is running on node {}; it stops at that node's next lease renewal",
                node.unwrap_or_default()
            )))
        }
        _ => Ok(()),
    }
}
