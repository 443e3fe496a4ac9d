//! What a probe or a dump learns about a database ([`DbInfo`], [`TableRows`]) and what a
//! finished dump reports ([`DumpSummary`]); all serializable, for the archive header and index.

use serde::{Deserialize, Serialize};

use crate::config::DbKind;

/// Versions and per-table row counts of one database. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbInfo {
    /// The engine.
    pub kind: DbKind,
    /// The server's version (`15.20 (Debian ...)`, `10.11.19-MariaDB-0+deb12u1`); for SQLite
    /// the SQLite library's.
    pub server_version: String,
    /// The dump tool's `--version` line (for SQLite: the library that made the copy).
    pub tool_version: String,
    /// Base tables and their row counts, sorted by name (PostgreSQL: `schema.table`, quoted
    /// where needed).
    pub tables: Vec<TableRows>,
    /// `true` when the counts were taken in the very snapshot the dump was made from, so a
    /// restore of that dump must reproduce them exactly; `false` for [`crate::probe`], whose
    /// counts are of a moment of their own.
    pub snapshot_counts: bool,
}

/// One table's row count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    /// The table's name.
    pub name: String,
    /// Its number of rows.
    pub rows: u64,
}

/// What [`crate::Dump::finish`] reports about a dump that completed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpSummary {
    /// Bytes of dump read from the tool.
    pub bytes: u64,
    /// Versions and the row counts of the dump's own snapshot (`snapshot_counts` is `true`):
    /// what [`crate::restore`] must be given as `expect`.
    pub info: DbInfo,
}

impl DbInfo {
    /// Row count of `table`, if the table is listed.
    pub fn rows(&self, table: &str) -> Option<u64> {
        self.tables.iter().find(|t| t.name == table).map(|t| t.rows)
    }

    /// Compares these counts (of a restored copy) against `expect`: the same tables with the
    /// same counts. Returns the first difference in words.
    pub(crate) fn difference(&self, expect: &DbInfo) -> Option<String> {
        for want in &expect.tables {
            match self.rows(&want.name) {
                None => return Some(format!("table {} is missing", want.name)),
                Some(n) if n != want.rows => {
                    return Some(format!(
                        "table {} has {n} rows, the backup {}",
                        want.name, want.rows
                    ));
                }
                Some(_) => {}
            }
        }
        self.tables
            .iter()
            .find(|t| expect.rows(&t.name).is_none())
            .map(|t| format!("table {} is not in the backup", t.name))
    }
}
