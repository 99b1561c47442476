//! The web console's static files and tern's own task routes (paged failed objects, runs),
//! in process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{assert_oms_error, TestApp, OTHER_TOKEN, PROJECT};
use serde_json::Value;
use tern_core::{
    CopyPath, FailureCode, LeaseTerms, NodeId, ObjectOutcome, Outcome, OutcomeBatch, RunEnding,
    Verification,
};

async fn get(app: &TestApp, uri: &str, if_none_match: Option<&str>) -> common::Reply {
    let mut request = Request::get(uri);
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    app.send_request(request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn test_console_redirects_and_serves_its_page_without_a_token() {
    let app = TestApp::new().await;
    let reply = get(&app, "/console", None).await;
    assert_eq!(reply.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(reply.headers["location"], "/console/");

    let page = get(&app, "/console/", None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert!(page
        .text()
        .contains(r#"<script type="module" src="app.js">"#));
    assert_eq!(page.headers["cache-control"], "no-cache");
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    let index = get(&app, "/console/index.html", None).await;
    assert_eq!(index.bytes, page.bytes);
}

#[tokio::test]
async fn test_console_files_have_their_types_and_revalidate_with_etags() {
    let app = TestApp::new().await;
    for (file, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("forms.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let uri = format!("/console/{file}");
        let reply = get(&app, &uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        assert_eq!(reply.content_type, content_type, "{uri}");
        assert!(!reply.bytes.is_empty(), "{uri}");
        let etag = reply.headers["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");

        let again = get(&app, &uri, Some(&etag)).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{uri}");
        assert!(again.bytes.is_empty());
        assert_eq!(again.headers["etag"], etag.as_str());
        let stale = get(&app, &uri, Some("\"something-else\"")).await;
        assert_eq!(stale.status, StatusCode::OK, "{uri}");
    }
    let missing = get(&app, "/console/secrets.txt", None).await;
    let body = assert_oms_error(&missing, StatusCode::NOT_FOUND, "unknown console file");
    assert!(
        body["error_msg"].as_str().unwrap().contains("secrets.txt"),
        "{body}"
    );
    let escape = get(&app, "/console/..%2FCargo.toml", None).await;
    assert_eq!(escape.status, StatusCode::NOT_FOUND);
}

fn failure(key: &str, message: &str) -> ObjectOutcome {
    ObjectOutcome {
        key: key.to_owned(),
        size: key.len() as u64,
        outcome: Outcome::Failed {
            code: FailureCode::SourceNotFound,
            message: message.to_owned(),
        },
    }
}

#[tokio::test]
async fn test_failed_objects_page_the_ledger_in_key_order() {
    let app = TestApp::new().await;
    let id = app.create_task("src").await;
    app.claim(id).await;
    let mut outcomes: Vec<ObjectOutcome> = ["e 5", "a+1", "c/3", "b%2", "d4"]
        .iter()
        .map(|key| failure(key, &format!("{key} is gone")))
        .collect();
    outcomes.push(ObjectOutcome {
        key: "ok.txt".into(),
        size: 3,
        outcome: Outcome::Succeeded {
            verification: Verification::SizeLastModified,
            crc64: Some(0),
            path: CopyPath::Streamed,
        },
    });
    let batch = OutcomeBatch {
        listed_num: 6,
        listed_size: 20,
        outcomes,
        ..OutcomeBatch::default()
    };
    app.store.record_batch(id, &batch).await.unwrap();

    let base = format!("/v2/{PROJECT}/tasks/{}/failed-objects", id.0);
    let mut keys = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let uri = match &marker {
            Some(marker) => format!(
                "{base}?limit=2&marker={}",
                percent_encoding::utf8_percent_encode(marker, percent_encoding::NON_ALPHANUMERIC)
            ),
            None => format!("{base}?limit=2"),
        };
        let page = app.ok(Method::GET, &uri, &Value::Null).await;
        pages += 1;
        let rows = page["failed_objects"].as_array().unwrap();
        assert!(rows.len() <= 2, "{page}");
        for row in rows {
            let key = row["key"].as_str().unwrap();
            assert_eq!(row["error_code"], "TRF.0012", "{row}");
            assert_eq!(row["error_msg"], format!("{key} is gone"), "{row}");
            assert_eq!(row["size"], key.len() as u64, "{row}");
            keys.push(key.to_owned());
        }
        match page.get("next_marker").and_then(Value::as_str) {
            Some(next) => marker = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(keys, ["a+1", "b%2", "c/3", "d4", "e 5"]);

    let all = app.ok(Method::GET, &base, &Value::Null).await;
    assert_eq!(all["failed_objects"].as_array().unwrap().len(), 5, "{all}");
    assert!(all.get("next_marker").is_none(), "{all}");

    let bad = app
        .call(Method::GET, &format!("{base}?limit=0"), &Value::Null)
        .await;
    let body = assert_oms_error(&bad, StatusCode::BAD_REQUEST, "limit=0");
    assert!(
        body["error_msg"].as_str().unwrap().contains("limit"),
        "{body}"
    );

    // Another project's token learns nothing, exactly as for a missing task.
    let other = app
        .call_as(
            OTHER_TOKEN,
            Method::GET,
            &base.replace(PROJECT, "p2"),
            &Value::Null,
        )
        .await;
    let body = assert_oms_error(&other, StatusCode::BAD_REQUEST, "other project");
    assert_eq!(body["error_code"], "OMS.1009");
    let anonymous = app
        .send_as(None, Method::GET, &base, None, Vec::new())
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn test_task_runs_list_each_claim_with_its_node_in_order() {
    let app = TestApp::new().await;
    let id = app.create_task("src").await;
    let base = format!("/v2/{PROJECT}/tasks/{}/runs", id.0);
    let never = app.ok(Method::GET, &base, &Value::Null).await;
    assert_eq!(never, serde_json::json!({"runs": [], "count": 0}));

    // Node A claims with a short lease and dies; node B takes the task over once it expired.
    let terms = |node: &str| LeaseTerms {
        node: NodeId(node.to_owned()),
        duration_ms: 1_000,
    };
    let t0 = 1_700_000_000_000;
    let first = app
        .store
        .claim_next_runnable(&terms("node-a1"), t0)
        .await
        .unwrap()
        .expect("waiting task claimed");
    assert_eq!(first.task.id, id);
    let held = app
        .store
        .claim_next_runnable(&terms("node-b2"), t0 + 500)
        .await
        .unwrap();
    assert!(held.is_none(), "a live lease is not taken over: {held:?}");
    let second = app
        .store
        .claim_next_runnable(&terms("node-b2"), t0 + 2_000)
        .await
        .unwrap()
        .expect("expired lease taken over");
    assert_eq!(second.task.id, id);
    assert!(second.fence > first.fence);

    let running = app.ok(Method::GET, &base, &Value::Null).await;
    assert_eq!(running["count"], 2, "{running}");
    let runs = running["runs"].as_array().unwrap();
    let nodes: Vec<&str> = runs.iter().map(|r| r["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["node-a1", "node-b2"], "{running}");
    assert_eq!(runs[0]["fence"], first.fence.0, "{running}");
    assert_eq!(runs[1]["fence"], second.fence.0, "{running}");
    assert_eq!(runs[0]["started_at"], t0, "{running}");
    assert_eq!(runs[1]["started_at"], t0 + 2_000, "{running}");
    // A's end was never written (it died); B's is still running.
    assert!(runs[0]["ended_at"].is_null(), "{running}");
    assert!(runs[1]["ended_at"].is_null(), "{running}");

    // B finishes: only its own run gets an end, and the record matches the store's.
    let ending = RunEnding::Completed {
        failed_object_record: None,
    };
    app.store
        .finish_run(id, Some(second.fence), &ending, 1_000, t0 + 3_000)
        .await
        .unwrap();
    let finished = app.ok(Method::GET, &base, &Value::Null).await;
    assert!(finished["runs"][0]["ended_at"].is_null(), "{finished}");
    assert_eq!(finished["runs"][1]["ended_at"], t0 + 3_000, "{finished}");
    let stored = app.store.task_runs(id).await.unwrap();
    assert_eq!(finished["count"], stored.len(), "{finished}");

    // Another project's token learns nothing, exactly as for a missing task.
    let other = app
        .call_as(
            OTHER_TOKEN,
            Method::GET,
            &base.replace(PROJECT, "p2"),
            &Value::Null,
        )
        .await;
    let body = assert_oms_error(&other, StatusCode::BAD_REQUEST, "other project");
    assert_eq!(body["error_code"], "OMS.1009");
    let missing = app
        .call(
            Method::GET,
            &format!("/v2/{PROJECT}/tasks/{}/runs", id.0 + 1),
            &Value::Null,
        )
        .await;
    let body = assert_oms_error(&missing, StatusCode::BAD_REQUEST, "missing task");
    assert_eq!(body["error_code"], "OMS.1009");
    let bad = app
        .call(
            Method::GET,
            &format!("/v2/{PROJECT}/tasks/x1/runs"),
            &Value::Null,
        )
        .await;
    assert_oms_error(&bad, StatusCode::BAD_REQUEST, "bad task id");
    let anonymous = app
        .send_as(None, Method::GET, &base, None, Vec::new())
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}
