//! Copying one object: stream from the source, checksum on the way, write, verify.
//!
//! Objects up to one part size are read whole (bounded by the part size) and written with one
//! PUT, so tern knows their CRC64 before the write and stores it as `tern-crc64` metadata; up to
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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::TryStreamExt;
use md5::{Digest, Md5};
use opendal::{Buffer, Metadata, Operator};
use tern_core::{ConsistencyCheck, FailureCode, Protocol, Verification};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{Explained, Place, Side};
use crate::listing::{object_meta, CRC64_METADATA_KEY};
use crate::rawpath::{needs_raw_path, read_exact, read_exact_with_length, stat_exact, write_exact};
use crate::storage::{base64_encode, Storage};
use crate::throttle::Throttle;

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
    fn storage(place: Place<'_>, err: &opendal::Error) -> Self {
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

    fn stopped() -> Self {
        CopyFailure {
            code: FailureCode::Internal,
            message: "the run was stopped".to_owned(),
            run_fatal: false,
        }
    }

    fn verification(message: String) -> Self {
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
    } = ctx;
    if needs_raw_path(key) || needs_raw_path(dst_key) {
        return copy_raw_key(ctx, key, dst_key, listed_size).await;
    }
    let multipart = listed_size > options.part_size as u64;
    let part_size = part_size_for(listed_size, options.part_size);
    let mut reader = source.operator().reader_with(key);
    if multipart {
        // Ranged reads ahead of the writer: half the upload concurrency keeps the uploads fed
        // (local reads outrun writes) while holding fewer parts, so one object holds about
        // 1.5 × part_concurrency parts instead of 2 × (measured in bench/ workload c).
        reader = reader
            .chunk(part_size)
            .concurrent(options.part_concurrency.div_ceil(2));
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
    let declared_crc64 = source_meta.as_ref().and_then(|m| object_meta(m).crc64);
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
    let plan = WritePlan::new(
        destination.operator(),
        source_meta.as_ref(),
        options.metadata,
    );

    let (written, crc64, bytes_read) = if multipart {
        let mut crc = crc64fast::Digest::new();
        let mut bytes_read: u64 = 0;
        let user_metadata = plan.user_metadata_with_crc64(declared_crc64);
        let mut writer = destination
            .operator()
            .writer_with(dst_key)
            .chunk(part_size)
            .concurrent(options.part_concurrency);
        if let Some(content_type) = &plan.content_type {
            writer = writer.content_type(content_type);
        }
        if let Some(meta) = user_metadata {
            writer = writer.user_metadata(meta);
        }
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
async fn put_whole(
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

/// A multipart upload in progress, aborted unless it completes.
///
/// OpenDAL's `Writer` does nothing when dropped, so an upload whose copy fails or stops would stay
/// open at the destination with its parts stored. Errors and `stop` abort explicitly; `Drop`
/// hands the abort to the run's `cleanup` tracker, which the run waits for before it returns.
/// That fallback works only when the future was dropped between writes: OpenDAL's retry layer
/// loses the writer when a write future is dropped mid-flight ("retry layer is in bad state"),
/// and an upload dropped while CreateMultipartUpload is in flight has no id yet. Bucket
/// lifecycle rules for incomplete uploads cover those.
struct MultipartUpload {
    writer: Option<opendal::Writer>,
    cleanup: TaskTracker,
    key: String,
}

impl MultipartUpload {
    fn new(writer: opendal::Writer, cleanup: &TaskTracker, key: &str) -> Self {
        MultipartUpload {
            writer: Some(writer),
            cleanup: cleanup.clone(),
            key: key.to_owned(),
        }
    }

    async fn write(&mut self, buffer: Buffer) -> opendal::Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer.write(buffer).await,
            None => Err(opendal::Error::new(
                opendal::ErrorKind::Unexpected,
                "multipart upload already finished",
            )),
        }
    }

    /// Completes the upload; aborts it when completion fails.
    async fn complete(mut self) -> opendal::Result<Metadata> {
        let Some(mut writer) = self.writer.take() else {
            return Err(opendal::Error::new(
                opendal::ErrorKind::Unexpected,
                "multipart upload already finished",
            ));
        };
        match writer.close().await {
            Ok(meta) => Ok(meta),
            Err(err) => {
                abort_upload(writer, &self.key).await;
                Err(err)
            }
        }
    }

    /// Aborts the upload now.
    async fn abort(mut self) {
        if let Some(writer) = self.writer.take() {
            abort_upload(writer, &self.key).await;
        }
    }
}

impl Drop for MultipartUpload {
    fn drop(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let key = std::mem::take(&mut self.key);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                self.cleanup
                    .spawn_on(async move { abort_upload(writer, &key).await }, &runtime);
            }
            Err(_) => tracing::warn!(
                key = %key,
                "multipart upload dropped outside a runtime; it stays open at the destination"
            ),
        }
    }
}

async fn abort_upload(mut writer: opendal::Writer, key: &str) {
    match writer.abort().await {
        Ok(()) => tracing::debug!(key = %key, "multipart upload aborted"),
        Err(err) => tracing::warn!(
            key = %key,
            error = %err,
            "aborting a multipart upload failed; it stays open at the destination"
        ),
    }
}

/// Most parts one multipart upload may have (S3, OBS, OSS and COS all stop at 10,000).
const MAX_PARTS: u64 = 10_000;

/// The part size for an object: the configured one, grown (in whole MiB) when the object would
/// otherwise need more than [`MAX_PARTS`] parts.
fn part_size_for(size: u64, configured: usize) -> usize {
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
    let plan = WritePlan::new(destination.operator(), Some(&source_meta), options.metadata);
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
            declared_crc64: object_meta(&source_meta).crc64,
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
    crc: &mut crc64fast::Digest,
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
struct WritePlan {
    content_type: Option<String>,
    /// `None` when the destination cannot store user metadata.
    user_metadata: Option<HashMap<String, String>>,
}

impl WritePlan {
    fn new(destination: &Operator, source: Option<&Metadata>, copy_metadata: bool) -> Self {
        let capability = destination.info().capability();
        let content_type = source
            .and_then(|m| m.content_type())
            .filter(|_| capability.write_with_content_type)
            .map(str::to_owned);
        let user_metadata = capability.write_with_user_metadata.then(|| {
            let mut meta: HashMap<String, String> = HashMap::new();
            if copy_metadata {
                if let Some(source_meta) = source.and_then(|m| m.user_metadata()) {
                    for (name, value) in source_meta {
                        if name != CRC64_METADATA_KEY {
                            meta.insert(name.to_string(), value.to_string());
                        }
                    }
                }
            }
            meta
        });
        WritePlan {
            content_type,
            user_metadata,
        }
    }

    /// The user metadata to write, with tern's CRC64 when it is known before the write.
    fn user_metadata_with_crc64(&self, crc64: Option<u64>) -> Option<HashMap<String, String>> {
        let mut meta = self.user_metadata.clone()?;
        if let Some(crc64) = crc64 {
            meta.insert(CRC64_METADATA_KEY.to_owned(), format!("{crc64:016x}"));
        }
        Some(meta)
    }
}

struct WriteResult {
    /// For single PUTs: the ETag returned and the MD5 of the bytes sent.
    etag_md5: Option<(Option<String>, String)>,
    /// What the MD5 of the bytes read was compared with at the source.
    source: SourceCheck,
}

/// What the MD5 of the bytes read from the source was found to agree with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SourceCheck {
    /// Nothing: the source declared no MD5, the object was too large to hash, or `no_check`.
    NotCompared,
    /// The MD5 the source declared.
    Md5Matched,
    /// The MD5 of another, independent read; the source's single-part ETag is not the MD5 of
    /// its bytes (SSE-KMS, SSE-C, some S3-compatible stores).
    EtagNotContentMd5,
}

/// An object read whole into memory (single-PUT copies: at most one part).
#[derive(Debug)]
struct WholeRead {
    chunks: Vec<Bytes>,
    bytes: u64,
    crc64: u64,
    /// MD5 of the bytes, when it was asked for.
    md5: Option<[u8; 16]>,
}

/// Collects a [`WholeRead`] buffer by buffer, hashing on the way.
struct WholeReadBuilder {
    chunks: Vec<Bytes>,
    bytes: u64,
    crc: crc64fast::Digest,
    md5: Option<Md5>,
}

impl WholeReadBuilder {
    fn new(hash_md5: bool) -> Self {
        WholeReadBuilder {
            chunks: Vec::new(),
            bytes: 0,
            crc: crc64fast::Digest::new(),
            md5: hash_md5.then(Md5::new),
        }
    }

    /// Adds `buffer` after the run's bandwidth limit allows it; `progress` counts it when given
    /// (a second read of the same object is not progress).
    async fn take(&mut self, buffer: Buffer, throttle: &Throttle, progress: Option<&AtomicU64>) {
        let len = buffer.len() as u64;
        throttle.consume(len).await;
        for chunk in buffer {
            self.crc.write(&chunk);
            if let Some(md5) = self.md5.as_mut() {
                md5.update(&chunk);
            }
            self.chunks.push(chunk);
        }
        self.bytes += len;
        if let Some(progress) = progress {
            progress.fetch_add(len, Ordering::Relaxed);
        }
    }

    fn finish(self) -> WholeRead {
        WholeRead {
            chunks: self.chunks,
            bytes: self.bytes,
            crc64: self.crc.sum64(),
            md5: self.md5.map(|md5| md5.finalize().into()),
        }
    }
}

/// Whole reads of one small object, the first included, when the MD5 of the bytes read differs
/// from the MD5 the source declares. Two reads that agree settle it; three leave room for one
/// read corrupted in transit besides the first.
const MAX_SOURCE_READS: usize = 3;

/// Checks a small object's first read against the MD5 the source declares and, when they
/// differ, reads it again (`read_again`, at most [`MAX_SOURCE_READS`] reads in all) to tell a
/// read corrupted in transit from a declared value that is not the MD5 of the bytes.
///
/// Returns the read to write and what it was found to agree with (see [`judge_source_reads`]).
/// The normal path costs nothing more: a first read that matches, or one with nothing to
/// compare, is returned as it is.
async fn settle_source_md5<F, Fut>(
    check: ConsistencyCheck,
    declared: Option<&DeclaredMd5>,
    first: WholeRead,
    mut read_again: F,
) -> Result<(WholeRead, SourceCheck), CopyFailure>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<WholeRead, CopyFailure>>,
{
    let (Some(declared), Some(first_md5)) = (declared, first.md5) else {
        return Ok((first, SourceCheck::NotCompared));
    };
    if check == ConsistencyCheck::NoCheck {
        return Ok((first, SourceCheck::NotCompared));
    }
    if declared.matches(&first_md5) {
        return Ok((first, SourceCheck::Md5Matched));
    }
    let mut read_md5s = vec![first_md5];
    let mut latest = first;
    loop {
        match judge_source_reads(declared, &read_md5s) {
            ReadVerdict::Use(source_check) => return Ok((latest, source_check)),
            ReadVerdict::Fail(failure) => return Err(failure),
            ReadVerdict::ReadAgain => {
                tracing::debug!(
                    reads = read_md5s.len(),
                    declared = %declared.value,
                    read_md5 = %hex::encode(read_md5s[read_md5s.len() - 1]),
                    "md5 of the bytes read differs from the source's; reading again"
                );
                latest = read_again().await?;
                read_md5s.push(latest.md5.ok_or_else(|| {
                    CopyFailure::verification("a second read was not hashed".to_owned())
                })?);
            }
        }
    }
}

/// What to do after the reads so far of one small object.
#[derive(Debug, PartialEq, Eq)]
enum ReadVerdict {
    /// Write the latest read; it agrees with what the [`SourceCheck`] names.
    Use(SourceCheck),
    /// Read the object once more.
    ReadAgain,
    /// Fail the object: the reads cannot be trusted.
    Fail(CopyFailure),
}

/// Decides from the MD5s of the reads so far (oldest first; none but the latest equals the
/// declared MD5) which read to trust.
///
/// - The latest read matches the declared MD5: an earlier read was corrupted in transit.
/// - It equals an earlier read: two independent reads returned the same bytes, so the source
///   serves these bytes and the declared value is not their MD5. A single-part ETag then is not
///   an MD5 (SSE-KMS, SSE-C), and the object is copied with that said in its outcome; a
///   Content-MD5 is an MD5 by definition, so the object fails.
/// - All differ: read again, up to [`MAX_SOURCE_READS`], then fail (TRF.0062).
///
/// Bytes corrupted the same way on every read (rot at rest behind an ETag that is not an MD5)
/// cannot be told from an ETag that is not an MD5; the outcome's verification names that case.
fn judge_source_reads(declared: &DeclaredMd5, read_md5s: &[[u8; 16]]) -> ReadVerdict {
    let Some((latest, earlier)) = read_md5s.split_last() else {
        return ReadVerdict::ReadAgain;
    };
    if declared.matches(latest) {
        return ReadVerdict::Use(SourceCheck::Md5Matched);
    }
    if earlier.contains(latest) {
        return if declared.is_etag() {
            ReadVerdict::Use(SourceCheck::EtagNotContentMd5)
        } else {
            ReadVerdict::Fail(CopyFailure::verification(format!(
                "{} reads of the source agree on MD5 {} but its {} is {}",
                read_md5s.len(),
                hex::encode(latest),
                declared.header,
                declared.value
            )))
        };
    }
    if read_md5s.len() < MAX_SOURCE_READS {
        return ReadVerdict::ReadAgain;
    }
    let md5s: Vec<String> = read_md5s.iter().map(hex::encode).collect();
    ReadVerdict::Fail(CopyFailure::verification(format!(
        "MD5s of {} reads of the source ({}) differ from each other and from its {} {}",
        read_md5s.len(),
        md5s.join(", "),
        declared.header,
        declared.value
    )))
}

/// Reads a small object again with its own GET, for [`settle_source_md5`]. An object whose
/// declared MD5 or size changed since the first read was replaced meanwhile: it fails, to be
/// copied by the next run.
async fn read_again_streamed(
    source: &Storage,
    key: &str,
    declared: Option<&DeclaredMd5>,
    part_size: usize,
    throttle: &Throttle,
) -> Result<WholeRead, CopyFailure> {
    let reader = source
        .operator()
        .reader_with(key)
        .await
        .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?;
    let mut stream = reader
        .into_stream(..)
        .await
        .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?;
    let meta = stream
        .metadata()
        .await
        .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?;
    let declared_now = DeclaredMd5::of(source.protocol(), Some(&meta));
    if declared_now.as_ref() != declared || meta.content_length() > part_size as u64 {
        return Err(CopyFailure {
            code: FailureCode::Internal,
            message: format!(
                "the source object changed while it was read (now {} bytes, {}); run again to copy it",
                meta.content_length(),
                declared_now.map_or_else(
                    || "no MD5".to_owned(),
                    |now| format!("{} {}", now.header, now.value)
                )
            ),
            run_fatal: false,
        });
    }
    let mut read = WholeReadBuilder::new(true);
    while let Some(buffer) = stream
        .try_next()
        .await
        .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?
    {
        read.take(buffer, throttle, None).await;
    }
    Ok(read.finish())
}

/// Reads a key that OpenDAL would rewrite again, for [`settle_source_md5`].
async fn read_again_raw(
    source: &Storage,
    key: &str,
    size: u64,
    throttle: &Throttle,
) -> Result<WholeRead, CopyFailure> {
    let buffer = read_exact(source.operator(), key, size)
        .await
        .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?;
    let mut read = WholeReadBuilder::new(true);
    read.take(buffer, throttle, None).await;
    Ok(read.finish())
}

/// An MD5 the source declares for an object's bytes, to compare with the MD5 of the bytes read.
///
/// Where it comes from, per service:
/// - S3 and its kin (OBS, OSS, COS): the ETag of an object written in one PUT is the hex MD5 of
///   its bytes. A multipart ETag (`<hex>-<parts>`) is an MD5 of part MD5s and cannot be
///   compared, so it is not an MD5 here (the outcome then says what was compared instead).
/// - Any service: a `Content-MD5` header (base64, as Azure Blob and OSS send it, or hex).
///
/// Caveat: AWS objects encrypted with SSE-KMS or SSE-C have 32-hex ETags that are not MD5s, and
/// OpenDAL's metadata does not say how an object is encrypted. A mismatch is therefore settled
/// by reading the object again ([`settle_source_md5`]): two reads that agree mean the ETag is not
/// an MD5, and the outcome says so instead of claiming an MD5 check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeclaredMd5 {
    /// `ETag` or `Content-MD5`, for messages.
    header: &'static str,
    /// The value as the source sent it (quotes removed).
    value: String,
}

impl DeclaredMd5 {
    /// The MD5 the source declares in `meta`, if any.
    fn of(protocol: Protocol, meta: Option<&Metadata>) -> Option<DeclaredMd5> {
        let meta = meta?;
        if let Some(content_md5) = meta.content_md5().map(str::trim).filter(|v| !v.is_empty()) {
            return Some(DeclaredMd5 {
                header: "Content-MD5",
                value: content_md5.to_owned(),
            });
        }
        let etag_is_md5 = matches!(
            protocol,
            Protocol::S3 | Protocol::Obs | Protocol::Oss | Protocol::Cos
        );
        let etag = meta
            .etag()?
            .trim()
            .trim_start_matches("W/")
            .trim_matches('"');
        (etag_is_md5 && is_hex_md5(etag)).then(|| DeclaredMd5 {
            header: "ETag",
            value: etag.to_owned(),
        })
    }

    /// Tells whether the value is an ETag (which may not be an MD5 after all), not a Content-MD5.
    fn is_etag(&self) -> bool {
        self.header == "ETag"
    }

    /// Tells whether `digest` (16 bytes) is the declared MD5, in hex or base64.
    fn matches(&self, digest: &[u8]) -> bool {
        self.value.eq_ignore_ascii_case(&hex::encode(digest)) || self.value == base64_encode(digest)
    }
}

fn is_hex_md5(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

struct Observed {
    expected_size: u64,
    bytes_read: u64,
    declared_crc64: Option<u64>,
    crc64: u64,
    multipart: bool,
    written: WriteResult,
}

/// Checks the copy as `check` asks and names what was actually compared.
async fn verify(
    destination: &Storage,
    dst_key: &str,
    check: ConsistencyCheck,
    observed: Observed,
) -> Result<Verification, CopyFailure> {
    if check == ConsistencyCheck::NoCheck {
        return Ok(Verification::NotChecked);
    }
    if observed.bytes_read != observed.expected_size {
        return Err(CopyFailure::verification(format!(
            "read {} bytes but the source announced {}",
            observed.bytes_read, observed.expected_size
        )));
    }
    let source = observed.written.source;
    let mut verification = match source {
        SourceCheck::NotCompared => Verification::SizeLastModified,
        SourceCheck::Md5Matched => Verification::SourceMd5,
        SourceCheck::EtagNotContentMd5 => Verification::SizeLastModifiedEtagNotContentMd5,
    };
    match &observed.written.etag_md5 {
        Some((Some(etag), sent_md5)) => {
            let etag = etag.trim_matches('"').to_ascii_lowercase();
            // Only a plain 32-hex ETag is an MD5; anything else (composite, Azure's) proves nothing.
            if is_hex_md5(&etag) && &etag == sent_md5 {
                verification = match source {
                    SourceCheck::NotCompared => Verification::SizeAndMd5,
                    SourceCheck::Md5Matched => Verification::SourceAndDestinationMd5,
                    SourceCheck::EtagNotContentMd5 => Verification::SizeAndMd5EtagNotContentMd5,
                };
            } else if is_hex_md5(&etag) {
                // A bucket with default SSE-KMS encryption (AWS, OBS) answers with 32-hex ETags
                // that are not MD5s, so the ETag alone cannot fail the object: the bytes the
                // destination holds decide. Only a mismatch costs this read (at most
                // MD5_CHECK_MAX_BYTES, the only sizes whose MD5 is known).
                let held_md5 =
                    read_back_md5(destination, dst_key, observed.bytes_read, &etag).await?;
                if &held_md5 != sent_md5 {
                    return Err(CopyFailure::verification(format!(
                        "destination holds bytes with MD5 {held_md5}, not the MD5 {sent_md5} of the bytes sent (destination ETag {etag})"
                    )));
                }
                verification = match source {
                    SourceCheck::NotCompared => Verification::DestinationReadBackMd5,
                    SourceCheck::Md5Matched => Verification::SourceMd5AndDestinationReadBack,
                    SourceCheck::EtagNotContentMd5 => {
                        Verification::DestinationReadBackMd5EtagNotContentMd5
                    }
                };
            }
        }
        _ if observed.multipart => {
            let stored = stat_exact(destination.operator(), dst_key)
                .await
                .map_err(|err| {
                    CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
                })?;
            if stored.content_length() != observed.bytes_read {
                return Err(CopyFailure::verification(format!(
                    "destination holds {} bytes, {} were sent",
                    stored.content_length(),
                    observed.bytes_read
                )));
            }
        }
        _ => {}
    }
    if check == ConsistencyCheck::Crc64 {
        return match observed.declared_crc64 {
            Some(declared) if declared == observed.crc64 => Ok(Verification::Crc64),
            Some(declared) => Err(CopyFailure::verification(format!(
                "CRC64 of the bytes read {:016x} differs from the source's {declared:016x}",
                observed.crc64
            ))),
            None => Ok(Verification::Crc64UnavailableSizeLastModified),
        };
    }
    Ok(verification)
}

/// Reads a single-PUT object back from the destination and returns the hex MD5 of what it holds.
/// `etag` is the ETag the PUT returned, for the messages.
async fn read_back_md5(
    destination: &Storage,
    dst_key: &str,
    bytes_sent: u64,
    etag: &str,
) -> Result<String, CopyFailure> {
    tracing::debug!(
        key = %dst_key,
        etag = %etag,
        "destination etag is not the md5 of the bytes sent; reading the object back"
    );
    let place = || destination.place(Side::Destination, Some(dst_key));
    // The raw read needs a non-empty range; an empty object's length alone says what it holds.
    let (buffer, held) = if bytes_sent == 0 {
        let stored = stat_exact(destination.operator(), dst_key)
            .await
            .map_err(|err| CopyFailure::storage(place(), &err))?;
        (Buffer::new(), stored.content_length())
    } else {
        let (buffer, length) = read_exact_with_length(destination.operator(), dst_key, bytes_sent)
            .await
            .map_err(|err| CopyFailure::storage(place(), &err))?;
        let held = length.unwrap_or(buffer.len() as u64);
        (buffer, held)
    };
    if held != bytes_sent {
        return Err(CopyFailure::verification(format!(
            "destination holds {held} bytes, {bytes_sent} were sent (destination ETag {etag})"
        )));
    }
    let mut md5 = Md5::new();
    for chunk in buffer {
        md5.update(&chunk);
    }
    Ok(hex::encode(md5.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_with(etag: Option<&str>, content_md5: Option<&str>) -> Metadata {
        let mut meta = opendal::MetadataBuilder::file(3);
        if let Some(etag) = etag {
            meta.etag(etag);
        }
        if let Some(content_md5) = content_md5 {
            meta.content_md5(content_md5);
        }
        meta.build()
    }

    #[test]
    fn test_declared_md5_reads_single_part_etags_and_content_md5_only() {
        let md5_of_abc: [u8; 16] = Md5::digest(b"abc").into();
        let hex_md5 = hex::encode(md5_of_abc);
        let quoted = format!("\"{}\"", hex_md5.to_ascii_uppercase());
        let etag = DeclaredMd5::of(Protocol::S3, Some(&meta_with(Some(&quoted), None))).unwrap();
        assert_eq!(etag.header, "ETag");
        assert!(etag.matches(&md5_of_abc));
        assert!(!etag.matches(&Md5::digest(b"abd")));
        // A multipart ETag is an MD5 of part MD5s: not comparable.
        let multipart = format!("\"{hex_md5}-3\"");
        assert_eq!(
            DeclaredMd5::of(Protocol::S3, Some(&meta_with(Some(&multipart), None))),
            None
        );
        // Outside S3 and its kin an ETag is opaque, whatever it looks like.
        assert_eq!(
            DeclaredMd5::of(Protocol::Azblob, Some(&meta_with(Some(&quoted), None))),
            None
        );
        assert_eq!(
            DeclaredMd5::of(Protocol::Http, Some(&meta_with(Some(&hex_md5), None))),
            None
        );
        // Content-MD5 (base64, as Azure sends it) counts anywhere.
        let base64 = base64_encode(&md5_of_abc);
        let declared = DeclaredMd5::of(
            Protocol::Azblob,
            Some(&meta_with(Some("0x8D"), Some(&base64))),
        )
        .unwrap();
        assert_eq!(declared.header, "Content-MD5");
        assert!(declared.matches(&md5_of_abc));
        assert_eq!(DeclaredMd5::of(Protocol::S3, None), None);
    }

    fn md5_of(bytes: &[u8]) -> [u8; 16] {
        Md5::digest(bytes).into()
    }

    fn etag_of(bytes: &[u8]) -> DeclaredMd5 {
        DeclaredMd5 {
            header: "ETag",
            value: hex::encode(md5_of(bytes)),
        }
    }

    fn whole_read_of(bytes: &'static [u8]) -> WholeRead {
        WholeRead {
            chunks: vec![Bytes::from_static(bytes)],
            bytes: bytes.len() as u64,
            crc64: 0,
            md5: Some(md5_of(bytes)),
        }
    }

    #[test]
    fn test_reads_that_differ_from_the_declared_md5_are_judged_by_agreement() {
        let sent = etag_of(b"sent");
        let (rotten, other) = (md5_of(b"rotten"), md5_of(b"other"));
        // One read differing from the ETag proves nothing yet.
        assert_eq!(judge_source_reads(&sent, &[rotten]), ReadVerdict::ReadAgain);
        // A later read matches the ETag: the first was corrupted on the way.
        assert_eq!(
            judge_source_reads(&sent, &[rotten, md5_of(b"sent")]),
            ReadVerdict::Use(SourceCheck::Md5Matched)
        );
        // Two reads agree on other bytes: the ETag is not an MD5 of the content.
        assert_eq!(
            judge_source_reads(&sent, &[rotten, rotten]),
            ReadVerdict::Use(SourceCheck::EtagNotContentMd5)
        );
        assert_eq!(
            judge_source_reads(&sent, &[rotten, other, rotten]),
            ReadVerdict::Use(SourceCheck::EtagNotContentMd5)
        );
        assert_eq!(
            judge_source_reads(&sent, &[rotten, other]),
            ReadVerdict::ReadAgain
        );
        // Three reads, all different: nothing can be trusted.
        let ReadVerdict::Fail(failure) =
            judge_source_reads(&sent, &[rotten, other, md5_of(b"third")])
        else {
            panic!("three different reads must fail");
        };
        assert_eq!(failure.code, FailureCode::VerificationFailed);
        for named in [sent.value.clone(), hex::encode(rotten), hex::encode(other)] {
            assert!(failure.message.contains(&named), "{}", failure.message);
        }
        assert!(failure.message.contains("ETag"), "{}", failure.message);
        // A Content-MD5 is an MD5 by definition: reads agreeing against it fail.
        let content_md5 = DeclaredMd5 {
            header: "Content-MD5",
            value: base64_encode(&md5_of(b"sent")),
        };
        let ReadVerdict::Fail(failure) = judge_source_reads(&content_md5, &[rotten, rotten]) else {
            panic!("reads agreeing against a Content-MD5 must fail");
        };
        assert!(
            failure.message.contains("Content-MD5"),
            "{}",
            failure.message
        );
    }

    #[tokio::test]
    async fn test_source_reread_happens_only_on_a_mismatch_and_is_bounded() {
        use std::cell::Cell;
        let sent = etag_of(b"sent");
        let reads = Cell::new(0);
        let read_again = |bodies: &'static [&'static [u8]]| {
            let reads = &reads;
            move || {
                let body = bodies[reads.get()];
                reads.set(reads.get() + 1);
                async move { Ok(whole_read_of(body)) }
            }
        };
        // A matching first read is used as it is.
        let (read, check) = settle_source_md5(
            ConsistencyCheck::SizeLastModified,
            Some(&sent),
            whole_read_of(b"sent"),
            read_again(&[]),
        )
        .await
        .unwrap();
        assert_eq!(
            (read.bytes, check, reads.get()),
            (4, SourceCheck::Md5Matched, 0)
        );
        // Nothing declared, or no_check: nothing compared, nothing read again.
        for (check, declared) in [
            (ConsistencyCheck::SizeLastModified, None),
            (ConsistencyCheck::NoCheck, Some(&sent)),
        ] {
            let (_, source_check) =
                settle_source_md5(check, declared, whole_read_of(b"rotten"), read_again(&[]))
                    .await
                    .unwrap();
            assert_eq!((source_check, reads.get()), (SourceCheck::NotCompared, 0));
        }
        // A corrupt first read is replaced by the good second one.
        let (read, check) = settle_source_md5(
            ConsistencyCheck::SizeLastModified,
            Some(&sent),
            whole_read_of(b"rotten"),
            read_again(&[b"sent"]),
        )
        .await
        .unwrap();
        assert_eq!(read.chunks, vec![Bytes::from_static(b"sent")]);
        assert_eq!((check, reads.get()), (SourceCheck::Md5Matched, 1));
        // Three different reads fail after the third.
        reads.set(0);
        let failure = settle_source_md5(
            ConsistencyCheck::SizeLastModified,
            Some(&sent),
            whole_read_of(b"rotten"),
            read_again(&[b"other", b"third", b"never read"]),
        )
        .await
        .unwrap_err();
        assert_eq!(failure.code, FailureCode::VerificationFailed);
        assert_eq!(reads.get(), MAX_SOURCE_READS - 1);
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
