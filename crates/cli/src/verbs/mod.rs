//! `tern task …` and `tern group …`: the OMS API from the command line, against a running
//! `tern serve` (endpoint and identity from `TERN_ENDPOINT`, `TERN_TOKEN` or `TERN_AK`/`TERN_SK`).

pub mod body;
pub mod group;
pub mod task;

use std::process::ExitCode;

use anyhow::Result;
use serde_json::Value;

/// Prints a resource as JSON (`--json`) or through `human`.
fn print(json: bool, value: &Value, human: impl FnOnce(&Value) -> String) -> Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", human(value));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints what an operation without a response body did: `{}` with `--json`, else `message`.
fn done(json: bool, message: String) -> Result<ExitCode> {
    if json {
        println!("{{}}");
    } else {
        println!("{message}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A JSON number or string as text; absent fields print as `-`.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A byte count for people: `1.5 MiB`.
fn bytes(value: &Value) -> String {
    match value.as_i64() {
        Some(n) => indicatif::HumanBytes(n.max(0) as u64).to_string(),
        None => "-".to_owned(),
    }
}

/// `done/total` from two fields.
fn ratio(value: &Value, done: &str, total: &str) -> String {
    format!("{}/{}", text(&value[done]), text(&value[total]))
}

/// The error reason of a task or group as `CODE message`, or `-`.
fn reason(value: &Value) -> String {
    match (
        value["error_reason"]["error_code"].as_str(),
        value["error_reason"]["error_msg"].as_str(),
    ) {
        (Some(code), Some(msg)) if !code.is_empty() => format!("{code} {msg}"),
        _ => "-".to_owned(),
    }
}
