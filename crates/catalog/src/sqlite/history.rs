//! SQLite catalog: `HistoryStore` (backup records, their missing-archive notes, and restoring
//! portals' contents in one transaction).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::{HistoryStore, PortalContents};
use dsbackup_core::{ApiKey, BackupRecord, CoreError, CoreResult, MissingArchive, PortalId, User};
use rusqlite::params;
use uuid::Uuid;

use super::keys::insert_api_key;
use super::rows::{self, BACKUP_COLS, FILE_COLS, FOLDER_COLS, ts};
use super::{SqliteCatalog, insert_user, internal, is_unique_violation};

#[async_trait]
impl HistoryStore for SqliteCatalog {
    async fn insert_backup(&self, r: BackupRecord) -> CoreResult<()> {
        self.with(move |c| insert_backup_row(c, &r)).await
    }

    async fn backup(&self, id: Uuid) -> CoreResult<Option<BackupRecord>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {BACKUP_COLS} FROM backups WHERE id = ?1"),
                [id.to_string()],
                rows::backup,
            )
        })
        .await
    }

    async fn backup_of(&self, tenant: PortalId, id: Uuid) -> CoreResult<Option<BackupRecord>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {BACKUP_COLS} FROM backups WHERE id = ?1 AND tenant_id = ?2"),
                params![id.to_string(), tenant],
                rows::backup,
            )
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

    async fn note_backup_missing(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> CoreResult<Option<MissingArchive>> {
        self.with(move |c| {
            let tx = c.transaction().map_err(internal)?;
            let row: Option<BackupRecord> = rows::one(
                &tx,
                &format!("SELECT {BACKUP_COLS} FROM backups WHERE id = ?1 AND removed = 0"),
                [id.to_string()],
                rows::backup,
            )?;
            let Some(r) = row else {
                return Ok(None);
            };
            let seen = MissingArchive::observed(r.missing, rows::round(at));
            tx.execute(
                "UPDATE backups SET missing_since = ?1, missing_checks = ?2 WHERE id = ?3",
                params![ts(seen.since), seen.checks, id.to_string()],
            )
            .map_err(internal)?;
            tx.commit().map_err(internal)?;
            Ok(Some(seen))
        })
        .await
    }

    async fn clear_backup_missing(&self, id: Uuid) -> CoreResult<bool> {
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE backups SET missing_since = NULL, missing_checks = 0
                     WHERE id = ?1 AND missing_since IS NOT NULL",
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

    async fn replace_contents(
        &self,
        portals: Vec<(PortalId, PortalContents)>,
        marker: Uuid,
    ) -> CoreResult<()> {
        self.with(move |conn| {
            let tx = conn.transaction().map_err(internal)?;
            // Every portal's old rows go first, so ids may move between portals of a dump.
            for (portal, _) in &portals {
                for table in ["sessions", "api_keys", "files", "folders", "users"] {
                    tx.execute(
                        &format!("DELETE FROM {table} WHERE portal_id = ?1"),
                        [portal],
                    )
                    .map_err(internal)?;
                }
            }
            // Rows stream in archive order: references are checked at commit.
            tx.pragma_update(None, "defer_foreign_keys", true)
                .map_err(internal)?;
            for (portal, contents) in portals {
                insert_contents(&tx, portal, contents, marker)?;
            }
            tx.commit().map_err(internal)
        })
        .await
    }

    async fn restore_marker(&self, portal: PortalId) -> CoreResult<Option<Uuid>> {
        self.with(move |c| {
            let v: Option<Option<String>> = rows::one(
                c,
                "SELECT last_restore FROM portals WHERE id = ?1",
                [portal],
                |r| r.get(0),
            )?;
            Ok(v.flatten().and_then(|s| Uuid::parse_str(&s).ok()))
        })
        .await
    }
}

/// Inserts one portal's restored rows and records its restore marker.
fn insert_contents(
    tx: &rusqlite::Transaction<'_>,
    portal: PortalId,
    contents: PortalContents,
    marker: Uuid,
) -> CoreResult<()> {
    let conflict = |what: &'static str| {
        move |e: rusqlite::Error| {
            if is_unique_violation(&e) {
                CoreError::Conflict(format!("a restored {what} id is taken by another portal"))
            } else {
                internal(e)
            }
        }
    };
    for u in contents.users {
        let u = User {
            portal_id: portal,
            ..u?
        };
        insert_user(tx, &u)?;
    }
    for f in contents.folders {
        let f = f?;
        let (kind, room_type) = rows::kind_to_row(f.kind);
        tx.execute(
            &format!("INSERT INTO folders ({FOLDER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![
                f.id,
                portal,
                f.parent_id,
                f.title,
                kind,
                room_type,
                f.created_by.to_string(),
                ts(f.created_on)
            ],
        )
        .map_err(conflict("folder"))?;
    }
    for f in contents.files {
        let f = f?;
        tx.execute(
            &format!("INSERT INTO files ({FILE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![
                f.id,
                portal,
                f.folder_id,
                f.title,
                f.size,
                f.created_by.to_string(),
                ts(f.created_on),
                f.is_backup
            ],
        )
        .map_err(conflict("file"))?;
    }
    for k in contents.api_keys {
        let k = ApiKey {
            portal_id: portal,
            ..k?
        };
        insert_api_key(tx, &k).map_err(conflict("API key"))?;
    }
    tx.execute(
            "UPDATE portals SET time_zone = ?1, language = ?2, owner_id = ?3, last_restore = ?4 WHERE id = ?5",
            params![contents.time_zone, contents.language, contents.owner_id.map(|u| u.to_string()), marker.to_string(), portal],
        )
        .map_err(internal)?;
    Ok(())
}

/// Inserts a backup record; `Conflict` when its id exists.
pub(super) fn insert_backup_row(c: &rusqlite::Connection, r: &BackupRecord) -> CoreResult<()> {
    let (base, path) = r.location.columns();
    c.execute(
        &format!("INSERT INTO backups ({BACKUP_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"),
        params![
            r.id.to_string(),
            r.tenant_id,
            r.is_scheduled,
            r.name,
            r.hash,
            r.size,
            r.location.kind() as i64,
            base,
            path,
            serde_json::to_string(&r.storage_params).unwrap_or_else(|_| "{}".into()),
            ts(r.created_on),
            r.expires_on.map(ts),
            r.removed,
            r.paid,
            r.missing.map(|m| ts(m.since)),
            r.missing.map_or(0, |m| m.checks)
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
}
