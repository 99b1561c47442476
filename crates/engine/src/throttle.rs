//! Bandwidth limiting shared by every transfer of a run.
//!
//! OpenDAL's throttle layer has one fixed rate; OMS policies change with the time of day and can be
//! replaced while a task runs (`update_bandwidth_policy`), so tern keeps its own token bucket. Each
//! transfer takes tokens for the bytes it has read; a debt is paid by sleeping, which keeps the
//! average at the limit with a burst of at most one second's worth. Windows are read in UTC.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tern_core::BandwidthPolicy;

use crate::metrics::EngineMetrics;

/// A shared, replaceable bandwidth limit.
#[derive(Debug)]
pub struct Throttle {
    state: Mutex<State>,
    metrics: EngineMetrics,
}

#[derive(Debug)]
struct State {
    policy: BandwidthPolicy,
    plain_limit: Option<u64>,
    tokens: f64,
    refilled_at: Instant,
}

impl Throttle {
    /// A throttle from an OMS policy and an optional flat limit (bytes/s); the lower one wins.
    pub fn new(policy: BandwidthPolicy, plain_limit: Option<u64>) -> Self {
        Throttle {
            state: Mutex::new(State {
                policy,
                plain_limit: plain_limit.filter(|limit| *limit > 0),
                tokens: 0.0,
                refilled_at: Instant::now(),
            }),
            metrics: EngineMetrics::default(),
        }
    }

    /// Counts the time transfers wait here into `metrics`.
    pub fn counted(mut self, metrics: &EngineMetrics) -> Self {
        self.metrics = metrics.clone();
        self
    }

    /// No limit at all.
    pub fn unlimited() -> Self {
        Throttle::new(BandwidthPolicy::default(), None)
    }

    /// Replaces the policy; transfers in flight follow it from their next chunk.
    pub fn set_policy(&self, policy: BandwidthPolicy) {
        let mut state = self.lock();
        state.policy = policy;
    }

    /// The limit in force now, bytes/s.
    pub fn current_limit(&self) -> Option<u64> {
        let state = self.lock();
        limit_now(&state)
    }

    /// Waits until `bytes` may pass.
    pub async fn consume(&self, bytes: u64) {
        let wait = {
            let mut state = self.lock();
            let Some(limit) = limit_now(&state) else {
                return;
            };
            let rate = limit as f64;
            let now = Instant::now();
            let elapsed = now.duration_since(state.refilled_at).as_secs_f64();
            state.refilled_at = now;
            state.tokens = (state.tokens + elapsed * rate).min(rate) - bytes as f64;
            if state.tokens >= 0.0 {
                return;
            }
            Duration::from_secs_f64(-state.tokens / rate)
        };
        self.metrics.record_throttle_wait(wait);
        tokio::time::sleep(wait).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the bucket inconsistent (plain numbers).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn limit_now(state: &State) -> Option<u64> {
    let window = state.policy.limit_at(utc_minute_of_day());
    match (window, state.plain_limit) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn utc_minute_of_day() -> u16 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    ((seconds % 86_400) / 60) as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_core::BandwidthWindow;

    #[tokio::test]
    async fn test_plain_limit_paces_transfers() {
        let throttle = Throttle::new(BandwidthPolicy::default(), Some(4 * 1024 * 1024));
        let started = Instant::now();
        // 6 MiB at 4 MiB/s with an empty bucket: at least 1.5 s.
        for _ in 0..6 {
            throttle.consume(1024 * 1024).await;
        }
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(1400), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
    }

    #[tokio::test]
    async fn test_unlimited_never_waits() {
        let throttle = Throttle::unlimited();
        let started = Instant::now();
        throttle.consume(u64::MAX / 2).await;
        assert!(started.elapsed() < Duration::from_millis(50));
        assert_eq!(throttle.current_limit(), None);
    }

    #[test]
    fn test_policy_window_covering_now_sets_limit() {
        let all_day = BandwidthPolicy::new(vec![
            BandwidthWindow::parse(0, "00:00", "12:00", 2 * 1_048_576).unwrap(),
            BandwidthWindow::parse(1, "12:00", "00:00", 3 * 1_048_576).unwrap(),
        ])
        .unwrap();
        let throttle = Throttle::new(all_day, Some(10 * 1_048_576));
        let limit = throttle.current_limit().unwrap();
        assert!(limit == 2 * 1_048_576 || limit == 3 * 1_048_576);
        throttle.set_policy(BandwidthPolicy::default());
        assert_eq!(throttle.current_limit(), Some(10 * 1_048_576));
    }
}
