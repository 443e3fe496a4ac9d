//! SQLite catalog: `ScheduleStore` (one schedule per tenant, stored as its JSON body with the
//! run bookkeeping in columns), and taking a due scheduled run exactly once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::ScheduleStore;
use dsbackup_core::{CoreError, CoreResult, PortalId, Schedule};
use rusqlite::params;

use super::rows::{self, ts};
use super::{SqliteCatalog, internal};

#[async_trait]
impl ScheduleStore for SqliteCatalog {
    async fn upsert_schedule(&self, s: Schedule) -> CoreResult<()> {
        self.with(move |c| {
            let body = serde_json::to_string(&s).map_err(|e| CoreError::Internal(e.to_string()))?;
            c.execute(
                "INSERT INTO schedules (tenant_id, body, last_backup_time, last_error, last_error_time)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(tenant_id) DO UPDATE SET body = ?2, last_backup_time = ?3, last_error = ?4, last_error_time = ?5",
                params![s.tenant_id, body, s.last_backup_time.map(ts), s.last_error, s.last_error_time.map(ts)],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn schedule(&self, tenant: PortalId) -> CoreResult<Option<Schedule>> {
        self.with(move |c| {
            rows::one(c, "SELECT body, last_backup_time, last_error, last_error_time FROM schedules WHERE tenant_id = ?1",
                [tenant],
                rows::schedule)
        })
        .await
    }

    async fn schedules(&self) -> CoreResult<Vec<Schedule>> {
        self.with(|c| {
            rows::all(
                c,
                "SELECT body, last_backup_time, last_error, last_error_time FROM schedules ORDER BY tenant_id",
                [],
                rows::schedule,
            )
        })
        .await
    }

    async fn delete_schedule(&self, tenant: PortalId) -> CoreResult<bool> {
        self.with(move |c| {
            Ok(
                c.execute("DELETE FROM schedules WHERE tenant_id = ?1", [tenant])
                    .map_err(internal)?
                    > 0,
            )
        })
        .await
    }

    async fn schedule_outcome(
        &self,
        tenant: PortalId,
        error: Option<(String, DateTime<Utc>)>,
    ) -> CoreResult<()> {
        self.with(move |c| {
            let (msg, at) = match error {
                Some((m, t)) => (Some(m), Some(ts(t))),
                None => (None, None),
            };
            c.execute(
                "UPDATE schedules SET last_error = ?1, last_error_time = ?2 WHERE tenant_id = ?3",
                params![msg, at, tenant],
            )
            .map_err(internal)?;
            Ok(())
        })
        .await
    }

    async fn claim_schedule(
        &self,
        tenant: PortalId,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> CoreResult<bool> {
        self.with(move |c| {
            // One statement: SQLite takes the write lock before it reads the row, so of several
            // connections that saw the same `seen`, one matches and the others find `now`.
            let n = c
                .execute(
                    "UPDATE schedules SET last_backup_time = ?1
                     WHERE tenant_id = ?2 AND last_backup_time IS ?3",
                    params![ts(now), tenant, seen.map(ts)],
                )
                .map_err(internal)?;
            Ok(n > 0)
        })
        .await
    }
}
