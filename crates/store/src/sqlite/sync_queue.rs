//! The sync event queue's row-level steps shared by the `SyncStore` operations: counting into a
//! five-minute bucket, returning a claimed event (or merging it into a fresh twin), reading a
//! claimed row.

use sqlx::{Row, SqliteConnection};
use tern_core::{ClaimedEvent, Result, SyncTaskId, STAT_BUCKET_MS};

use crate::error::db_error;

/// Adds `counts` to the bucket holding `time_ms` (negative counts take back).
pub(super) async fn add_stats(
    conn: &mut SqliteConnection,
    id: &SyncTaskId,
    time_ms: i64,
    counts: [i64; 5],
) -> Result<()> {
    if counts.iter().all(|&count| count == 0) {
        return Ok(());
    }
    let bucket = time_ms.div_euclid(STAT_BUCKET_MS) * STAT_BUCKET_MS;
    sqlx::query(
        "INSERT INTO sync_stats (sync_task_id, bucket_ms, request, success, failure, skip, size) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (sync_task_id, bucket_ms) DO UPDATE SET \
         request = request + excluded.request, success = success + excluded.success, \
         failure = failure + excluded.failure, skip = skip + excluded.skip, \
         size = size + excluded.size",
    )
    .bind(&id.0)
    .bind(bucket)
    .bind(counts[0])
    .bind(counts[1])
    .bind(counts[2])
    .bind(counts[3])
    .bind(counts[4])
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Puts `node`'s claimed event back in the queue, or, when its key has been queued afresh
/// meanwhile, drops it into that fresh row and takes its `REQUEST` back (the fresh row counted
/// its own). An event another node has claimed since is that node's: left alone.
pub(super) async fn requeue(
    conn: &mut SqliteConnection,
    id: &SyncTaskId,
    node: &str,
    event: &ClaimedEvent,
    attempts: u32,
    not_before_ms: i64,
) -> Result<()> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT seq FROM sync_events WHERE seq = $1 AND claimed AND claimed_by = $2",
    )
    .bind(event.seq)
    .bind(node)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    if held.is_none() {
        return Ok(());
    }
    let twin: Option<i64> = sqlx::query_scalar(
        "SELECT seq FROM sync_events WHERE sync_task_id = $1 AND key = $2 AND NOT claimed",
    )
    .bind(&id.0)
    .bind(&event.key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    if twin.is_some() {
        sqlx::query("DELETE FROM sync_events WHERE seq = $1")
            .bind(event.seq)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        return add_stats(conn, id, event.accepted_ms, [-1, 0, 0, 0, 0]).await;
    }
    sqlx::query(
        "UPDATE sync_events SET claimed = FALSE, claimed_by = NULL, claimed_until_ms = 0, \
         attempts = $1, not_before_ms = $2 WHERE seq = $3",
    )
    .bind(i64::from(attempts))
    .bind(not_before_ms)
    .bind(event.seq)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(super) fn claimed_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ClaimedEvent> {
    let attempts: i64 = row.try_get("attempts").map_err(db_error)?;
    Ok(ClaimedEvent {
        seq: row.try_get("seq").map_err(db_error)?,
        key: row.try_get("key").map_err(db_error)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        accepted_ms: row.try_get("accepted_ms").map_err(db_error)?,
    })
}
