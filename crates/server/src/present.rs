//! Domain values as DocSpace DTOs: the conversions at the edge of the HTTP layer.

use dsbackup_api_types::enums::RoomType;
use dsbackup_api_types::files::{FileDto, FolderDto};
use dsbackup_api_types::keys::ApiKeyDto;
use dsbackup_api_types::people::{EmployeeDto, EmployeeFullDto};
use dsbackup_core::{ApiKey, FileEntry, Folder, FolderKind, Role, User};
use uuid::Uuid;

/// The short `EmployeeDto` of a member; an unknown member (deleted) shows its id only.
pub fn employee(id: Uuid, user: Option<&User>) -> EmployeeDto {
    EmployeeDto {
        id,
        display_name: user.map(User::display_name).unwrap_or_default(),
        has_avatar: false,
        is_anonim: false,
    }
}

/// The `EmployeeFullDto` of a member.
pub fn employee_full(u: &User) -> EmployeeFullDto {
    EmployeeFullDto {
        id: u.id,
        display_name: u.display_name(),
        first_name: u.first_name.clone(),
        last_name: u.last_name.clone(),
        user_name: u.email.clone(),
        email: u.email.clone(),
        status: 1,
        is_admin: matches!(u.role, Role::Owner | Role::DocSpaceAdmin),
        is_room_admin: u.role == Role::RoomAdmin,
        is_owner: u.role == Role::Owner,
        is_visitor: u.role == Role::Guest,
        is_collaborator: u.role == Role::User,
        has_avatar: false,
        is_anonim: false,
    }
}

/// An API key; `secret` is the full value, given only right after creation.
pub fn api_key(k: &ApiKey, owner: &User, secret: Option<String>) -> ApiKeyDto {
    ApiKeyDto {
        id: k.id,
        name: k.name.clone(),
        key: secret,
        key_postfix: format!("...{}", k.key_postfix),
        permissions: k.permissions.clone(),
        last_used: k.last_used,
        create_on: k.created_on,
        create_by: employee(owner.id, Some(owner)),
        expires_at: k.expires_at,
        is_active: k.is_active,
    }
}

/// A room or folder with its counts.
pub fn folder(f: &Folder, files: i64, folders: i64, creator: Option<&User>) -> FolderDto {
    FolderDto {
        id: f.id,
        title: f.title.clone(),
        parent_id: f.parent_id.unwrap_or(0),
        files_count: files,
        folders_count: folders,
        room_type: match f.kind {
            FolderKind::Room { room_type } => RoomType::from_value(room_type),
            _ => None,
        },
        created: f.created_on,
        updated: f.created_on,
        created_by: employee(f.created_by, creator),
        file_entry_type: 1,
    }
}

/// A file; `base` is the server's base URL for `viewUrl`.
pub fn file(f: &FileEntry, base: &str, creator: Option<&User>) -> FileDto {
    let exst = f
        .title
        .rsplit_once('.')
        .map(|(_, e)| format!(".{}", e.to_lowercase()))
        .unwrap_or_default();
    FileDto {
        id: f.id,
        title: f.title.clone(),
        folder_id: f.folder_id,
        content_length: human_size(f.size),
        pure_content_length: f.size,
        file_exst: exst,
        view_url: format!("{base}/filehandler.ashx?action=download&fileid={}", f.id),
        created: f.created_on,
        updated: f.created_on,
        created_by: employee(f.created_by, creator),
        file_entry_type: 2,
        version: 1,
    }
}

/// `1.5 MB` the way DocSpace shows sizes.
pub fn human_size(n: i64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.2} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::human_size(12), "12 bytes");
        assert_eq!(super::human_size(1536), "1.50 KB");
    }
}
