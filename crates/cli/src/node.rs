//! A node's identity (RFC 0011): the id kept in `<data_dir>/node-id`, so a restarted node
//! takes its own runs back at once, and the lock that keeps two live processes from using the
//! same id (the second one gets a fresh id of its own instead).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use rand::Rng as _;

/// File in the data dir that holds this node's id.
const NODE_ID_FILE: &str = "node-id";
/// File in the data dir a live node holds an exclusive lock on.
const NODE_LOCK_FILE: &str = "node.lock";
/// Longest node id.
const MAX_NODE_ID_LEN: usize = 64;

/// This process's node id and the lock that keeps it (dropped at exit).
#[derive(Debug)]
pub struct NodeIdentity {
    /// The id in logs and run records.
    pub id: String,
    _lock: Option<File>,
}

/// Refuses ids that would garble logs or records: 1–64 of `[A-Za-z0-9._-]`.
pub fn check_node_id(id: &str) -> std::result::Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty() || id.len() > MAX_NODE_ID_LEN || !id.chars().all(ok_char) {
        return Err(format!(
            "{id:?} must be 1 to {MAX_NODE_ID_LEN} characters of letters, digits, '.', '_' or '-'"
        ));
    }
    Ok(())
}

/// The node id for a process on `data_dir`: `configured` when the config fixes one, else the
/// one kept in the data dir (created on first start). When another live process holds the data
/// dir, a fresh id is used so the two never share claims.
pub fn identify(data_dir: &Path, configured: Option<&str>) -> Result<NodeIdentity> {
    let lock_path = data_dir.join(NODE_LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    let held = match lock.try_lock() {
        Ok(()) => true,
        Err(std::fs::TryLockError::WouldBlock) => false,
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("locking {}", lock_path.display()))
        }
    };
    if let Some(id) = configured {
        return Ok(NodeIdentity {
            id: id.to_owned(),
            _lock: held.then_some(lock),
        });
    }
    if !held {
        let id = random_id();
        tracing::warn!(node = %id, data_dir = %data_dir.display(), "another tern process uses this data dir; running as a fresh node");
        return Ok(NodeIdentity { id, _lock: None });
    }
    let id_path = data_dir.join(NODE_ID_FILE);
    let id = match std::fs::read_to_string(&id_path) {
        Ok(text) if check_node_id(text.trim()).is_ok() => text.trim().to_owned(),
        Ok(_) => anyhow::bail!(
            "{} does not hold a valid node id; delete it to get a new one",
            id_path.display()
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let id = random_id();
            let mut file = File::create(&id_path)
                .with_context(|| format!("creating {}", id_path.display()))?;
            writeln!(file, "{id}").with_context(|| format!("writing {}", id_path.display()))?;
            id
        }
        Err(err) => return Err(err).with_context(|| format!("reading {}", id_path.display())),
    };
    Ok(NodeIdentity {
        id,
        _lock: Some(lock),
    })
}

fn random_id() -> String {
    let bytes: [u8; 6] = rand::rng().random();
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("node-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_kept_and_a_second_process_gets_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let first = identify(dir.path(), None).unwrap();
        assert!(first.id.starts_with("node-"), "{}", first.id);
        // The lock is per open file description, so a second open in this process conflicts
        // exactly as another process would.
        let second = identify(dir.path(), None).unwrap();
        assert_ne!(second.id, first.id);
        let kept = first.id.clone();
        drop(first);
        drop(second);
        assert_eq!(identify(dir.path(), None).unwrap().id, kept);
    }

    #[test]
    fn bad_ids_are_refused() {
        assert!(check_node_id("worker-1.a_b").is_ok());
        for bad in ["", "a b", "x/y", &"n".repeat(65)] {
            assert!(check_node_id(bad).is_err(), "{bad:?}");
        }
    }
}
