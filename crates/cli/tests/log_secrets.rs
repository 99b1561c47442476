//! Secrets never reach the log, at any level: `tern copy` and `tern serve` run with
//! `TERN_LOG=trace` against SeaweedFS, and their whole output is searched for every secret they
//! were given (storage SKs, STS tokens, the API token, the AK/SK-signing secret).
//!
//! Each test also checks that the log holds trace-level lines, so it fails if logging is off
//! rather than passing on an empty log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use serve_harness::{http, write_config, TernServer, DST_REGION, SRC_REGION};
use sha2::{Digest, Sha256};
use tern_testkit::{S3Client, S3Flavor, S3Server};

/// Distinctive values that must never appear in any log line.
const SRC_TOKEN: &str = "SRC-STS-TOKEN-c0ffee-must-never-be-logged";
const DST_TOKEN: &str = "DST-STS-TOKEN-decaf0-must-never-be-logged";
const WRONG_DST_SK: &str = "WRONG-DST-SK-5ec4e7-must-never-be-logged";
const WRONG_API_TOKEN: &str = "WRONG-API-TOKEN-b4dbee-must-never-be-logged";

/// Asserts `log` is a real trace-level log (at least `min_trace_lines` TRACE lines) and contains
/// none of `secrets`.
fn assert_trace_log_without(log: &str, min_trace_lines: usize, secrets: &[(&str, &str)]) {
    let trace_lines = log.lines().filter(|line| line.contains("TRACE")).count();
    assert!(
        trace_lines >= min_trace_lines,
        "expected a trace-level log, got {trace_lines} TRACE lines:\n{}",
        tail(log)
    );
    for (name, secret) in secrets {
        assert!(!secret.is_empty(), "{name} is empty");
        if let Some(line) = log.lines().find(|line| line.contains(secret)) {
            panic!("{name} appears in the log: {line}");
        }
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn seed(client: &S3Client, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let mut objects = Vec::new();
    for i in 0..5 {
        let key = format!("dir/obj-{i}.txt");
        let data: Vec<u8> = key.bytes().cycle().take(1000 + i * 37).collect();
        client
            .put_object(bucket, &key, data.clone(), Some("text/plain"), &[])
            .await
            .unwrap();
        objects.push((key, data));
    }
    objects
}

async fn assert_copied(client: &S3Client, dst: &str, objects: &[(String, Vec<u8>)]) {
    for (key, data) in objects {
        let copied = client
            .get_object(dst, key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing at the destination"));
        assert!(copied.body == *data, "{key} differs");
    }
}

fn copy(s3: &S3Server, src: &str, dst: &str, tokens: Option<(&str, &str)>) -> Output {
    let url = |bucket: &str| {
        format!(
            "s3://{bucket}/?endpoint={}&region={}",
            s3.endpoint(),
            s3.region()
        )
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_tern"));
    command
        .args(["copy", &url(src), &url(dst), "--json"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env("TERN_LOG", "trace")
        .env("TERN_SRC_AK", s3.access_key())
        .env("TERN_SRC_SK", s3.secret_key())
        .env("TERN_DST_AK", s3.access_key())
        .env("TERN_DST_SK", s3.secret_key());
    if let Some((src_token, dst_token)) = tokens {
        command
            .env("TERN_SRC_TOKEN", src_token)
            .env("TERN_DST_TOKEN", dst_token);
    }
    command.output().expect("tern runs")
}

fn all_output(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn test_copy_at_trace_level_logs_no_secret() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = s3.client();
    let src = s3.new_bucket("logsec-src").await.unwrap();
    let dst = s3.new_bucket("logsec-dst").await.unwrap();
    let objects = seed(&client, &src).await;

    let output = copy(s3, &src, &dst, None);
    let log = all_output(&output);
    assert_eq!(output.status.code(), Some(0), "{}", tail(&log));
    assert_copied(&client, &dst, &objects).await;
    assert_trace_log_without(&log, 10, &[("storage SK", s3.secret_key())]);

    // With STS tokens (SeaweedFS may refuse them; the run's outcome does not matter here, only
    // that neither the tokens nor the SK show up, on the error path included). SeaweedFS
    // refuses the first request, so the log is short.
    let output = copy(s3, &src, &dst, Some((SRC_TOKEN, DST_TOKEN)));
    assert_trace_log_without(
        &all_output(&output),
        1,
        &[
            ("storage SK", s3.secret_key()),
            ("source token", SRC_TOKEN),
            ("destination token", DST_TOKEN),
        ],
    );
}

/// Sends a request signed with SDK-HMAC-SHA256 (REFERENCE.md §5), as the official SDKs do.
async fn signed_get(server: &TernServer, path: &str) -> (u16, String) {
    let host = server.endpoint.trim_start_matches("http://").to_owned();
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("host", host.parse().unwrap());
    headers.insert("x-sdk-date", date.parse().unwrap());
    let signed = ["host".to_owned(), "x-sdk-date".to_owned()];
    let canonical =
        tern_server::auth::signature::canonical_request("GET", path, "", &headers, &signed, b"")
            .unwrap();
    let string_to_sign = format!(
        "SDK-HMAC-SHA256\n{date}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(server.sk.as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.endpoint))
        .header("x-sdk-date", &date)
        .header(
            "authorization",
            format!(
                "SDK-HMAC-SHA256 Access={}, SignedHeaders=host;x-sdk-date, Signature={signature}",
                server.ak
            ),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn wait_status(server: &TernServer, id: i64, wanted: &[i64]) -> Value {
    let url = format!("{}/v2/{}/tasks/{id}", server.endpoint, server.project_id);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http("GET", &url, Some(&server.token), None).await;
        assert_eq!(status, 200, "{body}");
        let task: Value = serde_json::from_str(&body).unwrap();
        if wanted.contains(&task["status"].as_i64().unwrap()) {
            return task;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} stuck: {task}\n{}",
            tail(&server.log_text())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn test_serve_at_trace_level_logs_no_secret() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = s3.client();
    let src = s3.new_bucket("logsec-srv-src").await.unwrap();
    let dst = s3.new_bucket("logsec-srv-dst").await.unwrap();
    let objects = seed(&client, &src).await;
    let dir = tempfile::tempdir().unwrap();
    let server =
        TernServer::start_with_log_filter(dir.path(), write_config(dir.path(), s3), "trace");

    // A task whose destination SK is wrong: it runs, fails on the destination, and is then
    // started again with the right credentials in the body.
    let body = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": s3.access_key(),
                     "sk": s3.secret_key(), "security_token": SRC_TOKEN,
                     "bucket": src, "object_key": ["dir/"]},
        "dst_node": {"ak": s3.access_key(), "sk": WRONG_DST_SK, "security_token": DST_TOKEN,
                     "bucket": dst, "region": DST_REGION},
    });
    let tasks = format!("{}/v2/{}/tasks", server.endpoint, server.project_id);
    let (status, response) =
        http("POST", &tasks, Some(&server.token), Some(&body.to_string())).await;
    assert_eq!(status, 200, "{response}");
    let id = serde_json::from_str::<Value>(&response).unwrap()["id"]
        .as_i64()
        .unwrap();
    let task = wait_status(&server, id, &[4, 5]).await;
    assert_eq!(task["status"], 4, "a wrong SK must fail the run: {task}");

    let start = json!({"src_ak": s3.access_key(), "src_sk": s3.secret_key(),
                       "dst_ak": s3.access_key(), "dst_sk": s3.secret_key()});
    let (status, response) = http(
        "POST",
        &format!("{tasks}/{id}/start"),
        Some(&server.token),
        Some(&start.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let task = wait_status(&server, id, &[4, 5]).await;
    assert_eq!(task["status"], 5, "{task}");
    assert_eq!(task["successful_num"], objects.len(), "{task}");
    assert_copied(&client, &dst, &objects).await;

    // The AK/SK-signed path and a refused token go through the log too.
    let path = format!("/v2/{}/tasks/{id}", server.project_id);
    let (status, response) = signed_get(&server, &path).await;
    assert_eq!(status, 200, "signed request refused: {response}");
    let (status, _) = http("GET", &tasks, Some(WRONG_API_TOKEN), None).await;
    assert_eq!(status, 401);

    assert_trace_log_without(
        &server.log_text(),
        10,
        &[
            ("storage SK", s3.secret_key()),
            ("wrong destination SK", WRONG_DST_SK),
            ("source STS token", SRC_TOKEN),
            ("destination STS token", DST_TOKEN),
            ("API token", &server.token),
            ("refused API token", WRONG_API_TOKEN),
            ("signing SK", &server.sk),
        ],
    );
}
