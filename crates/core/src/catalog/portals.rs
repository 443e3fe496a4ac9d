//! `PortalStore`: portals (tenants), their members and their sign-in sessions.

use async_trait::async_trait;
use uuid::Uuid;

use super::NewPortal;
use crate::error::CoreResult;
use crate::model::{Portal, PortalId, PortalStatus, Session, User};

/// Portals, members and sessions.
#[async_trait]
pub trait PortalStore: Send + Sync + std::fmt::Debug {
    /// Creates a portal, its owner and its rooms root in one transaction.
    /// `Conflict` when the alias is taken.
    async fn create_portal(&self, portal: NewPortal, owner: User) -> CoreResult<(Portal, User)>;
    /// A portal by id.
    async fn portal(&self, id: PortalId) -> CoreResult<Option<Portal>>;
    /// A portal by alias.
    async fn portal_by_alias(&self, alias: &str) -> CoreResult<Option<Portal>>;
    /// Every portal, by id.
    async fn portals(&self) -> CoreResult<Vec<Portal>>;
    /// Sets a portal's status. `NotFound` when there is no such portal.
    async fn set_portal_status(&self, id: PortalId, status: PortalStatus) -> CoreResult<()>;
    /// Removes a portal and everything that belongs to it. Returns whether it existed.
    async fn delete_portal(&self, id: PortalId) -> CoreResult<bool>;

    /// Adds a member. `Conflict` when the e-mail is taken in that portal.
    async fn create_user(&self, user: User) -> CoreResult<()>;
    /// A member of `portal` by id; `None` for another portal's member.
    async fn user_in(&self, portal: PortalId, id: Uuid) -> CoreResult<Option<User>>;
    /// A member by id, in any portal. Unscoped on purpose: a credential (session or API key)
    /// names its member before anything names the portal, and a portal's owner is looked up
    /// from the portal row itself. Code acting for a caller uses [`user_in`](Self::user_in).
    async fn user(&self, id: Uuid) -> CoreResult<Option<User>>;
    /// Members with this (normalised) e-mail, in any portal (sign-in finds the account first,
    /// then its portal).
    async fn users_by_email(&self, email: &str) -> CoreResult<Vec<User>>;
    /// Members of a portal.
    async fn users(&self, portal: PortalId) -> CoreResult<Vec<User>>;
    /// Sets a member's password hash and, in the same transaction, ends the member's sessions
    /// except `keep` (the session the change came through). Returns whether the member exists.
    async fn set_password(
        &self,
        user: Uuid,
        password_hash: &str,
        keep: Option<&str>,
    ) -> CoreResult<bool>;
    /// Removes a member with their sessions and API keys, in one transaction. Returns whether
    /// the member existed.
    async fn delete_user(&self, id: Uuid) -> CoreResult<bool>;

    /// Stores a session.
    async fn create_session(&self, session: Session) -> CoreResult<()>;
    /// A session by token hash (expired ones included; the caller checks). Unscoped: the
    /// token is the credential, and the session names its portal.
    async fn session(&self, token_hash: &str) -> CoreResult<Option<Session>>;
    /// Ends a session (logout). Returns whether it existed.
    async fn delete_session(&self, token_hash: &str) -> CoreResult<bool>;
}
