//! The embedded SQLite catalog: one connection in WAL mode behind a mutex, every call run on
//! the blocking pool. Rows map to domain types in `rows.rs`.

mod rows;
mod schema;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::{NewFile, NewFolder, NewPortal, PortalContents};
use dsbackup_core::{
    ApiKey, BackupRecord, Catalog, CoreError, CoreResult, FileEntry, Folder, FolderKind, Portal,
    PortalId, PortalStatus, Schedule, Session, User,
};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use uuid::Uuid;

use rows::{BACKUP_COLS, FILE_COLS, FOLDER_COLS, KEY_COLS, PORTAL_COLS, USER_COLS, ts};

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

impl SqliteCatalog {
    /// Opens (creating if needed) and migrates the database at `path`; `:memory:` works.
    ///
    /// Fails with `Internal` when the file cannot be opened or migrated.
    pub async fn open(path: impl AsRef<Path>) -> CoreResult<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = tokio::task::spawn_blocking(move || -> rusqlite::Result<Connection> {
            let mut conn = Connection::open(&path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            schema::migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(|e| CoreError::Internal(format!("catalog open task failed: {e}")))?
        .map_err(internal)?;
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
        let portal: Option<PortalId> = conn
            .query_row(
                "SELECT portal_id FROM folders WHERE id = ?1",
                [parent],
                |r| r.get(0),
            )
            .optional()
            .map_err(internal)?;
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
            c.query_row(
                &format!("SELECT {PORTAL_COLS} FROM portals WHERE id = ?1"),
                [id],
                rows::portal,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn portal_by_alias(&self, alias: &str) -> CoreResult<Option<Portal>> {
        let alias = alias.to_string();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {PORTAL_COLS} FROM portals WHERE alias = ?1"),
                [alias],
                rows::portal,
            )
            .optional()
            .map_err(internal)
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
        self.with(move |c| insert_user(c, &user)).await
    }

    async fn user(&self, id: Uuid) -> CoreResult<Option<User>> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
                [id.to_string()],
                rows::user,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn users_by_email(&self, email: &str) -> CoreResult<Vec<User>> {
        let email = email.to_string();
        self.with(move |c| {
            rows::all(
                c,
                &format!("SELECT {USER_COLS} FROM users WHERE email = ?1 ORDER BY portal_id"),
                [email],
                rows::user,
            )
        })
        .await
    }

    async fn users(&self, portal: PortalId) -> CoreResult<Vec<User>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!(
                    "SELECT {USER_COLS} FROM users WHERE portal_id = ?1 ORDER BY created_on, id"
                ),
                [portal],
                rows::user,
            )
        })
        .await
    }

    async fn create_session(&self, s: Session) -> CoreResult<()> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, user_id, portal_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![s.token_hash, s.user_id.to_string(), s.portal_id, ts(s.expires_at)],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn session(&self, token_hash: &str) -> CoreResult<Option<Session>> {
        let h = token_hash.to_string();
        self.with(move |c| {
            c.query_row(
                "SELECT token_hash, user_id, portal_id, expires_at FROM sessions WHERE token_hash = ?1",
                [h],
                rows::session,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn create_api_key(&self, k: ApiKey) -> CoreResult<()> {
        self.with(move |c| {
            c.execute(
                &format!("INSERT INTO api_keys ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                params![
                    k.id.to_string(),
                    k.portal_id,
                    k.user_id.to_string(),
                    k.name,
                    k.key_hash,
                    k.key_postfix,
                    rows::perms_to_row(&k.permissions),
                    ts(k.created_on),
                    k.expires_at.map(ts),
                    k.last_used.map(ts),
                    k.is_active
                ],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn api_key(&self, id: Uuid) -> CoreResult<Option<ApiKey>> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {KEY_COLS} FROM api_keys WHERE id = ?1"),
                [id.to_string()],
                rows::api_key,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn api_key_by_hash(&self, hash: &str) -> CoreResult<Option<ApiKey>> {
        let h = hash.to_string();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {KEY_COLS} FROM api_keys WHERE key_hash = ?1"),
                [h],
                rows::api_key,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn api_keys_of(&self, user: Uuid) -> CoreResult<Vec<ApiKey>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE user_id = ?1 ORDER BY created_on, id"
                ),
                [user.to_string()],
                rows::api_key,
            )
        })
        .await
    }

    async fn update_api_key(&self, k: &ApiKey) -> CoreResult<()> {
        let k = k.clone();
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE api_keys SET name = ?1, permissions = ?2, is_active = ?3 WHERE id = ?4",
                    params![
                        k.name,
                        rows::perms_to_row(&k.permissions),
                        k.is_active,
                        k.id.to_string()
                    ],
                )
                .map_err(internal)?;
            if n == 0 {
                return Err(CoreError::NotFound("The API key was not found".into()));
            }
            Ok(())
        })
        .await
    }

    async fn delete_api_key(&self, id: Uuid) -> CoreResult<bool> {
        self.with(move |c| {
            let n = c
                .execute("DELETE FROM api_keys WHERE id = ?1", [id.to_string()])
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> CoreResult<()> {
        self.with(move |c| {
            c.execute(
                "UPDATE api_keys SET last_used = ?1 WHERE id = ?2",
                params![ts(at), id.to_string()],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn create_folder(&self, folder: NewFolder) -> CoreResult<Folder> {
        self.with(move |c| insert_folder(c, &folder, Utc::now()))
            .await
    }

    async fn folder(&self, id: i64) -> CoreResult<Option<Folder>> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {FOLDER_COLS} FROM folders WHERE id = ?1"),
                [id],
                rows::folder,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn child_folders(&self, parent: i64) -> CoreResult<Vec<Folder>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!("SELECT {FOLDER_COLS} FROM folders WHERE parent_id = ?1 ORDER BY id"),
                [parent],
                rows::folder,
            )
        })
        .await
    }

    async fn rooms_root(&self, portal: PortalId) -> CoreResult<Folder> {
        self.with(move |c| {
            c.query_row(
                &format!(
                    "SELECT {FOLDER_COLS} FROM folders WHERE portal_id = ?1 AND kind = 'rooms_root'"
                ),
                [portal],
                rows::folder,
            )
            .optional()
            .map_err(internal)?
            .ok_or_else(|| CoreError::NotFound(format!("Portal {portal} has no rooms folder")))
        })
        .await
    }

    async fn create_file(&self, f: NewFile) -> CoreResult<FileEntry> {
        self.with(move |c| {
            let portal: Option<PortalId> = c
                .query_row(
                    "SELECT portal_id FROM folders WHERE id = ?1",
                    [f.folder_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(internal)?;
            if portal != Some(f.portal_id) {
                return Err(CoreError::NotFound(
                    "The required folder was not found".into(),
                ));
            }
            let now = Utc::now();
            c.execute(
                "INSERT INTO files (portal_id, folder_id, title, size, created_by, created_on)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    f.portal_id,
                    f.folder_id,
                    f.title,
                    f.size,
                    f.created_by.to_string(),
                    ts(now)
                ],
            )
            .map_err(internal)?;
            Ok(FileEntry {
                id: c.last_insert_rowid(),
                portal_id: f.portal_id,
                folder_id: f.folder_id,
                title: f.title,
                size: f.size,
                created_by: f.created_by,
                created_on: rows::round(now),
            })
        })
        .await
    }

    async fn file(&self, id: i64) -> CoreResult<Option<FileEntry>> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {FILE_COLS} FROM files WHERE id = ?1"),
                [id],
                rows::file,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn files_in(&self, folder: i64) -> CoreResult<Vec<FileEntry>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!("SELECT {FILE_COLS} FROM files WHERE folder_id = ?1 ORDER BY id"),
                [folder],
                rows::file,
            )
        })
        .await
    }

    async fn folders_of(&self, portal: PortalId) -> CoreResult<Vec<Folder>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!("SELECT {FOLDER_COLS} FROM folders WHERE portal_id = ?1 ORDER BY id"),
                [portal],
                rows::folder,
            )
        })
        .await
    }

    async fn files_of(&self, portal: PortalId) -> CoreResult<Vec<FileEntry>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!("SELECT {FILE_COLS} FROM files WHERE portal_id = ?1 ORDER BY id"),
                [portal],
                rows::file,
            )
        })
        .await
    }

    async fn api_keys_of_portal(&self, portal: PortalId) -> CoreResult<Vec<ApiKey>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE portal_id = ?1 ORDER BY created_on, id"
                ),
                [portal],
                rows::api_key,
            )
        })
        .await
    }

    async fn delete_file(&self, id: i64) -> CoreResult<bool> {
        self.with(move |c| {
            Ok(c.execute("DELETE FROM files WHERE id = ?1", [id])
                .map_err(internal)?
                > 0)
        })
        .await
    }

    async fn insert_backup(&self, r: BackupRecord) -> CoreResult<()> {
        self.with(move |c| {
            c.execute(
                &format!("INSERT INTO backups ({BACKUP_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
                params![
                    r.id.to_string(),
                    r.tenant_id,
                    r.is_scheduled,
                    r.name,
                    r.hash,
                    r.size,
                    r.storage as i64,
                    r.storage_base_path,
                    r.storage_path,
                    serde_json::to_string(&r.storage_params).unwrap_or_else(|_| "{}".into()),
                    ts(r.created_on),
                    r.expires_on.map(ts),
                    r.removed,
                    r.paid
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    CoreError::Conflict(format!("Backup {} already recorded", r.id))
                } else {
                    internal(e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn backup(&self, id: Uuid) -> CoreResult<Option<BackupRecord>> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {BACKUP_COLS} FROM backups WHERE id = ?1"),
                [id.to_string()],
                rows::backup,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn live_backups(&self, tenant: PortalId) -> CoreResult<Vec<BackupRecord>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!("SELECT {BACKUP_COLS} FROM backups WHERE tenant_id = ?1 AND removed = 0 ORDER BY created_on, id"),
                [tenant],
                rows::backup,
            )
        })
        .await
    }

    async fn erase_backup(&self, id: Uuid) -> CoreResult<bool> {
        self.with(move |c| {
            Ok(
                c.execute("DELETE FROM backups WHERE id = ?1", [id.to_string()])
                    .map_err(internal)?
                    > 0,
            )
        })
        .await
    }

    async fn mark_backup_removed(&self, id: Uuid) -> CoreResult<bool> {
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE backups SET removed = 1 WHERE id = ?1 AND removed = 0",
                    [id.to_string()],
                )
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    async fn count_backups(
        &self,
        tenant: PortalId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        paid: bool,
    ) -> CoreResult<i64> {
        self.with(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM backups WHERE tenant_id = ?1 AND paid = ?2 AND created_on >= ?3 AND created_on <= ?4",
                params![tenant, paid, ts(from), ts(to)],
                |r| r.get(0),
            )
            .map_err(internal)
        })
        .await
    }

    async fn backup_hash_known(&self, tenant: PortalId, hash: &str) -> CoreResult<bool> {
        let hash = hash.to_uppercase();
        self.with(move |c| {
            let n: i64 = c
                .query_row(
                    "SELECT COUNT(*) FROM backups WHERE tenant_id = ?1 AND hash = ?2",
                    params![tenant, hash],
                    |r| r.get(0),
                )
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    async fn replace_portal_contents(
        &self,
        portal: PortalId,
        contents: PortalContents,
        marker: Uuid,
    ) -> CoreResult<()> {
        self.with(move |conn| {
            let tx = conn.transaction().map_err(internal)?;
            for table in ["sessions", "api_keys", "files", "folders", "users"] {
                tx.execute(&format!("DELETE FROM {table} WHERE portal_id = ?1"), [portal]).map_err(internal)?;
            }
            let conflict = |what: &'static str| {
                move |e: rusqlite::Error| {
                    if is_unique_violation(&e) {
                        CoreError::Conflict(format!("a restored {what} id is taken by another portal"))
                    } else {
                        internal(e)
                    }
                }
            };
            for u in &contents.users {
                let u = User { portal_id: portal, ..u.clone() };
                insert_user(&tx, &u)?;
            }
            let mut folders = contents.folders.clone();
            folders.sort_by_key(|f| f.id);
            for f in &folders {
                let (kind, room_type) = rows::kind_to_row(f.kind);
                tx.execute(
                    &format!("INSERT INTO folders ({FOLDER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                    params![f.id, portal, f.parent_id, f.title, kind, room_type, f.created_by.to_string(), ts(f.created_on)],
                )
                .map_err(conflict("folder"))?;
            }
            for f in &contents.files {
                tx.execute(
                    &format!("INSERT INTO files ({FILE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                    params![f.id, portal, f.folder_id, f.title, f.size, f.created_by.to_string(), ts(f.created_on)],
                )
                .map_err(conflict("file"))?;
            }
            for k in &contents.api_keys {
                tx.execute(
                    &format!("INSERT INTO api_keys ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                    params![
                        k.id.to_string(),
                        portal,
                        k.user_id.to_string(),
                        k.name,
                        k.key_hash,
                        k.key_postfix,
                        rows::perms_to_row(&k.permissions),
                        ts(k.created_on),
                        k.expires_at.map(ts),
                        k.last_used.map(ts),
                        k.is_active
                    ],
                )
                .map_err(conflict("API key"))?;
            }
            tx.execute(
                "UPDATE portals SET time_zone = ?1, language = ?2, owner_id = ?3, last_restore = ?4 WHERE id = ?5",
                params![contents.time_zone, contents.language, contents.owner_id.map(|u| u.to_string()), marker.to_string(), portal],
            )
            .map_err(internal)?;
            tx.commit().map_err(internal)
        })
        .await
    }

    async fn restore_marker(&self, portal: PortalId) -> CoreResult<Option<Uuid>> {
        self.with(move |c| {
            let v: Option<Option<String>> = c
                .query_row(
                    "SELECT last_restore FROM portals WHERE id = ?1",
                    [portal],
                    |r| r.get(0),
                )
                .optional()
                .map_err(internal)?;
            Ok(v.flatten().and_then(|s| Uuid::parse_str(&s).ok()))
        })
        .await
    }

    async fn upsert_schedule(&self, s: Schedule) -> CoreResult<()> {
        self.with(move |c| {
            let body = serde_json::to_string(&s).map_err(|e| CoreError::Internal(e.to_string()))?;
            c.execute(
                "INSERT INTO schedules (tenant_id, body, last_backup_time, last_error, last_error_time)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(tenant_id) DO UPDATE SET body = ?2, last_backup_time = ?3, last_error = ?4, last_error_time = ?5",
                params![s.tenant_id, body, s.last_backup_time.map(ts), s.last_error, s.last_error_time.map(ts)],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn schedule(&self, tenant: PortalId) -> CoreResult<Option<Schedule>> {
        self.with(move |c| {
            c.query_row(
                "SELECT body, last_backup_time, last_error, last_error_time FROM schedules WHERE tenant_id = ?1",
                [tenant],
                rows::schedule,
            )
            .optional()
            .map_err(internal)
        })
        .await
    }

    async fn schedules(&self) -> CoreResult<Vec<Schedule>> {
        self.with(|c| {
            rows::all(
                c,
                "SELECT body, last_backup_time, last_error, last_error_time FROM schedules ORDER BY tenant_id",
                [],
                rows::schedule,
            )
        })
        .await
    }

    async fn delete_schedule(&self, tenant: PortalId) -> CoreResult<bool> {
        self.with(move |c| {
            Ok(
                c.execute("DELETE FROM schedules WHERE tenant_id = ?1", [tenant])
                    .map_err(internal)?
                    > 0,
            )
        })
        .await
    }

    async fn schedule_started(&self, tenant: PortalId, at: DateTime<Utc>) -> CoreResult<()> {
        self.with(move |c| {
            c.execute(
                "UPDATE schedules SET last_backup_time = ?1 WHERE tenant_id = ?2",
                params![ts(at), tenant],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn schedule_outcome(
        &self,
        tenant: PortalId,
        error: Option<(String, DateTime<Utc>)>,
    ) -> CoreResult<()> {
        self.with(move |c| {
            let (msg, at) = match error {
                Some((m, t)) => (Some(m), Some(ts(t))),
                None => (None, None),
            };
            c.execute(
                "UPDATE schedules SET last_error = ?1, last_error_time = ?2 WHERE tenant_id = ?3",
                params![msg, at, tenant],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }
}
