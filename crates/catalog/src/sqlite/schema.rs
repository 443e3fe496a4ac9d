//! SQLite schema migrations: the numbered files in `crates/catalog/migrations/sqlite/`, applied
//! in order, one transaction each, and tracked with `PRAGMA user_version`.

use rusqlite::Connection;

/// Each file moves the schema one version forward: file `N` (`migrations/sqlite/000N_*.sql`)
/// brings a database from `user_version` N-1 to N. Files are only ever appended; an applied one
/// never changes. (A later PostgreSQL backend keeps its own list in `migrations/postgres/`.)
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_portals_people_files.sql"),
    include_str!("../../migrations/sqlite/0002_backup_history.sql"),
    include_str!("../../migrations/sqlite/0003_restore_marker.sql"),
    include_str!("../../migrations/sqlite/0004_schedules.sql"),
    include_str!("../../migrations/sqlite/0005_backup_files_and_missing_archives.sql"),
    include_str!("../../migrations/sqlite/0006_jobs.sql"),
    include_str!("../../migrations/sqlite/0007_consumer_settings.sql"),
    include_str!("../../migrations/sqlite/0008_job_leases.sql"),
];

/// Brings a database up to the newest schema.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A database as a release that knew only the first `version` migrations left it: each
    /// applied in its own transaction, `user_version` bumped.
    fn at_version(version: usize) -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        for (i, sql) in MIGRATIONS[..version].iter().enumerate() {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .unwrap();
            tx.commit().unwrap();
        }
        conn
    }

    fn version(conn: &Connection) -> usize {
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .unwrap() as usize
    }

    /// Every file in `migrations/sqlite/` is listed, in the order of its number.
    #[test]
    fn every_migration_file_is_listed_in_order() {
        crate::tables::assert_migrations_listed("sqlite", MIGRATIONS);
    }

    /// A database left at version 3 by an older release migrates to the newest and keeps its
    /// rows; running the migration again changes nothing.
    #[test]
    fn a_version_3_database_migrates_to_the_newest() {
        let mut conn = at_version(3);
        conn.execute_batch(
            "INSERT INTO portals VALUES (1, 'p', 'Active', 'UTC', 'en', NULL, 't', 'marker');
             INSERT INTO folders VALUES (1, 1, NULL, 'Rooms', 'rooms_root', NULL, 'u', 't');
             INSERT INTO files VALUES (10, 1, 1, 'doc.txt', 1, 'u', 't');
             INSERT INTO backups VALUES ('b', 1, 0, 'p.tar.zst', 'H', 1, 3, '/x', '/x/p', '{}', 't', NULL, 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), MIGRATIONS.len());
        let kept: (String, String, i64, i64) = conn
            .query_row(
                "SELECT p.last_restore, b.storage_path, b.missing_checks, f.is_backup
                 FROM portals p, backups b, files f WHERE p.id = 1 AND b.id = 'b' AND f.id = 10",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(kept, ("marker".into(), "/x/p".into(), 0, 0));
        for table in ["schedules", "jobs"] {
            let n: i64 = conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table} exists, empty");
        }
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), MIGRATIONS.len());
    }

    /// Version 5 marks the files of existing Documents backups, and only those.
    #[test]
    fn existing_documents_backups_become_backup_files() {
        let mut conn = at_version(4);
        conn.execute_batch(
            "INSERT INTO portals VALUES (1, 'p', 'Active', 'UTC', 'en', NULL, 't', NULL);
             INSERT INTO folders VALUES (1, 1, NULL, 'Rooms', 'rooms_root', NULL, 'u', 't');
             INSERT INTO files VALUES (10, 1, 1, 'doc.txt', 1, 'u', 't');
             INSERT INTO files VALUES (11, 1, 1, 'p.tar.zst', 1, 'u', 't');
             INSERT INTO backups VALUES ('b', 1, 0, 'p.tar.zst', 'H', 1, 0, '1', '11', '{}', 't', NULL, 0, 0);
             INSERT INTO backups VALUES ('c', 1, 0, 'q.tar.zst', 'H', 1, 3, '/x', '10', '{}', 't', NULL, 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let marked: Vec<i64> = conn
            .prepare("SELECT id FROM files WHERE is_backup = 1")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(marked, vec![11], "a Local record's path is no file id");
        let (since, checks): (Option<String>, i64) = conn
            .query_row(
                "SELECT missing_since, missing_checks FROM backups WHERE id = 'b'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((since, checks), (None, 0));
    }
}
