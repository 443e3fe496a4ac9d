//! Rooms, folders and files: the fields DocSpace clients read around backups.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::enums::RoomType;
use crate::people::EmployeeDto;

/// `CreateRoomRequestDto` (`title`, `roomType`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomRequest {
    pub title: Option<String>,
    pub room_type: Option<RoomType>,
}

/// `FolderDtoInteger`: a room or folder.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderDto {
    pub id: i64,
    pub title: String,
    pub parent_id: i64,
    pub files_count: i64,
    pub folders_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_type: Option<RoomType>,
    #[serde(with = "crate::datetime::wire")]
    pub created: DateTime<Utc>,
    #[serde(with = "crate::datetime::wire")]
    pub updated: DateTime<Utc>,
    pub created_by: EmployeeDto,
    /// `FileEntryType`: 1 Folder.
    pub file_entry_type: i32,
}

/// `FileDtoInteger`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDto {
    pub id: i64,
    pub title: String,
    pub folder_id: i64,
    pub content_length: String,
    pub pure_content_length: i64,
    pub file_exst: String,
    pub view_url: String,
    #[serde(with = "crate::datetime::wire")]
    pub created: DateTime<Utc>,
    #[serde(with = "crate::datetime::wire")]
    pub updated: DateTime<Utc>,
    pub created_by: EmployeeDto,
    /// `FileEntryType`: 2 File.
    pub file_entry_type: i32,
    pub version: i32,
}

/// `FolderContentDtoInteger`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderContentDto {
    pub files: Vec<FileDto>,
    pub folders: Vec<FolderDto>,
    pub current: FolderDto,
    pub path_parts: Vec<PathPart>,
    pub start_index: i64,
    pub count: i64,
    pub total: i64,
}

/// One step of `pathParts`.
#[derive(Debug, Clone, Serialize)]
pub struct PathPart {
    pub id: i64,
    pub title: String,
}
