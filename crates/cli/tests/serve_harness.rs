//! Starts a real `tern serve` process for end-to-end tests and reads its first-start secrets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use tern_testkit::{S3Client, S3Server};

/// Region names the config gives the local SeaweedFS.
pub const SRC_REGION: &str = "local-src";
pub const DST_REGION: &str = "local-dst";

/// A running `tern serve`, killed on drop.
pub struct TernServer {
    child: Option<Child>,
    pub endpoint: String,
    pub project_id: String,
    pub token: String,
    pub ak: String,
    pub sk: String,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    /// `TERN_LOG` of the process (`info` unless a test asks for more).
    pub log_filter: String,
    /// Extra environment of the process (e.g. `HTTP_PROXY` to reach virtual-host buckets).
    pub env: Vec<(String, String)>,
}

/// Writes a config naming the S3 server as a source region (AWS) and a destination region
/// (HuaweiCloud spoken as S3).
pub fn write_config(dir: &Path, s3: &S3Server) -> PathBuf {
    let config = dir.join("tern.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n\
             [[regions]]\ncloud_type = \"AWS\"\nregion = \"{SRC_REGION}\"\nendpoint = \"{ep}\"\nprotocol = \"s3\"\n\
             [[regions]]\ncloud_type = \"HuaweiCloud\"\nregion = \"{DST_REGION}\"\nendpoint = \"{ep}\"\nprotocol = \"s3\"\n",
            ep = s3.endpoint()
        ),
    )
    .unwrap();
    config
}

impl TernServer {
    /// Starts `tern serve` on a free port with a fresh data dir under `dir`.
    pub fn start(dir: &Path, s3: &S3Server) -> TernServer {
        let config = write_config(dir, s3);
        Self::start_with_config(dir, config)
    }

    /// Starts `tern serve` with a config file of the caller's.
    pub fn start_with_config(dir: &Path, config: PathBuf) -> TernServer {
        Self::start_with_log_filter(dir, config, "info")
    }

    /// Starts `tern serve` with a config file and a `TERN_LOG` filter of the caller's.
    pub fn start_with_log_filter(dir: &Path, config: PathBuf, log_filter: &str) -> TernServer {
        let data_dir = dir.join("data");
        let log = dir.join("serve.log");
        let mut server = TernServer {
            child: None,
            endpoint: String::new(),
            project_id: String::new(),
            token: String::new(),
            ak: String::new(),
            sk: String::new(),
            data_dir,
            config,
            log,
            log_filter: log_filter.to_owned(),
            env: Vec::new(),
        };
        server.spawn(true);
        server
    }

    /// Starts `tern serve` with a config file and extra environment variables of the caller's.
    pub fn start_with_env(dir: &Path, config: PathBuf, env: &[(&str, &str)]) -> TernServer {
        Self::start_with_env_and_log_filter(dir, config, env, "info")
    }

    /// [`TernServer::start_with_env`] with a `TERN_LOG` filter of the caller's.
    pub fn start_with_env_and_log_filter(
        dir: &Path,
        config: PathBuf,
        env: &[(&str, &str)],
        log_filter: &str,
    ) -> TernServer {
        let mut server = TernServer {
            child: None,
            endpoint: String::new(),
            project_id: String::new(),
            token: String::new(),
            ak: String::new(),
            sk: String::new(),
            data_dir: dir.join("data"),
            config,
            log: dir.join("serve.log"),
            log_filter: log_filter.to_owned(),
            env: env
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        };
        server.spawn(true);
        server
    }

    /// Starts the process (again) on the same data dir; `first` reads the bootstrap secrets.
    pub fn spawn(&mut self, first: bool) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("TERN_LOG", &self.log_filter)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("tern serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let Some(Ok(line)) = lines.next() else {
                panic!(
                    "tern serve exited early; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            };
            if let Some(value) = line.strip_prefix("TERN_PROJECT_ID=") {
                self.project_id = value.to_owned();
            } else if let Some(value) = line.strip_prefix("TERN_TOKEN=") {
                self.token = value.to_owned();
            } else if let Some(value) = line.strip_prefix("TERN_AK=") {
                self.ak = value.to_owned();
            } else if let Some(value) = line.strip_prefix("TERN_SK=") {
                self.sk = value.to_owned();
            } else if let Some(address) = line.strip_prefix("tern: listening on ") {
                self.endpoint = address.to_owned();
                break;
            }
        }
        assert!(
            !self.endpoint.is_empty(),
            "tern serve did not report its address"
        );
        if first {
            assert!(!self.sk.is_empty(), "first start printed no credentials");
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    /// SIGKILLs the process: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TernServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A raw HTTP request with `X-Auth-Token` (what curl users and scripts send).
pub async fn http(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.header("X-Auth-Token", token);
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// Puts `objects` into `bucket`, 32 at a time, as `text/plain`.
pub async fn seed(client: &S3Client, bucket: &str, objects: &[(String, Vec<u8>)]) {
    stream::iter(objects.iter())
        .for_each_concurrent(32, |(key, body)| {
            let client = client.clone();
            let bucket = bucket.to_owned();
            async move {
                client
                    .put_object(&bucket, key, body.clone(), Some("text/plain"), &[])
                    .await
                    .unwrap()
            }
        })
        .await;
}
