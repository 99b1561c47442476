//! What one key costs the SQLite ledger: bytes on disk and commit time, measured through
//! `record_batch` as the scheduler calls it (batches of 500 outcomes, keys in listing order).
//! Run by `bench/ledger_size.sh`; prints `name=value` lines.
//!
//!   cargo run --release -p tern-store --example ledger_cost -- 100000

use std::path::Path;
use std::time::Instant;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tern_core::{
    BandwidthPolicy, CloudType, ConsistencyCheck, CopyPath, Credentials, DestinationSpec,
    GroupType, ObjectOutcome, Outcome, OutcomeBatch, OutcomeKind, OverwriteMode, Secret,
    SourceSpec, TaskPriority, TaskSecrets, TaskSpec, TaskStore, TaskType, Verification,
};
use tern_store::{SqliteTaskStore, DB_FILE};

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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args()
        .nth(1)
        .map(|arg| arg.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let store = SqliteTaskStore::open(dir.path()).await?;
    let task = store.create_task("bench", &spec(), &secrets(), 0).await?;
    let mut commit_secs = 0.0;
    let mut key_bytes = 0usize;
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
    let counters = store.ledger_counters(task.id).await?;
    assert_eq!(counters.successful_num, count as u64);
    store.close().await;
    let (file_bytes, tables) = sizes(&dir.path().join(DB_FILE)).await?;
    println!("keys={count}");
    println!("mean_key_bytes={:.1}", key_bytes as f64 / count as f64);
    println!("file_bytes={file_bytes}");
    println!("bytes_per_key={:.1}", file_bytes as f64 / count as f64);
    for (name, bytes) in tables {
        println!("bytes_per_key[{name}]={:.1}", bytes as f64 / count as f64);
    }
    println!("commit_us_per_key={:.2}", commit_secs * 1e6 / count as f64);
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
