//! `smn_config` honoured as webhooks, through `app(state).oneshot(..)`: a topic (or template)
//! the config does not map is refused at create with a 400 naming the field, a mapped one is
//! accepted, and `show_task` / `list_tasks` report the stored delivery outcome as `smn_info`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on any setup error"
)]

mod common;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use tern_core::{DeliveryState, Notification, NotifySubject, TaskId};
use tern_scheduler::notify::{NotifyConfig, NotifyTopic};
use tern_scheduler::SchedulerConfig;

use common::{assert_names, group_body, task_body, TestApp, PROJECT};

const MAPPED_TOPIC: &str = "urn:smn:cn-north-4:p:ops";

async fn app_with_topic() -> TestApp {
    let topic = NotifyTopic::new(
        MAPPED_TOPIC.into(),
        "http://127.0.0.1:9/hook",
        None,
        BTreeMap::from([("short".to_owned(), "{Task_Name}".to_owned())]),
    )
    .unwrap();
    TestApp::with_scheduler_config(SchedulerConfig {
        notify: NotifyConfig {
            topics: vec![topic],
            ..NotifyConfig::default()
        },
        ..SchedulerConfig::default()
    })
    .await
}

async fn show(test: &TestApp, id: TaskId) -> Value {
    let uri = format!("/v2/{PROJECT}/tasks/{}", id.0);
    test.ok(Method::GET, &uri, &Value::Null).await
}

fn with_smn(mut body: Value, smn: Value) -> Value {
    body["smn_config"] = smn;
    body
}

#[tokio::test]
async fn test_unmapped_topic_or_template_is_refused_at_create() {
    let test = app_with_topic().await;
    let unmapped =
        json!({"topic_urn": "urn:smn:cn-north-4:p:nobody", "trigger_conditions": ["SUCCESS"]});
    for (uri, body) in [
        (format!("/v2/{PROJECT}/tasks"), task_body("b1")),
        (format!("/v2/{PROJECT}/taskgroups"), group_body()),
    ] {
        let refusal = test
            .refused_with(
                Method::POST,
                &uri,
                &with_smn(body.clone(), unmapped.clone()),
                StatusCode::BAD_REQUEST,
                "OMS.0001",
            )
            .await;
        assert_names(&refusal, "OMS.0001", "smn_config.topic_urn");
        let unknown_template = json!({"topic_urn": MAPPED_TOPIC, "trigger_conditions": ["SUCCESS"],
                                      "message_template_name": "long"});
        let refusal = test
            .refused_with(
                Method::POST,
                &uri,
                &with_smn(body, unknown_template),
                StatusCode::BAD_REQUEST,
                "OMS.0001",
            )
            .await;
        assert_names(&refusal, "OMS.0001", "smn_config.message_template_name");
    }
    // Nothing was created by the refusals.
    let (tasks, count) = test
        .store
        .list_tasks(PROJECT, &Default::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!((tasks.len(), count), (0, 0));
    let (_, groups) = test.store.list_groups(PROJECT, None, 0, 10).await.unwrap();
    assert_eq!(groups, 0);

    // Without any [[notifications]], every smn_config is refused.
    let bare = TestApp::new().await;
    let mapped = json!({"topic_urn": MAPPED_TOPIC, "trigger_conditions": ["FAILURE"]});
    let refusal = bare
        .refused_with(
            Method::POST,
            &format!("/v2/{PROJECT}/tasks"),
            &with_smn(task_body("b1"), mapped),
            StatusCode::BAD_REQUEST,
            "OMS.0001",
        )
        .await;
    assert_names(&refusal, "OMS.0001", "smn_config.topic_urn");
}

#[tokio::test]
async fn test_mapped_topic_is_accepted_and_smn_info_reports_the_stored_outcome() {
    let test = app_with_topic().await;
    let smn = json!({"topic_urn": MAPPED_TOPIC, "trigger_conditions": ["SUCCESS", "FAILURE"],
                     "language": "zh-cn", "message_template_name": "short"});
    let id = test
        .create_task_as(common::TOKEN, &with_smn(task_body("b1"), smn.clone()))
        .await;
    let group_reply = test
        .call(
            Method::POST,
            &format!("/v2/{PROJECT}/taskgroups"),
            &with_smn(group_body(), smn),
        )
        .await;
    assert_eq!(group_reply.status, StatusCode::OK, "{}", group_reply.text());

    assert!(
        show(&test, id).await.get("smn_info").is_none(),
        "no end, no outcome"
    );

    let mut record = Notification {
        subject: NotifySubject::Task(id),
        ended_at_ms: 1_000,
        topic_urn: MAPPED_TOPIC.into(),
        body: "{}".into(),
        state: DeliveryState::Pending,
        error_message: String::new(),
        attempts: 0,
    };
    test.store.put_notification(&record).await.unwrap();
    assert!(
        show(&test, id).await.get("smn_info").is_none(),
        "a pending delivery has no outcome yet"
    );

    test.store
        .record_notification_outcome(
            &record.subject,
            record.ended_at_ms,
            DeliveryState::Failed,
            "receiver answered HTTP 500 (after 5 attempts)",
            5,
        )
        .await
        .unwrap();
    let shown = show(&test, id).await;
    assert_eq!(
        shown["smn_info"],
        json!({"notify_result": false, "topic_name": "ops",
               "notify_error_message": "receiver answered HTTP 500 (after 5 attempts)"})
    );
    let listed = test
        .ok(Method::GET, &format!("/v2/{PROJECT}/tasks"), &Value::Null)
        .await;
    assert_eq!(listed["tasks"][0]["smn_info"], shown["smn_info"]);

    // A later end replaces the record; an outcome for the earlier end no longer applies.
    record.ended_at_ms = 2_000;
    test.store.put_notification(&record).await.unwrap();
    test.store
        .record_notification_outcome(&record.subject, 1_000, DeliveryState::Failed, "stale", 1)
        .await
        .unwrap();
    assert!(show(&test, id).await.get("smn_info").is_none());
    test.store
        .record_notification_outcome(&record.subject, 2_000, DeliveryState::Delivered, "", 1)
        .await
        .unwrap();
    assert_eq!(
        show(&test, id).await["smn_info"],
        json!({"notify_result": true, "notify_error_message": "", "topic_name": ""})
    );

    // Deleting the task deletes its record.
    test.make_failed(id).await;
    test.store.delete_task(id).await.unwrap();
    assert!(test
        .store
        .notification(&record.subject)
        .await
        .unwrap()
        .is_none());
}
