//! The ledger rule applied to a whole batch, the same for both backends: a new key is
//! inserted, a stored or earlier `failed` row of the key is replaced, any other row of the key
//! is kept and the outcome ignored; outcomes apply in batch order, so a key repeated in one
//! batch behaves as if each outcome were its own batch. The rule is pure here so a backend
//! reads the batch's stored rows once, writes the [`BatchPlan`] in a few statements, and the
//! counter arithmetic is tested once.

use std::collections::{HashMap, HashSet};

use tern_core::{Error, ObjectOutcome, OutcomeKind, Result};

use crate::error::to_db;
use crate::rows::LedgerFields;

/// Signed changes to the six stored counters made by one batch, indexed by [`Self::slot`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CounterDelta {
    pub(crate) nums: [i64; 3],
    pub(crate) sizes: [i64; 3],
}

impl CounterDelta {
    /// The index of `kind`'s counters: succeeded, skipped, failed.
    pub(crate) fn slot(kind: OutcomeKind) -> usize {
        match kind {
            OutcomeKind::Succeeded => 0,
            OutcomeKind::Skipped => 1,
            OutcomeKind::Failed => 2,
        }
    }

    fn add(&mut self, kind: OutcomeKind, size: i64) {
        self.nums[Self::slot(kind)] += 1;
        self.sizes[Self::slot(kind)] += size;
    }

    fn remove(&mut self, kind: OutcomeKind, size: i64) {
        self.nums[Self::slot(kind)] -= 1;
        self.sizes[Self::slot(kind)] -= size;
    }
}

/// A ledger row one batch stores for a key.
pub(crate) struct NewRow<'a> {
    pub(crate) key: &'a str,
    pub(crate) size: i64,
    pub(crate) fields: LedgerFields,
}

/// What one batch writes: delete the stored failed rows of `replaced`, then insert `rows`, and
/// move the counters by `delta`.
pub(crate) struct BatchPlan<'a> {
    /// At most one row per key, in the order each key was first written.
    pub(crate) rows: Vec<NewRow<'a>>,
    /// Keys whose row in the table is `failed` and is replaced by a row of `rows`.
    pub(crate) replaced: Vec<&'a str>,
    pub(crate) delta: CounterDelta,
}

/// The distinct keys of a batch, to look their stored rows up.
pub(crate) fn batch_keys(outcomes: &[ObjectOutcome]) -> Vec<&str> {
    let mut seen = HashSet::with_capacity(outcomes.len());
    outcomes
        .iter()
        .map(|outcome| outcome.key.as_str())
        .filter(|key| seen.insert(*key))
        .collect()
}

/// Applies the ledger rule to `outcomes` in order, given the rows the table holds for the
/// batch's keys (`(key, kind, size)`; a key the batch does not name is an internal error).
pub(crate) fn plan<'a>(
    outcomes: &'a [ObjectOutcome],
    stored: &[(String, OutcomeKind, i64)],
) -> Result<BatchPlan<'a>> {
    let asked: HashSet<&str> = outcomes.iter().map(|o| o.key.as_str()).collect();
    // What each key holds as the batch goes, and whether that row is the table's.
    let mut state: HashMap<&str, (OutcomeKind, i64, bool)> = HashMap::new();
    for (key, kind, size) in stored {
        let key = asked
            .get(key.as_str())
            .ok_or_else(|| Error::Internal(format!("the ledger answered unasked key {key:?}")))?;
        state.insert(key, (*kind, *size, true));
    }
    let mut plan = BatchPlan {
        rows: Vec::with_capacity(outcomes.len()),
        replaced: Vec::new(),
        delta: CounterDelta::default(),
    };
    let mut pending: HashMap<&str, usize> = HashMap::new();
    for outcome in outcomes {
        let size = to_db(outcome.size, "size")?;
        let key = outcome.key.as_str();
        match state.get(key) {
            None => {}
            Some(&(OutcomeKind::Failed, old_size, in_table)) => {
                plan.delta.remove(OutcomeKind::Failed, old_size);
                if in_table {
                    plan.replaced.push(key);
                }
            }
            Some(_) => continue,
        }
        let fields = LedgerFields::of(outcome);
        state.insert(key, (fields.kind, size, false));
        plan.delta.add(fields.kind, size);
        let row = NewRow { key, size, fields };
        match pending.get(key) {
            Some(&at) => plan.rows[at] = row,
            None => {
                pending.insert(key, plan.rows.len());
                plan.rows.push(row);
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use tern_core::{CopyPath, FailureCode, Outcome, SkipReason, Verification};

    use super::*;

    fn succeeded(key: &str, size: u64) -> ObjectOutcome {
        ObjectOutcome {
            key: key.into(),
            size,
            outcome: Outcome::Succeeded {
                verification: Verification::SizeLastModified,
                crc64: None,
                path: CopyPath::Streamed,
            },
        }
    }

    fn skipped(key: &str, size: u64) -> ObjectOutcome {
        ObjectOutcome {
            key: key.into(),
            size,
            outcome: Outcome::Skipped(SkipReason::Unchanged),
        }
    }

    fn failed(key: &str, size: u64, message: &str) -> ObjectOutcome {
        ObjectOutcome {
            key: key.into(),
            size,
            outcome: Outcome::Failed {
                code: FailureCode::DestinationError,
                message: message.into(),
            },
        }
    }

    fn stored(key: &str, kind: OutcomeKind, size: i64) -> (String, OutcomeKind, i64) {
        (key.to_owned(), kind, size)
    }

    /// `(key, kind, size, message)` of each planned row.
    fn rows<'a>(plan: &'a BatchPlan<'_>) -> Vec<(&'a str, OutcomeKind, i64, &'a str)> {
        plan.rows
            .iter()
            .map(|row| {
                (
                    row.key,
                    row.fields.kind,
                    row.size,
                    row.fields.message.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn test_new_keys_are_inserted_and_counted_by_kind() {
        let outcomes = [succeeded("a", 1), skipped("b", 2), failed("c", 4, "x")];
        let plan = plan(&outcomes, &[]).unwrap();
        assert_eq!(
            rows(&plan),
            [
                ("a", OutcomeKind::Succeeded, 1, ""),
                ("b", OutcomeKind::Skipped, 2, ""),
                ("c", OutcomeKind::Failed, 4, "x"),
            ]
        );
        assert!(plan.replaced.is_empty());
        assert_eq!(
            plan.delta,
            CounterDelta {
                nums: [1, 1, 1],
                sizes: [1, 2, 4]
            }
        );
    }

    #[test]
    fn test_a_stored_failure_moves_to_its_new_kind_and_others_stay() {
        let outcomes = [
            succeeded("f1", 10),
            failed("f2", 20, "again"),
            failed("s", 5, "must not replace"),
            succeeded("k", 6),
        ];
        let stored = [
            stored("f1", OutcomeKind::Failed, 9),
            stored("f2", OutcomeKind::Failed, 19),
            stored("s", OutcomeKind::Succeeded, 5),
            stored("k", OutcomeKind::Skipped, 6),
        ];
        let plan = plan(&outcomes, &stored).unwrap();
        assert_eq!(
            rows(&plan),
            [
                ("f1", OutcomeKind::Succeeded, 10, ""),
                ("f2", OutcomeKind::Failed, 20, "again"),
            ]
        );
        assert_eq!(plan.replaced, ["f1", "f2"]);
        // f1: failed −1/−9, succeeded +1/+10; f2: failed −1/−19 +1/+20.
        assert_eq!(
            plan.delta,
            CounterDelta {
                nums: [1, 0, -1],
                sizes: [10, 0, -9 - 19 + 20]
            }
        );
    }

    #[test]
    fn test_a_repeated_key_follows_the_rule_in_batch_order() {
        let outcomes = [
            // New: fails, then succeeds, then a late failure is ignored.
            failed("n", 1, "one"),
            succeeded("n", 2),
            failed("n", 3, "ignored"),
            // New: a success first, so the repeat is ignored.
            succeeded("e", 5),
            failed("e", 5, "late"),
            // Stored failure: fails again, then is skipped; deleted once.
            failed("d", 7, "two"),
            skipped("d", 8),
        ];
        let stored = [stored("d", OutcomeKind::Failed, 6)];
        let plan = plan(&outcomes, &stored).unwrap();
        assert_eq!(
            rows(&plan),
            [
                ("n", OutcomeKind::Succeeded, 2, ""),
                ("e", OutcomeKind::Succeeded, 5, ""),
                ("d", OutcomeKind::Skipped, 8, ""),
            ]
        );
        assert_eq!(plan.replaced, ["d"]);
        assert_eq!(
            plan.delta,
            CounterDelta {
                nums: [2, 1, -1],
                sizes: [7, 8, -6]
            }
        );
        assert_eq!(batch_keys(&outcomes), ["n", "e", "d"]);
    }

    #[test]
    fn test_an_unasked_stored_key_and_an_oversized_size_are_refused() {
        let outcomes = [succeeded("a", 1)];
        let err = plan(&outcomes, &[stored("zz", OutcomeKind::Failed, 1)])
            .err()
            .unwrap();
        assert!(err.to_string().contains("unasked key"), "{err}");
        let huge = [succeeded("a", u64::MAX)];
        assert!(plan(&huge, &[]).is_err());
    }
}
