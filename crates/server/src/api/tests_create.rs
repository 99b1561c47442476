//! `CreateTaskReq` conversion: every limit at its boundary and one past it, every enum, every
//! cross-field rule, and the body the SDK really sends.

use serde_json::{json, Value};
use tern_core::{
    CloudType, ConsistencyCheck, OverwriteMode, TaskPriority, TaskSecrets, TaskSpec, TaskType,
};

use super::{parse_body, CreateTaskReq, TaskEcho};
use crate::ApiError;

/// The `create_task` body captured from the SDK (REFERENCE.md §5.4), verbatim.
const CAPTURED_CREATE_TASK: &str = r#"{"task_type": "object", "src_node": {"cloud_type": "Aliyun", "region": "cn-hangzhou", "ak": "x", "sk": "y", "bucket": "b", "object_key": ["a/", "b.txt"]}, "dst_node": {"ak": "x", "sk": "y", "bucket": "d", "region": "cn-north-4"}, "bandwidth_policy": [{"end": "08:00", "max_bandwidth": 1048576, "start": "00:00"}], "smn_config": {"topic_urn": "urn:smn:cn-north-4:p:t", "trigger_conditions": ["FAILURE", "SUCCESS"]}}"#;

pub(super) fn base() -> Value {
    serde_json::from_str(CAPTURED_CREATE_TASK).unwrap()
}

/// Sets `value` at a dotted path, creating objects on the way.
pub(super) fn set(body: &mut Value, path: &str, value: Value) {
    let mut node = body;
    let parts: Vec<&str> = path.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        node = node
            .as_object_mut()
            .unwrap()
            .entry(part.to_string())
            .or_insert_with(|| json!({}));
    }
    node.as_object_mut()
        .unwrap()
        .insert(parts[parts.len() - 1].to_owned(), value);
}

pub(super) fn remove(body: &mut Value, path: &str) {
    let (parent, last) = path.rsplit_once('.').unwrap_or(("", path));
    let node = if parent.is_empty() {
        body
    } else {
        body.pointer_mut(&format!("/{}", parent.replace('.', "/")))
            .unwrap()
    };
    node.as_object_mut().unwrap().remove(last);
}

pub(super) fn create(body: &Value) -> Result<(TaskSpec, TaskSecrets), ApiError> {
    let request: CreateTaskReq = parse_body(body.to_string().as_bytes())?;
    request.into_domain()
}

pub(super) fn with(changes: &[(&str, Value)]) -> Result<(TaskSpec, TaskSecrets), ApiError> {
    let mut body = base();
    for (path, value) in changes {
        set(&mut body, path, value.clone());
    }
    create(&body)
}

#[track_caller]
pub(super) fn assert_invalid<T: std::fmt::Debug>(result: Result<T, ApiError>, field: &str) {
    let error = result.unwrap_err();
    assert_eq!(error.error_code(), "OMS.0001", "{error}");
    assert_eq!(error.status().as_u16(), 400);
    assert!(
        error.to_string().starts_with(&format!("invalid {field}:")),
        "expected field {field}, got: {error}"
    );
}

pub(super) fn text(len: usize) -> Value {
    Value::String("a".repeat(len))
}

pub(super) fn url_list() -> Value {
    json!({
        "task_type": "url_list",
        "src_node": {"cloud_type": "URLSource", "list_file": {"list_file_key": "urls.txt", "obs_bucket": "lists"}},
        "dst_node": {"ak": "x", "sk": "y", "bucket": "d", "region": "cn-north-4"}
    })
}

#[test]
fn test_captured_sdk_body_parses() {
    let (spec, secrets) = create(&base()).unwrap();
    assert_eq!(spec.task_type, TaskType::Object);
    assert_eq!(spec.src.cloud_type, CloudType::Aliyun);
    assert_eq!(spec.src.region, "cn-hangzhou");
    assert_eq!(spec.src.bucket, "b");
    assert_eq!(spec.src.object_keys, vec!["a/", "b.txt"]);
    assert_eq!(spec.dst.cloud_type, CloudType::HuaweiCloud);
    assert_eq!(
        (spec.dst.bucket.as_str(), spec.dst.region.as_str()),
        ("d", "cn-north-4")
    );
    assert_eq!(spec.bandwidth_policy.windows().len(), 1);
    assert_eq!(spec.bandwidth_policy.limit_at(60), Some(1_048_576));
    assert_eq!(spec.object_overwrite_mode, OverwriteMode::SizeLastModified);
    assert_eq!(spec.consistency_check, ConsistencyCheck::SizeLastModified);
    assert_eq!(spec.dst_storage_policy, "STANDARD");
    assert_eq!(spec.task_priority, TaskPriority::Medium);
    assert!(spec.enable_failed_object_recording);
    assert!(!spec.enable_metadata_migration && !spec.enable_restore);
    assert_eq!(spec.migrate_since_s, None);
    assert_eq!(secrets.src.access_key, "x");
    assert_eq!(secrets.src.secret_key.expose(), "y");
    assert_eq!(secrets.dst.secret_key.expose(), "y");
    let echo = TaskEcho::parse(&spec.echo_json);
    let smn = echo.smn_config.unwrap();
    assert_eq!(smn.trigger_conditions, vec!["FAILURE", "SUCCESS"]);
    assert!(echo.source_cdn.is_none());
}

#[test]
fn test_unknown_legacy_fields_are_ignored() {
    let result = with(&[
        ("enable_kms", json!(false)),
        ("src_node.enable_kms", json!(false)),
        ("dst_node.obs_system", json!("BUCKET")),
        ("smn_config.something_new", json!([1, 2])),
    ]);
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn test_enable_kms_true_is_refused_by_name() {
    let refused = with(&[("enable_kms", json!(true))]).unwrap_err();
    assert!(refused.to_string().contains("enable_kms"), "{refused}");
}

#[test]
fn test_length_limits_at_and_past_the_boundary() {
    let limits: [(&str, usize); 10] = [
        ("description", 255),
        ("src_node.ak", 100),
        ("src_node.sk", 100),
        ("src_node.connection_string", 2048),
        ("src_node.json_auth_file", 65535),
        ("src_node.security_token", 16384),
        ("src_node.app_id", 255),
        ("dst_node.ak", 100),
        ("dst_node.sk", 100),
        ("dst_node.security_token", 16384),
    ];
    for (field, max) in limits {
        assert!(with(&[(field, text(max))]).is_ok(), "{field} at {max}");
        assert_invalid(with(&[(field, text(max + 1))]), field);
    }
    let cdn = json!({"authentication_type": "ALIYUN_OSS_A", "domain": "cdn.example.com", "protocol": "https"});
    let mut body = base();
    set(&mut body, "source_cdn", cdn);
    set(&mut body, "source_cdn.authentication_key", text(255));
    assert!(create(&body).is_ok());
    set(&mut body, "source_cdn.authentication_key", text(256));
    assert_invalid(create(&body), "source_cdn.authentication_key");
}

#[test]
fn test_bucket_region_cdn_and_smn_lengths_are_bounded() {
    // Fields OMS gives no length: a 300,000-character bucket was stored before these limits.
    let limits: [(&str, usize, usize); 7] = [
        ("src_node.bucket", 1, 63),
        ("dst_node.bucket", 1, 63),
        ("src_node.region", 1, 100),
        ("dst_node.region", 1, 100),
        ("smn_config.topic_urn", 1, 512),
        ("smn_config.message_template_name", 0, 64),
        ("source_cdn.domain", 1, 255),
    ];
    let cdn =
        json!({"authentication_type": "NONE", "domain": "cdn.example.com", "protocol": "https"});
    for (field, min, max) in limits {
        let mut body = base();
        set(&mut body, "source_cdn", cdn.clone());
        set(&mut body, field, text(max));
        assert!(create(&body).is_ok(), "{field} at {max}");
        set(&mut body, field, text(min));
        assert!(create(&body).is_ok(), "{field} at {min}");
        set(&mut body, field, text(max + 1));
        assert_invalid(create(&body), field);
        set(&mut body, field, text(300_000));
        assert_invalid(create(&body), field);
    }
    // Google bucket names with dots may have 222 characters.
    let google = [
        ("src_node.cloud_type", json!("Google")),
        ("src_node.json_auth_file", json!("{}")),
    ];
    let mut changes = google.to_vec();
    changes.push(("src_node.bucket", text(222)));
    assert!(with(&changes).is_ok());
    changes.push(("src_node.bucket", text(223)));
    assert_invalid(with(&changes), "src_node.bucket");
    assert_invalid(
        with(&[(
            "smn_config.trigger_conditions",
            json!(["SUCCESS", "FAILURE", "SUCCESS"]),
        )]),
        "smn_config.trigger_conditions",
    );
}

#[test]
fn test_url_list_source_bucket_and_region_are_bounded_too() {
    for (field, max) in [("src_node.bucket", 63), ("src_node.region", 100)] {
        let mut body = url_list();
        set(&mut body, field, text(max));
        assert!(create(&body).is_ok(), "{field} at {max}");
        set(&mut body, field, text(max + 1));
        assert_invalid(create(&body), field);
    }
    let mut body = url_list();
    set(&mut body, "src_node.list_file.list_file_num", json!("3"));
    assert!(create(&body).is_ok());
    set(&mut body, "src_node.list_file.list_file_num", text(256));
    assert_invalid(create(&body), "src_node.list_file.list_file_num");
}

#[test]
fn test_list_file_limits() {
    for (field, min, max) in [
        ("src_node.list_file.list_file_key", 1, 1024),
        ("src_node.list_file.obs_bucket", 0, 1024),
    ] {
        let mut body = url_list();
        set(&mut body, field, text(max));
        assert!(create(&body).is_ok(), "{field} at {max}");
        set(&mut body, field, text(min));
        assert!(create(&body).is_ok(), "{field} at {min}");
        set(&mut body, field, text(max + 1));
        assert_invalid(create(&body), field);
    }
    let mut body = url_list();
    set(&mut body, "src_node.list_file.list_file_key", text(0));
    assert_invalid(create(&body), "src_node.list_file.list_file_key");
    // An empty obs_bucket means the destination bucket.
    set(&mut body, "src_node.list_file.list_file_key", text(3));
    set(&mut body, "src_node.list_file.obs_bucket", text(0));
    let (spec, _) = create(&body).unwrap();
    assert_eq!(spec.src.list_file.unwrap().bucket, "d");
}

/// Fields a task type ignores are still bounded as the OpenAPI document states.
#[test]
fn test_ignored_list_file_and_object_keys_are_still_bounded() {
    let mut body = base();
    set(
        &mut body,
        "src_node.list_file",
        json!({"list_file_key": "k", "obs_bucket": ""}),
    );
    assert!(create(&body).is_ok());
    set(&mut body, "src_node.list_file.list_file_key", text(1025));
    assert_invalid(create(&body), "src_node.list_file.list_file_key");

    let mut body = url_list();
    set(&mut body, "src_node.object_key", json!(["a", "b"]));
    assert!(create(&body).is_ok());
    set(&mut body, "src_node.object_key", json!(["a", text(1025)]));
    assert_invalid(create(&body), "src_node.object_key[1]");
}

#[test]
fn test_kms_key_ids_must_be_36_characters() {
    let cdn =
        json!({"authentication_type": "NONE", "domain": "cdn.example.com", "protocol": "http"});
    for field in [
        "src_node.kms_key_id",
        "dst_node.kms_key_id",
        "source_cdn.kms_key_id",
    ] {
        let mut body = base();
        set(&mut body, "source_cdn", cdn.clone());
        set(&mut body, field, text(36));
        assert!(create(&body).is_ok(), "{field}");
        set(&mut body, field, text(35));
        assert_invalid(create(&body), field);
        set(&mut body, field, text(37));
        assert_invalid(create(&body), field);
    }
    for field in ["src_node.crypto_type", "dst_node.crypto_type"] {
        assert!(with(&[(field, json!("DEFAULT"))]).is_ok());
        assert_invalid(with(&[(field, json!("KMS"))]), field);
        assert_invalid(with(&[(field, json!("AES"))]), field);
    }
}

#[test]
fn test_description_forbidden_characters() {
    assert!(with(&[("description", json!("nightly copy (prod) #1"))]).is_ok());
    for forbidden in ["^", "<", ">", "&", "\"", "'"] {
        let error = with(&[("description", json!(format!("a{forbidden}b")))]).unwrap_err();
        assert_eq!(error.error_code(), "OMS.0078", "{forbidden}");
        assert!(error.to_string().contains("description"));
    }
}

#[test]
fn test_every_enum_accepts_its_values_and_refuses_others() {
    let enums: [(&str, &[&str]); 7] = [
        (
            "object_overwrite_mode",
            &[
                "NO_OVERWRITE",
                "SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE",
                "CRC64_COMPARISON_OVERWRITE",
                "FULL_OVERWRITE",
            ],
        ),
        (
            "consistency_check",
            &["size_last_modified", "crc64", "no_check"],
        ),
        (
            "dst_storage_policy",
            &[
                "STANDARD",
                "IA",
                "ARCHIVE",
                "DEEP_ARCHIVE",
                "SRC_STORAGE_MAPPING",
            ],
        ),
        ("task_priority", &["HIGH", "MEDIUM", "LOW"]),
        (
            "src_node.cloud_type",
            &[
                "AWS",
                "Azure",
                "Aliyun",
                "HuaweiCloud",
                "QingCloud",
                "KingsoftCloud",
                "Baidu",
                "Qiniu",
                "Google",
                "UCloud",
            ],
        ),
        ("dst_node.cloud_type", &["HuaweiCloud", "HEC", "AWS"]),
        ("smn_config.language", &["zh-cn", "en-us"]),
    ];
    for (field, values) in enums {
        for value in values {
            let result = with(&[(field, json!(value))]);
            assert!(result.is_ok(), "{field}={value}: {result:?}");
        }
        assert_invalid(with(&[(field, json!("BOGUS"))]), field);
    }
    // The core's CLI shorthands and the sync-only spelling are not OMS task values.
    assert_invalid(
        with(&[("object_overwrite_mode", json!("full"))]),
        "object_overwrite_mode",
    );
    assert_invalid(
        with(&[("consistency_check", json!("transmission"))]),
        "consistency_check",
    );
    assert_invalid(with(&[("task_type", json!("OBJECT"))]), "task_type");
    assert_invalid(
        with(&[(
            "smn_config.trigger_conditions",
            json!(["SUCCESS", "ALWAYS"]),
        )]),
        "smn_config.trigger_conditions[1]",
    );
    for value in ["object", "prefix"] {
        assert!(with(&[("task_type", json!(value))]).is_ok());
    }
    let cdn = |auth: &str, protocol: &str| {
        with(&[(
            "source_cdn",
            json!({"authentication_type": auth, "domain": "c.example.com", "protocol": protocol, "authentication_key": "k"}),
        )])
    };
    for auth in [
        "NONE",
        "QINIU_PRIVATE_AUTHENTICATION",
        "ALIYUN_OSS_A",
        "ALIYUN_OSS_B",
        "ALIYUN_OSS_C",
        "KSYUN_PRIVATE_AUTHENTICATION",
        "AZURE_SAS_TOKEN",
        "TENCENT_COS_A",
        "TENCENT_COS_B",
        "TENCENT_COS_C",
        "TENCENT_COS_D",
    ] {
        assert!(cdn(auth, "https").is_ok(), "{auth}");
    }
    assert_invalid(cdn("HMAC", "https"), "source_cdn.authentication_type");
    assert_invalid(cdn("NONE", "ftp"), "source_cdn.protocol");
}

#[test]
fn test_shape_errors_name_the_path() {
    let mut body = base();
    remove(&mut body, "dst_node");
    let error = create(&body).unwrap_err();
    assert_eq!(error.error_code(), "OMS.0002");
    assert!(error.to_string().contains("dst_node"), "{error}");
    let error = with(&[("src_node.object_key", json!("a"))]).unwrap_err();
    assert_eq!(error.error_code(), "OMS.0002");
    assert!(error.to_string().contains("src_node.object_key"), "{error}");
    let error = parse_body::<CreateTaskReq>(b"{\"task_type\": ").unwrap_err();
    assert_eq!(error.error_code(), "OMS.0067");
    let trailing = format!("{} trailing", base());
    let error = parse_body::<CreateTaskReq>(trailing.as_bytes()).unwrap_err();
    assert_eq!(error.error_code(), "OMS.0067");
}

#[test]
fn test_request_debug_hides_secrets() {
    let mut body = base();
    set(&mut body, "src_node.sk", json!("SRC-SECRET"));
    set(&mut body, "dst_node.sk", json!("DST-SECRET"));
    let request: CreateTaskReq = parse_body(body.to_string().as_bytes()).unwrap();
    let printed = format!("{request:?}");
    assert!(!printed.contains("SRC-SECRET") && !printed.contains("DST-SECRET"));
}
