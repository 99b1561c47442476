//! Waiting for archived objects' restores, on moto behind the test kit's fault proxy: moto
//! finishes a restore at once, so the proxy reports it running for a number of HEADs, as S3
//! does for hours.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use tern_core::{Credentials, FailureCode, Outcome, Protocol};
use tern_engine::{
    EngineMetrics, Event, Location, Migration, RestoreOptions, Restorer, Selection, Storage,
};
use tern_testkit::{Fault, FaultProxy, S3Flavor, S3Server};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use common::{by_key, s3_storage};

fn location_at(server: &S3Server, endpoint: &str, bucket: &str) -> Location {
    Location {
        protocol: Protocol::S3,
        bucket: bucket.to_owned(),
        endpoint: Some(endpoint.to_owned()),
        region: Some(server.region().to_owned()),
        root: String::new(),
        credentials: Credentials::access_key(server.access_key(), server.secret_key()),
    }
}

/// `0-cold.bin` (GLACIER, listed first) and 12 STANDARD objects; returns the source bucket.
async fn seed(server: &S3Server, prefix: &str) -> String {
    let bucket = server.new_bucket(prefix).await.unwrap();
    let client = server.client();
    client
        .put_object_in_class(&bucket, "0-cold.bin", b"cold bytes".repeat(300), "GLACIER")
        .await
        .unwrap();
    for i in 0..12 {
        client
            .put_object(&bucket, &format!("hot-{i:02}"), vec![i; 100], None, &[])
            .await
            .unwrap();
    }
    bucket
}

/// Runs `migration`, returning its events in the order sent.
async fn events_of(migration: &Migration) -> Vec<Event> {
    let (sender, mut receiver) = mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(event) = receiver.recv().await {
            events.push(event);
        }
        events
    });
    migration
        .run(sender, CancellationToken::new())
        .await
        .expect("the run ends");
    collector.await.unwrap()
}

fn finished_at(events: &[Event], key: &str) -> usize {
    events
        .iter()
        .position(|e| matches!(e, Event::Finished(o) if o.key == key))
        .unwrap_or_else(|| panic!("{key} has no outcome: {events:?}"))
}

/// With one transfer slot, the archived object's wait holds no slot: other objects finish
/// while its restore still runs, and it is copied once the HEAD says the restore is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_restore_wait_frees_the_slot_and_copies_once_restored() {
    let server = S3Server::shared(S3Flavor::Moto).await.unwrap();
    let src = seed(server, "wait-src").await;
    let dst = server.new_bucket("wait-dst").await.unwrap();
    const RUNNING_HEADS: u64 = 8;
    let proxy = FaultProxy::start(
        server.endpoint(),
        Fault::RestoreOngoingForHeads(RUNNING_HEADS),
    )
    .await
    .unwrap();
    let source = location_at(server, proxy.endpoint(), &src);
    let mut migration = Migration::new(
        Storage::open(&source).unwrap(),
        s3_storage(server, &dst),
        Selection::Prefixes(vec![String::new()]),
    );
    migration.options.transfers = 1;
    let metrics = EngineMetrics::default();
    migration.restore = Some(Arc::new(
        Restorer::open(
            &source,
            false,
            RestoreOptions {
                days: 1,
                first_poll: Duration::from_millis(100),
                max_poll: Duration::from_millis(250),
                max_wait: Duration::from_secs(60),
            },
            &metrics,
        )
        .unwrap(),
    ));
    let events = events_of(&migration).await;

    let outcomes = by_key(
        events
            .iter()
            .filter_map(|e| match e {
                Event::Finished(outcome) => Some(outcome.clone()),
                _ => None,
            })
            .collect(),
    );
    assert_eq!(outcomes.len(), 13, "{events:?}");
    assert!(
        outcomes
            .values()
            .all(|o| matches!(o, Outcome::Succeeded { .. })),
        "{outcomes:?}"
    );
    assert_eq!(
        proxy.injected(),
        RUNNING_HEADS,
        "the wait polled through the running restore"
    );
    let restoring = events
        .iter()
        .position(|e| matches!(e, Event::Restoring { key } if key == "0-cold.bin"))
        .expect("a Restoring event");
    let cold_done = finished_at(&events, "0-cold.bin");
    let hot_during_wait = (0..12)
        .map(|i| finished_at(&events, &format!("hot-{i:02}")))
        .filter(|at| (restoring..cold_done).contains(at))
        .count();
    assert!(
        hot_during_wait > 0,
        "no object finished while the restore ran: {events:?}"
    );
    let client = server.client();
    let copied = client
        .get_object(&dst, "0-cold.bin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(copied.body, b"cold bytes".repeat(300));
    let head = client
        .head_object(&src, "0-cold.bin")
        .await
        .unwrap()
        .unwrap();
    assert!(head
        .restore
        .unwrap_or_default()
        .contains("ongoing-request=\"false\""));
}

/// A restore that outlasts the wait fails its object alone with TRF.0003.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_restore_that_outlasts_the_wait_fails_the_object_with_trf_0003() {
    let server = S3Server::shared(S3Flavor::Moto).await.unwrap();
    let src = seed(server, "late-src").await;
    let dst = server.new_bucket("late-dst").await.unwrap();
    let proxy = FaultProxy::start(server.endpoint(), Fault::RestoreOngoingForHeads(u64::MAX))
        .await
        .unwrap();
    let source = location_at(server, proxy.endpoint(), &src);
    let mut migration = Migration::new(
        Storage::open(&source).unwrap(),
        s3_storage(server, &dst),
        Selection::Prefixes(vec![String::new()]),
    );
    migration.restore = Some(Arc::new(
        Restorer::open(
            &source,
            false,
            RestoreOptions {
                days: 1,
                first_poll: Duration::from_millis(100),
                max_poll: Duration::from_millis(200),
                max_wait: Duration::from_millis(700),
            },
            &EngineMetrics::default(),
        )
        .unwrap(),
    ));
    let events = events_of(&migration).await;
    let outcomes = by_key(
        events
            .iter()
            .filter_map(|e| match e {
                Event::Finished(outcome) => Some(outcome.clone()),
                _ => None,
            })
            .collect(),
    );
    match &outcomes["0-cold.bin"] {
        Outcome::Failed { code, message } => {
            assert_eq!(*code, FailureCode::WaitTimedOut);
            assert_eq!(code.as_str(), "TRF.0003");
            assert!(message.contains("did not finish"), "{message}");
        }
        other => panic!("the late restore did not fail its object: {other:?}"),
    }
    let succeeded = outcomes
        .values()
        .filter(|o| matches!(o, Outcome::Succeeded { .. }))
        .count();
    assert_eq!(succeeded, 12, "{outcomes:?}");
    assert!(server
        .client()
        .get_object(&dst, "0-cold.bin")
        .await
        .unwrap()
        .is_none());
}
