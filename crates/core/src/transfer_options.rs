//! The per-task options that change how objects are read or written — `dst_storage_policy`,
//! `enable_requester_pays`, `enable_restore` — and which protocols can honour them. A task
//! asking for one its endpoints cannot honour is refused at create (brief: a field tern accepts,
//! it honours), instead of running without it.

use crate::{Error, Protocol};

/// `dst_storage_policy` values OMS defines (REFERENCE.md §4).
pub const DST_STORAGE_POLICIES: [&str; 5] = [
    "STANDARD",
    "IA",
    "ARCHIVE",
    "DEEP_ARCHIVE",
    "SRC_STORAGE_MAPPING",
];

/// The S3 `x-amz-storage-class` a destination is written with for `policy`; `None` writes
/// the bucket's default class (STANDARD).
///
/// Only S3-speaking destinations can take a class today: OpenDAL's native OBS, OSS, COS, GCS
/// and Azure services have no storage-class option, and a local directory has no classes.
pub fn destination_storage_class(
    policy: &str,
    protocol: Protocol,
) -> Result<Option<&'static str>, Error> {
    let class = match policy {
        // Empty: a spec built in code without a policy means the default, as the API's default.
        "" | "STANDARD" => return Ok(None),
        "IA" => "STANDARD_IA",
        "ARCHIVE" => "GLACIER",
        "DEEP_ARCHIVE" => "DEEP_ARCHIVE",
        "SRC_STORAGE_MAPPING" => {
            return Err(Error::invalid(
                "dst_storage_policy",
                "SRC_STORAGE_MAPPING is not supported yet; name the class (STANDARD, IA, \
                 ARCHIVE, DEEP_ARCHIVE)",
            ))
        }
        other => {
            return Err(Error::invalid(
                "dst_storage_policy",
                format!(
                    "unknown value {other:?}, expected one of {}",
                    DST_STORAGE_POLICIES.join(", ")
                ),
            ))
        }
    };
    if protocol == Protocol::S3 {
        Ok(Some(class))
    } else {
        Err(Error::invalid(
            "dst_storage_policy",
            format!(
                "{policy} needs a destination region that speaks S3 (protocol = \"s3\"); this \
                 one speaks {}, which tern writes in its default class only",
                format!("{protocol:?}").to_lowercase()
            ),
        ))
    }
}

/// Checks the options of a task or group against its source and destination protocols
/// (`source`: `None` for URL lists).
pub fn check_transfer_options(
    dst_storage_policy: &str,
    enable_requester_pays: bool,
    enable_restore: bool,
    source: Option<Protocol>,
    destination: Protocol,
) -> Result<(), Error> {
    destination_storage_class(dst_storage_policy, destination)?;
    if enable_requester_pays && source != Some(Protocol::S3) {
        return Err(Error::invalid(
            "enable_requester_pays",
            "requester pays is an S3 feature; the source region does not speak S3",
        ));
    }
    if enable_restore {
        return Err(Error::invalid(
            "enable_restore",
            "restoring archived source objects is not supported yet; restore them first or \
             leave enable_restore false",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_storage_classes_map_to_s3_names_on_s3_only() {
        let on_s3 = |p| destination_storage_class(p, Protocol::S3).unwrap();
        assert_eq!(on_s3("STANDARD"), None);
        assert_eq!(on_s3(""), None);
        assert_eq!(on_s3("IA"), Some("STANDARD_IA"));
        assert_eq!(on_s3("ARCHIVE"), Some("GLACIER"));
        assert_eq!(on_s3("DEEP_ARCHIVE"), Some("DEEP_ARCHIVE"));
        assert_eq!(
            destination_storage_class("STANDARD", Protocol::Fs),
            Ok(None)
        );
        for (policy, protocol) in [
            ("IA", Protocol::Fs),
            ("ARCHIVE", Protocol::Azblob),
            ("SRC_STORAGE_MAPPING", Protocol::S3),
            ("COLD", Protocol::S3),
        ] {
            let err = destination_storage_class(policy, protocol).unwrap_err();
            assert!(err.to_string().contains("dst_storage_policy"), "{err}");
        }
    }

    #[test]
    fn test_options_name_the_field_they_refuse() {
        let check = |pays, restore, source| {
            check_transfer_options("STANDARD", pays, restore, source, Protocol::S3)
        };
        assert!(check(false, false, None).is_ok());
        assert!(check(true, false, Some(Protocol::S3)).is_ok());
        let pays = check(true, false, Some(Protocol::Fs)).unwrap_err();
        assert!(pays.to_string().contains("enable_requester_pays"), "{pays}");
        let restore = check(false, true, Some(Protocol::S3)).unwrap_err();
        assert!(restore.to_string().contains("enable_restore"), "{restore}");
    }
}
