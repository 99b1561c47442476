//! The lifecycle's races, reproduced deterministically: the scheduler is built with
//! `Scheduler::for_test`, a run is held at a breakpoint while the test acts, then released.
//! Real parts only: a SQLite store in a temporary data dir, and local directories as source and
//! destination (OpenDAL's fs service), so each test runs in well under a second.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_core::{
    BandwidthPolicy, CloudType, ConsistencyCheck, DestinationSpec, FailureCode, GroupType,
    LeaseTerms, NodeId, OverwriteMode, RegionEntry, RegionTable, SourceSpec, Task, TaskId,
    TaskPriority, TaskSecrets, TaskSpec, TaskStatus, TaskStore, TaskType,
};
use tern_scheduler::hooks::{Breakpoint, FailurePoint, TestHooks};
use tern_scheduler::{Scheduler, SchedulerConfig};
use tern_store::SqliteTaskStore;

const WAIT: Duration = Duration::from_secs(20);
const PROJECT: &str = "project-races";

struct Harness {
    _dir: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
    store: Arc<dyn TaskStore>,
    scheduler: Arc<Scheduler>,
    hooks: Arc<TestHooks>,
    config: SchedulerConfig,
}

/// A started scheduler over a fresh store, with `objects` files in the source directory.
async fn harness(objects: usize) -> Harness {
    harness_with(objects, |_| {}).await
}

/// [`harness`] with the scheduler's configuration adjusted by `adjust`.
async fn harness_with(objects: usize, adjust: impl FnOnce(&mut SchedulerConfig)) -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    for n in 0..objects {
        let path = src.join(format!("obj/{n:04}"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, format!("object {n} {}", "x".repeat(n))).expect("write");
    }
    std::fs::create_dir_all(&dst).expect("mkdir dst");
    let store: Arc<dyn TaskStore> = Arc::new(
        SqliteTaskStore::open(&dir.path().join("data"))
            .await
            .expect("store opens"),
    );
    // Both directories are buckets of one local region rooted at the temp dir.
    let mut regions = RegionTable::builtin();
    regions.insert(RegionEntry {
        cloud_type: CloudType::Local,
        region: String::new(),
        description: "local".into(),
        endpoint: dir.path().to_string_lossy().into_owned(),
        protocol: None,
    });
    let mut config = SchedulerConfig {
        regions,
        max_running_tasks: 1,
        batch_interval: Duration::from_millis(50),
        ..SchedulerConfig::default()
    };
    adjust(&mut config);
    let hooks = TestHooks::new();
    let scheduler = Scheduler::for_test(Arc::clone(&store), config.clone(), Arc::clone(&hooks));
    scheduler.start().await.expect("scheduler starts");
    Harness {
        _dir: dir,
        src,
        dst,
        store,
        scheduler,
        hooks,
        config,
    }
}

/// The bucket of a directory right under the local region's root.
fn bucket_name(dir: &Path) -> String {
    dir.file_name()
        .expect("a directory name")
        .to_string_lossy()
        .into_owned()
}

fn local_spec(src: &Path, dst: &Path, task_type: TaskType, keys: &[&str]) -> TaskSpec {
    TaskSpec {
        task_type,
        src: SourceSpec {
            cloud_type: CloudType::Local,
            region: String::new(),
            bucket: bucket_name(src),
            app_id: None,
            object_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            list_file: None,
            key_range: None,
            list_lines: None,
            signed: false,
        },
        dst: DestinationSpec {
            cloud_type: CloudType::Local,
            region: String::new(),
            bucket: bucket_name(dst),
            save_prefix: String::new(),
        },
        description: String::new(),
        migrate_since_s: None,
        bandwidth_policy: BandwidthPolicy::default(),
        enable_metadata_migration: false,
        enable_restore: false,
        enable_failed_object_recording: true,
        object_overwrite_mode: OverwriteMode::default(),
        consistency_check: ConsistencyCheck::default(),
        dst_storage_policy: String::new(),
        enable_requester_pays: false,
        task_priority: TaskPriority::default(),
        echo_json: String::new(),
        group_id: None,
        group_type: GroupType::NormalTask,
    }
}

impl Harness {
    async fn create(&self, task_type: TaskType, keys: &[&str]) -> TaskId {
        let spec = local_spec(&self.src, &self.dst, task_type, keys);
        let task = self
            .store
            .create_task(PROJECT, &spec, &TaskSecrets::default(), 0)
            .await
            .expect("task created");
        self.scheduler.wake();
        task.id
    }

    async fn task(&self, id: TaskId) -> Task {
        self.store
            .get_task(id)
            .await
            .expect("store reads")
            .expect("task exists")
    }

    /// Waits until the task is in a status that no run will change any more.
    async fn settled(&self, id: TaskId) -> Task {
        let deadline = Instant::now() + WAIT;
        loop {
            let task = self.task(id).await;
            let settled = matches!(
                task.status,
                TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Paused
            ) && !self.scheduler.is_running(id);
            if settled {
                return task;
            }
            assert!(Instant::now() < deadline, "task stuck in {:?}", task.status);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Counts the source's object files, independently of the engine.
    fn source_objects(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(self.src.join("obj")).expect("read src") {
            files.push(entry.expect("entry").path());
        }
        files.sort();
        files
    }

    /// Asserts every source object is at the destination, byte for byte.
    fn assert_destination_matches_source(&self) {
        let objects = self.source_objects();
        assert!(!objects.is_empty());
        for path in objects {
            let relative = path.strip_prefix(&self.src).expect("under src");
            let copied = std::fs::read(self.dst.join(relative))
                .unwrap_or_else(|err| panic!("{} not copied: {err}", relative.display()));
            assert_eq!(copied, std::fs::read(&path).expect("read source"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_stop_while_the_run_writes_its_object_lists_lets_the_run_end() {
    let h = harness(30).await;
    h.hooks.pause_at(Breakpoint::BeforeObjectLists);
    let id = h.create(TaskType::Prefix, &[""]).await;
    assert!(
        h.hooks
            .wait_reached(Breakpoint::BeforeObjectLists, WAIT)
            .await,
        "the run never finished its objects"
    );
    // Every object is done; the user's stop arrives while the lists are being written.
    let stopped = h.scheduler.stop_task(id).await.expect("stop accepted");
    assert_eq!(stopped.status, TaskStatus::Pausing);
    h.hooks.release(Breakpoint::BeforeObjectLists);

    let task = h.settled(id).await;
    assert_eq!(task.status, TaskStatus::Succeeded, "not stranded in 7");
    assert_eq!(
        task.counters.successful_num,
        h.source_objects().len() as u64
    );
    assert_eq!(task.counters.total_num, h.source_objects().len() as u64);
    assert_eq!(
        h.store.secrets(id).await.expect("reads"),
        None,
        "secrets erased"
    );
    h.assert_destination_matches_source();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_stop_between_claim_and_registration_cancels_the_run() {
    let h = harness(200).await;
    h.hooks.pause_at(Breakpoint::AfterClaim);
    let id = h.create(TaskType::Prefix, &[""]).await;
    assert!(h.hooks.wait_reached(Breakpoint::AfterClaim, WAIT).await);
    assert_eq!(h.task(id).await.status, TaskStatus::Migrating, "claimed");
    assert!(!h.scheduler.is_running(id), "not yet registered");

    let scheduler = Arc::clone(&h.scheduler);
    let stop = tokio::spawn(async move { scheduler.stop_task(id).await });
    // The stop has moved the task to 7 and now waits for the claim to register its run.
    let deadline = Instant::now() + WAIT;
    while h.task(id).await.status != TaskStatus::Pausing {
        assert!(Instant::now() < deadline, "stop never reached the store");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        !stop.is_finished(),
        "the stop waits for the claim's registration"
    );
    h.hooks.release(Breakpoint::AfterClaim);
    stop.await.expect("joins").expect("stop accepted");

    let task = h.settled(id).await;
    assert_eq!(task.status, TaskStatus::Paused);
    assert!(
        task.counters.total_num < h.source_objects().len() as u64,
        "the run was cancelled, not run to its end on a paused task ({} done)",
        task.counters.total_num
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_store_failure_at_the_runs_end_is_retried_and_never_reads_as_success() {
    let h = harness(5).await;
    // One named object exists, one does not: the run must end failed.
    h.hooks.fail_next(FailurePoint::FinishRun, 2);
    let id = h
        .create(TaskType::Object, &["obj/0001", "obj/no-such-object"])
        .await;
    let task = h.settled(id).await;
    assert_eq!(task.status, TaskStatus::Failed);
    assert_eq!(
        (task.counters.successful_num, task.counters.failed_num),
        (1, 1)
    );
    let reason = task.error_reason.expect("a failed task says why");
    assert_eq!(reason.code, FailureCode::ObjectsFailed);
    let record = task.failed_object_record.expect("the failed list's record");
    assert!(record.result, "failed-object list written: {record:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_run_whose_end_cannot_be_written_stays_migrating() {
    let h = harness(3).await;
    h.hooks.fail_next(FailurePoint::FinishRun, u32::MAX);
    h.hooks.pause_at(Breakpoint::BeforeFinishRun);
    let id = h.create(TaskType::Prefix, &[""]).await;
    assert!(
        h.hooks
            .wait_reached(Breakpoint::BeforeFinishRun, WAIT)
            .await
    );
    h.hooks.release(Breakpoint::BeforeFinishRun);
    // Every attempt fails: the run gives up and leaves the task for the next start.
    let deadline = Instant::now() + WAIT;
    while h.scheduler.is_running(id) {
        assert!(Instant::now() < deadline, "the run never gave up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let task = h.task(id).await;
    assert_eq!(task.status, TaskStatus::Migrating, "never read as success");
    assert_eq!(
        task.counters.successful_num, 3,
        "the outcomes are committed"
    );
    assert!(h.store.secrets(id).await.expect("reads").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_a_takeover_counts_copies_a_node_died_before_committing_as_copied() {
    // The first commit waits for the whole run (a long batch interval), and a short lease lets
    // a second node take the task over soon after the first goes silent.
    let h = harness_with(20, |config| {
        config.batch_interval = Duration::from_secs(30);
        config.lease = LeaseTerms {
            node: NodeId("node-a".into()),
            duration_ms: 600,
        };
    })
    .await;
    h.hooks.pause_at(Breakpoint::BeforeFirstCommit);
    let id = h.create(TaskType::Prefix, &[""]).await;
    assert!(
        h.hooks
            .wait_reached(Breakpoint::BeforeFirstCommit, WAIT)
            .await,
        "the run never copied an object"
    );
    let copied = walk(&h.dst).len();
    assert!(
        copied > 0,
        "held after copying, so objects are at the destination"
    );
    assert_eq!(
        h.task(id).await.listed_num,
        0,
        "nothing of the run is committed"
    );
    // Node A goes silent: it stops renewing, and its held run never commits.
    h.scheduler.shutdown(Duration::ZERO).await;

    let mut config = h.config.clone();
    config.lease.node = NodeId("node-b".into());
    let b = Scheduler::for_test(Arc::clone(&h.store), config, TestHooks::new());
    b.start().await.expect("node b starts");
    // Node A's held run stays registered there, so only node B's view can tell the end.
    let deadline = Instant::now() + WAIT;
    let task = loop {
        let task = h.task(id).await;
        if task.status == TaskStatus::Succeeded && !b.is_running(id) {
            break task;
        }
        assert!(Instant::now() < deadline, "task stuck in {:?}", task.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(task.status, TaskStatus::Succeeded);
    let runs = h.store.task_runs(id).await.expect("runs read");
    assert_eq!(
        runs.iter()
            .map(|run| run.node.0.as_str())
            .collect::<Vec<_>>(),
        ["node-a", "node-b"]
    );
    let sources = h.source_objects().len() as u64;
    assert_eq!(task.counters.total_num, sources);
    assert_eq!(
        (task.counters.successful_num, task.counters.skipped_num),
        (sources, 0),
        "node a's {copied} uncommitted copies count as copied, not as found"
    );
    h.assert_destination_matches_source();
    b.shutdown(Duration::from_secs(5)).await;
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
