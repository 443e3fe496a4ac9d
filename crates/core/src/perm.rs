//! Who may do what: role rules and API-key scopes.
//!
//! Roles follow DocSpace: the Owner and DocSpace admins administer the portal (people,
//! backups, settings); room admins create rooms; users and guests work inside rooms. API keys
//! carry scopes that narrow what their holder's role allows, never widen it.

use crate::model::{FileEntry, Role};

/// The scopes an API key may carry (`GET /api/2.0/keys/permissions`). `*` is everything.
pub const SCOPES: &[&str] = &[
    "*",
    "accounts:read",
    "accounts:write",
    "accounts.self:read",
    "accounts.self:write",
    "rooms:read",
    "rooms:write",
    "files:read",
    "files:write",
    "backup:read",
    "backup:write",
];

/// What an endpoint needs from a key: an area and whether it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub area: &'static str,
    pub write: bool,
}

impl Scope {
    pub const fn read(area: &'static str) -> Self {
        Scope { area, write: false }
    }
    pub const fn write(area: &'static str) -> Self {
        Scope { area, write: true }
    }
    /// Only a full-access key (`*`) passes; used for key management.
    pub const FULL: Scope = Scope {
        area: "*",
        write: true,
    };
}

/// Whether a key with `granted` scopes may act with `needed`.
/// `area:write` implies `area:read`; `accounts` implies `accounts.self`.
pub fn key_allows(granted: &[String], needed: Scope) -> bool {
    granted.iter().any(|g| {
        if g == "*" {
            return true;
        }
        if needed.area == "*" {
            return false;
        }
        let Some((area, level)) = g.split_once(':') else {
            return false;
        };
        let area_ok = area == needed.area || (area == "accounts" && needed.area == "accounts.self");
        let level_ok = level == "write" || !needed.write;
        area_ok && level_ok
    })
}

/// Administers the portal: members, backups, restores, settings.
pub fn is_portal_admin(role: Role) -> bool {
    matches!(role, Role::Owner | Role::DocSpaceAdmin)
}

/// May see and read a file. Backup archives kept in Documents hold every member's password
/// hash and every key hash, so only portal admins see them; to anyone else they do not exist
/// (not listed, not counted, 404 like a missing file).
pub fn may_see_file(role: Role, file: &FileEntry) -> bool {
    !file.is_backup || is_portal_admin(role)
}

/// May create rooms.
pub fn may_create_rooms(role: Role) -> bool {
    matches!(role, Role::Owner | Role::DocSpaceAdmin | Role::RoomAdmin)
}

/// May own API keys (guests may not, as upstream).
pub fn may_own_keys(role: Role) -> bool {
    !matches!(role, Role::Guest)
}

/// May add a member of role `target`: admins add anyone but an owner, and only the owner adds
/// DocSpace admins.
pub fn may_add_member(actor: Role, target: Role) -> bool {
    match target {
        Role::Owner => false,
        Role::DocSpaceAdmin => actor == Role::Owner,
        _ => is_portal_admin(actor),
    }
}

/// May change the password of, or remove, a member of role `target` other than oneself: the
/// same rule as adding one (the Owner is never managed by others; only the Owner manages
/// DocSpace admins).
pub fn may_manage_member(actor: Role, target: Role) -> bool {
    may_add_member(actor, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn scopes() {
        assert!(key_allows(&s(&["*"]), Scope::FULL));
        assert!(!key_allows(&s(&["files:write"]), Scope::FULL));
        assert!(key_allows(&s(&["files:write"]), Scope::read("files")));
        assert!(!key_allows(&s(&["files:read"]), Scope::write("files")));
        assert!(key_allows(
            &s(&["accounts:read"]),
            Scope::read("accounts.self")
        ));
        assert!(!key_allows(
            &s(&["accounts.self:read"]),
            Scope::read("accounts")
        ));
        assert!(!key_allows(&s(&[]), Scope::read("files")));
    }

    #[test]
    fn roles() {
        assert!(may_add_member(Role::Owner, Role::DocSpaceAdmin));
        assert!(!may_add_member(Role::DocSpaceAdmin, Role::DocSpaceAdmin));
        assert!(may_add_member(Role::DocSpaceAdmin, Role::Guest));
        assert!(!may_add_member(Role::RoomAdmin, Role::User));
        assert!(!may_add_member(Role::Owner, Role::Owner));
        assert!(may_create_rooms(Role::RoomAdmin) && !may_create_rooms(Role::User));
    }

    #[test]
    fn backup_archives_are_for_portal_admins_only() {
        let mut f = FileEntry {
            id: 1,
            portal_id: 1,
            folder_id: 2,
            title: "a.tar.zst".into(),
            size: 1,
            created_by: uuid::Uuid::nil(),
            created_on: chrono::Utc::now(),
            is_backup: false,
        };
        assert!(may_see_file(Role::Guest, &f));
        f.is_backup = true;
        for (role, sees) in [
            (Role::Owner, true),
            (Role::DocSpaceAdmin, true),
            (Role::RoomAdmin, false),
            (Role::User, false),
            (Role::Guest, false),
        ] {
            assert_eq!(may_see_file(role, &f), sees, "{role:?}");
        }
    }
}
