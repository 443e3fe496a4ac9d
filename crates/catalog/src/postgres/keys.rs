//! PostgreSQL catalog: `KeyStore` (members' API keys).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::KeyStore;
use dsbackup_core::{ApiKey, CoreError, CoreResult, PortalId};
use tokio_postgres::Transaction;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::rows::{self, KEY_COLS, ts};
use super::{PgResult, PostgresCatalog};

/// Inserts one key row as it is (a restore passes keys re-pointed at their portal).
pub(super) async fn insert_api_key(
    tx: &Transaction<'_>,
    k: &ApiKey,
) -> Result<u64, tokio_postgres::Error> {
    tx.execute(
        &format!(
            "INSERT INTO api_keys ({KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ),
        &[
            &k.id,
            &k.portal_id,
            &k.user_id,
            &k.name,
            &k.key_hash,
            &k.key_postfix,
            &Json(&k.permissions),
            &ts(k.created_on),
            &k.expires_at.map(ts),
            &k.last_used.map(ts),
            &k.is_active,
        ],
    )
    .await
}

#[async_trait]
impl KeyStore for PostgresCatalog {
    async fn create_api_key(&self, k: ApiKey) -> CoreResult<()> {
        self.in_tx(move |tx| {
            Box::pin(async move { PgResult::Ok(insert_api_key(tx, &k).await.map(drop)?) })
        })
        .await
    }

    async fn api_key_of(&self, owner: Uuid, id: Uuid) -> CoreResult<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE id = $1 AND user_id = $2");
        self.opt(&sql, &[&id, &owner], rows::api_key).await
    }

    async fn api_key_by_hash(&self, hash: &str) -> CoreResult<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLS} FROM api_keys WHERE key_hash = $1");
        self.opt(&sql, &[&hash], rows::api_key).await
    }

    async fn api_keys_of(&self, user: Uuid) -> CoreResult<Vec<ApiKey>> {
        let sql =
            format!("SELECT {KEY_COLS} FROM api_keys WHERE user_id = $1 ORDER BY created_on, id");
        self.list(&sql, &[&user], rows::api_key).await
    }

    async fn api_keys_of_portal(&self, portal: PortalId) -> CoreResult<Vec<ApiKey>> {
        let sql =
            format!("SELECT {KEY_COLS} FROM api_keys WHERE portal_id = $1 ORDER BY created_on, id");
        self.list(&sql, &[&portal], rows::api_key).await
    }

    async fn update_api_key(&self, k: &ApiKey) -> CoreResult<()> {
        let n = self
            .exec(
                "UPDATE api_keys SET name = $1, permissions = $2, is_active = $3 WHERE id = $4",
                &[&k.name, &Json(&k.permissions), &k.is_active, &k.id],
            )
            .await?;
        if n == 0 {
            return Err(CoreError::NotFound("The API key was not found".into()));
        }
        Ok(())
    }

    async fn delete_api_key(&self, id: Uuid) -> CoreResult<bool> {
        let n = self
            .exec("DELETE FROM api_keys WHERE id = $1", &[&id])
            .await?;
        Ok(n > 0)
    }

    async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> CoreResult<()> {
        self.exec(
            "UPDATE api_keys SET last_used = $1 WHERE id = $2",
            &[&ts(at), &id],
        )
        .await
        .map(drop)
    }
}
