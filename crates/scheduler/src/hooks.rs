//! Test points inside the scheduler: a test pauses a run at a named [`Breakpoint`], acts (a
//! stop, a delete) while the run is held there, then releases it, so each race of the
//! lifecycle is reproduced deterministically; [`FailurePoint`]s make the scheduler's next store
//! call of a kind fail. Modelled on Meilisearch's index-scheduler `Breakpoint` and
//! `FailureLocation`. Only [`Scheduler::for_test`](crate::Scheduler::for_test) installs hooks;
//! a production scheduler has none and pays one `Option` check per point.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

/// A place in the scheduler where a test can hold a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Breakpoint {
    /// A task was claimed in the store and is not yet registered as running on this node.
    AfterClaim,
    /// A run is about to commit its first copied objects.
    BeforeFirstCommit,
    /// The engine finished every object; the object lists are about to be written.
    BeforeObjectLists,
    /// The run's end is about to be written (`TaskStore::finish_run`).
    BeforeFinishRun,
}

/// A store call the scheduler makes that a test can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailurePoint {
    /// `TaskStore::finish_run` answers `Unavailable`.
    FinishRun,
}

struct Gate {
    reached: Semaphore,
    release: Semaphore,
}

impl Gate {
    fn new() -> Self {
        Gate {
            reached: Semaphore::new(0),
            release: Semaphore::new(0),
        }
    }
}

/// Breakpoints and failure points shared by a test and its scheduler.
#[derive(Default)]
pub struct TestHooks {
    gates: Mutex<HashMap<Breakpoint, Arc<Gate>>>,
    failures: Mutex<HashMap<FailurePoint, u32>>,
}

impl TestHooks {
    /// New hooks with nothing armed.
    pub fn new() -> Arc<Self> {
        Arc::new(TestHooks::default())
    }

    /// Makes the next run that reaches `point` wait there until [`TestHooks::release`].
    pub fn pause_at(&self, point: Breakpoint) {
        self.lock_gates().insert(point, Arc::new(Gate::new()));
    }

    /// Waits until a run is held at `point` (at most `timeout`); false on time-out.
    pub async fn wait_reached(&self, point: Breakpoint, timeout: Duration) -> bool {
        let Some(gate) = self.lock_gates().get(&point).cloned() else {
            return false;
        };
        let acquired = tokio::time::timeout(timeout, gate.reached.acquire()).await;
        match acquired {
            Ok(Ok(permit)) => {
                permit.forget();
                true
            }
            _ => false,
        }
    }

    /// Lets the run held at `point` go on, and disarms the point.
    pub fn release(&self, point: Breakpoint) {
        if let Some(gate) = self.lock_gates().remove(&point) {
            gate.release.add_permits(1);
        }
    }

    /// Makes the scheduler's next `times` calls at `point` fail.
    pub fn fail_next(&self, point: FailurePoint, times: u32) {
        self.lock_failures().insert(point, times);
    }

    /// Called by the scheduler at a breakpoint: holds the caller while the point is armed.
    pub(crate) async fn reached(&self, point: Breakpoint) {
        let gate = self.lock_gates().get(&point).cloned();
        if let Some(gate) = gate {
            gate.reached.add_permits(1);
            if let Ok(permit) = gate.release.acquire().await {
                permit.forget();
            }
        }
    }

    /// Called by the scheduler before a store call: true when this call must fail.
    pub(crate) fn should_fail(&self, point: FailurePoint) -> bool {
        let mut failures = self.lock_failures();
        match failures.get_mut(&point) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }

    fn lock_gates(&self) -> std::sync::MutexGuard<'_, HashMap<Breakpoint, Arc<Gate>>> {
        self.gates
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_failures(&self) -> std::sync::MutexGuard<'_, HashMap<FailurePoint, u32>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
