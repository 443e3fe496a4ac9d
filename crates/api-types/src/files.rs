//! Rooms, folders and files: the fields DocSpace clients read around backups.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::enums::RoomType;
use crate::people::EmployeeDto;

/// `CreateRoomRequestDto` (`title`, `roomType`).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateRoomRequest {
    pub title: Option<String>,
    pub room_type: Option<RoomType>,
}

/// `FolderDtoInteger`: a room or folder.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// `FolderDtoString`: the root folder of a third-party account (`sbox-<n>`), as
/// `files/thirdparty/backup` answers. `parentId` is left out for a root, as upstream's null.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FolderStringDto {
    pub id: String,
    pub title: String,
    pub root_folder_id: String,
    /// `FolderType`: 21 ThirdpartyBackup.
    pub root_folder_type: i32,
    pub provider_item: bool,
    pub provider_key: String,
    pub provider_id: i64,
    pub files_count: i64,
    pub folders_count: i64,
    #[serde(with = "crate::datetime::wire")]
    pub created: DateTime<Utc>,
    #[serde(with = "crate::datetime::wire")]
    pub updated: DateTime<Utc>,
    pub created_by: EmployeeDto,
    /// `FileEntryType`: 1 Folder.
    pub file_entry_type: i32,
}

/// `ThirdPartyBackupRequestDto`: the account to keep backups in (all fields string or null).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ThirdPartyBackupRequest {
    pub url: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub customer_title: Option<String>,
    pub provider_key: Option<String>,
}

/// Upstream's `ProviderTypes`, read from `providerKey` case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderType {
    Box,
    DropboxV2,
    GoogleDrive,
    OneDrive,
    SharePoint,
    WebDav,
    KDrive,
    Yandex,
    NextCloud,
    OwnCloud,
}

impl ProviderType {
    /// Every provider, in upstream's order.
    pub const ALL: [ProviderType; 10] = [
        ProviderType::Box,
        ProviderType::DropboxV2,
        ProviderType::GoogleDrive,
        ProviderType::OneDrive,
        ProviderType::SharePoint,
        ProviderType::WebDav,
        ProviderType::KDrive,
        ProviderType::Yandex,
        ProviderType::NextCloud,
        ProviderType::OwnCloud,
    ];

    /// The upstream name.
    pub fn name(self) -> &'static str {
        match self {
            ProviderType::Box => "Box",
            ProviderType::DropboxV2 => "DropboxV2",
            ProviderType::GoogleDrive => "GoogleDrive",
            ProviderType::OneDrive => "OneDrive",
            ProviderType::SharePoint => "SharePoint",
            ProviderType::WebDav => "WebDav",
            ProviderType::KDrive => "kDrive",
            ProviderType::Yandex => "Yandex",
            ProviderType::NextCloud => "NextCloud",
            ProviderType::OwnCloud => "OwnCloud",
        }
    }

    /// The provider named `key`, in any case; `None` for an unknown one.
    pub fn parse(key: &str) -> Option<Self> {
        let key = key.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(key))
    }
}

/// `FileDtoInteger`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathPart {
    pub id: i64,
    pub title: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_keys_read_in_any_case() {
        assert_eq!(
            ProviderType::parse("nextcloud"),
            Some(ProviderType::NextCloud)
        );
        assert_eq!(ProviderType::parse("KDRIVE"), Some(ProviderType::KDrive));
        assert_eq!(ProviderType::parse(" WebDav "), Some(ProviderType::WebDav));
        assert_eq!(ProviderType::parse("Dropbox"), None);
    }
}
