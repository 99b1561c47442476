//! Renders the JSON message of an end: the SMN template keys of REFERENCE.md ("SMN
//! notification"), the human text in the task's language (or the named template), counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tern_core::{Counters, TriggerCondition};

/// `smn_config` as the server keeps it in `echo_json` (OMS field names; the server validated
/// it at create, so an unreadable echo simply means no notification).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct SmnSettings {
    /// `zh-cn` or `en-us` (default `en-us`).
    pub language: Option<String>,
    /// Topic URN, mapped to a webhook by the config.
    pub topic_urn: String,
    /// `SUCCESS` and/or `FAILURE`.
    pub trigger_conditions: Vec<String>,
    /// A template of the topic's config.
    pub message_template_name: Option<String>,
}

#[derive(Deserialize)]
struct EchoWithSmn {
    smn_config: Option<SmnSettings>,
}

impl SmnSettings {
    /// Reads `smn_config` out of a task's or group's `echo_json`.
    pub(crate) fn from_echo_json(echo_json: &str) -> Option<SmnSettings> {
        serde_json::from_str::<EchoWithSmn>(echo_json)
            .ok()
            .and_then(|echo| echo.smn_config)
    }

    /// Tells whether an end meeting `condition` is to be notified.
    pub(crate) fn wants(&self, condition: TriggerCondition) -> bool {
        self.trigger_conditions
            .iter()
            .any(|value| TriggerCondition::parse(value) == Some(condition))
    }

    fn chinese(&self) -> bool {
        self.language.as_deref() == Some("zh-cn")
    }
}

/// Whether the subject is a task or a group (words of the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubjectKind {
    /// A migration task.
    Task,
    /// A task group.
    Group,
}

/// What the message says about one end.
#[derive(Debug, Clone)]
pub(crate) struct EndFacts {
    /// Task or group.
    pub kind: SubjectKind,
    /// Task id or group id, as text.
    pub id: String,
    /// Task name (the group id for groups, which have no name).
    pub name: String,
    /// OMS status code after the end.
    pub status_code: i32,
    /// SUCCESS or FAILURE.
    pub condition: TriggerCondition,
    /// Start, Unix ms.
    pub start_time_ms: i64,
    /// Time spent, ms.
    pub total_time_ms: i64,
    /// Counters at the end.
    pub counters: Counters,
    /// Source bucket.
    pub source_bucket: String,
    /// Destination bucket.
    pub destination_bucket: String,
    /// List file (bucket, key) of list tasks.
    pub list_file: Option<(String, String)>,
    /// `<destination bucket>/<key>` of the success, skip and failed lists, where written.
    pub list_paths: ObjectListPaths,
    /// When it ended, Unix ms.
    pub ended_at_ms: i64,
}

/// `<destination bucket>/<key>` of each object list the run wrote ("" when none).
#[derive(Debug, Clone, Default)]
pub(crate) struct ObjectListPaths {
    /// Succeeded objects.
    pub success: String,
    /// Skipped objects.
    pub skip: String,
    /// Failed objects.
    pub failed: String,
}

/// The template keys REFERENCE.md names, in its order.
pub(crate) const TEMPLATE_KEYS: [&str; 13] = [
    "Task_Status",
    "Task_Name",
    "Start_Time",
    "Total_Time_Used",
    "Transferred_Data",
    "Average_Speed",
    "Source_Bucket",
    "Destination_Bucket",
    "List_File_Bucket",
    "List_File_Key",
    "Success_object_list_path",
    "Skip_object_list_path",
    "Failed_object_list_path",
];

#[derive(Serialize)]
struct MessageCounters {
    total_num: u64,
    successful_num: u64,
    skipped_num: u64,
    failed_num: u64,
    total_size: u64,
    complete_size: u64,
    total_time: i64,
}

/// The POSTed JSON; field names are documented in README.md ("Notifications").
#[derive(Serialize)]
struct MessageBody<'a> {
    topic_urn: &'a str,
    language: &'a str,
    message_template_name: Option<&'a str>,
    trigger_condition: &'static str,
    resource_type: &'static str,
    resource_id: &'a str,
    status: i32,
    subject: String,
    message: String,
    template_keys: BTreeMap<&'static str, String>,
    counters: MessageCounters,
    ended_at: i64,
}

/// Renders the message body. `template` is the text of `message_template_name` from the
/// topic's config: `{Key}` placeholders of [`TEMPLATE_KEYS`] are replaced, other text kept.
pub(crate) fn render_message(
    smn: &SmnSettings,
    template: Option<&str>,
    facts: &EndFacts,
) -> Result<String, serde_json::Error> {
    let chinese = smn.chinese();
    let keys = template_keys(facts, chinese);
    let message = match template {
        Some(text) => fill_template(text, &keys),
        None => default_text(facts, &keys, chinese),
    };
    let body = MessageBody {
        topic_urn: &smn.topic_urn,
        language: if chinese { "zh-cn" } else { "en-us" },
        message_template_name: smn.message_template_name.as_deref(),
        trigger_condition: facts.condition.as_str(),
        resource_type: match facts.kind {
            SubjectKind::Task => "task",
            SubjectKind::Group => "task_group",
        },
        resource_id: &facts.id,
        status: facts.status_code,
        subject: subject_line(facts, &keys, chinese),
        message,
        counters: MessageCounters {
            total_num: facts.counters.total_num,
            successful_num: facts.counters.successful_num,
            skipped_num: facts.counters.skipped_num,
            failed_num: facts.counters.failed_num,
            total_size: facts.counters.total_size,
            complete_size: facts.counters.successful_size,
            total_time: facts.total_time_ms,
        },
        template_keys: keys,
        ended_at: facts.ended_at_ms,
    };
    serde_json::to_string(&body)
}

fn template_keys(facts: &EndFacts, chinese: bool) -> BTreeMap<&'static str, String> {
    let status = match (facts.condition, chinese) {
        (TriggerCondition::Success, false) => "Succeeded",
        (TriggerCondition::Failure, false) => "Failed",
        (TriggerCondition::Success, true) => "成功",
        (TriggerCondition::Failure, true) => "失败",
    };
    let seconds = facts.total_time_ms.max(0) as f64 / 1000.0;
    let speed = if seconds > 0.0 {
        facts.counters.successful_size as f64 / seconds
    } else {
        0.0
    };
    let (list_bucket, list_key) = facts.list_file.clone().unwrap_or_default();
    let values = [
        status.to_owned(),
        facts.name.clone(),
        format_time(facts.start_time_ms),
        format_duration(facts.total_time_ms, chinese),
        format_bytes(facts.counters.successful_size as f64),
        format!("{}/s", format_bytes(speed)),
        facts.source_bucket.clone(),
        facts.destination_bucket.clone(),
        list_bucket,
        list_key,
        facts.list_paths.success.clone(),
        facts.list_paths.skip.clone(),
        facts.list_paths.failed.clone(),
    ];
    TEMPLATE_KEYS.into_iter().zip(values).collect()
}

fn fill_template(text: &str, keys: &BTreeMap<&'static str, String>) -> String {
    let mut out = text.to_owned();
    for (key, value) in keys {
        out = out.replace(&format!("{{{key}}}"), value);
    }
    out
}

fn subject_line(facts: &EndFacts, keys: &BTreeMap<&'static str, String>, chinese: bool) -> String {
    let status = &keys["Task_Status"];
    match (facts.kind, chinese) {
        (SubjectKind::Task, false) => format!("OMS migration task {} {}", facts.name, status),
        (SubjectKind::Group, false) => format!("OMS task group {} {}", facts.name, status),
        (SubjectKind::Task, true) => format!("OMS迁移任务 {} {}", facts.name, status),
        (SubjectKind::Group, true) => format!("OMS迁移任务组 {} {}", facts.name, status),
    }
}

fn default_text(facts: &EndFacts, keys: &BTreeMap<&'static str, String>, chinese: bool) -> String {
    let counters = &facts.counters;
    let key = |name: &str| keys.get(name).map(String::as_str).unwrap_or_default();
    if chinese {
        format!(
            "{}。共 {} 个对象：成功 {} 个，跳过 {} 个，失败 {} 个。从 {} 迁移到 {}，开始时间 {}，用时 {}，传输 {}，平均速度 {}。",
            subject_line(facts, keys, true),
            counters.total_num,
            counters.successful_num,
            counters.skipped_num,
            counters.failed_num,
            key("Source_Bucket"),
            key("Destination_Bucket"),
            key("Start_Time"),
            key("Total_Time_Used"),
            key("Transferred_Data"),
            key("Average_Speed"),
        )
    } else {
        format!(
            "{}. {} objects: {} succeeded, {} skipped, {} failed. From {} to {}, started {}, took {}, transferred {} at {}.",
            subject_line(facts, keys, false),
            counters.total_num,
            counters.successful_num,
            counters.skipped_num,
            counters.failed_num,
            key("Source_Bucket"),
            key("Destination_Bucket"),
            key("Start_Time"),
            key("Total_Time_Used"),
            key("Transferred_Data"),
            key("Average_Speed"),
        )
    }
}

/// `2026-12-03 10:40:00 UTC`.
pub(crate) fn format_time(unix_ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&format).ok())
        .unwrap_or_default()
}

/// `1h 2m 3s` / `1小时2分3秒`; whole seconds, leading zero units left out.
pub(crate) fn format_duration(ms: i64, chinese: bool) -> String {
    let total = ms.max(0) / 1000;
    let (hours, minutes, seconds) = (total / 3600, total / 60 % 60, total % 60);
    let units = if chinese {
        ["小时", "分", "秒"]
    } else {
        ["h ", "m ", "s"]
    };
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}{}", units[0]));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}{}", units[1]));
    }
    out.push_str(&format!("{seconds}{}", units[2]));
    out
}

/// `512 B`, `1.50 KB`, `2.00 GB` (units of 1024, as the OMS console shows sizes).
pub(crate) fn format_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if bytes < 1024.0 {
        return format!("{} B", bytes.round() as u64);
    }
    let mut value = bytes / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn facts() -> EndFacts {
        EndFacts {
            kind: SubjectKind::Task,
            id: "42".into(),
            name: "task-42".into(),
            status_code: 5,
            condition: TriggerCondition::Success,
            start_time_ms: 1_764_758_400_000,
            total_time_ms: 3_723_000,
            counters: Counters {
                total_num: 10,
                successful_num: 7,
                skipped_num: 2,
                failed_num: 1,
                total_size: 4096,
                successful_size: 3 * 1024 * 1024,
                skipped_size: 0,
                failed_size: 0,
            },
            source_bucket: "src".into(),
            destination_bucket: "dst".into(),
            list_file: None,
            list_paths: ObjectListPaths {
                failed: "dst/oms/failed.txt".into(),
                ..ObjectListPaths::default()
            },
            ended_at_ms: 1_764_762_123_000,
        }
    }

    fn smn(language: Option<&str>, template: Option<&str>) -> SmnSettings {
        SmnSettings {
            language: language.map(str::to_owned),
            topic_urn: "urn:smn:r:p:ops".into(),
            trigger_conditions: vec!["SUCCESS".into()],
            message_template_name: template.map(str::to_owned),
        }
    }

    #[test]
    fn test_render_message_has_every_template_key_and_counters() {
        let body = render_message(&smn(None, None), None, &facts()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let keys = json["template_keys"].as_object().unwrap();
        assert_eq!(keys.len(), TEMPLATE_KEYS.len());
        assert_eq!(keys["Task_Status"], "Succeeded");
        assert_eq!(keys["Task_Name"], "task-42");
        assert_eq!(keys["Start_Time"], "2025-12-03 10:40:00 UTC");
        assert_eq!(keys["Total_Time_Used"], "1h 2m 3s");
        assert_eq!(keys["Transferred_Data"], "3.00 MB");
        assert_eq!(keys["Failed_object_list_path"], "dst/oms/failed.txt");
        assert_eq!(keys["List_File_Key"], "");
        assert_eq!(json["counters"]["successful_num"], 7);
        assert_eq!(json["counters"]["complete_size"], 3 * 1024 * 1024);
        assert_eq!(json["language"], "en-us");
        assert_eq!(json["trigger_condition"], "SUCCESS");
        let message = json["message"].as_str().unwrap();
        assert!(
            message.contains("7 succeeded, 2 skipped, 1 failed"),
            "{message}"
        );
    }

    #[test]
    fn test_render_message_in_chinese_and_from_a_template() {
        let body = render_message(&smn(Some("zh-cn"), None), None, &facts()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["template_keys"]["Task_Status"], "成功");
        assert_eq!(json["template_keys"]["Total_Time_Used"], "1小时2分3秒");
        assert!(json["message"].as_str().unwrap().contains("成功 7 个"));

        let template = "{Task_Name} is {Task_Status}; {Unknown} stays";
        let body = render_message(&smn(None, Some("short")), Some(template), &facts()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["message"], "task-42 is Succeeded; {Unknown} stays");
        assert_eq!(json["message_template_name"], "short");
    }

    #[test]
    fn test_trigger_conditions_and_echo_parsing() {
        let echo =
            r#"{"smn_config":{"topic_urn":"urn:smn:r:p:t","trigger_conditions":["FAILURE"]}}"#;
        let settings = SmnSettings::from_echo_json(echo).unwrap();
        assert!(settings.wants(TriggerCondition::Failure));
        assert!(!settings.wants(TriggerCondition::Success));
        assert!(SmnSettings::from_echo_json("{}").is_none());
        assert!(SmnSettings::from_echo_json("").is_none());
    }

    #[test]
    fn test_formatting_helpers() {
        assert_eq!(format_bytes(512.0), "512 B");
        assert_eq!(format_bytes(1536.0), "1.50 KB");
        assert_eq!(format_duration(59_999, false), "59s");
        assert_eq!(format_duration(61_000, false), "1m 1s");
    }
}
