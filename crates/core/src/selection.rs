//! Which source objects a migration covers (OMS `task_type` with `object_key` / `list_file`).

/// Where a list file lives: an object in a bucket reachable with the destination's endpoint and
/// credentials, as OMS requires (`list_file.obs_bucket` in the destination region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFileSpec {
    /// Bucket holding the list file.
    pub bucket: String,
    /// Key of the list file.
    pub key: String,
}

/// The source objects a migration covers.
///
/// List files hold one URL-encoded key per line (OMS's format: percent-decoding lets a key carry
/// any byte, newlines included); blank lines are ignored and a trailing `\r` is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSelection {
    /// Exact keys (`task_type=object`); a key ending in `/` selects everything below it.
    Objects(Vec<String>),
    /// Every key under each prefix (`task_type=prefix`); `""` is the whole bucket.
    Prefixes(Vec<String>),
    /// The keys named in a list file (`task_type=list`).
    ListFile(ListFileSpec),
}

impl SourceSelection {
    /// The whole bucket.
    pub fn whole_bucket() -> Self {
        SourceSelection::Prefixes(vec![String::new()])
    }
}
