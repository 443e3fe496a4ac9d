//! SQLite restore: the dump (a database file image) written to a temporary file next to the
//! live one, checked (`PRAGMA integrity_check`, row counts), then switched in with a hard link
//! (live → old) and an atomic rename (staged → live).
//!
//! The application should not hold the live file open across the switch: a connection opened
//! before it keeps reading the old file. The live file's WAL is checkpointed into it before
//! it becomes the old copy.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::config::Conn;
use crate::error::{DbError, Result};
use crate::info::DbInfo;
use crate::restore::SwitchState;
use crate::sqlite::{count_rows, live_path};

const MAGIC: &[u8] = b"SQLite format 3\0";

fn dir(conn: &Conn) -> PathBuf {
    match live_path(conn).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn sibling(conn: &Conn, name: &str) -> PathBuf {
    dir(conn).join(name)
}

fn io_err(what: &str, path: &Path) -> impl FnOnce(io::Error) -> DbError {
    let what = format!("{what} {}", path.display());
    move |e| DbError::io(what, e)
}

fn sync_dir(conn: &Conn) -> Result<()> {
    let d = dir(conn);
    File::open(&d)
        .and_then(|f| f.sync_all())
        .map_err(io_err("syncing", &d))
}

/// Writes the image to `state.staged`, checks it, counts its rows.
///
/// # Errors
/// [`DbError::Exists`], [`DbError::Io`], [`DbError::Mismatch`] (not an SQLite file, integrity
/// check failed), [`DbError::Sqlite`].
pub(crate) fn load(conn: &Conn, state: &SwitchState, mut reader: impl Read) -> Result<DbInfo> {
    let path = sibling(conn, &state.staged);
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(DbError::Exists {
                what: format!("file {}", path.display()),
            });
        }
        Err(e) => return Err(io_err("creating", &path)(e)),
    };
    if let Ok(meta) = fs::metadata(live_path(conn)) {
        let _ = file.set_permissions(meta.permissions());
    }
    let mut head = [0u8; 100];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DbError::io("reading the dump to restore", e)),
        }
    }
    if got < head.len() || head[..MAGIC.len()] != *MAGIC {
        return Err(DbError::Mismatch {
            name: conn.name.clone(),
            detail: "the dump is not an SQLite database".to_owned(),
        });
    }
    file.write_all(&head).map_err(io_err("writing", &path))?;
    let written =
        100 + io::copy(&mut reader, &mut file).map_err(io_err("restoring into", &path))?;
    if let Some(size) = header_size(&head)
        && size != written
    {
        return Err(DbError::Mismatch {
            name: conn.name.clone(),
            detail: format!("the dump is {written} bytes, its header says {size}: cut short"),
        });
    }
    file.sync_all().map_err(io_err("syncing", &path))?;
    drop(file);
    let db =
        Connection::open(&path).map_err(|e| DbError::sqlite("opening the restored copy", e))?;
    let verdict: Vec<String> = {
        let mut stmt = db
            .prepare("PRAGMA integrity_check")
            .map_err(|e| DbError::sqlite("integrity_check", e))?;
        stmt.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| DbError::sqlite("integrity_check", e))?
    };
    if verdict != ["ok"] {
        return Err(DbError::Mismatch {
            name: conn.name.clone(),
            detail: format!("integrity_check: {}", verdict.join("; ")),
        });
    }
    let tables = count_rows(&db)?;
    db.close()
        .map_err(|(_, e)| DbError::sqlite("closing the restored copy", e))?;
    Ok(DbInfo {
        kind: crate::DbKind::Sqlite,
        server_version: String::new(),
        tool_version: String::new(),
        tables,
        snapshot_counts: true,
    })
}

/// Removes file `name` (and its journal, WAL and shared-memory files) next to the live one.
///
/// # Errors
/// [`DbError::Io`] other than "not found".
pub(crate) fn remove(conn: &Conn, name: &str) -> Result<()> {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let path = sibling(conn, &format!("{name}{suffix}"));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing", &path)(e)),
        }
    }
    sync_dir(conn)
}

/// Files next to the live one whose names start with `prefix` (not their `-wal`, `-shm` or
/// `-journal` companions).
///
/// # Errors
/// [`DbError::Io`] when the directory cannot be read.
pub(crate) fn names_with_prefix(conn: &Conn, prefix: &str) -> Result<Vec<String>> {
    let d = dir(conn);
    let entries = fs::read_dir(&d).map_err(io_err("listing", &d))?;
    Ok(entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix) && !n.ends_with("-wal") && !n.ends_with("-shm"))
        .filter(|n| !n.ends_with("-journal"))
        .collect())
}

/// Live → old (hard link, after a WAL checkpoint), staged → live (rename).
///
/// # Errors
/// [`DbError::Sqlite`] when the checkpoint fails, [`DbError::Io`].
pub(crate) fn switch(conn: &Conn, state: &SwitchState) -> Result<()> {
    let live = live_path(conn);
    let old = sibling(conn, &state.old);
    if live.exists() {
        let db = Connection::open(live).map_err(|e| DbError::sqlite("opening the live file", e))?;
        db.busy_timeout(std::time::Duration::from_secs(30))
            .and_then(|()| db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))
            .map_err(|e| DbError::sqlite("checkpointing the live file", e))?;
        db.close()
            .map_err(|(_, e)| DbError::sqlite("closing the live file", e))?;
        if !old.exists() {
            fs::hard_link(live, &old).map_err(io_err("linking the live file as", &old))?;
        }
    }
    let staged = sibling(conn, &state.staged);
    fs::rename(&staged, live).map_err(io_err("renaming into place", &staged))?;
    sync_dir(conn)
}

/// Completes (`forward`) or undoes a switch; returns whether the old file is left.
///
/// # Errors
/// As [`switch`] and [`remove`].
pub(crate) fn recover(conn: &Conn, state: &SwitchState, forward: bool) -> Result<bool> {
    let staged = sibling(conn, &state.staged).exists();
    let old = sibling(conn, &state.old);
    match (staged, old.exists(), forward) {
        // Not switched (a hard link made just before a crash is the live file itself).
        (true, _, true) => switch(conn, state).map(|()| old.exists()),
        (true, _, false) => {
            remove(conn, &state.staged)?;
            let same = same_file(&old, live_path(conn));
            if same {
                fs::remove_file(&old).map_err(io_err("removing", &old))?;
            }
            Ok(false)
        }
        (false, true, true) => Ok(true),
        (false, true, false) => {
            fs::rename(&old, live_path(conn)).map_err(io_err("renaming back", &old))?;
            sync_dir(conn).map(|()| false)
        }
        (false, false, _) => Ok(false),
    }
}

/// The database size the header states (page size × page count), when the header says it is
/// valid (its change counter equals its version-valid-for number).
fn header_size(head: &[u8; 100]) -> Option<u64> {
    let be32 = |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let page = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65_536,
        n => u64::from(n),
    };
    let pages = u64::from(be32(28));
    (pages > 0 && be32(24) == be32(92)).then_some(page * pages)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
