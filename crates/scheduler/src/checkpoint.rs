//! The resume checkpoint of an ordered listing: the last key whose predecessors all have outcomes.
//!
//! Outcomes arrive out of order (objects finish in parallel), so the tracker keeps the listed
//! keys in listing order and advances past a key only when it and everything before it is done.
//! Its size is bounded by the objects in flight, not by the listing.

use std::collections::{HashSet, VecDeque};

/// Tracks listed keys and finished keys of one run.
#[derive(Debug, Default)]
pub struct CheckpointTracker {
    order: VecDeque<String>,
    done: HashSet<String>,
    checkpoint: Option<String>,
}

impl CheckpointTracker {
    /// Notes a key as listed (in listing order).
    pub fn listed(&mut self, key: String) {
        self.order.push_back(key);
    }

    /// Notes a key as finished and advances the checkpoint as far as possible.
    pub fn finished(&mut self, key: String) {
        self.done.insert(key);
        while let Some(front) = self.order.front() {
            if !self.done.remove(front) {
                break;
            }
            self.checkpoint = self.order.pop_front();
        }
    }

    /// Takes the checkpoint if it moved since the last call.
    pub fn take_checkpoint(&mut self) -> Option<String> {
        self.checkpoint.take()
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
}
