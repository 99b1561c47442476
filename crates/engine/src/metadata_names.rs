//! User-metadata names a destination cannot store as they are, and how tern renames them.
//!
//! Azure Blob metadata names must be C# identifiers (a letter or `_`, then letters, digits and
//! `_`; [Azure's naming rules]), while S3, OBS, OSS, COS and GCS names commonly hold `-` or `.`
//! or start with a digit. A PutBlob carrying one such name fails as a whole (400
//! `InvalidMetadata`), so tern renames the name the way AzCopy's `RenameIfInvalid` does: `x-foo`
//! is written as `rename_x_foo` (every character outside `[A-Za-z0-9_]` becomes `_`), and the
//! original name is kept beside it as `rename_key_x_foo: x-foo`, so nothing is lost and a
//! reverse migration can restore it. Two names that rename alike (`a-b`, `a.b`), or a rename
//! that meets a name the object already has, fail that object alone, naming the keys: no value
//! is silently dropped.
//!
//! [Azure's naming rules]: https://learn.microsoft.com/en-us/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata#metadata-names

use std::collections::HashMap;

use tern_core::{FailureCode, Protocol};

/// Prefix of a renamed metadata name (AzCopy's spelling).
const RENAMED_PREFIX: &str = "rename_";
/// Prefix of the name that keeps a renamed name's original spelling.
const ORIGINAL_NAME_PREFIX: &str = "rename_key_";

/// Tells whether `name` is a valid metadata name on `protocol`.
pub fn is_valid_metadata_name(protocol: Protocol, name: &str) -> bool {
    match protocol {
        Protocol::Azblob => is_csharp_identifier(name),
        _ => true,
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a C# identifier as far as HTTP header names can spell one.
fn is_csharp_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts_well && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Renames the names of `metadata` that `protocol` cannot store (see the module docs). The
/// error names the keys that collide.
pub fn fit_metadata_names(
    protocol: Protocol,
    metadata: HashMap<String, String>,
) -> Result<HashMap<String, String>, (FailureCode, String)> {
    if metadata
        .keys()
        .all(|name| is_valid_metadata_name(protocol, name))
    {
        return Ok(metadata);
    }
    let (valid, invalid): (Vec<_>, Vec<_>) = metadata
        .into_iter()
        .partition(|(name, _)| is_valid_metadata_name(protocol, name));
    let mut fitted: HashMap<String, String> =
        HashMap::with_capacity(valid.len() + 2 * invalid.len());
    // Which original name produced each written name, to name both sides of a collision.
    let mut origin: HashMap<String, String> = HashMap::new();
    for (name, value) in valid {
        origin.insert(name.to_ascii_lowercase(), name.clone());
        fitted.insert(name, value);
    }
    let mut invalid = invalid;
    // Deterministic: the same object always renames the same way and reports the same clash.
    invalid.sort();
    for (name, value) in invalid {
        let stem: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        for (written, written_value) in [
            (format!("{RENAMED_PREFIX}{stem}"), value),
            (format!("{ORIGINAL_NAME_PREFIX}{stem}"), name.clone()),
        ] {
            // Azure compares metadata names without case.
            if let Some(other) = origin.get(&written.to_ascii_lowercase()) {
                return Err((
                    FailureCode::DestinationError,
                    format!(
                        "user metadata {name:?} is not a valid Azure metadata name and its rename \
                         {written:?} collides with {other:?}; rename one of them at the source"
                    ),
                ));
            }
            origin.insert(written.to_ascii_lowercase(), name.clone());
            fitted.insert(written, written_value);
        }
    }
    Ok(fitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn test_azure_names_follow_csharp_identifier_rules() {
        for valid in ["a", "_x", "tern_crc64", "Camel9"] {
            assert!(is_valid_metadata_name(Protocol::Azblob, valid), "{valid}");
        }
        for invalid in ["", "x-foo", "1abc", "a.b", "é", "a b"] {
            assert!(
                !is_valid_metadata_name(Protocol::Azblob, invalid),
                "{invalid}"
            );
            assert!(is_valid_metadata_name(Protocol::S3, invalid), "{invalid}");
        }
    }

    #[test]
    fn test_invalid_azure_names_are_renamed_with_their_original_kept() {
        let fitted = fit_metadata_names(
            Protocol::Azblob,
            meta(&[("x-foo", "1"), ("1abc", "2"), ("ok_name", "3")]),
        )
        .expect("no collision");
        assert_eq!(
            fitted,
            meta(&[
                ("rename_x_foo", "1"),
                ("rename_key_x_foo", "x-foo"),
                ("rename_1abc", "2"),
                ("rename_key_1abc", "1abc"),
                ("ok_name", "3"),
            ])
        );
        // Elsewhere the names pass untouched.
        let same = meta(&[("x-foo", "1"), ("1abc", "2")]);
        assert_eq!(fit_metadata_names(Protocol::S3, same.clone()), Ok(same));
    }

    #[test]
    fn test_names_that_rename_alike_fail_the_object_naming_both() {
        let (code, message) =
            fit_metadata_names(Protocol::Azblob, meta(&[("a-b", "1"), ("a.b", "2")]))
                .expect_err("collision");
        assert_eq!(code, FailureCode::DestinationError);
        assert!(
            message.contains("\"a.b\"") && message.contains("\"a-b\""),
            "{message}"
        );
        let (_, message) = fit_metadata_names(
            Protocol::Azblob,
            meta(&[("x-y", "1"), ("Rename_X_Y", "already here")]),
        )
        .expect_err("collision with an existing name");
        assert!(message.contains("Rename_X_Y"), "{message}");
    }
}
