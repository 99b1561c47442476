//! The config file of `tern serve` / `tern worker`: regions, scheduler settings and where
//! end-of-run notifications go.
//!
//! Precedence, implemented once in [`ServeSettings::resolve`]: file < `TERN_*` env < flags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use tern_core::{CloudType, Protocol, RegionEntry, RegionTable, Secret};
use tern_engine::MemoryBudget;
use tern_scheduler::notify::{NotifyConfig, NotifyTopic};

/// The only config format version this binary reads.
pub const CONFIG_VERSION: u32 = 1;
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./tern-data";

/// The TOML file as written by users.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Format version; must be 1 when given.
    pub version: Option<u32>,
    /// `host:port` to listen on.
    pub listen: Option<String>,
    /// Data directory (SQLite file, seal key).
    pub data_dir: Option<PathBuf>,
    /// Database URL (`sqlite:` default; `postgres://` for several nodes).
    pub database: Option<String>,
    /// Tasks run at once; 0 makes a node that serves the API (and splits groups) but runs no
    /// task, leaving them to `tern worker` nodes.
    pub max_running_tasks: Option<usize>,
    /// Objects in flight per task.
    pub transfers_per_task: Option<usize>,
    /// Most objects one task of a task group gets.
    pub group_task_max_objects: Option<u64>,
    /// Multipart part size in MiB (at least 5, S3's smallest part); objects up to it are
    /// copied with one PUT.
    pub part_size_mib: Option<usize>,
    /// Memory for copy buffers in MiB, shared by every task the process runs [default: 1/32
    /// of the machine's memory, between 64 and 256 MiB].
    pub memory_budget_mib: Option<u64>,
    /// Seconds between reconciliation passes of each synchronizing sync task (list both
    /// buckets, queue what events missed); absent or 0 turns them off (the default).
    pub sync_reconcile_interval_secs: Option<u64>,
    /// Seconds a node's claim on a task holds without renewal (nodes renew every fifth of
    /// it); another node takes a task over this long after its node died. Default 10.
    pub lease_secs: Option<u64>,
    /// This node's id in logs and run records [default: kept in `<data_dir>/node-id`].
    pub node_id: Option<String>,
    /// Copy inside the service when source and destination are buckets of one S3 endpoint
    /// (default true); `false` streams every object through tern.
    pub server_side_copy: Option<bool>,
    /// Extra or overriding regions.
    #[serde(default)]
    pub regions: Vec<RegionConfig>,
    /// Webhooks serving `smn_config.topic_urn`s.
    #[serde(default)]
    pub notifications: Vec<NotificationConfig>,
    /// How notifications are retried.
    pub notification_delivery: Option<NotificationDeliveryConfig>,
}

/// One `[[notifications]]` entry: the webhook that receives a topic's messages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// The `smn_config.topic_urn` tasks and groups name.
    pub topic_urn: String,
    /// `http://` or `https://` URL the JSON message is POSTed to.
    pub url: String,
    /// HMAC-SHA256 key for `X-Tern-Signature` (never logged or echoed).
    pub secret: Option<Secret>,
    /// Name of an environment variable holding the secret instead.
    pub secret_env: Option<String>,
    /// `message_template_name` → text with `{Task_Name}`-style template keys.
    #[serde(default)]
    pub templates: BTreeMap<String, String>,
}

/// `[notification_delivery]` when the file has none: every default.
const NO_DELIVERY_SETTINGS: NotificationDeliveryConfig = NotificationDeliveryConfig {
    attempts: None,
    first_backoff_ms: None,
    request_timeout_ms: None,
};

/// `[notification_delivery]`: retry settings of every webhook.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationDeliveryConfig {
    /// Attempts per message (default 5).
    pub attempts: Option<u32>,
    /// First wait between attempts, ms; doubles after each (default 2000).
    pub first_backoff_ms: Option<u64>,
    /// Longest time one POST may take, ms (default 10000).
    pub request_timeout_ms: Option<u64>,
}

/// Smallest part S3-compatible services accept (except the last).
const MIN_PART_SIZE_MIB: usize = 5;
/// Largest part S3 accepts.
const MAX_PART_SIZE_MIB: usize = 5 * 1024;

/// One `[[regions]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// OMS cloud type (`HuaweiCloud`, `AWS`, …).
    pub cloud_type: String,
    /// Region name used in task bodies.
    pub region: String,
    /// Endpoint URL; for a local-directory region (`cloud_type = "Local"` or `protocol = "fs"`),
    /// the absolute path of the root directory whose subdirectories are the buckets.
    pub endpoint: String,
    /// Protocol override (`s3`, `obs`, `oss`, `cos`, `gcs`, `azblob`, `fs`).
    pub protocol: Option<Protocol>,
    /// Description for `show_region_info`.
    pub description: Option<String>,
}

impl ConfigFile {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let config: ConfigFile =
            toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
        if let Some(version) = config.version {
            if version != CONFIG_VERSION {
                bail!(
                    "config {}: version {version} is not supported (expected {CONFIG_VERSION})",
                    path.display()
                );
            }
        }
        Ok(config)
    }

    /// The built-in region table extended by this file.
    pub fn region_table(&self) -> Result<RegionTable> {
        let mut table = RegionTable::builtin();
        for region in &self.regions {
            let cloud_type: CloudType = region
                .cloud_type
                .parse()
                .map_err(|err| anyhow!("config region {:?}: {err}", region.region))?;
            let entry = RegionEntry {
                cloud_type,
                region: region.region.clone(),
                description: region
                    .description
                    .clone()
                    .unwrap_or_else(|| region.region.clone()),
                endpoint: region.endpoint.clone(),
                protocol: region.protocol,
            };
            if entry.protocol() == Protocol::Fs {
                check_local_root(&entry)?;
            }
            table.insert(entry);
        }
        Ok(table)
    }
}

impl ConfigFile {
    /// The notification settings: each topic mapped once, secrets resolved.
    pub fn notify_config(&self) -> Result<NotifyConfig> {
        let mut topics: Vec<NotifyTopic> = Vec::with_capacity(self.notifications.len());
        for entry in &self.notifications {
            let NotificationConfig {
                topic_urn,
                url,
                secret,
                secret_env,
                templates,
            } = entry;
            if topics.iter().any(|topic| &topic.topic_urn == topic_urn) {
                bail!("config notifications: topic_urn {topic_urn:?} is mapped twice");
            }
            let secret = match (secret, secret_env) {
                (Some(_), Some(_)) => {
                    bail!("config notifications {topic_urn:?}: give secret or secret_env, not both")
                }
                (Some(secret), None) => Some(secret.clone()),
                (None, Some(name)) => {
                    Some(Secret::new(std::env::var(name).with_context(|| {
                        format!("config notifications {topic_urn:?}: secret_env {name} is not set")
                    })?))
                }
                (None, None) => None,
            };
            let topic = NotifyTopic::new(topic_urn.clone(), url, secret, templates.clone())
                .map_err(|err| anyhow!("config notifications {topic_urn:?}: {err}"))?;
            topics.push(topic);
        }
        let NotificationDeliveryConfig {
            attempts,
            first_backoff_ms,
            request_timeout_ms,
        } = self
            .notification_delivery
            .as_ref()
            .unwrap_or(&NO_DELIVERY_SETTINGS);
        let defaults = NotifyConfig::default();
        Ok(NotifyConfig {
            topics,
            attempts: attempts.unwrap_or(defaults.attempts).max(1),
            first_backoff: first_backoff_ms.map_or(defaults.first_backoff, Duration::from_millis),
            request_timeout: request_timeout_ms
                .map_or(defaults.request_timeout, Duration::from_millis),
        })
    }
}

/// Refuses a local-directory region whose endpoint is not an absolute path to a directory: API
/// callers reach the buckets under it, so it must be exactly the directory the operator meant.
fn check_local_root(entry: &RegionEntry) -> Result<()> {
    let root = Path::new(&entry.endpoint);
    if !root.is_absolute() {
        bail!(
            "config region {:?}: endpoint {:?} must be an absolute directory path (its subdirectories are the buckets)",
            entry.region,
            entry.endpoint
        );
    }
    if !root.is_dir() {
        bail!(
            "config region {:?}: endpoint {:?} is not a directory",
            entry.region,
            entry.endpoint
        );
    }
    Ok(())
}

/// Settings of `tern serve` after merging file, environment and flags.
#[derive(Debug)]
pub struct ServeSettings {
    /// Listen address.
    pub listen: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL, if not the embedded SQLite.
    pub database: Option<String>,
    /// Region table.
    pub regions: RegionTable,
    /// Tasks at once.
    pub max_running_tasks: usize,
    /// Objects in flight per task.
    pub transfers_per_task: usize,
    /// Most objects per group task.
    pub group_task_max_objects: u64,
    /// Notification webhooks and retries.
    pub notify: NotifyConfig,
    /// Multipart part size in bytes.
    pub part_size: usize,
    /// Copy server-side between buckets of one S3 endpoint.
    pub server_side_copy: bool,
    /// The budget every task's and sync task's copy buffers come out of.
    pub memory: Arc<MemoryBudget>,
    /// Period of sync tasks' reconciliation passes; `None`: off.
    pub sync_reconcile_interval: Option<std::time::Duration>,
    /// Lease length, ms.
    pub lease_ms: i64,
    /// A node id the config file fixes.
    pub node_id: Option<String>,
}

impl ServeSettings {
    /// Merges: file < `TERN_LISTEN` / `TERN_DATA_DIR` / `TERN_DATABASE` < flags.
    pub fn resolve(
        config: Option<&Path>,
        listen: Option<String>,
        data_dir: Option<PathBuf>,
        database: Option<String>,
    ) -> Result<ServeSettings> {
        let file = match config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let regions = file.region_table()?;
        let notify = file.notify_config()?;
        let part_size = match file.part_size_mib {
            None => tern_engine::run::DEFAULT_PART_SIZE,
            Some(mib) if (MIN_PART_SIZE_MIB..=MAX_PART_SIZE_MIB).contains(&mib) => mib << 20,
            Some(mib) => bail!(
                "part_size_mib = {mib}: must be between {MIN_PART_SIZE_MIB} and {MAX_PART_SIZE_MIB}"
            ),
        };
        let memory = match file.memory_budget_mib {
            None => MemoryBudget::for_this_machine(),
            Some(mib) => {
                MemoryBudget::from_mib(mib).map_err(|err| anyhow!("memory_budget_mib: {err}"))?
            }
        };
        let lease_ms = match file.lease_secs {
            None => tern_core::DEFAULT_LEASE_MS,
            Some(secs @ 1..=3600) => i64::try_from(secs * 1000).unwrap_or(i64::MAX),
            Some(secs) => bail!("lease_secs = {secs}: must be between 1 and 3600"),
        };
        if let Some(node) = &file.node_id {
            crate::node::check_node_id(node)
                .map_err(|reason| anyhow::anyhow!("node_id: {reason}"))?;
        }
        Ok(ServeSettings {
            notify,
            part_size,
            memory: Arc::new(memory),
            lease_ms,
            node_id: file.node_id,
            server_side_copy: file.server_side_copy.unwrap_or(true),
            listen: listen
                .or_else(|| env("TERN_LISTEN"))
                .or(file.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            data_dir: data_dir
                .or_else(|| env("TERN_DATA_DIR").map(PathBuf::from))
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            database: database.or_else(|| env("TERN_DATABASE")).or(file.database),
            regions,
            // 0: a node that answers the API and splits groups but runs no task itself.
            max_running_tasks: file
                .max_running_tasks
                .unwrap_or(tern_scheduler::DEFAULT_MAX_RUNNING_TASKS),
            transfers_per_task: file
                .transfers_per_task
                .unwrap_or(tern_engine::run::DEFAULT_TRANSFERS)
                .max(1),
            group_task_max_objects: file
                .group_task_max_objects
                .unwrap_or(tern_scheduler::DEFAULT_GROUP_TASK_MAX_OBJECTS)
                .max(1),
            sync_reconcile_interval: file
                .sync_reconcile_interval_secs
                .filter(|&secs| secs > 0)
                .map(std::time::Duration::from_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_config_regions_and_unknown_fields() {
        let file: ConfigFile = toml::from_str(
            r#"
            version = 1
            [[regions]]
            cloud_type = "HuaweiCloud"
            region = "local-1"
            endpoint = "http://127.0.0.1:8333"
            protocol = "s3"
            "#,
        )
        .unwrap();
        let table = file.region_table().unwrap();
        let entry = table.lookup(CloudType::HuaweiCloud, "local-1").unwrap();
        assert_eq!(entry.protocol(), Protocol::S3);
        assert!(toml::from_str::<ConfigFile>("listen = \"x\"\nbogus = 1").is_err());
    }

    #[test]
    fn test_notifications_config_maps_topics_and_hides_secrets() {
        let file: ConfigFile = toml::from_str(
            r#"
            [[notifications]]
            topic_urn = "urn:smn:r:p:ops"
            url = "https://hooks.example/tern"
            secret = "s3cr3t-value"
            templates = { short = "{Task_Name}: {Task_Status}" }
            [notification_delivery]
            attempts = 3
            first_backoff_ms = 100
            "#,
        )
        .unwrap();
        assert!(!format!("{file:?}").contains("s3cr3t-value"));
        let notify = file.notify_config().unwrap();
        assert_eq!(notify.topics.len(), 1);
        assert_eq!(notify.attempts, 3);
        assert_eq!(notify.first_backoff, Duration::from_millis(100));
        assert!(!format!("{notify:?}").contains("s3cr3t-value"));
        let twice = "[[notifications]]\ntopic_urn = \"u\"\nurl = \"http://a/\"\n";
        let file: ConfigFile = toml::from_str(&twice.repeat(2)).unwrap();
        assert!(file.notify_config().is_err());
        let bad_url = "[[notifications]]\ntopic_urn = \"u\"\nurl = \"ftp://a/\"\n";
        let file: ConfigFile = toml::from_str(bad_url).unwrap();
        assert!(file.notify_config().is_err());
        assert!(toml::from_str::<ConfigFile>(
            "[[notifications]]\ntopic_urn = \"u\"\nurl = \"http://a/\"\nbogus = 1\n"
        )
        .is_err());
    }

    #[test]
    fn test_readme_notifications_example_parses() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("```toml\n[[notifications]]")
            .expect("README shows a [[notifications]] example");
        let block = &readme[start + "```toml\n".len()..];
        let block = &block[..block.find("```").unwrap()];
        let file: ConfigFile = toml::from_str(block).unwrap();
        let notify = file.notify_config().unwrap();
        assert_eq!(notify.topics.len(), 1);
        assert_eq!(notify.attempts, tern_scheduler::notify::DEFAULT_ATTEMPTS);
        assert_eq!(
            notify.first_backoff,
            tern_scheduler::notify::DEFAULT_FIRST_BACKOFF
        );
        assert_eq!(
            notify.request_timeout,
            tern_scheduler::notify::DEFAULT_REQUEST_TIMEOUT
        );
    }

    #[test]
    fn test_memory_budget_mib_is_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tern.toml");
        let settings = |text: &str| {
            std::fs::write(&path, text).expect("write");
            ServeSettings::resolve(Some(&path), None, None, None).map(|s| s.memory.capacity())
        };
        assert_eq!(settings("memory_budget_mib = 300").unwrap(), 300 << 20);
        let default = settings("").unwrap();
        assert!((64 << 20..=256 << 20).contains(&default), "{default}");
        for bad in ["memory_budget_mib = 0", "memory_budget_mib = 2000000"] {
            let err = settings(bad).unwrap_err().to_string();
            assert!(err.contains("memory_budget_mib"), "{bad}: {err}");
        }
    }

    #[test]
    fn test_part_size_mib_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let settings = |mib: &str| {
            let path = dir.path().join("tern.toml");
            std::fs::write(&path, format!("version = 1\n{mib}")).unwrap();
            ServeSettings::resolve(Some(&path), None, None, None).map(|s| s.part_size)
        };
        assert_eq!(settings("").unwrap(), tern_engine::run::DEFAULT_PART_SIZE);
        assert_eq!(settings("part_size_mib = 5").unwrap(), 5 << 20);
        assert_eq!(settings("part_size_mib = 5120").unwrap(), 5120 << 20);
        for bad in [
            "part_size_mib = 4",
            "part_size_mib = 0",
            "part_size_mib = 5121",
        ] {
            let err = settings(bad).unwrap_err().to_string();
            assert!(err.contains("part_size_mib"), "{bad}: {err}");
        }
    }

    #[test]
    fn test_server_side_copy_is_on_unless_the_config_turns_it_off() {
        let dir = tempfile::tempdir().unwrap();
        let settings = |line: &str| {
            let path = dir.path().join("tern.toml");
            std::fs::write(&path, format!("version = 1\n{line}")).unwrap();
            ServeSettings::resolve(Some(&path), None, None, None).map(|s| s.server_side_copy)
        };
        assert!(settings("").unwrap());
        assert!(settings("server_side_copy = true").unwrap());
        assert!(!settings("server_side_copy = false").unwrap());
        assert!(settings("server_side_copy = \"no\"").is_err());
    }

    #[test]
    fn test_sync_reconciliation_is_off_unless_an_interval_is_given() {
        let settings = |text: &str| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("tern.toml");
            std::fs::write(&path, text).unwrap();
            ServeSettings::resolve(Some(&path), None, None, None)
                .unwrap()
                .sync_reconcile_interval
        };
        assert_eq!(settings("version = 1\n"), None);
        assert_eq!(settings("sync_reconcile_interval_secs = 0\n"), None);
        assert_eq!(
            settings("sync_reconcile_interval_secs = 300\n"),
            Some(std::time::Duration::from_secs(300))
        );
    }

    #[test]
    fn test_local_region_needs_an_absolute_root_directory() {
        let dir = tempfile::tempdir().unwrap();
        let local = |endpoint: &str, extra: &str| {
            toml::from_str::<ConfigFile>(&format!(
                "[[regions]]\ncloud_type = \"Local\"\nregion = \"local\"\nendpoint = {endpoint:?}\n{extra}"
            ))
            .unwrap()
            .region_table()
        };
        let root = dir.path().to_string_lossy().into_owned();
        let table = local(&root, "").unwrap();
        let entry = table.lookup(CloudType::Local, "local").unwrap();
        assert_eq!(entry.protocol(), Protocol::Fs);
        assert!(local("relative/dir", "").is_err());
        assert!(local(&format!("{root}/missing"), "").is_err());
        let huawei = toml::from_str::<ConfigFile>(&format!(
            "[[regions]]\ncloud_type = \"HuaweiCloud\"\nregion = \"local\"\nendpoint = {root:?}\nprotocol = \"fs\"\n"
        ))
        .unwrap();
        let table = huawei.region_table().unwrap();
        let entry = table.lookup(CloudType::HuaweiCloud, "local").unwrap();
        assert_eq!(entry.protocol(), Protocol::Fs);
    }
}
