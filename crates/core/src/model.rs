//! Domain types: portals, members, rooms and files, API keys and sessions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A portal's numeric id (DocSpace `tenantId`).
pub type PortalId = i64;

/// How the instance behaves where upstream standalone and SaaS differ (SERVER.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One self-hosted instance: Local storage and dumps allowed, no backup allowance.
    #[default]
    Standalone,
    /// Hosted: Local storage and dumps refused, a monthly free-backup allowance.
    Saas,
}

/// Life state of a portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortalStatus {
    Active,
    Suspended,
    Restoring,
    RemovePending,
}

impl PortalStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PortalStatus::Active => "Active",
            PortalStatus::Suspended => "Suspended",
            PortalStatus::Restoring => "Restoring",
            PortalStatus::RemovePending => "RemovePending",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            PortalStatus::Active,
            PortalStatus::Suspended,
            PortalStatus::Restoring,
            PortalStatus::RemovePending,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// A portal (tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Portal {
    pub id: PortalId,
    pub alias: String,
    pub status: PortalStatus,
    /// IANA time zone name, e.g. `UTC` or `Europe/Riga`.
    pub time_zone: String,
    pub language: String,
    pub owner_id: Option<Uuid>,
    pub created_on: DateTime<Utc>,
}

/// A portal member's role, the DocSpace user types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Owner,
    DocSpaceAdmin,
    RoomAdmin,
    User,
    Guest,
}

impl Role {
    /// The stored (and DocSpace) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::DocSpaceAdmin => "DocSpaceAdmin",
            Role::RoomAdmin => "RoomAdmin",
            Role::User => "User",
            Role::Guest => "Guest",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Role::Owner,
            Role::DocSpaceAdmin,
            Role::RoomAdmin,
            Role::User,
            Role::Guest,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A member of a portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub portal_id: PortalId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
    /// argon2 PHC string; never leaves the server.
    pub password_hash: String,
    pub created_on: DateTime<Utc>,
}

impl User {
    /// `First Last`, or the e-mail when both are empty.
    pub fn display_name(&self) -> String {
        let name = format!("{} {}", self.first_name, self.last_name);
        let name = name.trim();
        if name.is_empty() {
            self.email.clone()
        } else {
            name.to_string()
        }
    }
}

/// What a folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FolderKind {
    /// The portal's rooms root (`@rooms`).
    RoomsRoot,
    /// A room; `room_type` is its DocSpace `RoomType` integer.
    Room { room_type: i64 },
    /// A plain folder inside a room.
    Folder,
}

/// A room or folder. Ids are integers, unique across the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    pub id: i64,
    pub portal_id: PortalId,
    pub parent_id: Option<i64>,
    pub title: String,
    pub kind: FolderKind,
    pub created_by: Uuid,
    pub created_on: DateTime<Utc>,
}

/// A file in a folder. Its bytes live in the portal's documents area under its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub id: i64,
    pub portal_id: PortalId,
    pub folder_id: i64,
    pub title: String,
    pub size: i64,
    pub created_by: Uuid,
    pub created_on: DateTime<Utc>,
    /// A backup archive placed here by the backup service: only portal admins see it (it holds
    /// every member's password hash). Absent in rows of older archives.
    #[serde(default)]
    pub is_backup: bool,
}

/// An API key. Only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: Uuid,
    pub portal_id: PortalId,
    pub user_id: Uuid,
    pub name: String,
    pub key_hash: String,
    /// The last four characters, shown to tell keys apart.
    pub key_postfix: String,
    pub permissions: Vec<String>,
    pub created_on: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    pub is_active: bool,
}

impl ApiKey {
    /// Whether the key may authenticate at `now`.
    pub fn usable_at(&self, now: DateTime<Utc>) -> bool {
        self.is_active && self.expires_at.is_none_or(|t| t > now)
    }
}

/// A login session (the `asc_auth_key` token). Only the SHA-256 of the token is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub token_hash: String,
    pub user_id: Uuid,
    pub portal_id: PortalId,
    pub expires_at: DateTime<Utc>,
}

/// Where a backup archive is kept (DocSpace `BackupStorageType` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StorageKind {
    Documents = 0,
    ThirdPartyDocuments = 1,
    CustomCloud = 2,
    Local = 3,
    DataStore = 4,
    ThirdPartyConsumer = 5,
}

impl StorageKind {
    /// The name DocSpace gives the storage type in messages (its `Thridparty` spelling too).
    pub fn name(self) -> &'static str {
        match self {
            StorageKind::Documents => "Documents",
            StorageKind::ThirdPartyDocuments => "ThridpartyDocuments",
            StorageKind::CustomCloud => "CustomCloud",
            StorageKind::Local => "Local",
            StorageKind::DataStore => "DataStore",
            StorageKind::ThirdPartyConsumer => "ThirdPartyConsumer",
        }
    }

    /// From the stored integer.
    pub fn from_i64(v: i64) -> Option<Self> {
        use StorageKind::*;
        [
            Documents,
            ThirdPartyDocuments,
            CustomCloud,
            Local,
            DataStore,
            ThirdPartyConsumer,
        ]
        .into_iter()
        .find(|k| *k as i64 == v)
    }
}

/// The tenant id of whole-instance dumps, as upstream.
pub const DUMP_TENANT: PortalId = -1;

/// A backup history record (upstream `backup_backup`). Removed records stay, marked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    /// Equals the task id of the job that made it.
    pub id: Uuid,
    /// The portal, or [`DUMP_TENANT`] for a dump.
    pub tenant_id: PortalId,
    pub is_scheduled: bool,
    /// The archive's file name.
    pub name: String,
    /// Upper-case hex SHA-256 of the archive.
    pub hash: String,
    pub size: i64,
    /// Where the archive is.
    pub location: ArchiveLocation,
    pub storage_params: std::collections::BTreeMap<String, String>,
    pub created_on: DateTime<Utc>,
    /// Only DataStore backups expire.
    pub expires_on: Option<DateTime<Utc>>,
    pub removed: bool,
    pub paid: bool,
    /// Set while retention finds the archive missing; cleared when it is found again.
    #[serde(default)]
    pub missing: Option<MissingArchive>,
}

/// Where a backup's archive is, by the kind of storage that holds it. Catalogs keep it in a
/// storage type and two text columns (as upstream's `StorageBasePath`, `StoragePath`); this
/// type is the one place that gives those columns their meaning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ArchiveLocation {
    /// A file of a portal's Documents, by its folder and file ids in the catalog.
    Documents { folder: i64, file: i64 },
    /// A file named `name` in the server directory `dir` (inside the local roots).
    Local {
        dir: std::path::PathBuf,
        name: String,
    },
    /// An archive named `name` in a tenant's DataStore area ([`DUMP_TENANT`] for dumps).
    DataStore { tenant: PortalId, name: String },
    /// An object `key` in a remote store. `module` says how it is reached: a DataStore
    /// consumer (`s3`, `googlecloud`, …) with the portal's credentials, [`CUSTOM_CLOUD`]
    /// with the record's own parameters, or [`THIRD_PARTY_WEBDAV`] through the portal's
    /// third-party backup account; the record's `storage_params` hold the bucket and the other
    /// settings (for WebDAV, the `folderId`).
    Remote { module: String, key: String },
}

/// The module of a `CustomCloud` archive: an S3-compatible store described entirely by the
/// request's parameters.
pub const CUSTOM_CLOUD: &str = "customcloud";

/// The module of a `ThridpartyDocuments` archive: a folder of the portal's WebDAV backup
/// account.
pub const THIRD_PARTY_WEBDAV: &str = "webdav";

impl ArchiveLocation {
    /// The storage kind that holds it.
    pub fn kind(&self) -> StorageKind {
        match self {
            ArchiveLocation::Documents { .. } => StorageKind::Documents,
            ArchiveLocation::Local { .. } => StorageKind::Local,
            ArchiveLocation::DataStore { .. } => StorageKind::DataStore,
            ArchiveLocation::Remote { module, .. } if module == CUSTOM_CLOUD => {
                StorageKind::CustomCloud
            }
            ArchiveLocation::Remote { module, .. } if module == THIRD_PARTY_WEBDAV => {
                StorageKind::ThirdPartyDocuments
            }
            ArchiveLocation::Remote { .. } => StorageKind::ThirdPartyConsumer,
        }
    }

    /// The catalog's `(storage_base_path, storage_path)`: the folder id and the file id; the
    /// directory and the full path (as upstream keeps Local ones); the tenant and the name.
    pub fn columns(&self) -> (String, String) {
        match self {
            ArchiveLocation::Documents { folder, file } => (folder.to_string(), file.to_string()),
            ArchiveLocation::Local { dir, name } => (
                dir.display().to_string(),
                dir.join(name).display().to_string(),
            ),
            ArchiveLocation::DataStore { tenant, name } => (tenant.to_string(), name.clone()),
            ArchiveLocation::Remote { module, key } => (module.clone(), key.clone()),
        }
    }

    /// Reads the catalog's columns back (`tenant`: the record's tenant, which owns a DataStore
    /// archive); `None` for a storage this server cannot reach or columns that do not parse.
    pub fn from_columns(
        kind: StorageKind,
        base: &str,
        path: &str,
        tenant: PortalId,
    ) -> Option<ArchiveLocation> {
        match kind {
            StorageKind::Documents => Some(ArchiveLocation::Documents {
                folder: base.parse().ok()?,
                file: path.parse().ok()?,
            }),
            StorageKind::Local => {
                let path = std::path::Path::new(path);
                Some(ArchiveLocation::Local {
                    dir: path.parent()?.to_path_buf(),
                    name: path.file_name()?.to_str()?.to_string(),
                })
            }
            StorageKind::DataStore => Some(ArchiveLocation::DataStore {
                tenant,
                name: path.to_string(),
            }),
            StorageKind::CustomCloud
            | StorageKind::ThirdPartyConsumer
            | StorageKind::ThirdPartyDocuments
                if !base.is_empty() =>
            {
                Some(ArchiveLocation::Remote {
                    module: base.to_string(),
                    key: path.to_string(),
                })
            }
            _ => None,
        }
    }
}

impl BackupRecord {
    /// The kind of storage that holds the archive.
    pub fn storage(&self) -> StorageKind {
        self.location.kind()
    }
}

/// Retention's observation of a live record whose archive was not found. A record is given
/// up (marked removed) only once [`MissingArchive::confirmed`], so one look during a storage
/// outage loses nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingArchive {
    /// The first check that did not find it.
    pub since: DateTime<Utc>,
    /// How many checks in a row did not find it.
    pub checks: u32,
}

impl MissingArchive {
    /// The observation after one more check at `now` that did not find the archive.
    pub fn observed(previous: Option<MissingArchive>, now: DateTime<Utc>) -> MissingArchive {
        match previous {
            Some(p) => MissingArchive {
                since: p.since.min(now),
                checks: p.checks.saturating_add(1),
            },
            None => MissingArchive {
                since: now,
                checks: 1,
            },
        }
    }

    /// Whether it was seen missing on at least `min_checks` checks spanning at least
    /// `min_span` by `now`.
    pub fn confirmed(
        &self,
        min_checks: u32,
        min_span: chrono::Duration,
        now: DateTime<Utc>,
    ) -> bool {
        self.checks >= min_checks && now - self.since >= min_span
    }
}

/// An automatic backup schedule: one per portal, and one dump schedule per instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// The portal, or [`DUMP_TENANT`] for the dump schedule.
    pub tenant_id: PortalId,
    pub storage: StorageKind,
    pub storage_params: std::collections::BTreeMap<String, String>,
    pub cron: crate::schedule::Cron,
    /// How many scheduled backups to keep (1–30).
    pub backups_stored: u32,
    /// When the last scheduled backup started (set when it starts, as upstream).
    pub last_backup_time: Option<DateTime<Utc>>,
    /// The last failure, kept until a run succeeds; failures never disable a schedule.
    pub last_error: Option<String>,
    pub last_error_time: Option<DateTime<Utc>>,
    pub created_on: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_locations_round_trip_through_the_catalog_columns() {
        for loc in [
            ArchiveLocation::Documents { folder: 4, file: 9 },
            ArchiveLocation::Local {
                dir: "/var/backups/p".into(),
                name: "a_2026.tar.zst".into(),
            },
            ArchiveLocation::DataStore {
                tenant: 1,
                name: "a.tar.zst".into(),
            },
            ArchiveLocation::Remote {
                module: "s3".into(),
                key: "backup/a.tar.zst".into(),
            },
            ArchiveLocation::Remote {
                module: CUSTOM_CLOUD.into(),
                key: "backup/b.tar.zst".into(),
            },
            ArchiveLocation::Remote {
                module: THIRD_PARTY_WEBDAV.into(),
                key: "c.tar.zst".into(),
            },
        ] {
            let (base, path) = loc.columns();
            assert_eq!(
                ArchiveLocation::from_columns(loc.kind(), &base, &path, 1),
                Some(loc.clone())
            );
        }
        assert_eq!(
            ArchiveLocation::from_columns(StorageKind::Documents, "x", "1", 1),
            None
        );
    }

    #[test]
    fn a_missing_archive_is_confirmed_by_count_and_span() {
        let t0 = Utc::now();
        let h = chrono::Duration::hours;
        let first = MissingArchive::observed(None, t0);
        assert_eq!((first.since, first.checks), (t0, 1));
        let mut m = first;
        for i in 1..3 {
            m = MissingArchive::observed(Some(m), t0 + h(i));
        }
        assert_eq!((m.since, m.checks), (t0, 3));
        assert!(!m.confirmed(3, h(24), t0 + h(23)), "not long enough");
        assert!(!m.confirmed(4, h(24), t0 + h(25)), "not often enough");
        assert!(m.confirmed(3, h(24), t0 + h(24)));
        assert!(first.confirmed(1, h(0), t0), "1 check over 0 s: at once");
    }
}
