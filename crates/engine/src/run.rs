//! One migration run: list → pair with the destination → decide → copy → verify, streaming.
//!
//! The run never holds the listing: items flow through a bounded pipeline of `transfers` objects
//! in flight (each spawned on the runtime so checksums use every core). Every listed object ends
//! in exactly one [`Event::Finished`] (or [`Event::Planned`] in a dry run), so a consumer that
//! persists events keeps invariant 1 of DESIGN.md.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use futures::stream::{self, StreamExt, TryStreamExt};
use tern_core::{
    ConsistencyCheck, CopyPath, Counters, FailureCode, ObjectOutcome, Outcome, OverwriteMode,
    SkipReason,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::compare::{decide, Decision, ObjectMeta};
use crate::copy::{CopyContext, CopyFailure, CopyOptions};
use crate::error::{Error, Explained, Result, Side};
use crate::http_copy::copy_url_object;
use crate::listing::{list_selection, object_meta, Listed, Selection, SourceObject};
use crate::march::{can_march, list_destination, merge, DstState};
use crate::memory::MemoryBudget;
use crate::restore::Restorer;
use crate::resumable::{PartCheckpoints, PartResumer};
use crate::server_copy::{Delivered, ListedObject, ServerCopier};
use crate::storage::Storage;
use crate::storage_class::ClassMapping;
use crate::throttle::Throttle;
use crate::urllist::list_url_file;
use crate::HttpSource;

/// Objects copied at once by default.
pub const DEFAULT_TRANSFERS: usize = 32;
/// Named keys looked up at once by default.
pub const DEFAULT_CHECKERS: usize = 16;
/// Default multipart part size (8 MiB): objects up to it go in one PUT.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one large object in flight by default.
pub const DEFAULT_PART_CONCURRENCY: usize = 4;
/// Archived objects whose restore a run waits for at once; past it, objects that need a restore
/// wait for a place before asking for theirs (each wait is a HEAD now and then, no memory to
/// speak of, but a bound keeps a bucket of archives from becoming a million timers).
const MAX_PENDING_RESTORES: usize = 10_000;
/// How long a stopped run waits for the multipart uploads it cut short to be aborted.
const CLEANUP_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct MigrationOptions {
    /// What to do with keys the destination already has.
    pub overwrite: OverwriteMode,
    /// How copies are verified.
    pub check: ConsistencyCheck,
    /// Skip source objects last modified before this (Unix milliseconds).
    pub since_ms: Option<i64>,
    /// Copy user metadata too.
    pub metadata: bool,
    /// Objects in flight.
    pub transfers: usize,
    /// Named keys looked up at once.
    pub checkers: usize,
    /// Multipart part size in bytes.
    pub part_size: usize,
    /// Parts of one object in flight.
    pub part_concurrency: usize,
    /// List and compare only; report what would be copied.
    pub dry_run: bool,
    /// Copy inside the service when source and destination are buckets of one S3 endpoint
    /// (`server_copy`); `false` streams every object through tern.
    pub server_side_copy: bool,
    /// When this task's current run began (its first claim, Unix ms), if a crash may have cut
    /// an earlier attempt of it short: a destination object the overwrite policy skips and that
    /// was written since then was copied by that attempt, whose outcome the crash lost, and
    /// counts as copied rather than skipped.
    pub run_started_ms: Option<i64>,
    /// The budget copy buffers come out of: one per process, shared by every run
    /// ([`MemoryBudget::process_default`] unless the caller configures one).
    pub memory: Arc<MemoryBudget>,
}

impl Default for MigrationOptions {
    fn default() -> Self {
        MigrationOptions {
            overwrite: OverwriteMode::default(),
            check: ConsistencyCheck::default(),
            since_ms: None,
            metadata: false,
            transfers: DEFAULT_TRANSFERS,
            checkers: DEFAULT_CHECKERS,
            part_size: DEFAULT_PART_SIZE,
            part_concurrency: DEFAULT_PART_CONCURRENCY,
            dry_run: false,
            server_side_copy: true,
            run_started_ms: None,
            memory: MemoryBudget::process_default(),
        }
    }
}

/// What a run reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An object (or named key) entered the run.
    Listed {
        /// Source key.
        key: String,
        /// Source size (0 for a key that was not found).
        size: u64,
    },
    /// Dry run only: what would happen to a found object.
    Planned {
        /// Source key.
        key: String,
        /// Source size.
        size: u64,
        /// The verdict.
        decision: Decision,
    },
    /// An archived object's restore was asked for; the object is copied once it completes
    /// (its `Finished` follows), and meanwhile other objects go on.
    Restoring {
        /// Source key.
        key: String,
    },
    /// An object's final outcome.
    Finished(ObjectOutcome),
}

/// The totals of a finished run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Object and byte counters (in a dry run, successful ones stay zero).
    pub counters: Counters,
    /// Dry run: objects that would be copied.
    pub would_copy_num: u64,
    /// Dry run: bytes that would be copied.
    pub would_copy_size: u64,
}

/// A configured migration from one storage to another.
#[derive(Debug, Clone)]
pub struct Migration {
    /// Where objects come from.
    pub source: Storage,
    /// Where they go.
    pub destination: Storage,
    /// Which source objects.
    pub selection: Selection,
    /// Prepended to every key at the destination (OMS `save_prefix`).
    pub dst_prefix: String,
    /// Behaviour.
    pub options: MigrationOptions,
    /// Shared bandwidth limit; replace its policy to change a running task's limit.
    pub throttle: Arc<Throttle>,
    /// Bytes read so far across all transfers.
    pub progress_bytes: Arc<AtomicU64>,
    /// Resume point of a prefix selection: only keys sorting after it are listed.
    pub start_after: Option<String>,
    /// Last key (inclusive) of a prefix selection: the end of a group task's key range.
    pub end_at: Option<String>,
    /// Fetches objects over HTTP: required by URL lists; with a CDN, every listed object is
    /// read through it instead of from `source`.
    pub http: Option<HttpSource>,
    /// Restores archived source objects before copying them (`enable_restore`); without it an
    /// archived object fails alone (`FailureCode::SourceArchived`).
    pub restore: Option<Arc<Restorer>>,
    /// Writes each object in the class its source object's class maps to
    /// (`SRC_STORAGE_MAPPING`); without it every object goes through `destination`.
    pub class_mapping: Option<Arc<ClassMapping>>,
    /// Checkpoints the multipart uploads of an S3 destination so that a later run of the task
    /// resumes them part by part (`resumable`, RFC 0012); `None` keeps no checkpoint.
    pub part_checkpoints: Option<PartCheckpoints>,
}

/// What one pipeline slot produced.
enum Step {
    Finished(ObjectOutcome),
    /// An object failed in a way every other object would too (bucket missing, credentials
    /// refused, endpoint unreachable): the run ends with this error, and the object, like the
    /// others not finished, gets no outcome (a resumed run copies it).
    Fatal(Error),
    /// The run stopped before this object's copy completed: it gets no outcome now, and a
    /// resumed run copies it.
    Stopped,
    Planned {
        key: String,
        size: u64,
        decision: Decision,
    },
    /// An archived object whose restore was asked for: it waits outside the pipeline, so that
    /// the wait holds no transfer slot.
    Restoring {
        object: Box<SourceObject>,
        dst_key: String,
        place: tokio::sync::OwnedSemaphorePermit,
    },
}

impl Migration {
    /// A migration with default options and no bandwidth limit.
    pub fn new(source: Storage, destination: Storage, selection: Selection) -> Self {
        Migration {
            source,
            destination,
            selection,
            dst_prefix: String::new(),
            options: MigrationOptions::default(),
            throttle: Arc::new(Throttle::unlimited()),
            progress_bytes: Arc::new(AtomicU64::new(0)),
            start_after: None,
            end_at: None,
            http: None,
            restore: None,
            class_mapping: None,
            part_checkpoints: None,
        }
    }

    /// Checks both ends with one cheap request each (a listing of at most one entry at the
    /// root), so that a missing bucket, refused credentials or an unreachable endpoint stop the
    /// run at once with one line instead of failing every object. A problem that may concern
    /// some objects only (access denied to listing, for a write-only destination) is left for
    /// the run to meet per object.
    pub async fn probe(&self) -> Result<()> {
        probe_storage(&self.source, Side::Source).await?;
        probe_storage(&self.destination, Side::Destination).await
    }

    /// Runs to the end (or until `cancel`), sending every event to `events`.
    ///
    /// Errors are run-fatal only (see [`Migration::probe`]; unreadable listing, bad list file,
    /// an object failing with a run-fatal cause, cancellation); per-object failures are
    /// [`Outcome::Failed`] events. A dropped receiver does not stop the run.
    ///
    /// On cancellation no new object starts; copies in flight stop reading, abort their
    /// multipart uploads and end. A copy that completed anyway (a single PUT already sent) still
    /// reports its outcome, so nothing written goes unrecorded. The run waits for them (at most
    /// `CLEANUP_GRACE`, then drops them) before it returns [`Error::Cancelled`].
    pub async fn run(
        &self,
        events: mpsc::Sender<Event>,
        cancel: CancellationToken,
    ) -> Result<Summary> {
        let copier = Arc::new(Copier::for_run(self, &cancel));
        // Copies watch `copier.stop`: cancelled with `cancel`, at the end of the run, or when
        // this future is dropped.
        let _stop_when_dropped = copier.stop.clone().drop_guard();
        let mut pipeline = Box::pin(self.run_to_end(events, Arc::clone(&copier)));
        let ended = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            summary = &mut pipeline => Some(summary),
        };
        let result = match ended {
            Some(summary) => summary,
            None => {
                // The listing ends at `stop` (a child of `cancel`); drain the copies in flight
                // so the outcomes of those that completed are sent.
                if tokio::time::timeout(CLEANUP_GRACE, &mut pipeline)
                    .await
                    .is_err()
                {
                    tracing::warn!("copies in flight did not end in time after the stop");
                }
                Err(Error::Cancelled)
            }
        };
        // Every object settled: a checkpointed upload still in the journal is stale.
        if let (Ok(_), Some(resumer)) = (&result, &copier.resumer) {
            if !self.options.dry_run {
                resumer.sweep().await;
            }
        }
        // The pipeline is no longer polled: copy tasks still running end on `stop`.
        copier.stop.cancel();
        let cleanup = &copier.cleanup;
        cleanup.close();
        if tokio::time::timeout(CLEANUP_GRACE, cleanup.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                pending = cleanup.len(),
                "copies still stopping when the run ended; dropping them"
            );
        }
        // Aborts any copy task still running (AbortOnDrop).
        drop(pipeline);
        result
    }

    async fn run_to_end(
        &self,
        events: mpsc::Sender<Event>,
        copier: Arc<Copier>,
    ) -> Result<Summary> {
        self.probe().await?;
        let start_after = self.start_after.as_deref();
        let listed = match (&self.selection, &self.http) {
            (
                Selection::UrlList {
                    storage,
                    path,
                    lines,
                },
                Some(http),
            ) => list_url_file(storage, path, *lines, http, self.options.checkers).await?,
            _ => {
                let listed = list_selection(
                    &self.source,
                    &self.selection,
                    self.options.checkers,
                    start_after,
                )
                .await?;
                match self.http.clone() {
                    Some(http) => through_cdn(listed, http),
                    None => listed,
                }
            }
        };
        let listed = self.bound_listing(listed);
        let paired = if can_march(&self.source, &self.destination, &self.selection) {
            let Selection::Prefixes(prefixes) = &self.selection else {
                unreachable!("can_march only accepts prefix selections")
            };
            let destination =
                list_destination(&self.destination, &self.dst_prefix, prefixes, start_after)
                    .await?;
            merge(listed, destination)
        } else {
            listed.map_ok(|item| (item, DstState::Unknown)).boxed()
        };

        let listed_events = events.clone();
        let restores = Arc::clone(&copier);
        let steps = paired
            .take_until(copier.stop.clone().cancelled_owned())
            .and_then(move |(item, dst)| {
                let events = listed_events.clone();
                async move {
                    let (key, size) = match &item {
                        Listed::Found(object) => (object.key.clone(), object.meta.size),
                        Listed::Missing { key, .. } => (key.clone(), 0),
                    };
                    let _ = events.send(Event::Listed { key, size }).await;
                    Ok((item, dst))
                }
            })
            .map_ok(move |(item, dst)| {
                // One shared, immutable copier per run: cloning it per object is a reference
                // count, not a copy of the plan (selection vectors, options, storages).
                let copier = Arc::clone(&copier);
                let key = match &item {
                    Listed::Found(object) => object.key.clone(),
                    Listed::Missing { key, .. } => key.clone(),
                };
                let size = match &item {
                    Listed::Found(object) => object.meta.size,
                    Listed::Missing { .. } => 0,
                };
                async move {
                    // A panic in one object's copy fails that object, not the run. The guard
                    // aborts the copy when the run is dropped (stop, shutdown), so no copy goes
                    // on after its task is paused.
                    let tracker = copier.cleanup.clone();
                    let mut copy =
                        AbortOnDrop(tracker.spawn(async move { copier.process(item, dst).await }));
                    match (&mut copy.0).await {
                        Ok(step) => Ok(step),
                        Err(join_error) => {
                            tracing::error!(key = %key, error = %join_error, "object copy panicked");
                            Ok(Step::Finished(ObjectOutcome {
                                key,
                                size,
                                outcome: Outcome::Failed {
                                    code: FailureCode::Internal,
                                    message: "internal error while copying".to_owned(),
                                },
                            }))
                        }
                    }
                }
            })
            .try_buffer_unordered(self.options.transfers.max(1));

        let mut steps = std::pin::pin!(steps);
        let mut summary = Summary::default();
        // Objects waiting for their restore, then copying; they end in a `Step` like the rest.
        let mut restoring = stream::FuturesUnordered::new();
        let mut listing_open = true;
        loop {
            let step = tokio::select! {
                next = steps.try_next(), if listing_open => match next? {
                    Some(step) => step,
                    None => {
                        listing_open = false;
                        continue;
                    }
                },
                Some(step) = restoring.next(), if !restoring.is_empty() => step,
                else => break,
            };
            match step {
                Step::Restoring {
                    object,
                    dst_key,
                    place,
                } => {
                    let key = object.key.clone();
                    let size = object.meta.size;
                    let _ = events.send(Event::Restoring { key: key.clone() }).await;
                    let copier = Arc::clone(&restores);
                    let mut copy = AbortOnDrop(copier.cleanup.clone().spawn(async move {
                        copier.copy_after_restore(*object, dst_key, place).await
                    }));
                    restoring.push(async move {
                        match (&mut copy.0).await {
                            Ok(step) => step,
                            Err(join_error) => {
                                tracing::error!(key = %key, error = %join_error, "copy after restore panicked");
                                Step::Finished(ObjectOutcome {
                                    key,
                                    size,
                                    outcome: Outcome::Failed {
                                        code: FailureCode::Internal,
                                        message: "internal error while copying".to_owned(),
                                    },
                                })
                            }
                        }
                    });
                }
                Step::Stopped => {}
                Step::Fatal(err) => return Err(err),
                Step::Finished(outcome) => {
                    summary.counters.total_num += 1;
                    summary.counters.total_size += outcome.size;
                    summary.counters.record(&outcome);
                    let _ = events.send(Event::Finished(outcome)).await;
                }
                Step::Planned {
                    key,
                    size,
                    decision,
                } => {
                    summary.counters.total_num += 1;
                    summary.counters.total_size += size;
                    match decision {
                        Decision::Copy => {
                            summary.would_copy_num += 1;
                            summary.would_copy_size += size;
                        }
                        Decision::Skip(_) => {
                            summary.counters.skipped_num += 1;
                            summary.counters.skipped_size += size;
                        }
                    }
                    let _ = events
                        .send(Event::Planned {
                            key,
                            size,
                            decision,
                        })
                        .await;
                }
            }
        }
        Ok(summary)
    }

    /// Cuts the listing at `end_at`: an ordered listing stops there, any other is filtered.
    fn bound_listing(
        &self,
        listed: futures::stream::BoxStream<'static, Result<Listed>>,
    ) -> futures::stream::BoxStream<'static, Result<Listed>> {
        let Some(end) = self.end_at.clone() else {
            return listed;
        };
        let within = move |item: &Listed| match item {
            Listed::Found(object) => object.key <= end,
            Listed::Missing { key, .. } => *key <= end,
        };
        let ordered =
            matches!(self.selection, Selection::Prefixes(_)) && self.source.lists_in_key_order();
        if ordered {
            listed
                .try_take_while(move |item| futures::future::ready(Ok(within(item))))
                .boxed()
        } else {
            listed
                .try_filter(move |item| futures::future::ready(within(item)))
                .boxed()
        }
    }
}

/// What every object of one run needs, fixed when the run starts and shared by `Arc`, so that
/// the objects in flight share one plan instead of each cloning the [`Migration`].
struct Copier {
    source: Storage,
    destination: Storage,
    dst_prefix: String,
    options: MigrationOptions,
    throttle: Arc<Throttle>,
    progress_bytes: Arc<AtomicU64>,
    /// Cancelled when the run stops; copies end at their next read.
    stop: CancellationToken,
    /// Every copy task, and every abort a dropped copy hands over (copy.rs).
    cleanup: TaskTracker,
    /// Fetches objects that carry an HTTP origin.
    http: Option<HttpSource>,
    /// Restores archived objects (`enable_restore`).
    restore: Option<Arc<Restorer>>,
    /// Picks the destination class per object (`SRC_STORAGE_MAPPING`).
    class_mapping: Option<Arc<ClassMapping>>,
    /// Copies running at once, `transfers` at most: objects copied after their restore run
    /// outside the pipeline, and must not push memory past transfers × part size.
    copy_slots: Arc<tokio::sync::Semaphore>,
    /// Places for objects waiting for their restore ([`MAX_PENDING_RESTORES`]).
    restore_places: Arc<tokio::sync::Semaphore>,
    /// Copies inside the service when both ends are one S3 endpoint.
    server_copy: Option<ServerCopier>,
    /// Checkpoints and resumes the multipart uploads of an S3 destination.
    resumer: Option<PartResumer>,
}

impl Copier {
    fn for_run(migration: &Migration, cancel: &CancellationToken) -> Self {
        let Migration {
            source,
            destination,
            selection: _,
            dst_prefix,
            options,
            throttle,
            progress_bytes,
            start_after: _,
            end_at: _,
            http,
            restore,
            class_mapping,
            part_checkpoints,
        } = migration;
        Copier {
            source: source.clone(),
            destination: destination.clone(),
            dst_prefix: dst_prefix.clone(),
            options: options.clone(),
            throttle: Arc::clone(throttle),
            progress_bytes: Arc::clone(progress_bytes),
            stop: cancel.child_token(),
            cleanup: TaskTracker::new(),
            http: http.clone(),
            restore: restore.clone(),
            class_mapping: class_mapping.clone(),
            copy_slots: Arc::new(tokio::sync::Semaphore::new(options.transfers.max(1))),
            restore_places: Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_RESTORES)),
            // A per-object class (`SRC_STORAGE_MAPPING`) is written by the streaming path only.
            server_copy: ServerCopier::between(
                source,
                destination,
                options.server_side_copy && class_mapping.is_none(),
            ),
            // A per-object destination (`SRC_STORAGE_MAPPING`) is not the run's endpoint.
            resumer: part_checkpoints
                .as_ref()
                .filter(|_| class_mapping.is_none())
                .and_then(|checkpoints| PartResumer::for_run(Some(checkpoints), destination)),
        }
    }

    async fn process(&self, item: Listed, dst: DstState) -> Step {
        let object = match item {
            Listed::Found(object) => object,
            Listed::Missing { key, code, message } => {
                return Step::Finished(ObjectOutcome {
                    key,
                    size: 0,
                    outcome: Outcome::Failed { code, message },
                })
            }
        };
        let finished = |outcome| {
            Step::Finished(ObjectOutcome {
                key: object.key.clone(),
                size: object.meta.size,
                outcome,
            })
        };
        if let (Some(since), Some(modified)) = (self.options.since_ms, object.meta.last_modified_ms)
        {
            if modified < since {
                return finished(Outcome::Skipped(SkipReason::OlderThanSince));
            }
        }
        let dst_key = format!("{}{}", self.dst_prefix, object.key);
        let (decision, dst_modified_ms) = match self.decide(&object, &dst_key, dst).await {
            Ok(decided) => decided,
            Err(failure) => return failed(&object.key, object.meta.size, failure),
        };
        if self.options.dry_run {
            return Step::Planned {
                key: object.key.clone(),
                size: object.meta.size,
                decision,
            };
        }
        if let Decision::Skip(reason) = decision {
            if written_by_this_run(self.options.run_started_ms, dst_modified_ms) {
                return finished(Outcome::Succeeded {
                    verification: tern_core::Verification::SizeLastModified,
                    crc64: None,
                    path: CopyPath::Streamed,
                });
            }
            return finished(Outcome::Skipped(reason));
        }
        match self.copy_found(&object, &dst_key).await {
            Ok(copied) => finished(Outcome::Succeeded {
                verification: copied.verification,
                crc64: copied.crc64,
                path: copied.path,
            }),
            // A copy cut short by the stop is not a failure of the object.
            Err(_) if self.stop.is_cancelled() => Step::Stopped,
            Err(failure) if failure.code == FailureCode::SourceArchived => match &self.restore {
                Some(restorer) => self.begin_restore(restorer, object, dst_key).await,
                None => failed(&object.key, object.meta.size, failure),
            },
            Err(failure) => failed(&object.key, object.meta.size, failure),
        }
    }

    /// Copies one found object to `dst_key`, in its mapped class under `SRC_STORAGE_MAPPING`,
    /// once one of the run's `transfers` copy slots is free.
    async fn copy_found(
        &self,
        object: &SourceObject,
        dst_key: &str,
    ) -> Result<Delivered, CopyFailure> {
        // A CDN-fetched object still lives in the source bucket, whose HEAD gives its class
        // (URL lists, which have no bucket, cannot ask for the mapping).
        let destination = match &self.class_mapping {
            Some(mapping) => mapping.destination_for(&object.key).await?,
            None => &self.destination,
        };
        let _slot = tokio::select! {
            biased;
            _ = self.stop.cancelled() => return Err(CopyFailure::stopped()),
            slot = self.copy_slots.acquire() => slot.map_err(|_| CopyFailure::stopped())?,
        };
        let ctx = CopyContext {
            source: &self.source,
            destination,
            options: CopyOptions {
                part_size: self.options.part_size,
                part_concurrency: self.options.part_concurrency,
                metadata: self.options.metadata,
                check: self.options.check,
            },
            throttle: &self.throttle,
            progress: &self.progress_bytes,
            stop: &self.stop,
            cleanup: &self.cleanup,
            resume: self.resumer.as_ref(),
            memory: &self.options.memory,
        };
        match (&object.origin, &self.http) {
            (Some(origin), Some(http)) => {
                copy_url_object(ctx, http, origin, object.meta.size, dst_key)
                    .await
                    .map(|copied| Delivered {
                        verification: copied.verification,
                        crc64: Some(copied.crc64),
                        path: CopyPath::Streamed,
                    })
            }
            // Server-side when it can, streamed otherwise (server_copy.rs).
            _ => {
                let listed = ListedObject {
                    key: &object.key,
                    size: object.meta.size,
                    etag: object.etag.as_deref(),
                };
                ServerCopier::deliver(self.server_copy.as_ref(), ctx, listed, dst_key).await
            }
        }
    }

    /// Asks for an archived object's restore and hands the object to the run's waiters.
    async fn begin_restore(
        &self,
        restorer: &Restorer,
        object: SourceObject,
        dst_key: String,
    ) -> Step {
        let place = tokio::select! {
            biased;
            _ = self.stop.cancelled() => return Step::Stopped,
            place = Arc::clone(&self.restore_places).acquire_owned() => match place {
                Ok(place) => place,
                Err(_) => return Step::Stopped,
            },
        };
        if let Err(failure) = restorer.request(&object.key).await {
            return failed(&object.key, object.meta.size, failure);
        }
        tracing::info!(key = %object.key, "source object is archived; restore requested, copying it once restored");
        Step::Restoring {
            object: Box::new(object),
            dst_key,
            place,
        }
    }

    /// Waits for an archived object's restore, then copies it. A wait cut by the stop leaves
    /// the object without an outcome, so a resumed run restores and copies it.
    async fn copy_after_restore(
        &self,
        object: SourceObject,
        dst_key: String,
        place: tokio::sync::OwnedSemaphorePermit,
    ) -> Step {
        let Some(restorer) = &self.restore else {
            return Step::Stopped;
        };
        match restorer.wait_restored(&object.key, &self.stop).await {
            Ok(true) => {}
            Ok(false) => return Step::Stopped,
            Err(failure) => return failed(&object.key, object.meta.size, failure),
        }
        drop(place);
        tracing::info!(key = %object.key, "archived source object restored; copying");
        match self.copy_found(&object, &dst_key).await {
            Ok(copied) => Step::Finished(ObjectOutcome {
                key: object.key,
                size: object.meta.size,
                outcome: Outcome::Succeeded {
                    verification: copied.verification,
                    crc64: copied.crc64,
                    path: copied.path,
                },
            }),
            Err(_) if self.stop.is_cancelled() => Step::Stopped,
            Err(failure) => failed(&object.key, object.meta.size, failure),
        }
    }

    /// Applies the overwrite policy, looking up what listings could not answer.
    async fn decide(
        &self,
        object: &SourceObject,
        dst_key: &str,
        dst: DstState,
    ) -> Result<(Decision, Option<i64>), CopyFailure> {
        if self.options.overwrite == OverwriteMode::FullOverwrite && !self.options.dry_run {
            return Ok((Decision::Copy, None));
        }
        // OMS `no_check` (REFERENCE.md §1.2): without a Content-Length the object cannot be
        // compared, and a completed download overwrites a same-name destination object.
        if object
            .origin
            .as_ref()
            .is_some_and(|origin| !origin.size_known)
        {
            return Ok((Decision::Copy, None));
        }
        let mut dst_meta = match dst {
            DstState::Listed(meta) => meta,
            DstState::Unknown => self.stat_destination(dst_key).await?,
        };
        let mut src_meta = object.meta.clone();
        // Listings carry no user metadata, so CRC64 needs a HEAD on both sides, but only when
        // the sizes agree (a size difference decides by itself).
        if self.options.overwrite == OverwriteMode::Crc64 {
            if let Some(dst_listed) = dst_meta
                .as_ref()
                .filter(|m| m.size == src_meta.size && m.crc64.is_none())
            {
                let _ = dst_listed;
                dst_meta = self.stat_destination(dst_key).await?;
            }
            if dst_meta.as_ref().is_some_and(|m| m.crc64.is_some())
                && src_meta.crc64.is_none()
                && object.origin.is_none()
            {
                if let Ok(meta) =
                    crate::rawpath::stat_exact(self.source.operator(), &object.key).await
                {
                    src_meta = object_meta(&meta, self.source.protocol());
                }
            }
        }
        let dst_modified_ms = dst_meta.as_ref().and_then(|meta| meta.last_modified_ms);
        Ok((
            decide(self.options.overwrite, &src_meta, dst_meta.as_ref()),
            dst_modified_ms,
        ))
    }

    async fn stat_destination(&self, dst_key: &str) -> Result<Option<ObjectMeta>, CopyFailure> {
        match crate::rawpath::stat_exact(self.destination.operator(), dst_key).await {
            Ok(meta) if meta.is_file() => Ok(Some(object_meta(&meta, self.destination.protocol()))),
            Ok(_) => Ok(None),
            Err(err) => {
                let explained = Explained::of(
                    &err,
                    &self.destination.place(Side::Destination, Some(dst_key)),
                );
                if err.kind() == opendal::ErrorKind::NotFound && !explained.run_fatal {
                    return Ok(None);
                }
                Err(CopyFailure {
                    code: explained.code,
                    message: explained.message,
                    run_fatal: explained.run_fatal,
                })
            }
        }
    }
}

/// Whether a destination object modified at `dst_modified_ms` was written since the run began
/// at `run_started_ms`. Stores keep modification times in whole seconds, so the run's start is
/// rounded down to its second.
fn written_by_this_run(run_started_ms: Option<i64>, dst_modified_ms: Option<i64>) -> bool {
    match (run_started_ms, dst_modified_ms) {
        (Some(started), Some(modified)) => modified >= started.div_euclid(1000) * 1000,
        _ => false,
    }
}

/// The step of an object that failed: its outcome, or the end of the run when every other object
/// would fail the same way.
fn failed(key: &str, size: u64, failure: CopyFailure) -> Step {
    let CopyFailure {
        code,
        message,
        run_fatal,
    } = failure;
    if run_fatal {
        tracing::debug!(key, code = %code, "object failed with a run-fatal cause; stopping the run");
        return Step::Fatal(Error::Storage {
            code,
            message,
            temporary: false,
        });
    }
    tracing::warn!(key, code = %code, message = %message, "object failed");
    Step::Finished(ObjectOutcome {
        key: key.to_owned(),
        size,
        outcome: Outcome::Failed { code, message },
    })
}

/// Gives every listed object the CDN URL it is fetched from, when the source goes through a CDN.
fn through_cdn(
    listed: futures::stream::BoxStream<'static, Result<Listed>>,
    http: HttpSource,
) -> futures::stream::BoxStream<'static, Result<Listed>> {
    listed
        .map_ok(move |item| match item {
            Listed::Found(mut object) => match http.cdn_origin(&object.key) {
                Some(Ok(origin)) => {
                    object.origin = Some(Box::new(origin));
                    Listed::Found(object)
                }
                Some(Err(err)) => Listed::Missing {
                    key: object.key,
                    code: FailureCode::SourceNotFound,
                    message: err.to_string(),
                },
                None => Listed::Found(object),
            },
            missing => missing,
        })
        .boxed()
}

/// One listing request of at most one entry at the root of `storage` (see [`Migration::probe`]).
async fn probe_storage(storage: &Storage, side: Side) -> Result<()> {
    // URL lists cannot be listed; a local directory is checked when the storage is opened
    // (`Storage::open_source`) and a destination directory is created on the first write.
    if storage.protocol() == tern_core::Protocol::Fs || !storage.operator().info().capability().list
    {
        return Ok(());
    }
    let listed = async {
        let mut lister = storage.operator().lister_with("/").limit(1).await?;
        lister.try_next().await.map(|_| ())
    }
    .await;
    match listed {
        Ok(()) => Ok(()),
        Err(err) => {
            let explained = Explained::of(&err, &storage.place(side, None));
            if explained.run_fatal {
                Err(explained.into_error(err.is_temporary()))
            } else {
                Ok(())
            }
        }
    }
}

/// Aborts a spawned copy when dropped, so cancelling a run cancels its copies too.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Collects a run's events into memory; meant for tests and small one-shot copies.
pub async fn run_collecting(migration: &Migration) -> Result<(Summary, Vec<ObjectOutcome>)> {
    let (sender, mut receiver) = mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        while let Some(event) = receiver.recv().await {
            if let Event::Finished(outcome) = event {
                outcomes.push(outcome);
            }
        }
        outcomes
    });
    let summary = migration.run(sender, CancellationToken::new()).await?;
    let outcomes = collector.await.unwrap_or_default();
    Ok((summary, outcomes))
}

#[allow(dead_code)]
fn _assert_send(migration: &Migration) {
    fn is_send<T: Send>(_: T) {}
    is_send(migration.run(mpsc::channel(1).0, CancellationToken::new()));
    let _ = stream::empty::<()>();
}

#[cfg(test)]
mod written_by_this_run_tests {
    use super::written_by_this_run;

    #[test]
    fn only_objects_written_since_the_runs_second_count() {
        let started = 1_700_000_000_500;
        assert!(written_by_this_run(Some(started), Some(1_700_000_000_000)));
        assert!(written_by_this_run(Some(started), Some(1_700_000_005_000)));
        assert!(!written_by_this_run(Some(started), Some(1_699_999_999_000)));
        assert!(!written_by_this_run(None, Some(1_700_000_005_000)));
        assert!(!written_by_this_run(Some(started), None));
    }
}
