//! `GET /openapi.json` and `GET /metrics` in process: the document lists exactly the served
//! routes with their limits, and the metrics count requests by route template.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, PROJECT};
use serde_json::{json, Value};

async fn document(app: &TestApp) -> Value {
    let reply = app
        .send_as(None, Method::GET, "/openapi.json", None, Vec::new())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(
        reply.content_type.starts_with("application/json"),
        "{}",
        reply.content_type
    );
    reply.json()
}

/// Fills a path template with values the routes accept.
fn concrete(path: &str) -> String {
    path.replace("{project_id}", PROJECT)
        .replace("{task_id}", "123")
        .replace("{group_id}", "g-1")
        .replace("{version}", "v2")
        .replace("{file}", "app.js")
}

#[tokio::test]
async fn test_openapi_is_3_1_and_needs_no_token() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["x_auth_token"]["name"], "X-Auth-Token");
    assert_eq!(schemes["sdk_hmac_sha256"]["name"], "Authorization");
}

fn collect_refs<'a>(value: &'a Value, refs: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                refs.push(target);
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

/// Every `$ref` names a schema the document holds (a parameter's type is not collected by
/// `routes!` unless inlined).
#[tokio::test]
async fn test_every_reference_resolves() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20, "{refs:?}");
    for target in refs {
        let name = target.strip_prefix("#/components/schemas/").unwrap();
        assert!(schema(&doc, name).is_object(), "{target} does not resolve");
    }
}

/// Every path and method in the document reaches a handler: nothing documented is unserved.
/// The other direction (nothing served is undocumented) holds by construction — routes are
/// added only through `routes!` on annotated handlers — and
/// `test_routes_are_added_only_with_their_annotation` keeps it so.
#[tokio::test]
async fn test_every_documented_operation_is_served() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let reply = app.call(method.clone(), &concrete(path), &json!({})).await;
            let fell_through = reply.status == StatusCode::METHOD_NOT_ALLOWED
                || reply.text().contains("no such API operation");
            assert!(
                !fell_through,
                "{method} {path} is documented but not served: {}",
                reply.text()
            );
            let responses = operation["responses"].as_object().unwrap();
            // `GET /console` only redirects to the console page.
            let success = if path == "/console" { "308" } else { "200" };
            assert!(responses.contains_key(success), "{method} {path}");
            assert!(
                responses.contains_key("400") && responses.contains_key("500"),
                "{method} {path}"
            );
            operations += 1;
        }
    }
    // 8 task operations + failed objects + runs, 8 group operations, 9 sync operations, 3
    // object-storage lookups, 5 bucket helpers + the URL-list check, the privacy record,
    // 2 versions, 2 operations, whoami, 3 console paths.
    assert_eq!(operations, 45, "{}", doc["paths"]);
}

/// The routers build their routes only with `routes!(handler)`, whose `#[utoipa::path]` is the
/// route's path and its document entry; a plain `.route(` would serve an undocumented path.
#[test]
fn test_routes_are_added_only_with_their_annotation() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![dir.join("app.rs")];
    for entry in std::fs::read_dir(dir.join("routes")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for banned in [".route(", ".route_service(", ".nest_service(", ".nest("] {
            assert!(
                !code.contains(banned),
                "{} uses {banned}: add routes with `.routes(routes!(handler))` and a \
                 `#[utoipa::path]` on the handler, so the route is documented",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn test_authenticated_operations_declare_security_and_public_ones_none() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let security = operation["security"].as_array().unwrap();
            if path.starts_with("/v2/") || path.starts_with("/tern/") {
                assert_eq!(security.len(), 2, "{method} {path}");
                assert!(operation["responses"]["401"].is_object(), "{method} {path}");
            } else {
                assert!(security.is_empty(), "{method} {path}");
                // And indeed answers without credentials.
                let reply = app
                    .send_as(
                        None,
                        method.to_uppercase().parse().unwrap(),
                        &concrete(path),
                        None,
                        Vec::new(),
                    )
                    .await;
                let expected = if path == "/console" {
                    StatusCode::PERMANENT_REDIRECT
                } else {
                    StatusCode::OK
                };
                assert_eq!(reply.status, expected, "{method} {path}: {}", reply.text());
            }
        }
    }
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    &doc["components"]["schemas"][name]
}

/// A sample of limits, each checked against the request the server really refuses or takes.
#[tokio::test]
async fn test_documented_limits_are_the_enforced_ones() {
    let app = TestApp::new().await;
    let doc = document(&app).await;
    let dst = schema(&doc, "DstNodeReq");
    assert_eq!(dst["properties"]["ak"]["maxLength"], 100);
    assert_eq!(dst["properties"]["save_prefix"]["maxLength"], 1024);
    let create = schema(&doc, "CreateTaskReq");
    assert_eq!(create["properties"]["description"]["maxLength"], 255);
    assert_eq!(
        create["properties"]["migrate_since"]["maximum"],
        253_402_300_799_i64
    );
    let window = schema(&doc, "BandwidthPolicyDto");
    assert_eq!(
        window["properties"]["max_bandwidth"]["minimum"],
        tern_core::policy::MIN_BANDWIDTH
    );
    assert_eq!(
        window["properties"]["max_bandwidth"]["maximum"],
        tern_core::policy::MAX_BANDWIDTH
    );
    let required: Vec<&str> = window["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required.len(), 3, "{required:?}");
    let start = schema(&doc, "StartTaskReq");
    assert_eq!(start["properties"]["dst_ak"]["minLength"], 1);
    assert_eq!(start["properties"]["dst_sk"]["maxLength"], 100);

    let events = schema(&doc, "SyncObjectReq");
    assert_eq!(
        events["properties"]["object_keys"]["maxItems"],
        tern_core::MAX_EVENT_KEYS
    );
    let create_sync = schema(&doc, "CreateSyncTaskReq");
    assert_eq!(create_sync["properties"]["src_sk"]["maxLength"], 100);
    assert_eq!(create_sync["properties"]["dst_bucket"]["maxLength"], 63);

    // The server agrees: 101 characters are refused where the document says 100 at most.
    let uri = format!("/v2/{PROJECT}/tasks/batch-update");
    let too_long_group = "g".repeat(37);
    let reply = app
        .call(
            Method::POST,
            &uri,
            &json!({"group_id": too_long_group, "bandwidth_policy": []}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert_eq!(
        schema(&doc, "BatchUpdateTasksReq")["properties"]["group_id"]["maxLength"],
        36
    );
    let reply = app
        .call(
            Method::POST,
            &uri,
            &json!({"ids": [1], "bandwidth_policy": [{"start": "+1:00", "end": "02:00", "max_bandwidth": 1048576}]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(
        reply.text().contains("bandwidth_policy[0].start"),
        "{}",
        reply.text()
    );

    // The bucket helpers: page_size 1..1000, a folder ending in '/', a bare array of names.
    // The shared credential fields are flattened in: the body's own fields are the second part.
    let folder = &schema(&doc, "ShowBucketReq")["allOf"][1];
    assert_eq!(folder["properties"]["page_size"]["minimum"], 1);
    assert_eq!(folder["properties"]["page_size"]["maximum"], 1000);
    assert_eq!(
        folder["properties"]["file_path"]["pattern"],
        "^([\\s\\S]*/)?$"
    );
    let reply = app
        .call(
            Method::POST,
            &format!("/v2/{PROJECT}/objectstorage/buckets/objects"),
            &json!({"cloud_type": "AWS", "ak": "a", "sk": "s", "file_path": "/", "data_center": "us-east-1",
                    "page_size": 1001, "behind_filename": "", "bucket_name": "b"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(reply.text().contains("page_size"), "{}", reply.text());
    let list = &doc["paths"]["/v2/{project_id}/objectstorage/buckets"]["post"]["responses"]["200"];
    let body = &list["content"]["application/json"]["schema"];
    assert_eq!(body["type"], "array", "{body}");
    assert_eq!(body["items"]["type"], "string", "{body}");
}

fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|line| {
            line.starts_with(name_and_labels) && line[name_and_labels.len()..].starts_with(' ')
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
}

#[tokio::test]
async fn test_metrics_count_requests_by_route_template() {
    let app = TestApp::new().await;
    for id in ["1", "2", "3"] {
        let reply = app
            .call(
                Method::GET,
                &format!("/v2/{PROJECT}/tasks/{id}"),
                &Value::Null,
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "unknown task");
    }
    app.call(Method::GET, "/no/such/path", &Value::Null).await;
    let reply = app
        .send_as(None, Method::GET, "/metrics", None, Vec::new())
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(
        reply
            .content_type
            .starts_with("application/openmetrics-text"),
        "{}",
        reply.content_type
    );
    let text = reply.text();
    assert_eq!(
        sample(
            &text,
            "tern_http_requests_total{method=\"GET\",route=\"/v2/{project_id}/tasks/{task_id}\",status=\"400\"}"
        ),
        Some(3.0),
        "{text}"
    );
    assert!(
        !text.contains("/tasks/1\""),
        "raw paths must not be labels: {text}"
    );
    assert_eq!(
        sample(
            &text,
            "tern_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "tern_http_request_duration_seconds_count{method=\"GET\",route=\"/v2/{project_id}/tasks/{task_id}\"}"
        ),
        Some(3.0),
        "{text}"
    );
    for status in 1..=7 {
        assert_eq!(
            sample(&text, &format!("tern_tasks{{status=\"{status}\"}}")),
            Some(0.0),
            "{text}"
        );
    }
    for outcome in ["migrated", "skipped", "failed"] {
        for name in ["tern_objects_total", "tern_bytes_total"] {
            let series = format!("{name}{{outcome=\"{outcome}\"}}");
            assert_eq!(sample(&text, &series), Some(0.0), "{series}: {text}");
        }
    }
    assert_eq!(
        sample(&text, "tern_throttle_wait_seconds_total"),
        Some(0.0),
        "{text}"
    );
}

#[tokio::test]
async fn test_tasks_gauge_reads_the_store_at_scrape_time() {
    let app = TestApp::new().await;
    let created = app.create_task("src").await;
    app.make_paused(created).await;
    let reply = app
        .send_as(None, Method::GET, "/metrics", None, Vec::new())
        .await;
    let text = reply.text();
    assert_eq!(
        sample(&text, "tern_tasks{status=\"3\"}"),
        Some(1.0),
        "{created:?} {text}"
    );
    assert_eq!(
        sample(&text, "tern_tasks{status=\"1\"}"),
        Some(0.0),
        "{text}"
    );
}

/// Two apps in one process keep separate registries.
#[tokio::test]
async fn test_each_app_has_its_own_registry() {
    let first = TestApp::new().await;
    let second = TestApp::new().await;
    first
        .call(Method::GET, &format!("/v2/{PROJECT}/tasks"), &Value::Null)
        .await;
    let text = second
        .send_as(None, Method::GET, "/metrics", None, Vec::new())
        .await
        .text();
    assert!(!text.contains("route=\"/v2/{project_id}/tasks\""), "{text}");
}
