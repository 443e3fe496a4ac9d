//! Who asks: an authenticated member of a portal, and the API key they used, if any. Every
//! front end (the HTTP server, the scheduler, the command line) hands the service an
//! [`Actor`]; the rights it has come from its role and the key's scopes.

use crate::error::{CoreError, CoreResult};
use crate::model::{ApiKey, Portal, User};
use crate::perm::{self, Scope};

/// An authenticated member acting on their portal.
#[derive(Debug, Clone)]
pub struct Actor {
    pub portal: Portal,
    pub user: User,
    /// The API key used, when the request carried one.
    pub key: Option<ApiKey>,
}

impl Actor {
    /// Passes when the actor's key (if any) carries `scope`.
    ///
    /// Fails with `Forbidden` otherwise.
    pub fn scope(&self, scope: Scope) -> CoreResult<()> {
        match &self.key {
            Some(k) if !perm::key_allows(&k.permissions, scope) => Err(CoreError::Forbidden),
            _ => Ok(()),
        }
    }

    /// Passes for the Owner and DocSpace admins whose key (if any) carries `scope`.
    ///
    /// Fails with `Forbidden` otherwise.
    pub fn admin(&self, scope: Scope) -> CoreResult<()> {
        if !perm::is_portal_admin(self.user.role) {
            return Err(CoreError::Forbidden);
        }
        self.scope(scope)
    }
}
