//! Where a backup goes (`storageType` + `storageParams`, API.md §3.2). Reading, finding and
//! deleting archives of history records is `archives.rs`.
//!
//! - Documents (0): a file in a portal folder; the archive is written hidden in the folder's
//!   directory and becomes a catalog file when complete.
//! - Local (3): a server directory inside the configured `local_roots` (standalone only).
//! - DataStore (4): the portal's own backup area in the data directory (the instance's for
//!   dumps); archives expire after 24 h and are downloaded through a signed link.
//! - Remote: ThridpartyDocuments (1, a folder `sbox-<n>[-<path>]` of the portal's WebDAV
//!   backup account), CustomCloud (2) and DataStore consumers (5); see `remote.rs`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use dsbackup_core::storage::WriteBackend;
use dsbackup_core::{
    ArchiveLocation, CUSTOM_CLOUD, DUMP_TENANT, Folder, FolderKind, Mode, PortalId, StorageKind,
    THIRD_PARTY_WEBDAV,
};
use dsbackup_storage::LocalBackend;

use crate::archives::datastore_dir;
use crate::{Service, ServiceError};
use crate::{consumers, remote, thirdparty};
use dsbackup_core::Actor;

/// A resolved backup destination.
#[derive(Debug, Clone)]
pub enum Target {
    Documents {
        folder: Folder,
    },
    Local {
        dir: PathBuf,
    },
    DataStore {
        tenant: PortalId,
        dir: PathBuf,
    },
    /// An object store: a DataStore consumer's (`module` = its id) or CustomCloud's.
    Remote {
        module: String,
        backend: Arc<dyn WriteBackend>,
    },
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
                    .folder_in(caller.portal.id, id)
                    .await?
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
                Ok(Target::Remote {
                    module: THIRD_PARTY_WEBDAV.into(),
                    backend: thirdparty::folder(state, caller.portal.id, params).await?,
                })
            }
            StorageKind::CustomCloud => Ok(Target::Remote {
                module: CUSTOM_CLOUD.into(),
                backend: remote::backend(CUSTOM_CLOUD, params, &BTreeMap::new())?,
            }),
            StorageKind::ThirdPartyConsumer => {
                let module = params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("module"))
                    .map(|(_, v)| v.trim())
                    .unwrap_or("");
                let consumer = remote::consumer(module).ok_or_else(|| {
                    ServiceError::Invalid(format!("Unknown storage module {module:?}"))
                })?;
                let creds = consumers::credentials(state, caller.portal.id, consumer.id).await?;
                Ok(Target::Remote {
                    module: consumer.id.into(),
                    backend: remote::backend(consumer.id, params, &creds)?,
                })
            }
            StorageKind::Local => Ok(Target::Local {
                dir: check_local_dir(state, params.get("filePath"))?,
            }),
            StorageKind::DataStore => {
                let tenant = if dump { DUMP_TENANT } else { caller.portal.id };
                Ok(Target::DataStore {
                    tenant,
                    dir: datastore_dir(state, tenant),
                })
            }
        }
    }

    pub fn kind(&self) -> StorageKind {
        match self {
            Target::Remote { module, .. } if module == CUSTOM_CLOUD => StorageKind::CustomCloud,
            Target::Remote { module, .. } if module == THIRD_PARTY_WEBDAV => {
                StorageKind::ThirdPartyDocuments
            }
            Target::Remote { .. } => StorageKind::ThirdPartyConsumer,
            Target::Documents { .. } => StorageKind::Documents,
            Target::Local { .. } => StorageKind::Local,
            Target::DataStore { .. } => StorageKind::DataStore,
        }
    }

    /// The server directory archives are written into; `None` for a remote store.
    pub fn dir(&self, state: &Service) -> Option<PathBuf> {
        match self {
            Target::Documents { folder } => Some(state.folder_dir(folder.portal_id, folder.id)),
            Target::Local { dir } | Target::DataStore { dir, .. } => Some(dir.clone()),
            Target::Remote { .. } => None,
        }
    }

    /// Where the archive `name` written here is, once placed (`file`: its Documents file id).
    pub fn location(&self, name: &str, file: i64) -> ArchiveLocation {
        match self {
            Target::Documents { folder } => ArchiveLocation::Documents {
                folder: folder.id,
                file,
            },
            Target::Local { dir } => ArchiveLocation::Local {
                dir: dir.clone(),
                name: name.to_string(),
            },
            Target::DataStore { tenant, .. } => ArchiveLocation::DataStore {
                tenant: *tenant,
                name: name.to_string(),
            },
            Target::Remote { module, .. } => ArchiveLocation::Remote {
                module: module.clone(),
                key: name.to_string(),
            },
        }
    }

    /// The backend new archives are written into (its directory is created, owner-only).
    ///
    /// Fails when the directory cannot be created.
    pub fn backend(&self, state: &Service) -> Result<Arc<dyn WriteBackend>, ServiceError> {
        match (self, self.dir(state)) {
            (Target::Remote { backend, .. }, _) => Ok(backend.clone()),
            (_, Some(dir)) => Ok(Arc::new(LocalBackend::new(dir)?)),
            (_, None) => Err(ServiceError::Invalid("this storage has no backend".into())),
        }
    }
}
