//! Server-side copy: when source and destination are buckets of one S3 service, objects are
//! copied by the service (CopyObject up to the part size, UploadPartCopy in parts sized as the
//! streaming path sizes them above it) instead of streaming through tern. See
//! docs/rfcs/0010-server-side-copy.md.
//!
//! [`ServerCopier::deliver`] is the one place a run decides how an object travels. It streams
//! (`copy::copy_object`) when server-side copy is off, the endpoints differ, or the key is one
//! OpenDAL would rewrite; and falls back to streaming when the service refuses a copy, saying so
//! in the outcome ([`CopyPath::StreamedServerSideRefused`]). A refusal that every other object
//! would meet too (403: the destination's credentials may not read the source; 501/405: not
//! implemented; 400) turns server-side copy off for the rest of the run, so a run pays for one
//! refused request, not one per object.
//!
//! The destination gets what the streaming path writes: Content-Type, user metadata when the
//! task copies it, tern's CRC64 when the source declared one (tern never sees the bytes, so it
//! cannot compute one), and the task's storage class, all set with
//! `x-amz-metadata-directive: REPLACE` or on CreateMultipartUpload.
//!
//! One case needs no HEAD of the source: a whole-object copy (CopyObject) whose metadata is
//! copied as the source holds it, when the listing gave the ETag. The service then carries
//! Content-Type and user metadata over itself (`x-amz-metadata-directive: COPY`), the listed
//! ETag conditions the copy (`x-amz-copy-source-if-match`), and the copy's ETag checks it. This
//! halves the requests per small object; without metadata migration the HEAD stays, because
//! Content-Type must then be written alone and only the HEAD gives it.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, TryStreamExt};
use tern_core::{ConsistencyCheck, CopyPath, Verification};

use crate::copy::{copy_object, part_size_for, CopyContext, CopyFailure, WritePlan};
use crate::error::Side;
use crate::listing::object_meta;
use crate::rawpath::{needs_raw_path, stat_exact};
use crate::s3_copy_requests::{
    CopySource, MetadataDirective, PartCopyUpload, Refusal, S3CopyClient, S3Endpoint, UploadRef,
};
use crate::source_md5::is_hex_md5;
use crate::storage::Storage;

/// An object that reached the destination, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivered {
    /// How the copy was checked.
    pub(crate) verification: Verification,
    /// The CRC64 of the bytes, when tern knows it (streamed, or declared by the source).
    pub(crate) crc64: Option<u64>,
    /// Which path the bytes took.
    pub(crate) path: CopyPath,
}

/// The server-side copier of one run; `None` from [`ServerCopier::between`] when the two
/// storages cannot copy server-side.
pub(crate) struct ServerCopier {
    source: S3Endpoint,
    client: S3CopyClient,
    /// Set by the first refusal that applies to every object: the rest of the run streams.
    refused: AtomicBool,
}

/// What the listing says of the object to copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ListedObject<'a> {
    /// The source key.
    pub(crate) key: &'a str,
    /// Its size.
    pub(crate) size: u64,
    /// Its ETag, when the listing carries one.
    pub(crate) etag: Option<&'a str>,
}

/// What a copy carries over and checks against: from the source's HEAD, or from the listing
/// when that is enough (see the module doc).
struct SourceFacts {
    size: u64,
    etag: Option<String>,
    /// tern's CRC64 declared in the source's metadata (known only from a HEAD).
    crc64: Option<u64>,
}

/// Why a server-side attempt did not deliver.
enum Attempt {
    /// The service refused or could not copy: stream instead.
    Refused(Refusal),
    /// The object failed as it would have streamed (source missing, stopped, bad copy).
    Failed(CopyFailure),
}

impl ServerCopier {
    /// A copier when both storages are buckets of one S3 service and `enabled`.
    pub(crate) fn between(
        source: &Storage,
        destination: &Storage,
        enabled: bool,
    ) -> Option<ServerCopier> {
        if !enabled {
            return None;
        }
        let (source, destination) = (source.s3_endpoint()?, destination.s3_endpoint()?);
        if !source.same_service(destination) {
            return None;
        }
        Some(ServerCopier {
            source: source.clone(),
            client: S3CopyClient::new(destination.clone())?,
            refused: AtomicBool::new(false),
        })
    }

    /// Copies `key` to `dst_key` server-side when it can, streaming otherwise (see the module doc).
    pub(crate) async fn deliver(
        copier: Option<&ServerCopier>,
        ctx: CopyContext<'_>,
        listed: ListedObject<'_>,
        dst_key: &str,
    ) -> Result<Delivered, CopyFailure> {
        let (key, listed_size) = (listed.key, listed.size);
        let Some(server) = copier.filter(|_| !needs_raw_path(key) && !needs_raw_path(dst_key))
        else {
            return stream(ctx, key, dst_key, listed_size, CopyPath::Streamed).await;
        };
        if server.refused.load(Ordering::Relaxed) {
            return stream(
                ctx,
                key,
                dst_key,
                listed_size,
                CopyPath::StreamedServerSideRefused,
            )
            .await;
        }
        match server.attempt(ctx, listed, dst_key).await {
            Ok(delivered) => Ok(delivered),
            Err(Attempt::Failed(failure)) => Err(failure),
            Err(Attempt::Refused(refusal)) => {
                if refusal.applies_to_every_object()
                    && !server.refused.swap(true, Ordering::Relaxed)
                {
                    tracing::warn!(
                        key = %key,
                        refusal = %refusal,
                        "the service refused a server-side copy; this run streams every object from now on"
                    );
                } else {
                    tracing::debug!(key = %key, refusal = %refusal, "server-side copy refused; streaming the object");
                }
                stream(
                    ctx,
                    key,
                    dst_key,
                    listed_size,
                    CopyPath::StreamedServerSideRefused,
                )
                .await
            }
        }
    }

    async fn attempt(
        &self,
        ctx: CopyContext<'_>,
        listed: ListedObject<'_>,
        dst_key: &str,
    ) -> Result<Delivered, Attempt> {
        let CopyContext {
            destination,
            options,
            stop,
            ..
        } = ctx;
        let key = listed.key;
        let whole = listed.size <= options.part_size as u64;
        let (facts, headers, directive) = match listed.etag {
            Some(etag) if whole && options.metadata => (
                SourceFacts {
                    size: listed.size,
                    etag: Some(etag.to_owned()),
                    crc64: None,
                },
                self.client
                    .write_headers(None, None)
                    .map_err(cannot_be_sent)?,
                MetadataDirective::Copy,
            ),
            _ => {
                let (facts, headers) = self.headed(ctx, key).await?;
                (facts, headers, MetadataDirective::Replace)
            }
        };
        let copy_source = CopySource {
            endpoint: &self.source,
            key,
            etag: facts.etag.as_deref(),
        };
        let copy = async {
            if facts.size <= options.part_size as u64 {
                self.copy_whole(ctx, &copy_source, dst_key, facts.size, &headers, directive)
                    .await
            } else {
                self.copy_in_parts(ctx, &copy_source, dst_key, facts.size, &headers)
                    .await
            }
        };
        // A CopyObject has nothing to abort; a part copy aborts its upload when dropped here.
        let copied_etag = tokio::select! {
            biased;
            _ = stop.cancelled() => return Err(Attempt::Failed(CopyFailure::stopped())),
            copied = copy => copied?,
        };
        let verification = verify_copy(destination, dst_key, options.check, &facts, &copied_etag)
            .await
            .map_err(Attempt::Failed)?;
        Ok(Delivered {
            verification,
            crc64: facts.crc64,
            path: CopyPath::ServerSide,
        })
    }

    /// One HEAD of the source gives what the copy must carry over and check: size, ETag,
    /// Content-Type, user metadata (tern's CRC64 among it); returns those facts and the headers
    /// that write them.
    async fn headed(
        &self,
        ctx: CopyContext<'_>,
        key: &str,
    ) -> Result<(SourceFacts, http::HeaderMap), Attempt> {
        let CopyContext {
            source,
            destination,
            options,
            ..
        } = ctx;
        let source_meta = stat_exact(source.operator(), key).await.map_err(|err| {
            Attempt::Failed(CopyFailure::storage(
                source.place(Side::Source, Some(key)),
                &err,
            ))
        })?;
        let declared_crc64 = object_meta(&source_meta, source.protocol()).crc64;
        let plan = WritePlan::new(source, destination, Some(&source_meta), options.metadata)
            .map_err(Attempt::Failed)?;
        let user_metadata = plan.user_metadata_with_crc64(declared_crc64);
        let headers = self
            .client
            .write_headers(plan.content_type.as_deref(), user_metadata.as_ref())
            .map_err(cannot_be_sent)?;
        let facts = SourceFacts {
            size: source_meta.content_length(),
            etag: source_meta.etag().map(str::to_owned),
            crc64: declared_crc64,
        };
        Ok((facts, headers))
    }

    /// CopyObject; returns the copy's ETag (a whole copy's ETag is the MD5 of its bytes).
    async fn copy_whole(
        &self,
        ctx: CopyContext<'_>,
        source: &CopySource<'_>,
        dst_key: &str,
        size: u64,
        headers: &http::HeaderMap,
        directive: MetadataDirective,
    ) -> Result<Option<String>, Attempt> {
        // The bandwidth limit paces server-side copies too, although their bytes never cross
        // tern's network: a limit the task sets is honoured whatever path the bytes take.
        ctx.throttle.consume(size).await;
        let etag = self
            .client
            .copy_object(source, dst_key, headers, directive)
            .await
            .map_err(Attempt::Refused)?;
        ctx.progress
            .fetch_add(size, std::sync::atomic::Ordering::Relaxed);
        Ok(Some(etag))
    }

    /// CreateMultipartUpload, UploadPartCopy of every part (`part_concurrency` at once),
    /// CompleteMultipartUpload; the upload is aborted on any failure or stop. Returns the
    /// object's ETag.
    async fn copy_in_parts(
        &self,
        ctx: CopyContext<'_>,
        source: &CopySource<'_>,
        dst_key: &str,
        size: u64,
        headers: &http::HeaderMap,
    ) -> Result<Option<String>, Attempt> {
        let part_size = part_size_for(size, ctx.options.part_size) as u64;
        let upload_id = self
            .client
            .create_upload(dst_key, headers)
            .await
            .map_err(Attempt::Refused)?;
        let upload = PartCopyUpload::new(
            &self.client,
            UploadRef {
                key: dst_key.to_owned(),
                upload_id,
            },
            ctx.cleanup,
        );
        let Some(open) = upload.upload() else {
            return Err(Attempt::Refused(Refusal::BadAnswer(
                "the upload closed before its parts were copied".to_owned(),
            )));
        };
        let ranges = part_ranges(size, part_size);
        let parts: Result<Vec<String>, Refusal> = futures::stream::iter(ranges)
            .map(|(number, range)| async move {
                ctx.throttle.consume(range.1 - range.0 + 1).await;
                let etag = self.client.copy_part(source, open, number, range).await?;
                ctx.progress
                    .fetch_add(range.1 - range.0 + 1, std::sync::atomic::Ordering::Relaxed);
                Ok(etag)
            })
            .buffered(ctx.options.part_concurrency.max(1))
            .try_collect()
            .await;
        let part_etags = match parts {
            Ok(etags) => etags,
            Err(refusal) => {
                upload.abort().await;
                return Err(Attempt::Refused(refusal));
            }
        };
        let etag = upload
            .complete(&part_etags)
            .await
            .map_err(Attempt::Refused)?;
        Ok(Some(etag))
    }
}

fn cannot_be_sent(message: String) -> Attempt {
    Attempt::Refused(Refusal::BadAnswer(format!("cannot be sent: {message}")))
}

/// Streams the object and records `path`.
async fn stream(
    ctx: CopyContext<'_>,
    key: &str,
    dst_key: &str,
    listed_size: u64,
    path: CopyPath,
) -> Result<Delivered, CopyFailure> {
    let copied = copy_object(ctx, key, dst_key, listed_size).await?;
    Ok(Delivered {
        verification: copied.verification,
        crc64: Some(copied.crc64),
        path,
    })
}

/// `(part number, (first byte, last byte))` of each part, numbered from 1.
pub(crate) fn part_ranges(size: u64, part_size: u64) -> Vec<(u32, (u64, u64))> {
    let mut ranges = Vec::new();
    let mut first = 0;
    let mut number = 1;
    while first < size {
        let last = (first + part_size).min(size) - 1;
        ranges.push((number, (first, last)));
        first = last + 1;
        number += 1;
    }
    ranges
}

/// Checks a server-side copy as `check` asks: the destination's size against the source's, and
/// its ETag against the source's where both are comparable (an MD5, or a multipart ETag of the
/// same parts); otherwise the size alone, the rule of `size_last_modified` (tern read no byte,
/// so no CRC64 or MD5 of its own can be compared).
async fn verify_copy(
    destination: &Storage,
    dst_key: &str,
    check: ConsistencyCheck,
    source: &SourceFacts,
    copied_etag: &Option<String>,
) -> Result<Verification, CopyFailure> {
    if check == ConsistencyCheck::NoCheck {
        return Ok(Verification::NotChecked);
    }
    let source_etag = source.etag.as_deref().map(normalize_etag);
    // A whole copy's ETag equal to the source's MD5 covers the bytes, hence the size: no HEAD.
    if let (Some(source), Some(copied)) = (&source_etag, copied_etag.as_deref()) {
        if is_hex_md5(source) && *source == normalize_etag(copied) {
            return Ok(Verification::SizeAndSourceEtag);
        }
    }
    let stored = stat_exact(destination.operator(), dst_key)
        .await
        .map_err(|err| {
            CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
        })?;
    let size = source.size;
    if stored.content_length() != size {
        return Err(CopyFailure::verification(format!(
            "after a server-side copy the destination holds {} bytes, the source {size}",
            stored.content_length()
        )));
    }
    let stored_etag = stored.etag().map(normalize_etag);
    Ok(match (source_etag, stored_etag) {
        (Some(source), Some(stored)) if comparable_etag(&source) && source == stored => {
            Verification::SizeAndSourceEtag
        }
        _ => Verification::SizeLastModified,
    })
}

fn normalize_etag(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase()
}

/// An MD5 (`32 hex`) or a multipart ETag (`32 hex-N`): equal ETags of these forms mean equal
/// bytes (for the multipart form, equal parts).
fn comparable_etag(etag: &str) -> bool {
    match etag.split_once('-') {
        Some((md5, parts)) => {
            is_hex_md5(md5) && !parts.is_empty() && parts.bytes().all(|b| b.is_ascii_digit())
        }
        None => is_hex_md5(etag),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_part_ranges_cover_the_object_once() {
        assert_eq!(
            part_ranges(10, 4),
            vec![(1, (0, 3)), (2, (4, 7)), (3, (8, 9))]
        );
        assert_eq!(part_ranges(8, 4), vec![(1, (0, 3)), (2, (4, 7))]);
        let ranges = part_ranges(256 << 20, 8 << 20);
        assert_eq!(ranges.len(), 32);
        assert_eq!(ranges.last(), Some(&(32, ((248 << 20), (256 << 20) - 1))));
    }

    #[test]
    fn test_only_md5_and_multipart_etags_are_compared() {
        assert!(comparable_etag("5eb63bbbe01eeed093cb22bb8f5acdc3"));
        assert!(comparable_etag("0ba2a57ce0ed25653d7005816de3589a-2"));
        assert!(!comparable_etag("0ba2a57ce0ed25653d7005816de3589a-"));
        assert!(!comparable_etag("0x8DC1234567890AB"));
        assert_eq!(normalize_etag("W/\"ABC\""), "abc");
    }
}
