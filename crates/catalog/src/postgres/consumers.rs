//! PostgreSQL catalog: `ConsumerStore` (a portal's consumer settings, one row per consumer
//! with its properties as a `jsonb` object) and `rewrite_secrets`, which rewrites every stored
//! storage parameter — consumer properties, backup records' and schedules' — in one
//! transaction, with the rows it reads locked until it commits.

use async_trait::async_trait;
use dsbackup_core::catalog::{ConsumerProps, ConsumerStore, ParamRewrite};
use dsbackup_core::{CoreError, CoreResult, PortalId};
use tokio_postgres::Transaction;
use tokio_postgres::types::Json;

use super::{PgResult, PostgresCatalog};
use crate::rewrite;

#[async_trait]
impl ConsumerStore for PostgresCatalog {
    async fn set_consumer(
        &self,
        portal: PortalId,
        name: &str,
        props: ConsumerProps,
    ) -> CoreResult<()> {
        let n = self
            .exec(
                "INSERT INTO consumer_settings (portal_id, name, props)
                 SELECT $1::bigint, $2::text, $3::jsonb
                 WHERE EXISTS (SELECT 1 FROM portals WHERE id = $1)
                 ON CONFLICT (portal_id, name) DO UPDATE SET props = EXCLUDED.props",
                &[&portal, &name, &Json(&props)],
            )
            .await?;
        if n == 0 {
            return Err(CoreError::NotFound(format!("Portal {portal} not found")));
        }
        Ok(())
    }

    async fn consumer(&self, portal: PortalId, name: &str) -> CoreResult<Option<ConsumerProps>> {
        self.opt(
            "SELECT props FROM consumer_settings WHERE portal_id = $1 AND name = $2",
            &[&portal, &name],
            |r| Ok(r.try_get::<_, Json<ConsumerProps>>(0)?.0),
        )
        .await
    }

    async fn consumers(&self, portal: PortalId) -> CoreResult<Vec<(String, ConsumerProps)>> {
        // Byte order of names, as SQLite's BINARY collation, whatever the database's locale.
        self.list(
            "SELECT name, props FROM consumer_settings WHERE portal_id = $1
             ORDER BY name COLLATE \"C\"",
            &[&portal],
            |r| Ok((r.try_get(0)?, r.try_get::<_, Json<ConsumerProps>>(1)?.0)),
        )
        .await
    }

    async fn delete_consumer(&self, portal: PortalId, name: &str) -> CoreResult<bool> {
        let n = self
            .exec(
                "DELETE FROM consumer_settings WHERE portal_id = $1 AND name = $2",
                &[&portal, &name],
            )
            .await?;
        Ok(n > 0)
    }

    async fn rewrite_secrets(&self, f: ParamRewrite) -> CoreResult<u64> {
        self.in_tx(move |tx| {
            Box::pin(async move {
                let mut changed = 0;
                changed += rewrite_column(tx, &f, "consumer_settings", "props").await?;
                changed += rewrite_column(tx, &f, "backups", "storage_params").await?;
                changed += rewrite_schedules(tx, &f).await?;
                Ok(changed)
            })
        })
        .await
    }
}

/// Rewrites the object column `col` of every row of `table` (rows named by `ctid` within
/// this transaction, locked by `FOR UPDATE`).
async fn rewrite_column(
    tx: &Transaction<'_>,
    f: &ParamRewrite,
    table: &str,
    col: &str,
) -> PgResult<u64> {
    let stored = tx
        .query(
            &format!("SELECT ctid::text, {col} FROM {table} FOR UPDATE"),
            &[],
        )
        .await?;
    let mut changed = 0;
    for row in stored {
        let id: String = row.try_get(0)?;
        let Json(mut props): Json<ConsumerProps> = row.try_get(1)?;
        let n = rewrite::props(f, &mut props)?;
        if n > 0 {
            tx.execute(
                &format!("UPDATE {table} SET {col} = $1 WHERE ctid = $2::text::tid"),
                &[&Json(&props), &id],
            )
            .await?;
            changed += n;
        }
    }
    Ok(changed)
}

/// Rewrites the `storage_params` object inside every schedule's body.
async fn rewrite_schedules(tx: &Transaction<'_>, f: &ParamRewrite) -> PgResult<u64> {
    let stored = tx
        .query("SELECT tenant_id, body FROM schedules FOR UPDATE", &[])
        .await?;
    let mut changed = 0;
    for row in stored {
        let tenant: PortalId = row.try_get(0)?;
        let Json(mut body): Json<serde_json::Value> = row.try_get(1)?;
        let n = rewrite::schedule_body(f, tenant, &mut body)?;
        if n > 0 {
            tx.execute(
                "UPDATE schedules SET body = $1 WHERE tenant_id = $2",
                &[&Json(&body), &tenant],
            )
            .await?;
            changed += n;
        }
    }
    Ok(changed)
}
