//! PostgreSQL catalog: `PortalStore` (portals, members and sessions).

use async_trait::async_trait;
use chrono::Utc;
use dsbackup_core::catalog::{NewFolder, NewPortal, PortalStore};
use dsbackup_core::{
    CoreError, CoreResult, FolderKind, Portal, PortalId, PortalStatus, Session, User,
};
use uuid::Uuid;

use super::connect::conflict;
use super::rows::{self, PORTAL_COLS, USER_COLS, ts};
use super::{PostgresCatalog, insert_folder, insert_user};

#[async_trait]
impl PortalStore for PostgresCatalog {
    async fn create_portal(&self, portal: NewPortal, owner: User) -> CoreResult<(Portal, User)> {
        self.in_tx(move |tx| {
            Box::pin(async move {
                let now = Utc::now();
                let row = tx
                    .query_one(
                        "INSERT INTO portals (alias, status, time_zone, language, owner_id, created_on)
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                        &[
                            &portal.alias,
                            &PortalStatus::Active.as_str(),
                            &portal.time_zone,
                            &portal.language,
                            &owner.id,
                            &ts(now),
                        ],
                    )
                    .await
                    .map_err(conflict(|| format!("Portal {} already exists", portal.alias)))?;
                let id: PortalId = row.try_get(0)?;
                let owner = User {
                    portal_id: id,
                    ..owner
                };
                insert_user(tx, &owner).await?;
                let root = NewFolder {
                    portal_id: id,
                    parent_id: None,
                    title: "Rooms".into(),
                    kind: FolderKind::RoomsRoot,
                    created_by: owner.id,
                };
                insert_folder(tx, &root, now).await?;
                let p = Portal {
                    id,
                    alias: portal.alias,
                    status: PortalStatus::Active,
                    time_zone: portal.time_zone,
                    language: portal.language,
                    owner_id: Some(owner.id),
                    created_on: ts(now),
                };
                Ok((p, owner))
            })
        })
        .await
    }

    async fn portal(&self, id: PortalId) -> CoreResult<Option<Portal>> {
        let sql = format!("SELECT {PORTAL_COLS} FROM portals WHERE id = $1");
        self.opt(&sql, &[&id], rows::portal).await
    }

    async fn portal_by_alias(&self, alias: &str) -> CoreResult<Option<Portal>> {
        let sql = format!("SELECT {PORTAL_COLS} FROM portals WHERE alias = $1");
        self.opt(&sql, &[&alias], rows::portal).await
    }

    async fn portals(&self) -> CoreResult<Vec<Portal>> {
        let sql = format!("SELECT {PORTAL_COLS} FROM portals ORDER BY id");
        self.list(&sql, &[], rows::portal).await
    }

    async fn set_portal_status(&self, id: PortalId, status: PortalStatus) -> CoreResult<()> {
        let n = self
            .exec(
                "UPDATE portals SET status = $1 WHERE id = $2",
                &[&status.as_str(), &id],
            )
            .await?;
        if n == 0 {
            return Err(CoreError::NotFound(format!("Portal {id} not found")));
        }
        Ok(())
    }

    async fn delete_portal(&self, id: PortalId) -> CoreResult<bool> {
        // Members, sessions, keys, folders, files and consumer settings go by cascade.
        let n = self
            .exec("DELETE FROM portals WHERE id = $1", &[&id])
            .await?;
        Ok(n > 0)
    }

    async fn create_user(&self, user: User) -> CoreResult<()> {
        self.in_tx(move |tx| Box::pin(async move { insert_user(tx, &user).await }))
            .await
    }

    async fn user_in(&self, portal: PortalId, id: Uuid) -> CoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1 AND portal_id = $2");
        self.opt(&sql, &[&id, &portal], rows::user).await
    }

    async fn user(&self, id: Uuid) -> CoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        self.opt(&sql, &[&id], rows::user).await
    }

    async fn users_by_email(&self, email: &str) -> CoreResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE email = $1 ORDER BY portal_id");
        self.list(&sql, &[&email], rows::user).await
    }

    async fn users(&self, portal: PortalId) -> CoreResult<Vec<User>> {
        let sql =
            format!("SELECT {USER_COLS} FROM users WHERE portal_id = $1 ORDER BY created_on, id");
        self.list(&sql, &[&portal], rows::user).await
    }

    async fn set_password(
        &self,
        user: Uuid,
        password_hash: &str,
        keep: Option<&str>,
    ) -> CoreResult<bool> {
        let hash = password_hash.to_string();
        let keep = keep.map(str::to_string);
        self.in_tx(move |tx| {
            Box::pin(async move {
                let n = tx
                    .execute(
                        "UPDATE users SET password_hash = $1 WHERE id = $2",
                        &[&hash, &user],
                    )
                    .await?;
                tx.execute(
                    "DELETE FROM sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2",
                    &[&user, &keep],
                )
                .await?;
                Ok(n > 0)
            })
        })
        .await
    }

    async fn delete_user(&self, id: Uuid) -> CoreResult<bool> {
        // Sessions and API keys go by cascade, in the same statement.
        let n = self.exec("DELETE FROM users WHERE id = $1", &[&id]).await?;
        Ok(n > 0)
    }

    async fn create_session(&self, s: Session) -> CoreResult<()> {
        self.exec(
            "INSERT INTO sessions (token_hash, user_id, portal_id, expires_at) VALUES ($1, $2, $3, $4)",
            &[&s.token_hash, &s.user_id, &s.portal_id, &ts(s.expires_at)],
        )
        .await
        .map(drop)
    }

    async fn session(&self, token_hash: &str) -> CoreResult<Option<Session>> {
        self.opt(
            "SELECT token_hash, user_id, portal_id, expires_at FROM sessions WHERE token_hash = $1",
            &[&token_hash],
            rows::session,
        )
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> CoreResult<bool> {
        let n = self
            .exec("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await?;
        Ok(n > 0)
    }
}
