//! The embedded SQLite catalog: one connection in WAL mode behind a mutex, every call run on
//! the blocking pool. This file opens it and holds the helpers the stores share; each store
//! of `dsbackup_core::catalog` is implemented in the file of its concern: `portals.rs`
//! (portals, members, sessions), `files.rs` (rooms, folders, files), `keys.rs`, `history.rs`
//! (backup records, restored contents), `schedules.rs`, `jobs.rs` and `consumers.rs`
//! (consumer settings, rewriting stored storage parameters). Rows map to domain
//! types in `rows.rs`; the schema is migrated by `schema.rs`.

mod consumers;
mod files;
mod history;
mod jobs;
mod keys;
mod portals;
mod rows;
mod schedules;
mod schema;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Mutex;

use chrono::{DateTime, Utc};
use dsbackup_core::catalog::NewFolder;
use dsbackup_core::{CoreError, CoreResult, Folder, PortalId, User};
use rusqlite::{Connection, ErrorCode, params};

use rows::ts;

/// The SQLite catalog.
#[derive(Debug, Clone)]
pub struct SqliteCatalog {
    conn: Arc<Mutex<Connection>>,
}

fn internal(e: rusqlite::Error) -> CoreError {
    CoreError::internal(&e)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

/// Creates the database file owner-only when it does not exist yet, so SQLite never makes it
/// with the umask's mode (its `-wal` and `-shm` files take the database file's mode).
fn create_private(path: &Path) -> CoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| CoreError::Internal(format!("creating {}: {e}", path.display())))
}

/// Sets the database and its `-wal`/`-shm` files owner-only (they hold password and key
/// hashes), whatever mode an older version or the umask gave them.
fn make_private(path: &Path) -> CoreResult<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(CoreError::Internal(format!(
                    "making {} private: {e}",
                    Path::new(&p).display()
                )));
            }
            _ => {}
        }
    }
    Ok(())
}

impl SqliteCatalog {
    /// Opens (creating if needed, mode 0600) and migrates the database at `path`; `:memory:`
    /// works.
    ///
    /// Fails with `Internal` when the file cannot be opened, made private or migrated.
    pub async fn open(path: impl AsRef<Path>) -> CoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = tokio::task::spawn_blocking(move || -> CoreResult<Connection> {
            let on_disk = path != Path::new(":memory:");
            if on_disk {
                create_private(&path)?;
            }
            let mut conn = Connection::open(&path).map_err(internal)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(internal)?;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(internal)?;
            conn.pragma_update(None, "foreign_keys", "ON")
                .map_err(internal)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(internal)?;
            schema::migrate(&mut conn).map_err(internal)?;
            if on_disk {
                make_private(&path)?;
            }
            Ok(conn)
        })
        .await
        .map_err(|e| CoreError::Internal(format!("catalog open task failed: {e}")))??;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection on the blocking pool. The connection is taken before a
    /// blocking thread is: callers queue as tasks, so a burst of requests holds one thread
    /// rather than one thread each waiting on the connection (the blocking pool would grow
    /// towards tokio's 512 threads, about 1 MiB of memory each).
    pub(crate) async fn with<T, F>(&self, f: F) -> CoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> CoreResult<T> + Send + 'static,
    {
        let mut guard = self.conn.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || f(&mut guard))
            .await
            .map_err(|e| CoreError::Internal(format!("catalog task failed: {e}")))?
    }
}

fn insert_user(conn: &Connection, u: &User) -> CoreResult<()> {
    conn.execute(
        "INSERT INTO users (id, portal_id, email, first_name, last_name, role, password_hash, created_on)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            u.id.to_string(),
            u.portal_id,
            u.email,
            u.first_name,
            u.last_name,
            u.role.as_str(),
            u.password_hash,
            ts(u.created_on)
        ],
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            CoreError::Conflict(format!("A user with email {} already exists", u.email))
        } else {
            internal(e)
        }
    })?;
    Ok(())
}

fn insert_folder(conn: &Connection, f: &NewFolder, now: DateTime<Utc>) -> CoreResult<Folder> {
    if let Some(parent) = f.parent_id {
        let portal: Option<PortalId> = rows::one(
            conn,
            "SELECT portal_id FROM folders WHERE id = ?1",
            [parent],
            |r| r.get(0),
        )?;
        if portal != Some(f.portal_id) {
            return Err(CoreError::NotFound(
                "The required folder was not found".into(),
            ));
        }
    }
    let (kind, room_type) = rows::kind_to_row(f.kind);
    conn.execute(
        "INSERT INTO folders (portal_id, parent_id, title, kind, room_type, created_by, created_on)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            f.portal_id,
            f.parent_id,
            f.title,
            kind,
            room_type,
            f.created_by.to_string(),
            ts(now)
        ],
    )
    .map_err(internal)?;
    Ok(Folder {
        id: conn.last_insert_rowid(),
        portal_id: f.portal_id,
        parent_id: f.parent_id,
        title: f.title.clone(),
        kind: f.kind,
        created_by: f.created_by,
        created_on: rows::round(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads() -> usize {
        std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
    }

    /// A burst of queries waits for the connection as tasks, not as blocking threads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_queries_holds_one_blocking_thread() {
        let catalog = SqliteCatalog::open(":memory:").await.unwrap();
        let before = threads();
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let (c, peak) = (catalog.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                c.with(move |conn| {
                    peak.fetch_max(threads(), std::sync::atomic::Ordering::Relaxed);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
                        .map_err(internal)
                })
                .await
                .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 1);
        }
        let grown = peak.load(std::sync::atomic::Ordering::Relaxed) - before;
        assert!(
            grown <= 8,
            "{grown} threads were started for 200 queued queries"
        );
    }
}
