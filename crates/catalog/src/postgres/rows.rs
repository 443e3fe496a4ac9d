//! Row ⇄ domain mapping for the PostgreSQL catalog. Times are `timestamptz` (microseconds),
//! written through [`ts`] so a value reads back exactly as the SQLite catalog gives it; ids
//! are `uuid` and `bigint`, flags `boolean`, parameter maps and schedules `jsonb`.

use chrono::{DateTime, Utc};
use dsbackup_core::{
    ApiKey, ArchiveLocation, BackupRecord, CoreError, FileEntry, Folder, JobKind, JobRecord,
    JobState, MissingArchive, Portal, PortalStatus, Role, Schedule, Session, StorageKind, User,
};
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use super::connect::{Fail, PgResult};
use crate::tables::{kind_from_row, round};

pub use crate::tables::{
    BACKUP_COLS, FILE_COLS, FOLDER_COLS, JOB_COLS, KEY_COLS, PORTAL_COLS, SCHEDULE_COLS, USER_COLS,
    kind_to_row,
};

/// A time as the catalog stores it: truncated to microseconds, as SQLite's text keeps it
/// (the driver would round a value before 2000 the other way).
pub fn ts(t: DateTime<Utc>) -> DateTime<Utc> {
    round(t)
}

fn bad(what: &str, value: &str) -> Fail {
    Fail::Core(CoreError::Internal(format!(
        "damaged catalog row: bad {what} {value:?}"
    )))
}

fn parsed<T>(row: &Row, col: usize, what: &str, parse: fn(&str) -> Option<T>) -> PgResult<T> {
    let text: &str = row.try_get(col)?;
    parse(text).ok_or_else(|| bad(what, text))
}

pub fn portal(row: &Row) -> PgResult<Portal> {
    Ok(Portal {
        id: row.try_get(0)?,
        alias: row.try_get(1)?,
        status: parsed(row, 2, "portal status", PortalStatus::parse)?,
        time_zone: row.try_get(3)?,
        language: row.try_get(4)?,
        owner_id: row.try_get(5)?,
        created_on: row.try_get(6)?,
    })
}

pub fn user(row: &Row) -> PgResult<User> {
    Ok(User {
        id: row.try_get(0)?,
        portal_id: row.try_get(1)?,
        email: row.try_get(2)?,
        first_name: row.try_get(3)?,
        last_name: row.try_get(4)?,
        role: parsed(row, 5, "role", Role::parse)?,
        password_hash: row.try_get(6)?,
        created_on: row.try_get(7)?,
    })
}

pub fn session(row: &Row) -> PgResult<Session> {
    Ok(Session {
        token_hash: row.try_get(0)?,
        user_id: row.try_get(1)?,
        portal_id: row.try_get(2)?,
        expires_at: row.try_get(3)?,
    })
}

pub fn api_key(row: &Row) -> PgResult<ApiKey> {
    let Json(permissions) = row.try_get(6)?;
    Ok(ApiKey {
        id: row.try_get(0)?,
        portal_id: row.try_get(1)?,
        user_id: row.try_get(2)?,
        name: row.try_get(3)?,
        key_hash: row.try_get(4)?,
        key_postfix: row.try_get(5)?,
        permissions,
        created_on: row.try_get(7)?,
        expires_at: row.try_get(8)?,
        last_used: row.try_get(9)?,
        is_active: row.try_get(10)?,
    })
}

pub fn folder(row: &Row) -> PgResult<Folder> {
    let kind: &str = row.try_get(4)?;
    let kind = kind_from_row(kind, row.try_get(5)?).ok_or_else(|| bad("folder kind", kind))?;
    Ok(Folder {
        id: row.try_get(0)?,
        portal_id: row.try_get(1)?,
        parent_id: row.try_get(2)?,
        title: row.try_get(3)?,
        kind,
        created_by: row.try_get(6)?,
        created_on: row.try_get(7)?,
    })
}

pub fn file(row: &Row) -> PgResult<FileEntry> {
    Ok(FileEntry {
        id: row.try_get(0)?,
        portal_id: row.try_get(1)?,
        folder_id: row.try_get(2)?,
        title: row.try_get(3)?,
        size: row.try_get(4)?,
        created_by: row.try_get(5)?,
        created_on: row.try_get(6)?,
        is_backup: row.try_get(7)?,
    })
}

pub fn backup(row: &Row) -> PgResult<BackupRecord> {
    let storage_type: i64 = row.try_get(6)?;
    let kind = StorageKind::from_i64(storage_type)
        .ok_or_else(|| bad("storage type", &storage_type.to_string()))?;
    let (base, path): (String, String) = (row.try_get(7)?, row.try_get(8)?);
    let location = ArchiveLocation::from_columns(kind, &base, &path, row.try_get(1)?)
        .ok_or_else(|| bad("archive location", &path))?;
    let Json(storage_params) = row.try_get(9)?;
    let since: Option<DateTime<Utc>> = row.try_get(14)?;
    let checks: i64 = row.try_get(15)?;
    let checks = u32::try_from(checks).map_err(|_| bad("missing checks", &checks.to_string()))?;
    Ok(BackupRecord {
        id: row.try_get(0)?,
        tenant_id: row.try_get(1)?,
        is_scheduled: row.try_get(2)?,
        name: row.try_get(3)?,
        hash: row.try_get(4)?,
        size: row.try_get(5)?,
        location,
        storage_params,
        created_on: row.try_get(10)?,
        expires_on: row.try_get(11)?,
        removed: row.try_get(12)?,
        paid: row.try_get(13)?,
        missing: since.map(|since| MissingArchive { since, checks }),
    })
}

/// A schedule from [`SCHEDULE_COLS`]: the body, with the run bookkeeping from its columns.
pub fn schedule(row: &Row) -> PgResult<Schedule> {
    let Json(body): Json<Schedule> = row.try_get(0)?;
    Ok(Schedule {
        last_backup_time: row.try_get(1)?,
        last_error: row.try_get(2)?,
        last_error_time: row.try_get(3)?,
        ..body
    })
}

pub fn job(row: &Row) -> PgResult<JobRecord> {
    Ok(JobRecord {
        id: row.try_get(0)?,
        kind: parsed(row, 1, "job kind", JobKind::parse)?,
        tenant_id: row.try_get(2)?,
        started_by: row.try_get(3)?,
        state: parsed(row, 4, "job state", JobState::parse)?,
        progress: row.try_get(5)?,
        error: row.try_get(6)?,
        warning: row.try_get(7)?,
        link: row.try_get(8)?,
        node: row.try_get(9)?,
        heartbeat: row.try_get(10)?,
        started_on: row.try_get(11)?,
        finished_on: row.try_get(12)?,
        scheduled: row.try_get(13)?,
    })
}

/// Maps every row with `map`.
pub fn all<T>(rows: &[Row], map: fn(&Row) -> PgResult<T>) -> PgResult<Vec<T>> {
    rows.iter().map(map).collect()
}
