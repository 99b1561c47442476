//! `tern group list|show|create|stop|start|retry|delete`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::{body, bytes, done, print, ratio, reason, text};
use crate::client::{ApiClient, ClientArgs};
use crate::table;

/// The task-group verbs.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Lists task groups (`list_task_group`).
    List {
        /// Only groups in this status (0 waiting … 9 deleting).
        #[arg(long)]
        status: Option<u8>,
        /// Most groups shown (1..100).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Groups skipped first.
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Shows one group (`show_task_group`).
    Show { id: String },
    /// Creates a group from a `create_task_group` JSON body (`-` reads standard input); node
    /// credentials missing from it come from `TERN_SRC_AK`/`_SK`, `TERN_DST_AK`/`_SK`.
    Create {
        #[arg(long)]
        body: PathBuf,
    },
    /// Pauses a group and its tasks (`stop_task_group`).
    Stop { id: String },
    /// Resumes a paused group with the credentials from the environment (`start_task_group`).
    Start {
        id: String,
        /// A `start_task_group` JSON body instead of (or completed by) the environment.
        #[arg(long)]
        body: Option<PathBuf>,
    },
    /// Restarts a failed group (`retry_task_group`).
    Retry {
        id: String,
        /// Copy only the objects that failed.
        #[arg(long)]
        failed_only: bool,
        /// A `retry_task_group` JSON body instead of (or completed by) the environment.
        #[arg(long)]
        body: Option<PathBuf>,
    },
    /// Deletes a group and its tasks (`delete_task_group`).
    Delete { id: String },
}

/// Runs one group verb against the server.
pub async fn run(command: GroupCommand, args: ClientArgs) -> Result<ExitCode> {
    let client = ApiClient::connect(&args).await?;
    let json = args.json;
    let group_path = |id: &str, rest: &str| {
        let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        client.project_path(&format!("/taskgroups/{}{rest}", id.replace('+', "%20")))
    };
    match command {
        GroupCommand::List {
            status,
            limit,
            offset,
        } => {
            let mut query = vec![("limit", limit.to_string()), ("offset", offset.to_string())];
            if let Some(status) = status {
                query.push(("status", status.to_string()));
            }
            let value = client
                .call(
                    Method::GET,
                    &client.project_path("/taskgroups"),
                    &query,
                    None,
                )
                .await?;
            print(json, &value, list_table)
        }
        GroupCommand::Show { id } => {
            let value = client
                .call(Method::GET, &group_path(&id, ""), &[], None)
                .await?;
            print(json, &value, show_fields)
        }
        GroupCommand::Create { body: path } => {
            let mut request = body::read_json(&path)?;
            body::fill_create_credentials(&mut request, true);
            let value = client
                .call(
                    Method::POST,
                    &client.project_path("/taskgroups"),
                    &[],
                    Some(&Value::Object(request)),
                )
                .await?;
            print(json, &value, |v| {
                format!("created group {}\n", text(&v["group_id"]))
            })
        }
        GroupCommand::Stop { id } => {
            client
                .call(Method::PUT, &group_path(&id, "/stop"), &[], None)
                .await?;
            done(json, format!("group {id}: stopping"))
        }
        GroupCommand::Start { id, body: path } => {
            let request = body::start_body(path.as_deref(), None, true)?;
            client
                .call(
                    Method::PUT,
                    &group_path(&id, "/start"),
                    &[],
                    Some(&Value::Object(request)),
                )
                .await?;
            done(json, format!("group {id}: started"))
        }
        GroupCommand::Retry {
            id,
            failed_only,
            body: path,
        } => {
            let request = body::start_body(path.as_deref(), Some(failed_only), false)?;
            client
                .call(
                    Method::PUT,
                    &group_path(&id, "/retry"),
                    &[],
                    Some(&Value::Object(request)),
                )
                .await?;
            done(json, format!("group {id}: retrying"))
        }
        GroupCommand::Delete { id } => {
            client
                .call(Method::DELETE, &group_path(&id, ""), &[], None)
                .await?;
            done(json, format!("group {id}: deleted"))
        }
    }
}

/// A group status as number and name (REFERENCE.md §4).
pub fn status_name(status: &Value) -> String {
    let name = match status.as_i64() {
        Some(0) => "waiting",
        Some(1) => "creating",
        Some(2) => "monitoring",
        Some(3) => "paused",
        Some(4) => "creation failed",
        Some(5) => "failed",
        Some(6) => "completed",
        Some(7) => "pausing",
        Some(8) => "waiting for deletion",
        Some(9) => "deleting",
        _ => "unknown",
    };
    format!("{} {name}", text(status))
}

fn list_table(value: &Value) -> String {
    let rows: Vec<Vec<String>> = value["taskgroups"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|group| {
            vec![
                text(&group["group_id"]),
                status_name(&group["status"]),
                ratio(group, "complete_task_num", "total_task_num"),
                ratio(group, "success_num", "total_num"),
                text(&group["fail_num"]),
                text(&group["skip_num"]),
                format!(
                    "{} of {}",
                    bytes(&group["complete_size"]),
                    bytes(&group["total_size"])
                ),
            ]
        })
        .collect();
    let mut out = table::render(
        &[
            "GROUP_ID", "STATUS", "TASKS", "OBJECTS", "FAILED", "SKIPPED", "SIZE",
        ],
        &rows,
    );
    out.push_str(&format!("{} group(s) in all\n", text(&value["count"])));
    out
}

fn show_fields(group: &Value) -> String {
    table::render_fields(&[
        ("group_id", text(&group["group_id"])),
        ("status", status_name(&group["status"])),
        ("task_type", text(&group["task_type"])),
        ("tasks", ratio(group, "complete_task_num", "total_task_num")),
        ("failed_tasks", text(&group["failed_task_num"])),
        ("objects", ratio(group, "success_num", "total_num")),
        ("failed", text(&group["fail_num"])),
        ("skipped", text(&group["skip_num"])),
        (
            "size",
            format!(
                "{} of {}",
                bytes(&group["complete_size"]),
                bytes(&group["total_size"])
            ),
        ),
        ("speed", format!("{}/s", bytes(&group["migrate_speed"]))),
        (
            "source",
            format!(
                "{} {}",
                text(&group["src_node"]["region"]),
                text(&group["src_node"]["bucket"])
            ),
        ),
        (
            "destination",
            format!(
                "{} {}",
                text(&group["dst_node"]["region"]),
                text(&group["dst_node"]["bucket"])
            ),
        ),
        ("error", reason(group)),
    ])
}
