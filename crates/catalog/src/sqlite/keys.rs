//! SQLite catalog: `KeyStore` (members' API keys).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::KeyStore;
use dsbackup_core::{ApiKey, CoreError, CoreResult, PortalId};
use rusqlite::{Connection, params};
use uuid::Uuid;

use super::rows::{self, KEY_COLS, ts};
use super::{SqliteCatalog, internal};

/// Inserts one key row as it is (a restore passes keys re-pointed at their portal).
pub(super) fn insert_api_key(conn: &Connection, k: &ApiKey) -> rusqlite::Result<usize> {
    conn.execute(
        &format!(
            "INSERT INTO api_keys ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            k.id.to_string(),
            k.portal_id,
            k.user_id.to_string(),
            k.name,
            k.key_hash,
            k.key_postfix,
            rows::perms_to_row(&k.permissions),
            ts(k.created_on),
            k.expires_at.map(ts),
            k.last_used.map(ts),
            k.is_active
        ],
    )
}

#[async_trait]
impl KeyStore for SqliteCatalog {
    async fn create_api_key(&self, k: ApiKey) -> CoreResult<()> {
        self.with(move |c| insert_api_key(c, &k).map(drop).map_err(internal))
            .await
    }

    async fn api_key_of(&self, owner: Uuid, id: Uuid) -> CoreResult<Option<ApiKey>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {KEY_COLS} FROM api_keys WHERE id = ?1 AND user_id = ?2"),
                [id.to_string(), owner.to_string()],
                rows::api_key,
            )
        })
        .await
    }

    async fn api_key_by_hash(&self, hash: &str) -> CoreResult<Option<ApiKey>> {
        let h = hash.to_string();
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {KEY_COLS} FROM api_keys WHERE key_hash = ?1"),
                [h],
                rows::api_key,
            )
        })
        .await
    }

    async fn api_keys_of(&self, user: Uuid) -> CoreResult<Vec<ApiKey>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE user_id = ?1 ORDER BY created_on, id"
                ),
                [user.to_string()],
                rows::api_key,
            )
        })
        .await
    }

    async fn api_keys_of_portal(&self, portal: PortalId) -> CoreResult<Vec<ApiKey>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE portal_id = ?1 ORDER BY created_on, id"
                ),
                [portal],
                rows::api_key,
            )
        })
        .await
    }

    async fn update_api_key(&self, k: &ApiKey) -> CoreResult<()> {
        let k = k.clone();
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE api_keys SET name = ?1, permissions = ?2, is_active = ?3 WHERE id = ?4",
                    params![
                        k.name,
                        rows::perms_to_row(&k.permissions),
                        k.is_active,
                        k.id.to_string()
                    ],
                )
                .map_err(internal)?;
            if n == 0 {
                return Err(CoreError::NotFound("The API key was not found".into()));
            }
            Ok(())
        })
        .await
    }

    async fn delete_api_key(&self, id: Uuid) -> CoreResult<bool> {
        self.with(move |c| {
            let n = c
                .execute("DELETE FROM api_keys WHERE id = ?1", [id.to_string()])
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> CoreResult<()> {
        self.with(move |c| {
            c.execute(
                "UPDATE api_keys SET last_used = ?1 WHERE id = ?2",
                params![ts(at), id.to_string()],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }
}
