//! The bucket helpers' and the privacy record's request rules through `app(state).oneshot(..)`:
//! every refused body names its field, and a local-directory region answers for real.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use tern_core::{CloudType, Protocol, RegionEntry, RegionTable};

use common::{TestApp, PROJECT};

fn uri(path: &str) -> String {
    format!("/v2/{PROJECT}/objectstorage/buckets{path}")
}

/// A test app whose region table has a local root with two buckets.
async fn local_app() -> (TestApp, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    for dir in ["alpha/x/y", "beta"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    for (name, size) in [
        ("alpha/1.txt", 1),
        ("alpha/2.txt", 22),
        ("alpha/x/y/3.txt", 333),
    ] {
        std::fs::write(root.path().join(name), vec![b'z'; size]).unwrap();
    }
    let mut test = TestApp::new().await;
    let mut table = RegionTable::builtin();
    table.insert(RegionEntry {
        cloud_type: CloudType::Local,
        region: "here".into(),
        description: "a local root".into(),
        endpoint: root.path().to_string_lossy().into_owned(),
        protocol: Some(Protocol::Fs),
    });
    test.state.regions = Arc::new(table);
    (test, root)
}

fn account(extra: Value) -> Value {
    let mut body = json!({"cloud_type": "Local", "ak": "", "sk": ""});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn test_local_region_answers_every_helper() {
    let (test, _root) = local_app().await;
    let listed = test.ok(Method::POST, &uri(""), &account(json!({}))).await;
    assert_eq!(listed, json!(["alpha", "beta"]));

    let page = |marker: &str| {
        account(
            json!({"file_path": "/", "data_center": "here", "page_size": 2,
                       "behind_filename": marker, "bucket_name": "alpha"}),
        )
    };
    let first = test.ok(Method::POST, &uri("/objects"), &page("")).await;
    assert_eq!(
        first,
        json!({"next_page": true, "next_marker": "2.txt",
               "records": [{"name": "1.txt", "size": "1"}, {"name": "2.txt", "size": "22"}]})
    );
    let second = test
        .ok(Method::POST, &uri("/objects"), &page("2.txt"))
        .await;
    assert_eq!(
        second,
        json!({"next_page": false, "next_marker": "x/", "records": [{"name": "x/", "size": "--"}]})
    );

    let region = test
        .ok(
            Method::POST,
            &uri("/regions"),
            &account(json!({"bucket_name": "beta"})),
        )
        .await;
    assert_eq!(
        region,
        json!({"id": "here", "name": "a local root", "support": true})
    );

    let prefix = |name: &str| {
        account(json!({"bucket_name": "alpha", "file_name": name, "data_center": "here"}))
    };
    for (name, exist) in [
        ("x/y/", true),
        ("x/y/3", true),
        ("2.", true),
        ("x/z", false),
    ] {
        let answer = test.ok(Method::POST, &uri("/prefix"), &prefix(name)).await;
        assert_eq!(answer, json!({"exist": exist}), "{name}");
    }
}

#[tokio::test]
async fn test_helper_bodies_are_checked_field_by_field() {
    let (test, _root) = local_app().await;
    let objects = |extra: Value| {
        let mut body = account(
            json!({"file_path": "a/", "data_center": "here", "page_size": 10,
                                       "behind_filename": "", "bucket_name": "alpha"}),
        );
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (
            uri("/objects"),
            objects(json!({"file_path": "a"})),
            "file_path",
        ),
        (
            uri("/objects"),
            objects(json!({"page_size": 0})),
            "page_size",
        ),
        (
            uri("/objects"),
            objects(json!({"page_size": 1001})),
            "page_size",
        ),
        (
            uri("/objects"),
            objects(json!({"bucket_name": ""})),
            "bucket_name",
        ),
        (
            uri("/objects"),
            objects(json!({"ak": "a".repeat(101)})),
            "ak",
        ),
        (
            uri("/objects"),
            objects(json!({"cloud_type": "Nowhere"})),
            "cloud_type",
        ),
        (
            uri(""),
            json!({"cloud_type": "Tencent", "ak": "a", "sk": "b"}),
            "app_id",
        ),
        (uri(""), json!({"cloud_type": "URLSource"}), "cloud_type"),
        (
            uri("/regions"),
            account(json!({"bucket_name": "gamma"})),
            "bucket_name",
        ),
        (
            uri("/cdn-info"),
            json!({"ak": "a", "sk": "b", "cloud_type": "Local", "region": "here",
                   "bucket": "alpha", "prefix": {"keys": []},
                   "source_cdn": {"domain": "cdn.example", "protocol": "http",
                                  "authentication_type": "NONE"}}),
            "prefix.keys",
        ),
        (
            uri("/cdn-info"),
            json!({"sk": "b", "cloud_type": "Local", "region": "here", "bucket": "alpha",
                   "source_cdn": {"domain": "cdn.example", "protocol": "http",
                                  "authentication_type": "NONE"}}),
            "ak",
        ),
        (
            uri("/cdn-info"),
            json!({"ak": "a", "sk": "b", "cloud_type": "Local", "region": "here",
                   "bucket": "alpha",
                   "source_cdn": {"domain": "cdn.example", "protocol": "ftp",
                                  "authentication_type": "NONE"}}),
            "source_cdn.protocol",
        ),
    ];
    for (path, body, field) in cases {
        let refused = test
            .refused_with(
                Method::POST,
                &path,
                &body,
                StatusCode::BAD_REQUEST,
                "OMS.0001",
            )
            .await;
        let message = refused["error_msg"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{path} {body}: {message} does not name {field}"
        );
    }
}

#[tokio::test]
async fn test_privacy_agreement_is_recorded_per_project() {
    let test = TestApp::new().await;
    assert_eq!(test.store.privacy_agreement(PROJECT).await.unwrap(), None);
    let reply = test
        .call(
            Method::POST,
            &format!("/v2/{PROJECT}/privacy-agreements"),
            &Value::Null,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(test
        .store
        .privacy_agreement(PROJECT)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        test.store
            .privacy_agreement(common::OTHER_PROJECT)
            .await
            .unwrap(),
        None
    );
}
