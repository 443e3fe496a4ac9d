//! PostgreSQL catalog: `ScheduleStore` (one schedule per tenant, stored as its JSON body with
//! the run bookkeeping in columns), and taking a due scheduled run exactly once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::catalog::ScheduleStore;
use dsbackup_core::{CoreResult, PortalId, Schedule};
use tokio_postgres::types::Json;

use super::PostgresCatalog;
use super::rows::{self, SCHEDULE_COLS, ts};

#[async_trait]
impl ScheduleStore for PostgresCatalog {
    async fn upsert_schedule(&self, s: Schedule) -> CoreResult<()> {
        self.exec(
            "INSERT INTO schedules (tenant_id, body, last_backup_time, last_error, last_error_time)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant_id) DO UPDATE SET body = $2, last_backup_time = $3,
                 last_error = $4, last_error_time = $5",
            &[
                &s.tenant_id,
                &Json(&s),
                &s.last_backup_time.map(ts),
                &s.last_error,
                &s.last_error_time.map(ts),
            ],
        )
        .await
        .map(drop)
    }

    async fn schedule(&self, tenant: PortalId) -> CoreResult<Option<Schedule>> {
        let sql = format!("SELECT {SCHEDULE_COLS} FROM schedules WHERE tenant_id = $1");
        self.opt(&sql, &[&tenant], rows::schedule).await
    }

    async fn schedules(&self) -> CoreResult<Vec<Schedule>> {
        let sql = format!("SELECT {SCHEDULE_COLS} FROM schedules ORDER BY tenant_id");
        self.list(&sql, &[], rows::schedule).await
    }

    async fn delete_schedule(&self, tenant: PortalId) -> CoreResult<bool> {
        let n = self
            .exec("DELETE FROM schedules WHERE tenant_id = $1", &[&tenant])
            .await?;
        Ok(n > 0)
    }

    async fn schedule_outcome(
        &self,
        tenant: PortalId,
        error: Option<(String, DateTime<Utc>)>,
    ) -> CoreResult<()> {
        let (message, at) = error.map_or((None, None), |(m, t)| (Some(m), Some(ts(t))));
        self.exec(
            "UPDATE schedules SET last_error = $1, last_error_time = $2 WHERE tenant_id = $3",
            &[&message, &at, &tenant],
        )
        .await
        .map(drop)
    }

    async fn claim_schedule(
        &self,
        tenant: PortalId,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> CoreResult<bool> {
        // One conditional UPDATE: of several connections that saw the same `seen`, the first
        // takes the row lock and the others, once it commits, re-check the condition against
        // the row it wrote and match nothing (READ COMMITTED re-evaluates an updated row).
        let n = self
            .exec(
                "UPDATE schedules SET last_backup_time = $1
                 WHERE tenant_id = $2 AND last_backup_time IS NOT DISTINCT FROM $3",
                &[&ts(now), &tenant, &seen.map(ts)],
            )
            .await?;
        Ok(n > 0)
    }
}
