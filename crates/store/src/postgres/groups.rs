//! Task groups on PostgreSQL: the group rows, their status changes, sealed secrets and deletion
//! (their tasks: `group_tasks.rs`).
//!
//! Status changes follow `tasks.rs`: lock the row while reading the status, ask
//! [`GroupStatus::apply`], write with `WHERE status = <the one read>`.

use sqlx::PgConnection;
use tern_core::{
    Error, GroupEvent, GroupId, GroupSpec, GroupStatus, Result, TaskGroup, TaskSecrets,
};

use super::read::{fetch_group, group_from_row, select_groups};
use super::PgTaskStore;
use crate::error::{db_error, from_db, to_db};
use crate::rows::{bandwidth_json, group_spec_json, secrets_from_json, secrets_json};

/// The missing-group error.
pub(super) fn not_found(id: &GroupId) -> Error {
    Error::GroupNotFound(id.clone())
}

/// Associated data binding sealed group secrets to their group.
pub(super) fn group_secrets_context(id: &GroupId) -> String {
    format!("group-secrets:{id}")
}

/// Reads a group's project and status inside a transaction and locks its row until the
/// transaction ends; `NotFound` when it is gone.
pub(super) async fn group_head(
    conn: &mut PgConnection,
    id: &GroupId,
) -> Result<(String, GroupStatus)> {
    let row: Option<(String, i32)> =
        sqlx::query_as("SELECT project_id, status FROM task_groups WHERE id = $1 FOR UPDATE")
            .bind(&id.0)
            .fetch_optional(conn)
            .await
            .map_err(db_error)?;
    let (project_id, code) = row.ok_or_else(|| not_found(id))?;
    let status = GroupStatus::from_code(code).ok_or_else(|| {
        Error::Internal(format!("task group {id}: stored status {code} is unknown"))
    })?;
    Ok((project_id, status))
}

/// Inserts or replaces a group's sealed secrets.
pub(super) async fn store_group_secrets(
    conn: &mut PgConnection,
    id: &GroupId,
    sealed: Vec<u8>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO group_secrets (group_id, sealed) VALUES ($1, $2) \
         ON CONFLICT (group_id) DO UPDATE SET sealed = excluded.sealed",
    )
    .bind(&id.0)
    .bind(sealed)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

impl PgTaskStore {
    /// Inserts a group in Waiting under a fresh UUID v4, with its sealed secrets.
    pub(super) async fn insert_group(
        &self,
        project_id: &str,
        spec: &GroupSpec,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<TaskGroup> {
        let id = GroupId(uuid::Uuid::new_v4().to_string());
        let spec_text = group_spec_json(spec)?;
        let policy_text = bandwidth_json(&spec.bandwidth_policy)?;
        let sealed = self
            .sealer
            .seal(&group_secrets_context(&id), &secrets_json(secrets)?)?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO task_groups (id, project_id, status, spec, bandwidth_policy, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id.0)
        .bind(project_id)
        .bind(GroupStatus::Waiting.code())
        .bind(&spec_text)
        .bind(&policy_text)
        .bind(now_ms)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        store_group_secrets(tx.conn(), &id, sealed).await?;
        let group = fetch_group(tx.conn(), &id)
            .await?
            .ok_or_else(|| not_found(&id))?;
        tx.commit().await?;
        Ok(group)
    }

    /// A page of a project's groups, newest first, with the count of all that match.
    pub(super) async fn group_page(
        &self,
        project_id: &str,
        status: Option<GroupStatus>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<TaskGroup>, u64)> {
        const MATCHES: &str = "WHERE project_id = $1 AND ($2 IS NULL OR status = $2)";
        let status = status.map(GroupStatus::code);
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM task_groups {MATCHES}"))
            .bind(project_id)
            .bind(status)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        // Ids break ties of creation time: arbitrary but stable across pages.
        let rows = sqlx::query(&format!(
            "{} {MATCHES} ORDER BY created_at_ms DESC, id DESC LIMIT $3 OFFSET $4",
            select_groups!("")
        ))
        .bind(project_id)
        .bind(status)
        .bind(to_db(limit, "limit")?)
        .bind(to_db(offset, "offset")?)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let groups = rows
            .iter()
            .map(group_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok((groups, from_db(total, "group count")?))
    }

    /// Every group in one of `statuses`, oldest first.
    pub(super) async fn groups_in(&self, statuses: &[GroupStatus]) -> Result<Vec<TaskGroup>> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        // The codes are small integers from the enum, so inlining them is safe.
        let codes: Vec<String> = statuses.iter().map(|s| s.code().to_string()).collect();
        let sql = format!(
            "{} WHERE status IN ({}) ORDER BY created_at_ms, id",
            select_groups!(""),
            codes.join(", ")
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(group_from_row).collect()
    }

    /// Applies an event that moves the group alone (splitter and settling events); the first
    /// `BeginCreating` stamps the start time. The user's operations, which move tasks and
    /// secrets too, have their own transactions (`group_life.rs`).
    pub(super) async fn apply_group_event(
        &self,
        id: &GroupId,
        event: GroupEvent,
        now_ms: i64,
    ) -> Result<TaskGroup> {
        if matches!(
            event,
            GroupEvent::Start { .. }
                | GroupEvent::Retry { .. }
                | GroupEvent::Delete
                | GroupEvent::UpdateBandwidth
        ) {
            return Err(Error::Internal(format!(
                "{event:?} moves tasks or secrets too: use its own store operation"
            )));
        }
        let mut tx = self.begin_write().await?;
        let (_, status) = group_head(tx.conn(), id).await?;
        let next = status.apply(event)?;
        let updated = sqlx::query(
            "UPDATE task_groups SET status = $1, \
             start_time_ms = CASE WHEN $2 THEN COALESCE(start_time_ms, $3) ELSE start_time_ms END \
             WHERE id = $4 AND status = $5",
        )
        .bind(next.code())
        .bind(event == GroupEvent::BeginCreating)
        .bind(now_ms)
        .bind(&id.0)
        .bind(status.code())
        .execute(tx.conn())
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
                .execute(tx.conn())
                .await
                .map_err(db_error)?;
        }
        let group = fetch_group(tx.conn(), id)
            .await?
            .ok_or_else(|| not_found(id))?;
        tx.commit().await?;
        Ok(group)
    }

    /// Unseals a group's secrets; `None` once erased, `NotFound` for an unknown group.
    pub(super) async fn unseal_group_secrets(&self, id: &GroupId) -> Result<Option<TaskSecrets>> {
        let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
            "SELECT s.sealed FROM task_groups g \
             LEFT JOIN group_secrets s ON s.group_id = g.id WHERE g.id = $1",
        )
        .bind(&id.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let (sealed,) = row.ok_or_else(|| not_found(id))?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plaintext = self.sealer.open(&group_secrets_context(id), &sealed)?;
        secrets_from_json(&plaintext).map(Some)
    }
}
