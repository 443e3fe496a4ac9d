//! [`LocalBackend`]: objects as files under one directory, keys as relative paths.
//!
//! A put writes a hidden temporary (`.partial-<uuid>`, 0600) next to its target, fsyncs it,
//! moves it into place and fsyncs the directory; a failed, canceled or dropped put removes the
//! temporary. Directories are created 0700 and removed again when they become empty.

use std::fs;
use std::io::{self, ErrorKind, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::storage::{
    ByteStream, ListPage, ObjectMeta, ReadBackend, TEMP_PREFIX, WriteBackend, check_key,
    check_prefix,
};
use dsbackup_core::{CoreError, CoreResult};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::common::{CHUNK, check_limit, check_range, exists, missing, page};

/// Objects kept as files under `root`.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
}

/// Opening an object failed: nothing there, or a link in its place (`O_NOFOLLOW`), is a
/// missing object; anything else is an error.
fn open_failed(key: &str, path: &Path, e: io::Error) -> CoreError {
    if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
        || e.raw_os_error() == Some(libc::ELOOP)
    {
        missing(key)
    } else {
        io_err("opening", path, e)
    }
}

pub(crate) fn io_err(what: &str, path: &Path, e: io::Error) -> CoreError {
    CoreError::Internal(format!("{what} {}: {e}", path.display()))
}

/// A put's failure: a file or directory in the way is a conflict, the rest is internal.
/// Bytes written between early writebacks of an object being put (`fdatasync` in the
/// background while the rest streams).
pub(crate) const WRITEBACK: u64 = 32 << 20;

pub(crate) fn put_err(key: &str, path: &Path, e: io::Error) -> CoreError {
    match e.kind() {
        ErrorKind::AlreadyExists
        | ErrorKind::IsADirectory
        | ErrorKind::NotADirectory
        | ErrorKind::DirectoryNotEmpty => exists(key),
        _ => io_err("writing", path, e),
    }
}

fn blocking_err(e: tokio::task::JoinError) -> CoreError {
    CoreError::Internal(format!("storage task failed: {e}"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Creates the directories from `root` down to `dir` (0700), fsyncing each new entry's parent.
fn make_dirs(root: &Path, dir: &Path) -> io::Result<()> {
    let mut at = root.to_path_buf();
    for part in dir
        .strip_prefix(root)
        .map_err(io::Error::other)?
        .components()
    {
        let parent = at.clone();
        at.push(part);
        match fs::DirBuilder::new().mode(0o700).create(&at) {
            Ok(()) => sync_dir(&parent)?,
            Err(e) if e.kind() == ErrorKind::AlreadyExists && at.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes `dir` and its parents below `root` while they are empty.
fn prune_empty(root: &Path, dir: &Path) {
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| *d != root && d.starts_with(root)) {
        if fs::remove_dir(d).is_err() {
            break;
        }
        at = d.parent();
    }
}

/// Moves the synced temporary `from` to `to` (never replacing what is there unless
/// `overwrite`) and syncs the directory; what is at `to` then.
pub(crate) fn place(from: &Path, to: &Path, overwrite: bool) -> io::Result<fs::Metadata> {
    if overwrite {
        fs::rename(from, to)?;
    } else {
        // A hard link never replaces: a put that raced us to `key` wins.
        fs::hard_link(from, to)?;
        let _ = fs::remove_file(from); // else `temp` retries on drop
    }
    sync_dir(to.parent().unwrap_or(to))?;
    fs::metadata(to)
}

/// A temporary being written; removed (with directories left empty) unless disarmed.
pub(crate) struct Temp {
    root: PathBuf,
    pub(crate) path: Option<PathBuf>,
}

impl Temp {
    /// Creates a new temporary in `dir`, retrying when a concurrent prune removed `dir`.
    pub(crate) fn create(root: &Path, dir: &Path) -> io::Result<(Self, fs::File)> {
        let mut tries = 0;
        loop {
            make_dirs(root, dir)?;
            let path = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4()));
            let opened = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path);
            match opened {
                Ok(file) => {
                    let temp = Temp {
                        root: root.to_path_buf(),
                        path: Some(path),
                    };
                    return Ok((temp, file));
                }
                Err(e) if e.kind() == ErrorKind::NotFound && tries < 3 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(&path);
            if let Some(dir) = path.parent() {
                prune_empty(&self.root, dir);
            }
        }
    }
}

impl LocalBackend {
    /// A backend in `root`, which is created if missing, owner-only (0700, whatever the umask;
    /// archives hold password and key hashes).
    ///
    /// Fails with `Internal` when the directory cannot be created.
    pub fn new(root: impl Into<PathBuf>) -> CoreResult<Self> {
        let root = root.into();
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&root)
            .map_err(|e| io_err("creating", &root, e))?;
        Ok(Self { root })
    }

    /// A backend over `root` as it is, for reading and deleting what is there: nothing is
    /// created, so an unmounted disk reads as missing objects rather than a new empty tree.
    pub fn existing(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path an object has (or would have).
    ///
    /// Fails with `Invalid` for a malformed key.
    pub fn path_of(&self, key: &str) -> CoreResult<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// `range` of the object at `key`, read with plain blocking reads (for a caller already on
    /// a blocking thread). As in `get`, a link in the object's place is never followed and
    /// only a regular file is an object.
    ///
    /// Fails with `NotFound` when the object is not there, `Internal` when reading fails.
    pub fn read_blocking(&self, key: &str, range: Range<u64>) -> CoreResult<io::Take<fs::File>> {
        use std::io::{Read, Seek};
        let path = self.path_of(key)?;
        let opened = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path);
        let mut file = opened.map_err(|e| open_failed(key, &path, e))?;
        let m = file.metadata().map_err(|e| io_err("reading", &path, e))?;
        if !m.is_file() {
            return Err(missing(key));
        }
        let range = check_range(key, Some(range), m.len())?;
        file.seek(SeekFrom::Start(range.start))
            .map_err(|e| io_err("seeking", &path, e))?;
        Ok(file.take(range.end - range.start))
    }
}

fn meta(key: String, m: &fs::Metadata) -> ObjectMeta {
    ObjectMeta {
        key,
        size: m.len(),
        modified: m.modified().ok().map(DateTime::<Utc>::from),
    }
}

/// The objects under `root` whose key starts with `prefix` and sorts after `after`: the first
/// `limit + 1` of them in key order. Walks only directories that can hold such keys.
fn walk(
    root: &Path,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> io::Result<Vec<ObjectMeta>> {
    let base = &prefix[..prefix.rfind('/').map_or(0, |i| i + 1)];
    let mut dirs = vec![(root.join(base), base.to_string())];
    let mut found = Vec::new();
    while let Some((dir, key_base)) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                continue;
            }
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') {
                continue; // temporaries and anything else hidden
            }
            let key = format!("{key_base}{name}");
            let kind = entry.file_type()?;
            if kind.is_dir() {
                let sub = format!("{key}/");
                let may_match = sub.starts_with(prefix) || prefix.starts_with(&sub);
                let all_before = after.is_some_and(|a| sub.as_str() < a && !a.starts_with(&sub));
                if may_match && !all_before {
                    dirs.push((entry.path(), sub));
                }
            } else if kind.is_file()
                && key.starts_with(prefix)
                && after.is_none_or(|a| key.as_str() > a)
                && check_key(&key).is_ok()
            {
                found.push((key, entry));
            }
        }
    }
    found.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    found.truncate(limit + 1);
    let mut objects = Vec::with_capacity(found.len());
    for (key, entry) in found {
        match entry.metadata() {
            Ok(m) => objects.push(meta(key, &m)),
            Err(e) if e.kind() == ErrorKind::NotFound => {} // deleted meanwhile
            Err(e) => return Err(e),
        }
    }
    Ok(objects)
}

#[async_trait]
impl ReadBackend for LocalBackend {
    fn describe(&self) -> String {
        format!("local directory {}", self.root.display())
    }

    async fn stat(&self, key: &str) -> CoreResult<Option<ObjectMeta>> {
        let path = self.path_of(key)?;
        match tokio::fs::symlink_metadata(&path).await {
            Ok(m) if m.is_file() => Ok(Some(meta(key.to_string(), &m))),
            Ok(_) => Ok(None),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                Ok(None)
            }
            Err(e) => Err(io_err("reading", &path, e)),
        }
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> CoreResult<ListPage> {
        check_prefix(prefix)?;
        check_limit(limit)?;
        let (root, prefix_owned, after_owned) = (
            self.root.clone(),
            prefix.to_string(),
            after.map(str::to_string),
        );
        let objects = tokio::task::spawn_blocking(move || {
            walk(&root, &prefix_owned, after_owned.as_deref(), limit)
        })
        .await
        .map_err(blocking_err)?
        .map_err(|e| io_err("listing", &self.root, e))?;
        Ok(page(objects, limit))
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> CoreResult<ByteStream> {
        let path = self.path_of(key)?;
        // An object is a regular file: a link in its place is never followed.
        let opened = tokio::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .await;
        let mut file = opened.map_err(|e| open_failed(key, &path, e))?;
        let m = file
            .metadata()
            .await
            .map_err(|e| io_err("reading", &path, e))?;
        if !m.is_file() {
            return Err(missing(key));
        }
        let range = check_range(key, range, m.len())?;
        if range.start > 0 {
            file.seek(SeekFrom::Start(range.start))
                .await
                .map_err(|e| io_err("seeking", &path, e))?;
        }
        let body = file.take(range.end - range.start);
        Ok(Box::pin(tokio_util::io::ReaderStream::with_capacity(
            body, CHUNK,
        )))
    }

    async fn presign(&self, key: &str, _expires: DateTime<Utc>) -> CoreResult<Option<String>> {
        check_key(key)?;
        Ok(None)
    }
}

#[async_trait]
impl WriteBackend for LocalBackend {
    async fn put(
        &self,
        key: &str,
        mut body: ByteStream,
        overwrite: bool,
    ) -> CoreResult<ObjectMeta> {
        let target = self.path_of(key)?;
        if !overwrite && tokio::fs::symlink_metadata(&target).await.is_ok() {
            return Err(exists(key));
        }
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        let (root, d) = (self.root.clone(), dir.clone());
        // Dropping `temp` (on every path out of here) removes the temporary if it is still there.
        let (temp, file) = tokio::task::spawn_blocking(move || Temp::create(&root, &d))
            .await
            .map_err(blocking_err)?
            .map_err(|e| put_err(key, &dir, e))?;
        let temp_path = temp.path.clone().unwrap_or_default();
        let wrote = |e| io_err("writing", &temp_path, e);
        // Early writeback: what is written is synced in the background as the body streams,
        // so the final sync finds little left to write (its errors are awaited, never lost).
        let early = file.try_clone().map_err(wrote)?;
        let mut syncing: Option<tokio::task::JoinHandle<io::Result<()>>> = None;
        let mut unsynced = 0u64;
        let mut file = tokio::fs::File::from_std(file);
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| CoreError::internal(&e))?;
            file.write_all(&chunk).await.map_err(wrote)?;
            size += chunk.len() as u64;
            unsynced += chunk.len() as u64;
            if unsynced >= WRITEBACK && syncing.as_ref().is_none_or(|h| h.is_finished()) {
                if let Some(h) = syncing.take() {
                    h.await.map_err(blocking_err)?.map_err(wrote)?;
                }
                file.flush().await.map_err(wrote)?;
                let f = early.try_clone().map_err(wrote)?;
                syncing = Some(tokio::task::spawn_blocking(move || f.sync_data()));
                unsynced = 0;
            }
        }
        file.flush().await.map_err(wrote)?;
        if let Some(h) = syncing.take() {
            h.await.map_err(blocking_err)?.map_err(wrote)?;
        }
        file.sync_all().await.map_err(wrote)?;
        drop(file);
        let (from, to) = (temp_path.clone(), target.clone());
        let placed = tokio::task::spawn_blocking(move || place(&from, &to, overwrite))
            .await
            .map_err(blocking_err)?;
        let m = placed.map_err(|e| put_err(key, &target, e))?;
        drop(temp);
        Ok(ObjectMeta {
            key: key.to_string(),
            size,
            modified: m.modified().ok().map(DateTime::<Utc>::from),
        })
    }

    async fn delete(&self, key: &str) -> CoreResult<bool> {
        let path = self.path_of(key)?;
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || match fs::remove_file(&path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    prune_empty(&root, dir);
                }
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::IsADirectory
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(io_err("deleting", &path, e)),
        })
        .await
        .map_err(blocking_err)?
    }
}
