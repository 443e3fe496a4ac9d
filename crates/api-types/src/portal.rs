//! `POST /apisystem/portal/register`: a portal and its owner in one call. The answer is plain
//! JSON, not enveloped, as the upstream apisystem answers.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The registration form.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    pub portal_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub language: Option<String>,
    pub time_zone: Option<String>,
}

/// `{reference, tenant: {tenantId, domain, ownerId}}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterResponse {
    pub reference: String,
    pub tenant: RegisteredTenant,
}

/// The `tenant` of [`RegisterResponse`].
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RegisteredTenant {
    pub tenant_id: i64,
    pub domain: String,
    pub owner_id: Uuid,
}
