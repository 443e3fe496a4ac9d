//! SQLite catalog: `FileStore` (rooms, folders and files). Scoped lookups put the portal in
//! the statement itself, so another portal's row is never read.

use async_trait::async_trait;
use chrono::Utc;
use dsbackup_core::catalog::{FileStore, NewFile, NewFolder};
use dsbackup_core::{CoreError, CoreResult, FileEntry, Folder, PortalId};
use rusqlite::params;

use super::rows::{self, FILE_COLS, FOLDER_COLS, ts};
use super::{SqliteCatalog, insert_folder, internal};

#[async_trait]
impl FileStore for SqliteCatalog {
    async fn create_folder(&self, folder: NewFolder) -> CoreResult<Folder> {
        self.with(move |c| insert_folder(c, &folder, Utc::now()))
            .await
    }

    async fn folder_in(&self, portal: PortalId, id: i64) -> CoreResult<Option<Folder>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {FOLDER_COLS} FROM folders WHERE id = ?1 AND portal_id = ?2"),
                [id, portal],
                rows::folder,
            )
        })
        .await
    }

    async fn folder(&self, id: i64) -> CoreResult<Option<Folder>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {FOLDER_COLS} FROM folders WHERE id = ?1"),
                [id],
                rows::folder,
            )
        })
        .await
    }

    async fn child_folders(&self, portal: PortalId, parent: i64) -> CoreResult<Vec<Folder>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!(
                    "SELECT {FOLDER_COLS} FROM folders WHERE parent_id = ?1 AND portal_id = ?2
                     ORDER BY id"
                ),
                [parent, portal],
                rows::folder,
            )
        })
        .await
    }

    async fn rooms_root(&self, portal: PortalId) -> CoreResult<Folder> {
        self.with(move |c| {
            rows::one(
                c,
                &format!(
                    "SELECT {FOLDER_COLS} FROM folders WHERE portal_id = ?1 AND kind = 'rooms_root'"
                ),
                [portal],
                rows::folder,
            )?
            .ok_or_else(|| CoreError::NotFound(format!("Portal {portal} has no rooms folder")))
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

    async fn create_file(&self, f: NewFile) -> CoreResult<FileEntry> {
        self.with(move |c| {
            let portal: Option<PortalId> = rows::one(
                c,
                "SELECT portal_id FROM folders WHERE id = ?1",
                [f.folder_id],
                |r| r.get(0),
            )?;
            if portal != Some(f.portal_id) {
                return Err(CoreError::NotFound(
                    "The required folder was not found".into(),
                ));
            }
            let now = Utc::now();
            c.execute(
                "INSERT INTO files (portal_id, folder_id, title, size, created_by, created_on, is_backup)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    f.portal_id,
                    f.folder_id,
                    f.title,
                    f.size,
                    f.created_by.to_string(),
                    ts(now),
                    f.is_backup
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
                is_backup: f.is_backup,
            })
        })
        .await
    }

    async fn file_in(&self, portal: PortalId, id: i64) -> CoreResult<Option<FileEntry>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {FILE_COLS} FROM files WHERE id = ?1 AND portal_id = ?2"),
                [id, portal],
                rows::file,
            )
        })
        .await
    }

    async fn file(&self, id: i64) -> CoreResult<Option<FileEntry>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {FILE_COLS} FROM files WHERE id = ?1"),
                [id],
                rows::file,
            )
        })
        .await
    }

    async fn files_in(&self, portal: PortalId, folder: i64) -> CoreResult<Vec<FileEntry>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!(
                    "SELECT {FILE_COLS} FROM files WHERE folder_id = ?1 AND portal_id = ?2
                     ORDER BY id"
                ),
                [folder, portal],
                rows::file,
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

    async fn delete_file(&self, id: i64) -> CoreResult<bool> {
        self.with(move |c| {
            Ok(c.execute("DELETE FROM files WHERE id = ?1", [id])
                .map_err(internal)?
                > 0)
        })
        .await
    }
}
