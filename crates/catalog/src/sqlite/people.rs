//! SQLite catalog: members, sessions and API keys.

use chrono::{DateTime, Utc};
use dsbackup_core::{ApiKey, CoreError, CoreResult, PortalId, Session, User};
use rusqlite::params;
use uuid::Uuid;

use super::rows::{self, KEY_COLS, USER_COLS, ts};
use super::{SqliteCatalog, insert_user, internal};

impl SqliteCatalog {
    pub(super) async fn db_create_user(&self, user: User) -> CoreResult<()> {
        self.with(move |c| insert_user(c, &user)).await
    }

    pub(super) async fn db_user(&self, id: Uuid) -> CoreResult<Option<User>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
                [id.to_string()],
                rows::user,
            )
        })
        .await
    }

    pub(super) async fn db_users_by_email(&self, email: &str) -> CoreResult<Vec<User>> {
        let email = email.to_string();
        self.with(move |c| {
            rows::all(
                c,
                &format!("SELECT {USER_COLS} FROM users WHERE email = ?1 ORDER BY portal_id"),
                [email],
                rows::user,
            )
        })
        .await
    }

    pub(super) async fn db_users(&self, portal: PortalId) -> CoreResult<Vec<User>> {
        self.with(move |c| {
            rows::all(
                c,
                &format!(
                    "SELECT {USER_COLS} FROM users WHERE portal_id = ?1 ORDER BY created_on, id"
                ),
                [portal],
                rows::user,
            )
        })
        .await
    }

    pub(super) async fn db_create_session(&self, s: Session) -> CoreResult<()> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, user_id, portal_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![s.token_hash, s.user_id.to_string(), s.portal_id, ts(s.expires_at)],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn db_session(&self, token_hash: &str) -> CoreResult<Option<Session>> {
        let h = token_hash.to_string();
        self.with(move |c| {
            rows::one(c, "SELECT token_hash, user_id, portal_id, expires_at FROM sessions WHERE token_hash = ?1",
                [h],
                rows::session)
        })
        .await
    }

    pub(super) async fn db_delete_session(&self, token_hash: &str) -> CoreResult<bool> {
        let h = token_hash.to_string();
        self.with(move |c| {
            let n = c
                .execute("DELETE FROM sessions WHERE token_hash = ?1", [h])
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    pub(super) async fn db_set_password(
        &self,
        user: Uuid,
        password_hash: &str,
        keep: Option<&str>,
    ) -> CoreResult<bool> {
        let hash = password_hash.to_string();
        let keep = keep.map(str::to_string);
        self.with(move |c| {
            let tx = c.transaction().map_err(internal)?;
            let n = tx
                .execute(
                    "UPDATE users SET password_hash = ?1 WHERE id = ?2",
                    params![hash, user.to_string()],
                )
                .map_err(internal)?;
            tx.execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND token_hash IS NOT ?2",
                params![user.to_string(), keep],
            )
            .map_err(internal)?;
            tx.commit().map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    pub(super) async fn db_delete_user(&self, id: Uuid) -> CoreResult<bool> {
        self.with(move |c| {
            let tx = c.transaction().map_err(internal)?;
            let id = id.to_string();
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [&id])
                .map_err(internal)?;
            tx.execute("DELETE FROM api_keys WHERE user_id = ?1", [&id])
                .map_err(internal)?;
            let n = tx
                .execute("DELETE FROM users WHERE id = ?1", [&id])
                .map_err(internal)?;
            tx.commit().map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    pub(super) async fn db_create_api_key(&self, k: ApiKey) -> CoreResult<()> {
        self.with(move |c| {
            c.execute(
                &format!("INSERT INTO api_keys ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
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
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    pub(super) async fn db_api_key(&self, id: Uuid) -> CoreResult<Option<ApiKey>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {KEY_COLS} FROM api_keys WHERE id = ?1"),
                [id.to_string()],
                rows::api_key,
            )
        })
        .await
    }

    pub(super) async fn db_api_key_by_hash(&self, hash: &str) -> CoreResult<Option<ApiKey>> {
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

    pub(super) async fn db_api_keys_of(&self, user: Uuid) -> CoreResult<Vec<ApiKey>> {
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

    pub(super) async fn db_update_api_key(&self, k: &ApiKey) -> CoreResult<()> {
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

    pub(super) async fn db_delete_api_key(&self, id: Uuid) -> CoreResult<bool> {
        self.with(move |c| {
            let n = c
                .execute("DELETE FROM api_keys WHERE id = ?1", [id.to_string()])
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    pub(super) async fn db_touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> CoreResult<()> {
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

    pub(super) async fn db_api_keys_of_portal(&self, portal: PortalId) -> CoreResult<Vec<ApiKey>> {
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
}
