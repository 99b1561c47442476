//! The bucket helpers through the official OMS Python SDK against `tern serve` and SeaweedFS,
//! with a local "CDN" (an HTTP server on 127.0.0.1) for `show_cdn_info`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;
use axum::Router;
use serve_harness::{TernServer, SRC_REGION};
use tern_testkit::{S3Flavor, S3Server};

/// What the local CDN serves: key → (bytes, ETag header).
type CdnObjects = HashMap<String, (Vec<u8>, String)>;

/// Serves [`CdnObjects`] like an origin-pull CDN would (GET and HEAD).
async fn start_cdn(objects: CdnObjects) -> String {
    async fn serve(
        State(objects): State<Arc<CdnObjects>>,
        Path(key): Path<String>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        match objects.get(&key) {
            Some((body, etag)) => {
                let mut headers = HeaderMap::new();
                headers.insert("etag", HeaderValue::from_str(etag).unwrap());
                (StatusCode::OK, headers, body.clone())
            }
            None => (StatusCode::NOT_FOUND, HeaderMap::new(), Vec::new()),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/{*key}", get(serve))
        .with_state(Arc::new(objects));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn test_official_sdk_drives_the_bucket_helpers() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = s3.client();
    let src = s3.new_bucket("helpers-src").await.unwrap();
    let other = s3.new_bucket("helpers-other").await.unwrap();
    let keys = [
        "folder/a.txt",
        "folder/b é+%.txt",
        "folder/c.txt",
        "folder/d.txt",
        "folder/sub/deep.txt",
        "logs/2024-01.txt",
        "top.txt",
    ];
    for key in keys {
        client
            .put_object(&src, key, key.repeat(3).into_bytes(), None, &[])
            .await
            .unwrap();
    }
    // One folder level of folder/, in byte order: four objects and the sub-folder.
    let folder_names = [
        "folder/a.txt",
        "folder/b é+%.txt",
        "folder/c.txt",
        "folder/d.txt",
        "folder/sub/",
    ];

    let head = |key: &'static str| {
        let client = client.clone();
        let src = src.clone();
        async move {
            client
                .head_object(&src, key)
                .await
                .unwrap()
                .unwrap()
                .etag
                .unwrap()
        }
    };
    let good_etag = head("folder/a.txt").await;
    let mut cdn_objects = HashMap::new();
    cdn_objects.insert("folder/a.txt".to_owned(), (b"a".to_vec(), good_etag));
    // A stale copy: the CDN still serves an older version with another ETag.
    cdn_objects.insert(
        "folder/c.txt".to_owned(),
        (
            b"old".to_vec(),
            "\"0123456789abcdef0123456789abcdef\"".to_owned(),
        ),
    );
    let cdn = start_cdn(cdn_objects).await;

    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start(dir.path(), s3);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/oms_sdk_buckets.py");
    let output = tokio::process::Command::from(Command::new("python3"))
        .arg(script)
        .env("TERN_ENDPOINT", &server.endpoint)
        .env("TERN_PROJECT_ID", &server.project_id)
        .env("TERN_AK", &server.ak)
        .env("TERN_SK", &server.sk)
        .env("S3_AK", s3.access_key())
        .env("S3_SK", s3.secret_key())
        .env("SRC_BUCKET", &src)
        .env("OTHER_BUCKET", &other)
        .env("SRC_REGION", SRC_REGION)
        .env("CDN_DOMAIN", &cdn)
        .env(
            "FOLDER_NAMES",
            serde_json::to_string(&folder_names).unwrap(),
        )
        .env("CDN_GOOD", "folder/a.txt")
        .env("CDN_STALE", "folder/c.txt")
        .env("CDN_MISSING", "folder/d.txt")
        .env("BUCKET_MISSING", "no-such-bucket-here")
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "SDK script failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        server.log_text()
    );
    // The helpers' credentials never reach the log, at the info level the server runs at.
    let log = server.log_text();
    assert!(
        !log.contains(s3.secret_key()),
        "S3 secret in the server log"
    );
}
