//! `TaskResp::from_task`: every field of the TaskResp table, units, progress, no secrets.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tern_core::{Counters, FailedObjectRecord, Task, TaskId, TaskStatus};

use super::tests_create::{base, set};
use super::{parse_body, CreateTaskReq, ListTasksResponse, TaskResp};

/// Every field of REFERENCE.md §2 TaskResp, in table order.
const TASK_RESP_FIELDS: [&str; 39] = [
    "bandwidth_policy",
    "complete_size",
    "description",
    "dst_node",
    "enable_failed_object_recording",
    "enable_metadata_migration",
    "enable_restore",
    "error_reason",
    "failed_num",
    "failed_object_record",
    "group_id",
    "id",
    "is_query_over",
    "left_time",
    "migrate_since",
    "migrate_speed",
    "name",
    "progress",
    "real_size",
    "skipped_num",
    "src_node",
    "start_time",
    "status",
    "successful_num",
    "task_type",
    "group_type",
    "total_num",
    "total_size",
    "total_time",
    "smn_info",
    "source_cdn",
    "success_record_error_reason",
    "skip_record_error_reason",
    "object_overwrite_mode",
    "dst_storage_policy",
    "consistency_check",
    "enable_requester_pays",
    "obs_system",
    "task_priority",
];
/// Optional objects, omitted when the task has none.
const OPTIONAL_OBJECTS: [&str; 4] = [
    "error_reason",
    "failed_object_record",
    "smn_info",
    "source_cdn",
];

fn task(body: &Value) -> Task {
    let request: CreateTaskReq = parse_body(body.to_string().as_bytes()).unwrap();
    let (spec, _secrets) = request.into_domain().unwrap();
    Task {
        id: TaskId(191_297_407_830_872),
        project_id: "0123456789abcdef0123456789abcdef".into(),
        name: "task_20240101000000".into(),
        spec,
        status: TaskStatus::Migrating,
        counters: Counters {
            total_num: 10,
            successful_num: 4,
            skipped_num: 2,
            failed_num: 1,
            total_size: 1000,
            successful_size: 400,
            skipped_size: 200,
            failed_size: 100,
        },
        listed_num: 20,
        listed_size: 2000,
        created_at_ms: 1_700_000_000_000,
        start_time_ms: Some(1_700_000_100_000),
        total_time_ms: 5_000,
        is_query_over: false,
        migrate_speed: 1234,
        left_time_ms: 9_000,
        error_reason: None,
        failed_object_record: None,
        failed_only: false,
        checkpoint: None,
    }
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn test_full_task_serializes_every_table_field() {
    let mut body = base();
    set(
        &mut body,
        "source_cdn",
        json!({"authentication_type": "ALIYUN_OSS_A", "domain": "c.example.com", "protocol": "https", "authentication_key": "CDN-SECRET"}),
    );
    set(&mut body, "src_node.sk", json!("SRC-SECRET"));
    set(&mut body, "dst_node.sk", json!("DST-SECRET"));
    set(&mut body, "migrate_since", json!(1_600_000_000));
    let mut task = task(&body);
    task.error_reason = Some(tern_core::FailureReason::new(
        tern_core::FailureCode::SourceCredentialsInvalid,
        "invalid source AK/SK",
    ));
    task.failed_object_record = Some(FailedObjectRecord {
        result: true,
        list_file_key: "oms/failed_object_lists/1/failed-objects-list.txt".into(),
        error_code: String::new(),
    });
    let mut response = TaskResp::from_task(&task, 1_700_000_160_000);
    // A reported outcome serializes under its OMS name.
    response.smn_info = Some(super::SmnInfo {
        notify_result: true,
        notify_error_message: String::new(),
        topic_name: "t".into(),
    });
    let json = serde_json::to_value(&response).unwrap();
    let expected: BTreeSet<String> = TASK_RESP_FIELDS.iter().map(|f| f.to_string()).collect();
    assert_eq!(keys(&json), expected);
    assert_eq!(
        keys(&json["src_node"]),
        ["app_id", "bucket", "cloud_type", "object_key", "region"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        keys(&json["dst_node"]),
        ["bucket", "region", "save_prefix"].map(String::from).into()
    );
    assert_eq!(
        keys(&json["source_cdn"]),
        ["authentication_type", "domain", "protocol"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        keys(&json["error_reason"]),
        ["error_code", "error_msg"].map(String::from).into()
    );
    assert_eq!(
        keys(&json["failed_object_record"]),
        ["error_code", "list_file_key", "result"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        keys(&json["bandwidth_policy"][0]),
        ["end", "max_bandwidth", "start"].map(String::from).into()
    );
    let text = json.to_string();
    for secret in ["CDN-SECRET", "SRC-SECRET", "DST-SECRET"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    assert_eq!(json["migrate_since"], json!(1_600_000_000_000_i64));
    assert_eq!(json["id"], json!(191_297_407_830_872_i64));
    assert_eq!(json["status"], json!(2));
    assert_eq!(
        json["bandwidth_policy"][0],
        json!({"end": "08:00", "max_bandwidth": 1_048_576, "start": "00:00"})
    );
}

#[test]
fn test_minimal_task_uses_defaults_and_omits_optional_objects() {
    let mut task = task(&base());
    task.status = TaskStatus::Waiting;
    task.start_time_ms = None;
    task.counters = Counters::default();
    task.listed_num = 0;
    task.listed_size = 0;
    let json = serde_json::to_value(TaskResp::from_task(&task, 1_700_000_900_000)).unwrap();
    let expected: BTreeSet<String> = TASK_RESP_FIELDS
        .iter()
        .filter(|f| !OPTIONAL_OBJECTS.contains(f))
        .map(|f| f.to_string())
        .collect();
    assert_eq!(keys(&json), expected);
    assert_eq!(json["progress"], json!(0.0));
    assert_eq!(json["migrate_since"], json!(0));
    assert_eq!(json["group_id"], json!(""));
    assert_eq!(json["description"], json!(""));
    assert_eq!(json["group_type"], json!("NORMAL_TASK"));
    assert_eq!(
        json["start_time"],
        json!(1_700_000_000_000_i64),
        "falls back to the creation time"
    );
    assert_eq!(
        json["total_time"],
        json!(5_000),
        "a waiting task's clock does not run"
    );
    assert_eq!(json["src_node"]["app_id"], json!(""));
    assert_eq!(
        json["object_overwrite_mode"],
        json!("SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE")
    );
    assert_eq!(json["consistency_check"], json!("size_last_modified"));
    assert_eq!(json["task_priority"], json!("MEDIUM"));
    assert_eq!(json["obs_system"], json!("BUCKET"));
}

#[test]
fn test_counters_progress_and_times() {
    let task = task(&base());
    let response = TaskResp::from_task(&task, 1_700_000_160_000);
    assert_eq!(
        response.total_num, 20,
        "listed_num exceeds counters.total_num"
    );
    assert_eq!(response.total_size, 2000);
    assert!((response.progress - 7.0 / 20.0).abs() < 1e-9);
    assert_eq!(response.complete_size, 400);
    assert_eq!(response.real_size, 400);
    assert_eq!(
        (
            response.successful_num,
            response.skipped_num,
            response.failed_num
        ),
        (4, 2, 1)
    );
    assert_eq!(response.start_time, 1_700_000_100_000);
    assert_eq!(
        response.total_time,
        5_000 + 60_000,
        "finished runs plus the running one"
    );
    assert_eq!((response.left_time, response.migrate_speed), (9_000, 1234));

    let mut done = task.clone();
    done.status = TaskStatus::Succeeded;
    done.counters.successful_num = 5;
    let response = TaskResp::from_task(&done, 1_700_000_160_000);
    assert_eq!(response.progress, 1.0);
    assert_eq!(response.total_time, 5_000);
}

#[test]
fn test_list_task_echoes_list_file() {
    let mut body = base();
    set(&mut body, "task_type", json!("list"));
    set(
        &mut body,
        "src_node.list_file",
        json!({"list_file_key": "keys.txt", "obs_bucket": "lists", "list_file_num": "1"}),
    );
    let response = TaskResp::from_task(&task(&body), 0);
    let json = serde_json::to_value(ListTasksResponse {
        tasks: vec![response],
        count: 1,
    })
    .unwrap();
    assert_eq!(json["count"], json!(1));
    let src = &json["tasks"][0]["src_node"];
    assert_eq!(
        src["list_file"],
        json!({"list_file_key": "keys.txt", "obs_bucket": "lists", "list_file_num": "1"})
    );
    assert_eq!(src["object_key"], json!([]));
    assert_eq!(json["tasks"][0]["task_type"], json!("list"));
}
