//! Sync-task routes in process (`app(state).oneshot`): wire shapes, validation naming the
//! field, lifecycle refusals, isolation between projects, the quota, statistics and the S3
//! notification receiver. The sync runner is never started, so nothing is copied: queued
//! events are checked, and resolved, through the store.
#![allow(clippy::unwrap_used, reason = "a test fails loudly")]

mod common;

use axum::http::{Method, StatusCode};
use common::{assert_names, TestApp, OTHER_TOKEN};
use serde_json::{json, Value};
use tern_core::{EventResolution, OutcomeKind, SyncTaskId, STAT_BUCKET_MS};

/// The node these tests claim sync events as.
const SYNC_NODE: &str = "node-a";

/// A claim of [`SYNC_NODE`] that holds a minute.
fn sync_claim() -> tern_core::SyncClaim {
    tern_core::SyncClaim {
        node: SYNC_NODE.to_owned(),
        lease_ms: 60_000,
    }
}

const BASE: &str = "/v2/p1/sync-tasks";

fn sync_body() -> Value {
    json!({
        "src_cloud_type": "AWS", "src_region": "us-east-1", "src_bucket": "src-bucket",
        "src_ak": "SRC_AK", "src_sk": "SRC_SK_SECRET",
        "dst_ak": "DST_AK", "dst_sk": "DST_SK_SECRET",
        "dst_region": "cn-north-4", "dst_bucket": "dst-bucket",
        "description": "follow src", "consistency_check": "transmission",
        "enable_metadata_migration": true
    })
}

async fn create(app: &TestApp) -> String {
    let created = app.ok(Method::POST, BASE, &sync_body()).await;
    created["sync_task_id"].as_str().unwrap().to_owned()
}

fn with(field: &str, value: Value) -> Value {
    let mut body = sync_body();
    body[field] = value;
    body
}

#[tokio::test]
async fn test_sync_task_lifecycle_over_http() {
    let app = TestApp::new().await;
    let id = create(&app).await;
    let shown = app
        .ok(
            Method::GET,
            &format!("{BASE}/{id}?query_time=1"),
            &Value::Null,
        )
        .await;
    assert_eq!(shown["status"], "SYNCHRONIZING");
    assert_eq!(shown["consistency_check"], "no_check");
    assert_eq!(shown["src_cloud_type"], "AWS");
    assert_eq!(shown["dst_storage_policy"], "STANDARD");
    assert_eq!(shown["monthly_acceptance_request"], 0);
    let text = shown.to_string();
    assert!(
        !text.contains("SECRET") && !text.contains("SRC_AK"),
        "{text}"
    );

    let events = format!("{BASE}/{id}/events");
    let keys = json!({"object_keys": ["a%20b", "c%2Bd", "a%20b", "caf%C3%A9"]});
    assert_eq!(app.ok(Method::POST, &events, &keys).await, Value::Null);
    let store = app.state.sync.store();
    let sync_id = SyncTaskId(id.clone());
    // Persisted before the 200, a repeated key once.
    assert_eq!(store.pending_sync_events(&sync_id).await.unwrap(), 3);
    let claimed = store
        .claim_sync_events(&sync_id, &sync_claim(), 10, i64::MAX)
        .await
        .unwrap();
    let mut names: Vec<&str> = claimed.iter().map(|e| e.key.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["a b", "c+d", "café"]);

    app.ok(Method::POST, &format!("{BASE}/{id}/stop"), &Value::Null)
        .await;
    let refused = app
        .refused_with(
            Method::POST,
            &events,
            &keys,
            StatusCode::BAD_REQUEST,
            "OMS.0064",
        )
        .await;
    assert!(
        refused["error_msg"].as_str().unwrap().contains("STOPPED"),
        "{refused}"
    );
    app.refused_with(
        Method::POST,
        &format!("{BASE}/{id}/stop"),
        &Value::Null,
        StatusCode::BAD_REQUEST,
        "OMS.0066",
    )
    .await;
    let start = json!({"src_ak": "a", "src_sk": "b", "dst_ak": "c", "dst_sk": "d"});
    app.ok(Method::POST, &format!("{BASE}/{id}/start"), &start)
        .await;
    app.refused_with(
        Method::POST,
        &format!("{BASE}/{id}/start"),
        &start,
        StatusCode::BAD_REQUEST,
        "OMS.0070",
    )
    .await;
    let listed = app.ok(Method::GET, BASE, &Value::Null).await;
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["tasks"][0]["status"], "SYNCHRONIZING");

    // Another project sees nothing, as if the id did not exist.
    let other = app
        .call_as(
            OTHER_TOKEN,
            Method::GET,
            &format!("/v2/p2/sync-tasks/{id}?query_time=1"),
            &Value::Null,
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text());

    app.ok(Method::DELETE, &format!("{BASE}/{id}"), &Value::Null)
        .await;
    app.refused_with(
        Method::GET,
        &format!("{BASE}/{id}?query_time=1"),
        &Value::Null,
        StatusCode::NOT_FOUND,
        "OMS.1009",
    )
    .await;
    assert_eq!(store.pending_sync_events(&sync_id).await.unwrap(), 0);
}

#[tokio::test]
async fn test_create_sync_task_refuses_each_bad_field_by_name() {
    let app = TestApp::new().await;
    let cases: Vec<(Value, &str, &str)> = vec![
        (with("src_ak", json!("k".repeat(101))), "src_ak", "OMS.0001"),
        (with("dst_sk", json!("k".repeat(101))), "dst_sk", "OMS.0001"),
        (
            with("src_region", json!("r".repeat(101))),
            "src_region",
            "OMS.0001",
        ),
        (
            with("src_region", json!("nowhere")),
            "src_region",
            "OMS.0001",
        ),
        (with("dst_region", json!("")), "dst_region", "OMS.0001"),
        (
            with("src_bucket", json!("b".repeat(64))),
            "src_bucket",
            "OMS.0001",
        ),
        (with("dst_bucket", json!("")), "dst_bucket", "OMS.0001"),
        (
            with("description", json!("d".repeat(256))),
            "description",
            "OMS.0001",
        ),
        (with("description", json!("x)")), "description", "OMS.0078"),
        (with("app_id", json!("a".repeat(256))), "app_id", "OMS.0001"),
        (
            with("src_cloud_type", json!("Google")),
            "src_cloud_type",
            "OMS.0001",
        ),
        (
            with("src_cloud_type", json!("Azure")),
            "src_cloud_type",
            "OMS.0001",
        ),
        (
            with("src_cloud_type", json!("Tencent")),
            "app_id",
            "OMS.0001",
        ),
        (
            with("consistency_check", json!("md5")),
            "consistency_check",
            "OMS.0001",
        ),
        (
            with("dst_storage_policy", json!("COLD")),
            "dst_storage_policy",
            "OMS.0001",
        ),
        (
            with("object_overwrite_mode", json!("never")),
            "object_overwrite_mode",
            "OMS.0001",
        ),
        (
            with("src_crypto_type", json!("KMS")),
            "src_crypto_type",
            "OMS.0001",
        ),
        (
            with("dst_kms_key_id", json!("k".repeat(35))),
            "dst_kms_key_id",
            "OMS.0001",
        ),
        (
            with("source_cdn", json!({"domain": "cdn.example.com"})),
            "source_cdn",
            "OMS.0001",
        ),
        (with("src_ak", json!(5)), "src_ak", "OMS.0002"),
    ];
    for (body, field, code) in cases {
        let reply = app
            .refused_with(Method::POST, BASE, &body, StatusCode::BAD_REQUEST, code)
            .await;
        assert_names(&reply, code, field);
    }
    let mut missing = sync_body();
    missing.as_object_mut().unwrap().remove("dst_bucket");
    let reply = app
        .refused_with(
            Method::POST,
            BASE,
            &missing,
            StatusCode::BAD_REQUEST,
            "OMS.0002",
        )
        .await;
    assert_names(&reply, "OMS.0002", "dst_bucket");
    // Nothing was created by any of them.
    assert_eq!(app.ok(Method::GET, BASE, &Value::Null).await["count"], 0);
    // The boundaries themselves pass, and the tern extension is honoured.
    let mut edge = with("description", json!("d".repeat(255)));
    edge["src_ak"] = json!("k".repeat(100));
    edge["src_bucket"] = json!("b".repeat(63));
    edge["app_id"] = json!("a".repeat(255));
    edge["object_overwrite_mode"] = json!("NO_OVERWRITE");
    let id = app.ok(Method::POST, BASE, &edge).await["sync_task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = app
        .ok(
            Method::GET,
            &format!("{BASE}/{id}?query_time=0"),
            &Value::Null,
        )
        .await;
    assert_eq!(shown["object_overwrite_mode"], "NO_OVERWRITE");
}

#[tokio::test]
async fn test_sixth_sync_task_is_refused_with_oms_0077() {
    let app = TestApp::new().await;
    for _ in 0..5 {
        create(&app).await;
    }
    let reply = app
        .refused_with(
            Method::POST,
            BASE,
            &sync_body(),
            StatusCode::BAD_REQUEST,
            "OMS.0077",
        )
        .await;
    assert!(
        reply["error_msg"].as_str().unwrap().contains('5'),
        "{reply}"
    );
    let page = app
        .ok(
            Method::GET,
            &format!("{BASE}?limit=2&offset=4"),
            &Value::Null,
        )
        .await;
    assert_eq!(
        (
            page["count"].as_i64(),
            page["tasks"].as_array().unwrap().len()
        ),
        (Some(5), 1)
    );
}

#[tokio::test]
async fn test_events_and_queries_name_the_bad_parameter() {
    let app = TestApp::new().await;
    let id = create(&app).await;
    let events = format!("{BASE}/{id}/events");
    let too_many: Vec<String> = (0..101).map(|i| format!("k{i}")).collect();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"object_keys": too_many}), "object_keys"),
        (json!({"object_keys": []}), "object_keys"),
        (json!({"object_keys": ["ok", ""]}), "object_keys[1]"),
        (
            json!({"object_keys": ["k".repeat(16385)]}),
            "object_keys[0]",
        ),
        (json!({"object_keys": ["%E9"]}), "object_keys[0]"),
        (json!({"object_keys": ["50%"]}), "object_keys[0]"),
    ];
    for (body, field) in cases {
        let reply = app
            .refused_with(
                Method::POST,
                &events,
                &body,
                StatusCode::BAD_REQUEST,
                "OMS.0001",
            )
            .await;
        assert_names(&reply, "OMS.0001", field);
    }
    let ok: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    app.ok(Method::POST, &events, &json!({"object_keys": ok}))
        .await;
    app.ok(
        Method::POST,
        &events,
        &json!({"object_keys": ["k".repeat(16384)]}),
    )
    .await;

    let queries = [
        (format!("{BASE}/{id}"), "query_time"),
        (format!("{BASE}/{id}?query_time=-1"), "query_time"),
        (format!("{BASE}?limit=0"), "limit"),
        (format!("{BASE}?offset=10001"), "offset"),
        (format!("{BASE}?status=RUNNING"), "status"),
        (
            format!("{BASE}/{id}/statistics?start_time=0&end_time=1"),
            "data_type",
        ),
        (
            format!("{BASE}/{id}/statistics?data_type=BYTES&start_time=0&end_time=1"),
            "data_type",
        ),
        (
            format!("{BASE}/{id}/statistics?data_type=SIZE&end_time=1"),
            "start_time",
        ),
        (
            format!("{BASE}/{id}/statistics?data_type=SIZE&start_time=5&end_time=1"),
            "end_time",
        ),
        (
            format!("{BASE}/{id}/statistics?data_type=SIZE&start_time=0&end_time=31708800001"),
            "end_time",
        ),
    ];
    for (uri, field) in queries {
        let reply = app
            .refused_with(
                Method::GET,
                &uri,
                &Value::Null,
                StatusCode::BAD_REQUEST,
                "OMS.0001",
            )
            .await;
        assert_names(&reply, "OMS.0001", field);
    }
}

#[tokio::test]
async fn test_statistics_and_monthly_counters_are_exact() {
    let app = TestApp::new().await;
    let id = create(&app).await;
    let sync_id = SyncTaskId(id.clone());
    let store = app.state.sync.store();
    let now = tern_scheduler::now_ms();
    let keys: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    store
        .accept_sync_events(&sync_id, &keys, now)
        .await
        .unwrap();
    let claimed = store
        .claim_sync_events(&sync_id, &sync_claim(), 10, now)
        .await
        .unwrap();
    let kinds = [
        (OutcomeKind::Succeeded, 100),
        (OutcomeKind::Succeeded, 20),
        (OutcomeKind::Failed, 7),
        (OutcomeKind::Skipped, 3),
    ];
    let resolutions: Vec<_> = claimed
        .into_iter()
        .zip(kinds)
        .map(|(event, (kind, size))| (event, EventResolution::Done { kind, size }))
        .collect();
    store
        .resolve_sync_events(&sync_id, SYNC_NODE, &resolutions, now)
        .await
        .unwrap();

    let shown = app
        .ok(
            Method::GET,
            &format!("{BASE}/{id}?query_time={now}"),
            &Value::Null,
        )
        .await;
    assert_eq!(shown["monthly_acceptance_request"], 4);
    assert_eq!(shown["monthly_success_object"], 2);
    assert_eq!(shown["monthly_failure_object"], 1);
    assert_eq!(shown["monthly_skip_object"], 1);
    assert_eq!(shown["monthly_size"], 120);
    let last_year = now - 400 * 24 * 3_600_000;
    let old = app
        .ok(
            Method::GET,
            &format!("{BASE}/{id}?query_time={last_year}"),
            &Value::Null,
        )
        .await;
    assert_eq!(old["monthly_acceptance_request"], 0);

    let start = now - 3_600_000;
    let uri = format!(
        "{BASE}/{id}/statistics?data_type=REQUEST%2CSIZE%2CREQUEST&start_time={start}&end_time={now}"
    );
    let stats = app.ok(Method::GET, &uri, &Value::Null).await;
    assert_eq!(stats["statistic_time_type"], "FIVE_MINUTES");
    let series = stats["statistic_datas"].as_array().unwrap();
    assert_eq!(series.len(), 2, "a repeated type gives one series: {stats}");
    assert_eq!(series[0]["data_type"], "REQUEST");
    let points = series[0]["data"].as_array().unwrap();
    assert_eq!(
        points.len() as i64,
        (now / STAT_BUCKET_MS) - (start / STAT_BUCKET_MS) + 1
    );
    let sum = |index: usize| -> i64 {
        series[index]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["statistic_num"].as_i64().unwrap())
            .sum()
    };
    assert_eq!((sum(0), sum(1)), (4, 120));
    let week = app
        .ok(
            Method::GET,
            &format!(
                "{BASE}/{id}/statistics?data_type=FAILURE&start_time={}&end_time={now}",
                now - 7 * 24 * 3_600_000
            ),
            &Value::Null,
        )
        .await;
    assert_eq!(week["statistic_time_type"], "ONE_HOUR");
    assert_eq!(
        week["statistic_datas"][0]["data"].as_array().unwrap().len(),
        169
    );
}

#[tokio::test]
async fn test_s3_notifications_queue_created_keys_and_ignore_removals() {
    let app = TestApp::new().await;
    let id = create(&app).await;
    let uri = format!("{BASE}/{id}/notifications");
    let record = |name: &str, bucket: &str, key: &str| json!({"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}});
    let body = json!({"Records": [
        record("ObjectCreated:Put", "src-bucket", "dir/a+b%2Bc%25.txt"),
        record("s3:ObjectCreated:CompleteMultipartUpload", "src-bucket", "caf%C3%A9"),
        record("ObjectRemoved:Delete", "src-bucket", "gone.txt"),
    ]});
    let answer = app.ok(Method::POST, &uri, &body).await;
    assert_eq!(answer, json!({"received": 2, "queued": 2, "ignored": 1}));
    let store = app.state.sync.store();
    let claimed = store
        .claim_sync_events(&SyncTaskId(id.clone()), &sync_claim(), 10, i64::MAX)
        .await
        .unwrap();
    let mut keys: Vec<&str> = claimed.iter().map(|e| e.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["café", "dir/a b+c%.txt"]);
    // A test event (no records) is fine.
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent"});
    assert_eq!(
        app.ok(Method::POST, &uri, &test_event).await,
        json!({"received": 0, "queued": 0, "ignored": 0})
    );
    let wrong_bucket = json!({"Records": [record("ObjectCreated:Put", "other", "k")]});
    let reply = app
        .refused_with(
            Method::POST,
            &uri,
            &wrong_bucket,
            StatusCode::BAD_REQUEST,
            "OMS.0001",
        )
        .await;
    assert_names(&reply, "OMS.0001", "Records[0].s3.bucket.name");
    let bad_key = json!({"Records": [record("ObjectCreated:Put", "src-bucket", "%zz")]});
    let reply = app
        .refused_with(
            Method::POST,
            &uri,
            &bad_key,
            StatusCode::BAD_REQUEST,
            "OMS.0001",
        )
        .await;
    assert_names(&reply, "OMS.0001", "Records[0].s3.object.key");
    let anonymous = app
        .send_as(
            None,
            Method::POST,
            &uri,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    app.ok(Method::POST, &format!("{BASE}/{id}/stop"), &Value::Null)
        .await;
    app.refused_with(
        Method::POST,
        &uri,
        &body,
        StatusCode::BAD_REQUEST,
        "OMS.0064",
    )
    .await;
}
