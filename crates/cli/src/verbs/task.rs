//! `tern task list|show|create|stop|start|delete|runs`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::{body, bytes, done, print, ratio, reason, text};
use crate::client::{ApiClient, ClientArgs};
use crate::table;

/// The task verbs.
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Lists tasks, newest first (`list_tasks`).
    List {
        /// Only tasks of this group.
        #[arg(long)]
        group_id: Option<String>,
        /// Only tasks in this status (1 waiting … 7 pausing).
        #[arg(long)]
        status: Option<u8>,
        /// Only the task with this name.
        #[arg(long)]
        name: Option<String>,
        /// Most tasks shown (1..100).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Tasks skipped first.
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Shows one task with its counters and error reason (`show_task`).
    Show { id: i64 },
    /// Creates and starts a task from a `create_task` JSON body (`-` reads standard input);
    /// node credentials missing from it come from `TERN_SRC_AK`/`_SK`, `TERN_DST_AK`/`_SK`.
    Create {
        #[arg(long)]
        body: PathBuf,
    },
    /// Pauses a migrating task (`stop_task`).
    Stop { id: i64 },
    /// Starts a paused or failed task with the credentials from `TERN_SRC_AK`/`_SK` and
    /// `TERN_DST_AK`/`_SK` (`start_task`).
    Start {
        id: i64,
        /// Copy only the objects that failed in the last run.
        #[arg(long)]
        failed_only: bool,
        /// A `start_task` JSON body instead of (or completed by) the environment.
        #[arg(long)]
        body: Option<PathBuf>,
    },
    /// Deletes a task that is not running (`delete_task`).
    Delete { id: i64 },
    /// Lists the runs of a task: which node ran each and when (tern's own, not OMS).
    Runs { id: i64 },
}

/// Runs one task verb against the server.
pub async fn run(command: TaskCommand, args: ClientArgs) -> Result<ExitCode> {
    let client = ApiClient::connect(&args).await?;
    let json = args.json;
    match command {
        TaskCommand::List {
            group_id,
            status,
            name,
            limit,
            offset,
        } => {
            let mut query = vec![("limit", limit.to_string()), ("offset", offset.to_string())];
            if let Some(group_id) = group_id {
                query.push(("group_id", group_id));
            }
            if let Some(status) = status {
                query.push(("status", status.to_string()));
            }
            if let Some(name) = name {
                query.push(("task_name", name));
            }
            let value = client
                .call(Method::GET, &client.project_path("/tasks"), &query, None)
                .await?;
            print(json, &value, list_table)
        }
        TaskCommand::Show { id } => {
            let value = client
                .call(
                    Method::GET,
                    &client.project_path(&format!("/tasks/{id}")),
                    &[],
                    None,
                )
                .await?;
            print(json, &value, show_fields)
        }
        TaskCommand::Create { body: path } => {
            let mut request = body::read_json(&path)?;
            body::fill_create_credentials(&mut request, false);
            let value = client
                .call(
                    Method::POST,
                    &client.project_path("/tasks"),
                    &[],
                    Some(&Value::Object(request)),
                )
                .await?;
            print(json, &value, |v| {
                format!("created task {} ({})\n", text(&v["id"]), text(&v["name"]))
            })
        }
        TaskCommand::Stop { id } => {
            client
                .call(
                    Method::POST,
                    &client.project_path(&format!("/tasks/{id}/stop")),
                    &[],
                    None,
                )
                .await?;
            done(json, format!("task {id}: stopping"))
        }
        TaskCommand::Start {
            id,
            failed_only,
            body: path,
        } => {
            let request = body::start_body(path.as_deref(), failed_only.then_some(true), true)?;
            client
                .call(
                    Method::POST,
                    &client.project_path(&format!("/tasks/{id}/start")),
                    &[],
                    Some(&Value::Object(request)),
                )
                .await?;
            done(json, format!("task {id}: started"))
        }
        TaskCommand::Delete { id } => {
            client
                .call(
                    Method::DELETE,
                    &client.project_path(&format!("/tasks/{id}")),
                    &[],
                    None,
                )
                .await?;
            done(json, format!("task {id}: deleted"))
        }
        TaskCommand::Runs { id } => {
            let value = client
                .call(
                    Method::GET,
                    &client.project_path(&format!("/tasks/{id}/runs")),
                    &[],
                    None,
                )
                .await?;
            print(json, &value, runs_table)
        }
    }
}

/// A task status as number and name (REFERENCE.md §4).
pub fn status_name(status: &Value) -> String {
    let name = match status.as_i64() {
        Some(1) => "waiting",
        Some(2) => "migrating",
        Some(3) => "paused",
        Some(4) => "failed",
        Some(5) => "succeeded",
        Some(6) => "retrying",
        Some(7) => "pausing",
        _ => "unknown",
    };
    format!("{} {name}", text(status))
}

fn percent(value: &Value) -> String {
    match value.as_f64() {
        Some(progress) => format!("{:.1}%", progress * 100.0),
        None => "-".to_owned(),
    }
}

fn list_table(value: &Value) -> String {
    let rows: Vec<Vec<String>> = value["tasks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|task| {
            vec![
                text(&task["id"]),
                text(&task["name"]),
                status_name(&task["status"]),
                percent(&task["progress"]),
                ratio(task, "successful_num", "total_num"),
                text(&task["failed_num"]),
                text(&task["skipped_num"]),
                format!("{}/s", bytes(&task["migrate_speed"])),
            ]
        })
        .collect();
    let mut out = table::render(
        &[
            "ID", "NAME", "STATUS", "PROGRESS", "OBJECTS", "FAILED", "SKIPPED", "SPEED",
        ],
        &rows,
    );
    out.push_str(&format!("{} task(s) in all\n", text(&value["count"])));
    out
}

fn show_fields(task: &Value) -> String {
    table::render_fields(&[
        ("id", text(&task["id"])),
        ("name", text(&task["name"])),
        ("status", status_name(&task["status"])),
        ("task_type", text(&task["task_type"])),
        ("group_id", text(&task["group_id"])),
        ("progress", percent(&task["progress"])),
        ("objects", ratio(task, "successful_num", "total_num")),
        ("failed", text(&task["failed_num"])),
        ("skipped", text(&task["skipped_num"])),
        (
            "size",
            format!(
                "{} of {}",
                bytes(&task["complete_size"]),
                bytes(&task["total_size"])
            ),
        ),
        ("speed", format!("{}/s", bytes(&task["migrate_speed"]))),
        ("left_time_s", text(&task["left_time"])),
        (
            "source",
            format!(
                "{} {}",
                text(&task["src_node"]["region"]),
                text(&task["src_node"]["bucket"])
            ),
        ),
        (
            "destination",
            format!(
                "{} {}",
                text(&task["dst_node"]["region"]),
                text(&task["dst_node"]["bucket"])
            ),
        ),
        ("error", reason(task)),
    ])
}

/// A Unix-ms time as UTC to the second; `-` when absent (a run still going or whose node died).
fn utc_ms(value: &Value) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    value
        .as_i64()
        .and_then(|ms| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
        })
        .and_then(|at| at.format(format).ok())
        .unwrap_or_else(|| "-".to_owned())
}

fn runs_table(value: &Value) -> String {
    let rows: Vec<Vec<String>> = value["runs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|run| {
            vec![
                text(&run["fence"]),
                text(&run["node"]),
                utc_ms(&run["started_at"]),
                utc_ms(&run["ended_at"]),
            ]
        })
        .collect();
    let mut out = table::render(&["FENCE", "NODE", "STARTED", "ENDED"], &rows);
    out.push_str(&format!("{} run(s)\n", text(&value["count"])));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn test_runs_table_shows_nodes_in_order_and_open_ends_as_dash() {
        let value = json!({"runs": [
            {"fence": 1, "node": "node-a1", "started_at": 1_700_000_000_000_i64, "ended_at": null},
            {"fence": 2, "node": "node-b2", "started_at": 1_700_000_002_500_i64, "ended_at": 1_700_000_063_000_i64},
        ], "count": 2});
        assert_eq!(
            runs_table(&value),
            "FENCE  NODE     STARTED               ENDED\n\
             1      node-a1  2023-11-14 22:13:20Z  -\n\
             2      node-b2  2023-11-14 22:13:22Z  2023-11-14 22:14:23Z\n\
             2 run(s)\n"
        );
    }
}
