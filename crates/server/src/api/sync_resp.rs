//! Sync-task responses (`CreateSyncTaskResponse`, `SyncTaskInfo`, `ShowSyncTaskResponse`,
//! `ListSyncTaskStatisticResponse`) built from core types.

use serde::{Deserialize, Serialize};
use tern_core::{StatBucket, StatType, SyncCounts, SyncTask};
use utoipa::ToSchema;

/// `create_sync_task` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateSyncTaskResponse {
    /// The new sync task's id.
    pub sync_task_id: String,
}

/// One sync task in `list_sync_tasks`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncTaskInfo {
    /// Id.
    pub sync_task_id: String,
    /// Source vendor.
    pub src_cloud_type: String,
    /// Source region.
    pub src_region: String,
    /// Source bucket.
    pub src_bucket: String,
    /// Creation time, Unix ms.
    pub create_time: i64,
    /// Last start, Unix ms.
    pub last_start_time: i64,
    /// Destination bucket.
    pub dst_bucket: String,
    /// Destination region.
    pub dst_region: String,
    /// Free text.
    pub description: String,
    /// `SYNCHRONIZING` or `STOPPED`.
    pub status: String,
    /// Copy user metadata.
    pub enable_metadata_migration: bool,
    /// Restore archived objects first.
    pub enable_restore: bool,
    /// Tencent APPID ("" when none).
    pub app_id: String,
    /// Overwrite rule.
    pub object_overwrite_mode: String,
    /// Destination storage class.
    pub dst_storage_policy: String,
    /// Consistency check (`no_check` where the request said `transmission`).
    pub consistency_check: String,
}

impl SyncTaskInfo {
    /// The wire form of a sync task.
    pub fn from_task(task: &SyncTask) -> Self {
        let spec = &task.spec;
        SyncTaskInfo {
            sync_task_id: task.id.0.clone(),
            src_cloud_type: spec.src_cloud_type.as_str().to_owned(),
            src_region: spec.src_region.clone(),
            src_bucket: spec.src_bucket.clone(),
            create_time: task.created_at_ms,
            last_start_time: task.last_start_ms,
            dst_bucket: spec.dst_bucket.clone(),
            dst_region: spec.dst_region.clone(),
            description: spec.description.clone(),
            status: task.status.as_str().to_owned(),
            enable_metadata_migration: spec.enable_metadata_migration,
            enable_restore: spec.enable_restore,
            app_id: spec.app_id.clone().unwrap_or_default(),
            object_overwrite_mode: spec.object_overwrite_mode.as_str().to_owned(),
            dst_storage_policy: spec.dst_storage_policy.clone(),
            consistency_check: spec.consistency_check.as_str().to_owned(),
        }
    }
}

/// `list_sync_tasks` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListSyncTasksResponse {
    /// The page.
    pub tasks: Vec<SyncTaskInfo>,
    /// Every matching task, not the page size.
    pub count: i64,
}

/// `show_sync_task` answer: the task and its counters for the month of `query_time`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShowSyncTaskResponse {
    /// The task.
    #[serde(flatten)]
    pub info: SyncTaskInfo,
    /// Events accepted this month.
    pub monthly_acceptance_request: i64,
    /// Objects copied this month.
    pub monthly_success_object: i64,
    /// Objects failed this month.
    pub monthly_failure_object: i64,
    /// Objects skipped this month.
    pub monthly_skip_object: i64,
    /// Bytes copied this month.
    pub monthly_size: i64,
}

impl ShowSyncTaskResponse {
    /// The task with the month's sums.
    pub fn from_task(task: &SyncTask, month: &SyncCounts) -> Self {
        let wide = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        ShowSyncTaskResponse {
            info: SyncTaskInfo::from_task(task),
            monthly_acceptance_request: wide(month.request),
            monthly_success_object: wide(month.success),
            monthly_failure_object: wide(month.failure),
            monthly_skip_object: wide(month.skip),
            monthly_size: wide(month.size),
        }
    }
}

/// `list_sync_task_statistic` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ListSyncTaskStatisticResponse {
    /// The task.
    pub sync_task_id: String,
    /// `FIVE_MINUTES` or `ONE_HOUR`.
    pub statistic_time_type: String,
    /// One series per requested type.
    pub statistic_datas: Vec<StatisticTypeData>,
}

/// One series.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatisticTypeData {
    /// `REQUEST`, `SUCCESS`, `FAILURE`, `SKIP` or `SIZE`.
    pub data_type: String,
    /// Points in time order.
    pub data: Vec<StatisticData>,
}

/// One point.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatisticData {
    /// Bucket start, Unix ms.
    pub time_stamp: i64,
    /// The bucket's value.
    pub statistic_num: i64,
}

/// Builds dense series: one point per `width_ms` bucket from the one holding `start_ms` to the
/// one holding `end_ms`, each the sum of the five-minute buckets inside it.
pub fn statistic_series(
    types: &[StatType],
    buckets: &[StatBucket],
    start_ms: i64,
    end_ms: i64,
    width_ms: i64,
) -> Vec<StatisticTypeData> {
    let first = start_ms.div_euclid(width_ms) * width_ms;
    let last = end_ms.div_euclid(width_ms) * width_ms;
    let points = usize::try_from((last - first) / width_ms + 1).unwrap_or(0);
    let mut sums = vec![SyncCounts::default(); points];
    for bucket in buckets {
        let at = bucket.start_ms.div_euclid(width_ms) * width_ms;
        if (first..=last).contains(&at) {
            if let Some(sum) = usize::try_from((at - first) / width_ms)
                .ok()
                .and_then(|index| sums.get_mut(index))
            {
                sum.add(&bucket.counts);
            }
        }
    }
    types
        .iter()
        .map(|kind| StatisticTypeData {
            data_type: kind.as_str().to_owned(),
            data: sums
                .iter()
                .enumerate()
                .map(|(index, sum)| StatisticData {
                    time_stamp: first + width_ms * index as i64,
                    statistic_num: i64::try_from(kind.pick(sum)).unwrap_or(i64::MAX),
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_series_sum_five_minute_buckets_into_hours() {
        let five = tern_core::STAT_BUCKET_MS;
        let hour = tern_core::HOUR_MS;
        let counts = |request| SyncCounts {
            request,
            ..SyncCounts::default()
        };
        let buckets = [
            StatBucket {
                start_ms: 0,
                counts: counts(1),
            },
            StatBucket {
                start_ms: 11 * five,
                counts: counts(2),
            },
            StatBucket {
                start_ms: hour,
                counts: counts(4),
            },
        ];
        let series = statistic_series(&[StatType::Request], &buckets, 10, hour + 5, hour);
        let points: Vec<(i64, i64)> = series[0]
            .data
            .iter()
            .map(|p| (p.time_stamp, p.statistic_num))
            .collect();
        assert_eq!(points, vec![(0, 3), (hour, 4)]);
        let fine = statistic_series(&[StatType::Request], &buckets, 0, 2 * five - 1, five);
        assert_eq!(fine[0].data.len(), 2);
        assert_eq!(fine[0].data[0].statistic_num, 1);
    }
}
