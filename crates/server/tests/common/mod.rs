//! The in-process harness the `*_api.rs` and `app_errors.rs` suites share: `app(state)` on a
//! real SQLite store in a temporary data dir, with a scheduler that is never started, so no
//! request reaches a run and every status a test needs is put in place through the store.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "each test file uses part of the harness; a test fails loudly on any setup error"
)]

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{json, Value};
use tern_core::{
    FailureCode, FailureReason, GroupEvent, GroupId, GroupSpec, RegionTable, RunEnding, SourceSpec,
    SplitProgress, Task, TaskEvent, TaskGroup, TaskId, TaskPriority, TaskSpec, TaskStatus,
    TaskStore, TaskType,
};
use tern_scheduler::{now_ms, Scheduler, SchedulerConfig, SyncConfig, SyncRunner};
use tern_server::{app, token_digest, AppState};
use tower::ServiceExt;

/// The caller's project.
pub const PROJECT: &str = "p1";
/// The caller's token (stored as its SHA-256, like `tern admin token create` does).
pub const TOKEN: &str = "oneshot-test-token-p1";
/// Another project, whose resources the caller must not see.
pub const OTHER_PROJECT: &str = "p2";
/// The other project's token.
pub const OTHER_TOKEN: &str = "oneshot-test-token-p2";

/// One request's answer.
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// `Content-Type`, "" when absent.
    pub content_type: String,
    /// The body bytes.
    pub bytes: Vec<u8>,
    /// Every response header.
    pub headers: HeaderMap,
}

impl Reply {
    /// The body as text (lossy), for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The body as JSON; `Null` for an empty body.
    pub fn json(&self) -> Value {
        if self.bytes.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.text()))
    }
}

/// The app, its store, and the data dir that holds the database.
pub struct TestApp {
    /// What `app(..)` is built from.
    pub state: AppState,
    /// The same store the app uses, for independent reads and for putting tasks in place.
    pub store: Arc<dyn TaskStore>,
    _data_dir: tempfile::TempDir,
}

impl TestApp {
    /// A fresh store with a token for [`PROJECT`] and one for [`OTHER_PROJECT`].
    pub async fn new() -> TestApp {
        Self::with_scheduler_config(SchedulerConfig::default()).await
    }

    /// As [`TestApp::new`], with the scheduler (not started) built from `config`.
    pub async fn with_scheduler_config(config: SchedulerConfig) -> TestApp {
        let data_dir = tempfile::tempdir().unwrap();
        let (store, sync_store) = tern_store::open_with_sync(None, data_dir.path())
            .await
            .unwrap();
        store
            .put_token(PROJECT, &token_digest(TOKEN))
            .await
            .unwrap();
        store
            .put_token(OTHER_PROJECT, &token_digest(OTHER_TOKEN))
            .await
            .unwrap();
        let scheduler = Scheduler::new(Arc::clone(&store), config);
        let sync = SyncRunner::new(sync_store, SyncConfig::default());
        let state = AppState::new(Arc::clone(&store), scheduler, sync, RegionTable::builtin());
        TestApp {
            state,
            store,
            _data_dir: data_dir,
        }
    }

    /// Sends one request with `token` (none: no `X-Auth-Token` header).
    pub async fn send_as(
        &self,
        token: Option<&str>,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("x-auth-token", token);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.send_request(request.body(Body::from(body)).unwrap())
            .await
    }

    /// Sends a request built by the caller (any headers) and reads the whole answer.
    pub async fn send_request(&self, request: Request<Body>) -> Reply {
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        Reply {
            status,
            content_type,
            bytes: bytes.to_vec(),
            headers,
        }
    }

    /// Sends one request with the project's token; returns status, content type and body.
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, String, Vec<u8>) {
        let reply = self
            .send_as(Some(TOKEN), method, uri, content_type, body)
            .await;
        (reply.status, reply.content_type, reply.bytes)
    }

    /// Sends a JSON body (or none for `Value::Null`) with `token`.
    pub async fn call_as(&self, token: &str, method: Method, uri: &str, body: &Value) -> Reply {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        self.send_as(
            Some(token),
            method,
            uri,
            Some("application/json;charset=utf-8"),
            bytes,
        )
        .await
    }

    /// Sends a JSON body with the project's token.
    pub async fn call(&self, method: Method, uri: &str, body: &Value) -> Reply {
        self.call_as(TOKEN, method, uri, body).await
    }

    /// Sends a request that must succeed with 200; returns the JSON body (`Null` when empty).
    pub async fn ok(&self, method: Method, uri: &str, body: &Value) -> Value {
        let reply = self.call(method.clone(), uri, body).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{method} {uri}: {}",
            reply.text()
        );
        reply.json()
    }

    /// Sends a request that must be refused with `status` and the OMS body; returns the body.
    pub async fn refused(
        &self,
        method: Method,
        uri: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        status: StatusCode,
    ) -> Value {
        let reply = self
            .send_as(Some(TOKEN), method.clone(), uri, content_type, body)
            .await;
        assert_oms_error(&reply, status, &format!("{method} {uri}"))
    }

    /// Sends a JSON request that must be refused with `status` and `code`; returns the body.
    pub async fn refused_with(
        &self,
        method: Method,
        uri: &str,
        body: &Value,
        status: StatusCode,
        code: &str,
    ) -> Value {
        let reply = self.call(method.clone(), uri, body).await;
        let body = assert_oms_error(&reply, status, &format!("{method} {uri}"));
        assert_eq!(body["error_code"], code, "{method} {uri}: {body}");
        body
    }

    /// Creates a task through the API as `token`'s project; returns its id.
    pub async fn create_task_as(&self, token: &str, body: &Value) -> TaskId {
        let project = if token == TOKEN {
            PROJECT
        } else {
            OTHER_PROJECT
        };
        let reply = self
            .call_as(token, Method::POST, &format!("/v2/{project}/tasks"), body)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        TaskId(reply.json()["id"].as_i64().unwrap())
    }

    /// Creates a task of [`PROJECT`] with [`task_body`]`(src_bucket)`.
    pub async fn create_task(&self, src_bucket: &str) -> TaskId {
        self.create_task_as(TOKEN, &task_body(src_bucket)).await
    }

    /// The task as stored now.
    pub async fn task(&self, id: TaskId) -> Task {
        self.store.get_task(id).await.unwrap().expect("task exists")
    }

    /// The task's stored status.
    pub async fn status(&self, id: TaskId) -> TaskStatus {
        self.task(id).await.status
    }

    /// 1 → 2, as a scheduler's claim.
    pub async fn claim(&self, id: TaskId) {
        let task = self
            .store
            .transition(id, TaskEvent::Claim, now_ms())
            .await
            .unwrap();
        assert_eq!(task.status, TaskStatus::Migrating);
    }

    /// 1 → 2 → 7: claimed, then a stop the run has not wound down yet.
    pub async fn make_pausing(&self, id: TaskId) {
        self.claim(id).await;
        let task = self
            .store
            .transition(id, TaskEvent::Stop, now_ms())
            .await
            .unwrap();
        assert_eq!(task.status, TaskStatus::Pausing);
    }

    /// 1 → 3: stopped before any scheduler took it.
    pub async fn make_paused(&self, id: TaskId) {
        let task = self
            .store
            .transition(id, TaskEvent::Stop, now_ms())
            .await
            .unwrap();
        assert_eq!(task.status, TaskStatus::Paused);
    }

    /// 1 → 2 → 4: the run ended on a fatal error.
    pub async fn make_failed(&self, id: TaskId) {
        self.claim(id).await;
        let reason = FailureReason::new(FailureCode::SourceNotFound, "no such bucket");
        let task = self
            .store
            .finish_run(id, None, &RunEnding::Fatal(reason), 0, now_ms())
            .await
            .unwrap();
        assert_eq!(task.status, TaskStatus::Failed);
    }

    /// 1 → 2 → 5: the run completed with no failed object.
    pub async fn make_succeeded(&self, id: TaskId) {
        self.claim(id).await;
        let ending = RunEnding::Completed {
            failed_object_record: None,
        };
        let task = self
            .store
            .finish_run(id, None, &ending, 0, now_ms())
            .await
            .unwrap();
        assert_eq!(task.status, TaskStatus::Succeeded);
    }

    /// Creates a task group through the API as `token`'s project; returns its id.
    pub async fn create_group_as(&self, token: &str, body: &Value) -> GroupId {
        let project = if token == TOKEN {
            PROJECT
        } else {
            OTHER_PROJECT
        };
        let reply = self
            .call_as(
                token,
                Method::POST,
                &format!("/v2/{project}/taskgroups"),
                body,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        GroupId(reply.json()["group_id"].as_str().unwrap().to_owned())
    }

    /// Creates a group of [`PROJECT`] with [`group_body`].
    pub async fn create_group(&self) -> GroupId {
        self.create_group_as(TOKEN, &group_body()).await
    }

    /// The group as stored now.
    pub async fn group(&self, id: &GroupId) -> TaskGroup {
        self.store
            .get_group(id)
            .await
            .unwrap()
            .expect("group exists")
    }

    /// Splits a waiting group into `tasks` tasks as the splitter would (0 → 1 → 2): every task
    /// waiting, the group monitoring. Returns the tasks in creation order.
    pub async fn split_group(&self, id: &GroupId, tasks: usize) -> Vec<TaskId> {
        self.store
            .group_transition(id, GroupEvent::BeginCreating, now_ms())
            .await
            .unwrap();
        let group = self.group(id).await;
        let secrets = self.store.group_secrets(id).await.unwrap().unwrap();
        let mut created = Vec::new();
        for index in 0..tasks {
            let split = SplitProgress {
                task_num: index as u64 + 1,
                ..SplitProgress::default()
            };
            let spec = group_task_spec(&group.spec, &format!("part-{index}/"));
            let task = self
                .store
                .create_group_task(id, &spec, &secrets, &split, now_ms())
                .await
                .unwrap();
            created.push(task.id);
        }
        let split = SplitProgress {
            done: true,
            task_num: tasks as u64,
            ..SplitProgress::default()
        };
        let group = self.store.finish_group_split(id, &split).await.unwrap();
        assert_eq!(group.status.code(), 2);
        created
    }

    /// Settles a group from its tasks as the group loop would.
    pub async fn settle(&self, id: &GroupId) {
        self.store.settle_group(id, false, now_ms()).await.unwrap();
    }
}

/// A valid `create_task` body: an AWS source signed with `SRC_AK`/`SRC_SK`, a HuaweiCloud
/// destination with `DST_AK`/`DST_SK`. Task names are `{src_bucket}-to-dst-{id}`.
pub fn task_body(src_bucket: &str) -> Value {
    json!({
        "task_type": "object",
        "src_node": {
            "cloud_type": "AWS", "region": "us-east-1", "ak": "SRC_AK", "sk": "SRC_SK",
            "bucket": src_bucket, "object_key": ["a.txt", "dir/"]
        },
        "dst_node": {"ak": "DST_AK", "sk": "DST_SK", "bucket": "dst", "region": "cn-north-4"},
        "bandwidth_policy": [{"start": "00:00", "end": "08:00", "max_bandwidth": 1_048_576}]
    })
}

/// A valid `create_task_group` body (PREFIX, AWS source with `SRC_AK`/`SRC_SK`).
pub fn group_body() -> Value {
    json!({
        "task_type": "PREFIX",
        "src_node": {
            "cloud_type": "AWS", "region": "us-east-1", "ak": "SRC_AK", "sk": "SRC_SK",
            "bucket": "src-bucket", "object_key": ["data/", "logs/"]
        },
        "dst_node": {"ak": "DST_AK", "sk": "DST_SK", "bucket": "dst-bucket", "region": "cn-north-4"},
        "description": "nightly bulk copy",
        "bandwidth_policy": [{"start": "00:00", "end": "08:00", "max_bandwidth": 52_428_800}]
    })
}

/// The task a slice of a group becomes (what the scheduler's splitter builds).
pub fn group_task_spec(group: &GroupSpec, prefix: &str) -> TaskSpec {
    let group = group.clone();
    TaskSpec {
        task_type: TaskType::Prefix,
        src: SourceSpec {
            object_keys: vec![prefix.to_owned()],
            list_file: None,
            ..group.src
        },
        dst: group.dst,
        description: group.description,
        migrate_since_s: group.migrate_since_s,
        bandwidth_policy: group.bandwidth_policy,
        enable_metadata_migration: group.enable_metadata_migration,
        enable_restore: group.enable_restore,
        enable_failed_object_recording: group.enable_failed_object_recording,
        object_overwrite_mode: group.object_overwrite_mode,
        consistency_check: group.consistency_check,
        dst_storage_policy: group.dst_storage_policy,
        enable_requester_pays: group.enable_requester_pays,
        task_priority: TaskPriority::Medium,
        echo_json: group.echo_json,
        group_id: None,
        group_type: tern_core::GroupType::GroupTask,
    }
}

/// Checks an OMS error answer: `status`, a JSON content type, exactly `error_code` and a
/// non-empty one-line `error_msg`. Returns the body.
pub fn assert_oms_error(reply: &Reply, status: StatusCode, what: &str) -> Value {
    let text = reply.text();
    assert_eq!(reply.status, status, "{what}: {text}");
    assert!(
        reply.content_type.starts_with("application/json"),
        "{what}: content type {:?}, body {text}",
        reply.content_type
    );
    let body: Value = serde_json::from_slice(&reply.bytes)
        .unwrap_or_else(|err| panic!("{what}: not JSON ({err}): {text}"));
    let code = body["error_code"].as_str().unwrap_or_default();
    let message = body["error_msg"].as_str().unwrap_or_default();
    assert!(
        code.starts_with("OMS.") || code.starts_with("APIGW."),
        "{what}: {body}"
    );
    assert!(!message.is_empty(), "{what}: {body}");
    assert!(
        !message.contains('\n') && !message.contains('\r'),
        "{what}: error_msg spans lines: {body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 2, "{what}: {body}");
    body
}

/// Checks the error code and that the message names `name`.
pub fn assert_names(body: &Value, code: &str, name: &str) {
    assert_eq!(body["error_code"], code, "{body}");
    let message = body["error_msg"].as_str().unwrap();
    assert!(message.contains(name), "{name} not named in {body}");
}
