//! Files and directories only the gateway's own user may read: the SQLite file (with its
//! `-wal` and `-shm`), the development key, the secrets key kept in the data directory.
//!
//! The mode is set when a file is created, not after: a file created with the umask's 0644 and
//! tightened later can be opened by anyone in between, and an open descriptor outlives the
//! change. SQLite gives its `-wal` and `-shm` files the mode of the database file, so creating
//! that one 0600 before SQLite opens it is what keeps all three private.

use std::io;
use std::path::Path;

/// Creates `dir` and its missing parents 0700; existing directories are left as they are (the
/// operator's `/var/lib/...` is theirs to set).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes sure `file` exists, created 0600 when it did not; an existing file that others may
/// read is narrowed to 0600 (a database of before this rule, say). Its content is untouched.
pub fn ensure_private_file(file: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    drop(options.open(file)?);
    narrow(file)
}

/// Narrows an existing file to 0600 when group or others have any access; a missing file is
/// fine.
pub fn narrow(file: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let metadata = match std::fs::metadata(file) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if metadata.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Writes `contents` to a new `file`, 0600 from its creation; an existing file is an error
/// (a key is never silently replaced).
pub fn write_new(file: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(file)?;
    out.write_all(contents)?;
    out.sync_all()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_private_and_narrowed_when_not() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("data/deeper");
        create_dir_all(&nested).unwrap();
        assert_eq!(mode(&dir.path().join("data")), 0o700);
        assert_eq!(mode(&nested), 0o700);

        let db = nested.join("gateway.db");
        ensure_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);

        let old = nested.join("old.db");
        std::fs::write(&old, b"kept").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        ensure_private_file(&old).unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(std::fs::read(&old).unwrap(), b"kept");

        let key = nested.join("key");
        write_new(&key, b"k").unwrap();
        assert_eq!(mode(&key), 0o600);
        assert!(write_new(&key, b"other").is_err());
        assert_eq!(std::fs::read(&key).unwrap(), b"k");
        narrow(&nested.join("missing")).unwrap();
    }
}
