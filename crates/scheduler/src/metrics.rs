//! Counters the scheduler keeps for `/metrics`: objects and bytes by outcome, counted when the
//! batch holding them is committed, plus the engine's counters for the runs it drives.
//!
//! Counting at the commit, not when the engine reports, makes the counter agree with the
//! store: an outcome lost to a failed commit is not counted, and a task's objects add exactly
//! its `successful_num + skipped_num + failed_num` in a run that ends normally.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tern_core::{ObjectOutcome, Outcome};
use tern_engine::EngineMetrics;

/// The `outcome` label: `migrated`, `skipped` or `failed`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What happened to the objects counted.
    pub outcome: &'static str,
}

/// The scheduler's counters; cloning shares them.
#[derive(Clone, Debug)]
pub struct SchedulerMetrics {
    objects: Family<OutcomeLabels, Counter>,
    bytes: Family<OutcomeLabels, Counter>,
    /// Retries and throttle waits of the runs this scheduler drives.
    pub engine: EngineMetrics,
}

/// The `outcome` label values.
const OUTCOMES: [&str; 3] = ["migrated", "skipped", "failed"];

impl Default for SchedulerMetrics {
    /// Counters at zero, every outcome present so a scrape shows it before the first object.
    fn default() -> Self {
        let metrics = SchedulerMetrics {
            objects: Family::default(),
            bytes: Family::default(),
            engine: EngineMetrics::default(),
        };
        for outcome in OUTCOMES {
            metrics
                .objects
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(0);
            metrics
                .bytes
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(0);
        }
        metrics
    }
}

impl SchedulerMetrics {
    /// Registers every counter, the engine's included.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "objects",
            "Objects whose outcome was committed, by outcome (migrated, skipped, failed)",
            self.objects.clone(),
        );
        registry.register(
            "bytes",
            "Source bytes of the objects whose outcome was committed, by outcome",
            self.bytes.clone(),
        );
        self.engine.register(registry);
    }

    /// Counts the outcomes of a committed batch.
    pub fn record_committed(&self, outcomes: &[ObjectOutcome]) {
        for outcome in outcomes {
            let labels = OutcomeLabels {
                outcome: outcome_word(&outcome.outcome),
            };
            self.objects.get_or_create(&labels).inc();
            self.bytes.get_or_create(&labels).inc_by(outcome.size);
        }
    }

    /// Objects counted so far with `outcome` (`migrated`, `skipped`, `failed`).
    pub fn objects(&self, outcome: &'static str) -> u64 {
        self.objects.get_or_create(&OutcomeLabels { outcome }).get()
    }

    /// Bytes counted so far with `outcome`.
    pub fn bytes(&self, outcome: &'static str) -> u64 {
        self.bytes.get_or_create(&OutcomeLabels { outcome }).get()
    }
}

fn outcome_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded { .. } => "migrated",
        Outcome::Skipped(_) => "skipped",
        Outcome::Failed { .. } => "failed",
    }
}
