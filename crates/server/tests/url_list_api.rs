//! `check_url_source_list_file_format` (REFERENCE.md op 30) through `app(state).oneshot(..)`:
//! its body rules and authentication. Reading real list files is covered end to end in
//! `crates/cli/tests/url_list_e2e.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use common::{assert_oms_error, TestApp, OTHER_TOKEN, PROJECT};

const SK: &str = "sk-must-never-be-echoed";

fn uri() -> String {
    format!("/v2/{PROJECT}/objectstorage/buckets/url-source-list-file")
}

fn body() -> Value {
    json!({"obs_bucket": "lists", "list_file_key": "urls.txt", "ak": "ak", "sk": SK,
           "region": "cn-north-4"})
}

#[tokio::test]
async fn test_check_url_list_refuses_bad_bodies_naming_the_field() {
    let test = TestApp::new().await;
    for (field, value, named) in [
        ("obs_bucket", json!(""), "obs_bucket"),
        ("list_file_key", json!(""), "list_file_key"),
        ("list_file_key", json!("k".repeat(1025)), "list_file_key"),
        ("ak", json!("a".repeat(101)), "ak"),
        ("sk", json!("s".repeat(101)), "sk"),
        ("region", json!(""), "region"),
        ("region", json!("nowhere-9"), "region"),
    ] {
        let mut sent = body();
        sent[field] = value;
        let reply = test
            .refused_with(
                Method::POST,
                &uri(),
                &sent,
                StatusCode::BAD_REQUEST,
                "OMS.0001",
            )
            .await;
        let message = reply["error_msg"].as_str().unwrap();
        assert!(message.contains(named), "{field}: {reply}");
        assert!(!message.contains(SK), "{field}: the SK is echoed: {reply}");
    }
    let mut missing = body();
    missing.as_object_mut().unwrap().remove("list_file_key");
    test.refused_with(
        Method::POST,
        &uri(),
        &missing,
        StatusCode::BAD_REQUEST,
        "OMS.0002",
    )
    .await;
}

#[tokio::test]
async fn test_check_url_list_needs_the_projects_token() {
    let test = TestApp::new().await;
    let anonymous = test
        .send_as(
            None,
            Method::POST,
            &uri(),
            Some("application/json"),
            body().to_string().into_bytes(),
        )
        .await;
    assert_oms_error(&anonymous, StatusCode::UNAUTHORIZED, "no token");
    let other = test
        .call_as(OTHER_TOKEN, Method::POST, &uri(), &body())
        .await;
    assert_oms_error(&other, StatusCode::FORBIDDEN, "another project's token");
}
