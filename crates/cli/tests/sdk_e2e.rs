//! The official OMS Python SDK against a real `tern serve` migrating between SeaweedFS buckets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::process::Command;

use futures::stream::{self, StreamExt};
use serve_harness::{TernServer, DST_REGION, SRC_REGION};
use tern_testkit::{S3Flavor, S3Server};

const FAST_COUNT: usize = 200;
const SLOW_COUNT: usize = 12;

fn body(key: &str, len: usize) -> Vec<u8> {
    key.bytes().cycle().take(len).collect()
}

#[tokio::test]
async fn test_official_sdk_drives_every_task_operation() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = s3.client();
    let src = s3.new_bucket("sdk-src").await.unwrap();
    let dst = s3.new_bucket("sdk-dst").await.unwrap();
    let mut objects: Vec<(String, Vec<u8>)> = (0..FAST_COUNT)
        .map(|i| {
            let key = format!("fast/{i:03} é+%.txt");
            let data = body(&key, 100 + i * 37);
            (key, data)
        })
        .collect();
    objects.extend((0..SLOW_COUNT).map(|i| {
        let key = format!("slow/{i:02}.bin");
        let data = body(&key, 1024 * 1024);
        (key, data)
    }));
    stream::iter(objects.iter())
        .for_each_concurrent(16, |(key, data)| {
            let client = client.clone();
            let src = src.clone();
            async move {
                client
                    .put_object(&src, key, data.clone(), Some("text/plain"), &[])
                    .await
                    .unwrap()
            }
        })
        .await;

    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start(dir.path(), s3);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/oms_sdk_e2e.py");
    let output = Command::new("python3")
        .arg(script)
        .env("TERN_ENDPOINT", &server.endpoint)
        .env("TERN_PROJECT_ID", &server.project_id)
        .env("TERN_AK", &server.ak)
        .env("TERN_SK", &server.sk)
        .env("S3_AK", s3.access_key())
        .env("S3_SK", s3.secret_key())
        .env("SRC_BUCKET", &src)
        .env("DST_BUCKET", &dst)
        .env("SRC_REGION", SRC_REGION)
        .env("DST_REGION", DST_REGION)
        .env("FAST_COUNT", FAST_COUNT.to_string())
        .env("SLOW_COUNT", SLOW_COUNT.to_string())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "SDK script failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        server.log_text()
    );

    // Every object is byte-identical at the destination with its Content-Type.
    for (key, data) in &objects {
        let copied = client
            .get_object(&dst, key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(copied.body == *data, "{key} differs");
        assert_eq!(copied.content_type.as_deref(), Some("text/plain"), "{key}");
    }

    // Secrets never reach the log or the database files in clear.
    let log = server.log_text();
    assert!(
        !log.contains(s3.secret_key()) && !log.contains(&server.sk),
        "a secret is in the server log"
    );
    for name in ["tern.db", "tern.db-wal", "tern.db-shm"] {
        let path = server.data_dir.join(name);
        if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(s3.secret_key()),
                "{name} holds the S3 secret in clear"
            );
            assert!(
                !text.contains(&server.sk),
                "{name} holds the API secret in clear"
            );
        }
    }
}
