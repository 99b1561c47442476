//! `tern serve` end to end over raw HTTP with X-Auth-Token: authentication matrix, failed-object
//! lists with `migrate_failed_object`, and a SIGKILL in the middle of a migration.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use serve_harness::{http, TernServer, DST_REGION, SRC_REGION};
use tern_testkit::{S3Flavor, S3Server};

fn task_body(
    s3: &S3Server,
    task_type: &str,
    src: &str,
    dst: &str,
    keys: &[&str],
    bandwidth: Option<Value>,
) -> String {
    let mut body = json!({
        "task_type": task_type,
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": s3.access_key(), "sk": s3.secret_key(),
                     "bucket": src, "object_key": keys},
        "dst_node": {"ak": s3.access_key(), "sk": s3.secret_key(), "bucket": dst, "region": DST_REGION},
    });
    if let Some(bandwidth) = bandwidth {
        body["bandwidth_policy"] = bandwidth;
    }
    body.to_string()
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

async fn wait_status(server: &TernServer, id: i64, wanted: &[i64], timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let task = show(server, id).await;
        if wanted.contains(&task["status"].as_i64().unwrap()) {
            return task;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} stuck: {task}\nlog:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create(server: &TernServer, body: &str) -> i64 {
    let (status, response) = http(
        "POST",
        &format!("{}/v2/{}/tasks", server.endpoint, server.project_id),
        Some(&server.token),
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let value: Value = serde_json::from_str(&response).unwrap();
    value["id"].as_i64().unwrap()
}

#[tokio::test]
async fn test_auth_matrix_every_route() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start(dir.path(), s3);
    let output = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args([
            "admin",
            "token",
            "create",
            "--project",
            "other-project",
            "--data-dir",
        ])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let other: Value = serde_json::from_slice(&output.stdout).unwrap();
    let other_token = other["token"].as_str().unwrap().to_owned();
    assert_eq!(other["project_id"], "other-project");

    let src = s3.new_bucket("auth-src").await.unwrap();
    let dst = s3.new_bucket("auth-dst").await.unwrap();
    let id = create(&server, &task_body(s3, "prefix", &src, &dst, &[""], None)).await;
    wait_status(&server, id, &[5], Duration::from_secs(30)).await;

    let project = &server.project_id;
    let routes: Vec<(&str, String, Option<&str>)> = vec![
        ("POST", format!("/v2/{project}/tasks"), Some("{}")),
        ("GET", format!("/v2/{project}/tasks"), None),
        ("GET", format!("/v2/{project}/tasks/{id}"), None),
        ("DELETE", format!("/v2/{project}/tasks/{id}"), None),
        (
            "POST",
            format!("/v2/{project}/tasks/{id}/start"),
            Some("{}"),
        ),
        ("POST", format!("/v2/{project}/tasks/{id}/stop"), None),
        (
            "PUT",
            format!("/v2/{project}/tasks/{id}/bandwidth-policy"),
            Some("{\"bandwidth_policy\":[]}"),
        ),
        (
            "POST",
            format!("/v2/{project}/tasks/batch-update"),
            Some("{}"),
        ),
        (
            "GET",
            format!("/v2/{project}/objectstorage/cloud-type?type=src"),
            None,
        ),
        (
            "GET",
            format!("/v2/{project}/objectstorage/data-center"),
            None,
        ),
    ];
    for (method, path, body) in &routes {
        let url = format!("{}{path}", server.endpoint);
        let (status, response) = http(method, &url, None, *body).await;
        assert_eq!(status, 401, "{method} {path} without auth: {response}");
        assert!(response.contains("\"error_code\""), "{response}");
        let (status, _) = http(method, &url, Some("not-a-token"), *body).await;
        assert_eq!(status, 401, "{method} {path} with a bad token");
        let (status, response) = http(method, &url, Some(&other_token), *body).await;
        assert_eq!(
            status, 403,
            "{method} {path} with another project's token: {response}"
        );
        assert!(response.contains("OMS.0206"), "{response}");
        assert!(
            !response.contains(&id.to_string()),
            "403 discloses the task id"
        );
    }
    // The other project asking for this project's task id under its own path learns nothing.
    let (status, response) = http(
        "GET",
        &format!("{}/v2/other-project/tasks/{id}", server.endpoint),
        Some(&other_token),
        None,
    )
    .await;
    assert_eq!(status, 400, "{response}");
    assert!(response.contains("OMS.1009"), "{response}");
    let (status, response) = http(
        "GET",
        &format!("{}/v2/other-project/tasks", server.endpoint),
        Some(&other_token),
        None,
    )
    .await;
    assert_eq!(
        (status, response.as_str()),
        (200, "{\"tasks\":[],\"count\":0}")
    );
    // Groups too: another project's group id reads exactly like an unknown one (404), so a
    // project cannot probe for other projects' groups.
    let (status, response) = http(
        "POST",
        &format!("{}/v2/{project}/taskgroups", server.endpoint),
        Some(&server.token),
        Some(&task_body(s3, "PREFIX", &src, &dst, &[""], None)),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let group_id = serde_json::from_str::<Value>(&response).unwrap()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for probe in [group_id.as_str(), "00000000-0000-4000-8000-000000000000"] {
        let (status, response) = http(
            "GET",
            &format!("{}/v2/other-project/taskgroups/{probe}", server.endpoint),
            Some(&other_token),
            None,
        )
        .await;
        assert_eq!(status, 404, "{probe}: {response}");
        let body: Value = serde_json::from_str(&response).unwrap();
        assert_eq!(body["error_code"], "OMS.1009", "{response}");
        assert_eq!(
            body["error_msg"],
            format!("task group {probe} not found"),
            "{response}"
        );
    }
    // Version endpoints are public.
    assert_eq!(
        http("GET", &format!("{}/", server.endpoint), None, None)
            .await
            .0,
        200
    );
    assert_eq!(
        http("GET", &format!("{}/v2", server.endpoint), None, None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn test_failed_objects_listed_then_retried_alone() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = s3.client();
    let src = s3.new_bucket("retry-src").await.unwrap();
    let dst = s3.new_bucket("retry-dst").await.unwrap();
    client
        .put_object(&src, "present.txt", b"here".to_vec(), None, &[])
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start(dir.path(), s3);
    let id = create(
        &server,
        &task_body(
            s3,
            "object",
            &src,
            &dst,
            &["present.txt", "late 1.txt", "late+2.txt"],
            None,
        ),
    )
    .await;
    let task = wait_status(&server, id, &[4, 5], Duration::from_secs(30)).await;
    assert_eq!(task["status"], 4, "{task}");
    assert_eq!(
        (
            task["total_num"].as_i64(),
            task["successful_num"].as_i64(),
            task["failed_num"].as_i64()
        ),
        (Some(3), Some(1), Some(2))
    );
    assert_eq!(task["error_reason"]["error_code"], "TRF.0062");
    let record = &task["failed_object_record"];
    assert_eq!(record["result"], true, "{task}");
    let list_key = record["list_file_key"].as_str().unwrap();
    let list = client
        .get_object(&dst, list_key)
        .await
        .unwrap()
        .expect("failed-object list written");
    let text = String::from_utf8(list.body).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines().all(|line| line.starts_with("TRF.0012\t")),
        "{text}"
    );
    assert!(
        text.contains("late%201.txt\tlate 1.txt") && text.contains("late%2B2.txt\tlate+2.txt"),
        "{text}"
    );

    // Fix the cause, then re-migrate only the failed objects.
    client
        .put_object(&src, "late 1.txt", b"one".to_vec(), None, &[])
        .await
        .unwrap();
    client
        .put_object(&src, "late+2.txt", b"two".to_vec(), None, &[])
        .await
        .unwrap();
    client.delete_object(&dst, "present.txt").await.unwrap();
    let start =
        json!({"src_ak": s3.access_key(), "src_sk": s3.secret_key(), "dst_ak": s3.access_key(),
                       "dst_sk": s3.secret_key(), "migrate_failed_object": true})
        .to_string();
    let url = format!(
        "{}/v2/{}/tasks/{id}/start",
        server.endpoint, server.project_id
    );
    let (status, response) = http("POST", &url, Some(&server.token), Some(&start)).await;
    assert_eq!(status, 200, "{response}");
    let task = wait_status(&server, id, &[4, 5], Duration::from_secs(30)).await;
    assert_eq!(task["status"], 5, "{task}");
    assert_eq!(
        (
            task["total_num"].as_i64(),
            task["successful_num"].as_i64(),
            task["failed_num"].as_i64()
        ),
        (Some(3), Some(3), Some(0))
    );
    assert_eq!(
        client
            .get_object(&dst, "late+2.txt")
            .await
            .unwrap()
            .unwrap()
            .body,
        b"two"
    );
    // The object that had succeeded was not copied again (it was removed from the destination).
    assert!(client
        .get_object(&dst, "present.txt")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn test_sigkill_mid_migration_resumes_with_exact_counters() {
    const COUNT: usize = 2000;
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = s3.client();
    let src = s3.new_bucket("crash-src").await.unwrap();
    let dst = s3.new_bucket("crash-dst").await.unwrap();
    let objects: Vec<(String, Vec<u8>)> = (0..COUNT)
        .map(|i| {
            let key = format!("d{}/obj-{i:05}", i % 7);
            let body = key.bytes().cycle().take(4096 + i % 100).collect();
            (key, body)
        })
        .collect();
    stream::iter(objects.iter())
        .for_each_concurrent(32, |(key, body)| {
            let client = client.clone();
            let src = src.clone();
            async move {
                client
                    .put_object(&src, key, body.clone(), None, &[])
                    .await
                    .unwrap()
            }
        })
        .await;

    let dir = tempfile::tempdir().unwrap();
    let mut server = TernServer::start(dir.path(), s3);
    // 1 MiB/s all day: the ~8.4 MB take several seconds, so the kill lands mid-run.
    let slow = json!([{"start": "00:00", "end": "12:00", "max_bandwidth": 1048576},
                      {"start": "12:00", "end": "00:00", "max_bandwidth": 1048576}]);
    let id = create(
        &server,
        &task_body(s3, "prefix", &src, &dst, &[""], Some(slow)),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let task = show(&server, id).await;
        if task["successful_num"].as_i64().unwrap() >= 300 {
            assert_eq!(task["status"], 2, "{task}");
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {task}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();
    let landed_before_restart = client.list_keys(&dst, "d").await.unwrap().len();
    assert!(
        landed_before_restart < COUNT,
        "the run finished before the kill"
    );

    // Lift the limit through a restart: the new process resumes the task by itself.
    server.spawn(false);
    let url = format!(
        "{}/v2/{}/tasks/{id}/bandwidth-policy",
        server.endpoint, server.project_id
    );
    let (status, response) = http(
        "PUT",
        &url,
        Some(&server.token),
        Some("{\"bandwidth_policy\":[]}"),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let task = wait_status(&server, id, &[4, 5], Duration::from_secs(120)).await;
    assert_eq!(task["status"], 5, "{task}\n{}", server.log_text());
    let (total, ok, skipped, failed) = (
        task["total_num"].as_u64().unwrap(),
        task["successful_num"].as_u64().unwrap(),
        task["skipped_num"].as_u64().unwrap(),
        task["failed_num"].as_u64().unwrap(),
    );
    // Counted independently of tern: what the test uploaded, as the source lists it. (`total_num`
    // is the sum of the three kinds by construction, so comparing the sum to it proves nothing.)
    let source_keys: BTreeSet<String> = client
        .list_keys(&src, "")
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(source_keys.len(), COUNT);
    assert_eq!(total, COUNT as u64, "{task}");
    assert_eq!(failed, 0, "{task}");
    assert_eq!(ok + skipped, COUNT as u64, "{task}");
    let copied_keys: BTreeSet<String> = client
        .list_keys(&dst, "d")
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        copied_keys, source_keys,
        "destination keys differ from the source's"
    );

    // One ledger outcome per key: the success and skip lists together name every key once.
    let mut listed = BTreeSet::new();
    for name in ["success", "skip"] {
        let key = format!("oms/{name}_object_lists/{id}/{name}-objects-list.txt");
        let list = client
            .get_object(&dst, &key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"));
        for line in String::from_utf8(list.body).unwrap().lines() {
            let raw_key = line.split('\t').nth(1).unwrap().to_owned();
            assert!(listed.insert(raw_key.clone()), "{raw_key} has two outcomes");
        }
    }
    assert_eq!(
        listed, source_keys,
        "the outcome lists do not name exactly the source keys"
    );
    for (key, body) in &objects {
        let copied = client
            .get_object(&dst, key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(copied.body == *body, "{key} differs");
    }
    assert!(server.log_text().contains("resuming a task after restart"));
}

#[tokio::test]
async fn test_malformed_input_gets_400_never_5xx() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start(dir.path(), s3);
    let tasks = format!("{}/v2/{}/tasks", server.endpoint, server.project_id);
    let valid: Value =
        serde_json::from_str(&task_body(s3, "prefix", "b", "d", &[""], None)).unwrap();
    let with = |pointer: &str, value: Value| {
        let mut body = valid.clone();
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[field] = value;
        body.to_string()
    };
    let long = |n: usize| Value::String("x".repeat(n));
    let bodies: Vec<(String, &str)> = vec![
        ("".into(), "OMS.0002"),
        ("not json".into(), "OMS.0067"),
        ("[1,2]".into(), "OMS.0002"),
        ("{\"src_node\":".into(), "OMS.0067"),
        (with("/task_type", json!("folder")), "task_type"),
        (with("/task_type", json!(7)), "task_type"),
        (with("/src_node/ak", long(101)), "src_node.ak"),
        (with("/src_node/sk", json!(null)), "src_node"),
        (with("/src_node/cloud_type", json!("Dropbox")), "cloud_type"),
        (with("/src_node/region", json!("mars-1")), "region"),
        (
            with("/src_node/object_key", json!("not-a-list")),
            "object_key",
        ),
        (with("/dst_node/sk", long(101)), "dst_node.sk"),
        (with("/dst_node/bucket", json!(["b"])), "bucket"),
        (with("/dst_node/save_prefix", long(1025)), "save_prefix"),
        (
            with("/src_node/security_token", long(16_385)),
            "security_token",
        ),
        (
            with("/src_node/json_auth_file", long(65_536)),
            "json_auth_file",
        ),
        (
            with("/src_node/connection_string", long(2049)),
            "connection_string",
        ),
        (with("/src_node/app_id", long(256)), "app_id"),
        (with("/src_node/bucket", json!("")), "bucket"),
    ];
    let mut extra = vec![];
    for (field, value) in [
        ("description", json!("a'b")),
        ("description", long(256)),
        ("migrate_since", json!(-1)),
        ("migrate_since", json!("yesterday")),
        ("object_overwrite_mode", json!("SOMETIMES")),
        ("consistency_check", json!("md5")),
        ("dst_storage_policy", json!("COLD")),
        ("task_priority", json!("URGENT")),
        ("enable_metadata_migration", json!("yes")),
        ("bandwidth_policy", json!([{"start": "25:00", "end": "01:00", "max_bandwidth": 1048576}])),
        ("bandwidth_policy", json!([{"start": "00:00", "end": "01:00", "max_bandwidth": 1}])),
        ("bandwidth_policy", json!([{"start": "00:00", "end": "02:00", "max_bandwidth": 1048576},
                                     {"start": "01:00", "end": "03:00", "max_bandwidth": 1048576}])),
        ("bandwidth_policy", json!((0..6).map(|h| json!({"start": format!("0{h}:00"), "end": format!("0{h}:30"), "max_bandwidth": 1048576})).collect::<Vec<_>>())),
        ("smn_config", json!({"topic_urn": "u", "trigger_conditions": ["SOMETIMES"]})),
        ("source_cdn", json!({"domain": "d", "protocol": "ftp", "authentication_type": "NONE"})),
    ] {
        let mut body = valid.clone();
        body[field] = value;
        extra.push((body.to_string(), field));
    }
    for (body, needle) in bodies.iter().map(|(b, n)| (b.clone(), *n)).chain(extra) {
        let (status, response) = http("POST", &tasks, Some(&server.token), Some(&body)).await;
        assert_eq!(status, 400, "{body} -> {response}");
        let error: Value = serde_json::from_str(&response)
            .unwrap_or_else(|_| panic!("not an OMS error: {response}"));
        let code = error["error_code"].as_str().unwrap();
        let message = error["error_msg"].as_str().unwrap();
        assert!(code.starts_with("OMS."), "{response}");
        assert!(
            code == needle || message.contains(needle),
            "{body} -> {response} (expected {needle})"
        );
    }
    for (path, needle) in [
        ("?limit=0", "limit"),
        ("?limit=abc", "limit"),
        ("?offset=-1", "offset"),
        ("?status=9", "status"),
        ("/abc", "task_id"),
        ("/9999999999999999", "task_id"),
    ] {
        let (status, response) =
            http("GET", &format!("{tasks}{path}"), Some(&server.token), None).await;
        assert_eq!(status, 400, "{path}: {response}");
        assert!(response.contains(needle), "{path}: {response}");
    }
    assert!(!server.log_text().contains("panicked"));
}

#[tokio::test]
async fn test_missing_destination_bucket_fails_the_task_with_one_line() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = s3.client();
    let src = s3.new_bucket("fatal-src").await.unwrap();
    for key in ["a.txt", "b.txt", "c.txt"] {
        client
            .put_object(&src, key, key.as_bytes().to_vec(), None, &[])
            .await
            .unwrap();
    }
    let missing = format!("{src}-missing");
    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start(dir.path(), s3);
    let id = create(
        &server,
        &task_body(
            s3,
            "object",
            &src,
            &missing,
            &["a.txt", "b.txt", "c.txt"],
            None,
        ),
    )
    .await;
    let task = wait_status(&server, id, &[4, 5], Duration::from_secs(30)).await;
    assert_eq!(task["status"], 4, "{task}");
    assert_eq!(task["error_reason"]["error_code"], "TRF.0058", "{task}");
    let message = task["error_reason"]["error_msg"].as_str().unwrap();
    assert!(
        message.len() < 400 && !message.contains('\n') && message.contains(&missing),
        "{message}"
    );
    assert_eq!(
        task["failed_num"].as_i64(),
        Some(0),
        "no per-object flood: {task}"
    );
}
