//! End-of-run notifications end to end: `tern serve` migrates a local directory region and
//! POSTs `smn_config` messages to a webhook receiver this test runs on 127.0.0.1. Checked: the
//! rendered template keys against the task's counters and an independent count of the files,
//! the HMAC signature recomputed here, no message for an unmatched trigger, retries and
//! `smn_info` for a receiver answering 500 and for a closed port, a group's single message,
//! and redelivery of a pending message after a SIGKILL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use serve_harness::{http, TernServer};
use sha2::Sha256;

const SECRET: &str = "webhook-shared-secret-7f3a";
const OK_TOPIC: &str = "urn:smn:local:p:ops";
const FAILING_TOPIC: &str = "urn:smn:local:p:broken";
const CLOSED_TOPIC: &str = "urn:smn:local:p:nowhere";
const ATTEMPTS: usize = 3;

/// One POST the receiver saw.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver: records every request; `/fail` answers 500, other paths 200 unless
/// `failing` is set.
#[derive(Clone, Default)]
struct Receiver {
    hits: Arc<Mutex<Vec<Hit>>>,
    failing: Arc<AtomicBool>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, format!("http://{address}"))
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn hits_for(&self, resource_id: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|hit| hit.json()["resource_id"] == resource_id)
            .collect()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    receiver.hits.lock().unwrap().push(Hit {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    if uri.path() == "/fail" || receiver.failing.load(Ordering::SeqCst) {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn write_config(dir: &Path, root: &Path, receiver: &str, first_backoff_ms: u64) -> PathBuf {
    let path = dir.join("tern.toml");
    let root = root.display();
    std::fs::write(
        &path,
        format!(
            "version = 1\n\
             [[regions]]\ncloud_type = \"Local\"\nregion = \"local\"\nendpoint = \"{root}\"\n\
             [[regions]]\ncloud_type = \"HuaweiCloud\"\nregion = \"local\"\nendpoint = \"{root}\"\nprotocol = \"fs\"\n\
             [[notifications]]\ntopic_urn = \"{OK_TOPIC}\"\nurl = \"{receiver}/hook\"\nsecret = \"{SECRET}\"\n\
             templates = {{ brief = \"{{Task_Name}} -> {{Task_Status}} ({{Transferred_Data}})\" }}\n\
             [[notifications]]\ntopic_urn = \"{FAILING_TOPIC}\"\nurl = \"{receiver}/fail\"\n\
             [[notifications]]\ntopic_urn = \"{CLOSED_TOPIC}\"\nurl = \"http://127.0.0.1:{closed}/hook\"\n\
             [notification_delivery]\nattempts = {ATTEMPTS}\nfirst_backoff_ms = {first_backoff_ms}\nrequest_timeout_ms = 3000\n",
            closed = closed_port(),
        ),
    )
    .unwrap();
    path
}

/// Writes `count` files of distinct sizes under `root/src`; returns (count, bytes).
fn seed_source(root: &Path, count: usize) -> (u64, u64) {
    let src = root.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let mut bytes = 0;
    for index in 0..count {
        let body = vec![b'x'; 1000 + index * 37];
        bytes += body.len() as u64;
        let dir = if index % 2 == 0 { "" } else { "sub/" };
        std::fs::write(src.join(format!("{dir}file-{index}.bin")), body).unwrap();
    }
    (count as u64, bytes)
}

fn task_body(dst_bucket: &str, smn: Value) -> String {
    json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "Local", "region": "local", "ak": "", "sk": "", "bucket": "src", "object_key": [""]},
        "dst_node": {"region": "local", "ak": "", "sk": "", "bucket": dst_bucket},
        "smn_config": smn
    })
    .to_string()
}

async fn create_task(server: &TernServer, root: &Path, dst_bucket: &str, smn: Value) -> String {
    std::fs::create_dir_all(root.join(dst_bucket)).unwrap();
    let (status, body) = http(
        "POST",
        &format!("{}/v2/{}/tasks", server.endpoint, server.project_id),
        Some(&server.token),
        Some(&task_body(dst_bucket, smn)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string()
}

async fn show_task(server: &TernServer, id: &str) -> Value {
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

/// Polls the task until `done` holds, at most `limit`.
async fn wait_task(
    server: &TernServer,
    id: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let task = show_task(server, id).await;
        if done(&task) {
            return task;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} never got there: {task}\nlog:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn has_smn_info(task: &Value) -> bool {
    task.get("smn_info").is_some()
}

/// Runs README.md's Python `verify` on a received POST (the documented scheme, as written).
fn readme_python_verifies(hit: &Hit) -> bool {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("```python\nimport hashlib, hmac, time")
        .expect("README shows the Python verifier");
    let code = &readme[start + "```python\n".len()..];
    let code = &code[..code.find("```").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("body");
    std::fs::write(&body_path, &hit.body).unwrap();
    let header = |name: &str| hit.headers[name].to_str().unwrap().to_owned();
    let script = format!(
        "{code}\nheaders = {{'X-Tern-Timestamp': {ts:?}, 'X-Tern-Signature': {sig:?}}}\n\
         body = open({body:?}, 'rb').read()\nprint(verify({secret:?}.encode(), headers, body))\n",
        ts = header("x-tern-timestamp"),
        sig = header("x-tern-signature"),
        body = body_path.display().to_string(),
        secret = SECRET,
    );
    let output = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim() == "True"
}

/// Recomputes `X-Tern-Signature` from the secret, the timestamp header and the raw body.
fn verify_signature(hit: &Hit) {
    let timestamp = hit.headers["x-tern-timestamp"].to_str().unwrap();
    let seconds: i64 = timestamp.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - seconds).abs() < 300, "stale timestamp {seconds}");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&hit.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(hit.headers["x-tern-signature"].to_str().unwrap(), expected);
    assert_eq!(hit.headers["content-type"], "application/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_webhook_carries_the_real_counters_signed_and_only_for_matching_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("buckets");
    let (file_count, file_bytes) = seed_source(&root, 7);
    let (receiver, receiver_url) = Receiver::start().await;
    let config = write_config(dir.path(), &root, &receiver_url, 200);
    // At trace level, so the check that the secret never reaches the log means something.
    let server = TernServer::start_with_log_filter(dir.path(), config, "trace");

    let notified = create_task(
        &server,
        &root,
        "dst-notified",
        json!({"topic_urn": OK_TOPIC, "trigger_conditions": ["SUCCESS"], "language": "en-us"}),
    )
    .await;
    let silent = create_task(
        &server,
        &root,
        "dst-silent",
        json!({"topic_urn": OK_TOPIC, "trigger_conditions": ["FAILURE"]}),
    )
    .await;
    let templated = create_task(
        &server,
        &root,
        "dst-templated",
        json!({"topic_urn": OK_TOPIC, "trigger_conditions": ["FAILURE", "SUCCESS"],
               "language": "zh-cn", "message_template_name": "brief"}),
    )
    .await;

    let task = wait_task(&server, &notified, Duration::from_secs(60), has_smn_info).await;
    assert_eq!(task["status"], 5, "{task}");
    assert_eq!(
        task["smn_info"],
        json!({"notify_result": true, "notify_error_message": "", "topic_name": ""})
    );
    // The counters the task reports are the files on disk.
    assert_eq!(task["total_num"], file_count);
    assert_eq!(task["successful_num"], file_count);
    assert_eq!(task["complete_size"], file_bytes);

    let hits = receiver.hits_for(&notified);
    assert_eq!(hits.len(), 1, "one message per end: {hits:?}");
    let hit = &hits[0];
    assert_eq!(hit.path, "/hook");
    verify_signature(hit);
    assert!(readme_python_verifies(hit), "README's verifier accepts it");
    let mut tampered = hit.clone();
    tampered.body = Bytes::from(hit.body.iter().rev().copied().collect::<Vec<u8>>());
    assert!(
        !readme_python_verifies(&tampered),
        "and refuses another body"
    );
    let message = hit.json();
    assert_eq!(message["topic_urn"], OK_TOPIC);
    assert_eq!(message["trigger_condition"], "SUCCESS");
    assert_eq!(message["resource_type"], "task");
    assert_eq!(message["status"], 5);
    assert_eq!(message["counters"]["total_num"], task["total_num"]);
    assert_eq!(
        message["counters"]["successful_num"],
        task["successful_num"]
    );
    assert_eq!(message["counters"]["failed_num"], 0);
    assert_eq!(message["counters"]["complete_size"], file_bytes);
    let keys = &message["template_keys"];
    assert_eq!(keys["Task_Name"], task["name"]);
    assert_eq!(keys["Task_Status"], "Succeeded");
    assert_eq!(keys["Source_Bucket"], "src");
    assert_eq!(keys["Destination_Bucket"], "dst-notified");
    assert_eq!(
        keys["Transferred_Data"],
        format!("{:.2} KB", file_bytes as f64 / 1024.0)
    );
    assert_eq!(keys["Failed_object_list_path"], "");
    // The success list the path names exists and lists every file.
    let success_path = keys["Success_object_list_path"].as_str().unwrap();
    let success_list = std::fs::read_to_string(root.join(success_path)).unwrap();
    assert_eq!(success_list.lines().count() as u64, file_count);
    let text = message["message"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "{file_count} objects: {file_count} succeeded, 0 skipped, 0 failed"
        )),
        "{text}"
    );
    assert!(
        !server.log_text().contains(SECRET),
        "the secret reached the log"
    );

    let templated_task =
        wait_task(&server, &templated, Duration::from_secs(60), has_smn_info).await;
    let templated_hits = receiver.hits_for(&templated);
    assert_eq!(templated_hits.len(), 1);
    let message = templated_hits[0].json();
    assert_eq!(
        message["message"],
        format!(
            "{} -> 成功 ({:.2} KB)",
            templated_task["name"].as_str().unwrap(),
            file_bytes as f64 / 1024.0
        )
    );
    assert_eq!(message["language"], "zh-cn");

    // The FAILURE-only task succeeded: nothing is sent and no outcome is reported.
    let silent_task = wait_task(&server, &silent, Duration::from_secs(60), |task| {
        task["status"] == 5
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(receiver.hits_for(&silent).is_empty());
    assert!(
        !has_smn_info(&show_task(&server, &silent).await),
        "{silent_task}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_failed_deliveries_are_retried_and_reported_in_smn_info() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("buckets");
    seed_source(&root, 3);
    let (receiver, receiver_url) = Receiver::start().await;
    let config = write_config(dir.path(), &root, &receiver_url, 100);
    let server = TernServer::start_with_config(dir.path(), config);

    let answering_500 = create_task(
        &server,
        &root,
        "dst-500",
        json!({"topic_urn": FAILING_TOPIC, "trigger_conditions": ["SUCCESS"]}),
    )
    .await;
    let unreachable = create_task(
        &server,
        &root,
        "dst-closed",
        json!({"topic_urn": CLOSED_TOPIC, "trigger_conditions": ["SUCCESS"]}),
    )
    .await;

    let task = wait_task(
        &server,
        &answering_500,
        Duration::from_secs(60),
        has_smn_info,
    )
    .await;
    assert_eq!(
        task["status"], 5,
        "the webhook never changes the task's end"
    );
    let info = &task["smn_info"];
    assert_eq!(info["notify_result"], false, "{task}");
    assert_eq!(info["topic_name"], "broken");
    let error = info["notify_error_message"].as_str().unwrap();
    assert!(error.contains("500"), "{error}");
    assert!(
        error.contains(&format!("after {ATTEMPTS} attempts")),
        "{error}"
    );
    let hits = receiver.hits_for(&answering_500);
    assert_eq!(hits.len(), ATTEMPTS, "{hits:?}");
    assert!(hits
        .iter()
        .all(|hit| hit.path == "/fail" && hit.body == hits[0].body));
    assert!(
        hits.iter()
            .all(|hit| !hit.headers.contains_key("x-tern-signature")),
        "no secret, no signature"
    );

    let task = wait_task(&server, &unreachable, Duration::from_secs(60), has_smn_info).await;
    let info = &task["smn_info"];
    assert_eq!(info["notify_result"], false, "{task}");
    assert_eq!(info["topic_name"], "nowhere");
    let error = info["notify_error_message"].as_str().unwrap();
    assert!(error.to_lowercase().contains("connect"), "{error}");
    assert!(!error.contains("127.0.0.1"), "no URL in the error: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_pending_message_is_redelivered_after_a_kill_and_groups_notify_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("buckets");
    let (file_count, file_bytes) = seed_source(&root, 5);
    let (receiver, receiver_url) = Receiver::start().await;
    // Long backoff: the first attempt fails and the process is killed while it waits.
    let config = write_config(dir.path(), &root, &receiver_url, 60_000);
    let mut server = TernServer::start_with_config(dir.path(), config);
    receiver.failing.store(true, Ordering::SeqCst);

    let id = create_task(
        &server,
        &root,
        "dst-restart",
        json!({"topic_urn": OK_TOPIC, "trigger_conditions": ["SUCCESS"]}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.hits_for(&id).is_empty() {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !has_smn_info(&show_task(&server, &id).await),
        "still pending"
    );
    server.kill();
    receiver.failing.store(false, Ordering::SeqCst);
    server.spawn(false);

    let task = wait_task(&server, &id, Duration::from_secs(30), has_smn_info).await;
    assert_eq!(task["smn_info"]["notify_result"], true, "{task}");
    let hits = receiver.hits_for(&id);
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(
        hits[0].body, hits[1].body,
        "the same message is redelivered"
    );
    verify_signature(&hits[1]);

    // A group sends one message for its end with its tasks' totals, none per task.
    std::fs::create_dir_all(root.join("dst-group")).unwrap();
    let body = json!({
        "task_type": "PREFIX",
        "src_node": {"cloud_type": "Local", "region": "local", "ak": "", "sk": "", "bucket": "src", "object_key": [""]},
        "dst_node": {"region": "local", "ak": "", "sk": "", "bucket": "dst-group"},
        "smn_config": {"topic_urn": OK_TOPIC, "trigger_conditions": ["SUCCESS", "FAILURE"]}
    });
    let (status, reply) = http(
        "POST",
        &format!("{}/v2/{}/taskgroups", server.endpoint, server.project_id),
        Some(&server.token),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let group_id = serde_json::from_str::<Value>(&reply).unwrap()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.hits_for(&group_id).is_empty() {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let group_hits = receiver.hits_for(&group_id);
    assert_eq!(group_hits.len(), 1);
    let message = group_hits[0].json();
    assert_eq!(message["resource_type"], "task_group");
    assert_eq!(message["status"], 6);
    assert_eq!(message["counters"]["successful_num"], file_count);
    assert_eq!(message["counters"]["complete_size"], file_bytes);
    let task_messages = receiver
        .hits()
        .iter()
        .filter(|hit| hit.json()["resource_type"] == "task")
        .count();
    assert_eq!(
        task_messages, 2,
        "the group's tasks sent nothing of their own"
    );
}
