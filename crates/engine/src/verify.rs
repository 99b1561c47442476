//! Verifying a copy after the write: [`verify`] checks what the consistency check asks (size,
//! the destination ETag against the MD5 sent, CRC64) from what the copy observed ([`Observed`]),
//! reads a single-PUT object back ([`read_back_md5`]) when its ETag is not the MD5 sent, and
//! names the check that actually ran.

use md5::{Digest, Md5};
use opendal::Buffer;
use tern_core::{ConsistencyCheck, Verification};

use crate::copy::CopyFailure;
use crate::error::Side;
use crate::rawpath::{read_exact_with_length, stat_exact};
use crate::source_md5::{is_hex_md5, SourceCheck};
use crate::storage::Storage;

pub(crate) struct WriteResult {
    /// For single PUTs: the ETag returned and the MD5 of the bytes sent.
    pub(crate) etag_md5: Option<(Option<String>, String)>,
    /// What the MD5 of the bytes read was compared with at the source.
    pub(crate) source: SourceCheck,
}

pub(crate) struct Observed {
    pub(crate) expected_size: u64,
    pub(crate) bytes_read: u64,
    pub(crate) declared_crc64: Option<u64>,
    pub(crate) crc64: u64,
    pub(crate) multipart: bool,
    pub(crate) written: WriteResult,
}

/// Checks the copy as `check` asks and names what was actually compared.
pub(crate) async fn verify(
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
