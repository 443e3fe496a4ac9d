//! SQLite catalog: `ConsumerStore` (a portal's consumer settings, one row per consumer with
//! its properties as a JSON object) and `rewrite_secrets`, which rewrites every stored storage
//! parameter — consumer properties, backup records' and schedules' — in one transaction.

use async_trait::async_trait;
use dsbackup_core::catalog::{ConsumerProps, ConsumerStore, ParamRewrite};
use dsbackup_core::{CoreError, CoreResult, PortalId};
use rusqlite::{Transaction, params};

use super::rows;
use super::{SqliteCatalog, internal};
use crate::rewrite;

fn to_json(props: &ConsumerProps) -> CoreResult<String> {
    serde_json::to_string(props).map_err(|e| CoreError::Internal(e.to_string()))
}

fn from_json(text: &str) -> CoreResult<ConsumerProps> {
    serde_json::from_str(text)
        .map_err(|e| CoreError::Internal(format!("damaged storage parameters in the catalog: {e}")))
}

#[async_trait]
impl ConsumerStore for SqliteCatalog {
    async fn set_consumer(
        &self,
        portal: PortalId,
        name: &str,
        props: ConsumerProps,
    ) -> CoreResult<()> {
        let name = name.to_string();
        self.with(move |c| {
            let exists: Option<i64> =
                rows::one(c, "SELECT id FROM portals WHERE id = ?1", [portal], |r| {
                    r.get(0)
                })?;
            if exists.is_none() {
                return Err(CoreError::NotFound(format!("Portal {portal} not found")));
            }
            c.execute(
                "INSERT INTO consumer_settings (portal_id, name, props) VALUES (?1, ?2, ?3)
                 ON CONFLICT(portal_id, name) DO UPDATE SET props = ?3",
                params![portal, name, to_json(&props)?],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn consumer(&self, portal: PortalId, name: &str) -> CoreResult<Option<ConsumerProps>> {
        let name = name.to_string();
        self.with(move |c| {
            let text: Option<String> = rows::one(
                c,
                "SELECT props FROM consumer_settings WHERE portal_id = ?1 AND name = ?2",
                params![portal, name],
                |r| r.get(0),
            )?;
            text.as_deref().map(from_json).transpose()
        })
        .await
    }

    async fn consumers(&self, portal: PortalId) -> CoreResult<Vec<(String, ConsumerProps)>> {
        self.with(move |c| {
            let stored: Vec<(String, String)> = rows::all(
                c,
                "SELECT name, props FROM consumer_settings WHERE portal_id = ?1 ORDER BY name",
                [portal],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            stored
                .into_iter()
                .map(|(name, text)| Ok((name, from_json(&text)?)))
                .collect()
        })
        .await
    }

    async fn delete_consumer(&self, portal: PortalId, name: &str) -> CoreResult<bool> {
        let name = name.to_string();
        self.with(move |c| {
            let n = c
                .execute(
                    "DELETE FROM consumer_settings WHERE portal_id = ?1 AND name = ?2",
                    params![portal, name],
                )
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }

    async fn rewrite_secrets(&self, f: ParamRewrite) -> CoreResult<u64> {
        self.with(move |c| {
            let tx = c.transaction().map_err(internal)?;
            let mut changed = 0;
            changed += rewrite_column(&tx, &f, "consumer_settings", "rowid", "props")?;
            changed += rewrite_column(&tx, &f, "backups", "id", "storage_params")?;
            changed += rewrite_schedules(&tx, &f)?;
            tx.commit().map_err(internal)?;
            Ok(changed)
        })
        .await
    }
}

/// Rewrites the JSON-object column `col` of every row of `table` (keyed by `key`).
fn rewrite_column(
    tx: &Transaction,
    f: &ParamRewrite,
    table: &str,
    key: &str,
    col: &str,
) -> CoreResult<u64> {
    let stored: Vec<(rusqlite::types::Value, String)> =
        rows::all(tx, &format!("SELECT {key}, {col} FROM {table}"), [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let mut changed = 0;
    for (id, text) in stored {
        let mut props = from_json(&text)?;
        let n = rewrite::props(f, &mut props)?;
        if n > 0 {
            tx.execute(
                &format!("UPDATE {table} SET {col} = ?1 WHERE {key} = ?2"),
                params![to_json(&props)?, id],
            )
            .map_err(internal)?;
            changed += n;
        }
    }
    Ok(changed)
}

/// Rewrites the `storage_params` object inside every schedule's JSON body.
fn rewrite_schedules(tx: &Transaction, f: &ParamRewrite) -> CoreResult<u64> {
    let stored: Vec<(PortalId, String)> =
        rows::all(tx, "SELECT tenant_id, body FROM schedules", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let mut changed = 0;
    for (tenant, text) in stored {
        let mut body: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| CoreError::Internal(format!("damaged schedule {tenant}: {e}")))?;
        let n = rewrite::schedule_body(f, tenant, &mut body)?;
        if n > 0 {
            let body =
                serde_json::to_string(&body).map_err(|e| CoreError::Internal(e.to_string()))?;
            tx.execute(
                "UPDATE schedules SET body = ?1 WHERE tenant_id = ?2",
                params![body, tenant],
            )
            .map_err(internal)?;
            changed += n;
        }
    }
    Ok(changed)
}
