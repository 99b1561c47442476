//! Progress display: a bar on a terminal, a plain line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the plain (non-TTY) progress line is printed.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// Counters shared by the event consumer and the display.
#[derive(Debug, Default)]
struct Shared {
    listed_num: AtomicU64,
    listed_size: AtomicU64,
    finished_num: AtomicU64,
    /// Archived objects whose restore was asked for (`--restore`).
    restores: AtomicU64,
    done: AtomicBool,
}

/// A handle to the running display.
#[derive(Clone)]
pub struct Progress {
    shared: Arc<Shared>,
    bar: Option<ProgressBar>,
    bytes: Arc<AtomicU64>,
    quiet: bool,
}

impl Progress {
    /// Starts the display on stderr; `quiet` shows nothing (JSON mode).
    pub fn start(quiet: bool, bytes: Arc<AtomicU64>) -> Self {
        let shared = Arc::new(Shared::default());
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let progress = Progress {
            shared,
            bar,
            bytes,
            quiet,
        };
        if !quiet {
            progress.spawn_ticker();
        }
        progress
    }

    fn spawn_ticker(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut last_plain = Instant::now();
            while !this.shared.done.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let listed = this.shared.listed_num.load(Ordering::Relaxed);
                let finished = this.shared.finished_num.load(Ordering::Relaxed);
                let bytes = this.bytes.load(Ordering::Relaxed);
                let restores = match this.shared.restores.load(Ordering::Relaxed) {
                    0 => String::new(),
                    n => format!(", {n} restores asked"),
                };
                match &this.bar {
                    Some(bar) => {
                        bar.set_length(this.shared.listed_size.load(Ordering::Relaxed).max(bytes));
                        bar.set_position(bytes);
                        bar.set_message(format!("{finished}/{listed} objects{restores}"));
                    }
                    None if last_plain.elapsed() >= PLAIN_INTERVAL => {
                        last_plain = Instant::now();
                        let secs = started.elapsed().as_secs_f64().max(0.001);
                        eprintln!(
                            "progress: {finished}/{listed} objects{restores}, {bytes} bytes, {:.1} objects/s, {:.2} MB/s",
                            finished as f64 / secs,
                            bytes as f64 / secs / 1e6
                        );
                    }
                    None => {}
                }
            }
        });
    }

    /// Counts a listed object.
    pub fn listed(&self, size: u64) {
        self.shared.listed_num.fetch_add(1, Ordering::Relaxed);
        self.shared.listed_size.fetch_add(size, Ordering::Relaxed);
    }

    /// Counts a finished object.
    pub fn finished(&self) {
        self.shared.finished_num.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an archived object whose restore was asked for, and says so on stderr (not in
    /// JSON mode): the copy of that object waits, the others go on.
    pub fn restore_started(&self, key: &str) {
        self.shared.restores.fetch_add(1, Ordering::Relaxed);
        if self.quiet {
            return;
        }
        let line = format!("restoring archived {key:?}; it is copied once restored");
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// Prints a line without breaking the bar.
    pub fn println(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => println!("{line}"),
        }
    }

    /// Stops the display.
    pub fn finish(&self) {
        self.shared.done.store(true, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
