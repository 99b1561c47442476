//! Transient and permanent storage errors, injected by a proxy in front of a real SeaweedFS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use common::{body_for, by_key, PART};
use futures::stream::{self, StreamExt};
use tern_core::{Credentials, FailureCode, Outcome, Protocol, Verification};
use tern_engine::{run_collecting, Location, Migration, Selection, Storage};
use tern_testkit::{Fault, FaultProxy, S3Flavor, S3Server};

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

async fn seed(server: &S3Server, bucket: &str, count: usize) -> Vec<(String, Vec<u8>)> {
    let client = server.client();
    let objects: Vec<(String, Vec<u8>)> = (0..count)
        .map(|i| {
            let key = format!("f/{i:04}");
            // Small objects only: the proxy relays whole bodies, which does not model the
            // streaming uploads of multipart parts (covered against the real server in copy_s3).
            let len = 500 + i;
            (key.clone(), body_for(&key, len))
        })
        .collect();
    stream::iter(objects.iter())
        .for_each_concurrent(16, |(key, body)| {
            let client = client.clone();
            async move {
                client
                    .put_object(bucket, key, body.clone(), None, &[])
                    .await
                    .unwrap()
            }
        })
        .await;
    objects
}

#[tokio::test]
async fn test_slow_down_is_retried_until_every_object_arrives() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let src = server.new_bucket("fault-src").await.unwrap();
    let dst = server.new_bucket("fault-dst").await.unwrap();
    let objects = seed(server, &src, 120).await;
    // Every third request on each side answers 503 SlowDown.
    let src_proxy = FaultProxy::start(server.endpoint(), Fault::SlowDownEvery(3))
        .await
        .unwrap();
    let dst_proxy = FaultProxy::start(server.endpoint(), Fault::SlowDownEvery(3))
        .await
        .unwrap();
    let mut migration = Migration::new(
        storage_at(server, src_proxy.endpoint(), &src),
        storage_at(server, dst_proxy.endpoint(), &dst),
        Selection::Prefixes(vec![String::new()]),
    );
    migration.options.part_size = PART;
    let (summary, outcomes) = run_collecting(&migration).await.unwrap();
    assert_eq!(summary.counters.successful_num, 120, "{outcomes:?}");
    let outcomes = by_key(outcomes);
    assert!(
        src_proxy.injected() >= 40 && dst_proxy.injected() >= 40,
        "faults were not injected"
    );
    let client = server.client();
    for (key, body) in &objects {
        assert!(
            client.get_object(&dst, key).await.unwrap().unwrap().body == *body,
            "{key} differs"
        );
    }
    common::assert_run_accounts_for_source(&client, &src, &dst, "", &summary, &outcomes).await;
}

#[tokio::test]
async fn test_access_denied_fails_that_object_and_the_run_goes_on() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let src = server.new_bucket("deny-src").await.unwrap();
    let dst = server.new_bucket("deny-dst").await.unwrap();
    seed(server, &src, 20).await;
    let proxy = FaultProxy::start(
        server.endpoint(),
        Fault::DenyPathContaining("f/0007".into()),
    )
    .await
    .unwrap();
    let mut migration = Migration::new(
        storage_at(server, proxy.endpoint(), &src),
        storage_at(server, server.endpoint(), &dst),
        Selection::Prefixes(vec![String::new()]),
    );
    migration.options.part_size = PART;
    let (summary, outcomes) = run_collecting(&migration).await.unwrap();
    let outcomes = by_key(outcomes);
    assert_eq!(summary.counters.successful_num, 19);
    assert!(
        matches!(
            outcomes["f/0007"],
            Outcome::Failed {
                code: FailureCode::SourcePermissionDenied,
                ..
            }
        ),
        "{:?}",
        outcomes["f/0007"]
    );
    // 20 uploaded, 20 listed by the testkit, one outcome each; the 19 copies byte-identical.
    assert_eq!(summary.counters.total_num, 20);
    let client = server.client();
    common::assert_run_accounts_for_source(&client, &src, &dst, "", &summary, &outcomes).await;
    assert!(client.get_object(&dst, "f/0007").await.unwrap().is_none());
}

#[tokio::test]
async fn test_bit_flipped_in_source_read_fails_verification_and_never_lands() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let src = server.new_bucket("flip-src").await.unwrap();
    let dst = server.new_bucket("flip-dst").await.unwrap();
    let objects = seed(server, &src, 50).await;
    // Every third object GET reaches tern with one bit flipped, length unchanged.
    let proxy = FaultProxy::start(server.endpoint(), Fault::FlipBitInEveryNthObjectGet(3))
        .await
        .unwrap();
    let mut migration = Migration::new(
        storage_at(server, proxy.endpoint(), &src),
        storage_at(server, server.endpoint(), &dst),
        Selection::Prefixes(vec![String::new()]),
    );
    migration.options.part_size = PART;
    let (summary, outcomes) = run_collecting(&migration).await.unwrap();
    let outcomes = by_key(outcomes);

    // Every uploaded object has exactly one outcome, and the counters agree with the test's count.
    let uploaded: std::collections::BTreeSet<&str> =
        objects.iter().map(|(key, _)| key.as_str()).collect();
    let reported: std::collections::BTreeSet<&str> = outcomes.keys().map(String::as_str).collect();
    assert_eq!(reported, uploaded);
    assert_eq!(summary.counters.total_num, objects.len() as u64);

    let prefix = format!("/{src}/");
    let corrupted: std::collections::BTreeSet<String> = proxy
        .corrupted_paths()
        .iter()
        .map(|path| path.strip_prefix(&prefix).unwrap().to_owned())
        .collect();
    assert!(
        corrupted.len() >= 10,
        "only {} reads were corrupted",
        corrupted.len()
    );
    let corrupted_but_succeeded: Vec<&String> = corrupted
        .iter()
        .filter(|key| !matches!(outcomes[key.as_str()], Outcome::Failed { .. }))
        .collect();
    assert!(
        corrupted_but_succeeded.is_empty(),
        "{} of {} corrupted reads were reported successful: {corrupted_but_succeeded:?}",
        corrupted_but_succeeded.len(),
        corrupted.len()
    );
    let client = server.client();
    for (key, body) in &objects {
        match &outcomes[key] {
            Outcome::Failed { code, message } => {
                assert!(
                    corrupted.contains(key),
                    "{key} failed unread-corrupt: {message}"
                );
                assert_eq!(*code, FailureCode::VerificationFailed, "{key}: {message}");
                assert!(message.contains("ETag"), "{key}: {message}");
                // A small object is checked before it is written: nothing corrupt lands.
                assert!(
                    client.get_object(&dst, key).await.unwrap().is_none(),
                    "{key}"
                );
            }
            Outcome::Succeeded { verification, .. } => {
                assert_eq!(
                    *verification,
                    Verification::SourceAndDestinationMd5,
                    "{key}"
                );
                let copied = client.get_object(&dst, key).await.unwrap().unwrap();
                assert!(copied.body == *body, "{key} differs at the destination");
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    assert_eq!(summary.counters.failed_num, corrupted.len() as u64);
    assert_eq!(
        summary.counters.successful_num,
        (objects.len() - corrupted.len()) as u64
    );
}

#[tokio::test]
async fn test_source_read_failing_mid_multipart_aborts_the_upload() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let src = server.new_bucket("mpfail-src").await.unwrap();
    let dst = server.new_bucket("mpfail-dst").await.unwrap();
    let client = server.client();
    let body = body_for("big", 4 * PART + 4321);
    client
        .put_object(&src, "big.bin", body, None, &[])
        .await
        .unwrap();
    // The first two parts read fine; the third part's ranged GET is refused (not retried).
    let proxy = FaultProxy::start(
        server.endpoint(),
        Fault::DenyRangedGetFrom {
            path_containing: "big.bin".into(),
            from_offset: 2 * PART as u64,
        },
    )
    .await
    .unwrap();
    let mut migration = Migration::new(
        storage_at(server, proxy.endpoint(), &src),
        storage_at(server, server.endpoint(), &dst),
        Selection::Prefixes(vec![String::new()]),
    );
    migration.options.part_size = PART;
    migration.options.part_concurrency = 2;
    let (summary, outcomes) = run_collecting(&migration).await.unwrap();
    let outcomes = by_key(outcomes);
    assert_eq!(summary.counters.total_num, 1);
    assert!(
        matches!(
            outcomes["big.bin"],
            Outcome::Failed {
                code: FailureCode::SourcePermissionDenied,
                ..
            }
        ),
        "{:?}",
        outcomes["big.bin"]
    );
    assert!(proxy.injected() >= 1, "the read was never refused");
    assert!(client.get_object(&dst, "big.bin").await.unwrap().is_none());
    let open = client.list_multipart_uploads(&dst).await.unwrap();
    assert!(open.is_empty(), "uploads left open: {open:?}");
}
