//! The values the catalog traits take and give beyond the domain model: what creating a
//! portal, folder or file needs, and a portal's contents streamed in by a restore.

use uuid::Uuid;

use crate::error::CoreResult;
use crate::model::{ApiKey, FileEntry, Folder, FolderKind, PortalId, User};

/// What is needed to create a portal; the catalog assigns the id.
#[derive(Debug, Clone)]
pub struct NewPortal {
    pub alias: String,
    pub time_zone: String,
    pub language: String,
}

/// What is needed to create a folder; the catalog assigns the id.
#[derive(Debug, Clone)]
pub struct NewFolder {
    pub portal_id: PortalId,
    pub parent_id: Option<i64>,
    pub title: String,
    pub kind: FolderKind,
    pub created_by: Uuid,
}

/// What is needed to record a file; the catalog assigns the id.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub portal_id: PortalId,
    pub folder_id: i64,
    pub title: String,
    pub size: i64,
    pub created_by: Uuid,
    /// A backup archive (see [`FileEntry::is_backup`](crate::FileEntry::is_backup)).
    pub is_backup: bool,
}

/// Rows streamed into the catalog, one at a time (a restore reads them from staged files, so
/// a table of any size never sits in memory). An `Err` row aborts the write it feeds.
pub struct Rows<T>(Box<dyn Iterator<Item = CoreResult<T>> + Send>);

impl<T: Send + 'static> Rows<T> {
    /// Rows from any iterator.
    pub fn new(rows: impl Iterator<Item = CoreResult<T>> + Send + 'static) -> Self {
        Self(Box::new(rows))
    }

    /// Rows held in memory already.
    pub fn from_vec(rows: Vec<T>) -> Self {
        Self::new(rows.into_iter().map(Ok))
    }
}

impl<T> Iterator for Rows<T> {
    type Item = CoreResult<T>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

impl<T> std::fmt::Debug for Rows<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rows(..)")
    }
}

/// Everything of a portal that a restore puts back, as read from an archive and checked.
#[derive(Debug)]
pub struct PortalContents {
    pub time_zone: String,
    pub language: String,
    pub owner_id: Option<Uuid>,
    pub users: Rows<User>,
    pub folders: Rows<Folder>,
    pub files: Rows<FileEntry>,
    pub api_keys: Rows<ApiKey>,
}
