//! Owner-only permissions for the data dir and the database files: they hold sealed secrets
//! and every project's tasks, so no other local user may read them (0700 / 0600, Unix).

use std::io;
use std::path::Path;

/// Suffixes of the files SQLite keeps beside the database in WAL mode.
const SQLITE_SIDE_FILES: [&str; 3] = ["", "-wal", "-shm"];

/// Creates `dir` if needed and makes it 0700, tightening a looser existing mode.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    tighten(dir, 0o700)
}

/// Creates the database file empty with mode 0600 before SQLite opens it, because SQLite
/// gives its `-wal` and `-shm` files the database file's mode (a umask-made 0644 otherwise).
pub(crate) fn precreate_private_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err),
    }
}

/// Makes one file 0600 if it exists.
pub(crate) fn tighten_file(path: &Path) -> io::Result<()> {
    tighten(path, 0o600)
}

/// Sets `mode` on `path` if it exists with any other mode, and logs the change.
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(meta) if meta.permissions().mode() & 0o777 != mode => {
                tracing::info!(path = %path.display(), mode = format!("{mode:o}"), "tightening permissions");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Makes the database file and its WAL side files 0600 (files made by an older tern, or
/// before this check existed, may be looser).
pub(crate) fn tighten_database_files(db_path: &Path) -> io::Result<()> {
    for suffix in SQLITE_SIDE_FILES {
        let mut name = db_path.as_os_str().to_owned();
        name.push(suffix);
        tighten_file(Path::new(&name))?;
    }
    Ok(())
}
