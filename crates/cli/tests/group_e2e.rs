//! Task groups end to end: the official SDK script against `tern serve` (SeaweedFS and moto),
//! and SIGKILLs during task creation and during migration.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_harness::{http, seed, TernServer};
use tern_testkit::{S3Flavor, S3Server};

const PREFIX_COUNT: usize = 1000;
const GROUP_TASK_MAX: usize = 400;
const SLOW_COUNT: usize = 8;

fn config(
    dir: &std::path::Path,
    weed: &S3Server,
    moto: &S3Server,
    group_task_max: usize,
) -> std::path::PathBuf {
    let path = dir.join("tern.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\ngroup_task_max_objects = {group_task_max}\n\
             [[regions]]\ncloud_type = \"AWS\"\nregion = \"weed-src\"\nendpoint = \"{weed}\"\nprotocol = \"s3\"\n\
             [[regions]]\ncloud_type = \"AWS\"\nregion = \"moto-src\"\nendpoint = \"{moto}\"\nprotocol = \"s3\"\n\
             [[regions]]\ncloud_type = \"HuaweiCloud\"\nregion = \"weed-dst\"\nendpoint = \"{weed}\"\nprotocol = \"s3\"\n",
            weed = weed.endpoint(),
            moto = moto.endpoint()
        ),
    )
    .unwrap();
    path
}

fn body(key: &str, len: usize) -> Vec<u8> {
    key.bytes().cycle().take(len).collect()
}

#[tokio::test]
async fn test_official_sdk_drives_task_groups() {
    let weed = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let moto = S3Server::shared(S3Flavor::Moto).await.unwrap();
    assert_eq!(
        (weed.access_key(), weed.secret_key()),
        (moto.access_key(), moto.secret_key())
    );
    let client = weed.client();
    let src = weed.new_bucket("grp-src").await.unwrap();
    let dst = weed.new_bucket("grp-dst").await.unwrap();
    let moto_src = moto.new_bucket("grp-moto").await.unwrap();
    let mut objects: Vec<(String, Vec<u8>)> = Vec::new();
    for prefix in ["p1", "p2", "p3"] {
        for i in 0..PREFIX_COUNT {
            let key = format!("{prefix}/{i:04}.txt");
            objects.push((key.clone(), body(&key, 50 + i % 200)));
        }
    }
    seed(&client, &src, &objects).await;
    let slow: Vec<(String, Vec<u8>)> = (0..SLOW_COUNT)
        .map(|i| (format!("slow/{i}.bin"), body("slow", 1024 * 1024)))
        .collect();
    seed(&client, &src, &slow).await;

    let dir = tempfile::tempdir().unwrap();
    let server =
        TernServer::start_with_config(dir.path(), config(dir.path(), weed, moto, GROUP_TASK_MAX));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/oms_sdk_groups.py");
    let output = Command::new("python3")
        .arg(script)
        .env("TERN_ENDPOINT", &server.endpoint)
        .env("TERN_PROJECT_ID", &server.project_id)
        .env("TERN_AK", &server.ak)
        .env("TERN_SK", &server.sk)
        .env("WEED_ENDPOINT", weed.endpoint())
        .env("MOTO_ENDPOINT", moto.endpoint())
        .env("S3_AK", weed.access_key())
        .env("S3_SK", weed.secret_key())
        .env("WEED_SRC_BUCKET", &src)
        .env("MOTO_SRC_BUCKET", &moto_src)
        .env("DST_BUCKET", &dst)
        .env("WEED_SRC_REGION", "weed-src")
        .env("MOTO_SRC_REGION", "moto-src")
        .env("DST_REGION", "weed-dst")
        .env("MOTO_LOG", moto.log_path())
        .env("PREFIX_COUNT", PREFIX_COUNT.to_string())
        .env("SLOW_COUNT", SLOW_COUNT.to_string())
        .env("GROUP_TASK_MAX", GROUP_TASK_MAX.to_string())
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "SDK group script failed\nstdout:\n{stdout}\nstderr:\n{}\nserver log tail:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server
            .log_text()
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Counted independently of tern: the source as the test kit lists it. The prefix group
    // copies p1/ p2/ p3/ to the same keys; the slow group copies slow/ under `slow-copy/`.
    let source_keys: BTreeSet<String> = client
        .list_keys(&src, "")
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(source_keys.len(), objects.len() + slow.len());
    let mut expected = BTreeSet::new();
    for key in &source_keys {
        if key.starts_with("slow/") {
            expected.insert(format!("slow-copy/{key}"));
        } else {
            expected.insert(key.clone());
        }
    }
    let mut copied_keys = BTreeSet::new();
    for prefix in ["p1/", "p2/", "p3/", "slow-copy/"] {
        copied_keys.extend(client.list_keys(&dst, prefix).await.unwrap());
    }
    assert_eq!(
        copied_keys, expected,
        "destination keys differ from the source's"
    );
    let slow_copies = slow
        .iter()
        .map(|(key, data)| (format!("slow-copy/{key}"), data));
    for (key, data) in objects
        .iter()
        .map(|(key, data)| (key.clone(), data))
        .chain(slow_copies)
    {
        let copied = client
            .get_object(&dst, &key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(copied.body == *data, "{key} differs");
    }
}

async fn show_group(server: &TernServer, id: &str) -> Value {
    let url = format!(
        "{}/v2/{}/taskgroups/{id}",
        server.endpoint, server.project_id
    );
    let (status, body) = http("GET", &url, Some(&server.token), None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn test_sigkill_during_group_creation_and_migration() {
    const COUNT: usize = 3000;
    let weed = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let moto = S3Server::shared(S3Flavor::Moto).await.unwrap();
    let client = weed.client();
    let src = weed.new_bucket("gcrash-src").await.unwrap();
    let dst = weed.new_bucket("gcrash-dst").await.unwrap();
    let objects: Vec<(String, Vec<u8>)> = (0..COUNT)
        .map(|i| {
            let key = format!("{}/obj-{i:05}", ["a", "b", "c"][i % 3]);
            let data = body(&key, 3000 + i % 64);
            (key, data)
        })
        .collect();
    seed(&client, &src, &objects).await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = TernServer::start_with_config(dir.path(), config(dir.path(), weed, moto, 100));
    let group = json!({
        "task_type": "PREFIX",
        "src_node": {"cloud_type": "AWS", "region": "weed-src", "ak": weed.access_key(), "sk": weed.secret_key(),
                     "bucket": src, "object_key": ["a/", "b/", "c/"]},
        "dst_node": {"ak": weed.access_key(), "sk": weed.secret_key(), "bucket": dst, "region": "weed-dst"},
        "bandwidth_policy": [{"start": "00:00", "end": "12:00", "max_bandwidth": 1048576},
                             {"start": "12:00", "end": "00:00", "max_bandwidth": 1048576}],
    });
    let url = format!("{}/v2/{}/taskgroups", server.endpoint, server.project_id);
    let (status, response) =
        http("POST", &url, Some(&server.token), Some(&group.to_string())).await;
    assert_eq!(status, 200, "{response}");
    let id = serde_json::from_str::<Value>(&response).unwrap()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Kill while tasks are being created (or right before: both must end exactly).
    let deadline = Instant::now() + Duration::from_secs(30);
    while show_group(&server, &id).await["create_task_num"]
        .as_u64()
        .unwrap()
        < 3
    {
        assert!(Instant::now() < deadline, "no task created");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    server.spawn(false);

    // Kill again in the middle of the migration.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let group = show_group(&server, &id).await;
        if group["success_num"].as_u64().unwrap() >= 400 {
            assert!(
                group["success_num"].as_u64().unwrap() < COUNT as u64,
                "finished before the kill"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {group}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();
    server.spawn(false);
    let update = format!(
        "{}/v2/{}/taskgroups/{id}/update",
        server.endpoint, server.project_id
    );
    let (status, response) = http(
        "PUT",
        &update,
        Some(&server.token),
        Some("{\"bandwidth_policy\":[]}"),
    )
    .await;
    assert_eq!(status, 200, "{response}");

    let deadline = Instant::now() + Duration::from_secs(120);
    let group = loop {
        let group = show_group(&server, &id).await;
        if [5, 6].contains(&group["status"].as_i64().unwrap()) {
            break group;
        }
        assert!(
            Instant::now() < deadline,
            "group stuck: {group}\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(group["status"], 6, "{group}");
    let total = group["total_num"].as_u64().unwrap();
    let (ok, skipped, failed) = (
        group["success_num"].as_u64().unwrap(),
        group["skip_num"].as_u64().unwrap(),
        group["fail_num"].as_u64().unwrap(),
    );
    // Counted independently of tern: the source as the test kit lists it. (`total_num` is the
    // sum of the three kinds by construction, so comparing the sum to it proves nothing.)
    let mut source_keys = BTreeSet::new();
    for prefix in ["a/", "b/", "c/"] {
        source_keys.extend(client.list_keys(&src, prefix).await.unwrap());
    }
    assert_eq!(source_keys.len(), COUNT);
    assert_eq!(total, COUNT as u64, "{group}");
    assert_eq!(failed, 0, "{group}");
    assert_eq!(ok + skipped, COUNT as u64, "{group}");
    let mut copied_keys = BTreeSet::new();
    for prefix in ["a/", "b/", "c/"] {
        copied_keys.extend(client.list_keys(&dst, prefix).await.unwrap());
    }
    assert_eq!(
        copied_keys, source_keys,
        "destination keys differ from the source's"
    );
    assert_eq!(
        group["create_complete_num"].as_u64().unwrap(),
        COUNT as u64,
        "{group}"
    );
    assert_eq!(
        group["total_task_num"].as_u64().unwrap(),
        (COUNT / 100) as u64,
        "{group}"
    );
    for (key, data) in &objects {
        let copied = client
            .get_object(&dst, key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(copied.body == *data, "{key} differs");
    }
}
