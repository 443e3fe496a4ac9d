//! `KeyStore`: members' API keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::CoreResult;
use crate::model::{ApiKey, PortalId};

/// API keys. A key belongs to one member; lookups for a caller are scoped to that member.
#[async_trait]
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// Stores a key.
    async fn create_api_key(&self, key: ApiKey) -> CoreResult<()>;
    /// A key of `owner` by id; `None` for anyone else's key.
    async fn api_key_of(&self, owner: Uuid, id: Uuid) -> CoreResult<Option<ApiKey>>;
    /// A key by the hash of its secret. Unscoped: the secret is the credential, and the key
    /// names its portal and member.
    async fn api_key_by_hash(&self, hash: &str) -> CoreResult<Option<ApiKey>>;
    /// The keys a member owns, oldest first.
    async fn api_keys_of(&self, user: Uuid) -> CoreResult<Vec<ApiKey>>;
    /// Every API key of a portal, oldest first.
    async fn api_keys_of_portal(&self, portal: PortalId) -> CoreResult<Vec<ApiKey>>;
    /// Saves name, permissions and activity of a key. `NotFound` when it is gone.
    async fn update_api_key(&self, key: &ApiKey) -> CoreResult<()>;
    /// Deletes a key. Returns whether it existed.
    async fn delete_api_key(&self, id: Uuid) -> CoreResult<bool>;
    /// Records a use of a key.
    async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> CoreResult<()>;
}
