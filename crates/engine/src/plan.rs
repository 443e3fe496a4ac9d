//! Planning a backup: walk the sources (metadata only), then hash every file once. The plan
//! becomes the manifest; files that cannot be read, special files and non-UTF-8 names are left
//! out and named in `warnings` rather than failing silently. Symlinks are recorded as links,
//! never followed.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{EngineError, EngineResult};
use crate::hashing::Blake3Reader;
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
}

/// An entry and where to read it from.
#[derive(Debug, Clone)]
pub struct Planned {
    pub entry: Entry,
    pub origin: Origin,
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
        });
        self.walk(root, prefix, keep)
    }

    fn walk(&mut self, dir: &Path, prefix: &str, keep: &dyn Fn(&Path) -> bool) -> EngineResult<()> {
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
                    Ok(Some(t)) => {
                        entry.kind = EntryKind::Symlink;
                        entry.target = Some(t);
                        self.plan.entries.push(Planned {
                            entry,
                            origin: Origin::Nothing,
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
                });
                self.walk(&path, &archive_path, keep)?;
            } else if ft.is_file() {
                entry.size = meta.len();
                self.plan.entries.push(Planned {
                    entry,
                    origin: Origin::Disk(path),
                });
            } else {
                self.plan
                    .warnings
                    .push(format!("{}: not a regular file, skipped", path.display()));
            }
        }
        Ok(())
    }

    /// Hashes every file (BLAKE3), fixing sizes to what was read and leaving out files that
    /// cannot be read. Progress counts hashed bytes.
    ///
    /// Fails only with `Canceled`.
    pub fn finish(mut self, control: &Control) -> EngineResult<Plan> {
        let total = self.plan.total_bytes() * 2;
        let mut done = 0u64;
        let mut keep = Vec::with_capacity(self.plan.entries.len());
        let mut warnings = std::mem::take(&mut self.plan.warnings);
        for mut p in std::mem::take(&mut self.plan.entries) {
            control.check()?;
            if let Origin::Disk(path) = &p.origin {
                match hash_file(path, control, &mut done, total) {
                    Ok((size, hash)) => {
                        p.entry.size = size;
                        p.entry.blake3 = Some(hash);
                    }
                    Err(HashFail::Canceled) => return Err(EngineError::Canceled),
                    Err(HashFail::Io(e)) => {
                        warnings.push(format!("{}: {e}", path.display()));
                        continue;
                    }
                }
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

enum HashFail {
    Canceled,
    Io(std::io::Error),
}

fn hash_file(
    path: &Path,
    control: &Control,
    done: &mut u64,
    total: u64,
) -> Result<(u64, String), HashFail> {
    let file = fs::File::open(path).map_err(HashFail::Io)?;
    let mut r = Blake3Reader {
        inner: file,
        hasher: blake3::Hasher::new(),
        count: 0,
    };
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if control.canceled() {
            return Err(HashFail::Canceled);
        }
        let n = r.read(&mut buf).map_err(HashFail::Io)?;
        if n == 0 {
            break;
        }
        *done += n as u64;
        control.report(*done, total);
    }
    Ok((r.count, r.hasher.finalize().to_hex().to_string()))
}
