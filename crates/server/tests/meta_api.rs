//! The routes of `routes/meta.rs` (API versions, cloud types, regions) and authentication
//! through `app(state).oneshot(..)`: the version routes answer without a token, every
//! `/v2/{project_id}/…` route refuses a missing or wrong token with 401 APIGW.0301 and another
//! project's token with 403 OMS.0206, and a refused request changes nothing in the store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use tern_core::{CloudType, RegionTable, TaskFilter};

use common::{
    assert_names, assert_oms_error, task_body, TestApp, OTHER_PROJECT, OTHER_TOKEN, PROJECT, TOKEN,
};

#[tokio::test]
async fn test_versions_answer_without_a_token() {
    let test = TestApp::new().await;
    let listed = test.send_as(None, Method::GET, "/", None, Vec::new()).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    let version = json!({
        "id": "v2",
        "links": [{"href": "/v2", "rel": "self"}],
        "status": "CURRENT",
        "updated": "2020-04-01T00:00:00Z"
    });
    assert_eq!(listed.json(), json!({"versions": [version.clone()]}));
    let shown = test
        .send_as(None, Method::GET, "/v2", None, Vec::new())
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text());
    assert_eq!(shown.json(), version);
    // A bad token on a public route is not even looked at.
    let with_bad_token = test
        .send_as(Some("not-a-token"), Method::GET, "/v2", None, Vec::new())
        .await;
    assert_eq!(with_bad_token.status, StatusCode::OK);
}

#[tokio::test]
async fn test_unknown_version_is_400_naming_version() {
    let test = TestApp::new().await;
    for uri in ["/v3", "/v1", "/V2"] {
        let reply = test.send_as(None, Method::GET, uri, None, Vec::new()).await;
        let body = assert_oms_error(&reply, StatusCode::BAD_REQUEST, uri);
        assert_names(&body, "OMS.0001", "version");
    }
}

#[tokio::test]
async fn test_cloud_types_list_the_sources_and_the_destination() {
    let test = TestApp::new().await;
    let uri = format!("/v2/{PROJECT}/objectstorage/cloud-type");
    let sources = test
        .ok(Method::GET, &format!("{uri}?type=src"), &Value::Null)
        .await;
    let expected: Vec<&str> = CloudType::OMS_SOURCES.iter().map(|c| c.as_str()).collect();
    assert_eq!(sources, json!(expected));
    for name in ["AWS", "Aliyun", "Azure", "Google", "URLSource"] {
        assert!(expected.contains(&name), "{name} missing from {sources}");
    }
    let destinations = test
        .ok(Method::GET, &format!("{uri}?type=dst"), &Value::Null)
        .await;
    assert_eq!(destinations, json!(["HEC"]));
    for query in ["", "?type=both", "?type=SRC", "?kind=src"] {
        let body = test
            .refused(
                Method::GET,
                &format!("{uri}{query}"),
                None,
                Vec::new(),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_names(&body, "OMS.0001", "type");
    }
}

#[tokio::test]
async fn test_region_info_reports_the_region_table_on_both_paths() {
    let test = TestApp::new().await;
    let data_center = test
        .ok(
            Method::GET,
            &format!("/v2/{PROJECT}/objectstorage/data-center"),
            &Value::Null,
        )
        .await;
    let regions = test
        .ok(
            Method::GET,
            &format!("/v2/{PROJECT}/objectstorage/regions"),
            &Value::Null,
        )
        .await;
    assert_eq!(data_center, regions);
    let mut served = Vec::new();
    for service in data_center.as_array().unwrap() {
        let service_name = service["service_name"].as_str().unwrap();
        for region in service["region_list"].as_array().unwrap() {
            assert_eq!(region["cloud_type"], service_name, "{service}");
            assert!(region["description"].is_string(), "{region}");
            served.push((
                service_name.to_owned(),
                region["value"].as_str().unwrap().to_owned(),
            ));
        }
    }
    // Every entry of the table, once, and nothing else.
    let table = RegionTable::builtin();
    let expected: Vec<(String, String)> = table
        .entries()
        .iter()
        .map(|entry| (entry.cloud_type.as_str().to_owned(), entry.region.clone()))
        .collect();
    assert_eq!(served.len(), expected.len());
    let served: BTreeSet<_> = served.into_iter().collect();
    assert_eq!(served, expected.into_iter().collect::<BTreeSet<_>>());
    assert!(served.contains(&("AWS".to_owned(), "us-east-1".to_owned())));
    // The S3-compatible clouds are listed with their regions.
    for (cloud, region) in [
        ("QingCloud", "pek3b"),
        ("KingsoftCloud", "ks3-cn-shanghai"),
        ("Baidu", "gz"),
        ("Qiniu", "cn-north-1"),
        ("UCloud", "cn-sh2"),
    ] {
        assert!(
            served.contains(&(cloud.to_owned(), region.to_owned())),
            "{cloud} {region}"
        );
    }
}

/// One authenticated route of each module, and each method the API uses.
fn authenticated_routes() -> Vec<(Method, String, Value)> {
    vec![
        (Method::GET, format!("/v2/{PROJECT}/tasks"), Value::Null),
        (
            Method::POST,
            format!("/v2/{PROJECT}/tasks"),
            task_body("alpha"),
        ),
        (Method::GET, format!("/v2/{PROJECT}/tasks/123"), Value::Null),
        (
            Method::DELETE,
            format!("/v2/{PROJECT}/tasks/123"),
            Value::Null,
        ),
        (
            Method::POST,
            format!("/v2/{PROJECT}/tasks/batch-update"),
            json!({"ids": [123], "bandwidth_policy": []}),
        ),
        (
            Method::GET,
            format!("/v2/{PROJECT}/taskgroups"),
            Value::Null,
        ),
        (
            Method::PUT,
            format!("/v2/{PROJECT}/taskgroups/g/stop"),
            Value::Null,
        ),
        (
            Method::GET,
            format!("/v2/{PROJECT}/objectstorage/cloud-type?type=src"),
            Value::Null,
        ),
        (
            Method::GET,
            format!("/v2/{PROJECT}/objectstorage/data-center"),
            Value::Null,
        ),
        (
            Method::GET,
            format!("/v2/{PROJECT}/objectstorage/regions"),
            Value::Null,
        ),
    ]
}

#[tokio::test]
async fn test_missing_or_unknown_token_is_401_apigw_0301() {
    let test = TestApp::new().await;
    for (method, uri, body) in authenticated_routes() {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        for token in [None, Some(""), Some("not-a-token"), Some(&TOKEN[1..])] {
            let reply = test
                .send_as(
                    token,
                    method.clone(),
                    &uri,
                    Some("application/json"),
                    bytes.clone(),
                )
                .await;
            let what = format!("{method} {uri} with token {token:?}");
            let refusal = assert_oms_error(&reply, StatusCode::UNAUTHORIZED, &what);
            assert_eq!(refusal["error_code"], "APIGW.0301", "{what}: {refusal}");
        }
    }
    // The refused create stored nothing.
    let (_, count) = test
        .store
        .list_tasks(PROJECT, &TaskFilter::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn test_a_token_stored_by_its_digest_authenticates_its_project_only() {
    let test = TestApp::new().await;
    // The store keeps the SHA-256 hex of the token, never the token.
    let digest = tern_server::token_digest(TOKEN);
    assert_eq!(digest.len(), 64);
    assert_eq!(
        test.store
            .project_for_token(&digest)
            .await
            .unwrap()
            .as_deref(),
        Some(PROJECT)
    );
    assert_eq!(test.store.project_for_token(TOKEN).await.unwrap(), None);
    // The digest itself is not a token.
    let reply = test
        .send_as(
            Some(&digest),
            Method::GET,
            &format!("/v2/{PROJECT}/tasks"),
            None,
            Vec::new(),
        )
        .await;
    assert_oms_error(&reply, StatusCode::UNAUTHORIZED, "digest as token");
    let reply = test
        .send_as(
            Some(OTHER_TOKEN),
            Method::GET,
            &format!("/v2/{OTHER_PROJECT}/tasks"),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
}

#[tokio::test]
async fn test_another_projects_token_is_403_oms_0206_and_changes_nothing() {
    let test = TestApp::new().await;
    let task = test.create_task("alpha").await;
    let mut bodies = BTreeSet::new();
    for (method, uri) in [
        (Method::GET, format!("/v2/{PROJECT}/tasks")),
        (Method::GET, format!("/v2/{PROJECT}/tasks/{}", task.0)),
        (Method::DELETE, format!("/v2/{PROJECT}/tasks/{}", task.0)),
        (Method::POST, format!("/v2/{PROJECT}/tasks/{}/stop", task.0)),
        (Method::GET, format!("/v2/{PROJECT}/tasks/123")),
        (Method::GET, "/v2/no-such-project/tasks".to_owned()),
        (
            Method::GET,
            format!("/v2/{PROJECT}/objectstorage/cloud-type?type=src"),
        ),
    ] {
        let reply = test
            .send_as(Some(OTHER_TOKEN), method.clone(), &uri, None, Vec::new())
            .await;
        let refusal = assert_oms_error(&reply, StatusCode::FORBIDDEN, &format!("{method} {uri}"));
        assert_eq!(refusal["error_code"], "OMS.0206");
        bodies.insert(refusal.to_string());
    }
    // One answer whatever exists behind the path: nothing about the other project leaks.
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let stored = test.task(task).await;
    assert_eq!(stored.status, tern_core::TaskStatus::Waiting);
}

#[tokio::test]
async fn test_every_answer_carries_a_request_id() {
    let test = TestApp::new().await;
    let mut seen = BTreeSet::new();
    for (token, uri) in [
        (None, "/".to_owned()),
        (Some(TOKEN), format!("/v2/{PROJECT}/tasks")),
        (None, format!("/v2/{PROJECT}/tasks")),
        (Some(TOKEN), format!("/v2/{PROJECT}/tasks/1x")),
    ] {
        let reply = test
            .send_as(token, Method::GET, &uri, None, Vec::new())
            .await;
        let id = reply
            .headers
            .get("x-request-id")
            .unwrap_or_else(|| panic!("GET {uri}: no X-Request-Id"))
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        seen.insert(id);
    }
    assert_eq!(seen.len(), 4, "request ids repeat: {seen:?}");
}

#[tokio::test]
async fn test_an_empty_authorization_header_falls_back_to_the_token() {
    let test = TestApp::new().await;
    let uri = format!("/v2/{PROJECT}/objectstorage/cloud-type?type=dst");
    let request = Request::get(&uri)
        .header("authorization", "")
        .header("x-auth-token", TOKEN)
        .body(Body::empty())
        .unwrap();
    let reply = test.send_request(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json(), json!(["HEC"]));
    // A signature that does not parse is refused even beside a valid token.
    let request = Request::get(&uri)
        .header("authorization", "SDK-HMAC-SHA256 garbage")
        .header("x-auth-token", TOKEN)
        .body(Body::empty())
        .unwrap();
    let reply = test.send_request(request).await;
    let refusal = assert_oms_error(&reply, StatusCode::UNAUTHORIZED, "bad signature");
    assert_eq!(refusal["error_code"], "APIGW.0301");
}
