//! SQLite: probe, and a dump made with the online backup API into a temporary file that is
//! unlinked at once and then streamed.
//!
//! Why a temporary file: the backup API copies into another database connection, never into
//! a stream (an in-memory target would hold the whole database in memory), and `VACUUM INTO`
//! writes a file too. The copy is made in one backup step, under one read transaction, so it
//! is consistent while other connections write (in WAL mode they are not even blocked). The
//! file is created in a private directory (0700) in `TMPDIR` (which must have room for one
//! copy), opened, and unlinked with its directory before the first byte is read, so nothing is
//! left behind whatever happens next and no other user can read it meanwhile.

pub(crate) mod restore;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::config::{Conn, DbKind};
use crate::dump::Dump;
use crate::error::{DbError, Result};
use crate::info::{DbInfo, TableRows};

/// How long a copy or a check waits for a lock held by another connection.
const BUSY: Duration = Duration::from_secs(30);

pub(crate) fn live_path(conn: &Conn) -> &Path {
    conn.path.as_deref().unwrap_or(Path::new(""))
}

/// Opens `path` read-only (it must exist).
///
/// # Errors
/// [`DbError::Sqlite`] when the file is missing or not a database.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = Connection::open_with_flags(path, flags)
        .map_err(|e| DbError::sqlite(format!("opening {}", path.display()), e))?;
    db.busy_timeout(BUSY)
        .map_err(|e| DbError::sqlite("setting busy_timeout", e))?;
    Ok(db)
}

/// Row counts of every table (not SQLite's own), in one read transaction.
///
/// # Errors
/// [`DbError::Sqlite`].
pub(crate) fn count_rows(db: &Connection) -> Result<Vec<TableRows>> {
    let err = |e| DbError::sqlite("counting rows", e);
    let tx = db.unchecked_transaction().map_err(err)?;
    let names: Vec<String> = {
        let mut stmt = tx
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            )
            .map_err(err)?;
        stmt.query_map([], |r| r.get(0))
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?
    };
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let sql = format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\""));
        let rows: i64 = tx.query_row(&sql, [], |r| r.get(0)).map_err(err)?;
        tables.push(TableRows {
            name,
            rows: u64::try_from(rows).unwrap_or(0),
        });
    }
    tx.commit().map_err(err)?;
    Ok(tables)
}

fn versions() -> (String, String) {
    let lib = rusqlite::version().to_owned();
    (
        lib.clone(),
        format!("SQLite {lib} online backup (rusqlite)"),
    )
}

/// Versions and row counts of the live file.
///
/// # Errors
/// [`DbError::Sqlite`] when the file is missing or unreadable.
pub(crate) fn probe(conn: &Conn) -> Result<DbInfo> {
    let db = open_read_only(live_path(conn))?;
    let (server_version, tool_version) = versions();
    Ok(DbInfo {
        kind: DbKind::Sqlite,
        server_version,
        tool_version,
        tables: count_rows(&db)?,
        snapshot_counts: false,
    })
}

/// Copies `src` into the database at `dest` with the online backup API, in one step.
///
/// # Errors
/// [`DbError::Sqlite`].
pub(crate) fn backup_into(src: &Connection, dest: &Path) -> Result<()> {
    let err = |e| DbError::sqlite("online backup", e);
    let mut out = Connection::open(dest).map_err(err)?;
    {
        let backup = rusqlite::backup::Backup::new(src, &mut out).map_err(err)?;
        let started = std::time::Instant::now();
        loop {
            match backup.step(-1).map_err(err)? {
                rusqlite::backup::StepResult::Done => break,
                _ if started.elapsed() > BUSY => {
                    return Err(DbError::sqlite(
                        "online backup",
                        rusqlite::Error::SqliteFailure(
                            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                            Some("the database stayed locked".to_owned()),
                        ),
                    ));
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    out.close().map_err(|(_, e)| err(e))
}

/// Makes the consistent copy, counts its rows, and streams it.
///
/// # Errors
/// [`DbError::Sqlite`] when the source cannot be read, [`DbError::Io`] when the temporary file
/// cannot be made.
pub(crate) fn dump(conn: &Conn) -> Result<Dump> {
    dump_in(conn, &std::env::temp_dir())
}

/// A new private directory (0700, whatever the umask) under `parent`, removed when dropped.
fn scratch_in(parent: &Path) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(".dsb-sqlite-dump-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
        .map_err(|e| {
            DbError::io(
                format!("making a private directory in {}", parent.display()),
                e,
            )
        })
}

/// [`dump`], with the copy made in a private directory (0700, whatever the umask: the copy
/// holds the whole database) created under `parent` and removed, with the copy and any
/// `-journal`/`-wal`/`-shm` beside it, before the first byte is read.
fn dump_in(conn: &Conn, parent: &Path) -> Result<Dump> {
    let src = open_read_only(live_path(conn))?;
    let scratch = scratch_in(parent)?;
    let tmp = scratch.path().join("copy.db");
    let result = (|| {
        backup_into(&src, &tmp)?;
        // Read-write: a copy of a WAL database needs its -shm to be read.
        let copy = Connection::open(&tmp).map_err(|e| DbError::sqlite("opening the copy", e))?;
        let tables = count_rows(&copy)?;
        copy.close()
            .map_err(|(_, e)| DbError::sqlite("closing the copy", e))?;
        let file = std::fs::File::open(&tmp)
            .map_err(|e| DbError::io(format!("opening {}", tmp.display()), e))?;
        Ok((tables, file))
    })();
    // Best effort: an open file stays readable once unlinked, and a directory that cannot be
    // removed is private and holds nothing another user can read.
    let _ = scratch.close();
    let (tables, file) = result?;
    let (server_version, tool_version) = versions();
    Ok(Dump::from_file(
        DbInfo {
            kind: DbKind::Sqlite,
            server_version,
            tool_version,
            tables,
            snapshot_counts: true,
        },
        file,
    ))
}

#[cfg(test)]
mod tests;
