//! The process's budget for copy buffers: [`MemoryBudget`] counts the bytes every copy of every
//! run holds in memory, so peak memory follows one configured figure instead of growing with
//! transfers × part concurrency × part size.
//!
//! A copy reserves its buffers before they exist and gives them back when its [`Reservation`]
//! drops. A whole-object copy reserves the object's size; a multipart copy reserves a
//! [`Pipeline`]: the smallest one first (waiting for it), then as many more upload slots as the
//! budget grants at once, up to the part concurrency. Nothing holds a reservation while waiting
//! for another, and a request larger than the whole budget is cut to the budget, so a copy
//! always ends up running: one huge object waits only for the others to finish, never forever.

use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Smallest default budget (machines with little memory).
pub const MIN_DEFAULT_BUDGET: u64 = 64 * 1024 * 1024;
/// Largest default budget: 32 parts of the default 8 MiB in flight, more than a 2-core machine
/// keeps busy (bench/memory_budget.sh); configure more for fat links.
pub const MAX_DEFAULT_BUDGET: u64 = 256 * 1024 * 1024;
/// Share of the machine's memory the default budget takes (1/32) before the caps above.
const DEFAULT_BUDGET_RAM_DIVISOR: u64 = 32;
/// Smallest budget a configuration may name, in MiB.
pub const MIN_BUDGET_MIB: u64 = 1;
/// Largest budget a configuration may name, in MiB (1 TiB): anything above is a typo.
pub const MAX_BUDGET_MIB: u64 = 1024 * 1024;
/// Permits count KiB, so that a `u32` request covers 4 TiB.
const UNIT: u64 = 1024;

/// A byte-counting semaphore shared by every copy of the process.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    capacity_units: u32,
}

/// A configured budget outside [`MIN_BUDGET_MIB`]..=[`MAX_BUDGET_MIB`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be between {MIN_BUDGET_MIB} and {MAX_BUDGET_MIB} MiB, got {0}")]
pub struct BudgetOutOfRange(pub u64);

/// Bytes held from a [`MemoryBudget`]; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
}

/// How a multipart copy's buffers are laid out: parts uploading at once, parts read ahead of
/// them, and the one part between the two (handed from the reader to the writer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pipeline {
    /// Parts uploaded at once (the writer's concurrency).
    pub uploads: usize,
    /// Parts read ahead of the uploads (the reader's concurrency).
    pub reads_ahead: usize,
}

impl Pipeline {
    /// The smallest pipeline: one part read ahead, one in hand, one uploading.
    pub const SMALLEST: Pipeline = Pipeline {
        uploads: 1,
        reads_ahead: 1,
    };

    /// The pipeline of `uploads` parts uploading at once: reads ahead at half the uploads, which
    /// keeps them fed (local reads outrun writes; measured in bench/ workload c).
    pub fn with_uploads(uploads: usize) -> Pipeline {
        let uploads = uploads.max(1);
        Pipeline {
            uploads,
            reads_ahead: uploads.div_ceil(2),
        }
    }

    /// Parts this pipeline holds in memory at most.
    pub fn parts(self) -> u64 {
        (self.uploads + self.reads_ahead + 1) as u64
    }
}

impl MemoryBudget {
    /// A budget of `bytes` (rounded up to a KiB, at most 4 TiB).
    pub fn new(bytes: u64) -> Self {
        let units = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        MemoryBudget {
            permits: Arc::new(Semaphore::new(units as usize)),
            capacity_units: units,
        }
    }

    /// A configured budget of `mib` MiB; 0 and absurd sizes are refused.
    pub fn from_mib(mib: u64) -> Result<Self, BudgetOutOfRange> {
        if !(MIN_BUDGET_MIB..=MAX_BUDGET_MIB).contains(&mib) {
            return Err(BudgetOutOfRange(mib));
        }
        Ok(MemoryBudget::new(mib * 1024 * 1024))
    }

    /// A budget sized for this machine ([`default_budget_bytes`]).
    pub fn for_this_machine() -> Self {
        MemoryBudget::new(default_budget_bytes())
    }

    /// The budget every run shares unless its options name another: one per process.
    pub fn process_default() -> Arc<MemoryBudget> {
        static SHARED: OnceLock<Arc<MemoryBudget>> = OnceLock::new();
        Arc::clone(SHARED.get_or_init(|| Arc::new(MemoryBudget::for_this_machine())))
    }

    /// The whole budget in bytes.
    pub fn capacity(&self) -> u64 {
        u64::from(self.capacity_units) * UNIT
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }

    /// Waits until `bytes` are free and holds them. A request above the whole budget holds the
    /// whole budget, so that it waits for the other copies, not forever.
    pub async fn reserve(&self, bytes: u64) -> Reservation {
        let units = self.units_for(bytes);
        Reservation {
            // The semaphore is never closed, so acquiring cannot fail.
            permit: Arc::clone(&self.permits)
                .acquire_many_owned(units)
                .await
                .ok(),
        }
    }

    /// Holds `bytes` if they are free now.
    pub fn try_reserve(&self, bytes: u64) -> Option<Reservation> {
        let units = self.units_for(bytes);
        Arc::clone(&self.permits)
            .try_acquire_many_owned(units)
            .ok()
            .map(|permit| Reservation {
                permit: Some(permit),
            })
    }

    /// Reserves a multipart copy's buffers: waits for the smallest pipeline, then takes as many
    /// more upload slots as are free at once, up to `max_uploads`. It never waits while holding,
    /// so copies cannot deadlock each other.
    pub async fn reserve_pipeline(
        &self,
        part_size: usize,
        max_uploads: usize,
    ) -> (Reservation, Pipeline) {
        let part = part_size as u64;
        let mut pipeline = Pipeline::SMALLEST;
        let mut reservation = self.reserve(pipeline.parts() * part).await;
        while pipeline.uploads < max_uploads {
            let wider = Pipeline::with_uploads(pipeline.uploads + 1);
            let extra = (wider.parts() - pipeline.parts()) * part;
            match self.try_reserve(extra) {
                Some(more) => {
                    reservation.merge(more);
                    pipeline = wider;
                }
                None => break,
            }
        }
        (reservation, pipeline)
    }

    fn units_for(&self, bytes: u64) -> u32 {
        let units = bytes.div_ceil(UNIT).max(1);
        u32::try_from(units)
            .unwrap_or(u32::MAX)
            .min(self.capacity_units)
    }
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.permit
            .as_ref()
            .map_or(0, |permit| permit.num_permits() as u64 * UNIT)
    }

    fn merge(&mut self, other: Reservation) {
        match (&mut self.permit, other.permit) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }
}

/// The default budget: 1/32 of the machine's memory, between [`MIN_DEFAULT_BUDGET`] and
/// [`MAX_DEFAULT_BUDGET`] (256 MiB on this project's 24 GiB benchmark machine). Where the total
/// memory cannot be read (not Linux), the largest default.
pub fn default_budget_bytes() -> u64 {
    match total_memory_bytes() {
        Some(total) => {
            (total / DEFAULT_BUDGET_RAM_DIVISOR).clamp(MIN_DEFAULT_BUDGET, MAX_DEFAULT_BUDGET)
        }
        None => MAX_DEFAULT_BUDGET,
    }
}

/// `MemTotal` of /proc/meminfo, or the cgroup's memory limit when that is lower (a container
/// sees the host's MemTotal).
fn total_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total = parse_mem_total(&meminfo)?;
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    Some(cgroup.map_or(total, |limit| limit.min(total)))
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[tokio::test]
    async fn test_reservation_is_given_back_when_dropped() {
        let budget = MemoryBudget::new(10 * MIB);
        let held = budget.reserve(4 * MIB).await;
        assert_eq!(held.bytes(), 4 * MIB);
        assert_eq!(budget.available(), 6 * MIB);
        drop(held);
        assert_eq!(budget.available(), 10 * MIB);
    }

    #[tokio::test]
    async fn test_request_above_the_budget_takes_the_whole_budget_and_does_not_deadlock() {
        let budget = MemoryBudget::new(10 * MIB);
        let held = tokio::time::timeout(Duration::from_secs(5), budget.reserve(100 * MIB))
            .await
            .expect("an oversize request must be granted on an idle budget");
        assert_eq!(held.bytes(), 10 * MIB);
        assert_eq!(budget.available(), 0);
        // A second one waits for the first, then gets the budget too.
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(100 * MIB).await.bytes() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "granted while the budget was held");
        drop(held);
        let granted = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the second oversize request was never granted")
            .expect("task");
        assert_eq!(granted, 10 * MIB);
    }

    #[tokio::test]
    async fn test_holders_at_once_stay_within_the_budget() {
        let budget = MemoryBudget::new(24 * MIB);
        let held_now = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (budget, held_now, peak) = (budget.clone(), held_now.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let reservation = budget.reserve(5 * MIB).await;
                let now =
                    held_now.fetch_add(reservation.bytes(), Ordering::SeqCst) + reservation.bytes();
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                held_now.fetch_sub(reservation.bytes(), Ordering::SeqCst);
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let peak = peak.load(Ordering::SeqCst);
        // 24 MiB fits four 5 MiB holders, and all 32 ran.
        assert_eq!(peak, 20 * MIB);
        assert_eq!(budget.available(), 24 * MIB);
    }

    #[tokio::test]
    async fn test_pipeline_grows_to_what_the_budget_grants() {
        let part = 8 * MIB as usize;
        let budget = MemoryBudget::new(256 * MIB);
        let (first, wide) = budget.reserve_pipeline(part, 8).await;
        assert_eq!(wide, Pipeline::with_uploads(8));
        assert_eq!(wide.parts(), 13);
        assert_eq!(first.bytes(), 13 * 8 * MIB);
        let (second, _) = budget.reserve_pipeline(part, 8).await;
        // 256 − 2 × 104 MiB = 48 MiB: 6 parts, i.e. 3 uploads and 2 reads ahead.
        let (third, narrow) = budget.reserve_pipeline(part, 8).await;
        assert_eq!(
            narrow,
            Pipeline {
                uploads: 3,
                reads_ahead: 2
            }
        );
        assert!(first.bytes() + second.bytes() + third.bytes() <= budget.capacity());
        // Nothing is left for a fourth: it waits for the smallest pipeline, then gets it.
        let fourth = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve_pipeline(part, 8).await.1 }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!fourth.is_finished());
        drop(third);
        let got = tokio::time::timeout(Duration::from_secs(5), fourth)
            .await
            .expect("the fourth pipeline was never granted")
            .expect("task");
        assert!(got.uploads >= 1);
    }

    #[tokio::test]
    async fn test_pipeline_in_a_budget_below_one_part_still_runs() {
        let budget = MemoryBudget::new(MIB);
        let (held, pipeline) = tokio::time::timeout(
            Duration::from_secs(5),
            budget.reserve_pipeline(8 * MIB as usize, 8),
        )
        .await
        .expect("a pipeline larger than the budget must still be granted");
        assert_eq!(pipeline, Pipeline::SMALLEST);
        assert_eq!(held.bytes(), MIB);
    }

    #[test]
    fn test_configured_budget_is_bounded() {
        assert_eq!(MemoryBudget::from_mib(0).unwrap_err(), BudgetOutOfRange(0));
        assert!(MemoryBudget::from_mib(MAX_BUDGET_MIB + 1).is_err());
        assert_eq!(
            MemoryBudget::from_mib(300).expect("valid").capacity(),
            300 * MIB
        );
        assert_eq!(
            BudgetOutOfRange(0).to_string(),
            "must be between 1 and 1048576 MiB, got 0"
        );
    }

    #[test]
    fn test_default_budget_follows_the_machine_within_bounds() {
        let bytes = default_budget_bytes();
        assert!((MIN_DEFAULT_BUDGET..=MAX_DEFAULT_BUDGET).contains(&bytes));
        assert_eq!(
            parse_mem_total("MemTotal:       24683520 kB\nMemFree: 1 kB\n"),
            Some(24683520 * 1024)
        );
        assert_eq!(parse_mem_total("nothing here"), None);
    }
}
