//! The MySQL switch: one multi-table `RENAME TABLE` across schemas, with the objects that
//! cannot move that way (views cannot change schema; a table with triggers cannot either;
//! routines and events belong to a schema) dropped and recreated from their definitions.
//!
//! A swap of `incoming` into `live`, the live contents going to `outgoing`, runs in steps that
//! can all be repeated after a crash:
//! 1. the definitions of `incoming`'s objects (for live) and `live`'s (for outgoing), and the
//!    names of live's tables, are saved in a table `__dsb_switch` of the new `outgoing`
//!    schema, made whole before it is named;
//! 2. the triggers of live and incoming, and live's views, routines and events, are dropped;
//! 3. unless live's saved tables are already in `outgoing`, one `RENAME TABLE` moves live's
//!    tables into `outgoing` and incoming's into live: the atomic moment of the switch;
//! 4. the saved objects are created in live and in `outgoing` (views retried until those
//!    they build on exist);
//! 5. `__dsb_switch` and `incoming` are dropped.
//!
//! While the saved table exists, recovery repeats 2–5. Between steps 2 and 4 the live
//! schema's views and triggers are missing; its tables never are.

use std::process::Command;

use crate::config::Conn;
use crate::error::{DbError, Result};
use crate::mysql::restore::{create_like, drop_schema, exists};
use crate::mysql::{CLIENTS, base_tables, client_command, ident, literal, rows, run_sql};
use crate::restore::SwitchState;
use crate::tools;

const BOOK: &str = "__dsb_switch";
/// The client delimiter while objects with bodies are created.
const DELIM: &str = "$$dsb$$";

/// A saved definition: where it goes, what it is, its `sql_mode`, its `CREATE` statement.
struct Saved {
    target: String,
    kind: String,
    sql_mode: String,
    stmt: String,
}

/// The programmable objects of `schema`: `(kind, name)`, triggers in their firing order.
fn objects(conn: &Conn, schema: &str) -> Result<Vec<(String, String)>> {
    let s = literal(schema);
    let sql = format!(
        "SELECT 'VIEW', table_name, 0, '' FROM information_schema.views WHERE table_schema = {s}
         UNION ALL SELECT 'TRIGGER', trigger_name, action_order, event_object_table
           FROM information_schema.triggers WHERE trigger_schema = {s}
         UNION ALL SELECT routine_type, routine_name, 0, '' FROM information_schema.routines
           WHERE routine_schema = {s}
         UNION ALL SELECT 'EVENT', event_name, 0, '' FROM information_schema.events
           WHERE event_schema = {s}
         ORDER BY 1, 4, 3, 2;"
    );
    Ok(rows(&run_sql(conn, None, &sql)?)
        .into_iter()
        .filter_map(|r| Some((r.first()?.clone(), r.get(1)?.clone())))
        .collect())
}

/// `SHOW CREATE` of one object, read in its own schema so names stay unqualified.
fn definition(conn: &Conn, schema: &str, kind: &str, name: &str) -> Result<(String, String)> {
    let out = mysql_in(
        conn,
        schema,
        &format!("SHOW CREATE {kind} {};", ident(name)),
    )?;
    let row = rows(&out).into_iter().next().unwrap_or_default();
    let (mode, stmt) = match kind {
        "VIEW" => (None, row.get(1)),
        "EVENT" => (row.get(1), row.get(3)),
        _ => (row.get(1), row.get(2)),
    };
    match stmt {
        Some(stmt) if stmt != "NULL" => Ok((mode.cloned().unwrap_or_default(), stmt.clone())),
        _ => Err(DbError::unexpected(
            format!("SHOW CREATE {kind} {name}"),
            "no definition (missing privileges?)",
        )),
    }
}

fn mysql_in(conn: &Conn, schema: &str, sql: &str) -> Result<String> {
    let tool = tools::find(conn, CLIENTS)?;
    let cmd: Command = client_command(&tool, conn, Some(schema));
    tool.run(cmd, sql, &conn.secrets)
}

fn has_book(conn: &Conn, schema: &str) -> Result<bool> {
    Ok(base_tables(conn, schema)?.iter().any(|t| t == BOOK))
}

fn read_book(conn: &Conn, schema: &str) -> Result<Vec<Saved>> {
    let out = run_sql(
        conn,
        None,
        &format!(
            "SELECT target, kind, sql_mode, stmt FROM {}.{BOOK} ORDER BY seq;",
            ident(schema)
        ),
    )?;
    rows(&out)
        .into_iter()
        .map(|r| match <[String; 4]>::try_from(r) {
            Ok([target, kind, sql_mode, stmt]) => Ok(Saved {
                target,
                kind,
                sql_mode,
                stmt,
            }),
            Err(r) => Err(DbError::unexpected(BOOK, format!("{} columns", r.len()))),
        })
        .collect()
}

/// Step 1: saves the definitions in `outgoing` (created here).
fn write_book(conn: &Conn, live: &str, incoming: &str, outgoing: &str) -> Result<()> {
    let mut saved = Vec::new();
    for (target, schema) in [("live", incoming), ("old", live)] {
        for (kind, name) in objects(conn, schema)? {
            let (sql_mode, stmt) = definition(conn, schema, &kind, &name)?;
            saved.push(Saved {
                target: target.to_owned(),
                kind,
                sql_mode,
                stmt,
            });
        }
    }
    // Live's tables, by name: whether they are in `outgoing` tells if the rename happened.
    if exists(conn, live)? {
        for table in base_tables(conn, live)? {
            saved.push(Saved {
                target: "old".to_owned(),
                kind: "TABLE".to_owned(),
                sql_mode: String::new(),
                stmt: table,
            });
        }
    }
    if exists(conn, outgoing)? {
        if !base_tables(conn, outgoing)?.is_empty() {
            return Err(DbError::Exists {
                what: format!("schema {outgoing} (with tables)"),
            });
        }
    } else {
        create_like(
            conn,
            outgoing,
            if exists(conn, live)? { live } else { incoming },
        )?;
    }
    let o = ident(outgoing);
    let mut sql = format!(
        "DROP TABLE IF EXISTS {o}.`{BOOK}_tmp`;\nCREATE TABLE {o}.`{BOOK}_tmp` (seq INT PRIMARY KEY, \
         target VARCHAR(8) NOT NULL, kind VARCHAR(16) NOT NULL, sql_mode TEXT NOT NULL, \
         stmt LONGTEXT NOT NULL) DEFAULT CHARSET=utf8mb4;\n"
    );
    for (seq, s) in saved.iter().enumerate() {
        sql += &format!(
            "INSERT INTO {o}.`{BOOK}_tmp` VALUES ({seq}, {}, {}, {}, {});\n",
            literal(&s.target),
            literal(&s.kind),
            literal(&s.sql_mode),
            literal(&s.stmt)
        );
    }
    sql += &format!("RENAME TABLE {o}.`{BOOK}_tmp` TO {o}.{BOOK};\n");
    run_sql(conn, None, &sql).map(|_| ())
}

/// Drops the programmable objects of `schema` (`triggers_only`: just its triggers).
fn drop_objects(conn: &Conn, schema: &str, triggers_only: bool) -> Result<()> {
    let s = ident(schema);
    let sql: String = objects(conn, schema)?
        .into_iter()
        .filter(|(kind, _)| !triggers_only || kind == "TRIGGER")
        .map(|(kind, name)| format!("DROP {kind} IF EXISTS {s}.{};\n", ident(&name)))
        .collect();
    if sql.is_empty() {
        return Ok(());
    }
    run_sql(conn, None, &sql).map(|_| ())
}

/// Step 4 for one schema: creates the saved objects meant for it.
fn create_objects(conn: &Conn, schema: &str, saved: &[&Saved]) -> Result<()> {
    let mut script = format!("DELIMITER {DELIM}\n");
    for s in saved
        .iter()
        .filter(|s| s.kind != "VIEW" && s.kind != "TABLE")
    {
        script += &format!(
            "SET SESSION sql_mode = {}{DELIM}\n{}{DELIM}\n",
            literal(&s.sql_mode),
            s.stmt
        );
    }
    mysql_in(conn, schema, &script)?;
    // Views may build on views: create what can be created until nothing more can.
    let mut views: Vec<&Saved> = saved.iter().copied().filter(|s| s.kind == "VIEW").collect();
    while !views.is_empty() {
        let before = views.len();
        let mut last_error = None;
        views.retain(|v| match mysql_in(conn, schema, &format!("{};", v.stmt)) {
            Ok(_) => false,
            Err(e) => {
                last_error = Some(e);
                true
            }
        });
        if views.len() == before {
            return Err(last_error.unwrap_or_else(|| DbError::unexpected("views", "none made")));
        }
    }
    Ok(())
}

/// Step 3: the one `RENAME TABLE`, unless live's saved tables already are in `outgoing`.
fn move_tables(
    conn: &Conn,
    live: &str,
    incoming: &str,
    outgoing: &str,
    saved: &[Saved],
) -> Result<()> {
    let coming = base_tables(conn, incoming)?;
    let leaving: Vec<&str> = saved
        .iter()
        .filter(|s| s.kind == "TABLE")
        .map(|s| s.stmt.as_str())
        .collect();
    let gone = base_tables(conn, outgoing)?;
    let renamed = if leaving.is_empty() {
        coming.is_empty()
    } else {
        leaving.iter().any(|t| gone.iter().any(|g| g == t))
    };
    if renamed {
        return Ok(());
    }
    let (l, i, o) = (ident(live), ident(incoming), ident(outgoing));
    let moves: Vec<String> = base_tables(conn, live)?
        .iter()
        .map(|t| format!("{l}.{t} TO {o}.{t}", t = ident(t)))
        .chain(
            coming
                .iter()
                .map(|t| format!("{i}.{t} TO {l}.{t}", t = ident(t))),
        )
        .collect();
    run_sql(conn, None, &format!("RENAME TABLE {};", moves.join(", "))).map(|_| ())
}

/// Steps 2–5, repeatable.
fn complete(conn: &Conn, live: &str, incoming: &str, outgoing: &str) -> Result<()> {
    let saved = read_book(conn, outgoing)?;
    if !exists(conn, live)? {
        create_like(conn, live, outgoing)?;
    }
    drop_objects(conn, live, false)?;
    let incoming_exists = exists(conn, incoming)?;
    if incoming_exists {
        drop_objects(conn, incoming, true)?;
        move_tables(conn, live, incoming, outgoing, &saved)?;
    }
    drop_objects(conn, outgoing, false)?;
    let pick = |target: &str| {
        saved
            .iter()
            .filter(|s| s.target == target)
            .collect::<Vec<_>>()
    };
    create_objects(conn, live, &pick("live"))?;
    create_objects(conn, outgoing, &pick("old"))?;
    run_sql(
        conn,
        None,
        &format!("DROP TABLE IF EXISTS {}.{BOOK};", ident(outgoing)),
    )?;
    if incoming_exists {
        drop_schema(conn, incoming)?;
    }
    Ok(())
}

/// A whole swap of `incoming` into `live`, live's contents going to `outgoing`.
fn swap(conn: &Conn, live: &str, incoming: &str, outgoing: &str) -> Result<()> {
    write_book(conn, live, incoming, outgoing)?;
    complete(conn, live, incoming, outgoing)
}

/// The switch of a staged schema.
///
/// # Errors
/// [`DbError::ToolFailed`] when the server refuses a step; [`DbError::Exists`] when the old
/// schema's name is taken by a schema with tables.
pub(crate) fn switch(conn: &Conn, state: &SwitchState) -> Result<()> {
    swap(conn, &state.live, &state.staged, &state.old)
}

/// Completes (`forward`) or undoes a switch; returns whether the old schema is left.
///
/// # Errors
/// As [`switch`]; [`DbError::Recover`] when an old schema without saved definitions holds
/// tables while the staged one still exists.
pub(crate) fn recover(conn: &Conn, state: &SwitchState, forward: bool) -> Result<bool> {
    let (live, staged, old) = (&state.live, &state.staged, &state.old);
    if exists(conn, old)? && has_book(conn, old)? {
        complete(conn, live, staged, old)?;
    }
    if exists(conn, staged)? && has_book(conn, staged)? {
        // An undo was cut short: finish it, which brings back the state before the switch.
        complete(conn, live, old, staged)?;
    }
    let mut staged_left = exists(conn, staged)?;
    let mut old_left = exists(conn, old)?;
    if staged_left && old_left {
        // A switch (or an undo) that never got past creating its outgoing schema.
        if base_tables(conn, old)?.is_empty() {
            drop_schema(conn, old)?;
            old_left = false;
        } else if base_tables(conn, staged)?.is_empty() {
            drop_schema(conn, staged)?;
            staged_left = false;
        } else {
            return Err(DbError::Recover {
                name: conn.name.clone(),
                detail: format!("both {staged} and {old} hold tables, and nothing was saved"),
            });
        }
    }
    match (staged_left, old_left, forward) {
        (true, _, true) => {
            switch(conn, state)?;
            Ok(true)
        }
        (true, _, false) => drop_schema(conn, staged).map(|()| false),
        (false, true, true) => Ok(true),
        (false, true, false) => {
            swap(conn, live, old, staged)?;
            drop_schema(conn, staged).map(|()| false)
        }
        (false, false, _) => Ok(false),
    }
}

#[cfg(test)]
#[path = "switch_tests.rs"]
mod tests;
