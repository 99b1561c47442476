//! `StartTaskReq`, `UpdateBandwidthPolicyReq` and `BatchUpdateTasksReq` conversions.

use serde_json::{json, Value};
use tern_core::{TaskId, TaskPriority};

use super::tests_create::{assert_invalid, set};
use super::{parse_body, BatchTarget, BatchUpdateTasksReq, StartTaskReq, UpdateBandwidthPolicyReq};

fn start(changes: &[(&str, Value)]) -> Result<(tern_core::TaskSecrets, bool), crate::ApiError> {
    let mut body = json!({"dst_ak": "a", "dst_sk": "b"});
    for (path, value) in changes {
        set(&mut body, path, value.clone());
    }
    parse_body::<StartTaskReq>(body.to_string().as_bytes())?.into_domain()
}

fn text(len: usize) -> Value {
    Value::String("a".repeat(len))
}

fn window() -> Value {
    json!([{"start": "00:01", "end": "23:59", "max_bandwidth": 52_428_800}])
}

#[test]
fn test_start_task_minimal_and_captured_bodies() {
    let (secrets, failed_only) = start(&[]).unwrap();
    assert!(!failed_only);
    assert_eq!(secrets.dst.access_key, "a");
    assert_eq!(secrets.dst.secret_key.expose(), "b");
    assert!(secrets.src.is_anonymous());
    let captured = br#"{"src_ak": "SRC_AK", "src_sk": "SRC_SK", "dst_ak": "DST_AK", "dst_sk": "DST_SK", "migrate_failed_object": true}"#;
    let (secrets, failed_only) = parse_body::<StartTaskReq>(captured)
        .unwrap()
        .into_domain()
        .unwrap();
    assert!(failed_only);
    assert_eq!(secrets.src.access_key, "SRC_AK");
    assert_eq!(secrets.src.secret_key.expose(), "SRC_SK");
    // Legacy and unknown fields are ignored.
    assert!(start(&[("enable_kms", json!(true))]).is_ok());
}

#[test]
fn test_start_task_limits() {
    for field in ["dst_ak", "dst_sk"] {
        assert!(start(&[(field, text(1))]).is_ok());
        assert!(start(&[(field, text(100))]).is_ok());
        assert_invalid(start(&[(field, text(0))]), field);
        assert_invalid(start(&[(field, text(101))]), field);
    }
    for (field, other) in [("src_ak", "src_sk"), ("src_sk", "src_ak")] {
        assert!(start(&[(field, text(1)), (other, text(1))]).is_ok());
        assert!(start(&[(field, text(100)), (other, text(1))]).is_ok());
        assert_invalid(start(&[(field, text(0)), (other, text(1))]), field);
        assert_invalid(start(&[(field, text(101)), (other, text(1))]), field);
        // One without the other is refused, naming the missing one.
        assert_invalid(start(&[(field, text(5))]), other);
    }
    for (field, max) in [
        ("connection_string", 2048),
        ("json_auth_file", 65535),
        ("src_security_token", 16384),
        ("dst_security_token", 16384),
        ("source_cdn_authentication_key", 255),
    ] {
        assert!(start(&[(field, text(max))]).is_ok(), "{field}");
        assert_invalid(start(&[(field, text(max + 1))]), field);
    }
    for (crypto, kms) in [
        ("src_crypto_type", "src_kms_key_id"),
        ("dst_crypto_type", "dst_kms_key_id"),
        ("source_cdn_crypto_type", "source_cdn_kms_key_id"),
    ] {
        assert!(start(&[(crypto, json!("DEFAULT")), (kms, text(36))]).is_ok());
        assert_invalid(start(&[(kms, text(37))]), kms);
        assert_invalid(start(&[(crypto, json!("KMS"))]), crypto);
        assert_invalid(start(&[(crypto, json!("XOR"))]), crypto);
    }
    let missing = parse_body::<StartTaskReq>(br#"{"dst_ak": "a"}"#).unwrap_err();
    assert_eq!(missing.error_code(), "OMS.0002");
    assert!(missing.to_string().contains("dst_sk"));
    let empty = parse_body::<StartTaskReq>(b"").unwrap_err();
    assert_eq!(
        empty.error_code(),
        "OMS.0002",
        "an empty body is {{}}, missing dst_ak"
    );
}

#[test]
fn test_update_bandwidth_policy() {
    let parse = |policy: Value| {
        parse_body::<UpdateBandwidthPolicyReq>(
            json!({ "bandwidth_policy": policy }).to_string().as_bytes(),
        )
        .unwrap()
        .into_domain()
    };
    assert_eq!(parse(json!([])).unwrap().windows().len(), 0);
    assert_eq!(parse(window()).unwrap().limit_at(12 * 60), Some(52_428_800));
    assert_invalid(
        parse(json!([{"start": "00:00", "end": "0800", "max_bandwidth": 1_048_576}])),
        "bandwidth_policy[0].end",
    );
    let missing = parse_body::<UpdateBandwidthPolicyReq>(b"{}").unwrap_err();
    assert_eq!(missing.error_code(), "OMS.0002");
}

#[test]
fn test_batch_update_targets() {
    let batch = |changes: &[(&str, Value)]| {
        let mut body = json!({ "bandwidth_policy": window() });
        for (path, value) in changes {
            set(&mut body, path, value.clone());
        }
        parse_body::<BatchUpdateTasksReq>(body.to_string().as_bytes())?.into_domain()
    };
    let update = batch(&[("group_id", json!("3b5e5a4a-1b2c-4d5e-8f90-123456789abc"))]).unwrap();
    assert_eq!(
        update.target,
        BatchTarget::Group("3b5e5a4a-1b2c-4d5e-8f90-123456789abc".into())
    );
    assert_eq!(update.task_priority, None);
    assert!(batch(&[("group_id", text(36))]).is_ok());
    assert_invalid(batch(&[("group_id", text(37))]), "group_id");
    assert_invalid(batch(&[("group_id", text(0))]), "group_id");

    let update = batch(&[
        ("ids", json!([1, 191297407830872_i64])),
        ("task_priority", json!("HIGH")),
    ])
    .unwrap();
    assert_eq!(
        update.target,
        BatchTarget::Tasks(vec![TaskId(1), TaskId(191_297_407_830_872)])
    );
    assert_eq!(update.task_priority, Some(TaskPriority::High));
    let ids = |n: i64| Value::Array((0..n).map(Value::from).collect());
    assert!(batch(&[("ids", ids(20))]).is_ok());
    assert_invalid(batch(&[("ids", ids(21))]), "ids");
    assert_invalid(batch(&[("ids", json!([3, -1]))]), "ids[1]");

    assert_invalid(batch(&[("ids", ids(1)), ("group_id", json!("g"))]), "ids");
    assert_invalid(batch(&[]), "group_id");
    assert_invalid(
        batch(&[("group_id", json!("g")), ("task_priority", json!("URGENT"))]),
        "task_priority",
    );
    let overlap = json!([
        {"start": "22:00", "end": "02:00", "max_bandwidth": 1_048_576},
        {"start": "01:00", "end": "03:00", "max_bandwidth": 1_048_576}
    ]);
    assert_invalid(
        batch(&[("group_id", json!("g")), ("bandwidth_policy", overlap)]),
        "bandwidth_policy[1]",
    );
}
