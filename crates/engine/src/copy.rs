//! Copying one object: stream from the source, checksum on the way, write, verify.
//!
//! Objects up to one part size are read whole (bounded by the part size) and written with one
//! PUT, so tern knows their CRC64 before the write and stores it as `tern-crc64` metadata; up to
//! [`MD5_CHECK_MAX_BYTES`] the MD5 of the bytes read is checked against the MD5 the source
//! declares (see [`DeclaredMd5`]) before the write, and the PUT's ETag against it after. Larger
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

use crate::error::{failure_code, Side};
use crate::listing::{object_meta, CRC64_METADATA_KEY};
use crate::rawpath::{needs_raw_path, read_exact, stat_exact, write_exact};
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
    /// Message from the storage or the check.
    pub message: String,
}

impl CopyFailure {
    fn storage(side: Side, err: &opendal::Error) -> Self {
        CopyFailure {
            code: failure_code(side, err),
            message: err.to_string(),
        }
    }

    fn stopped() -> Self {
        CopyFailure {
            code: FailureCode::Internal,
            message: "the run was stopped".to_owned(),
        }
    }

    fn verification(message: String) -> Self {
        CopyFailure {
            code: FailureCode::VerificationFailed,
            message,
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
        .map_err(|err| CopyFailure::storage(Side::Source, &err))?;
    let mut stream = reader
        .into_stream(..)
        .await
        .map_err(|err| CopyFailure::storage(Side::Source, &err))?;
    // The GET's own headers: Content-Type and user metadata without an extra HEAD. Services
    // that return none (the filesystem) leave both unset.
    let source_meta: Option<Metadata> = match stream.metadata().await {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == opendal::ErrorKind::Unsupported => None,
        Err(err) => return Err(CopyFailure::storage(Side::Source, &err)),
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
        });
    }
    let plan = WritePlan::new(
        destination.operator(),
        source_meta.as_ref(),
        options.metadata,
    );

    let mut crc = crc64fast::Digest::new();
    let mut bytes_read: u64 = 0;
    let written = if multipart {
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
        let writer = writer
            .await
            .map_err(|err| CopyFailure::storage(Side::Destination, &err))?;
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
                let Some(buffer) = next.map_err(|err| CopyFailure::storage(Side::Source, &err))?
                else {
                    break;
                };
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return Err(CopyFailure::stopped()),
                    _ = account(&buffer, &mut crc, &mut bytes_read, throttle, progress) => {}
                }
                upload
                    .write(buffer)
                    .await
                    .map_err(|err| CopyFailure::storage(Side::Destination, &err))?;
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
        upload
            .complete()
            .await
            .map_err(|err| CopyFailure::storage(Side::Destination, &err))?;
        WriteResult {
            etag_md5: None,
            source_md5_checked: false,
        }
    } else {
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut md5 = (listed_size <= MD5_CHECK_MAX_BYTES).then(Md5::new);
        loop {
            // A single PUT has no upload to abort, so everything, the write included, gives
            // way to `stop`: a paused task's throttled objects must not go on being copied.
            let next = tokio::select! {
                biased;
                _ = stop.cancelled() => return Err(CopyFailure::stopped()),
                next = stream.try_next() => next,
            };
            let Some(buffer) = next.map_err(|err| CopyFailure::storage(Side::Source, &err))? else {
                break;
            };
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Err(CopyFailure::stopped()),
                _ = account(&buffer, &mut crc, &mut bytes_read, throttle, progress) => {}
            }
            for chunk in buffer {
                if let Some(md5) = md5.as_mut() {
                    md5.update(&chunk);
                }
                chunks.push(chunk);
            }
        }
        // A small object is checked before it is written, so a corrupt read never lands.
        let read_md5 = md5.map(|md5| md5.finalize());
        let source_md5_checked = check_source_md5(
            options.check,
            DeclaredMd5::of(source.protocol(), source_meta.as_ref()),
            read_md5.as_ref().map(|digest| digest.as_slice()),
        )?;
        if let (ConsistencyCheck::Crc64, Some(declared)) = (options.check, declared_crc64) {
            if declared != crc.sum64() {
                return Err(CopyFailure::verification(format!(
                    "CRC64 of the bytes read {:016x} differs from the source's {declared:016x}",
                    crc.sum64()
                )));
            }
        }
        let user_metadata = plan.user_metadata_with_crc64(Some(crc.sum64()));
        let put = put_whole(
            destination,
            dst_key,
            &chunks,
            plan.content_type.as_deref(),
            user_metadata.as_ref(),
        );
        let meta = tokio::select! {
            biased;
            _ = stop.cancelled() => return Err(CopyFailure::stopped()),
            meta = put => meta?,
        };
        WriteResult {
            etag_md5: read_md5.map(|digest| (meta.etag().map(str::to_owned), hex::encode(digest))),
            source_md5_checked,
        }
    };
    let crc64 = crc.sum64();
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
            Err(err) => return Err(CopyFailure::storage(Side::Destination, &err)),
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
        });
    }
    let source_meta = stat_exact(source.operator(), key)
        .await
        .map_err(|err| CopyFailure::storage(Side::Source, &err))?;
    let size = source_meta.content_length();
    let buffer = read_exact(source.operator(), key, size)
        .await
        .map_err(|err| CopyFailure::storage(Side::Source, &err))?;
    let mut crc = crc64fast::Digest::new();
    let mut bytes_read = 0;
    account(&buffer, &mut crc, &mut bytes_read, throttle, progress).await;
    let mut md5 = Md5::new();
    for chunk in buffer.clone() {
        md5.update(&chunk);
    }
    let read_md5 = md5.finalize();
    let source_md5_checked = check_source_md5(
        options.check,
        DeclaredMd5::of(source.protocol(), Some(&source_meta)),
        Some(read_md5.as_slice()),
    )?;
    let plan = WritePlan::new(destination.operator(), Some(&source_meta), options.metadata);
    let user_metadata = plan.user_metadata_with_crc64(Some(crc.sum64()));
    let written = write_exact(
        destination.operator(),
        dst_key,
        buffer,
        plan.content_type,
        user_metadata,
    )
    .await
    .map_err(|err| CopyFailure::storage(Side::Destination, &err))?;
    let crc64 = crc.sum64();
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
                source_md5_checked,
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
    /// The MD5 of the bytes read was compared with (and equals) the MD5 the source declared.
    source_md5_checked: bool,
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
/// OpenDAL's metadata does not say how an object is encrypted; such objects fail with
/// TRF.0062 naming both values rather than being copied unverified.
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

    /// Tells whether `digest` (16 bytes) is the declared MD5, in hex or base64.
    fn matches(&self, digest: &[u8]) -> bool {
        self.value.eq_ignore_ascii_case(&hex::encode(digest)) || self.value == base64_encode(digest)
    }
}

fn is_hex_md5(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Compares the MD5 of the bytes read with the one the source declared; `Ok(true)` when they
/// were compared and agree, `Ok(false)` when there was nothing to compare (or `no_check`).
fn check_source_md5(
    check: ConsistencyCheck,
    declared: Option<DeclaredMd5>,
    read_md5: Option<&[u8]>,
) -> Result<bool, CopyFailure> {
    let (Some(declared), Some(read_md5)) = (declared, read_md5) else {
        return Ok(false);
    };
    if check == ConsistencyCheck::NoCheck {
        return Ok(false);
    }
    if !declared.matches(read_md5) {
        return Err(CopyFailure::verification(format!(
            "MD5 of the bytes read {} differs from the source's {} {}",
            hex::encode(read_md5),
            declared.header,
            declared.value
        )));
    }
    Ok(true)
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
    let mut verification = if observed.written.source_md5_checked {
        Verification::SourceMd5
    } else {
        Verification::SizeLastModified
    };
    match &observed.written.etag_md5 {
        Some((Some(etag), sent_md5)) => {
            let etag = etag.trim_matches('"').to_ascii_lowercase();
            // Only a plain 32-hex ETag is an MD5; anything else (composite, Azure's) proves nothing.
            if is_hex_md5(&etag) {
                if &etag != sent_md5 {
                    return Err(CopyFailure::verification(format!(
                        "destination ETag {etag} differs from the MD5 {sent_md5} of the bytes sent"
                    )));
                }
                verification = if observed.written.source_md5_checked {
                    Verification::SourceAndDestinationMd5
                } else {
                    Verification::SizeAndMd5
                };
            }
        }
        _ if observed.multipart => {
            let stored = stat_exact(destination.operator(), dst_key)
                .await
                .map_err(|err| CopyFailure::storage(Side::Destination, &err))?;
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

    #[test]
    fn test_source_md5_mismatch_is_a_verification_failure_naming_both_values() {
        let declared = DeclaredMd5 {
            header: "ETag",
            value: hex::encode(Md5::digest(b"sent")),
        };
        let read = Md5::digest(b"rotten");
        let failure = check_source_md5(
            ConsistencyCheck::SizeLastModified,
            Some(declared.clone()),
            Some(read.as_slice()),
        )
        .unwrap_err();
        assert_eq!(failure.code, FailureCode::VerificationFailed);
        assert!(
            failure.message.contains(&declared.value),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains(&hex::encode(read)),
            "{}",
            failure.message
        );
        assert_eq!(
            check_source_md5(
                ConsistencyCheck::NoCheck,
                Some(declared.clone()),
                Some(&read)
            ),
            Ok(false)
        );
        assert_eq!(
            check_source_md5(ConsistencyCheck::SizeLastModified, Some(declared), None),
            Ok(false)
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
