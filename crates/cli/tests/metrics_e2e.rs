//! `GET /metrics` of a real `tern serve` around real migrations on SeaweedFS: the objects and
//! bytes counters grow by exactly what the source listing holds and the task reports, the
//! throttle counts its waits, the tasks gauge and HTTP counters follow.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_harness::{http, TernServer, DST_REGION, SRC_REGION};
use tern_testkit::{S3Flavor, S3Server};

/// Objects in the source bucket.
const OBJECTS: usize = 12;

async fn scrape(server: &TernServer) -> String {
    let (status, text) = http("GET", &format!("{}/metrics", server.endpoint), None, None).await;
    assert_eq!(status, 200, "{text}");
    text
}

/// The value of one series, 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().unwrap())
}

fn objects(text: &str, outcome: &str) -> f64 {
    sample(
        text,
        &format!("tern_objects_total{{outcome=\"{outcome}\"}}"),
    )
}

fn bytes(text: &str, outcome: &str) -> f64 {
    sample(text, &format!("tern_bytes_total{{outcome=\"{outcome}\"}}"))
}

async fn run_task(server: &TernServer, body: &Value) -> Value {
    let (status, response) = http(
        "POST",
        &format!("{}/v2/{}/tasks", server.endpoint, server.project_id),
        Some(&server.token),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let id = serde_json::from_str::<Value>(&response).unwrap()["id"]
        .as_i64()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, text) = http(
            "GET",
            &format!("{}/v2/{}/tasks/{id}", server.endpoint, server.project_id),
            Some(&server.token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let task: Value = serde_json::from_str(&text).unwrap();
        if task["status"] == 5 {
            return task;
        }
        assert!(
            Instant::now() < deadline && task["status"] != 4,
            "task {id}: {task}\nlog:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn test_counters_grow_by_exactly_the_migrated_objects() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start(dir.path(), s3);
    let src = s3.new_bucket("metrics-src").await.unwrap();
    let dst = s3.new_bucket("metrics-dst").await.unwrap();
    let client = s3.client();
    for index in 0..OBJECTS {
        // 200 KiB each, 2.4 MB in all: over two seconds at the 1 MiB/s limit below.
        let body = vec![b'a' + (index % 26) as u8; 200 * 1024 + index];
        client
            .put_object(&src, &format!("obj/{index:02}"), body, None, &[])
            .await
            .unwrap();
    }
    // The independent count: what the source lists, and its bytes.
    let keys = client.list_keys(&src, "").await.unwrap();
    assert_eq!(keys.len(), OBJECTS);
    let mut source_bytes = 0u64;
    for key in &keys {
        source_bytes += client.head_object(&src, key).await.unwrap().unwrap().size;
    }

    let before = scrape(&server).await;
    let mut body = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": s3.access_key(),
                     "sk": s3.secret_key(), "bucket": src, "object_key": [""]},
        "dst_node": {"ak": s3.access_key(), "sk": s3.secret_key(), "bucket": dst,
                     "region": DST_REGION},
        "bandwidth_policy": [{"start": "00:00", "end": "23:59", "max_bandwidth": 1_048_576}],
    });
    let task = run_task(&server, &body).await;
    let after = scrape(&server).await;

    let migrated = objects(&after, "migrated") - objects(&before, "migrated");
    assert_eq!(migrated, keys.len() as f64, "{after}");
    assert_eq!(task["successful_num"], keys.len(), "{task}");
    assert_eq!(task["total_num"], keys.len(), "{task}");
    assert_eq!(
        bytes(&after, "migrated") - bytes(&before, "migrated"),
        source_bytes as f64
    );
    assert_eq!(objects(&after, "skipped"), objects(&before, "skipped"));
    assert_eq!(objects(&after, "failed"), objects(&before, "failed"));
    let waited = sample(&after, "tern_throttle_wait_seconds_total")
        - sample(&before, "tern_throttle_wait_seconds_total");
    assert!(
        waited > 1.0,
        "{source_bytes} bytes at 1 MiB/s waited only {waited} s"
    );

    // The same copy again: every object is already there, so each is skipped.
    body.as_object_mut().unwrap().remove("bandwidth_policy");
    let again = run_task(&server, &body).await;
    let last = scrape(&server).await;
    assert_eq!(again["skipped_num"], keys.len(), "{again}");
    assert_eq!(
        objects(&last, "skipped") - objects(&after, "skipped"),
        keys.len() as f64
    );
    assert_eq!(objects(&last, "migrated"), objects(&after, "migrated"));

    assert_eq!(sample(&last, "tern_tasks{status=\"5\"}"), 2.0, "{last}");
    assert_eq!(
        sample(
            &last,
            "tern_http_requests_total{method=\"POST\",route=\"/v2/{project_id}/tasks\",status=\"200\"}"
        ),
        2.0,
        "{last}"
    );
}
