//! SQLite schema migrations, applied in order and tracked with `PRAGMA user_version`.

use rusqlite::Connection;

/// Each entry moves the schema one version forward.
const MIGRATIONS: &[&str] = &[
    // 1: portals, members, sessions, keys, folders, files.
    r#"
    CREATE TABLE portals (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        alias       TEXT NOT NULL UNIQUE,
        status      TEXT NOT NULL,
        time_zone   TEXT NOT NULL,
        language    TEXT NOT NULL,
        owner_id    TEXT,
        created_on  TEXT NOT NULL
    );
    CREATE TABLE users (
        id            TEXT PRIMARY KEY,
        portal_id     INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
        email         TEXT NOT NULL,
        first_name    TEXT NOT NULL,
        last_name     TEXT NOT NULL,
        role          TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_on    TEXT NOT NULL,
        UNIQUE (portal_id, email)
    );
    CREATE INDEX users_email ON users(email);
    CREATE TABLE sessions (
        token_hash  TEXT PRIMARY KEY,
        user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        portal_id   INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
        expires_at  TEXT NOT NULL
    );
    CREATE TABLE api_keys (
        id          TEXT PRIMARY KEY,
        portal_id   INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
        user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        key_hash    TEXT NOT NULL UNIQUE,
        key_postfix TEXT NOT NULL,
        permissions TEXT NOT NULL,
        created_on  TEXT NOT NULL,
        expires_at  TEXT,
        last_used   TEXT,
        is_active   INTEGER NOT NULL
    );
    CREATE TABLE folders (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        portal_id   INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
        parent_id   INTEGER REFERENCES folders(id) ON DELETE CASCADE,
        title       TEXT NOT NULL,
        kind        TEXT NOT NULL,
        room_type   INTEGER,
        created_by  TEXT NOT NULL,
        created_on  TEXT NOT NULL
    );
    CREATE INDEX folders_parent ON folders(parent_id);
    CREATE TABLE files (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        portal_id   INTEGER NOT NULL REFERENCES portals(id) ON DELETE CASCADE,
        folder_id   INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
        title       TEXT NOT NULL,
        size        INTEGER NOT NULL,
        created_by  TEXT NOT NULL,
        created_on  TEXT NOT NULL
    );
    CREATE INDEX files_folder ON files(folder_id);
    "#,
    // 2: backup history (removed rows stay, marked; tenant -1 holds dumps).
    r#"
    CREATE TABLE backups (
        id                TEXT PRIMARY KEY,
        tenant_id         INTEGER NOT NULL,
        is_scheduled      INTEGER NOT NULL,
        name              TEXT NOT NULL,
        hash              TEXT NOT NULL,
        size              INTEGER NOT NULL,
        storage_type      INTEGER NOT NULL,
        storage_base_path TEXT NOT NULL,
        storage_path      TEXT NOT NULL,
        storage_params    TEXT NOT NULL,
        created_on        TEXT NOT NULL,
        expires_on        TEXT,
        removed           INTEGER NOT NULL,
        paid              INTEGER NOT NULL
    );
    CREATE INDEX backups_tenant ON backups(tenant_id, created_on);
    "#,
    // 3: the marker of a portal's last restore (crash recovery tells by it whether the
    // restore's catalog step committed).
    r#"
    ALTER TABLE portals ADD COLUMN last_restore TEXT;
    "#,
    // 4: schedules (one per tenant; -1 is the instance's dump schedule).
    r#"
    CREATE TABLE schedules (
        tenant_id        INTEGER PRIMARY KEY,
        body             TEXT NOT NULL,
        last_backup_time TEXT,
        last_error       TEXT,
        last_error_time  TEXT
    );
    "#,
    // 5: backup archives kept in Documents are marked (only portal admins see them; existing
    // ones are found by their history records), and retention's observation of records whose
    // archive was not found (a record is given up only after repeated checks over time).
    r#"
    ALTER TABLE files ADD COLUMN is_backup INTEGER NOT NULL DEFAULT 0;
    UPDATE files SET is_backup = 1 WHERE id IN (
        SELECT CAST(storage_path AS INTEGER) FROM backups WHERE storage_type = 0 AND removed = 0
    );
    ALTER TABLE backups ADD COLUMN missing_since TEXT;
    ALTER TABLE backups ADD COLUMN missing_checks INTEGER NOT NULL DEFAULT 0;
    "#,
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

    /// Version 5 marks the files of existing Documents backups, and only those.
    #[test]
    fn existing_documents_backups_become_backup_files() {
        let mut conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
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
