//! The third-party backup account (`files/thirdparty/backup`, STORAGES.md §3): `POST` connects
//! a WebDAV account (WebDav, NextCloud, OwnCloud, kDrive; stored as `WebDav`) and `GET` answers
//! its root folder, whose id `sbox-<n>` backups name as `folderId` with storage type 1. The
//! OAuth providers are refused: this server has no OAuth clients to exchange their codes.

use dsbackup_api_types::ErrorEnvelope;
use dsbackup_api_types::envelope::Wrapper;

use axum::extract::State;
use dsbackup_api_types::files::{FolderStringDto, ProviderType, ThirdPartyBackupRequest};
use dsbackup_core::perm::{self, Scope};
use dsbackup_service::thirdparty::{self, BackupAccount, KDRIVE_URL, WebDavLogin};

use crate::auth::Caller;
use crate::extract::ApiJson;
use crate::present;
use crate::state::AppState;
use crate::wire::{ApiError, Envelope};

/// `FolderType.ThirdpartyBackup`.
const THIRDPARTY_BACKUP: i32 = 21;

async fn folder(
    state: &AppState,
    caller: &Caller,
    a: &BackupAccount,
) -> Result<FolderStringDto, ApiError> {
    let creator = state
        .catalog()
        .user_in(caller.portal.id, a.created_by)
        .await?;
    Ok(FolderStringDto {
        id: a.folder_id(),
        title: a.title.clone(),
        root_folder_id: a.folder_id(),
        root_folder_type: THIRDPARTY_BACKUP,
        provider_item: true,
        provider_key: a.provider_key.clone(),
        provider_id: a.id,
        files_count: 0,
        folders_count: 0,
        created: a.created,
        updated: a.created,
        created_by: present::employee(a.created_by, creator.as_ref()),
        file_entry_type: 1,
    })
}

/// `POST files/thirdparty/backup` `ThirdPartyBackupRequestDto`: connects (or replaces) the
/// portal's backup account after checking that it answers; its root folder.
#[utoipa::path(
    post,
    path = "/api/2.0/files/thirdparty/backup",
    operation_id = "saveThirdPartyBackup",
    tag = "Files",
    request_body = ThirdPartyBackupRequest,
    responses((status = 200, body = Wrapper<FolderStringDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn save(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ThirdPartyBackupRequest>,
) -> Result<Envelope<FolderStringDto>, ApiError> {
    caller.admin(Scope::write("files"))?;
    let key = req.provider_key.unwrap_or_default();
    let provider = ProviderType::parse(&key)
        .ok_or_else(|| ApiError::BadRequest("Unrecognized ProviderType".into()))?;
    let url = match provider {
        ProviderType::WebDav | ProviderType::NextCloud | ProviderType::OwnCloud => {
            req.url.unwrap_or_default()
        }
        ProviderType::KDrive => KDRIVE_URL.to_string(),
        other => {
            return Err(ApiError::BadRequest(format!(
                "{} accounts are not supported by this server; connect a WebDAV account \
                 (WebDav, NextCloud, OwnCloud or kDrive)",
                other.name()
            )));
        }
    };
    let login = WebDavLogin {
        url,
        login: req.login.unwrap_or_default(),
        password: req.password.unwrap_or_default(),
        title: req.customer_title.unwrap_or_default(),
    };
    let account = thirdparty::connect(state.service(), &caller, login).await?;
    Ok(Envelope::of(folder(&state, &caller, &account).await?))
}

/// `GET files/thirdparty/backup`: the account's root folder; no `response` when the portal
/// has none or the caller cannot read it (only DocSpace admins can).
#[utoipa::path(
    get,
    path = "/api/2.0/files/thirdparty/backup",
    operation_id = "getBackupThirdPartyAccount",
    tag = "Files",
    responses((status = 200, body = Wrapper<FolderStringDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Envelope<FolderStringDto>, ApiError> {
    caller.scope(Scope::read("files"))?;
    if !perm::is_portal_admin(caller.user.role) {
        return Ok(Envelope(None));
    }
    match thirdparty::account(state.service(), caller.portal.id).await? {
        Some(a) => Ok(Envelope::of(folder(&state, &caller, &a).await?)),
        None => Ok(Envelope(None)),
    }
}
