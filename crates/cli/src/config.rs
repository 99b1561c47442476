//! The config file of `tern serve` / `tern worker`: regions and scheduler settings.
//!
//! Precedence, implemented once in [`ServeSettings::resolve`]: file < `TERN_*` env < flags.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use tern_core::{CloudType, Protocol, RegionEntry, RegionTable};

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
    /// Tasks run at once.
    pub max_running_tasks: Option<usize>,
    /// Objects in flight per task.
    pub transfers_per_task: Option<usize>,
    /// Most objects one task of a task group gets.
    pub group_task_max_objects: Option<u64>,
    /// Seconds between reconciliation passes of each synchronizing sync task (list both
    /// buckets, queue what events missed); absent or 0 turns them off (the default).
    pub sync_reconcile_interval_secs: Option<u64>,
    /// Extra or overriding regions.
    #[serde(default)]
    pub regions: Vec<RegionConfig>,
}

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
    /// Period of sync tasks' reconciliation passes; `None`: off.
    pub sync_reconcile_interval: Option<std::time::Duration>,
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
        Ok(ServeSettings {
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
            max_running_tasks: file
                .max_running_tasks
                .unwrap_or(tern_scheduler::DEFAULT_MAX_RUNNING_TASKS)
                .max(1),
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
