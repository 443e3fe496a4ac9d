//! The data directory's own rules: everything in it is created owner-only whatever the umask
//! (directories 0700, files 0600), and one server at a time holds it, by an exclusive lock on
//! `data_dir/.lock` taken before recovery and held until the process ends.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = ".lock";

/// Creates `path` and any missing parents with mode 0700 (existing ones keep their mode).
///
/// Fails when a component cannot be created.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Opens options for an owner-only (0600) file; the caller adds the access it needs.
pub fn private_file() -> fs::OpenOptions {
    let mut opts = fs::OpenOptions::new();
    opts.mode(0o600);
    opts
}

/// Writes `bytes` to `path` atomically: a temporary sibling (0600) is written and fsynced,
/// renamed over `path`, and the directory is fsynced. A crash leaves the old file or the new
/// one, never a short one.
///
/// Fails when any step fails; the temporary file is removed then.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut f = private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        d.sync_all()?;
    }
    Ok(())
}

/// Why the data directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "data directory {} is in use by another dsbackup server (pid {pid}); stop it first, \
         or give this one another data_dir",
        path.display()
    )]
    InUse { path: PathBuf, pid: String },
    #[error("cannot lock data directory {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// The held lock on a data directory; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the exclusive lock on `data_dir/.lock` without waiting, and writes this
    /// process's id into it.
    ///
    /// Fails with `InUse` (naming the holder's pid) when another process holds it.
    pub fn acquire(data_dir: &Path) -> Result<Self, LockError> {
        let path = data_dir.join(LOCK_FILE);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = private_file()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = match pid.trim() {
                    "" => "unknown".to_string(),
                    p => p.to_string(),
                };
                return Err(LockError::InUse {
                    path: data_dir.to_path_buf(),
                    pid,
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        file.set_len(0).map_err(io_err)?;
        file.rewind().map_err(io_err)?;
        writeln!(file, "{}", std::process::id()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_second_lock_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let held = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("in use by another dsbackup server"), "{err}");
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(held);
        DataDirLock::acquire(dir.path()).expect("free again once dropped");
    }

    #[test]
    fn atomic_writes_are_private_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        write_private_atomic(&path, b"one").unwrap();
        write_private_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp left");
    }
}
