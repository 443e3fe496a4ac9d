//! `FileStore`: a portal's rooms root, rooms, folders and the files in them.

use async_trait::async_trait;

use super::{NewFile, NewFolder};
use crate::error::CoreResult;
use crate::model::{FileEntry, Folder, PortalId};

/// Rooms, folders and files. Every lookup on behalf of a caller is scoped to a portal.
#[async_trait]
pub trait FileStore: Send + Sync + std::fmt::Debug {
    /// Creates a folder or room. `NotFound` when the parent is not in the same portal.
    async fn create_folder(&self, folder: NewFolder) -> CoreResult<Folder>;
    /// A folder of `portal` by id; `None` for another portal's folder.
    async fn folder_in(&self, portal: PortalId, id: i64) -> CoreResult<Option<Folder>>;
    /// A folder by id, in any portal. Unscoped on purpose: a backup record's Documents location
    /// names only its folder and file, and a whole-instance backup's tenant (`DUMP_TENANT`) is
    /// no portal, so finding its archive cannot start from one. Code acting for a caller uses
    /// [`folder_in`](Self::folder_in).
    async fn folder(&self, id: i64) -> CoreResult<Option<Folder>>;
    /// The folders of `portal` directly inside `parent`, by id; empty when `parent` is
    /// another portal's.
    async fn child_folders(&self, portal: PortalId, parent: i64) -> CoreResult<Vec<Folder>>;
    /// The portal's rooms root. `NotFound` when the portal has none.
    async fn rooms_root(&self, portal: PortalId) -> CoreResult<Folder>;
    /// Every folder of a portal, by id.
    async fn folders_of(&self, portal: PortalId) -> CoreResult<Vec<Folder>>;

    /// Records a file. `NotFound` when the folder is not in the same portal.
    async fn create_file(&self, file: NewFile) -> CoreResult<FileEntry>;
    /// A file of `portal` by id; `None` for another portal's file.
    async fn file_in(&self, portal: PortalId, id: i64) -> CoreResult<Option<FileEntry>>;
    /// A file by id, in any portal. Unscoped for the same reason as [`folder`](Self::folder):
    /// a whole-instance backup kept in Documents names its archive file by id only. Code
    /// acting for a caller uses [`file_in`](Self::file_in).
    async fn file(&self, id: i64) -> CoreResult<Option<FileEntry>>;
    /// The files of `portal` directly inside `folder`, by id; empty when `folder` is another
    /// portal's.
    async fn files_in(&self, portal: PortalId, folder: i64) -> CoreResult<Vec<FileEntry>>;
    /// Every file of a portal, by id.
    async fn files_of(&self, portal: PortalId) -> CoreResult<Vec<FileEntry>>;
    /// Deletes a file record. Returns whether it existed. Unscoped for the same reason as
    /// [`file`](Self::file): a dump's archive file is named by id only.
    async fn delete_file(&self, id: i64) -> CoreResult<bool>;
}
