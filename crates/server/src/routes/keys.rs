//! The `/api/2.0/keys` family: a member's own API keys. The secret is shown once, in the
//! create response; only its SHA-256 is kept. Managing keys needs a full-access (`*`) key
//! or a session.

use dsbackup_api_types::ErrorEnvelope;
use dsbackup_api_types::envelope::Wrapper;

use axum::extract::State;
use chrono::{Duration, Utc};
use dsbackup_api_types::keys::{ApiKeyDto, CreateApiKeyRequest, UpdateApiKeyRequest};
use dsbackup_core::perm::{self, Scope};
use dsbackup_core::{ApiKey, CoreError, secret, validate};
use uuid::Uuid;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath};
use crate::present;
use crate::state::AppState;
use crate::wire::{ApiError, Envelope};

fn may_manage(caller: &Caller) -> Result<(), ApiError> {
    if !perm::may_own_keys(caller.user.role) {
        return Err(ApiError::Forbidden);
    }
    Ok(caller.scope(Scope::FULL)?)
}

fn check_permissions(p: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let p = p.unwrap_or_else(|| vec!["*".into()]);
    if p.is_empty() {
        return Err(ApiError::BadRequest("permissions may not be empty".into()));
    }
    if let Some(bad) = p.iter().find(|x| !perm::SCOPES.contains(&x.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "Unknown permission '{bad}'; see GET /api/2.0/keys/permissions"
        )));
    }
    let mut p = p;
    p.sort();
    p.dedup();
    Ok(p)
}

async fn own_key(state: &AppState, caller: &Caller, id: Uuid) -> Result<ApiKey, ApiError> {
    state
        .catalog()
        .api_key_of(caller.user.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("The API key was not found".into()))
}

/// `GET /api/2.0/keys`: the caller's keys, without secrets.
#[utoipa::path(
    get,
    path = "/api/2.0/keys",
    operation_id = "getApiKeys",
    tag = "Keys",
    responses((status = 200, body = Wrapper<Vec<ApiKeyDto>>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Envelope<Vec<ApiKeyDto>>, ApiError> {
    may_manage(&caller)?;
    let keys = state.catalog().api_keys_of(caller.user.id).await?;
    Ok(Envelope::of(
        keys.iter()
            .map(|k| present::api_key(k, &caller.user, None))
            .collect(),
    ))
}

/// `POST /api/2.0/keys`: a new key; the only response that carries its full value.
#[utoipa::path(
    post,
    path = "/api/2.0/keys",
    operation_id = "createApiKey",
    tag = "Keys",
    request_body = CreateApiKeyRequest,
    responses((status = 200, body = Wrapper<ApiKeyDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateApiKeyRequest>,
) -> Result<Envelope<ApiKeyDto>, ApiError> {
    may_manage(&caller)?;
    let name = validate::key_name(req.name.as_deref())?;
    let permissions = check_permissions(req.permissions)?;
    let now = Utc::now();
    let expires_at = match req.expires_in_days {
        None => None,
        Some(d) if (1..=365).contains(&d) => Some(now + Duration::days(d)),
        Some(_) => return Err(CoreError::Invalid("expiresInDays must be 1 - 365".into()).into()),
    };
    let value = secret::new_api_key();
    let key = ApiKey {
        id: Uuid::new_v4(),
        portal_id: caller.portal.id,
        user_id: caller.user.id,
        name,
        key_hash: secret::token_hash(&value),
        key_postfix: value[value.len() - 4..].to_string(),
        permissions,
        created_on: now,
        expires_at,
        last_used: None,
        is_active: true,
    };
    state.catalog().create_api_key(key.clone()).await?;
    tracing::info!(key = %key.id, user = %caller.user.id, "api key created");
    Ok(Envelope::of(present::api_key(
        &key,
        &caller.user,
        Some(value),
    )))
}

/// `GET /api/2.0/keys/permissions`.
#[utoipa::path(
    get,
    path = "/api/2.0/keys/permissions",
    operation_id = "getAllPermissions",
    tag = "Keys",
    responses((status = 200, body = Wrapper<Vec<String>>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn permissions(caller: Caller) -> Result<Envelope<Vec<&'static str>>, ApiError> {
    caller.scope(Scope::read("accounts.self"))?;
    Ok(Envelope::of(perm::SCOPES.to_vec()))
}

/// `GET /api/2.0/keys/@self`: the key this request was made with; 404 for other credentials.
#[utoipa::path(
    get,
    path = "/api/2.0/keys/@self",
    operation_id = "getApiKey",
    tag = "Keys",
    responses((status = 200, body = Wrapper<ApiKeyDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn current(caller: Caller) -> Result<Envelope<ApiKeyDto>, ApiError> {
    let key = caller
        .key
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("The request was not made with an API key".into()))?;
    Ok(Envelope::of(present::api_key(key, &caller.user, None)))
}

/// `PUT /api/2.0/keys/{keyId}`: rename, change permissions, (de)activate.
#[utoipa::path(
    put,
    path = "/api/2.0/keys/{keyId}",
    operation_id = "updateApiKey",
    tag = "Keys",
    params(("keyId" = Uuid, Path, description = "The key's id")),
    request_body = UpdateApiKeyRequest,
    responses((status = 200, body = Wrapper<bool>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<UpdateApiKeyRequest>,
) -> Result<Envelope<bool>, ApiError> {
    may_manage(&caller)?;
    let mut key = own_key(&state, &caller, id).await?;
    if let Some(name) = req.name.as_deref() {
        key.name = validate::key_name(Some(name))?;
    }
    if req.permissions.is_some() {
        key.permissions = check_permissions(req.permissions)?;
    }
    if let Some(active) = req.is_active {
        key.is_active = active;
    }
    state.catalog().update_api_key(&key).await?;
    Ok(Envelope::of(true))
}

/// `DELETE /api/2.0/keys/{keyId}`.
#[utoipa::path(
    delete,
    path = "/api/2.0/keys/{keyId}",
    operation_id = "deleteApiKey",
    tag = "Keys",
    params(("keyId" = Uuid, Path, description = "The key's id")),
    responses((status = 200, body = Wrapper<bool>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<bool>, ApiError> {
    may_manage(&caller)?;
    let key = own_key(&state, &caller, id).await?;
    Ok(Envelope::of(state.catalog().delete_api_key(key.id).await?))
}
