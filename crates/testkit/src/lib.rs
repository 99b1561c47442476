//! `tern-testkit`: starts real local object-store servers on 127.0.0.1 for tern's tests, creates
//! buckets in them, and checks results through an independent S3 client; also throwaway
//! PostgreSQL clusters with a database per test (`postgres.rs`).
//!
//! Servers run in their own process group under a small `sh` watchdog that kills them when the
//! test process goes away, however it ends, so no server outlives a test run (see `process.rs`).
//! A server that cannot start is an error naming the binary, the command and the log tail; tests
//! never skip silently (STYLE.md §9, DESIGN.md "Test servers").

#![deny(missing_docs)]

mod azurite;
pub mod cdn_check;
mod fault;
mod gcs;
mod http_server;
mod listxml;
mod postgres;
mod process;
mod recorder;
mod s3client;
mod sigv4;
#[cfg(test)]
mod tests;
mod vendor_proxy;
mod vendor_sign;

use std::time::Duration;

use anyhow::{Context as _, Result};
use rand::Rng as _;
use tokio::sync::OnceCell;

pub use crate::azurite::{AzureClient, AzuriteServer, Blob, AZURITE_ACCOUNT, AZURITE_KEY};
pub use crate::fault::{Fault, FaultProxy, FlippedReads};
pub use crate::gcs::{FakeGcsServer, GcsClient, GcsObject, TokenServer, TEST_ACCESS_TOKEN};
pub use crate::http_server::{percent_decode, HttpFileServer, RequestCheck};
pub use crate::postgres::{PostgresServer, POSTGRES_USER};
pub use crate::process::free_port;
use crate::process::{Launch, Ready, ServerProcess};
pub use crate::recorder::{RecordedRequest, RecordingServer};
pub use crate::s3client::{ObjectData, ObjectHead, S3Client};
pub use crate::vendor_proxy::{Vendor, VendorProxy, VENDOR_ACCESS_KEY, VENDOR_SECRET_KEY};

const ACCESS_KEY: &str = "terntestaccesskey";
const SECRET_KEY: &str = "terntestsecretkey0123456789";
const REGION: &str = "us-east-1";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Start attempts when the server reports a port conflict (another process took a port between
/// [`free_port`] and the server binding it).
const START_ATTEMPTS: usize = 3;

/// Which server implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum S3Flavor {
    /// SeaweedFS `weed mini` (fast; folds `a//b` into `a/b`).
    SeaweedFs,
    /// moto's `moto_server` (slow, but AWS-faithful, keeps `a//b`).
    Moto,
}

impl S3Flavor {
    fn name(self) -> &'static str {
        match self {
            S3Flavor::SeaweedFs => "SeaweedFS",
            S3Flavor::Moto => "moto",
        }
    }

    /// The command line for a server whose S3 port is `port` and data dir `dir`.
    fn launch(self, port: u16, dir: &std::path::Path) -> Launch {
        match self {
            S3Flavor::SeaweedFs => {
                let d = dir.display();
                let args = vec![
                    "mini".to_string(),
                    format!("-dir={d}/data"),
                    "-ip=127.0.0.1".to_string(),
                    "-ip.bind=127.0.0.1".to_string(),
                    "-admin.ui=false".to_string(),
                    "-webdav=false".to_string(),
                    "-s3.port.iceberg=0".to_string(),
                    "-s3.port.lance=0".to_string(),
                    "-s3.autoCreateBucket=false".to_string(),
                    "-master.telemetry=false".to_string(),
                    // The default volume limit is free disk / 128 MB, shared by every server of
                    // a run; each bucket grows volumes of its own, so on a machine with little
                    // free disk the many buckets of a test binary ran out and writes got 500.
                    // Volumes are sparse files: a fixed high limit costs nothing.
                    "-volume.max=1000".to_string(),
                    format!("-s3.port={port}"),
                    format!("-master.port={}", port + 1),
                    format!("-volume.port={}", port + 2),
                    format!("-filer.port={}", port + 3),
                    format!("-admin.port={}", port + 4),
                    format!("-s3.localSocket={d}/s3.sock"),
                    format!("-filer.localSocket={d}/filer.sock"),
                ];
                // weed always puts its gRPC sockets in /tmp; remove ours when the server stops.
                let cleanup = [
                    ("s3", 0),
                    ("master", 1),
                    ("volume", 2),
                    ("filer", 3),
                    ("admin", 4),
                ]
                .iter()
                .map(|(part, offset)| {
                    format!("/tmp/seaweedfs-{part}-grpc-{}.sock", port + 10_000 + offset).into()
                })
                .collect();
                Launch {
                    program: "weed",
                    args,
                    envs: vec![
                        ("AWS_ACCESS_KEY_ID".to_string(), ACCESS_KEY.to_string()),
                        ("AWS_SECRET_ACCESS_KEY".to_string(), SECRET_KEY.to_string()),
                        // glog writes its files under TMPDIR; keep them in the data dir.
                        ("TMPDIR".to_string(), dir.display().to_string()),
                    ],
                    cleanup,
                }
            }
            S3Flavor::Moto => Launch {
                program: "moto_server",
                args: vec![
                    "-H".to_string(),
                    "127.0.0.1".to_string(),
                    "-p".to_string(),
                    port.to_string(),
                ],
                envs: Vec::new(),
                cleanup: Vec::new(),
            },
        }
    }

    fn ready(self) -> Ready {
        match self {
            // Anonymous `GET /` is refused once the S3 gateway checks signatures.
            S3Flavor::SeaweedFs => Ready::Status(403),
            S3Flavor::Moto => Ready::AnyStatus,
        }
    }
}

/// Keys of the second identity of [`S3Server::start_with_limited_user`].
const LIMITED_ACCESS_KEY: &str = "ternlimitedaccesskey";
const LIMITED_SECRET_KEY: &str = "ternlimitedsecretkey0123456789";

/// An identity of a SeaweedFS server allowed into one bucket only.
#[derive(Clone, Debug)]
pub struct LimitedUser {
    /// Its access key.
    pub access_key: String,
    /// Its secret key.
    pub secret_key: String,
    /// The one bucket it may read, write and list.
    pub bucket: String,
}

/// A running S3-compatible server on 127.0.0.1. Killed on Drop.
pub struct S3Server {
    flavor: S3Flavor,
    endpoint: String,
    process: ServerProcess,
}

impl std::fmt::Debug for S3Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Server")
            .field("flavor", &self.flavor)
            .field("endpoint", &self.endpoint)
            .field("dir", &self.process.dir())
            .finish()
    }
}

impl S3Server {
    /// Starts a fresh server on free ports; fails with the server's log tail if it does not become ready within ~20 s.
    pub async fn start(flavor: S3Flavor) -> Result<S3Server> {
        Self::start_with_timeout(flavor, READY_TIMEOUT).await
    }

    async fn start_with_timeout(flavor: S3Flavor, timeout: Duration) -> Result<S3Server> {
        Self::start_configured(flavor, timeout, None).await
    }

    /// Starts SeaweedFS with a second identity, [`LimitedUser`], that may read, write and list
    /// one new bucket (named from `prefix`, created here) and nothing else: copies signed with
    /// it cannot read the server's other buckets (a real refusal, 403 AccessDenied).
    pub async fn start_with_limited_user(prefix: &str) -> Result<(S3Server, LimitedUser)> {
        let user = LimitedUser {
            access_key: LIMITED_ACCESS_KEY.to_owned(),
            secret_key: LIMITED_SECRET_KEY.to_owned(),
            bucket: bucket_name(prefix),
        };
        let bucket = &user.bucket;
        let config = serde_json::json!({
            "identities": [
                {
                    "name": "admin",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]
                },
                {
                    "name": "limited",
                    "credentials": [{"accessKey": LIMITED_ACCESS_KEY, "secretKey": LIMITED_SECRET_KEY}],
                    "actions": [format!("Read:{bucket}"), format!("Write:{bucket}"), format!("List:{bucket}")]
                }
            ]
        });
        let server =
            Self::start_configured(S3Flavor::SeaweedFs, READY_TIMEOUT, Some(config.to_string()))
                .await?;
        server.create_bucket(&user.bucket).await?;
        Ok((server, user))
    }

    async fn start_configured(
        flavor: S3Flavor,
        timeout: Duration,
        s3_config: Option<String>,
    ) -> Result<S3Server> {
        let mut attempt = 1;
        loop {
            let port = free_port();
            let dir = tempfile::Builder::new()
                .prefix("tern-testkit-")
                .tempdir()
                .context("creating a temp dir for the server")?;
            let mut launch = flavor.launch(port, dir.path());
            if let (S3Flavor::SeaweedFs, Some(config)) = (flavor, &s3_config) {
                let path = dir.path().join("s3-identities.json");
                std::fs::write(&path, config).context("writing the S3 identities file")?;
                launch.args.push(format!("-s3.config={}", path.display()));
            }
            let endpoint = format!("http://127.0.0.1:{port}");
            let probe = format!("{endpoint}/");
            let name = flavor.name();
            match process::start(name, &launch, dir, &probe, flavor.ready(), timeout).await {
                Ok(process) => {
                    return Ok(S3Server {
                        flavor,
                        endpoint,
                        process,
                    })
                }
                Err(failure) if failure.port_conflict && attempt < START_ATTEMPTS => attempt += 1,
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// A process-wide shared server of that flavor, started on first use (so each test binary starts at most one of each).
    ///
    /// It lives until the test process exits; its watchdog then kills it and removes its data.
    /// Tests sharing it must use their own buckets (see [`S3Server::new_bucket`]).
    pub async fn shared(flavor: S3Flavor) -> Result<&'static S3Server> {
        static SEAWEEDFS: OnceCell<S3Server> = OnceCell::const_new();
        static MOTO: OnceCell<S3Server> = OnceCell::const_new();
        let cell = match flavor {
            S3Flavor::SeaweedFs => &SEAWEEDFS,
            S3Flavor::Moto => &MOTO,
        };
        cell.get_or_try_init(|| S3Server::start(flavor)).await
    }

    /// The S3 endpoint, `http://127.0.0.1:PORT` (path-style addressing).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The access key the server accepts.
    pub fn access_key(&self) -> &str {
        ACCESS_KEY
    }

    /// The secret key the server accepts.
    pub fn secret_key(&self) -> &str {
        SECRET_KEY
    }

    /// The region to sign with, `us-east-1`.
    pub fn region(&self) -> &str {
        REGION
    }

    /// The last `lines` lines of the server's stdout and stderr.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// The server's log file (moto logs one line per request: tests count reads with it).
    pub fn log_path(&self) -> &std::path::Path {
        self.process.log_path()
    }

    /// Creates a bucket with a unique name (prefix + random suffix, lowercase, valid S3 name) and returns its name.
    pub async fn new_bucket(&self, prefix: &str) -> Result<String> {
        let name = bucket_name(prefix);
        self.create_bucket(&name).await?;
        Ok(name)
    }

    /// Creates the bucket `name`; the error carries the server's log tail.
    pub async fn create_bucket(&self, name: &str) -> Result<()> {
        self.client().create_bucket(name).await.with_context(|| {
            format!(
                "on {} at {}; last {} log lines:\n{}",
                self.flavor.name(),
                self.endpoint,
                process::ERROR_LOG_LINES,
                self.log_tail(process::ERROR_LOG_LINES)
            )
        })
    }

    /// Independent SigV4 client so tests verify results without going through the code under test.
    ///
    /// Each call builds a new client, so use one per test (a client's connections belong to the
    /// tokio runtime of the test that opened them).
    pub fn client(&self) -> S3Client {
        S3Client::new(&self.endpoint, ACCESS_KEY, SECRET_KEY, REGION)
    }
}

/// `prefix` reduced to `[a-z0-9-]` without `--` (at most 40 chars) plus `-` and 12 random `[a-z0-9]`.
fn bucket_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut name = String::new();
    for c in prefix.chars().map(|c| c.to_ascii_lowercase()) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        // No `--` (reserved in forms like `xn--`) and no leading `-`.
        if c != '-' || !(name.is_empty() || name.ends_with('-')) {
            name.push(c);
        }
    }
    name.truncate(40);
    let mut name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        name.push('t');
    }
    name.push('-');
    let mut rng = rand::rng();
    for _ in 0..12 {
        name.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    name
}
