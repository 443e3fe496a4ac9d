//! Planning a backup: walk the sources (metadata only), then hash every file once. The plan
//! becomes the manifest; files that cannot be read, special files and non-UTF-8 names are left
//! out and named in `warnings` rather than failing silently. Symlinks are recorded as links,
//! never followed.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{EngineError, EngineResult};
use crate::manifest::{Entry, EntryKind, SourceInfo, is_safe_path};
use crate::write::Control;

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
#[derive(Debug, Default, Clone)]
pub struct Plan {
    pub entries: Vec<Planned>,
    pub sources: Vec<SourceInfo>,
    pub warnings: Vec<String>,
}

impl Plan {
    /// Total content bytes.
    pub fn total_bytes(&self) -> u64 {
        self.entries.iter().map(|p| p.entry.size).sum()
    }
}

/// Builds a [`Plan`].
#[derive(Debug, Default)]
pub struct Planner {
    plan: Plan,
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Planner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds in-memory content at `path` (e.g. `catalog/users.jsonl`), with its parents.
    ///
    /// Fails with `Corrupt` for an unsafe path (a bug in the caller).
    pub fn add_inline(&mut self, path: &str, bytes: Vec<u8>) -> EngineResult<()> {
        if !is_safe_path(path) {
            return Err(EngineError::Corrupt(format!(
                "unsafe archive path {path:?}"
            )));
        }
        self.add_parents(path);
        self.plan.entries.push(Planned {
            entry: Entry {
                path: path.to_string(),
                kind: EntryKind::File,
                size: bytes.len() as u64,
                mode: 0o600,
                mtime: now_secs(),
                blake3: Some(blake3::hash(&bytes).to_hex().to_string()),
                target: None,
            },
            origin: Origin::Inline(Arc::new(bytes)),
            stamp: None,
        });
        Ok(())
    }

    /// Adds content produced while the archive is written (a database dump) under archive
    /// directory `prefix`, recorded as source `name` of `kind` (`origin` must carry no secret).
    pub fn add_stream(
        &mut self,
        name: &str,
        kind: &str,
        origin: &str,
        prefix: &str,
        source: Arc<dyn Streamed>,
    ) -> EngineResult<()> {
        if !is_safe_path(prefix) {
            return Err(EngineError::Corrupt(format!(
                "unsafe archive path {prefix:?}"
            )));
        }
        self.add_parents(prefix);
        self.plan.sources.push(SourceInfo {
            name: name.into(),
            kind: kind.into(),
            origin: origin.into(),
            prefix: prefix.into(),
            version: None,
        });
        self.plan.entries.push(Planned {
            entry: Entry {
                path: prefix.to_string(),
                kind: EntryKind::Dir,
                size: 0,
                mode: 0o700,
                mtime: now_secs(),
                blake3: None,
                target: None,
            },
            origin: Origin::Stream(source),
            stamp: None,
        });
        Ok(())
    }

    fn add_dir(&mut self, path: &str, mode: u32, mtime: i64) {
        if self.plan.entries.iter().any(|p| p.entry.path == path) {
            return;
        }
        self.plan.entries.push(Planned {
            entry: Entry {
                path: path.to_string(),
                kind: EntryKind::Dir,
                size: 0,
                mode,
                mtime,
                blake3: None,
                target: None,
            },
            origin: Origin::Nothing,
            stamp: None,
        });
    }

    fn add_parents(&mut self, path: &str) {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let dir = &path[..at + i];
            self.add_dir(dir, 0o755, now_secs());
            at += i + 1;
        }
    }

    /// Adds a directory tree under archive directory `prefix`.
    ///
    /// Fails with `Source` when `root` is missing or not a directory; problems below the root
    /// become warnings.
    pub fn add_tree(
        &mut self,
        name: &str,
        kind: &str,
        root: &Path,
        prefix: &str,
    ) -> EngineResult<()> {
        self.add_tree_filtered(name, kind, root, prefix, &|_| true)
    }

    /// Like [`Planner::add_tree`], leaving out every path below the root for which `keep` is
    /// false (and, for directories, everything under them).
    pub fn add_tree_filtered(
        &mut self,
        name: &str,
        kind: &str,
        root: &Path,
        prefix: &str,
        keep: &dyn Fn(&Path) -> bool,
    ) -> EngineResult<()> {
        let meta = fs::metadata(root).map_err(|e| EngineError::Source {
            name: name.into(),
            path: root.into(),
            message: e.to_string(),
        })?;
        if !meta.is_dir() {
            return Err(EngineError::Source {
                name: name.into(),
                path: root.into(),
                message: "not a directory".into(),
            });
        }
        self.add_parents(prefix);
        self.add_dir(prefix, meta.permissions().mode() & 0o7777, meta.mtime());
        self.plan.sources.push(SourceInfo {
            name: name.into(),
            kind: kind.into(),
            origin: root.display().to_string(),
            prefix: prefix.into(),
            version: None,
        });
        self.walk(root, prefix, prefix, keep)
    }

    fn walk(
        &mut self,
        dir: &Path,
        prefix: &str,
        root: &str,
        keep: &dyn Fn(&Path) -> bool,
    ) -> EngineResult<()> {
        let mut children: Vec<_> = match fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(Result::ok).collect(),
            Err(e) => {
                self.plan.warnings.push(format!("{}: {e}", dir.display()));
                return Ok(());
            }
        };
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let path = child.path();
            if !keep(&path) {
                continue;
            }
            let Some(name) = child.file_name().to_str().map(str::to_string) else {
                self.plan
                    .warnings
                    .push(format!("{}: name is not UTF-8, skipped", path.display()));
                continue;
            };
            let archive_path = format!("{prefix}/{name}");
            if !is_safe_path(&archive_path) {
                self.plan
                    .warnings
                    .push(format!("{}: unusable name, skipped", path.display()));
                continue;
            }
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.plan.warnings.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            let mode = meta.permissions().mode() & 0o7777;
            let ft = meta.file_type();
            let mut entry = Entry {
                path: archive_path.clone(),
                kind: EntryKind::File,
                size: 0,
                mode,
                mtime: meta.mtime(),
                blake3: None,
                target: None,
            };
            if ft.is_symlink() {
                match fs::read_link(&path).map(|t| t.to_str().map(str::to_string)) {
                    Ok(Some(t))
                        if !crate::layout::link_stays_inside(
                            root,
                            &archive_path,
                            &t,
                            &Default::default(),
                        ) =>
                    {
                        self.plan.warnings.push(format!(
                            "{}: link to {t:?} points outside the source, skipped",
                            path.display()
                        ));
                    }
                    Ok(Some(t)) => {
                        entry.kind = EntryKind::Symlink;
                        entry.target = Some(t);
                        self.plan.entries.push(Planned {
                            entry,
                            origin: Origin::Nothing,
                            stamp: None,
                        });
                    }
                    _ => self
                        .plan
                        .warnings
                        .push(format!("{}: unreadable link, skipped", path.display())),
                }
            } else if ft.is_dir() {
                entry.kind = EntryKind::Dir;
                self.plan.entries.push(Planned {
                    entry,
                    origin: Origin::Nothing,
                    stamp: None,
                });
                self.walk(&path, &archive_path, root, keep)?;
            } else if ft.is_file() {
                entry.size = meta.len();
                self.plan.entries.push(Planned {
                    entry,
                    origin: Origin::Disk(path),
                    stamp: None,
                });
            } else {
                self.plan
                    .warnings
                    .push(format!("{}: not a regular file, skipped", path.display()));
            }
        }
        Ok(())
    }

    /// The plan for a format 2 archive: nothing is read ahead (the writer hashes as it
    /// streams); links that would leave their source are dropped with a warning.
    pub fn finish_unhashed(mut self) -> Plan {
        let mut warnings = std::mem::take(&mut self.plan.warnings);
        drop_escaping_links(&mut self.plan, &mut warnings);
        self.plan.warnings = warnings;
        self.plan
    }

    /// The plan for a format 1 archive: hashes every file (BLAKE3), fixing sizes to what was
    /// read and leaving out files that cannot be read. Progress counts hashed bytes.
    ///
    /// Fails only with `Canceled`.
    pub fn finish(mut self, control: &Control) -> EngineResult<Plan> {
        let mut warnings = std::mem::take(&mut self.plan.warnings);
        drop_escaping_links(&mut self.plan, &mut warnings);
        let total = self.plan.total_bytes() * 2;
        let entries = std::mem::take(&mut self.plan.entries);
        let files: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p.origin, Origin::Disk(_)))
            .map(|(i, _)| i)
            .collect();
        let results = hash_all(&entries, &files, control, total);
        control.check()?;
        let mut outcome: Vec<Option<Result<Hashed, std::io::Error>>> =
            (0..entries.len()).map(|_| None).collect();
        for (i, r) in files.iter().zip(results) {
            outcome[*i] = Some(r);
        }
        let mut keep = Vec::with_capacity(entries.len());
        for (mut p, result) in entries.into_iter().zip(outcome) {
            match result {
                Some(Ok(h)) => {
                    p.entry.size = h.stamp.size;
                    p.entry.blake3 = Some(h.blake3);
                    p.stamp = Some(h.stamp);
                }
                Some(Err(e)) => {
                    if let Origin::Disk(path) = &p.origin {
                        warnings.push(format!("{}: {e}", path.display()));
                    }
                    continue;
                }
                None => {}
            }
            keep.push(p);
        }
        Ok(Plan {
            entries: keep,
            sources: self.plan.sources,
            warnings,
        })
    }
}

/// Hashes the files at `files` (indices into `entries`) on up to one thread per core; results
/// in the same order. Stops early (with partial results) when canceled.
fn hash_all(
    entries: &[Planned],
    files: &[usize],
    control: &Control,
    total: u64,
) -> Vec<Result<Hashed, std::io::Error>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let slots: Vec<Mutex<Option<Result<Hashed, std::io::Error>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= files.len() || control.canceled() {
                        break;
                    }
                    if let Origin::Disk(path) = &entries[files[k]].origin {
                        let r = hash_file(path, &mut buf, control, &done, total);
                        if let Ok(mut slot) = slots[k].lock() {
                            *slot = Some(r);
                        }
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(std::io::Error::other("not hashed")))
        })
        .collect()
}

/// A file's hash and the stamp it had while being hashed.
struct Hashed {
    blake3: String,
    stamp: Stamp,
}

/// Hashes a file; a file that changes while it is read is read again (up to three times).
fn hash_file(
    path: &Path,
    buf: &mut [u8],
    control: &Control,
    done: &AtomicU64,
    total: u64,
) -> Result<Hashed, std::io::Error> {
    for _ in 0..3 {
        let mut file = fs::File::open(path)?;
        let before = Stamp::of(&file)?;
        let mut hasher = blake3::Hasher::new();
        let mut count = 0u64;
        loop {
            if control.canceled() {
                return Err(std::io::Error::other("canceled"));
            }
            let n = file.read(buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            count += n as u64;
            let was = done.fetch_add(n as u64, Ordering::Relaxed);
            if was >> 20 != (was + n as u64) >> 20 {
                control.report(was + n as u64, total);
            }
        }
        let after = Stamp::of(&file)?;
        if before == after && count == after.size {
            return Ok(Hashed {
                blake3: hasher.finalize().to_hex().to_string(),
                stamp: after,
            });
        }
    }
    Err(std::io::Error::other("keeps changing while being read"))
}

/// Drops links that leave their source once other links are followed (each was checked alone
/// while walking), until none does: the reader refuses archives holding such a link.
fn drop_escaping_links(plan: &mut Plan, warnings: &mut Vec<String>) {
    loop {
        let links: HashMap<&str, &str> = plan
            .entries
            .iter()
            .filter(|p| p.entry.kind == EntryKind::Symlink)
            .map(|p| {
                (
                    p.entry.path.as_str(),
                    p.entry.target.as_deref().unwrap_or(""),
                )
            })
            .collect();
        let escaping: HashSet<String> = links
            .iter()
            .filter(|(path, target)| {
                !plan.sources.iter().any(|s| {
                    s.kind != "documents"
                        && crate::layout::link_stays_inside(&s.prefix, path, target, &links)
                })
            })
            .map(|(path, _)| path.to_string())
            .collect();
        if escaping.is_empty() {
            return;
        }
        for path in &escaping {
            warnings.push(format!("{path}: link leads outside the source, skipped"));
        }
        plan.entries.retain(|p| !escaping.contains(&p.entry.path));
    }
}
