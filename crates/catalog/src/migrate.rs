//! Moving a catalog from SQLite to PostgreSQL (`dsbackup catalog migrate`): every table of
//! [`TABLES`] is read in one SQLite read transaction and copied, column by column as named in
//! both schemas, into an empty PostgreSQL catalog in one transaction (`COPY … BINARY`, each
//! value converted to the target column's type), ids kept and identity sequences moved past
//! them. Before it commits, every table's row count on PostgreSQL must equal SQLite's.

use std::pin::pin;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use dsbackup_core::{CoreError, CoreResult};
use rusqlite::types::Value;
use tokio::sync::mpsc;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, ToSql, Type};

use crate::postgres::{PgResult, PostgresCatalog, advance_ids};
use crate::sqlite::SqliteCatalog;
use crate::tables::{IDENTITY_TABLES, POSTGRES_ONLY, TABLES};

/// One table's rows in the source and, after the copy, in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub source: i64,
    pub target: i64,
}

/// What the SQLite reader hands the PostgreSQL writer.
enum Item {
    Table {
        name: &'static str,
        columns: Vec<String>,
        rows: i64,
    },
    Row(Vec<Value>),
    Failed(CoreError),
    End,
}

/// Copies every table of `from` into `to`, which must hold no rows; returns the row counts.
///
/// Fails with `Conflict` when `to` is not empty, `Internal` when the two schemas do not have
/// the same tables and columns, a value does not convert, or a count differs — nothing is
/// written then — and with the backends' errors (`Unavailable` when PostgreSQL goes away).
pub async fn sqlite_to_postgres(
    from: &SqliteCatalog,
    to: &PostgresCatalog,
) -> CoreResult<Vec<Copied>> {
    let differences = schema_differences(from, to).await?;
    if !differences.is_empty() {
        return Err(CoreError::Internal(format!(
            "the SQLite and PostgreSQL schemas differ: {}",
            differences.join("; ")
        )));
    }
    refuse_nonempty(to).await?;
    let (send, mut receive) = mpsc::channel(256);
    let reader = from.clone();
    let reading = tokio::spawn(async move { reader.with(move |c| read_all(c, &send)).await });
    let copied = to
        .in_tx(move |tx| Box::pin(async move { write_all(tx, &mut receive).await }))
        .await;
    let read = reading
        .await
        .map_err(|e| CoreError::Internal(format!("catalog reader failed: {e}")))?;
    let copied = copied?;
    read?;
    Ok(copied)
}

/// The tables and columns of each schema that the other lacks (PostgreSQL's own columns of
/// [`POSTGRES_ONLY`] aside), and tables missing from [`TABLES`]; empty when they agree.
pub async fn schema_differences(
    from: &SqliteCatalog,
    to: &PostgresCatalog,
) -> CoreResult<Vec<String>> {
    let lite = from.with(|c| sqlite_columns(c, None)).await?;
    let pg = postgres_columns(to).await?;
    let mut out = Vec::new();
    for (label, have) in [("SQLite", &lite), ("PostgreSQL", &pg)] {
        for table in have.iter().map(|(t, _)| t) {
            if !TABLES.contains(&table.as_str()) {
                out.push(format!("{label} table {table} is not in the table list"));
            }
        }
    }
    for table in TABLES {
        let cols = |all: &[(String, String)]| -> Vec<String> {
            let mut cols: Vec<String> = all
                .iter()
                .filter(|(t, c)| t == table && !POSTGRES_ONLY.contains(&(t.as_str(), c.as_str())))
                .map(|(_, c)| c.clone())
                .collect();
            cols.sort();
            cols
        };
        let (l, p) = (cols(&lite), cols(&pg));
        if l != p {
            out.push(format!("{table}: SQLite has {l:?}, PostgreSQL {p:?}"));
        }
    }
    Ok(out)
}

/// `(table, column)` of every table of a SQLite catalog, or of `only` that table, in order.
fn sqlite_columns(
    conn: &rusqlite::Connection,
    only: Option<&str>,
) -> CoreResult<Vec<(String, String)>> {
    let sql = "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
               WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
                 AND (?1 IS NULL OR m.name = ?1)
               ORDER BY m.name, p.cid";
    let run = || -> rusqlite::Result<Vec<(String, String)>> {
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map([only], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    };
    run().map_err(|e| CoreError::internal(&e))
}

/// `(table, column)` of every table of the PostgreSQL catalog but its migration record.
async fn postgres_columns(to: &PostgresCatalog) -> CoreResult<Vec<(String, String)>> {
    to.list(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name <> 'schema_migrations'
         ORDER BY table_name, ordinal_position",
        &[],
        |r| Ok((r.try_get(0)?, r.try_get(1)?)),
    )
    .await
}

/// `Conflict` unless every table of `to` is empty.
async fn refuse_nonempty(to: &PostgresCatalog) -> CoreResult<()> {
    let mut held = Vec::new();
    for table in TABLES {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n = to.opt(&sql, &[], |r| Ok(r.try_get::<_, i64>(0)?)).await?;
        if let Some(n) = n.filter(|n| *n > 0) {
            held.push(format!("{table}: {n}"));
        }
    }
    if held.is_empty() {
        return Ok(());
    }
    Err(CoreError::Conflict(format!(
        "the PostgreSQL catalog at {} is not empty ({}); `catalog migrate` copies into an \
         empty database only (create a new one, or drop this one's tables)",
        to.place(),
        held.join(", ")
    )))
}

/// Sends every table's rows, in record order, from one read transaction; then `End`, or
/// `Failed` with why it stopped.
fn read_all(conn: &mut rusqlite::Connection, send: &mpsc::Sender<Item>) -> CoreResult<()> {
    let outcome = (|| -> CoreResult<()> {
        let tx = conn.transaction().map_err(|e| CoreError::internal(&e))?;
        for &name in TABLES {
            let columns: Vec<String> = sqlite_columns(&tx, Some(name))?
                .into_iter()
                .map(|(_, c)| c)
                .collect();
            let list = columns.join(", ");
            let read = || -> rusqlite::Result<()> {
                let rows: i64 =
                    tx.query_row(&format!("SELECT COUNT(*) FROM {name}"), [], |r| r.get(0))?;
                let table = Item::Table {
                    name,
                    columns: columns.clone(),
                    rows,
                };
                if send.blocking_send(table).is_err() {
                    return Ok(());
                }
                let mut stmt = tx.prepare(&format!("SELECT {list} FROM {name} ORDER BY rowid"))?;
                let mut found = stmt.query([])?;
                while let Some(row) = found.next()? {
                    let values = (0..columns.len())
                        .map(|i| row.get::<_, Value>(i))
                        .collect::<rusqlite::Result<_>>()?;
                    if send.blocking_send(Item::Row(values)).is_err() {
                        break;
                    }
                }
                Ok(())
            };
            read().map_err(|e| CoreError::internal(&e))?;
        }
        Ok(())
    })();
    let last = match &outcome {
        Ok(()) => Item::End,
        Err(e) => Item::Failed(e.clone()),
    };
    let _ = send.blocking_send(last);
    outcome
}

/// Writes what the reader sends, table by table, then checks every table's count. Fails
/// (so the transaction rolls back) when the reader failed or stopped early.
async fn write_all(
    tx: &Transaction<'_>,
    receive: &mut mpsc::Receiver<Item>,
) -> PgResult<Vec<Copied>> {
    tx.batch_execute("SET CONSTRAINTS ALL DEFERRED").await?;
    let mut copied = Vec::new();
    let mut next = receive.recv().await;
    loop {
        match next {
            Some(Item::Table {
                name,
                columns,
                rows,
            }) => {
                next = copy_table(tx, name, &columns, receive).await?;
                copied.push(Copied {
                    table: name,
                    source: rows,
                    target: 0,
                });
            }
            Some(Item::End) => break,
            Some(Item::Failed(e)) => return Err(e.into()),
            Some(Item::Row(_)) | None => {
                return Err(CoreError::Internal("the SQLite reader stopped early".into()).into());
            }
        }
    }
    advance_ids(tx, IDENTITY_TABLES).await?;
    for c in &mut copied {
        let sql = format!("SELECT COUNT(*) FROM {}", c.table);
        c.target = tx.query_one(&sql, &[]).await?.try_get(0)?;
    }
    let differ: Vec<String> = copied
        .iter()
        .filter(|c| c.source != c.target)
        .map(|c| {
            format!(
                "{}: {} in SQLite, {} in PostgreSQL",
                c.table, c.source, c.target
            )
        })
        .collect();
    if !differ.is_empty() {
        return Err(CoreError::Internal(format!(
            "row counts differ, nothing was written: {}",
            differ.join("; ")
        ))
        .into());
    }
    Ok(copied)
}

/// Copies the rows that follow a table's header into it; returns the item after them.
async fn copy_table(
    tx: &Transaction<'_>,
    table: &str,
    columns: &[String],
    receive: &mut mpsc::Receiver<Item>,
) -> PgResult<Option<Item>> {
    let list = columns.join(", ");
    let probe = tx
        .prepare(&format!("SELECT {list} FROM {table} LIMIT 0"))
        .await?;
    let types: Vec<Type> = probe.columns().iter().map(|c| c.type_().clone()).collect();
    let sink = tx
        .copy_in::<_, Bytes>(&format!("COPY {table} ({list}) FROM STDIN BINARY"))
        .await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
    let mut line = 0u64;
    loop {
        let item = receive.recv().await;
        let Some(Item::Row(values)) = item else {
            writer.as_mut().finish().await?;
            return Ok(item);
        };
        line += 1;
        let mut converted = Vec::with_capacity(values.len());
        for ((value, ty), column) in values.into_iter().zip(&types).zip(columns) {
            converted.push(convert(value, ty).map_err(|why| {
                CoreError::Internal(format!("{table} row {line}, column {column}: {why}"))
            })?);
        }
        let refs: Vec<&(dyn ToSql + Sync)> = converted
            .iter()
            .map(|v| &**v as &(dyn ToSql + Sync))
            .collect();
        writer.as_mut().write(&refs).await?;
    }
}

type Param = Box<dyn ToSql + Send + Sync>;

/// A SQLite value as the PostgreSQL column type `ty` takes it: times from RFC 3339 text,
/// uuids from text, flags from 0/1, objects from JSON text.
fn convert(value: Value, ty: &Type) -> Result<Param, String> {
    fn null<T: ToSql + Send + Sync + 'static>() -> Param {
        Box::new(None::<T>)
    }
    let mismatch = |v: &Value| format!("cannot store {v:?} as {ty}");
    Ok(match (value, ty) {
        (Value::Null, t) if *t == Type::INT8 => null::<i64>(),
        (Value::Null, t) if *t == Type::INT4 => null::<i32>(),
        (Value::Null, t) if *t == Type::BOOL => null::<bool>(),
        (Value::Null, t) if *t == Type::TEXT => null::<String>(),
        (Value::Null, t) if *t == Type::UUID => null::<uuid::Uuid>(),
        (Value::Null, t) if *t == Type::TIMESTAMPTZ => null::<DateTime<Utc>>(),
        (Value::Null, t) if *t == Type::JSONB => null::<Json<serde_json::Value>>(),
        (Value::Integer(i), t) if *t == Type::INT8 => Box::new(i),
        (Value::Integer(i), t) if *t == Type::INT4 => {
            Box::new(i32::try_from(i).map_err(|_| format!("{i} does not fit int4"))?)
        }
        (Value::Integer(i @ (0 | 1)), t) if *t == Type::BOOL => Box::new(i == 1),
        (Value::Text(s), t) if *t == Type::TEXT => Box::new(s),
        (Value::Text(s), t) if *t == Type::UUID => {
            Box::new(uuid::Uuid::parse_str(&s).map_err(|e| format!("uuid {s:?}: {e}"))?)
        }
        (Value::Text(s), t) if *t == Type::TIMESTAMPTZ => Box::new(
            DateTime::parse_from_rfc3339(&s)
                .map_err(|e| format!("time {s:?}: {e}"))?
                .with_timezone(&Utc),
        ),
        (Value::Text(s), t) if *t == Type::JSONB => Box::new(Json(
            serde_json::from_str::<serde_json::Value>(&s).map_err(|e| format!("JSON: {e}"))?,
        )),
        (v, _) => return Err(mismatch(&v)),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The table list names every table of the SQLite schema, and nothing else.
    #[tokio::test]
    async fn the_table_list_covers_the_sqlite_schema() {
        let cat = SqliteCatalog::open(":memory:").await.unwrap();
        let cols = cat.with(|c| sqlite_columns(c, None)).await.unwrap();
        let mut tables: Vec<&str> = cols.iter().map(|(t, _)| t.as_str()).collect();
        tables.dedup();
        let mut listed = TABLES.to_vec();
        listed.sort_unstable();
        assert_eq!(tables, listed);
    }

    #[test]
    fn values_convert_to_their_column_types() {
        let t = convert(
            Value::Text("2026-03-01T10:00:00.123456Z".into()),
            &Type::TIMESTAMPTZ,
        );
        assert!(t.is_ok());
        assert!(convert(Value::Integer(1), &Type::BOOL).is_ok());
        assert!(
            convert(Value::Integer(2), &Type::BOOL).is_err(),
            "not a flag"
        );
        assert!(convert(Value::Text("x".into()), &Type::UUID).is_err());
        assert!(convert(Value::Text("{".into()), &Type::JSONB).is_err());
        assert!(convert(Value::Integer(1 << 40), &Type::INT4).is_err());
        assert!(convert(Value::Null, &Type::TIMESTAMPTZ).is_ok());
        assert!(convert(Value::Real(1.5), &Type::INT8).is_err());
    }
}
