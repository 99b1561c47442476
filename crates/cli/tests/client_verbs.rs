//! `tern task …` and `tern group …` against a real `tern serve` on local directories: every verb,
//! token and AK/SK identities, human and `--json` output, OMS refusals as one line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use serve_harness::TernServer;

/// Identity a verb runs with.
#[derive(Clone, Copy)]
enum Who {
    Token,
    AkSk,
}

struct Setup {
    server: TernServer,
    root: PathBuf,
    dir: tempfile::TempDir,
}

impl Setup {
    fn start() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("buckets");
        for bucket in ["src", "dst-task", "dst-group"] {
            std::fs::create_dir_all(root.join(bucket)).unwrap();
        }
        // Three 3 MiB objects at the smallest bandwidth OMS allows (1 MiB/s) keep a run going
        // for seconds, long enough to stop it; the small ones have awkward names.
        for index in 0..3u8 {
            let data: Vec<u8> = (0..3 * 1024 * 1024u32)
                .map(|i| (i % 251) as u8 ^ index)
                .collect();
            std::fs::write(root.join("src").join(format!("big-{index}.bin")), data).unwrap();
        }
        std::fs::create_dir_all(root.join("src/dir with space/ü")).unwrap();
        for name in ["a+b.txt", "dir with space/ü/100%.txt", "q?x#y.txt"] {
            std::fs::write(root.join("src").join(name), name.as_bytes()).unwrap();
        }
        let config = dir.path().join("tern.toml");
        std::fs::write(
            &config,
            format!(
                "version = 1\n\
                 [[regions]]\ncloud_type = \"Local\"\nregion = \"local\"\nendpoint = \"{root}\"\n\
                 [[regions]]\ncloud_type = \"HuaweiCloud\"\nregion = \"local\"\nendpoint = \"{root}\"\nprotocol = \"fs\"\n",
                root = root.display()
            ),
        )
        .unwrap();
        let server = TernServer::start_with_config(dir.path(), config);
        Setup { server, root, dir }
    }

    /// Runs `tern ARGS` as a client of the server.
    fn tern(&self, who: Who, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tern"));
        command
            .args(args)
            .env("TERN_ENDPOINT", &self.server.endpoint)
            .env_remove("TERN_PROJECT_ID")
            .env_remove("TERN_TOKEN")
            .env_remove("TERN_AK")
            .env_remove("TERN_SK")
            .env("TERN_SRC_AK", "local")
            .env("TERN_SRC_SK", "local")
            .env("TERN_DST_AK", "local")
            .env("TERN_DST_SK", "local");
        match who {
            Who::Token => command.env("TERN_TOKEN", &self.server.token),
            Who::AkSk => command
                .env("TERN_AK", &self.server.ak)
                .env("TERN_SK", &self.server.sk),
        };
        command.output().expect("tern runs")
    }

    /// Runs a verb that must succeed; returns its standard output.
    fn ok(&self, who: Who, args: &[&str]) -> String {
        let output = self.tern(who, args);
        assert!(
            output.status.success(),
            "tern {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(Who::Token, &args)).unwrap()
    }

    /// Runs a verb that the server must refuse; returns its one-line error.
    fn refused(&self, args: &[&str]) -> String {
        let output = self.tern(Who::Token, args);
        assert!(!output.status.success(), "tern {args:?} was not refused");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        stderr
    }

    /// Polls `show` until `status` satisfies `done`.
    fn wait(&self, kind: &str, id: &str, done: impl Fn(i64) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let shown = self.json(&[kind, "show", id]);
            if done(shown["status"].as_i64().unwrap()) {
                return shown;
            }
            assert!(Instant::now() < deadline, "{kind} {id} stuck: {shown}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn write_body(&self, name: &str, body: &Value) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, body.to_string()).unwrap();
        path
    }
}

/// Every file under `dir`, relative, sorted (tern's own `oms/` lists left out).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if relative == "oms" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn slow_policy() -> Value {
    json!([{"start": "00:00", "end": "23:59", "max_bandwidth": 1_048_576}])
}

#[test]
fn test_task_verbs_create_stop_start_list_show_runs_delete() {
    let setup = Setup::start();
    let body = setup.write_body(
        "task.json",
        &json!({
            "task_type": "prefix",
            "src_node": {"cloud_type": "Local", "region": "local", "bucket": "src", "object_key": [""]},
            "dst_node": {"region": "local", "bucket": "dst-task"},
            "bandwidth_policy": slow_policy(),
        }),
    );
    // The node keys come from TERN_SRC_AK/_SK and TERN_DST_AK/_SK, which the body leaves out.
    let created = setup.json(&["task", "create", "--body", body.to_str().unwrap()]);
    let id = created["id"].as_i64().expect("created id").to_string();

    setup.wait("task", &id, |s| s == 2);
    assert_eq!(
        setup.ok(Who::Token, &["task", "stop", &id]).trim(),
        format!("task {id}: stopping")
    );
    let paused = setup.wait("task", &id, |s| s != 2 && s != 7);
    assert_eq!(paused["status"], 3, "{paused}");
    assert!(setup
        .ok(Who::Token, &["task", "start", &id])
        .contains("started"));
    let finished = setup.wait("task", &id, |s| s == 4 || s == 5);
    let source = files(&setup.root.join("src"));
    assert_eq!(finished["status"], 5, "{finished}");
    assert_eq!(
        finished["successful_num"],
        source.len() as u64,
        "{finished}"
    );
    assert_eq!(files(&setup.root.join("dst-task")), source);

    // AK/SK signing, with the project asked of the server: the table names the task.
    let table = setup.ok(Who::AkSk, &["task", "list"]);
    let row = table
        .lines()
        .find(|line| line.starts_with(&id))
        .unwrap_or_else(|| panic!("no row for {id}:\n{table}"));
    assert!(row.contains("5 succeeded"), "{row}");
    assert!(row.contains(&format!("{n}/{n}", n = source.len())), "{row}");
    let shown = setup.ok(Who::AkSk, &["task", "show", &id]);
    assert!(shown.contains("status       5 succeeded"), "{shown}");
    let listed = setup.json(&["task", "list", "--status", "5"]);
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["tasks"][0]["id"].to_string(), id);

    // Two runs (created, then started again after the stop), both on this server's node, the
    // id it keeps in its data dir; both ended.
    let node = std::fs::read_to_string(setup.server.data_dir.join("node-id")).unwrap();
    let node = node.trim();
    let runs = setup.json(&["task", "runs", &id]);
    assert_eq!(runs["count"], 2, "{runs}");
    let fences: Vec<i64> = (0..2)
        .map(|i| runs["runs"][i]["fence"].as_i64().unwrap())
        .collect();
    assert!(fences[0] < fences[1], "{runs}");
    for run in runs["runs"].as_array().unwrap() {
        assert_eq!(run["node"], node, "{runs}");
        assert!(
            run["ended_at"].as_i64().unwrap() >= run["started_at"].as_i64().unwrap(),
            "{runs}"
        );
    }
    let table = setup.ok(Who::AkSk, &["task", "runs", &id]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("FENCE") && lines[0].contains("NODE"),
        "{table}"
    );
    for (line, fence) in lines[1..3].iter().zip(&fences) {
        assert!(line.starts_with(&fence.to_string()), "{table}");
        assert!(line.contains(node) && !line.ends_with('-'), "{table}");
    }
    assert_eq!(lines[3], "2 run(s)", "{table}");

    // A refusal is the server's OMS code and message on one line, and a failing exit code.
    let refusal = setup.refused(&["task", "stop", &id]);
    assert!(refusal.contains("OMS."), "{refusal}");
    setup.ok(Who::Token, &["task", "delete", &id]);
    let gone = setup.refused(&["task", "show", &id]);
    assert!(
        gone.contains("OMS.1009") && gone.contains("not found"),
        "{gone}"
    );
    let no_runs = setup.refused(&["task", "runs", &id]);
    assert!(no_runs.contains("OMS.1009"), "{no_runs}");
}

#[test]
fn test_group_verbs_create_stop_start_retry_list_show_delete() {
    let setup = Setup::start();
    let body = setup.write_body(
        "group.json",
        &json!({
            "task_type": "PREFIX",
            "src_node": {"cloud_type": "Local", "region": "local", "bucket": "src", "object_key": [""]},
            "dst_node": {"region": "local", "bucket": "dst-group"},
            "bandwidth_policy": slow_policy(),
        }),
    );
    let created = setup.json(&["group", "create", "--body", body.to_str().unwrap()]);
    let id = created["group_id"].as_str().expect("group id").to_owned();
    setup.wait("group", &id, |s| s == 2);
    setup.ok(Who::Token, &["group", "stop", &id]);
    let paused = setup.wait("group", &id, |s| s != 2 && s != 7);
    assert_eq!(paused["status"], 3, "{paused}");
    setup.ok(Who::AkSk, &["group", "start", &id]);
    let finished = setup.wait("group", &id, |s| s == 5 || s == 6);
    let source = files(&setup.root.join("src"));
    assert_eq!(finished["status"], 6, "{finished}");
    assert_eq!(finished["success_num"], source.len() as u64, "{finished}");
    assert_eq!(files(&setup.root.join("dst-group")), source);

    let table = setup.ok(Who::Token, &["group", "list"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("6 completed")),
        "{table}"
    );
    let shown = setup.ok(Who::Token, &["group", "show", &id]);
    assert!(shown.contains(&format!("group_id      {id}")), "{shown}");
    // Its tasks are reachable through the task verbs' group filter.
    let tasks = setup.json(&["task", "list", "--group-id", &id]);
    assert!(tasks["count"].as_i64().unwrap() >= 1, "{tasks}");

    // A completed group cannot be retried: the server's refusal comes back as one line.
    let refusal = setup.refused(&["group", "retry", &id, "--failed-only"]);
    assert!(refusal.contains("OMS."), "{refusal}");
    setup.ok(Who::Token, &["group", "delete", &id]);
    let gone = setup.refused(&["group", "show", &id]);
    assert!(gone.contains("not found"), "{gone}");
}

#[test]
fn test_client_without_credentials_names_the_variables() {
    let output = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["task", "list"])
        .env("TERN_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("TERN_TOKEN")
        .env_remove("TERN_AK")
        .env_remove("TERN_SK")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("TERN_TOKEN"), "{stderr}");
}
