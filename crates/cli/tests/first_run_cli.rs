//! A new user's first mistakes with the binary: an admin command pointed at the wrong data dir,
//! `tern serve` on a busy port, and logs written to a file with `RUST_BACKTRACE=1` set.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serve_harness::TernServer;

fn tern_admin(kind: &str, data_dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tern"))
        .args([
            "admin",
            kind,
            "create",
            "--project",
            "first-run",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env_remove("TERN_SEAL_KEY")
        .output()
        .expect("tern runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that a log holds no colour codes and no backtrace, whatever `RUST_BACKTRACE` says.
fn assert_plain_log(log: &str) {
    assert!(
        !log.contains("\x1b["),
        "ANSI colour codes in the log:\n{log}"
    );
    for line in log.lines() {
        assert!(
            !line.contains("stack backtrace")
                && !line.contains("Backtrace:")
                && !line.trim_start().starts_with("0: "),
            "backtrace in the log: {line:?}\nlog:\n{log}"
        );
    }
}

#[test]
fn test_admin_refuses_data_dir_without_database_unless_init() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-the-server-data-dir");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for kind in ["token", "credential"] {
        for data_dir in [&missing, &empty] {
            let output = tern_admin(kind, data_dir, &[]);
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{kind}: {stderr}");
            assert!(output.stdout.is_empty(), "{kind}: {}", text(&output.stdout));
            assert_eq!(stderr.lines().count(), 1, "{kind}: one line: {stderr}");
            assert!(
                stderr.contains("no tern database") && stderr.contains("--init"),
                "{kind}: {stderr}"
            );
            assert!(
                !data_dir.join("tern.db").exists(),
                "{kind}: database created"
            );
        }
    }
    assert!(!missing.exists(), "the refused data dir was created");

    let output = tern_admin("token", &missing, &["--init"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["project_id"], "first-run");
    assert!(missing.join("tern.db").is_file());
    // Now that it holds a database, no --init is needed.
    let output = tern_admin("credential", &missing, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(created["sk"].as_str().is_some_and(|sk| !sk.is_empty()));
}

#[test]
fn test_serve_on_busy_port_prints_no_identity_and_next_start_does() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tern.toml");
    std::fs::write(&config, "version = 1\n").unwrap();
    // The harness keeps its data in `<dir>/data`; the failed start uses the same one.
    let data_dir = dir.path().join("data");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_address = busy.local_addr().unwrap().to_string();

    let mut child = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["serve", "--listen", &busy_address, "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tern serve starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tern serve kept running on a busy port {busy_address}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert_eq!(
        output.status.code(),
        Some(2),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        !stdout.contains("TERN_") && !stderr.contains("TERN_"),
        "a failed start printed an identity:\nstdout: {stdout}\nstderr: {stderr}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "one error line: {stderr}");
    assert!(
        errors[0].contains("cannot listen on") && errors[0].contains(&busy_address),
        "{stderr}"
    );
    drop(busy);

    // The next start on a free port prints the identity (the harness asserts it) and serves it.
    let server = TernServer::start_with_config(dir.path(), config);
    assert!(!server.project_id.is_empty() && !server.token.is_empty());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (status, body) = runtime.block_on(serve_harness::http(
        "GET",
        &format!("{}/v2/{}/tasks", server.endpoint, server.project_id),
        Some(&server.token),
        None,
    ));
    assert_eq!(status, 200, "{body}");
    assert_plain_log(&server.log_text());
}

#[test]
fn test_copy_logs_to_file_have_no_colour_and_no_backtrace() {
    // A port nobody listens on: every request is refused and retried, and each retry is logged.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("copy.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tern"))
        .arg("copy")
        .arg(format!(
            "s3://first-run/?endpoint=http://127.0.0.1:{closed_port}&region=us-east-1"
        ))
        .arg(dir.path().join("out"))
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LIB_BACKTRACE")
        .env("TERN_LOG", "info")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .stdout(Stdio::null())
        .stderr(log)
        .output()
        .expect("tern runs");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        !output.status.success(),
        "copy from a closed port succeeded:\n{log}"
    );
    assert!(
        log.contains(&format!("127.0.0.1:{closed_port}")),
        "the log names neither the failure nor the endpoint:\n{log}"
    );
    assert_plain_log(&log);
}
