//! Task group bodies and responses: `CreateTaskGroupReq` rules, `StartTaskGroupReq` and
//! `RetryTaskGroupReq` limits at their boundaries, `TaskGroupResp` fields and counts.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use tern_core::{
    CloudType, ConsistencyCheck, Counters, GroupId, GroupSpec, GroupStatus, GroupTaskType,
    GroupTotals, OverwriteMode, SplitProgress, TaskGroup, TaskSecrets,
};

use super::tests_create::{assert_invalid, remove, set, text};
use super::{
    parse_body, CreateTaskGroupReq, CreateTaskGroupResponse, ListTaskGroupResponse, RetryGroup,
    RetryTaskGroupReq, StartTaskGroupReq, TaskEcho, TaskGroupResp,
};
use crate::ApiError;

/// A `create_task_group` body as the Python SDK serializes it (model field order, `json.dumps`
/// separators), with the legacy `enable_kms` terraform still sends.
const SDK_CREATE_TASK_GROUP: &str = r#"{"src_node": {"ak": "SRC_AK", "sk": "SRC_SK", "region": "us-east-1", "object_key": ["data/", "logs/2024/"], "bucket": "src-bucket", "cloud_type": "AWS"}, "description": "nightly bulk copy", "dst_node": {"ak": "DST_AK", "sk": "DST_SK", "region": "cn-north-4", "bucket": "dst-bucket", "cloud_type": "HEC", "save_prefix": "aws/"}, "enable_metadata_migration": true, "enable_failed_object_recording": true, "enable_restore": false, "task_type": "PREFIX", "bandwidth_policy": [{"end": "08:00", "max_bandwidth": 52428800, "start": "00:00"}], "smn_config": {"topic_urn": "urn:smn:cn-north-4:p:t", "trigger_conditions": ["FAILURE"], "language": "en-us"}, "migrate_since": 1700000000, "object_overwrite_mode": "CRC64_COMPARISON_OVERWRITE", "dst_storage_policy": "IA", "consistency_check": "crc64", "enable_requester_pays": false, "enable_kms": false}"#;

/// The `retry_task_group` body captured from the SDK (REFERENCE.md §5.4), verbatim.
const CAPTURED_RETRY: &[u8] = br#"{"src_ak": "SRC_AK", "src_sk": "SRC_SK", "dst_ak": "DST_AK", "dst_sk": "DST_SK", "migrate_failed_object": true}"#;

/// Every field of REFERENCE.md §2 TaskGroupResp, in table order.
const TASK_GROUP_RESP_FIELDS: &str = "group_id status error_reason src_node description dst_node \
    enable_metadata_migration enable_failed_object_recording enable_restore task_type \
    bandwidth_policy smn_config source_cdn migrate_since migrate_speed total_time start_time \
    total_task_num create_task_num failed_task_num complete_task_num paused_task_num \
    executing_task_num waiting_task_num total_num create_complete_num success_num fail_num \
    skip_num total_size create_complete_size complete_size failed_object_record \
    object_overwrite_mode dst_storage_policy consistency_check obs_system enable_requester_pays";

fn apply(mut body: Value, changes: &[(&str, Value)]) -> Value {
    for (path, value) in changes {
        set(&mut body, path, value.clone());
    }
    body
}

fn base() -> Value {
    serde_json::from_str(SDK_CREATE_TASK_GROUP).unwrap()
}

fn create(body: &Value) -> Result<(GroupSpec, TaskSecrets), ApiError> {
    parse_body::<CreateTaskGroupReq>(body.to_string().as_bytes())?.into_domain()
}

fn with(changes: &[(&str, Value)]) -> Result<(GroupSpec, TaskSecrets), ApiError> {
    create(&apply(base(), changes))
}

fn retry(changes: &[(&str, Value)]) -> Result<RetryGroup, ApiError> {
    let body = apply(json!({}), changes).to_string();
    parse_body::<RetryTaskGroupReq>(body.as_bytes())?.into_domain()
}

fn start(changes: &[(&str, Value)]) -> Result<TaskSecrets, ApiError> {
    let body = apply(json!({"dst_ak": "a", "dst_sk": "b"}), changes).to_string();
    parse_body::<StartTaskGroupReq>(body.as_bytes())?.into_domain()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

fn names(names: &str) -> BTreeSet<String> {
    names.split_whitespace().map(String::from).collect()
}

#[test]
fn test_retry_captured_and_empty_bodies() {
    let parsed = parse_body::<RetryTaskGroupReq>(CAPTURED_RETRY).unwrap();
    let retry_group = parsed.into_domain().unwrap();
    assert!(retry_group.migrate_failed_object);
    let secrets = retry_group.secrets.unwrap();
    assert_eq!(secrets.src.access_key, "SRC_AK");
    assert_eq!(secrets.src.secret_key.expose(), "SRC_SK");
    assert_eq!(secrets.dst.access_key, "DST_AK");
    assert_eq!(secrets.dst.secret_key.expose(), "DST_SK");
    assert_eq!(secrets.cdn_key, None);
    for body in [&b"{}"[..], b"", b" \n"] {
        let retry_group = parse_body::<RetryTaskGroupReq>(body).unwrap();
        let retry_group = retry_group.into_domain().unwrap();
        assert!(!retry_group.migrate_failed_object && retry_group.secrets.is_none());
    }
    // Crypto settings and the flag are not credentials; an empty key is one (0..100).
    let flags = [
        ("migrate_failed_object", json!(false)),
        ("dst_crypto_type", json!("DEFAULT")),
    ];
    assert_eq!(retry(&flags).unwrap(), RetryGroup::default());
    let empty_key = retry(&[("src_ak", json!(""))]).unwrap();
    assert!(empty_key.secrets.unwrap().src.is_anonymous());
    let cdn_only = retry(&[("source_cdn_authentication_key", json!("k"))]).unwrap();
    assert_eq!(cdn_only.secrets.unwrap().cdn_key.unwrap().expose(), "k");
    // Legacy and unknown fields are ignored.
    assert!(retry(&[("enable_kms", json!(true))]).is_ok());
}

#[test]
fn test_retry_limits_at_and_past_the_boundary() {
    let limits: [(&str, usize); 7] = [
        ("src_ak", 100),
        ("src_sk", 100),
        ("dst_ak", 100),
        ("dst_sk", 100),
        ("json_auth_file", 65535),
        ("source_cdn_authentication_key", 255),
        ("connection_string", 2048),
    ];
    for (field, max) in limits {
        let accepted = retry(&[(field, text(max))]);
        assert!(accepted.unwrap().secrets.is_some(), "{field} at {max}");
        assert_invalid(retry(&[(field, text(max + 1))]), field);
    }
    let error = retry(&[("src_ak", text(101))]).unwrap_err();
    assert_eq!(error.to_string(), "invalid src_ak: length 101 exceeds 100");
    for (crypto, kms) in [
        ("src_crypto_type", "src_kms_key_id"),
        ("dst_crypto_type", "dst_kms_key_id"),
        ("source_cdn_crypto_type", "source_cdn_kms_key_id"),
    ] {
        assert!(retry(&[(crypto, json!("DEFAULT")), (kms, text(36))]).is_ok());
        assert_invalid(retry(&[(kms, text(35))]), kms);
        assert_invalid(retry(&[(kms, text(37))]), kms);
        assert_invalid(retry(&[(crypto, json!("KMS")), (kms, text(36))]), crypto);
        assert_invalid(retry(&[(crypto, json!("XOR"))]), crypto);
    }
}

#[test]
fn test_retry_wrong_types_are_format_errors() {
    for (field, value) in [
        ("migrate_failed_object", json!("yes")),
        ("src_ak", json!(5)),
        ("dst_sk", json!(["x"])),
    ] {
        let error = retry(&[(field, value)]).unwrap_err();
        assert_eq!(error.error_code(), "OMS.0002", "{error}");
        assert!(error.to_string().contains(field), "{error}");
    }
    let not_json = parse_body::<RetryTaskGroupReq>(b"{migrate").unwrap_err();
    assert_eq!(not_json.error_code(), "OMS.0067");
}

#[test]
fn test_start_group_limits() {
    let secrets = start(&[]).unwrap();
    assert_eq!(secrets.dst.access_key, "a");
    assert_eq!(secrets.dst.secret_key.expose(), "b");
    assert!(secrets.src.is_anonymous());
    for field in ["dst_ak", "dst_sk"] {
        assert!(start(&[(field, text(100))]).is_ok());
        assert_invalid(start(&[(field, text(0))]), field);
        assert_invalid(start(&[(field, text(101))]), field);
    }
    for (field, other) in [("src_ak", "src_sk"), ("src_sk", "src_ak")] {
        assert!(start(&[(field, text(100)), (other, text(1))]).is_ok());
        assert_invalid(start(&[(field, text(0)), (other, text(1))]), field);
        assert_invalid(start(&[(field, text(101)), (other, text(1))]), field);
        assert_invalid(start(&[(field, text(5))]), other);
    }
    for (field, max) in [
        ("connection_string", 2048),
        ("json_auth_file", 65535),
        ("source_cdn_authentication_key", 255),
    ] {
        assert!(start(&[(field, text(max))]).is_ok(), "{field}");
        assert_invalid(start(&[(field, text(max + 1))]), field);
    }
    let kms = [("dst_crypto_type", json!("KMS"))];
    assert_invalid(start(&kms), "dst_crypto_type");
    for body in [&br#"{"dst_ak": "a"}"#[..], b""] {
        let error = parse_body::<StartTaskGroupReq>(body).unwrap_err();
        assert_eq!(error.error_code(), "OMS.0002", "{error}");
    }
}

#[test]
fn test_sdk_create_body_parses() {
    let (spec, secrets) = create(&base()).unwrap();
    assert_eq!(spec.task_type, GroupTaskType::Prefix);
    assert_eq!(spec.src.cloud_type, CloudType::Aws);
    assert_eq!(spec.src.object_keys, vec!["data/", "logs/2024/"]);
    assert_eq!((spec.src.key_range, spec.src.list_file), (None, None));
    assert_eq!(spec.dst.cloud_type, CloudType::HuaweiCloud);
    assert_eq!(spec.dst.bucket, "dst-bucket");
    assert_eq!(spec.dst.save_prefix, "aws/");
    assert_eq!(spec.description, "nightly bulk copy");
    assert_eq!(spec.migrate_since_s, Some(1_700_000_000));
    assert_eq!(spec.bandwidth_policy.limit_at(60), Some(52_428_800));
    assert_eq!(spec.object_overwrite_mode, OverwriteMode::Crc64);
    assert_eq!(spec.consistency_check, ConsistencyCheck::Crc64);
    assert_eq!(spec.dst_storage_policy, "IA");
    assert!(spec.enable_metadata_migration && spec.enable_failed_object_recording);
    assert!(!spec.enable_restore && !spec.enable_requester_pays);
    assert_eq!(secrets.src.secret_key.expose(), "SRC_SK");
    assert_eq!(secrets.dst.access_key, "DST_AK");
    let echo = TaskEcho::parse(&spec.echo_json);
    assert_eq!(echo.smn_config.unwrap().language.as_deref(), Some("en-us"));

    // Defaults: PREFIX, Aliyun source, HEC destination, failed-object recording on.
    let mut body = base();
    let defaulted =
        "task_type src_node.cloud_type dst_node.cloud_type enable_failed_object_recording";
    for field in defaulted.split(' ') {
        remove(&mut body, field);
    }
    let (spec, _) = create(&body).unwrap();
    assert_eq!(spec.task_type, GroupTaskType::Prefix);
    assert_eq!(spec.src.cloud_type, CloudType::Aliyun);
    assert_eq!(spec.dst.cloud_type, CloudType::HuaweiCloud);
    assert!(spec.enable_failed_object_recording);
}

#[test]
fn test_create_refusals_name_the_field() {
    let cdn = |extra: &[(&str, Value)]| {
        let cdn = json!({"authentication_type": "ALIYUN_OSS_A", "domain": "c.example.com", "protocol": "https"});
        apply(cdn, extra)
    };
    let window = |max: i64| json!([{"start": "00:00", "end": "08:00", "max_bandwidth": max}]);
    // Refused, naming the field that was set.
    let refused: [(&str, Value); 22] = [
        ("task_type", json!("prefix")),
        ("task_type", json!("OBJECT")),
        ("task_type", json!("")),
        ("object_overwrite_mode", json!("full")),
        ("consistency_check", json!("md5")),
        ("dst_storage_policy", json!("COLD")),
        ("src_node.cloud_type", json!("Dropbox")),
        ("src_node.cloud_type", json!("URLSource")),
        ("dst_node.cloud_type", json!("URLSource")),
        ("src_node.region", json!("")),
        ("src_node.bucket", json!("")),
        ("dst_node.region", json!("")),
        ("dst_node.bucket", json!("")),
        ("src_node.object_key", json!([])),
        ("dst_node.save_prefix", text(1025)),
        ("src_node.crypto_type", json!("KMS")),
        ("dst_node.crypto_type", json!("KMS")),
        ("src_node.kms_key_id", text(37)),
        ("dst_node.kms_key_id", text(35)),
        ("migrate_since", json!(-1)),
        ("migrate_since", json!(1_700_000_000_000_i64)),
        ("smn_config.language", json!("fr-fr")),
    ];
    let overlap = json!([
        {"start": "22:00", "end": "02:00", "max_bandwidth": 1_048_576},
        {"start": "01:00", "end": "03:00", "max_bandwidth": 1_048_576}
    ]);
    let long_key = json!(["a", "k".repeat(1021)]);
    let kms_cdn = [
        ("authentication_key", text(1)),
        ("crypto_type", json!("KMS")),
    ];
    let (kms_cdn, ftp_cdn) = (cdn(&kms_cdn), cdn(&[("protocol", json!("ftp"))]));
    let (low, long_cdn_key) = (window(1_048_575), cdn(&[("authentication_key", text(256))]));
    let (trigger, bad_trigger) = ("smn_config.trigger_conditions", json!(["SUCCESS", "DONE"]));
    // Refused, naming another field (or an element).
    let refused_elsewhere: [(&str, Value, &str); 10] = [
        ("task_type", json!("LIST"), "src_node.list_file"),
        ("src_node.cloud_type", json!("Tencent"), "src_node.app_id"),
        ("src_node.object_key", long_key, "src_node.object_key[1]"),
        ("bandwidth_policy", overlap, "bandwidth_policy[1]"),
        ("bandwidth_policy", low, "bandwidth_policy[0].max_bandwidth"),
        ("source_cdn", cdn(&[]), "source_cdn.authentication_key"),
        ("source_cdn", long_cdn_key, "source_cdn.authentication_key"),
        ("source_cdn", kms_cdn, "source_cdn.crypto_type"),
        ("source_cdn", ftp_cdn, "source_cdn.protocol"),
        (trigger, bad_trigger, "smn_config.trigger_conditions[1]"),
    ];
    let cases = refused.into_iter().map(|(path, value)| (path, value, path));
    for (path, value, field) in cases.chain(refused_elsewhere) {
        let result = with(&[(path, value.clone())]);
        assert!(result.is_err(), "{path} = {value} was accepted");
        assert_invalid(result, field);
    }
    let forbidden = with(&[("description", json!("a<b"))]).unwrap_err();
    assert_eq!(forbidden.error_code(), "OMS.0078");
    let accepted: [(&str, Value); 7] = [
        ("src_node.object_key", json!([""])),
        ("src_node.object_key", json!(["k".repeat(1020)])),
        ("src_node.crypto_type", json!("DEFAULT")),
        ("dst_node.kms_key_id", text(36)),
        ("migrate_since", json!(0)),
        ("bandwidth_policy", window(209_715_200)),
        ("source_cdn", cdn(&[("authentication_key", text(255))])),
    ];
    for (path, value) in accepted {
        let result = with(&[(path, value.clone())]);
        assert!(result.is_ok(), "{path} = {value}: {result:?}");
    }
}

#[test]
fn test_create_lengths_and_required_fields() {
    let limits: [(&str, usize); 14] = [
        ("description", 255),
        ("src_node.ak", 100),
        ("src_node.sk", 100),
        ("src_node.connection_string", 2048),
        ("src_node.json_auth_file", 65535),
        ("src_node.app_id", 255),
        ("src_node.bucket", 63),
        ("src_node.region", 100),
        ("dst_node.ak", 100),
        ("dst_node.sk", 100),
        ("dst_node.bucket", 63),
        ("dst_node.region", 100),
        ("smn_config.topic_urn", 512),
        ("smn_config.message_template_name", 64),
    ];
    for (field, max) in limits {
        assert!(with(&[(field, text(max))]).is_ok(), "{field} at {max}");
        assert_invalid(with(&[(field, text(max + 1))]), field);
    }
    let cdn = json!({"authentication_type": "NONE", "domain": text(255), "protocol": "http"});
    assert!(with(&[("source_cdn", cdn.clone())]).is_ok());
    assert_invalid(
        with(&[("source_cdn", cdn), ("source_cdn.domain", text(256))]),
        "source_cdn.domain",
    );
    for field in "src_node.region src_node.ak src_node.sk src_node.bucket".split(' ') {
        let mut body = base();
        remove(&mut body, field);
        assert_invalid(create(&body), field);
    }
    for field in "dst_node.ak dst_node.sk dst_node.region dst_node.bucket".split(' ') {
        let mut body = base();
        remove(&mut body, field);
        let error = create(&body).unwrap_err();
        assert_eq!(error.error_code(), "OMS.0002", "{error}");
        let name = field.rsplit('.').next().unwrap();
        assert!(error.to_string().contains(name), "{error}");
    }
    // Empty keys are in range (0..100) and mean anonymous access.
    let (_, secrets) = with(&[("src_node.ak", json!("")), ("src_node.sk", json!(""))]).unwrap();
    assert!(secrets.src.is_anonymous());
    let tencent = [
        ("src_node.cloud_type", json!("Tencent")),
        ("src_node.app_id", text(9)),
    ];
    assert_eq!(with(&tencent).unwrap().0.src.app_id, Some("a".repeat(9)));
    // Cross-field messages speak the group's task types.
    let mut body = base();
    remove(&mut body, "src_node.object_key");
    let missing = create(&body).unwrap_err().to_string();
    assert!(
        missing.ends_with("object_key: is required for task_type PREFIX"),
        "{missing}"
    );
    let url_source = with(&[("src_node.cloud_type", json!("URLSource"))]);
    let url_source = url_source.unwrap_err().to_string();
    assert!(
        url_source.ends_with("requires task_type URL_LIST"),
        "{url_source}"
    );
}

#[test]
fn test_create_list_and_url_list() {
    let list = |list_file: Value| {
        with(&[
            ("task_type", json!("LIST")),
            ("src_node.list_file", list_file),
        ])
    };
    let (spec, _) = list(json!({"list_file_key": "keys.txt", "obs_bucket": ""})).unwrap();
    assert_eq!(spec.task_type, GroupTaskType::List);
    assert!(spec.src.object_keys.is_empty());
    let list_file = spec.src.list_file.unwrap();
    assert_eq!(
        list_file.bucket, "dst-bucket",
        "empty obs_bucket = destination bucket"
    );
    assert_eq!(list_file.key, "keys.txt");
    assert!(list(json!({"list_file_key": text(1024), "obs_bucket": text(1024)})).is_ok());
    for (field, key, bucket) in [
        ("list_file_key", 0, 1),
        ("list_file_key", 1025, 1),
        ("obs_bucket", 1, 1025),
    ] {
        let result = list(json!({"list_file_key": text(key), "obs_bucket": text(bucket)}));
        assert_invalid(result, &format!("src_node.list_file.{field}"));
    }

    let url_list = json!({
        "task_type": "URL_LIST",
        "src_node": {"list_file": {"list_file_key": "urls.txt", "obs_bucket": "lists"}},
        "dst_node": {"ak": "DST_AK", "sk": "DST_SK", "region": "cn-north-4", "bucket": "d"}
    });
    let (spec, secrets) = create(&url_list).unwrap();
    assert_eq!(spec.task_type, GroupTaskType::UrlList);
    assert_eq!(spec.src.cloud_type, CloudType::UrlSource);
    assert!(secrets.src.is_anonymous());
    let aliyun = apply(
        url_list.clone(),
        &[("src_node.cloud_type", json!("Aliyun"))],
    );
    assert_eq!(
        create(&aliyun).unwrap_err().to_string(),
        "invalid src_node.cloud_type: must be URLSource for task_type URL_LIST"
    );
    let mut body = apply(url_list, &[("src_node.cloud_type", json!("URLSource"))]);
    remove(&mut body, "src_node.list_file");
    assert_invalid(create(&body), "src_node.list_file");
}

fn group(body: &Value) -> TaskGroup {
    let (spec, _) = create(body).unwrap();
    TaskGroup {
        id: GroupId("3b5e5a4a-1b2c-4d5e-8f90-123456789abc".into()),
        project_id: "0123456789abcdef0123456789abcdef".into(),
        spec,
        status: GroupStatus::Monitoring,
        split: SplitProgress {
            task_num: 7,
            assigned_num: 70,
            assigned_size: 7000,
            ..SplitProgress::default()
        },
        created_at_ms: 1_700_000_000_000,
        start_time_ms: Some(1_700_000_100_000),
        error_reason: None,
    }
}

fn totals() -> GroupTotals {
    GroupTotals {
        task_num: 6,
        failed_task_num: 1,
        complete_task_num: 2,
        paused_task_num: 0,
        executing_task_num: 2,
        waiting_task_num: 1,
        counters: Counters {
            total_num: 50,
            successful_num: 30,
            skipped_num: 5,
            failed_num: 2,
            total_size: 9000,
            successful_size: 3000,
            skipped_size: 500,
            failed_size: 200,
        },
        migrate_speed: 4096,
        total_time_ms: 120_000,
    }
}

fn response_json(group: &TaskGroup, totals: &GroupTotals) -> Value {
    serde_json::to_value(TaskGroupResp::from_group(group, totals, 1_700_000_900_000)).unwrap()
}

#[test]
fn test_full_group_serializes_every_table_field_without_secrets() {
    let cdn = json!({"authentication_type": "ALIYUN_OSS_A", "domain": "c.example.com", "protocol": "https", "authentication_key": "CDN-SECRET"});
    let mut group = group(&apply(base(), &[("source_cdn", cdn)]));
    group.error_reason = Some(tern_core::FailureReason::new(
        tern_core::FailureCode::ObjectsFailed,
        "1 of 6 tasks failed",
    ));
    let json = response_json(&group, &totals());
    // Every field but failed_object_record, which each task of the group reports for itself.
    let mut expected = names(TASK_GROUP_RESP_FIELDS);
    assert_eq!(expected.len(), 38);
    expected.remove("failed_object_record");
    assert_eq!(keys(&json), expected);
    let text = json.to_string();
    for secret in ["CDN-SECRET", "SRC_SK", "DST_SK", "SRC_AK", "DST_AK"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    let expected = json!({
        "group_id": "3b5e5a4a-1b2c-4d5e-8f90-123456789abc", "status": 2,
        "error_reason": {"error_code": "TRF.0062", "error_msg": "1 of 6 tasks failed"},
        "src_node": {"bucket": "src-bucket", "cloud_type": "AWS", "region": "us-east-1",
                     "app_id": "", "object_key": ["data/", "logs/2024/"]},
        "description": "nightly bulk copy",
        "dst_node": {"bucket": "dst-bucket", "region": "cn-north-4", "save_prefix": "aws/"},
        "enable_metadata_migration": true, "enable_failed_object_recording": true,
        "enable_restore": false, "task_type": "PREFIX",
        "bandwidth_policy": [{"end": "08:00", "max_bandwidth": 52_428_800, "start": "00:00"}],
        "smn_config": {"topic_urn": "urn:smn:cn-north-4:p:t", "trigger_conditions": ["FAILURE"],
                       "language": "en-us"},
        "source_cdn": {"domain": "c.example.com", "protocol": "https",
                       "authentication_type": "ALIYUN_OSS_A"},
        "migrate_since": 1_700_000_000_000_i64, "migrate_speed": 4096, "total_time": 120_000,
        "start_time": 1_700_000_100_000_i64,
        // The splitter's task_num leads the tasks stored so far.
        "total_task_num": 7, "create_task_num": 7, "failed_task_num": 1,
        "complete_task_num": 2, "paused_task_num": 0, "executing_task_num": 2,
        "waiting_task_num": 1,
        // Objects assigned lead objects the tasks listed; bytes listed lead bytes assigned.
        "total_num": 70, "create_complete_num": 70, "success_num": 30, "fail_num": 2,
        "skip_num": 5, "total_size": 9000, "create_complete_size": 7000, "complete_size": 3000,
        "object_overwrite_mode": "CRC64_COMPARISON_OVERWRITE", "dst_storage_policy": "IA",
        "consistency_check": "crc64", "obs_system": "BUCKET", "enable_requester_pays": false
    });
    assert_eq!(json, expected);
}

#[test]
fn test_group_counts_follow_the_larger_source() {
    let group = group(&base());
    let mut done = group.clone();
    done.split.done = true;
    let mut ahead = totals();
    ahead.task_num = 9;
    ahead.counters.total_num = 90;
    let json = response_json(&done, &ahead);
    assert!(json["total_task_num"] == 9 && json["create_task_num"] == 7);
    assert!(json["total_num"] == 90 && json["create_complete_num"] == 70);

    let mut fresh = group;
    fresh.status = GroupStatus::Waiting;
    fresh.start_time_ms = None;
    fresh.split = SplitProgress::default();
    let json = response_json(&fresh, &GroupTotals::default());
    assert_eq!(json["start_time"], 1_700_000_000_000_i64, "creation time");
    assert!(json["status"] == 0 && json["total_num"] == 0);
    for absent in ["error_reason", "failed_object_record", "source_cdn"] {
        assert!(json.get(absent).is_none(), "{absent} must be omitted");
    }
}

#[test]
fn test_group_cloud_types_list_files_and_wrappers() {
    let mut body = apply(base(), &[("src_node.cloud_type", json!("HuaweiCloud"))]);
    remove(&mut body, "smn_config");
    let json = response_json(&group(&body), &totals());
    assert_eq!(json["src_node"]["cloud_type"], json!("HUAWEICLOUD"));
    assert!(json.get("smn_config").is_none());

    let url_list = json!({
        "task_type": "URL_LIST",
        "src_node": {"list_file": {"list_file_key": "urls.txt", "obs_bucket": "lists", "list_file_num": "2"}},
        "dst_node": {"ak": "a", "sk": "b", "region": "cn-north-4", "bucket": "d"}
    });
    let response = TaskGroupResp::from_group(&group(&url_list), &totals(), 0);
    let list = ListTaskGroupResponse {
        count: 1,
        taskgroups: vec![response],
    };
    let json = serde_json::to_value(list).unwrap();
    assert_eq!(keys(&json), names("count taskgroups"));
    let src = &json["taskgroups"][0]["src_node"];
    assert_eq!(src["cloud_type"], json!("URLSOURCE"));
    assert_eq!(src["object_key"], json!([]));
    assert_eq!(
        src["list_file"],
        json!({"list_file_key": "urls.txt", "obs_bucket": "lists", "list_file_num": "2"})
    );
    assert_eq!(json["taskgroups"][0]["task_type"], json!("URL_LIST"));
    let created = CreateTaskGroupResponse {
        group_id: "g-1".into(),
    };
    let created = serde_json::to_value(created).unwrap();
    assert_eq!(created, json!({"group_id": "g-1"}));
}
