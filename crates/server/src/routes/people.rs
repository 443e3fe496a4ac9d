//! People: adding members (`POST /api/2.0/people`, `/people/active`) and reading oneself
//! (`GET /api/2.0/people/@self`). Only the Owner and DocSpace admins add members; only the
//! Owner adds DocSpace admins.

use axum::extract::State;
use chrono::Utc;
use dsbackup_api_types::enums::EmployeeType;
use dsbackup_api_types::people::{EmployeeFullDto, MemberRequest};
use dsbackup_core::perm::{self, Scope};
use dsbackup_core::{Role, User, secret, validate};
use uuid::Uuid;

use crate::auth::Caller;
use crate::extract::ApiJson;
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

/// Adds a member who can log in at once with the given password.
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
    let password_hash = tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("hashing task: {e}")))??;
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

/// The caller's own profile.
pub async fn me(caller: Caller) -> Result<Envelope<EmployeeFullDto>, ApiError> {
    caller.scope(Scope::read("accounts.self"))?;
    Ok(Envelope::of(present::employee_full(&caller.user)))
}
