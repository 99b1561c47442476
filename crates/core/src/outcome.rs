//! What happened to each object, and the counters that sum them up.
//!
//! The engine emits one [`ObjectOutcome`] per listed object; the scheduler persists them. Counters
//! obey invariant 1 of DESIGN.md: `succeeded + skipped + failed = total` once a run ends.

use std::fmt;

/// Why an object was not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The destination already holds the key and the policy is `NO_OVERWRITE`.
    Exists,
    /// The destination copy compares equal under the overwrite policy.
    Unchanged,
    /// The destination copy compares equal by size and last-modified because CRC64 was missing.
    UnchangedCrc64Unavailable,
    /// The source object is older than `migrate_since`.
    OlderThanSince,
}

impl SkipReason {
    /// A stable lowercase word for reports and object lists.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Exists => "exists",
            SkipReason::Unchanged => "unchanged",
            SkipReason::UnchangedCrc64Unavailable => {
                "unchanged (crc64 unavailable; compared size and last-modified)"
            }
            SkipReason::OlderThanSince => "older than migrate_since",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a successful copy was checked (DESIGN.md invariant 5: never degrades silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// `no_check`: the transfer completed; nothing else was compared.
    NotChecked,
    /// Bytes written equal the source size and the destination is not older than the source.
    SizeLastModified,
    /// As [`Verification::SizeLastModified`], and the destination's ETag equals the MD5 of the bytes sent.
    /// The source declared no comparable MD5 (multipart `-N` ETag, none at all, or too large to hash).
    SizeAndMd5,
    /// As [`Verification::SizeLastModified`], and the MD5 of the bytes read equals the MD5 the
    /// source declared (single-part ETag or Content-MD5); the destination returned no MD5 to compare.
    SourceMd5,
    /// The MD5 of the bytes read equals the MD5 the source declared, and the destination's
    /// ETag equals it too: the bytes at the destination are the source's, end to end.
    SourceAndDestinationMd5,
    /// As [`Verification::SizeAndMd5`], but the source declared a single-part ETag that is not the
    /// MD5 of its bytes (SSE-KMS and SSE-C objects on AWS, some S3-compatible stores): two
    /// independent reads of the source agreed on an MD5 other than the ETag, and the
    /// destination's ETag equals that MD5. The source's ETag could not be used.
    SizeAndMd5EtagNotContentMd5,
    /// As [`Verification::SizeLastModified`], but the source declared a single-part ETag that is
    /// not the MD5 of its bytes: two independent reads of the source agreed on an MD5 other than
    /// the ETag, and the destination returned no MD5 to compare. The source's ETag could not be used.
    SizeLastModifiedEtagNotContentMd5,
    /// As [`Verification::SizeAndMd5`], but the destination's ETag looked like an MD5 and was not
    /// the MD5 of the bytes sent (default SSE-KMS encryption on the destination bucket, on AWS
    /// and OBS): the object was read back from the destination and the MD5 of the bytes it holds
    /// equals the MD5 of the bytes sent.
    DestinationReadBackMd5,
    /// As [`Verification::SourceAndDestinationMd5`], with the destination side checked by reading
    /// the object back (its ETag was not an MD5, see [`Verification::DestinationReadBackMd5`]).
    SourceMd5AndDestinationReadBack,
    /// As [`Verification::SizeAndMd5EtagNotContentMd5`] (neither the source's nor the
    /// destination's ETag was an MD5), with the destination side checked by reading the object
    /// back (see [`Verification::DestinationReadBackMd5`]).
    DestinationReadBackMd5EtagNotContentMd5,
    /// The CRC64 of the bytes read equals the CRC64 the source declared.
    Crc64,
    /// `crc64` was asked for but the source declared none; size and last-modified were checked.
    Crc64UnavailableSizeLastModified,
    /// A server-side copy (no byte passed through tern): the destination's size and ETag equal
    /// the source's, and the ETag is an MD5 or a multipart ETag of the same parts.
    SizeAndSourceEtag,
}

impl Verification {
    /// A stable lowercase word for the ledger and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::NotChecked => "no_check",
            Verification::SizeLastModified => "size_last_modified",
            Verification::SizeAndMd5 => "size_md5",
            Verification::SourceMd5 => "md5_source",
            Verification::SourceAndDestinationMd5 => "md5_source_and_destination",
            Verification::SizeAndMd5EtagNotContentMd5 => "size_md5_etag_not_content_md5",
            Verification::SizeLastModifiedEtagNotContentMd5 => {
                "size_last_modified_etag_not_content_md5"
            }
            Verification::DestinationReadBackMd5 => "md5_destination_read_back",
            Verification::SourceMd5AndDestinationReadBack => "md5_source_and_destination_read_back",
            Verification::DestinationReadBackMd5EtagNotContentMd5 => {
                "md5_destination_read_back_etag_not_content_md5"
            }
            Verification::Crc64 => "crc64",
            Verification::Crc64UnavailableSizeLastModified => {
                "crc64_unavailable_size_last_modified"
            }
            Verification::SizeAndSourceEtag => "size_source_etag",
        }
    }
}

/// How an object's bytes reached the destination (issue 14: the verification record says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyPath {
    /// Read by tern and written by tern.
    Streamed,
    /// Copied inside the service (S3 CopyObject / UploadPartCopy); no byte passed through tern.
    ServerSide,
    /// Server-side copy was possible but the service refused it (for this object or earlier in
    /// the run), so the object was streamed.
    StreamedServerSideRefused,
}

impl CopyPath {
    /// A stable lowercase word for the ledger and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CopyPath::Streamed => "streamed",
            CopyPath::ServerSide => "server_side",
            CopyPath::StreamedServerSideRefused => "streamed_server_side_refused",
        }
    }

    /// The verification record of a successful object: the check's word, prefixed with the
    /// path (`server_side:size_source_etag`) unless the object was simply streamed, so records
    /// written before server-side copies existed read the same.
    pub fn record(self, verification: Verification) -> String {
        match self {
            CopyPath::Streamed => verification.as_str().to_owned(),
            other => format!("{}:{}", other.as_str(), verification.as_str()),
        }
    }
}

/// Why an object, a task or a group failed, as the OMS `TRF.xxxx` migration-failure codes
/// (REFERENCE.md §3.3). Every code tern writes is spelled here and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    /// TRF.0001: anything else, after retries (internal error; restart the task).
    Internal,
    /// TRF.0003: a wait ran out of time (an archived source object's restore did not finish
    /// within the wait tern allows); restarting the task waits again.
    WaitTimedOut,
    /// TRF.0012: a parameter check failed: the source object or endpoint the task names is
    /// missing or cannot be reached as configured.
    SourceNotFound,
    /// TRF.0012: the source object is archived (S3 `InvalidObjectState`, Azure `BlobArchived`)
    /// and the task does not restore it (`enable_restore` false). OMS publishes no code of its
    /// own for this; TRF.0012, "object missing for the chosen mode", is the closest, and it
    /// reads back as [`FailureCode::SourceNotFound`].
    SourceArchived,
    /// TRF.0013: the object list file is missing or unreadable.
    ListFileUnreadable,
    /// TRF.0016: the URL list file has a bad format (or URL lists cannot be read).
    UrlListBadFormat,
    /// TRF.0017: the list file is empty.
    ListFileEmpty,
    /// TRF.0018: a list line is longer than 65535 bytes.
    ListLineTooLong,
    /// TRF.0051: the destination refused access.
    DestinationPermissionDenied,
    /// TRF.0057: the destination AK/SK are invalid.
    DestinationCredentialsInvalid,
    /// TRF.0058: the destination bucket does not exist.
    DestinationBucketNotFound,
    /// TRF.0060: the destination key is too long.
    DestinationKeyTooLong,
    /// TRF.0061: the destination failed the write.
    DestinationError,
    /// TRF.0062: the bytes at the destination do not match what was read.
    VerificationFailed,
    /// TRF.0062: a run ended with some objects failed ("some uploads failed").
    ObjectsFailed,
    /// TRF.0151: the source AK/SK are invalid.
    SourceCredentialsInvalid,
    /// TRF.0152: the source refused access.
    SourcePermissionDenied,
    /// TRF.0155: the source bucket does not exist.
    SourceBucketNotFound,
}

impl FailureCode {
    /// The OMS code.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::Internal => "TRF.0001",
            FailureCode::WaitTimedOut => "TRF.0003",
            FailureCode::SourceNotFound | FailureCode::SourceArchived => "TRF.0012",
            FailureCode::ListFileUnreadable => "TRF.0013",
            FailureCode::UrlListBadFormat => "TRF.0016",
            FailureCode::ListFileEmpty => "TRF.0017",
            FailureCode::ListLineTooLong => "TRF.0018",
            FailureCode::DestinationPermissionDenied => "TRF.0051",
            FailureCode::DestinationCredentialsInvalid => "TRF.0057",
            FailureCode::DestinationBucketNotFound => "TRF.0058",
            FailureCode::DestinationKeyTooLong => "TRF.0060",
            FailureCode::DestinationError => "TRF.0061",
            FailureCode::VerificationFailed | FailureCode::ObjectsFailed => "TRF.0062",
            FailureCode::SourceCredentialsInvalid => "TRF.0151",
            FailureCode::SourcePermissionDenied => "TRF.0152",
            FailureCode::SourceBucketNotFound => "TRF.0155",
        }
    }

    /// Parses a stored code; TRF.0062 reads back as [`FailureCode::ObjectsFailed`] (its two
    /// meanings share OMS's one code).
    pub fn from_code(code: &str) -> Option<FailureCode> {
        const ALL: [FailureCode; 16] = [
            FailureCode::Internal,
            FailureCode::WaitTimedOut,
            FailureCode::SourceNotFound,
            FailureCode::ListFileUnreadable,
            FailureCode::UrlListBadFormat,
            FailureCode::ListFileEmpty,
            FailureCode::ListLineTooLong,
            FailureCode::DestinationPermissionDenied,
            FailureCode::DestinationCredentialsInvalid,
            FailureCode::DestinationBucketNotFound,
            FailureCode::DestinationKeyTooLong,
            FailureCode::DestinationError,
            FailureCode::ObjectsFailed,
            FailureCode::SourceCredentialsInvalid,
            FailureCode::SourcePermissionDenied,
            FailureCode::SourceBucketNotFound,
        ];
        ALL.into_iter().find(|candidate| candidate.as_str() == code)
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a task or a group failed: OMS's `error_reason` (`error_code`, `error_msg`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReason {
    /// The `TRF.xxxx` code.
    pub code: FailureCode,
    /// A one-line message naming the cause.
    pub message: String,
}

impl FailureReason {
    /// Builds a reason.
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        FailureReason {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The end state of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Copied and verified.
    Succeeded {
        /// How the copy was checked.
        verification: Verification,
        /// CRC64-ECMA (as Aliyun/Tencent compute it) of the bytes copied; `None` when tern never
        /// saw the bytes (a server-side copy of a source that declared no CRC64).
        crc64: Option<u64>,
        /// How the bytes got there.
        path: CopyPath,
    },
    /// Not copied, by policy.
    Skipped(SkipReason),
    /// Not copied because of an error that retries did not cure.
    Failed {
        /// The OMS failure code.
        code: FailureCode,
        /// The storage's own message (never holds a secret).
        message: String,
    },
}

/// One object's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectOutcome {
    /// Source key.
    pub key: String,
    /// Source size in bytes (0 when unknown, e.g. a list-file key that does not exist).
    pub size: u64,
    /// What happened.
    pub outcome: Outcome,
}

/// Object and byte counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Objects listed.
    pub total_num: u64,
    /// Objects copied.
    pub successful_num: u64,
    /// Objects skipped by policy.
    pub skipped_num: u64,
    /// Objects that failed.
    pub failed_num: u64,
    /// Bytes listed.
    pub total_size: u64,
    /// Bytes copied.
    pub successful_size: u64,
    /// Bytes skipped.
    pub skipped_size: u64,
    /// Bytes of failed objects.
    pub failed_size: u64,
}

impl Counters {
    /// Counts one outcome.
    pub fn record(&mut self, outcome: &ObjectOutcome) {
        match outcome.outcome {
            Outcome::Succeeded { .. } => {
                self.successful_num += 1;
                self.successful_size += outcome.size;
            }
            Outcome::Skipped(_) => {
                self.skipped_num += 1;
                self.skipped_size += outcome.size;
            }
            Outcome::Failed { .. } => {
                self.failed_num += 1;
                self.failed_size += outcome.size;
            }
        }
    }

    /// Objects that have an outcome.
    pub fn finished_num(&self) -> u64 {
        self.successful_num + self.skipped_num + self.failed_num
    }

    /// Tells whether every listed object has exactly one outcome (invariant 1).
    pub fn is_balanced(&self) -> bool {
        self.finished_num() == self.total_num
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_counters_balance_after_each_outcome_kind() {
        let mut counters = Counters {
            total_num: 3,
            total_size: 30,
            ..Counters::default()
        };
        let outcomes = [
            Outcome::Succeeded {
                verification: Verification::SizeAndMd5,
                crc64: Some(1),
                path: CopyPath::Streamed,
            },
            Outcome::Skipped(SkipReason::Unchanged),
            Outcome::Failed {
                code: FailureCode::SourceNotFound,
                message: "gone".into(),
            },
        ];
        for (index, outcome) in outcomes.into_iter().enumerate() {
            assert!(!counters.is_balanced());
            counters.record(&ObjectOutcome {
                key: format!("k{index}"),
                size: 10,
                outcome,
            });
        }
        assert!(counters.is_balanced());
        assert_eq!(
            counters.successful_size + counters.skipped_size + counters.failed_size,
            30
        );
    }

    #[test]
    fn test_failure_codes_read_back_from_their_oms_spelling() {
        for code in [
            FailureCode::Internal,
            FailureCode::ListFileUnreadable,
            FailureCode::UrlListBadFormat,
            FailureCode::ListLineTooLong,
            FailureCode::SourceCredentialsInvalid,
            FailureCode::DestinationCredentialsInvalid,
            FailureCode::SourceBucketNotFound,
            FailureCode::WaitTimedOut,
        ] {
            assert_eq!(FailureCode::from_code(code.as_str()), Some(code));
        }
        assert_eq!(FailureCode::SourceArchived.as_str(), "TRF.0012");
        assert_eq!(
            FailureCode::from_code("TRF.0012"),
            Some(FailureCode::SourceNotFound)
        );
        assert_eq!(
            FailureCode::from_code("TRF.0062"),
            Some(FailureCode::ObjectsFailed)
        );
        assert_eq!(FailureCode::from_code("TRF.9999"), None);
    }

    #[test]
    fn test_verification_record_names_the_path_unless_streamed() {
        assert_eq!(
            CopyPath::Streamed.record(Verification::SizeAndMd5),
            "size_md5"
        );
        assert_eq!(
            CopyPath::ServerSide.record(Verification::SizeAndSourceEtag),
            "server_side:size_source_etag"
        );
        assert_eq!(
            CopyPath::StreamedServerSideRefused.record(Verification::SourceAndDestinationMd5),
            "streamed_server_side_refused:md5_source_and_destination"
        );
    }
}
