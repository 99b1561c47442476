//! Multipart uploads that survive a crash or a stop (docs/rfcs/0012-part-resume.md): the upload
//! id and every finished part are written to a [`PartJournal`] as the copy goes, and the next
//! run of the task lists the upload's parts, reads only the missing ranges from the source, and
//! completes the upload. A stop or a run-fatal error keeps the upload for that next run; an
//! object that fails for good aborts it and forgets it.
//!
//! Only S3 destinations qualify: OpenDAL's multipart writer hides the upload id, so the
//! requests are `s3_copy_requests::S3CopyClient`'s (the signed-request client of server-side
//! copy). `copy::copy_object` dispatches here for objects above the part size when the run has
//! a [`PartResumer`]; everything else keeps the streaming path.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use tern_core::{DonePart, FailureCode, PartJournal, SourceVersion, TaskId, UploadCheckpoint};

use crate::copy::{part_size_for, Copied, CopyContext, CopyFailure, WritePlan};
use crate::error::Side;
use crate::listing::object_meta;
use crate::rawpath::stat_exact;
use crate::s3_copy_requests::{Refusal, S3CopyClient, UploadRef};
use crate::server_copy::part_ranges;
use crate::source_md5::SourceCheck;
use crate::storage::Storage;
use crate::verify::{verify, Observed, WriteResult};

/// Where a run checkpoints its multipart uploads: the store's journal and the task's id.
#[derive(Clone)]
pub struct PartCheckpoints {
    /// The journal (the task store).
    pub journal: Arc<dyn PartJournal>,
    /// The task whose uploads these are.
    pub task: TaskId,
}

impl std::fmt::Debug for PartCheckpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartCheckpoints")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

/// The resumable uploader of one run into an S3 destination.
pub struct PartResumer {
    journal: Arc<dyn PartJournal>,
    task: TaskId,
    client: S3CopyClient,
}

impl std::fmt::Debug for PartResumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartResumer")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

/// The upload an object's parts go to, and the parts it already holds.
struct OpenUpload {
    upload: UploadRef,
    done: BTreeMap<u32, DonePart>,
}

impl PartResumer {
    /// A resumer when the run checkpoints (`checkpoints`) and the destination speaks S3.
    pub(crate) fn for_run(
        checkpoints: Option<&PartCheckpoints>,
        destination: &Storage,
    ) -> Option<PartResumer> {
        let checkpoints = checkpoints?;
        let endpoint = destination.s3_endpoint()?;
        Some(PartResumer {
            journal: Arc::clone(&checkpoints.journal),
            task: checkpoints.task,
            client: S3CopyClient::new(endpoint.clone())?,
        })
    }

    /// Whether an object of `listed_size` goes through this resumer (it is multipart).
    pub(crate) fn takes(&self, listed_size: u64, part_size: usize) -> bool {
        listed_size > part_size as u64
    }

    /// Copies `key` to `dst_key` through a checkpointed multipart upload, resuming the one an
    /// earlier run left. `Ok(None)` when the object is no longer above the part size (it
    /// shrank since it was listed): the caller copies it with one PUT.
    pub(crate) async fn copy(
        &self,
        ctx: CopyContext<'_>,
        key: &str,
        dst_key: &str,
    ) -> Result<Option<Copied>, CopyFailure> {
        let CopyContext {
            source,
            destination,
            options,
            stop,
            ..
        } = ctx;
        let source_meta = stat_exact(source.operator(), key)
            .await
            .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?;
        let listed = object_meta(&source_meta, source.protocol());
        let size = listed.size;
        if size <= options.part_size as u64 {
            return Ok(None);
        }
        let version = SourceVersion {
            etag: source_meta.etag().map(str::to_owned),
            size,
            modified_ms: listed.last_modified_ms,
        };
        let part_size = part_size_for(size, options.part_size) as u64;
        let plan = WritePlan::new(source, destination, Some(&source_meta), options.metadata)?;
        let declared_crc64 = listed.crc64;
        let user_metadata = plan.user_metadata_with_crc64(declared_crc64);
        let headers = self
            .client
            .write_headers(plan.content_type.as_deref(), user_metadata.as_ref())
            .map_err(|message| CopyFailure {
                code: FailureCode::DestinationError,
                message,
                run_fatal: false,
            })?;
        let open = self
            .open(key, dst_key, &version, part_size, &headers)
            .await?;
        let upload_id = open.upload.upload_id.clone();
        let upload_key = open.upload.key.clone();
        let filled = self
            .fill_and_complete(ctx, key, open, size, part_size, version.etag.as_deref())
            .await;
        let crc64 = match filled {
            Ok(crc64) => crc64,
            Err(failure) => {
                // A stop or a cause every object shares ends the run, not the object: the
                // upload waits for the next run. Any other failure is the object's for good.
                if !stop.is_cancelled() && !failure.run_fatal {
                    let upload = UploadRef {
                        key: upload_key,
                        upload_id,
                    };
                    self.client.abort_upload(&upload).await;
                    self.forget(key).await;
                }
                return Err(failure);
            }
        };
        self.forget(key).await;
        let verification = verify(
            destination,
            dst_key,
            options.check,
            Observed {
                expected_size: size,
                bytes_read: size,
                declared_crc64,
                crc64,
                multipart: true,
                written: WriteResult {
                    etag_md5: None,
                    source: SourceCheck::NotCompared,
                },
            },
        )
        .await?;
        Ok(Some(Copied {
            bytes: size,
            crc64,
            verification,
        }))
    }

    /// Aborts and forgets every upload the task's journal still holds. Called when a run ended
    /// with every object settled, so any left is stale: its object completed but the crash came
    /// before the checkpoint was forgotten, or the object was skipped later.
    pub(crate) async fn sweep(&self) {
        let uploads = match self.journal.task_uploads(self.task).await {
            Ok(uploads) => uploads,
            Err(err) => {
                tracing::warn!(task_id = %self.task, error = %err, "cannot list leftover multipart uploads");
                return;
            }
        };
        for (key, checkpoint) in uploads {
            let upload = UploadRef {
                key: checkpoint.dst_key,
                upload_id: checkpoint.upload_id,
            };
            match self.client.try_abort_upload(&upload).await {
                Ok(()) => self.forget(&key).await,
                Err(refusal) => tracing::warn!(
                    key = %key,
                    error = %refusal,
                    "aborting a leftover multipart upload failed; it stays checkpointed"
                ),
            }
        }
    }

    /// Resumes the key's checkpointed upload when it still fits this copy, or starts one.
    async fn open(
        &self,
        key: &str,
        dst_key: &str,
        version: &SourceVersion,
        part_size: u64,
        headers: &http::HeaderMap,
    ) -> Result<OpenUpload, CopyFailure> {
        let checkpoint = self
            .journal
            .load_upload(self.task, key)
            .await
            .map_err(journal_failure)?;
        if let Some(checkpoint) = checkpoint {
            let upload = UploadRef {
                key: checkpoint.dst_key.clone(),
                upload_id: checkpoint.upload_id.clone(),
            };
            if checkpoint.dst_key == dst_key
                && checkpoint.part_size == part_size
                && checkpoint.source == *version
            {
                match self.client.list_parts(&upload).await {
                    Ok(listed) => {
                        let done =
                            trusted_parts(checkpoint.parts, &listed, version.size, part_size);
                        tracing::info!(
                            key = %key,
                            parts_done = done.len(),
                            "resuming a multipart upload"
                        );
                        return Ok(OpenUpload { upload, done });
                    }
                    Err(refusal) if refusal.is_no_such_upload() => {
                        tracing::info!(key = %key, "the checkpointed upload is gone; starting over");
                    }
                    Err(refusal) => return Err(refused(dst_key, "ListParts", &refusal)),
                }
            } else {
                tracing::info!(key = %key, "the source changed since its upload began; starting over");
                self.client.abort_upload(&upload).await;
            }
        }
        let upload_id = self
            .client
            .create_upload(dst_key, headers)
            .await
            .map_err(|refusal| refused(dst_key, "CreateMultipartUpload", &refusal))?;
        let upload = UploadRef {
            key: dst_key.to_owned(),
            upload_id,
        };
        let begun = UploadCheckpoint {
            upload_id: upload.upload_id.clone(),
            dst_key: dst_key.to_owned(),
            part_size,
            source: version.clone(),
            parts: Vec::new(),
        };
        if let Err(err) = self.journal.begin_upload(self.task, key, &begun).await {
            self.client.abort_upload(&upload).await;
            return Err(journal_failure(err));
        }
        Ok(OpenUpload {
            upload,
            done: BTreeMap::new(),
        })
    }

    /// Uploads the missing parts (as many at once as the memory budget grants, at most
    /// `part_concurrency`), each recorded when it is done,
    /// then completes the upload; returns the object's CRC64.
    async fn fill_and_complete(
        &self,
        ctx: CopyContext<'_>,
        key: &str,
        open: OpenUpload,
        size: u64,
        part_size: u64,
        source_etag: Option<&str>,
    ) -> Result<u64, CopyFailure> {
        let OpenUpload { upload, mut done } = open;
        let ranges = part_ranges(size, part_size);
        let missing: Vec<(u32, (u64, u64))> = ranges
            .iter()
            .copied()
            .filter(|(number, _)| !done.contains_key(number))
            .collect();
        let upload_ref = &upload;
        // Each part in flight holds its bytes whole: the process's budget says how many may.
        let (_buffers, pipeline) = tokio::select! {
            biased;
            _ = ctx.stop.cancelled() => return Err(CopyFailure::stopped()),
            reserved = ctx.memory.reserve_pipeline(
                usize::try_from(part_size).unwrap_or(usize::MAX),
                ctx.options.part_concurrency,
            ) => reserved,
        };
        let uploaded: Vec<DonePart> = futures::stream::iter(missing)
            .map(|(number, range)| async move {
                tokio::select! {
                    biased;
                    _ = ctx.stop.cancelled() => Err(CopyFailure::stopped()),
                    part = self.copy_part(ctx, key, upload_ref, number, range, source_etag) => part,
                }
            })
            .buffer_unordered(pipeline.uploads.max(1))
            .try_collect()
            .await?;
        for part in uploaded {
            done.insert(part.number, part);
        }
        if done.len() != ranges.len() {
            return Err(CopyFailure {
                code: FailureCode::Internal,
                message: format!("{} of {} parts uploaded", done.len(), ranges.len()),
                run_fatal: false,
            });
        }
        let etags: Vec<String> = done.values().map(|part| part.etag.clone()).collect();
        if ctx.stop.is_cancelled() {
            return Err(CopyFailure::stopped());
        }
        self.client
            .complete_upload(&upload, &etags)
            .await
            .map_err(|refusal| refused(&upload.key, "CompleteMultipartUpload", &refusal))?;
        Ok(combined_crc64(done.values()))
    }

    /// Reads one range of the source (the version the copy began with, by `If-Match`), uploads
    /// it as part `number` and records it.
    async fn copy_part(
        &self,
        ctx: CopyContext<'_>,
        key: &str,
        upload: &UploadRef,
        number: u32,
        (first, last): (u64, u64),
        source_etag: Option<&str>,
    ) -> Result<DonePart, CopyFailure> {
        let source = ctx.source;
        let mut read = source.operator().read_with(key).range(first..=last);
        if let Some(etag) = source_etag {
            read = read.if_match(etag);
        }
        let buffer = read
            .await
            .map_err(|err| CopyFailure::storage(source.place(Side::Source, Some(key)), &err))?;
        let length = buffer.len() as u64;
        if length != last - first + 1 {
            return Err(CopyFailure::verification(format!(
                "read {length} bytes of part {number} but asked for {}",
                last - first + 1
            )));
        }
        ctx.throttle.consume(length).await;
        ctx.progress.fetch_add(length, Ordering::Relaxed);
        let body = buffer.to_bytes();
        let mut crc = crate::crc64::Crc64::new();
        crc.write(&body);
        let etag = self
            .client
            .upload_part(upload, number, body)
            .await
            .map_err(|refusal| refused(&upload.key, "UploadPart", &refusal))?;
        let part = DonePart {
            number,
            etag,
            size: length,
            crc64: crc.sum64(),
        };
        self.journal
            .record_part(self.task, key, &upload.upload_id, &part)
            .await
            .map_err(journal_failure)?;
        Ok(part)
    }

    async fn forget(&self, key: &str) {
        if let Err(err) = self.journal.forget_upload(self.task, key).await {
            // The run's closing sweep tries again.
            tracing::warn!(key = %key, error = %err, "cannot forget a multipart upload checkpoint");
        }
    }
}

/// The recorded parts the server still lists with the same ETag and size, and whose size is
/// the one their number must have; any other part is uploaded again.
fn trusted_parts(
    recorded: Vec<DonePart>,
    listed: &[crate::s3_copy_requests::ListedPart],
    size: u64,
    part_size: u64,
) -> BTreeMap<u32, DonePart> {
    let listed: BTreeMap<u32, &crate::s3_copy_requests::ListedPart> =
        listed.iter().map(|part| (part.number, part)).collect();
    let expected: BTreeMap<u32, u64> = part_ranges(size, part_size)
        .into_iter()
        .map(|(number, (first, last))| (number, last - first + 1))
        .collect();
    recorded
        .into_iter()
        .filter(|part| {
            expected.get(&part.number) == Some(&part.size)
                && listed.get(&part.number).is_some_and(|held| {
                    held.size == part.size && unquoted(&held.etag) == unquoted(&part.etag)
                })
        })
        .map(|part| (part.number, part))
        .collect()
}

fn unquoted(etag: &str) -> &str {
    etag.trim_matches('"')
}

/// The CRC64 of the whole object from its parts' CRC64s, in part order.
fn combined_crc64<'a>(parts: impl Iterator<Item = &'a DonePart>) -> u64 {
    let mut crc: Option<u64> = None;
    for part in parts {
        crc = Some(match crc {
            None => part.crc64,
            Some(before) => crc_fast::checksum_combine(
                crc_fast::CrcAlgorithm::Crc64Xz,
                before,
                part.crc64,
                part.size,
            ),
        });
    }
    crc.unwrap_or_else(|| crate::crc64::Crc64::new().sum64())
}

fn journal_failure(err: tern_core::Error) -> CopyFailure {
    // The store failing fails the run (it could not commit outcomes either); the upload stays.
    CopyFailure {
        code: FailureCode::Internal,
        message: format!("the task store failed while checkpointing parts: {err}"),
        run_fatal: true,
    }
}

fn refused(dst_key: &str, request: &str, refusal: &Refusal) -> CopyFailure {
    CopyFailure {
        code: FailureCode::DestinationError,
        message: format!("{request} of {dst_key} failed: {refusal}"),
        run_fatal: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3_copy_requests::ListedPart;

    fn done(number: u32, etag: &str, size: u64) -> DonePart {
        DonePart {
            number,
            etag: etag.to_owned(),
            size,
            crc64: 0,
        }
    }

    #[test]
    fn test_only_recorded_parts_the_server_lists_alike_are_trusted() {
        // 25 bytes in parts of 10: 10, 10, 5.
        let recorded = vec![
            done(1, "\"a\"", 10),
            done(2, "\"b\"", 10),
            done(3, "\"c\"", 5),
        ];
        let listed = vec![
            ListedPart {
                number: 1,
                etag: "a".into(),
                size: 10,
            },
            ListedPart {
                number: 2,
                etag: "\"other\"".into(),
                size: 10,
            },
            ListedPart {
                number: 4,
                etag: "\"d\"".into(),
                size: 10,
            },
        ];
        let trusted = trusted_parts(recorded.clone(), &listed, 25, 10);
        assert_eq!(trusted.keys().copied().collect::<Vec<_>>(), vec![1]);
        // A recorded size that is not its number's is not trusted even when listed alike.
        let odd = vec![done(1, "\"a\"", 9)];
        let listed = vec![ListedPart {
            number: 1,
            etag: "\"a\"".into(),
            size: 9,
        }];
        assert!(trusted_parts(odd, &listed, 25, 10).is_empty());
    }

    #[test]
    fn test_parts_crc64s_combine_into_the_objects() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut whole = crc64fast::Digest::new();
        whole.write(&data);
        let parts: Vec<DonePart> = data
            .chunks(30_000)
            .enumerate()
            .map(|(index, chunk)| {
                let mut crc = crc64fast::Digest::new();
                crc.write(chunk);
                DonePart {
                    number: index as u32 + 1,
                    etag: String::new(),
                    size: chunk.len() as u64,
                    crc64: crc.sum64(),
                }
            })
            .collect();
        assert_eq!(combined_crc64(parts.iter()), whole.sum64());
    }
}
