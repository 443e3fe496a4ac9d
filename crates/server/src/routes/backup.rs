//! `/api/2.0/backup/*`: start, progress, cancel, history, delete, counts, service state and the
//! signed download of DataStore archives (API.md §3, SERVER.md §1–§4, §8). Owner and DocSpace
//! admins only, except the download (its signature is the credential).

use dsbackup_api_types::ErrorEnvelope;
use dsbackup_api_types::envelope::Wrapper;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use dsbackup_api_types::backup::{
    BackupHistoryRecordDto, BackupProgressDto, BackupProgressEnum, BackupRequest,
    BackupServiceStateDto, BackupStorageType, BackupsCountResultDto, DistributedTaskStatus,
    storage_params,
};
use dsbackup_core::perm::Scope;
use dsbackup_core::{DUMP_TENANT, PortalId, StorageKind};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Caller;
use crate::extract::{ApiPath, MaybeJson, QueryMap};
use crate::present_backup::{storage_kind, storage_type};
use crate::state::AppState;
use crate::wire::{ApiError, Envelope, base_url};
use dsbackup_service::archives;
use dsbackup_service::backup::jobs::{JobStatus, Snapshot};
use dsbackup_service::backup::{self, StartRequest, durable, link};

const READ: Scope = Scope::read("backup");
const WRITE: Scope = Scope::write("backup");

/// A job as `BackupProgress`.
pub fn progress_dto(s: &Snapshot) -> BackupProgressDto {
    BackupProgressDto {
        is_completed: s.is_completed(),
        progress: s.progress,
        error: s.error.clone(),
        warning: s.warning.clone(),
        link: s.link.clone(),
        tenant_id: s.tenant_id,
        backup_progress_enum: if s.restore {
            BackupProgressEnum::Restore
        } else {
            BackupProgressEnum::Backup
        },
        status: match s.status {
            JobStatus::Created => DistributedTaskStatus::Created,
            JobStatus::Running => DistributedTaskStatus::Running,
            JobStatus::Completed => DistributedTaskStatus::Completed,
            JobStatus::Canceled => DistributedTaskStatus::Canceled,
            JobStatus::Failed => DistributedTaskStatus::Failted,
        },
        task_id: s.id.to_string(),
    }
}

/// `Dump` from the query (any case); with `true`, demands the dump right.
fn dump_query(state: &AppState, caller: &Caller, q: &QueryMap) -> Result<bool, ApiError> {
    let dump = q.bool("Dump")?.unwrap_or(false);
    if dump {
        backup::demand_dump(state.service(), caller)?;
    }
    Ok(dump)
}

/// `POST startbackup`.
#[utoipa::path(
    post,
    path = "/api/2.0/backup/startbackup",
    operation_id = "startBackup",
    tag = "Backup",
    request_body = BackupRequest,
    responses((status = 200, body = Wrapper<BackupProgressDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    MaybeJson(body): MaybeJson<BackupRequest>,
) -> Result<Envelope<BackupProgressDto>, ApiError> {
    caller.admin(WRITE)?;
    let req = body.unwrap_or(BackupRequest {
        storage_type: None,
        storage_params: None,
        dump: None,
    });
    let snapshot = backup::start(
        state.service(),
        &caller,
        StartRequest {
            storage: storage_kind(req.storage_type.unwrap_or(BackupStorageType::Documents)),
            params: storage_params(req.storage_params.as_deref()),
            dump: req.dump.unwrap_or(false),
            scheduled: false,
            base_url: base_url(&headers),
        },
    )
    .await?;
    Ok(Envelope::of(progress_dto(&snapshot)))
}

/// `GET getbackupprogress`: no `response` when there is no job.
#[utoipa::path(
    get,
    path = "/api/2.0/backup/getbackupprogress",
    operation_id = "getBackupProgress",
    tag = "Backup",
    params(("Dump" = Option<bool>, Query, description = "The whole instance (a dump) instead of the caller's portal")),
    responses((status = 200, body = Wrapper<BackupProgressDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> Result<Envelope<BackupProgressDto>, ApiError> {
    caller.admin(READ)?;
    let dump = dump_query(&state, &caller, &q)?;
    let job = durable::progress(state.service(), backup::key_for(&caller, dump)).await?;
    Ok(Envelope(job.map(|s| progress_dto(&s))))
}

/// `POST cancelbackup` (any body): `true` when a job was dropped, `false` when there was none.
#[utoipa::path(
    post,
    path = "/api/2.0/backup/cancelbackup",
    operation_id = "cancelBackup",
    tag = "Backup",
    params(("Dump" = Option<bool>, Query, description = "The whole instance (a dump) instead of the caller's portal")),
    responses((status = 200, body = Wrapper<bool>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Envelope<bool>, ApiError> {
    caller.admin(WRITE)?;
    Ok(Envelope::of(
        backup::cancel(state.service(), &caller).await?,
    ))
}

fn tenant_of(caller: &Caller, dump: bool) -> PortalId {
    if dump { DUMP_TENANT } else { caller.portal.id }
}

/// `GET getbackuphistory`: the live records. A GET never writes: a record whose archive is
/// not found (perhaps its storage is offline) is still listed, with a warning in the log;
/// retention gives it up only after repeated checks over time (`schedule/retention.rs`).
#[utoipa::path(
    get,
    path = "/api/2.0/backup/getbackuphistory",
    operation_id = "getBackupHistory",
    tag = "Backup",
    params(("Dump" = Option<bool>, Query, description = "The whole instance (a dump) instead of the caller's portal")),
    responses((status = 200, body = Wrapper<Vec<BackupHistoryRecordDto>>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    q: QueryMap,
) -> Result<Envelope<Vec<BackupHistoryRecordDto>>, ApiError> {
    caller.admin(READ)?;
    let dump = dump_query(&state, &caller, &q)?;
    let (base, now) = (base_url(&headers), Utc::now());
    let mut out = Vec::new();
    for r in state
        .catalog()
        .live_backups(tenant_of(&caller, dump))
        .await?
    {
        // No storage call per record (a remote store may be slow or down): retention checks
        // existence in the background and notes what it misses.
        if let Some(m) = r.missing {
            tracing::warn!(
                backup = %r.id,
                checks = m.checks,
                "a listed backup's archive was not found in its storage"
            );
        }
        out.push(BackupHistoryRecordDto {
            id: r.id,
            file_name: r.name.clone(),
            storage_type: storage_type(r.storage()),
            created_on: r.created_on,
            expires_on: r
                .expires_on
                .unwrap_or_else(dsbackup_api_types::datetime::dotnet_min_value),
            size: r.size,
            hash: r.hash.clone(),
            is_scheduled: r.is_scheduled,
            link: link::for_record(&base, state.instance_key(), &r, now),
        });
    }
    Ok(Envelope::of(out))
}

/// Marks a record removed, then deletes its archive (SERVER.md §3).
/// `DELETE deletebackup/{id}`: `true`, also for another portal's record (left alone).
#[utoipa::path(
    delete,
    path = "/api/2.0/backup/deletebackup/{id}",
    operation_id = "deleteBackup",
    tag = "Backup",
    params(("id" = Uuid, Path, description = "The backup's id")),
    responses((status = 200, body = Wrapper<bool>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<bool>, ApiError> {
    caller.admin(WRITE)?;
    let cat = state.catalog();
    let r = if let Some(r) = cat.backup_of(caller.portal.id, id).await? {
        r
    } else if let Some(r) = cat.backup_of(DUMP_TENANT, id).await? {
        backup::demand_dump(state.service(), &caller)?;
        r
    } else if cat.backup(id).await?.is_some() {
        // Another portal's record: left alone, yet `true`, as upstream answers.
        return Ok(Envelope::of(true));
    } else {
        return Err(ApiError::NotFound("The backup was not found".into()));
    };
    backup::remove(state.service(), &r).await?;
    Ok(Envelope::of(true))
}

/// `DELETE deletebackuphistory`: every live record and its archive; always `true`.
#[utoipa::path(
    delete,
    path = "/api/2.0/backup/deletebackuphistory",
    operation_id = "deleteBackupHistory",
    tag = "Backup",
    params(("Dump" = Option<bool>, Query, description = "The whole instance (a dump) instead of the caller's portal")),
    responses((status = 200, body = Wrapper<bool>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn delete_history(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> Result<Envelope<bool>, ApiError> {
    caller.admin(WRITE)?;
    let dump = dump_query(&state, &caller, &q)?;
    for r in state
        .catalog()
        .live_backups(tenant_of(&caller, dump))
        .await?
    {
        if let Err(e) = backup::remove(state.service(), &r).await {
            tracing::warn!(backup = %r.id, error = %e, "deleting a backup failed");
        }
    }
    Ok(Envelope::of(true))
}

fn date_param(q: &QueryMap, key: &str) -> Result<Option<chrono::DateTime<Utc>>, ApiError> {
    match q.get(key) {
        None | Some("") => Ok(None),
        Some(v) => dsbackup_api_types::datetime::parse(v)
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("The value '{v}' is not valid for {key}"))),
    }
}

fn window(q: &QueryMap) -> Result<(chrono::DateTime<Utc>, chrono::DateTime<Utc>), ApiError> {
    let from = date_param(q, "from")?.unwrap_or_else(backup::month_start);
    let to = date_param(q, "to")?.unwrap_or_else(|| Utc::now() + Duration::seconds(1));
    if from > to {
        return Err(ApiError::BadRequest(
            "From date must be less than to date".into(),
        ));
    }
    Ok((from, to))
}

/// `GET getbackupscount?from&to&paid`: removed records count too (as upstream).
#[utoipa::path(
    get,
    path = "/api/2.0/backup/getbackupscount",
    operation_id = "getBackupsCount",
    tag = "Backup",
    params(("from" = Option<String>, Query, description = "Start of the period"), ("to" = Option<String>, Query, description = "End of the period"), ("paid" = Option<bool>, Query, description = "Count paid backups")),
    responses((status = 200, body = Wrapper<i32>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn count(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> Result<Envelope<i64>, ApiError> {
    caller.admin(READ)?;
    let (from, to) = window(&q)?;
    let paid = q.bool("paid")?.unwrap_or(false);
    Ok(Envelope::of(
        state
            .catalog()
            .count_backups(caller.portal.id, from, to, paid)
            .await?,
    ))
}

/// `GET getbackupscountbypaid?from&to`.
#[utoipa::path(
    get,
    path = "/api/2.0/backup/getbackupscountbypaid",
    operation_id = "getBackupsCounts",
    tag = "Backup",
    params(("from" = Option<String>, Query, description = "Start of the period"), ("to" = Option<String>, Query, description = "End of the period"), ("paid" = Option<bool>, Query, description = "Accepted and ignored, as upstream")),
    responses((status = 200, body = Wrapper<BackupsCountResultDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn count_by_paid(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
) -> Result<Envelope<BackupsCountResultDto>, ApiError> {
    caller.admin(READ)?;
    let (from, to) = window(&q)?;
    q.bool("paid")?;
    let cat = state.catalog();
    Ok(Envelope::of(BackupsCountResultDto {
        free: cat.count_backups(caller.portal.id, from, to, false).await?,
        paid: cat.count_backups(caller.portal.id, from, to, true).await?,
    }))
}

/// `GET getservicestate`: whether paid backups are on.
#[utoipa::path(
    get,
    path = "/api/2.0/backup/getservicestate",
    operation_id = "getBackupsServiceState",
    tag = "Backup",
    responses((status = 200, body = Wrapper<BackupServiceStateDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn service_state(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Envelope<BackupServiceStateDto>, ApiError> {
    caller.admin(READ)?;
    Ok(Envelope::of(BackupServiceStateDto {
        enabled: state.config().paid_backup_service,
    }))
}

/// `GET backuptmp`: the temporary backup folder.
#[utoipa::path(
    get,
    path = "/api/2.0/backup/backuptmp",
    operation_id = "backupTmp",
    tag = "Backup",
    responses((status = 200, body = Wrapper<String>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn tmp(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Envelope<Value>, ApiError> {
    caller.admin(READ)?;
    Ok(Envelope::of(Value::String(
        state.service().backup_tmp().display().to_string(),
    )))
}

/// `GET download/{id}?expires&signature`: streams a DataStore archive to whoever holds a valid,
/// unexpired link.
#[utoipa::path(
    get,
    path = "/api/2.0/backup/download/{id}",
    operation_id = "backupDownload",
    tag = "dsbackup",
    params(("id" = Uuid, Path, description = "The backup's id"), ("expires" = i64, Query, description = "Unix time the link expires"), ("signature" = String, Query, description = "The link's signature")),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream"), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn download(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    q: QueryMap,
) -> Result<Response, ApiError> {
    let expires: i64 = q
        .get("expires")
        .and_then(|v| v.parse().ok())
        .ok_or(ApiError::Forbidden)?;
    let sig = q.get("signature").ok_or(ApiError::Forbidden)?;
    if !link::verify(state.instance_key(), id, expires, sig) {
        return Err(ApiError::Forbidden);
    }
    if Utc::now().timestamp() > expires {
        return Err(ApiError::Denied("The download link has expired".into()));
    }
    // Unscoped on purpose: the signature is the authority here, no caller's portal is known.
    let r = state
        .catalog()
        .backup(id)
        .await?
        .filter(|r| {
            !r.removed
                && matches!(
                    r.storage(),
                    StorageKind::DataStore
                        | StorageKind::ThirdPartyConsumer
                        | StorageKind::CustomCloud
                        | StorageKind::ThirdPartyDocuments
                )
        })
        .ok_or_else(|| ApiError::NotFound("The backup was not found".into()))?;
    let gone = || ApiError::NotFound("The backup was not found".into());
    let archive = archives::of_record(state.service(), &r)
        .await?
        .ok_or_else(gone)?;
    let len = archive.stat().await?.ok_or_else(gone)?.size;
    let body = archive
        .backend
        .get(&archive.key, None)
        .await
        .map_err(|_| gone())?;
    let mut res = Body::from_stream(body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zstd"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", r.name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}
