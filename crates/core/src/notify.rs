//! Notifications of a task's or group's end (OMS `smn_config` / `smn_info`): which ends trigger
//! one, and the durable record of each message and how its delivery went.

use crate::group::{GroupId, GroupStatus};
use crate::task::{TaskId, TaskStatus};

/// A `trigger_conditions` value of `smn_config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerCondition {
    /// The task succeeded (5) or the group completed (6).
    Success,
    /// The task failed (4), or the group's creation (4) or migration (5) failed.
    Failure,
}

impl TriggerCondition {
    /// The OMS word.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerCondition::Success => "SUCCESS",
            TriggerCondition::Failure => "FAILURE",
        }
    }

    /// Parses the OMS word.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "SUCCESS" => Some(TriggerCondition::Success),
            "FAILURE" => Some(TriggerCondition::Failure),
            _ => None,
        }
    }

    /// The condition a task's status meets; `None` while the task has not ended (a stop is
    /// not an end: the task can be started again).
    pub fn of_task(status: TaskStatus) -> Option<Self> {
        match status {
            TaskStatus::Succeeded => Some(TriggerCondition::Success),
            TaskStatus::Failed => Some(TriggerCondition::Failure),
            _ => None,
        }
    }

    /// The condition a group's status meets; `None` while the group has not ended.
    pub fn of_group(status: GroupStatus) -> Option<Self> {
        match status {
            GroupStatus::Completed => Some(TriggerCondition::Success),
            GroupStatus::CreationFailed | GroupStatus::MigrationFailed => {
                Some(TriggerCondition::Failure)
            }
            _ => None,
        }
    }
}

/// What a notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NotifySubject {
    /// A task that is not part of a group.
    Task(TaskId),
    /// A task group.
    Group(GroupId),
}

/// Where a notification's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet delivered and not given up: a restart delivers it again.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl DeliveryState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses the stored word.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// One end's notification: the exact message, so a redelivery after a restart sends the same
/// bytes, and the outcome reported in `smn_info`. A subject keeps only its latest end's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Task or group.
    pub subject: NotifySubject,
    /// When the subject ended, Unix ms; tells one end's record from the next one's.
    pub ended_at_ms: i64,
    /// `smn_config.topic_urn`.
    pub topic_urn: String,
    /// The JSON message.
    pub body: String,
    /// Delivery state.
    pub state: DeliveryState,
    /// Why the last attempt failed ("" once delivered).
    pub error_message: String,
    /// Attempts made so far.
    pub attempts: u32,
}

impl Notification {
    /// The SMN topic name: the last `:`-separated part of the URN
    /// (`urn:smn:<region>:<project>:<topic>`).
    pub fn topic_name(&self) -> &str {
        self.topic_urn
            .rsplit(':')
            .next()
            .unwrap_or(self.topic_urn.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_trigger_conditions_of_final_statuses_only() {
        assert_eq!(
            TriggerCondition::of_task(TaskStatus::Succeeded),
            Some(TriggerCondition::Success)
        );
        assert_eq!(
            TriggerCondition::of_task(TaskStatus::Failed),
            Some(TriggerCondition::Failure)
        );
        assert_eq!(TriggerCondition::of_task(TaskStatus::Paused), None);
        assert_eq!(
            TriggerCondition::of_group(GroupStatus::CreationFailed),
            Some(TriggerCondition::Failure)
        );
        assert_eq!(
            TriggerCondition::of_group(GroupStatus::Completed),
            Some(TriggerCondition::Success)
        );
        assert_eq!(TriggerCondition::of_group(GroupStatus::Monitoring), None);
        assert_eq!(
            TriggerCondition::parse("SUCCESS").map(TriggerCondition::as_str),
            Some("SUCCESS")
        );
        assert_eq!(TriggerCondition::parse("DONE"), None);
    }

    #[test]
    fn test_topic_name_is_the_urn_tail() {
        let record = Notification {
            subject: NotifySubject::Task(TaskId(1)),
            ended_at_ms: 0,
            topic_urn: "urn:smn:cn-north-4:p1:ops".into(),
            body: String::new(),
            state: DeliveryState::Pending,
            error_message: String::new(),
            attempts: 0,
        };
        assert_eq!(record.topic_name(), "ops");
    }
}
