//! Sealing of secrets at rest (DESIGN.md invariant 3): ChaCha20-Poly1305 under a 32-byte key
//! from `TERN_SEAL_KEY` (64 hex characters) or `<data_dir>/seal.key` (created 0600 on first
//! use), a fresh random nonce per seal, and the row's identity as associated data so a sealed
//! blob copied onto another row does not open.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use tern_core::Error;

/// Environment variable that overrides the key file.
pub const SEAL_KEY_ENV: &str = "TERN_SEAL_KEY";
/// Name of the key file inside the data dir.
pub const SEAL_KEY_FILE: &str = "seal.key";

/// First byte of every sealed blob, so the format can change later.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// Plaintext of the key check value each database keeps (`seal_check`, sealed at first open).
const CHECK_PLAINTEXT: &[u8] = b"tern seal key check v1";
/// Associated data of the key check value.
const CHECK_CONTEXT: &str = "seal-check";

/// Seals and opens secrets with the server's key.
pub(crate) struct Sealer {
    cipher: ChaCha20Poly1305,
    /// Where the key came from (`TERN_SEAL_KEY` or the key file's path), for errors.
    source: String,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl Sealer {
    /// Loads the key from `TERN_SEAL_KEY` if set, else from (or into) the data dir's key file.
    pub(crate) fn load(data_dir: &Path) -> Result<Self, Error> {
        match std::env::var(SEAL_KEY_ENV) {
            Ok(hex_key) => Self::from_hex(hex_key.trim(), SEAL_KEY_ENV),
            Err(std::env::VarError::NotPresent) => Self::from_key_file(data_dir),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Error::invalid(SEAL_KEY_ENV, "must be 64 hex characters"))
            }
        }
    }

    /// Builds a sealer from 64 hex characters; `source` names where they came from in errors.
    pub(crate) fn from_hex(hex_key: &str, source: &str) -> Result<Self, Error> {
        let bytes = hex::decode(hex_key)
            .ok()
            .and_then(|bytes| <[u8; KEY_LEN]>::try_from(bytes).ok())
            .ok_or_else(|| Error::invalid(source, "must be 64 hex characters"))?;
        Ok(Sealer {
            cipher: ChaCha20Poly1305::new(&Key::from(bytes)),
            source: source.to_owned(),
        })
    }

    /// Reads `<data_dir>/seal.key`, creating it with a random key on first use.
    fn from_key_file(data_dir: &Path) -> Result<Self, Error> {
        let path = data_dir.join(SEAL_KEY_FILE);
        let source = path.display().to_string();
        match fs::read_to_string(&path) {
            Ok(text) => return Self::from_hex(text.trim(), &source),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(Error::Internal(format!("cannot read {source}: {err}"))),
        }
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        let hex_key = hex::encode(key);
        // Write a private temporary file, then hard-link it into place: the link fails if
        // another process created the key meanwhile, and then everyone uses that one.
        let temp_path = data_dir.join(format!(
            "{SEAL_KEY_FILE}.{:016x}.tmp",
            rand::rng().next_u64()
        ));
        let written = write_private_file(&temp_path, &hex_key)
            .and_then(|()| fs::hard_link(&temp_path, &path));
        // Best effort: the temporary file holds no more than the key file itself.
        let _ = fs::remove_file(&temp_path);
        match written {
            Ok(()) => Self::from_hex(&hex_key, &source),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                let text = fs::read_to_string(&path)
                    .map_err(|err| Error::Internal(format!("cannot read {source}: {err}")))?;
                Self::from_hex(text.trim(), &source)
            }
            Err(err) => Err(Error::Internal(format!("cannot create {source}: {err}"))),
        }
    }

    /// Seals `plaintext`, binding it to `context` (the row it belongs to).
    pub(crate) fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .map_err(|_| Error::Internal("sealing failed".to_owned()))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens a blob made by [`Sealer::seal`] with the same `context`.
    pub(crate) fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        let refused = || {
            Error::Internal(format!(
                "cannot unseal {context}: wrong seal key or corrupt data"
            ))
        };
        let (&format, rest) = sealed.split_first().ok_or_else(refused)?;
        if format != FORMAT_V1 || rest.len() < NONCE_LEN {
            return Err(refused());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| refused())?;
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        self.cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| refused())
    }
}

impl Sealer {
    /// Seals the known plaintext a database stores at first open to recognise its key.
    pub(crate) fn seal_check_value(&self) -> Result<Vec<u8>, Error> {
        self.seal(CHECK_CONTEXT, CHECK_PLAINTEXT)
    }

    /// Refuses a key that cannot open the database's check value: it would fail on every
    /// sealed secret later, and a node sealing with it would write secrets no other node reads.
    pub(crate) fn verify_check_value(&self, sealed: &[u8]) -> Result<(), Error> {
        match self.open(CHECK_CONTEXT, sealed) {
            Ok(plaintext) if plaintext == CHECK_PLAINTEXT => Ok(()),
            _ => Err(Error::invalid(
                SEAL_KEY_ENV,
                format!(
                    "the seal key from {} cannot open this database's sealed secrets; every \
                     process on one database needs the key it was created with (set \
                     {SEAL_KEY_ENV} to the same 64 hex characters on every node)",
                    self.source
                ),
            )),
        }
    }
}

/// Creates a new file readable by its owner only and writes `contents` durably.
fn write_private_file(path: &Path, contents: &str) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn test_seal_round_trips_and_hides_plaintext() {
        let sealer = Sealer::from_hex(KEY_HEX, "test").unwrap();
        let sealed = sealer.seal("task:1", b"very-secret").unwrap();
        assert!(!sealed.windows(11).any(|window| window == b"very-secret"));
        assert_eq!(sealer.open("task:1", &sealed).unwrap(), b"very-secret");
    }

    #[test]
    fn test_seal_uses_a_fresh_nonce_each_time() {
        let sealer = Sealer::from_hex(KEY_HEX, "test").unwrap();
        assert_ne!(
            sealer.seal("task:1", b"same").unwrap(),
            sealer.seal("task:1", b"same").unwrap()
        );
    }

    #[test]
    fn test_open_refuses_other_context_key_or_tampering() {
        let sealer = Sealer::from_hex(KEY_HEX, "test").unwrap();
        let mut sealed = sealer.seal("task:1", b"secret").unwrap();
        assert!(sealer.open("task:2", &sealed).is_err());
        let other = Sealer::from_hex(&KEY_HEX.replace('0', "f"), "test").unwrap();
        assert!(other.open("task:1", &sealed).is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(sealer.open("task:1", &sealed).is_err());
        assert!(sealer.open("task:1", &[]).is_err());
    }

    #[test]
    fn test_check_value_opens_only_under_its_key() {
        let sealer = Sealer::from_hex(KEY_HEX, "test").unwrap();
        let check = sealer.seal_check_value().unwrap();
        sealer.verify_check_value(&check).unwrap();
        let other = Sealer::from_hex(&KEY_HEX.replace('0', "f"), SEAL_KEY_ENV).unwrap();
        let err = other.verify_check_value(&check).unwrap_err();
        assert_eq!(err.kind(), tern_core::ErrorKind::InvalidArgument);
        assert!(
            err.to_string().contains("cannot open this database"),
            "{err}"
        );
        let not_a_check = sealer.seal(CHECK_CONTEXT, b"something else").unwrap();
        assert!(sealer.verify_check_value(&not_a_check).is_err());
    }

    #[test]
    fn test_from_hex_refuses_bad_keys() {
        assert!(Sealer::from_hex("abcd", SEAL_KEY_ENV).is_err());
        assert!(Sealer::from_hex(&"zz".repeat(32), SEAL_KEY_ENV).is_err());
    }

    #[test]
    fn test_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Sealer::from_key_file(dir.path()).unwrap();
        let sealed = first.seal("ctx", b"value").unwrap();
        let second = Sealer::from_key_file(dir.path()).unwrap();
        assert_eq!(second.open("ctx", &sealed).unwrap(), b"value");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SEAL_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "only seal.key remains");
    }
}
