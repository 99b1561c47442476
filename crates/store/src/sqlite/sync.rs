//! Sync tasks on SQLite: the task rows and their status changes, sealed secrets, the durable
//! event queue and the five-minute statistics.
//!
//! Status changes follow `tasks.rs`: read the status inside `BEGIN IMMEDIATE`, ask
//! [`SyncStatus::apply`], write with `WHERE status = <the one read>`. Accepting events checks
//! the status in the same transaction that inserts them, so an event is never queued for a
//! task a racing stop has just stopped.

use async_trait::async_trait;
use sqlx::{Row, SqliteConnection};
use tern_core::{
    ClaimedEvent, Error, EventResolution, OutcomeKind, Result, StatBucket, SyncClaim, SyncCounts,
    SyncEvent, SyncSpec, SyncStatus, SyncStore, SyncTask, SyncTaskId, TaskSecrets,
    MAX_SYNC_TASKS_PER_PROJECT,
};

use super::sync_queue::{add_stats, claimed_from_row, requeue};
use super::SqliteTaskStore;
use crate::error::{db_error, from_db, to_db};
use crate::rows::{secrets_from_json, secrets_json, sync_spec_from_json, sync_spec_json};

const SELECT_SYNC: &str =
    "SELECT id, project_id, status, spec, created_at_ms, last_start_ms FROM sync_tasks";

fn not_found(id: &SyncTaskId) -> Error {
    Error::SyncNotFound(id.clone())
}

/// Associated data binding sealed secrets to their sync task.
fn secrets_context(id: &SyncTaskId) -> String {
    format!("sync-secrets:{id}")
}

fn sync_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<SyncTask> {
    let id: String = row.try_get("id").map_err(db_error)?;
    let status: String = row.try_get("status").map_err(db_error)?;
    let spec: String = row.try_get("spec").map_err(db_error)?;
    Ok(SyncTask {
        status: status
            .parse()
            .map_err(|_| Error::Internal(format!("sync task {id}: stored status {status:?}")))?,
        spec: sync_spec_from_json(&spec)?,
        project_id: row.try_get("project_id").map_err(db_error)?,
        created_at_ms: row.try_get("created_at_ms").map_err(db_error)?,
        last_start_ms: row.try_get("last_start_ms").map_err(db_error)?,
        id: SyncTaskId(id),
    })
}

async fn fetch_sync(conn: &mut SqliteConnection, id: &SyncTaskId) -> Result<SyncTask> {
    let row = sqlx::query(&format!("{SELECT_SYNC} WHERE id = $1"))
        .bind(&id.0)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    row.as_ref()
        .map(sync_from_row)
        .transpose()?
        .ok_or_else(|| not_found(id))
}

/// Asks core whether `event` may happen now and writes the new status; returns the old one.
async fn apply_event(
    conn: &mut SqliteConnection,
    id: &SyncTaskId,
    event: SyncEvent,
) -> Result<(SyncStatus, SyncStatus)> {
    let task = fetch_sync(&mut *conn, id).await?;
    let next = task.status.apply(event)?;
    if next != task.status {
        sqlx::query("UPDATE sync_tasks SET status = $1 WHERE id = $2 AND status = $3")
            .bind(next.as_str())
            .bind(&id.0)
            .bind(task.status.as_str())
            .execute(conn)
            .await
            .map_err(db_error)?;
    }
    Ok((task.status, next))
}

#[async_trait]
impl SyncStore for SqliteTaskStore {
    async fn create_sync_task(
        &self,
        project_id: &str,
        spec: &SyncSpec,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<SyncTask> {
        let id = SyncTaskId(uuid::Uuid::new_v4().to_string());
        let spec_text = sync_spec_json(spec)?;
        let sealed = self
            .sealer
            .seal(&secrets_context(&id), &secrets_json(secrets)?)?;
        let mut tx = self.begin_write().await?;
        // Counted inside the write transaction: two racing creates cannot both see four.
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sync_tasks WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(tx.conn())
            .await
            .map_err(db_error)?;
        if from_db(held, "sync task count")? >= MAX_SYNC_TASKS_PER_PROJECT {
            return Err(Error::SyncQuota {
                limit: MAX_SYNC_TASKS_PER_PROJECT,
            });
        }
        sqlx::query(
            "INSERT INTO sync_tasks (id, project_id, status, spec, created_at_ms, last_start_ms) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id.0)
        .bind(project_id)
        .bind(SyncStatus::Synchronizing.as_str())
        .bind(&spec_text)
        .bind(now_ms)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        sqlx::query("INSERT INTO sync_secrets (sync_task_id, sealed) VALUES ($1, $2)")
            .bind(&id.0)
            .bind(sealed)
            .execute(tx.conn())
            .await
            .map_err(db_error)?;
        let task = fetch_sync(tx.conn(), &id).await?;
        tx.commit().await?;
        Ok(task)
    }

    async fn get_sync_task(&self, id: &SyncTaskId) -> Result<Option<SyncTask>> {
        let row = sqlx::query(&format!("{SELECT_SYNC} WHERE id = $1"))
            .bind(&id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(sync_from_row).transpose()
    }

    async fn list_sync_tasks(
        &self,
        project_id: &str,
        status: Option<SyncStatus>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<SyncTask>, u64)> {
        const MATCHES: &str = "WHERE project_id = $1 AND ($2 IS NULL OR status = $2)";
        let status = status.map(SyncStatus::as_str);
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM sync_tasks {MATCHES}"))
            .bind(project_id)
            .bind(status)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        let rows = sqlx::query(&format!(
            "{SELECT_SYNC} {MATCHES} ORDER BY created_at_ms DESC, id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(project_id)
        .bind(status)
        .bind(to_db(limit, "limit")?)
        .bind(to_db(offset, "offset")?)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let tasks = rows.iter().map(sync_from_row).collect::<Result<Vec<_>>>()?;
        Ok((tasks, from_db(total, "sync task count")?))
    }

    async fn sync_tasks_in_status(&self, status: SyncStatus) -> Result<Vec<SyncTask>> {
        let rows = sqlx::query(&format!(
            "{SELECT_SYNC} WHERE status = $1 ORDER BY created_at_ms"
        ))
        .bind(status.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(sync_from_row).collect()
    }

    async fn delete_sync_task(&self, id: &SyncTaskId) -> Result<()> {
        let mut tx = self.begin_write().await?;
        apply_event(tx.conn(), id, SyncEvent::Delete).await?;
        for table_and_column in [
            "sync_events WHERE sync_task_id",
            "sync_stats WHERE sync_task_id",
            "sync_secrets WHERE sync_task_id",
            "sync_tasks WHERE id",
        ] {
            sqlx::query(&format!("DELETE FROM {table_and_column} = $1"))
                .bind(&id.0)
                .execute(tx.conn())
                .await
                .map_err(db_error)?;
        }
        tx.commit().await
    }

    async fn stop_sync_task(&self, id: &SyncTaskId, _now_ms: i64) -> Result<SyncTask> {
        let mut tx = self.begin_write().await?;
        let (_, next) = apply_event(tx.conn(), id, SyncEvent::Stop).await?;
        debug_assert!(next.erases_secrets());
        sqlx::query("DELETE FROM sync_secrets WHERE sync_task_id = $1")
            .bind(&id.0)
            .execute(tx.conn())
            .await
            .map_err(db_error)?;
        let task = fetch_sync(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(task)
    }

    async fn start_sync_task(
        &self,
        id: &SyncTaskId,
        secrets: &TaskSecrets,
        now_ms: i64,
    ) -> Result<SyncTask> {
        let sealed = self
            .sealer
            .seal(&secrets_context(id), &secrets_json(secrets)?)?;
        let mut tx = self.begin_write().await?;
        apply_event(tx.conn(), id, SyncEvent::Start).await?;
        sqlx::query("UPDATE sync_tasks SET last_start_ms = $1 WHERE id = $2")
            .bind(now_ms)
            .bind(&id.0)
            .execute(tx.conn())
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO sync_secrets (sync_task_id, sealed) VALUES ($1, $2) \
             ON CONFLICT (sync_task_id) DO UPDATE SET sealed = excluded.sealed",
        )
        .bind(&id.0)
        .bind(sealed)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        let task = fetch_sync(tx.conn(), id).await?;
        tx.commit().await?;
        Ok(task)
    }

    async fn sync_secrets(&self, id: &SyncTaskId) -> Result<Option<TaskSecrets>> {
        let sealed: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT sealed FROM sync_secrets WHERE sync_task_id = $1")
                .bind(&id.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_error)?;
        sealed
            .map(|sealed| {
                let plaintext = self.sealer.open(&secrets_context(id), &sealed)?;
                secrets_from_json(&plaintext)
            })
            .transpose()
    }

    async fn accept_sync_events(
        &self,
        id: &SyncTaskId,
        keys: &[String],
        now_ms: i64,
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        apply_event(tx.conn(), id, SyncEvent::AcceptEvents).await?;
        let mut queued: i64 = 0;
        for key in keys {
            // The partial unique index answers "already waiting" (SQLite and PostgreSQL both
            // take ON CONFLICT on a partial index when its predicate is repeated).
            let inserted = sqlx::query(
                "INSERT INTO sync_events (sync_task_id, key, accepted_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (sync_task_id, key) WHERE NOT claimed DO NOTHING",
            )
            .bind(&id.0)
            .bind(key)
            .bind(now_ms)
            .execute(tx.conn())
            .await
            .map_err(db_error)?
            .rows_affected();
            queued += i64::try_from(inserted).unwrap_or(0);
        }
        add_stats(tx.conn(), id, now_ms, [queued, 0, 0, 0, 0]).await?;
        tx.commit().await?;
        from_db(queued, "queued events")
    }

    async fn claim_sync_events(
        &self,
        id: &SyncTaskId,
        claim: &SyncClaim,
        limit: u64,
        now_ms: i64,
    ) -> Result<Vec<ClaimedEvent>> {
        // An idle worker asks often; answering "nothing due" from a reader keeps it off the
        // write lock that accepting events needs.
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM sync_events WHERE sync_task_id = $1 \
             AND (NOT claimed OR claimed_until_ms < $2) AND not_before_ms <= $2 LIMIT 1",
        )
        .bind(&id.0)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "UPDATE sync_events SET claimed = TRUE, claimed_by = $4, claimed_until_ms = $5 \
             WHERE seq IN (\
               SELECT seq FROM sync_events WHERE sync_task_id = $1 \
               AND (NOT claimed OR claimed_until_ms < $2) \
               AND not_before_ms <= $2 ORDER BY seq LIMIT $3) \
             RETURNING seq, key, attempts, accepted_ms",
        )
        .bind(&id.0)
        .bind(now_ms)
        .bind(to_db(limit, "limit")?)
        .bind(&claim.node)
        .bind(now_ms.saturating_add(claim.lease_ms))
        .fetch_all(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await?;
        let mut events = rows
            .iter()
            .map(claimed_from_row)
            .collect::<Result<Vec<_>>>()?;
        // RETURNING gives no order guarantee.
        events.sort_by_key(|event| event.seq);
        Ok(events)
    }

    async fn resolve_sync_events(
        &self,
        id: &SyncTaskId,
        node: &str,
        resolutions: &[(ClaimedEvent, EventResolution)],
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let mut counts = [0i64; 5];
        for (event, resolution) in resolutions {
            match resolution {
                EventResolution::Done { kind, size } => {
                    let deleted = sqlx::query(
                        "DELETE FROM sync_events WHERE seq = $1 AND claimed AND claimed_by = $2",
                    )
                    .bind(event.seq)
                    .bind(node)
                    .execute(tx.conn())
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                    // Gone already (the task was deleted meanwhile), or taken over by another
                    // node after this node's claim expired: nothing to count here.
                    if deleted == 0 {
                        continue;
                    }
                    match kind {
                        OutcomeKind::Succeeded => {
                            counts[1] += 1;
                            counts[4] += to_db(*size, "size")?;
                        }
                        OutcomeKind::Failed => counts[2] += 1,
                        OutcomeKind::Skipped => counts[3] += 1,
                    }
                }
                EventResolution::Retry { not_before_ms } => {
                    requeue(
                        tx.conn(),
                        id,
                        node,
                        event,
                        event.attempts.saturating_add(1),
                        *not_before_ms,
                    )
                    .await?;
                }
            }
        }
        add_stats(tx.conn(), id, now_ms, counts).await?;
        tx.commit().await
    }

    async fn release_sync_events(&self, id: Option<&SyncTaskId>, node: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT seq, key, attempts, accepted_ms, sync_task_id FROM sync_events \
             WHERE claimed AND claimed_by = $2 AND ($1 IS NULL OR sync_task_id = $1) \
             ORDER BY seq",
        )
        .bind(id.map(|id| id.0.as_str()))
        .bind(node)
        .fetch_all(tx.conn())
        .await
        .map_err(db_error)?;
        for row in &rows {
            let event = claimed_from_row(row)?;
            let task = SyncTaskId(row.try_get("sync_task_id").map_err(db_error)?);
            requeue(tx.conn(), &task, node, &event, event.attempts, 0).await?;
        }
        tx.commit().await
    }

    async fn pending_sync_events(&self, id: &SyncTaskId) -> Result<u64> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sync_events WHERE sync_task_id = $1")
                .bind(&id.0)
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
        from_db(count, "pending events")
    }

    async fn sync_stats(
        &self,
        id: &SyncTaskId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<StatBucket>> {
        let rows = sqlx::query(
            "SELECT bucket_ms, request, success, failure, skip, size FROM sync_stats \
             WHERE sync_task_id = $1 AND bucket_ms >= $2 AND bucket_ms < $3 ORDER BY bucket_ms",
        )
        .bind(&id.0)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let get = |name: &str| -> Result<u64> {
                    let value: i64 = row.try_get(name).map_err(db_error)?;
                    from_db(value, name)
                };
                Ok(StatBucket {
                    start_ms: row.try_get("bucket_ms").map_err(db_error)?,
                    counts: SyncCounts {
                        request: get("request")?,
                        success: get("success")?,
                        failure: get("failure")?,
                        skip: get("skip")?,
                        size: get("size")?,
                    },
                })
            })
            .collect()
    }
}
