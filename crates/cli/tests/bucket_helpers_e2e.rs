//! The bucket helpers through the official OMS Python SDK against `tern serve` and SeaweedFS,
//! Azurite, fake-gcs-server and native OSS, OBS and COS (the test kit's signature-checking
//! proxy in front of SeaweedFS), with local "CDN"s (HTTP servers on 127.0.0.1, one checking
//! Aliyun type A signatures) for `show_cdn_info`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::get;
use axum::Router;
use serve_harness::{TernServer, SRC_REGION};
use tern_testkit::cdn_check::aliyun_type_a;
use tern_testkit::{
    AzuriteServer, FakeGcsServer, HttpFileServer, S3Flavor, S3Server, TokenServer, Vendor,
    VendorProxy, AZURITE_KEY, TEST_ACCESS_TOKEN, VENDOR_ACCESS_KEY, VENDOR_SECRET_KEY,
};

/// The Tencent APPID the COS buckets of the native-vendor test end in.
const APP_ID: &str = "1250000000";

/// The signed CDN's key: it must reach no response and no log.
const CDN_KEY: &str = "cdn-helper-key-Do-Not-Log-0815";

/// Runs one SDK script with `env`; panics with its output and the server log unless it passed.
async fn run_sdk_script(script: &str, server: &TernServer, env: &[(&str, String)]) {
    let mut command = Command::new("python3");
    command
        .arg(format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR")))
        .env("TERN_ENDPOINT", &server.endpoint)
        .env("TERN_PROJECT_ID", &server.project_id)
        .env("TERN_AK", &server.ak)
        .env("TERN_SK", &server.sk);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        server.log_text()
    );
}

/// What the local CDN serves: key → (bytes, ETag header).
type CdnObjects = HashMap<String, (Vec<u8>, String)>;

/// Serves [`CdnObjects`] like an origin-pull CDN would (GET and HEAD).
async fn start_cdn(objects: CdnObjects) -> String {
    async fn serve(
        State(objects): State<Arc<CdnObjects>>,
        Path(key): Path<String>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        match objects.get(&key) {
            Some((body, etag)) => {
                let mut headers = HeaderMap::new();
                headers.insert("etag", HeaderValue::from_str(etag).unwrap());
                (StatusCode::OK, headers, body.clone())
            }
            None => (StatusCode::NOT_FOUND, HeaderMap::new(), Vec::new()),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/{*key}", get(serve))
        .with_state(Arc::new(objects));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn test_official_sdk_drives_the_bucket_helpers() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = s3.client();
    let src = s3.new_bucket("helpers-src").await.unwrap();
    let other = s3.new_bucket("helpers-other").await.unwrap();
    let keys = [
        "folder/a.txt",
        "folder/b é+%.txt",
        "folder/c.txt",
        "folder/d.txt",
        "folder/sub/deep.txt",
        "logs/2024-01.txt",
        "top.txt",
    ];
    for key in keys {
        client
            .put_object(&src, key, key.repeat(3).into_bytes(), None, &[])
            .await
            .unwrap();
    }
    // One folder level of folder/, in byte order: four objects and the sub-folder.
    let folder_names = [
        "folder/a.txt",
        "folder/b é+%.txt",
        "folder/c.txt",
        "folder/d.txt",
        "folder/sub/",
    ];

    let head = |key: &'static str| {
        let client = client.clone();
        let src = src.clone();
        async move {
            client
                .head_object(&src, key)
                .await
                .unwrap()
                .unwrap()
                .etag
                .unwrap()
        }
    };
    let good_etag = head("folder/a.txt").await;
    let mut cdn_objects = HashMap::new();
    cdn_objects.insert("folder/a.txt".to_owned(), (b"a".to_vec(), good_etag));
    // A stale copy: the CDN still serves an older version with another ETag.
    cdn_objects.insert(
        "folder/c.txt".to_owned(),
        (
            b"old".to_vec(),
            "\"0123456789abcdef0123456789abcdef\"".to_owned(),
        ),
    );
    let cdn = start_cdn(cdn_objects).await;
    // A CDN that checks Aliyun type A signatures and serves folder/a.txt as the bucket holds it.
    let signed_cdn = HttpFileServer::start(Some(aliyun_type_a(CDN_KEY)))
        .await
        .unwrap();
    signed_cdn.put(
        "/folder/a.txt",
        "folder/a.txt".repeat(3).into_bytes(),
        false,
    );

    let dir = tempfile::tempdir().unwrap();
    let server = TernServer::start(dir.path(), s3);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/oms_sdk_buckets.py");
    let output = tokio::process::Command::from(Command::new("python3"))
        .arg(script)
        .env("TERN_ENDPOINT", &server.endpoint)
        .env("TERN_PROJECT_ID", &server.project_id)
        .env("TERN_AK", &server.ak)
        .env("TERN_SK", &server.sk)
        .env("S3_AK", s3.access_key())
        .env("S3_SK", s3.secret_key())
        .env("SRC_BUCKET", &src)
        .env("OTHER_BUCKET", &other)
        .env("SRC_REGION", SRC_REGION)
        .env("CDN_DOMAIN", &cdn)
        .env(
            "SIGNED_CDN_DOMAIN",
            signed_cdn.endpoint().trim_start_matches("http://"),
        )
        .env("CDN_KEY", CDN_KEY)
        .env(
            "FOLDER_NAMES",
            serde_json::to_string(&folder_names).unwrap(),
        )
        .env("CDN_GOOD", "folder/a.txt")
        .env("CDN_STALE", "folder/c.txt")
        .env("CDN_MISSING", "folder/d.txt")
        .env("BUCKET_MISSING", "no-such-bucket-here")
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("all checks passed"),
        "SDK script failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        server.log_text()
    );
    // The helpers' credentials never reach the log, at the info level the server runs at.
    let log = server.log_text();
    assert!(
        !log.contains(s3.secret_key()),
        "S3 secret in the server log"
    );
    assert!(!log.contains(CDN_KEY), "CDN key in the server log");
    // The wrong key's request reached the signed CDN and was refused there.
    assert!(signed_cdn.refused() > 0);
}

/// Lists containers and finds a container's region on Azurite, lists buckets and finds a
/// bucket's location on fake-gcs-server, and pages and checks prefixes on both, through the SDK.
#[tokio::test(flavor = "multi_thread")]
async fn test_official_sdk_drives_the_bucket_helpers_on_azure_and_gcs() {
    let azurite = AzuriteServer::shared().await.unwrap();
    let gcs = FakeGcsServer::shared().await.unwrap();
    let tokens = TokenServer::start().await.unwrap();
    let containers = [
        azurite.new_container("helpers-az").await.unwrap(),
        azurite.new_container("helpers-az2").await.unwrap(),
    ];
    let buckets = [
        gcs.new_bucket("helpers-gcs").await.unwrap(),
        gcs.new_bucket("helpers-gcs2").await.unwrap(),
    ];
    let keys = ["dir/a b+é.txt", "dir/b.txt", "top.txt", "zz/c.txt"];
    for key in keys {
        let body = key.repeat(2).into_bytes();
        azurite
            .client()
            .put_blob(&containers[0], key, body.clone(), None, &[])
            .await
            .unwrap();
        gcs.client()
            .put_object(&buckets[0], key, body, None, &[])
            .await
            .unwrap();
    }
    let top_level = serde_json::to_string(&["dir/", "top.txt", "zz/"]).unwrap();
    let location = gcs_location(gcs, &buckets[0]).await;
    // The built-in Azure `global` region stays in the table: the region whose endpoint is the
    // connection string's must still be the answer. Google's built-in `global` is replaced
    // (no request leaves the machine); fake-gcs-server is also named after the bucket's
    // location, which the answer must pick.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tern.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n\
             [[regions]]\ncloud_type = \"Azure\"\nregion = \"azurite\"\nendpoint = \"{az}\"\nprotocol = \"azblob\"\n\
             [[regions]]\ncloud_type = \"Google\"\nregion = \"global\"\nendpoint = \"{gcs}\"\nprotocol = \"gcs\"\n\
             [[regions]]\ncloud_type = \"Google\"\nregion = \"{location}\"\nendpoint = \"{gcs}\"\nprotocol = \"gcs\"\n",
            az = azurite.blob_endpoint(),
            gcs = gcs.endpoint(),
        ),
    )
    .unwrap();
    // At trace level: no secret of a helper body, and no token derived from one, reaches the log.
    let server = TernServer::start_with_log_filter(dir.path(), config, "trace");

    let bad_connection = azurite
        .connection_string()
        .replace("AccountKey=", "AccountKey=AAAA");
    run_sdk_script(
        "oms_sdk_buckets_cloud.py",
        &server,
        &[
            ("CLOUD_TYPE", "Azure".to_owned()),
            ("CRED_FIELD", "connection_string".to_owned()),
            ("CRED_VALUE", azurite.connection_string()),
            ("BAD_CRED_VALUE", bad_connection),
            ("BAD_FIELD", "refused".to_owned()),
            ("BUCKETS", serde_json::to_string(&containers).unwrap()),
            ("FOLDER_BUCKET", containers[0].clone()),
            ("FOLDER_NAMES", top_level.clone()),
            ("REGION", "azurite".to_owned()),
            ("MISSING_BUCKET", "no-such-container".to_owned()),
        ],
    )
    .await;
    // A JSON whose key the token endpoint does not know: refused naming json_auth_file.
    let other_tokens = TokenServer::start().await.unwrap();
    let bad_json = tokens
        .service_account_json()
        .replace(&tokens.token_uri(), &other_tokens.token_uri());
    run_sdk_script(
        "oms_sdk_buckets_cloud.py",
        &server,
        &[
            ("CLOUD_TYPE", "Google".to_owned()),
            ("CRED_FIELD", "json_auth_file".to_owned()),
            ("CRED_VALUE", tokens.service_account_json().to_owned()),
            ("BAD_CRED_VALUE", bad_json),
            ("BAD_FIELD", "json_auth_file".to_owned()),
            ("BUCKETS", serde_json::to_string(&buckets).unwrap()),
            ("FOLDER_BUCKET", buckets[0].clone()),
            ("FOLDER_NAMES", top_level),
            ("REGION", location),
            ("MISSING_BUCKET", "no-such-gcs-bucket".to_owned()),
        ],
    )
    .await;
    assert!(tokens.issued() > 0 && tokens.refused() == 0);
    assert!(other_tokens.refused() > 0);
    let log = server.log_text();
    for secret in ["PRIVATE KEY", AZURITE_KEY, TEST_ACCESS_TOKEN] {
        assert!(!log.contains(secret), "{secret} reached the log");
    }
}

/// Native OSS, OBS and COS (the cloud types' own protocols: no `protocol` in the region table)
/// through the test kit's proxy, which checks each vendor's signature and answers ListBuckets
/// and GetBucketLocation in the vendor's XML: the SDK lists the buckets, finds the region the
/// vendor names (a decoy region at the same endpoint, earlier in the table, also holds the
/// bucket), pages a folder, checks prefixes and compares a local CDN with the bucket
/// (`show_cdn_info`); a wrong secret is OMS's 400, never a 500; no
/// secret reaches the trace-level log.
#[tokio::test(flavor = "multi_thread")]
async fn test_official_sdk_drives_the_bucket_helpers_on_native_oss_obs_cos() {
    let s3 = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let domains = [
        (Vendor::Oss, "oss-helpers-1.aliyuncs.tern.test"),
        (Vendor::Obs, "obs.helpers-2.myhuaweicloud.tern.test"),
        (Vendor::Cos, "cos.helpers-3.myqcloud.tern.test"),
    ];
    let proxy = VendorProxy::start(s3, &domains).await.unwrap();
    let keys = ["dir/a b+é.txt", "dir/b.txt", "top.txt", "zz/c.txt"];
    let top_level = serde_json::to_string(&["dir/", "top.txt", "zz/"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = "version = 1\n".to_owned();
    let mut accounts = Vec::new();
    for (vendor, cloud) in [
        (Vendor::Oss, "Aliyun"),
        (Vendor::Obs, "HuaweiCloud"),
        (Vendor::Cos, "Tencent"),
    ] {
        let mut buckets = [
            s3.new_bucket("helpers-nv").await.unwrap(),
            s3.new_bucket("helpers-nv2").await.unwrap(),
        ];
        // COS bucket names end in the APPID; the SDK names the folder bucket without it and
        // passes `app_id`, which tern appends as it does for tasks.
        let mut folder_bucket = buckets[0].clone();
        if vendor == Vendor::Cos {
            for bucket in &mut buckets {
                *bucket = format!("{bucket}-{APP_ID}");
                s3.create_bucket(bucket).await.unwrap();
            }
            folder_bucket = buckets[0]
                .trim_end_matches(&format!("-{APP_ID}"))
                .to_owned();
        }
        for key in keys {
            s3.client()
                .put_object(&buckets[0], key, key.repeat(2).into_bytes(), None, &[])
                .await
                .unwrap();
        }
        // A CDN in front of the bucket: top.txt as the bucket holds it, dir/b.txt stale.
        let etag = s3
            .client()
            .head_object(&buckets[0], "top.txt")
            .await
            .unwrap()
            .unwrap()
            .etag
            .unwrap();
        let mut cdn_objects = HashMap::new();
        cdn_objects.insert(
            "top.txt".to_owned(),
            ("top.txt".repeat(2).into_bytes(), etag),
        );
        cdn_objects.insert(
            "dir/b.txt".to_owned(),
            (
                b"old".to_vec(),
                "\"0123456789abcdef0123456789abcdef\"".to_owned(),
            ),
        );
        let cdn = start_cdn(cdn_objects).await;
        let region = proxy.region(vendor);
        for name in [format!("{region}-decoy"), region.clone()] {
            config.push_str(&format!(
                "[[regions]]\ncloud_type = \"{cloud}\"\nregion = \"{name}\"\nendpoint = \"{}\"\n",
                proxy.endpoint(vendor)
            ));
        }
        accounts.push((cloud, buckets, folder_bucket, region, cdn));
    }
    let config_path = dir.path().join("tern.toml");
    std::fs::write(&config_path, config).unwrap();
    // The vendor hosts resolve nowhere: tern reaches them with the proxy as its HTTP proxy.
    let proxy_url = proxy.proxy_url();
    let env = [
        ("HTTP_PROXY", proxy_url.as_str()),
        ("NO_PROXY", "127.0.0.1,localhost"),
    ];
    let server = TernServer::start_with_env_and_log_filter(dir.path(), config_path, &env, "trace");
    let bad_secret = "wrongVendorSecret-Do-Not-Log-4711";
    for (cloud, buckets, folder_bucket, region, cdn) in &accounts {
        let app_id = if *cloud == "Tencent" { APP_ID } else { "" };
        run_sdk_script(
            "oms_sdk_buckets_cloud.py",
            &server,
            &[
                ("CLOUD_TYPE", (*cloud).to_owned()),
                ("APP_ID", app_id.to_owned()),
                ("CRED_FIELD", "sk".to_owned()),
                ("CRED_AK", VENDOR_ACCESS_KEY.to_owned()),
                ("CRED_VALUE", VENDOR_SECRET_KEY.to_owned()),
                ("BAD_CRED_VALUE", bad_secret.to_owned()),
                ("BAD_FIELD", "refused".to_owned()),
                ("BUCKETS", serde_json::to_string(buckets).unwrap()),
                ("FOLDER_BUCKET", folder_bucket.clone()),
                ("FOLDER_NAMES", top_level.clone()),
                ("REGION", region.clone()),
                ("MISSING_BUCKET", "no-such-native-bucket".to_owned()),
                ("CDN_DOMAIN", cdn.clone()),
                ("CDN_GOOD", "top.txt".to_owned()),
                ("CDN_STALE", "dir/b.txt".to_owned()),
            ],
        )
        .await;
    }
    // Every request carried the vendor's valid signature except the wrong secret's ListBuckets,
    // one per vendor, refused by the proxy's own signature check.
    let refusals = proxy.refusals();
    assert!(
        proxy.verified() > 0
            && refusals.len() == 3
            && refusals.iter().all(|r| r.starts_with("GET /:")),
        "verified {}, refused {refusals:?}\nlog:\n{}",
        proxy.verified(),
        server.log_text()
    );
    let log = server.log_text();
    for secret in [VENDOR_SECRET_KEY, bad_secret] {
        assert!(!log.contains(secret), "{secret} reached the log");
    }
}

/// The bucket's `location` as fake-gcs-server reports it, lower-cased as region names are.
async fn gcs_location(gcs: &FakeGcsServer, bucket: &str) -> String {
    let url = format!("{}/storage/v1/b/{bucket}", gcs.endpoint());
    let text = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    let location = answer["location"].as_str().unwrap_or_default();
    assert!(
        !location.is_empty(),
        "fake-gcs-server names no location: {answer}"
    );
    location.to_ascii_lowercase()
}
