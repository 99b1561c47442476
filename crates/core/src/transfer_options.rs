//! The per-task options that change how objects are read or written — `dst_storage_policy`,
//! `enable_requester_pays`, `enable_restore` — which protocols can honour them, and the mapping
//! of source storage classes that `SRC_STORAGE_MAPPING` follows. A task
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

/// How the class of each object written is chosen, for a task's `dst_storage_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoragePlan {
    /// Every object in this S3 `x-amz-storage-class`; `None`: the bucket's default (STANDARD).
    Fixed(Option<&'static str>),
    /// `SRC_STORAGE_MAPPING`: each object in the class [`mapped_storage_class`] gives for its
    /// source object's class.
    FromSource,
}

/// The plan for `policy` on a `destination` endpoint, with the source's protocol (`None`: URL
/// lists) when the class follows the source's.
///
/// Only S3-speaking destinations can take a class today: OpenDAL's native OBS, OSS, COS, GCS
/// and Azure services have no storage-class option, and a local directory has no classes. The
/// source's class is read with an S3 HEAD (`x-amz-storage-class`), so mapping needs an
/// S3-speaking source too.
pub fn destination_storage_plan(
    policy: &str,
    source: Option<Protocol>,
    destination: Protocol,
) -> Result<StoragePlan, Error> {
    if policy == "SRC_STORAGE_MAPPING" {
        let speaks_s3 = |protocol| protocol == Some(Protocol::S3);
        if !speaks_s3(Some(destination)) || !speaks_s3(source) {
            return Err(Error::invalid(
                "dst_storage_policy",
                "SRC_STORAGE_MAPPING needs a source and a destination region that speak S3 \
                 (protocol = \"s3\"): the source's class is read from its HEAD and written as \
                 x-amz-storage-class",
            ));
        }
        return Ok(StoragePlan::FromSource);
    }
    destination_storage_class(policy, destination).map(StoragePlan::Fixed)
}

/// The S3 `x-amz-storage-class` a destination is written with for a named class `policy`
/// (STANDARD, IA, ARCHIVE, DEEP_ARCHIVE); `None` writes the bucket's default class (STANDARD).
/// `SRC_STORAGE_MAPPING` names no one class: see [`destination_storage_plan`].
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
                "SRC_STORAGE_MAPPING chooses a class per object, not one for the task",
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

/// The OMS class (`STANDARD`, `IA`, `ARCHIVE`, `DEEP_ARCHIVE`) a source object of storage
/// class `source_class` maps to under `SRC_STORAGE_MAPPING`, by access tier: names of S3, OBS,
/// OSS, COS, GCS and Azure, compared without case. No class (S3 omits the header for STANDARD)
/// and classes tern does not know map to STANDARD, which never makes an object harder to read
/// than it was.
pub fn mapped_storage_policy(source_class: Option<&str>) -> &'static str {
    let Some(class) = source_class else {
        return "STANDARD";
    };
    match class.trim().to_ascii_uppercase().as_str() {
        // Infrequent access, read at once: S3, COS, OSS (IA), OBS (WARM), GCS, Azure (Cool).
        "STANDARD_IA" | "ONEZONE_IA" | "IA" | "WARM" | "NEARLINE" | "COOL" | "COLDLINE"
        | "MAZ_STANDARD_IA" => "IA",
        // Archive: S3 (GLACIER_IR is billed as archive and follows it), COS, OSS, OBS (COLD).
        "GLACIER" | "GLACIER_IR" | "ARCHIVE" | "COLD" | "COLDARCHIVE" => "ARCHIVE",
        // Deep archive: S3, COS, OBS, OSS (DeepColdArchive).
        "DEEP_ARCHIVE" | "DEEPCOLDARCHIVE" => "DEEP_ARCHIVE",
        _ => "STANDARD",
    }
}

/// The S3 `x-amz-storage-class` a destination object is written in under
/// `SRC_STORAGE_MAPPING` when its source object's class is `source_class` (`None`: the
/// bucket's default, STANDARD).
pub fn mapped_storage_class(source_class: Option<&str>) -> Option<&'static str> {
    match mapped_storage_policy(source_class) {
        "IA" => Some("STANDARD_IA"),
        "ARCHIVE" => Some("GLACIER"),
        "DEEP_ARCHIVE" => Some("DEEP_ARCHIVE"),
        _ => None,
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
    destination_storage_plan(dst_storage_policy, source, destination)?;
    if enable_requester_pays && source != Some(Protocol::S3) {
        return Err(Error::invalid(
            "enable_requester_pays",
            "requester pays is an S3 feature; the source region does not speak S3",
        ));
    }
    // Restores are S3 RestoreObject requests; native OBS, OSS, COS, Azure and GCS sources have
    // their own restore APIs, which tern does not send.
    if enable_restore && source != Some(Protocol::S3) {
        return Err(Error::invalid(
            "enable_restore",
            "restoring archived source objects needs a source region that speaks S3 \
             (protocol = \"s3\"); restore them at the source first or leave enable_restore false",
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
        assert!(check(false, true, Some(Protocol::S3)).is_ok());
        for source in [
            None,
            Some(Protocol::Fs),
            Some(Protocol::Obs),
            Some(Protocol::Azblob),
        ] {
            let restore = check(false, true, source).unwrap_err();
            assert!(restore.to_string().contains("enable_restore"), "{restore}");
        }
    }

    #[test]
    fn test_source_class_mapping_needs_s3_on_both_sides() {
        let plan = |source, destination| {
            destination_storage_plan("SRC_STORAGE_MAPPING", source, destination)
        };
        assert_eq!(
            plan(Some(Protocol::S3), Protocol::S3),
            Ok(StoragePlan::FromSource)
        );
        for (source, destination) in [
            (None, Protocol::S3),
            (Some(Protocol::Azblob), Protocol::S3),
            (Some(Protocol::S3), Protocol::Obs),
        ] {
            let err = plan(source, destination).unwrap_err();
            assert!(err.to_string().contains("dst_storage_policy"), "{err}");
        }
        assert_eq!(
            destination_storage_plan("IA", None, Protocol::S3),
            Ok(StoragePlan::Fixed(Some("STANDARD_IA")))
        );
    }

    #[test]
    fn test_source_classes_map_by_access_tier() {
        for (source, class) in [
            (None, None),
            (Some("STANDARD"), None),
            (Some("REDUCED_REDUNDANCY"), None),
            (Some("INTELLIGENT_TIERING"), None),
            (Some("STANDARD_IA"), Some("STANDARD_IA")),
            (Some("ONEZONE_IA"), Some("STANDARD_IA")),
            (Some("IA"), Some("STANDARD_IA")),
            (Some("WARM"), Some("STANDARD_IA")),
            (Some("GLACIER"), Some("GLACIER")),
            (Some("GLACIER_IR"), Some("GLACIER")),
            (Some("Archive"), Some("GLACIER")),
            (Some("COLD"), Some("GLACIER")),
            (Some("ColdArchive"), Some("GLACIER")),
            (Some("DEEP_ARCHIVE"), Some("DEEP_ARCHIVE")),
            (Some("DeepColdArchive"), Some("DEEP_ARCHIVE")),
            (Some("SOMETHING_NEW"), None),
        ] {
            assert_eq!(mapped_storage_class(source), class, "{source:?}");
        }
    }
}
