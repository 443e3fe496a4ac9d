//! PostgreSQL catalog: `HistoryStore` (backup records, their missing-archive notes, and
//! restoring portals' contents in one transaction).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::{HistoryStore, PortalContents, Rows};
use dsbackup_core::{ApiKey, BackupRecord, CoreResult, MissingArchive, PortalId, User};
use tokio_postgres::Transaction;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::connect::conflict;
use super::keys::insert_api_key;
use super::rows::{self, BACKUP_COLS, FILE_COLS, FOLDER_COLS, ts};
use super::{PgResult, PostgresCatalog, advance_ids, insert_user};

#[async_trait]
impl HistoryStore for PostgresCatalog {
    async fn insert_backup(&self, r: BackupRecord) -> CoreResult<()> {
        self.call(async { insert_backup_row(&**self.client().await?, &r).await })
            .await
    }

    async fn backup(&self, id: Uuid) -> CoreResult<Option<BackupRecord>> {
        let sql = format!("SELECT {BACKUP_COLS} FROM backups WHERE id = $1");
        self.opt(&sql, &[&id], rows::backup).await
    }

    async fn backup_of(&self, tenant: PortalId, id: Uuid) -> CoreResult<Option<BackupRecord>> {
        let sql = format!("SELECT {BACKUP_COLS} FROM backups WHERE id = $1 AND tenant_id = $2");
        self.opt(&sql, &[&id, &tenant], rows::backup).await
    }

    async fn live_backups(&self, tenant: PortalId) -> CoreResult<Vec<BackupRecord>> {
        let sql = format!(
            "SELECT {BACKUP_COLS} FROM backups WHERE tenant_id = $1 AND NOT removed
             ORDER BY created_on, id"
        );
        self.list(&sql, &[&tenant], rows::backup).await
    }

    async fn erase_backup(&self, id: Uuid) -> CoreResult<bool> {
        let n = self
            .exec("DELETE FROM backups WHERE id = $1", &[&id])
            .await?;
        Ok(n > 0)
    }

    async fn mark_backup_removed(&self, id: Uuid) -> CoreResult<bool> {
        let n = self
            .exec(
                "UPDATE backups SET removed = true WHERE id = $1 AND NOT removed",
                &[&id],
            )
            .await?;
        Ok(n > 0)
    }

    async fn note_backup_missing(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> CoreResult<Option<MissingArchive>> {
        self.in_tx(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {BACKUP_COLS} FROM backups WHERE id = $1 AND NOT removed FOR UPDATE"
                );
                let Some(row) = tx.query_opt(&sql, &[&id]).await? else {
                    return Ok(None);
                };
                let seen = MissingArchive::observed(rows::backup(&row)?.missing, ts(at));
                tx.execute(
                    "UPDATE backups SET missing_since = $1, missing_checks = $2 WHERE id = $3",
                    &[&seen.since, &i64::from(seen.checks), &id],
                )
                .await?;
                Ok(Some(seen))
            })
        })
        .await
    }

    async fn clear_backup_missing(&self, id: Uuid) -> CoreResult<bool> {
        let n = self
            .exec(
                "UPDATE backups SET missing_since = NULL, missing_checks = 0
                 WHERE id = $1 AND missing_since IS NOT NULL",
                &[&id],
            )
            .await?;
        Ok(n > 0)
    }

    async fn count_backups(
        &self,
        tenant: PortalId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        paid: bool,
    ) -> CoreResult<i64> {
        let n = self
            .opt(
                "SELECT COUNT(*) FROM backups WHERE tenant_id = $1 AND paid = $2
                 AND created_on >= $3 AND created_on <= $4",
                &[&tenant, &paid, &ts(from), &ts(to)],
                |r| Ok(r.try_get::<_, i64>(0)?),
            )
            .await?;
        Ok(n.unwrap_or(0))
    }

    async fn backup_hash_known(&self, tenant: PortalId, hash: &str) -> CoreResult<bool> {
        let known = self
            .opt(
                "SELECT EXISTS (SELECT 1 FROM backups WHERE tenant_id = $1 AND hash = $2)",
                &[&tenant, &hash.to_uppercase()],
                |r| Ok(r.try_get::<_, bool>(0)?),
            )
            .await?;
        Ok(known == Some(true))
    }

    async fn replace_contents(
        &self,
        portals: Vec<(PortalId, PortalContents)>,
        marker: Uuid,
    ) -> CoreResult<()> {
        self.in_tx(move |tx| {
            Box::pin(async move {
                // Rows stream in archive order: references are checked at commit.
                tx.batch_execute("SET CONSTRAINTS ALL DEFERRED").await?;
                // Every portal's old rows go first, so ids may move between portals of a dump.
                let ids: Vec<PortalId> = portals.iter().map(|(portal, _)| *portal).collect();
                for portal in &ids {
                    for table in ["sessions", "api_keys", "files", "folders", "users"] {
                        tx.execute(
                            &format!("DELETE FROM {table} WHERE portal_id = $1"),
                            &[portal],
                        )
                        .await?;
                    }
                }
                for (portal, contents) in portals {
                    insert_contents(tx, portal, contents, marker).await?;
                }
                advance_ids(tx, &["folders", "files"]).await
            })
        })
        .await
    }

    async fn restore_marker(&self, portal: PortalId) -> CoreResult<Option<Uuid>> {
        let marker = self
            .opt(
                "SELECT last_restore FROM portals WHERE id = $1",
                &[&portal],
                |r| Ok(r.try_get::<_, Option<Uuid>>(0)?),
            )
            .await?;
        Ok(marker.flatten())
    }
}

/// The rows of `rows`, read on the blocking pool (a restore reads them from staged files) and
/// handed over a few at a time.
fn blocking_rows<T: Send + 'static>(rows: Rows<T>) -> tokio::sync::mpsc::Receiver<CoreResult<T>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::task::spawn_blocking(move || {
        for row in rows {
            if tx.blocking_send(row).is_err() {
                break;
            }
        }
    });
    rx
}

/// Inserts one portal's restored rows and records its restore marker.
async fn insert_contents(
    tx: &Transaction<'_>,
    portal: PortalId,
    contents: PortalContents,
    marker: Uuid,
) -> PgResult<()> {
    let taken = |what: &'static str| {
        conflict(move || format!("a restored {what} id is taken by another portal"))
    };
    let mut users = blocking_rows(contents.users);
    while let Some(u) = users.recv().await {
        insert_user(
            tx,
            &User {
                portal_id: portal,
                ..u?
            },
        )
        .await?;
    }
    let sql =
        format!("INSERT INTO folders ({FOLDER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    let mut folders = blocking_rows(contents.folders);
    while let Some(f) = folders.recv().await {
        let f = f?;
        let (kind, room_type) = rows::kind_to_row(f.kind);
        tx.execute(
            &sql,
            &[
                &f.id,
                &portal,
                &f.parent_id,
                &f.title,
                &kind,
                &room_type,
                &f.created_by,
                &ts(f.created_on),
            ],
        )
        .await
        .map_err(taken("folder"))?;
    }
    let sql = format!("INSERT INTO files ({FILE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
    let mut files = blocking_rows(contents.files);
    while let Some(f) = files.recv().await {
        let f = f?;
        tx.execute(
            &sql,
            &[
                &f.id,
                &portal,
                &f.folder_id,
                &f.title,
                &f.size,
                &f.created_by,
                &ts(f.created_on),
                &f.is_backup,
            ],
        )
        .await
        .map_err(taken("file"))?;
    }
    let mut keys = blocking_rows(contents.api_keys);
    while let Some(k) = keys.recv().await {
        let k = ApiKey {
            portal_id: portal,
            ..k?
        };
        insert_api_key(tx, &k).await.map_err(taken("API key"))?;
    }
    tx.execute(
        "UPDATE portals SET time_zone = $1, language = $2, owner_id = $3, last_restore = $4 WHERE id = $5",
        &[&contents.time_zone, &contents.language, &contents.owner_id, &marker, &portal],
    )
    .await?;
    Ok(())
}

/// Inserts a backup record on `c` (a connection or a transaction); `Conflict` when its id
/// exists.
pub(super) async fn insert_backup_row(
    c: &impl tokio_postgres::GenericClient,
    r: &BackupRecord,
) -> PgResult<()> {
    let (base, path) = r.location.columns();
    let kind = r.location.kind() as i64;
    let checks = i64::from(r.missing.map_or(0, |m| m.checks));
    let sql = format!(
        "INSERT INTO backups ({BACKUP_COLS}) VALUES
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    );
    c.execute(
        &sql,
        &[
            &r.id,
            &r.tenant_id,
            &r.is_scheduled,
            &r.name,
            &r.hash,
            &r.size,
            &kind,
            &base,
            &path,
            &Json(&r.storage_params),
            &ts(r.created_on),
            &r.expires_on.map(ts),
            &r.removed,
            &r.paid,
            &r.missing.map(|m| ts(m.since)),
            &checks,
        ],
    )
    .await
    .map_err(conflict(|| format!("Backup {} already recorded", r.id)))?;
    Ok(())
}
