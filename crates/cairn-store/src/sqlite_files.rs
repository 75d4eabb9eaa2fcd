//! The SQLite database's files are private to the service's user: they hold password hashes,
//! emails and the audit log.
//!
//! The database file is made with mode 0600 before SQLite opens it (whatever the umask), and
//! SQLite gives its `-wal` and `-shm` files the database file's mode. Files left more open by an
//! earlier version are narrowed to 0600 at start, with a log line.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::{StoreError, StoreResult};

/// The mode of every database file.
const PRIVATE_FILE: u32 = 0o600;

/// The database file of a `sqlite:` URL, or `None` for an in-memory database.
fn database_path(url: &str) -> StoreResult<Option<PathBuf>> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Setup(format!("the SQLite URL: {e}")))?;
    let path = options.get_filename();
    let in_memory = path.as_os_str().is_empty()
        || path
            .to_str()
            .is_some_and(|p| p.starts_with(":memory:") || p.starts_with("file:sqlx-in-memory"))
        || url.contains("mode=memory");
    Ok((!in_memory).then(|| path.to_path_buf()))
}

/// Makes the database file (0600) when the URL asks for it to be made (`mode=rwc`) and narrows the
/// mode of the files already there.
pub(crate) fn secure(url: &str) -> StoreResult<()> {
    let Some(path) = database_path(url)? else {
        return Ok(());
    };
    if url.contains("mode=rwc") {
        create_private(&path)?;
    }
    for file in [
        path.clone(),
        suffixed(&path, "-wal"),
        suffixed(&path, "-shm"),
    ] {
        narrow_mode(&file)?;
    }
    Ok(())
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates an empty file with mode 0600 unless it exists (an empty file is an empty database).
fn create_private(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .open(path);
    match created {
        // The umask may have taken bits away, never added them; set the mode exactly anyway.
        Ok(file) => set_mode(&file, path),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Setup(format!(
            "creating the database file {}: {e}",
            path.display()
        ))),
    }
}

fn set_mode(file: &std::fs::File, path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_FILE))
        .map_err(|e| StoreError::Setup(format!("setting the mode of {}: {e}", path.display())))
}

/// Narrows an existing file readable or writable by others to 0600, saying so in the log.
fn narrow_mode(path: &Path) -> StoreResult<()> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(PRIVATE_FILE))
        .map_err(|e| StoreError::Setup(format!("setting the mode of {}: {e}", path.display())))?;
    tracing::warn!(
        path = %path.display(),
        was = format!("{mode:o}"),
        "narrowed a database file's mode to 600: it holds password hashes, emails and the audit log"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_database_file_is_private_whatever_the_umask_and_old_ones_are_narrowed() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cairn.db");
        let url = format!("sqlite://{}?mode=rwc", db.display());
        secure(&url).unwrap();
        assert_eq!(mode(&db), 0o600);

        for file in [&db, &suffixed(&db, "-wal"), &suffixed(&db, "-shm")] {
            std::fs::write(file, b"").unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        secure(&url).unwrap();
        for file in [&db, &suffixed(&db, "-wal"), &suffixed(&db, "-shm")] {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
    }

    #[test]
    fn in_memory_databases_have_no_files() {
        assert_eq!(database_path("sqlite::memory:").unwrap(), None);
    }
}
