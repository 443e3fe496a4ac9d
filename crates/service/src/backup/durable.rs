//! Jobs in the catalog, which is the truth about them for every node: a job is claimed there
//! before it starts (no live job of a conflicting slot on any node), its progress and
//! heartbeat are written while it runs (about once a second, `lease.rs`), and its end when it
//! ends. The in-memory slots (`jobs.rs`) are the fast path of the process that runs the job;
//! every other node, and this one after a restart, reads the job back from the catalog. A job
//! that was running when its process died is reported Failed, as interrupted (at that node's
//! restart) or as lost (by any node, once its heartbeat is older than the lease).

use chrono::Utc;
use dsbackup_core::catalog::Claim;
use dsbackup_core::{CoreError, DUMP_TENANT, JobKind, JobRecord, JobSlot, JobState, PortalId};

use super::jobs::{Job, JobKey, JobStatus, Snapshot};
use crate::Service;

/// The error of a job that was running when its server stopped.
pub const INTERRUPTED: &str =
    "The job was interrupted: the server stopped while it was running. Start it again";

/// The error of a job whose node stopped sending heartbeats (killed, cut off from the
/// catalog) for longer than the lease.
pub const LOST: &str = "The job was lost: the server running it stopped answering. Start it again";

/// The catalog's kind and tenant of a job slot.
pub fn kind_and_tenant(key: JobKey) -> (JobKind, PortalId) {
    match key {
        JobKey::Portal(p) => (JobKind::Backup, p),
        JobKey::Dump => (JobKind::Backup, DUMP_TENANT),
        JobKey::RestorePortal(p) => (JobKind::Restore, p),
        JobKey::RestoreDump => (JobKind::Restore, DUMP_TENANT),
    }
}

fn state_of(status: JobStatus) -> JobState {
    match status {
        JobStatus::Created => JobState::Created,
        JobStatus::Running => JobState::Running,
        JobStatus::Completed => JobState::Completed,
        JobStatus::Canceled => JobState::Canceled,
        JobStatus::Failed => JobState::Failed,
    }
}

fn status_of(state: JobState) -> JobStatus {
    match state {
        JobState::Created => JobStatus::Created,
        JobState::Running => JobStatus::Running,
        JobState::Completed => JobStatus::Completed,
        JobState::Canceled => JobStatus::Canceled,
        JobState::Failed => JobStatus::Failed,
    }
}

/// The unfinished jobs that keep a job of `key` from starting: its own slot's (on any node),
/// and those [`JobKey::conflicts_with`] names.
pub fn blockers(key: JobKey) -> Vec<JobSlot> {
    let slot = |kind, tenant| JobSlot { kind, tenant };
    let dump = Some(DUMP_TENANT);
    match key {
        JobKey::Portal(p) => vec![
            slot(JobKind::Backup, Some(p)),
            slot(JobKind::Restore, Some(p)),
            slot(JobKind::Restore, dump),
        ],
        JobKey::Dump => vec![slot(JobKind::Backup, dump), slot(JobKind::Restore, None)],
        JobKey::RestorePortal(p) => vec![
            slot(JobKind::Restore, Some(p)),
            slot(JobKind::Backup, Some(p)),
            slot(JobKind::Backup, dump),
            slot(JobKind::Restore, dump),
        ],
        JobKey::RestoreDump => vec![slot(JobKind::Backup, None), slot(JobKind::Restore, None)],
    }
}

/// What the catalog said of a claim.
#[derive(Debug)]
pub enum Claimed {
    /// Recorded: this node runs the job.
    Yes,
    /// The same slot's job runs (on some node): its progress.
    Same(Snapshot),
    /// A conflicting job runs.
    Conflict,
}

/// Records a new job, unless a live job on any node blocks it (dead ones are failed as
/// [`LOST`] on the way). When blocked, the job's slot in this process is given back.
///
/// Fails when the catalog fails.
pub async fn claim(svc: &Service, job: &Job) -> dsbackup_core::CoreResult<Claimed> {
    crate::fault::delay_async("job-claim").await;
    // An end of this node's that the catalog missed would make it refuse the slot.
    record_ends(svc).await;
    let now = Utc::now();
    let stale = now - lease(svc);
    let claim = svc
        .catalog()
        .claim_job(
            record(job, &svc.config().node_id),
            &blockers(job.key),
            stale,
            LOST,
        )
        .await?;
    Ok(match claim {
        Claim::Claimed => Claimed::Yes,
        Claim::Busy(running) => {
            svc.jobs().release(job);
            if (running.kind, running.tenant_id) == kind_and_tenant(job.key) {
                Claimed::Same(snapshot(&running))
            } else {
                Claimed::Conflict
            }
        }
    })
}

/// Claims `job` for a start request: `None` when this node runs it now, `Some(progress)` of
/// the same slot's job running elsewhere, `busy` when a conflicting job runs; a catalog that
/// cannot record it fails the job with `unrecorded` and the start.
///
/// Fails with `busy()` or the catalog's error.
pub async fn claim_for_start(
    svc: &Service,
    job: &Job,
    busy: impl FnOnce() -> crate::ServiceError,
    unrecorded: &str,
) -> Result<Option<Snapshot>, crate::ServiceError> {
    match claim(svc, job).await {
        Ok(Claimed::Yes) => Ok(None),
        Ok(Claimed::Same(running)) => Ok(Some(running)),
        Ok(Claimed::Conflict) => Err(busy()),
        Err(e) => {
            job.fail(unrecorded.into());
            Err(e.into())
        }
    }
}

/// How long a job may go without a heartbeat before any node takes it for dead.
pub fn lease(svc: &Service) -> chrono::Duration {
    chrono::Duration::seconds(svc.config().job_lease_secs as i64)
}

/// The catalog row of a job as it is now.
pub fn record(job: &Job, node: &str) -> JobRecord {
    row(job, job.snapshot(), node)
}

/// The catalog row of `job` showing `s`.
pub fn row(job: &Job, s: Snapshot, node: &str) -> JobRecord {
    let (kind, tenant_id) = kind_and_tenant(job.key);
    let now = Utc::now();
    let finished_on = s.is_completed().then_some(now);
    JobRecord {
        id: job.id,
        kind,
        tenant_id,
        started_by: job.tenant_id,
        state: state_of(s.status),
        progress: s.progress,
        error: s.error,
        warning: s.warning,
        link: s.link,
        node: node.to_string(),
        heartbeat: now,
        started_on: job.started_on,
        finished_on,
        scheduled: job.scheduled,
    }
}

/// What the progress endpoints show of a recorded job.
pub fn snapshot(r: &JobRecord) -> Snapshot {
    Snapshot {
        id: r.id,
        tenant_id: r.started_by,
        status: status_of(r.state),
        progress: r.progress,
        error: r.error.clone(),
        warning: r.warning.clone(),
        link: r.link.clone(),
        restore: r.kind == JobKind::Restore,
    }
}

/// Writes a job's current state (its end, or its progress). A failure is logged: the job goes
/// on, and an end that was not written is written again by the flusher (`lease.rs`) every
/// second while the job is in memory. An end the catalog refuses (it holds another end: a
/// cancel, or the job's lease ran out) or a job it does not hold counts as recorded.
pub async fn save(svc: &Service, job: &Job) {
    let row = record(job, &svc.config().node_id);
    match svc.catalog().update_job(&row).await {
        Ok(_) | Err(CoreError::NotFound(_)) => {
            if row.is_finished() {
                job.set_end_recorded();
            }
        }
        Err(e) => tracing::warn!(job = %job.id, error = %e, "cannot record the job's state"),
    }
}

/// Writes the ends the catalog did not take when they came (it was away): until it has them,
/// it shows those jobs running, and no node starts another in their slots.
pub async fn record_ends(svc: &Service) {
    for job in svc.jobs().unrecorded_ends() {
        save(svc, &job).await;
    }
}

/// The progress of a slot, the same on every node: the newest job the catalog holds for it
/// (none after a cancel dismissed it, as upstream drops a canceled job from its queue), shown
/// from this process's memory while it runs here (fresher than the last heartbeat).
///
/// Fails when the catalog fails.
pub async fn progress(svc: &Service, key: JobKey) -> dsbackup_core::CoreResult<Option<Snapshot>> {
    let (kind, tenant) = kind_and_tenant(key);
    let Some(stored) = svc.catalog().last_job(kind, tenant).await? else {
        return Ok(None);
    };
    if stored.state == JobState::Canceled {
        return Ok(None);
    }
    Ok(Some(match svc.jobs().get(key) {
        Some(job) if job.id == stored.id && !stored.is_finished() => job.snapshot(),
        _ => snapshot(&stored),
    }))
}

/// At start-up: every job this node left unfinished ended with the process that ran it.
///
/// Fails when the catalog fails.
pub async fn interrupt_leftovers(svc: &Service) -> dsbackup_core::CoreResult<usize> {
    let jobs = svc
        .catalog()
        .interrupt_jobs(&svc.config().node_id, INTERRUPTED, Utc::now())
        .await?;
    for j in &jobs {
        tracing::warn!(job = %j.id, kind = ?j.kind, tenant = j.tenant_id, "a job was interrupted by a stop; recorded as failed");
    }
    Ok(jobs.len())
}
