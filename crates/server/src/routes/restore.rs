//! `POST startrestore`, `GET getrestoreprogress` (anonymous, as upstream) and the chunked
//! archive upload `backupFileUpload.ashx` that a restore from the user's own machine uses.

use dsbackup_api_types::ErrorEnvelope;
use dsbackup_api_types::envelope::Wrapper;

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
use crate::extract::{ApiJson, QueryMap};
use crate::present_backup::storage_kind;
use crate::state::AppState;
use crate::wire::{ApiError, Envelope};
use dsbackup_service::backup::durable;
use dsbackup_service::backup::jobs::JobKey;
use dsbackup_service::datadir;
use dsbackup_service::restore::{self, RestoreRequest};

/// `BackupRestoreDto`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreBody {
    pub backup_id: Option<String>,
    pub storage_type: Option<BackupStorageType>,
    pub storage_params: Option<Vec<KeyValue>>,
    pub notify: Option<bool>,
    pub dump: Option<bool>,
}

/// `POST startrestore`.
#[utoipa::path(
    post,
    path = "/api/2.0/backup/startrestore",
    operation_id = "startBackupRestore",
    tag = "Backup",
    request_body = RestoreBody,
    responses((status = 200, body = Wrapper<BackupProgressDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RestoreBody>,
) -> Result<Envelope<BackupProgressDto>, ApiError> {
    caller.admin(Scope::write("backup"))?;
    let snapshot = restore::start(
        state.service(),
        &caller,
        RestoreRequest {
            backup_id: body.backup_id,
            storage: storage_kind(body.storage_type.unwrap_or(BackupStorageType::Documents)),
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
#[utoipa::path(
    get,
    path = "/api/2.0/backup/getrestoreprogress",
    operation_id = "getRestoreProgress",
    tag = "Backup",
    params(("Dump" = Option<bool>, Query, description = "The whole instance (a dump) instead of the caller's portal")),
    responses((status = 200, body = Wrapper<BackupProgressDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
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
    let svc = state.service();
    let own = match portal {
        Some(p) => durable::progress(svc, JobKey::RestorePortal(p.id)).await?,
        None => None,
    };
    let job = match dump {
        Some(true) => durable::progress(svc, JobKey::RestoreDump).await?,
        Some(false) => own,
        None => match own {
            Some(own) => Some(own),
            None => durable::progress(svc, JobKey::RestoreDump).await?,
        },
    };
    Ok(Envelope(job.map(|snapshot| {
        // Anyone may ask: the texts keep their sense but lose the server's paths (the log
        // has them whole).
        let mut dto = progress_dto(&snapshot);
        dto.error = without_paths(&dto.error);
        dto.warning = dto.warning.map(|w| without_paths(&w));
        dto
    })))
}

/// `text` with every absolute path in it replaced by `<path>`. A path starts with `/` at the
/// start of the text or after a space or punctuation, and runs to the next space (to the
/// closing quote when quoted), or to `: ` or a closing bracket or comma.
fn without_paths(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut prev: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        let starts = c == '/'
            && prev.is_none_or(|p| p.is_whitespace() || "\"'`([{=:,;".contains(p))
            && rest[1..].chars().next().is_some_and(|n| !n.is_whitespace());
        if !starts {
            out.push(c);
            prev = Some(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let end = if prev == Some('"') {
            rest.find('"').unwrap_or(rest.len())
        } else {
            rest.char_indices()
                .find(|&(i, ch)| {
                    ch.is_whitespace()
                        || "\"'`)]},;".contains(ch)
                        || (ch == ':'
                            && rest[i + 1..].chars().next().is_none_or(char::is_whitespace))
                })
                .map_or(rest.len(), |(i, _)| i)
        };
        out.push_str("<path>");
        prev = Some('>');
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::without_paths;

    #[test]
    fn absolute_paths_are_taken_out() {
        for (text, want) in [
            (
                "The restore failed: rename /srv/a b/c: File exists (os error 17)",
                "The restore failed: rename <path> b/c: File exists (os error 17)",
            ),
            (
                "The restore failed: internal error: moving \"/srv/a b/docs\" aside",
                "The restore failed: internal error: moving \"<path>\" aside",
            ),
            ("/data/x:/y (z)", "<path> (z)"),
            ("staging /data/x: denied", "staging <path>: denied"),
            ("(/tmp/q), [/a]", "(<path>), [<path>]"),
            (
                "file 3 (a/b) of documents/12/3 is 1/2 done; a / b",
                "file 3 (a/b) of documents/12/3 is 1/2 done; a / b",
            ),
            ("", ""),
        ] {
            assert_eq!(without_paths(text), want, "{text}");
        }
    }
}

/// The upload handler's answer (plain JSON, as upstream's `backupFileUpload.ashx`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
#[utoipa::path(
    post,
    path = "/backupFileUpload.ashx",
    operation_id = "restoreUpload",
    tag = "Backup",
    params(("Init" = Option<bool>, Query, description = "Start an upload"), ("totalSize" = Option<u64>, Query, description = "With Init: the archive's size"), ("extension" = Option<String>, Query, description = "With Init: tar.zst or tar.gz")),
    request_body(content_type = "application/octet-stream", description = "The next chunk (raw, or the first file of a multipart form)"),
    responses((status = 200, body = UploadAnswer), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryMap,
    req: axum::extract::Request,
) -> Result<Json<UploadAnswer>, ApiError> {
    caller.admin(Scope::write("backup"))?;
    let path = restore::upload_path(state.service(), caller.portal.id);
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
        // The archive holds the catalog (password and key hashes): owner-only, whatever the
        // umask.
        let tmp = state.service().backup_tmp();
        let (path, total_path) = (path.clone(), total_path.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            datadir::create_private_dir(&tmp)?;
            datadir::private_file()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)?;
            datadir::write_private_atomic(&total_path, total.to_string().as_bytes())
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
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
