//! Field rules shared by the request conversions; every error names the field's wire path.

use std::str::FromStr;

use tern_core::{BandwidthPolicy, BandwidthWindow, Secret};

use super::BandwidthPolicyDto;
use crate::ApiError;

/// Length of a KMS key id (`*kms_key_id`).
pub(crate) const KMS_KEY_ID_LEN: usize = 36;
/// Longest destination key OMS allows (`save_prefix` + key).
pub(crate) const MAX_KEY_LEN: usize = 1024;
/// Longest bucket name. OMS states no limit for `bucket`; S3, OBS, OSS, COS, BOS, Azure
/// containers and most GCS buckets allow 3..63. The minimum stays 1 (presence): the SDK's own
/// `create_task` example names buckets `b` and `d`, and a bucket that does not exist fails the
/// run anyway.
pub(crate) const MAX_BUCKET_LEN: usize = 63;
/// Longest Google Cloud Storage bucket name: names with dots may have 222 characters.
pub(crate) const MAX_GCS_BUCKET_LEN: usize = 222;
/// Longest region id: OMS gives sync tasks' `src_region` / `dst_region` 0..100 and states no
/// limit for tasks' `region`, so tasks take the same.
pub(crate) const MAX_REGION_LEN: usize = 100;
/// Characters `description` must not contain (CreateTaskReq; OMS.0078).
pub(crate) const FORBIDDEN_DESCRIPTION_CHARS: [char; 6] = ['^', '<', '>', '&', '"', '\''];

/// Checks that `value` is `min..=max` characters long.
pub(crate) fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let len = value.chars().count();
    if len > max {
        return Err(ApiError::invalid(
            field,
            format!("length {len} exceeds {max}"),
        ));
    }
    if len < min {
        return Err(ApiError::invalid(
            field,
            format!("length {len} is below {min}"),
        ));
    }
    Ok(())
}

/// Checks a bucket name of a node whose bucket is required: 1..63 characters (222 for Google).
pub(crate) fn check_bucket(
    field: &str,
    value: &str,
    cloud_type: tern_core::CloudType,
) -> Result<(), ApiError> {
    let max = if cloud_type == tern_core::CloudType::Google {
        MAX_GCS_BUCKET_LEN
    } else {
        MAX_BUCKET_LEN
    };
    check_non_empty(field, value)?;
    check_len(field, value, 1, max)
}

/// Checks a required text field: present is guaranteed by the type, so refuses it empty.
pub(crate) fn check_non_empty(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::required(field));
    }
    Ok(())
}

/// Checks an optional secret's length; an empty value counts as absent.
pub(crate) fn optional_secret(
    field: &str,
    value: Option<Secret>,
    min: usize,
    max: usize,
) -> Result<Option<Secret>, ApiError> {
    match value {
        Some(secret) => {
            check_len(field, secret.expose(), min, max)?;
            Ok((!secret.is_empty()).then_some(secret))
        }
        None => Ok(None),
    }
}

/// Parses an enum through its `tern-core` `FromStr`, naming `field` in the error.
pub(crate) fn parse_enum<T>(field: &str, value: &str) -> Result<T, ApiError>
where
    T: FromStr<Err = tern_core::Error>,
{
    value.parse::<T>().map_err(|error| match error {
        tern_core::Error::InvalidField { reason, .. } => ApiError::invalid(field, reason),
        other => ApiError::invalid(field, other.to_string()),
    })
}

/// Checks that `value` is one of `allowed` (exact spelling).
pub(crate) fn check_one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(ApiError::invalid(
        field,
        format!(
            "unknown value {value:?}, expected one of {}",
            allowed.join(", ")
        ),
    ))
}

/// Checks a `*crypto_type` / `*kms_key_id` pair.
///
/// `DEFAULT` (plain secrets) is the only encoding tern can use: `KMS` secrets are encrypted with
/// a Huawei KMS key tern cannot reach, so they are refused up front instead of failing the run.
pub(crate) fn check_crypto(
    crypto_field: &str,
    crypto_type: Option<&str>,
    kms_field: &str,
    kms_key_id: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(kms_key_id) = kms_key_id {
        let len = kms_key_id.chars().count();
        if len != KMS_KEY_ID_LEN {
            return Err(ApiError::invalid(
                kms_field,
                format!("length {len} is not {KMS_KEY_ID_LEN}"),
            ));
        }
    }
    match crypto_type {
        None | Some("DEFAULT") => Ok(()),
        Some("KMS") => Err(ApiError::invalid(
            crypto_field,
            "KMS-encrypted secrets are not supported, send plain secrets with DEFAULT",
        )),
        Some(other) => Err(ApiError::invalid(
            crypto_field,
            format!("unknown value {other:?}, expected one of DEFAULT, KMS"),
        )),
    }
}

/// Converts wire windows into a checked policy (≤ 5 windows, no overlap, 1..200 MiB/s).
pub(crate) fn bandwidth_policy(dtos: &[BandwidthPolicyDto]) -> Result<BandwidthPolicy, ApiError> {
    let mut windows = Vec::with_capacity(dtos.len());
    for (index, dto) in dtos.iter().enumerate() {
        let max_bandwidth = u64::try_from(dto.max_bandwidth).map_err(|_| {
            ApiError::invalid(
                format!("bandwidth_policy[{index}].max_bandwidth"),
                format!("{} is negative", dto.max_bandwidth),
            )
        })?;
        windows.push(BandwidthWindow::parse(
            index,
            &dto.start,
            &dto.end,
            max_bandwidth,
        )?);
    }
    Ok(BandwidthPolicy::new(windows)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_check_len_counts_characters_not_bytes() {
        assert!(check_len("f", &"é".repeat(10), 0, 10).is_ok());
        let error = check_len("f", &"é".repeat(11), 0, 10).unwrap_err();
        assert_eq!(error.to_string(), "invalid f: length 11 exceeds 10");
        assert_eq!(
            check_len("f", "", 1, 10).unwrap_err().to_string(),
            "invalid f: length 0 is below 1"
        );
    }

    #[test]
    fn test_check_bucket_limits_by_cloud() {
        use tern_core::CloudType;
        let long = "b".repeat(MAX_BUCKET_LEN + 1);
        assert!(check_bucket("f", &"b".repeat(MAX_BUCKET_LEN), CloudType::Aws).is_ok());
        let error = check_bucket("src_node.bucket", &long, CloudType::Aws).unwrap_err();
        assert_eq!(error.error_code(), "OMS.0001");
        assert!(error.to_string().contains("src_node.bucket"), "{error}");
        assert!(check_bucket("f", &long, CloudType::Google).is_ok());
        assert!(check_bucket("f", &"b".repeat(MAX_GCS_BUCKET_LEN + 1), CloudType::Google).is_err());
        assert!(check_bucket("f", "", CloudType::Aws).is_err());
    }

    #[test]
    fn test_check_crypto() {
        let kms = "k".repeat(KMS_KEY_ID_LEN);
        assert!(check_crypto("c", Some("DEFAULT"), "k", Some(&kms)).is_ok());
        assert!(check_crypto("c", None, "k", None).is_ok());
        assert!(check_crypto("c", None, "k", Some(&kms[1..])).is_err());
        assert!(check_crypto("c", Some("KMS"), "k", Some(&kms)).is_err());
        assert!(check_crypto("c", Some("RSA"), "k", None).is_err());
    }
}
