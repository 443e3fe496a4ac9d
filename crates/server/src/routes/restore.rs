//! `POST startrestore`, `GET getrestoreprogress` (anonymous, as upstream) and the chunked
//! archive upload `backupFileUpload.ashx` that a restore from the user's own machine uses.

use axum::Json;
use axum::extract::{FromRequest, State};
use axum::http::HeaderMap;
use dsbackup_api_types::backup::{BackupProgressDto, BackupStorageType, KeyValue, storage_params};
use dsbackup_core::Mode;
use dsbackup_core::perm::Scope;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::backup::progress_dto;
use crate::auth::{Caller, request_portal};
use crate::backup::jobs::JobKey;
use crate::extract::{ApiJson, QueryMap};
use crate::restore::{self, RestoreRequest};
use crate::state::AppState;
use crate::wire::{ApiError, Envelope};

/// `BackupRestoreDto`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreBody {
    pub backup_id: Option<String>,
    pub storage_type: Option<BackupStorageType>,
    pub storage_params: Option<Vec<KeyValue>>,
    pub notify: Option<bool>,
    pub dump: Option<bool>,
}

/// `POST startrestore`.
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RestoreBody>,
) -> Result<Envelope<BackupProgressDto>, ApiError> {
    caller.admin(Scope::write("backup"))?;
    let snapshot = restore::start(
        &state,
        &caller,
        RestoreRequest {
            backup_id: body.backup_id,
            storage: body.storage_type.unwrap_or(BackupStorageType::Documents),
            params: storage_params(body.storage_params.as_deref()),
            notify: body.notify.unwrap_or(false),
            dump: body.dump.unwrap_or(false),
        },
    )
    .await?;
    Ok(Envelope::of(progress_dto(&snapshot)))
}

/// `GET getrestoreprogress?Dump`: no authentication. Absent `Dump` means any restore of the
/// portal the request addresses (its own or a dump); `false` its own; `true` a dump (forced
/// to `false` outside standalone).
pub async fn progress(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: QueryMap,
) -> Result<Envelope<BackupProgressDto>, ApiError> {
    let mut dump = q.bool("Dump")?;
    if state.config().mode != Mode::Standalone {
        dump = Some(false);
    }
    let portal = request_portal(&state, &headers).await?;
    let own = portal.and_then(|p| state.jobs().get(JobKey::RestorePortal(p.id)));
    let job = match dump {
        Some(true) => state.jobs().get(JobKey::RestoreDump),
        Some(false) => own,
        None => own.or_else(|| state.jobs().get(JobKey::RestoreDump)),
    };
    Ok(Envelope(job.map(|j| progress_dto(&j.snapshot()))))
}

/// The upload handler's answer (plain JSON, as upstream's `backupFileUpload.ashx`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadAnswer {
    success: bool,
    message: String,
    chunk_size: u64,
    end_upload: bool,
}

const CHUNK: u64 = 10 << 20;

/// Appends upload chunks, refusing more than the announced total.
struct Appender {
    out: tokio::fs::File,
    have: u64,
    total: u64,
}

impl Appender {
    async fn append(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        self.have += chunk.len() as u64;
        if self.have > self.total {
            return Err(ApiError::BadRequest(format!(
                "more than the announced {} bytes arrived; start again",
                self.total
            )));
        }
        self.out
            .write_all(chunk)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))
    }
}

fn answer(success: bool, message: impl Into<String>, end: bool) -> Json<UploadAnswer> {
    Json(UploadAnswer {
        success,
        message: message.into(),
        chunk_size: CHUNK,
        end_upload: end,
    })
}

/// `POST backupFileUpload.ashx?Init=true&totalSize=N&extension=tar.zst` starts an upload;
/// each further POST appends its body — the first file of a multipart form, as the DocSpace web
/// client sends it, or the raw body — until `totalSize` bytes arrived. `startrestore` with
/// Local storage and no `filePath` then restores it.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
    req: axum::extract::Request,
) -> Result<Json<UploadAnswer>, ApiError> {
    caller.admin(Scope::write("backup"))?;
    let path = restore::upload_path(&state, caller.portal.id);
    let total_path = path.with_extension("total");
    if q.bool("Init")?.unwrap_or(false) {
        let total: u64 = q
            .get("totalSize")
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::BadRequest("totalSize must be a positive integer".into()))?;
        if total > state.config().max_upload_bytes {
            return Err(ApiError::PayloadTooLarge);
        }
        let ext = q
            .get("extension")
            .unwrap_or("tar.zst")
            .trim_start_matches('.');
        if !["tar.zst", "zst", "tar.gz", "tar"].contains(&ext) {
            return Err(ApiError::BadRequest(format!(
                "extension {ext} is not a backup archive"
            )));
        }
        tokio::fs::create_dir_all(state.backup_tmp())
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        tokio::fs::write(&path, b"")
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        tokio::fs::write(&total_path, total.to_string())
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        return Ok(answer(true, "", false));
    }
    let total: u64 = tokio::fs::read_to_string(&total_path)
        .await
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| ApiError::BadRequest("Start the upload with Init=true first".into()))?;
    let have = tokio::fs::metadata(&path)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let out = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .await
        .map_err(|_| ApiError::BadRequest("Start the upload with Init=true first".into()))?;
    let mut sink = Appender { out, have, total };
    let is_form = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let result = if is_form {
        let bad = |e: axum::extract::multipart::MultipartError| {
            ApiError::BadRequest(format!("Invalid upload: {}", e.body_text()))
        };
        let mut form = axum::extract::Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let mut field = loop {
            match form.next_field().await.map_err(bad)? {
                Some(f) if f.file_name().is_some() => break f,
                Some(_) => continue,
                None => return Err(ApiError::BadRequest("The upload has no file".into())),
            }
        };
        let mut r = Ok(());
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            r = sink.append(&chunk).await;
            if r.is_err() {
                break;
            }
        }
        r
    } else {
        let mut stream = req.into_body().into_data_stream();
        let mut r = Ok(());
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::BadRequest(format!("reading the chunk: {e}")))?;
            r = sink.append(&chunk).await;
            if r.is_err() {
                break;
            }
        }
        r
    };
    if let Err(e) = result {
        drop(sink);
        let _ = tokio::fs::remove_file(&path).await;
        let _ = tokio::fs::remove_file(&total_path).await;
        return Err(e);
    }
    let Appender { out, have, .. } = sink;
    out.sync_all()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(answer(true, "", have == total))
}
