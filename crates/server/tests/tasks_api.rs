//! Migration task operations 1–8 of REFERENCE.md through `app(state).oneshot(..)`: every happy
//! path checked against an independent read of the store, every lifecycle refusal checked for
//! its exact HTTP status, OMS `error_code` and one-line `error_msg`, and for leaving the store
//! as it was. The scheduler is never started; statuses are put in place through the store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use tern_core::{Credentials, TaskFilter, TaskId, TaskPriority, TaskSecrets, TaskStatus};
use tern_scheduler::now_ms;

use common::{assert_names, task_body, TestApp, OTHER_TOKEN, PROJECT};

/// A task id the store never hands out (its ids stop one below the API's maximum).
const UNKNOWN_TASK_ID: i64 = 999_999_999_999_999;

/// One window 09:00–12:00 at `mib` MiB/s; its limit shows at minute 600 (10:00).
fn window_at_ten(mib: u64) -> Value {
    json!([{"start": "09:00", "end": "12:00", "max_bandwidth": mib * 1_048_576}])
}

/// The policy's cap at 10:00 as stored.
async fn limit_at_ten(test: &TestApp, id: TaskId) -> Option<u64> {
    test.task(id).await.spec.bandwidth_policy.limit_at(600)
}

fn start_body(tag: &str) -> Value {
    json!({
        "src_ak": format!("{tag}_SRC_AK"), "src_sk": format!("{tag}_SRC_SK"),
        "dst_ak": format!("{tag}_DST_AK"), "dst_sk": format!("{tag}_DST_SK")
    })
}

fn task_uri(id: TaskId, suffix: &str) -> String {
    format!("/v2/{PROJECT}/tasks/{}{suffix}", id.0)
}

/// Puts a fresh task of the project into `status` through the store.
async fn task_in(test: &TestApp, status: TaskStatus, src_bucket: &str) -> TaskId {
    let id = test.create_task(src_bucket).await;
    match status {
        TaskStatus::Waiting => {}
        TaskStatus::Migrating => test.claim(id).await,
        TaskStatus::Paused => test.make_paused(id).await,
        TaskStatus::Failed => test.make_failed(id).await,
        TaskStatus::Succeeded => test.make_succeeded(id).await,
        TaskStatus::Pausing => test.make_pausing(id).await,
        TaskStatus::Retrying => {
            test.make_failed(id).await;
            let secrets = TaskSecrets {
                src: Credentials::access_key("RE_SRC_AK", "RE_SRC_SK"),
                dst: Credentials::access_key("RE_DST_AK", "RE_DST_SK"),
                cdn_key: None,
            };
            let task = test
                .store
                .start_task(id, &secrets, false, now_ms())
                .await
                .unwrap();
            assert_eq!(task.status, TaskStatus::Retrying);
        }
    }
    assert_eq!(test.status(id).await, status);
    id
}

#[tokio::test]
async fn test_create_task_stores_a_waiting_task_with_its_secrets() {
    let test = TestApp::new().await;
    let body = test
        .ok(
            Method::POST,
            &format!("/v2/{PROJECT}/tasks"),
            &task_body("alpha"),
        )
        .await;
    let id = TaskId(body["id"].as_i64().unwrap());
    let task = test.task(id).await;
    assert_eq!(body["task_name"], task.name.as_str());
    assert_eq!(task.project_id, PROJECT);
    assert_eq!(task.status, TaskStatus::Waiting);
    assert_eq!(task.spec.src.bucket, "alpha");
    assert_eq!(task.spec.src.object_keys, vec!["a.txt", "dir/"]);
    assert!(task.spec.src.signed);
    assert_eq!(task.spec.bandwidth_policy.limit_at(60), Some(1_048_576));
    let secrets = test.store.secrets(id).await.unwrap().unwrap();
    assert_eq!(secrets.src.access_key, "SRC_AK");
    assert_eq!(secrets.src.secret_key.expose(), "SRC_SK");
    assert_eq!(secrets.dst.access_key, "DST_AK");
}

#[tokio::test]
async fn test_create_task_refusals_name_the_field_and_store_nothing() {
    let test = TestApp::new().await;
    let uri = format!("/v2/{PROJECT}/tasks");
    let mut empty_bucket = task_body("alpha");
    empty_bucket["dst_node"]["bucket"] = json!("");
    let mut unknown_region = task_body("alpha");
    unknown_region["src_node"]["region"] = json!("nowhere-9");
    let mut no_dst = task_body("alpha");
    no_dst.as_object_mut().unwrap().remove("dst_node");
    for (body, code, field) in [
        (empty_bucket, "OMS.0001", "dst_node.bucket"),
        (unknown_region, "OMS.0001", "src_node.region"),
        (no_dst, "OMS.0002", "dst_node"),
    ] {
        let refusal = test
            .refused_with(Method::POST, &uri, &body, StatusCode::BAD_REQUEST, code)
            .await;
        assert_names(&refusal, code, field);
    }
    let (_, count) = test
        .store
        .list_tasks(PROJECT, &TaskFilter::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

/// Archive restores and class mapping are built for S3-speaking regions only: elsewhere the
/// create is refused naming the field, and nothing is stored.
#[tokio::test]
async fn test_restore_and_class_mapping_are_refused_where_they_cannot_be_honoured() {
    let test = TestApp::new().await;
    let uri = format!("/v2/{PROJECT}/tasks");
    // The destination (HuaweiCloud cn-north-4) speaks native OBS: no class can be written.
    let mut mapping = task_body("alpha");
    mapping["dst_storage_policy"] = json!("SRC_STORAGE_MAPPING");
    // An Aliyun source speaks native OSS: tern sends S3 RestoreObject only.
    let mut restore = task_body("alpha");
    restore["src_node"]["cloud_type"] = json!("Aliyun");
    restore["src_node"]["region"] = json!("oss-cn-hangzhou");
    restore["enable_restore"] = json!(true);
    for (body, field) in [(mapping, "dst_storage_policy"), (restore, "enable_restore")] {
        let refusal = test
            .refused_with(
                Method::POST,
                &uri,
                &body,
                StatusCode::BAD_REQUEST,
                "OMS.0001",
            )
            .await;
        assert_names(&refusal, "OMS.0001", field);
    }
    let (_, count) = test
        .store
        .list_tasks(PROJECT, &TaskFilter::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

fn listed_ids(body: &Value) -> Vec<i64> {
    body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn test_list_tasks_pages_filters_and_hides_other_projects() {
    let test = TestApp::new().await;
    let alpha_1 = test.create_task("alpha").await;
    let alpha_2 = test.create_task("alpha").await;
    let beta = test.create_task("beta").await;
    let foreign = test.create_task_as(OTHER_TOKEN, &task_body("alpha")).await;
    test.make_paused(alpha_2).await;
    let base = format!("/v2/{PROJECT}/tasks");

    // Paging: newest first, like the store; `count` is the total, not the page size.
    let (stored, _) = test
        .store
        .list_tasks(PROJECT, &TaskFilter::default(), 0, 100)
        .await
        .unwrap();
    let stored: Vec<i64> = stored.iter().map(|task| task.id.0).collect();
    let first = test
        .ok(Method::GET, &format!("{base}?limit=2"), &Value::Null)
        .await;
    let second = test
        .ok(
            Method::GET,
            &format!("{base}?limit=2&offset=2"),
            &Value::Null,
        )
        .await;
    assert_eq!(
        (first["count"].as_i64(), second["count"].as_i64()),
        (Some(3), Some(3))
    );
    let mut paged = listed_ids(&first);
    assert_eq!(paged.len(), 2);
    paged.extend(listed_ids(&second));
    assert_eq!(paged, stored);
    let expected: BTreeSet<i64> = [alpha_1.0, alpha_2.0, beta.0].into();
    assert_eq!(paged.iter().copied().collect::<BTreeSet<_>>(), expected);
    assert!(!paged.contains(&foreign.0));
    let past_end = test
        .ok(Method::GET, &format!("{base}?offset=3"), &Value::Null)
        .await;
    assert_eq!(
        (listed_ids(&past_end).len(), past_end["count"].as_i64()),
        (0, Some(3))
    );

    // Status filter.
    let paused = test
        .ok(Method::GET, &format!("{base}?status=3"), &Value::Null)
        .await;
    assert_eq!(listed_ids(&paused), vec![alpha_2.0]);
    assert_eq!(paused["count"], 1);
    assert_eq!(paused["tasks"][0]["status"], 3);
    let waiting = test
        .ok(Method::GET, &format!("{base}?status=1"), &Value::Null)
        .await;
    let waiting: BTreeSet<i64> = listed_ids(&waiting).into_iter().collect();
    assert_eq!(waiting, [alpha_1.0, beta.0].into());

    // Name filter (a substring of the generated name), never another project's task.
    let named = test
        .ok(
            Method::GET,
            &format!("{base}?task_name=alpha"),
            &Value::Null,
        )
        .await;
    let named: BTreeSet<i64> = listed_ids(&named).into_iter().collect();
    assert_eq!(named, [alpha_1.0, alpha_2.0].into());
    let beta_only = test
        .ok(
            Method::GET,
            &format!("{base}?task_name=beta-to"),
            &Value::Null,
        )
        .await;
    assert_eq!(listed_ids(&beta_only), vec![beta.0]);
    let both = test
        .ok(
            Method::GET,
            &format!("{base}?task_name=alpha&status=1"),
            &Value::Null,
        )
        .await;
    assert_eq!(listed_ids(&both), vec![alpha_1.0]);

    // Group filter: the tasks a group created, marked GROUP_TASK.
    let group = test.create_group().await;
    let group_tasks = test.split_group(&group, 2).await;
    let by_group = test
        .ok(
            Method::GET,
            &format!("{base}?group_id={}", group.0),
            &Value::Null,
        )
        .await;
    let listed: BTreeSet<i64> = listed_ids(&by_group).into_iter().collect();
    assert_eq!(listed, group_tasks.iter().map(|id| id.0).collect());
    for task in by_group["tasks"].as_array().unwrap() {
        assert_eq!(task["group_id"], group.0.as_str());
        assert_eq!(task["group_type"], "GROUP_TASK");
    }
}

#[tokio::test]
async fn test_show_task_reads_the_store_and_never_shows_secrets() {
    let test = TestApp::new().await;
    let id = test.create_task("alpha").await;
    let reply = test
        .call(Method::GET, &task_uri(id, ""), &Value::Null)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    for secret in ["SRC_SK", "DST_SK"] {
        assert!(!reply.text().contains(secret), "{}", reply.text());
    }
    let body = reply.json();
    let task = test.task(id).await;
    assert_eq!(body["id"], id.0);
    assert_eq!(body["name"], task.name.as_str());
    assert_eq!(body["status"], 1);
    assert_eq!(body["src_node"]["bucket"], "alpha");
    assert_eq!(body["dst_node"]["bucket"], "dst");
    assert_eq!(body["task_priority"], "MEDIUM");
    assert_eq!(body["bandwidth_policy"][0]["max_bandwidth"], 1_048_576);

    test.make_failed(id).await;
    let body = test.ok(Method::GET, &task_uri(id, ""), &Value::Null).await;
    assert_eq!(body["status"], 4);
    let stored = test.task(id).await.error_reason.unwrap();
    assert_eq!(body["error_reason"]["error_code"], stored.code.as_str());
}

#[tokio::test]
async fn test_unknown_and_foreign_task_ids_are_the_same_400_oms_1009() {
    let test = TestApp::new().await;
    let foreign = test.create_task_as(OTHER_TOKEN, &task_body("theirs")).await;
    let unknown = TaskId(UNKNOWN_TASK_ID);
    assert!(test.store.get_task(unknown).await.unwrap().is_none());
    let operations: [(Method, &str, Value); 6] = [
        (Method::GET, "", Value::Null),
        (Method::DELETE, "", Value::Null),
        (Method::POST, "/start", start_body("NEW")),
        (Method::POST, "/stop", Value::Null),
        (
            Method::PUT,
            "/bandwidth-policy",
            json!({"bandwidth_policy": window_at_ten(2)}),
        ),
        (
            Method::POST,
            "/start",
            json!({"dst_ak": "a", "dst_sk": "b", "migrate_failed_object": true}),
        ),
    ];
    for (method, suffix, body) in operations {
        let mut bodies = Vec::new();
        for id in [unknown, foreign] {
            let refusal = test
                .refused_with(
                    method.clone(),
                    &task_uri(id, suffix),
                    &body,
                    StatusCode::BAD_REQUEST,
                    "OMS.1009",
                )
                .await;
            let text = refusal.to_string().replace(&id.0.to_string(), "{id}");
            bodies.push(text);
        }
        assert_eq!(bodies[0], bodies[1], "{method} {suffix}");
    }
    // The other project's task was neither changed nor deleted.
    let task = test.task(foreign).await;
    assert_eq!(task.status, TaskStatus::Waiting);
    assert_eq!(task.spec.bandwidth_policy.limit_at(600), None);
    let secrets = test.store.secrets(foreign).await.unwrap().unwrap();
    assert_eq!(secrets.dst.access_key, "DST_AK");
}

#[tokio::test]
async fn test_stop_pauses_a_waiting_or_migrating_task() {
    let test = TestApp::new().await;
    for status in [TaskStatus::Waiting, TaskStatus::Migrating] {
        let id = task_in(&test, status, "alpha").await;
        let body = test
            .ok(Method::POST, &task_uri(id, "/stop"), &Value::Null)
            .await;
        assert!(body.is_null() || body == json!({}), "{body}");
        // No run of this node holds a migrating task, so the stop winds it down at once.
        assert_eq!(test.status(id).await, TaskStatus::Paused, "from {status:?}");
        assert!(test.store.secrets(id).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn test_stop_of_a_task_that_is_not_migrating_is_400_oms_0066() {
    let test = TestApp::new().await;
    for status in [
        TaskStatus::Paused,
        TaskStatus::Failed,
        TaskStatus::Succeeded,
        TaskStatus::Pausing,
    ] {
        let id = task_in(&test, status, "alpha").await;
        test.refused_with(
            Method::POST,
            &task_uri(id, "/stop"),
            &Value::Null,
            StatusCode::BAD_REQUEST,
            "OMS.0066",
        )
        .await;
        assert_eq!(test.status(id).await, status);
    }
}

#[tokio::test]
async fn test_start_of_a_paused_task_waits_again_with_the_new_secrets() {
    let test = TestApp::new().await;
    let id = task_in(&test, TaskStatus::Paused, "alpha").await;
    assert!(test.store.secrets(id).await.unwrap().is_none());
    let body = test
        .ok(Method::POST, &task_uri(id, "/start"), &start_body("NEW"))
        .await;
    assert!(body.is_null() || body == json!({}), "{body}");
    let task = test.task(id).await;
    assert_eq!(task.status, TaskStatus::Waiting);
    assert!(!task.failed_only);
    let secrets = test.store.secrets(id).await.unwrap().unwrap();
    assert_eq!(secrets.src.access_key, "NEW_SRC_AK");
    assert_eq!(secrets.src.secret_key.expose(), "NEW_SRC_SK");
    assert_eq!(secrets.dst.access_key, "NEW_DST_AK");
    assert_eq!(secrets.dst.secret_key.expose(), "NEW_DST_SK");
}

#[tokio::test]
async fn test_start_of_a_failed_task_retries_all_or_only_failed_objects() {
    let test = TestApp::new().await;
    for failed_only in [true, false] {
        let id = task_in(&test, TaskStatus::Failed, "alpha").await;
        let mut body = start_body("RETRY");
        body["migrate_failed_object"] = json!(failed_only);
        test.ok(Method::POST, &task_uri(id, "/start"), &body).await;
        let task = test.task(id).await;
        assert_eq!(task.status, TaskStatus::Retrying);
        assert_eq!(task.failed_only, failed_only);
        assert_eq!(task.error_reason, None);
        let secrets = test.store.secrets(id).await.unwrap().unwrap();
        assert_eq!(secrets.dst.access_key, "RETRY_DST_AK");
    }
}

#[tokio::test]
async fn test_start_refusals_are_400_oms_0070_and_change_nothing() {
    let test = TestApp::new().await;
    let mut cases: Vec<(TaskStatus, Value)> = [
        TaskStatus::Waiting,
        TaskStatus::Migrating,
        TaskStatus::Succeeded,
        TaskStatus::Pausing,
        TaskStatus::Retrying,
    ]
    .into_iter()
    .map(|status| (status, start_body("NEW")))
    .collect();
    // Re-migrating failed objects needs a failed task; a paused one has none to retry.
    let mut failed_only = start_body("NEW");
    failed_only["migrate_failed_object"] = json!(true);
    cases.push((TaskStatus::Paused, failed_only));
    for (status, body) in cases {
        let id = task_in(&test, status, "alpha").await;
        let before = test.store.secrets(id).await.unwrap();
        test.refused_with(
            Method::POST,
            &task_uri(id, "/start"),
            &body,
            StatusCode::BAD_REQUEST,
            "OMS.0070",
        )
        .await;
        assert_eq!(test.status(id).await, status);
        assert_eq!(test.store.secrets(id).await.unwrap(), before, "{status:?}");
    }
}

#[tokio::test]
async fn test_start_without_the_source_secrets_it_was_created_with_names_src_ak() {
    let test = TestApp::new().await;
    let id = task_in(&test, TaskStatus::Paused, "alpha").await;
    let refusal = test
        .refused_with(
            Method::POST,
            &task_uri(id, "/start"),
            &json!({"dst_ak": "NEW_DST_AK", "dst_sk": "NEW_DST_SK"}),
            StatusCode::BAD_REQUEST,
            "OMS.0001",
        )
        .await;
    assert_names(&refusal, "OMS.0001", "src_ak");
    assert_eq!(test.status(id).await, TaskStatus::Paused);
    assert!(test.store.secrets(id).await.unwrap().is_none());
}

#[tokio::test]
async fn test_delete_removes_a_settled_task() {
    let test = TestApp::new().await;
    for status in [
        TaskStatus::Waiting,
        TaskStatus::Paused,
        TaskStatus::Failed,
        TaskStatus::Succeeded,
        TaskStatus::Retrying,
    ] {
        let id = task_in(&test, status, "alpha").await;
        test.ok(Method::DELETE, &task_uri(id, ""), &Value::Null)
            .await;
        assert!(
            test.store.get_task(id).await.unwrap().is_none(),
            "{status:?}"
        );
        test.refused_with(
            Method::GET,
            &task_uri(id, ""),
            &Value::Null,
            StatusCode::BAD_REQUEST,
            "OMS.1009",
        )
        .await;
    }
}

#[tokio::test]
async fn test_delete_of_a_migrating_or_pausing_task_is_400_oms_0063() {
    let test = TestApp::new().await;
    for status in [TaskStatus::Migrating, TaskStatus::Pausing] {
        let id = task_in(&test, status, "alpha").await;
        test.refused_with(
            Method::DELETE,
            &task_uri(id, ""),
            &Value::Null,
            StatusCode::BAD_REQUEST,
            "OMS.0063",
        )
        .await;
        assert_eq!(test.status(id).await, status);
        assert!(test.store.secrets(id).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn test_bandwidth_policy_replaces_the_policy_of_an_unfinished_task() {
    let test = TestApp::new().await;
    for status in [
        TaskStatus::Waiting,
        TaskStatus::Migrating,
        TaskStatus::Paused,
        TaskStatus::Failed,
        TaskStatus::Pausing,
    ] {
        let id = task_in(&test, status, "alpha").await;
        let body = json!({"bandwidth_policy": window_at_ten(2)});
        test.ok(Method::PUT, &task_uri(id, "/bandwidth-policy"), &body)
            .await;
        let task = test.task(id).await;
        assert_eq!(
            task.spec.bandwidth_policy.limit_at(600),
            Some(2 * 1_048_576)
        );
        // The whole list is replaced: the created 00:00–08:00 window is gone.
        assert_eq!(task.spec.bandwidth_policy.limit_at(60), None, "{status:?}");
        assert_eq!(task.status, status);
    }
}

#[tokio::test]
async fn test_bandwidth_policy_refusals_change_nothing() {
    let test = TestApp::new().await;
    let done = task_in(&test, TaskStatus::Succeeded, "alpha").await;
    test.refused_with(
        Method::PUT,
        &task_uri(done, "/bandwidth-policy"),
        &json!({"bandwidth_policy": window_at_ten(2)}),
        StatusCode::BAD_REQUEST,
        "OMS.0064",
    )
    .await;
    assert_eq!(limit_at_ten(&test, done).await, None);

    let waiting = test.create_task("alpha").await;
    let overlapping = json!({"bandwidth_policy": [
        {"start": "09:00", "end": "12:00", "max_bandwidth": 2_097_152},
        {"start": "11:00", "end": "13:00", "max_bandwidth": 2_097_152}
    ]});
    let refusal = test
        .refused_with(
            Method::PUT,
            &task_uri(waiting, "/bandwidth-policy"),
            &overlapping,
            StatusCode::BAD_REQUEST,
            "OMS.0001",
        )
        .await;
    assert_names(&refusal, "OMS.0001", "bandwidth_policy[1]");
    assert_eq!(limit_at_ten(&test, waiting).await, None);
    assert_eq!(
        test.task(waiting).await.spec.bandwidth_policy.limit_at(60),
        Some(1_048_576)
    );
}

#[tokio::test]
async fn test_batch_update_applies_each_change_where_the_status_allows_it() {
    let test = TestApp::new().await;
    let statuses = [
        TaskStatus::Waiting,
        TaskStatus::Migrating,
        TaskStatus::Paused,
        TaskStatus::Failed,
        TaskStatus::Succeeded,
        TaskStatus::Retrying,
        TaskStatus::Pausing,
    ];
    let mut tasks = Vec::new();
    for status in statuses {
        tasks.push((status, task_in(&test, status, "alpha").await));
    }
    let ids: Vec<i64> = tasks.iter().map(|(_, id)| id.0).collect();
    let body = json!({"ids": ids, "bandwidth_policy": window_at_ten(3), "task_priority": "HIGH"});
    test.ok(
        Method::POST,
        &format!("/v2/{PROJECT}/tasks/batch-update"),
        &body,
    )
    .await;
    for (status, id) in tasks {
        let task = test.task(id).await;
        assert_eq!(task.status, status);
        let takes_priority = matches!(
            status,
            TaskStatus::Waiting | TaskStatus::Retrying | TaskStatus::Paused | TaskStatus::Failed
        );
        let priority = if takes_priority {
            TaskPriority::High
        } else {
            TaskPriority::Medium
        };
        assert_eq!(task.spec.task_priority, priority, "{status:?}");
        let limit = (status != TaskStatus::Succeeded).then_some(3 * 1_048_576);
        assert_eq!(
            task.spec.bandwidth_policy.limit_at(600),
            limit,
            "{status:?}"
        );
    }
}

#[tokio::test]
async fn test_batch_update_of_a_group_reaches_only_its_tasks() {
    let test = TestApp::new().await;
    let outsider = test.create_task("alpha").await;
    let group = test.create_group().await;
    let members = test.split_group(&group, 2).await;
    let body = json!({
        "group_id": group.0, "bandwidth_policy": window_at_ten(4), "task_priority": "LOW"
    });
    test.ok(
        Method::POST,
        &format!("/v2/{PROJECT}/tasks/batch-update"),
        &body,
    )
    .await;
    for id in members {
        let task = test.task(id).await;
        assert_eq!(task.spec.task_priority, TaskPriority::Low);
        assert_eq!(
            task.spec.bandwidth_policy.limit_at(600),
            Some(4 * 1_048_576)
        );
    }
    let task = test.task(outsider).await;
    assert_eq!(task.spec.task_priority, TaskPriority::Medium);
    assert_eq!(task.spec.bandwidth_policy.limit_at(600), None);
}

#[tokio::test]
async fn test_batch_update_naming_a_foreign_or_unknown_id_refuses_the_whole_batch() {
    let test = TestApp::new().await;
    let own = test.create_task("alpha").await;
    let foreign = test.create_task_as(OTHER_TOKEN, &task_body("theirs")).await;
    let uri = format!("/v2/{PROJECT}/tasks/batch-update");
    let mut bodies = Vec::new();
    for stranger in [foreign, TaskId(UNKNOWN_TASK_ID)] {
        let body = json!({
            "ids": [own.0, stranger.0], "bandwidth_policy": window_at_ten(5), "task_priority": "HIGH"
        });
        let refusal = test
            .refused_with(
                Method::POST,
                &uri,
                &body,
                StatusCode::BAD_REQUEST,
                "OMS.1009",
            )
            .await;
        bodies.push(refusal.to_string().replace(&stranger.0.to_string(), "{id}"));
    }
    assert_eq!(bodies[0], bodies[1]);
    for id in [own, foreign] {
        let task = test.task(id).await;
        assert_eq!(task.spec.task_priority, TaskPriority::Medium);
        assert_eq!(task.spec.bandwidth_policy.limit_at(600), None);
    }
}

#[tokio::test]
async fn test_batch_update_body_errors_name_the_field() {
    let test = TestApp::new().await;
    let own = test.create_task("alpha").await;
    let uri = format!("/v2/{PROJECT}/tasks/batch-update");
    let policy = window_at_ten(2);
    for (body, field) in [
        (json!({"bandwidth_policy": policy}), "group_id"),
        (
            json!({"ids": [own.0], "group_id": "g", "bandwidth_policy": policy}),
            "ids",
        ),
        (
            json!({"ids": [own.0], "bandwidth_policy": policy, "task_priority": "URGENT"}),
            "task_priority",
        ),
        (
            json!({"ids": (0..21).collect::<Vec<i64>>(), "bandwidth_policy": policy}),
            "ids",
        ),
    ] {
        let refusal = test
            .refused_with(
                Method::POST,
                &uri,
                &body,
                StatusCode::BAD_REQUEST,
                "OMS.0001",
            )
            .await;
        assert_names(&refusal, "OMS.0001", field);
    }
    assert_eq!(limit_at_ten(&test, own).await, None);
}
