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
use serve_harness::{http, TernServer, DST_REGION, SRC_REGION};
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

async fn seed(client: &S3Client, bucket: &str, objects: &[(String, Vec<u8>)]) {
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

async fn get_json(server: &TernServer, path: &str) -> Value {
    let url = format!("{}/v2/{}/{path}", server.endpoint, server.project_id);
    let (status, body) = http("GET", &url, Some(&server.token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn post_json(server: &TernServer, path: &str, body: &Value) -> Value {
    let url = format!("{}/v2/{}/{path}", server.endpoint, server.project_id);
    let (status, response) = http("POST", &url, Some(&server.token), Some(&body.to_string())).await;
    assert_eq!(status, 200, "{path}: {response}");
    serde_json::from_str(&response).unwrap()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_two_workers_share_a_group_and_a_killed_one_loses_nothing() {
    const COUNT: usize = 3000;
    const PER_TASK: usize = 200;
    let postgres = PostgresServer::shared().await.unwrap();
    let database = postgres.new_database("cluster_group").await.unwrap();
    let weed = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = weed.client();
    let src = weed.new_bucket("cluster-src").await.unwrap();
    let dst = weed.new_bucket("cluster-dst").await.unwrap();
    let objects: Vec<(String, Vec<u8>)> = (0..COUNT)
        .map(|i| {
            let key = format!("{}/obj {i:05}+ü", ["a", "b", "c"][i % 3]);
            let data = body(&key, 8000 + i % 97);
            (key, data)
        })
        .collect();
    seed(&client, &src, &objects).await;

    let dir = tempfile::tempdir().unwrap();
    let serve_config = config(
        dir.path(),
        "serve",
        weed,
        &format!("max_running_tasks = 0\ngroup_task_max_objects = {PER_TASK}"),
    );
    // Any node may split the group: every node gets the same slice size.
    let worker_config = config(
        dir.path(),
        "worker",
        weed,
        &format!("max_running_tasks = 2\ngroup_task_max_objects = {PER_TASK}"),
    );
    let server = start_serve(dir.path(), &database, serve_config);
    let mut first = Worker::start(dir.path(), "w1", &database, &worker_config);
    let second = Worker::start(dir.path(), "w2", &database, &worker_config);
    assert_ne!(first.node, second.node);

    // 1 MiB/s per task (OMS's least) over 24 MB keeps the group running for seconds, long
    // enough to kill a worker in its middle.
    let group = json!({
        "task_type": "PREFIX",
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": weed.access_key(), "sk": weed.secret_key(),
                     "bucket": src, "object_key": ["a/", "b/", "c/"]},
        "dst_node": {"ak": weed.access_key(), "sk": weed.secret_key(), "bucket": dst, "region": DST_REGION},
        "bandwidth_policy": [{"start": "00:00", "end": "12:00", "max_bandwidth": 1048576},
                             {"start": "12:00", "end": "00:00", "max_bandwidth": 1048576}],
    });
    let id = post_json(&server, "taskgroups", &group).await["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let logs = [first.log.clone(), second.log.clone()];
    let log_refs: Vec<&Path> = logs.iter().map(PathBuf::as_path).collect();
    let group_path = format!("taskgroups/{id}");
    let midway = wait_for(
        &server,
        &group_path,
        Duration::from_secs(90),
        &log_refs,
        |g| g["success_num"].as_u64().unwrap_or(0) >= 600,
    )
    .await;
    assert!(
        midway["success_num"].as_u64().unwrap() < COUNT as u64,
        "finished before the kill: {midway}"
    );
    assert!(first.runs_started() > 0, "w1 ran nothing before the kill");
    first.kill();

    let done = wait_for(
        &server,
        &group_path,
        Duration::from_secs(180),
        &log_refs,
        |g| [4, 5, 6].contains(&g["status"].as_i64().unwrap_or(0)),
    )
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
    assert_eq!(client.list_keys(&src, "").await.unwrap().len(), COUNT);
    assert_copied(&client, &dst, &objects).await;
    // Tasks ran on both workers, and the killed worker's were taken over by the other.
    assert!(second.runs_started() > 0, "w2 ran nothing");
    assert!(
        read(&second.log).contains(&format!("node={}", second.node)),
        "w2's runs carry its node id in the log"
    );
    assert_eq!(
        server.log_text().matches("task run starts").count(),
        0,
        "the API node ran a task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_worker_paused_past_its_lease_cannot_commit() {
    const COUNT: usize = 40;
    let postgres = PostgresServer::shared().await.unwrap();
    let database = postgres.new_database("cluster_fence").await.unwrap();
    let weed = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = weed.client();
    let src = weed.new_bucket("fence-src").await.unwrap();
    let dst = weed.new_bucket("fence-dst").await.unwrap();
    let objects: Vec<(String, Vec<u8>)> = (0..COUNT)
        .map(|i| {
            let key = format!("f/obj-{i:03}");
            let data = body(&key, 256 * 1024 + i);
            (key, data)
        })
        .collect();
    seed(&client, &src, &objects).await;

    let dir = tempfile::tempdir().unwrap();
    let serve_config = config(dir.path(), "serve", weed, "max_running_tasks = 0");
    let worker_config = config(dir.path(), "worker", weed, "max_running_tasks = 1");
    let server = start_serve(dir.path(), &database, serve_config);
    let paused = Worker::start(dir.path(), "paused", &database, &worker_config);

    // 1 MiB/s: about ten seconds for the 10 MiB, so the pause lands mid-run.
    let task = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": weed.access_key(), "sk": weed.secret_key(),
                     "bucket": src, "object_key": ["f/"]},
        "dst_node": {"ak": weed.access_key(), "sk": weed.secret_key(), "bucket": dst, "region": DST_REGION},
        "bandwidth_policy": [{"start": "00:00", "end": "12:00", "max_bandwidth": 1048576},
                             {"start": "12:00", "end": "00:00", "max_bandwidth": 1048576}],
    });
    let id = post_json(&server, "tasks", &task).await["id"]
        .as_i64()
        .unwrap();
    let task_path = format!("tasks/{id}");
    let paused_log = [paused.log.as_path()];
    wait_for(
        &server,
        &task_path,
        Duration::from_secs(60),
        &paused_log,
        |t| t["successful_num"].as_u64().unwrap_or(0) >= 3,
    )
    .await;
    paused.signal("-STOP");

    // Past the lease another worker takes the task over from its checkpoint and ends it.
    let taker = Worker::start(dir.path(), "taker", &database, &worker_config);
    let logs = [paused.log.as_path(), taker.log.as_path()];
    let done = wait_for(&server, &task_path, Duration::from_secs(90), &logs, |t| {
        [4, 5].contains(&t["status"].as_i64().unwrap_or(0))
    })
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
    let after = get_json(&server, &task_path).await;
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
    assert_copied(&client, &dst, &objects).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_workers_go_on_while_serve_is_down() {
    const COUNT: usize = 60;
    let postgres = PostgresServer::shared().await.unwrap();
    let database = postgres.new_database("cluster_serve_down").await.unwrap();
    let weed = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = weed.client();
    let src = weed.new_bucket("down-src").await.unwrap();
    let dst = weed.new_bucket("down-dst").await.unwrap();
    let objects: Vec<(String, Vec<u8>)> = (0..COUNT)
        .map(|i| {
            let key = format!("d/obj-{i:03}");
            let data = body(&key, 64 * 1024 + i);
            (key, data)
        })
        .collect();
    seed(&client, &src, &objects).await;

    let dir = tempfile::tempdir().unwrap();
    let serve_config = config(dir.path(), "serve", weed, "max_running_tasks = 0");
    let worker_config = config(dir.path(), "worker", weed, "max_running_tasks = 2");
    let mut server = start_serve(dir.path(), &database, serve_config);
    let worker = Worker::start(dir.path(), "w", &database, &worker_config);
    // 1 MiB/s for about 4 MiB: the run outlives the serve node's absence.
    let task = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": weed.access_key(), "sk": weed.secret_key(),
                     "bucket": src, "object_key": ["d/"]},
        "dst_node": {"ak": weed.access_key(), "sk": weed.secret_key(), "bucket": dst, "region": DST_REGION},
        "bandwidth_policy": [{"start": "00:00", "end": "12:00", "max_bandwidth": 1048576},
                             {"start": "12:00", "end": "00:00", "max_bandwidth": 1048576}],
    });
    let id = post_json(&server, "tasks", &task).await["id"]
        .as_i64()
        .unwrap();
    let task_path = format!("tasks/{id}");
    let logs = [worker.log.as_path()];
    let before = wait_for(&server, &task_path, Duration::from_secs(60), &logs, |t| {
        t["successful_num"].as_u64().unwrap_or(0) >= 2
    })
    .await;
    server.kill();
    // The worker needs no serve node: objects keep arriving at the destination.
    let copied_before = client.list_keys(&dst, "").await.unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.list_keys(&dst, "").await.unwrap().len() <= copied_before + 5 {
        assert!(
            Instant::now() < deadline,
            "no progress while serve was down:\n{}",
            read(&worker.log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.spawn(false);
    let done = wait_for(&server, &task_path, Duration::from_secs(60), &logs, |t| {
        [4, 5].contains(&t["status"].as_i64().unwrap_or(0))
    })
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
    assert_copied(&client, &dst, &objects).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_stop_and_start_on_the_api_node_reach_the_worker_running_the_task() {
    const COUNT: usize = 40;
    let postgres = PostgresServer::shared().await.unwrap();
    let database = postgres.new_database("cluster_stop").await.unwrap();
    let weed = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = weed.client();
    let src = weed.new_bucket("stop-src").await.unwrap();
    let dst = weed.new_bucket("stop-dst").await.unwrap();
    let objects: Vec<(String, Vec<u8>)> = (0..COUNT)
        .map(|i| {
            let key = format!("s/obj-{i:03}");
            let data = body(&key, 256 * 1024 + i);
            (key, data)
        })
        .collect();
    seed(&client, &src, &objects).await;

    let dir = tempfile::tempdir().unwrap();
    let serve_config = config(dir.path(), "serve", weed, "max_running_tasks = 0");
    let worker_config = config(dir.path(), "worker", weed, "max_running_tasks = 1");
    let server = start_serve(dir.path(), &database, serve_config);
    let worker = Worker::start(dir.path(), "w", &database, &worker_config);
    // 1 MiB/s over 10 MiB: the stop lands mid-run.
    let task = json!({
        "task_type": "prefix",
        "src_node": {"cloud_type": "AWS", "region": SRC_REGION, "ak": weed.access_key(), "sk": weed.secret_key(),
                     "bucket": src, "object_key": ["s/"]},
        "dst_node": {"ak": weed.access_key(), "sk": weed.secret_key(), "bucket": dst, "region": DST_REGION},
        "bandwidth_policy": [{"start": "00:00", "end": "12:00", "max_bandwidth": 1048576},
                             {"start": "12:00", "end": "00:00", "max_bandwidth": 1048576}],
    });
    let id = post_json(&server, "tasks", &task).await["id"]
        .as_i64()
        .unwrap();
    let task_path = format!("tasks/{id}");
    let logs = [worker.log.as_path()];
    wait_for(&server, &task_path, Duration::from_secs(60), &logs, |t| {
        t["successful_num"].as_u64().unwrap_or(0) >= 3
    })
    .await;

    // The API node runs nothing: the stop travels through the database to the worker, which
    // sees it at its next lease renewal and ends the run in paused.
    let stop = format!(
        "{}/v2/{}/tasks/{id}/stop",
        server.endpoint, server.project_id
    );
    let (status, response) = http("POST", &stop, Some(&server.token), Some("{}")).await;
    assert_eq!(status, 200, "{response}");
    let stopped_at = Instant::now();
    let paused = wait_for(&server, &task_path, Duration::from_secs(10), &logs, |t| {
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

    let start = json!({"src_ak": weed.access_key(), "src_sk": weed.secret_key(),
                       "dst_ak": weed.access_key(), "dst_sk": weed.secret_key()});
    let start_url = format!(
        "{}/v2/{}/tasks/{id}/start",
        server.endpoint, server.project_id
    );
    let (status, response) = http(
        "POST",
        &start_url,
        Some(&server.token),
        Some(&start.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{response}");
    let done = wait_for(&server, &task_path, Duration::from_secs(60), &logs, |t| {
        [4, 5].contains(&t["status"].as_i64().unwrap_or(0))
    })
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
    assert_copied(&client, &dst, &objects).await;
}
