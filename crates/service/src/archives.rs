//! Where backup archives live, and the one way the service reaches them: an archive is a key
//! in a storage backend ([`Archive`]), found from a history record's [`ArchiveLocation`] or
//! from where a restore request points. Every read, existence check, delete, download and
//! restore goes through a backend's interface; only the backends know paths.
//!
//! - Documents: a backend over the portal's documents area, keys `<folder>/<file>`.
//! - Local: a backend over the server directory, keys are file names.
//! - DataStore: a backend over the tenant's area in the data directory.
//! - Remote (a DataStore consumer, CustomCloud, a WebDAV backup folder): an object-store backend
//!   described by the record's parameters and the portal's saved credentials or backup account
//!   (`remote.rs`).
//!
//! Readers use [`LocalBackend::existing`], which creates nothing: an unmounted backup disk
//! reads as a missing archive, never as a fresh empty directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use dsbackup_core::storage::{ObjectMeta, ReadBackend, WriteBackend};
use dsbackup_core::{
    ArchiveLocation, BackupRecord, CUSTOM_CLOUD, DUMP_TENANT, PortalId, THIRD_PARTY_WEBDAV,
};
use dsbackup_storage::LocalBackend;

use crate::{Service, ServiceError, ServiceResult, consumers, remote, thirdparty};

/// One archive: a key in a backend.
#[derive(Debug, Clone)]
pub struct Archive {
    pub backend: Arc<dyn WriteBackend>,
    pub key: String,
}

impl Archive {
    /// The archive's metadata, or `None` when it is not there (or its storage is offline).
    ///
    /// Fails when the backend fails otherwise.
    pub async fn stat(&self) -> ServiceResult<Option<ObjectMeta>> {
        Ok(self.backend.stat(&self.key).await?)
    }

    /// The backend as a reader.
    pub fn reader(&self) -> Arc<dyn ReadBackend> {
        self.backend.clone()
    }
}

/// The DataStore directory of a tenant (a portal, or the instance for dumps).
pub fn datastore_dir(svc: &Service, tenant: PortalId) -> PathBuf {
    if tenant == DUMP_TENANT {
        svc.config().data_dir.join("instance").join("backups")
    } else {
        svc.portal_dir(tenant).join("backups")
    }
}

/// The documents area of a portal as a backend (keys `<folder>/<file>`).
pub fn documents(svc: &Service, portal: PortalId) -> Arc<dyn WriteBackend> {
    Arc::new(LocalBackend::existing(
        svc.portal_dir(portal).join("documents"),
    ))
}

/// An existing directory as a backend (nothing is created).
pub fn directory(dir: impl Into<PathBuf>) -> Arc<dyn WriteBackend> {
    Arc::new(LocalBackend::existing(dir))
}

/// A remote store's backend: `params` (a record's or a request's `storageParams`, secret
/// values sealed or not) with the credentials `portal` saved for the consumer (for `webdav`,
/// its third-party backup account).
///
/// Fails when a sealed value does not open, the catalog fails, or the parameters do not
/// describe a reachable store.
pub async fn remote(
    svc: &Service,
    module: &str,
    params: &BTreeMap<String, String>,
    portal: PortalId,
) -> ServiceResult<Arc<dyn WriteBackend>> {
    let params = svc.sealer().open_params(params)?;
    let creds = match module {
        CUSTOM_CLOUD => BTreeMap::new(),
        THIRD_PARTY_WEBDAV => thirdparty::credentials(svc, portal).await?,
        _ => consumers::credentials(svc, portal, module).await?,
    };
    remote::backend(module, &params, &creds)
}

/// The portal whose consumer credentials a tenant's archives use (a dump's: the instance's
/// first portal, as standalone has one).
async fn credentials_portal(svc: &Service, tenant: PortalId) -> ServiceResult<PortalId> {
    if tenant != DUMP_TENANT {
        return Ok(tenant);
    }
    Ok(svc
        .catalog()
        .portals()
        .await?
        .first()
        .map_or(DUMP_TENANT, |p| p.id))
}

/// The archive at `loc`; `None` when a Documents archive's folder no longer exists.
/// `params` and `tenant` are the record's (a remote store is described by its parameters).
///
/// Fails when the catalog fails, or a remote store cannot be described.
pub async fn at(
    svc: &Service,
    loc: &ArchiveLocation,
    params: &BTreeMap<String, String>,
    tenant: PortalId,
) -> ServiceResult<Option<Archive>> {
    Ok(match loc {
        ArchiveLocation::Remote { module, key } => {
            let portal = credentials_portal(svc, tenant).await?;
            Some(Archive {
                backend: remote(svc, module, params, portal).await?,
                key: key.clone(),
            })
        }
        ArchiveLocation::Documents { folder, file } => {
            svc.catalog().folder(*folder).await?.map(|f| Archive {
                backend: documents(svc, f.portal_id),
                key: format!("{folder}/{file}"),
            })
        }
        ArchiveLocation::Local { .. } | ArchiveLocation::DataStore { .. } => {
            local(svc, loc).map(|(dir, key)| Archive {
                backend: Arc::new(dir),
                key,
            })
        }
    })
}

/// A location on a server directory (Local, or the tenant's DataStore) as that directory's
/// backend (which creates nothing) and the archive's key; `None` for other locations.
pub fn local(svc: &Service, loc: &ArchiveLocation) -> Option<(LocalBackend, String)> {
    match loc {
        ArchiveLocation::Local { dir, name } => Some((LocalBackend::existing(dir), name.clone())),
        ArchiveLocation::DataStore { tenant, name } => Some((
            LocalBackend::existing(datastore_dir(svc, *tenant)),
            name.clone(),
        )),
        _ => None,
    }
}

/// The archive of a history record; `None` when its location cannot be reached.
///
/// Fails when the catalog fails.
pub async fn of_record(svc: &Service, r: &BackupRecord) -> ServiceResult<Option<Archive>> {
    at(svc, &r.location, &r.storage_params, r.tenant_id).await
}

/// Whether a record's archive is there.
///
/// Fails when the catalog or the backend fails (a missing archive is `Ok(false)`).
pub async fn exists(svc: &Service, r: &BackupRecord) -> ServiceResult<bool> {
    Ok(match of_record(svc, r).await? {
        Some(a) => a.stat().await?.is_some(),
        None => false,
    })
}

/// Deletes a record's archive (and, for Documents, its file entry). Missing is fine.
///
/// Fails when the backend or the catalog fails; the archive may then still be there.
pub async fn delete(svc: &Service, r: &BackupRecord) -> ServiceResult<()> {
    if let Some(a) = of_record(svc, r).await? {
        a.backend
            .delete(&a.key)
            .await
            .map_err(|e| ServiceError::internal("deleting an archive", e))?;
    }
    if let ArchiveLocation::Documents { file, .. } = r.location {
        svc.catalog().delete_file(file).await?;
    }
    Ok(())
}

/// The server directory that holds a record's archive, for the leftovers sweep of local
/// backends (partial files of dead writers); `None` for other storages.
///
/// Fails when the catalog fails.
pub async fn local_dir(svc: &Service, r: &BackupRecord) -> ServiceResult<Option<PathBuf>> {
    Ok(match &r.location {
        ArchiveLocation::Local { dir, .. } => Some(dir.clone()),
        ArchiveLocation::DataStore { tenant, .. } => Some(datastore_dir(svc, *tenant)),
        ArchiveLocation::Documents { folder, .. } => svc
            .catalog()
            .folder(*folder)
            .await?
            .map(|f| svc.folder_dir(f.portal_id, f.id)),
        ArchiveLocation::Remote { .. } => None,
    })
}

/// Makes the archive written as `pending` in `folder`'s directory the bytes of Documents file
/// `file` (a rename inside the documents area).
///
/// Fails when the rename fails; the pending archive is left for the caller to delete.
pub async fn place_document(
    svc: &Service,
    folder: &dsbackup_core::Folder,
    pending: &str,
    file: i64,
) -> ServiceResult<()> {
    let dir = LocalBackend::existing(svc.folder_dir(folder.portal_id, folder.id));
    let from = dir.path_of(pending)?;
    let to = dir.path_of(&file.to_string())?;
    tokio::fs::rename(&from, &to)
        .await
        .map_err(|e| ServiceError::internal("placing a Documents archive", e))
}
