//! Part-level resume (RFC 0012) against SeaweedFS: a run stopped in the middle of a large object
//! leaves its upload and finished parts checkpointed in a real task store (SQLite), and the next
//! run reads from the source only the ranges still missing. The source sits behind the test
//! kit's proxy, which counts the object bytes it serves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_core::{
    BandwidthPolicy, Credentials, FailureCode, Outcome, PartJournal, Protocol, TaskId,
};
use tern_engine::{
    run_collecting, Location, Migration, PartCheckpoints, Selection, Storage, Throttle,
};
use tern_store::SqliteTaskStore;
use tern_testkit::{Fault, FaultProxy, S3Flavor, S3Server};

use common::{body_for, PART};

const TASK: TaskId = TaskId(41);
/// Five whole parts and a short sixth.
const SIZE: usize = 5 * PART + 123_457;

fn storage_at(server: &S3Server, endpoint: &str, bucket: &str) -> Storage {
    Storage::open(&Location {
        protocol: Protocol::S3,
        bucket: bucket.to_owned(),
        endpoint: Some(endpoint.to_owned()),
        region: Some(server.region().to_owned()),
        root: String::new(),
        credentials: Credentials::access_key(server.access_key(), server.secret_key()),
    })
    .unwrap()
}

async fn journal() -> (tempfile::TempDir, Arc<dyn PartJournal>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteTaskStore::open(dir.path()).await.unwrap();
    (dir, Arc::new(store))
}

fn migration(
    server: &S3Server,
    proxy: &FaultProxy,
    src: &str,
    dst: &str,
    journal: &Arc<dyn PartJournal>,
) -> Migration {
    let mut migration = Migration::new(
        storage_at(server, proxy.endpoint(), src),
        storage_at(server, server.endpoint(), dst),
        Selection::Prefixes(vec![String::new()]),
    );
    migration.options.part_size = PART;
    migration.options.part_concurrency = 2;
    migration.part_checkpoints = Some(PartCheckpoints {
        journal: Arc::clone(journal),
        task: TASK,
    });
    migration
}

/// Runs `migration` slowly and stops it once `stop_after` bytes were read.
async fn run_and_stop(mut migration: Migration, stop_after: u64) {
    // 10 MiB/s: the object takes seconds, so the stop lands between its parts.
    migration.throttle = Arc::new(Throttle::new(BandwidthPolicy::default(), Some(10 << 20)));
    let progress = Arc::clone(&migration.progress_bytes);
    let cancel = tokio_util::sync::CancellationToken::new();
    let (sender, mut events) = tokio::sync::mpsc::channel(64);
    let run = {
        let cancel = cancel.clone();
        tokio::spawn(async move { migration.run(sender, cancel).await })
    };
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let deadline = Instant::now() + Duration::from_secs(30);
    while progress.load(Ordering::Relaxed) < stop_after {
        assert!(Instant::now() < deadline, "the copy made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cancel.cancel();
    let ended = run.await.unwrap();
    assert!(
        matches!(ended, Err(tern_engine::Error::Cancelled)),
        "{ended:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_stopped_upload_resumes_reading_only_the_missing_parts() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("resume-src").await.unwrap();
    let dst = server.new_bucket("resume-dst").await.unwrap();
    let body = body_for("big.bin", SIZE);
    client
        .put_object(&src, "big.bin", body.clone(), None, &[])
        .await
        .unwrap();
    let proxy = FaultProxy::start(server.endpoint(), Fault::Nothing)
        .await
        .unwrap();
    let (_dir, journal) = journal().await;

    run_and_stop(
        migration(server, &proxy, &src, &dst, &journal),
        2 * PART as u64 + 1,
    )
    .await;
    // The stop kept the upload and its finished parts for the next run.
    let checkpoint = journal
        .load_upload(TASK, "big.bin")
        .await
        .unwrap()
        .expect("the stopped upload is checkpointed");
    assert!(
        !checkpoint.parts.is_empty() && checkpoint.parts.len() < 6,
        "{} parts recorded",
        checkpoint.parts.len()
    );
    let uploads = client.list_multipart_uploads(&dst).await.unwrap();
    assert_eq!(
        uploads,
        vec![("big.bin".to_owned(), checkpoint.upload_id.clone())]
    );
    assert!(client.get_object(&dst, "big.bin").await.unwrap().is_none());

    let recorded: u64 = checkpoint.parts.iter().map(|part| part.size).sum();
    let served_before = proxy.object_bytes_served();
    let (summary, outcomes) = run_collecting(&migration(server, &proxy, &src, &dst, &journal))
        .await
        .unwrap();
    assert_eq!(summary.counters.successful_num, 1, "{outcomes:?}");
    // Exactly the ranges no recorded part covers were read again.
    assert_eq!(
        proxy.object_bytes_served() - served_before,
        SIZE as u64 - recorded
    );
    let copied = client.get_object(&dst, "big.bin").await.unwrap().unwrap();
    assert!(copied.body == body, "the resumed object differs");
    let mut crc = crc64fast::Digest::new();
    crc.write(&body);
    assert!(
        matches!(outcomes[0].outcome, Outcome::Succeeded { crc64: Some(value), .. } if value == crc.sum64()),
        "{outcomes:?}"
    );
    assert_eq!(journal.load_upload(TASK, "big.bin").await.unwrap(), None);
    assert!(client
        .list_multipart_uploads(&dst)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_changed_source_starts_over_and_aborts_the_old_upload() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("resume-changed-src").await.unwrap();
    let dst = server.new_bucket("resume-changed-dst").await.unwrap();
    client
        .put_object(&src, "big.bin", body_for("old", SIZE), None, &[])
        .await
        .unwrap();
    let proxy = FaultProxy::start(server.endpoint(), Fault::Nothing)
        .await
        .unwrap();
    let (_dir, journal) = journal().await;
    run_and_stop(
        migration(server, &proxy, &src, &dst, &journal),
        2 * PART as u64 + 1,
    )
    .await;
    let old = journal
        .load_upload(TASK, "big.bin")
        .await
        .unwrap()
        .expect("checkpointed");

    // Same size, other bytes: only the ETag and Last-Modified tell.
    let new_body = body_for("new", SIZE);
    client
        .put_object(&src, "big.bin", new_body.clone(), None, &[])
        .await
        .unwrap();
    let served_before = proxy.object_bytes_served();
    let (summary, outcomes) = run_collecting(&migration(server, &proxy, &src, &dst, &journal))
        .await
        .unwrap();
    assert_eq!(summary.counters.successful_num, 1, "{outcomes:?}");
    assert_eq!(proxy.object_bytes_served() - served_before, SIZE as u64);
    let copied = client.get_object(&dst, "big.bin").await.unwrap().unwrap();
    assert!(
        copied.body == new_body,
        "old parts leaked into the new object"
    );
    let uploads = client.list_multipart_uploads(&dst).await.unwrap();
    assert!(
        !uploads.iter().any(|(_, id)| *id == old.upload_id),
        "the old upload was not aborted: {uploads:?}"
    );
    assert_eq!(journal.load_upload(TASK, "big.bin").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_an_object_failing_for_good_aborts_and_forgets_its_upload() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("resume-fail-src").await.unwrap();
    let dst = server.new_bucket("resume-fail-dst").await.unwrap();
    client
        .put_object(&src, "big.bin", body_for("big.bin", SIZE), None, &[])
        .await
        .unwrap();
    // Parts from the third on are refused: the first two are uploaded and recorded first.
    let proxy = FaultProxy::start(
        server.endpoint(),
        Fault::DenyRangedGetFrom {
            path_containing: "big.bin".into(),
            from_offset: 2 * PART as u64,
        },
    )
    .await
    .unwrap();
    let (_dir, journal) = journal().await;
    let (_, outcomes) = run_collecting(&migration(server, &proxy, &src, &dst, &journal))
        .await
        .unwrap();
    assert!(
        matches!(
            outcomes[0].outcome,
            Outcome::Failed {
                code: FailureCode::SourcePermissionDenied,
                ..
            }
        ),
        "{outcomes:?}"
    );
    assert_eq!(journal.load_upload(TASK, "big.bin").await.unwrap(), None);
    assert!(client
        .list_multipart_uploads(&dst)
        .await
        .unwrap()
        .is_empty());
    assert!(client.get_object(&dst, "big.bin").await.unwrap().is_none());
}
