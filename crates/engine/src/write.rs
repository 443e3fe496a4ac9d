//! Writing an archive in one pass: `manifest.json`, then every planned entry, through tar and
//! multithreaded zstd, hashed (SHA-256) on the way into the caller's sink. Nothing is held
//! whole in memory and nothing is written twice. A file whose identity, size, mtime or ctime
//! moved since it was hashed fails the write rather than producing an archive that would not
//! verify (any write to a file moves its ctime, which no user can set back).

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{EngineError, EngineResult};
use crate::hashing::HashingWriter;
use crate::manifest::{EntryKind, FORMAT, FORMAT_VERSION, MANIFEST_PATH, Manifest, PortalRef};
use crate::plan::{Origin, Plan, Stamp};
use crate::share::ArchiveSink;

/// Cancellation and progress for a running job.
pub struct Control<'a> {
    cancel: &'a AtomicBool,
    progress: &'a (dyn Fn(u64, u64) + Sync),
}

impl std::fmt::Debug for Control<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("cancel", &self.cancel)
            .finish()
    }
}

impl<'a> Control<'a> {
    /// `progress(done, total)` is called as work advances; `cancel` stops the job.
    pub fn new(cancel: &'a AtomicBool, progress: &'a (dyn Fn(u64, u64) + Sync)) -> Self {
        Self { cancel, progress }
    }

    pub fn canceled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `Err(Canceled)` once cancel was asked for.
    pub fn check(&self) -> EngineResult<()> {
        if self.canceled() {
            Err(EngineError::Canceled)
        } else {
            Ok(())
        }
    }

    pub fn report(&self, done: u64, total: u64) {
        (self.progress)(done.min(total), total.max(1));
    }
}

/// How to compress.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// zstd level (1–19); 3 is zstd's default.
    pub level: i32,
    /// zstd worker threads; 0 compresses on the calling thread.
    pub threads: u32,
    pub dsbackup_version: String,
    pub portal: Option<PortalRef>,
    pub dump: bool,
    /// The archive format to write: 2 (header, frames, index; the default) or 1 (manifest
    /// first, every file hashed beforehand).
    pub format_version: u32,
    /// Where format 2 spills its index while it is built (the system's temporary directory
    /// when `None`).
    pub spill_dir: Option<std::path::PathBuf>,
    /// A format 2 archive of an earlier backup of the same sources whose frames may be copied
    /// for entries that did not change since (`reuse.rs`).
    pub parent: Option<std::sync::Arc<dyn crate::reuse::ParentArchive>>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            level: 3,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
            dsbackup_version: env!("CARGO_PKG_VERSION").into(),
            portal: None,
            dump: false,
            format_version: crate::header::FORMAT_VERSION_2,
            spill_dir: None,
            parent: None,
        }
    }
}

/// What a finished write produced.
#[derive(Debug, Clone)]
pub struct ArchiveSummary {
    /// Upper-case hex SHA-256 of the archive bytes.
    pub sha256: String,
    /// Archive size in bytes.
    pub size: u64,
    pub entries: usize,
    /// Content bytes archived.
    pub content_bytes: u64,
    /// The manifest (format 1), or the header as a manifest without entries (format 2).
    pub manifest: Manifest,
    /// Files left out while writing (vanished or unreadable since planning).
    pub warnings: Vec<String>,
    /// What was copied from the parent archive.
    pub reuse: crate::reuse::ReuseReport,
}

fn sink_err(e: io::Error) -> EngineError {
    EngineError::Sink(e)
}

/// Streams `plan` into `sink` in the format `opts` asks for (format 1 needs a hashed plan:
/// [`crate::Planner::finish`]). Returns the sink (for the caller to commit) and a summary.
///
/// Fails with `Sink` when writing fails, `Changed` when a file changed since planning or while
/// it was read, `Source` when a planned file vanished (format 1), and `Canceled` when
/// canceled; the caller then discards the sink.
pub fn write<W: ArchiveSink>(
    plan: &Plan,
    sink: W,
    opts: &WriteOptions,
    control: &Control,
) -> EngineResult<(W, ArchiveSummary)> {
    if opts.format_version == FORMAT_VERSION {
        write_v1(plan, sink, opts, control)
    } else {
        crate::write2::write_v2(plan, sink, opts, control)
    }
}

/// Format 1: `manifest.json` first, then every entry of a hashed plan.
fn write_v1<W: Write>(
    plan: &Plan,
    sink: W,
    opts: &WriteOptions,
    control: &Control,
) -> EngineResult<(W, ArchiveSummary)> {
    if let Some((path, _)) = plan.streams().next() {
        return Err(EngineError::Source {
            name: path.to_string(),
            path: path.into(),
            message: "database sources need archive format 2".into(),
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        dsbackup_version: opts.dsbackup_version.clone(),
        portal: opts.portal.clone(),
        dump: opts.dump,
        created_on: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        sources: plan.sources.clone(),
        entries: plan
            .entries()
            .map(|p| p.map(|p| p.entry))
            .collect::<EngineResult<_>>()?,
    };
    let manifest_bytes =
        serde_json::to_vec_pretty(&manifest).map_err(|e| EngineError::Corrupt(e.to_string()))?;

    let hashed = HashingWriter::new(sink);
    let mut enc = zstd::stream::Encoder::new(hashed, opts.level).map_err(sink_err)?;
    if opts.threads > 0 {
        enc.multithread(opts.threads).map_err(sink_err)?;
        // Small jobs keep memory low and flat (zstd holds several jobs per worker in flight).
        enc.set_parameter(zstd::stream::raw::CParameter::JobSize(2 << 20))
            .map_err(sink_err)?;
    }
    enc.include_checksum(true).map_err(sink_err)?;
    // Large writes into zstd: tar copies in small pieces, and each call into the encoder costs.
    let mut tar = tar::Builder::new(io::BufWriter::with_capacity(1 << 20, enc));
    tar.mode(tar::HeaderMode::Complete);

    let mtime = chrono::Utc::now().timestamp().max(0) as u64;
    let mut h = header_for(
        tar::EntryType::Regular,
        manifest_bytes.len() as u64,
        0o600,
        mtime,
    );
    tar.append_data(&mut h, MANIFEST_PATH, manifest_bytes.as_slice())
        .map_err(sink_err)?;

    let content_bytes = plan.total_bytes();
    let total = content_bytes * 2;
    let mut done = content_bytes;
    for p in plan.entries() {
        control.check()?;
        let p = p?;
        let e = &p.entry;
        let mtime = e.mtime.max(0) as u64;
        match e.kind {
            EntryKind::Dir => {
                let mut h = header_for(tar::EntryType::Directory, 0, e.mode, mtime);
                tar.append_data(&mut h, &e.path, io::empty())
                    .map_err(sink_err)?;
            }
            EntryKind::Symlink => {
                let mut h = header_for(tar::EntryType::Symlink, 0, e.mode, mtime);
                let target = e.target.as_deref().unwrap_or_default();
                tar.append_link(&mut h, &e.path, target).map_err(sink_err)?;
            }
            EntryKind::File => {
                let mut h = header_for(tar::EntryType::Regular, e.size, e.mode, mtime);
                let mut append = |reader: &mut dyn Read, done: &mut u64| -> EngineResult<u64> {
                    let mut counted = Progressing {
                        inner: reader,
                        count: 0,
                        control,
                        done,
                        total,
                    };
                    tar.append_data(&mut h, &e.path, &mut counted)
                        .map_err(|err| {
                            if control.canceled() {
                                EngineError::Canceled
                            } else {
                                sink_err(err)
                            }
                        })?;
                    Ok(counted.count)
                };
                match &p.origin {
                    Origin::Disk(path) => {
                        let file =
                            std::fs::File::open(path).map_err(|err| EngineError::Source {
                                name: e.path.clone(),
                                path: path.clone(),
                                message: err.to_string(),
                            })?;
                        // Unchanged since it was hashed: same identity, size, mtime and ctime
                        // (any write moves ctime), checked before and after streaming.
                        let same = |f: &std::fs::File| {
                            Stamp::of(f).ok().is_some_and(|s| Some(s) == p.stamp)
                        };
                        if !same(&file) {
                            return Err(EngineError::Changed {
                                path: e.path.clone(),
                            });
                        }
                        let count = append(&mut (&file).take(e.size), &mut done)?;
                        if count != e.size || !same(&file) {
                            return Err(EngineError::Changed {
                                path: e.path.clone(),
                            });
                        }
                    }
                    Origin::Inline(bytes) => {
                        append(&mut bytes.as_slice(), &mut done)?;
                    }
                    Origin::Nothing | Origin::Stream(_) => {
                        append(&mut io::empty(), &mut done)?;
                    }
                }
            }
        }
    }
    let enc = tar
        .into_inner()
        .map_err(sink_err)?
        .into_inner()
        .map_err(|e| sink_err(e.into_error()))?;
    let hashed = enc.finish().map_err(sink_err)?;
    let (mut sink, sha256, size) = hashed.finish();
    sink.flush().map_err(sink_err)?;
    control.report(total, total);
    Ok((
        sink,
        ArchiveSummary {
            sha256,
            size,
            entries: plan.len() + 1,
            content_bytes,
            manifest,
            warnings: Vec::new(),
            reuse: Default::default(),
        },
    ))
}

pub(crate) fn header_for(kind: tar::EntryType, size: u64, mode: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Counts, reports progress and honours cancel while tar copies a file.
pub(crate) struct Progressing<'a, 'c> {
    inner: &'a mut dyn Read,
    count: u64,
    control: &'a Control<'c>,
    done: &'a mut u64,
    total: u64,
}

impl Read for Progressing<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.control.canceled() {
            return Err(io::Error::other("canceled"));
        }
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        let before = *self.done;
        *self.done += n as u64;
        if before >> 20 != *self.done >> 20 {
            self.control.report(*self.done, self.total);
        }
        Ok(n)
    }
}
