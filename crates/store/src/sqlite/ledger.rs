//! The per-object ledger on SQLite and the counters that summarize it.
//!
//! Counters are exact because they change only here, in the transaction that changes the
//! ledger, by the difference each row write makes: a new key adds its kind, a replaced failed
//! row moves from `failed` to its new kind, an ignored outcome changes nothing. Every ledger
//! row is counted once, so `total = succeeded + skipped + failed` holds by construction (see
//! `rows.rs`), and [`aggregate`] recounts with `GROUP BY` for tests and checks.
//!
//! A row costs little more than its key (migration 0009): the primary key is
//! `(task_id, kind, key)`, so one kind's page is a range of the table and no index copies the
//! key; the kind is a small integer; the detail is an id into `ledger_words`. Nothing but this
//! module's writer keeps a key to one row: it looks the batch's keys up under every kind in the
//! write transaction before inserting them.

use std::collections::HashMap;

use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tern_core::{
    Counters, Error, LedgerEntry, ObjectOutcome, OutcomeBatch, OutcomeKind, Result, TaskId,
};

use super::tasks::current_status;
use super::SqliteTaskStore;
use crate::error::{db_error, from_db, to_db};
use crate::ledger_batch::{self, CounterDelta};
use crate::rows::{kind_code, kind_from_code, ledger_entry};

/// Ids of `ledger_words` looked up by one batch.
type Words = HashMap<String, i64>;

/// Prepends the entry column list (the detail resolved through `ledger_words`) to the rest of
/// a `SELECT`. CROSS JOIN keeps `ledger` the outer loop, so a page stays a range scan.
macro_rules! select_entries {
    ($rest:literal) => {
        concat!(
            "SELECT l.key, l.size, l.kind, w.word, l.message, l.crc64 FROM ledger l \
             CROSS JOIN ledger_words w ON w.id = l.detail_id ",
            $rest
        )
    };
}

impl SqliteTaskStore {
    /// Commits one batch: listing progress, outcomes, counters and checkpoint together.
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
/// changes. A few statements a batch, not two a key: one reads every key the batch names
/// (whatever its kind), one inserts the new rows; only replaced failed rows are deleted one by
/// one.
async fn write_outcomes(
    conn: &mut SqliteConnection,
    id: TaskId,
    outcomes: &[ObjectOutcome],
) -> Result<CounterDelta> {
    if outcomes.is_empty() {
        return Ok(CounterDelta::default());
    }
    let keys = serde_json::to_string(&ledger_batch::batch_keys(outcomes))
        .map_err(|err| Error::Internal(format!("encoding ledger keys: {err}")))?;
    // json_each (SQLite only) drives three seeks of the primary key per key, as `kind IN`
    // would for one key.
    let stored: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT l.key, l.kind, l.size FROM json_each($2) j \
         CROSS JOIN ledger l ON l.task_id = $1 AND l.kind IN (0, 1, 2) AND l.key = j.value",
    )
    .bind(id.0)
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let stored = stored
        .into_iter()
        .map(|(key, kind, size)| Ok((key, kind_from_code(kind)?, size)))
        .collect::<Result<Vec<_>>>()?;
    let plan = ledger_batch::plan(outcomes, &stored)?;
    for key in &plan.replaced {
        sqlx::query("DELETE FROM ledger WHERE task_id = $1 AND kind = $2 AND key = $3")
            .bind(id.0)
            .bind(kind_code(OutcomeKind::Failed))
            .bind(key)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    if plan.rows.is_empty() {
        return Ok(plan.delta);
    }
    let mut words = Words::new();
    let mut encoded = Vec::with_capacity(plan.rows.len());
    for row in &plan.rows {
        let fields = &row.fields;
        let detail_id = word_id(conn, &mut words, &fields.detail).await?;
        encoded.push(serde_json::json!([
            kind_code(fields.kind),
            row.key,
            row.size,
            detail_id,
            fields.message,
            fields.crc64
        ]));
    }
    let encoded = serde_json::to_string(&encoded)
        .map_err(|err| Error::Internal(format!("encoding ledger rows: {err}")))?;
    sqlx::query(
        "INSERT INTO ledger (task_id, kind, key, size, detail_id, message, crc64) \
         SELECT $1, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, \
         value ->> 5 FROM json_each($2)",
    )
    .bind(id.0)
    .bind(&encoded)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(plan.delta)
}

/// The id of `word` in `ledger_words`, adding it the first time any batch uses it.
async fn word_id(conn: &mut SqliteConnection, words: &mut Words, word: &str) -> Result<i64> {
    if let Some(id) = words.get(word) {
        return Ok(*id);
    }
    sqlx::query("INSERT INTO ledger_words (word) VALUES ($1) ON CONFLICT (word) DO NOTHING")
        .bind(word)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let id: i64 = sqlx::query_scalar("SELECT id FROM ledger_words WHERE word = $1")
        .bind(word)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    words.insert(word.to_owned(), id);
    Ok(id)
}

type LedgerRow = (String, i64, i64, String, String, Option<i64>);

fn entry_from_row((key, size, kind, detail, message, crc64): LedgerRow) -> Result<LedgerEntry> {
    ledger_entry(key, size, kind_from_code(kind)?, detail, message, crc64)
}

/// One key's ledger row.
pub(super) async fn entry(pool: &SqlitePool, id: TaskId, key: &str) -> Result<Option<LedgerEntry>> {
    let row: Option<LedgerRow> = sqlx::query_as(select_entries!(
        "WHERE l.task_id = $1 AND l.kind IN (0, 1, 2) AND l.key = $2"
    ))
    .bind(id.0)
    .bind(key)
    .fetch_optional(pool)
    .await
    .map_err(db_error)?;
    row.map(entry_from_row).transpose()
}

/// Rows of one kind in key order after `after_key`, at most `limit`; a range of the primary key.
pub(super) async fn page(
    pool: &SqlitePool,
    id: TaskId,
    kind: OutcomeKind,
    after_key: Option<&str>,
    limit: u64,
) -> Result<Vec<LedgerEntry>> {
    let limit = to_db(limit, "limit")?;
    // Two statements rather than `$3 IS NULL OR key > $3`, which would hide the range from
    // the planner.
    let query = match after_key {
        None => sqlx::query_as::<Sqlite, LedgerRow>(select_entries!(
            "WHERE l.task_id = $1 AND l.kind = $2 ORDER BY l.key LIMIT $3"
        ))
        .bind(id.0)
        .bind(kind_code(kind))
        .bind(limit),
        Some(after_key) => sqlx::query_as::<Sqlite, LedgerRow>(select_entries!(
            "WHERE l.task_id = $1 AND l.kind = $2 AND l.key > $4 ORDER BY l.key LIMIT $3"
        ))
        .bind(id.0)
        .bind(kind_code(kind))
        .bind(limit)
        .bind(after_key),
    };
    let rows = query.fetch_all(pool).await.map_err(db_error)?;
    rows.into_iter().map(entry_from_row).collect()
}

/// Recounts a task's ledger per kind.
pub(super) async fn aggregate(pool: &SqlitePool, id: TaskId) -> Result<Counters> {
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
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
        match kind_from_code(kind)? {
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
