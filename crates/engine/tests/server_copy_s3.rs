//! Server-side copy between two buckets of one SeaweedFS (CopyObject, UploadPartCopy), and the
//! fallbacks to streaming: a destination on another server, the switch turned off, and a real
//! refusal (destination credentials that may not read the source bucket). Results are checked
//! with the test kit's own S3 client: bytes, Content-Type, user metadata, storage class, ETags.

mod common;

use std::collections::BTreeMap;

use common::{assert_run_accounts_for_source, body_for, by_key, PART};
use tern_core::{CopyPath, Credentials, Outcome, Protocol, Verification};
use tern_engine::{run_collecting, EngineMetrics, Location, Migration, Selection, Storage, Tuning};
use tern_testkit::{Fault, FaultProxy, S3Client, S3Flavor, S3Server};

/// Keys S3 accepts that need care in URLs and `x-amz-copy-source` (none that OpenDAL rewrites:
/// those stream, see `rawpath`).
const AWKWARD_KEYS: [&str; 6] = [
    "plain.txt",
    "with space/and+plus.txt",
    "percent%25and%.bin",
    "query?hash#semi;colon=eq&amp",
    "ünïcødé/日本語.txt",
    "deep/a/b/c/d/e.json",
];
/// Larger than the part size: copied with UploadPartCopy in parts of `PART` (5 + 5 + 2 MiB).
const BIG_KEY: &str = "big/multipart.bin";
const BIG_SIZE: usize = 12 * 1024 * 1024;
const EMPTY_KEY: &str = "empty";
/// A source object carrying tern's CRC64 (as one copied by tern before).
const CRC_KEY: &str = "has-crc64.bin";

fn storage(server: &S3Server, bucket: &str, credentials: Credentials, tuning: &Tuning) -> Storage {
    storage_via(server.endpoint(), server, bucket, credentials, tuning)
}

/// A storage of `server`'s `bucket`, with the admin's keys, reached through `endpoint` (a proxy
/// in front of it).
fn storage_at(endpoint: &str, server: &S3Server, bucket: &str, tuning: &Tuning) -> Storage {
    storage_via(endpoint, server, bucket, admin(server), tuning)
}

fn storage_via(
    endpoint: &str,
    server: &S3Server,
    bucket: &str,
    credentials: Credentials,
    tuning: &Tuning,
) -> Storage {
    Storage::open_tuned(
        &Location {
            protocol: Protocol::S3,
            bucket: bucket.to_owned(),
            endpoint: Some(endpoint.to_owned()),
            region: Some(server.region().to_owned()),
            root: String::new(),
            credentials,
        },
        tuning,
        &EngineMetrics::default(),
    )
    .expect("storage opens")
}

fn admin(server: &S3Server) -> Credentials {
    Credentials::access_key(server.access_key(), server.secret_key())
}

/// Seeds `bucket` with the awkward keys (content type + user metadata), a multipart-sized
/// object, an empty one and one with a `tern-crc64`; returns every key with its bytes.
async fn seed(client: &S3Client, bucket: &str) -> BTreeMap<String, Vec<u8>> {
    let mut seeded = BTreeMap::new();
    for key in AWKWARD_KEYS {
        let body = body_for(key, 3000 + key.len());
        client
            .put_object(
                bucket,
                key,
                body.clone(),
                Some("text/x-tern-test"),
                &[
                    ("color", "blue"),
                    ("origin", key.len().to_string().as_str()),
                ],
            )
            .await
            .expect("seed");
        seeded.insert(key.to_owned(), body);
    }
    let big = body_for(BIG_KEY, BIG_SIZE);
    client
        .put_object(
            bucket,
            BIG_KEY,
            big.clone(),
            Some("application/x-big"),
            &[("size", "big")],
        )
        .await
        .expect("seed big");
    seeded.insert(BIG_KEY.to_owned(), big);
    client
        .put_object(bucket, EMPTY_KEY, Vec::new(), None, &[])
        .await
        .expect("seed empty");
    seeded.insert(EMPTY_KEY.to_owned(), Vec::new());
    let crc_body = body_for(CRC_KEY, 4096);
    let crc = format!("{:016x}", crc64(&crc_body));
    client
        .put_object(
            bucket,
            CRC_KEY,
            crc_body.clone(),
            None,
            &[("tern-crc64", &crc)],
        )
        .await
        .expect("seed crc");
    seeded.insert(CRC_KEY.to_owned(), crc_body);
    seeded
}

fn crc64(bytes: &[u8]) -> u64 {
    let mut digest = crc64fast::Digest::new();
    digest.write(bytes);
    digest.sum64()
}

fn paths(outcomes: &BTreeMap<String, Outcome>) -> BTreeMap<String, CopyPath> {
    outcomes
        .iter()
        .map(|(key, outcome)| match outcome {
            Outcome::Succeeded { path, .. } => (key.clone(), *path),
            other => panic!("{key}: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn test_server_side_copy_between_buckets_keeps_bytes_and_metadata() {
    copies_server_side(true).await;
}

#[tokio::test]
async fn test_server_side_copy_without_metadata_migration_keeps_only_content_type_and_crc64() {
    copies_server_side(false).await;
}

/// Copies the seeded objects between two buckets of one SeaweedFS, through a counting proxy,
/// with or without metadata migration, and checks every object against the source.
///
/// With metadata migration a whole-object copy needs no HEAD of the source: the service keeps
/// the source's Content-Type and user metadata (`COPY`) and the listed ETag conditions the copy,
/// so only the multipart object is HEADed. Without it every object is HEADed, because the
/// Content-Type must be written alone (`REPLACE`) and only the HEAD gives it.
async fn copies_server_side(metadata: bool) {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.expect("server");
    let proxy = FaultProxy::start(server.endpoint(), Fault::Nothing)
        .await
        .expect("proxy");
    let client = server.client();
    let src = server.new_bucket("ssc-src").await.expect("bucket");
    let dst = server.new_bucket("ssc-dst").await.expect("bucket");
    let seeded = seed(&client, &src).await;

    let class = Tuning {
        storage_class: Some("STANDARD_IA".to_owned()),
        request_payer: false,
    };
    let mut run = Migration::new(
        storage_at(proxy.endpoint(), server, &src, &Tuning::default()),
        storage_at(proxy.endpoint(), server, &dst, &class),
        Selection::Prefixes(vec![String::new()]),
    );
    run.options.part_size = PART;
    run.options.metadata = metadata;
    let (summary, outcomes) = run_collecting(&run).await.expect("run");
    let outcomes = by_key(outcomes);
    assert_run_accounts_for_source(&client, &src, &dst, "", &summary, &outcomes).await;
    assert_eq!(summary.counters.successful_num, seeded.len() as u64);

    let mut source_heads: Vec<String> = proxy
        .paths_of("HEAD")
        .into_iter()
        .filter(|path| path.starts_with(&format!("/{src}/")))
        .collect();
    source_heads.sort();
    let expected_heads: Vec<String> = if metadata {
        vec![format!("/{src}/{BIG_KEY}")]
    } else {
        let mut all: Vec<String> = seeded
            .keys()
            .map(|key| format!("/{src}/{}", encode_path(key)))
            .collect();
        all.sort();
        all
    };
    assert_eq!(source_heads, expected_heads, "HEADs of the source");

    for (key, outcome) in &outcomes {
        let Outcome::Succeeded {
            verification,
            crc64: recorded_crc64,
            path,
        } = outcome
        else {
            panic!("{key}: {outcome:?}");
        };
        assert_eq!(*path, CopyPath::ServerSide, "{key}");
        // A single PUT's ETag is its MD5, and CopyObject's ETag is the copy's MD5: equal. The
        // part copy has a multipart ETag, comparable only by size.
        let expected = if key == BIG_KEY {
            Verification::SizeLastModified
        } else {
            Verification::SizeAndSourceEtag
        };
        assert_eq!(*verification, expected, "{key}");
        // tern learns a declared CRC64 only from a HEAD.
        let expected_crc = (key == CRC_KEY && !metadata).then(|| crc64(&seeded[key]));
        assert_eq!(*recorded_crc64, expected_crc, "{key}");

        let source = client
            .head_object(&src, key)
            .await
            .expect("head")
            .expect("src");
        let copied = client
            .head_object(&dst, key)
            .await
            .expect("head")
            .expect("dst");
        assert_eq!(copied.size, seeded[key].len() as u64, "{key}");
        assert_eq!(copied.content_type, source.content_type, "{key}");
        assert_eq!(
            copied.storage_class.as_deref(),
            Some("STANDARD_IA"),
            "{key}"
        );
        if metadata {
            // User metadata carried over, tern's CRC64 with it where the source declared one.
            assert_eq!(copied.user_metadata, source.user_metadata, "{key}");
        } else {
            // Only tern's CRC64, where the source declared one.
            let expected: BTreeMap<String, String> = source
                .user_metadata
                .iter()
                .filter(|(name, _)| name.as_str() == "tern-crc64")
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            assert_eq!(copied.user_metadata, expected, "{key}");
        }
        if key == BIG_KEY {
            let etag = copied.etag.as_deref().unwrap_or_default().trim_matches('"');
            assert!(
                etag.ends_with("-3"),
                "{key}: 3 parts of {PART} bytes, ETag {etag}"
            );
        } else {
            assert_eq!(copied.etag, source.etag, "{key}");
        }
    }
    assert_eq!(
        client
            .head_object(&dst, CRC_KEY)
            .await
            .expect("head")
            .expect("copied")
            .user_metadata["tern-crc64"],
        format!("{:016x}", crc64(&seeded[CRC_KEY]))
    );
    assert!(client
        .list_multipart_uploads(&dst)
        .await
        .expect("uploads")
        .is_empty());

    // Nothing changed: a second run skips everything.
    let (again, _) = run_collecting(&run).await.expect("second run");
    assert_eq!(again.counters.skipped_num, seeded.len() as u64);
}

/// `key` as a path-style request spells it: every byte but unreserved ones and `/` escaped.
fn encode_path(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn test_other_endpoint_or_switch_off_streams() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.expect("server");
    let other = S3Server::start(S3Flavor::SeaweedFs)
        .await
        .expect("second server");
    let client = server.client();
    let src = server.new_bucket("ssc-src").await.expect("bucket");
    let seeded = seed(&client, &src).await;

    // Another server: same protocol, another port, so the bytes must travel through tern.
    let far = other.new_bucket("ssc-far").await.expect("bucket");
    let mut run = Migration::new(
        storage(server, &src, admin(server), &Tuning::default()),
        storage(&other, &far, admin(&other), &Tuning::default()),
        Selection::Prefixes(vec![String::new()]),
    );
    run.options.part_size = PART;
    let (summary, outcomes) = run_collecting(&run).await.expect("run");
    let outcomes = by_key(outcomes);
    assert_eq!(summary.counters.successful_num, seeded.len() as u64);
    assert!(outcomes.keys().eq(seeded.keys()));
    assert!(paths(&outcomes).values().all(|p| *p == CopyPath::Streamed));
    for (key, body) in &seeded {
        let copied = other.client().get_object(&far, key).await.unwrap().unwrap();
        assert_eq!(&copied.body, body, "{key}");
    }

    // One server, the switch off: streamed too.
    let dst = server.new_bucket("ssc-off").await.expect("bucket");
    let mut run = Migration::new(
        storage(server, &src, admin(server), &Tuning::default()),
        storage(server, &dst, admin(server), &Tuning::default()),
        Selection::Prefixes(vec![String::new()]),
    );
    run.options.part_size = PART;
    run.options.server_side_copy = false;
    let (summary, outcomes) = run_collecting(&run).await.expect("run");
    let outcomes = by_key(outcomes);
    assert_run_accounts_for_source(&client, &src, &dst, "", &summary, &outcomes).await;
    assert!(paths(&outcomes).values().all(|p| *p == CopyPath::Streamed));
}

#[tokio::test]
async fn test_refused_server_side_copy_falls_back_to_streaming() {
    // The destination's credentials may write their own bucket but not read the source's:
    // SeaweedFS answers CopyObject and UploadPartCopy with 403 AccessDenied.
    let (server, limited) = S3Server::start_with_limited_user("ssc-limited")
        .await
        .expect("server with a limited identity");
    let client = server.client();
    let src = server.new_bucket("ssc-src").await.expect("bucket");
    let seeded = seed(&client, &src).await;
    let limited_credentials =
        Credentials::access_key(limited.access_key.as_str(), limited.secret_key.as_str());
    let open_run = |selection| {
        let mut run = Migration::new(
            storage(&server, &src, admin(&server), &Tuning::default()),
            storage(
                &server,
                &limited.bucket,
                limited_credentials.clone(),
                &Tuning::default(),
            ),
            selection,
        );
        run.options.part_size = PART;
        run.options.metadata = true;
        run
    };

    // The multipart object alone first: its upload is created (the destination may be
    // written), the part copy is refused, the upload aborted, the object streamed.
    let run = open_run(Selection::Objects(vec![BIG_KEY.to_owned()]));
    let (summary, outcomes) = run_collecting(&run).await.expect("run");
    assert_eq!(summary.counters.successful_num, 1);
    assert_eq!(
        paths(&by_key(outcomes))[BIG_KEY],
        CopyPath::StreamedServerSideRefused
    );
    assert!(
        client
            .list_multipart_uploads(&limited.bucket)
            .await
            .expect("uploads")
            .is_empty(),
        "the refused part copy's upload was aborted"
    );

    let run = open_run(Selection::Prefixes(vec![String::new()]));
    let (summary, outcomes) = run_collecting(&run).await.expect("run");
    let outcomes = by_key(outcomes);
    assert_run_accounts_for_source(&client, &src, &limited.bucket, "", &summary, &outcomes).await;
    // The big object is unchanged since the first run: skipped; the others were refused
    // (the first refusal turns server-side copy off for the run) and streamed.
    for (key, outcome) in &outcomes {
        match outcome {
            Outcome::Skipped(_) => assert_eq!(key, BIG_KEY),
            Outcome::Succeeded { path, .. } => {
                assert_eq!(*path, CopyPath::StreamedServerSideRefused, "{key}")
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    for (key, body) in &seeded {
        let copied = client
            .get_object(&limited.bucket, key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&copied.body, body, "{key}");
    }
}
