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

use dsbackup_api_types::backup::BackupStorageType;
use dsbackup_core::{BackupRecord, DUMP_TENANT, Folder, FolderKind, Mode, PortalId, StorageKind};
use dsbackup_storage::LocalStorage;

use crate::auth::Caller;
use crate::state::AppState;
use crate::wire::ApiError;

/// A resolved backup destination.
#[derive(Debug, Clone)]
pub enum Target {
    Documents { folder: Folder },
    Local { dir: PathBuf },
    DataStore { dir: PathBuf },
}

/// The DataStore directory of a tenant (a portal, or the instance for dumps).
pub fn datastore_dir(state: &AppState, tenant: PortalId) -> PathBuf {
    if tenant == DUMP_TENANT {
        state.config().data_dir.join("instance").join("backups")
    } else {
        state.portal_dir(tenant).join("backups")
    }
}

fn wrong_folder() -> ApiError {
    ApiError::BadRequest("wrong folder type".into())
}

/// The one answer for a path outside the local roots, whether it exists, is a file or a
/// directory: the server's file system is not for callers to probe.
fn outside_roots() -> ApiError {
    ApiError::Denied("filePath is outside the allowed local roots".into())
}

/// Checks a `Local` directory: absolute, no `..`, existing, and inside a configured root after
/// resolving symlinks. Returns the canonical directory. No message names the path, and one
/// outside the roots gets [`outside_roots`] whatever is there.
pub fn check_local_dir(state: &AppState, raw: Option<&String>) -> Result<PathBuf, ApiError> {
    if state.config().mode != Mode::Standalone {
        return Err(ApiError::Denied(
            "Local storage is available in standalone mode only".into(),
        ));
    }
    let raw = raw
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("filePath is required for Local storage".into()))?;
    let path = Path::new(raw);
    if !path.is_absolute() {
        return Err(ApiError::BadRequest(
            "filePath must be an absolute path".into(),
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(ApiError::BadRequest("filePath may not contain '..'".into()));
    }
    let roots = &state.config().local_roots;
    if roots.is_empty() {
        return Err(ApiError::Denied(
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
        Ok(dir) if !dir.is_dir() => Err(ApiError::BadRequest("filePath is not a directory".into())),
        Ok(dir) => Ok(dir),
        // Missing: say so only when the deepest existing ancestor is inside a root.
        Err(_) => match path.ancestors().find_map(|a| std::fs::canonicalize(a).ok()) {
            Some(a) if inside(&a) => Err(ApiError::BadRequest(
                "the filePath directory does not exist".into(),
            )),
            _ => Err(outside_roots()),
        },
    }
}

impl Target {
    /// Resolves a request's destination for `caller`, with DocSpace's checks and messages.
    pub async fn resolve(
        state: &AppState,
        caller: &Caller,
        kind: BackupStorageType,
        params: &BTreeMap<String, String>,
        dump: bool,
    ) -> Result<Target, ApiError> {
        let folder_id = params.get("folderId").map(|s| s.trim());
        match kind {
            BackupStorageType::Documents => {
                let id: i64 = folder_id
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(wrong_folder)?;
                let folder = state
                    .catalog()
                    .folder(id)
                    .await?
                    .filter(|f| f.portal_id == caller.portal.id)
                    .ok_or_else(|| {
                        ApiError::NotFound("The required folder was not found".into())
                    })?;
                if folder.kind == FolderKind::RoomsRoot {
                    return Err(ApiError::Forbidden);
                }
                Ok(Target::Documents { folder })
            }
            BackupStorageType::ThridpartyDocuments => {
                if folder_id.is_none_or(|s| s.is_empty() || s.parse::<i64>().is_ok()) {
                    return Err(wrong_folder());
                }
                Err(ApiError::BadRequest(
                    "Storage type ThridpartyDocuments is not supported by this server yet".into(),
                ))
            }
            BackupStorageType::CustomCloud => Err(ApiError::Denied("Unknown storage type.".into())),
            BackupStorageType::ThirdPartyConsumer => Err(ApiError::BadRequest(
                "Storage type ThirdPartyConsumer is not supported by this server yet".into(),
            )),
            BackupStorageType::Local => Ok(Target::Local {
                dir: check_local_dir(state, params.get("filePath"))?,
            }),
            BackupStorageType::DataStore => Ok(Target::DataStore {
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
    pub fn dir(&self, state: &AppState) -> PathBuf {
        match self {
            Target::Documents { folder } => state.folder_dir(folder.portal_id, folder.id),
            Target::Local { dir } | Target::DataStore { dir } => dir.clone(),
        }
    }

    /// The storage archives are written through.
    pub fn storage(&self, state: &AppState) -> Result<LocalStorage, ApiError> {
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
pub async fn archive_path(state: &AppState, r: &BackupRecord) -> Result<Option<PathBuf>, ApiError> {
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
pub async fn archive_exists(state: &AppState, r: &BackupRecord) -> Result<bool, ApiError> {
    Ok(match archive_path(state, r).await? {
        Some(p) => tokio::fs::metadata(&p).await.is_ok_and(|m| m.is_file()),
        None => false,
    })
}

/// Deletes a record's archive (and, for Documents, its file entry). Missing is fine.
pub async fn delete_archive(state: &AppState, r: &BackupRecord) -> Result<(), ApiError> {
    if let Some(path) = archive_path(state, r).await? {
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ApiError::Internal(format!(
                    "deleting {}: {e}",
                    path.display()
                )));
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
