//! The test kit against real servers: awkward keys round-trip through SeaweedFS and moto, shared
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]
//! servers are shared, buckets are independent, and dropped servers are gone.

use std::collections::BTreeMap;
use std::time::Duration;

use tern_testkit::{S3Client, S3Flavor, S3Server};

const TEN_LEVELS: &str = "l1/l2/l3/l4/l5/l6/l7/l8/l9/l10/leaf.bin";

/// Keys both servers must store verbatim.
const AWKWARD_KEYS: &[&str] = &[
    "with space and  two spaces",
    "unicode/ünïcödé/ключ/鍵/😀",
    "plus+sign+",
    "percent%25literal%",
    "question?mark=1&x",
    "hash#fragment",
    "xml &amp; <tag> \"quote\" 'apos'",
    "tilde~star*paren(1),semi;colon:at@dollar$",
    TEN_LEVELS,
];

fn body_for(key: &str) -> Vec<u8> {
    let mut body = key.as_bytes().to_vec();
    body.extend((0u8..=255).rev());
    body
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

/// Put, get, head, list and delete `keys` in a fresh bucket, checking bytes and metadata.
async fn round_trip(server: &S3Server, keys: &[&str]) {
    let bucket = server
        .new_bucket("round-trip")
        .await
        .expect("create bucket");
    let client = server.client();
    let metadata = [("color", "blue"), ("Mixed-Case", "Value With Spaces")];
    for key in keys {
        client
            .put_object(
                &bucket,
                key,
                body_for(key),
                Some("application/x-tern-test"),
                &metadata,
            )
            .await
            .unwrap_or_else(|e| panic!("put {key:?}: {e:#}"));
    }
    let want_meta = BTreeMap::from([
        ("color".to_string(), "blue".to_string()),
        ("mixed-case".to_string(), "Value With Spaces".to_string()),
    ]);
    for key in keys {
        let got = client.get_object(&bucket, key).await.expect("get");
        let got = got.unwrap_or_else(|| panic!("get {key:?}: not found"));
        assert_eq!(got.body, body_for(key), "{key:?}");
        assert_eq!(
            got.content_type.as_deref(),
            Some("application/x-tern-test"),
            "{key:?}"
        );
        assert_eq!(got.user_metadata, want_meta, "{key:?}");
        assert!(got.last_modified.is_some(), "{key:?}");
        let head = client.head_object(&bucket, key).await.expect("head");
        let head = head.unwrap_or_else(|| panic!("head {key:?}: not found"));
        assert_eq!(head.size, body_for(key).len() as u64, "{key:?}");
        assert_eq!(
            head.content_type.as_deref(),
            Some("application/x-tern-test")
        );
        assert_eq!(head.user_metadata, want_meta, "{key:?}");
        assert!(
            head.etag.is_some() && head.last_modified.is_some(),
            "{key:?}"
        );
    }
    let want: Vec<String> = sorted(keys.iter().map(|k| k.to_string()).collect());
    let listed = client.list_keys(&bucket, "").await.expect("list");
    assert_eq!(sorted(listed), want);
    let deep = client
        .list_keys(&bucket, "l1/l2/l3/")
        .await
        .expect("list deep");
    assert_eq!(deep, vec![TEN_LEVELS.to_string()]);
    let unicode = client
        .list_keys(&bucket, "unicode/ünïcödé/")
        .await
        .expect("list unicode");
    assert_eq!(unicode, vec!["unicode/ünïcödé/ключ/鍵/😀".to_string()]);

    for key in keys {
        client.delete_object(&bucket, key).await.expect("delete");
        assert!(
            client
                .get_object(&bucket, key)
                .await
                .expect("get")
                .is_none(),
            "{key:?}"
        );
        assert!(
            client
                .head_object(&bucket, key)
                .await
                .expect("head")
                .is_none(),
            "{key:?}"
        );
    }
    assert_eq!(
        client.list_keys(&bucket, "").await.expect("list"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn test_seaweedfs_round_trips_awkward_keys() {
    let server = S3Server::start(S3Flavor::SeaweedFs)
        .await
        .expect("start SeaweedFS");
    assert!(server.endpoint().starts_with("http://127.0.0.1:"));
    assert_eq!(server.region(), "us-east-1");
    round_trip(&server, AWKWARD_KEYS).await;
}

#[tokio::test]
async fn test_moto_round_trips_awkward_keys_and_double_slash() {
    let server = S3Server::start(S3Flavor::Moto).await.expect("start moto");
    let mut keys = AWKWARD_KEYS.to_vec();
    keys.extend(["a//b", "a/b", "x///y//"]);
    round_trip(&server, &keys).await;
}

#[tokio::test]
async fn test_seaweedfs_checks_signatures() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.expect("server");
    let wrong_secret = S3Client::new(server.endpoint(), server.access_key(), "nope", "us-east-1");
    let err = wrong_secret
        .create_bucket("never-created")
        .await
        .expect_err("must be refused");
    assert!(format!("{err:#}").contains("403"), "{err:#}");
    let bucket = server.new_bucket("sig").await.expect("bucket");
    let err = wrong_secret
        .list_keys(&bucket, "")
        .await
        .expect_err("must be refused");
    assert!(format!("{err:#}").contains("403"), "{err:#}");
}

#[tokio::test]
async fn test_shared_returns_the_same_instance() {
    for flavor in [S3Flavor::SeaweedFs, S3Flavor::Moto] {
        let a = S3Server::shared(flavor).await.expect("shared");
        let b = S3Server::shared(flavor).await.expect("shared again");
        assert!(std::ptr::eq(a, b), "{flavor:?}");
    }
    let weed = S3Server::shared(S3Flavor::SeaweedFs).await.expect("shared");
    let moto = S3Server::shared(S3Flavor::Moto).await.expect("shared");
    assert_ne!(weed.endpoint(), moto.endpoint());
}

#[tokio::test]
async fn test_parallel_buckets_are_independent() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.expect("server");
    let (a, b) = tokio::join!(server.new_bucket("par"), server.new_bucket("par"));
    let (a, b) = (a.expect("bucket a"), b.expect("bucket b"));
    assert_ne!(a, b);
    let client = server.client();
    let (ra, rb) = tokio::join!(
        client.put_object(&a, "only-in-a", b"a".to_vec(), None, &[]),
        client.put_object(&b, "only-in-b", b"b".to_vec(), None, &[]),
    );
    ra.expect("put a");
    rb.expect("put b");
    assert_eq!(
        client.list_keys(&a, "").await.expect("list a"),
        vec!["only-in-a"]
    );
    assert_eq!(
        client.list_keys(&b, "").await.expect("list b"),
        vec!["only-in-b"]
    );
    assert!(client
        .get_object(&a, "only-in-b")
        .await
        .expect("get")
        .is_none());
}

#[tokio::test]
async fn test_dropped_server_stops_listening() {
    let server = S3Server::start(S3Flavor::Moto).await.expect("start moto");
    assert!(
        server.log_tail(5).contains("Running on"),
        "{}",
        server.log_tail(30)
    );
    let addr = server.endpoint().trim_start_matches("http://").to_string();
    drop(server);
    let mut refused = false;
    for _ in 0..20 {
        if std::net::TcpStream::connect(&addr).is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "{addr} still accepts connections after drop");
}
