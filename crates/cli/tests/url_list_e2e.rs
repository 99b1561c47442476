//! URL lists and CDN sources end to end: `tern serve` fetches from the test kit's HTTP server
//! into SeaweedFS, as a `url_list` task, a `URL_LIST` group, and a prefix task through a signed
//! CDN domain.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_harness::{http, TernServer, DST_REGION};
use tern_testkit::cdn_check::{aliyun_type_a, tencent_type_c};
use tern_testkit::{HttpFileServer, S3Flavor, S3Server};

const MIB: usize = 1024 * 1024;
const PART_SIZE_MIB: usize = 5;

fn config(dir: &std::path::Path, s3: &S3Server, group_task_max: usize) -> std::path::PathBuf {
    let path = dir.join("tern.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\npart_size_mib = {PART_SIZE_MIB}\ngroup_task_max_objects = {group_task_max}\n\
             [[regions]]\ncloud_type = \"AWS\"\nregion = \"local-src\"\nendpoint = \"{ep}\"\nprotocol = \"s3\"\n\
             [[regions]]\ncloud_type = \"HuaweiCloud\"\nregion = \"{DST_REGION}\"\nendpoint = \"{ep}\"\nprotocol = \"s3\"\n",
            ep = s3.endpoint()
        ),
    )
    .unwrap();
    path
}

fn body(seed: &str, len: usize) -> Vec<u8> {
    seed.bytes()
        .chain(b"-0123456789".iter().copied())
        .cycle()
        .take(len)
        .collect()
}

/// One good line of the list: what the server holds, the URL path, the destination name as
/// written in the list, and the name it decodes to.
struct Good {
    served_path: &'static str,
    url_path: &'static str,
    listed_name: &'static str,
    name: &'static str,
    bytes: Vec<u8>,
    no_content_length: bool,
}

fn good_objects() -> Vec<Good> {
    let good = |served_path, url_path, listed_name, name, len, no_content_length| Good {
        served_path,
        url_path,
        listed_name,
        name,
        bytes: body(served_path, len),
        no_content_length,
    };
    vec![
        good(
            "/plain.txt",
            "/plain.txt",
            "plain.txt",
            "plain.txt",
            1000,
            false,
        ),
        good(
            "/dir/a b.txt",
            "/dir/a%20b.txt",
            "dir/a%20b.txt",
            "dir/a b.txt",
            2000,
            false,
        ),
        good(
            "/uni/café ü.bin",
            "/uni/caf%C3%A9%20%C3%BC.bin",
            "uni/caf%C3%A9%20%C3%BC.bin",
            "uni/café ü.bin",
            3000,
            false,
        ),
        good(
            "/plus+sign.txt",
            "/plus+sign.txt",
            "plus+sign%2Bx.txt",
            "plus+sign+x.txt",
            400,
            false,
        ),
        good(
            "/pct%.txt",
            "/pct%25.txt",
            "pct%25 100%25.txt",
            "pct% 100%.txt",
            500,
            false,
        ),
        good(
            "/empty.txt",
            "/empty.txt",
            "empty.txt",
            "empty.txt",
            0,
            false,
        ),
        good(
            "/large.bin",
            "/large.bin",
            "big/large.bin",
            "big/large.bin",
            2 * PART_SIZE_MIB * MIB + 12_345,
            false,
        ),
        good(
            "/nolength.bin",
            "/nolength.bin",
            "nolength.bin",
            "nolength.bin",
            300_000,
            true,
        ),
        good(
            "/nolength-big.bin",
            "/nolength-big.bin",
            "nolength-big.bin",
            "nolength-big.bin",
            PART_SIZE_MIB * MIB + 777,
            true,
        ),
    ]
}

/// Serves the good objects and writes the list: the good lines, a blank line, a 404 URL and two
/// malformed lines. Returns the list text and its bad lines' numbers (404, malformed…).
fn list_text(server: &HttpFileServer, goods: &[Good]) -> (String, u64, Vec<u64>) {
    for good in goods {
        server.put(good.served_path, good.bytes.clone(), good.no_content_length);
    }
    let mut lines: Vec<String> = goods
        .iter()
        .map(|g| format!("{}{}\t{}", server.endpoint(), g.url_path, g.listed_name))
        .collect();
    lines.insert(3, String::new());
    lines.push(format!("{}/missing.txt\tmissing.txt", server.endpoint()));
    let missing_line = lines.len() as u64;
    lines.push("this line has no tab".to_owned());
    let no_tab_line = lines.len() as u64;
    lines.push("ftp://127.0.0.1/x\tftp.txt".to_owned());
    let ftp_line = lines.len() as u64;
    (
        lines.join("\r\n") + "\n",
        missing_line,
        vec![no_tab_line, ftp_line],
    )
}

async fn get_json(server: &TernServer, path: &str) -> Value {
    let (status, body) = http(
        "GET",
        &format!("{}/v2/{}/{path}", server.endpoint, server.project_id),
        Some(&server.token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn post_json(server: &TernServer, path: &str, body: &Value) -> (u16, String) {
    http(
        "POST",
        &format!("{}/v2/{}/{path}", server.endpoint, server.project_id),
        Some(&server.token),
        Some(&body.to_string()),
    )
    .await
}

async fn wait_for(server: &TernServer, path: &str, wanted: &[i64]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let value = get_json(server, path).await;
        if wanted.contains(&value["status"].as_i64().unwrap()) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{path} stuck: {value}\nlog:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn assert_objects_identical(s3: &S3Server, bucket: &str, goods: &[Good]) {
    let client = s3.client();
    for good in goods {
        let object = client
            .get_object(bucket, good.name)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} missing at the destination", good.name));
        assert!(
            object.body == good.bytes,
            "{} differs: {} bytes, expected {}",
            good.name,
            object.body.len(),
            good.bytes.len()
        );
    }
}

fn task_body(lists: &str, dst: &str, s3: &S3Server) -> Value {
    json!({
        "task_type": "url_list",
        "src_node": {"cloud_type": "URLSource",
                     "list_file": {"obs_bucket": lists, "list_file_key": "lists/urls.txt"}},
        "dst_node": {"region": DST_REGION, "ak": s3.access_key(), "sk": s3.secret_key(),
                     "bucket": dst},
        "enable_failed_object_recording": true
    })
}

#[tokio::test]
async fn test_url_list_task_and_group_copy_every_line() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let files = HttpFileServer::start(None).await.unwrap();
    let lists = s3.new_bucket("url-lists").await.unwrap();
    let dst = s3.new_bucket("url-dst").await.unwrap();
    let group_dst = s3.new_bucket("url-grp").await.unwrap();
    let goods = good_objects();
    let (text, missing_line, bad_lines) = list_text(&files, &goods);
    let object_lines = text.lines().filter(|l| !l.trim().is_empty()).count() as i64;
    s3.client()
        .put_object(
            &lists,
            "lists/urls.txt",
            text.into_bytes(),
            Some("text/plain"),
            &[],
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start_with_config(dir.path(), config(dir.path(), s3, 4));

    // The list file checks out line by line: op 30 names the first bad line.
    let (status, response) = post_json(
        &server,
        "objectstorage/buckets/url-source-list-file",
        &json!({"obs_bucket": lists, "list_file_key": "lists/urls.txt",
                "ak": s3.access_key(), "sk": s3.secret_key(), "region": DST_REGION}),
    )
    .await;
    assert_eq!(status, 400, "{response}");
    assert!(
        response.contains(&format!("line {}", bad_lines[0])),
        "{response}"
    );

    let (status, response) = post_json(&server, "tasks", &task_body(&lists, &dst, s3)).await;
    assert_eq!(status, 200, "{response}");
    let id = serde_json::from_str::<Value>(&response).unwrap()["id"]
        .as_i64()
        .unwrap();
    let task = wait_for(&server, &format!("tasks/{id}"), &[4, 5]).await;
    let counts = (
        task["total_num"].as_i64().unwrap(),
        task["successful_num"].as_i64().unwrap(),
        task["failed_num"].as_i64().unwrap(),
        task["skipped_num"].as_i64().unwrap(),
    );
    assert_eq!(
        counts,
        (object_lines, goods.len() as i64, 3, 0),
        "{task}\n{}",
        server.log_text()
    );
    assert_objects_identical(s3, &dst, &goods).await;
    assert!(
        files.ranged_gets() >= 3,
        "the large object was not fetched in ranges ({} ranged GETs)",
        files.ranged_gets()
    );

    // The failed-object list names each bad line alone, with its code.
    let failed_key = format!("oms/failed_object_lists/{id}/failed-objects-list.txt");
    let failed = s3
        .client()
        .get_object(&dst, &failed_key)
        .await
        .unwrap()
        .expect("failed-object list written");
    let failed = String::from_utf8(failed.body).unwrap();
    let rows: Vec<&str> = failed.lines().collect();
    assert_eq!(rows.len(), 3, "{failed}");
    let missing_row = rows.iter().find(|r| r.contains("missing.txt")).unwrap();
    assert!(missing_row.contains("TRF.0012"), "{missing_row}");
    assert!(
        missing_row.contains(&format!("line {missing_line}")),
        "{missing_row}"
    );
    for line in &bad_lines {
        let row = rows
            .iter()
            .find(|r| r.contains(&format!("line {line}:")))
            .unwrap_or_else(|| panic!("line {line} not reported: {failed}"));
        assert!(row.contains("TRF.0016"), "{row}");
    }

    // Once the missing object exists, a retry of the failed objects copies it; the malformed
    // lines stay failed and nothing is counted twice.
    let late = body("late", 4321);
    files.put("/missing.txt", late.clone(), false);
    let (status, response) = post_json(
        &server,
        &format!("tasks/{id}/start"),
        &json!({"dst_ak": s3.access_key(), "dst_sk": s3.secret_key(),
                "migrate_failed_object": true}),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let task = wait_for(&server, &format!("tasks/{id}"), &[4, 5]).await;
    assert_eq!(
        (
            task["total_num"].as_i64().unwrap(),
            task["successful_num"].as_i64().unwrap(),
            task["failed_num"].as_i64().unwrap(),
        ),
        (object_lines, goods.len() as i64 + 1, 2),
        "{task}\n{}",
        server.log_text()
    );
    let copied = s3.client().get_object(&dst, "missing.txt").await.unwrap();
    assert!(copied.is_some_and(|object| object.body == late));
    files.remove("/missing.txt");

    // A list without bad lines checks out: 200 and no body.
    let good_list: String = goods
        .iter()
        .map(|g| format!("{}{}\t{}\n", files.endpoint(), g.url_path, g.listed_name))
        .collect();
    s3.client()
        .put_object(&lists, "lists/good.txt", good_list.into_bytes(), None, &[])
        .await
        .unwrap();
    let (status, response) = post_json(
        &server,
        "objectstorage/buckets/url-source-list-file",
        &json!({"obs_bucket": lists, "list_file_key": "lists/good.txt",
                "ak": s3.access_key(), "sk": s3.secret_key(), "region": DST_REGION}),
    )
    .await;
    assert_eq!((status, response.as_str()), (200, ""));

    // The official SDK sees the same: op 30 both ways, and a url_list task it creates.
    let sdk_dst = s3.new_bucket("url-sdk").await.unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/oms_sdk_url_list.py");
    // Awaited, not blocking: the HTTP file server runs on this test's runtime.
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .env("TERN_ENDPOINT", &server.endpoint)
        .env("TERN_PROJECT_ID", &server.project_id)
        .env("TERN_AK", &server.ak)
        .env("TERN_SK", &server.sk)
        .env("S3_AK", s3.access_key())
        .env("S3_SK", s3.secret_key())
        .env("LIST_BUCKET", &lists)
        .env("GOOD_LIST", "lists/good.txt")
        .env("BAD_LIST", "lists/urls.txt")
        .env("BAD_LINE", bad_lines[0].to_string())
        .env("DST_BUCKET", &sdk_dst)
        .env("DST_REGION", DST_REGION)
        .env("OBJECTS", goods.len().to_string())
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "SDK script failed\nstdout:\n{stdout}\nstderr:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log_text()
    );
    assert_objects_identical(s3, &sdk_dst, &goods).await;

    // The same list as a group of tasks of at most 4 lines each.
    let mut group_body = task_body(&lists, &group_dst, s3);
    group_body["task_type"] = json!("URL_LIST");
    group_body
        .as_object_mut()
        .unwrap()
        .remove("enable_failed_object_recording");
    let (status, response) = post_json(&server, "taskgroups", &group_body).await;
    assert_eq!(status, 200, "{response}");
    let group_id = serde_json::from_str::<Value>(&response).unwrap()["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = wait_for(&server, &format!("taskgroups/{group_id}"), &[5, 6]).await;
    assert_eq!(
        (
            group["total_num"].as_i64().unwrap(),
            group["success_num"].as_i64().unwrap(),
            group["fail_num"].as_i64().unwrap(),
        ),
        (object_lines, goods.len() as i64, 3),
        "{group}\n{}",
        server.log_text()
    );
    let expected_tasks = (object_lines as u64).div_ceil(4) as i64;
    assert_eq!(
        group["total_task_num"].as_i64().unwrap(),
        expected_tasks,
        "{group}"
    );
    assert_objects_identical(s3, &group_dst, &goods).await;
}

#[tokio::test]
async fn test_prefix_task_through_signed_and_open_cdns() {
    const CDN_KEY: &str = "cdnkey-Do-Not-Log-4711";
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let src = s3.new_bucket("cdn-src").await.unwrap();
    let dst = s3.new_bucket("cdn-dst").await.unwrap();
    let dst_open = s3.new_bucket("cdn-dst-open").await.unwrap();
    let dst_tencent = s3.new_bucket("cdn-dst-tc").await.unwrap();
    let tencent = HttpFileServer::start(Some(tencent_type_c(CDN_KEY)))
        .await
        .unwrap();
    let signed = HttpFileServer::start(Some(aliyun_type_a(CDN_KEY)))
        .await
        .unwrap();
    let open = HttpFileServer::start(None).await.unwrap();
    let objects: BTreeMap<String, Vec<u8>> = [
        ("cdn/a b+c.txt", 1500),
        ("cdn/é.bin", 70_000),
        ("cdn/zero", 0),
        ("cdn/big.bin", PART_SIZE_MIB * MIB + 3),
    ]
    .into_iter()
    .map(|(key, len)| (key.to_owned(), body(key, len)))
    .collect();
    for (key, bytes) in &objects {
        s3.client()
            .put_object(&src, key, bytes.clone(), None, &[])
            .await
            .unwrap();
        // The CDN serves the bucket's objects: same bytes, different host.
        signed.put(&format!("/{key}"), bytes.clone(), false);
        open.put(&format!("/{key}"), bytes.clone(), false);
        tencent.put(&format!("/{key}"), bytes.clone(), false);
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start_with_config(dir.path(), config(dir.path(), s3, 100));
    for (cdn, auth, bucket) in [
        (&signed, "ALIYUN_OSS_A", &dst),
        (&open, "NONE", &dst_open),
        (&tencent, "TENCENT_COS_C", &dst_tencent),
    ] {
        let domain = cdn.endpoint().trim_start_matches("http://").to_owned();
        let mut source_cdn =
            json!({"domain": domain, "protocol": "http", "authentication_type": auth});
        if auth != "NONE" {
            source_cdn["authentication_key"] = json!(CDN_KEY);
        }
        let body = json!({
            "task_type": "prefix",
            "src_node": {"cloud_type": "AWS", "region": "local-src", "ak": s3.access_key(),
                         "sk": s3.secret_key(), "bucket": src, "object_key": ["cdn/"]},
            "dst_node": {"region": DST_REGION, "ak": s3.access_key(), "sk": s3.secret_key(),
                         "bucket": bucket},
            "source_cdn": source_cdn
        });
        let (status, response) = post_json(&server, "tasks", &body).await;
        assert_eq!(status, 200, "{response}");
        assert!(!response.contains(CDN_KEY));
        let id = serde_json::from_str::<Value>(&response).unwrap()["id"]
            .as_i64()
            .unwrap();
        let task = wait_for(&server, &format!("tasks/{id}"), &[4, 5]).await;
        assert_eq!(
            (
                task["successful_num"].as_i64().unwrap(),
                task["total_num"].as_i64().unwrap()
            ),
            (objects.len() as i64, objects.len() as i64),
            "{auth}: {task}\n{}",
            server.log_text()
        );
        assert_eq!(task["source_cdn"]["authentication_type"], auth);
        assert!(!task.to_string().contains(CDN_KEY));
        for (key, bytes) in &objects {
            let copied = s3.client().get_object(bucket, key).await.unwrap().unwrap();
            assert!(copied.body == *bytes, "{auth}: {key} differs");
        }
    }
    // Every object came through the CDN and passed its signature check.
    assert!(signed.ranged_gets() >= 2, "{}", signed.ranged_gets());
    assert_eq!(signed.refused(), 0);
    assert!(tencent.ranged_gets() >= 2, "{}", tencent.ranged_gets());
    assert_eq!(tencent.refused(), 0);

    // The check bites: a wrong key fails every object alone (403 → TRF.0152).
    let dst_wrong = s3.new_bucket("cdn-dst-wrong").await.unwrap();
    let body = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": "local-src", "ak": s3.access_key(),
                     "sk": s3.secret_key(), "bucket": src, "object_key": ["cdn/"]},
        "dst_node": {"region": DST_REGION, "ak": s3.access_key(), "sk": s3.secret_key(),
                     "bucket": dst_wrong},
        "source_cdn": {"domain": signed.endpoint().trim_start_matches("http://"),
                       "protocol": "http", "authentication_type": "ALIYUN_OSS_A",
                       "authentication_key": "not-the-key"}
    });
    let (status, response) = post_json(&server, "tasks", &body).await;
    assert_eq!(status, 200, "{response}");
    let id = serde_json::from_str::<Value>(&response).unwrap()["id"]
        .as_i64()
        .unwrap();
    let task = wait_for(&server, &format!("tasks/{id}"), &[4, 5]).await;
    assert_eq!(
        (task["status"].as_i64(), task["failed_num"].as_i64()),
        (Some(4), Some(objects.len() as i64)),
        "{task}"
    );
    assert!(signed.refused() >= objects.len());
    assert!(s3
        .client()
        .list_keys(&dst_wrong, "cdn/")
        .await
        .unwrap()
        .is_empty());
    assert!(
        !server.log_text().contains(CDN_KEY),
        "the CDN key reached the log"
    );
}
