//! Task group operations 9–16 of REFERENCE.md through `app(state).oneshot(..)`: each happy
//! path compared with an independent read of the store (the group, its tasks, their secrets),
//! each refusal pinned to its HTTP status and OMS code and shown to leave the store as it was.
//! The scheduler is never started; groups are split and settled through the store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use tern_core::{Credentials, GroupId, GroupStatus, TaskId, TaskSecrets, TaskStatus};
use tern_scheduler::now_ms;

use common::{assert_names, group_body, TestApp, OTHER_TOKEN, PROJECT};

/// A well-formed group id no group has.
const UNKNOWN_GROUP_ID: &str = "00000000-0000-4000-8000-000000000000";

fn group_uri(id: &GroupId, suffix: &str) -> String {
    format!("/v2/{PROJECT}/taskgroups/{}{suffix}", id.0)
}

fn secrets_body(tag: &str) -> Value {
    json!({
        "src_ak": format!("{tag}_SRC_AK"), "src_sk": format!("{tag}_SRC_SK"),
        "dst_ak": format!("{tag}_DST_AK"), "dst_sk": format!("{tag}_DST_SK")
    })
}

fn window_at_ten(mib: u64) -> Value {
    json!([{"start": "09:00", "end": "12:00", "max_bandwidth": mib * 1_048_576}])
}

async fn group_status(test: &TestApp, id: &GroupId) -> GroupStatus {
    test.group(id).await.status
}

/// A monitoring group (2) of two waiting tasks.
async fn monitoring_group(test: &TestApp) -> (GroupId, Vec<TaskId>) {
    let id = test.create_group().await;
    let tasks = test.split_group(&id, 2).await;
    (id, tasks)
}

/// A paused group (3) whose two tasks are paused.
async fn paused_group(test: &TestApp) -> (GroupId, Vec<TaskId>) {
    let (id, tasks) = monitoring_group(test).await;
    test.store.stop_group(&id, now_ms()).await.unwrap();
    test.settle(&id).await;
    assert_eq!(group_status(test, &id).await, GroupStatus::Paused);
    for task in &tasks {
        assert_eq!(test.status(*task).await, TaskStatus::Paused);
    }
    (id, tasks)
}

/// A migration-failed group (5): its first task failed, its second succeeded.
async fn failed_group(test: &TestApp) -> (GroupId, TaskId, TaskId) {
    let (id, tasks) = monitoring_group(test).await;
    test.make_failed(tasks[0]).await;
    test.make_succeeded(tasks[1]).await;
    test.settle(&id).await;
    assert_eq!(group_status(test, &id).await, GroupStatus::MigrationFailed);
    (id, tasks[0], tasks[1])
}

/// A completed group (6): both tasks succeeded.
async fn completed_group(test: &TestApp) -> GroupId {
    let (id, tasks) = monitoring_group(test).await;
    for task in tasks {
        test.make_succeeded(task).await;
    }
    test.settle(&id).await;
    assert_eq!(group_status(test, &id).await, GroupStatus::Completed);
    id
}

#[tokio::test]
async fn test_create_group_stores_a_waiting_group_with_its_secrets() {
    let test = TestApp::new().await;
    let body = test
        .ok(
            Method::POST,
            &format!("/v2/{PROJECT}/taskgroups"),
            &group_body(),
        )
        .await;
    let id = GroupId(body["group_id"].as_str().unwrap().to_owned());
    let group = test.group(&id).await;
    assert_eq!(group.project_id, PROJECT);
    assert_eq!(group.status, GroupStatus::Waiting);
    assert_eq!(group.spec.description, "nightly bulk copy");
    assert_eq!(group.spec.src.object_keys, vec!["data/", "logs/"]);
    assert_eq!(group.spec.bandwidth_policy.limit_at(60), Some(52_428_800));
    let secrets = test.store.group_secrets(&id).await.unwrap().unwrap();
    assert_eq!(secrets.src.access_key, "SRC_AK");
    assert_eq!(secrets.dst.secret_key.expose(), "DST_SK");
}

#[tokio::test]
async fn test_create_group_body_errors_name_the_field_and_store_nothing() {
    let test = TestApp::new().await;
    let uri = format!("/v2/{PROJECT}/taskgroups");
    let changed = |path: &str, value: Value| {
        let mut body = group_body();
        let pointer = format!("/{}", path.replace('.', "/"));
        *body.pointer_mut(&pointer).unwrap() = value;
        body
    };
    let mut no_dst = group_body();
    no_dst.as_object_mut().unwrap().remove("dst_node");
    let overlap = json!([
        {"start": "09:00", "end": "12:00", "max_bandwidth": 2_097_152},
        {"start": "11:00", "end": "13:00", "max_bandwidth": 2_097_152}
    ]);
    let cases = [
        (
            changed("task_type", json!("prefix")),
            "OMS.0001",
            "task_type",
        ),
        (
            changed("dst_node.bucket", json!("")),
            "OMS.0001",
            "dst_node.bucket",
        ),
        (
            changed("src_node.region", json!("nowhere-9")),
            "OMS.0001",
            "src_node.region",
        ),
        (
            changed("src_node.object_key", json!([])),
            "OMS.0001",
            "src_node.object_key",
        ),
        (
            changed("bandwidth_policy", overlap),
            "OMS.0001",
            "bandwidth_policy[1]",
        ),
        (
            changed("description", json!("a<b")),
            "OMS.0078",
            "description",
        ),
        (no_dst, "OMS.0002", "dst_node"),
    ];
    for (body, code, field) in cases {
        let refusal = test
            .refused_with(Method::POST, &uri, &body, StatusCode::BAD_REQUEST, code)
            .await;
        assert_names(&refusal, code, field);
    }
    let refusal = test
        .refused(
            Method::POST,
            &uri,
            Some("application/json"),
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_eq!(refusal["error_code"], "OMS.0067");
    let (_, count) = test.store.list_groups(PROJECT, None, 0, 10).await.unwrap();
    assert_eq!(count, 0);
}

fn listed_groups(body: &Value) -> Vec<String> {
    body["taskgroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["group_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn test_list_groups_pages_filters_and_hides_other_projects() {
    let test = TestApp::new().await;
    let first = test.create_group().await;
    let (split, _) = monitoring_group(&test).await;
    let third = test.create_group().await;
    let foreign = test.create_group_as(OTHER_TOKEN, &group_body()).await;
    let base = format!("/v2/{PROJECT}/taskgroups");

    let (stored, _) = test.store.list_groups(PROJECT, None, 0, 100).await.unwrap();
    let stored: Vec<String> = stored.into_iter().map(|group| group.id.0).collect();
    let page_1 = test
        .ok(Method::GET, &format!("{base}?limit=2"), &Value::Null)
        .await;
    let page_2 = test
        .ok(
            Method::GET,
            &format!("{base}?limit=2&offset=2"),
            &Value::Null,
        )
        .await;
    assert_eq!(
        (page_1["count"].as_i64(), page_2["count"].as_i64()),
        (Some(3), Some(3))
    );
    let mut paged = listed_groups(&page_1);
    assert_eq!(paged.len(), 2);
    paged.extend(listed_groups(&page_2));
    assert_eq!(paged, stored);
    let expected: BTreeSet<String> = [&first, &split, &third].map(|id| id.0.clone()).into();
    assert_eq!(paged.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(!paged.contains(&foreign.0));

    let monitoring = test
        .ok(Method::GET, &format!("{base}?status=2"), &Value::Null)
        .await;
    assert_eq!(listed_groups(&monitoring), vec![split.0.clone()]);
    assert_eq!(monitoring["count"], 1);
    let totals = test.store.group_totals(&split).await.unwrap();
    assert_eq!(
        monitoring["taskgroups"][0]["total_task_num"],
        totals.task_num
    );
    assert_eq!(monitoring["taskgroups"][0]["waiting_task_num"], 2);
    let waiting = test
        .ok(Method::GET, &format!("{base}?status=0"), &Value::Null)
        .await;
    let waiting: BTreeSet<String> = listed_groups(&waiting).into_iter().collect();
    assert_eq!(waiting, [first.0, third.0].into());
}

#[tokio::test]
async fn test_show_group_reads_the_store_and_never_shows_secrets() {
    let test = TestApp::new().await;
    let (id, tasks) = monitoring_group(&test).await;
    test.make_failed(tasks[0]).await;
    let reply = test
        .call(Method::GET, &group_uri(&id, ""), &Value::Null)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    for secret in ["SRC_SK", "DST_SK"] {
        assert!(!reply.text().contains(secret), "{}", reply.text());
    }
    let body = reply.json();
    let group = test.group(&id).await;
    let totals = test.store.group_totals(&id).await.unwrap();
    assert_eq!(body["group_id"], id.0.as_str());
    assert_eq!(body["status"], group.status.code());
    assert_eq!(body["description"], group.spec.description.as_str());
    assert_eq!(body["src_node"]["bucket"], "src-bucket");
    assert_eq!(body["dst_node"]["bucket"], "dst-bucket");
    assert_eq!(body["total_task_num"], totals.task_num);
    assert_eq!(body["failed_task_num"], totals.failed_task_num);
    assert_eq!(body["waiting_task_num"], totals.waiting_task_num);
    assert_eq!((totals.failed_task_num, totals.waiting_task_num), (1, 1));
}

#[tokio::test]
async fn test_unknown_and_foreign_group_ids_are_the_same_404_oms_1009() {
    let test = TestApp::new().await;
    let foreign = test.create_group_as(OTHER_TOKEN, &group_body()).await;
    let unknown = GroupId(UNKNOWN_GROUP_ID.to_owned());
    assert_eq!(unknown.0.len(), foreign.0.len());
    assert!(test.store.get_group(&unknown).await.unwrap().is_none());
    let operations: [(Method, &str, Value); 6] = [
        (Method::GET, "", Value::Null),
        (Method::DELETE, "", Value::Null),
        (Method::PUT, "/start", secrets_body("NEW")),
        (Method::PUT, "/stop", Value::Null),
        (Method::PUT, "/retry", json!({})),
        (
            Method::PUT,
            "/update",
            json!({"bandwidth_policy": window_at_ten(2)}),
        ),
    ];
    for (method, suffix, body) in operations {
        let mut bodies = Vec::new();
        for id in [&unknown, &foreign] {
            let refusal = test
                .refused_with(
                    method.clone(),
                    &group_uri(id, suffix),
                    &body,
                    StatusCode::NOT_FOUND,
                    "OMS.1009",
                )
                .await;
            bodies.push(refusal.to_string().replace(&id.0, "{id}"));
        }
        assert_eq!(bodies[0], bodies[1], "{method} {suffix}");
    }
    let group = test.group(&foreign).await;
    assert_eq!(group.status, GroupStatus::Waiting);
    assert_eq!(group.spec.bandwidth_policy.limit_at(600), None);
}

#[tokio::test]
async fn test_stop_group_stops_its_waiting_and_migrating_tasks() {
    let test = TestApp::new().await;
    let (id, tasks) = monitoring_group(&test).await;
    test.claim(tasks[1]).await;
    test.ok(Method::PUT, &group_uri(&id, "/stop"), &Value::Null)
        .await;
    // The group waits in 7 for the group loop to settle it; no run holds the migrating task,
    // so both tasks are paused at once.
    assert_eq!(group_status(&test, &id).await, GroupStatus::Pausing);
    for task in &tasks {
        assert_eq!(test.status(*task).await, TaskStatus::Paused);
    }
    test.settle(&id).await;
    assert_eq!(group_status(&test, &id).await, GroupStatus::Paused);

    let waiting = test.create_group().await;
    test.ok(Method::PUT, &group_uri(&waiting, "/stop"), &Value::Null)
        .await;
    assert_eq!(group_status(&test, &waiting).await, GroupStatus::Pausing);
}

#[tokio::test]
async fn test_stop_of_a_stopped_or_ended_group_is_400_oms_0066() {
    let test = TestApp::new().await;
    let (paused, _) = paused_group(&test).await;
    let completed = completed_group(&test).await;
    let (failed, _, _) = failed_group(&test).await;
    for (id, status) in [
        (paused, GroupStatus::Paused),
        (completed, GroupStatus::Completed),
        (failed, GroupStatus::MigrationFailed),
    ] {
        test.refused_with(
            Method::PUT,
            &group_uri(&id, "/stop"),
            &Value::Null,
            StatusCode::BAD_REQUEST,
            "OMS.0066",
        )
        .await;
        assert_eq!(group_status(&test, &id).await, status);
    }
}

#[tokio::test]
async fn test_start_group_resumes_its_paused_tasks_with_the_new_secrets() {
    let test = TestApp::new().await;
    let (id, tasks) = paused_group(&test).await;
    test.ok(Method::PUT, &group_uri(&id, "/start"), &secrets_body("NEW"))
        .await;
    // Splitting was done, so the group goes straight back to monitoring.
    assert_eq!(group_status(&test, &id).await, GroupStatus::Monitoring);
    let group_secrets = test.store.group_secrets(&id).await.unwrap().unwrap();
    assert_eq!(group_secrets.dst.access_key, "NEW_DST_AK");
    for task in tasks {
        assert_eq!(test.status(task).await, TaskStatus::Waiting);
        let secrets = test.store.secrets(task).await.unwrap().unwrap();
        assert_eq!(secrets.src.access_key, "NEW_SRC_AK");
        assert_eq!(secrets.dst.secret_key.expose(), "NEW_DST_SK");
    }
}

#[tokio::test]
async fn test_start_group_refusals_change_nothing() {
    let test = TestApp::new().await;
    // Not paused: refused by core's group rules.
    let (monitoring, tasks) = monitoring_group(&test).await;
    test.refused_with(
        Method::PUT,
        &group_uri(&monitoring, "/start"),
        &secrets_body("NEW"),
        StatusCode::BAD_REQUEST,
        "OMS.0064",
    )
    .await;
    assert_eq!(
        group_status(&test, &monitoring).await,
        GroupStatus::Monitoring
    );
    let secrets = test.store.secrets(tasks[0]).await.unwrap().unwrap();
    assert_eq!(secrets.src.access_key, "SRC_AK");

    // Paused, but the source was created with credentials and the body has none.
    let (paused, tasks) = paused_group(&test).await;
    let refusal = test
        .refused_with(
            Method::PUT,
            &group_uri(&paused, "/start"),
            &json!({"dst_ak": "NEW_DST_AK", "dst_sk": "NEW_DST_SK"}),
            StatusCode::BAD_REQUEST,
            "OMS.0001",
        )
        .await;
    assert_names(&refusal, "OMS.0001", "src_ak");
    assert_eq!(group_status(&test, &paused).await, GroupStatus::Paused);
    assert_eq!(test.status(tasks[0]).await, TaskStatus::Paused);
    let kept = test.store.group_secrets(&paused).await.unwrap().unwrap();
    assert_eq!(kept.dst.access_key, "DST_AK");

    // `dst_ak` / `dst_sk` are required by the body itself.
    let refusal = test
        .refused_with(
            Method::PUT,
            &group_uri(&paused, "/start"),
            &json!({"src_ak": "a", "src_sk": "b"}),
            StatusCode::BAD_REQUEST,
            "OMS.0002",
        )
        .await;
    assert_names(&refusal, "OMS.0002", "dst_ak");
    assert_eq!(group_status(&test, &paused).await, GroupStatus::Paused);
}

#[tokio::test]
async fn test_retry_group_of_failed_objects_with_new_secrets() {
    let test = TestApp::new().await;
    let (id, failed, succeeded) = failed_group(&test).await;
    assert!(test.group(&id).await.error_reason.is_some());
    let mut body = secrets_body("RETRY");
    body["migrate_failed_object"] = json!(true);
    test.ok(Method::PUT, &group_uri(&id, "/retry"), &body).await;
    let group = test.group(&id).await;
    assert_eq!(group.status, GroupStatus::Monitoring);
    assert_eq!(group.error_reason, None);
    let task = test.task(failed).await;
    assert_eq!(task.status, TaskStatus::Retrying);
    assert!(task.failed_only);
    let secrets = test.store.secrets(failed).await.unwrap().unwrap();
    assert_eq!(secrets.dst.access_key, "RETRY_DST_AK");
    // The succeeded task is left as it was.
    assert_eq!(test.status(succeeded).await, TaskStatus::Succeeded);
    assert!(test.store.secrets(succeeded).await.unwrap().is_none());
}

#[tokio::test]
async fn test_retry_group_without_secrets_uses_the_ones_the_group_holds() {
    let test = TestApp::new().await;
    let (id, failed, _) = failed_group(&test).await;
    assert!(test.store.secrets(failed).await.unwrap().is_none());
    test.ok(
        Method::PUT,
        &group_uri(&id, "/retry"),
        &json!({"migrate_failed_object": false}),
    )
    .await;
    assert_eq!(group_status(&test, &id).await, GroupStatus::Monitoring);
    let task = test.task(failed).await;
    assert_eq!(task.status, TaskStatus::Retrying);
    assert!(!task.failed_only);
    let secrets = test.store.secrets(failed).await.unwrap().unwrap();
    assert_eq!(secrets.src.access_key, "SRC_AK");
    assert_eq!(secrets.dst.access_key, "DST_AK");

    // `{}` and no body at all (what the SDK sends without a model) are full re-runs too.
    for body in [json!({}), Value::Null] {
        let (other, failed, _) = failed_group(&test).await;
        test.ok(Method::PUT, &group_uri(&other, "/retry"), &body)
            .await;
        let task = test.task(failed).await;
        assert_eq!(
            (task.status, task.failed_only),
            (TaskStatus::Retrying, false)
        );
    }
}

#[tokio::test]
async fn test_retry_of_a_group_that_has_not_failed_is_refused() {
    let test = TestApp::new().await;
    let (monitoring, _) = monitoring_group(&test).await;
    let (paused, tasks) = paused_group(&test).await;
    let completed = completed_group(&test).await;
    for (id, status) in [
        (&monitoring, GroupStatus::Monitoring),
        (&paused, GroupStatus::Paused),
        (&completed, GroupStatus::Completed),
    ] {
        test.refused_with(
            Method::PUT,
            &group_uri(id, "/retry"),
            &json!({"migrate_failed_object": true}),
            StatusCode::BAD_REQUEST,
            "OMS.0064",
        )
        .await;
        assert_eq!(group_status(&test, id).await, status);
    }
    assert_eq!(test.status(tasks[0]).await, TaskStatus::Paused);
}

#[tokio::test]
async fn test_update_group_replaces_the_policy_of_the_group_and_its_unfinished_tasks() {
    let test = TestApp::new().await;
    let (id, tasks) = monitoring_group(&test).await;
    test.make_succeeded(tasks[1]).await;
    test.ok(
        Method::PUT,
        &group_uri(&id, "/update"),
        &json!({"bandwidth_policy": window_at_ten(6)}),
    )
    .await;
    let group = test.group(&id).await;
    assert_eq!(
        group.spec.bandwidth_policy.limit_at(600),
        Some(6 * 1_048_576)
    );
    assert_eq!(group.spec.bandwidth_policy.limit_at(60), None);
    let waiting = test.task(tasks[0]).await;
    assert_eq!(
        waiting.spec.bandwidth_policy.limit_at(600),
        Some(6 * 1_048_576)
    );
    let done = test.task(tasks[1]).await;
    assert_eq!(done.spec.bandwidth_policy.limit_at(600), None);
    assert_eq!(done.spec.bandwidth_policy.limit_at(60), Some(52_428_800));
}

#[tokio::test]
async fn test_update_group_refusals_change_nothing() {
    let test = TestApp::new().await;
    let completed = completed_group(&test).await;
    test.refused_with(
        Method::PUT,
        &group_uri(&completed, "/update"),
        &json!({"bandwidth_policy": window_at_ten(6)}),
        StatusCode::BAD_REQUEST,
        "OMS.0064",
    )
    .await;
    let group = test.group(&completed).await;
    assert_eq!(group.spec.bandwidth_policy.limit_at(600), None);

    let (monitoring, _) = monitoring_group(&test).await;
    let refusal = test
        .refused_with(
            Method::PUT,
            &group_uri(&monitoring, "/update"),
            &json!({"bandwidth_policy": [{"start": "09:00", "end": "12:00", "max_bandwidth": 1}]}),
            StatusCode::BAD_REQUEST,
            "OMS.0001",
        )
        .await;
    assert_names(&refusal, "OMS.0001", "bandwidth_policy[0].max_bandwidth");
    let group = test.group(&monitoring).await;
    assert_eq!(group.spec.bandwidth_policy.limit_at(600), None);
}

#[tokio::test]
async fn test_delete_group_removes_it_with_its_tasks() {
    let test = TestApp::new().await;
    let waiting = test.create_group().await;
    let (paused, paused_tasks) = paused_group(&test).await;
    let (failed, failed_task, succeeded_task) = failed_group(&test).await;
    let completed = completed_group(&test).await;
    let cases = [
        (waiting, Vec::new()),
        (paused, paused_tasks),
        (failed, vec![failed_task, succeeded_task]),
        (completed, Vec::new()),
    ];
    for (id, tasks) in cases {
        test.ok(Method::DELETE, &group_uri(&id, ""), &Value::Null)
            .await;
        assert!(test.store.get_group(&id).await.unwrap().is_none());
        for task in tasks {
            assert!(test.store.get_task(task).await.unwrap().is_none());
        }
        // Gone: 404, as terraform expects after a delete.
        test.refused_with(
            Method::GET,
            &group_uri(&id, ""),
            &Value::Null,
            StatusCode::NOT_FOUND,
            "OMS.1009",
        )
        .await;
    }
}

#[tokio::test]
async fn test_delete_group_while_it_or_a_task_of_it_migrates_is_400_oms_0063() {
    let test = TestApp::new().await;
    // The group itself is busy.
    let (monitoring, tasks) = monitoring_group(&test).await;
    test.refused_with(
        Method::DELETE,
        &group_uri(&monitoring, ""),
        &Value::Null,
        StatusCode::BAD_REQUEST,
        "OMS.0063",
    )
    .await;
    assert_eq!(
        group_status(&test, &monitoring).await,
        GroupStatus::Monitoring
    );
    assert_eq!(test.status(tasks[0]).await, TaskStatus::Waiting);

    // The group is paused, but one of its tasks was started on its own and migrates.
    let (paused, tasks) = paused_group(&test).await;
    let secrets = TaskSecrets {
        src: Credentials::access_key("A", "B"),
        dst: Credentials::access_key("C", "D"),
        cdn_key: None,
    };
    test.store
        .start_task(tasks[0], &secrets, false, now_ms())
        .await
        .unwrap();
    test.claim(tasks[0]).await;
    let refusal = test
        .refused_with(
            Method::DELETE,
            &group_uri(&paused, ""),
            &Value::Null,
            StatusCode::BAD_REQUEST,
            "OMS.0063",
        )
        .await;
    assert_names(&refusal, "OMS.0063", "in progress");
    // Nothing moved: not 8 (waiting for deletion) nor 9 (deleting), tasks all there.
    assert_eq!(group_status(&test, &paused).await, GroupStatus::Paused);
    assert_eq!(test.status(tasks[0]).await, TaskStatus::Migrating);
    assert_eq!(test.status(tasks[1]).await, TaskStatus::Paused);
    let shown = test
        .ok(Method::GET, &group_uri(&paused, ""), &Value::Null)
        .await;
    assert_eq!(shown["status"], 3);
}
