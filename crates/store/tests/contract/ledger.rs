//! Contract: `record_batch`, the ledger rule and its counters, ledger pages.

use std::collections::BTreeMap;
use std::sync::Arc;

use tern_core::{
    CopyPath, Counters, FailureCode, ObjectOutcome, Outcome, OutcomeBatch, OutcomeKind, SkipReason,
    TaskEvent, TaskStore, Verification,
};

use super::helpers::*;

fn batch(outcomes: Vec<ObjectOutcome>) -> OutcomeBatch {
    OutcomeBatch {
        outcomes,
        ..OutcomeBatch::default()
    }
}

pub async fn test_record_batch_counters_equal_ledger(store: Arc<dyn TaskStore>) {
    let id = create(&store, "counted", NOW).await.id;
    store.transition(id, TaskEvent::Claim, NOW).await.unwrap();

    // New keys of every kind, plus a key repeated inside the batch: the first outcome stands
    // (it is a success, so the repeat is ignored).
    let first = batch(vec![
        succeeded("a", 10),
        skipped("b", 20),
        failed("c", 30, "boom"),
        failed("d", 40, "boom"),
        succeeded("e", 50),
        failed("e", 50, "late duplicate"),
    ]);
    store.record_batch(id, &first).await.unwrap();
    let counters = assert_counters_match_ledger(&store, id).await;
    assert_eq!(
        counters,
        Counters {
            total_num: 5,
            successful_num: 2,
            skipped_num: 1,
            failed_num: 2,
            total_size: 150,
            successful_size: 60,
            skipped_size: 20,
            failed_size: 70,
        }
    );

    // Replacements: failed → succeeded (with a new size), failed → failed (new message),
    // while success and skip are never replaced; a new key fails then succeeds in one batch.
    let second = batch(vec![
        succeeded("c", 35),
        failed("d", 41, "again"),
        failed("a", 10, "must not replace a success"),
        succeeded("b", 20),
        failed("f", 5, "first try"),
        succeeded("f", 6),
    ]);
    store.record_batch(id, &second).await.unwrap();
    let counters = assert_counters_match_ledger(&store, id).await;
    assert_eq!(
        counters,
        Counters {
            total_num: 6,
            successful_num: 4,
            skipped_num: 1,
            failed_num: 1,
            total_size: 10 + 20 + 35 + 41 + 50 + 6,
            successful_size: 10 + 35 + 50 + 6,
            skipped_size: 20,
            failed_size: 41,
        }
    );
    let d = store.ledger_entry(id, "d").await.unwrap().unwrap();
    assert_eq!(
        (d.kind, d.size, d.message.as_str()),
        (OutcomeKind::Failed, 41, "again")
    );
    let a = store.ledger_entry(id, "a").await.unwrap().unwrap();
    assert_eq!(a.kind, OutcomeKind::Succeeded);
    let b = store.ledger_entry(id, "b").await.unwrap().unwrap();
    assert_eq!(b.kind, OutcomeKind::Skipped);

    // Replaying the whole history changes nothing but the still-failed key's message.
    store.record_batch(id, &first).await.unwrap();
    store.record_batch(id, &second).await.unwrap();
    assert_eq!(assert_counters_match_ledger(&store, id).await, counters);

    // The last failure mended: every key succeeded or skipped.
    store
        .record_batch(id, &batch(vec![skipped("d", 41)]))
        .await
        .unwrap();
    let counters = assert_counters_match_ledger(&store, id).await;
    assert_eq!((counters.failed_num, counters.failed_size), (0, 0));
    assert_eq!((counters.skipped_num, counters.skipped_size), (2, 61));
    assert_eq!(counters.total_num, 6);

    // Other tasks' ledgers are separate.
    let other = create(&store, "other", NOW).await.id;
    store
        .record_batch(other, &batch(vec![succeeded("a", 1)]))
        .await
        .unwrap();
    assert_eq!(
        assert_counters_match_ledger(&store, other).await.total_num,
        1
    );
    assert_eq!(assert_counters_match_ledger(&store, id).await, counters);

    // Keys that need escaping in any encoding a store may batch them in, and a stored failure
    // that fails again and then succeeds within one batch.
    let odd = "dir/\"quoted\" \\ back\nslash é 🦀";
    let third = create(&store, "odd keys", NOW).await.id;
    store
        .record_batch(
            third,
            &batch(vec![failed(odd, 3, "one"), succeeded("plain", 1)]),
        )
        .await
        .unwrap();
    store
        .record_batch(
            third,
            &batch(vec![
                failed(odd, 4, "two"),
                succeeded(odd, 5),
                failed(odd, 6, "three"),
            ]),
        )
        .await
        .unwrap();
    let entry = store.ledger_entry(third, odd).await.unwrap().unwrap();
    assert_eq!(
        (entry.key.as_str(), entry.kind, entry.size),
        (odd, OutcomeKind::Succeeded, 5)
    );
    let counters = assert_counters_match_ledger(&store, third).await;
    assert_eq!((counters.successful_num, counters.failed_num), (2, 0));
    assert_eq!(counters.total_size, 6);
}

/// What the ledger holds after `batches`, by the rule applied one outcome at a time: an
/// independent model of what a store may do in fewer statements. `(kind, size, message)`.
fn ledger_model(batches: &[&[ObjectOutcome]]) -> BTreeMap<String, (OutcomeKind, u64, String)> {
    let mut ledger = BTreeMap::new();
    for outcome in batches.iter().flat_map(|batch| batch.iter()) {
        let (kind, message) = match &outcome.outcome {
            Outcome::Succeeded { .. } => (OutcomeKind::Succeeded, String::new()),
            Outcome::Skipped(_) => (OutcomeKind::Skipped, String::new()),
            Outcome::Failed { message, .. } => (OutcomeKind::Failed, message.clone()),
        };
        match ledger.get(&outcome.key) {
            Some((OutcomeKind::Failed, _, _)) | None => {
                ledger.insert(outcome.key.clone(), (kind, outcome.size, message));
            }
            Some(_) => {}
        }
    }
    ledger
}

/// The counters of a ledger model.
fn model_counters(model: &BTreeMap<String, (OutcomeKind, u64, String)>) -> Counters {
    let mut counters = Counters::default();
    for (kind, size, _) in model.values() {
        counters.total_num += 1;
        counters.total_size += size;
        let (num, sum) = match kind {
            OutcomeKind::Succeeded => (&mut counters.successful_num, &mut counters.successful_size),
            OutcomeKind::Skipped => (&mut counters.skipped_num, &mut counters.skipped_size),
            OutcomeKind::Failed => (&mut counters.failed_num, &mut counters.failed_size),
        };
        *num += 1;
        *sum += size;
    }
    counters
}

pub async fn test_record_batch_of_thousands_of_keys_matches_the_rule(store: Arc<dyn TaskStore>) {
    let id = create(&store, "thousands", NOW).await.id;
    store.transition(id, TaskEvent::Claim, NOW).await.unwrap();
    // Keys that an array or text encoding of a batch could mangle, among plain ones.
    let odd = ["NULL", "{a,b}", "\"q\"", "back\\slash", "", " ", "é,🦀"];
    let key = |i: usize| match odd.get(i) {
        Some(odd) => (*odd).to_owned(),
        None => format!("k/{i:05}"),
    };
    // 2,500 new keys, a third of each kind.
    let first: Vec<ObjectOutcome> = (0..2_500)
        .map(|i| match i % 3 {
            0 => failed(&key(i), i as u64 + 1, "first"),
            1 => succeeded(&key(i), i as u64 + 1),
            _ => skipped(&key(i), i as u64 + 1),
        })
        .collect();
    // Every old key again (each failure fails again, then all but every fourth succeed, with
    // new sizes), and 1,000 new keys, each named twice: a failure then a success.
    let mut second = Vec::new();
    for i in 0..2_500 {
        if i % 3 == 0 {
            second.push(failed(&key(i), i as u64 + 2, "second"));
        }
        if i % 4 != 0 {
            second.push(succeeded(&key(i), i as u64 + 3));
        }
    }
    for i in 2_500..3_500 {
        second.push(failed(&key(i), 1, "new"));
        second.push(succeeded(&key(i), 2));
    }
    assert!(second.len() > 4_000);
    store.record_batch(id, &batch(first.clone())).await.unwrap();
    store
        .record_batch(id, &batch(second.clone()))
        .await
        .unwrap();

    let model = ledger_model(&[&first, &second]);
    let expected = model_counters(&model);
    assert_eq!(expected.total_num, 3_500);
    assert!(expected.failed_num > 0 && expected.skipped_num > 0);
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!(task.counters, expected);
    // Every row as the model has it, read back through pages of each kind.
    let mut stored = BTreeMap::new();
    for kind in [
        OutcomeKind::Succeeded,
        OutcomeKind::Skipped,
        OutcomeKind::Failed,
    ] {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .ledger_page(id, kind, after.as_deref(), 1_000)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.key.clone());
            for entry in page {
                assert_eq!(entry.kind, kind);
                let previous = stored.insert(entry.key, (entry.kind, entry.size, entry.message));
                assert!(previous.is_none(), "one row per key");
            }
        }
    }
    assert_eq!(stored, model);
}

pub async fn test_record_batch_progress_fields(store: Arc<dyn TaskStore>) {
    let id = create(&store, "progress", NOW).await.id;
    store.transition(id, TaskEvent::Claim, NOW).await.unwrap();
    let progress = OutcomeBatch {
        fence: None,
        listed_num: 4,
        listed_size: 400,
        outcomes: vec![],
        checkpoint: Some("k2".into()),
        is_query_over: false,
        migrate_speed: 100,
        left_time_ms: 9_000,
    };
    store.record_batch(id, &progress).await.unwrap();
    let finish = OutcomeBatch {
        fence: None,
        listed_num: 1,
        listed_size: 50,
        outcomes: vec![],
        checkpoint: None,
        is_query_over: true,
        migrate_speed: 200,
        left_time_ms: 1_000,
    };
    store.record_batch(id, &finish).await.unwrap();
    let task = store.get_task(id).await.unwrap().unwrap();
    assert_eq!((task.listed_num, task.listed_size), (5, 450));
    assert_eq!(
        task.checkpoint.as_deref(),
        Some("k2"),
        "None keeps the checkpoint"
    );
    assert!(task.is_query_over);
    assert_eq!((task.migrate_speed, task.left_time_ms), (200, 1_000));

    let later = OutcomeBatch {
        checkpoint: Some("k9".into()),
        ..OutcomeBatch::default()
    };
    store.record_batch(id, &later).await.unwrap();
    let task = store.get_task(id).await.unwrap().unwrap();
    assert!(task.is_query_over, "a finished listing stays finished");
    assert_eq!(task.checkpoint.as_deref(), Some("k9"));
}

pub async fn test_ledger_page_paging_and_entry_mapping(store: Arc<dyn TaskStore>) {
    let id = create(&store, "paged", NOW).await.id;
    store.transition(id, TaskEvent::Claim, NOW).await.unwrap();
    let keys = ["b", "a", "a/b", "a b", "é", "z", "A", "a//b"];
    let mut outcomes: Vec<ObjectOutcome> = keys.iter().map(|key| succeeded(key, 1)).collect();
    outcomes.push(ObjectOutcome {
        key: "crc".into(),
        size: 7,
        outcome: Outcome::Succeeded {
            verification: Verification::SizeAndMd5,
            crc64: Some(u64::MAX),
            path: CopyPath::Streamed,
        },
    });
    outcomes.push(ObjectOutcome {
        key: "skip".into(),
        size: 8,
        outcome: Outcome::Skipped(SkipReason::OlderThanSince),
    });
    outcomes.push(ObjectOutcome {
        key: "fail".into(),
        size: 9,
        outcome: Outcome::Failed {
            code: FailureCode::SourceNotFound,
            message: "gone".into(),
        },
    });
    store.record_batch(id, &batch(outcomes)).await.unwrap();

    // Bytewise key order, as S3 lists.
    let mut expected: Vec<&str> = keys.to_vec();
    expected.push("crc");
    expected.sort_unstable();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .ledger_page(id, OutcomeKind::Succeeded, after.as_deref(), 3)
            .await
            .unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        seen.extend(page.into_iter().map(|entry| entry.key));
    }
    assert_eq!(seen, expected);
    let tail = store
        .ledger_page(id, OutcomeKind::Succeeded, Some("a b"), 2)
        .await
        .unwrap();
    let tail: Vec<&str> = tail.iter().map(|entry| entry.key.as_str()).collect();
    assert_eq!(
        tail,
        vec!["a//b", "a/b"],
        "strictly after the key, bytewise"
    );
    let none = store
        .ledger_page(id, OutcomeKind::Succeeded, Some("é"), 10)
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(store
        .ledger_page(id, OutcomeKind::Succeeded, None, 0)
        .await
        .unwrap()
        .is_empty());

    let crc = store.ledger_entry(id, "crc").await.unwrap().unwrap();
    assert_eq!(crc.kind, OutcomeKind::Succeeded);
    assert_eq!(crc.detail, Verification::SizeAndMd5.as_str());
    assert_eq!(crc.crc64, Some(u64::MAX), "full u64 range survives");
    assert_eq!((crc.size, crc.message.as_str()), (7, ""));
    let skip = store
        .ledger_page(id, OutcomeKind::Skipped, None, 10)
        .await
        .unwrap();
    assert_eq!(skip.len(), 1);
    assert_eq!(skip[0].detail, SkipReason::OlderThanSince.as_str());
    assert_eq!(skip[0].crc64, None);
    let fail = store
        .ledger_page(id, OutcomeKind::Failed, None, 10)
        .await
        .unwrap();
    assert_eq!(fail.len(), 1);
    assert_eq!(
        (
            fail[0].key.as_str(),
            fail[0].detail.as_str(),
            fail[0].message.as_str()
        ),
        ("fail", "TRF.0012", "gone")
    );
    assert_eq!(store.ledger_entry(id, "missing").await.unwrap(), None);
}
