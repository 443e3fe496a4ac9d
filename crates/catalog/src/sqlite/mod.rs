//! The embedded SQLite catalog: one connection in WAL mode behind a mutex, every call run on
//! the blocking pool. This file opens it, holds portals and implements `Catalog` by delegating
//! to `people.rs` (members, sessions, keys), `files.rs` (rooms, folders, files),
//! `history.rs` (backups, restores, schedules) and `jobs.rs` (jobs, claiming scheduled runs).
//! Rows map to domain types in `rows.rs`.

mod files;
mod history;
mod jobs;
mod people;
mod rows;
mod schema;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::{NewFile, NewFolder, NewPortal, PortalContents};
use dsbackup_core::{
    ApiKey, BackupRecord, Catalog, CoreError, CoreResult, FileEntry, Folder, FolderKind, JobKind,
    JobRecord, MissingArchive, Portal, PortalId, PortalStatus, Schedule, Session, User,
};
use rusqlite::{Connection, ErrorCode, params};
use uuid::Uuid;

use rows::{PORTAL_COLS, ts};

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

    /// Runs `f` on the connection on the blocking pool.
    async fn with<T, F>(&self, f: F) -> CoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> CoreResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| CoreError::Internal("catalog mutex poisoned".into()))?;
            f(&mut guard)
        })
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

#[async_trait]
impl Catalog for SqliteCatalog {
    async fn create_portal(&self, portal: NewPortal, owner: User) -> CoreResult<(Portal, User)> {
        self.with(move |conn| {
            let tx = conn.transaction().map_err(internal)?;
            let now = Utc::now();
            tx.execute(
                "INSERT INTO portals (alias, status, time_zone, language, owner_id, created_on)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    portal.alias,
                    PortalStatus::Active.as_str(),
                    portal.time_zone,
                    portal.language,
                    owner.id.to_string(),
                    ts(now)
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    CoreError::Conflict(format!("Portal {} already exists", portal.alias))
                } else {
                    internal(e)
                }
            })?;
            let id = tx.last_insert_rowid();
            let owner = User {
                portal_id: id,
                ..owner
            };
            insert_user(&tx, &owner)?;
            let root = NewFolder {
                portal_id: id,
                parent_id: None,
                title: "Rooms".into(),
                kind: FolderKind::RoomsRoot,
                created_by: owner.id,
            };
            insert_folder(&tx, &root, now)?;
            tx.commit().map_err(internal)?;
            let p = Portal {
                id,
                alias: portal.alias,
                status: PortalStatus::Active,
                time_zone: portal.time_zone,
                language: portal.language,
                owner_id: Some(owner.id),
                created_on: rows::round(now),
            };
            Ok((p, owner))
        })
        .await
    }

    async fn portal(&self, id: PortalId) -> CoreResult<Option<Portal>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {PORTAL_COLS} FROM portals WHERE id = ?1"),
                [id],
                rows::portal,
            )
        })
        .await
    }

    async fn portal_by_alias(&self, alias: &str) -> CoreResult<Option<Portal>> {
        let alias = alias.to_string();
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {PORTAL_COLS} FROM portals WHERE alias = ?1"),
                [alias],
                rows::portal,
            )
        })
        .await
    }

    async fn portals(&self) -> CoreResult<Vec<Portal>> {
        self.with(|c| {
            rows::all(
                c,
                &format!("SELECT {PORTAL_COLS} FROM portals ORDER BY id"),
                [],
                rows::portal,
            )
        })
        .await
    }

    async fn set_portal_status(&self, id: PortalId, status: PortalStatus) -> CoreResult<()> {
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE portals SET status = ?1 WHERE id = ?2",
                    params![status.as_str(), id],
                )
                .map_err(internal)?;
            if n == 0 {
                return Err(CoreError::NotFound(format!("Portal {id} not found")));
            }
            Ok(())
        })
        .await
    }

    async fn delete_portal(&self, id: PortalId) -> CoreResult<bool> {
        self.with(move |c| {
            let n = c
                .execute("DELETE FROM portals WHERE id = ?1", [id])
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_user(&self, user: User) -> CoreResult<()> {
        self.db_create_user(user).await
    }

    async fn user(&self, id: Uuid) -> CoreResult<Option<User>> {
        self.db_user(id).await
    }

    async fn users_by_email(&self, email: &str) -> CoreResult<Vec<User>> {
        self.db_users_by_email(email).await
    }

    async fn users(&self, portal: PortalId) -> CoreResult<Vec<User>> {
        self.db_users(portal).await
    }

    async fn create_session(&self, s: Session) -> CoreResult<()> {
        self.db_create_session(s).await
    }

    async fn session(&self, token_hash: &str) -> CoreResult<Option<Session>> {
        self.db_session(token_hash).await
    }

    async fn delete_session(&self, token_hash: &str) -> CoreResult<bool> {
        self.db_delete_session(token_hash).await
    }

    async fn set_password(
        &self,
        user: Uuid,
        password_hash: &str,
        keep: Option<&str>,
    ) -> CoreResult<bool> {
        self.db_set_password(user, password_hash, keep).await
    }

    async fn delete_user(&self, id: Uuid) -> CoreResult<bool> {
        self.db_delete_user(id).await
    }

    async fn create_api_key(&self, k: ApiKey) -> CoreResult<()> {
        self.db_create_api_key(k).await
    }

    async fn api_key(&self, id: Uuid) -> CoreResult<Option<ApiKey>> {
        self.db_api_key(id).await
    }

    async fn api_key_by_hash(&self, hash: &str) -> CoreResult<Option<ApiKey>> {
        self.db_api_key_by_hash(hash).await
    }

    async fn api_keys_of(&self, user: Uuid) -> CoreResult<Vec<ApiKey>> {
        self.db_api_keys_of(user).await
    }

    async fn update_api_key(&self, k: &ApiKey) -> CoreResult<()> {
        self.db_update_api_key(k).await
    }

    async fn delete_api_key(&self, id: Uuid) -> CoreResult<bool> {
        self.db_delete_api_key(id).await
    }

    async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> CoreResult<()> {
        self.db_touch_api_key(id, at).await
    }

    async fn create_folder(&self, folder: NewFolder) -> CoreResult<Folder> {
        self.db_create_folder(folder).await
    }

    async fn folder(&self, id: i64) -> CoreResult<Option<Folder>> {
        self.db_folder(id).await
    }

    async fn child_folders(&self, parent: i64) -> CoreResult<Vec<Folder>> {
        self.db_child_folders(parent).await
    }

    async fn rooms_root(&self, portal: PortalId) -> CoreResult<Folder> {
        self.db_rooms_root(portal).await
    }

    async fn create_file(&self, f: NewFile) -> CoreResult<FileEntry> {
        self.db_create_file(f).await
    }

    async fn file(&self, id: i64) -> CoreResult<Option<FileEntry>> {
        self.db_file(id).await
    }

    async fn files_in(&self, folder: i64) -> CoreResult<Vec<FileEntry>> {
        self.db_files_in(folder).await
    }

    async fn folders_of(&self, portal: PortalId) -> CoreResult<Vec<Folder>> {
        self.db_folders_of(portal).await
    }

    async fn files_of(&self, portal: PortalId) -> CoreResult<Vec<FileEntry>> {
        self.db_files_of(portal).await
    }

    async fn api_keys_of_portal(&self, portal: PortalId) -> CoreResult<Vec<ApiKey>> {
        self.db_api_keys_of_portal(portal).await
    }

    async fn delete_file(&self, id: i64) -> CoreResult<bool> {
        self.db_delete_file(id).await
    }

    async fn insert_backup(&self, r: BackupRecord) -> CoreResult<()> {
        self.db_insert_backup(r).await
    }

    async fn backup(&self, id: Uuid) -> CoreResult<Option<BackupRecord>> {
        self.db_backup(id).await
    }

    async fn live_backups(&self, tenant: PortalId) -> CoreResult<Vec<BackupRecord>> {
        self.db_live_backups(tenant).await
    }

    async fn erase_backup(&self, id: Uuid) -> CoreResult<bool> {
        self.db_erase_backup(id).await
    }

    async fn mark_backup_removed(&self, id: Uuid) -> CoreResult<bool> {
        self.db_mark_backup_removed(id).await
    }

    async fn note_backup_missing(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> CoreResult<Option<MissingArchive>> {
        self.db_note_backup_missing(id, at).await
    }

    async fn clear_backup_missing(&self, id: Uuid) -> CoreResult<bool> {
        self.db_clear_backup_missing(id).await
    }

    async fn count_backups(
        &self,
        tenant: PortalId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        paid: bool,
    ) -> CoreResult<i64> {
        self.db_count_backups(tenant, from, to, paid).await
    }

    async fn backup_hash_known(&self, tenant: PortalId, hash: &str) -> CoreResult<bool> {
        self.db_backup_hash_known(tenant, hash).await
    }

    async fn replace_contents(
        &self,
        portals: Vec<(PortalId, PortalContents)>,
        marker: Uuid,
    ) -> CoreResult<()> {
        self.db_replace_contents(portals, marker).await
    }

    async fn restore_marker(&self, portal: PortalId) -> CoreResult<Option<Uuid>> {
        self.db_restore_marker(portal).await
    }

    async fn upsert_schedule(&self, s: Schedule) -> CoreResult<()> {
        self.db_upsert_schedule(s).await
    }

    async fn schedule(&self, tenant: PortalId) -> CoreResult<Option<Schedule>> {
        self.db_schedule(tenant).await
    }

    async fn schedules(&self) -> CoreResult<Vec<Schedule>> {
        self.db_schedules().await
    }

    async fn delete_schedule(&self, tenant: PortalId) -> CoreResult<bool> {
        self.db_delete_schedule(tenant).await
    }

    async fn schedule_started(&self, tenant: PortalId, at: DateTime<Utc>) -> CoreResult<()> {
        self.db_schedule_started(tenant, at).await
    }

    async fn schedule_outcome(
        &self,
        tenant: PortalId,
        error: Option<(String, DateTime<Utc>)>,
    ) -> CoreResult<()> {
        self.db_schedule_outcome(tenant, error).await
    }

    async fn claim_schedule(
        &self,
        tenant: PortalId,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> CoreResult<bool> {
        self.db_claim_schedule(tenant, seen, now).await
    }

    async fn insert_job(&self, job: JobRecord) -> CoreResult<()> {
        self.db_insert_job(job).await
    }

    async fn update_job(&self, job: &JobRecord) -> CoreResult<bool> {
        self.db_update_job(job).await
    }

    async fn job(&self, id: Uuid) -> CoreResult<Option<JobRecord>> {
        self.db_job(id).await
    }

    async fn last_job(&self, kind: JobKind, tenant: PortalId) -> CoreResult<Option<JobRecord>> {
        self.db_last_job(kind, tenant).await
    }

    async fn unfinished_jobs(&self) -> CoreResult<Vec<JobRecord>> {
        self.db_unfinished_jobs().await
    }

    async fn interrupt_jobs(
        &self,
        node: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<JobRecord>> {
        self.db_interrupt_jobs(node, message, now).await
    }
}
