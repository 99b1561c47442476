//! The source's own word on an object's bytes, for single-PUT copies: [`DeclaredMd5`] (the MD5
//! a source declares in its ETag or Content-MD5), [`WholeRead`] (an object read whole and hashed
//! on the way), and [`settle_source_md5`], which checks a first read against the declared MD5
//! and, when they differ, reads the object again (at most [`MAX_SOURCE_READS`] reads) to tell a
//! read corrupted in transit from a declared value that is not the MD5 of the bytes.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::TryStreamExt;
use md5::{Digest, Md5};
use opendal::{Buffer, Metadata};
use tern_core::{ConsistencyCheck, FailureCode, Protocol};

use crate::copy::CopyFailure;
use crate::error::Side;
use crate::rawpath::read_exact;
use crate::storage::{base64_encode, Storage};
use crate::throttle::Throttle;

/// What the MD5 of the bytes read from the source was found to agree with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceCheck {
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
pub(crate) struct WholeRead {
    pub(crate) chunks: Vec<Bytes>,
    pub(crate) bytes: u64,
    pub(crate) crc64: u64,
    /// MD5 of the bytes, when it was asked for.
    pub(crate) md5: Option<[u8; 16]>,
}

/// Collects a [`WholeRead`] buffer by buffer, hashing on the way.
pub(crate) struct WholeReadBuilder {
    chunks: Vec<Bytes>,
    bytes: u64,
    crc: crate::crc64::Crc64,
    md5: Option<Md5>,
}

impl WholeReadBuilder {
    pub(crate) fn new(hash_md5: bool) -> Self {
        WholeReadBuilder {
            chunks: Vec::new(),
            bytes: 0,
            crc: crate::crc64::Crc64::new(),
            md5: hash_md5.then(Md5::new),
        }
    }

    /// Adds `buffer` after the run's bandwidth limit allows it; `progress` counts it when given
    /// (a second read of the same object is not progress).
    pub(crate) async fn take(
        &mut self,
        buffer: Buffer,
        throttle: &Throttle,
        progress: Option<&AtomicU64>,
    ) {
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

    pub(crate) fn finish(self) -> WholeRead {
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
pub(crate) async fn settle_source_md5<F, Fut>(
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
pub(crate) async fn read_again_streamed(
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
pub(crate) async fn read_again_raw(
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
pub(crate) struct DeclaredMd5 {
    /// `ETag` or `Content-MD5`, for messages.
    header: &'static str,
    /// The value as the source sent it (quotes removed).
    value: String,
}

impl DeclaredMd5 {
    /// The MD5 the source declares in `meta`, if any.
    pub(crate) fn of(protocol: Protocol, meta: Option<&Metadata>) -> Option<DeclaredMd5> {
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

pub(crate) fn is_hex_md5(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
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
}
