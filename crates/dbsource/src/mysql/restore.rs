//! MySQL restore: a fresh schema beside the live one (same character set and collation),
//! loaded from the dump with the client, checked (exit status, the dump's end line, row
//! counts). The switch itself is in `switch.rs`.

use std::io::Read;

use crate::config::Conn;
use crate::error::{DbError, Result};
use crate::info::DbInfo;
use crate::mysql::{self, CLIENTS, ident, literal, rows, run_sql};
use crate::restore::SwitchState;
use crate::tools;

/// The line `mysqldump`/`mariadb-dump` ends a complete dump with.
const END_LINE: &str = "-- Dump completed";

/// Whether schema `name` exists.
///
/// # Errors
/// As [`run_sql`].
pub(crate) fn exists(conn: &Conn, name: &str) -> Result<bool> {
    let out = run_sql(
        conn,
        None,
        &format!(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = {};",
            literal(name)
        ),
    )?;
    Ok(out.trim() == "1")
}

/// Creates schema `name` with the character set and collation of `like` (when it exists).
///
/// # Errors
/// As [`run_sql`].
pub(crate) fn create_like(conn: &Conn, name: &str, like: &str) -> Result<()> {
    let out = run_sql(
        conn,
        None,
        &format!(
            "SELECT default_character_set_name, default_collation_name \
             FROM information_schema.schemata WHERE schema_name = {};",
            literal(like)
        ),
    )?;
    let mut sql = format!("CREATE DATABASE {}", ident(name));
    if let Some([charset, collation]) = rows(&out).first().map(Vec::as_slice) {
        sql += &format!(" CHARACTER SET {charset} COLLATE {collation}");
    }
    run_sql(conn, None, &(sql + ";")).map(|_| ())
}

/// Loads the dump into a new schema `state.staged` and counts its rows.
///
/// # Errors
/// [`DbError::Exists`] when the staged name is taken; [`DbError::ToolFailed`] when the load
/// fails; [`DbError::Unexpected`] when the dump lacks its end line (cut short).
pub(crate) fn load(conn: &Conn, state: &SwitchState, reader: impl Read) -> Result<DbInfo> {
    if exists(conn, &state.staged)? {
        return Err(DbError::Exists {
            what: format!("schema {}", state.staged),
        });
    }
    create_like(conn, &state.staged, &state.live)?;
    let tool = tools::find(conn, CLIENTS)?;
    let mut cmd = mysql::client_command(&tool, conn, Some(&state.staged));
    cmd.arg("--binary-mode");
    tools::pipe_into(&tool, cmd, reader, &conn.secrets, Some(END_LINE))?;
    Ok(DbInfo {
        kind: crate::DbKind::Mysql,
        server_version: String::new(),
        tool_version: String::new(),
        tables: mysql::count_rows(conn, &state.staged)?,
        snapshot_counts: true,
    })
}

/// Drops schema `name` if it exists.
///
/// # Errors
/// As [`run_sql`].
pub(crate) fn drop_schema(conn: &Conn, name: &str) -> Result<()> {
    run_sql(
        conn,
        None,
        &format!("DROP DATABASE IF EXISTS {};", ident(name)),
    )
    .map(|_| ())
}

/// Schemas whose names start with `prefix`.
///
/// # Errors
/// As [`run_sql`].
pub(crate) fn names_with_prefix(conn: &Conn, prefix: &str) -> Result<Vec<String>> {
    let out = run_sql(
        conn,
        None,
        &format!(
            "SELECT schema_name FROM information_schema.schemata WHERE LEFT(schema_name, {}) = {};",
            prefix.chars().count(),
            literal(prefix)
        ),
    )?;
    Ok(rows(&out)
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .filter(|n| n.starts_with(prefix))
        .collect())
}
