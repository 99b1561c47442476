//! Copying one object: stream from the source, checksum on the way, write, verify.
//!
//! Objects up to one part size are read whole (bounded by the part size) and written with one
//! PUT, so tern knows their CRC64 before the write and stores it as `tern-crc64` metadata (`tern_crc64` on Azure); up to
//! [`MD5_CHECK_MAX_BYTES`] the MD5 of the bytes read is checked against the MD5 the source
//! declares (see [`DeclaredMd5`]) before the write, and the PUT's ETag against it after. When
//! the first two differ the object is read again: a corrupt read never lands, and an ETag that
//! is not an MD5 (SSE-KMS) does not fail the object (see [`settle_source_md5`]); likewise a
//! destination ETag that differs from the MD5 sent is settled by reading the object back (a
//! bucket with default SSE-KMS answers with such ETags), which costs a request only then. Larger
//! objects stream through a multipart writer that uploads `part_concurrency` parts at once; S3 fixes metadata when the
//! upload starts, so their CRC64 is stored only when the source declared one up front (it is
//! then verified against the bytes read), and is always reported in the outcome.
//!
//! A multipart upload that does not complete is aborted, so no half-finished upload lingers
//! (and is billed) at the destination: explicitly on a read, write or completion error, a short
//! read, or when the run stops (`stop`); and from `Drop` as a fallback when the copy's future is
//! dropped between writes (see `MultipartUpload`).
//!
//! This module owns the copy itself and its public types; the pieces it uses live beside it:
//! `multipart` (the upload that aborts unless it completes), `source_md5` (the source's declared
//! MD5 and the re-reads that settle a mismatch) and `verify` (the check after the write).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::TryStreamExt;
use opendal::{Buffer, Metadata};
use tern_core::{ConsistencyCheck, FailureCode, Verification};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{Explained, Place, Side};
use crate::listing::object_meta;
use crate::memory::{MemoryBudget, Pipeline, Reservation};
use crate::metadata_names::fit_metadata_names;
use crate::multipart::{MultipartUpload, MAX_PARTS};
use crate::rawpath::{needs_raw_path, read_exact, stat_exact, write_exact};
use crate::resumable::PartResumer;
use crate::source_md5::{
    read_again_raw, read_again_streamed, settle_source_md5, DeclaredMd5, SourceCheck,
    WholeReadBuilder,
};
use crate::storage::{crc64_metadata_key, ResumableCondition, Storage};
use crate::throttle::Throttle;
use crate::verify::{verify, Observed, WriteResult};

/// Knobs of one object copy.
#[derive(Debug, Clone, Copy)]
pub struct CopyOptions {
    /// Part size for multipart uploads; objects up to this size go in one PUT.
    pub part_size: usize,
    /// Parts of one object uploaded (and read) at once.
    pub part_concurrency: usize,
    /// Copy user metadata too (Content-Type is always copied).
    pub metadata: bool,
    /// How to verify.
    pub check: ConsistencyCheck,
}

/// A finished copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Bytes written.
    pub bytes: u64,
    /// CRC64-ECMA of the bytes written.
    pub crc64: u64,
    /// How the copy was verified.
    pub verification: Verification,
}

/// Why a copy failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFailure {
    /// OMS failure code.
    pub code: FailureCode,
    /// One line naming the cause (see [`crate::error::explain`]).
    pub message: String,
    /// Whether every other object would fail the same way (bucket missing, credentials
    /// refused, endpoint unreachable): the run stops instead of failing each object.
    pub run_fatal: bool,
}

impl CopyFailure {
    pub(crate) fn storage(place: Place<'_>, err: &opendal::Error) -> Self {
        let Explained {
            code,
            message,
            run_fatal,
        } = Explained::of(err, &place);
        CopyFailure {
            code,
            message,
            run_fatal,
        }
    }

    pub(crate) fn stopped() -> Self {
        CopyFailure {
            code: FailureCode::Internal,
            message: "the run was stopped".to_owned(),
            run_fatal: false,
        }
    }

    pub(crate) fn verification(message: String) -> Self {
        CopyFailure {
            code: FailureCode::VerificationFailed,
            message,
            run_fatal: false,
        }
    }
}

/// What every copy of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct CopyContext<'a> {
    /// Where objects are read.
    pub source: &'a Storage,
    /// Where objects are written.
    pub destination: &'a Storage,
    /// Copy knobs.
    pub options: CopyOptions,
    /// The run's bandwidth limit.
    pub throttle: &'a Throttle,
    /// Bytes read so far, for progress reports.
    pub progress: &'a AtomicU64,
    /// Cancelled when the run stops: a multipart copy then aborts its upload and ends.
    pub stop: &'a CancellationToken,
    /// Where aborts of multipart uploads whose copy was dropped run; the run waits for it.
    pub cleanup: &'a TaskTracker,
    /// Checkpoints multipart uploads so a later run resumes them (`resumable`); `None` streams
    /// through OpenDAL's writer.
    pub resume: Option<&'a PartResumer>,
    /// The process's budget for copy buffers; a copy reserves its buffers here before reading.
    pub memory: &'a MemoryBudget,
}

/// Copies `key` from the source to `dst_key` at the destination.
pub async fn copy_object(
    ctx: CopyContext<'_>,
    key: &str,
    dst_key: &str,
    listed_size: u64,
) -> Result<Copied, CopyFailure> {
    let CopyContext {
        source,
        destination,
        options,
        throttle,
        progress,
        stop,
        cleanup,
        resume,
        memory,
    } = ctx;
    if needs_raw_path(key) || needs_raw_path(dst_key) {
        return copy_raw_key(ctx, key, dst_key, listed_size).await;
    }
    if let Some(resumer) = resume.filter(|r| r.takes(listed_size, options.part_size)) {
        // `None`: the object shrank to one part since it was listed; it goes in one PUT below.
        if let Some(copied) = resumer.copy(ctx, key, dst_key).await? {
            return Ok(copied);
        }
    }
    let multipart = listed_size > options.part_size as u64;
    let part_size = part_size_for(listed_size, options.part_size);
    // The buffers are reserved before they exist and held until the copy ends (memory.rs).
    let (_buffers, pipeline) = tokio::select! {
        biased;
        _ = stop.cancelled() => return Err(CopyFailure::stopped()),
        reserved = reserve_buffers(memory, multipart, listed_size, part_size, options.part_concurrency) => reserved,
    };
    let mut reader = source.operator().reader_with(key);
    if multipart {
        // Ranged reads ahead of the writer, as many as the reservation holds (`Pipeline`).
        reader = reader.chunk(part_size).concurrent(pipeline.reads_ahead);
    }
    let reader = reader
        .await
        .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?;
    let mut stream = reader
        .into_stream(..)
        .await
        .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?;
    // The GET's own headers: Content-Type and user metadata without an extra HEAD. Services
    // that return none (the filesystem) leave both unset.
    let source_meta: Option<Metadata> = match stream.metadata().await {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == opendal::ErrorKind::Unsupported => None,
        Err(err) => {
            return Err(CopyFailure::storage(
                source.place(Side::Source, Some(key)),
                &err,
            ))
        }
    };
    // Azure's, GCS's and the native OSS/OBS/COS GETs come back through OpenDAL without the user
    // metadata (tern's CRC64 among it): one HEAD brings it.
    let source_meta = match source_meta {
        Some(meta) if !source.get_returns_user_metadata() => Some(
            stat_exact(source.operator(), key)
                .await
                .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?,
        )
        .filter(|stat| stat.is_file())
        .or(Some(meta)),
        other => other,
    };
    let declared_crc64 = source_meta
        .as_ref()
        .and_then(|m| object_meta(m, source.protocol()).crc64);
    let expected_size = source_meta
        .as_ref()
        .map(|m| m.content_length())
        .filter(|size| *size > 0 || listed_size == 0)
        .unwrap_or(listed_size);
    // A single-PUT copy holds the whole object in memory; an object that grew past the part
    // size since it was listed must not be buffered (memory stays bounded by the part size).
    if !multipart && expected_size > options.part_size as u64 {
        return Err(CopyFailure {
            code: FailureCode::Internal,
            message: format!(
                "the source object grew from {listed_size} to {expected_size} bytes after it was listed; run again to copy it"
            ),
            run_fatal: false,
        });
    }
    let plan = WritePlan::new(source, destination, source_meta.as_ref(), options.metadata)?;
    // Metadata migration was asked for: an object whose metadata cannot reach the destination
    // fails before a byte is read rather than arriving without it.
    if multipart && !destination.keeps_metadata_of_multipart_writes() {
        if let Some(message) = metadata_refusal(
            expected_size,
            destination.metadata_copy_limit(),
            plan.carries_source_metadata(),
        ) {
            return Err(CopyFailure {
                code: FailureCode::DestinationError,
                message,
                run_fatal: false,
            });
        }
    }

    let (written, crc64, bytes_read) = if multipart {
        let mut crc = crate::crc64::Crc64::new();
        let mut bytes_read: u64 = 0;
        let user_metadata = plan.user_metadata_with_crc64(declared_crc64);
        let mut writer = destination
            .operator()
            .writer_with(dst_key)
            .chunk(part_size)
            .concurrent(pipeline.uploads);
        if let Some(content_type) = &plan.content_type {
            writer = writer.content_type(content_type);
        }
        let metadata_after_upload = user_metadata
            .as_ref()
            .filter(|_| !destination.keeps_metadata_of_multipart_writes())
            .is_some();
        if let Some(meta) = user_metadata {
            writer = writer.user_metadata(meta);
        }
        let condition = destination
            .resumable_condition(dst_key)
            .await
            .map_err(|err| {
                CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
            })?;
        writer = match &condition {
            Some(ResumableCondition::Absent) => writer.if_not_exists(true),
            Some(ResumableCondition::Generation(generation)) => writer.if_version_match(generation),
            None => writer,
        };
        let writer = writer.await.map_err(|err| {
            CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
        })?;
        let mut upload = MultipartUpload::new(writer, cleanup, dst_key);
        let streamed: Result<(), CopyFailure> = async {
            loop {
                // Reads and throttle waits give way to `stop`; a part write does not: dropping
                // it mid-flight leaves OpenDAL's writer unusable, so the upload could not be
                // aborted any more.
                let next = tokio::select! {
                    biased;
                    _ = stop.cancelled() => return Err(CopyFailure::stopped()),
                    next = stream.try_next() => next,
                };
                let Some(buffer) = next.map_err(|err| {
                    CopyFailure::storage(source.place(Side::Source, Some(key)), &err)
                })?
                else {
                    break;
                };
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return Err(CopyFailure::stopped()),
                    _ = account(&buffer, &mut crc, &mut bytes_read, throttle, progress) => {}
                }
                upload.write(buffer).await.map_err(|err| {
                    CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
                })?;
            }
            // Completing a short read would leave a truncated object at the destination.
            if options.check != ConsistencyCheck::NoCheck && bytes_read != expected_size {
                return Err(CopyFailure::verification(format!(
                    "read {bytes_read} bytes but the source announced {expected_size}"
                )));
            }
            Ok(())
        }
        .await;
        if let Err(failure) = streamed {
            upload.abort().await;
            return Err(failure);
        }
        upload.complete().await.map_err(|err| {
            CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
        })?;
        if metadata_after_upload {
            write_metadata_after_upload(destination, dst_key, &plan, crc.sum64(), bytes_read)
                .await?;
        }
        let written = WriteResult {
            etag_md5: None,
            source: SourceCheck::NotCompared,
        };
        (written, crc.sum64(), bytes_read)
    } else {
        let mut first = WholeReadBuilder::new(listed_size <= MD5_CHECK_MAX_BYTES);
        loop {
            // A single PUT has no upload to abort, so everything, the write included, gives
            // way to `stop`: a paused task's throttled objects must not go on being copied.
            let next = tokio::select! {
                biased;
                _ = stop.cancelled() => return Err(CopyFailure::stopped()),
                next = stream.try_next() => next,
            };
            let Some(buffer) = next
                .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?
            else {
                break;
            };
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Err(CopyFailure::stopped()),
                _ = first.take(buffer, throttle, Some(progress)) => {}
            }
        }
        // A small object is checked before it is written, so a corrupt read never lands.
        let declared = DeclaredMd5::of(source.protocol(), source_meta.as_ref());
        let settled = settle_source_md5(options.check, declared.as_ref(), first.finish(), || {
            read_again_streamed(source, key, declared.as_ref(), options.part_size, throttle)
        });
        // Re-reads give way to the stop like the first read.
        let (read, source_check) = tokio::select! {
            biased;
            _ = stop.cancelled() => return Err(CopyFailure::stopped()),
            settled = settled => settled?,
        };
        if let (ConsistencyCheck::Crc64, Some(declared)) = (options.check, declared_crc64) {
            if declared != read.crc64 {
                return Err(CopyFailure::verification(format!(
                    "CRC64 of the bytes read {:016x} differs from the source's {declared:016x}",
                    read.crc64
                )));
            }
        }
        let user_metadata = plan.user_metadata_with_crc64(Some(read.crc64));
        let put = put_whole(
            destination,
            dst_key,
            &read.chunks,
            plan.content_type.as_deref(),
            user_metadata.as_ref(),
        );
        let meta = tokio::select! {
            biased;
            _ = stop.cancelled() => return Err(CopyFailure::stopped()),
            meta = put => meta?,
        };
        let written = WriteResult {
            etag_md5: read
                .md5
                .map(|digest| (meta.etag().map(str::to_owned), hex::encode(digest))),
            source: source_check,
        };
        (written, read.crc64, read.bytes)
    };
    let verification = verify(
        destination,
        dst_key,
        options.check,
        Observed {
            expected_size,
            bytes_read,
            declared_crc64,
            crc64,
            multipart,
            written,
        },
    )
    .await?;
    Ok(Copied {
        bytes: bytes_read,
        crc64,
        verification,
    })
}

/// Largest single-PUT object whose ETag is checked against an MD5 of the bytes sent. MD5 runs
/// at ~600 MB/s on one core, more than the rest of a copy costs (bench/ workload b); above this
/// size `size_last_modified` checks the size, as OMS defines it, and `crc64` the CRC64, and the
/// outcome records which check ran (`Verification`).
pub const MD5_CHECK_MAX_BYTES: u64 = 512 * 1024;

/// Whole-object PUT attempts when the server throttles (on top of OpenDAL's retry layer).
const PUT_ATTEMPTS: u32 = 4;

/// Writes a whole object with one PUT. OpenDAL's retry layer was seen to give up on a one-shot
/// write after a single 503 SlowDown (the `faults_s3` test: about one object in a few hundred,
/// reported as `RateLimited (persistent)`), so throttling and temporary errors get a few more
/// whole attempts here; the bytes are still in memory, so a retry costs no re-read.
pub(crate) async fn put_whole(
    destination: &Storage,
    dst_key: &str,
    chunks: &[Bytes],
    content_type: Option<&str>,
    user_metadata: Option<&HashMap<String, String>>,
) -> Result<Metadata, CopyFailure> {
    let mut attempt = 1;
    loop {
        let mut write = destination
            .operator()
            .write_with(dst_key, Buffer::from(chunks.to_vec()));
        if let Some(content_type) = content_type {
            write = write.content_type(content_type);
        }
        if let Some(meta) = user_metadata {
            write = write.user_metadata(meta.clone());
        }
        match write.await {
            Ok(meta) => return Ok(meta),
            Err(err)
                if attempt < PUT_ATTEMPTS
                    && (err.kind() == opendal::ErrorKind::RateLimited || err.is_temporary()) =>
            {
                tracing::debug!(key = %dst_key, attempt, error = %err, "put throttled; trying again");
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(attempt)))
                    .await;
                attempt += 1;
            }
            Err(err) => {
                return Err(CopyFailure::storage(
                    destination.place(Side::Destination, Some(dst_key)),
                    &err,
                ))
            }
        }
    }
}

/// Reserves a copy's buffers: a multipart copy's pipeline of `part_size` parts (up to
/// `part_concurrency` uploads), or a whole object's size.
pub(crate) async fn reserve_buffers(
    memory: &MemoryBudget,
    multipart: bool,
    size: u64,
    part_size: usize,
    part_concurrency: usize,
) -> (Reservation, Pipeline) {
    if multipart {
        // An object of few parts never has more of them in flight.
        let parts = usize::try_from(size.div_ceil(part_size.max(1) as u64)).unwrap_or(usize::MAX);
        memory
            .reserve_pipeline(part_size, part_concurrency.min(parts).max(1))
            .await
    } else {
        (memory.reserve(size).await, Pipeline::SMALLEST)
    }
}

/// The part size for an object: the configured one, grown (in whole MiB) when the object would
/// otherwise need more than [`MAX_PARTS`] parts.
pub(crate) fn part_size_for(size: u64, configured: usize) -> usize {
    const MIB: u64 = 1024 * 1024;
    let needed = size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    configured.max(needed as usize)
}

/// Copies a key that OpenDAL would rewrite (`a//b`), whole, through the raw service API.
async fn copy_raw_key(
    ctx: CopyContext<'_>,
    key: &str,
    dst_key: &str,
    listed_size: u64,
) -> Result<Copied, CopyFailure> {
    let CopyContext {
        source,
        destination,
        options,
        throttle,
        progress,
        stop: _,
        cleanup: _,
        resume: _,
        memory,
    } = ctx;
    if listed_size > options.part_size as u64 {
        return Err(CopyFailure {
            code: FailureCode::Internal,
            message: format!(
                "keys with '//', a leading '/' or surrounding spaces are copied only up to the part size ({} bytes)",
                options.part_size
            ),
            run_fatal: false,
        });
    }
    let _buffer = memory.reserve(listed_size).await;
    let source_meta = stat_exact(source.operator(), key)
        .await
        .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?;
    let size = source_meta.content_length();
    let buffer = read_exact(source.operator(), key, size)
        .await
        .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?;
    let mut first = WholeReadBuilder::new(true);
    first.take(buffer, throttle, Some(progress)).await;
    let declared = DeclaredMd5::of(source.protocol(), Some(&source_meta));
    let (read, source_check) =
        settle_source_md5(options.check, declared.as_ref(), first.finish(), || {
            read_again_raw(source, key, size, throttle)
        })
        .await?;
    let read_md5 = read.md5.unwrap_or_default();
    let bytes_read = read.bytes;
    let crc64 = read.crc64;
    let plan = WritePlan::new(source, destination, Some(&source_meta), options.metadata)?;
    let user_metadata = plan.user_metadata_with_crc64(Some(crc64));
    let written = write_exact(
        destination.operator(),
        dst_key,
        Buffer::from(read.chunks),
        plan.content_type,
        user_metadata,
    )
    .await
    .map_err(|err| {
        CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
    })?;
    let verification = verify(
        destination,
        dst_key,
        options.check,
        Observed {
            expected_size: size,
            bytes_read,
            declared_crc64: object_meta(&source_meta, source.protocol()).crc64,
            crc64,
            multipart: false,
            written: WriteResult {
                etag_md5: Some((written.etag().map(str::to_owned), hex::encode(read_md5))),
                source: source_check,
            },
        },
    )
    .await?;
    Ok(Copied {
        bytes: bytes_read,
        crc64,
        verification,
    })
}

async fn account(
    buffer: &Buffer,
    crc: &mut crate::crc64::Crc64,
    bytes_read: &mut u64,
    throttle: &Throttle,
    progress: &AtomicU64,
) {
    let len = buffer.len() as u64;
    throttle.consume(len).await;
    for chunk in buffer.clone() {
        crc.write(&chunk);
    }
    *bytes_read += len;
    progress.fetch_add(len, Ordering::Relaxed);
}

/// The headers to write, limited to what the destination service can store.
pub(crate) struct WritePlan {
    pub(crate) content_type: Option<String>,
    /// `None` when the destination cannot store user metadata.
    user_metadata: Option<HashMap<String, String>>,
    /// The destination's name for tern's CRC64 (metadata name rules differ per protocol).
    crc64_key: &'static str,
}

impl WritePlan {
    pub(crate) fn new(
        source: &Storage,
        destination: &Storage,
        source_meta: Option<&Metadata>,
        copy_metadata: bool,
    ) -> Result<Self, CopyFailure> {
        let capability = destination.operator().info().capability();
        let source_crc64_key = crc64_metadata_key(source.protocol());
        let content_type = source_meta
            .and_then(|m| m.content_type())
            .filter(|_| capability.write_with_content_type)
            .map(str::to_owned);
        let user_metadata = capability.write_with_user_metadata.then(|| {
            let mut meta: HashMap<String, String> = HashMap::new();
            if copy_metadata {
                if let Some(source_meta) = source_meta.and_then(|m| m.user_metadata()) {
                    for (name, value) in source_meta {
                        if name != source_crc64_key {
                            meta.insert(name.to_string(), value.to_string());
                        }
                    }
                }
            }
            meta
        });
        // Names the destination cannot store are renamed (Azure), not sent to fail the PUT.
        let user_metadata = user_metadata
            .map(|meta| fit_metadata_names(destination.protocol(), meta))
            .transpose()
            .map_err(|(code, message)| CopyFailure {
                code,
                message,
                run_fatal: false,
            })?;
        Ok(WritePlan {
            content_type,
            user_metadata,
            crc64_key: crc64_metadata_key(destination.protocol()),
        })
    }

    /// Whether the source's own user metadata is to be written (tern's CRC64 aside).
    pub(crate) fn carries_source_metadata(&self) -> bool {
        self.user_metadata
            .as_ref()
            .is_some_and(|meta| !meta.is_empty())
    }

    /// The user metadata to write, with tern's CRC64 when it is known before the write.
    pub(crate) fn user_metadata_with_crc64(
        &self,
        crc64: Option<u64>,
    ) -> Option<HashMap<String, String>> {
        let mut meta = self.user_metadata.clone()?;
        if let Some(crc64) = crc64 {
            meta.insert(self.crc64_key.to_owned(), format!("{crc64:016x}"));
        }
        Some(meta)
    }
}

/// Why an object of `size` bytes cannot carry the source's metadata to a destination whose
/// multipart uploads drop it and whose CopyObject (the after-upload rewrite) stops at `limit`;
/// `None` when it can. Losing only tern's own CRC64 is no reason to refuse.
fn metadata_refusal(
    size: u64,
    limit: Option<u64>,
    carries_source_metadata: bool,
) -> Option<String> {
    let limit = limit?;
    (carries_source_metadata && size > limit).then(|| {
        format!(
            "user metadata cannot be migrated for an object of {size} bytes: this destination's \
             multipart uploads carry none and its CopyObject, which adds it afterwards, stops at \
             {limit} bytes; copy it with enable_metadata_migration off"
        )
    })
}

/// Writes the user metadata OpenDAL left out of a multipart upload to native OSS or OBS
/// (`vendor_meta.rs`), with the CRC64 computed while copying. Above the vendor's CopyObject
/// limit only tern's CRC64 can be missing: `metadata_refusal` refused source metadata earlier.
async fn write_metadata_after_upload(
    destination: &Storage,
    dst_key: &str,
    plan: &WritePlan,
    crc64: u64,
    size: u64,
) -> Result<(), CopyFailure> {
    let Some(meta) = plan.user_metadata_with_crc64(Some(crc64)) else {
        return Ok(());
    };
    match destination.metadata_copy_limit() {
        Some(limit) if size <= limit => destination
            .replace_user_metadata(dst_key, plan.content_type.as_deref(), &meta)
            .await
            .map_err(|err| {
                CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
            }),
        _ => {
            tracing::debug!(
                key = %dst_key,
                size,
                protocol = ?destination.protocol(),
                "tern's CRC64 not written: the object is above the vendor's CopyObject limit"
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_metadata_is_refused_only_above_the_copy_limit_and_only_when_asked_for() {
        assert_eq!(metadata_refusal(10, None, true), None);
        assert_eq!(metadata_refusal(10, Some(10), true), None);
        assert_eq!(metadata_refusal(11, Some(10), false), None);
        let message = metadata_refusal(11, Some(10), true).expect("refused");
        assert!(
            message.contains("11 bytes") && message.contains("10 bytes"),
            "{message}"
        );
    }

    #[test]
    fn test_part_size_grows_to_stay_under_ten_thousand_parts() {
        let eight_mib = 8 * 1024 * 1024;
        assert_eq!(part_size_for(1024, eight_mib), eight_mib);
        assert_eq!(
            part_size_for(80 * 1024 * 1024 * 1024, eight_mib),
            eight_mib + 1024 * 1024
        );
        let five_tib: u64 = 5 * 1024 * 1024 * 1024 * 1024;
        let part = part_size_for(five_tib, eight_mib) as u64;
        assert!(five_tib.div_ceil(part) <= MAX_PARTS);
        assert_eq!(part % (1024 * 1024), 0);
    }
}
