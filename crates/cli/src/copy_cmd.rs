//! `tern copy SRC DST`: a one-shot migration with a progress display and a final report.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use clap::Args;
use tern_core::{
    BandwidthPolicy, ConsistencyCheck, Credentials, OverwriteMode, Protocol, Secret, StoragePlan,
};
use tern_engine::run::{DEFAULT_CHECKERS, DEFAULT_PART_CONCURRENCY, DEFAULT_TRANSFERS};
use tern_engine::{
    ClassMapping, Decision, EngineMetrics, Event, HttpSource, Location, MemoryBudget, Migration,
    MigrationOptions, RestoreOptions, Restorer, Selection, Storage, Throttle, Tuning,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::progress::Progress;
use crate::report::{FailedObject, Report};
use crate::units::{parse_since_ms, parse_size};

/// Arguments of `tern copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Source: s3://bucket/dir?endpoint=URL&region=R, oss://, obs://, cos://, gs://, azblob://, file:///dir, a local path, or urllist:FILE (a local URL-list file: URL, TAB, destination name per line).
    src: String,
    /// Destination, same forms as SRC.
    dst: String,
    /// Copy only keys under this prefix (repeatable; relative to SRC's directory).
    #[arg(long = "prefix", value_name = "PREFIX")]
    prefixes: Vec<String>,
    /// Copy only these keys (repeatable; a trailing / selects everything below).
    #[arg(long = "object", value_name = "KEY", conflicts_with = "prefixes")]
    objects: Vec<String>,
    /// Copy the keys listed in this local file, one URL-encoded key per line.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["prefixes", "objects"])]
    list_file: Option<String>,
    /// Overwrite policy: no, size (default), crc64, full — or the OMS names.
    #[arg(long, default_value = "size")]
    overwrite: String,
    /// Consistency check: size_last_modified (default), crc64, no_check.
    #[arg(long, default_value = "size_last_modified")]
    check: String,
    /// Skip objects last modified before this time (RFC 3339, YYYY-MM-DD or Unix seconds).
    #[arg(long)]
    since: Option<String>,
    /// Copy user metadata too (Content-Type is always copied).
    #[arg(long)]
    metadata: bool,
    /// Objects copied at once.
    #[arg(long, default_value_t = DEFAULT_TRANSFERS)]
    transfers: usize,
    /// Named keys looked up at once.
    #[arg(long, default_value_t = DEFAULT_CHECKERS)]
    checkers: usize,
    /// Multipart part size; larger objects are uploaded in parts of this size (e.g. 8M).
    #[arg(long, default_value = "8M")]
    part_size: String,
    /// Parts of one large object uploaded at once.
    #[arg(long, default_value_t = DEFAULT_PART_CONCURRENCY)]
    part_concurrency: usize,
    /// Memory for copy buffers in MiB, shared by all transfers [default: 1/32 of the machine's
    /// memory, between 64 and 256 MiB].
    #[arg(long, value_name = "MIB")]
    memory_budget_mib: Option<u64>,
    /// Bandwidth limit in bytes per second (e.g. 10M); none by default.
    #[arg(long)]
    bwlimit: Option<String>,
    /// List and compare only; print what would be copied and skipped.
    #[arg(long)]
    dry_run: bool,
    /// Restore archived (GLACIER, DEEP_ARCHIVE) source objects, wait, then copy them (S3
    /// sources; OMS `enable_restore`). Without it an archived object fails alone.
    #[arg(long)]
    restore: bool,
    /// Destination storage class: STANDARD, IA, ARCHIVE, DEEP_ARCHIVE, or SRC_STORAGE_MAPPING
    /// to follow each source object's class (S3 destinations; OMS `dst_storage_policy`).
    #[arg(long, value_name = "POLICY")]
    storage_policy: Option<String>,
    /// Stream every object through tern even when SRC and DST are buckets of one S3 endpoint
    /// (by default those are copied inside the service: CopyObject / UploadPartCopy).
    #[arg(long)]
    no_server_side_copy: bool,
    /// Print the final report as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Smallest part S3 accepts for all but the last part.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Largest part S3 accepts.
const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Runs `tern copy`; exit code 0 only when nothing failed.
pub async fn run(args: CopyArgs) -> Result<ExitCode> {
    let migration = build_migration(&args)?;
    // Before the progress display, so a missing bucket, refused credentials or an unreachable
    // endpoint print one line and nothing else (the run probes again; two small listings).
    migration.probe().await?;
    let (sender, receiver) = mpsc::channel(4096);
    let progress = Progress::start(args.json, Arc::clone(&migration.progress_bytes));
    let printer = tokio::spawn(consume_events(
        receiver,
        progress.clone(),
        args.dry_run && !args.json,
    ));

    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let outcome = migration.run(sender, cancel).await;
    let failed = printer.await.unwrap_or_default();
    progress.finish();
    // A run-fatal error is one line naming the cause, side and place (tern_engine::error::explain).
    let summary = outcome?;

    let report = Report::new(summary, failed, args.dry_run);
    if args.json {
        println!("{}", report.to_json());
    } else {
        eprint!("{}", report.to_text());
    }
    Ok(if report.failed_num() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The scheme of a URL-list source: `urllist:PATH` (or `urllist:///abs/path`), a local file.
const URL_LIST_SCHEME: &str = "urllist:";

fn build_migration(args: &CopyArgs) -> Result<Migration> {
    let destination_location = Location::parse_url(&args.dst, credentials_from_env("TERN_DST"))?;
    let (source, selection, http, source_location) = match args.src.strip_prefix(URL_LIST_SCHEME) {
        Some(list) => {
            let (source, selection, http) = url_list_source(args, list)?;
            (source, selection, http, None)
        }
        None => {
            let location = Location::parse_url(&args.src, credentials_from_env("TERN_SRC"))?;
            let source = Storage::open_source(&location)?;
            (source, key_selection(args)?, None, Some(location))
        }
    };
    let source_protocol = Some(
        source_location
            .as_ref()
            .map_or(tern_core::Protocol::Http, |location| location.protocol),
    );
    let policy = args.storage_policy.as_deref().unwrap_or("STANDARD");
    tern_core::check_transfer_options(
        policy,
        false,
        args.restore,
        source_protocol,
        destination_location.protocol,
    )
    .context("--storage-policy / --restore (OMS dst_storage_policy / enable_restore)")?;
    let plan = tern_core::destination_storage_plan(
        policy,
        source_protocol,
        destination_location.protocol,
    )?;
    let storage_class = match plan {
        StoragePlan::Fixed(class) => class,
        StoragePlan::FromSource => None,
    };
    let tuning = Tuning {
        storage_class: storage_class.map(str::to_owned),
        request_payer: false,
    };
    let metrics = EngineMetrics::default();
    let destination = Storage::open_tuned(&destination_location, &tuning, &metrics)?;
    // Both need an S3-speaking source, which check_transfer_options has made sure of.
    let restore = match (&source_location, args.restore) {
        (Some(location), true) => Some(Arc::new(Restorer::open(
            location,
            false,
            RestoreOptions::default(),
            &metrics,
        )?)),
        _ => None,
    };
    let class_mapping = match (&source_location, plan == StoragePlan::FromSource) {
        (Some(location), true) => Some(Arc::new(ClassMapping::open(
            location,
            false,
            &destination_location,
            &metrics,
        )?)),
        _ => None,
    };

    let part_size = parse_size(&args.part_size).context("--part-size")?;
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
        return Err(anyhow!(
            "--part-size must be between 5M and 5G, got {}",
            args.part_size
        ));
    }
    let memory = match args.memory_budget_mib {
        None => MemoryBudget::process_default(),
        Some(mib) => Arc::new(
            MemoryBudget::from_mib(mib).map_err(|err| anyhow!("--memory-budget-mib {err}"))?,
        ),
    };
    let plain_limit = match &args.bwlimit {
        Some(text) => Some(parse_size(text).context("--bwlimit")?),
        None => None,
    };
    let options = MigrationOptions {
        overwrite: args
            .overwrite
            .parse::<OverwriteMode>()
            .map_err(|e| anyhow!("--overwrite: {e}"))?,
        check: args
            .check
            .parse::<ConsistencyCheck>()
            .map_err(|e| anyhow!("--check: {e}"))?,
        since_ms: args.since.as_deref().map(parse_since_ms).transpose()?,
        metadata: args.metadata,
        transfers: args.transfers.clamp(1, 1024),
        checkers: args.checkers.clamp(1, 1024),
        part_size: part_size as usize,
        part_concurrency: args.part_concurrency.clamp(1, 64),
        dry_run: args.dry_run,
        server_side_copy: !args.no_server_side_copy,
        run_started_ms: None,
        memory,
    };
    let mut migration = Migration::new(source, destination, selection);
    migration.http = http;
    migration.options = options;
    migration.restore = restore;
    migration.class_mapping = class_mapping;
    migration.throttle = Arc::new(Throttle::new(BandwidthPolicy::default(), plain_limit));
    Ok(migration)
}

/// The keys of a storage source: `--list-file`, `--object`, `--prefix`, or everything.
fn key_selection(args: &CopyArgs) -> Result<Selection> {
    Ok(if let Some(path) = &args.list_file {
        let (storage, path) = local_file(path, "--list-file")?;
        Selection::ListFile {
            storage,
            path,
            lines: None,
        }
    } else if !args.objects.is_empty() {
        Selection::Objects(args.objects.clone())
    } else if !args.prefixes.is_empty() {
        Selection::Prefixes(args.prefixes.clone())
    } else {
        Selection::Prefixes(vec![String::new()])
    })
}

/// A URL-list source (`urllist:FILE`): every line of the local file, fetched over HTTP with no
/// proxy and no ambient credentials, exactly as a `url_list` task fetches (README, URL lists).
fn url_list_source(
    args: &CopyArgs,
    list: &str,
) -> Result<(Storage, Selection, Option<HttpSource>)> {
    if args.list_file.is_some() || !args.objects.is_empty() || !args.prefixes.is_empty() {
        return Err(anyhow!(
            "a urllist: source copies every line of its file; --prefix, --object and --list-file do not apply"
        ));
    }
    // `urllist:///abs/list.txt` reads like the other URLs; `urllist:list.txt` is a plain path.
    let path = list.strip_prefix("//").unwrap_or(list);
    if path.is_empty() {
        return Err(anyhow!("urllist: names no file (urllist:PATH)"));
    }
    let (storage, name) = local_file(path, "urllist:")?;
    let selection = Selection::UrlList {
        storage,
        path: name,
        lines: None,
    };
    Ok((
        tern_engine::urllist::url_list_source()?,
        selection,
        Some(HttpSource::new(None)?),
    ))
}

/// A local file as a storage (its directory) and the file's name in it.
fn local_file(path: &str, what: &str) -> Result<(Storage, String)> {
    let absolute = std::path::absolute(path).with_context(|| format!("{what} {path}"))?;
    let parent = absolute.parent().unwrap_or(Path::new("/"));
    let name = absolute
        .file_name()
        .ok_or_else(|| anyhow!("{what} {path} names no file"))?;
    if !absolute.is_file() {
        return Err(anyhow!("{what} {path} is not a readable file"));
    }
    let location = Location {
        protocol: Protocol::Fs,
        bucket: String::new(),
        endpoint: None,
        region: None,
        root: parent.to_string_lossy().into_owned(),
        credentials: Credentials::default(),
    };
    Ok((
        Storage::open(&location)?,
        name.to_string_lossy().into_owned(),
    ))
}

/// Reads `<PREFIX>_AK`/`<PREFIX>_SK` (and `_TOKEN`), falling back to the AWS variables.
fn credentials_from_env(prefix: &str) -> Credentials {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let access_key = var(&format!("{prefix}_AK")).or_else(|| var("AWS_ACCESS_KEY_ID"));
    let secret_key = var(&format!("{prefix}_SK")).or_else(|| var("AWS_SECRET_ACCESS_KEY"));
    let token = var(&format!("{prefix}_TOKEN")).or_else(|| var("AWS_SESSION_TOKEN"));
    Credentials {
        access_key: access_key.unwrap_or_default(),
        secret_key: Secret::new(secret_key.unwrap_or_default()),
        security_token: token.map(Secret::new),
        connection_string: var(&format!("{prefix}_AZURE_CONNECTION_STRING")).map(Secret::new),
        json_auth_file: var(&format!("{prefix}_GCS_CREDENTIAL_JSON")).map(Secret::new),
    }
}

/// Feeds the progress display and keeps the failures for the report.
async fn consume_events(
    mut events: mpsc::Receiver<Event>,
    progress: Progress,
    print_plan: bool,
) -> Vec<FailedObject> {
    let mut failed = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Listed { size, .. } => progress.listed(size),
            Event::Restoring { key } => progress.restore_started(&key),
            Event::Planned {
                key,
                size,
                decision,
            } => {
                progress.finished();
                if print_plan {
                    match decision {
                        Decision::Copy => {
                            progress.println(format!("would copy {key} ({size} bytes)"))
                        }
                        Decision::Skip(reason) => {
                            progress.println(format!("would skip {key}: {reason}"))
                        }
                    }
                }
            }
            Event::Finished(outcome) => {
                progress.finished();
                if let tern_core::Outcome::Failed { code, message } = outcome.outcome {
                    failed.push(FailedObject {
                        key: outcome.key,
                        code: code.as_str().to_owned(),
                        reason: message,
                    });
                }
            }
        }
    }
    failed
}
