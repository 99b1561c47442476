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
//! looking it up under every kind while it holds the task's row lock.

use sqlx::{PgConnection, PgPool, Postgres};
use tern_core::{Counters, LedgerEntry, ObjectOutcome, OutcomeBatch, OutcomeKind, Result, TaskId};

use super::tasks::current_status;
use super::PgTaskStore;
use crate::error::{db_error, from_db, to_db};
use crate::rows::{kind_code, kind_from_code, ledger_entry, LedgerFields};

/// Signed changes to the six stored counters made by one batch.
#[derive(Default)]
struct CounterDelta {
    nums: [i64; 3],
    sizes: [i64; 3],
}

impl CounterDelta {
    fn slot(kind: OutcomeKind) -> usize {
        match kind {
            OutcomeKind::Succeeded => 0,
            OutcomeKind::Skipped => 1,
            OutcomeKind::Failed => 2,
        }
    }

    fn add(&mut self, kind: OutcomeKind, size: i64) {
        self.nums[Self::slot(kind)] += 1;
        self.sizes[Self::slot(kind)] += size;
    }

    fn remove(&mut self, kind: OutcomeKind, size: i64) {
        self.nums[Self::slot(kind)] -= 1;
        self.sizes[Self::slot(kind)] -= size;
    }
}

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
        let mut delta = CounterDelta::default();
        for outcome in &batch.outcomes {
            write_outcome(tx.conn(), id, outcome, &mut delta).await?;
        }
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

/// Applies the ledger rule to one outcome: insert a new key; replace a `failed` row; keep any
/// other existing row. Records the counter change in `delta`.
async fn write_outcome(
    conn: &mut PgConnection,
    id: TaskId,
    outcome: &ObjectOutcome,
    delta: &mut CounterDelta,
) -> Result<()> {
    let size = to_db(outcome.size, "size")?;
    let fields = LedgerFields::of(outcome);
    // `kind IN (...)` makes three probes of the primary key instead of a scan of the task.
    let existing: Option<(i16, i64)> = sqlx::query_as(
        "SELECT kind, size FROM ledger WHERE task_id = $1 AND kind IN (0, 1, 2) AND key = $2",
    )
    .bind(id.0)
    .bind(&outcome.key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    match existing {
        None => {}
        Some((old_kind, old_size)) if kind_from_code(old_kind.into())? == OutcomeKind::Failed => {
            sqlx::query("DELETE FROM ledger WHERE task_id = $1 AND kind = $2 AND key = $3")
                .bind(id.0)
                .bind(old_kind)
                .bind(&outcome.key)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            delta.remove(OutcomeKind::Failed, old_size);
        }
        Some(_) => return Ok(()),
    }
    sqlx::query::<Postgres>(
        "INSERT INTO ledger (task_id, kind, key, size, detail, message, crc64) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.0)
    .bind(kind_code(fields.kind))
    .bind(&outcome.key)
    .bind(size)
    .bind(fields.detail)
    .bind(&fields.message)
    .bind(fields.crc64)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    delta.add(fields.kind, size);
    Ok(())
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

/// One key's ledger row.
pub(super) async fn entry(pool: &PgPool, id: TaskId, key: &str) -> Result<Option<LedgerEntry>> {
    let row: Option<LedgerRow> = sqlx::query_as(
        "SELECT key, size, kind, detail, message, crc64 FROM ledger \
         WHERE task_id = $1 AND kind IN (0, 1, 2) AND key = $2",
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
        "SELECT kind, COUNT(*), COALESCE(SUM(size), 0) FROM ledger WHERE task_id = $1 \
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
