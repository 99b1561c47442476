//! The checkpoint of multipart uploads in progress, so that a crash or stop in the middle of a
//! large object costs the parts in flight, not the object (docs/rfcs/0012-part-resume.md).

use async_trait::async_trait;

use crate::task::TaskId;
use crate::Result;

/// The source object an upload was started from: a checkpoint is resumed only while the source
/// still has this version, so an upload never mixes parts of two versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceVersion {
    /// The source's ETag as its HEAD returned it, if any.
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Last-Modified, Unix ms, if any.
    pub modified_ms: Option<i64>,
}

/// One part the destination acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonePart {
    /// Part number, from 1.
    pub number: u32,
    /// The ETag the destination returned for it, as spelled (CompleteMultipartUpload wants it).
    pub etag: String,
    /// Bytes in the part.
    pub size: u64,
    /// CRC64-ECMA of the part's bytes, so a resumed object's CRC64 can still be told.
    pub crc64: u64,
}

/// A multipart upload of one source key, with the parts recorded so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadCheckpoint {
    /// The destination's upload id.
    pub upload_id: String,
    /// The destination key the upload writes.
    pub dst_key: String,
    /// Bytes per part (the last one may be shorter).
    pub part_size: u64,
    /// The source version the parts were read from.
    pub source: SourceVersion,
    /// Parts recorded, in part-number order (empty when beginning an upload).
    pub parts: Vec<DonePart>,
}

/// Keeps [`UploadCheckpoint`]s per task and source key. Implemented by every task store
/// ([`crate::TaskStore`] requires it); the engine writes through it during a run.
#[async_trait]
pub trait PartJournal: Send + Sync + 'static {
    /// The checkpoint of `key` in task `task`, with its parts in order.
    async fn load_upload(&self, task: TaskId, key: &str) -> Result<Option<UploadCheckpoint>>;
    /// Records a new upload of `key`, replacing any earlier checkpoint of it and its parts
    /// (`checkpoint.parts` is ignored).
    async fn begin_upload(
        &self,
        task: TaskId,
        key: &str,
        checkpoint: &UploadCheckpoint,
    ) -> Result<()>;
    /// Records one finished part of upload `upload_id` of `key`; a no-op when the key's
    /// checkpoint is another upload's (a late part of an upload already replaced).
    async fn record_part(
        &self,
        task: TaskId,
        key: &str,
        upload_id: &str,
        part: &DonePart,
    ) -> Result<()>;
    /// Forgets the checkpoint of `key` and its parts.
    async fn forget_upload(&self, task: TaskId, key: &str) -> Result<()>;
    /// Every checkpoint of a task as `(source key, checkpoint without parts)`, in key order.
    async fn task_uploads(&self, task: TaskId) -> Result<Vec<(String, UploadCheckpoint)>>;
}
