//! Tests that need crate internals: start failures, pagination, naming, port picking.

use std::time::Duration;

use tempfile::TempDir;

use crate::process::{self, Launch, Ready};
use crate::{bucket_name, free_port, S3Flavor, S3Server};

fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("tern-testkit-test-")
        .tempdir()
        .expect("temp dir")
}

#[test]
fn test_bucket_name_is_valid_and_unique() {
    for prefix in [
        "Copy_Test",
        "",
        "--x--",
        "xn--punycode",
        "a.b c/d",
        &"long".repeat(30),
    ] {
        let name = bucket_name(prefix);
        assert!((3..=63).contains(&name.len()), "{name}");
        assert!(name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        assert!(
            !name.starts_with('-') && !name.ends_with('-') && !name.contains("--"),
            "{name}"
        );
    }
    assert!(bucket_name("Copy_Test").starts_with("copy-test-"));
    assert_ne!(bucket_name("same"), bucket_name("same"));
}

#[test]
fn test_free_port_ranges_are_free_and_disjoint() {
    let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
    for (i, a) in ports.iter().enumerate() {
        assert!(*a < 45_000 && *a + 10_004 < 32_768, "{a}");
        for b in &ports[i + 1..] {
            assert!(a.abs_diff(*b) >= 5, "{a} and {b} overlap");
        }
    }
}

#[tokio::test]
async fn test_missing_binary_is_an_error_naming_it() {
    let launch = Launch {
        program: "tern-no-such-server-binary",
        args: vec!["--port".to_string(), "1".to_string()],
        envs: Vec::new(),
        cleanup: Vec::new(),
    };
    let result = process::start(
        "nothing",
        &launch,
        temp_dir(),
        "http://127.0.0.1:1/",
        Ready::AnyStatus,
        Duration::from_secs(5),
    )
    .await;
    let msg = result
        .err()
        .map(|f| f.error.to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("`tern-no-such-server-binary` is not on PATH"),
        "{msg}"
    );
    assert!(
        msg.contains("command: tern-no-such-server-binary --port 1"),
        "{msg}"
    );
}

#[tokio::test]
async fn test_server_that_exits_early_reports_log_tail() {
    let launch = Launch {
        program: "sh",
        args: vec![
            "-c".to_string(),
            "echo \"boom: it's\" \"address already in use\"; exit 3".to_string(),
        ],
        envs: Vec::new(),
        cleanup: Vec::new(),
    };
    let port = free_port();
    let dir = temp_dir();
    let dir_path = dir.path().to_path_buf();
    let result = process::start(
        "fake",
        &launch,
        dir,
        &format!("http://127.0.0.1:{port}/"),
        Ready::AnyStatus,
        Duration::from_secs(10),
    )
    .await;
    let failure = result.err().expect("start must fail");
    let msg = failure.error.to_string();
    assert!(failure.port_conflict, "{msg}");
    assert!(msg.contains("exited before becoming ready"), "{msg}");
    assert!(msg.contains("boom: it's address already in use"), "{msg}");
    assert!(msg.contains("exited with status 3"), "{msg}");
    // Nothing of the watchdog is left to write into the (removed) data dir.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!dir_path.exists());
}

#[tokio::test]
async fn test_server_that_never_gets_ready_times_out_and_is_killed() {
    let dir = temp_dir();
    let dir_path = dir.path().to_path_buf();
    let marker = dir.path().join("alive");
    let launch = Launch {
        program: "sh",
        args: vec![
            "-c".to_string(),
            "echo starting slowly; while :; do touch alive; sleep 0.1; done".to_string(),
        ],
        envs: Vec::new(),
        cleanup: Vec::new(),
    };
    let port = free_port();
    let result = process::start(
        "sleepy",
        &launch,
        dir,
        &format!("http://127.0.0.1:{port}/"),
        Ready::AnyStatus,
        Duration::from_secs(1),
    )
    .await;
    let msg = result
        .err()
        .map(|f| f.error.to_string())
        .unwrap_or_default();
    assert!(msg.contains("did not become ready"), "{msg}");
    assert!(msg.contains("starting slowly"), "{msg}");
    // The data dir is gone and nothing recreates it: the loop was killed with its group.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!marker.exists() && !dir_path.exists());
}

#[tokio::test]
async fn test_list_keys_follows_continuation_tokens() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.expect("server");
    let bucket = server.new_bucket("paging").await.expect("bucket");
    let client = server.client();
    let mut want = Vec::new();
    for i in 0..7 {
        let key = format!("p/k & <{i}>");
        client
            .put_object(&bucket, &key, vec![i], None, &[])
            .await
            .expect("put");
        want.push(key);
    }
    client
        .put_object(&bucket, "other", vec![], None, &[])
        .await
        .expect("put");
    let mut got = client
        .list_keys_paged(&bucket, "p/", Some(2))
        .await
        .expect("list");
    got.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn test_recording_server_keeps_direct_and_proxied_requests() {
    let recorder = crate::RecordingServer::start().await.expect("recorder");
    recorder.respond("/token", 200, "application/json", "{}");

    let direct = reqwest::Client::new()
        .get(format!("{}/bucket/key?list-type=2", recorder.endpoint()))
        .header("Authorization", "Bearer abc")
        .send()
        .await
        .expect("direct request");
    assert_eq!(direct.status().as_u16(), 404);

    let proxied_client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(recorder.endpoint()).expect("proxy"))
        .build()
        .expect("client");
    let proxied = proxied_client
        .post("http://bucket.example.invalid/token")
        .body("assertion=xyz")
        .send()
        .await
        .expect("proxied request");
    assert_eq!(proxied.status().as_u16(), 200);

    let requests = recorder.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path_and_query, "/bucket/key?list-type=2");
    assert_eq!(requests[0].header("authorization"), Some("Bearer abc"));
    assert!(requests[0].mentions("BEARER ABC"));
    assert_eq!(requests[1].host, "bucket.example.invalid");
    assert_eq!(requests[1].path_and_query, "/token");
    assert!(requests[1].mentions("xyz"));
    assert!(!requests[1].mentions("abc"));
    recorder.clear();
    assert!(recorder.requests().is_empty());
}

/// Which servers list multipart uploads in progress (the engine's abort tests rely on it).
#[tokio::test]
async fn test_started_multipart_upload_is_listed_on_both_servers() {
    for flavor in [S3Flavor::SeaweedFs, S3Flavor::Moto] {
        let server = S3Server::shared(flavor).await.expect("server starts");
        let bucket = server.new_bucket("uploads").await.expect("bucket");
        let client = server.client();
        assert_eq!(
            client.list_multipart_uploads(&bucket).await.expect("list"),
            vec![]
        );
        let id = client
            .create_multipart_upload(&bucket, "dir/big.bin")
            .await
            .expect("create upload");
        let listed = client.list_multipart_uploads(&bucket).await.expect("list");
        assert_eq!(listed, vec![("dir/big.bin".to_string(), id)], "{flavor:?}");
    }
}
