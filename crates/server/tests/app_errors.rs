//! Every refusal the router can produce is the OMS body `{"error_code","error_msg"}`, never
//! axum's `text/plain` and never a 500: driven through `app(state).oneshot(..)` on a real
//! SQLite store, with a scheduler that is never started (no request here reaches a run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use axum::http::{Method, StatusCode};
use common::{assert_names, TestApp, PROJECT};

#[tokio::test]
async fn test_invalid_utf8_in_task_id_is_oms_400_naming_task_id() {
    let test = TestApp::new().await;
    for (method, suffix) in [
        (Method::GET, ""),
        (Method::DELETE, ""),
        (Method::POST, "/stop"),
        (Method::POST, "/start"),
        (Method::PUT, "/bandwidth-policy"),
    ] {
        let uri = format!("/v2/{PROJECT}/tasks/%FF{suffix}");
        let body = test
            .refused(method, &uri, None, Vec::new(), StatusCode::BAD_REQUEST)
            .await;
        assert_names(&body, "OMS.0001", "task_id");
    }
}

#[tokio::test]
async fn test_invalid_utf8_in_group_id_is_oms_400_naming_group_id() {
    let test = TestApp::new().await;
    for (method, suffix) in [
        (Method::GET, ""),
        (Method::DELETE, ""),
        (Method::PUT, "/start"),
        (Method::PUT, "/stop"),
        (Method::PUT, "/retry"),
        (Method::PUT, "/update"),
    ] {
        let uri = format!("/v2/{PROJECT}/taskgroups/%C3%28{suffix}");
        let body = test
            .refused(method, &uri, None, Vec::new(), StatusCode::BAD_REQUEST)
            .await;
        assert_names(&body, "OMS.0001", "group_id");
    }
}

#[tokio::test]
async fn test_invalid_utf8_in_version_and_project_is_oms() {
    let test = TestApp::new().await;
    let body = test
        .refused(
            Method::GET,
            "/%FF",
            None,
            Vec::new(),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_names(&body, "OMS.0001", "version");
    // Another project than the token's, whatever its bytes: 403 without detail.
    test.refused(
        Method::GET,
        "/v2/%FF/tasks",
        None,
        Vec::new(),
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn test_bad_query_values_are_oms_400_naming_the_parameter() {
    let test = TestApp::new().await;
    for (query, name) in [
        ("limit=abc", "limit"),
        ("limit=%FF", "limit"),
        ("offset=-1", "offset"),
        ("limit=99999999999999999999", "limit"),
        ("status=10", "status"),
    ] {
        for collection in ["tasks", "taskgroups"] {
            let uri = format!("/v2/{PROJECT}/{collection}?{query}");
            let body = test
                .refused(Method::GET, &uri, None, Vec::new(), StatusCode::BAD_REQUEST)
                .await;
            assert_names(&body, "OMS.0001", name);
        }
    }
}

#[tokio::test]
async fn test_wrong_content_type_is_read_as_json_or_refused_as_oms() {
    let test = TestApp::new().await;
    let uri = format!("/v2/{PROJECT}/tasks");
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        None,
    ] {
        let body = test
            .refused(
                Method::POST,
                &uri,
                content_type,
                b"<task>not json</task>".to_vec(),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_eq!(body["error_code"], "OMS.0067", "{body}");
        let body = test
            .refused(
                Method::POST,
                &uri,
                content_type,
                br#"{"src_node": {}}"#.to_vec(),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_names(&body, "OMS.0002", "dst_node");
    }
}

#[tokio::test]
async fn test_oversized_body_is_oms_400_naming_body() {
    let test = TestApp::new().await;
    let oversized = vec![b' '; tern_server::authn::MAX_BODY_BYTES + 1];
    for uri in [
        format!("/v2/{PROJECT}/tasks"),
        format!("/v2/{PROJECT}/taskgroups"),
        format!("/v2/{PROJECT}/tasks/1/start"),
    ] {
        let body = test
            .refused(
                Method::POST,
                &uri,
                Some("application/json"),
                oversized.clone(),
                StatusCode::BAD_REQUEST,
            )
            .await;
        assert_names(&body, "OMS.0001", "body");
    }
}

#[tokio::test]
async fn test_unknown_route_is_oms_404() {
    let test = TestApp::new().await;
    for uri in [
        "/v2/nope".to_owned(),
        format!("/v2/{PROJECT}/nope"),
        format!("/v2/{PROJECT}/tasks/1/nope"),
        format!("/v3/{PROJECT}/tasks"),
    ] {
        test.refused(Method::GET, &uri, None, Vec::new(), StatusCode::NOT_FOUND)
            .await;
    }
}

#[tokio::test]
async fn test_wrong_method_is_oms_405() {
    let test = TestApp::new().await;
    for (method, uri) in [
        (Method::PATCH, format!("/v2/{PROJECT}/tasks")),
        (Method::PUT, format!("/v2/{PROJECT}/tasks/1")),
        (Method::GET, format!("/v2/{PROJECT}/tasks/1/start")),
        (Method::DELETE, "/".to_owned()),
    ] {
        let body = test
            .refused(
                method,
                &uri,
                None,
                Vec::new(),
                StatusCode::METHOD_NOT_ALLOWED,
            )
            .await;
        assert_names(&body, "OMS.0001", "method");
    }
}

#[tokio::test]
async fn test_valid_requests_still_succeed() {
    let test = TestApp::new().await;
    let (status, _, body) = test
        .send(
            Method::GET,
            &format!("/v2/{PROJECT}/tasks?limit=5"),
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let body = test
        .refused(
            Method::GET,
            &format!("/v2/{PROJECT}/tasks/12a"),
            None,
            Vec::new(),
            StatusCode::BAD_REQUEST,
        )
        .await;
    assert_names(&body, "OMS.0001", "task_id");
}
