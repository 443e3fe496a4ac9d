//! People: adding members (`POST /api/2.0/people`, `/people/active`), reading oneself
//! (`GET /api/2.0/people/@self`), changing a password (`PUT /people/{userid}/password`) and
//! removing a member (`DELETE /people/{userid}`). Only the Owner and DocSpace admins add,
//! remove or set the password of others; only the Owner does so for DocSpace admins; nobody
//! removes the Owner. A password change ends the member's other sessions; a removal ends all
//! their sessions and deletes their API keys.

use dsbackup_api_types::ErrorEnvelope;
use dsbackup_api_types::envelope::Wrapper;

use axum::extract::State;
use axum::http::HeaderMap;
use chrono::Utc;
use dsbackup_api_types::enums::EmployeeType;
use dsbackup_api_types::people::{EmployeeFullDto, MemberRequest, PasswordRequest};
use dsbackup_core::perm::{self, Scope};
use dsbackup_core::{Role, User, secret, validate};
use uuid::Uuid;

use crate::auth::{Caller, session_hash};
use crate::extract::{ApiJson, ApiPath};
use crate::present;
use crate::state::AppState;
use crate::wire::{ApiError, Envelope};

fn role_of(kind: Option<EmployeeType>, is_user: Option<bool>) -> Role {
    match kind {
        Some(EmployeeType::DocSpaceAdmin) => Role::DocSpaceAdmin,
        Some(EmployeeType::RoomAdmin) => Role::RoomAdmin,
        Some(EmployeeType::Guest) => Role::Guest,
        Some(EmployeeType::User) => Role::User,
        None if is_user == Some(false) => Role::Guest,
        None => Role::User,
    }
}

/// `POST people/active`: the same as `POST people` (DocSpace's route for members added active).
#[utoipa::path(
    post,
    path = "/api/2.0/people/active",
    operation_id = "peopleCreateActive",
    tag = "People",
    request_body = MemberRequest,
    responses((status = 200, body = Wrapper<EmployeeFullDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn create_active(
    state: State<AppState>,
    caller: Caller,
    req: ApiJson<MemberRequest>,
) -> Result<Envelope<EmployeeFullDto>, ApiError> {
    create(state, caller, req).await
}

/// Adds a member who can log in at once with the given password.
#[utoipa::path(
    post,
    path = "/api/2.0/people",
    operation_id = "peopleCreate",
    tag = "People",
    request_body = MemberRequest,
    responses((status = 200, body = Wrapper<EmployeeFullDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<MemberRequest>,
) -> Result<Envelope<EmployeeFullDto>, ApiError> {
    caller.scope(Scope::write("accounts"))?;
    let role = role_of(req.kind, req.is_user);
    if !perm::may_add_member(caller.user.role, role) {
        return Err(ApiError::Forbidden);
    }
    let email = validate::email(req.email.as_deref())?;
    let password = validate::password(req.password.as_deref())?;
    let first_name = validate::person_name(req.first_name.as_deref(), "firstName")?;
    let last_name = validate::person_name(req.last_name.as_deref(), "lastName")?;
    let password_hash = hash(password).await?;
    let user = User {
        id: Uuid::new_v4(),
        portal_id: caller.portal.id,
        email,
        first_name,
        last_name,
        role,
        password_hash,
        created_on: Utc::now(),
    };
    state.catalog().create_user(user.clone()).await?;
    tracing::info!(user = %user.id, role = role.as_str(), "member added");
    Ok(Envelope::of(present::employee_full(&user)))
}

async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("hashing task: {e}")))?
        .map_err(ApiError::from)
}

/// The member `id` of the caller's portal whom the caller may manage (`self_scope` when it is
/// the caller themself and `allow_self`). 404 for a member of no portal or another one, 403
/// when the role or the key's scopes do not allow it.
async fn managed(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    allow_self: bool,
) -> Result<User, ApiError> {
    if allow_self && id == caller.user.id {
        caller.scope(Scope::write("accounts.self"))?;
        return Ok(caller.user.clone());
    }
    caller.scope(Scope::write("accounts"))?;
    let user = state
        .catalog()
        .user_in(caller.portal.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    if !perm::may_manage_member(caller.user.role, user.role) {
        return Err(ApiError::Forbidden);
    }
    Ok(user)
}

/// Sets a member's password (the member themself, or an admin for a member they manage) and
/// ends that member's sessions, except the one this request came through.
#[utoipa::path(
    put,
    path = "/api/2.0/people/{userid}/password",
    operation_id = "peopleSetPassword",
    tag = "People",
    params(("userid" = Uuid, Path, description = "The member's id")),
    request_body = PasswordRequest,
    responses((status = 200, body = Wrapper<EmployeeFullDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn set_password(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(req): ApiJson<PasswordRequest>,
) -> Result<Envelope<EmployeeFullDto>, ApiError> {
    let user = managed(&state, &caller, id, true).await?;
    let password = validate::password(req.password.as_deref())?;
    let password_hash = hash(password).await?;
    let keep = session_hash(&headers).filter(|_| user.id == caller.user.id);
    if !state
        .catalog()
        .set_password(user.id, &password_hash, keep.as_deref())
        .await?
    {
        return Err(ApiError::NotFound("User not found".into()));
    }
    tracing::info!(user = %user.id, by = %caller.user.id, "password changed; other sessions ended");
    Ok(Envelope::of(present::employee_full(&User {
        password_hash,
        ..user
    })))
}

/// Removes a member with their sessions and API keys; answers the removed member.
#[utoipa::path(
    delete,
    path = "/api/2.0/people/{userid}",
    operation_id = "peopleRemove",
    tag = "People",
    params(("userid" = Uuid, Path, description = "The member's id")),
    responses((status = 200, body = Wrapper<EmployeeFullDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Envelope<EmployeeFullDto>, ApiError> {
    let user = managed(&state, &caller, id, false).await?;
    if !state.catalog().delete_user(user.id).await? {
        return Err(ApiError::NotFound("User not found".into()));
    }
    tracing::info!(user = %user.id, by = %caller.user.id, "member removed with their sessions and keys");
    Ok(Envelope::of(present::employee_full(&user)))
}

/// The caller's own profile.
#[utoipa::path(
    get,
    path = "/api/2.0/people/@self",
    operation_id = "peopleMe",
    tag = "People",
    responses((status = 200, body = Wrapper<EmployeeFullDto>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn me(caller: Caller) -> Result<Envelope<EmployeeFullDto>, ApiError> {
    caller.scope(Scope::read("accounts.self"))?;
    Ok(Envelope::of(present::employee_full(&caller.user)))
}
