//! Starting server processes that cannot outlive the test process, and picking free ports.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use rand::Rng as _;
use tempfile::TempDir;

/// Lowest base port handed out. Base and `+10000` twins stay below Linux's ephemeral range
/// (32768..), so outgoing connections never hold a port we are about to give a server.
const PORT_MIN: u16 = 20_000;
/// One past the highest base port handed out (`PORT_MAX + 10_004 < 32_768`).
const PORT_MAX: u16 = 22_700;
/// Ports used from the base: S3, master, volume, filer, admin (SeaweedFS).
const PORT_SPAN: u16 = 5;
/// SeaweedFS binds a gRPC twin of every port at this offset.
const GRPC_OFFSET: u16 = 10_000;
/// Lines of server log quoted in start errors.
pub(crate) const ERROR_LOG_LINES: usize = 30;

/// Base ports handed out in this process, so parallel tests never get overlapping ranges.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Picks a free TCP port on 127.0.0.1 (for SeaweedFS also check P+1..P+3 and each +10000 are free, choose P < 45000).
///
/// The returned `P` has `P..=P+4` and `P+10000..=P+10004` free (P+4 is SeaweedFS's admin port)
/// and lies in 20000..22700, below the kernel's ephemeral range.
pub fn free_port() -> u16 {
    let mut rng = rand::rng();
    for _ in 0..2_000 {
        let base = rng.random_range(PORT_MIN..PORT_MAX);
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        let low = base.saturating_sub(PORT_SPAN - 1);
        if handed_out.range(low..base + PORT_SPAN).next().is_some() {
            continue;
        }
        if range_is_free(base) {
            handed_out.insert(base);
            return base;
        }
    }
    panic!("free_port: found no free port range in {PORT_MIN}..{PORT_MAX} on 127.0.0.1");
}

fn range_is_free(base: u16) -> bool {
    let mut held = Vec::new();
    for offset in (0..PORT_SPAN).chain(GRPC_OFFSET..GRPC_OFFSET + PORT_SPAN) {
        match TcpListener::bind(("127.0.0.1", base + offset)) {
            Ok(listener) => held.push(listener),
            Err(_) => return false,
        }
    }
    true
}

/// Runs the server (`run.sh` in the data dir, which `exec`s it, so the server's command line is
/// not part of ours and `pgrep -f 'weed mini'` finds only real servers) in the background, writes everything to the log, and blocks on stdin. Stdin is
/// a pipe whose only writer is the test process, so EOF means the test process is gone (however it
/// ended) or the owner dropped it: then the reader sends the server its stop signal (SIGKILL
/// unless the server needs a clean exit, e.g. PostgreSQL's SIGQUIT, which frees its shared memory;
/// SIGKILL follows 10 s later if it is still there), the shell reaps it (no
/// zombie server is left behind), removes the data dir and the extra files, and kills what is left
/// of the group (stray children, itself). If the server exits by itself, its status is logged and
/// the group killed. `-$$` is the process group because the test kit starts `sh` as a group
/// leader (dash's `kill` builtin wants `kill -KILL -PGID`, without `--`).
const WATCHDOG: &str = r#"
log="$1"; dir="$2"; cleanup="$3"; sig="$4"
stop="$dir/.tern-testkit-stop"
exec 3<&0 </dev/null >>"$log" 2>&1
sh "$dir/run.sh" 3<&- &
srv=$!
(
  trap '' TERM INT HUP
  while read -r _ <&3; do :; done
  : >"$stop"
  kill -"$sig" "$srv" 2>/dev/null
  if [ "$sig" != KILL ]; then
    ( sleep 10; kill -KILL "$srv" 2>/dev/null ) &
  fi
) &
exec 3<&-
wait "$srv"
status=$?
if [ -e "$stop" ]; then
  wait
  rm -rf "$dir" $cleanup
  kill -KILL -$$
fi
echo "[tern-testkit] server process exited with status $status"
kill -KILL -$$
"#;

/// What to run. The server's stdout and stderr go to `server.log` in the data dir.
pub(crate) struct Launch {
    /// The binary, looked up on PATH.
    pub program: &'static str,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub envs: Vec<(String, String)>,
    /// Files outside `dir` to delete when the server stops (no spaces in the paths).
    pub cleanup: Vec<PathBuf>,
}

impl Launch {
    /// The command line as a shell would show it, for error messages.
    pub(crate) fn display(&self) -> String {
        let mut parts: Vec<String> = self.envs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.push(self.program.to_string());
        parts.extend(self.args.iter().cloned());
        parts.join(" ")
    }

    /// A shell script that `exec`s the server, every word single-quoted.
    fn script(&self) -> String {
        let quote = |word: &str| format!("'{}'", word.replace('\'', r"'\''"));
        let words: Vec<String> = std::iter::once(self.program)
            .chain(self.args.iter().map(String::as_str))
            .map(quote)
            .collect();
        format!("exec {}\n", words.join(" "))
    }
}

/// A server process in its own process group, supervised by a `sh` watchdog (the group leader).
/// Dropping it kills the server, reaps everything and removes the data dir.
pub(crate) struct ServerProcess {
    child: Child,
    /// Our end of the watchdog's stdin; it closes when this process exits, however it exits.
    stdin: Option<ChildStdin>,
    log: PathBuf,
    cleanup: Vec<PathBuf>,
    dir: TempDir,
}

impl ServerProcess {
    /// Starts `launch` with `dir` as working and data directory; stopping SIGKILLs it.
    pub(crate) fn spawn(launch: &Launch, dir: TempDir) -> Result<ServerProcess> {
        Self::spawn_stopped_by(launch, dir, "KILL")
    }

    /// Starts `launch` like [`ServerProcess::spawn`]; stopping sends `signal` (a `kill` name
    /// such as `QUIT`) and SIGKILL only if the server is still there 10 s later.
    pub(crate) fn spawn_stopped_by(
        launch: &Launch,
        dir: TempDir,
        signal: &str,
    ) -> Result<ServerProcess> {
        let log = dir.path().join("server.log");
        File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let run = dir.path().join("run.sh");
        std::fs::write(&run, launch.script())
            .with_context(|| format!("writing {}", run.display()))?;
        let cleanup_arg = launch
            .cleanup
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("tern-testkit-watchdog")
            .arg(&log)
            .arg(dir.path())
            .arg(cleanup_arg)
            .arg(signal)
            .envs(launch.envs.iter().map(|(k, v)| (k, v)))
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawning `sh` to run `{}`", launch.display()))?;
        let stdin = child.stdin.take();
        Ok(ServerProcess {
            child,
            stdin,
            log,
            cleanup: launch.cleanup.clone(),
            dir,
        })
    }

    /// The data directory (a temp dir owned by this process handle).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the server (and so its watchdog) has exited.
    pub(crate) fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `lines` lines of the server's log.
    pub(crate) fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    pub(crate) fn log_tail(&self, lines: usize) -> String {
        match std::fs::read(&self.log) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }
            Err(e) => format!("(cannot read {}: {e})", self.log.display()),
        }
    }

    /// Stops the server through its watchdog (which reaps it and removes the data), falling back
    /// to killing the whole process group; then reaps the watchdog.
    fn stop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut exited = false;
        while !exited && Instant::now() < deadline {
            exited = !matches!(self.child.try_wait(), Ok(None));
            if !exited {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if !exited {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill")
                .args(["-KILL", "--", &group])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = self.child.wait();
        }
        for path in &self.cleanup {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Finds `program` on PATH.
pub(crate) fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt as _;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
}

/// What the readiness probe waits for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ready {
    /// `GET /` answers exactly this status.
    Status(u16),
    /// `GET /` answers with any HTTP status.
    AnyStatus,
}

/// Why a start attempt failed; `port_conflict` attempts are worth retrying on other ports.
pub(crate) struct StartFailure {
    pub error: anyhow::Error,
    pub port_conflict: bool,
}

/// Spawns `launch` and polls `GET {probe_url}` until `ready`, the process exits, or `timeout`.
pub(crate) async fn start(
    name: &str,
    launch: &Launch,
    dir: TempDir,
    probe_url: &str,
    ready: Ready,
    timeout: Duration,
) -> Result<ServerProcess, StartFailure> {
    let fail = |error: anyhow::Error| StartFailure {
        error,
        port_conflict: false,
    };
    if which(launch.program).is_none() {
        return Err(fail(anyhow!(
            "cannot start {name}: `{}` is not on PATH\ncommand: {}",
            launch.program,
            launch.display()
        )));
    }
    let mut process = ServerProcess::spawn(launch, dir).map_err(fail)?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| fail(anyhow!("building the readiness HTTP client: {e}")))?;
    let deadline = Instant::now() + timeout;
    loop {
        if process.has_exited() {
            let tail = process.log_tail(ERROR_LOG_LINES);
            let port_conflict = tail.to_ascii_lowercase().contains("address already in use");
            return Err(StartFailure {
                error: start_error(name, launch, "exited before becoming ready", &tail),
                port_conflict,
            });
        }
        let last_seen = match http.get(probe_url).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match ready {
                    Ready::AnyStatus => return Ok(process),
                    Ready::Status(want) if want == status => return Ok(process),
                    Ready::Status(_) => format!("last answer: HTTP {status}"),
                }
            }
            Err(e) => format!("last error: {e}"),
        };
        if Instant::now() >= deadline {
            let tail = process.log_tail(ERROR_LOG_LINES);
            let why =
                format!("did not become ready at {probe_url} within {timeout:?} ({last_seen})");
            return Err(fail(start_error(name, launch, &why, &tail)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn start_error(name: &str, launch: &Launch, why: &str, tail: &str) -> anyhow::Error {
    anyhow!(
        "cannot start {name}: `{}` {why}\ncommand: {}\nlast {ERROR_LOG_LINES} log lines:\n{tail}",
        launch.program,
        launch.display()
    )
}
