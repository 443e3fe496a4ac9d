//! Restores that never lose the live portal: verify while staging, swap atomically, undo on
//! any failure (see `swap.rs`). While a portal restores its status is Restoring, so every
//! request to it but `getrestoreprogress` answers 403; other portals are unaffected.

pub mod contents;
pub mod databases;
pub mod place;
pub mod run;
pub mod swap;
pub mod writeback;

use std::collections::BTreeMap;
use std::path::PathBuf;

use dsbackup_core::{ArchiveLocation, DUMP_TENANT, Mode, PortalStatus, StorageKind};
use uuid::Uuid;

use crate::Service;
use crate::ServiceError;
use crate::archives::{self, Archive};
use crate::backup::jobs::{Busy, JobKey, Snapshot};
use crate::backup::{demand_dump, durable, target};
use dsbackup_core::Actor;

/// A restore request, as `startrestore` carries it.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    pub backup_id: Option<String>,
    pub storage: StorageKind,
    pub params: BTreeMap<String, String>,
    pub notify: bool,
    pub dump: bool,
}

/// The file name of a portal's chunked upload in the backup temporary folder.
pub fn upload_key(portal: i64) -> String {
    format!("{portal}-upload.tar.zst")
}

/// Where the archive of a chunked upload is kept for a portal.
pub fn upload_path(state: &Service, portal: i64) -> PathBuf {
    state.backup_tmp().join(upload_key(portal))
}

/// What a restore reads.
#[derive(Debug, Clone)]
pub struct Source {
    pub archive: Archive,
    /// The SHA-256 the history recorded, when the archive is a history record's.
    pub expect_sha256: Option<String>,
    /// The archive is a chunked upload, removed once the restore ends.
    pub upload: bool,
    /// The kind of storage it is read from (for metrics).
    pub storage: StorageKind,
}

fn not_found(msg: impl Into<String>) -> ServiceError {
    ServiceError::NotFound(msg.into())
}

/// `archive` when it is there; otherwise `missing`.
async fn present(archive: Archive, missing: ServiceError) -> Result<Archive, ServiceError> {
    match archive.stat().await? {
        Some(_) => Ok(archive),
        None => Err(missing),
    }
}

/// The archive of a history record the caller may restore.
async fn of_history(
    state: &Service,
    caller: &Actor,
    req: &RestoreRequest,
    id: Uuid,
) -> Result<Source, ServiceError> {
    let tenant = if req.dump {
        DUMP_TENANT
    } else {
        caller.portal.id
    };
    let r = state
        .catalog()
        .backup_of(tenant, id)
        .await?
        .filter(|r| !r.removed)
        .ok_or_else(|| not_found("The backup was not found"))?;
    let missing = || not_found("The backup's archive is missing from its storage");
    let archive = archives::of_record(state, &r).await?.ok_or_else(missing)?;
    Ok(Source {
        archive: present(archive, missing()).await?,
        storage: r.storage(),
        expect_sha256: Some(r.hash),
        upload: false,
    })
}

/// The archive a request names: a history record, or `storageParams.filePath` on a storage
/// (Local: a file inside the local roots, or the chunked upload when no path is given;
/// DataStore: an archive name; Documents: a file id).
async fn locate(
    state: &Service,
    caller: &Actor,
    req: &RestoreRequest,
) -> Result<Source, ServiceError> {
    let id = req.backup_id.as_deref().unwrap_or("").trim();
    if let Ok(id) = Uuid::parse_str(id)
        && !id.is_nil()
    {
        return of_history(state, caller, req, id).await;
    }
    let file_path = req
        .params
        .get("filePath")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let (archive, missing, upload) = match req.storage {
        StorageKind::Local => match file_path {
            None => (
                Archive {
                    backend: archives::directory(state.backup_tmp()),
                    key: upload_key(caller.portal.id),
                },
                ServiceError::Invalid(
                    "No archive was uploaded; give filePath or upload one first".into(),
                ),
                true,
            ),
            Some(fp) => {
                let p = std::path::Path::new(fp);
                let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str()))
                else {
                    return Err(ServiceError::Invalid(
                        "filePath must name an archive file".into(),
                    ));
                };
                let dir = target::check_local_dir(state, Some(&dir.display().to_string()))?;
                let loc = ArchiveLocation::Local {
                    dir,
                    name: name.to_string(),
                };
                let archive = archives::at(state, &loc, &BTreeMap::new(), caller.portal.id)
                    .await?
                    .ok_or_else(|| not_found(""))?;
                (
                    archive,
                    not_found(format!("{fp} is not an archive file")),
                    false,
                )
            }
        },
        StorageKind::DataStore => {
            let name =
                file_path.ok_or_else(|| ServiceError::Invalid("filePath is required".into()))?;
            dsbackup_core::storage::check_name(name)?;
            let tenant = if req.dump {
                DUMP_TENANT
            } else {
                caller.portal.id
            };
            let loc = ArchiveLocation::DataStore {
                tenant,
                name: name.to_string(),
            };
            let archive = archives::at(state, &loc, &BTreeMap::new(), caller.portal.id)
                .await?
                .ok_or_else(|| not_found(""))?;
            (archive, not_found(format!("{name} was not found")), false)
        }
        StorageKind::Documents => {
            let id: i64 = file_path
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ServiceError::Invalid("wrong file id".into()))?;
            let f = state
                .catalog()
                .file_in(caller.portal.id, id)
                .await?
                .ok_or_else(|| not_found("The required file was not found"))?;
            let loc = ArchiveLocation::Documents {
                folder: f.folder_id,
                file: f.id,
            };
            let missing = || not_found("The required file was not found");
            let archive = archives::at(state, &loc, &BTreeMap::new(), caller.portal.id)
                .await?
                .ok_or_else(missing)?;
            (archive, missing(), false)
        }
        StorageKind::CustomCloud
        | StorageKind::ThirdPartyConsumer
        | StorageKind::ThirdPartyDocuments => {
            // An object in a remote store, named by filePath (under the backup folder, or
            // the folderId of a WebDAV account); a WebDAV file id `sbox-<n>-<path>` names both.
            let mut params = req.params.clone();
            let mut name = file_path
                .ok_or_else(|| ServiceError::Invalid("filePath is required".into()))?
                .to_string();
            if req.storage == StorageKind::ThirdPartyDocuments
                && let Some((n, path)) = crate::thirdparty::parse_folder_id(&name)
                && !path.is_empty()
            {
                let root = format!("{}-{n}", crate::thirdparty::SELECTOR);
                params.insert("folderId".into(), root);
                name = path;
            }
            dsbackup_core::storage::check_key(&name)?;
            let target =
                target::Target::resolve(state, caller, req.storage, &params, req.dump).await?;
            let archive = Archive {
                backend: target.backend(state)?,
                key: name.clone(),
            };
            (archive, not_found(format!("{name} was not found")), false)
        }
    };
    Ok(Source {
        archive: present(archive, missing).await?,
        expect_sha256: None,
        upload,
        storage: req.storage,
    })
}

/// Checks and starts a restore; returns its progress (or the running restore's).
pub async fn start(
    state: &Service,
    caller: &Actor,
    req: RestoreRequest,
) -> Result<Snapshot, ServiceError> {
    if req.dump {
        demand_dump(state, caller)?;
    }
    let key = if req.dump {
        JobKey::RestoreDump
    } else {
        JobKey::RestorePortal(caller.portal.id)
    };
    if let Some(job) = state.jobs().get(key)
        && !job.snapshot().is_completed()
    {
        return Ok(job.snapshot());
    }
    let source = locate(state, caller, &req).await?;
    let portals = crate::backup::affected_portals(state, caller, req.dump).await?;
    let busy = || {
        ServiceError::Busy(
            "A backup or another restore is running; wait for it or cancel it first".into(),
        )
    };
    let job = match state.jobs().start(key, caller.portal.id, false) {
        Ok(job) => job,
        Err(Busy::Same(running)) => return Ok(running.snapshot()),
        Err(Busy::Conflict(_)) => return Err(busy()),
    };
    if let Some(running) =
        durable::claim_for_start(state, &job, busy, "The restore could not be recorded").await?
    {
        return Ok(running);
    }
    let snapshot = job.snapshot();
    for p in &portals {
        state
            .catalog()
            .set_portal_status(p.id, PortalStatus::Restoring)
            .await?;
    }
    tracing::info!(job = %job.id, portal = caller.portal.id, dump = req.dump, archive = %source.archive.key, "restore started");
    let spec = run::Spec {
        job,
        portals,
        dump: req.dump,
        source,
        saas_tenant: (state.config().mode == Mode::Saas).then_some(caller.portal.id),
        notify: req.notify,
        caller: caller.user.id,
    };
    tokio::spawn(run::run(state.clone(), spec));
    Ok(snapshot)
}
