//! One behaviour suite run on every backend (S3 on SeaweedFS and moto, Azure Blob on Azurite,
//! Google Cloud Storage on fake-gcs-server, local files, and native Aliyun OSS, Huawei OBS and
//! Tencent COS through the test kit's signature-verifying proxy), as OpenDAL's behaviour tests
//! and rclone's fstests do: the same objects and checks through `tern copy`, then every pair of
//! source and destination families (URL lists as a source) as tasks through `tern serve`, and
//! each native vendor as a task source. Every result is read back with the test kit's own
//! clients and compared byte for byte.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_harness::{http, TernServer};
use tern_testkit::{
    AzuriteServer, FakeGcsServer, HttpFileServer, S3Flavor, S3Server, TokenServer, Vendor,
    VendorProxy, VENDOR_ACCESS_KEY, VENDOR_SECRET_KEY,
};

/// `tern copy --part-size`: the smallest tern takes, so a 3-part object stays small.
const PART: usize = 5 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    SeaweedFs,
    Moto,
    Azurite,
    Gcs,
    Local,
    /// Native OSS, OBS, COS: virtual-host buckets behind a [`VendorProxy`], stored in SeaweedFS.
    Oss,
    Obs,
    Cos,
}

impl Kind {
    fn vendor(self) -> Option<Vendor> {
        match self {
            Kind::Oss => Some(Vendor::Oss),
            Kind::Obs => Some(Vendor::Obs),
            Kind::Cos => Some(Vendor::Cos),
            _ => None,
        }
    }
}

/// Starts the verifying proxy for all three vendors in front of the shared SeaweedFS. Its
/// virtual-host names resolve nowhere: `tern` reaches them with the proxy as `HTTP_PROXY`.
async fn vendor_proxy() -> Arc<VendorProxy> {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let domains = [
        (Vendor::Oss, "oss-local-1.aliyuncs.tern.test"),
        (Vendor::Obs, "obs.local-1.myhuaweicloud.tern.test"),
        (Vendor::Cos, "cos.local-1.myqcloud.tern.test"),
    ];
    Arc::new(VendorProxy::start(server, &domains).await.unwrap())
}

/// The environment that routes a `tern` child's vendor requests through `proxy`.
fn proxy_env(proxy: &VendorProxy) -> Vec<(String, String)> {
    vec![
        ("HTTP_PROXY".to_owned(), proxy.proxy_url()),
        ("NO_PROXY".to_owned(), "127.0.0.1,localhost".to_owned()),
    ]
}

/// One bucket (container, directory) on one backend, with an independent client.
struct Store {
    kind: Kind,
    bucket: String,
    s3: Option<&'static S3Server>,
    azurite: Option<&'static AzuriteServer>,
    gcs: Option<&'static FakeGcsServer>,
    /// The service-account JSON for GCS (its token endpoint lives as long as the test).
    gcs_json: Option<String>,
    /// Local root directory (the bucket is a directory under it).
    local: Option<PathBuf>,
    /// The verifying proxy in front of a native-vendor bucket.
    proxy: Option<Arc<VendorProxy>>,
}

/// What a read-back returns.
#[derive(Debug, PartialEq, Eq)]
struct Read {
    body: Vec<u8>,
    content_type: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl Store {
    async fn new(kind: Kind, prefix: &str, tokens: &TokenServer, local: &std::path::Path) -> Store {
        let mut store = Store {
            kind,
            bucket: String::new(),
            s3: None,
            azurite: None,
            gcs: None,
            gcs_json: None,
            local: None,
            proxy: None,
        };
        match kind {
            Kind::Oss | Kind::Obs | Kind::Cos => {
                let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
                store.bucket = server.new_bucket(prefix).await.unwrap();
                store.s3 = Some(server);
            }
            Kind::SeaweedFs | Kind::Moto => {
                let flavor = if kind == Kind::Moto {
                    S3Flavor::Moto
                } else {
                    S3Flavor::SeaweedFs
                };
                let server = S3Server::shared(flavor).await.unwrap();
                store.bucket = server.new_bucket(prefix).await.unwrap();
                store.s3 = Some(server);
            }
            Kind::Azurite => {
                let server = AzuriteServer::shared().await.unwrap();
                store.bucket = server.new_container(prefix).await.unwrap();
                store.azurite = Some(server);
            }
            Kind::Gcs => {
                let server = FakeGcsServer::shared().await.unwrap();
                store.bucket = server.new_bucket(prefix).await.unwrap();
                store.gcs = Some(server);
                store.gcs_json = Some(tokens.service_account_json().to_owned());
            }
            Kind::Local => {
                store.bucket = prefix.to_owned();
                std::fs::create_dir_all(local.join(prefix)).unwrap();
                store.local = Some(local.to_owned());
            }
        }
        store
    }

    /// Keeps `a//b` as a key of its own (SeaweedFS folds it; a directory cannot hold it).
    fn keeps_double_slash(&self) -> bool {
        matches!(self.kind, Kind::Moto | Kind::Azurite | Kind::Gcs)
    }

    fn keeps_properties(&self) -> bool {
        self.kind != Kind::Local
    }

    /// The proxy this store is reached through (native vendors only).
    fn with_proxy(mut self, proxy: &Arc<VendorProxy>) -> Store {
        self.proxy = Some(Arc::clone(proxy));
        self
    }

    fn vendor_endpoint(&self) -> String {
        let vendor = self.kind.vendor().expect("a native-vendor store");
        self.proxy
            .as_ref()
            .expect("native-vendor stores are reached through the proxy")
            .endpoint(vendor)
    }

    /// Seeds one object, retrying a few times: a just-started SeaweedFS answers 500 while it
    /// grows its first volumes.
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str, meta: &[(&str, &str)]) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_put(key, body.clone(), content_type, meta).await {
                Ok(()) => return,
                Err(err) if attempt < 5 => {
                    eprintln!("seeding {key:?} failed, retrying: {err:#}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(err) => panic!("seeding {key:?} on {:?}: {err:#}", self.kind),
            }
        }
    }

    async fn try_put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        meta: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        match self.kind {
            Kind::SeaweedFs | Kind::Moto | Kind::Oss | Kind::Obs | Kind::Cos => {
                self.s3
                    .unwrap()
                    .client()
                    .put_object(&self.bucket, key, body, Some(content_type), meta)
                    .await
            }
            Kind::Azurite => {
                self.azurite
                    .unwrap()
                    .client()
                    .put_blob(&self.bucket, key, body, Some(content_type), meta)
                    .await
            }
            Kind::Gcs => {
                self.gcs
                    .unwrap()
                    .client()
                    .put_object(&self.bucket, key, body, Some(content_type), meta)
                    .await
            }
            Kind::Local => {
                let path = self.local.as_ref().unwrap().join(&self.bucket).join(key);
                std::fs::create_dir_all(path.parent().unwrap())?;
                std::fs::write(path, body)?;
                Ok(())
            }
        }
    }

    async fn get(&self, key: &str) -> Option<Read> {
        match self.kind {
            Kind::SeaweedFs | Kind::Moto | Kind::Oss | Kind::Obs | Kind::Cos => {
                let object = self
                    .s3
                    .unwrap()
                    .client()
                    .get_object(&self.bucket, key)
                    .await
                    .unwrap()?;
                Some(Read {
                    body: object.body,
                    content_type: object.content_type,
                    metadata: object.user_metadata,
                })
            }
            Kind::Azurite => {
                let blob = self
                    .azurite
                    .unwrap()
                    .client()
                    .get_blob(&self.bucket, key)
                    .await
                    .unwrap()?;
                Some(Read {
                    body: blob.body,
                    content_type: blob.content_type,
                    metadata: blob.user_metadata,
                })
            }
            Kind::Gcs => {
                let object = self
                    .gcs
                    .unwrap()
                    .client()
                    .get_object(&self.bucket, key)
                    .await
                    .unwrap()?;
                Some(Read {
                    body: object.body,
                    content_type: object.content_type,
                    metadata: object.user_metadata,
                })
            }
            Kind::Local => {
                let path = self.local.as_ref().unwrap().join(&self.bucket).join(key);
                let body = std::fs::read(path).ok()?;
                Some(Read {
                    body,
                    content_type: None,
                    metadata: BTreeMap::new(),
                })
            }
        }
    }

    /// `tern copy`'s URL for the bucket.
    fn url(&self) -> String {
        match self.kind {
            Kind::SeaweedFs | Kind::Moto => {
                let server = self.s3.unwrap();
                format!(
                    "s3://{}/?endpoint={}&region={}",
                    self.bucket,
                    server.endpoint(),
                    server.region()
                )
            }
            Kind::Oss | Kind::Obs | Kind::Cos => format!(
                "{}://{}/?endpoint={}",
                format!("{:?}", self.kind).to_ascii_lowercase(),
                self.bucket,
                self.vendor_endpoint()
            ),
            // The endpoint comes from the connection string.
            Kind::Azurite => format!("azblob://{}/", self.bucket),
            Kind::Gcs => format!(
                "gs://{}/?endpoint={}",
                self.bucket,
                self.gcs.unwrap().endpoint()
            ),
            Kind::Local => self
                .local
                .as_ref()
                .unwrap()
                .join(&self.bucket)
                .to_string_lossy()
                .into_owned(),
        }
    }

    /// `tern copy`'s credential variables for side `SRC` or `DST`.
    fn env(&self, side: &str) -> Vec<(String, String)> {
        match self.kind {
            Kind::SeaweedFs | Kind::Moto => {
                let server = self.s3.unwrap();
                vec![
                    (format!("TERN_{side}_AK"), server.access_key().to_owned()),
                    (format!("TERN_{side}_SK"), server.secret_key().to_owned()),
                ]
            }
            Kind::Azurite => vec![(
                format!("TERN_{side}_AZURE_CONNECTION_STRING"),
                self.azurite.unwrap().connection_string(),
            )],
            Kind::Gcs => vec![(
                format!("TERN_{side}_GCS_CREDENTIAL_JSON"),
                self.gcs_json.clone().unwrap(),
            )],
            Kind::Oss | Kind::Obs | Kind::Cos => vec![
                (format!("TERN_{side}_AK"), VENDOR_ACCESS_KEY.to_owned()),
                (format!("TERN_{side}_SK"), VENDOR_SECRET_KEY.to_owned()),
            ],
            Kind::Local => Vec::new(),
        }
    }

    /// The config's `[[regions]]` entry for this backend, named after it.
    fn region_entry(&self) -> String {
        let (cloud_type, endpoint, protocol) = match self.kind {
            Kind::SeaweedFs | Kind::Moto => ("AWS", self.s3.unwrap().endpoint().to_owned(), "s3"),
            Kind::Azurite => (
                "Azure",
                self.azurite.unwrap().blob_endpoint().to_owned(),
                "azblob",
            ),
            Kind::Gcs => ("Google", self.gcs.unwrap().endpoint().to_owned(), "gcs"),
            Kind::Local => (
                "Local",
                self.local.as_ref().unwrap().to_string_lossy().into_owned(),
                "fs",
            ),
            // No protocol: the cloud type's own (OSS, OBS, COS) is spoken.
            Kind::Oss | Kind::Obs | Kind::Cos => {
                return format!(
                    "[[regions]]\ncloud_type = \"{}\"\nregion = \"{}\"\nendpoint = \"{}\"\n",
                    self.cloud_type(),
                    self.region(),
                    self.vendor_endpoint()
                )
            }
        };
        format!(
            "[[regions]]\ncloud_type = \"{cloud_type}\"\nregion = \"{}\"\nendpoint = \"{endpoint}\"\nprotocol = \"{protocol}\"\n",
            self.region()
        )
    }

    fn region(&self) -> String {
        format!("{:?}", self.kind).to_ascii_lowercase()
    }

    fn cloud_type(&self) -> &'static str {
        match self.kind {
            Kind::SeaweedFs | Kind::Moto => "AWS",
            Kind::Azurite => "Azure",
            Kind::Gcs => "Google",
            Kind::Oss => "Aliyun",
            Kind::Obs => "HuaweiCloud",
            Kind::Cos => "Tencent",
            Kind::Local => "Local",
        }
    }

    /// A task's node: credentials as OMS passes them.
    fn node(&self) -> Value {
        let mut node = json!({"region": self.region(), "bucket": self.bucket, "ak": "", "sk": ""});
        match self.kind {
            Kind::SeaweedFs | Kind::Moto => {
                let server = self.s3.unwrap();
                node["cloud_type"] = json!("AWS");
                node["ak"] = json!(server.access_key());
                node["sk"] = json!(server.secret_key());
            }
            Kind::Azurite => {
                node["cloud_type"] = json!("Azure");
                node["connection_string"] = json!(self.azurite.unwrap().connection_string());
            }
            Kind::Gcs => {
                node["cloud_type"] = json!("Google");
                node["json_auth_file"] = json!(self.gcs_json.clone().unwrap());
            }
            Kind::Local => node["cloud_type"] = json!("Local"),
            Kind::Oss | Kind::Obs | Kind::Cos => {
                node["cloud_type"] = json!(self.cloud_type());
                node["ak"] = json!(VENDOR_ACCESS_KEY);
                node["sk"] = json!(VENDOR_SECRET_KEY);
                if self.kind == Kind::Cos {
                    // COS buckets are `name-APPID`; OMS passes the APPID on its own.
                    let (name, app_id) = self.bucket.rsplit_once('-').unwrap();
                    node["bucket"] = json!(name);
                    node["app_id"] = json!(app_id);
                }
            }
        }
        node
    }
}

/// Deterministic bytes that differ per object and per position.
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

/// The suite's objects: awkward keys, 0 B, exactly one part, three parts.
fn objects(src: &Store, dst: &Store) -> Vec<(String, Vec<u8>)> {
    let mut keys: Vec<(String, usize)> = [
        ("plain.txt", 100),
        ("with space.txt", 10),
        ("unicode/日本語-é.txt", 10),
        ("plus+sign.txt", 10),
        ("percent%41.txt", 10),
        ("hash#frag.txt", 10),
        ("question?mark.txt", 10),
        ("deep/a/b/c/d/e/f/g/h.txt", 10),
        ("empty.bin", 0),
        ("one-part.bin", PART),
        ("three-parts.bin", 2 * PART + 4321),
    ]
    .iter()
    .map(|(key, len)| ((*key).to_owned(), *len))
    .collect();
    if src.keeps_double_slash() && dst.keeps_double_slash() {
        keys.push(("a//b.txt".to_owned(), 7));
    }
    keys.into_iter()
        .enumerate()
        .map(|(i, (key, len))| (key, bytes(i as u8 + 1, len)))
        .collect()
}

fn tern_copy(src: &Store, dst: &Store, extra: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tern"));
    command
        .args([
            "copy",
            &src.url(),
            &dst.url(),
            "--part-size",
            "5M",
            "--metadata",
            "--json",
        ])
        .args(extra)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    for (name, value) in src.env("SRC").into_iter().chain(dst.env("DST")) {
        command.env(name, value);
    }
    if let Some(proxy) = src.proxy.as_ref().or(dst.proxy.as_ref()) {
        command.envs(proxy_env(proxy));
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

const META: [(&str, &str); 2] = [("color", "blue"), ("owner", "tern")];

async fn seed(src: &Store, objects: &[(String, Vec<u8>)]) {
    for (key, body) in objects {
        src.put(key, body.clone(), "text/x-tern", &META).await;
    }
}

/// Every object at the destination, byte-identical, with its Content-Type and metadata.
async fn assert_copied(src: &Store, dst: &Store, objects: &[(String, Vec<u8>)]) {
    for (key, body) in objects {
        let read = dst
            .get(key)
            .await
            .unwrap_or_else(|| panic!("{:?}→{:?}: {key:?} missing", src.kind, dst.kind));
        assert!(
            read.body == *body,
            "{:?}→{:?}: {key:?} differs ({} bytes, want {})",
            src.kind,
            dst.kind,
            read.body.len(),
            body.len()
        );
        if src.keeps_properties() && dst.keeps_properties() {
            assert_eq!(
                read.content_type.as_deref(),
                Some("text/x-tern"),
                "{:?}→{:?}: {key:?}",
                src.kind,
                dst.kind
            );
            for (name, value) in META {
                assert_eq!(
                    read.metadata.get(name).map(String::as_str),
                    Some(value),
                    "{:?}→{:?}: {key:?} metadata {:?}",
                    src.kind,
                    dst.kind,
                    read.metadata
                );
            }
        }
    }
}

/// The behaviour suite for one pair: copy, read back, run again (all skipped), then a list
/// naming a missing key fails that key alone.
async fn behaviour(src: &Store, dst: &Store) {
    let objects = objects(src, dst);
    seed(src, &objects).await;
    let total = objects.len() as u64;
    let size: u64 = objects.iter().map(|(_, body)| body.len() as u64).sum();

    let first = tern_copy(src, dst, &[]);
    let json = report(&first);
    assert_eq!(
        (first.status.code(), json["successful_num"].as_u64()),
        (Some(0), Some(total)),
        "{:?}→{:?}: {json}\nstderr: {}",
        src.kind,
        dst.kind,
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(json["total_size"].as_u64(), Some(size));
    assert_copied(src, dst, &objects).await;

    let second = report(&tern_copy(src, dst, &[]));
    assert_eq!(
        (
            second["skipped_num"].as_u64(),
            second["successful_num"].as_u64()
        ),
        (Some(total), Some(0)),
        "{:?}→{:?} second run: {second}",
        src.kind,
        dst.kind
    );

    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("keys.txt");
    std::fs::write(&list, "plain.txt\nnot-there.txt\nplus%2Bsign.txt\n").unwrap();
    let listed = tern_copy(src, dst, &["--list-file", list.to_str().unwrap()]);
    let json = report(&listed);
    assert_eq!(listed.status.code(), Some(1), "{json}");
    assert_eq!(json["failed_num"].as_u64(), Some(1), "{json}");
    assert_eq!(json["skipped_num"].as_u64(), Some(2), "{json}");
    assert_eq!(json["failed"][0]["key"], "not-there.txt", "{json}");

    // A changed source object replaces the destination's (on GCS: a resumable upload
    // conditioned on the generation just seen).
    let changed = bytes(99, 2 * PART + 1234);
    src.put("three-parts.bin", changed.clone(), "text/x-tern", &META)
        .await;
    let again = report(&tern_copy(src, dst, &[]));
    assert_eq!(
        (
            again["successful_num"].as_u64(),
            again["failed_num"].as_u64()
        ),
        (Some(1), Some(0)),
        "{:?}→{:?} after a change: {again}",
        src.kind,
        dst.kind
    );
    assert_copied(src, dst, &[("three-parts.bin".to_owned(), changed)]).await;
}

async fn pair(src: Kind, dst: Kind) {
    let tokens = TokenServer::start().await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let mut src = Store::new(src, "bsrc", &tokens, local.path()).await;
    let mut dst = Store::new(dst, "bdst", &tokens, local.path()).await;
    let proxy = if src.kind.vendor().is_some() || dst.kind.vendor().is_some() {
        let proxy = vendor_proxy().await;
        src = src.with_proxy(&proxy);
        dst = dst.with_proxy(&proxy);
        Some(proxy)
    } else {
        None
    };
    behaviour(&src, &dst).await;
    if let Some(proxy) = proxy {
        assert!(
            proxy.refusals().is_empty() && proxy.verified() > 0,
            "{:?}→{:?}: verified {}, refused {:?}",
            src.kind,
            dst.kind,
            proxy.verified(),
            proxy.refusals()
        );
    }
    if src.kind == Kind::Gcs || dst.kind == Kind::Gcs {
        assert!(
            tokens.issued() > 0 && tokens.refused() == 0,
            "the JSON's token_uri was used: issued {}, refused {}",
            tokens.issued(),
            tokens.refused()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_behaviour_s3_seaweedfs() {
    pair(Kind::SeaweedFs, Kind::SeaweedFs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_behaviour_s3_moto() {
    pair(Kind::Moto, Kind::Moto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_behaviour_azure_blob_on_azurite() {
    pair(Kind::Azurite, Kind::Azurite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_behaviour_gcs_on_fake_gcs_server() {
    pair(Kind::Gcs, Kind::Gcs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_behaviour_local_files() {
    pair(Kind::Local, Kind::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_behaviour_native_oss() {
    pair(Kind::Oss, Kind::Oss).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_behaviour_native_obs() {
    pair(Kind::Obs, Kind::Obs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_behaviour_native_cos() {
    pair(Kind::Cos, Kind::Cos).await;
}

/// Google tokens are fetched again at the JSON's `token_uri` before they expire: OpenDAL's
/// signer renews a token with less than two minutes left, so one that lasts a minute is asked
/// for again by every request, and a run of several requests asks for several tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_gcs_tokens_are_refreshed_before_expiry() {
    let tokens = TokenServer::start_with_lifetime(60).await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let src = Store::new(Kind::Local, "refresh-src", &tokens, local.path()).await;
    let dst = Store::new(Kind::Gcs, "refresh", &tokens, local.path()).await;
    let objects: Vec<(String, Vec<u8>)> = (0..4u8)
        .map(|i| (format!("obj-{i}"), bytes(i, 100)))
        .collect();
    seed(&src, &objects).await;
    let output = tern_copy(&src, &dst, &[]);
    let json = report(&output);
    assert_eq!(
        json["successful_num"].as_u64(),
        Some(4),
        "{json}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_copied(&src, &dst, &objects).await;
    assert!(
        tokens.issued() >= 4 && tokens.refused() == 0,
        "issued {}, refused {}",
        tokens.issued(),
        tokens.refused()
    );
}

/// Objects for the cross-backend tasks: awkward keys, 0 B, and one object of three parts at
/// the server's default part size (8 MiB).
fn task_objects() -> Vec<(String, Vec<u8>)> {
    [
        ("plain.txt", 1000),
        ("with space/ü+#?.txt", 1777),
        ("empty.bin", 0),
        ("deep/a/b/c.bin", 2554),
        ("three-parts.bin", 16 * 1024 * 1024 + 99),
    ]
    .iter()
    .enumerate()
    .map(|(i, (key, len))| ((*key).to_owned(), bytes(40 + i as u8, *len)))
    .collect()
}

async fn wait_done(server: &TernServer, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
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

/// Keys and bytes.
type Objects = Vec<(String, Vec<u8>)>;

/// Creates one task through the API; returns its id.
async fn create_task(server: &TernServer, body: &Value, what: &str) -> i64 {
    let (status, response) = http(
        "POST",
        &format!("{}/v2/{}/tasks", server.endpoint, server.project_id),
        Some(&server.token),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{what}: {response}");
    serde_json::from_str::<Value>(&response).unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// Percent-encodes a URL path or a URL-list name, keeping `/`.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every source family (S3 on SeaweedFS, Azure on Azurite, GCS on fake-gcs-server, local files,
/// a URL list) into every destination family (the same four stores) as `tern serve` tasks, all
/// created at once: each copies the source's `src/` objects to `from-<family>/` at the
/// destination, and every object is read back with the test kit's clients, byte for byte. The
/// three-part object rides along only where it is cheap and meaningful: Azure↔GCS and S3↔Azure
/// (block lists, resumable uploads, multipart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_every_family_pair_through_tern_serve() {
    let tokens = TokenServer::start().await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s3 = Store::new(Kind::SeaweedFs, "xs3", &tokens, local.path()).await;
    let azure = Store::new(Kind::Azurite, "xaz", &tokens, local.path()).await;
    let gcs = Store::new(Kind::Gcs, "xgcs", &tokens, local.path()).await;
    let files = Store::new(Kind::Local, "xlocal", &tokens, local.path()).await;
    let stores = [&s3, &azure, &gcs, &files];
    let config = dir.path().join("tern.toml");
    let mut text = "version = 1\n".to_owned();
    for store in stores {
        text.push_str(&store.region_entry());
    }
    std::fs::write(&config, text).unwrap();
    let server = TernServer::start_with_config(dir.path(), config);

    let (small, big): (Vec<_>, Vec<_>) = task_objects()
        .into_iter()
        .partition(|(_, body)| body.len() < PART);
    let small: Vec<(String, Vec<u8>)> = small
        .into_iter()
        .map(|(key, body)| (format!("src/{key}"), body))
        .collect();
    let big: Vec<(String, Vec<u8>)> = big
        .into_iter()
        .map(|(key, body)| (format!("big/{key}"), body))
        .collect();
    for store in stores {
        seed(store, &small).await;
    }
    for store in [&s3, &azure, &gcs] {
        seed(store, &big).await;
    }
    let with_big = |src: Kind, dst: Kind| {
        matches!(
            (src, dst),
            (Kind::Azurite, Kind::Gcs)
                | (Kind::Gcs, Kind::Azurite)
                | (Kind::SeaweedFs, Kind::Azurite)
                | (Kind::Azurite, Kind::SeaweedFs)
        )
    };

    // The URL-list source: the same small objects served over HTTP, listed in a file that each
    // destination's bucket holds (OMS reads it from the destination region).
    let web = HttpFileServer::start(None).await.unwrap();
    let mut lines = String::new();
    for (key, body) in &small {
        let served = format!("/web/{key}");
        web.put(&served, body.clone(), false);
        lines.push_str(&format!(
            "{}{}\t{}\n",
            web.endpoint(),
            url_encode(&served),
            url_encode(key)
        ));
    }
    const LIST_KEY: &str = "lists/urls.txt";

    // (source name, destination, expected objects at the destination, task id)
    let mut tasks: Vec<(String, &Store, Objects, i64)> = Vec::new();
    for dst in stores {
        for src in stores {
            let save_prefix = format!("from-{}/", src.region());
            let mut src_node = src.node();
            let mut expected = small.clone();
            if with_big(src.kind, dst.kind) {
                src_node["object_key"] = json!(["src/", "big/"]);
                expected.extend(big.iter().cloned());
            } else {
                src_node["object_key"] = json!(["src/"]);
            }
            let mut dst_node = dst.node();
            dst_node["save_prefix"] = json!(save_prefix);
            let body = json!({"task_type": "prefix", "src_node": src_node, "dst_node": dst_node,
                              "enable_metadata_migration": true});
            let what = format!("{:?}→{:?}", src.kind, dst.kind);
            let id = create_task(&server, &body, &what).await;
            let expected = expected
                .into_iter()
                .map(|(key, body)| (format!("{save_prefix}{key}"), body))
                .collect();
            tasks.push((format!("{:?}", src.kind), dst, expected, id));
        }
        dst.put(LIST_KEY, lines.clone().into_bytes(), "text/plain", &[])
            .await;
        let mut dst_node = dst.node();
        dst_node["save_prefix"] = json!("from-url/");
        let body = json!({
            "task_type": "url_list",
            "src_node": {"cloud_type": "URLSource",
                         "list_file": {"obs_bucket": dst.bucket, "list_file_key": LIST_KEY}},
            "dst_node": dst_node
        });
        let id = create_task(&server, &body, &format!("URL list→{:?}", dst.kind)).await;
        let expected = small
            .iter()
            .map(|(key, body)| (format!("from-url/{key}"), body.clone()))
            .collect();
        tasks.push(("URL list".to_owned(), dst, expected, id));
    }
    assert_eq!(tasks.len(), 20);

    for (src_name, dst, expected, id) in &tasks {
        let task = wait_done(&server, *id).await;
        let what = format!("{src_name}→{:?}", dst.kind);
        assert_eq!(
            (
                task["status"].as_i64(),
                task["failed_num"].as_i64(),
                task["successful_num"].as_u64()
            ),
            (Some(5), Some(0), Some(expected.len() as u64)),
            "{what}: {task}\nlog:\n{}",
            server.log_text()
        );
        for (key, body) in expected {
            let read = dst
                .get(key)
                .await
                .unwrap_or_else(|| panic!("{what}: {key:?} missing"));
            assert!(
                read.body == *body,
                "{what}: {key:?} differs ({} bytes, want {})",
                read.body.len(),
                body.len()
            );
        }
    }
    assert!(tokens.issued() > 0 && tokens.refused() == 0);

    // Properties travel between object stores (the local family has none to keep).
    let under = |prefix: &str| -> Vec<(String, Vec<u8>)> {
        small
            .iter()
            .map(|(key, body)| (format!("{prefix}{key}"), body.clone()))
            .collect()
    };
    assert_copied(&azure, &gcs, &under("from-azurite/")).await;
    assert_copied(&gcs, &s3, &under("from-gcs/")).await;
    assert_copied(&s3, &azure, &under("from-seaweedfs/")).await;

    // The built-in Azure region `global` (endpoint `https://{account}.blob.core.windows.net`):
    // the connection string's BlobEndpoint wins, so the task reaches Azurite.
    let mut dst_node = azure.node();
    dst_node["region"] = json!("global");
    dst_node["save_prefix"] = json!("via-global/");
    let mut src_node = s3.node();
    src_node["object_key"] = json!(["src/plain.txt"]);
    let body = json!({"task_type": "object", "src_node": src_node, "dst_node": dst_node});
    let id = create_task(&server, &body, "S3→Azure global").await;
    let task = wait_done(&server, id).await;
    assert_eq!(
        (task["status"].as_i64(), task["successful_num"].as_u64()),
        (Some(5), Some(1)),
        "{task}\nlog:\n{}",
        server.log_text()
    );
    let plain = small
        .iter()
        .find(|(key, _)| key == "src/plain.txt")
        .unwrap();
    let copied = azure.get("via-global/src/plain.txt").await.unwrap();
    assert!(copied.body == plain.1);
}

/// Native OSS, OBS and COS (the cloud types' own protocols, no `protocol` in the region table)
/// as task sources through `tern serve` into S3: awkward keys, 0 B and a 3-part object arrive
/// byte-identical with their metadata, and every vendor request carried a valid signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_native_vendor_sources_through_tern_serve() {
    let tokens = TokenServer::start().await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let proxy = vendor_proxy().await;
    let s3 = Store::new(Kind::SeaweedFs, "ns3", &tokens, local.path()).await;
    let mut sources = Vec::new();
    for kind in [Kind::Oss, Kind::Obs, Kind::Cos] {
        let store = Store::new(kind, "nsrc", &tokens, local.path()).await;
        sources.push(store.with_proxy(&proxy));
    }
    let mut config_text = format!("version = 1\n{}", s3.region_entry());
    for source in &sources {
        config_text.push_str(&source.region_entry());
    }
    let config = dir.path().join("tern.toml");
    std::fs::write(&config, config_text).unwrap();
    let env = proxy_env(&proxy);
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let server = TernServer::start_with_env(dir.path(), config, &env);
    let objects = task_objects();
    for source in &sources {
        seed(source, &objects).await;
    }
    for source in &sources {
        let save_prefix = format!("from-{}/", source.region());
        let mut src_node = source.node();
        src_node["object_key"] = json!([""]);
        let mut dst_node = s3.node();
        dst_node["save_prefix"] = json!(save_prefix);
        let body = json!({"task_type": "prefix", "src_node": src_node, "dst_node": dst_node,
                          "enable_metadata_migration": true});
        let (status, response) = http(
            "POST",
            &format!("{}/v2/{}/tasks", server.endpoint, server.project_id),
            Some(&server.token),
            Some(&body.to_string()),
        )
        .await;
        assert_eq!(status, 200, "{:?}: {response}", source.kind);
        let id = serde_json::from_str::<Value>(&response).unwrap()["id"]
            .as_i64()
            .unwrap();
        let task = wait_done(&server, id).await;
        assert_eq!(
            (
                task["status"].as_i64(),
                task["failed_num"].as_i64(),
                task["successful_num"].as_u64()
            ),
            (Some(5), Some(0), Some(objects.len() as u64)),
            "{:?}: {task}\nlog:\n{}\nrefused: {:?}",
            source.kind,
            server.log_text(),
            proxy.refusals()
        );
        let under_prefix: Vec<(String, Vec<u8>)> = objects
            .iter()
            .map(|(key, body)| (format!("{save_prefix}{key}"), body.clone()))
            .collect();
        assert_copied(source, &s3, &under_prefix).await;
    }
    assert!(
        proxy.refusals().is_empty() && proxy.verified() > 0,
        "verified {}, refused {:?}",
        proxy.verified(),
        proxy.refusals()
    );
}

/// Azure→GCS and GCS→Azure as task groups through `tern serve`, byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_cross_backend_groups_through_tern_serve() {
    let tokens = TokenServer::start().await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let azure = Store::new(Kind::Azurite, "gaz", &tokens, local.path()).await;
    let gcs = Store::new(Kind::Gcs, "ggcs", &tokens, local.path()).await;
    let config = dir.path().join("tern.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n{}{}",
            azure.region_entry(),
            gcs.region_entry()
        ),
    )
    .unwrap();
    let server = TernServer::start_with_config(dir.path(), config);
    let objects: Vec<(String, Vec<u8>)> = task_objects()
        .into_iter()
        .filter(|(_, body)| body.len() < PART)
        .map(|(key, body)| (format!("in/{key}"), body))
        .collect();
    for store in [&azure, &gcs] {
        seed(store, &objects).await;
    }
    for (src, dst, save_prefix) in [(&azure, &gcs, "from-az/"), (&gcs, &azure, "from-gcs/")] {
        let mut src_node = src.node();
        src_node["object_key"] = json!(["in/"]);
        let mut dst_node = dst.node();
        dst_node["save_prefix"] = json!(save_prefix);
        let body = json!({"task_type": "PREFIX", "src_node": src_node, "dst_node": dst_node,
                          "enable_metadata_migration": true});
        let url = format!("{}/v2/{}/taskgroups", server.endpoint, server.project_id);
        let (status, response) =
            http("POST", &url, Some(&server.token), Some(&body.to_string())).await;
        assert_eq!(status, 200, "{:?}→{:?}: {response}", src.kind, dst.kind);
        let id = serde_json::from_str::<Value>(&response).unwrap()["group_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        let group = loop {
            let (status, body) =
                http("GET", &format!("{url}/{id}"), Some(&server.token), None).await;
            assert_eq!(status, 200, "{body}");
            let group: Value = serde_json::from_str(&body).unwrap();
            if matches!(group["status"].as_i64(), Some(5 | 6)) {
                break group;
            }
            assert!(
                Instant::now() < deadline,
                "group stuck: {group}\n{}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(
            (group["status"].as_i64(), group["success_num"].as_u64()),
            (Some(6), Some(objects.len() as u64)),
            "{:?}→{:?}: {group}\n{}",
            src.kind,
            dst.kind,
            server.log_text()
        );
        let under_prefix: Vec<(String, Vec<u8>)> = objects
            .iter()
            .map(|(key, body)| (format!("{save_prefix}{key}"), body.clone()))
            .collect();
        assert_copied(src, dst, &under_prefix).await;
    }
    assert!(tokens.issued() > 0 && tokens.refused() == 0);
}

/// A token endpoint that refuses the service account's assertion (here: signed with another
/// key than the one it knows) stops the run at once with one line naming the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_gcs_refused_token_exchange_is_run_fatal_and_named() {
    let tokens = TokenServer::start().await.unwrap();
    let other = TokenServer::start().await.unwrap();
    let local = tempfile::tempdir().unwrap();
    let src = Store::new(Kind::Local, "refused-src", &tokens, local.path()).await;
    let mut dst = Store::new(Kind::Gcs, "refused", &tokens, local.path()).await;
    let json = tokens
        .service_account_json()
        .replace(&tokens.token_uri(), &other.token_uri());
    dst.gcs_json = Some(json);
    seed(&src, &[("a.txt".to_owned(), b"a".to_vec())]).await;
    let output = tern_copy(&src, &dst, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&other.token_uri()) && stderr.contains("invalid_grant"),
        "{stderr}"
    );
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    assert!(other.refused() > 0 && other.issued() == 0);
    assert_eq!(tokens.issued(), 0);
}
