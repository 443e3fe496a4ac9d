//! `JobStore`: backup and restore jobs as persisted state machines, so progress survives a
//! restart and several nodes read one truth.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::CoreResult;
use crate::job::{JobKind, JobRecord, JobSlot};
use crate::model::{BackupRecord, PortalId};

/// What [`JobStore::claim_job`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The job was recorded: no live job blocks it.
    Claimed,
    /// Nothing was recorded: this unfinished, live job blocks it.
    Busy(JobRecord),
}

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
    /// tenant (`DUMP_TENANT` for whole-instance jobs), finished or not, among those no
    /// [`cancel_jobs`](Self::cancel_jobs) dismissed.
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
    /// Records `job` unless a live job blocks it, as one atomic step across every connection
    /// and process on this catalog. An unfinished job matching one of `blockers` whose
    /// heartbeat is older than `stale_before` is dead (its node stopped answering): it is
    /// marked Failed with `stale_error` first and blocks nothing. Returns `Busy` with a live
    /// blocking job (the newest) instead of recording. `Conflict` when the id exists.
    async fn claim_job(
        &self,
        job: JobRecord,
        blockers: &[JobSlot],
        stale_before: DateTime<Utc>,
        stale_error: &str,
    ) -> CoreResult<Claim>;
    /// Cancel, as upstream's dequeue: every job of `kind` that portal `started_by` started is
    /// dismissed from the progress view (`last_job` skips it), and those still unfinished end
    /// Canceled with `warning` and `finished_on = now`, atomically. Returns the jobs it
    /// dismissed, as now stored, oldest first (empty when there was nothing to dismiss).
    async fn cancel_jobs(
        &self,
        kind: JobKind,
        started_by: PortalId,
        warning: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<JobRecord>>;
    /// Completes a backup job and records its archive in one atomic step: when the stored job
    /// is unfinished, writes `job` (which must be Completed) as `update_job` does and inserts
    /// `record`; otherwise (canceled or failed meanwhile, on any node) changes nothing.
    /// Returns whether it completed. `NotFound` when there is no such job, `Conflict` when
    /// the record's id exists.
    async fn complete_backup(&self, job: &JobRecord, record: BackupRecord) -> CoreResult<bool>;
    /// Failover: marks every unfinished job whose heartbeat is older than `stale_before`
    /// Failed with `message` and `finished_on = now`, atomically, and returns them as now
    /// stored, oldest first. Any node may call it; a live job is never touched.
    async fn expire_jobs(
        &self,
        stale_before: DateTime<Utc>,
        message: &str,
        now: DateTime<Utc>,
    ) -> CoreResult<Vec<JobRecord>>;
}
