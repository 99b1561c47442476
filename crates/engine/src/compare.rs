//! The one function that decides, per object, whether to copy (REFERENCE.md §1.2).

use tern_core::{OverwriteMode, SkipReason};

/// What the engine knows about one object on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Size in bytes.
    pub size: u64,
    /// Last modification, Unix milliseconds.
    pub last_modified_ms: Option<i64>,
    /// CRC64-ECMA if the object carries one (tern's `tern-crc64` metadata).
    pub crc64: Option<u64>,
}

/// The verdict for one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Copy it.
    Copy,
    /// Leave it, for this reason.
    Skip(SkipReason),
}

/// Decides whether to copy `src` over `dst` under `mode`.
///
/// - `NO_OVERWRITE`: any existing key is skipped.
/// - `SIZE_LAST_MODIFIED_COMPARISON_OVERWRITE`: copy when sizes differ or the destination is
///   strictly older than the source; a missing time on either side counts as "older" so that
///   the copy errs on the side of migrating.
/// - `CRC64_COMPARISON_OVERWRITE`: with CRC64 on both sides copy iff they differ; otherwise the
///   size/last-modified rule, and a skip says that CRC64 was unavailable.
/// - `FULL_OVERWRITE`: always copy.
pub fn decide(mode: OverwriteMode, src: &ObjectMeta, dst: Option<&ObjectMeta>) -> Decision {
    let Some(dst) = dst else {
        return Decision::Copy;
    };
    match mode {
        OverwriteMode::NoOverwrite => Decision::Skip(SkipReason::Exists),
        OverwriteMode::FullOverwrite => Decision::Copy,
        OverwriteMode::SizeLastModified => size_last_modified(src, dst, SkipReason::Unchanged),
        OverwriteMode::Crc64 => match (src.crc64, dst.crc64) {
            (Some(src_crc), Some(dst_crc)) if src.size == dst.size && src_crc == dst_crc => {
                Decision::Skip(SkipReason::Unchanged)
            }
            (Some(_), Some(_)) => Decision::Copy,
            _ => size_last_modified(src, dst, SkipReason::UnchangedCrc64Unavailable),
        },
    }
}

fn size_last_modified(src: &ObjectMeta, dst: &ObjectMeta, reason: SkipReason) -> Decision {
    if src.size != dst.size {
        return Decision::Copy;
    }
    match (src.last_modified_ms, dst.last_modified_ms) {
        (Some(src_time), Some(dst_time)) if dst_time >= src_time => Decision::Skip(reason),
        _ => Decision::Copy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(size: u64, time: i64, crc64: Option<u64>) -> ObjectMeta {
        ObjectMeta {
            size,
            last_modified_ms: Some(time),
            crc64,
        }
    }

    #[test]
    fn test_missing_destination_is_always_copied() {
        for mode in [
            OverwriteMode::NoOverwrite,
            OverwriteMode::SizeLastModified,
            OverwriteMode::Crc64,
            OverwriteMode::FullOverwrite,
        ] {
            assert_eq!(decide(mode, &meta(1, 1, None), None), Decision::Copy);
        }
    }

    #[test]
    fn test_no_overwrite_skips_even_different_objects() {
        let decision = decide(
            OverwriteMode::NoOverwrite,
            &meta(1, 9, None),
            Some(&meta(2, 1, None)),
        );
        assert_eq!(decision, Decision::Skip(SkipReason::Exists));
    }

    #[test]
    fn test_size_last_modified_rules() {
        let mode = OverwriteMode::SizeLastModified;
        let src = meta(10, 1_000, None);
        assert_eq!(
            decide(mode, &src, Some(&meta(10, 2_000, None))),
            Decision::Skip(SkipReason::Unchanged)
        );
        assert_eq!(
            decide(mode, &src, Some(&meta(10, 1_000, None))),
            Decision::Skip(SkipReason::Unchanged)
        );
        assert_eq!(
            decide(mode, &src, Some(&meta(10, 999, None))),
            Decision::Copy
        );
        assert_eq!(
            decide(mode, &src, Some(&meta(11, 2_000, None))),
            Decision::Copy
        );
        let unknown_time = ObjectMeta {
            last_modified_ms: None,
            ..meta(10, 0, None)
        };
        assert_eq!(decide(mode, &src, Some(&unknown_time)), Decision::Copy);
    }

    #[test]
    fn test_crc64_compares_checksums_and_falls_back() {
        let mode = OverwriteMode::Crc64;
        // Same size and a newer destination, but different content: CRC64 catches it.
        assert_eq!(
            decide(mode, &meta(10, 1, Some(7)), Some(&meta(10, 5, Some(8)))),
            Decision::Copy
        );
        // Older destination with equal CRC64 is left alone.
        assert_eq!(
            decide(mode, &meta(10, 5, Some(7)), Some(&meta(10, 1, Some(7)))),
            Decision::Skip(SkipReason::Unchanged)
        );
        assert_eq!(
            decide(mode, &meta(10, 1, None), Some(&meta(10, 5, Some(7)))),
            Decision::Skip(SkipReason::UnchangedCrc64Unavailable)
        );
        assert_eq!(
            decide(mode, &meta(10, 5, None), Some(&meta(10, 1, None))),
            Decision::Copy
        );
    }

    #[test]
    fn test_full_overwrite_copies_identical_objects() {
        let same = meta(10, 1, Some(3));
        assert_eq!(
            decide(OverwriteMode::FullOverwrite, &same, Some(&same)),
            Decision::Copy
        );
    }
}
