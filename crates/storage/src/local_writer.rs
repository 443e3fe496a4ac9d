//! [`LocalWriter`]: an object of a [`LocalBackend`] written from a blocking thread (the archive
//! engine's), straight into its temporary file rather than through the async `put`'s channel,
//! and able to append a range of another file of the same file system with
//! `copy_file_range(2)`: where the file system shares blocks between files (reflinks: XFS,
//! Btrfs, bcachefs, ZFS 2.2) an archive copying its parent's frames neither writes nor
//! stores them again; elsewhere the kernel copies them without a trip through user space.
//! Ranges that follow one another in the same source are appended together, up to
//! [`SHARE_BATCH`] at a time (see [`Pending`]). Durability and placement are `put`'s: the
//! temporary (0600, beside the target) is synced in the background every [`WRITEBACK`] bytes,
//! synced whole on `commit`, then linked (or renamed, with `overwrite`) into place and the
//! directory synced; dropped without `commit`, it is removed.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use dsbackup_core::CoreResult;
use dsbackup_core::storage::ObjectMeta;

use crate::LocalBackend;
use crate::common::exists;
use crate::local_backend::{Temp, WRITEBACK, io_err, place, put_err};

/// The most bytes of shared ranges held back to be appended with one call.
pub const SHARE_BATCH: u64 = 128 << 20;

/// Shared ranges accepted but not yet appended: they follow one another in `src`.
///
/// Every `copy_file_range` takes both files' locks, which on XFS waits for a read in flight
/// from the source: appending each of a parent's frames while the engine reads the next ones
/// made an unchanged backup of a parent not in the page cache wait on the disk three times
/// as long as reading it takes. Held back, the appends wait once per batch.
struct Pending {
    src: File,
    /// The source's device and inode, which tell a range of another file.
    id: (u64, u64),
    from: u64,
    len: u64,
}

/// An object being written to a [`LocalBackend`]; see the module's header.
pub struct LocalWriter {
    key: String,
    target: PathBuf,
    overwrite: bool,
    temp: Temp,
    file: File,
    len: u64,
    unsynced: u64,
    syncing: Option<JoinHandle<io::Result<()>>>,
    /// The block size blocks are shared in, until sharing fails once.
    block: Option<u64>,
    /// Whether a range was appended shared yet: the first is appended at once, so a file
    /// system that cannot says so while the caller still holds the bytes.
    shared: bool,
    pending: Option<Pending>,
}

impl std::fmt::Debug for LocalWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalWriter")
            .field("key", &self.key)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl LocalBackend {
    /// Starts writing `key` from this (blocking) thread.
    ///
    /// Fails with `Invalid` for a malformed key, `Conflict` when the key exists and not
    /// `overwrite`, `Internal` when the temporary cannot be made.
    pub fn create_blocking(&self, key: &str, overwrite: bool) -> CoreResult<LocalWriter> {
        let target = self.path_of(key)?;
        if !overwrite && std::fs::symlink_metadata(&target).is_ok() {
            return Err(exists(key));
        }
        let dir = target.parent().unwrap_or(self.root()).to_path_buf();
        let (temp, file) = Temp::create(self.root(), &dir).map_err(|e| put_err(key, &dir, e))?;
        let m = file.metadata().map_err(|e| io_err("creating", &dir, e))?;
        Ok(LocalWriter {
            key: key.to_string(),
            target,
            overwrite,
            temp,
            file,
            len: 0,
            unsynced: 0,
            syncing: None,
            block: Some(m.blksize()).filter(|b| b.is_power_of_two() && *b >= 512),
            shared: false,
            pending: None,
        })
    }
}

/// Whether a failed `copy_file_range` means this file system (or this pair of files) cannot
/// copy between them, rather than a failure of the destination.
fn cannot_share(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::EOPNOTSUPP
                | libc::ENOTTY
                | libc::EXDEV
                | libc::EINVAL
                | libc::EBADF
                | libc::EPERM
                | libc::ETXTBSY
                | libc::ENOSYS
        )
    )
}

impl LocalWriter {
    fn path(&self) -> PathBuf {
        self.temp.path.clone().unwrap_or_default()
    }

    /// The block size blocks can be shared in, while that may work.
    pub fn shared_block(&self) -> Option<u64> {
        self.block
    }

    /// Appends `len` bytes of `src` from `offset` with `copy_file_range(2)`, which shares the
    /// blocks where the file system can (the kernel copies them otherwise); returns how many
    /// were taken, fewer (or none) when the file system cannot copy between these files, and
    /// sharing is then not tried again. `offset`, `len` and what was written so far are
    /// multiples of the block. After the first, ranges are held back and appended in batches
    /// ([`Pending`]) before anything else is written and on `commit`; one that the file system
    /// then refuses to copy is read from `src` and written.
    ///
    /// Fails when the file system refuses for another reason (out of space, I/O).
    pub fn append_shared(&mut self, src: &File, offset: u64, len: u64) -> io::Result<u64> {
        let Some(block) = self.block else {
            return Ok(0);
        };
        if ![offset, len, self.end()]
            .iter()
            .all(|n| n.is_multiple_of(block))
        {
            return Ok(0);
        }
        if !self.shared {
            let n = self.copy_range(src, offset, len)?;
            self.shared = n > 0;
            self.written_shared(n)?;
            return Ok(n);
        }
        let m = src.metadata()?;
        let id = (m.dev(), m.ino());
        match &mut self.pending {
            Some(p) if p.id == id && p.from + p.len == offset => p.len += len,
            _ => {
                self.flush_pending()?;
                self.pending = Some(Pending {
                    src: src.try_clone()?,
                    id,
                    from: offset,
                    len,
                });
            }
        }
        if self.pending.as_ref().is_some_and(|p| p.len >= SHARE_BATCH) {
            self.flush_pending()?;
        }
        Ok(len)
    }

    /// Where the next byte goes: after what was written and what is held back.
    fn end(&self) -> u64 {
        self.len + self.pending.as_ref().map_or(0, |p| p.len)
    }

    /// Appends up to `len` bytes of `src` from `offset` with `copy_file_range`; returns how
    /// many, fewer when the file system cannot copy between these files (sharing is then off).
    ///
    /// Fails when the file system refuses for another reason.
    fn copy_range(&mut self, src: &File, offset: u64, len: u64) -> io::Result<u64> {
        let (mut from, start) = (offset, self.len);
        while self.len - start < len {
            let want = usize::try_from(len - (self.len - start)).unwrap_or(1 << 30);
            let mut to = self.len;
            match rustix::fs::copy_file_range(src, Some(&mut from), &self.file, Some(&mut to), want)
            {
                Ok(n) if n > 0 => self.len = to,
                Ok(_) => {
                    self.block = None;
                    break;
                }
                Err(e) => {
                    let e = io::Error::from(e);
                    if !cannot_share(&e) {
                        return Err(e);
                    }
                    self.block = None;
                    break;
                }
            }
        }
        Ok(self.len - start)
    }

    /// Appends the ranges held back: shared, or read and written where the file system no
    /// longer copies.
    ///
    /// Fails as appending or writing fails.
    fn flush_pending(&mut self) -> io::Result<()> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let n = self.copy_range(&p.src, p.from, p.len)?;
        self.written_shared(n)?;
        let mut buf = vec![0u8; (p.len - n).min(1 << 20) as usize];
        let mut done = n;
        while done < p.len {
            let piece = &mut buf[..(p.len - done).min(1 << 20) as usize];
            p.src.read_exact_at(piece, p.from + done)?;
            self.write_all(piece)?;
            done += piece.len() as u64;
        }
        Ok(())
    }

    /// Counts `n` bytes just appended towards the next early writeback: a kernel copy leaves
    /// dirty pages as a write does (shared blocks leave none, and their writeback is cheap).
    fn written_shared(&mut self, n: u64) -> io::Result<()> {
        self.unsynced += n;
        self.writeback()
    }

    /// Starts a background `fdatasync` once enough was written since the last, one at a time;
    /// a failed one fails the write.
    fn writeback(&mut self) -> io::Result<()> {
        if self.unsynced < WRITEBACK || self.syncing.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        self.settle()?;
        let f = self.file.try_clone()?;
        self.syncing = Some(std::thread::spawn(move || f.sync_data()));
        self.unsynced = 0;
        Ok(())
    }

    /// Waits for the background sync in flight, if any.
    fn settle(&mut self) -> io::Result<()> {
        match self.syncing.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the writeback thread failed")),
            None => Ok(()),
        }
    }

    /// Makes the object complete and durable, in place; returns what was stored.
    ///
    /// Fails with `Conflict` when the key appeared meanwhile (not `overwrite`), `Internal`
    /// when syncing or placing fails; the temporary is removed either way.
    pub fn commit(mut self) -> CoreResult<ObjectMeta> {
        let path = self.path();
        let wrote = |e| io_err("writing", &path, e);
        self.flush_pending().map_err(wrote)?;
        self.settle().map_err(wrote)?;
        self.file.sync_all().map_err(wrote)?;
        let m = place(&path, &self.target, self.overwrite)
            .map_err(|e| put_err(&self.key, &self.target, e))?;
        self.temp.path = None;
        Ok(ObjectMeta {
            key: self.key.clone(),
            size: self.len,
            modified: m.modified().ok().map(DateTime::<Utc>::from),
        })
    }
}

impl Write for LocalWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.flush_pending()?;
        self.file.write_all_at(data, self.len)?;
        self.len += data.len() as u64;
        self.unsynced += data.len() as u64;
        self.writeback()?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LocalWriter {
    /// Waits for a background sync before `temp` removes the file.
    fn drop(&mut self) {
        let _ = self.settle();
    }
}
