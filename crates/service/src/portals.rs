//! Creating and removing portals: shared by first start (`bootstrap`) and the register and
//! delete endpoints.

use chrono::Utc;
use dsbackup_core::catalog::NewPortal;
use dsbackup_core::{ApiKey, CoreError, CoreResult, Portal, Role, User, secret};
use uuid::Uuid;

use crate::Service;

/// The owner of a portal about to be created.
#[derive(Debug)]
pub struct NewOwner {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
}

/// Creates a portal with its owner and its documents area.
///
/// Fails with `Conflict` when the alias is taken, or in standalone mode when a portal exists.
pub async fn create(
    state: &Service,
    alias: String,
    owner: NewOwner,
    language: String,
    time_zone: String,
) -> CoreResult<(Portal, User)> {
    if state.config().mode == dsbackup_core::Mode::Standalone
        && !state.catalog().portals().await?.is_empty()
    {
        return Err(CoreError::Conflict(
            "This standalone instance already has its portal".into(),
        ));
    }
    let password = owner.password;
    let password_hash = tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .map_err(|e| CoreError::Internal(format!("hashing task: {e}")))??;
    let user = User {
        id: Uuid::new_v4(),
        portal_id: 0,
        email: owner.email,
        first_name: owner.first_name,
        last_name: owner.last_name,
        role: Role::Owner,
        password_hash,
        created_on: Utc::now(),
    };
    let (portal, user) = state
        .catalog()
        .create_portal(
            NewPortal {
                alias,
                time_zone,
                language,
            },
            user,
        )
        .await?;
    let root = state.catalog().rooms_root(portal.id).await?;
    let dir = state.folder_dir(portal.id, root.id);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| CoreError::Internal(format!("creating {}: {e}", dir.display())))?;
    tracing::info!(portal = portal.id, alias = %portal.alias, "portal created");
    Ok((portal, user))
}

/// Gives `user` a full-access API key with the given value (or a new one); returns the value.
pub async fn issue_key(
    state: &Service,
    user: &User,
    name: &str,
    value: Option<String>,
) -> CoreResult<String> {
    let value = value.unwrap_or_else(secret::new_api_key);
    let key = ApiKey {
        id: Uuid::new_v4(),
        portal_id: user.portal_id,
        user_id: user.id,
        name: name.into(),
        key_hash: secret::token_hash(&value),
        key_postfix: value[value.len().saturating_sub(4)..].to_string(),
        permissions: vec!["*".into()],
        created_on: Utc::now(),
        expires_at: None,
        last_used: None,
        is_active: true,
    };
    state.catalog().create_api_key(key).await?;
    Ok(value)
}

/// Removes a portal's schedule and catalog rows, then its data directory.
pub async fn delete(state: &Service, portal: &Portal) -> CoreResult<()> {
    state.catalog().delete_schedule(portal.id).await?;
    state.catalog().delete_portal(portal.id).await?;
    let dir = state.portal_dir(portal.id);
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "portal data left behind"),
    }
    tracing::info!(portal = portal.id, alias = %portal.alias, "portal deleted");
    Ok(())
}
