//! Restoring beside the live database and switching atomically: [`restore`] loads a dump into
//! a fresh staged copy and checks it, [`Staged::switch`] swaps it in, [`Switched::finish`]
//! drops or keeps the previous database, and [`recover`] completes or undoes a switch cut short
//! by a crash from its journaled [`SwitchState`].
//!
//! Until [`Staged::switch`] the live database is never touched: every failure before it drops
//! the staged copy and leaves the live one exactly as it was.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::config::{Conn, DbKind, DbSource};
use crate::error::{DbError, Result};
use crate::info::DbInfo;
use crate::{mysql, new_id, postgres, sqlite};

/// The names involved in one restore's switch, to be journaled before [`Staged::switch`] so
/// that [`recover`] can resolve a crash. Holds no secret.
///
/// PostgreSQL and MySQL: database (schema) names; SQLite: file names in the live file's
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchState {
    /// The engine.
    pub kind: DbKind,
    /// The live database (`app`), or the live file's name (`app.db`).
    pub live: String,
    /// The staged copy being switched in (`app__dsb_new_<id>`, `app.db.dsb-new-<id>`).
    pub staged: String,
    /// Where the live database goes at the switch (`app__dsb_old_<id>`, `app.db.dsb-old-<id>`).
    pub old: String,
}

impl SwitchState {
    fn new(conn: &Conn) -> Result<Self> {
        let id = new_id();
        let (live, staged, old) = match conn.kind {
            DbKind::Postgres | DbKind::Mysql => {
                let live = conn.endpoint.as_ref().map_or("", |e| e.database.as_str());
                (
                    live.to_owned(),
                    format!("{live}__dsb_new_{id}"),
                    format!("{live}__dsb_old_{id}"),
                )
            }
            DbKind::Sqlite => {
                let file = sqlite::live_path(conn)
                    .file_name()
                    .and_then(|f| f.to_str())
                    .ok_or_else(|| DbError::config(&conn.name, "`path` must be UTF-8"))?;
                (
                    file.to_owned(),
                    format!("{file}.dsb-new-{id}"),
                    format!("{file}.dsb-old-{id}"),
                )
            }
        };
        Ok(SwitchState {
            kind: conn.kind,
            live,
            staged,
            old,
        })
    }

    fn check(&self, conn: &Conn) -> Result<()> {
        let fresh = SwitchState::new(conn)?;
        let (new, old) = markers(self.kind);
        if self.kind != conn.kind
            || self.live != fresh.live
            || !is_copy(&fresh.live, new, &self.staged)
            || !is_copy(&fresh.live, old, &self.old)
        {
            return Err(DbError::Recover {
                name: conn.name.clone(),
                detail: format!("the journaled state {self:?} is not this source's"),
            });
        }
        Ok(())
    }
}

/// What follows the live name in a staged and an old copy's name.
fn markers(kind: DbKind) -> (&'static str, &'static str) {
    match kind {
        DbKind::Sqlite => (".dsb-new-", ".dsb-old-"),
        _ => ("__dsb_new_", "__dsb_old_"),
    }
}

/// Whether `name` is `live` + `marker` + an 8-hex-digit id.
fn is_copy(live: &str, marker: &str, name: &str) -> bool {
    name.strip_prefix(live)
        .and_then(|rest| rest.strip_prefix(marker))
        .is_some_and(|id| id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A checked copy of the backup, loaded beside the live database and not yet switched in.
pub struct Staged {
    conn: Conn,
    state: SwitchState,
    info: DbInfo,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A switched-in restore whose previous database still exists.
pub struct Switched {
    conn: Conn,
    state: SwitchState,
}

impl std::fmt::Debug for Switched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switched")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Loads the dump read from `reader` into a fresh database beside the live one (PostgreSQL:
/// `CREATE DATABASE` + `pg_restore --no-owner`; MySQL: a fresh schema loaded with the client;
/// SQLite: a file next to the live one), then checks the tool's exit status, the row counts
/// against `expect` (use [`crate::DumpSummary::info`]) and, for SQLite,
/// `PRAGMA integrity_check`. The live database is not touched.
///
/// # Errors
/// [`DbError::ToolFailed`] when the load fails (a truncated dump included; for MySQL also
/// [`DbError::Unexpected`] when the dump lacks its end line), [`DbError::Mismatch`] when the
/// counts or the integrity check disagree, [`DbError::Config`] when `expect` is of another
/// kind, and the connection errors of [`crate::probe`]. The staged copy is dropped on every
/// error.
pub fn restore(source: &DbSource, reader: impl Read, expect: &DbInfo) -> Result<Staged> {
    let conn = source.resolve()?;
    if expect.kind != conn.kind {
        return Err(DbError::config(
            &conn.name,
            format!(
                "the backup is of a {} database, not {}",
                expect.kind, conn.kind
            ),
        ));
    }
    let state = SwitchState::new(&conn)?;
    let loaded = match conn.kind {
        DbKind::Postgres => postgres::restore::load(&conn, &state, reader),
        DbKind::Mysql => mysql::restore::load(&conn, &state, reader),
        DbKind::Sqlite => sqlite::restore::load(&conn, &state, reader),
    };
    let checked = loaded.and_then(|info| match info.difference(expect) {
        None => Ok(info),
        Some(detail) => Err(DbError::Mismatch {
            name: conn.name.clone(),
            detail,
        }),
    });
    match checked {
        Ok(info) => Ok(Staged { conn, state, info }),
        Err(e) => {
            let _ = drop_staged(&conn, &state);
            Err(e)
        }
    }
}

fn drop_staged(conn: &Conn, state: &SwitchState) -> Result<()> {
    match conn.kind {
        DbKind::Postgres => postgres::restore::drop_db(conn, &state.staged),
        DbKind::Mysql => mysql::restore::drop_schema(conn, &state.staged),
        DbKind::Sqlite => sqlite::restore::remove(conn, &state.staged),
    }
}

impl Staged {
    /// The names to journal before calling [`Staged::switch`].
    pub fn state(&self) -> &SwitchState {
        &self.state
    }

    /// The staged copy's row counts (equal to the backup's).
    pub fn info(&self) -> &DbInfo {
        &self.info
    }

    /// Swaps the staged copy in. PostgreSQL: ends the other sessions of the live database (a
    /// database in use cannot be renamed), then renames live → old and staged → live in one
    /// transaction. MySQL: one multi-table `RENAME TABLE` moves every table of live to the old
    /// schema and every staged table to live; views, triggers, routines and events are
    /// recreated from definitions saved first in the old schema, so [`recover`] can finish the
    /// job after a crash. SQLite: the live file is hard-linked as old, then the staged file is
    /// renamed over it.
    ///
    /// # Errors
    /// The connection errors of [`crate::probe`], [`DbError::ToolFailed`] when the server
    /// refuses a rename, [`DbError::Io`] for SQLite files. After an error, call [`recover`]
    /// with [`Staged::state`] to go forward or back.
    pub fn switch(self) -> Result<Switched> {
        match self.conn.kind {
            DbKind::Postgres => postgres::restore::switch(&self.conn, &self.state)?,
            DbKind::Mysql => mysql::switch::switch(&self.conn, &self.state)?,
            DbKind::Sqlite => sqlite::restore::switch(&self.conn, &self.state)?,
        }
        Ok(Switched {
            conn: self.conn,
            state: self.state,
        })
    }

    /// Drops the staged copy; the live database stays as it is.
    ///
    /// # Errors
    /// The connection errors of [`crate::probe`], [`DbError::Io`] for SQLite files.
    pub fn discard(self) -> Result<()> {
        drop_staged(&self.conn, &self.state)
    }
}

impl Switched {
    /// The names of this switch.
    pub fn state(&self) -> &SwitchState {
        &self.state
    }

    /// Drops the previous database, or keeps it under [`SwitchState::old`].
    ///
    /// # Errors
    /// The connection errors of [`crate::probe`], [`DbError::Io`] for SQLite files.
    pub fn finish(self, keep_old: bool) -> Result<()> {
        if keep_old {
            return Ok(());
        }
        match self.conn.kind {
            DbKind::Postgres => postgres::restore::drop_db(&self.conn, &self.state.old),
            DbKind::Mysql => mysql::restore::drop_schema(&self.conn, &self.state.old),
            DbKind::Sqlite => sqlite::restore::remove(&self.conn, &self.state.old),
        }
    }
}

/// Resolves a switch that a crash interrupted, from its journaled `state`.
///
/// `forward`: completes the switch if the staged copy is still there and returns the
/// [`Switched`] (call [`Switched::finish`] to drop or keep the previous database); returns
/// `None` when neither staged nor old copy is left (the restore was finished or discarded).
/// Back: drops the staged copy if the switch had not happened, or swaps the previous database
/// back in and drops the restored one; returns `None`. Once [`Switched::finish`] has dropped
/// the previous database there is nothing to go back to, and going back does nothing.
///
/// # Errors
/// [`DbError::Recover`] when `state` is not this source's or the databases are in a state no
/// switch leaves; otherwise as [`Staged::switch`].
pub fn recover(source: &DbSource, state: &SwitchState, forward: bool) -> Result<Option<Switched>> {
    let conn = source.resolve()?;
    state.check(&conn)?;
    let old_left = match conn.kind {
        DbKind::Postgres => postgres::restore::recover(&conn, state, forward)?,
        DbKind::Mysql => mysql::switch::recover(&conn, state, forward)?,
        DbKind::Sqlite => sqlite::restore::recover(&conn, state, forward)?,
    };
    Ok((forward && old_left).then(|| Switched {
        conn,
        state: state.clone(),
    }))
}

/// Drops the staged copies (`<db>__dsb_new_<id>`, `<file>.dsb-new-<id>`) that restores
/// interrupted before their switch was journaled left behind, and returns their names. Copies
/// of previous databases (`__dsb_old_`) are left alone: they may be kept on purpose. Call it
/// only while no restore of this source runs, after journaled switches went through
/// [`recover`].
///
/// # Errors
/// The connection errors of [`crate::probe`], [`DbError::Io`] for SQLite files.
pub fn sweep_staged(source: &DbSource) -> Result<Vec<String>> {
    let conn = source.resolve()?;
    let live = SwitchState::new(&conn)?.live;
    let (marker, _) = markers(conn.kind);
    let prefix = format!("{live}{marker}");
    let names = match conn.kind {
        DbKind::Postgres => postgres::restore::names_with_prefix(&conn, &prefix)?,
        DbKind::Mysql => mysql::restore::names_with_prefix(&conn, &prefix)?,
        DbKind::Sqlite => sqlite::restore::names_with_prefix(&conn, &prefix)?,
    };
    let mut dropped = Vec::new();
    for name in names.into_iter().filter(|n| is_copy(&live, marker, n)) {
        match conn.kind {
            DbKind::Postgres => postgres::restore::drop_db(&conn, &name)?,
            DbKind::Mysql => mysql::restore::drop_schema(&conn, &name)?,
            DbKind::Sqlite => sqlite::restore::remove(&conn, &name)?,
        }
        dropped.push(name);
    }
    Ok(dropped)
}
