//! Counters the engine keeps for `/metrics`: storage requests retried, time spent waiting in
//! the bandwidth throttle, and archived objects restored or waiting for their restore.
//!
//! The counters are values, not globals: whoever builds a run hands them in and registers them
//! in its own registry, so two schedulers in one process (tests) never add into each other.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of a retried storage request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetryLabels {
    /// OpenDAL's error kind (`Unexpected`, `RateLimited`, …): a closed set, so the label stays
    /// bounded.
    pub kind: String,
}

/// The engine's counters; cloning shares them.
#[derive(Clone, Debug, Default)]
pub struct EngineMetrics {
    retries: Family<RetryLabels, Counter>,
    throttle_wait_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    restores_requested: Counter,
    restores_waiting: Gauge,
}

impl EngineMetrics {
    /// Registers the counters (names without the `tern_` prefix the caller's registry adds).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "engine_retries",
            "Storage requests retried after a temporary error, by OpenDAL error kind",
            self.retries.clone(),
        );
        registry.register(
            "throttle_wait_seconds",
            "Seconds transfers waited in the bandwidth throttle",
            self.throttle_wait_seconds.clone(),
        );
        registry.register(
            "restores_requested",
            "Restores of archived source objects asked for (enable_restore)",
            self.restores_requested.clone(),
        );
        registry.register(
            "restores_waiting",
            "Archived source objects waiting for their restore before they are copied",
            self.restores_waiting.clone(),
        );
    }

    /// Counts one restore asked for.
    pub fn record_restore_requested(&self) {
        self.restores_requested.inc();
    }

    /// Counts an object entering (`+1`) or leaving (`-1`) the restore wait.
    pub fn add_restores_waiting(&self, delta: i64) {
        self.restores_waiting.inc_by(delta);
    }

    /// Restores asked for so far.
    pub fn restores_requested(&self) -> u64 {
        self.restores_requested.get()
    }

    /// Objects waiting for their restore now.
    pub fn restores_waiting(&self) -> i64 {
        self.restores_waiting.get()
    }

    /// Counts one retried request.
    pub fn record_retry(&self, kind: &str) {
        self.retries
            .get_or_create(&RetryLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Adds time a transfer waited for bandwidth.
    pub fn record_throttle_wait(&self, wait: Duration) {
        self.throttle_wait_seconds.inc_by(wait.as_secs_f64());
    }

    /// Retries counted so far for `kind`.
    pub fn retries(&self, kind: &str) -> u64 {
        self.retries
            .get_or_create(&RetryLabels {
                kind: kind.to_owned(),
            })
            .get()
    }

    /// Seconds waited in the throttle so far.
    pub fn throttle_wait_seconds(&self) -> f64 {
        self.throttle_wait_seconds.get()
    }
}
