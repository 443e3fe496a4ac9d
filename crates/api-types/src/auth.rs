//! `POST /api/2.0/authentication` request and response (API.md §2.1).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `AuthRequestsDto`; only `userName` and `password` are acted on.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthRequest {
    pub user_name: Option<String>,
    pub password: Option<String>,
    #[serde(default)]
    pub session: Option<bool>,
}

/// `AuthenticationTokenDto`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthTokenDto {
    pub token: String,
    #[serde(with = "crate::datetime::wire")]
    pub expires: DateTime<Utc>,
    pub sms: bool,
    pub tfa: bool,
}
