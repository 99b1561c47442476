//! Runs the README's quick start and SDK example exactly as written, the way a reader would: in
//! an empty directory, with bash, the built `tern` first on PATH.
//!
//! The blocks run are the fenced code blocks right after a `<!-- readme-test: NAME -->` comment.
//! The only change made to their text is the one a reader with a busy port 8080 would make: the
//! listen address `127.0.0.1:8080` becomes a free port. The quick start starts `tern serve`
//! itself; bash runs in its own process group, which the test kills when it ends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const README: &str = include_str!("../../../README.md");
/// The address the README's examples use.
const README_ADDRESS: &str = "127.0.0.1:8080";
/// How long one block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(180);

/// The fenced block that follows `<!-- readme-test: NAME -->`.
fn marked_block(name: &str) -> String {
    let marker = format!("<!-- readme-test: {name} -->");
    let after = README
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker}"))
        .1;
    let fence_start = after.find("```").expect("a fenced block after the marker");
    let body = &after[fence_start..];
    let body = &body[body.find('\n').expect("fence line ends") + 1..];
    let end = body.find("\n```").expect("the fenced block is closed");
    body[..end + 1].to_owned()
}

/// Every process of a block's process group (bash and what it left running) dies with it.
struct ProcessGroup(u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs one block with `bash -e` in `dir`; returns its stdout, panics with both streams on failure.
fn run_block(dir: &Path, name: &str, port: u16, groups: &mut Vec<ProcessGroup>) -> String {
    // `http.server … 8080` names the port apart from the address.
    let script = marked_block(name)
        .replace(README_ADDRESS, &format!("127.0.0.1:{port}"))
        .replace(" 8080 ", &format!(" {port} "));
    let script_path = dir.join(format!("readme-{name}.sh"));
    std::fs::write(&script_path, &script).unwrap();
    let tern_dir = Path::new(env!("CARGO_BIN_EXE_tern")).parent().unwrap();
    let path = format!(
        "{}:{}",
        tern_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let stdout_path = dir.join(format!("readme-{name}.stdout"));
    let stderr_path = dir.join(format!("readme-{name}.stderr"));
    let mut child: Child = Command::new("bash")
        .arg("-e")
        .arg(&script_path)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("TERN_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .process_group(0)
        .spawn()
        .expect("bash runs");
    groups.push(ProcessGroup(child.id()));
    let deadline = Instant::now() + BLOCK_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let server_log = std::fs::read_to_string(dir.join("tern-serve.log")).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "README block {name:?} failed ({status:?})\nscript:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{server_log}"
    );
    stdout
}

/// Every file under `dir`, as paths relative to it, skipping tern's object lists (`oms/`).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().to_path_buf();
            if relative.starts_with("oms") {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(relative);
            }
        }
    }
    found.sort();
    found
}

fn assert_same_files(src: &Path, dst: &Path) {
    let files = files_under(src);
    assert!(!files.is_empty(), "{} is empty", src.display());
    assert_eq!(
        files,
        files_under(dst),
        "{} vs {}",
        src.display(),
        dst.display()
    );
    for file in files {
        assert_eq!(
            std::fs::read(src.join(&file)).unwrap(),
            std::fs::read(dst.join(&file)).unwrap(),
            "{} differs",
            file.display()
        );
    }
}

#[test]
fn test_readme_quick_start_and_sdk_example_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut groups = Vec::new();

    let stdout = run_block(dir.path(), "quickstart", port, &mut groups);
    let shown = std::fs::read_to_string(dir.path().join("task-status.json")).unwrap();
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["status"], 5, "the task did not succeed: {shown}");
    assert_eq!(shown["src_node"]["cloud_type"], "Local", "{shown}");
    assert!(stdout.contains("archive equals photos"), "{stdout}");
    let buckets = dir.path().join("buckets");
    assert_same_files(&buckets.join("photos"), &buckets.join("archive"));

    // The local region reaches nothing outside its root: `..` as a bucket is a 400 naming it.
    let env_line = |name: &str| {
        let printed = std::fs::read_to_string(dir.path().join("tern-serve.out")).unwrap();
        printed
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")).map(str::to_owned))
            .unwrap()
    };
    let (project, token) = (env_line("TERN_PROJECT_ID"), env_line("TERN_TOKEN"));
    let escape = Command::new("curl")
        .args(["-s", "-X", "POST", "-H"])
        .arg(format!("X-Auth-Token: {token}"))
        .arg(format!("http://127.0.0.1:{port}/v2/{project}/tasks"))
        .arg("-d")
        .arg(r#"{"task_type": "prefix", "src_node": {"cloud_type": "Local", "region": "local", "ak": "", "sk": "", "bucket": "..", "object_key": [""]}, "dst_node": {"region": "local", "ak": "", "sk": "", "bucket": "archive"}}"#)
        .output()
        .unwrap();
    let refused = String::from_utf8_lossy(&escape.stdout);
    assert!(
        refused.contains("OMS.0001") && refused.contains("src_node.bucket"),
        "{refused}"
    );

    let stdout = run_block(dir.path(), "sdk", port, &mut groups);
    assert!(stdout.contains(": status 5,"), "{stdout}");
    assert_same_files(
        &buckets.join("photos/2024"),
        &buckets.join("archive-sdk/2024"),
    );
}

#[test]
fn test_readme_url_list_copy_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut groups = Vec::new();
    let stdout = run_block(dir.path(), "urllist", free_port(), &mut groups);
    assert!(stdout.contains("copied equals site"), "{stdout}");
    assert_eq!(
        std::fs::read(dir.path().join("copied/photos/café 1.txt")).unwrap(),
        b"hello\n"
    );
}
