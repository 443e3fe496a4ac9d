//! Databases as backup sources: PostgreSQL, MySQL/MariaDB and SQLite.
//!
//! - [`probe`]: server and dump-tool versions and per-table row counts, refusing a `pg_dump`
//!   older than its server.
//! - [`dump`]: a [`Dump`] that reads the dump as the tool writes it (never spooled, never held
//!   in memory; SQLite streams a consistent copy made in a private directory in `TMPDIR` and
//!   unlinked at once), ended by [`Dump::finish`], which checks the tool's exit status and
//!   gives the exact row counts of the dump's own snapshot.
//! - [`restore`]: loads a dump beside the live database and checks it ([`Staged`]);
//!   [`Staged::switch`] swaps it in atomically, [`Switched::finish`] drops or keeps the
//!   previous one, and [`recover`] resolves a switch a crash cut short, from its
//!   [`SwitchState`]; [`sweep_staged`] drops staged copies a crash left before any journal
//!   knew of them.
//!
//! Everything here is blocking (`std::process`, `std::io`); callers in async code run it on a
//! blocking thread. The client tools (`psql`, `pg_dump`, `pg_restore`, `mariadb`,
//! `mariadb-dump` or their `mysql` names) are looked up in the source's `bin_dir`, then on
//! `PATH`. Passwords reach them only through their environment, and every error text is
//! scrubbed of the source's secrets.

mod config;
mod dump;
mod error;
mod info;
mod mysql;
mod postgres;
mod restore;
mod scrub;
mod sqlite;
mod tools;
mod version;

pub use config::{DbKind, DbSource};
pub use dump::Dump;
pub use error::{DbError, Result};
pub use info::{DbInfo, DumpSummary, TableRows};
pub use restore::{Staged, SwitchState, Switched, recover, restore, sweep_staged};

/// A short random id for staged and old copies (`__dsb_new_<id>`): 8 lowercase hex digits.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// Versions and per-table row counts of `source`, without dumping it. The counts are of a
/// moment of their own (`snapshot_counts` is `false`); a dump's exact counts come with
/// [`Dump::finish`].
///
/// # Errors
/// [`DbError::Config`] for an invalid source; [`DbError::ToolMissing`] without the client
/// tools; [`DbError::ToolTooOld`] when the local `pg_dump` is older than the PostgreSQL server;
/// [`DbError::ToolFailed`] when the server refuses (wrong password, missing database,
/// unreachable), with the tool's message scrubbed of secrets; [`DbError::Sqlite`] for a missing
/// or unreadable SQLite file.
pub fn probe(source: &DbSource) -> Result<DbInfo> {
    let conn = source.resolve()?;
    match conn.kind {
        DbKind::Postgres => postgres::probe(&conn),
        DbKind::Mysql => mysql::probe(&conn),
        DbKind::Sqlite => sqlite::probe(&conn),
    }
}

/// Starts dumping `source`: PostgreSQL with `pg_dump --format=custom` in an exported snapshot,
/// MySQL with `mariadb-dump`/`mysqldump --single-transaction`, SQLite as a consistent copy of
/// the file made by the online backup API. Read the [`Dump`] to its end, then call
/// [`Dump::finish`].
///
/// # Errors
/// As [`probe`] (the checks run before the tool starts); a failure of the tool itself shows
/// at [`Dump::finish`].
pub fn dump(source: &DbSource) -> Result<Dump> {
    let conn = source.resolve()?;
    match conn.kind {
        DbKind::Postgres => postgres::dump(&conn),
        DbKind::Mysql => mysql::dump(&conn),
        DbKind::Sqlite => sqlite::dump(&conn),
    }
}
