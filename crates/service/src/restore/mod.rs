//! Restores that never lose the live portal: verify while staging, swap atomically, undo on
//! any failure (see `swap.rs`). While a portal restores its status is Restoring, so every
//! request to it but `getrestoreprogress` answers 403; other portals are unaffected.

pub mod contents;
pub mod place;
pub mod run;
pub mod swap;

use std::collections::BTreeMap;
use std::path::PathBuf;

use dsbackup_core::{DUMP_TENANT, Mode, PortalStatus, StorageKind};
use uuid::Uuid;

use crate::Service;
use crate::ServiceError;
use crate::backup::jobs::{Busy, JobKey, Snapshot};
use crate::backup::{demand_dump, target};
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

/// Where the archive of a chunked upload is kept for a portal.
pub fn upload_path(state: &Service, portal: i64) -> PathBuf {
    state.backup_tmp().join(format!("{portal}-upload.tar.zst"))
}

/// The archive a request names: a history record, or `storageParams.filePath` on a storage
/// (Local: a file inside the local roots, or the chunked upload when no path is given;
/// DataStore: an archive name; Documents: a file id). Returns the path and the expected hash.
async fn locate(
    state: &Service,
    caller: &Actor,
    req: &RestoreRequest,
) -> Result<(PathBuf, Option<String>), ServiceError> {
    let id = req.backup_id.as_deref().unwrap_or("").trim();
    if let Ok(id) = Uuid::parse_str(id)
        && !id.is_nil()
    {
        let r = state
            .catalog()
            .backup(id)
            .await?
            .filter(|r| !r.removed)
            .ok_or_else(|| ServiceError::NotFound("The backup was not found".into()))?;
        let mine = if r.tenant_id == DUMP_TENANT {
            req.dump
        } else {
            r.tenant_id == caller.portal.id && !req.dump
        };
        if !mine {
            return Err(ServiceError::NotFound("The backup was not found".into()));
        }
        let path = target::archive_path(state, &r)
            .await?
            .filter(|p| p.is_file())
            .ok_or_else(|| {
                ServiceError::NotFound("The backup's archive is missing from its storage".into())
            })?;
        return Ok((path, Some(r.hash)));
    }
    let file_path = req
        .params
        .get("filePath")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty());
    let path = match req.storage {
        StorageKind::Local => match file_path {
            None => {
                let p = upload_path(state, caller.portal.id);
                if !p.is_file() {
                    return Err(ServiceError::Invalid(
                        "No archive was uploaded; give filePath or upload one first".into(),
                    ));
                }
                p
            }
            Some(fp) => {
                let p = std::path::Path::new(fp);
                let (Some(dir), Some(name)) = (p.parent(), p.file_name()) else {
                    return Err(ServiceError::Invalid(
                        "filePath must name an archive file".into(),
                    ));
                };
                let dir = target::check_local_dir(state, Some(&dir.display().to_string()))?;
                let file = dir.join(name);
                if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
                    return Err(ServiceError::NotFound(format!(
                        "{fp} is not an archive file"
                    )));
                }
                file
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
            let p = target::datastore_dir(state, tenant).join(name);
            if !p.is_file() {
                return Err(ServiceError::NotFound(format!("{name} was not found")));
            }
            p
        }
        StorageKind::Documents => {
            let id: i64 = file_path
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ServiceError::Invalid("wrong file id".into()))?;
            let f = state
                .catalog()
                .file(id)
                .await?
                .filter(|f| f.portal_id == caller.portal.id)
                .ok_or_else(|| ServiceError::NotFound("The required file was not found".into()))?;
            state.file_path(f.portal_id, f.folder_id, f.id)
        }
        StorageKind::CustomCloud => {
            return Err(ServiceError::Denied("Unknown storage type.".into()));
        }
        other => {
            return Err(ServiceError::Invalid(format!(
                "Storage type {} is not supported by this server yet",
                other.name()
            )));
        }
    };
    Ok((path, None))
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
    let (archive, expect) = locate(state, caller, &req).await?;
    let upload = archive == upload_path(state, caller.portal.id);
    let portals = crate::backup::affected_portals(state, caller, req.dump).await?;
    let job = match state.jobs().start(key, caller.portal.id) {
        Ok(job) => job,
        Err(Busy::Same(running)) => return Ok(running.snapshot()),
        Err(Busy::Conflict(_)) => {
            return Err(ServiceError::Invalid(
                "A backup or another restore is running; wait for it or cancel it first".into(),
            ));
        }
    };
    if let Err(e) = crate::backup::durable::created(state, &job).await {
        job.fail("The restore could not be recorded".into());
        return Err(e.into());
    }
    let snapshot = job.snapshot();
    for p in &portals {
        state
            .catalog()
            .set_portal_status(p.id, PortalStatus::Restoring)
            .await?;
    }
    tracing::info!(job = %job.id, portal = caller.portal.id, dump = req.dump, archive = %archive.display(), "restore started");
    let spec = run::Spec {
        job,
        portals,
        dump: req.dump,
        archive,
        expect_sha256: expect,
        saas_tenant: (state.config().mode == Mode::Saas).then_some(caller.portal.id),
        notify: req.notify,
        caller: caller.user.id,
        remove_archive: upload,
    };
    tokio::spawn(run::run(state.clone(), spec));
    Ok(snapshot)
}
