//! A directory as storage. Partial objects are hidden files (`.partial-…`) that are removed
//! when a writer is dropped without commit; `sweep_partials` clears those of dead processes.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use dsbackup_core::storage::check_name;
use dsbackup_core::{CoreError, CoreResult, ObjectWriter, Storage};

/// Archives kept as files in one directory.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

fn io_err(what: &str, path: &Path, e: io::Error) -> CoreError {
    CoreError::Internal(format!("{what} {}: {e}", path.display()))
}

impl LocalStorage {
    /// Storage in `root`, which is created if missing, owner-only (0700, whatever the umask;
    /// archives hold password and key hashes).
    ///
    /// Fails with `Internal` when the directory cannot be created.
    pub fn new(root: impl Into<PathBuf>) -> CoreResult<Self> {
        let root = root.into();
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(&root)
            .map_err(|e| io_err("creating", &root, e))?;
        Ok(Self { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path an object has (or would have).
    pub fn path_of(&self, name: &str) -> CoreResult<PathBuf> {
        check_name(name)?;
        Ok(self.root.join(name))
    }

    /// Removes partial files left by writers that never finished (a crash). Returns how many.
    pub fn sweep_partials(&self) -> CoreResult<usize> {
        let mut n = 0;
        for e in fs::read_dir(&self.root)
            .map_err(|e| io_err("listing", &self.root, e))?
            .flatten()
        {
            if e.file_name()
                .to_str()
                .is_some_and(|s| s.starts_with(".partial-"))
                && fs::remove_file(e.path()).is_ok()
            {
                n += 1;
            }
        }
        Ok(n)
    }
}

struct LocalWriter {
    file: Option<fs::File>,
    partial: PathBuf,
    target: PathBuf,
}

impl Write for LocalWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("writer already closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl ObjectWriter for LocalWriter {
    fn commit(mut self: Box<Self>) -> CoreResult<u64> {
        let file = self
            .file
            .take()
            .ok_or_else(|| CoreError::Internal("writer already closed".into()))?;
        file.sync_all()
            .map_err(|e| io_err("syncing", &self.partial, e))?;
        let size = file
            .metadata()
            .map_err(|e| io_err("reading", &self.partial, e))?
            .len();
        drop(file);
        fs::rename(&self.partial, &self.target)
            .map_err(|e| io_err("renaming", &self.partial, e))?;
        if let Some(dir) = self.target.parent()
            && let Ok(d) = fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(size)
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

impl Storage for LocalStorage {
    fn create(&self, name: &str) -> CoreResult<Box<dyn ObjectWriter>> {
        let target = self.path_of(name)?;
        let partial = self
            .root
            .join(format!(".partial-{}-{name}", uuid::Uuid::new_v4()));
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        // Archives hold the catalog (password and key hashes): owner-only.
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts
            .open(&partial)
            .map_err(|e| io_err("creating", &partial, e))?;
        Ok(Box::new(LocalWriter {
            file: Some(file),
            partial,
            target,
        }))
    }

    fn open(&self, name: &str) -> CoreResult<Box<dyn Read + Send>> {
        let path = self.path_of(name)?;
        match fs::File::open(&path) {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(CoreError::NotFound(format!("{name} not found")))
            }
            Err(e) => Err(io_err("opening", &path, e)),
        }
    }

    fn size(&self, name: &str) -> CoreResult<Option<u64>> {
        let path = self.path_of(name)?;
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &path, e)),
        }
    }

    fn delete(&self, name: &str) -> CoreResult<bool> {
        let path = self.path_of(name)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("deleting", &path, e)),
        }
    }

    fn list(&self) -> CoreResult<Vec<String>> {
        let mut names: Vec<String> = fs::read_dir(&self.root)
            .map_err(|e| io_err("listing", &self.root, e))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }
}
