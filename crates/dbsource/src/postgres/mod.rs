//! PostgreSQL: probe (versions, row counts), and a streamed `pg_dump --format=custom` made in
//! a snapshot exported by a `psql` session, so the row counts and the dump see the same data.
//!
//! Why custom format: it is one stream on stdout, so it flows into the archive as it is
//! written, and `pg_restore` reads it back from stdin. The directory format (the only one
//! `pg_dump -j` can write in parallel) is a directory of files, which would have to be spooled
//! to disk before it could enter the archive. `--compress=0`: the archive compresses with zstd,
//! which gets nothing out of zlib-compressed data.

pub(crate) mod restore;
pub(crate) mod session;

use std::process::{Command, Stdio};

use crate::config::{Conn, DbKind};
use crate::dump::Dump;
use crate::error::{DbError, Result};
use crate::info::{DbInfo, TableRows};
use crate::tools::{self, Tool};
use crate::version;
use session::Session;

/// Every ordinary table outside the system schemas and extensions, with its exact row count
/// (`count(*)` run through `query_to_xml`, so one statement counts them all in the current
/// snapshot). One `name|rows` line each.
const COUNT_SQL: &str = r"SELECT format('%I.%I', n.nspname, c.relname) || '|' ||
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM ONLY %I.%I',
    n.nspname, c.relname), false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1;";

/// `psql` quiet, unaligned, tuples only, never prompting, stopping at the first error.
pub(crate) fn psql_command(tool: &Tool, conn: &Conn, database: &str) -> Command {
    let mut cmd = tool.command(conn);
    cmd.args([
        "-X",
        "-q",
        "-A",
        "-t",
        "-w",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        database,
    ]);
    cmd
}

/// Runs `sql` through `psql` connected to `database`; returns its output.
///
/// # Errors
/// [`DbError::ToolMissing`], [`DbError::Spawn`], [`DbError::ToolFailed`].
pub(crate) fn run_sql(conn: &Conn, database: &str, sql: &str) -> Result<String> {
    let tool = tools::find(conn, &["psql"])?;
    let cmd = psql_command(&tool, conn, database);
    tool.run(cmd, sql, &conn.secrets)
}

pub(crate) fn live_name(conn: &Conn) -> &str {
    conn.endpoint.as_ref().map_or("", |e| e.database.as_str())
}

const VERSION_SQL: &str =
    "SELECT current_setting('server_version') || '|' || current_setting('server_version_num');";

fn parse_version(lines: &[String]) -> Result<(String, u32)> {
    let line = lines.first().map(String::as_str).unwrap_or("");
    line.rsplit_once('|')
        .and_then(|(v, n)| Some((v.to_owned(), n.trim().parse().ok()?)))
        .ok_or_else(|| DbError::unexpected("server_version", line))
}

pub(crate) fn parse_counts(lines: &[String]) -> Result<Vec<TableRows>> {
    lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.rsplit_once('|')
                .and_then(|(name, n)| {
                    Some(TableRows {
                        name: name.to_owned(),
                        rows: n.parse().ok()?,
                    })
                })
                .ok_or_else(|| DbError::unexpected("row counts", l.as_str()))
        })
        .collect()
}

/// Counts the rows of every table of `database` (PostgreSQL).
///
/// # Errors
/// As [`run_sql`].
pub(crate) fn count_rows(conn: &Conn, database: &str) -> Result<Vec<TableRows>> {
    let out = run_sql(conn, database, COUNT_SQL)?;
    parse_counts(&out.lines().map(str::to_owned).collect::<Vec<_>>())
}

fn checked_versions(conn: &Conn, session: &mut Session) -> Result<(Tool, String, String)> {
    let (server, num) = parse_version(&session.query(VERSION_SQL)?)?;
    let pg_dump = tools::find(conn, &["pg_dump"])?;
    let line = tools::version_line(&pg_dump, &conn.secrets)?;
    version::check_pg_dump(&line, &server, num)?;
    Ok((pg_dump, server, line))
}

/// Versions and row counts, without dumping.
///
/// # Errors
/// [`DbError::ToolTooOld`] when `pg_dump` is older than the server; [`DbError::ToolFailed`]
/// when the server refuses (wrong password, missing database, unreachable).
pub(crate) fn probe(conn: &Conn) -> Result<DbInfo> {
    let mut session = Session::start(conn, live_name(conn))?;
    let (_, server_version, tool_version) = checked_versions(conn, &mut session)?;
    let tables = parse_counts(&session.query(COUNT_SQL)?)?;
    session.close();
    Ok(DbInfo {
        kind: DbKind::Postgres,
        server_version,
        tool_version,
        tables,
        snapshot_counts: false,
    })
}

/// Starts `pg_dump --format=custom` in a snapshot exported by a session that first counts the
/// rows in it. The session stays open until [`Dump::finish`] (an exported snapshot can only
/// be imported while its transaction lives).
///
/// # Errors
/// As [`probe`], and [`DbError::Spawn`] when `pg_dump` cannot start.
pub(crate) fn dump(conn: &Conn) -> Result<Dump> {
    let database = live_name(conn);
    let mut session = Session::start(conn, database)?;
    let (pg_dump, server_version, tool_version) = checked_versions(conn, &mut session)?;
    let snapshot = session
        .query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();")?;
    let snapshot = snapshot
        .first()
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .cloned()
        .ok_or_else(|| DbError::unexpected("pg_export_snapshot", snapshot.join(" ")))?;
    let tables = parse_counts(&session.query(COUNT_SQL)?)?;
    let mut cmd = pg_dump.command(conn);
    cmd.args(["--format=custom", "--compress=0", "--no-password"])
        .arg(format!("--snapshot={snapshot}"))
        .arg(format!("--dbname={database}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = pg_dump.spawn(&mut cmd)?;
    let stderr = tools::collect_stderr(child.stderr.take());
    let info = DbInfo {
        kind: DbKind::Postgres,
        server_version,
        tool_version,
        tables,
        snapshot_counts: true,
    };
    Dump::from_tool(
        info,
        pg_dump,
        child,
        stderr,
        conn.secrets.clone(),
        Some(session),
        None,
    )
}
