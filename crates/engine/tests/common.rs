//! Shared helpers of the engine's integration tests: storages on real local servers.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::BTreeMap;

use tern_core::{Credentials, ObjectOutcome, Outcome, Protocol};
use tern_engine::{Location, Migration, Selection, Storage, Summary};
use tern_testkit::{S3Client, S3Server};

/// The part size the tests use: S3's minimum, so multipart objects stay small.
pub const PART: usize = 5 * 1024 * 1024;

pub fn s3_storage(server: &S3Server, bucket: &str) -> Storage {
    Storage::open(&Location {
        protocol: Protocol::S3,
        bucket: bucket.to_owned(),
        endpoint: Some(server.endpoint().to_owned()),
        region: Some(server.region().to_owned()),
        root: String::new(),
        credentials: Credentials::access_key(server.access_key(), server.secret_key()),
    })
    .expect("storage opens")
}

/// A streaming migration between two buckets of `server`. Both ends are one endpoint, which
/// the engine would copy server-side: these tests exercise the streaming path, so they turn
/// that off (`server_copy_s3.rs` covers server-side copies).
pub fn migration(server: &S3Server, src: &str, dst: &str, selection: Selection) -> Migration {
    let mut migration = Migration::new(s3_storage(server, src), s3_storage(server, dst), selection);
    migration.options.part_size = PART;
    migration.options.server_side_copy = false;
    migration
}

pub fn by_key(outcomes: Vec<ObjectOutcome>) -> BTreeMap<String, Outcome> {
    let mut map = BTreeMap::new();
    for outcome in outcomes {
        assert!(
            map.insert(outcome.key.clone(), outcome.outcome).is_none(),
            "key {} has two outcomes",
            outcome.key
        );
    }
    map
}

/// Deterministic, key-dependent bytes so that a mix-up between objects shows.
pub fn body_for(key: &str, len: usize) -> Vec<u8> {
    let seed = key.bytes().fold(7u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    (0..len)
        .map(|i| (seed.wrapping_add((i as u32).wrapping_mul(2_654_435_761)) >> 13) as u8)
        .collect()
}

/// One object copy's context for a migration, as its run would build it (size check, 2 parts in flight).
pub fn copy_context<'a>(
    run: &'a Migration,
    progress: &'a std::sync::atomic::AtomicU64,
    stop: &'a tokio_util::sync::CancellationToken,
    cleanup: &'a tokio_util::task::TaskTracker,
) -> tern_engine::copy::CopyContext<'a> {
    tern_engine::copy::CopyContext {
        source: &run.source,
        destination: &run.destination,
        options: tern_engine::copy::CopyOptions {
            part_size: PART,
            part_concurrency: 2,
            metadata: false,
            check: tern_core::ConsistencyCheck::SizeLastModified,
        },
        throttle: &run.throttle,
        progress,
        stop,
        cleanup,
        resume: None,
        memory: &run.options.memory,
    }
}

/// Checks a finished run of the whole `src` bucket against what the test knows without the
/// engine: the source's keys as the testkit's own client lists them, and the bytes at both ends.
///
/// Each source key has exactly one outcome and no other key has one; the counters equal the
/// listing's count and the outcomes' counts by kind (so none was counted twice or lost); every
/// object reported successful is byte-identical at `dst` (under `dst_prefix`).
pub async fn assert_run_accounts_for_source(
    client: &S3Client,
    src: &str,
    dst: &str,
    dst_prefix: &str,
    summary: &Summary,
    outcomes: &BTreeMap<String, Outcome>,
) {
    let mut listed = client.list_keys(src, "").await.expect("source listing");
    listed.sort();
    let reported: Vec<String> = outcomes.keys().cloned().collect();
    assert_eq!(reported, listed, "outcomes do not match the source listing");
    let counters = &summary.counters;
    assert_eq!(counters.total_num, listed.len() as u64, "total_num");
    let count =
        |wanted: fn(&Outcome) -> bool| outcomes.values().filter(|o| wanted(o)).count() as u64;
    assert_eq!(
        counters.successful_num,
        count(|o| matches!(o, Outcome::Succeeded { .. })),
        "successful_num"
    );
    assert_eq!(
        counters.skipped_num,
        count(|o| matches!(o, Outcome::Skipped(_))),
        "skipped_num"
    );
    assert_eq!(
        counters.failed_num,
        count(|o| matches!(o, Outcome::Failed { .. })),
        "failed_num"
    );
    for (key, outcome) in outcomes {
        if matches!(outcome, Outcome::Succeeded { .. }) {
            let source = client.get_object(src, key).await.expect("source read");
            let copied = client
                .get_object(dst, &format!("{dst_prefix}{key}"))
                .await
                .expect("destination read");
            let (Some(source), Some(copied)) = (source, copied) else {
                panic!("{key}: reported successful but missing at the source or destination");
            };
            assert!(
                source.body == copied.body,
                "{key}: destination bytes differ"
            );
        }
    }
}
