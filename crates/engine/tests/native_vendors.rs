//! Native OSS, OBS and COS end to end: the engine speaks each vendor's protocol (virtual-host
//! buckets at `bucket.domain:port`, the vendor's signature) to the test kit's verifying proxy,
//! which checks every signature independently and stores into a real SeaweedFS. The virtual-host
//! names reach 127.0.0.1 through the engine's resolver hook ([`Storage::open_resolving`]).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use common::{body_for, by_key, PART};
use tern_core::{Credentials, Outcome, Protocol, SkipReason};
use tern_engine::{run_collecting, EngineMetrics, Location, Migration, Selection, Storage, Tuning};
use tern_testkit::{S3Flavor, S3Server, Vendor, VendorProxy, VENDOR_ACCESS_KEY, VENDOR_SECRET_KEY};

const KEYS: &[(&str, usize)] = &[
    ("plain.txt", 100),
    ("with space.txt", 10),
    ("unicode/日本語-é.txt", 10),
    ("plus+sign.txt", 10),
    ("percent%41.txt", 10),
    ("hash#frag.txt", 10),
    ("question?mark.txt", 10),
    ("paren(1)!*'.txt", 10),
    ("deep/a/b/c/d.txt", 10),
    ("empty.bin", 0),
    ("three-parts.bin", 2 * PART + 4321),
];

fn protocol(vendor: Vendor) -> Protocol {
    match vendor {
        Vendor::Oss => Protocol::Oss,
        Vendor::Obs => Protocol::Obs,
        Vendor::Cos => Protocol::Cos,
    }
}

fn open(proxy: &VendorProxy, vendor: Vendor, bucket: &str, secret: &str) -> Storage {
    let location = Location {
        protocol: protocol(vendor),
        bucket: bucket.to_owned(),
        endpoint: Some(proxy.endpoint(vendor)),
        region: Some("local-1".to_owned()),
        root: String::new(),
        credentials: Credentials::access_key(VENDOR_ACCESS_KEY, secret),
    };
    Storage::open_resolving(
        &location,
        &Tuning::default(),
        &EngineMetrics::default(),
        &[proxy.resolve(vendor, bucket)],
    )
    .expect("storage opens")
}

/// Copies a bucket to another through the vendor's native protocol on both sides: every object
/// byte-identical with its Content-Type and metadata, a second run skips all, and every request
/// carried a signature the proxy verified.
async fn native_round_trip(vendor: Vendor, domain: &str) {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let proxy = VendorProxy::start(server, &[(vendor, domain)])
        .await
        .unwrap();
    let src = server.new_bucket("native-src").await.unwrap();
    let dst = server.new_bucket("native-dst").await.unwrap();
    for (key, len) in KEYS {
        client
            .put_object(
                &src,
                key,
                body_for(key, *len),
                Some("text/x-tern"),
                &[("color", "blue")],
            )
            .await
            .unwrap();
    }

    let mut run = Migration::new(
        open(&proxy, vendor, &src, VENDOR_SECRET_KEY),
        open(&proxy, vendor, &dst, VENDOR_SECRET_KEY),
        Selection::Prefixes(vec![String::new()]),
    );
    run.options.part_size = PART;
    run.options.metadata = true;
    let (summary, outcomes) = run_collecting(&run).await.unwrap();
    let outcomes = by_key(outcomes);
    assert_eq!(
        (summary.counters.total_num, summary.counters.successful_num),
        (KEYS.len() as u64, KEYS.len() as u64),
        "{vendor:?}: {outcomes:?}\nrefusals: {:?}",
        proxy.refusals()
    );
    common::assert_run_accounts_for_source(&client, &src, &dst, "", &summary, &outcomes).await;
    for (key, len) in KEYS {
        let copied = client.get_object(&dst, key).await.unwrap().unwrap();
        assert!(
            copied.body == body_for(key, *len),
            "{vendor:?}: {key} differs"
        );
        assert_eq!(copied.content_type.as_deref(), Some("text/x-tern"), "{key}");
        // OSS and OBS: written after the multipart upload by a copy onto itself (RFC 0009),
        // with tern's CRC64 of the bytes copied (elsewhere a multipart upload carries the
        // source's declared CRC64 only, and these sources declare none).
        if *len > PART && vendor != Vendor::Cos {
            let mut digest = crc64fast::Digest::new();
            digest.write(&body_for(key, *len));
            assert_eq!(
                copied.user_metadata.get("tern-crc64"),
                Some(&format!("{:016x}", digest.sum64())),
                "{vendor:?}: {key}"
            );
        }
        assert_eq!(
            copied.user_metadata.get("color").map(String::as_str),
            Some("blue"),
            "{vendor:?}: {key} metadata {:?}",
            copied.user_metadata
        );
    }

    let (again, outcomes) = run_collecting(&run).await.unwrap();
    assert_eq!(again.counters.skipped_num, KEYS.len() as u64, "{vendor:?}");
    for (key, outcome) in by_key(outcomes) {
        assert_eq!(outcome, Outcome::Skipped(SkipReason::Unchanged), "{key}");
    }
    assert!(
        proxy.refusals().is_empty(),
        "{vendor:?}: {:?}",
        proxy.refusals()
    );
    // A listing, HEADs or GETs, and the multipart calls of three parts at least.
    assert!(proxy.verified() > KEYS.len() as u64, "{vendor:?}");

    // A wrong secret is refused by the proxy's own check: the run fails, nothing is written.
    let wrong = open(&proxy, vendor, &src, "not-the-secret");
    let other = server.new_bucket("native-wrong").await.unwrap();
    let run = Migration::new(
        wrong,
        open(&proxy, vendor, &other, VENDOR_SECRET_KEY),
        Selection::Prefixes(vec![String::new()]),
    );
    let result = run_collecting(&run).await;
    let succeeded = result
        .as_ref()
        .map(|(summary, _)| summary.counters.successful_num)
        .unwrap_or(0);
    assert_eq!(succeeded, 0, "{vendor:?}: a bad signature was accepted");
    assert!(
        proxy
            .refusals()
            .iter()
            .any(|reason| reason.contains("signature mismatch")),
        "{vendor:?}: {:?}",
        proxy.refusals()
    );
    assert!(client.list_keys(&other, "").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_native_oss_virtual_host_with_port() {
    native_round_trip(Vendor::Oss, "oss-local-1.aliyuncs.tern.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_native_obs_virtual_host_with_port() {
    native_round_trip(Vendor::Obs, "obs.local-1.tern.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_native_cos_virtual_host_with_port() {
    native_round_trip(Vendor::Cos, "cos.local-1.tern.test").await;
}
