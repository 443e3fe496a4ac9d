//! `ScheduleStore`: one backup schedule per tenant, its last outcome, and taking a due run
//! exactly once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::CoreResult;
use crate::model::{PortalId, Schedule};

/// Backup schedules, keyed by tenant (a portal id, or `DUMP_TENANT`).
#[async_trait]
pub trait ScheduleStore: Send + Sync + std::fmt::Debug {
    /// Creates or replaces the schedule of `schedule.tenant_id`.
    async fn upsert_schedule(&self, schedule: Schedule) -> CoreResult<()>;
    /// The schedule of a tenant.
    async fn schedule(&self, tenant: PortalId) -> CoreResult<Option<Schedule>>;
    /// Every schedule, of every tenant (the scheduler's sweep).
    async fn schedules(&self) -> CoreResult<Vec<Schedule>>;
    /// Deletes a tenant's schedule; returns whether there was one.
    async fn delete_schedule(&self, tenant: PortalId) -> CoreResult<bool>;
    /// Records the outcome of a scheduled run: `None` clears the last error.
    async fn schedule_outcome(
        &self,
        tenant: PortalId,
        error: Option<(String, DateTime<Utc>)>,
    ) -> CoreResult<()>;
    /// Takes a due scheduled run: sets the schedule's `last_backup_time` to `now` only if it
    /// still equals `seen` (`None` matching a schedule that never ran), in one atomic step.
    /// Returns whether this caller won; of several workers or nodes that read the same `seen`,
    /// exactly one does. `false` too when the tenant has no schedule. Times compare at the
    /// catalog's precision (microseconds), so pass `seen` as read from the catalog.
    async fn claim_schedule(
        &self,
        tenant: PortalId,
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> CoreResult<bool>;
}
