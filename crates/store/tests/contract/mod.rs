//! The `TaskStore` contract, written once against `Arc<dyn TaskStore>` so every backend runs
//! the same suite: `contract_tests!(factory)` expands to one `#[tokio::test]` per function,
//! each on a fresh store from `factory() -> (guard, Arc<dyn TaskStore>)`.

mod group_life;
mod group_tasks;
mod groups;
mod helpers;
mod leases;
mod ledger;
mod lifecycle;
mod notify;
mod part_journal;
mod records;
#[macro_use]
pub mod sync;

pub use group_life::*;
pub use group_tasks::*;
pub use groups::*;
pub use helpers::*;
pub use leases::*;
pub use ledger::*;
pub use lifecycle::*;
pub use notify::*;
pub use part_journal::*;
pub use records::*;

/// Expands to one test per contract function, each on a fresh store from `$factory`.
macro_rules! contract_tests {
    ($factory:path) => {
        contract_tests!(@each $factory;
            test_create_get_and_list,
            test_spec_round_trips_every_field,
            test_every_event_from_every_status_follows_apply,
            test_claim_order_and_start_time,
            test_concurrent_claims_take_each_task_once,
            test_concurrent_stops_let_one_win,
            test_secrets_round_trip_and_are_erased,
            test_start_task_resets_the_run,
            test_delete_refused_while_busy,
            test_updates_and_unknown_ids,
            test_finish_run_writes_status_reason_record_and_time_together,
            test_start_is_decided_by_core,
            test_check_only_events_follow_apply,
            test_tokens_and_credentials_round_trip,
            test_privacy_agreement_records_the_latest_acceptance,
            test_record_batch_counters_equal_ledger,
            test_record_batch_of_thousands_of_keys_matches_the_rule,
            test_record_batch_progress_fields,
            test_ledger_page_paging_and_entry_mapping,
            test_group_create_get_and_list,
            test_group_every_event_from_every_status_follows_apply,
            test_group_start_time_and_secrets,
            test_group_updates_and_unknown_ids,
            test_group_spec_and_key_ranges_round_trip,
            test_create_group_task_only_while_creating,
            test_group_totals_sum_the_tasks,
            test_delete_group_refused_while_a_task_is_busy,
            test_group_operations_move_the_group_and_its_tasks_together,
            test_settle_group_follows_core,
            test_group_failure_paths_record_the_reason,
            test_notification_records_follow_their_subject,
            test_a_takeover_fences_the_old_run_out,
            test_renewal_keeps_the_task_and_carries_stops,
            test_orphaned_stops_and_own_runs_come_back,
            test_one_node_splits_a_group_at_a_time,
            test_part_journal_records_and_reloads_an_upload,
            test_part_journal_a_new_upload_replaces_the_old_and_its_late_parts,
            test_part_journal_rows_go_with_the_deleted_task,
        );
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_guard, store) = $factory().await;
                contract::$name(store).await;
            }
        )*
    };
}
