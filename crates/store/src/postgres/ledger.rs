//! The per-object ledger on PostgreSQL and the counters that summarize it.
//!
//! Counters are exact because they change only here, in the transaction that changes the
//! ledger, by the difference each row write makes: a new key adds its kind, a replaced failed
//! row moves from `failed` to its new kind, an ignored outcome changes nothing. Every ledger
//! row is counted once, so `total = succeeded + skipped + failed` holds by construction (see
//! `rows.rs`), and [`aggregate`] recounts with `GROUP BY` for tests and checks.
//!
//! The primary key is `(task_id, kind, key)` (migration 0004), so one kind's page is a range
//! of it and no second index copies every key; this module's writer keeps a key to one row,
//! looking the batch's keys up under every kind while it holds the task's row lock.

use sqlx::{PgConnection, PgPool, Postgres};
use tern_core::{Counters, LedgerEntry, ObjectOutcome, OutcomeBatch, OutcomeKind, Result, TaskId};

use super::tasks::current_status;
use super::PgTaskStore;
use crate::error::{db_error, from_db, to_db};
use crate::ledger_batch::{self, CounterDelta};
use crate::rows::{kind_code, kind_from_code, ledger_entry};

impl PgTaskStore {
    /// Commits one batch: listing progress, outcomes, counters and checkpoint together. The
    /// task's row lock (taken reading its status) serializes batches of one task, so their
    /// read-then-write of ledger rows and counters never interleaves.
    pub(super) async fn record(&self, id: TaskId, batch: &OutcomeBatch) -> Result<()> {
        let listed_num = to_db(batch.listed_num, "listed_num")?;
        let listed_size = to_db(batch.listed_size, "listed_size")?;
        let mut tx = self.begin_write().await?;
        current_status(tx.conn(), id).await?;
        super::leases::check_task_fence(tx.conn(), id, batch.fence).await?;
        let delta = write_outcomes(tx.conn(), id, &batch.outcomes).await?;
        sqlx::query(
            "UPDATE tasks SET listed_num = listed_num + $1, listed_size = listed_size + $2, \
             checkpoint = COALESCE($3, checkpoint), is_query_over = (is_query_over OR $4), \
             migrate_speed = $5, left_time_ms = $6, \
             succeeded_num = succeeded_num + $7, succeeded_size = succeeded_size + $8, \
             skipped_num = skipped_num + $9, skipped_size = skipped_size + $10, \
             failed_num = failed_num + $11, failed_size = failed_size + $12 \
             WHERE id = $13",
        )
        .bind(listed_num)
        .bind(listed_size)
        .bind(batch.checkpoint.as_deref())
        .bind(batch.is_query_over)
        .bind(batch.migrate_speed)
        .bind(batch.left_time_ms)
        .bind(delta.nums[0])
        .bind(delta.sizes[0])
        .bind(delta.nums[1])
        .bind(delta.sizes[1])
        .bind(delta.nums[2])
        .bind(delta.sizes[2])
        .bind(id.0)
        .execute(tx.conn())
        .await
        .map_err(db_error)?;
        tx.commit().await
    }
}

/// Writes a batch's outcomes by the ledger rule ([`ledger_batch`]) and returns the counter
/// changes, in at most three statements whatever the batch's size: one reads the rows of every
/// key the batch names, one deletes the failed rows it replaces, one inserts its new rows.
/// Arrays carry the keys and rows, so no batch nears the 65,535 bind parameters of a statement.
async fn write_outcomes(
    conn: &mut PgConnection,
    id: TaskId,
    outcomes: &[ObjectOutcome],
) -> Result<CounterDelta> {
    if outcomes.is_empty() {
        return Ok(CounterDelta::default());
    }
    // One probe of the whole primary key per key and kind, in a LATERAL subquery the planner
    // cannot turn into a join. Measured on 100,000 rows, 500 keys a batch, the looser forms
    // are planned badly while the table is young and the plans are kept as it grows: a join
    // on the unnested keys became a hash join over the task's rows (up to 2 s a batch), and
    // `kind IN (0, 1, 2)` an index scan on (task, key) filtering by kind (tens of ms).
    let stored: Vec<(String, i16, i64)> = sqlx::query_as(
        "SELECT k.key, c.kind, l.size FROM UNNEST($2::text[]) AS k(key) \
         CROSS JOIN (VALUES (0::smallint), (1::smallint), (2::smallint)) AS c(kind) \
         CROSS JOIN LATERAL (SELECT size FROM ledger \
         WHERE task_id = $1 AND kind = c.kind AND key = k.key LIMIT 1) AS l",
    )
    .bind(id.0)
    .bind(ledger_batch::batch_keys(outcomes))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let stored = stored
        .into_iter()
        .map(|(key, kind, size)| Ok((key, kind_from_code(kind.into())?, size)))
        .collect::<Result<Vec<_>>>()?;
    let plan = ledger_batch::plan(outcomes, &stored)?;
    if !plan.replaced.is_empty() {
        // Even planned as a scan of the task's failed rows filtered by key, this reads only
        // failures, which a retried batch is replacing anyway.
        sqlx::query("DELETE FROM ledger WHERE task_id = $1 AND kind = $2 AND key = ANY($3)")
            .bind(id.0)
            .bind(kind_code(OutcomeKind::Failed))
            .bind(&plan.replaced)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    if plan.rows.is_empty() {
        return Ok(plan.delta);
    }
    let rows = &plan.rows;
    // A plain INSERT, not an upsert: the plan holds one row per key and deleted what it
    // replaces, so a conflict would be a broken rule and must fail the batch.
    sqlx::query(
        "INSERT INTO ledger (task_id, kind, key, size, detail, message, crc64) \
         SELECT $1, * FROM UNNEST($2::smallint[], $3::text[], $4::bigint[], $5::text[], \
         $6::text[], $7::bigint[])",
    )
    .bind(id.0)
    .bind(
        rows.iter()
            .map(|r| kind_code(r.fields.kind))
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.key).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.size).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.fields.detail.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|r| r.fields.message.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.fields.crc64).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(plan.delta)
}

type LedgerRow = (String, i64, i16, String, String, Option<i64>);

fn entry_from_row((key, size, kind, detail, message, crc64): LedgerRow) -> Result<LedgerEntry> {
    ledger_entry(
        key,
        size,
        kind_from_code(kind.into())?,
        detail,
        message,
        crc64,
    )
}

/// One key's ledger row: one probe of the whole primary key per kind, as `write_outcomes` looks
/// keys up (`kind IN (0, 1, 2)` may be planned as a scan of the task's rows).
pub(super) async fn entry(pool: &PgPool, id: TaskId, key: &str) -> Result<Option<LedgerEntry>> {
    let row: Option<LedgerRow> = sqlx::query_as(
        "SELECT l.key, l.size, l.kind, l.detail, l.message, l.crc64 \
         FROM (VALUES (0::smallint), (1::smallint), (2::smallint)) AS c(kind) \
         CROSS JOIN LATERAL (SELECT key, size, kind, detail, message, crc64 FROM ledger \
         WHERE task_id = $1 AND kind = c.kind AND key = $2) AS l LIMIT 1",
    )
    .bind(id.0)
    .bind(key)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    row.map(entry_from_row).transpose()
}

/// Rows of one kind in key order after `after_key`, at most `limit`; a range of the primary key.
pub(super) async fn page(
    pool: &PgPool,
    id: TaskId,
    kind: OutcomeKind,
    after_key: Option<&str>,
    limit: u64,
) -> Result<Vec<LedgerEntry>> {
    let limit = to_db(limit, "limit")?;
    // Two statements rather than `$3 IS NULL OR key > $3`, which would hide the range from
    // the planner.
    let query = match after_key {
        None => sqlx::query_as::<Postgres, LedgerRow>(
            "SELECT key, size, kind, detail, message, crc64 FROM ledger \
             WHERE task_id = $1 AND kind = $2 ORDER BY key LIMIT $3",
        )
        .bind(id.0)
        .bind(kind_code(kind))
        .bind(limit),
        Some(after_key) => sqlx::query_as::<Postgres, LedgerRow>(
            "SELECT key, size, kind, detail, message, crc64 FROM ledger \
             WHERE task_id = $1 AND kind = $2 AND key > $4 ORDER BY key LIMIT $3",
        )
        .bind(id.0)
        .bind(kind_code(kind))
        .bind(limit)
        .bind(after_key),
    };
    let rows = query.fetch_all(pool).await.map_err(db_error)?;
    rows.into_iter().map(entry_from_row).collect()
}

/// Recounts a task's ledger per kind.
pub(super) async fn aggregate(pool: &PgPool, id: TaskId) -> Result<Counters> {
    let rows: Vec<(i16, i64, i64)> = sqlx::query_as(
        "SELECT kind, COUNT(*), COALESCE(SUM(size), 0)::bigint FROM ledger WHERE task_id = $1 \
         GROUP BY kind",
    )
    .bind(id.0)
    .fetch_all(pool)
    .await
    .map_err(db_error)?;
    let mut counters = Counters::default();
    for (kind, num, size) in rows {
        let num = from_db(num, "ledger count")?;
        let size = from_db(size, "ledger size")?;
        counters.total_num += num;
        counters.total_size += size;
        match kind_from_code(kind.into())? {
            OutcomeKind::Succeeded => {
                counters.successful_num = num;
                counters.successful_size = size;
            }
            OutcomeKind::Skipped => {
                counters.skipped_num = num;
                counters.skipped_size = size;
            }
            OutcomeKind::Failed => {
                counters.failed_num = num;
                counters.failed_size = size;
            }
        }
    }
    Ok(counters)
}
