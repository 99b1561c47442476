//! Request bodies of the client verbs: a JSON file given by the user, with credentials taken
//! from the environment so that they never sit in files or on the command line.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

/// Reads a JSON object from `path` (`-` for standard input).
pub fn read_json(path: &Path) -> Result<Map<String, Value>> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the body from standard input")?;
        text
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    match serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))? {
        Value::Object(map) => Ok(map),
        _ => bail!("{} must hold one JSON object", path.display()),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Fills `node`'s missing credential fields from `TERN_<SIDE>_AK`, `_SK`, `_TOKEN`,
/// `_AZURE_CONNECTION_STRING` and `_GCS_CREDENTIAL_JSON` (the names `tern copy` reads).
/// `fields` maps each variable suffix to the body's field name.
fn fill(node: &mut Map<String, Value>, side: &str, fields: &[(&str, &str)]) {
    for (suffix, field) in fields {
        if node.contains_key(*field) {
            continue;
        }
        if let Some(value) = env(&format!("TERN_{side}_{suffix}")) {
            node.insert((*field).to_owned(), Value::String(value));
        }
    }
}

/// Credential fields of `create_task` nodes, by environment suffix.
const TASK_SRC_FIELDS: &[(&str, &str)] = &[
    ("AK", "ak"),
    ("SK", "sk"),
    ("TOKEN", "security_token"),
    ("AZURE_CONNECTION_STRING", "connection_string"),
    ("GCS_CREDENTIAL_JSON", "json_auth_file"),
];
const TASK_DST_FIELDS: &[(&str, &str)] = &[("AK", "ak"), ("SK", "sk"), ("TOKEN", "security_token")];
/// Group nodes have no STS token fields.
const GROUP_SRC_FIELDS: &[(&str, &str)] = &[
    ("AK", "ak"),
    ("SK", "sk"),
    ("AZURE_CONNECTION_STRING", "connection_string"),
    ("GCS_CREDENTIAL_JSON", "json_auth_file"),
];
const GROUP_DST_FIELDS: &[(&str, &str)] = &[("AK", "ak"), ("SK", "sk")];

/// Completes a `create_task` / `create_task_group` body's `src_node` and `dst_node`
/// credentials from the environment where the file leaves them out.
pub fn fill_create_credentials(body: &mut Map<String, Value>, group: bool) {
    let (src_fields, dst_fields) = if group {
        (GROUP_SRC_FIELDS, GROUP_DST_FIELDS)
    } else {
        (TASK_SRC_FIELDS, TASK_DST_FIELDS)
    };
    for (node, side, fields) in [
        ("src_node", "SRC", src_fields),
        ("dst_node", "DST", dst_fields),
    ] {
        if let Some(Value::Object(node)) = body.get_mut(node) {
            fill(node, side, fields);
        }
    }
}

/// The body of `start_task`, `start_task_group` and `retry_task_group`: the run's credentials
/// from the environment, as OMS takes them again at every start.
pub fn start_body(
    file: Option<&Path>,
    migrate_failed_object: Option<bool>,
    require_destination: bool,
) -> Result<Map<String, Value>> {
    let mut body = match file {
        Some(path) => read_json(path)?,
        None => Map::new(),
    };
    fill(
        &mut body,
        "SRC",
        &[
            ("AK", "src_ak"),
            ("SK", "src_sk"),
            ("AZURE_CONNECTION_STRING", "connection_string"),
            ("GCS_CREDENTIAL_JSON", "json_auth_file"),
        ],
    );
    fill(&mut body, "DST", &[("AK", "dst_ak"), ("SK", "dst_sk")]);
    if require_destination && !(body.contains_key("dst_ak") && body.contains_key("dst_sk")) {
        bail!(
            "start takes the destination's keys again, as OMS does: set TERN_DST_AK and \
             TERN_DST_SK (and TERN_SRC_AK / TERN_SRC_SK for a source with keys), or give --body"
        );
    }
    if let Some(flag) = migrate_failed_object {
        body.insert("migrate_failed_object".to_owned(), Value::Bool(flag));
    }
    Ok(body)
}
