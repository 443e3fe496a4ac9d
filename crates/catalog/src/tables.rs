//! The catalog's tables and the columns each store reads, in one place for every backend:
//! both schemas (`migrations/sqlite/`, `migrations/postgres/`) have these tables with these
//! column names, which is what lets `migrate` copy a catalog table by table. Also what both
//! backends store alike: times at microsecond precision, a folder's kind in two columns.

use chrono::{DateTime, SubsecRound, Utc};
use dsbackup_core::FolderKind;

pub const PORTAL_COLS: &str = "id, alias, status, time_zone, language, owner_id, created_on";
pub const USER_COLS: &str =
    "id, portal_id, email, first_name, last_name, role, password_hash, created_on";
pub const KEY_COLS: &str = "id, portal_id, user_id, name, key_hash, key_postfix, permissions, created_on, expires_at, last_used, is_active";
pub const FOLDER_COLS: &str =
    "id, portal_id, parent_id, title, kind, room_type, created_by, created_on";
pub const BACKUP_COLS: &str = "id, tenant_id, is_scheduled, name, hash, size, storage_type, storage_base_path, storage_path, storage_params, created_on, expires_on, removed, paid, missing_since, missing_checks";
pub const FILE_COLS: &str =
    "id, portal_id, folder_id, title, size, created_by, created_on, is_backup";
pub const JOB_COLS: &str = "id, kind, tenant_id, started_by, state, progress, error, warning, link, node, heartbeat, started_on, finished_on, scheduled";
pub const SCHEDULE_COLS: &str = "body, last_backup_time, last_error, last_error_time";

/// Every table of the catalog, parents before the tables that refer to them. A table added
/// to either schema must be added here (a test compares this list with both schemas).
pub const TABLES: &[&str] = &[
    "portals",
    "users",
    "sessions",
    "api_keys",
    "folders",
    "files",
    "backups",
    "schedules",
    "jobs",
    "consumer_settings",
];

/// Tables whose `id` the database assigns (SQLite's rowid, a PostgreSQL identity column):
/// after rows are written with their ids, the next id must come after the largest.
pub const IDENTITY_TABLES: &[&str] = &["portals", "folders", "files"];

/// Columns only the PostgreSQL schema has, each filled by the database: `jobs.seq` keeps the
/// order jobs were recorded in, which SQLite reads from its rowid.
pub const POSTGRES_ONLY: &[(&str, &str)] = &[("jobs", "seq")];

/// A time stamp as every backend reads it back (microsecond precision, truncated).
pub fn round(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// A folder kind as its two columns, `kind` and `room_type`.
pub fn kind_to_row(kind: FolderKind) -> (&'static str, Option<i64>) {
    match kind {
        FolderKind::RoomsRoot => ("rooms_root", None),
        FolderKind::Room { room_type } => ("room", Some(room_type)),
        FolderKind::Folder => ("folder", None),
    }
}

/// A folder kind from its two columns; `None` for a kind no release wrote.
pub fn kind_from_row(kind: &str, room_type: Option<i64>) -> Option<FolderKind> {
    match (kind, room_type) {
        ("rooms_root", _) => Some(FolderKind::RoomsRoot),
        ("room", Some(room_type)) => Some(FolderKind::Room { room_type }),
        ("folder", _) => Some(FolderKind::Folder),
        _ => None,
    }
}

/// Test support: every file of `migrations/<backend>/` is in `listed` (their texts), in the
/// order of its number, and numbers run 0001, 0002, … without a gap. Returns the files' names
/// without `.sql`.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub fn assert_migrations_listed(backend: &str, listed: &[&str]) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), listed.len(), "one list entry per file");
    let mut names = Vec::new();
    for (i, (path, text)) in files.iter().zip(listed).enumerate() {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(&format!("{:04}_", i + 1)) && name.ends_with(".sql"),
            "{name} is not migration {}",
            i + 1
        );
        assert_eq!(&std::fs::read_to_string(path).unwrap(), text, "{name}");
        names.push(name.trim_end_matches(".sql").to_string());
    }
    names
}
