//! The resume checkpoint of an ordered listing: the last key whose predecessors all have outcomes.
//!
//! Outcomes arrive out of order (objects finish in parallel), so the tracker keeps the listed
//! keys in listing order and advances past a key only when it and everything before it is done.
//!
//! Memory is bounded: one slow object at the front would otherwise keep every key listed after
//! it. Past [`MAX_TRACKED_KEYS`] the tracker stops remembering new keys and only counts them
//! (listed and finished); the checkpoint then waits at the last remembered key until every
//! remembered key is done and the counts meet, which proves every key listed so far has its
//! outcome, and jumps to the last key listed. A resumed run may list some keys again; the ledger
//! keeps one outcome per key, so nothing is counted twice.

use std::collections::{HashSet, VecDeque};

/// Keys remembered at most (about 100 bytes each with the set): a few MiB per run.
pub const MAX_TRACKED_KEYS: usize = 65_536;

/// Tracks listed keys and finished keys of one run.
#[derive(Debug)]
pub struct CheckpointTracker {
    order: VecDeque<String>,
    pending: HashSet<String>,
    checkpoint: Option<String>,
    limit: usize,
    /// Keys listed while over the limit, and the last of them.
    untracked_listed: u64,
    untracked_finished: u64,
    last_untracked: Option<String>,
}

impl Default for CheckpointTracker {
    fn default() -> Self {
        CheckpointTracker::with_limit(MAX_TRACKED_KEYS)
    }
}

impl CheckpointTracker {
    /// A tracker that remembers at most `limit` keys.
    pub fn with_limit(limit: usize) -> Self {
        CheckpointTracker {
            order: VecDeque::new(),
            pending: HashSet::new(),
            checkpoint: None,
            limit: limit.max(1),
            untracked_listed: 0,
            untracked_finished: 0,
            last_untracked: None,
        }
    }

    /// Notes a key as listed (in listing order).
    pub fn listed(&mut self, key: String) {
        if self.last_untracked.is_some() || self.order.len() >= self.limit {
            self.untracked_listed += 1;
            self.last_untracked = Some(key);
            return;
        }
        self.pending.insert(key.clone());
        self.order.push_back(key);
    }

    /// Notes a key as finished and advances the checkpoint as far as possible.
    pub fn finished(&mut self, key: String) {
        if !self.pending.remove(&key) {
            self.untracked_finished += 1;
        }
        while let Some(front) = self.order.front() {
            if self.pending.contains(front) {
                break;
            }
            self.checkpoint = self.order.pop_front();
        }
        if self.order.is_empty() && self.untracked_listed == self.untracked_finished {
            if let Some(last) = self.last_untracked.take() {
                // Everything listed so far has its outcome: track afresh from here.
                self.checkpoint = Some(last);
                self.untracked_listed = 0;
                self.untracked_finished = 0;
            }
        }
    }

    /// Takes the checkpoint if it moved since the last call.
    pub fn take_checkpoint(&mut self) -> Option<String> {
        self.checkpoint.take()
    }

    /// Keys held in memory now.
    #[cfg(test)]
    pub fn remembered(&self) -> usize {
        self.order.len() + self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_checkpoint_waits_for_every_predecessor() {
        let mut tracker = CheckpointTracker::default();
        for key in ["a", "b", "c", "d"] {
            tracker.listed(key.to_owned());
        }
        tracker.finished("b".into());
        tracker.finished("c".into());
        assert_eq!(tracker.take_checkpoint(), None);
        tracker.finished("a".into());
        assert_eq!(tracker.take_checkpoint().as_deref(), Some("c"));
        assert_eq!(tracker.take_checkpoint(), None);
        tracker.finished("d".into());
        assert_eq!(tracker.take_checkpoint().as_deref(), Some("d"));
    }

    fn key(n: usize) -> String {
        format!("k/{n:07}")
    }

    #[test]
    fn test_one_slow_object_at_the_front_keeps_memory_bounded() {
        let limit = 1000;
        let mut tracker = CheckpointTracker::with_limit(limit);
        let total = 100_000;
        let mut most = 0;
        for n in 0..total {
            tracker.listed(key(n));
            if n > 0 {
                // Everything but the first object finishes soon after it is listed.
                tracker.finished(key(n));
            }
            most = most.max(tracker.remembered());
            assert_eq!(
                tracker.take_checkpoint(),
                None,
                "never past the slow key {n}"
            );
        }
        assert!(most <= 2 * limit, "remembered {most} keys");
        tracker.finished(key(0));
        assert_eq!(
            tracker.take_checkpoint(),
            Some(key(total - 1)),
            "with every outcome in, the checkpoint reaches the last key listed"
        );
    }

    #[test]
    fn test_over_the_limit_the_checkpoint_never_passes_an_unfinished_key() {
        let mut tracker = CheckpointTracker::with_limit(2);
        for n in 0..6 {
            tracker.listed(key(n));
        }
        // 0 and 1 remembered; 2..6 only counted.
        tracker.finished(key(0));
        assert_eq!(tracker.take_checkpoint(), Some(key(0)));
        for n in [1, 2, 3, 5] {
            tracker.finished(key(n));
        }
        // 4 is still running: the checkpoint may not pass 1.
        assert_eq!(tracker.take_checkpoint(), Some(key(1)));
        tracker.finished(key(4));
        assert_eq!(tracker.take_checkpoint(), Some(key(5)));
        // Tracking resumes after the drain.
        tracker.listed(key(6));
        tracker.listed(key(7));
        tracker.finished(key(7));
        assert_eq!(tracker.take_checkpoint(), None);
        tracker.finished(key(6));
        assert_eq!(tracker.take_checkpoint(), Some(key(7)));
    }
}
