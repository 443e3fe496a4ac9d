//! Row ⇄ domain mapping for the SQLite catalog. Time stamps are stored as RFC 3339 UTC text
//! with microseconds, so text order is time order.

use chrono::{DateTime, Utc};
use dsbackup_core::{
    ApiKey, ArchiveLocation, BackupRecord, CoreError, CoreResult, FileEntry, Folder, JobKind,
    JobRecord, JobState, MissingArchive, Portal, PortalStatus, Role, Schedule, Session,
    StorageKind, User,
};
use rusqlite::{Connection, OptionalExtension, Params, Row};
use uuid::Uuid;

pub use crate::tables::{
    BACKUP_COLS, FILE_COLS, FOLDER_COLS, JOB_COLS, KEY_COLS, PORTAL_COLS, USER_COLS, kind_from_row,
    kind_to_row, round,
};

/// The stored text of a time stamp.
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn bad(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Text,
        format!("bad {what}").into(),
    )
}

fn time(row: &Row, col: usize) -> rusqlite::Result<DateTime<Utc>> {
    let s: String = row.get(col)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad(col, "time stamp"))
}

fn opt_time(row: &Row, col: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = row.get(col)?;
    s.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| bad(col, "time stamp"))
    })
    .transpose()
}

fn uuid(row: &Row, col: usize) -> rusqlite::Result<Uuid> {
    let s: String = row.get(col)?;
    Uuid::parse_str(&s).map_err(|_| bad(col, "uuid"))
}

pub fn portal(row: &Row) -> rusqlite::Result<Portal> {
    let owner: Option<String> = row.get(5)?;
    Ok(Portal {
        id: row.get(0)?,
        alias: row.get(1)?,
        status: PortalStatus::parse(&row.get::<_, String>(2)?).ok_or_else(|| bad(2, "status"))?,
        time_zone: row.get(3)?,
        language: row.get(4)?,
        owner_id: owner.and_then(|s| Uuid::parse_str(&s).ok()),
        created_on: time(row, 6)?,
    })
}

pub fn user(row: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: uuid(row, 0)?,
        portal_id: row.get(1)?,
        email: row.get(2)?,
        first_name: row.get(3)?,
        last_name: row.get(4)?,
        role: Role::parse(&row.get::<_, String>(5)?).ok_or_else(|| bad(5, "role"))?,
        password_hash: row.get(6)?,
        created_on: time(row, 7)?,
    })
}

pub fn session(row: &Row) -> rusqlite::Result<Session> {
    Ok(Session {
        token_hash: row.get(0)?,
        user_id: uuid(row, 1)?,
        portal_id: row.get(2)?,
        expires_at: time(row, 3)?,
    })
}

pub fn perms_to_row(p: &[String]) -> String {
    serde_json::to_string(p).unwrap_or_else(|_| "[]".into())
}

pub fn api_key(row: &Row) -> rusqlite::Result<ApiKey> {
    let perms: String = row.get(6)?;
    Ok(ApiKey {
        id: uuid(row, 0)?,
        portal_id: row.get(1)?,
        user_id: uuid(row, 2)?,
        name: row.get(3)?,
        key_hash: row.get(4)?,
        key_postfix: row.get(5)?,
        permissions: serde_json::from_str(&perms).map_err(|_| bad(6, "permissions"))?,
        created_on: time(row, 7)?,
        expires_at: opt_time(row, 8)?,
        last_used: opt_time(row, 9)?,
        is_active: row.get(10)?,
    })
}

pub fn folder(row: &Row) -> rusqlite::Result<Folder> {
    let kind: String = row.get(4)?;
    let kind = kind_from_row(&kind, row.get(5)?).ok_or_else(|| bad(4, "folder kind"))?;
    Ok(Folder {
        id: row.get(0)?,
        portal_id: row.get(1)?,
        parent_id: row.get(2)?,
        title: row.get(3)?,
        kind,
        created_by: uuid(row, 6)?,
        created_on: time(row, 7)?,
    })
}

pub fn file(row: &Row) -> rusqlite::Result<FileEntry> {
    Ok(FileEntry {
        id: row.get(0)?,
        portal_id: row.get(1)?,
        folder_id: row.get(2)?,
        title: row.get(3)?,
        size: row.get(4)?,
        created_by: uuid(row, 5)?,
        created_on: time(row, 6)?,
        is_backup: row.get(7)?,
    })
}

/// Runs a query expected to return at most one row.
pub fn one<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: impl FnOnce(&Row) -> rusqlite::Result<T>,
) -> CoreResult<Option<T>> {
    conn.query_row(sql, params, map)
        .optional()
        .map_err(|e| CoreError::internal(&e))
}

/// Runs a query and maps every row.
pub fn all<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    map: fn(&Row) -> rusqlite::Result<T>,
) -> CoreResult<Vec<T>> {
    let run = || -> rusqlite::Result<Vec<T>> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params, map)?;
        rows.collect()
    };
    run().map_err(|e| CoreError::internal(&e))
}

/// The missing observation stored at `col` (since) and `col + 1` (checks).
fn missing(row: &Row, col: usize) -> rusqlite::Result<Option<MissingArchive>> {
    let checks: u32 = row.get(col + 1)?;
    Ok(opt_time(row, col)?.map(|since| MissingArchive { since, checks }))
}

/// A record's archive location from its storage type and two path columns.
fn location(row: &Row) -> rusqlite::Result<ArchiveLocation> {
    let kind = StorageKind::from_i64(row.get(6)?).ok_or_else(|| bad(6, "storage type"))?;
    let (base, path): (String, String) = (row.get(7)?, row.get(8)?);
    ArchiveLocation::from_columns(kind, &base, &path, row.get(1)?)
        .ok_or_else(|| bad(8, "archive location"))
}

pub fn backup(row: &Row) -> rusqlite::Result<BackupRecord> {
    let params: String = row.get(9)?;
    Ok(BackupRecord {
        id: uuid(row, 0)?,
        tenant_id: row.get(1)?,
        is_scheduled: row.get(2)?,
        name: row.get(3)?,
        hash: row.get(4)?,
        size: row.get(5)?,
        location: location(row)?,
        storage_params: serde_json::from_str(&params).map_err(|_| bad(9, "storage params"))?,
        created_on: time(row, 10)?,
        expires_on: opt_time(row, 11)?,
        removed: row.get(12)?,
        paid: row.get(13)?,
        missing: missing(row, 14)?,
    })
}

pub fn schedule(row: &Row) -> rusqlite::Result<Schedule> {
    let body: String = row.get(0)?;
    let s: Schedule = serde_json::from_str(&body).map_err(|_| bad(0, "schedule"))?;
    Ok(Schedule {
        last_backup_time: opt_time(row, 1)?,
        last_error: row.get(2)?,
        last_error_time: opt_time(row, 3)?,
        ..s
    })
}

pub fn job(row: &Row) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        id: uuid(row, 0)?,
        kind: JobKind::parse(&row.get::<_, String>(1)?).ok_or_else(|| bad(1, "job kind"))?,
        tenant_id: row.get(2)?,
        started_by: row.get(3)?,
        state: JobState::parse(&row.get::<_, String>(4)?).ok_or_else(|| bad(4, "job state"))?,
        progress: row.get(5)?,
        error: row.get(6)?,
        warning: row.get(7)?,
        link: row.get(8)?,
        node: row.get(9)?,
        heartbeat: time(row, 10)?,
        started_on: time(row, 11)?,
        finished_on: opt_time(row, 12)?,
        scheduled: row.get(13)?,
    })
}
