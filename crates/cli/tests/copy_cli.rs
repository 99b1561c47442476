//! `tern copy` as scripts use it: URLs, env credentials, --json, exit codes, against SeaweedFS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

use std::process::{Command, Output};

use tern_testkit::{S3Flavor, S3Server};

fn url(server: &S3Server, bucket: &str) -> String {
    format!(
        "s3://{bucket}/?endpoint={}&region={}",
        server.endpoint(),
        server.region()
    )
}

fn tern(server: &S3Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("TERN_SRC_AK", server.access_key())
        .env("TERN_SRC_SK", server.secret_key())
        .env("TERN_DST_AK", server.access_key())
        .env("TERN_DST_SK", server.secret_key())
        .output()
        .expect("tern runs")
}

fn report(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not JSON ({err}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[tokio::test]
async fn test_cli_list_file_with_missing_key_exits_nonzero_and_reports_it() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("cli-src").await.unwrap();
    let dst = server.new_bucket("cli-dst").await.unwrap();
    for key in ["a.txt", "dir/b c.txt", "plus+%.txt"] {
        client
            .put_object(&src, key, key.as_bytes().to_vec(), Some("text/plain"), &[])
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("keys.txt");
    std::fs::write(
        &list,
        "a.txt\ndir/b%20c.txt\r\nplus%2B%25.txt\n\nnot-there.txt\n",
    )
    .unwrap();
    let list = list.to_string_lossy().into_owned();

    let output = tern(
        server,
        &[
            "copy",
            &url(server, &src),
            &url(server, &dst),
            "--list-file",
            &list,
            "--json",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = report(&output);
    assert_eq!(json["total_num"], 4);
    assert_eq!(json["successful_num"], 3);
    assert_eq!(json["failed_num"], 1);
    assert_eq!(json["skipped_num"], 0);
    assert_eq!(json["failed"][0]["key"], "not-there.txt");
    assert_eq!(json["failed"][0]["code"], "TRF.0012");
    assert_eq!(
        client
            .get_object(&dst, "plus+%.txt")
            .await
            .unwrap()
            .unwrap()
            .body,
        b"plus+%.txt"
    );

    // Without the missing key, a second run skips everything and exits 0.
    let output = tern(
        server,
        &["copy", &url(server, &src), &url(server, &dst), "--json"],
    );
    assert_eq!(output.status.code(), Some(0));
    let json = report(&output);
    assert_eq!(json["skipped_num"], 3);
    assert_eq!(json["total_size"], json["skipped_size"]);
}

#[tokio::test]
async fn test_cli_dry_run_prints_plan_and_copies_nothing() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("dry-src").await.unwrap();
    let dst = server.new_bucket("dry-dst").await.unwrap();
    client
        .put_object(&src, "one", vec![1; 10], None, &[])
        .await
        .unwrap();
    client
        .put_object(&src, "two", vec![2; 20], None, &[])
        .await
        .unwrap();
    let output = tern(
        server,
        &["copy", &url(server, &src), &url(server, &dst), "--dry-run"],
    );
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("would copy one (10 bytes)"), "{stdout}");
    assert!(stdout.contains("would copy two (20 bytes)"), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("would copy 2 (30 bytes)"));
    assert!(client.list_keys(&dst, "").await.unwrap().is_empty());
    let json = report(&tern(
        server,
        &[
            "copy",
            &url(server, &src),
            &url(server, &dst),
            "--dry-run",
            "--json",
        ],
    ));
    assert_eq!(json["would_copy_num"], 2);
    assert_eq!(json["would_copy_size"], 30);
}

#[tokio::test]
async fn test_cli_rejects_bad_input_with_exit_code_two() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    for (args, needle) in [
        (
            vec!["copy", "s3://ak:sk@bucket/", "/tmp/x"],
            "credentials are not accepted",
        ),
        (
            vec!["copy", "/tmp/a", "/tmp/b", "--overwrite", "sometimes"],
            "--overwrite",
        ),
        (
            vec!["copy", "/tmp/a", "/tmp/b", "--part-size", "1M"],
            "--part-size",
        ),
        (
            vec!["copy", "/tmp/a", "/tmp/b", "--since", "yesterday"],
            "--since",
        ),
    ] {
        let output = tern(server, &args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains(server.secret_key()));
    }
}

#[tokio::test]
async fn test_cli_copies_local_directory_to_bucket_and_back() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let bucket = server.new_bucket("local").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in/sub")).unwrap();
    std::fs::write(
        dir.path().join("in/sub/file.bin"),
        vec![7u8; 6 * 1024 * 1024 + 3],
    )
    .unwrap();
    std::fs::write(dir.path().join("in/empty"), b"").unwrap();
    let input = dir.path().join("in").to_string_lossy().into_owned();
    let output_dir = dir.path().join("out").to_string_lossy().into_owned();
    let up = tern(
        server,
        &[
            "copy",
            &input,
            &url(server, &bucket),
            "--part-size",
            "5M",
            "--json",
        ],
    );
    assert_eq!(
        report(&up)["successful_num"],
        2,
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let down = tern(
        server,
        &[
            "copy",
            &url(server, &bucket),
            &format!("file://{output_dir}"),
            "--json",
        ],
    );
    assert_eq!(report(&down)["successful_num"], 2);
    let copied = std::fs::read(dir.path().join("out/sub/file.bin")).unwrap();
    assert_eq!(copied, vec![7u8; 6 * 1024 * 1024 + 3]);
    assert_eq!(std::fs::read(dir.path().join("out/empty")).unwrap(), b"");
}

/// Runs `tern copy SRC DST` (one object at SRC, if SRC is a bucket) and checks the run-fatal
/// contract: exit 2 within a few seconds, one line under 400 characters on stderr naming
/// `needle`, no report and no per-object failures.
fn assert_fatal_one_line(server: &S3Server, src: &str, dst: &str, secret: &str, needle: &str) {
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(["copy", src, dst])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("TERN_LOG")
        .env("TERN_SRC_AK", server.access_key())
        .env("TERN_SRC_SK", server.secret_key())
        .env("TERN_DST_AK", server.access_key())
        .env("TERN_DST_SK", secret)
        .output()
        .expect("tern runs");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        elapsed < std::time::Duration::from_secs(15),
        "{elapsed:?}: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    assert!(lines[0].len() < 400, "{stderr}");
    assert!(lines[0].contains(needle), "{needle:?} not named: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[tokio::test]
async fn test_cli_run_fatal_problems_exit_2_with_one_line() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let client = server.client();
    let src = server.new_bucket("fatal-src").await.unwrap();
    let dst = server.new_bucket("fatal-dst").await.unwrap();
    for index in 0..30 {
        client
            .put_object(&src, &format!("k{index}"), vec![1; 10], None, &[])
            .await
            .unwrap();
    }
    let secret = server.secret_key();

    let missing_src = format!("{src}-missing");
    assert_fatal_one_line(
        server,
        &url(server, &missing_src),
        &url(server, &dst),
        secret,
        &format!("source bucket \"{missing_src}\" does not exist"),
    );
    let missing_dst = format!("{dst}-missing");
    assert_fatal_one_line(
        server,
        &url(server, &src),
        &url(server, &missing_dst),
        secret,
        &format!("destination bucket \"{missing_dst}\" does not exist"),
    );
    assert_fatal_one_line(
        server,
        &url(server, &src),
        &url(server, &dst),
        "not-the-secret",
        "destination refused the credentials",
    );

    let unused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = format!("http://127.0.0.1:{unused_port}");
    assert_fatal_one_line(
        server,
        &url(server, &src),
        &format!("s3://{dst}/?endpoint={refused}&region={}", server.region()),
        secret,
        &format!("{refused}: connection refused"),
    );

    let dir = tempfile::tempdir().unwrap();
    let no_such_dir = dir.path().join("no/such/dir");
    let no_such_dir = no_such_dir.to_string_lossy().into_owned();
    assert_fatal_one_line(
        server,
        &no_such_dir,
        &url(server, &dst),
        secret,
        &format!("source directory {no_such_dir} does not exist"),
    );
    assert!(
        !std::path::Path::new(&no_such_dir).exists(),
        "the missing source directory was created"
    );
    assert!(
        client.list_keys(&dst, "").await.unwrap().is_empty(),
        "nothing was copied"
    );
}

/// `tern copy urllist:FILE DST`: every line of a local URL-list file fetched over HTTP into
/// SeaweedFS, awkward names and a ranged multi-part object included, byte-identical; a second
/// run skips them all; a bad line fails alone. Multi-threaded: `tern` runs as a blocking child
/// process while the test's HTTP server answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_cli_url_list_source_copies_every_line_byte_identical() {
    let server = S3Server::shared(S3Flavor::SeaweedFs).await.unwrap();
    let dst = server.new_bucket("cli-urllist").await.unwrap();
    let http = tern_testkit::HttpFileServer::start(None).await.unwrap();
    let body = |seed: u8, len: usize| -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    // (served path, URL path as listed, listed name, decoded destination key, bytes)
    let objects = [
        (
            "/plain.txt",
            "/plain.txt",
            "plain.txt",
            "plain.txt",
            body(1, 1000),
        ),
        (
            "/dir/a b+c.txt",
            "/dir/a%20b+c.txt",
            "in/a%20b+c.txt",
            "in/a b+c.txt",
            body(2, 2000),
        ),
        (
            "/uni/café ü#1.bin",
            "/uni/caf%C3%A9%20%C3%BC%231.bin",
            "uni/caf%C3%A9%20%C3%BC%231.bin",
            "uni/café ü#1.bin",
            body(3, 3000),
        ),
        (
            "/pct%.txt",
            "/pct%25.txt",
            "pct%25%3F.txt",
            "pct%?.txt",
            body(4, 10),
        ),
        ("/empty", "/empty", "empty", "empty", Vec::new()),
        (
            "/large.bin",
            "/large.bin",
            "big/large.bin",
            "big/large.bin",
            body(5, 2 * 5 * 1024 * 1024 + 4321),
        ),
    ];
    let mut lines = Vec::new();
    for (served, url_path, listed, _, bytes) in &objects {
        http.put(served, bytes.clone(), false);
        lines.push(format!("{}{url_path}\t{listed}", http.endpoint()));
    }
    lines.push(format!("{}/missing.txt\tmissing.txt", http.endpoint()));
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.tsv");
    std::fs::write(&list, lines.join("\n") + "\n").unwrap();
    let source = format!("urllist:{}", list.display());
    let copy = |overwrite: &str| {
        tern(
            server,
            &[
                "copy",
                &source,
                &url(server, &dst),
                "--part-size",
                "5M",
                "--overwrite",
                overwrite,
                "--json",
            ],
        )
    };

    let output = copy("size");
    let json = report(&output);
    assert_eq!(output.status.code(), Some(1), "{json}");
    assert_eq!(
        (
            json["successful_num"].as_u64(),
            json["failed_num"].as_u64(),
            json["total_num"].as_u64()
        ),
        (
            Some(objects.len() as u64),
            Some(1),
            Some(objects.len() as u64 + 1)
        ),
        "{json}"
    );
    assert_eq!(json["failed"][0]["key"], "missing.txt", "{json}");
    for (_, _, _, key, bytes) in &objects {
        let copied = server
            .client()
            .get_object(&dst, key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(copied.body == *bytes, "{key} differs");
    }
    assert!(http.ranged_gets() >= 3, "{}", http.ranged_gets());

    // The test server sends no Last-Modified, so only `no` can tell the objects are there.
    http.put("/missing.txt", b"late".to_vec(), false);
    let again = report(&copy("no"));
    assert_eq!(
        (
            again["skipped_num"].as_u64(),
            again["successful_num"].as_u64()
        ),
        (Some(objects.len() as u64), Some(1)),
        "{again}"
    );
    let refused = tern(
        server,
        &["copy", &source, &url(server, &dst), "--prefix", "x/"],
    );
    assert_eq!(refused.status.code(), Some(2));
}
