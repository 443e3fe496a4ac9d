//! Where a backup goes (`storageType` + `storageParams`, API.md §3.2) and how its archive is
//! found, read and deleted again from a history record.
//!
//! - Documents (0): a file in a portal folder; the archive is written hidden in the folder's
//!   directory and becomes a catalog file when complete.
//! - Local (3): a server directory inside the configured `local_roots` (standalone only).
//! - DataStore (4): the portal's own backup area in the data directory (the instance's for
//!   dumps); archives expire after 24 h and are downloaded through a signed link.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use dsbackup_core::{BackupRecord, DUMP_TENANT, Folder, FolderKind, Mode, PortalId, StorageKind};
use dsbackup_storage::LocalStorage;

use crate::Service;
use crate::ServiceError;
use dsbackup_core::Actor;

/// A resolved backup destination.
#[derive(Debug, Clone)]
pub enum Target {
    Documents { folder: Folder },
    Local { dir: PathBuf },
    DataStore { dir: PathBuf },
}

/// The DataStore directory of a tenant (a portal, or the instance for dumps).
pub fn datastore_dir(state: &Service, tenant: PortalId) -> PathBuf {
    if tenant == DUMP_TENANT {
        state.config().data_dir.join("instance").join("backups")
    } else {
        state.portal_dir(tenant).join("backups")
    }
}

fn wrong_folder() -> ServiceError {
    ServiceError::Invalid("wrong folder type".into())
}

/// The one answer for a path outside the local roots, whether it exists, is a file or a
/// directory: the server's file system is not for callers to probe.
fn outside_roots() -> ServiceError {
    ServiceError::Denied("filePath is outside the allowed local roots".into())
}

/// Checks a `Local` directory: absolute, no `..`, existing, and inside a configured root after
/// resolving symlinks. Returns the canonical directory. No message names the path, and one
/// outside the roots gets [`outside_roots`] whatever is there.
pub fn check_local_dir(state: &Service, raw: Option<&String>) -> Result<PathBuf, ServiceError> {
    if state.config().mode != Mode::Standalone {
        return Err(ServiceError::Denied(
            "Local storage is available in standalone mode only".into(),
        ));
    }
    let raw = raw
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ServiceError::Invalid("filePath is required for Local storage".into()))?;
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(ServiceError::Invalid(
            "filePath must be an absolute path".into(),
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(ServiceError::Invalid(
            "filePath may not contain '..'".into(),
        ));
    }
    let roots = &state.config().local_roots;
    if roots.is_empty() {
        return Err(ServiceError::Denied(
            "Local storage is disabled: no local_roots are configured".into(),
        ));
    }
    let roots: Vec<PathBuf> = roots
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect();
    let inside = |p: &Path| roots.iter().any(|root| p.starts_with(root));
    match std::fs::canonicalize(path) {
        Ok(dir) if !inside(&dir) => Err(outside_roots()),
        Ok(dir) if !dir.is_dir() => {
            Err(ServiceError::Invalid("filePath is not a directory".into()))
        }
        Ok(dir) => Ok(dir),
        // Missing: say so only when the deepest existing ancestor is inside a root.
        Err(_) => match path.ancestors().find_map(|a| std::fs::canonicalize(a).ok()) {
            Some(a) if inside(&a) => Err(ServiceError::Invalid(
                "the filePath directory does not exist".into(),
            )),
            _ => Err(outside_roots()),
        },
    }
}

impl Target {
    /// Resolves a request's destination for `caller`, with DocSpace's checks and messages.
    pub async fn resolve(
        state: &Service,
        caller: &Actor,
        kind: StorageKind,
        params: &BTreeMap<String, String>,
        dump: bool,
    ) -> Result<Target, ServiceError> {
        let folder_id = params.get("folderId").map(|s| s.trim());
        match kind {
            StorageKind::Documents => {
                let id: i64 = folder_id
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(wrong_folder)?;
                let folder = state
                    .catalog()
                    .folder(id)
                    .await?
                    .filter(|f| f.portal_id == caller.portal.id)
                    .ok_or_else(|| {
                        ServiceError::NotFound("The required folder was not found".into())
                    })?;
                if folder.kind == FolderKind::RoomsRoot {
                    return Err(ServiceError::Forbidden);
                }
                Ok(Target::Documents { folder })
            }
            StorageKind::ThirdPartyDocuments => {
                if folder_id.is_none_or(|s| s.is_empty() || s.parse::<i64>().is_ok()) {
                    return Err(wrong_folder());
                }
                Err(ServiceError::Invalid(
                    "Storage type ThridpartyDocuments is not supported by this server yet".into(),
                ))
            }
            StorageKind::CustomCloud => Err(ServiceError::Denied("Unknown storage type.".into())),
            StorageKind::ThirdPartyConsumer => Err(ServiceError::Invalid(
                "Storage type ThirdPartyConsumer is not supported by this server yet".into(),
            )),
            StorageKind::Local => Ok(Target::Local {
                dir: check_local_dir(state, params.get("filePath"))?,
            }),
            StorageKind::DataStore => Ok(Target::DataStore {
                dir: datastore_dir(state, if dump { DUMP_TENANT } else { caller.portal.id }),
            }),
        }
    }

    pub fn kind(&self) -> StorageKind {
        match self {
            Target::Documents { .. } => StorageKind::Documents,
            Target::Local { .. } => StorageKind::Local,
            Target::DataStore { .. } => StorageKind::DataStore,
        }
    }

    /// The directory archives are written into.
    pub fn dir(&self, state: &Service) -> PathBuf {
        match self {
            Target::Documents { folder } => state.folder_dir(folder.portal_id, folder.id),
            Target::Local { dir } | Target::DataStore { dir } => dir.clone(),
        }
    }

    /// The storage archives are written through.
    pub fn storage(&self, state: &Service) -> Result<LocalStorage, ServiceError> {
        Ok(LocalStorage::new(self.dir(state))?)
    }

    /// `storage_base_path` of the record: the folder id or the directory.
    pub fn base_path(&self) -> String {
        match self {
            Target::Documents { folder } => folder.id.to_string(),
            Target::Local { dir } | Target::DataStore { dir } => dir.display().to_string(),
        }
    }
}

/// Where a record's archive is on disk, if it can be found.
pub async fn archive_path(
    state: &Service,
    r: &BackupRecord,
) -> Result<Option<PathBuf>, ServiceError> {
    Ok(match r.storage {
        StorageKind::Documents => {
            let Ok(id) = r.storage_path.parse::<i64>() else {
                return Ok(None);
            };
            state
                .catalog()
                .file(id)
                .await?
                .map(|f| state.file_path(f.portal_id, f.folder_id, f.id))
        }
        StorageKind::Local => Some(PathBuf::from(&r.storage_path)),
        StorageKind::DataStore => Some(datastore_dir(state, r.tenant_id).join(&r.storage_path)),
        _ => None,
    })
}

/// Whether a record's archive still exists.
pub async fn archive_exists(state: &Service, r: &BackupRecord) -> Result<bool, ServiceError> {
    Ok(match archive_path(state, r).await? {
        Some(p) => tokio::fs::metadata(&p).await.is_ok_and(|m| m.is_file()),
        None => false,
    })
}

/// Deletes a record's archive (and, for Documents, its file entry). Missing is fine.
pub async fn delete_archive(state: &Service, r: &BackupRecord) -> Result<(), ServiceError> {
    if let Some(path) = archive_path(state, r).await? {
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ServiceError::internal("deleting an archive", e));
            }
        }
    }
    if r.storage == StorageKind::Documents
        && let Ok(id) = r.storage_path.parse::<i64>()
    {
        state.catalog().delete_file(id).await?;
    }
    Ok(())
}
