//! A throwaway PostgreSQL cluster for tests: `initdb` into a temp dir, `postgres` on a free
//! port of 127.0.0.1 with trust authentication and fsync off, a fresh database per test.
//!
//! The binaries come from Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`,
//! the newest version first), else from PATH. PostgreSQL refuses to run as root, so a root test
//! process runs `initdb` and `postgres` as `nobody` (through `setpriv`, which `exec`s, so the
//! watchdog of `process.rs` supervises the postmaster itself). The cluster's default collation
//! is ICU's linguistic `en-US`, as a production database's usually is, so tests prove that
//! tern's key columns compare bytewise through their own `COLLATE "C"`.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use rand::Rng as _;
use sqlx::{Connection as _, Executor as _, PgConnection};
use tokio::sync::OnceCell;

use crate::process::{self, free_port, Launch, ServerProcess};

/// The cluster's superuser; tests connect as it without a password (trust authentication).
pub const POSTGRES_USER: &str = "tern";
/// How long a started cluster may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Start attempts when another process took the port first.
const START_ATTEMPTS: usize = 3;
/// The account a root test process runs PostgreSQL as.
const UNPRIVILEGED_USER: &str = "nobody";

/// A running PostgreSQL cluster on 127.0.0.1; shut down (immediate mode) and deleted on drop.
pub struct PostgresServer {
    port: u16,
    process: ServerProcess,
}

impl std::fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("port", &self.port)
            .field("dir", &self.process.dir())
            .finish()
    }
}

impl PostgresServer {
    /// Creates and starts a fresh cluster on a free port; fails naming the binary, the command
    /// and the log tail if it cannot.
    pub async fn start() -> Result<PostgresServer> {
        let bin = bin_dir()?;
        let account = Account::detect()?;
        let mut attempt = 1;
        loop {
            match start_once(&bin, &account).await {
                Ok(server) => return Ok(server),
                Err(failure) if failure.port_conflict && attempt < START_ATTEMPTS => attempt += 1,
                Err(failure) => return Err(failure.error),
            }
        }
    }

    /// A process-wide shared cluster, started on first use (each test binary starts at most
    /// one). It lives until the test process exits, when its watchdog shuts it down and removes
    /// its files. Tests sharing it use their own databases ([`PostgresServer::new_database`]).
    pub async fn shared() -> Result<&'static PostgresServer> {
        static SHARED: OnceCell<PostgresServer> = OnceCell::const_new();
        SHARED.get_or_try_init(PostgresServer::start).await
    }

    /// The port the cluster listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `database`: `postgres://tern@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{POSTGRES_USER}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// Creates an empty database with a unique name (prefix reduced to `[a-z0-9_]` plus a
    /// random suffix) and returns its URL.
    pub async fn new_database(&self, prefix: &str) -> Result<String> {
        let name = database_name(prefix);
        let mut conn = PgConnection::connect(&self.url("postgres"))
            .await
            .with_context(|| format!("connecting to PostgreSQL on port {}", self.port))?;
        // FILE_COPY copies template1's files instead of WAL-logging every page: a quarter
        // faster here, and safe because nothing ever connects to template1.
        conn.execute(format!("CREATE DATABASE \"{name}\" STRATEGY FILE_COPY").as_str())
            .await
            .with_context(|| {
                format!(
                    "creating database {name}; last log lines:\n{}",
                    self.log_tail(process::ERROR_LOG_LINES)
                )
            })?;
        conn.close().await.ok();
        Ok(self.url(&name))
    }

    /// The last `lines` lines of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }
}

/// Who runs the cluster: this process's user, or `nobody` when that is root.
struct Account {
    /// `(uid, gid)` to switch to, `None` to stay as we are.
    switch_to: Option<(u32, u32)>,
}

impl Account {
    fn detect() -> Result<Account> {
        // /proc/self belongs to the effective user of the process reading it.
        let euid = std::fs::metadata("/proc/self")
            .context("reading /proc/self to learn the effective user")?
            .uid();
        if euid != 0 {
            return Ok(Account { switch_to: None });
        }
        let id = |flag: &str| -> Result<u32> {
            let output = std::process::Command::new("id")
                .args([flag, UNPRIVILEGED_USER])
                .output()
                .context("running `id` to find the unprivileged user")?;
            if !output.status.success() {
                bail!(
                    "PostgreSQL refuses to run as root and user {UNPRIVILEGED_USER:?} does not \
                     exist: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
            String::from_utf8_lossy(&output.stdout)
                .trim()
                .parse()
                .with_context(|| format!("parsing `id {flag} {UNPRIVILEGED_USER}`"))
        };
        Ok(Account {
            switch_to: Some((id("-u")?, id("-g")?)),
        })
    }

    /// The command line running `binary` with `args` as this account. Both forms `exec`, so
    /// the process is `binary` itself.
    fn command(&self, binary: &Path, args: Vec<String>) -> (&'static str, Vec<String>) {
        let binary = binary.display().to_string();
        match self.switch_to {
            None => ("env", std::iter::once(binary).chain(args).collect()),
            Some((uid, gid)) => {
                let mut words = vec![
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--clear-groups".to_string(),
                    "--".to_string(),
                    binary,
                ];
                words.extend(args);
                ("setpriv", words)
            }
        }
    }

    /// Hands `dir` to this account (PostgreSQL wants to own its data directory).
    fn own(&self, dir: &Path) -> Result<()> {
        if let Some((uid, gid)) = self.switch_to {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .with_context(|| format!("giving {} to uid {uid}", dir.display()))?;
        }
        Ok(())
    }
}

/// The directory holding `initdb` and `postgres`.
fn bin_dir() -> Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    match process::which("initdb") {
        Some(initdb) => {
            // Debian links initdb into PATH; postgres sits beside the link's target.
            let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
            let dir = real
                .parent()
                .ok_or_else(|| anyhow!("initdb at {} has no directory", real.display()))?;
            if dir.join("postgres").is_file() {
                Ok(dir.to_path_buf())
            } else {
                bail!("found {} but no postgres beside it", real.display())
            }
        }
        None => bail!(
            "cannot start PostgreSQL: no /usr/lib/postgresql/*/bin and no initdb on PATH \
             (apt-get install -y postgresql; scripts/test.sh does it)"
        ),
    }
}

/// Why a start attempt failed; `port_conflict` attempts are worth retrying on another port.
struct StartFailure {
    error: anyhow::Error,
    port_conflict: bool,
}

impl From<anyhow::Error> for StartFailure {
    fn from(error: anyhow::Error) -> Self {
        StartFailure {
            error,
            port_conflict: false,
        }
    }
}

async fn start_once(bin: &Path, account: &Account) -> Result<PostgresServer, StartFailure> {
    let dir = tempfile::Builder::new()
        .prefix("tern-testkit-pg-")
        .tempdir()
        .context("creating a temp dir for PostgreSQL")?;
    account.own(dir.path())?;
    let data = dir.path().join("pgdata");
    run_initdb(bin, account, &data).await?;
    let port = free_port();
    let (program, args) = account.command(&bin.join("postgres"), server_args(&data, port));
    let launch = Launch {
        program,
        args,
        envs: Vec::new(),
        cleanup: Vec::new(),
    };
    // SIGQUIT is PostgreSQL's immediate shutdown: no checkpoint, but the postmaster still
    // removes its shared memory, which SIGKILL would leak.
    let mut process = ServerProcess::spawn_stopped_by(&launch, dir, "QUIT")?;
    let admin_url = format!("postgres://{POSTGRES_USER}@127.0.0.1:{port}/postgres");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if process.has_exited() {
            let tail = process.log_tail(process::ERROR_LOG_LINES);
            let port_conflict = tail.contains("Address already in use");
            return Err(StartFailure {
                error: start_error(&launch, "exited before accepting connections", &tail),
                port_conflict,
            });
        }
        let last_error = match PgConnection::connect(&admin_url).await {
            Ok(conn) => {
                conn.close().await.ok();
                return Ok(PostgresServer { port, process });
            }
            Err(err) => err.to_string(),
        };
        if Instant::now() >= deadline {
            let tail = process.log_tail(process::ERROR_LOG_LINES);
            let why = format!(
                "did not accept connections on 127.0.0.1:{port} within {READY_TIMEOUT:?} \
                 (last error: {last_error})"
            );
            return Err(start_error(&launch, &why, &tail).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `initdb` for a trust-authenticated cluster whose default collation is linguistic.
async fn run_initdb(bin: &Path, account: &Account, data: &Path) -> Result<()> {
    let args = vec![
        "-D".to_string(),
        data.display().to_string(),
        "-U".to_string(),
        POSTGRES_USER.to_string(),
        "--auth=trust".to_string(),
        "--no-sync".to_string(),
        "--no-instructions".to_string(),
        "--encoding=UTF8".to_string(),
        "--locale=C.UTF-8".to_string(),
        "--locale-provider=icu".to_string(),
        "--icu-locale=en-US".to_string(),
    ];
    let (program, args) = account.command(&bin.join("initdb"), args);
    let output = tokio::process::Command::new(program)
        .args(&args)
        .current_dir(data.parent().unwrap_or(data))
        .output()
        .await
        .with_context(|| format!("running {program} {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "cannot create a PostgreSQL cluster: `{program} {}` failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// `postgres` arguments: TCP on 127.0.0.1 only, no durability (a test cluster dies with its
/// tests), room for many parallel tests' pools, dynamic shared memory in the data dir so a
/// killed server leaves nothing in /dev/shm.
fn server_args(data: &Path, port: u16) -> Vec<String> {
    let mut args = vec![
        "-D".to_string(),
        data.display().to_string(),
        "-p".to_string(),
        port.to_string(),
    ];
    for setting in [
        "listen_addresses=127.0.0.1",
        "unix_socket_directories=",
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        "max_connections=300",
        "shared_buffers=32MB",
        "dynamic_shared_memory_type=mmap",
    ] {
        args.push("-c".to_string());
        args.push(setting.to_string());
    }
    args
}

fn start_error(launch: &Launch, why: &str, tail: &str) -> anyhow::Error {
    anyhow!(
        "cannot start PostgreSQL: {why}\ncommand: {}\nlast {} log lines:\n{tail}",
        launch.display(),
        process::ERROR_LOG_LINES
    )
}

/// `prefix` reduced to `[a-z0-9_]` (at most 40 chars) plus `_` and 12 random `[a-z0-9]`.
fn database_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut name: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(40)
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert(0, 't');
    }
    name.push('_');
    let mut rng = rand::rng();
    for _ in 0..12 {
        name.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_database_names_are_plain_identifiers() {
        let name = database_name("Contract-Test/ä");
        assert!(name.starts_with("contract_test__"), "{name}");
        assert!(name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        assert!(database_name("9x").starts_with("t9x_"));
        assert_ne!(database_name("a"), database_name("a"));
    }
}
