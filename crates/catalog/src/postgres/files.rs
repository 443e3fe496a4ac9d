//! PostgreSQL catalog: `FileStore` (rooms, folders and files). Scoped lookups put the portal
//! in the statement itself, so another portal's row is never read; a new folder's parent and
//! a new file's folder are checked to be the portal's in the same statement as the insert.

use async_trait::async_trait;
use chrono::Utc;
use dsbackup_core::catalog::{FileStore, NewFile, NewFolder};
use dsbackup_core::{CoreError, CoreResult, FileEntry, Folder, PortalId};

use super::rows::{self, FILE_COLS, FOLDER_COLS, ts};
use super::{PostgresCatalog, insert_folder};

#[async_trait]
impl FileStore for PostgresCatalog {
    async fn create_folder(&self, folder: NewFolder) -> CoreResult<Folder> {
        self.in_tx(move |tx| Box::pin(async move { insert_folder(tx, &folder, Utc::now()).await }))
            .await
    }

    async fn folder_in(&self, portal: PortalId, id: i64) -> CoreResult<Option<Folder>> {
        let sql = format!("SELECT {FOLDER_COLS} FROM folders WHERE id = $1 AND portal_id = $2");
        self.opt(&sql, &[&id, &portal], rows::folder).await
    }

    async fn folder(&self, id: i64) -> CoreResult<Option<Folder>> {
        let sql = format!("SELECT {FOLDER_COLS} FROM folders WHERE id = $1");
        self.opt(&sql, &[&id], rows::folder).await
    }

    async fn child_folders(&self, portal: PortalId, parent: i64) -> CoreResult<Vec<Folder>> {
        let sql = format!(
            "SELECT {FOLDER_COLS} FROM folders WHERE parent_id = $1 AND portal_id = $2 ORDER BY id"
        );
        self.list(&sql, &[&parent, &portal], rows::folder).await
    }

    async fn rooms_root(&self, portal: PortalId) -> CoreResult<Folder> {
        let sql = format!(
            "SELECT {FOLDER_COLS} FROM folders WHERE portal_id = $1 AND kind = 'rooms_root'"
        );
        self.opt(&sql, &[&portal], rows::folder)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("Portal {portal} has no rooms folder")))
    }

    async fn folders_of(&self, portal: PortalId) -> CoreResult<Vec<Folder>> {
        let sql = format!("SELECT {FOLDER_COLS} FROM folders WHERE portal_id = $1 ORDER BY id");
        self.list(&sql, &[&portal], rows::folder).await
    }

    async fn create_file(&self, f: NewFile) -> CoreResult<FileEntry> {
        let now = ts(Utc::now());
        let id: Option<i64> = self
            .opt(
                "INSERT INTO files (portal_id, folder_id, title, size, created_by, created_on, is_backup)
                 SELECT $1::bigint, $2::bigint, $3::text, $4::bigint, $5::uuid, $6::timestamptz, $7::boolean
                 WHERE EXISTS (SELECT 1 FROM folders WHERE id = $2 AND portal_id = $1)
                 RETURNING id",
                &[&f.portal_id, &f.folder_id, &f.title, &f.size, &f.created_by, &now, &f.is_backup],
                |r| Ok(r.try_get(0)?),
            )
            .await?;
        let Some(id) = id else {
            return Err(CoreError::NotFound(
                "The required folder was not found".into(),
            ));
        };
        Ok(FileEntry {
            id,
            portal_id: f.portal_id,
            folder_id: f.folder_id,
            title: f.title,
            size: f.size,
            created_by: f.created_by,
            created_on: now,
            is_backup: f.is_backup,
        })
    }

    async fn file_in(&self, portal: PortalId, id: i64) -> CoreResult<Option<FileEntry>> {
        let sql = format!("SELECT {FILE_COLS} FROM files WHERE id = $1 AND portal_id = $2");
        self.opt(&sql, &[&id, &portal], rows::file).await
    }

    async fn file(&self, id: i64) -> CoreResult<Option<FileEntry>> {
        let sql = format!("SELECT {FILE_COLS} FROM files WHERE id = $1");
        self.opt(&sql, &[&id], rows::file).await
    }

    async fn files_in(&self, portal: PortalId, folder: i64) -> CoreResult<Vec<FileEntry>> {
        let sql = format!(
            "SELECT {FILE_COLS} FROM files WHERE folder_id = $1 AND portal_id = $2 ORDER BY id"
        );
        self.list(&sql, &[&folder, &portal], rows::file).await
    }

    async fn files_of(&self, portal: PortalId) -> CoreResult<Vec<FileEntry>> {
        let sql = format!("SELECT {FILE_COLS} FROM files WHERE portal_id = $1 ORDER BY id");
        self.list(&sql, &[&portal], rows::file).await
    }

    async fn delete_file(&self, id: i64) -> CoreResult<bool> {
        let n = self.exec("DELETE FROM files WHERE id = $1", &[&id]).await?;
        Ok(n > 0)
    }
}
