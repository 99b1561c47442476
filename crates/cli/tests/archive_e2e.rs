//! Archived sources, storage classes and metadata names across stores, against real servers:
//! `enable_restore` (`tern copy --restore`) and `dst_storage_policy: SRC_STORAGE_MAPPING`
//! (`--storage-policy`) on moto, whose GLACIER and DEEP_ARCHIVE objects refuse a GET until
//! restored; and S3 metadata names Azure refuses, copied to Azurite. Every result is read back
//! with the test kit's own clients.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_harness::{http, TernServer, DST_REGION, SRC_REGION};
use tern_testkit::{AzuriteServer, S3Flavor, S3Server};

/// Deterministic bytes that differ per object.
fn bytes(seed: u8, len: usize) -> Vec<u8> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

fn url(server: &S3Server, bucket: &str) -> String {
    format!(
        "s3://{bucket}/?endpoint={}&region={}",
        server.endpoint(),
        server.region()
    )
}

fn tern(server: &S3Server, args: &[&str], extra_env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tern"));
    command
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("TERN_SRC_AK", server.access_key())
        .env("TERN_SRC_SK", server.secret_key())
        .env("TERN_DST_AK", server.access_key())
        .env("TERN_DST_SK", server.secret_key());
    for (name, value) in extra_env {
        command.env(name, value);
    }
    command.output().expect("tern runs")
}

fn report(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The source objects: (key, S3 class, bytes). 6 MiB goes in two parts at the 5 MiB part size.
fn classed_objects() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("hot.txt", "STANDARD", bytes(1, 1000)),
        ("ia.bin", "STANDARD_IA", bytes(2, 2000)),
        ("one-zone.bin", "ONEZONE_IA", bytes(3, 3000)),
        ("instant.bin", "GLACIER_IR", bytes(4, 4000)),
        ("cold/a b.bin", "GLACIER", bytes(5, 5000)),
        ("cold/big.bin", "GLACIER", bytes(6, 6 * 1024 * 1024 + 7)),
        ("deep.bin", "DEEP_ARCHIVE", bytes(7, 7000)),
    ]
}

fn archived(class: &str) -> bool {
    matches!(class, "GLACIER" | "DEEP_ARCHIVE")
}

async fn seed(server: &S3Server, bucket: &str) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let client = server.client();
    let objects = classed_objects();
    for (key, class, body) in &objects {
        client
            .put_object_in_class(bucket, key, body.clone(), class)
            .await
            .unwrap();
    }
    objects
}

async fn assert_bytes(server: &S3Server, bucket: &str, key: &str, want: &[u8]) {
    // An object written in an archive class is read after a restore, like any archived object.
    let head = server.client().head_object(bucket, key).await.unwrap();
    let class = head.as_ref().and_then(|h| h.storage_class.as_deref());
    if matches!(class, Some("GLACIER" | "DEEP_ARCHIVE")) {
        server
            .client()
            .restore_object(bucket, key, 1)
            .await
            .unwrap();
    }
    let read = server
        .client()
        .get_object(bucket, key)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{key:?} missing at the destination"));
    assert!(
        read.body == want,
        "{key:?}: {} bytes differ from the source's {}",
        read.body.len(),
        want.len()
    );
}

/// Without `--restore` each archived object fails alone with TRF.0012 naming the cause and no
/// restore is asked for; with it, they are restored, waited for and copied byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_copy_archived_objects_fail_alone_then_restore_and_copy() {
    let moto = S3Server::shared(S3Flavor::Moto).await.unwrap();
    let src = moto.new_bucket("arch-src").await.unwrap();
    let dst = moto.new_bucket("arch-dst").await.unwrap();
    let objects = seed(moto, &src).await;
    let (src_url, dst_url) = (url(moto, &src), url(moto, &dst));
    // Streamed: moto copies archived objects server-side where S3 refuses (InvalidObjectState,
    // after which tern streams); streaming meets the archived state as S3 shows it.
    let common = ["--json", "--part-size", "5M", "--no-server-side-copy"];

    let first = tern(
        moto,
        &[&["copy", &src_url, &dst_url][..], &common].concat(),
        &[],
    );
    let json = report(&first);
    assert_eq!(first.status.code(), Some(1), "{json}");
    let archived_keys: Vec<&str> = objects
        .iter()
        .filter(|(_, class, _)| archived(class))
        .map(|(key, _, _)| *key)
        .collect();
    assert_eq!(
        (json["successful_num"].as_u64(), json["failed_num"].as_u64()),
        (Some(4), Some(archived_keys.len() as u64)),
        "{json}"
    );
    let mut failed: Vec<&str> = json["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["code"], "TRF.0012", "{f}");
            let reason = f["reason"].as_str().unwrap();
            assert!(
                reason.contains("archived") && reason.contains("enable_restore"),
                "{reason}"
            );
            f["key"].as_str().unwrap()
        })
        .collect();
    failed.sort_unstable();
    let mut want_failed = archived_keys.clone();
    want_failed.sort_unstable();
    assert_eq!(failed, want_failed);
    let client = moto.client();
    for (key, class, body) in &objects {
        if archived(class) {
            assert!(
                client.get_object(&dst, key).await.unwrap().is_none(),
                "{key}"
            );
            let head = client.head_object(&src, key).await.unwrap().unwrap();
            assert_eq!(head.restore, None, "{key}: no restore without --restore");
        } else {
            assert_bytes(moto, &dst, key, body).await;
        }
    }

    let second = tern(
        moto,
        &[&["copy", &src_url, &dst_url, "--restore"][..], &common].concat(),
        &[],
    );
    let json = report(&second);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{json}\n{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        (
            json["successful_num"].as_u64(),
            json["skipped_num"].as_u64()
        ),
        (Some(archived_keys.len() as u64), Some(4)),
        "{json}"
    );
    for (key, class, body) in &objects {
        assert_bytes(moto, &dst, key, body).await;
        if archived(class) {
            let head = client.head_object(&src, key).await.unwrap().unwrap();
            let restore = head.restore.unwrap_or_default();
            assert!(
                restore.contains("ongoing-request=\"false\""),
                "{key}: {restore}"
            );
        }
    }

    // Restores are S3 requests: a local-directory source cannot take --restore.
    let local = tempfile::tempdir().unwrap();
    let refused = tern(
        moto,
        &[
            "copy",
            local.path().to_str().unwrap(),
            &dst_url,
            "--restore",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("needs a source region that speaks S3"),
        "{stderr}"
    );
}

/// `--storage-policy SRC_STORAGE_MAPPING` writes each object in the class its source's maps to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_copy_storage_class_follows_the_source_class() {
    let moto = S3Server::shared(S3Flavor::Moto).await.unwrap();
    let src = moto.new_bucket("map-src").await.unwrap();
    let dst = moto.new_bucket("map-dst").await.unwrap();
    let objects = seed(moto, &src).await;
    let output = tern(
        moto,
        &[
            "copy",
            &url(moto, &src),
            &url(moto, &dst),
            "--restore",
            "--storage-policy",
            "SRC_STORAGE_MAPPING",
            "--part-size",
            "5M",
            "--json",
        ],
        &[],
    );
    let json = report(&output);
    assert_eq!(output.status.code(), Some(0), "{json}");
    assert_eq!(json["successful_num"].as_u64(), Some(objects.len() as u64));
    let client = moto.client();
    for (key, class, body) in &objects {
        assert_bytes(moto, &dst, key, body).await;
        let head = client.head_object(&dst, key).await.unwrap().unwrap();
        let want = match *class {
            "STANDARD" => None,
            "STANDARD_IA" | "ONEZONE_IA" => Some("STANDARD_IA"),
            "GLACIER" | "GLACIER_IR" => Some("GLACIER"),
            "DEEP_ARCHIVE" => Some("DEEP_ARCHIVE"),
            other => panic!("unexpected class {other}"),
        };
        assert_eq!(
            head.storage_class.as_deref().filter(|c| *c != "STANDARD"),
            want,
            "{key} ({class})"
        );
    }

    // A fixed policy writes every object in that one class.
    let fixed = moto.new_bucket("map-fixed").await.unwrap();
    let output = tern(
        moto,
        &[
            "copy",
            &url(moto, &src),
            &url(moto, &fixed),
            "--object",
            "hot.txt",
            "--storage-policy",
            "IA",
            "--json",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", report(&output));
    let head = client
        .head_object(&fixed, "hot.txt")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.storage_class.as_deref(), Some("STANDARD_IA"));
}

async fn wait_done(server: &TernServer, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = http(
            "GET",
            &format!("{}/v2/{}/tasks/{id}", server.endpoint, server.project_id),
            Some(&server.token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let task: Value = serde_json::from_str(&body).unwrap();
        if matches!(task["status"].as_i64(), Some(4 | 5)) {
            return task;
        }
        assert!(
            Instant::now() < deadline,
            "task {id} stuck: {task}\nlog:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_task(server: &TernServer, body: &Value) -> (u16, Value) {
    let (status, response) = http(
        "POST",
        &format!("{}/v2/{}/tasks", server.endpoint, server.project_id),
        Some(&server.token),
        Some(&body.to_string()),
    )
    .await;
    (
        status,
        serde_json::from_str(&response).unwrap_or(Value::Null),
    )
}

/// Through `tern serve`: a task without `enable_restore` lists its archived objects as failed
/// (TRF.0012, in the failed-object list); one with it and `SRC_STORAGE_MAPPING` copies all of
/// them in their mapped classes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_serve_task_restores_archived_objects_and_maps_classes() {
    let moto = S3Server::shared(S3Flavor::Moto).await.unwrap();
    let src = moto.new_bucket("task-arch-src").await.unwrap();
    let dst = moto.new_bucket("task-arch-dst").await.unwrap();
    let objects = seed(moto, &src).await;
    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start(dir.path(), moto);
    let body = |enable_restore: bool, policy: &str| {
        json!({
            "task_type": "prefix",
            "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "bucket": src,
                         "ak": moto.access_key(), "sk": moto.secret_key(), "object_key": [""]},
            "dst_node": {"cloud_type": "HuaweiCloud", "region": DST_REGION, "bucket": dst,
                         "ak": moto.access_key(), "sk": moto.secret_key()},
            "enable_restore": enable_restore,
            "dst_storage_policy": policy,
        })
    };

    let (status, created) = create_task(&server, &body(false, "STANDARD")).await;
    assert_eq!(status, 200, "{created}");
    let task = wait_done(&server, created["id"].as_i64().unwrap()).await;
    let archived_count = objects.iter().filter(|(_, c, _)| archived(c)).count() as i64;
    assert_eq!(
        (task["status"].as_i64(), task["failed_num"].as_i64()),
        (Some(4), Some(archived_count)),
        "{task}"
    );
    let list_key = task["failed_object_record"]["list_file_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no failed-object list: {task}"));
    let list = moto
        .client()
        .get_object(&dst, list_key)
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(list.body).unwrap();
    assert_eq!(text.lines().count() as i64, archived_count, "{text}");
    assert!(text.lines().all(|l| l.starts_with("TRF.0012\t")), "{text}");
    assert!(
        text.contains("deep.bin") && text.contains("cold/big.bin"),
        "{text}"
    );

    let (status, created) = create_task(&server, &body(true, "SRC_STORAGE_MAPPING")).await;
    assert_eq!(status, 200, "{created}");
    let task = wait_done(&server, created["id"].as_i64().unwrap()).await;
    assert_eq!(task["status"].as_i64(), Some(5), "{task}");
    assert_eq!(task["failed_num"].as_i64(), Some(0), "{task}");
    for (key, class, body) in &objects {
        assert_bytes(moto, &dst, key, body).await;
        // The first task wrote the readable objects in STANDARD; the second copied the
        // archived ones only, in their mapped classes.
        if archived(class) {
            let head = moto.client().head_object(&dst, key).await.unwrap().unwrap();
            assert_eq!(head.storage_class.as_deref(), Some(*class), "{key}");
        }
    }
    assert!(
        server.log_text().contains("restore requested"),
        "the wait shows in the log"
    );

    // A source that does not speak S3 cannot be restored: refused with the field named.
    let mut local_src = body(true, "STANDARD");
    local_src["src_node"]["cloud_type"] = json!("Azure");
    local_src["src_node"]["region"] = json!("global");
    local_src["src_node"]["connection_string"] =
        json!("AccountName=a;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/a");
    let (status, refused) = create_task(&server, &local_src).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error_msg"]
            .as_str()
            .unwrap_or("")
            .contains("enable_restore"),
        "{refused}"
    );
}

/// S3 metadata names that are no C# identifiers are renamed on Azure (AzCopy's rule) instead of
/// failing the PutBlob; names that would rename alike fail that object alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_metadata_names_azure_refuses_are_renamed() {
    let moto = S3Server::shared(S3Flavor::Moto).await.unwrap();
    let azurite = AzuriteServer::shared().await.unwrap();
    let src = moto.new_bucket("meta-src").await.unwrap();
    let container = azurite.new_container("meta-dst").await.unwrap();
    let client = moto.client();
    let big = bytes(9, 6 * 1024 * 1024 + 1);
    for (key, body) in [("small.txt", bytes(8, 100)), ("big.bin", big)] {
        client
            .put_object(
                &src,
                key,
                body,
                Some("text/x-tern"),
                &[("x-foo", "1"), ("1abc", "2"), ("plain", "3")],
            )
            .await
            .unwrap();
    }
    client
        .put_object(
            &src,
            "clash.txt",
            b"c".to_vec(),
            None,
            &[("a-b", "1"), ("a.b", "2")],
        )
        .await
        .unwrap();
    let output = tern(
        moto,
        &[
            "copy",
            &url(moto, &src),
            &format!("azblob://{container}/"),
            "--metadata",
            "--part-size",
            "5M",
            "--json",
        ],
        &[(
            "TERN_DST_AZURE_CONNECTION_STRING",
            azurite.connection_string(),
        )],
    );
    let json = report(&output);
    assert_eq!(
        (json["successful_num"].as_u64(), json["failed_num"].as_u64()),
        (Some(2), Some(1)),
        "{json}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let failure = &json["failed"][0];
    assert_eq!(failure["key"], "clash.txt", "{json}");
    let reason = failure["reason"].as_str().unwrap();
    assert!(
        reason.contains("\"a-b\"") && reason.contains("\"a.b\""),
        "{reason}"
    );

    let azure = azurite.client();
    for key in ["small.txt", "big.bin"] {
        let blob = azure.get_blob(&container, key).await.unwrap().unwrap();
        let source = client.get_object(&src, key).await.unwrap().unwrap();
        assert!(blob.body == source.body, "{key} bytes differ");
        let meta = &blob.user_metadata;
        for (name, value) in [
            ("rename_x_foo", "1"),
            ("rename_key_x_foo", "x-foo"),
            ("rename_1abc", "2"),
            ("rename_key_1abc", "1abc"),
            ("plain", "3"),
        ] {
            assert_eq!(
                meta.get(name).map(String::as_str),
                Some(value),
                "{key}: {meta:?}"
            );
        }
    }
    assert!(azure
        .get_blob(&container, "clash.txt")
        .await
        .unwrap()
        .is_none());
}
