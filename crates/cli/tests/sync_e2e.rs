//! Sync tasks end to end: a real `tern serve` between two SeaweedFS servers, driven by the
//! official OMS Python SDK, by raw HTTP with S3 event notifications, through a SIGKILL, and by
//! its reconciliation pass.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serve_harness::{http, TernServer, DST_REGION, SRC_REGION};
use tern_testkit::{S3Flavor, S3Server};
use tokio::sync::OnceCell;

/// A region name of exactly 100 characters (the longest `src_region` / `dst_region`), so the
/// SDK script can show that the boundary is accepted by a server that knows the region.
fn long_region() -> String {
    format!("local-long-{}", "r".repeat(89))
}

/// The source and destination servers every test of this binary shares (own buckets each).
async fn servers() -> (&'static S3Server, &'static S3Server) {
    static SRC: OnceCell<S3Server> = OnceCell::const_new();
    static DST: OnceCell<S3Server> = OnceCell::const_new();
    let src = SRC
        .get_or_try_init(|| S3Server::start(S3Flavor::SeaweedFs))
        .await
        .unwrap();
    let dst = DST
        .get_or_try_init(|| S3Server::start(S3Flavor::SeaweedFs))
        .await
        .unwrap();
    (src, dst)
}

/// A config naming the source server as AWS regions and the destination as HuaweiCloud ones.
fn write_two_server_config(
    dir: &Path,
    src: &S3Server,
    dst: &S3Server,
    reconcile_secs: Option<u64>,
) -> PathBuf {
    let config = dir.join("tern.toml");
    let mut text = String::from("version = 1\n");
    if let Some(secs) = reconcile_secs {
        text.push_str(&format!("sync_reconcile_interval_secs = {secs}\n"));
    }
    for (cloud, region, endpoint) in [
        ("AWS", SRC_REGION.to_owned(), src.endpoint()),
        ("HuaweiCloud", DST_REGION.to_owned(), dst.endpoint()),
        ("AWS", long_region(), src.endpoint()),
        ("HuaweiCloud", long_region(), dst.endpoint()),
    ] {
        text.push_str(&format!(
            "[[regions]]\ncloud_type = \"{cloud}\"\nregion = \"{region}\"\nendpoint = \"{endpoint}\"\nprotocol = \"s3\"\n"
        ));
    }
    std::fs::write(&config, text).unwrap();
    config
}

fn body(key: &str, len: usize) -> Vec<u8> {
    key.bytes().cycle().take(len).collect()
}

/// Keys that stress every encoding step: spaces, unicode, `+`, `%`, `?`, `#`, deep paths.
fn awkward_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "plain.txt",
        "with space.txt",
        "plus+sign.txt",
        "percent%25literal%.txt",
        "question?mark.txt",
        "hash#tag.txt",
        "unicode/café/日本語.txt",
        "a/b/c/d/e/f/g/h/deep.bin",
        "mixed + % ? # é.txt",
        "emoji/😀.txt",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    keys.extend((0..10).map(|i| format!("batch/{i:02} item+{i}%.dat")));
    keys
}

async fn put_all(s3: &S3Server, bucket: &str, objects: &[(String, Vec<u8>)]) {
    let client = s3.client();
    stream::iter(objects.iter())
        .for_each_concurrent(8, |(key, data)| {
            let client = client.clone();
            async move {
                client
                    .put_object(bucket, key, data.clone(), Some("text/plain"), &[])
                    .await
                    .unwrap()
            }
        })
        .await;
}

async fn assert_copied(
    src: &S3Server,
    dst: &S3Server,
    dst_bucket: &str,
    objects: &[(String, Vec<u8>)],
) {
    let _ = src;
    for (key, data) in objects {
        let copied = dst
            .client()
            .get_object(dst_bucket, key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key:?} missing at the destination"));
        assert!(copied.body == *data, "{key:?} differs at the destination");
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

/// Creates a sync task with raw HTTP and returns its id.
async fn create_sync_task(server: &TernServer, s3: &S3Server, src: &str, dst: &str) -> String {
    let request = serde_json::json!({
        "src_cloud_type": "AWS", "src_region": SRC_REGION, "src_bucket": src,
        "src_ak": s3.access_key(), "src_sk": s3.secret_key(),
        "dst_region": DST_REGION, "dst_bucket": dst,
        "dst_ak": s3.access_key(), "dst_sk": s3.secret_key(),
    });
    let url = format!("{}/v2/{}/sync-tasks", server.endpoint, server.project_id);
    let (status, text) = http(
        "POST",
        &url,
        Some(&server.token),
        Some(&request.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    json(&text)["sync_task_id"].as_str().unwrap().to_owned()
}

/// The monthly counters of a sync task now.
async fn counters(server: &TernServer, id: &str) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let url = format!(
        "{}/v2/{}/sync-tasks/{id}?query_time={now}",
        server.endpoint, server.project_id
    );
    let (status, text) = http("GET", &url, Some(&server.token), None).await;
    assert_eq!(status, 200, "{text}");
    json(&text)
}

/// Waits until the task's resolved events (success + skip + failure) reach `resolved`.
async fn wait_resolved(server: &TernServer, id: &str, resolved: i64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let shown = counters(server, id).await;
        let done = [
            "monthly_success_object",
            "monthly_skip_object",
            "monthly_failure_object",
        ]
        .iter()
        .map(|name| shown[name].as_i64().unwrap())
        .sum::<i64>();
        if done >= resolved {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {resolved} events resolved: {shown}\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn encode(key: &str) -> String {
    percent_encode(key, false)
}

/// RFC 3986 percent-encoding of every byte but unreserved ones; `plus_for_space` writes a
/// space as `+`, as S3 notifications do.
fn percent_encode(key: &str, plus_for_space: bool) -> String {
    let mut out = String::new();
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            b' ' if plus_for_space => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[tokio::test]
async fn test_official_sdk_drives_every_sync_operation() {
    let (src_s3, dst_s3) = servers().await;
    let src = src_s3.new_bucket("sync-sdk-src").await.unwrap();
    let dst = dst_s3.new_bucket("sync-sdk-dst").await.unwrap();
    let objects: Vec<(String, Vec<u8>)> = awkward_keys()
        .into_iter()
        .enumerate()
        .map(|(i, key)| {
            let data = body(&key, 100 + i * 613);
            (key, data)
        })
        .collect();
    put_all(src_s3, &src, &objects).await;
    // Announced later by the script, after a stop and a start.
    let late = ("late/after restart.txt".to_owned(), body("late", 4321));
    // Announced by an S3 event notification.
    let notified = ("notified/a b+c%.txt".to_owned(), body("notified", 777));
    put_all(src_s3, &src, &[late.clone(), notified.clone()]).await;

    let dir = tempfile::tempdir().unwrap();
    let config = write_two_server_config(dir.path(), src_s3, dst_s3, None);
    let server = TernServer::start_with_config(dir.path(), config);
    let keys: Vec<String> = objects.iter().map(|(key, _)| key.clone()).collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/oms_sdk_sync.py");
    let output = Command::new("python3")
        .arg(script)
        .env("TERN_ENDPOINT", &server.endpoint)
        .env("TERN_PROJECT_ID", &server.project_id)
        .env("TERN_TOKEN", &server.token)
        .env("TERN_AK", &server.ak)
        .env("TERN_SK", &server.sk)
        .env("S3_AK", src_s3.access_key())
        .env("S3_SK", src_s3.secret_key())
        .env("SRC_BUCKET", &src)
        .env("DST_BUCKET", &dst)
        .env("SRC_REGION", SRC_REGION)
        .env("DST_REGION", DST_REGION)
        .env("LONG_REGION", long_region())
        .env("KEYS_JSON", serde_json::to_string(&keys).unwrap())
        .env(
            "OBJECT_BYTES",
            objects
                .iter()
                .map(|(_, d)| d.len())
                .sum::<usize>()
                .to_string(),
        )
        .env("LATE_KEY", &late.0)
        .env("LATE_BYTES", late.1.len().to_string())
        .env("NOTIFIED_KEY_S3", percent_encode(&notified.0, true))
        .env("NOTIFIED_BYTES", notified.1.len().to_string())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "SDK script failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        server.log_text()
    );

    // Independent of the counters: every announced object is byte-identical at the
    // destination, and nothing else is there.
    let mut expected = objects.clone();
    expected.push(late);
    expected.push(notified);
    assert_copied(src_s3, dst_s3, &dst, &expected).await;
    let mut listed = dst_s3.client().list_keys(&dst, "").await.unwrap();
    listed.sort();
    let mut wanted: Vec<String> = expected.iter().map(|(key, _)| key.clone()).collect();
    wanted.sort();
    assert_eq!(listed, wanted);

    let log = server.log_text();
    assert!(
        !log.contains(src_s3.secret_key()),
        "a secret is in the server log"
    );
}

#[tokio::test]
async fn test_accepted_events_survive_sigkill_and_are_copied_once() {
    let (src_s3, dst_s3) = servers().await;
    let src = src_s3.new_bucket("sync-kill-src").await.unwrap();
    let dst = dst_s3.new_bucket("sync-kill-dst").await.unwrap();
    // Large enough that copying all of them takes longer than the kill.
    let objects: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| {
            let key = format!("kill/{i:02} é+%.bin");
            let data = body(&key, 3 * 1024 * 1024 + i);
            (key, data)
        })
        .collect();
    put_all(src_s3, &src, &objects).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_two_server_config(dir.path(), src_s3, dst_s3, None);
    let mut server = TernServer::start_with_config(dir.path(), config);
    let id = create_sync_task(&server, src_s3, &src, &dst).await;
    let keys: Vec<String> = objects.iter().map(|(key, _)| encode(key)).collect();
    let url = format!(
        "{}/v2/{}/sync-tasks/{id}/events",
        server.endpoint, server.project_id
    );
    let request = serde_json::json!({ "object_keys": keys }).to_string();
    let (status, text) = http("POST", &url, Some(&server.token), Some(&request)).await;
    assert_eq!(status, 200, "{text}");
    server.kill();
    let copied_before = dst_s3.client().list_keys(&dst, "").await.unwrap().len();
    assert!(
        copied_before < objects.len(),
        "every object was copied before the kill; the test proves nothing"
    );

    server.spawn(false);
    let shown = wait_resolved(&server, &id, 20).await;
    // Let anything that would count twice do so.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let shown_later = counters(&server, &id).await;
    assert_eq!(
        shown, shown_later,
        "counters moved after every event resolved"
    );
    assert_eq!(shown["monthly_acceptance_request"], 20, "{shown}");
    assert_eq!(shown["monthly_failure_object"], 0, "{shown}");
    let success = shown["monthly_success_object"].as_i64().unwrap();
    let skip = shown["monthly_skip_object"].as_i64().unwrap();
    assert_eq!(success + skip, 20, "{shown}");
    // Objects copied before the kill but not recorded are found unchanged (skipped); the others
    // are copied after the restart: at least those missing at the kill are successes.
    assert!(success >= (objects.len() - copied_before) as i64, "{shown}");
    assert_copied(src_s3, dst_s3, &dst, &objects).await;
    assert_eq!(
        dst_s3.client().list_keys(&dst, "").await.unwrap().len(),
        objects.len()
    );
}

#[tokio::test]
async fn test_reconciliation_finds_an_object_no_event_announced() {
    let (src_s3, dst_s3) = servers().await;
    let src = src_s3.new_bucket("sync-rec-src").await.unwrap();
    let dst = dst_s3.new_bucket("sync-rec-dst").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_two_server_config(dir.path(), src_s3, dst_s3, Some(1));
    let server = TernServer::start_with_config(dir.path(), config);
    let id = create_sync_task(&server, src_s3, &src, &dst).await;
    let silent = ("silent/no event é+.txt".to_owned(), body("silent", 5000));
    put_all(src_s3, &src, std::slice::from_ref(&silent)).await;
    // A destination-only object: deletes and extra objects are never propagated.
    let extra = ("dst-only.txt".to_owned(), body("extra", 10));
    put_all(dst_s3, &dst, std::slice::from_ref(&extra)).await;

    let shown = wait_resolved(&server, &id, 1).await;
    assert_eq!(shown["monthly_acceptance_request"], 1, "{shown}");
    assert_eq!(shown["monthly_success_object"], 1, "{shown}");
    assert_eq!(shown["monthly_size"], 5000, "{shown}");
    assert_copied(src_s3, dst_s3, &dst, &[silent.clone(), extra]).await;
    // Later passes find nothing new.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let later = counters(&server, &id).await;
    assert_eq!(later["monthly_acceptance_request"], 1, "{later}");
}
