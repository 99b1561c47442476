//! The sync runner on real parts: a SQLite store and a SeaweedFS server. Transient failures are
//! retried until they pass, without counting a failure, and a restart's release makes a claimed
//! event copyable again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_core::{
    CloudType, ConsistencyCheck, Credentials, OverwriteMode, RegionEntry, RegionTable, SyncCounts,
    SyncSpec, SyncStore, SyncTaskId, TaskSecrets,
};
use tern_scheduler::{SyncConfig, SyncRunner};
use tern_store::SqliteTaskStore;
use tern_testkit::{S3Flavor, S3Server};

/// The node these tests claim sync events as: the one a default `SyncConfig` runs as, so a
/// runner started later is that node restarted and takes its claims back.
const SYNC_NODE: &str = "local";

/// A claim of [`SYNC_NODE`] that holds a minute.
fn sync_claim() -> tern_core::SyncClaim {
    tern_core::SyncClaim {
        node: SYNC_NODE.to_owned(),
        lease_ms: 60_000,
    }
}

const WAIT: Duration = Duration::from_secs(30);

fn regions(s3: &S3Server) -> RegionTable {
    let mut table = RegionTable::builtin();
    for cloud_type in [CloudType::Aws, CloudType::HuaweiCloud] {
        table.insert(RegionEntry {
            cloud_type,
            region: "local".into(),
            description: "local".into(),
            endpoint: s3.endpoint().to_owned(),
            protocol: Some(tern_core::Protocol::S3),
        });
    }
    table
}

fn spec(src: &str, dst: &str) -> SyncSpec {
    SyncSpec {
        src_cloud_type: CloudType::Aws,
        src_region: "local".into(),
        src_bucket: src.into(),
        app_id: None,
        dst_cloud_type: CloudType::HuaweiCloud,
        dst_region: "local".into(),
        dst_bucket: dst.into(),
        description: String::new(),
        enable_metadata_migration: false,
        enable_restore: false,
        dst_storage_policy: "STANDARD".into(),
        object_overwrite_mode: OverwriteMode::SizeLastModified,
        consistency_check: ConsistencyCheck::SizeLastModified,
    }
}

fn secrets(s3: &S3Server) -> TaskSecrets {
    let credentials = Credentials::access_key(s3.access_key(), s3.secret_key());
    TaskSecrets {
        src: credentials.clone(),
        dst: credentials,
        cdn_key: None,
    }
}

async fn counts(store: &Arc<dyn SyncStore>, id: &SyncTaskId) -> SyncCounts {
    let mut sum = SyncCounts::default();
    for bucket in store.sync_stats(id, 0, i64::MAX).await.expect("stats") {
        sum.add(&bucket.counts);
    }
    sum
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_transient_failures_are_retried_until_they_pass() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs)
        .await
        .expect("seaweedfs starts");
    let client = s3.client();
    let src = s3.new_bucket("sync-retry-src").await.expect("bucket");
    // The destination bucket does not exist yet: every copy fails as a run-fatal error (a
    // bucket can appear later), which the runner must retry, not count as failed.
    let dst = format!("{src}-late-dst");
    let keys: Vec<String> = (0..5).map(|i| format!("retry/{i} é+.txt")).collect();
    for key in &keys {
        client
            .put_object(&src, key, key.as_bytes().to_vec(), None, &[])
            .await
            .expect("put");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn SyncStore> =
        Arc::new(SqliteTaskStore::open(dir.path()).await.expect("store"));
    let runner = SyncRunner::new(
        Arc::clone(&store),
        SyncConfig {
            regions: regions(s3),
            retry_backoff: Duration::from_millis(150),
            max_attempts: 20,
            ..SyncConfig::default()
        },
    );
    runner.start().await.expect("runner starts");
    let task = runner
        .create("project", &spec(&src, &dst), &secrets(s3))
        .await
        .expect("create");
    assert_eq!(
        runner.accept_events(&task.id, &keys).await.expect("accept"),
        5
    );

    tokio::time::sleep(Duration::from_millis(800)).await;
    let before = counts(&store, &task.id).await;
    assert_eq!((before.success, before.failure), (0, 0), "{before:?}");
    assert_eq!(
        store.pending_sync_events(&task.id).await.expect("pending"),
        5
    );

    s3.create_bucket(&dst).await.expect("create dst");
    let deadline = Instant::now() + WAIT;
    loop {
        let now = counts(&store, &task.id).await;
        if now.success == 5 {
            assert_eq!(now.failure, 0, "{now:?}");
            assert_eq!(now.request, 5, "{now:?}");
            break;
        }
        assert!(Instant::now() < deadline, "not all copied: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for key in &keys {
        let copied = client.get_object(&dst, key).await.expect("get");
        assert_eq!(copied.map(|o| o.body), Some(key.as_bytes().to_vec()));
    }
    assert_eq!(
        store.pending_sync_events(&task.id).await.expect("pending"),
        0
    );
    runner.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_stopped_task_keeps_its_queue_and_a_start_copies_it() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs)
        .await
        .expect("seaweedfs starts");
    let client = s3.client();
    let src = s3.new_bucket("sync-stop-src").await.expect("bucket");
    let dst = s3.new_bucket("sync-stop-dst").await.expect("bucket");
    client
        .put_object(&src, "k", b"value".to_vec(), None, &[])
        .await
        .expect("put");
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn SyncStore> =
        Arc::new(SqliteTaskStore::open(dir.path()).await.expect("store"));
    // A runner that never starts: events are queued, nothing copies (a process that stopped).
    let idle = SyncRunner::new(Arc::clone(&store), SyncConfig::default());
    let task = idle
        .create("project", &spec(&src, &dst), &secrets(s3))
        .await
        .expect("create");
    idle.accept_events(&task.id, &["k".to_owned()])
        .await
        .expect("accept");
    // Held by a claim of this node that no one resolves, as after a crash.
    assert_eq!(
        store
            .claim_sync_events(&task.id, &sync_claim(), 10, i64::MAX)
            .await
            .expect("claim")
            .len(),
        1
    );
    idle.stop(&task.id).await.expect("stop");

    let runner = SyncRunner::new(
        Arc::clone(&store),
        SyncConfig {
            regions: regions(s3),
            ..SyncConfig::default()
        },
    );
    runner.start().await.expect("runner starts");
    runner
        .start_task(&task.id, &secrets(s3))
        .await
        .expect("start");
    let deadline = Instant::now() + WAIT;
    while counts(&store, &task.id).await.success < 1 {
        assert!(Instant::now() < deadline, "the queued event was not copied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let copied = client.get_object(&dst, "k").await.expect("get");
    assert_eq!(copied.map(|o| o.body), Some(b"value".to_vec()));
    assert_eq!(counts(&store, &task.id).await.request, 1);
    runner.shutdown(Duration::from_secs(5)).await;
}
