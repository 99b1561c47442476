//! End-to-end copies between buckets of a real SeaweedFS (and moto for `a//b`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use common::{body_for, by_key, migration, PART};
use futures::stream::{self, StreamExt};
use tern_core::{FailureCode, Outcome, SkipReason, Verification};
use tern_engine::{run_collecting, Selection};
use tern_testkit::{S3Flavor, S3Server};

const AWKWARD_KEYS: &[&str] = &[
    "with space.txt",
    "unicode/日本語/café.txt",
    "plus+sign.txt",
    "percent%20literal.txt",
    "question?mark.txt",
    "hash#tag.txt",
    "l1/l2/l3/l4/l5/l6/l7/l8/l9/l10/deep.txt",
    "empty-object",
];

#[tokio::test]
async fn test_copy_bucket_byte_identical_then_second_run_skips_all() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("copy-src").await.unwrap();
    let dst = server.new_bucket("copy-dst").await.unwrap();

    let mut expected: Vec<(String, Vec<u8>, &str)> = Vec::new();
    for index in 0..1000 {
        let key = format!("small/{index:04}.bin");
        let len = 1 + index % 300;
        expected.push((key.clone(), body_for(&key, len), "application/octet-stream"));
    }
    for key in AWKWARD_KEYS {
        let len = if *key == "empty-object" { 0 } else { 100 };
        expected.push((
            (*key).to_owned(),
            body_for(key, len),
            "text/plain; charset=utf-8",
        ));
    }
    expected.push((
        "big/exactly-one-part".into(),
        body_for("one", PART),
        "video/mp4",
    ));
    expected.push((
        "big/four-parts".into(),
        body_for("four", 3 * PART + 12_345),
        "application/x-tar",
    ));

    stream::iter(expected.iter())
        .for_each_concurrent(32, |(key, body, content_type)| {
            let client = client.clone();
            let src = src.clone();
            async move {
                client
                    .put_object(&src, key, body.clone(), Some(content_type), &[])
                    .await
                    .unwrap();
            }
        })
        .await;

    let run = migration(server, &src, &dst, Selection::Prefixes(vec![String::new()]));
    let (summary, outcomes) = run_collecting(&run).await.unwrap();
    let outcomes = by_key(outcomes);
    // Counted against the test's own uploads and the testkit's listing, not the engine's sum.
    assert_eq!(summary.counters.total_num, expected.len() as u64);
    assert_eq!(
        summary.counters.successful_num,
        expected.len() as u64,
        "{outcomes:?}"
    );
    common::assert_run_accounts_for_source(&client, &src, &dst, "", &summary, &outcomes).await;
    let total_bytes: u64 = expected.iter().map(|(_, body, _)| body.len() as u64).sum();
    assert_eq!(summary.counters.successful_size, total_bytes);

    for (key, body, content_type) in &expected {
        let copied = client
            .get_object(&dst, key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(copied.body == *body, "{key} differs");
        assert_eq!(copied.content_type.as_deref(), Some(*content_type), "{key}");
        let verification = match &outcomes[key] {
            Outcome::Succeeded { verification, .. } => *verification,
            other => panic!("{key}: {other:?}"),
        };
        let expected_verification = if key.starts_with("big/") {
            Verification::SizeLastModified
        } else {
            // Single-part source ETags are MD5s: compared with the bytes read and the destination.
            Verification::SourceAndDestinationMd5
        };
        assert_eq!(verification, expected_verification, "{key}");
    }
    // Single-PUT objects carry the CRC64 tern computed, for later crc64 comparisons.
    let head = client
        .head_object(&dst, "small/0001.bin")
        .await
        .unwrap()
        .unwrap();
    let mut digest = crc64fast::Digest::new();
    digest.write(&body_for("small/0001.bin", 2));
    assert_eq!(
        head.user_metadata.get("tern-crc64"),
        Some(&format!("{:016x}", digest.sum64()))
    );

    let (again, outcomes) = run_collecting(&run).await.unwrap();
    assert_eq!(again.counters.skipped_num, expected.len() as u64);
    assert_eq!(again.counters.successful_num, 0);
    for (key, outcome) in by_key(outcomes) {
        assert_eq!(outcome, Outcome::Skipped(SkipReason::Unchanged), "{key}");
    }
}

#[tokio::test]
async fn test_copy_prefixes_and_save_prefix() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("prefix-src").await.unwrap();
    let dst = server.new_bucket("prefix-dst").await.unwrap();
    for key in ["a/1", "a/2", "ab/1", "b/1", "c/1"] {
        client
            .put_object(&src, key, key.as_bytes().to_vec(), None, &[])
            .await
            .unwrap();
    }
    let mut run = migration(
        server,
        &src,
        &dst,
        Selection::Prefixes(vec!["a".into(), "a/".into(), "c/".into()]),
    );
    run.dst_prefix = "saved/".into();
    let (summary, _) = run_collecting(&run).await.unwrap();
    assert_eq!(summary.counters.successful_num, 4);
    let mut keys = client.list_keys(&dst, "").await.unwrap();
    keys.sort();
    assert_eq!(
        keys,
        vec!["saved/a/1", "saved/a/2", "saved/ab/1", "saved/c/1"]
    );
    // The merged listing must see the saved copies under the save prefix on a second run.
    let (again, _) = run_collecting(&run).await.unwrap();
    assert_eq!(again.counters.skipped_num, 4);
}

#[tokio::test]
async fn test_missing_list_file_key_and_object_key_fail_with_codes() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("missing-src").await.unwrap();
    let dst = server.new_bucket("missing-dst").await.unwrap();
    for key in ["present/1", "present/2", "dir/x", "dir/y"] {
        client
            .put_object(&src, key, vec![1, 2, 3], None, &[])
            .await
            .unwrap();
    }
    let selection = Selection::Objects(vec!["present/1".into(), "absent".into(), "dir/".into()]);
    let (summary, outcomes) = run_collecting(&migration(server, &src, &dst, selection))
        .await
        .unwrap();
    let outcomes = by_key(outcomes);
    assert_eq!(summary.counters.total_num, 4);
    assert_eq!(summary.counters.successful_num, 3);
    assert_eq!(summary.counters.failed_num, 1);
    assert!(matches!(
        outcomes["absent"],
        Outcome::Failed {
            code: FailureCode::SourceNotFound,
            ..
        }
    ));
    assert!(client.get_object(&dst, "dir/y").await.unwrap().is_some());
}

#[tokio::test]
async fn test_source_deleted_after_listing_fails_that_object_only() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("gone-src").await.unwrap();
    let dst = server.new_bucket("gone-dst").await.unwrap();
    for key in ["keep-1", "victim", "keep-2"] {
        client
            .put_object(&src, key, key.as_bytes().to_vec(), None, &[])
            .await
            .unwrap();
    }
    let run = migration(server, &src, &dst, Selection::Prefixes(vec![String::new()]));
    // List first, delete between listing and copying, then copy what was listed.
    let listed: Vec<_> = tern_engine::listing::list_prefix(&run.source, "")
        .await
        .unwrap()
        .map(|item| item.unwrap())
        .collect()
        .await;
    assert_eq!(listed.len(), 3);
    client.delete_object(&src, "victim").await.unwrap();
    let progress = std::sync::atomic::AtomicU64::new(0);
    let (stop, cleanup) = Default::default();
    let ctx = common::copy_context(&run, &progress, &stop, &cleanup);
    for object in &listed {
        let result =
            tern_engine::copy::copy_object(ctx, &object.key, &object.key, object.meta.size).await;
        if object.key == "victim" {
            let failure = result.unwrap_err();
            assert_eq!(failure.code, FailureCode::SourceNotFound, "{failure:?}");
        } else {
            result.unwrap();
        }
    }
    assert!(client.get_object(&dst, "victim").await.unwrap().is_none());
    assert!(client.get_object(&dst, "keep-2").await.unwrap().is_some());
}

#[tokio::test]
async fn test_double_slash_key_copies_on_moto() {
    let server = S3Server::shared(S3Flavor::Moto).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("dslash-src").await.unwrap();
    let dst = server.new_bucket("dslash-dst").await.unwrap();
    client
        .put_object(&src, "a//b", b"double".to_vec(), Some("text/plain"), &[])
        .await
        .unwrap();
    client
        .put_object(&src, "a/b", b"single".to_vec(), Some("text/plain"), &[])
        .await
        .unwrap();
    let (summary, outcomes) = run_collecting(&migration(
        server,
        &src,
        &dst,
        Selection::Prefixes(vec![String::new()]),
    ))
    .await
    .unwrap();
    assert_eq!(summary.counters.successful_num, 2, "{outcomes:?}");
    assert_eq!(
        client.get_object(&dst, "a//b").await.unwrap().unwrap().body,
        b"double"
    );
    assert_eq!(
        client.get_object(&dst, "a/b").await.unwrap().unwrap().body,
        b"single"
    );
}

#[tokio::test]
async fn test_start_after_resumes_prefix_listing_after_checkpoint() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("resume-src").await.unwrap();
    let dst = server.new_bucket("resume-dst").await.unwrap();
    for key in ["a/1", "a/2", "a/3", "b/1", "c/1"] {
        client
            .put_object(&src, key, key.as_bytes().to_vec(), None, &[])
            .await
            .unwrap();
    }
    let mut run = migration(
        server,
        &src,
        &dst,
        Selection::Prefixes(vec!["a/".into(), "c/".into()]),
    );
    run.start_after = Some("a/2".into());
    let (summary, outcomes) = run_collecting(&run).await.unwrap();
    assert_eq!(summary.counters.total_num, 2);
    let keys: Vec<String> = by_key(outcomes).into_keys().collect();
    assert_eq!(keys, vec!["a/3", "c/1"]);
    // A checkpoint past a whole prefix skips it entirely.
    run.start_after = Some("b/".into());
    let (summary, _) = run_collecting(&run).await.unwrap();
    assert_eq!(summary.counters.total_num, 1);
    // A key range (a group's slice) stops at its inclusive end.
    run.start_after = Some("a/1".into());
    run.end_at = Some("a/3".into());
    let (summary, outcomes) = run_collecting(&run).await.unwrap();
    let keys: Vec<String> = by_key(outcomes).into_keys().collect();
    assert_eq!(keys, vec!["a/2", "a/3"]);
    assert_eq!(summary.counters.total_num, 2);
}

#[tokio::test]
async fn test_object_grown_past_part_size_after_listing_is_not_buffered() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("grow-src").await.unwrap();
    let dst = server.new_bucket("grow-dst").await.unwrap();
    client
        .put_object(&src, "grows", vec![1; 10], None, &[])
        .await
        .unwrap();
    let run = migration(server, &src, &dst, Selection::Prefixes(vec![String::new()]));
    let listed: Vec<_> = tern_engine::listing::list_prefix(&run.source, "")
        .await
        .unwrap()
        .map(|item| item.unwrap())
        .collect()
        .await;
    client
        .put_object(&src, "grows", vec![2; PART + 1], None, &[])
        .await
        .unwrap();
    let progress = std::sync::atomic::AtomicU64::new(0);
    let (stop, cleanup) = Default::default();
    let ctx = common::copy_context(&run, &progress, &stop, &cleanup);
    let failure = tern_engine::copy::copy_object(ctx, "grows", "grows", listed[0].meta.size)
        .await
        .unwrap_err();
    assert!(failure.message.contains("grew"), "{failure:?}");
    assert!(
        progress.load(std::sync::atomic::Ordering::Relaxed) == 0,
        "bytes were read"
    );
    assert!(client.get_object(&dst, "grows").await.unwrap().is_none());
    // The next run lists the new size and copies it in parts.
    let (summary, _) = run_collecting(&run).await.unwrap();
    assert_eq!(summary.counters.successful_num, 1);
    assert_eq!(
        client
            .get_object(&dst, "grows")
            .await
            .unwrap()
            .unwrap()
            .body
            .len(),
        PART + 1
    );
}

#[tokio::test]
async fn test_cancel_stops_copies_in_flight() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("cancel-src").await.unwrap();
    let dst = server.new_bucket("cancel-dst").await.unwrap();
    client
        .put_object(&src, "slow.bin", body_for("slow", 3 * PART), None, &[])
        .await
        .unwrap();
    let mut run = migration(server, &src, &dst, Selection::Prefixes(vec![String::new()]));
    run.throttle = std::sync::Arc::new(tern_engine::Throttle::new(
        tern_core::BandwidthPolicy::default(),
        Some(4 * 1024 * 1024),
    ));
    let cancel = tokio_util::sync::CancellationToken::new();
    let (sender, _receiver) = tokio::sync::mpsc::channel(16);
    let running = {
        let run = run.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { run.run(sender, cancel).await })
    };
    // The first part passes the 4 MiB/s limit after about a second; cancel once bytes flow.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while run
        .progress_bytes
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(std::time::Instant::now() < deadline, "no bytes moved");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cancel.cancel();
    let result = running.await.unwrap();
    assert!(
        matches!(result, Err(tern_engine::Error::Cancelled)),
        "{result:?}"
    );
    let at_cancel = run
        .progress_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(at_cancel > 0 && at_cancel < 4 * PART as u64, "{at_cancel}");
    // A copy still running would pass at least one more 5 MiB part in this time.
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    let later = run
        .progress_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        later, at_cancel,
        "the copy went on after the run was cancelled"
    );
    assert!(client.get_object(&dst, "slow.bin").await.unwrap().is_none());
}

#[tokio::test]
async fn test_cancel_mid_multipart_upload_aborts_the_upload() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("mpcancel-src").await.unwrap();
    let dst = server.new_bucket("mpcancel-dst").await.unwrap();
    client
        .put_object(&src, "slow.bin", body_for("slow", 4 * PART), None, &[])
        .await
        .unwrap();
    let mut run = migration(server, &src, &dst, Selection::Prefixes(vec![String::new()]));
    run.options.part_concurrency = 1;
    run.throttle = std::sync::Arc::new(tern_engine::Throttle::new(
        tern_core::BandwidthPolicy::default(),
        Some(4 * 1024 * 1024),
    ));
    let cancel = tokio_util::sync::CancellationToken::new();
    let (sender, _receiver) = tokio::sync::mpsc::channel(16);
    let running = {
        let run = run.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move { run.run(sender, cancel).await })
    };
    // Cancel only once the destination shows the multipart upload in progress.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let open = client.list_multipart_uploads(&dst).await.unwrap();
        if !open.is_empty() {
            assert_eq!(open.len(), 1, "{open:?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no upload started");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cancel.cancel();
    let result = running.await.unwrap();
    assert!(
        matches!(result, Err(tern_engine::Error::Cancelled)),
        "{result:?}"
    );
    // The run returns only after the uploads it started are aborted.
    let open = client.list_multipart_uploads(&dst).await.unwrap();
    assert!(open.is_empty(), "uploads left open after cancel: {open:?}");
    assert!(client.get_object(&dst, "slow.bin").await.unwrap().is_none());
}

#[tokio::test]
async fn test_missing_destination_bucket_ends_the_run_with_one_fatal_error() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("fatal-src").await.unwrap();
    let keys: Vec<String> = (0..20).map(|index| format!("k{index:02}")).collect();
    for key in &keys {
        client
            .put_object(&src, key, body_for(key, 100), None, &[])
            .await
            .unwrap();
    }
    let missing = format!("{src}-missing");
    // Named keys (one HEAD each, no destination listing) and the full-overwrite prefix run
    // (no comparison) are the paths that used to fail each object with the same error.
    for selection in [
        Selection::Objects(keys.clone()),
        Selection::Prefixes(vec![String::new()]),
    ] {
        let mut run = migration(server, &src, &missing, selection);
        run.options.overwrite = tern_core::OverwriteMode::FullOverwrite;
        let (sender, mut receiver) = tokio::sync::mpsc::channel(1024);
        let started = std::time::Instant::now();
        let result = run
            .run(sender, tokio_util::sync::CancellationToken::new())
            .await;
        let mut finished = 0;
        while let Ok(event) = receiver.try_recv() {
            if matches!(event, tern_engine::Event::Finished(_)) {
                finished += 1;
            }
        }
        let err = result.expect_err("a missing destination bucket ends the run");
        assert_eq!(err.failure_code(), FailureCode::DestinationBucketNotFound);
        assert_eq!(err.failure_code().as_str(), "TRF.0058");
        let message = err.to_string();
        assert!(message.contains(&missing), "{message}");
        assert!(message.len() < 400 && !message.contains('\n'), "{message}");
        assert_eq!(finished, 0, "no per-object failures: {message}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
