//! Copying one object by URL (see [`crate::http_source`]): an object whose size the server
//! announces is checked against it; up to the part size it is read whole and written with one
//! PUT (its CRC64 stored as `tern-crc64`, the ETag checked against the MD5 as storage copies
//! do); above it, it is fetched with ranged GETs (when the server accepts ranges) into a
//! multipart upload. An object without Content-Length follows OMS `no_check` (REFERENCE.md
//! §1.2): a completed download counts as a success.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use opendal::Buffer;
use reqwest::header::CONTENT_TYPE;
use tern_core::{ConsistencyCheck, FailureCode};
use url::Url;

use crate::copy::{put_whole, reserve_buffers, Copied, CopyContext, CopyFailure};
use crate::error::Side;
use crate::http_source::{error_cause, shown_url, FetchFailure, HttpSource};
use crate::multipart::MultipartUpload;
use crate::source_md5::{SourceCheck, WholeReadBuilder};
use crate::storage::crc64_metadata_key;
use crate::throttle::Throttle;
use crate::urllist::UrlOrigin;
use crate::verify::{verify, Observed, WriteResult};

fn fetch_failed(failure: FetchFailure) -> CopyFailure {
    CopyFailure {
        code: failure.code,
        message: failure.message,
        run_fatal: false,
    }
}

/// Copies the object at `origin` to `dst_key`. `size` is the size its `HEAD` announced (ignored
/// when `origin.size_known` is false).
pub(crate) async fn copy_url_object(
    ctx: CopyContext<'_>,
    http: &HttpSource,
    origin: &UrlOrigin,
    size: u64,
    dst_key: &str,
) -> Result<Copied, CopyFailure> {
    let CopyContext {
        destination,
        options,
        throttle,
        progress,
        stop,
        cleanup,
        source: _,
        // Objects fetched by URL stream through OpenDAL's writer (RFC 0012 scope).
        resume: _,
        memory,
    } = ctx;
    let url = &origin.url;
    let part_size = options.part_size.max(1);
    // No Content-Length: OMS `no_check`, whatever the task's check.
    let check = if origin.size_known {
        options.check
    } else {
        ConsistencyCheck::NoCheck
    };
    let capability = destination.operator().info().capability();
    let whole = origin.size_known && size <= part_size as u64;
    // An object of unknown size may need every part in flight.
    let reserve_for = if origin.size_known { size } else { u64::MAX };
    let (_buffers, pipeline) = tokio::select! {
        biased;
        _ = stop.cancelled() => return Err(CopyFailure::stopped()),
        reserved = reserve_buffers(memory, !whole, reserve_for, part_size, options.part_concurrency) => reserved,
    };
    if whole {
        let response = http.get(url, None).await.map_err(fetch_failed)?;
        let content_type =
            content_type_of(&response).filter(|_| capability.write_with_content_type);
        let mut body = response.bytes_stream();
        let mut whole = WholeReadBuilder::new(size <= crate::copy::MD5_CHECK_MAX_BYTES);
        let mut taken = 0u64;
        loop {
            let next = tokio::select! {
                biased;
                _ = stop.cancelled() => return Err(CopyFailure::stopped()),
                next = body.next() => next,
            };
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|err| body_failed(url, &err))?;
            taken += chunk.len() as u64;
            // The server announced `size`; more than a part would not fit a single PUT.
            if taken > part_size as u64 {
                return Err(CopyFailure::verification(format!(
                    "{} sent more than the {size} bytes it announced",
                    shown_url(url)
                )));
            }
            whole
                .take(Buffer::from(chunk), throttle, Some(progress))
                .await;
        }
        let read = whole.finish();
        let user_metadata = capability.write_with_user_metadata.then(|| {
            std::collections::HashMap::from([(
                crc64_metadata_key(destination.protocol()).to_owned(),
                format!("{:016x}", read.crc64),
            )])
        });
        if check != ConsistencyCheck::NoCheck && read.bytes != size {
            return Err(CopyFailure::verification(format!(
                "read {} bytes but {} announced {size}",
                read.bytes,
                shown_url(url)
            )));
        }
        let put = put_whole(
            destination,
            dst_key,
            &read.chunks,
            content_type.as_deref(),
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
            source: SourceCheck::NotCompared,
        };
        let verification = verify(
            destination,
            dst_key,
            check,
            Observed {
                expected_size: size,
                bytes_read: read.bytes,
                declared_crc64: None,
                crc64: read.crc64,
                multipart: false,
                written,
            },
        )
        .await?;
        return Ok(Copied {
            bytes: read.bytes,
            crc64: read.crc64,
            verification,
        });
    }

    // Large or of unknown size: streamed through a multipart writer (OpenDAL sends a single PUT
    // when the object turns out to fit one part).
    let (body, content_type): (BoxStream<'static, Result<Bytes, CopyFailure>>, _) =
        if origin.size_known && origin.accepts_ranges {
            let ranges = part_ranges(size, part_size as u64);
            let http = http.clone();
            let url = url.clone();
            let body = stream::iter(ranges)
                .map(move |(first, last)| {
                    let http = http.clone();
                    let url = url.clone();
                    async move { fetch_range(&http, &url, first, last).await }
                })
                .buffered(pipeline.reads_ahead.max(1))
                .boxed();
            (body, None)
        } else {
            let response = http.get(url, None).await.map_err(fetch_failed)?;
            let content_type = content_type_of(&response);
            let shown = url.clone();
            let body = response
                .bytes_stream()
                .map_err(move |err| body_failed(&shown, &err))
                .boxed();
            (body, content_type)
        };
    let mut writer = destination
        .operator()
        .writer_with(dst_key)
        .chunk(part_size)
        .concurrent(pipeline.uploads.max(1));
    if let Some(content_type) = content_type.filter(|_| capability.write_with_content_type) {
        writer = writer.content_type(&content_type);
    }
    let writer = writer.await.map_err(|err| {
        CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
    })?;
    let mut upload = MultipartUpload::new(writer, cleanup, dst_key);
    let mut crc = crate::crc64::Crc64::new();
    let mut bytes_read = 0u64;
    let streamed = stream_into(
        body,
        &mut upload,
        &mut crc,
        &mut bytes_read,
        throttle,
        progress,
        stop,
        destination,
        dst_key,
    )
    .await
    .and_then(|()| {
        if check != ConsistencyCheck::NoCheck && bytes_read != size {
            return Err(CopyFailure::verification(format!(
                "read {bytes_read} bytes but {} announced {size}",
                shown_url(url)
            )));
        }
        Ok(())
    });
    if let Err(failure) = streamed {
        upload.abort().await;
        return Err(failure);
    }
    upload.complete().await.map_err(|err| {
        CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
    })?;
    let verification = verify(
        destination,
        dst_key,
        check,
        Observed {
            expected_size: if origin.size_known { size } else { bytes_read },
            bytes_read,
            declared_crc64: None,
            crc64: crc.sum64(),
            multipart: true,
            written: WriteResult {
                etag_md5: None,
                source: SourceCheck::NotCompared,
            },
        },
    )
    .await?;
    Ok(Copied {
        bytes: bytes_read,
        crc64: crc.sum64(),
        verification,
    })
}

#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename the arguments
async fn stream_into(
    mut body: BoxStream<'static, Result<Bytes, CopyFailure>>,
    upload: &mut MultipartUpload,
    crc: &mut crate::crc64::Crc64,
    bytes_read: &mut u64,
    throttle: &Throttle,
    progress: &AtomicU64,
    stop: &tokio_util::sync::CancellationToken,
    destination: &crate::storage::Storage,
    dst_key: &str,
) -> Result<(), CopyFailure> {
    loop {
        // Reads and throttle waits give way to `stop`; a part write does not (see copy.rs).
        let next = tokio::select! {
            biased;
            _ = stop.cancelled() => return Err(CopyFailure::stopped()),
            next = body.try_next() => next?,
        };
        let Some(chunk) = next else { return Ok(()) };
        let len = chunk.len() as u64;
        tokio::select! {
            biased;
            _ = stop.cancelled() => return Err(CopyFailure::stopped()),
            _ = throttle.consume(len) => {}
        }
        crc.write(&chunk);
        *bytes_read += len;
        progress.fetch_add(len, Ordering::Relaxed);
        upload.write(Buffer::from(chunk)).await.map_err(|err| {
            CopyFailure::storage(destination.place(Side::Destination, Some(dst_key)), &err)
        })?;
    }
}

async fn fetch_range(
    http: &HttpSource,
    url: &Url,
    first: u64,
    last: u64,
) -> Result<Bytes, CopyFailure> {
    let response = http
        .get(url, Some((first, last)))
        .await
        .map_err(fetch_failed)?;
    let bytes = response
        .bytes()
        .await
        .map_err(|err| body_failed(url, &err))?;
    if bytes.len() as u64 != last - first + 1 {
        return Err(CopyFailure::verification(format!(
            "{} sent {} bytes for range {first}-{last}",
            shown_url(url),
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// Inclusive byte ranges of `part` bytes covering `size` bytes.
fn part_ranges(size: u64, part: u64) -> Vec<(u64, u64)> {
    let part = part.max(1);
    (0..size.div_ceil(part))
        .map(|index| {
            let first = index * part;
            (first, (first + part).min(size) - 1)
        })
        .collect()
}

fn content_type_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn body_failed(url: &Url, err: &reqwest::Error) -> CopyFailure {
    CopyFailure {
        code: FailureCode::Internal,
        message: format!(
            "{} broke off while sending: {}",
            shown_url(url),
            error_cause(err)
        ),
        run_fatal: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_part_ranges_cover_every_byte_once() {
        assert_eq!(part_ranges(10, 4), vec![(0, 3), (4, 7), (8, 9)]);
        assert_eq!(part_ranges(8, 4), vec![(0, 3), (4, 7)]);
        assert!(part_ranges(0, 4).is_empty());
    }
}
