//! Rooms, folders and files: what DocSpace clients touch around backups. Every member sees
//! the portal's rooms; the Owner, admins and room admins create rooms; members other than
//! guests create folders and upload; everyone may read and download, except backup archives,
//! which only portal admins see (`perm::may_see_file`).

use dsbackup_api_types::ErrorEnvelope;
use dsbackup_api_types::envelope::Wrapper;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use dsbackup_api_types::enums::RoomType;
use dsbackup_api_types::files::{
    CreateRoomRequest, FileDto, FolderContentDto, FolderDto, PathPart,
};
use dsbackup_core::catalog::{NewFile, NewFolder};
use dsbackup_core::perm::{self, Scope};
use dsbackup_core::{FileEntry, Folder, FolderKind, PortalId, Role, User, validate};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath, QueryMap};
use crate::present;
use crate::state::AppState;
use crate::wire::{ApiError, Envelope, base_url};

/// Characters escaped in an RFC 5987 `filename*` value (all but `attr-char`).
const RFC5987: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'_')
    .remove(b'~');

/// `{title}` for a new folder.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateFolderRequest {
    title: Option<String>,
}

async fn folder_of(state: &AppState, caller: &Caller, id: i64) -> Result<Folder, ApiError> {
    state
        .catalog()
        .folder_in(caller.portal.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("The required folder was not found".into()))
}

/// Creators of the given entries (members of `portal`), looked up once each.
async fn creators(
    state: &AppState,
    portal: PortalId,
    ids: impl Iterator<Item = Uuid>,
) -> Result<HashMap<Uuid, User>, ApiError> {
    let mut out = HashMap::new();
    for id in ids {
        if let std::collections::hash_map::Entry::Vacant(e) = out.entry(id)
            && let Some(u) = state.catalog().user_in(portal, id).await?
        {
            e.insert(u);
        }
    }
    Ok(out)
}

/// The files of a folder that `role` may see, by id.
async fn visible_files(
    state: &AppState,
    role: Role,
    folder: &Folder,
) -> Result<Vec<FileEntry>, ApiError> {
    let mut files = state
        .catalog()
        .files_in(folder.portal_id, folder.id)
        .await?;
    files.retain(|f| perm::may_see_file(role, f));
    Ok(files)
}

async fn folder_dto(state: &AppState, role: Role, f: &Folder) -> Result<FolderDto, ApiError> {
    let cat = state.catalog();
    let files = visible_files(state, role, f).await?.len() as i64;
    let folders = cat.child_folders(f.portal_id, f.id).await?.len() as i64;
    let creator = cat.user_in(f.portal_id, f.created_by).await?;
    Ok(present::folder(f, files, folders, creator.as_ref()))
}

async fn contents(
    state: &AppState,
    headers: &HeaderMap,
    role: Role,
    folder: Folder,
) -> Result<FolderContentDto, ApiError> {
    let cat = state.catalog();
    let subfolders = cat.child_folders(folder.portal_id, folder.id).await?;
    let files = visible_files(state, role, &folder).await?;
    let who = creators(state, folder.portal_id, files.iter().map(|f| f.created_by)).await?;
    let base = base_url(headers);
    let files: Vec<FileDto> = files
        .iter()
        .map(|f| present::file(f, &base, who.get(&f.created_by)))
        .collect();
    let mut folders = Vec::with_capacity(subfolders.len());
    for f in &subfolders {
        folders.push(folder_dto(state, role, f).await?);
    }
    let mut path = vec![PathPart {
        id: folder.id,
        title: folder.title.clone(),
    }];
    let mut parent = folder.parent_id;
    while let Some(pid) = parent {
        let Some(p) = cat.folder_in(folder.portal_id, pid).await? else {
            break;
        };
        parent = p.parent_id;
        path.push(PathPart {
            id: p.id,
            title: p.title,
        });
    }
    path.reverse();
    let total = (files.len() + folders.len()) as i64;
    Ok(FolderContentDto {
        current: folder_dto(state, role, &folder).await?,
        files,
        folders,
        path_parts: path,
        start_index: 0,
        count: total,
        total,
    })
}

/// `POST /api/2.0/files/rooms`.
#[utoipa::path(
    post,
    path = "/api/2.0/files/rooms",
    operation_id = "filesCreateRoom",
    tag = "Files",
    request_body = CreateRoomRequest,
    responses((status = 200, body = Wrapper<FolderDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn create_room(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateRoomRequest>,
) -> Result<Envelope<FolderDto>, ApiError> {
    caller.scope(Scope::write("rooms"))?;
    if !perm::may_create_rooms(caller.user.role) {
        return Err(ApiError::Forbidden);
    }
    let title = validate::title(req.title.as_deref())?;
    let room_type = req.room_type.unwrap_or(RoomType::CustomRoom);
    let root = state.catalog().rooms_root(caller.portal.id).await?;
    create_folder_in(
        &state,
        &caller,
        root.id,
        title,
        FolderKind::Room {
            room_type: room_type.value(),
        },
    )
    .await
}

/// `POST /api/2.0/files/folder/{folderId}`.
#[utoipa::path(
    post,
    path = "/api/2.0/files/folder/{folderId}",
    operation_id = "filesCreateFolder",
    tag = "Files",
    params(("folderId" = i64, Path, description = "The parent folder or room")),
    request_body = CreateFolderRequest,
    responses((status = 200, body = Wrapper<FolderDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn create_folder(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(parent): ApiPath<i64>,
    ApiJson(req): ApiJson<CreateFolderRequest>,
) -> Result<Envelope<FolderDto>, ApiError> {
    caller.scope(Scope::write("files"))?;
    if caller.user.role == Role::Guest {
        return Err(ApiError::Forbidden);
    }
    let parent = folder_of(&state, &caller, parent).await?;
    if parent.kind == FolderKind::RoomsRoot {
        return Err(ApiError::Forbidden);
    }
    let title = validate::title(req.title.as_deref())?;
    create_folder_in(&state, &caller, parent.id, title, FolderKind::Folder).await
}

async fn create_folder_in(
    state: &AppState,
    caller: &Caller,
    parent: i64,
    title: String,
    kind: FolderKind,
) -> Result<Envelope<FolderDto>, ApiError> {
    let folder = state
        .catalog()
        .create_folder(NewFolder {
            portal_id: caller.portal.id,
            parent_id: Some(parent),
            title,
            kind,
            created_by: caller.user.id,
        })
        .await?;
    let dir = state.folder_dir(caller.portal.id, folder.id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::Internal(format!("creating {}: {e}", dir.display())))?;
    Ok(Envelope::of(present::folder(
        &folder,
        0,
        0,
        Some(&caller.user),
    )))
}

/// `GET /api/2.0/files/rooms`: the rooms root's contents.
#[utoipa::path(
    get,
    path = "/api/2.0/files/rooms",
    operation_id = "filesRooms",
    tag = "Files",
    responses((status = 200, body = Wrapper<FolderContentDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn rooms(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
) -> Result<Envelope<FolderContentDto>, ApiError> {
    caller.scope(Scope::read("rooms"))?;
    let root = state.catalog().rooms_root(caller.portal.id).await?;
    Ok(Envelope::of(
        contents(&state, &headers, caller.user.role, root).await?,
    ))
}

/// `GET /api/2.0/files/{folderId}`: a folder's contents.
#[utoipa::path(
    get,
    path = "/api/2.0/files/{folderId}",
    operation_id = "filesFolder",
    tag = "Files",
    params(("folderId" = i64, Path, description = "The folder or room")),
    responses((status = 200, body = Wrapper<FolderContentDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn folder(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Envelope<FolderContentDto>, ApiError> {
    caller.scope(Scope::read("files"))?;
    let folder = folder_of(&state, &caller, id).await?;
    Ok(Envelope::of(
        contents(&state, &headers, caller.user.role, folder).await?,
    ))
}

/// A file of the caller's portal that the caller may see; anything else is 404, so a hidden
/// backup archive looks exactly like a missing file.
async fn file_of(state: &AppState, caller: &Caller, id: i64) -> Result<FileEntry, ApiError> {
    state
        .catalog()
        .file_in(caller.portal.id, id)
        .await?
        .filter(|f| perm::may_see_file(caller.user.role, f))
        .ok_or_else(|| ApiError::NotFound("The required file was not found".into()))
}

/// `GET /api/2.0/files/file/{fileId}`: file information.
#[utoipa::path(
    get,
    path = "/api/2.0/files/file/{fileId}",
    operation_id = "filesFileInfo",
    tag = "Files",
    params(("fileId" = i64, Path, description = "The file")),
    responses((status = 200, body = Wrapper<FileDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn file_info(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Envelope<FileDto>, ApiError> {
    caller.scope(Scope::read("files"))?;
    let f = file_of(&state, &caller, id).await?;
    let creator = state.catalog().user_in(f.portal_id, f.created_by).await?;
    Ok(Envelope::of(present::file(
        &f,
        &base_url(&headers),
        creator.as_ref(),
    )))
}

/// `GET /filehandler.ashx?action=download&fileid=N`: streams a file's bytes.
#[utoipa::path(
    get,
    path = "/filehandler.ashx",
    operation_id = "filesDownload",
    tag = "Files",
    params(("action" = String, Query, description = "download"), ("fileid" = i64, Query, description = "The file")),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream"), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryMap,
) -> Result<Response, ApiError> {
    caller.scope(Scope::read("files"))?;
    if !query
        .get("action")
        .is_some_and(|a| a.eq_ignore_ascii_case("download"))
    {
        return Err(ApiError::BadRequest("action must be download".into()));
    }
    let id: i64 = query
        .get("fileid")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::BadRequest("fileid must be an integer".into()))?;
    let f = file_of(&state, &caller, id).await?;
    let path = state.file_path(f.portal_id, f.folder_id, f.id);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| ApiError::NotFound("The required file was not found".into()))?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(f.size as u64));
    let name = percent_encoding::utf8_percent_encode(&f.title, RFC5987);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename*=UTF-8''{name}")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// `POST /api/2.0/files/{folderId}/upload` (multipart, field `file`): streams the upload to
/// a temporary file, records it, then moves the bytes into place. Nothing is recorded and no
/// temporary is left when any step fails.
#[utoipa::path(
    post,
    path = "/api/2.0/files/{folderId}/upload",
    operation_id = "filesUpload",
    tag = "Files",
    params(("folderId" = i64, Path, description = "The folder or room")),
    request_body(content_type = "multipart/form-data", description = "The file as the form's first part"),
    responses((status = 200, body = Wrapper<FileDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    ApiPath(folder_id): ApiPath<i64>,
    mut form: Multipart,
) -> Result<Envelope<FileDto>, ApiError> {
    caller.scope(Scope::write("files"))?;
    if caller.user.role == Role::Guest {
        return Err(ApiError::Forbidden);
    }
    let folder = folder_of(&state, &caller, folder_id).await?;
    if folder.kind == FolderKind::RoomsRoot {
        return Err(ApiError::Forbidden);
    }
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!("Invalid upload: {}", e.body_text()))
    };
    let mut field = loop {
        match form.next_field().await.map_err(bad)? {
            Some(f) if f.file_name().is_some() => break f,
            Some(_) => continue,
            None => return Err(ApiError::BadRequest("The upload has no file".into())),
        }
    };
    let title = validate::title(field.file_name())?;
    let dir = state.folder_dir(caller.portal.id, folder.id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::Internal(format!("creating {}: {e}", dir.display())))?;
    let tmp = dir.join(format!(".upload-{}", Uuid::new_v4()));
    let result = async {
        let mut out = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| ApiError::Internal(format!("creating {}: {e}", tmp.display())))?;
        let mut size: u64 = 0;
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            size += chunk.len() as u64;
            if size > state.config().max_upload_bytes {
                return Err(ApiError::PayloadTooLarge);
            }
            out.write_all(&chunk)
                .await
                .map_err(|e| ApiError::Internal(format!("writing {}: {e}", tmp.display())))?;
        }
        out.sync_all()
            .await
            .map_err(|e| ApiError::Internal(format!("syncing {}: {e}", tmp.display())))?;
        drop(out);
        // The bytes are complete and durable under a temporary name; the record gives them
        // their id. A failed insert leaves only the temporary (removed below); a failed rename
        // takes the record back out, so no listed file is ever without bytes.
        let entry = state
            .catalog()
            .create_file(NewFile {
                portal_id: caller.portal.id,
                folder_id: folder.id,
                title,
                size: size as i64,
                created_by: caller.user.id,
                is_backup: false,
            })
            .await?;
        let path = state.file_path(caller.portal.id, folder.id, entry.id);
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            if let Err(undo) = state.catalog().delete_file(entry.id).await {
                tracing::error!(file = entry.id, error = %undo, "removing the record of an upload that could not be placed");
            }
            return Err(ApiError::Internal(format!(
                "placing upload at {}: {e}",
                path.display()
            )));
        }
        Ok(entry)
    }
    .await;
    match result {
        Ok(entry) => Ok(Envelope::of(present::file(
            &entry,
            &base_url(&headers),
            Some(&caller.user),
        ))),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}
