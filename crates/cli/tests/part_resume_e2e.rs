//! Part-level resume end to end (issue 14 item 2, RFC 0012): `tern serve` SIGKILLed three times
//! while it copies three 200 MiB objects; each restart resumes the task and its multipart
//! uploads, so the source serves little more than the objects' size. The source is reached
//! through the test kit's proxy, which counts the object bytes it serves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_harness::{http, TernServer, DST_REGION, SRC_REGION};
use tern_testkit::{Fault, FaultProxy, S3Flavor, S3Server};

const MIB: u64 = 1024 * 1024;
/// The size: large enough that a kill lands in the middle of an object several times.
const OBJECT_SIZE: u64 = 200 * MIB;
const KEYS: [&str; 3] = ["big/a.bin", "big/b.bin", "big/c.bin"];

/// Deterministic bytes per key (xorshift64), so a mix-up of objects or parts shows.
fn body(key: &str, len: u64) -> Vec<u8> {
    let mut state = key.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |acc, b| {
        acc.rotate_left(5) ^ u64::from(b)
    }) | 1;
    let mut out = Vec::with_capacity(len as usize);
    while (out.len() as u64) < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

/// The source region goes through `proxy`, the destination straight to the server (two
/// endpoints, so nothing is copied server-side). One object at a time: a kill then cuts one
/// object's parts in flight (4 × 8 MiB at most), whichever object it lands in.
fn write_config(dir: &Path, s3: &S3Server, proxy: &FaultProxy) -> PathBuf {
    let config = dir.join("tern.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\ntransfers_per_task = 1\n\
             [[regions]]\ncloud_type = \"AWS\"\nregion = \"{SRC_REGION}\"\nendpoint = \"{src}\"\nprotocol = \"s3\"\n\
             [[regions]]\ncloud_type = \"HuaweiCloud\"\nregion = \"{DST_REGION}\"\nendpoint = \"{dst}\"\nprotocol = \"s3\"\n",
            src = proxy.endpoint(),
            dst = s3.endpoint()
        ),
    )
    .unwrap();
    config
}

async fn show(server: &TernServer, id: i64) -> Value {
    let (status, body) = http(
        "GET",
        &format!("{}/v2/{}/tasks/{id}", server.endpoint, server.project_id),
        Some(&server.token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_three_sigkills_during_large_objects_cost_only_parts_in_flight() {
    let started = Instant::now();
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = s3.client();
    let src = s3.new_bucket("partresume-src").await.unwrap();
    let dst = s3.new_bucket("partresume-dst").await.unwrap();
    for key in KEYS {
        client
            .put_object(&src, key, body(key, OBJECT_SIZE), None, &[])
            .await
            .unwrap();
    }
    let proxy = FaultProxy::start(s3.endpoint(), Fault::Nothing)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), s3, &proxy);
    let mut server = TernServer::start_with_config(dir.path(), config);
    let task = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": s3.access_key(), "sk": s3.secret_key(),
                     "bucket": src, "object_key": ["big/"]},
        "dst_node": {"ak": s3.access_key(), "sk": s3.secret_key(), "bucket": dst, "region": DST_REGION},
    });
    let (status, response) = http(
        "POST",
        &format!("{}/v2/{}/tasks", server.endpoint, server.project_id),
        Some(&server.token),
        Some(&task.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let id = serde_json::from_str::<Value>(&response).unwrap()["id"]
        .as_i64()
        .unwrap();

    let total = OBJECT_SIZE * KEYS.len() as u64;
    // Kills at a quarter, half and three quarters of the bytes: inside the first, second and
    // third object (each is a third of the total).
    for quarter in 1..=3u64 {
        let deadline = Instant::now() + Duration::from_secs(120);
        while proxy.object_bytes_served() < total * quarter / 4 {
            assert!(
                Instant::now() < deadline,
                "no progress before kill {quarter}: {}\n{}",
                show(&server, id).await,
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.kill();
        let landed = client.list_keys(&dst, "big/").await.unwrap().len();
        assert!(
            landed < KEYS.len(),
            "the task finished before kill {quarter}"
        );
        server.spawn(false);
    }

    let deadline = Instant::now() + Duration::from_secs(180);
    let task = loop {
        let task = show(&server, id).await;
        if matches!(task["status"].as_i64(), Some(4 | 5)) {
            break task;
        }
        assert!(
            Instant::now() < deadline,
            "task stuck: {task}\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(task["status"], 5, "{task}\n{}", server.log_text());
    assert_eq!(task["total_num"], 3, "{task}");
    assert_eq!(task["failed_num"], 0, "{task}");
    assert_eq!(
        task["successful_num"].as_u64().unwrap() + task["skipped_num"].as_u64().unwrap(),
        3,
        "{task}"
    );

    let served = proxy.object_bytes_served();
    let re_read = served.saturating_sub(total);
    eprintln!(
        "part resume: served {served} bytes for {total} ({:.3}×), re-read {} MiB over 3 kills, {:?}",
        served as f64 / total as f64,
        re_read / MIB,
        started.elapsed()
    );
    // Without part resume each kill re-reads the object it cut, from its first byte (here up to
    // 150, 100 and 50 MiB).
    assert!(
        served * 5 < total * 6,
        "the source served {served} bytes for {total} bytes of objects"
    );
    let log = server.log_text();
    assert!(log.contains("resuming a multipart upload"), "{log}");
    for key in KEYS {
        let copied = client.get_object(&dst, key).await.unwrap().unwrap();
        assert!(copied.body == body(key, OBJECT_SIZE), "{key} differs");
    }
    // The completed run left no upload open.
    assert!(client
        .list_multipart_uploads(&dst)
        .await
        .unwrap()
        .is_empty());
}
