//! The web console in a real headless browser: Debian's `chromium` driven through
//! `chromedriver` (WebDriver, via fantoccini) against a real `tern serve` whose regions are
//! local directories. It logs in (a wrong token first), creates a task and a group through the
//! forms and watches them finish in the live views, opens a task with failed objects and pages
//! its failed-object list, edits its bandwidth policy, retries it with credentials typed into
//! the start form, deletes it and logs out. Every step is checked against the API or the
//! directories themselves, and the main pages are saved as screenshots.
//!
//! The browser is not optional: `scripts/test.sh` installs `chromium` and `chromium-driver`
//! when they are missing, and without them this test fails with that instruction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod serve_harness;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use serve_harness::{http, TernServer};

/// How long one awaited browser condition may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// The WebDriver key code of Enter.
const ENTER: &str = "\u{E007}";
/// The WebDriver key code of Tab.
const TAB: &str = "\u{E004}";
/// The page size the console must be readable at.
const VIEWPORT: (u32, u32) = (1280, 800);

/// A program on PATH, or a failure that says how to get it.
fn required_program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: the console test needs Debian's chromium and \
                 chromium-driver (scripts/test.sh installs them: apt-get install -y chromium chromium-driver)"
            )
        })
}

/// A chromedriver process, killed on drop.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    async fn start(log: &Path) -> ChromeDriver {
        let binary = required_program("chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("chromedriver starts");
        let driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = reqwest::get(format!("{}/status", driver.url)).await {
                if response.status().is_success() {
                    return driver;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {}: {}",
                driver.url,
                std::fs::read_to_string(log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headless chromium at 1280×800 with a fresh profile and nothing that calls out.
async fn browser(driver: &ChromeDriver, profile: &Path) -> Client {
    let chromium = required_program("chromium");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,800",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("chromium starts under chromedriver");
    // --window-size sizes the window, not the page: grow it by what the frame takes.
    let frame = client
        .execute(
            "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]",
            vec![],
        )
        .await
        .unwrap();
    let frame = |i: usize| u32::try_from(frame[i].as_u64().unwrap_or(0)).unwrap_or(0);
    client
        .set_window_size(VIEWPORT.0 + frame(0), VIEWPORT.1 + frame(1))
        .await
        .unwrap();
    let inner = client
        .execute("return [window.innerWidth, window.innerHeight]", vec![])
        .await
        .unwrap();
    assert_eq!(
        inner,
        json!([VIEWPORT.0, VIEWPORT.1]),
        "the page is 1280×800"
    );
    client
}

/// Where screenshots go: `TERN_CONSOLE_SCREENSHOTS`, else `target/console-screenshots`.
fn screenshot_dir() -> PathBuf {
    let dir = std::env::var_os("TERN_CONSOLE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
                .join("console-screenshots")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves the page as it is now, scrolled to `top_of` (a selector) or to the top.
async fn screenshot(client: &Client, name: &str, top_of: Option<&str>) {
    let scroll = match top_of {
        Some(selector) => format!("document.querySelector({selector:?}).scrollIntoView()"),
        None => "window.scrollTo(0, 0)".to_owned(),
    };
    client.execute(&scroll, vec![]).await.unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png).unwrap();
}

/// Runs `script` (a function body returning a value) until it returns something truthy.
async fn wait_js(client: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + STEP_TIMEOUT;
    let mut last;
    loop {
        match client.execute(script, vec![]).await {
            Ok(value) if !value.is_null() && value != json!(false) && value != json!("") => {
                return value;
            }
            Ok(value) => last = value,
            Err(err) => last = json!(err.to_string()),
        }
        if Instant::now() >= deadline {
            let text = client
                .execute("return document.body.innerText", vec![])
                .await
                .unwrap_or_default();
            panic!("timed out waiting for {what} (last: {last}); page text:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn css(client: &Client, selector: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(STEP_TIMEOUT)
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|err| panic!("no element {selector}: {err}"))
}

async fn type_into(client: &Client, selector: &str, text: &str) {
    let input = css(client, selector).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

async fn choose(client: &Client, selector: &str, value: &str) {
    css(client, selector)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|err| panic!("{selector} has no option {value:?}: {err}"));
}

async fn click(client: &Client, selector: &str) {
    css(client, selector).await.click().await.unwrap();
}

/// The status code a page shows in its `[data-status]` pill under `scope`.
async fn wait_status(client: &Client, scope: &str, status: &str) {
    let script = format!(
        "return document.querySelector({scope:?})?.querySelector('[data-status]')?.dataset.status === {status:?}"
    );
    wait_js(client, &format!("status {status} in {scope}"), &script).await;
}

async fn api_get(server: &TernServer, path: &str) -> (u16, Value) {
    let (status, body) = http(
        "GET",
        &format!("{}/v2/{}{path}", server.endpoint, server.project_id),
        Some(&server.token),
        None,
    )
    .await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Files under `dir` (relative path → bytes), tern's `oms/` lists left out.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if relative == "oms" {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.insert(relative, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn write(path: &Path, body: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_console_in_a_real_browser() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let buckets = dir.path().join("buckets");
    for bucket in [
        "photos",
        "archive",
        "archive-group",
        "broken-src",
        "broken-dst",
    ] {
        std::fs::create_dir_all(buckets.join(bucket)).unwrap();
    }
    write(&buckets.join("photos/hello.txt"), b"hello from tern\n");
    let numbers: String = (1..=10_000).map(|n| format!("{n}\n")).collect();
    write(&buckets.join("photos/2024/numbers.txt"), numbers.as_bytes());
    write(
        &buckets.join("photos/2024/notes/a b+c.txt"),
        b"spaces and plus",
    );
    write(&buckets.join("broken-src/present.txt"), b"here");
    let config = dir.path().join("tern.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n\
             [[regions]]\ncloud_type = \"Local\"\nregion = \"local\"\nendpoint = \"{root}\"\n\
             [[regions]]\ncloud_type = \"HuaweiCloud\"\nregion = \"local\"\nendpoint = \"{root}\"\nprotocol = \"fs\"\n",
            root = buckets.display()
        ),
    )
    .unwrap();
    let server = TernServer::start_with_config(dir.path(), config);

    // A task with failed objects, made the real way: an object task naming keys the source
    // lacks; more of them than one page of the console's failed-object list (50).
    let missing: Vec<String> = (0..52)
        .map(|i| format!("gone-{i:02}.txt"))
        .chain(["missing 1.txt".to_owned(), "missing+2.txt".to_owned()])
        .collect();
    let mut named = vec!["present.txt".to_owned()];
    named.extend(missing.iter().cloned());
    let failing = json!({
        "task_type": "object",
        "src_node": {"cloud_type": "Local", "region": "local", "ak": "", "sk": "", "bucket": "broken-src",
                     "object_key": named},
        "dst_node": {"region": "local", "ak": "", "sk": "", "bucket": "broken-dst"},
    });
    let (status, body) = http(
        "POST",
        &format!("{}/v2/{}/tasks", server.endpoint, server.project_id),
        Some(&server.token),
        Some(&failing.to_string()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let failing_id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();

    let driver = ChromeDriver::start(&dir.path().join("chromedriver.log")).await;
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    let browser_ready = started.elapsed();

    // /console redirects to /console/, which asks for a login.
    client
        .goto(&format!("{}/console", server.endpoint))
        .await
        .unwrap();
    css(&client, "#login-form").await;
    assert!(client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .ends_with("/console/"));
    let chrome_shown = client
        .execute(
            "return ['#nav', '#logout', '#whoami'].filter((s) => document.querySelector(s).offsetParent !== null)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(chrome_shown, json!([]), "no navigation before login");
    screenshot(&client, "login", None).await;

    // A wrong token is refused with the API's own error_msg.
    let (_, refusal) = http(
        "GET",
        &format!(
            "{}/v2/{}/objectstorage/cloud-type?type=dst",
            server.endpoint, server.project_id
        ),
        Some("wrong-token"),
        None,
    )
    .await;
    let refusal: Value = serde_json::from_str(&refusal).unwrap();
    type_into(&client, "#login-project", &server.project_id).await;
    type_into(&client, "#login-token", "wrong-token").await;
    click(&client, "#login-submit").await;
    let shown = wait_js(
        &client,
        "the login error",
        "return document.querySelector('#login-form .error')?.textContent",
    )
    .await;
    assert_eq!(
        shown,
        json!(format!(
            "{} ({})",
            refusal["error_msg"].as_str().unwrap(),
            refusal["error_code"].as_str().unwrap()
        ))
    );

    // The right token, submitted from the keyboard.
    type_into(&client, "#login-token", &server.token).await;
    css(&client, "#login-token")
        .await
        .send_keys(ENTER)
        .await
        .unwrap();
    css(&client, "#task-list table").await;
    let chrome_shown = client
        .execute(
            "return ['#nav', '#logout', '#whoami'].filter((s) => document.querySelector(s).offsetParent !== null)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(chrome_shown, json!(["#nav", "#logout", "#whoami"]));
    let url = client.current_url().await.unwrap();
    assert!(!url.as_str().contains(&server.token), "{url}");
    assert!(!url.as_str().contains(&server.project_id), "{url}");
    let stored = client
        .execute("return sessionStorage.getItem('tern.token')", vec![])
        .await
        .unwrap();
    assert_eq!(stored, json!(server.token));

    // Keyboard focus is visible: Tab from the status filter lands on "New task", outlined.
    css(&client, "#task-status-filter")
        .await
        .send_keys(TAB)
        .await
        .unwrap();
    let focused = client
        .execute(
            "const el = document.activeElement;
             return [el.textContent, getComputedStyle(el).outlineStyle, el.matches(':focus-visible')]",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, json!(["New task", "solid", true]));

    // Create a task through the form, choosing the region table's entries.
    click(&client, "a[data-nav='new-task']").await;
    css(&client, "#new-task-form").await;
    choose(&client, "#task-type", "prefix").await;
    choose(&client, "#src-cloud-type", "Local").await;
    choose(&client, "#src-region", "local").await;
    type_into(&client, "#src-bucket", "photos").await;
    choose(&client, "#dst-region", "local").await;
    type_into(&client, "#dst-bucket", "archive").await;
    type_into(&client, "#task-description", "photos to archive").await;
    screenshot(&client, "new-task", None).await;
    click(&client, "#create-task").await;
    css(&client, "#task-list table").await;
    let (_, page) = api_get(&server, "/tasks?limit=100").await;
    let created = page["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["dst_node"]["bucket"] == "archive")
        .unwrap_or_else(|| panic!("the form created no task into archive: {page}"))
        .clone();
    let created_id = created["id"].as_i64().unwrap();
    assert_eq!(created["task_type"], "prefix");
    assert_eq!(created["description"], "photos to archive");
    // The list refreshes by itself until the task shows status 5 (succeeded).
    wait_status(&client, &format!("tr[data-task-id='{created_id}']"), "5").await;
    let row_text = css(&client, &format!("tr[data-task-id='{created_id}']"))
        .await
        .text()
        .await
        .unwrap();
    assert!(row_text.contains("Succeeded"), "{row_text}");
    assert!(row_text.contains("100.0 %"), "{row_text}");
    assert!(row_text.contains("3 / 3"), "{row_text}");
    assert_eq!(
        tree(&buckets.join("archive")),
        tree(&buckets.join("photos")),
        "the destination holds exactly the source's files"
    );
    wait_status(&client, &format!("tr[data-task-id='{failing_id}']"), "4").await;
    screenshot(&client, "tasks", None).await;

    // The failed task: counters, error reason and its failed objects from the ledger.
    click(&client, &format!("a[href='#/tasks/{failing_id}']")).await;
    css(&client, "#failed-objects-table").await;
    // Key order, 50 a page: the first page, then the next one through the pager.
    let first_page = wait_js(
        &client,
        "a full first page of failed objects",
        "const rows = [...document.querySelectorAll('#failed-objects-table tr[data-key]')];
         return rows.length === 50 ? rows.map((row) => row.dataset.key) : null;",
    )
    .await;
    assert_eq!(first_page, json!(missing[..50]));
    screenshot(
        &client,
        "task-failed-objects",
        Some("#failed-objects-heading"),
    )
    .await;
    click(&client, "#failed-next").await;
    let keys = wait_js(
        &client,
        "the second page of failed objects",
        "const rows = [...document.querySelectorAll('#failed-objects-table tr[data-key]')];
         return rows.length === 4 ? rows.map((row) => [row.dataset.key, row.cells[2].textContent]) : null;",
    )
    .await;
    assert_eq!(
        keys,
        json!([
            ["gone-50.txt", "TRF.0012"],
            ["gone-51.txt", "TRF.0012"],
            ["missing 1.txt", "TRF.0012"],
            ["missing+2.txt", "TRF.0012"]
        ])
    );
    assert!(!css(&client, "#failed-next")
        .await
        .is_enabled()
        .await
        .unwrap());
    let (_, task) = api_get(&server, &format!("/tasks/{failing_id}")).await;
    assert_eq!(task["failed_num"], 54, "{task}");
    let reason = css(&client, "#task-error-reason")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        reason.contains(task["error_reason"]["error_code"].as_str().unwrap()),
        "{reason} vs {task}"
    );
    let failed_shown = css(&client, "[data-counter='failed_num'] dd")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(failed_shown, "54");
    assert!(css(&client, "#task-retry")
        .await
        .is_enabled()
        .await
        .unwrap());
    assert!(!css(&client, "#task-stop").await.is_enabled().await.unwrap());

    // Bandwidth policy (op 7): one window of 5 MiB/s.
    click(&client, "#task-bw-add").await;
    type_into(&client, "#task-bw-form input[name='max']", "5").await;
    click(&client, "#task-bw-save").await;
    wait_js(
        &client,
        "the saved notice",
        "return document.querySelector('#task-bw-form .notice')?.textContent",
    )
    .await;
    let (_, task) = api_get(&server, &format!("/tasks/{failing_id}")).await;
    assert_eq!(
        task["bandwidth_policy"],
        json!([{"start": "00:00", "end": "23:59", "max_bandwidth": 5 * 1_048_576}]),
        "{task}"
    );
    screenshot(&client, "task-failed", None).await;

    // Mend the source, then retry only the failed objects with credentials typed in the form.
    for key in &missing {
        write(&buckets.join("broken-src").join(key), key.as_bytes());
    }
    click(&client, "#task-retry").await;
    css(&client, "#retry-form").await;
    assert!(css(&client, "#retry-form-failed-only")
        .await
        .is_selected()
        .await
        .unwrap());
    type_into(&client, "#retry-form-dst-ak", "local-ak").await;
    type_into(&client, "#retry-form-dst-sk", "local-sk").await;
    click(&client, "#retry-form-submit").await;
    wait_status(&client, "h1", "5").await;
    wait_js(
        &client,
        "an empty failed-object list",
        "return document.querySelector('#failed-objects-table tbody')?.textContent === 'No failed objects.'",
    )
    .await;
    assert_eq!(
        tree(&buckets.join("broken-dst")),
        tree(&buckets.join("broken-src")),
        "every named object is at the destination after the retry"
    );
    let secrets_left = client
        .execute(
            "return [...document.querySelectorAll('input')].some((i) => i.value === 'local-sk')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(secrets_left, json!(false), "the form forgets the secret");

    // A succeeded task refuses a new policy; the console shows the API's message.
    let (_, refusal) = http(
        "PUT",
        &format!(
            "{}/v2/{}/tasks/{failing_id}/bandwidth-policy",
            server.endpoint, server.project_id
        ),
        Some(&server.token),
        Some(r#"{"bandwidth_policy":[]}"#),
    )
    .await;
    let refusal: Value = serde_json::from_str(&refusal).unwrap();
    click(&client, "#task-bw-save").await;
    let shown = wait_js(
        &client,
        "the refusal",
        "return document.querySelector('#task-bw-form .error')?.textContent",
    )
    .await;
    assert!(
        shown
            .as_str()
            .unwrap()
            .starts_with(refusal["error_msg"].as_str().unwrap()),
        "{shown} vs {refusal}"
    );

    // Delete it, confirming in the page.
    click(&client, "#task-delete").await;
    click(&client, "#task-delete-confirm").await;
    css(&client, "#task-list table").await;
    let (status, gone) = api_get(&server, &format!("/tasks/{failing_id}")).await;
    assert_eq!(
        (status, gone["error_code"].clone()),
        (400, json!("OMS.1009"))
    );

    // A task group through its form; it splits, runs and completes.
    click(&client, "a[data-nav='new-group']").await;
    css(&client, "#new-group-form").await;
    choose(&client, "#gsrc-cloud-type", "Local").await;
    choose(&client, "#gsrc-region", "local").await;
    type_into(&client, "#gsrc-bucket", "photos").await;
    type_into(&client, "#gsrc-object-key", "2024/").await;
    choose(&client, "#gdst-region", "local").await;
    type_into(&client, "#gdst-bucket", "archive-group").await;
    click(&client, "#group-bw-add").await;
    type_into(&client, "#new-group-form input[name='max']", "7").await;
    screenshot(&client, "new-group", None).await;
    click(&client, "#create-group").await;
    css(&client, "#group-summary").await;
    let (_, groups) = api_get(&server, "/taskgroups").await;
    let group_id = groups["taskgroups"][0]["group_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        groups["taskgroups"][0]["bandwidth_policy"],
        json!([{"start": "00:00", "end": "23:59", "max_bandwidth": 7 * 1_048_576}]),
        "{groups}"
    );
    wait_status(&client, "h1", "6").await;
    // Op 16 on a completed group: refused, and the console shows the API's message.
    let (_, refusal) = http(
        "PUT",
        &format!(
            "{}/v2/{}/taskgroups/{group_id}/update",
            server.endpoint, server.project_id
        ),
        Some(&server.token),
        Some(r#"{"bandwidth_policy":[]}"#),
    )
    .await;
    let refusal: Value = serde_json::from_str(&refusal).unwrap();
    assert!(refusal["error_msg"].is_string(), "{refusal}");
    click(&client, "#group-bw-save").await;
    let shown = wait_js(
        &client,
        "the group refusal",
        "return document.querySelector('#group-bw-form .error')?.textContent",
    )
    .await;
    assert!(
        shown
            .as_str()
            .unwrap()
            .starts_with(refusal["error_msg"].as_str().unwrap()),
        "{shown} vs {refusal}"
    );
    wait_js(
        &client,
        "the group's tasks",
        "return document.querySelectorAll('#group-tasks tr[data-task-id]').length > 0",
    )
    .await;
    assert_eq!(
        tree(&buckets.join("archive-group")),
        tree(&buckets.join("photos"))
            .into_iter()
            .filter(|(key, _)| key.starts_with("2024/"))
            .collect::<BTreeMap<_, _>>()
    );
    screenshot(&client, "group", None).await;
    click(&client, "a[data-nav='groups']").await;
    css(&client, "#group-list tr[data-group-id]").await;
    screenshot(&client, "groups", None).await;

    // Sync tasks: a list when the server has them, a quiet note when it answers 404.
    click(&client, "a[data-nav='sync-tasks']").await;
    let (sync_status, _) = api_get(&server, "/sync-tasks").await;
    let selector = if sync_status == 404 {
        "#sync-unavailable"
    } else {
        "#sync-list table"
    };
    css(&client, selector).await;
    assert_eq!(
        client
            .find_all(Locator::Css("#sync-list .error"))
            .await
            .unwrap()
            .len(),
        0
    );

    // Log out: the session is gone and the login form is back.
    click(&client, "#logout").await;
    css(&client, "#login-form").await;
    let stored = client
        .execute("return sessionStorage.getItem('tern.token')", vec![])
        .await
        .unwrap();
    assert_eq!(stored, Value::Null);
    client.close().await.unwrap();
    eprintln!(
        "console browser test: browser ready after {:.1} s, whole test {:.1} s",
        browser_ready.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
