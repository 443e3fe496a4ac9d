//! The storage settings wire types (API.md §4, STORAGES.md §1–2): `StorageDto` with its
//! `AuthKey` properties, as `GET /api/2.0/settings/storage[/backup]` answer, and the
//! `POST /api/2.0/settings/authservice` body that sets a consumer's credentials.

use serde::{Deserialize, Serialize};

/// `AuthKey`: one property of a storage. DocSpace fills only `name`, `value`, `title` and
/// `type` (`"text"`) for storages; the other fields are null and left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthKeyDto {
    pub name: String,
    pub value: String,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `StorageDto`: one DataStore consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StorageDto {
    pub id: String,
    pub title: String,
    pub properties: Vec<AuthKeyDto>,
    pub current: bool,
    pub is_set: bool,
}

/// One `{name, value}` of an authservice request.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthPropDto {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// `AuthServiceRequestsDto`: a consumer's credentials.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthServiceRequest {
    pub name: Option<String>,
    pub props: Option<Vec<AuthPropDto>>,
}
