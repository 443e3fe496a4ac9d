//! MySQL and MariaDB: probe (versions, row counts) and a streamed `mariadb-dump`/`mysqldump`
//! of one database in one consistent transaction, its row counts read from the stream.
//!
//! The dump names no database (no `--databases`, so no `CREATE DATABASE` or `USE`), which lets
//! a restore load it into a schema of another name.

pub(crate) mod count;
pub(crate) mod restore;
pub(crate) mod switch;

use std::process::{Command, Stdio};

use crate::config::{Conn, DbKind};
use crate::dump::Dump;
use crate::error::{DbError, Result};
use crate::info::{DbInfo, TableRows};
use crate::tools::{self, Tool};
use count::InsertCounter;

/// Clients, MariaDB's name first.
pub(crate) const CLIENTS: &[&str] = &["mariadb", "mysql"];
/// Dump tools, MariaDB's name first.
pub(crate) const DUMPERS: &[&str] = &["mariadb-dump", "mysqldump"];

pub(crate) fn live_name(conn: &Conn) -> &str {
    conn.endpoint.as_ref().map_or("", |e| e.database.as_str())
}

/// `name` quoted as a MySQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `s` as a MySQL string literal.
pub(crate) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The client in batch mode without column names, in `database` if given.
pub(crate) fn client_command(tool: &Tool, conn: &Conn, database: Option<&str>) -> Command {
    let mut cmd = tool.command(conn);
    cmd.args([
        "--batch",
        "--skip-column-names",
        "--default-character-set=utf8mb4",
        "--max-allowed-packet=1G",
    ]);
    if let Some(db) = database {
        cmd.arg(format!("--database={db}"));
    }
    cmd
}

/// Runs `sql` through the client; returns its output.
///
/// # Errors
/// [`DbError::ToolMissing`], [`DbError::Spawn`], [`DbError::ToolFailed`].
pub(crate) fn run_sql(conn: &Conn, database: Option<&str>, sql: &str) -> Result<String> {
    let tool = tools::find(conn, CLIENTS)?;
    let cmd = client_command(&tool, conn, database);
    tool.run(cmd, sql, &conn.secrets)
}

/// Output lines split on tabs.
pub(crate) fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(unescape).collect())
        .collect()
}

/// Undoes the batch mode's escaping of `\t`, `\n`, `\\` and `\0`.
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Base tables of `database`, sorted.
///
/// # Errors
/// As [`run_sql`].
pub(crate) fn base_tables(conn: &Conn, database: &str) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = {} \
         AND table_type = 'BASE TABLE' ORDER BY table_name;",
        literal(database)
    );
    Ok(rows(&run_sql(conn, None, &sql)?)
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .collect())
}

/// Exact row counts of every base table of `database`.
///
/// # Errors
/// As [`run_sql`].
pub(crate) fn count_rows(conn: &Conn, database: &str) -> Result<Vec<TableRows>> {
    let tables = base_tables(conn, database)?;
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let sql = tables
        .iter()
        .map(|t| {
            let table = ident(t);
            format!(
                "SELECT {}, COUNT(*) FROM {}.{table}",
                literal(t),
                ident(database)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
        + ";";
    let out = run_sql(conn, None, &sql)?;
    let mut counted: Vec<TableRows> = rows(&out)
        .into_iter()
        .map(|r| match &r[..] {
            [name, n] => n
                .parse()
                .map(|rows| TableRows {
                    name: name.clone(),
                    rows,
                })
                .map_err(|_| DbError::unexpected("row counts", n.as_str())),
            _ => Err(DbError::unexpected("row counts", r.join(" "))),
        })
        .collect::<Result<_>>()?;
    counted.sort_by(|a, b| a.name.cmp(&b.name));
    if counted.len() != tables.len() {
        return Err(DbError::unexpected("row counts", out));
    }
    Ok(counted)
}

fn server_version(conn: &Conn) -> Result<String> {
    let database = live_name(conn);
    let out = run_sql(conn, Some(database), "SELECT VERSION();")?;
    Ok(out.trim().to_owned())
}

/// Versions and row counts, without dumping.
///
/// # Errors
/// [`DbError::ToolFailed`] when the server refuses (wrong password, missing database,
/// unreachable), [`DbError::ToolMissing`] without a client or dump tool.
pub(crate) fn probe(conn: &Conn) -> Result<DbInfo> {
    let server_version = server_version(conn)?;
    let dumper = tools::find(conn, DUMPERS)?;
    let tool_version = tools::version_line(&dumper, &conn.secrets)?;
    Ok(DbInfo {
        kind: DbKind::Mysql,
        server_version,
        tool_version,
        tables: count_rows(conn, live_name(conn))?,
        snapshot_counts: false,
    })
}

/// Starts the dump tool on the source's database.
///
/// # Errors
/// As [`probe`], and [`DbError::Spawn`].
pub(crate) fn dump(conn: &Conn) -> Result<Dump> {
    let server_version = server_version(conn)?;
    let dumper = tools::find(conn, DUMPERS)?;
    let tool_version = tools::version_line(&dumper, &conn.secrets)?;
    let mut cmd = dumper.command(conn);
    cmd.args([
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--default-character-set=utf8mb4",
        "--max-allowed-packet=1G",
        "--skip-dump-date",
        "--no-tablespaces",
    ]);
    if !tool_version.contains("MariaDB") {
        // Oracle's mysqldump: no GTID statements, and no column statistics (MariaDB has none).
        cmd.args(["--set-gtid-purged=OFF", "--column-statistics=0"]);
    }
    cmd.arg("--")
        .arg(live_name(conn))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = dumper.spawn(&mut cmd)?;
    let stderr = tools::collect_stderr(child.stderr.take());
    let info = DbInfo {
        kind: DbKind::Mysql,
        server_version,
        tool_version,
        tables: Vec::new(),
        snapshot_counts: false,
    };
    Dump::from_tool(
        info,
        dumper,
        child,
        stderr,
        conn.secrets.clone(),
        None,
        Some(InsertCounter::default()),
    )
}
