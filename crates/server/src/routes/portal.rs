//! `POST /apisystem/portal/register` (plain JSON answer, gated by the `registration` setting)
//! and `DELETE /api/2.0/portal/deleteportalimmediately` (owner only).

use dsbackup_api_types::ErrorEnvelope;
use dsbackup_api_types::envelope::Wrapper;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use dsbackup_api_types::portal::{RegisterRequest, RegisterResponse, RegisteredTenant};
use dsbackup_core::{Role, secret, validate};

use crate::auth::Caller;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::wire::{ApiError, Envelope};
use dsbackup_service::config::Registration;
use dsbackup_service::portals::{self, NewOwner};

/// The header that carries the instance admin secret.
pub const ADMIN_SECRET_HEADER: &str = "x-dsbackup-admin-secret";

fn may_register(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match state.config().registration {
        Registration::Open => Ok(()),
        Registration::Closed => Err(ApiError::Forbidden),
        Registration::Secret => {
            let given = headers
                .get(ADMIN_SECRET_HEADER)
                .and_then(|v| v.to_str().ok())
                .ok_or(ApiError::Unauthorized)?;
            let want = secret::token_hash(&state.config().admin_secret.0);
            if secret::constant_time_eq(secret::token_hash(given).as_bytes(), want.as_bytes()) {
                Ok(())
            } else {
                Err(ApiError::Forbidden)
            }
        }
    }
}

/// Registers a portal and its owner.
#[utoipa::path(
    post,
    path = "/apisystem/portal/register",
    operation_id = "portalRegister",
    tag = "Portal",
    request_body = RegisterRequest,
    responses((status = 200, body = RegisterResponse), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Json<RegisterResponse>, ApiError> {
    may_register(&state, &headers)?;
    let alias = validate::alias(req.portal_name.as_deref())?;
    let owner = NewOwner {
        email: validate::email(req.email.as_deref())?,
        password: validate::password(req.password.as_deref())?,
        first_name: validate::person_name(req.first_name.as_deref(), "firstName")?,
        last_name: validate::person_name(req.last_name.as_deref(), "lastName")?,
    };
    let language = req.language.unwrap_or_else(|| "en-US".into());
    if language.len() > 16
        || !language
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ApiError::BadRequest("Incorrect language".into()));
    }
    let time_zone = req.time_zone.unwrap_or_else(|| "UTC".into());
    let (portal, owner) =
        portals::create(state.service(), alias, owner, language, time_zone).await?;
    let domain = if state.config().base_domain.is_empty() {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_string()
    } else {
        format!("{}.{}", portal.alias, state.config().base_domain)
    };
    Ok(Json(RegisterResponse {
        reference: format!("http://{domain}/"),
        tenant: RegisteredTenant {
            tenant_id: portal.id,
            domain,
            owner_id: owner.id,
        },
    }))
}

/// Deletes the caller's portal and all its data. Owner only, with a full-access credential.
#[utoipa::path(
    delete,
    path = "/api/2.0/portal/deleteportalimmediately",
    operation_id = "portalDeleteImmediately",
    tag = "Portal",
    responses((status = 200, description = "The DocSpace envelope without a response", body = Wrapper<Option<bool>>), (status = "default", description = "The DocSpace error envelope", body = ErrorEnvelope))
)]
pub async fn delete_immediately(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Envelope<()>, ApiError> {
    if caller.user.role != Role::Owner {
        return Err(ApiError::Forbidden);
    }
    caller.scope(dsbackup_core::perm::Scope::FULL)?;
    portals::delete(state.service(), &caller.portal).await?;
    Ok(Envelope::empty())
}
