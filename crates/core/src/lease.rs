//! Leases: which node runs a task (or splits a group) until when, and the fencing token every
//! write of that run carries, so several nodes can share one database (RFC 0011).

use std::fmt;

use crate::task::{Task, TaskStatus};

/// The lease a node takes when it does not say otherwise.
pub const DEFAULT_LEASE_MS: i64 = 10_000;

/// A node's name, in logs and in the record of where each run ran.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(pub String);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A claim's fencing token: it grows with every claim of the same task, and a write carrying
/// an older one is refused with [`Error::LeaseLost`](crate::Error::LeaseLost).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fence(pub i64);

impl fmt::Display for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How a node claims: who it is and how long a claim holds without renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseTerms {
    /// The claiming node.
    pub node: NodeId,
    /// Lease length, ms.
    pub duration_ms: i64,
}

impl LeaseTerms {
    /// Terms for `node` with the default lease.
    pub fn new(node: impl Into<String>) -> Self {
        LeaseTerms {
            node: NodeId(node.into()),
            duration_ms: DEFAULT_LEASE_MS,
        }
    }

    /// When a lease taken or renewed at `now_ms` expires.
    pub fn until(&self, now_ms: i64) -> i64 {
        now_ms.saturating_add(self.duration_ms)
    }
}

/// A task a node claimed, with the fence its writes must carry.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRun {
    /// The task as claimed (status 2).
    pub task: Task,
    /// The claim's fence.
    pub fence: Fence,
}

/// What renewing a run's lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseCheck {
    /// Still this node's; the task's status tells whether a stop arrived (pausing).
    Held(TaskStatus),
    /// Another claim took the task, or it ended or was deleted: stop without writing.
    Lost,
}

/// One run of a task: which node ran it and when (tern's own record, not an OMS field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The claim's fence (runs in order).
    pub fence: Fence,
    /// The node that ran it.
    pub node: NodeId,
    /// Claimed at, Unix ms.
    pub started_ms: i64,
    /// Ended at (its end was written), Unix ms; `None` while running or when the node died.
    pub ended_ms: Option<i64>,
}

/// Whether a lease that holds until `lease_until_ms` (none: never claimed under leases) has
/// expired at `now_ms`, so another node may take the work over.
pub fn lease_expired(lease_until_ms: Option<i64>, now_ms: i64) -> bool {
    lease_until_ms.is_none_or(|until| until < now_ms)
}

/// Whether a node may claim a task in `status` whose lease holds until `lease_until_ms`: a
/// waiting or retrying task always, a migrating one only once its lease expired (its node
/// died or lost the database).
pub fn claimable(status: TaskStatus, lease_until_ms: Option<i64>, now_ms: i64) -> bool {
    match status {
        TaskStatus::Waiting | TaskStatus::Retrying => true,
        TaskStatus::Migrating => lease_expired(lease_until_ms, now_ms),
        _ => false,
    }
}

/// Checks a write's fence against the row's, naming what was written when they differ.
pub fn check_fence(
    stored: Fence,
    presented: Option<Fence>,
    what: impl FnOnce() -> String,
) -> crate::Result<()> {
    match presented {
        Some(fence) if fence != stored => Err(crate::Error::LeaseLost(what())),
        _ => Ok(()),
    }
}

/// Whether the run claimed with `fence` continues an earlier claim of the same start (a
/// takeover or a restart after a crash), so objects it finds written at the destination since
/// `started_ms` may be its predecessor's uncommitted copies. A start or retry stamps a new
/// `started_ms`, so runs before it do not count.
pub fn continues_earlier_claim(runs: &[RunRecord], fence: Fence, started_ms: Option<i64>) -> bool {
    let Some(started_ms) = started_ms else {
        return false;
    };
    runs.iter()
        .any(|run| run.fence.0 < fence.0 && run.started_ms >= started_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(fence: i64, started_ms: i64) -> RunRecord {
        RunRecord {
            fence: Fence(fence),
            node: NodeId("n".into()),
            started_ms,
            ended_ms: None,
        }
    }

    #[test]
    fn only_an_earlier_claim_since_the_start_is_continued() {
        // First claim: its own record is the only one.
        assert!(!continues_earlier_claim(
            &[run(1, 100)],
            Fence(1),
            Some(100)
        ));
        // Takeover of a claim made at the start.
        assert!(continues_earlier_claim(
            &[run(1, 100), run(2, 150)],
            Fence(2),
            Some(100)
        ));
        // A retry restamped the start after the earlier runs.
        assert!(!continues_earlier_claim(
            &[run(1, 100), run(2, 300)],
            Fence(2),
            Some(300)
        ));
        // Never started.
        assert!(!continues_earlier_claim(
            &[run(1, 100), run(2, 150)],
            Fence(2),
            None
        ));
    }

    #[test]
    fn expiry_is_strictly_after_the_lease() {
        assert!(lease_expired(None, 0));
        assert!(!lease_expired(Some(100), 100));
        assert!(lease_expired(Some(100), 101));
    }

    #[test]
    fn only_runnable_or_orphaned_tasks_are_claimable() {
        assert!(claimable(TaskStatus::Waiting, Some(i64::MAX), 0));
        assert!(claimable(TaskStatus::Retrying, None, 0));
        assert!(!claimable(TaskStatus::Migrating, Some(200), 100));
        assert!(claimable(TaskStatus::Migrating, Some(50), 100));
        assert!(claimable(TaskStatus::Migrating, None, 100));
        for status in [
            TaskStatus::Paused,
            TaskStatus::Failed,
            TaskStatus::Succeeded,
            TaskStatus::Pausing,
        ] {
            assert!(!claimable(status, None, 100), "{status:?}");
        }
    }

    #[test]
    fn a_stale_fence_is_refused_and_an_unfenced_write_passes() {
        assert!(check_fence(Fence(3), Some(Fence(3)), String::new).is_ok());
        assert!(check_fence(Fence(3), None, String::new).is_ok());
        let err = check_fence(Fence(4), Some(Fence(3)), || "task 7".into()).unwrap_err();
        assert!(matches!(err, crate::Error::LeaseLost(ref what) if what == "task 7"));
    }
}
