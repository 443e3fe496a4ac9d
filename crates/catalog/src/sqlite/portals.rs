//! SQLite catalog: `PortalStore` (portals, members and sessions).

use async_trait::async_trait;
use chrono::Utc;
use dsbackup_core::catalog::{NewFolder, NewPortal, PortalStore};
use dsbackup_core::{
    CoreError, CoreResult, FolderKind, Portal, PortalId, PortalStatus, Session, User,
};
use rusqlite::params;
use uuid::Uuid;

use super::rows::{self, PORTAL_COLS, USER_COLS, ts};
use super::{SqliteCatalog, insert_folder, insert_user, internal, is_unique_violation};

#[async_trait]
impl PortalStore for SqliteCatalog {
    async fn create_portal(&self, portal: NewPortal, owner: User) -> CoreResult<(Portal, User)> {
        self.with(move |conn| {
            let tx = conn.transaction().map_err(internal)?;
            let now = Utc::now();
            tx.execute(
                "INSERT INTO portals (alias, status, time_zone, language, owner_id, created_on)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    portal.alias,
                    PortalStatus::Active.as_str(),
                    portal.time_zone,
                    portal.language,
                    owner.id.to_string(),
                    ts(now)
                ],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    CoreError::Conflict(format!("Portal {} already exists", portal.alias))
                } else {
                    internal(e)
                }
            })?;
            let id = tx.last_insert_rowid();
            let owner = User {
                portal_id: id,
                ..owner
            };
            insert_user(&tx, &owner)?;
            let root = NewFolder {
                portal_id: id,
                parent_id: None,
                title: "Rooms".into(),
                kind: FolderKind::RoomsRoot,
                created_by: owner.id,
            };
            insert_folder(&tx, &root, now)?;
            tx.commit().map_err(internal)?;
            let p = Portal {
                id,
                alias: portal.alias,
                status: PortalStatus::Active,
                time_zone: portal.time_zone,
                language: portal.language,
                owner_id: Some(owner.id),
                created_on: rows::round(now),
            };
            Ok((p, owner))
        })
        .await
    }

    async fn portal(&self, id: PortalId) -> CoreResult<Option<Portal>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {PORTAL_COLS} FROM portals WHERE id = ?1"),
                [id],
                rows::portal,
            )
        })
        .await
    }

    async fn portal_by_alias(&self, alias: &str) -> CoreResult<Option<Portal>> {
        let alias = alias.to_string();
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {PORTAL_COLS} FROM portals WHERE alias = ?1"),
                [alias],
                rows::portal,
            )
        })
        .await
    }

    async fn portals(&self) -> CoreResult<Vec<Portal>> {
        self.with(|c| {
            rows::all(
                c,
                &format!("SELECT {PORTAL_COLS} FROM portals ORDER BY id"),
                [],
                rows::portal,
            )
        })
        .await
    }

    async fn set_portal_status(&self, id: PortalId, status: PortalStatus) -> CoreResult<()> {
        self.with(move |c| {
            let n = c
                .execute(
                    "UPDATE portals SET status = ?1 WHERE id = ?2",
                    params![status.as_str(), id],
                )
                .map_err(internal)?;
            if n == 0 {
                return Err(CoreError::NotFound(format!("Portal {id} not found")));
            }
            Ok(())
        })
        .await
    }

    async fn delete_portal(&self, id: PortalId) -> CoreResult<bool> {
        self.with(move |c| {
            let n = c
                .execute("DELETE FROM portals WHERE id = ?1", [id])
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    async fn create_user(&self, user: User) -> CoreResult<()> {
        self.with(move |c| insert_user(c, &user)).await
    }

    async fn user_in(&self, portal: PortalId, id: Uuid) -> CoreResult<Option<User>> {
        self.with(move |c| {
            rows::one(
                c,
                &format!("SELECT {USER_COLS} FROM users WHERE id = ?1 AND portal_id = ?2"),
                params![id.to_string(), portal],
                rows::user,
            )
        })
        .await
    }

    async fn user(&self, id: Uuid) -> CoreResult<Option<User>> {
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

    async fn users_by_email(&self, email: &str) -> CoreResult<Vec<User>> {
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

    async fn users(&self, portal: PortalId) -> CoreResult<Vec<User>> {
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

    async fn set_password(
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

    async fn delete_user(&self, id: Uuid) -> CoreResult<bool> {
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

    async fn create_session(&self, s: Session) -> CoreResult<()> {
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

    async fn session(&self, token_hash: &str) -> CoreResult<Option<Session>> {
        let h = token_hash.to_string();
        self.with(move |c| {
            rows::one(
                c,
                "SELECT token_hash, user_id, portal_id, expires_at FROM sessions WHERE token_hash = ?1",
                [h],
                rows::session,
            )
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> CoreResult<bool> {
        let h = token_hash.to_string();
        self.with(move |c| {
            let n = c
                .execute("DELETE FROM sessions WHERE token_hash = ?1", [h])
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }
}
