//! Jobs in the catalog, which is the truth about them: a job is recorded when it is created,
//! its progress is written while it runs (at most about once a second), and its end when it
//! ends. The in-memory slots (`jobs.rs`) are the fast path of the process that runs the job;
//! after a restart the last job of a portal is read back from the catalog, and a job that was
//! running when the process died is reported Failed as interrupted.

use chrono::Utc;
use dsbackup_core::{DUMP_TENANT, JobKind, JobRecord, JobState, PortalId};
use tokio::sync::watch;

use super::jobs::{Job, JobKey, JobStatus, Snapshot};
use crate::Service;

/// The error of a job that was running when its server stopped.
pub const INTERRUPTED: &str =
    "The job was interrupted: the server stopped while it was running. Start it again";

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

/// The catalog row of a job as it is now.
pub fn record(job: &Job, node: &str) -> JobRecord {
    let s = job.snapshot();
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

/// Records a new job. A catalog that cannot record it fails the start.
///
/// Fails when the catalog fails.
pub async fn created(svc: &Service, job: &Job) -> dsbackup_core::CoreResult<()> {
    svc.catalog()
        .insert_job(record(job, &svc.config().node_id))
        .await
}

/// Writes a job's current state (its end, or its progress). A failure is logged: the job goes
/// on, and its end is written again by the flusher's next pass while it is in memory.
pub async fn save(svc: &Service, job: &Job) {
    if let Err(e) = svc
        .catalog()
        .update_job(&record(job, &svc.config().node_id))
        .await
    {
        tracing::warn!(job = %job.id, error = %e, "cannot record the job's state");
    }
}

/// The progress of a slot: the job in memory, else the last one the catalog has (after a
/// restart). A canceled job is not shown, as upstream drops it from the queue.
///
/// Fails when the catalog fails.
pub async fn progress(svc: &Service, key: JobKey) -> dsbackup_core::CoreResult<Option<Snapshot>> {
    if let Some(job) = svc.jobs().get(key) {
        return Ok(Some(job.snapshot()));
    }
    if svc.jobs().is_cleared(key) {
        return Ok(None);
    }
    let (kind, tenant) = kind_and_tenant(key);
    Ok(svc
        .catalog()
        .last_job(kind, tenant)
        .await?
        .filter(|r| r.state != JobState::Canceled)
        .map(|r| snapshot(&r)))
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

/// Writes the progress of running jobs about once a second until `stop` turns true.
pub async fn flusher(svc: Service, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        for job in svc.jobs().all() {
            if !job.snapshot().is_completed() {
                save(&svc, &job).await;
            }
        }
    }
    for job in svc.jobs().all() {
        save(&svc, &job).await;
    }
}
