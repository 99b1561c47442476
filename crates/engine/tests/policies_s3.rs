//! Each overwrite mode and each consistency check on crafted source/destination pairs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use std::time::Duration;

use common::{by_key, migration};
use tern_core::{ConsistencyCheck, FailureCode, Outcome, OverwriteMode, SkipReason, Verification};
use tern_engine::{run_collecting, Selection};
use tern_testkit::{S3Client, S3Flavor, S3Server};

fn crc_hex(body: &[u8]) -> String {
    let mut digest = crc64fast::Digest::new();
    digest.write(body);
    format!("{:016x}", digest.sum64())
}

struct Pairs {
    src: String,
    dst: String,
}

/// Crafts, in order of modification time:
/// - `older-dst`: destination written first (older), same size, other bytes;
/// - then the source objects;
/// - `newer-dst-same-size`: destination written later, same size, other bytes (CRC64 on both);
/// - `newer-dst-diff-size`: destination written later, other size;
/// - `same`: identical bytes, destination later (CRC64 on both);
/// - `same-no-crc`: identical bytes, destination later, no CRC64 anywhere;
/// - `absent`: only at the source.
async fn craft(server: &S3Server, client: &S3Client) -> Pairs {
    let src = server.new_bucket("pol-src").await.unwrap();
    let dst = server.new_bucket("pol-dst").await.unwrap();
    client
        .put_object(&dst, "older-dst", b"OLDER-DST".to_vec(), None, &[])
        .await
        .unwrap();
    // S3 times have one-second resolution: make "older" unambiguous.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for (key, body) in [
        ("older-dst", &b"SOURCE-01"[..]),
        ("newer-dst-same-size", b"SOURCE-02"),
        ("newer-dst-diff-size", b"SOURCE-03"),
        ("same", b"SOURCE-04"),
        ("absent", b"SOURCE-05"),
    ] {
        client
            .put_object(
                &src,
                key,
                body.to_vec(),
                None,
                &[("tern-crc64", &crc_hex(body))],
            )
            .await
            .unwrap();
    }
    client
        .put_object(&src, "same-no-crc", b"SOURCE-06".to_vec(), None, &[])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client
        .put_object(
            &dst,
            "newer-dst-same-size",
            b"OTHER-002".to_vec(),
            None,
            &[("tern-crc64", &crc_hex(b"OTHER-002"))],
        )
        .await
        .unwrap();
    client
        .put_object(
            &dst,
            "newer-dst-diff-size",
            b"LONGER-003".to_vec(),
            None,
            &[],
        )
        .await
        .unwrap();
    client
        .put_object(
            &dst,
            "same",
            b"SOURCE-04".to_vec(),
            None,
            &[("tern-crc64", &crc_hex(b"SOURCE-04"))],
        )
        .await
        .unwrap();
    client
        .put_object(&dst, "same-no-crc", b"SOURCE-06".to_vec(), None, &[])
        .await
        .unwrap();
    Pairs { src, dst }
}

async fn outcomes_for(
    mode: OverwriteMode,
) -> (std::collections::BTreeMap<String, Outcome>, Pairs, S3Client) {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let pairs = craft(server, &client).await;
    let mut run = migration(
        server,
        &pairs.src,
        &pairs.dst,
        Selection::Prefixes(vec![String::new()]),
    );
    run.options.overwrite = mode;
    let (summary, outcomes) = run_collecting(&run).await.unwrap();
    let outcomes = by_key(outcomes);
    // `craft` uploads six source objects; the testkit's listing and the bytes at both ends
    // check the run, not the engine's own sum.
    assert_eq!(summary.counters.total_num, 6);
    common::assert_run_accounts_for_source(
        &client, &pairs.src, &pairs.dst, "", &summary, &outcomes,
    )
    .await;
    (outcomes, pairs, client)
}

fn copied(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Succeeded { .. })
}

#[tokio::test]
async fn test_overwrite_no_overwrite_skips_every_existing_key() {
    let (outcomes, pairs, client) = outcomes_for(OverwriteMode::NoOverwrite).await;
    for key in [
        "older-dst",
        "newer-dst-same-size",
        "newer-dst-diff-size",
        "same",
        "same-no-crc",
    ] {
        assert_eq!(outcomes[key], Outcome::Skipped(SkipReason::Exists), "{key}");
    }
    assert!(copied(&outcomes["absent"]));
    let kept = client
        .get_object(&pairs.dst, "older-dst")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.body, b"OLDER-DST");
}

#[tokio::test]
async fn test_overwrite_size_last_modified_copies_older_or_resized() {
    let (outcomes, pairs, client) = outcomes_for(OverwriteMode::SizeLastModified).await;
    assert!(copied(&outcomes["older-dst"]));
    assert!(copied(&outcomes["newer-dst-diff-size"]));
    assert!(copied(&outcomes["absent"]));
    // Same size and a newer destination count as unchanged, even with other bytes: that is
    // what this mode promises (CRC64 mode exists for this case).
    assert_eq!(
        outcomes["newer-dst-same-size"],
        Outcome::Skipped(SkipReason::Unchanged)
    );
    assert_eq!(outcomes["same"], Outcome::Skipped(SkipReason::Unchanged));
    let replaced = client
        .get_object(&pairs.dst, "older-dst")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced.body, b"SOURCE-01");
}

#[tokio::test]
async fn test_overwrite_crc64_compares_checksums_and_says_when_it_falls_back() {
    let (outcomes, pairs, client) = outcomes_for(OverwriteMode::Crc64).await;
    assert!(
        copied(&outcomes["newer-dst-same-size"]),
        "{:?}",
        outcomes["newer-dst-same-size"]
    );
    assert_eq!(outcomes["same"], Outcome::Skipped(SkipReason::Unchanged));
    assert_eq!(
        outcomes["same-no-crc"],
        Outcome::Skipped(SkipReason::UnchangedCrc64Unavailable)
    );
    assert!(copied(&outcomes["newer-dst-diff-size"]));
    let fixed = client
        .get_object(&pairs.dst, "newer-dst-same-size")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fixed.body, b"SOURCE-02");
}

#[tokio::test]
async fn test_overwrite_full_copies_everything() {
    let (outcomes, _, _) = outcomes_for(OverwriteMode::FullOverwrite).await;
    assert!(outcomes.values().all(copied), "{outcomes:?}");
}

#[tokio::test]
async fn test_consistency_checks_record_how_each_object_was_verified() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("chk-src").await.unwrap();
    client
        .put_object(
            &src,
            "declared",
            b"payload-1".to_vec(),
            None,
            &[("tern-crc64", &crc_hex(b"payload-1"))],
        )
        .await
        .unwrap();
    client
        .put_object(&src, "undeclared", b"payload-2".to_vec(), None, &[])
        .await
        .unwrap();
    client
        .put_object(
            &src,
            "corrupt",
            b"payload-3".to_vec(),
            None,
            &[("tern-crc64", &crc_hex(b"something else"))],
        )
        .await
        .unwrap();

    let cases = [
        (
            ConsistencyCheck::SizeLastModified,
            "declared",
            Some(Verification::SourceAndDestinationMd5),
        ),
        (
            ConsistencyCheck::NoCheck,
            "declared",
            Some(Verification::NotChecked),
        ),
        (
            ConsistencyCheck::Crc64,
            "declared",
            Some(Verification::Crc64),
        ),
        (
            ConsistencyCheck::Crc64,
            "undeclared",
            Some(Verification::Crc64UnavailableSizeLastModified),
        ),
        (ConsistencyCheck::Crc64, "corrupt", None),
    ];
    for (check, key, expected) in cases {
        let dst = server.new_bucket("chk-dst").await.unwrap();
        let mut run = migration(server, &src, &dst, Selection::Objects(vec![key.to_owned()]));
        run.options.check = check;
        let (_, outcomes) = run_collecting(&run).await.unwrap();
        let outcome = &by_key(outcomes)[key];
        match expected {
            Some(verification) => {
                assert!(
                    matches!(outcome, Outcome::Succeeded { verification: v, .. } if *v == verification),
                    "{check} {key}: {outcome:?}"
                );
            }
            None => {
                assert!(
                    matches!(
                        outcome,
                        Outcome::Failed {
                            code: FailureCode::VerificationFailed,
                            ..
                        }
                    ),
                    "{check} {key}: {outcome:?}"
                );
                // A small object is checked before it is written: nothing corrupt lands.
                assert!(client.get_object(&dst, key).await.unwrap().is_none());
            }
        }
    }
}
