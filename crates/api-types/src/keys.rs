//! The `/api/2.0/keys` family (API.md §2.2).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::people::EmployeeDto;

/// `CreateApiKeyRequestDto`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateApiKeyRequest {
    pub name: Option<String>,
    pub permissions: Option<Vec<String>>,
    pub expires_in_days: Option<i64>,
}

/// `UpdateApiKeyRequest`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UpdateApiKeyRequest {
    pub name: Option<String>,
    pub permissions: Option<Vec<String>>,
    pub is_active: Option<bool>,
}

/// `ApiKeyResponseDto`. `key` carries the full value only in the create response; elsewhere
/// it is the masked form.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyDto {
    pub id: Uuid,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub key_postfix: String,
    pub permissions: Vec<String>,
    #[serde(
        with = "crate::datetime::wire_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_used: Option<DateTime<Utc>>,
    #[serde(with = "crate::datetime::wire")]
    pub create_on: DateTime<Utc>,
    pub create_by: EmployeeDto,
    #[serde(
        with = "crate::datetime::wire_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<DateTime<Utc>>,
    pub is_active: bool,
}
