//! Writing restored files from a small pool of threads. The reader hands over each file's
//! content as it streams (already checked by the engine as far as it can be before the end);
//! the bytes are read on the caller's thread and written by a worker: a small file as one job,
//! a large one as a sequence of chunks that all go to the same worker, in order. Creating and
//! writing many files is what bounds a restore on most disks, and it overlaps here with
//! decompression and checking. Memory is bounded by the queued jobs (a few MiB per worker).
//!
//! Everything written is provisional until [`FilePool::finish`] returns success, like
//! everything a [`crate::Placer`] writes: the caller removes the tree otherwise.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Files up to this size are written as one job; larger ones in chunks of this size.
const CHUNK: usize = 256 << 10;
/// Jobs queued per worker.
const QUEUE: usize = 32;

/// How writing a file through the pool failed.
#[derive(Debug)]
pub enum PoolError {
    /// Reading the content failed (the archive is damaged or truncated).
    Content(io::Error),
    /// Creating or writing a file failed (this one or an earlier one).
    Write(PathBuf, io::Error),
}

/// A new file's place, permission bits and modification time (Unix seconds).
#[derive(Debug, Clone)]
pub struct NewFile {
    pub path: PathBuf,
    pub mode: u32,
    pub mtime: Option<i64>,
}

enum Job {
    Whole(NewFile, Vec<u8>),
    Open(NewFile),
    Chunk(Vec<u8>),
    Close,
}

type Failed = Arc<Mutex<Option<(PathBuf, io::Error)>>>;

/// Writers on a few threads; see the module documentation.
#[derive(Debug)]
pub struct FilePool {
    lanes: Vec<SyncSender<Job>>,
    workers: Vec<JoinHandle<()>>,
    failed: Failed,
    next: usize,
}

fn create(file: &NewFile) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file.path)
}

fn seal(f: &fs::File, file: &NewFile) -> io::Result<()> {
    f.set_permissions(fs::Permissions::from_mode(file.mode & 0o777))?;
    if let Some(mtime) = file.mtime {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime.max(0) as u64);
        // A time the file system cannot hold is not worth failing a restore for.
        let _ = f.set_modified(t);
    }
    Ok(())
}

fn work(jobs: Receiver<Job>, failed: Failed) {
    let note = |path: &PathBuf, e: io::Error| {
        if let Ok(mut slot) = failed.lock()
            && slot.is_none()
        {
            *slot = Some((path.clone(), e));
        }
    };
    // The open file (`None` after it failed: its chunks are dropped).
    let mut open: Option<(NewFile, Option<fs::File>)> = None;
    for job in jobs {
        match job {
            Job::Whole(file, data) => {
                let r = create(&file).and_then(|mut f| {
                    f.write_all(&data)?;
                    seal(&f, &file)
                });
                if let Err(e) = r {
                    note(&file.path, e);
                }
            }
            Job::Open(file) => match create(&file) {
                Ok(f) => open = Some((file, Some(f))),
                Err(e) => {
                    note(&file.path, e);
                    open = Some((file, None));
                }
            },
            Job::Chunk(data) => {
                if let Some((file, slot @ Some(_))) = open.as_mut()
                    && let Some(Err(e)) = slot.as_mut().map(|f| f.write_all(&data))
                {
                    note(&file.path, e);
                    *slot = None;
                }
            }
            Job::Close => {
                if let Some((file, Some(f))) = open.take()
                    && let Err(e) = seal(&f, &file)
                {
                    note(&file.path, e);
                }
            }
        }
    }
}

/// The next chunk of `content` (at most [`CHUNK`] bytes; shorter only at the end), in a
/// buffer of `hint` bytes at first.
fn chunk(content: &mut dyn Read, hint: u64) -> Result<Vec<u8>, PoolError> {
    let mut buf = Vec::with_capacity(hint.min(CHUNK as u64) as usize);
    content
        .take(CHUNK as u64)
        .read_to_end(&mut buf)
        .map_err(PoolError::Content)?;
    Ok(buf)
}

impl FilePool {
    /// A pool of `threads` writers (at least one).
    pub fn new(threads: usize) -> Self {
        let failed: Failed = Arc::default();
        let mut lanes = Vec::new();
        let mut workers = Vec::new();
        for _ in 0..threads.max(1) {
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            let failed = Arc::clone(&failed);
            lanes.push(tx);
            workers.push(std::thread::spawn(move || work(rx, failed)));
        }
        Self {
            lanes,
            workers,
            failed,
            next: 0,
        }
    }

    /// A pool sized for this machine: one writer per core, two to four.
    pub fn for_machine() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4)))
    }

    fn check(&self) -> Result<(), PoolError> {
        match self.failed.lock().ok().and_then(|mut slot| slot.take()) {
            Some((path, e)) => Err(PoolError::Write(path, e)),
            None => Ok(()),
        }
    }

    fn send(&self, lane: usize, job: Job) -> Result<(), PoolError> {
        self.lanes[lane].send(job).map_err(|_| {
            self.check().err().unwrap_or_else(|| {
                PoolError::Write(PathBuf::new(), io::Error::other("a writer thread stopped"))
            })
        })
    }

    /// Reads `content` (`size` bytes are expected) to its end and has it written to a new file
    /// (never an existing one).
    ///
    /// Fails with `Content` when reading fails, or with `Write` for the first file (this one
    /// or an earlier one) that could not be created or written.
    pub fn write(
        &mut self,
        file: NewFile,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<(), PoolError> {
        self.check()?;
        let lane = self.next;
        self.next = (self.next + 1) % self.lanes.len();
        let first = chunk(content, size)?;
        if first.len() < CHUNK {
            return self.send(lane, Job::Whole(file, first));
        }
        self.send(lane, Job::Open(file))?;
        self.send(lane, Job::Chunk(first))?;
        let mut left = size.saturating_sub(CHUNK as u64);
        let result = loop {
            match chunk(content, left) {
                Ok(buf) if buf.is_empty() => break Ok(()),
                Ok(buf) => {
                    left = left.saturating_sub(buf.len() as u64);
                    self.send(lane, Job::Chunk(buf))?;
                }
                Err(e) => break Err(e),
            }
        };
        self.send(lane, Job::Close)?;
        result
    }

    /// Waits for every queued write.
    ///
    /// Fails with the first file that could not be created or written.
    pub fn finish(mut self) -> Result<(), PoolError> {
        self.stop();
        self.check()
    }

    fn stop(&mut self) {
        self.lanes.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for FilePool {
    /// Waits for the workers, so nothing writes into a tree the caller is about to remove.
    fn drop(&mut self) {
        self.stop();
    }
}
