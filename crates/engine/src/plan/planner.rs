//! Building a [`Plan`]: catalog rows, streamed sources and directory trees walked by metadata
//! (sorted, symlinks recorded and never followed), each entry appended to the plan's spill
//! file as it is found. What stays in memory is bounded by directories, not files: the names
//! of the directory being walked, a 16-byte key per planned directory (so parents are never
//! planned twice), and the links (checked together once all are known).

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::hash::hash_all;
use super::spill::{Content, Record, SpillWriter};
use super::{Origin, Plan, Store, Streamed, escaping_links, spill_err};
use crate::error::{EngineError, EngineResult};
use crate::index::Ident;
use crate::manifest::{EntryKind, SourceInfo, is_safe_path};
use crate::write::Control;

/// Builds a [`Plan`].
#[derive(Debug, Default)]
pub struct Planner {
    dir: Option<PathBuf>,
    spill: Option<SpillWriter>,
    dirs: HashSet<u128>,
    links: Vec<(String, String)>,
    roots: Vec<(PathBuf, String)>,
    inline: Vec<(Arc<Vec<u8>>, String)>,
    streams: Vec<(String, Arc<dyn Streamed>)>,
    total: u64,
    sources: Vec<SourceInfo>,
    warnings: Vec<String>,
}

/// The identity of a walked file or link (`lstat`).
fn ident_of(meta: &fs::Metadata) -> Ident {
    Ident {
        dev: meta.dev(),
        ino: meta.ino(),
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
        ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn path_key(path: &str) -> u128 {
    let h = blake3::hash(path.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    u128::from_le_bytes(b)
}

fn unsafe_path(path: &str) -> EngineError {
    EngineError::Corrupt(format!("unsafe archive path {path:?}"))
}

impl Planner {
    /// A planner spilling to the system's temporary directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A planner spilling its entries to a private temporary file in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            dir: Some(dir.to_path_buf()),
            ..Self::default()
        }
    }

    fn push(&mut self, r: Record) -> EngineResult<()> {
        if self.spill.is_none() {
            self.spill = Some(SpillWriter::new(self.dir.as_deref()).map_err(spill_err)?);
        }
        match r.kind {
            EntryKind::Dir => {
                self.dirs.insert(path_key(&r.path));
            }
            EntryKind::Symlink => self
                .links
                .push((r.path.clone(), r.target.clone().unwrap_or_default())),
            EntryKind::File => self.total += r.size,
        }
        match self.spill.as_mut() {
            Some(spill) => spill.push(&r).map_err(spill_err),
            None => Ok(()),
        }
    }

    /// Adds in-memory content at `path` (e.g. `catalog/users.jsonl`), with its parents.
    ///
    /// Fails with `Corrupt` for an unsafe path (a bug in the caller), with `Sink` when the
    /// plan's temporary file cannot be written.
    pub fn add_inline(&mut self, path: &str, bytes: Vec<u8>) -> EngineResult<()> {
        if !is_safe_path(path) {
            return Err(unsafe_path(path));
        }
        self.add_parents(path)?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        let size = bytes.len() as u64;
        self.inline.push((Arc::new(bytes), hash));
        self.push(Record {
            kind: EntryKind::File,
            content: Content::Inline(self.inline.len() as u32 - 1),
            path: path.to_string(),
            size,
            mode: 0o600,
            mtime: now_secs(),
            target: None,
            ident: None,
        })
    }

    /// Adds content produced while the archive is written (a database dump) under archive
    /// directory `prefix`, recorded as source `name` of `kind` (`origin` must carry no secret).
    ///
    /// Fails like [`Planner::add_inline`].
    pub fn add_stream(
        &mut self,
        name: &str,
        kind: &str,
        origin: &str,
        prefix: &str,
        source: Arc<dyn Streamed>,
    ) -> EngineResult<()> {
        if !is_safe_path(prefix) {
            return Err(unsafe_path(prefix));
        }
        self.add_parents(prefix)?;
        self.sources.push(SourceInfo {
            name: name.into(),
            kind: kind.into(),
            origin: origin.into(),
            prefix: prefix.into(),
            version: None,
        });
        self.streams.push((prefix.to_string(), source));
        self.push(Record {
            kind: EntryKind::Dir,
            content: Content::Stream(self.streams.len() as u32 - 1),
            path: prefix.to_string(),
            size: 0,
            mode: 0o700,
            mtime: now_secs(),
            target: None,
            ident: None,
        })
    }

    fn add_dir(&mut self, path: &str, mode: u32, mtime: i64) -> EngineResult<()> {
        if self.dirs.contains(&path_key(path)) {
            return Ok(());
        }
        self.push(Record {
            kind: EntryKind::Dir,
            content: Content::Nothing,
            path: path.to_string(),
            size: 0,
            mode,
            mtime,
            target: None,
            ident: None,
        })
    }

    fn add_parents(&mut self, path: &str) -> EngineResult<()> {
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            self.add_dir(&path[..at + i], 0o755, now_secs())?;
            at += i + 1;
        }
        Ok(())
    }

    /// Adds a directory tree under archive directory `prefix`.
    ///
    /// Fails with `Source` when `root` is missing or not a directory (problems below the root
    /// become warnings), with `Sink` when the plan's temporary file cannot be written.
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
        let failed = |message: String| EngineError::Source {
            name: name.into(),
            path: root.into(),
            message,
        };
        let meta = fs::metadata(root).map_err(|e| failed(e.to_string()))?;
        if !meta.is_dir() {
            return Err(failed("not a directory".into()));
        }
        if !is_safe_path(prefix) {
            return Err(unsafe_path(prefix));
        }
        self.add_parents(prefix)?;
        self.add_dir(prefix, meta.permissions().mode() & 0o7777, meta.mtime())?;
        self.sources.push(SourceInfo {
            name: name.into(),
            kind: kind.into(),
            origin: root.display().to_string(),
            prefix: prefix.into(),
            version: None,
        });
        self.roots.push((root.to_path_buf(), prefix.to_string()));
        let at = self.roots.len() as u32 - 1;
        self.walk(root, prefix, at, keep)
    }

    fn walk(
        &mut self,
        dir: &Path,
        prefix: &str,
        at: u32,
        keep: &dyn Fn(&Path) -> bool,
    ) -> EngineResult<()> {
        // Names only (not `DirEntry`s): a directory of a million files costs its names.
        let mut names: Vec<std::ffi::OsString> = match fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(Result::ok).map(|e| e.file_name()).collect(),
            Err(e) => {
                self.warnings.push(format!("{}: {e}", dir.display()));
                return Ok(());
            }
        };
        names.sort_unstable();
        for name in names {
            let path = dir.join(&name);
            if !keep(&path) {
                continue;
            }
            let Some(name) = name.to_str() else {
                self.warnings
                    .push(format!("{}: name is not UTF-8, skipped", path.display()));
                continue;
            };
            let archive_path = format!("{prefix}/{name}");
            if !is_safe_path(&archive_path) {
                self.warnings
                    .push(format!("{}: unusable name, skipped", path.display()));
                continue;
            }
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) => {
                    self.warnings.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            let ft = meta.file_type();
            let mut record = Record {
                kind: EntryKind::File,
                content: Content::Nothing,
                path: archive_path,
                size: 0,
                mode: meta.permissions().mode() & 0o7777,
                mtime: meta.mtime(),
                target: None,
                ident: (ft.is_file() || ft.is_symlink()).then(|| ident_of(&meta)),
            };
            if ft.is_symlink() {
                let root = &self.roots[at as usize].1;
                match fs::read_link(&path).map(|t| t.to_str().map(str::to_string)) {
                    Ok(Some(t))
                        if !crate::layout::link_stays_inside(
                            root,
                            &record.path,
                            &t,
                            &Default::default(),
                        ) =>
                    {
                        self.warnings.push(format!(
                            "{}: link to {t:?} points outside the source, skipped",
                            path.display()
                        ));
                    }
                    Ok(Some(t)) => {
                        record.kind = EntryKind::Symlink;
                        record.target = Some(t);
                        self.push(record)?;
                    }
                    _ => self
                        .warnings
                        .push(format!("{}: unreadable link, skipped", path.display())),
                }
            } else if ft.is_dir() {
                record.kind = EntryKind::Dir;
                let sub = record.path.clone();
                self.push(record)?;
                self.walk(&path, &sub, at, keep)?;
            } else if ft.is_file() {
                record.size = meta.len();
                record.content = Content::Disk(at);
                self.push(record)?;
            } else {
                self.warnings
                    .push(format!("{}: not a regular file, skipped", path.display()));
            }
        }
        Ok(())
    }

    /// The plan for a format 2 archive: nothing is read ahead (the writer hashes as it
    /// streams); links that would leave their source are dropped with a warning.
    ///
    /// Fails with `Sink` when the plan's temporary file cannot be written.
    pub fn finish_unhashed(self) -> EngineResult<Plan> {
        let mut warnings = self.warnings;
        let dropped = escaping_links(&self.links, &self.sources, &mut warnings);
        let store = match self.spill {
            Some(spill) => Store::Spilled(spill.finish().map_err(spill_err)?),
            None => Store::Memory(Vec::new()),
        };
        Ok(Plan {
            store,
            roots: self.roots,
            inline: self.inline,
            streams: self.streams,
            dropped,
            total: self.total,
            sources: self.sources,
            warnings,
        })
    }

    /// The plan for a format 1 archive: hashes every file (BLAKE3), fixing sizes to what was
    /// read and leaving out files that cannot be read. Progress counts hashed bytes. The
    /// entries are then held in memory (format 1's manifest lists them all anyway).
    ///
    /// Fails with `Canceled`, or with `Sink` when the plan's temporary file fails.
    pub fn finish(self, control: &Control) -> EngineResult<Plan> {
        let mut plan = self.finish_unhashed()?;
        let entries = plan.entries().collect::<EngineResult<Vec<_>>>()?;
        let total = plan.total * 2;
        let files: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(p.origin, Origin::Disk(_)))
            .map(|(i, _)| i)
            .collect();
        let results = hash_all(&entries, &files, control, total);
        control.check()?;
        let mut outcome: Vec<Option<Result<_, std::io::Error>>> =
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
                        plan.warnings.push(format!("{}: {e}", path.display()));
                    }
                    continue;
                }
                None => {}
            }
            keep.push(p);
        }
        plan.total = keep.iter().map(|p| p.entry.size).sum();
        plan.store = Store::Memory(keep);
        plan.dropped.clear();
        Ok(plan)
    }
}
