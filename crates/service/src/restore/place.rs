//! Where a restore writes: a placer that maps archive entries to staging areas and never
//! writes anywhere else. What an entry is comes from the engine's fixed layout
//! (`dsbackup_engine::layout`), which portal and source it belongs to from the server's own
//! portals and configured sources; the manifest decides nothing. Documents go to
//! `data_dir/staging/<job>/<portal>/documents`, catalog tables to `…/<portal>/catalog` (on disk,
//! never in memory), each configured source to a hidden sibling of its live directory (same
//! file system, so the swap is a rename), each configured database's dump parts and
//! `info.json` to private files under `…/<portal>/databases/<name>` (a dump's instance
//! databases under `…/instance/databases/<name>`), loaded only once the whole archive verified
//! (`databases.rs`). Before the first entry, the declared sizes are held
//! against each portal's restore quota and the free space. Every path is joined from checked
//! components under a root this placer created, and every parent is a directory it made.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dsbackup_engine::layout::{self, Part};
use dsbackup_engine::manifest::{Entry, Manifest};
use dsbackup_engine::pool::{FilePool, NewFile, PoolError};
use dsbackup_engine::{EngineError, EngineResult, Placer};

use super::writeback::Writeback;

/// One portal of the archive and where its parts go.
#[derive(Debug, Clone)]
pub struct PortalTarget {
    pub portal_id: i64,
    /// The portal's alias here (a dump names portals by alias).
    pub alias: String,
    /// Staged documents directory.
    pub documents: PathBuf,
    /// Staged catalog tables directory.
    pub tables: PathBuf,
    /// Configured source name → staged directory.
    pub sources: HashMap<String, PathBuf>,
    /// Configured database source name → directory its dump is staged in.
    pub databases: HashMap<String, PathBuf>,
    /// What this portal's part of the archive may stage, in bytes.
    pub quota: u64,
}

/// What was staged for a portal.
#[derive(Debug, Default)]
pub struct Staged {
    /// Catalog table name → staged file.
    pub tables: HashMap<String, PathBuf>,
    pub documents: bool,
    /// Configured sources whose directory was staged.
    pub sources: Vec<String>,
    /// Configured sources the archive holds entries of.
    pub archived_sources: HashSet<String>,
}

/// A database dump staged as files, to be loaded once the archive verified.
#[derive(Debug, Clone)]
pub struct StagedDb {
    /// The target (portal) it belongs to; `None` for an instance database of a dump.
    pub target: Option<usize>,
    pub name: String,
    pub dir: PathBuf,
    /// `part-NNNNNN` files in archive order.
    pub parts: Vec<PathBuf>,
    /// The staged `info.json`.
    pub info: Option<PathBuf>,
}

/// The placer of a restore.
#[derive(Debug)]
pub struct Stager {
    pub targets: Vec<PortalTarget>,
    pub staged: Vec<Staged>,
    pub warnings: Vec<String>,
    /// Whether the archive must be a dump.
    pub dump: bool,
    /// A dump's configured instance database name → directory its dump is staged in.
    pub instance_databases: HashMap<String, PathBuf>,
    /// Database dumps staged so far.
    pub databases: Vec<StagedDb>,
    /// Directories to give their mode and mtime once everything is written.
    dirs: Vec<(PathBuf, u32, i64)>,
    /// Every staging root made, for cleanup.
    pub roots: Vec<PathBuf>,
    /// Names already warned about (sources or portals that do not exist here).
    warned: HashSet<String>,
    /// Content bytes of instance databases placed so far.
    placed_instance: u64,
    /// Content bytes placed so far per target, held to its quota as they arrive (a format 2
    /// archive declares no sizes up front).
    placed: Vec<u64>,
    /// Free space when the restore began.
    free: Option<u64>,
    /// Writes the files of documents and sources (made on the first one).
    pool: Option<FilePool>,
    /// Flushes what the pool wrote while staging goes on.
    writeback: Writeback,
}

fn io(path: &Path, e: std::io::Error) -> EngineError {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    EngineError::Sink(std::io::Error::new(
        e.kind(),
        format!("staging {}: {e}", name.unwrap_or_default()),
    ))
}

/// Permission bits only: setuid, setgid and sticky never come back from an archive.
const PERMISSION_BITS: u32 = 0o777;

enum Where {
    Table(usize),
    Under(usize, PathBuf),
    /// The documents area or a configured source's directory itself.
    Root(usize, PathBuf, Option<String>),
    /// A database's directory (`file` empty), dump part or info file.
    Db {
        target: Option<usize>,
        name: String,
        dir: PathBuf,
        file: String,
    },
    Skip,
}

impl Stager {
    pub fn new(targets: Vec<PortalTarget>, dump: bool) -> Self {
        let staged = targets.iter().map(|_| Staged::default()).collect();
        Self {
            targets,
            staged,
            warnings: Vec::new(),
            dump,
            instance_databases: HashMap::new(),
            databases: Vec::new(),
            placed_instance: 0,
            dirs: Vec::new(),
            roots: Vec::new(),
            warned: HashSet::new(),
            placed: Vec::new(),
            free: None,
            pool: None,
            writeback: Writeback::default(),
        }
    }

    /// Counts `size` more bytes for target `i`, refusing them beyond its quota or the free
    /// space there was when the restore began.
    fn charge(&mut self, i: usize, size: u64) -> EngineResult<()> {
        if self.placed.len() < self.targets.len() {
            self.placed.resize(self.targets.len(), 0);
        }
        self.placed[i] = self.placed[i].saturating_add(size);
        let t = &self.targets[i];
        if self.placed[i] > t.quota {
            return Err(refuse_space(format!(
                "the archive holds more than the restore quota of {} bytes for portal {:?}",
                t.quota, t.alias
            )));
        }
        self.check_free()
    }

    /// Counts `size` more bytes of an instance database (held to the free space only).
    fn charge_instance(&mut self, size: u64) -> EngineResult<()> {
        self.placed_instance = self.placed_instance.saturating_add(size);
        self.check_free()
    }

    fn check_free(&self) -> EngineResult<()> {
        let total: u64 = self.placed.iter().sum::<u64>() + self.placed_instance;
        if let Some(free) = self.free
            && total > free
        {
            return Err(refuse_space(format!(
                "the archive holds more than the {free} bytes that were free"
            )));
        }
        Ok(())
    }

    fn warn_once(&mut self, key: String, message: String) {
        if self.warned.insert(key) {
            self.warnings.push(message);
        }
    }

    /// The target an archive part belongs to; `None` for a portal that does not exist here.
    fn target_of(&self, part: &Part<'_>) -> Option<usize> {
        match part.portal() {
            None => (!self.dump).then_some(0),
            Some(alias) => self.targets.iter().position(|t| t.alias == alias),
        }
    }

    fn locate(&mut self, path: &str) -> EngineResult<Where> {
        let part = layout::classify(path, self.dump).ok_or_else(|| {
            EngineError::Corrupt(format!("{path}: not part of a dsbackup archive"))
        })?;
        if matches!(part, Part::Frame | Part::InstancePortals) {
            return Ok(Where::Skip);
        }
        if let Part::Database {
            portal: None,
            name,
            file,
        } = part
            && self.dump
        {
            return Ok(match self.instance_databases.get(name) {
                Some(dir) => Where::Db {
                    target: None,
                    name: name.into(),
                    dir: dir.clone(),
                    file: file.into(),
                },
                None => {
                    self.warn_once(
                        format!("instance database {name}"),
                        format!(
                            "instance database {name:?} is not configured here; it was not restored"
                        ),
                    );
                    Where::Skip
                }
            });
        }
        let Some(i) = self.target_of(&part) else {
            let alias = part.portal().unwrap_or_default().to_string();
            self.warn_once(
                format!("portal {alias}"),
                format!("portal {alias:?} does not exist here; it was not restored"),
            );
            return Ok(Where::Skip);
        };
        let t = &self.targets[i];
        Ok(match part {
            Part::Table { .. } => Where::Table(i),
            Part::Documents { rel: "", .. } => Where::Root(i, t.documents.clone(), None),
            Part::Documents { rel, .. } => Where::Under(i, t.documents.join(rel)),
            Part::Source { name, rel, .. } => match t.sources.get(name) {
                Some(dir) => {
                    let place = if rel.is_empty() {
                        Where::Root(i, dir.clone(), Some(name.into()))
                    } else {
                        Where::Under(i, dir.join(rel))
                    };
                    self.staged[i].archived_sources.insert(name.into());
                    place
                }
                None => {
                    self.warn_once(
                        format!("source {name}"),
                        format!("source {name:?} is not configured here; it was not restored"),
                    );
                    Where::Skip
                }
            },
            Part::Database { name, file, .. } => match t.databases.get(name) {
                Some(dir) => Where::Db {
                    target: Some(i),
                    name: name.into(),
                    dir: dir.clone(),
                    file: file.into(),
                },
                None => {
                    self.warn_once(
                        format!("database {name}"),
                        format!(
                            "database {name:?} is not configured here as a database source; it was not restored"
                        ),
                    );
                    Where::Skip
                }
            },
            Part::Frame | Part::InstancePortals => Where::Skip,
        })
    }

    /// Creates a staging root (must not exist yet: staging never writes into existing trees).
    fn make_root(&mut self, dir: &Path, mode: u32, mtime: i64) -> EngineResult<()> {
        if let Some(parent) = dir.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| io(parent, e))?;
        }
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .map_err(|e| io(dir, e))?;
        self.roots.push(dir.to_path_buf());
        self.dirs.push((dir.to_path_buf(), mode, mtime));
        if self.roots.len() == 1 {
            crate::fault::delay("restore-extract");
        }
        Ok(())
    }

    /// Waits for every file written from the pool, then gives directories their modes and
    /// times, deepest first.
    ///
    /// Fails when a file could not be written or a directory's mode set.
    pub fn finish_dirs(&mut self) -> EngineResult<()> {
        if let Some(pool) = self.pool.take() {
            pool.finish().map_err(pool_err(""))?;
        }
        self.writeback.finish().map_err(|e| {
            EngineError::Sink(std::io::Error::new(
                e.kind(),
                format!("flushing the staged files: {e}"),
            ))
        })?;
        for (dir, mode, mtime) in self.dirs.drain(..).rev() {
            let _ = fs::File::open(&dir).and_then(|f| {
                f.set_modified(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime.max(0) as u64),
                )
            });
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode & PERMISSION_BITS))
                .map_err(|e| io(&dir, e))?;
        }
        Ok(())
    }

    /// Removes everything staged (after a failure, or what is left after a swap), once the
    /// pool's writers stopped.
    pub fn remove_staging(&mut self) {
        drop(self.pool.take());
        for r in &self.roots {
            let _ = make_writable(r);
            let _ = fs::remove_dir_all(r);
        }
    }

    /// Stages one catalog table as a private file (rows are read back as a stream).
    fn stage_table(&mut self, i: usize, e: &Entry, content: &mut dyn Read) -> EngineResult<()> {
        let name = e.path.rsplit('/').next().unwrap_or_default().to_string();
        let dir = self.targets[i].tables.clone();
        if !self.roots.contains(&dir) {
            self.make_root(&dir, 0o700, 0)?;
        }
        let path = dir.join(&name);
        write_new(&path, &e.path, 0o600, content)?;
        self.staged[i].tables.insert(name, path);
        Ok(())
    }

    /// The staged database at `dir`, its directory made on first use.
    fn db_slot(&mut self, target: Option<usize>, name: &str, dir: &Path) -> EngineResult<usize> {
        if let Some(k) = self.databases.iter().position(|d| d.dir == dir) {
            return Ok(k);
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io(dir, e))?;
        self.databases.push(StagedDb {
            target,
            name: name.into(),
            dir: dir.to_path_buf(),
            parts: Vec::new(),
            info: None,
        });
        Ok(self.databases.len() - 1)
    }

    /// Stages one file of a database (a dump part or its info) as a private file.
    fn stage_db_file(
        &mut self,
        target: Option<usize>,
        name: &str,
        dir: &Path,
        file: &str,
        e: &Entry,
        content: &mut dyn Read,
    ) -> EngineResult<()> {
        match target {
            Some(i) => self.charge(i, e.size)?,
            None => self.charge_instance(e.size)?,
        }
        let k = self.db_slot(target, name, dir)?;
        let path = dir.join(file);
        write_new(&path, &e.path, 0o600, content)?;
        let db = &mut self.databases[k];
        if file == layout::DATABASE_INFO {
            db.info = Some(path);
        } else {
            db.parts.push(path);
        }
        Ok(())
    }

    /// What each target's share of the archive declares, in bytes.
    fn declared(&mut self, m: &Manifest) -> EngineResult<Vec<u64>> {
        let mut per = vec![0u64; self.targets.len()];
        for e in &m.entries {
            match self.locate(&e.path)? {
                Where::Table(i)
                | Where::Under(i, _)
                | Where::Root(i, ..)
                | Where::Db {
                    target: Some(i), ..
                } => {
                    per[i] = per[i].saturating_add(e.size);
                }
                Where::Db { target: None, .. } | Where::Skip => {}
            }
        }
        Ok(per)
    }
}

/// Writes `content` (the archive's `entry`) to a new file at `path` (never an existing one)
/// with `mode`.
fn write_new(
    path: &Path,
    entry: &str,
    mode: u32,
    content: &mut dyn Read,
) -> EngineResult<fs::File> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| io(path, err))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = content
            .read(&mut buf)
            .map_err(|err| EngineError::Corrupt(format!("{entry}: {err}")))?;
        if n == 0 {
            break;
        }
        f.write_all(&buf[..n]).map_err(|err| io(path, err))?;
    }
    f.set_permissions(fs::Permissions::from_mode(mode & PERMISSION_BITS))
        .map_err(|err| io(path, err))?;
    Ok(f)
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

/// A pool failure as the placer reports it: damaged content names the archive entry, a
/// failed write the staged file.
fn pool_err(entry: &str) -> impl Fn(PoolError) -> EngineError + '_ {
    move |e| match e {
        PoolError::Content(err) => EngineError::Corrupt(format!("{entry}: {err}")),
        PoolError::Write(path, err) => io(&path, err),
    }
}

fn refuse_space(msg: String) -> EngineError {
    EngineError::Sink(std::io::Error::new(std::io::ErrorKind::StorageFull, msg))
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
        // Nothing is written before the whole archive's declared sizes fit each portal's quota
        // and the free space; the reader then holds every entry to its declared size.
        let per = self.declared(m)?;
        self.warnings.clear();
        self.warned.clear();
        for (t, declared) in self.targets.iter().zip(&per) {
            if *declared > t.quota {
                return Err(refuse_space(format!(
                    "the archive declares {declared} bytes for portal {:?}, more than its restore quota of {} bytes",
                    t.alias, t.quota
                )));
            }
        }
        let declared: u64 = per.iter().sum();
        if let Some(t) = self.targets.first() {
            let probe = t
                .documents
                .ancestors()
                .find(|a| a.exists())
                .unwrap_or(Path::new("/"));
            let free = fs4::available_space(probe).ok();
            self.free = free;
            if let Some(free) = free
                && declared > free
            {
                return Err(refuse_space(format!(
                    "the archive declares {declared} bytes, but only {free} are free"
                )));
            }
        }
        Ok(())
    }

    fn dir(&mut self, e: &Entry) -> EngineResult<()> {
        match self.locate(&e.path)? {
            Where::Root(i, dir, source) => {
                match source {
                    None => self.staged[i].documents = true,
                    Some(name) => self.staged[i].sources.push(name),
                }
                self.make_root(&dir, e.mode, e.mtime)
            }
            Where::Under(_, dir) => {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|err| io(&dir, err))?;
                self.dirs.push((dir, e.mode, e.mtime));
                Ok(())
            }
            Where::Db {
                target,
                name,
                dir,
                file,
            } if file.is_empty() => self.db_slot(target, &name, &dir).map(|_| ()),
            Where::Table(..) | Where::Db { .. } => Err(EngineError::Corrupt(format!(
                "{}: a directory where a file belongs",
                e.path
            ))),
            Where::Skip => Ok(()),
        }
    }

    fn file(&mut self, e: &Entry, content: &mut dyn Read) -> EngineResult<()> {
        match self.locate(&e.path)? {
            Where::Table(i) => {
                self.charge(i, e.size)?;
                self.stage_table(i, e, content)
            }
            Where::Under(i, path) => {
                self.charge(i, e.size)?;
                self.writeback
                    .staged(path.parent().unwrap_or(&path), e.size);
                let file = NewFile {
                    path,
                    mode: e.mode,
                    mtime: Some(e.mtime),
                };
                self.pool
                    .get_or_insert_with(FilePool::for_machine)
                    .write(file, e.size, content)
                    .map_err(pool_err(&e.path))
            }
            Where::Db {
                target,
                name,
                dir,
                file,
            } if !file.is_empty() => self.stage_db_file(target, &name, &dir, &file, e, content),
            Where::Root(..) | Where::Db { .. } => Err(EngineError::Corrupt(format!(
                "{}: must be a directory",
                e.path
            ))),
            Where::Skip => Ok(()),
        }
    }

    fn symlink(&mut self, e: &Entry, target: &str) -> EngineResult<()> {
        match self.locate(&e.path)? {
            Where::Under(_, path) => {
                std::os::unix::fs::symlink(target, &path).map_err(|err| io(&path, err))
            }
            Where::Table(..) | Where::Root(..) | Where::Db { .. } => {
                Err(EngineError::Corrupt(format!(
                    "{}: a link where a table, a database or a directory belongs",
                    e.path
                )))
            }
            Where::Skip => Ok(()),
        }
    }
}
