//! Where a restore writes: a placer that maps archive entries to staging areas and never
//! writes anywhere else. Documents go to `data_dir/staging/<job>/<portal>/documents`; each
//! configured source to a hidden sibling of its live directory (same file system, so the swap
//! is a rename); catalog tables are kept in memory. Every path is joined from checked
//! components under a root this placer created, and every parent is a directory it made.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use dsbackup_engine::manifest::{Entry, Manifest};
use dsbackup_engine::{EngineError, EngineResult, Placer};

/// One portal of the archive and where its parts go.
#[derive(Debug, Clone)]
pub struct PortalTarget {
    pub portal_id: i64,
    /// Archive prefix: `""` for a portal backup, `portals/<alias>/` in a dump.
    pub prefix: String,
    /// Staged documents directory.
    pub documents: PathBuf,
    /// Source name → staged directory.
    pub sources: HashMap<String, PathBuf>,
}

/// What was staged for a portal.
#[derive(Debug, Default)]
pub struct Staged {
    /// Catalog table name → JSON lines.
    pub tables: HashMap<String, Vec<u8>>,
    pub documents: bool,
    pub sources: Vec<String>,
}

/// The placer of a restore.
#[derive(Debug)]
pub struct Stager {
    pub targets: Vec<PortalTarget>,
    pub staged: Vec<Staged>,
    pub warnings: Vec<String>,
    /// Whether the archive must be a dump.
    pub dump: bool,
    /// Directories to give their mode and mtime once everything is written.
    dirs: Vec<(PathBuf, u32, i64)>,
    /// Every staging root made, for cleanup.
    pub roots: Vec<PathBuf>,
}

fn io(path: &Path, e: std::io::Error) -> EngineError {
    EngineError::Sink(std::io::Error::new(
        e.kind(),
        format!("{}: {e}", path.display()),
    ))
}

const MAX_TABLE: u64 = 256 << 20;

enum Where {
    Table(usize, String),
    Under(usize, PathBuf),
    Skip,
    Ignore,
}

impl Stager {
    pub fn new(targets: Vec<PortalTarget>, dump: bool) -> Self {
        let staged = targets.iter().map(|_| Staged::default()).collect();
        Self {
            targets,
            staged,
            warnings: Vec::new(),
            dump,
            dirs: Vec::new(),
            roots: Vec::new(),
        }
    }

    fn locate(&mut self, path: &str) -> EngineResult<Where> {
        if self.dump && (path == "instance" || path.starts_with("instance/") || path == "portals") {
            return Ok(Where::Ignore);
        }
        for (i, t) in self.targets.iter().enumerate() {
            let Some(rest) = path.strip_prefix(t.prefix.as_str()) else {
                continue;
            };
            if rest == "catalog" {
                return Ok(Where::Ignore);
            }
            if let Some(table) = rest.strip_prefix("catalog/") {
                return Ok(Where::Table(i, table.to_string()));
            }
            if rest == "documents" {
                return Ok(Where::Under(i, t.documents.clone()));
            }
            if let Some(sub) = rest.strip_prefix("documents/") {
                return Ok(Where::Under(i, t.documents.join(sub)));
            }
            if rest == "sources" {
                return Ok(Where::Ignore);
            }
            if let Some(sub) = rest.strip_prefix("sources/") {
                let (name, below) = sub.split_once('/').unwrap_or((sub, ""));
                return Ok(match t.sources.get(name) {
                    Some(dir) if below.is_empty() => Where::Under(i, dir.clone()),
                    Some(dir) => Where::Under(i, dir.join(below)),
                    None => {
                        if below.is_empty() {
                            self.warnings.push(format!(
                                "source {name:?} is not configured here; it was not restored"
                            ));
                        }
                        Where::Skip
                    }
                });
            }
            if t.prefix.is_empty() {
                break;
            }
        }
        if self.dump && path.starts_with("portals/") {
            let alias = path
                .trim_start_matches("portals/")
                .split('/')
                .next()
                .unwrap_or("");
            if !path.trim_start_matches("portals/").contains('/') {
                self.warnings.push(format!(
                    "portal {alias:?} does not exist here; it was not restored"
                ));
            }
            return Ok(Where::Skip);
        }
        Err(EngineError::Corrupt(format!(
            "{path}: not part of a dsbackup portal archive"
        )))
    }

    /// Creates a staging root (must not exist yet: staging never writes into existing trees).
    fn make_root(&mut self, dir: &Path, mode: u32, mtime: i64) -> EngineResult<()> {
        if let Some(parent) = dir.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        fs::create_dir(dir).map_err(|e| io(dir, e))?;
        self.roots.push(dir.to_path_buf());
        self.dirs.push((dir.to_path_buf(), mode, mtime));
        if self.roots.len() == 1 {
            crate::fault::delay("restore-extract");
        }
        Ok(())
    }

    /// Gives directories their modes and times, deepest first.
    pub fn finish_dirs(&mut self) -> EngineResult<()> {
        for (dir, mode, mtime) in self.dirs.drain(..).rev() {
            let _ = fs::File::open(&dir).and_then(|f| {
                f.set_modified(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime.max(0) as u64),
                )
            });
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode & 0o7777))
                .map_err(|e| io(&dir, e))?;
        }
        Ok(())
    }

    /// Removes everything staged (after a failure, or what is left after a swap).
    pub fn remove_staging(&self) {
        for r in &self.roots {
            let _ = make_writable(r);
            let _ = fs::remove_dir_all(r);
        }
    }
}

/// Gives the owner write access below `dir`, so a tree with read-only directories can be removed.
pub fn make_writable(dir: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    if meta.is_dir() {
        let mode = meta.permissions().mode();
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700))?;
        for e in fs::read_dir(dir)?.flatten() {
            let _ = make_writable(&e.path());
        }
    }
    Ok(())
}

impl Placer for Stager {
    fn begin(&mut self, m: &Manifest) -> EngineResult<()> {
        if m.dump != self.dump {
            return Err(EngineError::Corrupt(if m.dump {
                "this is a whole-instance dump; restore it with dump=true".into()
            } else {
                "this is a portal backup, not a dump".into()
            }));
        }
        // Never stage more than the disk holds: the declared sizes bound what is written (a
        // decompression bomb stops here or at the first entry longer than declared).
        let declared: u64 = m.entries.iter().map(|e| e.size).sum();
        for t in &self.targets {
            let probe = t
                .documents
                .ancestors()
                .find(|a| a.exists())
                .unwrap_or(Path::new("/"));
            if let Ok(free) = fs4::available_space(probe)
                && declared > free
            {
                return Err(EngineError::Sink(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    format!("the archive declares {declared} bytes, but only {free} are free"),
                )));
            }
        }
        Ok(())
    }

    fn dir(&mut self, e: &Entry) -> EngineResult<()> {
        match self.locate(&e.path)? {
            Where::Under(i, dir) => {
                let is_root = dir == self.targets[i].documents
                    || self.targets[i].sources.values().any(|s| *s == dir);
                if is_root {
                    if dir == self.targets[i].documents {
                        self.staged[i].documents = true;
                    } else if let Some(name) = e.path.rsplit('/').next() {
                        self.staged[i].sources.push(name.to_string());
                    }
                    self.make_root(&dir, e.mode, e.mtime)
                } else {
                    fs::create_dir(&dir).map_err(|err| io(&dir, err))?;
                    self.dirs.push((dir, e.mode, e.mtime));
                    Ok(())
                }
            }
            Where::Table(..) => Err(EngineError::Corrupt(format!(
                "{}: a directory where a table belongs",
                e.path
            ))),
            Where::Skip | Where::Ignore => Ok(()),
        }
    }

    fn file(&mut self, e: &Entry, content: &mut dyn Read) -> EngineResult<()> {
        match self.locate(&e.path)? {
            Where::Table(i, table) => {
                if e.size > MAX_TABLE {
                    return Err(EngineError::Corrupt(format!(
                        "{}: implausibly large table",
                        e.path
                    )));
                }
                let mut buf = Vec::with_capacity(e.size as usize);
                content
                    .read_to_end(&mut buf)
                    .map_err(|err| EngineError::Corrupt(format!("{}: {err}", e.path)))?;
                self.staged[i].tables.insert(table, buf);
                Ok(())
            }
            Where::Under(_, path) => {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|err| io(&path, err))?;
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = content
                        .read(&mut buf)
                        .map_err(|err| EngineError::Corrupt(format!("{}: {err}", e.path)))?;
                    if n == 0 {
                        break;
                    }
                    f.write_all(&buf[..n]).map_err(|err| io(&path, err))?;
                }
                f.set_permissions(fs::Permissions::from_mode(e.mode & 0o7777))
                    .map_err(|err| io(&path, err))?;
                let _ = f.set_modified(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.mtime.max(0) as u64),
                );
                Ok(())
            }
            Where::Skip | Where::Ignore => Ok(()),
        }
    }

    fn symlink(&mut self, e: &Entry, target: &str) -> EngineResult<()> {
        match self.locate(&e.path)? {
            Where::Under(_, path) => {
                std::os::unix::fs::symlink(target, &path).map_err(|err| io(&path, err))
            }
            Where::Table(..) => Err(EngineError::Corrupt(format!(
                "{}: a link where a table belongs",
                e.path
            ))),
            Where::Skip | Where::Ignore => Ok(()),
        }
    }
}
