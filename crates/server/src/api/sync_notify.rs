//! The S3 event notification tern accepts for a sync task (`Records[].s3.object.key`, as AWS S3,
//! MinIO and Ceph send it), checked and decoded into the keys to queue.

use serde::Deserialize;
use tern_core::MAX_EVENT_KEY_LEN;
use utoipa::ToSchema;

use super::sync_req::decode_key;
use super::validate::check_len;
use crate::ApiError;

/// Most records one S3 notification may carry (S3 sends one; batching senders a few).
pub const MAX_NOTIFICATION_RECORDS: usize = 1000;

/// An S3 event notification (`Records[].s3.object.key`), as AWS S3, MinIO and Ceph send it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct S3EventNotification {
    /// The events; absent in test events (`s3:TestEvent`).
    #[serde(rename = "Records", default)]
    #[schema(max_items = 1000)]
    pub records: Vec<S3EventRecord>,
}

/// One record of an S3 notification.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct S3EventRecord {
    /// `ObjectCreated:Put`, `s3:ObjectRemoved:Delete`, …
    #[serde(rename = "eventName", default)]
    pub event_name: String,
    /// Bucket and object.
    pub s3: S3Entity,
}

/// `Records[].s3`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct S3Entity {
    /// The bucket, when the sender names it.
    pub bucket: Option<S3Bucket>,
    /// The object.
    pub object: S3Object,
}

/// `Records[].s3.bucket`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct S3Bucket {
    /// Bucket name.
    pub name: String,
}

/// `Records[].s3.object`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct S3Object {
    /// The key, form-encoded (`+` for a space) as S3 sends it.
    pub key: String,
}

/// What a notification asks: keys to copy, and how many removals were ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifiedKeys {
    /// Decoded keys of created or changed objects.
    pub keys: Vec<String>,
    /// Removal records, never propagated.
    pub ignored: u64,
}

impl S3EventNotification {
    /// Checks the records against the task's source bucket and decodes the keys. Removals are
    /// ignored: tern never propagates deletes. Every other event names an object to copy (the
    /// overwrite policy decides whether it changed).
    pub fn into_keys(self, src_bucket: &str) -> Result<NotifiedKeys, ApiError> {
        if self.records.len() > MAX_NOTIFICATION_RECORDS {
            return Err(ApiError::invalid(
                "Records",
                format!(
                    "holds {} records; at most {MAX_NOTIFICATION_RECORDS} are allowed",
                    self.records.len()
                ),
            ));
        }
        let mut notified = NotifiedKeys {
            keys: Vec::with_capacity(self.records.len()),
            ignored: 0,
        };
        for (index, record) in self.records.into_iter().enumerate() {
            if let Some(bucket) = &record.s3.bucket {
                if bucket.name != src_bucket {
                    return Err(ApiError::invalid(
                        format!("Records[{index}].s3.bucket.name"),
                        format!(
                            "{:?} is not the sync task's source bucket {src_bucket:?}",
                            bucket.name
                        ),
                    ));
                }
            }
            let name = record
                .event_name
                .strip_prefix("s3:")
                .unwrap_or(&record.event_name);
            if name.starts_with("ObjectRemoved") {
                notified.ignored += 1;
                continue;
            }
            let field = format!("Records[{index}].s3.object.key");
            check_len(&field, &record.s3.object.key, 1, MAX_EVENT_KEY_LEN)?;
            notified
                .keys
                .push(decode_key(&field, &record.s3.object.key, true)?);
        }
        Ok(notified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_notification_ignores_removals_and_checks_the_bucket() {
        let body: S3EventNotification = serde_json::from_str(
            r#"{"Records":[
                {"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"a+b%2Bc"}}},
                {"eventName":"s3:ObjectRemoved:Delete","s3":{"bucket":{"name":"src"},"object":{"key":"gone"}}}
            ]}"#,
        )
        .unwrap();
        let notified = body.clone().into_keys("src").unwrap();
        assert_eq!(notified.keys, vec!["a b+c".to_owned()]);
        assert_eq!(notified.ignored, 1);
        let error = body.into_keys("other").unwrap_err();
        assert!(
            error.to_string().contains("Records[0].s3.bucket.name"),
            "{error}"
        );
    }
}
