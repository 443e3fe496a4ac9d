//! People: members of a portal as DocSpace clients read them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::enums::EmployeeType;

/// `EmployeeDto` (the short form, used in `createBy`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EmployeeDto {
    pub id: Uuid,
    pub display_name: String,
    pub has_avatar: bool,
    pub is_anonim: bool,
}

/// `EmployeeFullDto`: the fields our clients read.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EmployeeFullDto {
    pub id: Uuid,
    pub display_name: String,
    pub first_name: String,
    pub last_name: String,
    pub user_name: String,
    pub email: String,
    /// `EmployeeStatus`: 1 Active.
    pub status: i32,
    pub is_admin: bool,
    pub is_room_admin: bool,
    pub is_owner: bool,
    pub is_visitor: bool,
    pub is_collaborator: bool,
    pub has_avatar: bool,
    pub is_anonim: bool,
}

/// `MemberRequestDto` for `POST /api/2.0/people` and `/people/active`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MemberRequest {
    pub email: Option<String>,
    pub password: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<EmployeeType>,
    pub is_user: Option<bool>,
}

/// The body of `PUT /api/2.0/people/{userid}/password` (upstream's `MemberBaseRequestDto`; the
/// other fields are not read).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PasswordRequest {
    pub password: Option<String>,
}
