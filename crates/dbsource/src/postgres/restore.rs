//! PostgreSQL restore: `CREATE DATABASE` beside the live one, `pg_restore --no-owner` from
//! stdin, row counts; the switch (two renames in one transaction, after ending the live
//! database's other sessions: PostgreSQL cannot rename a database in use) and its recovery.
//!
//! `--no-owner`: restored objects belong to the restoring role, so a dump restores even where
//! its original owners do not exist. Database-level settings (`ALTER DATABASE ... SET`) are not
//! in a custom-format dump of one database and are not carried over; the staged database takes
//! the live one's encoding, locale and owner.

use std::io::Read;

use crate::config::Conn;
use crate::error::{DbError, Result};
use crate::info::DbInfo;
use crate::postgres;
use crate::restore::SwitchState;
use crate::tools;

/// `name` quoted as a PostgreSQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `s` as a PostgreSQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The database to connect to for creating, renaming and dropping others.
fn maintenance(state_live: &str) -> &'static str {
    if state_live == "postgres" {
        "template1"
    } else {
        "postgres"
    }
}

fn admin_sql(conn: &Conn, live: &str, sql: &str) -> Result<String> {
    postgres::run_sql(conn, maintenance(live), sql)
}

/// Which of `names` exist.
fn existing(conn: &Conn, live: &str, names: &[&str]) -> Result<Vec<String>> {
    let list = names
        .iter()
        .map(|n| literal(n))
        .collect::<Vec<_>>()
        .join(", ");
    let out = admin_sql(
        conn,
        live,
        &format!("SELECT datname FROM pg_database WHERE datname IN ({list});"),
    )?;
    Ok(out.lines().map(str::to_owned).collect())
}

/// Loads the dump into a new database `state.staged` and counts its rows.
///
/// # Errors
/// [`DbError::Exists`] when the staged name is taken; [`DbError::ToolFailed`] when creating or
/// `pg_restore` fails.
pub(crate) fn load(conn: &Conn, state: &SwitchState, reader: impl Read) -> Result<DbInfo> {
    let live = &state.live;
    if !existing(conn, live, &[&state.staged])?.is_empty() {
        return Err(DbError::Exists {
            what: format!("database {}", state.staged),
        });
    }
    let like = admin_sql(
        conn,
        live,
        &format!(
            "SELECT pg_encoding_to_char(encoding) || '|' || datcollate || '|' || datctype || '|' \
             || pg_get_userbyid(datdba) FROM pg_database WHERE datname = {};",
            literal(live)
        ),
    )?;
    let mut create = format!(
        "CREATE DATABASE {} TEMPLATE template0",
        ident(&state.staged)
    );
    if let [enc, collate, ctype, owner] = like.trim().split('|').collect::<Vec<_>>()[..] {
        create += &format!(
            " ENCODING {} LC_COLLATE {} LC_CTYPE {} OWNER {}",
            literal(enc),
            literal(collate),
            literal(ctype),
            ident(owner)
        );
    }
    admin_sql(conn, live, &(create + ";"))?;
    let tool = tools::find(conn, &["pg_restore"])?;
    let mut cmd = tool.command(conn);
    cmd.args(["--no-owner", "--exit-on-error", "--no-password"])
        .arg(format!("--dbname={}", state.staged));
    tools::pipe_into(&tool, cmd, reader, &conn.secrets, None)?;
    let tables = postgres::count_rows(conn, &state.staged)?;
    Ok(DbInfo {
        kind: crate::DbKind::Postgres,
        server_version: String::new(),
        tool_version: String::new(),
        tables,
        snapshot_counts: true,
    })
}

/// Drops database `name` if it exists, ending its sessions.
///
/// # Errors
/// [`DbError::ToolFailed`].
pub(crate) fn drop_db(conn: &Conn, name: &str) -> Result<()> {
    let live = postgres::live_name(conn);
    admin_sql(
        conn,
        live,
        &format!("DROP DATABASE IF EXISTS {} WITH (FORCE);", ident(name)),
    )
    .map(|_| ())
}

/// Renames `from` → `to` and, if given, `then_from` → `then_to`, in one transaction, after
/// ending the other sessions of `from` (retried: a client may reconnect in between).
fn rename_pair(conn: &Conn, live: &str, renames: &[(&str, &str)]) -> Result<()> {
    let terminate = renames
        .iter()
        .map(|(from, _)| literal(from))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname IN ({terminate}) AND pid <> pg_backend_pid();\nBEGIN;\n"
    );
    for (from, to) in renames {
        sql += &format!("ALTER DATABASE {} RENAME TO {};\n", ident(from), ident(to));
    }
    sql += "COMMIT;\n";
    let mut attempt = 0;
    loop {
        match admin_sql(conn, live, &sql) {
            Ok(_) => return Ok(()),
            Err(DbError::ToolFailed { ref stderr, .. })
                if attempt < 5 && stderr.contains("is being accessed by other users") =>
            {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The switch: live → old and staged → live in one transaction.
///
/// # Errors
/// [`DbError::ToolFailed`] when a rename is refused.
pub(crate) fn switch(conn: &Conn, state: &SwitchState) -> Result<()> {
    let live = state.live.as_str();
    if existing(conn, live, &[live])?.is_empty() {
        rename_pair(conn, live, &[(&state.staged, live)])
    } else {
        rename_pair(
            conn,
            live,
            &[(live, state.old.as_str()), (state.staged.as_str(), live)],
        )
    }
}

/// Completes (`forward`) or undoes a switch; returns whether the old database is left.
///
/// # Errors
/// [`DbError::Recover`] when both staged and old copies exist, else as [`switch`].
pub(crate) fn recover(conn: &Conn, state: &SwitchState, forward: bool) -> Result<bool> {
    let live = state.live.as_str();
    let found = existing(conn, live, &[&state.staged, &state.old])?;
    let staged = found.contains(&state.staged);
    let old = found.contains(&state.old);
    match (staged, old, forward) {
        (true, true, _) => Err(DbError::Recover {
            name: conn.name.clone(),
            detail: format!("both {} and {} exist", state.staged, state.old),
        }),
        (true, false, true) => switch(conn, state).map(|()| {
            !existing(conn, live, &[&state.old])
                .unwrap_or_default()
                .is_empty()
        }),
        (true, false, false) => drop_db(conn, &state.staged).map(|()| false),
        (false, true, true) => Ok(true),
        (false, true, false) => {
            rename_pair(
                conn,
                live,
                &[(live, state.staged.as_str()), (state.old.as_str(), live)],
            )?;
            drop_db(conn, &state.staged).map(|()| false)
        }
        (false, false, _) => Ok(false),
    }
}

/// Databases whose names start with `prefix`.
///
/// # Errors
/// [`DbError::ToolFailed`].
pub(crate) fn names_with_prefix(conn: &Conn, prefix: &str) -> Result<Vec<String>> {
    let live = postgres::live_name(conn);
    let out = admin_sql(
        conn,
        live,
        &format!(
            "SELECT datname FROM pg_database WHERE left(datname, {}) = {};",
            prefix.len(),
            literal(prefix)
        ),
    )?;
    Ok(out.lines().map(str::to_owned).collect())
}
