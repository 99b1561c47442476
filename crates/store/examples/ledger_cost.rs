//! What one key costs the ledger: bytes on disk and commit time, measured through
//! `record_batch` as the scheduler calls it (batches of 500 outcomes, keys in listing order).
//! Run by `bench/ledger_size.sh`; prints `name=value` lines.
//!
//!   cargo run --release -p tern-store --example ledger_cost -- 100000
//!   cargo run --release -p tern-store --example ledger_cost -- 100000 --postgres [URL]
//!
//! With `--postgres` the ledger is PostgreSQL's: a fresh database on the server of `URL` (or on
//! a throwaway cluster of the test kit), commit time only, plus the statements (round trips)
//! per batch when that server loads `pg_stat_statements`.

use std::path::Path;
use std::time::Instant;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use tern_core::{
    BandwidthPolicy, CloudType, ConsistencyCheck, CopyPath, Credentials, DestinationSpec,
    GroupType, ObjectOutcome, Outcome, OutcomeBatch, OutcomeKind, OverwriteMode, Secret,
    SourceSpec, TaskId, TaskPriority, TaskSecrets, TaskSpec, TaskStore, TaskType, Verification,
};
use tern_store::{PgTaskStore, SqliteTaskStore, DB_FILE};
use tern_testkit::PostgresServer;

/// Outcomes per commit, as the scheduler's default (`DEFAULT_BATCH_OUTCOMES`).
const BATCH: usize = 500;

fn spec() -> TaskSpec {
    TaskSpec {
        task_type: TaskType::Prefix,
        src: SourceSpec {
            cloud_type: CloudType::Aws,
            region: "bench".into(),
            bucket: "src".into(),
            app_id: None,
            object_keys: vec![String::new()],
            list_file: None,
            key_range: None,
            list_lines: None,
            signed: true,
        },
        dst: DestinationSpec {
            cloud_type: CloudType::HuaweiCloud,
            region: "bench".into(),
            bucket: "dst".into(),
            save_prefix: String::new(),
        },
        description: String::new(),
        migrate_since_s: None,
        bandwidth_policy: BandwidthPolicy::default(),
        enable_metadata_migration: false,
        enable_restore: false,
        enable_failed_object_recording: true,
        object_overwrite_mode: OverwriteMode::SizeLastModified,
        consistency_check: ConsistencyCheck::SizeLastModified,
        dst_storage_policy: String::new(),
        enable_requester_pays: false,
        task_priority: TaskPriority::Medium,
        echo_json: String::new(),
        group_id: None,
        group_type: GroupType::NormalTask,
    }
}

fn secrets() -> TaskSecrets {
    let credentials = || Credentials {
        access_key: "AK".into(),
        secret_key: Secret::new("SK".to_owned()),
        security_token: None,
        connection_string: None,
        json_auth_file: None,
    };
    TaskSecrets {
        src: credentials(),
        dst: credentials(),
        cdn_key: None,
    }
}

/// A realistic key of about 50 bytes, zero-padded so `i` order is listing order.
fn key(i: usize) -> String {
    format!(
        "data/tenant-{:04}/2026-11-25/object-{i:010}.parquet",
        i / 10_000
    )
}

/// A streamed, size-checked success with the CRC64 the copy computed (what a streamed copy
/// records), of a pseudo-random size between 1 KiB and 64 MiB.
fn outcome(i: usize) -> ObjectOutcome {
    let mix = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ObjectOutcome {
        key: key(i),
        size: 1024 + (mix >> 38),
        outcome: Outcome::Succeeded {
            verification: Verification::SizeLastModified,
            crc64: Some(mix ^ 0x5555),
            path: CopyPath::Streamed,
        },
    }
}

/// Statements PostgreSQL has run in this database so far, by `pg_stat_statements`; `None`
/// when the server does not load it.
async fn pg_statements(conn: &mut PgConnection) -> Option<i64> {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&mut *conn)
        .await
        .ok()?;
    sqlx::query_scalar(
        "SELECT COALESCE(SUM(s.calls), 0)::bigint FROM pg_stat_statements s \
         JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()",
    )
    .fetch_one(conn)
    .await
    .ok()
}

/// What [`record`] did.
struct Recorded {
    task: TaskId,
    /// Seconds spent in `record_batch`.
    commit_secs: f64,
    batches: usize,
    key_bytes: usize,
}

/// Records `count` outcomes of a new task in batches of [`BATCH`] and checks the ledger reads
/// them back in order.
async fn record(
    store: &dyn TaskStore,
    count: usize,
) -> Result<Recorded, Box<dyn std::error::Error>> {
    let task = store.create_task("bench", &spec(), &secrets(), 0).await?;
    let mut commit_secs = 0.0;
    let mut key_bytes = 0usize;
    let mut batches = 0;
    let mut done = 0;
    while done < count {
        let end = (done + BATCH).min(count);
        let outcomes: Vec<ObjectOutcome> = (done..end).map(outcome).collect();
        key_bytes += outcomes.iter().map(|o| o.key.len()).sum::<usize>();
        let batch = OutcomeBatch {
            listed_num: (end - done) as u64,
            listed_size: outcomes.iter().map(|o| o.size).sum(),
            checkpoint: Some(key(end - 1)),
            outcomes,
            ..OutcomeBatch::default()
        };
        let start = Instant::now();
        store.record_batch(task.id, &batch).await?;
        commit_secs += start.elapsed().as_secs_f64();
        batches += 1;
        done = end;
    }
    // The success list must still be complete and in order (a cheap check of what we measure).
    let first = store
        .ledger_page(task.id, OutcomeKind::Succeeded, None, 1)
        .await?;
    let last = store
        .ledger_page(task.id, OutcomeKind::Succeeded, Some(&key(count - 2)), 5)
        .await?;
    assert_eq!(first.first().map(|e| e.key.clone()), Some(key(0)));
    assert_eq!(last.len(), 1);
    Ok(Recorded {
        task: task.id,
        commit_secs,
        batches,
        key_bytes,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let count: usize = match args.peek() {
        Some(arg) if !arg.starts_with("--") => args.next().unwrap_or_default().parse()?,
        _ => 100_000,
    };
    let postgres = match args.next().as_deref() {
        None => None,
        Some("--postgres") => Some(args.next()),
        Some(other) => return Err(format!("unknown argument {other:?}").into()),
    };
    let dir = tempfile::tempdir()?;
    if let Some(url) = postgres {
        return postgres_cost(count, url, dir.path()).await;
    }
    let store = SqliteTaskStore::open(dir.path()).await?;
    let recorded = record(&store, count).await?;
    let counters = store.ledger_counters(recorded.task).await?;
    assert_eq!(counters.successful_num, count as u64);
    store.close().await;
    let (file_bytes, tables) = sizes(&dir.path().join(DB_FILE)).await?;
    println!("keys={count}");
    println!(
        "mean_key_bytes={:.1}",
        recorded.key_bytes as f64 / count as f64
    );
    println!("file_bytes={file_bytes}");
    println!("bytes_per_key={:.1}", file_bytes as f64 / count as f64);
    for (name, bytes) in tables {
        println!("bytes_per_key[{name}]={:.1}", bytes as f64 / count as f64);
    }
    println!(
        "commit_us_per_key={:.2}",
        recorded.commit_secs * 1e6 / count as f64
    );
    Ok(())
}

/// The PostgreSQL run: a fresh database on `url`'s server, or on a throwaway cluster.
async fn postgres_cost(
    count: usize,
    url: Option<String>,
    data_dir: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let (_cluster, url) = match url {
        Some(url) => {
            // A fresh database beside the one named, so runs never share a ledger.
            let mut admin = PgConnection::connect(&url).await?;
            let name = format!("ledger_cost_{}", std::process::id());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await?;
            admin.close().await?;
            let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
            (None, format!("{base}/{name}"))
        }
        None => {
            let cluster = PostgresServer::start().await?;
            let url = cluster.new_database("ledger_cost").await?;
            (Some(cluster), url)
        }
    };
    let store = PgTaskStore::connect(&url, data_dir).await?;
    let mut stats = PgConnection::connect(&url).await?;
    let before = pg_statements(&mut stats).await;
    let recorded = record(&store, count).await?;
    let after = pg_statements(&mut stats).await;
    let counters = store.ledger_counters(recorded.task).await?;
    assert_eq!(counters.successful_num, count as u64);
    store.close().await;
    println!("keys={count}");
    println!("database={url}");
    println!(
        "commit_us_per_key={:.2}",
        recorded.commit_secs * 1e6 / count as f64
    );
    match before.zip(after) {
        // The recording ran `batches` commits plus creating the task and the read-back; the
        // last (a handful of statements) is counted too, so this slightly overstates a batch.
        Some((before, after)) => println!(
            "statements_per_batch={:.2}",
            (after - before) as f64 / recorded.batches as f64
        ),
        None => println!("statements_per_batch=unknown (pg_stat_statements not loaded)"),
    }
    Ok(())
}

/// The file's size after a WAL checkpoint (page_count × page_size) and the bytes of each
/// ledger table and index (dbstat).
async fn sizes(db: &Path) -> Result<(i64, Vec<(String, i64)>), sqlx::Error> {
    let mut conn = SqliteConnectOptions::new().filename(db).connect().await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await?;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&mut conn)
        .await?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut conn)
        .await?;
    let tables: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'ledger%' GROUP BY name \
         ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await?;
    conn.close().await?;
    Ok((pages * page_size, tables))
}
