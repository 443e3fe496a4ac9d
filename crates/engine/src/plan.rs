//! Planning a backup: walk the sources (metadata only; `plan/planner.rs`), and for format 1 hash
//! every file once (`plan/hash.rs`). Files that cannot be read, special files and non-UTF-8
//! names are left out and named in `warnings` rather than failing silently. Symlinks are
//! recorded as links, never followed. The entries are spilled to a private temporary file as
//! they are found (`plan/spill.rs`) and read back one at a time with [`Plan::entries`], so a
//! plan of a million files holds a few bytes per directory in memory, not a few hundred per
//! entry.

mod hash;
mod planner;
mod spill;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{EngineError, EngineResult};
use crate::manifest::{Entry, EntryKind, SourceInfo};
pub use planner::Planner;
use spill::{Content, Record, SpillReader, Spilled};

/// Where an entry's content comes from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Directories and symlinks carry no content.
    Nothing,
    /// A file on disk.
    Disk(PathBuf),
    /// Bytes built in memory (catalog rows).
    Inline(Arc<Vec<u8>>),
    /// Content produced while the archive is written (a database dump), archived under the
    /// entry's directory as consecutive parts and an info file (format 2 only).
    Stream(Arc<dyn Streamed>),
}

/// Content of unknown length produced while the archive is written, read exactly once.
pub trait Streamed: Send + Sync + std::fmt::Debug {
    /// Starts producing (e.g. runs the dump tool).
    ///
    /// Fails when the producer cannot start; the backup then fails with the message.
    fn open(&self) -> std::io::Result<Box<dyn StreamReader>>;
}

/// A running producer: its content, then what it reports once the content has ended.
pub trait StreamReader: Read + Send {
    /// Called after the content ended: checks the producer succeeded and returns the info
    /// document archived after the parts.
    ///
    /// Fails when the producer failed; the backup then fails with the message.
    fn finish(self: Box<Self>) -> std::io::Result<Vec<u8>>;

    /// What produced the content (e.g. server and tool versions), for the archive's header;
    /// never a secret.
    fn version(&self) -> Option<String> {
        None
    }
}

/// An entry and where to read it from.
#[derive(Debug, Clone)]
pub struct Planned {
    pub entry: Entry,
    pub origin: Origin,
    /// What the file looked like when it was hashed; the writer checks it is unchanged.
    pub stamp: Option<Stamp>,
    /// A file's or link's identity when it was walked (format 2: compared with a parent
    /// archive's to copy its frames).
    pub seen: Option<crate::index::Ident>,
}

/// A file's identity and change markers (`fstat`): any write changes `ctime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl Stamp {
    /// Its identity as an archive's index records it.
    pub fn ident(&self) -> crate::index::Ident {
        crate::index::Ident {
            dev: self.dev,
            ino: self.ino,
            mtime_ns: self.mtime_ns as i64,
            ctime_ns: self.ctime_ns as i64,
        }
    }

    /// The stamp of an open file.
    pub fn of(file: &fs::File) -> std::io::Result<Self> {
        let m = file.metadata()?;
        Ok(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ctime_ns: i128::from(m.ctime()) * 1_000_000_000 + i128::from(m.ctime_nsec()),
        })
    }
}

/// A planned backup: every entry in archive order, the sources, and what was left out.
#[derive(Debug)]
pub struct Plan {
    store: Store,
    /// Walked trees: the root on disk and the archive directory it goes to.
    roots: Vec<(PathBuf, String)>,
    /// In-memory contents and their BLAKE3 (hex).
    inline: Vec<(Arc<Vec<u8>>, String)>,
    /// Streamed sources by archive directory.
    streams: Vec<(String, Arc<dyn Streamed>)>,
    /// Links left out after planning (they leave their source through other links).
    dropped: HashSet<String>,
    total: u64,
    pub sources: Vec<SourceInfo>,
    pub warnings: Vec<String>,
}

#[derive(Debug)]
enum Store {
    Spilled(Spilled),
    /// Format 1's hashed entries (its manifest holds them all anyway).
    Memory(Vec<Planned>),
}

fn spill_err(e: std::io::Error) -> EngineError {
    EngineError::Sink(std::io::Error::new(
        e.kind(),
        format!("the plan's temporary file: {e}"),
    ))
}

impl Plan {
    /// Total content bytes (streamed sources not included: their size is unknown).
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Spilled(s) => s.count as usize - self.dropped.len(),
            Store::Memory(v) => v.len(),
        }
    }

    /// Whether the plan holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The streamed sources, by the archive directory they go to.
    pub fn streams(&self) -> impl Iterator<Item = (&str, &Arc<dyn Streamed>)> {
        self.streams.iter().map(|(p, s)| (p.as_str(), s))
    }

    /// Every entry in archive order, read back one at a time.
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            plan: self,
            inner: match &self.store {
                Store::Spilled(s) => Inner::Spilled(s.reader()),
                Store::Memory(v) => Inner::Memory(v.iter()),
            },
        }
    }

    fn planned(&self, r: Record) -> EngineResult<Planned> {
        let missing = || EngineError::Corrupt(format!("{}: planned content is missing", r.path));
        let mut blake3 = None;
        let origin = match r.content {
            Content::Nothing => Origin::Nothing,
            Content::Disk(i) => {
                let (root, prefix) = self.roots.get(i as usize).ok_or_else(missing)?;
                let rel = r
                    .path
                    .strip_prefix(prefix.as_str())
                    .and_then(|rest| rest.strip_prefix('/'))
                    .ok_or_else(missing)?;
                Origin::Disk(root.join(rel))
            }
            Content::Inline(i) => {
                let (bytes, hash) = self.inline.get(i as usize).ok_or_else(missing)?;
                blake3 = Some(hash.clone());
                Origin::Inline(Arc::clone(bytes))
            }
            Content::Stream(i) => Origin::Stream(Arc::clone(
                &self.streams.get(i as usize).ok_or_else(missing)?.1,
            )),
        };
        Ok(Planned {
            entry: Entry {
                path: r.path,
                kind: r.kind,
                size: r.size,
                mode: r.mode,
                mtime: r.mtime,
                blake3,
                target: r.target,
            },
            origin,
            stamp: None,
            seen: r.ident,
        })
    }
}

/// The entries of a [`Plan`], in archive order.
pub struct Entries<'a> {
    plan: &'a Plan,
    inner: Inner<'a>,
}

impl std::fmt::Debug for Entries<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entries").finish_non_exhaustive()
    }
}

enum Inner<'a> {
    Spilled(SpillReader<'a>),
    Memory(std::slice::Iter<'a, Planned>),
}

impl Iterator for Entries<'_> {
    /// An entry, or the failure to read the plan's temporary file.
    type Item = EngineResult<Planned>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let record = match &mut self.inner {
                Inner::Memory(it) => return it.next().cloned().map(Ok),
                Inner::Spilled(r) => match r.next_record() {
                    Ok(None) => return None,
                    Err(e) => return Some(Err(spill_err(e))),
                    Ok(Some(rec)) => rec,
                },
            };
            if record.kind == EntryKind::Symlink && self.plan.dropped.contains(&record.path) {
                continue;
            }
            return Some(self.plan.planned(record));
        }
    }
}

/// The links that leave their source once other links are followed (each was checked alone
/// while walking), found until none does: the reader refuses archives holding such a link.
fn escaping_links(
    links: &[(String, String)],
    sources: &[SourceInfo],
    warnings: &mut Vec<String>,
) -> HashSet<String> {
    let mut dropped: HashSet<String> = HashSet::new();
    loop {
        let live: HashMap<&str, &str> = links
            .iter()
            .filter(|(p, _)| !dropped.contains(p))
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let escaping: Vec<String> = live
            .iter()
            .filter(|(path, target)| {
                !sources.iter().any(|s| {
                    s.kind != "documents"
                        && crate::layout::link_stays_inside(&s.prefix, path, target, &live)
                })
            })
            .map(|(path, _)| path.to_string())
            .collect();
        if escaping.is_empty() {
            return dropped;
        }
        for path in escaping {
            warnings.push(format!("{path}: link leads outside the source, skipped"));
            dropped.insert(path);
        }
    }
}
