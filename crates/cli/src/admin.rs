//! `tern admin`: tokens and AK/SK credentials for projects, written straight into the store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rand::distr::{Alphanumeric, SampleString};

/// `tern admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Manages API tokens (`X-Auth-Token`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manages AK/SK credentials (SDK-HMAC-SHA256 signing).
    #[command(subcommand)]
    Credential(CredentialCommand),
}

/// `tern admin token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a token for a project and prints `{"project_id","token"}`.
    Create(Target),
}

/// `tern admin credential …`.
#[derive(Debug, Subcommand)]
pub enum CredentialCommand {
    /// Creates an AK/SK for a project and prints `{"project_id","ak","sk"}`.
    Create(Target),
}

/// Which project and which store.
#[derive(Debug, Args)]
pub struct Target {
    /// Project id (1..64 characters of letters, digits, `-` and `_`).
    #[arg(long)]
    project: String,
    /// Data directory of the server [default: ./tern-data].
    #[arg(long, default_value = crate::config::DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// Database URL, if not the embedded SQLite.
    #[arg(long)]
    database: Option<String>,
    /// Creates the database (and seal key) when the data dir has none, instead of refusing.
    #[arg(long)]
    init: bool,
}

/// Runs an admin command.
pub async fn run(command: AdminCommand) -> Result<ExitCode> {
    match command {
        AdminCommand::Token(TokenCommand::Create(target)) => {
            check_project(&target.project)?;
            let store = open(&target).await?;
            let token = new_token();
            store
                .put_token(&target.project, &tern_server::token_digest(&token))
                .await?;
            println!(
                "{}",
                serde_json::json!({"project_id": target.project, "token": token})
            );
        }
        AdminCommand::Credential(CredentialCommand::Create(target)) => {
            check_project(&target.project)?;
            let store = open(&target).await?;
            let access_key = new_access_key();
            let secret_key = new_secret();
            store
                .put_credential(
                    &target.project,
                    &access_key,
                    &tern_core::Secret::new(secret_key.clone()),
                )
                .await?;
            println!(
                "{}",
                serde_json::json!({"project_id": target.project, "ak": access_key, "sk": secret_key})
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn open(target: &Target) -> Result<std::sync::Arc<dyn tern_core::TaskStore>> {
    if !target.init {
        check_initialised(target)?;
    }
    std::fs::create_dir_all(&target.data_dir)
        .with_context(|| format!("creating data dir {}", target.data_dir.display()))?;
    tern_store::open(target.database.as_deref(), &target.data_dir)
        .await
        .context("opening the task store")
}

/// Refuses a data dir the server has never used: a token written into a fresh database (a typo
/// in `--data-dir`, a relative path from another directory) would be one the running server
/// rejects. The embedded SQLite must be there; with `--database`, the seal key that seals the
/// credentials must be (unless it comes from `TERN_SEAL_KEY`).
fn check_initialised(target: &Target) -> Result<()> {
    let dir = target.data_dir.display();
    if target.database.is_none() {
        if !target.data_dir.join(tern_store::DB_FILE).is_file() {
            bail!(
                "{dir} holds no tern database ({}): give the --data-dir of the server, \
                 or add --init to create a new one",
                tern_store::DB_FILE
            );
        }
    } else if std::env::var_os(tern_store::SEAL_KEY_ENV).is_none()
        && !target.data_dir.join(tern_store::SEAL_KEY_FILE).is_file()
    {
        bail!(
            "{dir} holds no seal key ({}): give the --data-dir of the server, \
             or add --init to create a new one",
            tern_store::SEAL_KEY_FILE
        );
    }
    Ok(())
}

fn check_project(project: &str) -> Result<()> {
    let valid = (1..=64).contains(&project.len())
        && project
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        bail!("--project must be 1..64 letters, digits, '-' or '_'");
    }
    Ok(())
}

/// A new project id: 32 lowercase hex digits, like Huawei's.
pub fn new_project_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A new API token (48 random alphanumerics).
pub fn new_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 48)
}

/// A new access key id (20 upper-case alphanumerics).
pub fn new_access_key() -> String {
    Alphanumeric
        .sample_string(&mut rand::rng(), 20)
        .to_uppercase()
}

/// A new secret key (40 random alphanumerics).
pub fn new_secret() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 40)
}
