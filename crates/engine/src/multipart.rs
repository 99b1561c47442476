//! Multipart uploads that do not linger: [`MultipartUpload`] wraps OpenDAL's writer and aborts
//! the upload unless it completes (explicitly on errors and `stop`, from `Drop` as a fallback),
//! and [`MAX_PARTS`] bounds how many parts one upload may have.

use opendal::{Buffer, Metadata};
use tokio_util::task::TaskTracker;

/// A multipart upload in progress, aborted unless it completes.
///
/// OpenDAL's `Writer` does nothing when dropped, so an upload whose copy fails or stops would stay
/// open at the destination with its parts stored. Errors and `stop` abort explicitly; `Drop`
/// hands the abort to the run's `cleanup` tracker, which the run waits for before it returns.
/// That fallback works only when the future was dropped between writes: OpenDAL's retry layer
/// loses the writer when a write future is dropped mid-flight ("retry layer is in bad state"),
/// and an upload dropped while CreateMultipartUpload is in flight has no id yet. Bucket
/// lifecycle rules for incomplete uploads cover those.
pub(crate) struct MultipartUpload {
    writer: Option<opendal::Writer>,
    cleanup: TaskTracker,
    key: String,
}

impl MultipartUpload {
    pub(crate) fn new(writer: opendal::Writer, cleanup: &TaskTracker, key: &str) -> Self {
        MultipartUpload {
            writer: Some(writer),
            cleanup: cleanup.clone(),
            key: key.to_owned(),
        }
    }

    pub(crate) async fn write(&mut self, buffer: Buffer) -> opendal::Result<()> {
        match self.writer.as_mut() {
            Some(writer) => writer.write(buffer).await,
            None => Err(opendal::Error::new(
                opendal::ErrorKind::Unexpected,
                "multipart upload already finished",
            )),
        }
    }

    /// Completes the upload; aborts it when completion fails.
    pub(crate) async fn complete(mut self) -> opendal::Result<Metadata> {
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
    pub(crate) async fn abort(mut self) {
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
pub(crate) const MAX_PARTS: u64 = 10_000;
