//! End-of-run notifications: `smn_config` honoured as webhooks.
//!
//! The config maps each SMN `topic_urn` to an HTTP(S) URL (and an optional HMAC secret). When a
//! task that is not part of a group, or a group, has ended — the store has committed the final
//! status — and the end meets one of its `trigger_conditions`, the message is rendered
//! (`render.rs`), stored as a pending record, and delivered by a task of its own with
//! exponential backoff; the outcome is written back and shown as `smn_info`. Nothing here runs
//! inside a store transaction or delays the run's end. A record left pending by a shutdown is
//! delivered again at the next start (at least once: the receiver may see it twice).

mod render;
pub mod sign;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tern_core::{
    DeliveryState, Error, GroupTotals, Notification, NotifySubject, Secret, Task, TaskGroup,
    TaskStatus, TaskStore, TriggerCondition,
};

use self::render::{render_message, EndFacts, ObjectListPaths, SmnSettings, SubjectKind};
use crate::runner::object_list_key;

/// Delivery attempts per message by default.
pub const DEFAULT_ATTEMPTS: u32 = 5;
/// First wait between attempts by default; it doubles (2 + 4 + 8 + 16 s = 30 s for 5 attempts).
pub const DEFAULT_FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// Longest time one POST may take, connection included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest error text kept for `notify_error_message`.
const MAX_ERROR_LEN: usize = 512;

/// One `[[notifications]]` entry: where messages of a topic go.
#[derive(Clone)]
pub struct NotifyTopic {
    /// The `smn_config.topic_urn` this entry serves.
    pub topic_urn: String,
    /// `http://` or `https://` URL the message is POSTed to.
    pub url: url::Url,
    /// HMAC-SHA256 key of `X-Tern-Signature`; no signature without it.
    pub secret: Option<Secret>,
    /// Message templates by `message_template_name`: text with `{Task_Name}`-style keys.
    pub templates: BTreeMap<String, String>,
}

impl std::fmt::Debug for NotifyTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a token in its query; only its origin is shown.
        f.debug_struct("NotifyTopic")
            .field("topic_urn", &self.topic_urn)
            .field("url", &self.url.origin().ascii_serialization())
            .field("secret", &self.secret)
            .field("templates", &self.templates.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl NotifyTopic {
    /// Checks the URL: HTTP(S) only, no user-info (a secret belongs in `secret`).
    pub fn new(
        topic_urn: String,
        url: &str,
        secret: Option<Secret>,
        templates: BTreeMap<String, String>,
    ) -> Result<NotifyTopic, Error> {
        let url = url::Url::parse(url)
            .map_err(|err| Error::invalid("notifications.url", format!("not a URL: {err}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid(
                "notifications.url",
                "must be an http:// or https:// URL",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::invalid(
                "notifications.url",
                "must not carry user-info; put the shared secret in `secret`",
            ));
        }
        if topic_urn.is_empty() {
            return Err(Error::invalid(
                "notifications.topic_urn",
                "must not be empty",
            ));
        }
        Ok(NotifyTopic {
            topic_urn,
            url,
            secret: secret.filter(|secret| !secret.is_empty()),
            templates,
        })
    }
}

/// Notification settings of the scheduler.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Topic mappings; a `topic_urn` not here is refused at create.
    pub topics: Vec<NotifyTopic>,
    /// Delivery attempts per message (at least 1).
    pub attempts: u32,
    /// First wait between attempts; doubles after each.
    pub first_backoff: Duration,
    /// Longest time one POST may take.
    pub request_timeout: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            topics: Vec::new(),
            attempts: DEFAULT_ATTEMPTS,
            first_backoff: DEFAULT_FIRST_BACKOFF,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// Renders, records and delivers notifications.
pub(crate) struct Notifier {
    store: Arc<dyn TaskStore>,
    config: NotifyConfig,
    /// `None` when the HTTP client could not be built; deliveries then fail with that reason.
    client: Result<reqwest::Client, String>,
}

impl Notifier {
    pub(crate) fn new(store: Arc<dyn TaskStore>, config: NotifyConfig) -> Notifier {
        let client = reqwest::Client::builder()
            // Never an ambient proxy (HTTP_PROXY…) or redirect to somewhere the config did not
            // name: the message and its signature go to the configured URL only.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.request_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("tern/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| format!("http client: {err}"));
        Notifier {
            store,
            config,
            client,
        }
    }

    fn topic(&self, topic_urn: &str) -> Option<&NotifyTopic> {
        self.config
            .topics
            .iter()
            .find(|topic| topic.topic_urn == topic_urn)
    }

    /// Refuses an `smn_config` whose topic (or template) the config does not map.
    pub(crate) fn check(&self, topic_urn: &str, template_name: Option<&str>) -> Result<(), Error> {
        let Some(topic) = self.topic(topic_urn) else {
            return Err(Error::invalid(
                "smn_config.topic_urn",
                format!("no [[notifications]] entry of the server config maps topic {topic_urn:?}"),
            ));
        };
        if let Some(name) = template_name {
            if !topic.templates.contains_key(name) {
                return Err(Error::invalid(
                    "smn_config.message_template_name",
                    format!("the topic's [[notifications]] entry defines no template {name:?}"),
                ));
            }
        }
        Ok(())
    }

    /// Notifies a task's committed end when its `smn_config` asks for it. Tasks of a group or
    /// sync task are notified through their owner, never one by one.
    pub(crate) fn task_ended(self: &Arc<Self>, task: &Task, ended_at_ms: i64) {
        if task.spec.group_id.is_some() {
            return;
        }
        let Some(condition) = TriggerCondition::of_task(task.status) else {
            return;
        };
        let in_destination = |key: &str| format!("{}/{key}", task.spec.dst.bucket);
        // The lists are written when the engine finished every object: a success, or a failure
        // that has a failed-object record. A run-fatal failure writes none.
        let lists_written =
            task.status == TaskStatus::Succeeded || task.failed_object_record.is_some();
        let list_paths = ObjectListPaths {
            success: if lists_written {
                in_destination(&object_list_key(task.id, "success"))
            } else {
                String::new()
            },
            skip: if lists_written {
                in_destination(&object_list_key(task.id, "skip"))
            } else {
                String::new()
            },
            failed: task
                .failed_object_record
                .as_ref()
                .filter(|record| record.result && !record.list_file_key.is_empty())
                .map(|record| in_destination(&record.list_file_key))
                .unwrap_or_default(),
        };
        let facts = EndFacts {
            kind: SubjectKind::Task,
            id: task.id.0.to_string(),
            name: task.name.clone(),
            status_code: task.status.code(),
            condition,
            start_time_ms: task.start_time_ms.unwrap_or(task.created_at_ms),
            total_time_ms: task.total_time_ms,
            counters: task.counters,
            source_bucket: task.spec.src.bucket.clone(),
            destination_bucket: task.spec.dst.bucket.clone(),
            list_file: task
                .spec
                .src
                .list_file
                .as_ref()
                .map(|file| (file.bucket.clone(), file.key.clone())),
            list_paths,
            ended_at_ms,
        };
        self.ended(NotifySubject::Task(task.id), &task.spec.echo_json, facts);
    }

    /// Notifies a group's committed end when its `smn_config` asks for it.
    pub(crate) fn group_ended(
        self: &Arc<Self>,
        group: &TaskGroup,
        totals: &GroupTotals,
        ended_at_ms: i64,
    ) {
        let Some(condition) = TriggerCondition::of_group(group.status) else {
            return;
        };
        let start_time_ms = group.start_time_ms.unwrap_or(group.created_at_ms);
        let facts = EndFacts {
            kind: SubjectKind::Group,
            id: group.id.0.clone(),
            name: group.id.0.clone(),
            status_code: group.status.code(),
            condition,
            start_time_ms,
            // Wall time from the first split to the end: the tasks' times overlap.
            total_time_ms: ended_at_ms.saturating_sub(start_time_ms).max(0),
            counters: totals.counters,
            source_bucket: group.spec.src.bucket.clone(),
            destination_bucket: group.spec.dst.bucket.clone(),
            list_file: group
                .spec
                .src
                .list_file
                .as_ref()
                .map(|file| (file.bucket.clone(), file.key.clone())),
            list_paths: ObjectListPaths::default(),
            ended_at_ms,
        };
        self.ended(
            NotifySubject::Group(group.id.clone()),
            &group.spec.echo_json,
            facts,
        );
    }

    fn ended(self: &Arc<Self>, subject: NotifySubject, echo_json: &str, facts: EndFacts) {
        let Some(smn) = SmnSettings::from_echo_json(echo_json) else {
            return;
        };
        if !smn.wants(facts.condition) {
            return;
        }
        let template = smn.message_template_name.as_deref().and_then(|name| {
            self.topic(&smn.topic_urn)
                .and_then(|topic| topic.templates.get(name).cloned())
        });
        let (state, error_message, body) = match render_message(&smn, template.as_deref(), &facts) {
            Ok(body) => (DeliveryState::Pending, String::new(), body),
            Err(err) => (
                DeliveryState::Failed,
                format!("rendering the message failed: {err}"),
                String::new(),
            ),
        };
        let record = Notification {
            subject,
            ended_at_ms: facts.ended_at_ms,
            topic_urn: smn.topic_urn,
            body,
            state,
            error_message,
            attempts: 0,
        };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(err) = this.store.put_notification(&record).await {
                tracing::warn!(subject = ?record.subject, error = %err, "notification not recorded");
                return;
            }
            if record.state == DeliveryState::Pending {
                this.deliver(record).await;
            }
        });
    }

    /// Delivers every record a previous process left pending.
    pub(crate) async fn resume_pending(self: &Arc<Self>) {
        let pending = match self.store.pending_notifications().await {
            Ok(pending) => pending,
            Err(err) => {
                tracing::warn!(error = %err, "reading pending notifications failed");
                return;
            }
        };
        for record in pending {
            tracing::info!(subject = ?record.subject, "delivering a notification left pending");
            let this = Arc::clone(self);
            tokio::spawn(async move { this.deliver(record).await });
        }
    }

    /// POSTs the record until the receiver answers 2xx or the attempts run out, then writes
    /// the outcome.
    async fn deliver(&self, record: Notification) {
        let attempts = self.config.attempts.max(1);
        let mut backoff = self.config.first_backoff;
        let mut made = record.attempts;
        let mut last_error = String::new();
        let mut delivered = false;
        for attempt in 1..=attempts {
            made = made.saturating_add(1);
            match self.post(&record).await {
                Ok(()) => {
                    delivered = true;
                    break;
                }
                Err(err) => {
                    tracing::warn!(subject = ?record.subject, topic_urn = %record.topic_urn, attempt, error = %err, "notification not delivered");
                    last_error = err;
                }
            }
            if attempt < attempts {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
        }
        let (state, error_message) = if delivered {
            tracing::info!(subject = ?record.subject, topic_urn = %record.topic_urn, attempts = made, "notification delivered");
            (DeliveryState::Delivered, String::new())
        } else {
            let mut message = format!("{last_error} (after {attempts} attempts)");
            truncate_at_char(&mut message, MAX_ERROR_LEN);
            (DeliveryState::Failed, message)
        };
        if let Err(err) = self
            .store
            .record_notification_outcome(
                &record.subject,
                record.ended_at_ms,
                state,
                &error_message,
                made,
            )
            .await
        {
            tracing::warn!(subject = ?record.subject, error = %err, "notification outcome not recorded");
        }
    }

    /// One POST; the error text never holds the URL (its query may carry a token).
    async fn post(&self, record: &Notification) -> Result<(), String> {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let topic = self
            .topic(&record.topic_urn)
            .ok_or_else(|| "the topic is no longer mapped by the server config".to_owned())?;
        let timestamp_s = crate::now_ms() / 1000;
        let mut request = client
            .post(topic.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(sign::TIMESTAMP_HEADER, timestamp_s.to_string())
            .body(record.body.clone());
        if let Some(secret) = &topic.secret {
            request = request.header(
                sign::SIGNATURE_HEADER,
                sign::signature(
                    secret.expose().as_bytes(),
                    timestamp_s,
                    record.body.as_bytes(),
                ),
            );
        }
        let response = request
            .send()
            .await
            .map_err(|err| describe_send_error(err.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("receiver answered HTTP {status}"))
        }
    }
}

/// The send error with its causes ("error sending request" alone says nothing).
fn describe_send_error(err: reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn test_topic_url_rules_and_redacted_debug() {
        let topic = NotifyTopic::new(
            "urn:smn:r:p:t".into(),
            "https://hooks.example/tern?token=abc",
            Some(Secret::new("hush-hush")),
            BTreeMap::new(),
        )
        .unwrap();
        let debug = format!("{topic:?}");
        assert!(!debug.contains("hush-hush"), "{debug}");
        assert!(!debug.contains("token=abc"), "{debug}");
        for bad in ["ftp://x/", "http://user:pw@x/", "not a url"] {
            assert!(
                NotifyTopic::new("urn".into(), bad, None, BTreeMap::new()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn test_truncate_keeps_char_boundaries() {
        let mut text = "错误".repeat(10);
        truncate_at_char(&mut text, 7);
        assert_eq!(text, "错误");
    }
}
