//! Copies under a memory budget smaller than their parts in flight, on a real SeaweedFS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use std::sync::Arc;

use common::{body_for, by_key, migration, PART};
use futures::stream::{self, StreamExt};
use tern_core::Outcome;
use tern_engine::{run_collecting, MemoryBudget, Selection};
use tern_testkit::{S3Flavor, S3Server};

#[tokio::test]
async fn test_copies_under_a_budget_below_one_pipeline_complete_byte_identical() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("budget-src").await.unwrap();
    let dst = server.new_bucket("budget-dst").await.unwrap();

    // Three multipart objects and a few single-PUT ones, copied three at a time with four
    // parts each in flight: unbounded, that is 3 × (4 + 2 + 1) parts; the budget holds two.
    let mut expected: Vec<(String, Vec<u8>)> = (0..3)
        .map(|index| {
            let key = format!("big/{index}.bin");
            let body = body_for(&key, 4 * PART + 1000 * index);
            (key, body)
        })
        .collect();
    for index in 0..5 {
        let key = format!("small/{index}.bin");
        let body = body_for(&key, 100_000 + index);
        expected.push((key, body));
    }
    stream::iter(expected.iter())
        .for_each_concurrent(8, |(key, body)| {
            let client = client.clone();
            let src = src.clone();
            async move {
                client
                    .put_object(&src, key, body.clone(), None, &[])
                    .await
                    .unwrap();
            }
        })
        .await;

    let budget = Arc::new(MemoryBudget::new(2 * PART as u64));
    let mut run = migration(server, &src, &dst, Selection::Prefixes(vec![String::new()]));
    run.options.transfers = 3;
    run.options.part_concurrency = 4;
    run.options.memory = Arc::clone(&budget);
    let (summary, outcomes) =
        tokio::time::timeout(std::time::Duration::from_secs(120), run_collecting(&run))
            .await
            .expect("copies under a small budget must not deadlock")
            .unwrap();
    let outcomes = by_key(outcomes);
    assert_eq!(summary.counters.total_num, expected.len() as u64);
    assert_eq!(
        summary.counters.successful_num,
        expected.len() as u64,
        "{outcomes:?}"
    );
    common::assert_run_accounts_for_source(&client, &src, &dst, "", &summary, &outcomes).await;
    for (key, body) in &expected {
        assert!(
            matches!(outcomes[key], Outcome::Succeeded { .. }),
            "{key}: {:?}",
            outcomes[key]
        );
        let copied = client
            .get_object(&dst, key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(copied.body == *body, "{key} differs");
    }
    // Every reservation was given back.
    assert_eq!(budget.available(), budget.capacity());
}
