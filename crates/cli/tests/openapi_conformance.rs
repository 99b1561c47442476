//! `schemathesis` against a real `tern serve`: over a thousand requests generated from
//! `GET /openapi.json` (valid and invalid bodies, parameters, headers), none may answer 5xx or
//! anything the document does not declare (status, content type, body schema).
//!
//! schemathesis comes from the venv `scripts/test.sh` builds and puts first on PATH; a missing
//! one fails the test with that instruction, it is never skipped.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serve_harness::TernServer;

/// Fewest generated requests the run must report.
const MIN_REQUESTS: u64 = 1_000;
/// Longest the run may take before the test fails (it takes about a minute here).
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// What is checked on every response. `negative_data_rejection` holds the document's limits to
/// the server's: a request the document says is invalid must be refused.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,\
                      negative_data_rejection";

#[test]
fn test_schemathesis_finds_no_server_error_and_no_undocumented_response() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tern.toml");
    std::fs::write(&config, "version = 1\n").unwrap();
    let server = TernServer::start_with_config(dir.path(), config);

    // Every operation is tried in the caller's own project: another project's id only ever
    // gets 403, which would leave the handlers untested.
    let schemathesis_config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &schemathesis_config,
        format!(
            "[parameters]\n\"path.project_id\" = \"{}\"\n",
            server.project_id
        ),
    )
    .unwrap();
    let report = dir.path().join("report");
    let started = Instant::now();
    let mut child = Command::new("schemathesis")
        .arg("--config-file")
        .arg(&schemathesis_config)
        .arg("run")
        .arg(format!("{}/openapi.json", server.endpoint))
        .args(["--header", &format!("X-Auth-Token: {}", server.token)])
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args([
            "--max-examples",
            "20",
            "--seed",
            "20261203",
            "--workers",
            "1",
        ])
        .args(["--request-timeout", "30", "--no-color"])
        .arg("--report-dir")
        .arg(&report)
        .env(
            "HYPOTHESIS_STORAGE_DIRECTORY",
            dir.path().join("hypothesis"),
        )
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run schemathesis ({err}); run scripts/test.sh, which installs it into \
                 target/test-venv and puts that first on PATH"
            )
        });
    let output = loop {
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "schemathesis ran longer than {RUN_LIMIT:?}:\n{}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found failures (exit {:?}); server log:\n{}\nstderr:\n{stderr}",
        output.status.code(),
        server.log_text()
    );
    let generated = generated_count(&stdout)
        .unwrap_or_else(|| panic!("no \"N generated\" in schemathesis output:\n{stdout}"));
    assert!(
        generated >= MIN_REQUESTS,
        "only {generated} requests generated, want at least {MIN_REQUESTS}"
    );
    eprintln!(
        "schemathesis: {generated} requests in {:.0?}, no failures",
        started.elapsed()
    );
}

/// The count in the summary line `Test cases:` / `  1234 generated, 1234 passed`.
fn generated_count(stdout: &str) -> Option<u64> {
    stdout
        .lines()
        .skip_while(|line| !line.starts_with("Test cases:"))
        .find_map(|line| line.trim().split_once(" generated"))
        .and_then(|(count, _)| count.trim().parse().ok())
}
