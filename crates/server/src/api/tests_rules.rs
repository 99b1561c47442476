//! `CreateTaskReq` cross-field rules: URL lists, required source fields, object keys with
//! `save_prefix`, `migrate_since`, bandwidth windows, CDN and SMN settings.

use serde_json::{json, Value};
use tern_core::{CloudType, TaskType};

use super::tests_create::{assert_invalid, base, create, remove, set, text, url_list, with};
use super::TaskEcho;

#[test]
fn test_url_list_needs_no_source_credentials() {
    let (spec, secrets) = create(&url_list()).unwrap();
    assert_eq!(spec.task_type, TaskType::UrlList);
    assert_eq!(spec.src.cloud_type, CloudType::UrlSource);
    assert!(secrets.src.is_anonymous());
    let list_file = spec.src.list_file.unwrap();
    assert_eq!(
        (list_file.bucket.as_str(), list_file.key.as_str()),
        ("lists", "urls.txt")
    );
    // cloud_type may be left out for a URL list; any other vendor is refused.
    let mut body = url_list();
    remove(&mut body, "src_node.cloud_type");
    assert!(create(&body).is_ok());
    set(&mut body, "src_node.cloud_type", json!("Aliyun"));
    assert_invalid(create(&body), "src_node.cloud_type");
    remove(&mut body, "src_node.cloud_type");
    remove(&mut body, "src_node.list_file");
    assert_invalid(create(&body), "src_node.list_file");
    assert_invalid(
        with(&[("src_node.cloud_type", json!("URLSource"))]),
        "src_node.cloud_type",
    );
}

#[test]
fn test_source_fields_required_unless_url_list() {
    for field in [
        "src_node.region",
        "src_node.ak",
        "src_node.sk",
        "src_node.bucket",
    ] {
        let mut body = base();
        remove(&mut body, field);
        assert_invalid(create(&body), field);
    }
    for field in ["src_node.region", "src_node.bucket"] {
        assert_invalid(with(&[(field, json!(""))]), field);
    }
    // Empty keys are in range (0..100) and mean anonymous access.
    let (_, secrets) = with(&[("src_node.ak", json!("")), ("src_node.sk", json!(""))]).unwrap();
    assert!(secrets.src.is_anonymous());
    assert_invalid(
        with(&[("src_node.cloud_type", json!("Tencent"))]),
        "src_node.app_id",
    );
    let (spec, _) = with(&[
        ("src_node.cloud_type", json!("Tencent")),
        ("src_node.app_id", json!("1250000000")),
    ])
    .unwrap();
    assert_eq!(spec.src.app_id.as_deref(), Some("1250000000"));
    let list = with(&[("task_type", json!("list"))]);
    assert_invalid(list, "src_node.list_file");
    let (spec, _) = with(&[
        ("task_type", json!("list")),
        (
            "src_node.list_file",
            json!({"list_file_key": "k.txt", "obs_bucket": "d"}),
        ),
    ])
    .unwrap();
    assert!(spec.src.object_keys.is_empty());
    for field in ["dst_node.bucket", "dst_node.region"] {
        assert_invalid(with(&[(field, json!(""))]), field);
    }
}

#[test]
fn test_object_keys_and_save_prefix() {
    assert_invalid(
        with(&[("src_node.object_key", json!([]))]),
        "src_node.object_key",
    );
    let mut body = base();
    remove(&mut body, "src_node.object_key");
    assert_invalid(create(&body), "src_node.object_key");
    assert_invalid(
        with(&[("src_node.object_key", json!(["a", ""]))]),
        "src_node.object_key[1]",
    );
    let (spec, _) = with(&[
        ("task_type", json!("prefix")),
        ("src_node.object_key", json!([""])),
    ])
    .unwrap();
    assert_eq!(spec.src.object_keys, vec![String::new()]);
    let prefix = "p".repeat(24);
    let fits = "k".repeat(1000);
    let (spec, _) = with(&[
        ("dst_node.save_prefix", json!(prefix)),
        ("src_node.object_key", json!(["a", fits])),
    ])
    .unwrap();
    assert_eq!(spec.dst.save_prefix, prefix);
    let too_long = "k".repeat(1001);
    assert_invalid(
        with(&[
            ("dst_node.save_prefix", json!(prefix)),
            ("src_node.object_key", json!(["a", too_long])),
        ]),
        "src_node.object_key[1]",
    );
    assert_invalid(
        with(&[("dst_node.save_prefix", text(1025))]),
        "dst_node.save_prefix",
    );
}

#[test]
fn test_migrate_since_and_bandwidth_bounds() {
    assert_eq!(
        with(&[("migrate_since", json!(0))])
            .unwrap()
            .0
            .migrate_since_s,
        Some(0)
    );
    assert!(with(&[("migrate_since", json!(1_700_000_000))]).is_ok());
    assert_invalid(with(&[("migrate_since", json!(-1))]), "migrate_since");
    // Milliseconds by mistake.
    assert_invalid(
        with(&[("migrate_since", json!(1_700_000_000_000_i64))]),
        "migrate_since",
    );
    let window = |max: i64| json!([{"start": "00:00", "end": "08:00", "max_bandwidth": max}]);
    assert!(with(&[("bandwidth_policy", window(1_048_576))]).is_ok());
    assert!(with(&[("bandwidth_policy", window(209_715_200))]).is_ok());
    for bad in [1_048_575, 209_715_201, -5] {
        assert_invalid(
            with(&[("bandwidth_policy", window(bad))]),
            "bandwidth_policy[0].max_bandwidth",
        );
    }
    let windows = |n: usize| {
        Value::Array((0..n).map(|h| json!({"start": format!("0{h}:00"), "end": format!("0{h}:30"), "max_bandwidth": 1_048_576})).collect())
    };
    assert_eq!(
        with(&[("bandwidth_policy", windows(5))])
            .unwrap()
            .0
            .bandwidth_policy
            .windows()
            .len(),
        5
    );
    assert_invalid(
        with(&[("bandwidth_policy", windows(6))]),
        "bandwidth_policy",
    );
    let overlap = json!([
        {"start": "00:00", "end": "06:00", "max_bandwidth": 1_048_576},
        {"start": "05:00", "end": "07:00", "max_bandwidth": 1_048_576}
    ]);
    assert_invalid(
        with(&[("bandwidth_policy", overlap)]),
        "bandwidth_policy[1]",
    );
    assert_invalid(
        with(&[(
            "bandwidth_policy",
            json!([{"start": "24:00", "end": "01:00", "max_bandwidth": 1_048_576}]),
        )]),
        "bandwidth_policy[0].start",
    );
}

#[test]
fn test_cdn_and_smn_rules_and_echo() {
    let cdn = json!({"authentication_type": "TENCENT_COS_B", "domain": "c.example.com", "protocol": "https"});
    assert_invalid(
        with(&[("source_cdn", cdn.clone())]),
        "source_cdn.authentication_key",
    );
    let mut keyed = cdn.clone();
    set(&mut keyed, "authentication_key", json!("CDN-SECRET-KEY"));
    let (spec, secrets) = with(&[("source_cdn", keyed)]).unwrap();
    assert_eq!(secrets.cdn_key.unwrap().expose(), "CDN-SECRET-KEY");
    assert!(!spec.echo_json.contains("CDN-SECRET-KEY"));
    let echo = TaskEcho::parse(&spec.echo_json);
    let echoed = echo.source_cdn.unwrap();
    assert_eq!(
        (echoed.domain.as_str(), echoed.authentication_type.as_str()),
        ("c.example.com", "TENCENT_COS_B")
    );
    let none =
        json!({"authentication_type": "NONE", "domain": "c.example.com", "protocol": "http"});
    assert!(with(&[("source_cdn", none)]).unwrap().1.cdn_key.is_none());
    assert_invalid(
        with(&[(
            "source_cdn",
            json!({"authentication_type": "NONE", "domain": "", "protocol": "http"}),
        )]),
        "source_cdn.domain",
    );
    assert_invalid(
        with(&[("smn_config.topic_urn", json!(""))]),
        "smn_config.topic_urn",
    );
    let (spec, _) = with(&[
        ("smn_config.language", json!("en-us")),
        ("smn_config.message_template_name", json!("tpl")),
    ])
    .unwrap();
    let smn = TaskEcho::parse(&spec.echo_json).smn_config.unwrap();
    assert_eq!(
        (
            smn.language.as_deref(),
            smn.message_template_name.as_deref()
        ),
        (Some("en-us"), Some("tpl"))
    );
}
