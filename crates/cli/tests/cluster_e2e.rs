//! Several tern nodes on one PostgreSQL (issue 11, RFC 0011): `tern serve` plus `tern worker`
//! processes started by the test against a throwaway cluster and SeaweedFS. A worker is
//! SIGKILLed mid-group, another SIGSTOPped past its lease (fencing), and the serve node killed
//! while workers run; every object is read back byte for byte and counted at the source.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use serve_harness::{http, seed, TernServer, DST_REGION, SRC_REGION};
use tempfile::TempDir;
use tern_testkit::{PostgresServer, S3Client, S3Flavor, S3Server};

/// Every node of a test shares this key, as `TERN_SEAL_KEY` (64 hex characters).
const SEAL_KEY: &str = "0123456789abcdeffedcba98765432100123456789abcdeffedcba9876543210";
/// Short leases keep takeovers within seconds.
const LEASE_SECS: u64 = 2;

/// A `tern worker` process, SIGKILLed on drop.
struct Worker {
    child: Option<Child>,
    node: String,
    log: PathBuf,
}

impl Worker {
    fn start(dir: &Path, name: &str, database: &str, config: &Path) -> Worker {
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
            .args(["worker", "--database", database, "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(dir.join(name))
            .env("TERN_SEAL_KEY", SEAL_KEY)
            .env("TERN_LOG", "info")
            .env_remove("TERN_DATABASE")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("tern worker starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("worker {name} exited early: {}", read(&log)));
        let node = line
            .strip_prefix("tern: worker ")
            .and_then(|rest| rest.strip_suffix(" running"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        std::thread::spawn(move || for _ in lines {});
        Worker {
            child: Some(child),
            node,
            log,
        }
    }

    fn pid(&self) -> String {
        self.child.as_ref().unwrap().id().to_string()
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn runs_started(&self) -> usize {
        read(&self.log).matches("task run starts").count()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A stopped process must be continued before it can die of SIGKILL's delivery.
            let _ = Command::new("kill").args(["-CONT", &self.pid()]).status();
        }
        self.kill();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn config(dir: &Path, name: &str, s3: &S3Server, extra: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "version = 1\nlease_secs = {LEASE_SECS}\n{extra}\n\
             [[regions]]\ncloud_type = \"AWS\"\nregion = \"{SRC_REGION}\"\nendpoint = \"{ep}\"\nprotocol = \"s3\"\n\
             [[regions]]\ncloud_type = \"HuaweiCloud\"\nregion = \"{DST_REGION}\"\nendpoint = \"{ep}\"\nprotocol = \"s3\"\n",
            ep = s3.endpoint()
        ),
    )
    .unwrap();
    path
}

/// The serve node: `max_running_tasks = 0` makes it an API node, so the workers run every task
/// unless the test says otherwise.
fn start_serve(dir: &Path, database: &str, config: PathBuf) -> TernServer {
    TernServer::start_with_env(
        dir,
        config,
        &[("TERN_SEAL_KEY", SEAL_KEY), ("TERN_DATABASE", database)],
    )
}

fn body(key: &str, len: usize) -> Vec<u8> {
    key.bytes().cycle().take(len).collect()
}

/// `count` objects named by `key(i)`, each `len(i)` bytes of its key repeated.
fn objects(
    count: usize,
    key: impl Fn(usize) -> String,
    len: impl Fn(usize) -> usize,
) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let key = key(i);
            let data = body(&key, len(i));
            (key, data)
        })
        .collect()
}

fn api_url(server: &TernServer, path: &str) -> String {
    format!("{}/v2/{}/{path}", server.endpoint, server.project_id)
}

async fn get_json(server: &TernServer, path: &str) -> Value {
    let (status, body) = http("GET", &api_url(server, path), Some(&server.token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn post_json(server: &TernServer, path: &str, body: &Value) -> Value {
    let (status, response) = http(
        "POST",
        &api_url(server, path),
        Some(&server.token),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{path}: {response}");
    serde_json::from_str(&response).unwrap()
}

/// A task's final statuses (failed, succeeded).
fn task_ended(task: &Value) -> bool {
    [4, 5].contains(&task["status"].as_i64().unwrap_or(0))
}

/// Waits until `done` holds for the JSON at `path`, at most `limit`.
async fn wait_for(
    server: &TernServer,
    path: &str,
    limit: Duration,
    logs: &[&Path],
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let value = get_json(server, path).await;
        if done(&value) {
            return value;
        }
        if Instant::now() > deadline {
            let tails: Vec<String> = logs
                .iter()
                .map(|log| {
                    let text = read(log);
                    let lines: Vec<&str> = text.lines().rev().take(25).collect();
                    format!("{}:\n{}", log.display(), lines.join("\n"))
                })
                .collect();
            panic!(
                "{path} did not get there: {value}\nserve log tail:\n{}\n{}",
                server
                    .log_text()
                    .lines()
                    .rev()
                    .take(25)
                    .collect::<Vec<_>>()
                    .join("\n"),
                tails.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Checks the destination holds exactly `objects`, byte for byte, beside tern's own object
/// lists (under `oms/`).
async fn assert_copied(client: &S3Client, dst: &str, objects: &[(String, Vec<u8>)]) {
    let copied: BTreeSet<String> = client
        .list_keys(dst, "")
        .await
        .unwrap()
        .into_iter()
        .filter(|key| !key.starts_with("oms/"))
        .collect();
    let expected: BTreeSet<String> = objects.iter().map(|(key, _)| key.clone()).collect();
    let missing: Vec<_> = expected.difference(&copied).take(5).collect();
    let extra: Vec<_> = copied.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "destination differs: {} copied of {}; missing {missing:?}; extra {extra:?}",
        copied.len(),
        expected.len()
    );
    stream::iter(objects.iter())
        .for_each_concurrent(32, |(key, data)| async move {
            let object = client
                .get_object(dst, key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{key} missing"));
            assert!(object.body == *data, "{key} differs");
        })
        .await;
}

/// One test's set-up: a fresh database, a source bucket seeded with `objects`, an empty
/// destination bucket, the serve node, and the config the test's workers start with.
struct Cluster {
    // Fields drop in order: the serve node stops before its directory goes.
    server: TernServer,
    weed: &'static S3Server,
    client: S3Client,
    database: String,
    src: String,
    dst: String,
    objects: Vec<(String, Vec<u8>)>,
    worker_config: PathBuf,
    dir: TempDir,
}

impl Cluster {
    /// `name` prefixes the database and the buckets; `serve` and `worker` are extra config
    /// lines of the serve node and of every worker.
    async fn start(
        name: &str,
        objects: Vec<(String, Vec<u8>)>,
        serve: &str,
        worker: &str,
    ) -> Cluster {
        let postgres = PostgresServer::shared().await.unwrap();
        let database = postgres
            .new_database(&format!("cluster_{name}"))
            .await
            .unwrap();
        let weed = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
        let client = weed.client();
        let src = weed.new_bucket(&format!("{name}-src")).await.unwrap();
        let dst = weed.new_bucket(&format!("{name}-dst")).await.unwrap();
        seed(&client, &src, &objects).await;

        let dir = tempfile::tempdir().unwrap();
        let serve_config = config(dir.path(), "serve", weed, serve);
        let worker_config = config(dir.path(), "worker", weed, worker);
        let server = start_serve(dir.path(), &database, serve_config);
        Cluster {
            server,
            weed,
            client,
            database,
            src,
            dst,
            objects,
            worker_config,
            dir,
        }
    }

    /// Starts a `tern worker` named `name` on the cluster's database.
    fn worker(&self, name: &str) -> Worker {
        Worker::start(self.dir.path(), name, &self.database, &self.worker_config)
    }

    /// A transfer body of `prefixes` from the source to the destination bucket at 1 MiB/s
    /// (OMS's least bandwidth), slow enough for a test to act in its middle.
    fn slow_transfer(&self, task_type: &str, prefixes: &[&str]) -> Value {
        let (ak, sk) = (self.weed.access_key(), self.weed.secret_key());
        json!({
            "task_type": task_type,
            "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": ak, "sk": sk,
                         "bucket": self.src, "object_key": prefixes},
            "dst_node": {"ak": ak, "sk": sk, "bucket": self.dst, "region": DST_REGION},
            "bandwidth_policy": [{"start": "00:00", "end": "12:00", "max_bandwidth": 1048576},
                                 {"start": "12:00", "end": "00:00", "max_bandwidth": 1048576}],
        })
    }

    /// Creates a slow prefix task over `prefix`; returns its API path `tasks/ID`.
    async fn create_task(&self, prefix: &str) -> String {
        let task = self.slow_transfer("prefix", &[prefix]);
        let id = post_json(&self.server, "tasks", &task).await["id"]
            .as_i64()
            .unwrap();
        format!("tasks/{id}")
    }

    /// Creates a slow prefix task group over `prefixes`; returns its API path `taskgroups/ID`.
    async fn create_group(&self, prefixes: &[&str]) -> String {
        let group = self.slow_transfer("PREFIX", prefixes);
        let id = post_json(&self.server, "taskgroups", &group).await["group_id"]
            .as_str()
            .unwrap()
            .to_owned();
        format!("taskgroups/{id}")
    }

    /// [`wait_for`] on the cluster's serve node.
    async fn wait_for(
        &self,
        path: &str,
        limit: Duration,
        logs: &[&Path],
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_for(&self.server, path, limit, logs, done).await
    }

    /// Waits (a minute at most) until the task at `path` has copied at least `count` objects.
    async fn wait_copied(&self, path: &str, count: u64, logs: &[&Path]) -> Value {
        self.wait_for(path, Duration::from_secs(60), logs, |t| {
            t["successful_num"].as_u64().unwrap_or(0) >= count
        })
        .await
    }

    /// [`assert_copied`] for the cluster's destination and seeded objects.
    async fn assert_copied(&self) {
        assert_copied(&self.client, &self.dst, &self.objects).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_two_workers_share_a_group_and_a_killed_one_loses_nothing() {
    const COUNT: usize = 3000;
    const PER_TASK: usize = 200;
    let objects = objects(
        COUNT,
        |i| format!("{}/obj {i:05}+ü", ["a", "b", "c"][i % 3]),
        |i| 8000 + i % 97,
    );
    // Any node may split the group: every node gets the same slice size.
    let cluster = Cluster::start(
        "group",
        objects,
        &format!("max_running_tasks = 0\ngroup_task_max_objects = {PER_TASK}"),
        &format!("max_running_tasks = 2\ngroup_task_max_objects = {PER_TASK}"),
    )
    .await;
    let mut first = cluster.worker("w1");
    let second = cluster.worker("w2");
    assert_ne!(first.node, second.node);

    // 1 MiB/s per task (OMS's least) over 24 MB keeps the group running for seconds, long
    // enough to kill a worker in its middle.
    let group_path = cluster.create_group(&["a/", "b/", "c/"]).await;
    let logs = [first.log.clone(), second.log.clone()];
    let log_refs: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
    let midway = cluster
        .wait_for(&group_path, Duration::from_secs(90), &log_refs, |g| {
            g["success_num"].as_u64().unwrap_or(0) >= 600
        })
        .await;
    assert!(
        midway["success_num"].as_u64().unwrap() < COUNT as u64,
        "finished before the kill: {midway}"
    );
    assert!(first.runs_started() > 0, "w1 ran nothing before the kill");
    first.kill();

    let done = cluster
        .wait_for(&group_path, Duration::from_secs(180), &log_refs, |g| {
            [4, 5, 6].contains(&g["status"].as_i64().unwrap_or(0))
        })
        .await;
    assert_eq!(done["status"], 6, "{done}");
    assert_eq!(done["total_num"].as_u64(), Some(COUNT as u64), "{done}");
    // Objects the killed worker had copied but not yet committed are found at the destination,
    // written since the task's run began, and count as copied: every object exactly once.
    assert_eq!(done["success_num"].as_u64(), Some(COUNT as u64), "{done}");
    assert_eq!(done["skip_num"].as_u64(), Some(0), "{done}");
    assert_eq!(done["fail_num"].as_u64(), Some(0), "{done}");
    assert!(
        done["total_task_num"].as_u64().unwrap() >= (COUNT / PER_TASK) as u64,
        "{done}"
    );
    // Counted independently of tern: the source as the test kit lists it.
    assert_eq!(
        cluster
            .client
            .list_keys(&cluster.src, "")
            .await
            .unwrap()
            .len(),
        COUNT
    );
    cluster.assert_copied().await;
    // Tasks ran on both workers, and the killed worker's were taken over by the other.
    assert!(second.runs_started() > 0, "w2 ran nothing");
    assert!(
        read(&second.log).contains(&format!("node={}", second.node)),
        "w2's runs carry its node id in the log"
    );
    assert_eq!(
        cluster.server.log_text().matches("task run starts").count(),
        0,
        "the API node ran a task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_worker_paused_past_its_lease_cannot_commit() {
    const COUNT: usize = 40;
    let objects = objects(COUNT, |i| format!("f/obj-{i:03}"), |i| 256 * 1024 + i);
    let cluster = Cluster::start(
        "fence",
        objects,
        "max_running_tasks = 0",
        "max_running_tasks = 1",
    )
    .await;
    let paused = cluster.worker("paused");

    // 1 MiB/s: about ten seconds for the 10 MiB, so the pause lands mid-run.
    let task_path = cluster.create_task("f/").await;
    let paused_log = [paused.log.as_path()];
    cluster.wait_copied(&task_path, 3, &paused_log).await;
    paused.signal("-STOP");

    // Past the lease another worker takes the task over from its checkpoint and ends it.
    let taker = cluster.worker("taker");
    let logs = [paused.log.as_path(), taker.log.as_path()];
    let done = cluster
        .wait_for(&task_path, Duration::from_secs(90), &logs, task_ended)
        .await;
    assert_eq!(done["status"], 5, "{done}");
    assert!(taker.runs_started() > 0, "the taker never claimed the task");

    // The paused worker wakes up holding a dead claim: its renewal or its next commit is
    // refused, and nothing it does changes the finished task.
    paused.signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !read(&paused.log).contains("lease lost") {
        assert!(
            Instant::now() < deadline,
            "the paused worker never noticed it lost the lease:\n{}",
            read(&paused.log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = get_json(&cluster.server, &task_path).await;
    assert_eq!(after["status"], 5, "{after}");
    assert_eq!(
        after["successful_num"].as_u64(),
        Some(COUNT as u64),
        "{after}"
    );
    assert_eq!(after["total_num"].as_u64(), Some(COUNT as u64), "{after}");
    assert_eq!(after, done, "the stale worker changed the finished task");
    assert!(
        !read(&paused.log).contains("task run recorded"),
        "the stale worker wrote its run's end:\n{}",
        read(&paused.log)
    );
    cluster.assert_copied().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_workers_go_on_while_serve_is_down() {
    const COUNT: usize = 60;
    let objects = objects(COUNT, |i| format!("d/obj-{i:03}"), |i| 64 * 1024 + i);
    let mut cluster = Cluster::start(
        "serve_down",
        objects,
        "max_running_tasks = 0",
        "max_running_tasks = 2",
    )
    .await;
    let worker = cluster.worker("w");
    // 1 MiB/s for about 4 MiB: the run outlives the serve node's absence.
    let task_path = cluster.create_task("d/").await;
    let logs = [worker.log.as_path()];
    let before = cluster.wait_copied(&task_path, 2, &logs).await;
    cluster.server.kill();
    // The worker needs no serve node: objects keep arriving at the destination.
    let (client, dst) = (&cluster.client, &cluster.dst);
    let copied_before = client.list_keys(dst, "").await.unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.list_keys(dst, "").await.unwrap().len() <= copied_before + 5 {
        assert!(
            Instant::now() < deadline,
            "no progress while serve was down:\n{}",
            read(&worker.log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.server.spawn(false);
    let done = cluster
        .wait_for(&task_path, Duration::from_secs(60), &logs, task_ended)
        .await;
    assert_eq!(done["status"], 5, "{done}");
    assert!(
        done["successful_num"].as_u64() > before["successful_num"].as_u64(),
        "{done}"
    );
    assert_eq!(
        done["successful_num"].as_u64(),
        Some(COUNT as u64),
        "{done}"
    );
    assert_eq!(done["total_num"].as_u64(), Some(COUNT as u64), "{done}");
    cluster.assert_copied().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_stop_and_start_on_the_api_node_reach_the_worker_running_the_task() {
    const COUNT: usize = 40;
    let objects = objects(COUNT, |i| format!("s/obj-{i:03}"), |i| 256 * 1024 + i);
    let cluster = Cluster::start(
        "stop",
        objects,
        "max_running_tasks = 0",
        "max_running_tasks = 1",
    )
    .await;
    let worker = cluster.worker("w");
    // 1 MiB/s over 10 MiB: the stop lands mid-run.
    let task_path = cluster.create_task("s/").await;
    let logs = [worker.log.as_path()];
    cluster.wait_copied(&task_path, 3, &logs).await;

    // The API node runs nothing: the stop travels through the database to the worker, which
    // sees it at its next lease renewal and ends the run in paused.
    let server = &cluster.server;
    let stop = api_url(server, &format!("{task_path}/stop"));
    let (status, response) = http("POST", &stop, Some(&server.token), Some("{}")).await;
    assert_eq!(status, 200, "{response}");
    let stopped_at = Instant::now();
    let paused = cluster
        .wait_for(&task_path, Duration::from_secs(10), &logs, |t| {
            t["status"].as_i64() == Some(3)
        })
        .await;
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2 * LEASE_SECS + 2),
        "the stop took {:?}",
        stopped_at.elapsed()
    );
    assert!(
        paused["successful_num"].as_u64().unwrap() < COUNT as u64,
        "finished before the stop: {paused}"
    );
    assert!(read(&worker.log).contains("stop received through the database"));

    let (ak, sk) = (cluster.weed.access_key(), cluster.weed.secret_key());
    let start = json!({"src_ak": ak, "src_sk": sk, "dst_ak": ak, "dst_sk": sk});
    let start_url = api_url(server, &format!("{task_path}/start"));
    let (status, response) = http(
        "POST",
        &start_url,
        Some(&server.token),
        Some(&start.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let done = cluster
        .wait_for(&task_path, Duration::from_secs(60), &logs, task_ended)
        .await;
    assert_eq!(done["status"], 5, "{done}");
    // An object whose write completed just as the stop cut its run is found identical by the
    // restarted run and counts as skipped (OMS's rule); every object has exactly one outcome.
    let (ok, skipped) = (
        done["successful_num"].as_u64().unwrap(),
        done["skipped_num"].as_u64().unwrap(),
    );
    assert_eq!(ok + skipped, COUNT as u64, "{done}");
    assert_eq!(done["failed_num"].as_u64(), Some(0), "{done}");
    assert_eq!(done["total_num"].as_u64(), Some(COUNT as u64), "{done}");
    cluster.assert_copied().await;
}
