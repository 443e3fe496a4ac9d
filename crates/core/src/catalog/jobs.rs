//! `JobStore`: backup and restore jobs as persisted state machines, so progress survives a
//! restart and several nodes read one truth.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::CoreResult;
use crate::job::{JobKind, JobRecord};
use crate::model::PortalId;

/// Jobs. A finished job (Completed, Canceled, Failed) is never written again.
#[async_trait]
pub trait JobStore: Send + Sync + std::fmt::Debug {
    /// Records a new job. `Conflict` when the id exists.
    async fn insert_job(&self, job: JobRecord) -> CoreResult<()>;
    /// Writes a job's state, progress, error, warning, link, heartbeat and finished_on (its
    /// kind, tenants, node and start stay as inserted), unless the stored job is finished
    /// already: a canceled job is never completed later, a completed one never failed. Returns
    /// whether it was written. `NotFound` when there is no such job.
    async fn update_job(&self, job: &JobRecord) -> CoreResult<bool>;
    /// A job by id, finished or not.
    async fn job(&self, id: Uuid) -> CoreResult<Option<JobRecord>>;
    /// The newest job (by `started_on`; the later recorded on a tie) of this kind for this
    /// tenant (`DUMP_TENANT` for whole-instance jobs), finished or not.
    async fn last_job(&self, kind: JobKind, tenant: PortalId) -> CoreResult<Option<JobRecord>>;
    /// Start-up recovery: marks every unfinished job of `node` Failed with `message` as its
    /// error and `finished_on = now`, in one transaction, and returns them as now stored,
    /// oldest first. Other nodes' jobs and finished jobs stay as they are.
    async fn interrupt_jobs(
        &self,
        node: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<JobRecord>>;
}
