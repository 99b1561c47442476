//! Every refusal the router can produce is the OMS body `{"error_code","error_msg"}`, never
//! axum's `text/plain` and never a 500: driven through `app(state).oneshot(..)` on a real
//! SQLite store, with a scheduler that is never started (no request here reaches a run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tern_core::RegionTable;
use tern_scheduler::{Scheduler, SchedulerConfig};
use tern_server::{app, token_digest, AppState};
use tower::ServiceExt;

const PROJECT: &str = "p1";
const TOKEN: &str = "app-errors-test-token";

struct TestApp {
    state: AppState,
    _data_dir: tempfile::TempDir,
}

impl TestApp {
    async fn new() -> TestApp {
        let data_dir = tempfile::tempdir().unwrap();
        let store = tern_store::open(None, data_dir.path()).await.unwrap();
        store
            .put_token(PROJECT, &token_digest(TOKEN))
            .await
            .unwrap();
        let scheduler = Scheduler::new(Arc::clone(&store), SchedulerConfig::default());
        let state = AppState {
            store,
            scheduler,
            regions: Arc::new(RegionTable::builtin()),
        };
        TestApp {
            state,
            _data_dir: data_dir,
        }
    }

    /// Sends one request with the project's token; returns status, content type and body.
    async fn send(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, String, Vec<u8>) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("x-auth-token", TOKEN);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = app(self.state.clone())
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, content_type, bytes.to_vec())
    }

    /// Sends a request that must be refused with `status` and the OMS body; returns the body.
    async fn refused(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        status: StatusCode,
    ) -> Value {
        let (got, content_type, bytes) = self.send(method.clone(), uri, content_type, body).await;
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(got, status, "{method} {uri}: {text}");
        assert!(
            content_type.starts_with("application/json"),
            "{method} {uri}: content type {content_type:?}, body {text}"
        );
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|err| panic!("{method} {uri}: not JSON ({err}): {text}"));
        let code = body["error_code"].as_str().unwrap_or_default();
        let message = body["error_msg"].as_str().unwrap_or_default();
        assert!(
            code.starts_with("OMS.") || code.starts_with("APIGW."),
            "{body}"
        );
        assert!(!message.is_empty(), "{body}");
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
        body
    }
}

fn assert_names(body: &Value, code: &str, name: &str) {
    assert_eq!(body["error_code"], code, "{body}");
    let message = body["error_msg"].as_str().unwrap();
    assert!(message.contains(name), "{name} not named in {body}");
}

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
