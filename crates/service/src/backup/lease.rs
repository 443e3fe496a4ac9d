//! Heartbeats and failover. About once a second every node writes the state of the jobs it
//! runs to the catalog, which is their heartbeat, and the end of any job whose end the
//! catalog could not take when it came; a write the catalog refuses means another
//! node ended the job meanwhile (a cancel, or its lease ran out while this node could not
//! reach the catalog), and this node stops the worker. Every node also looks for jobs whose
//! heartbeat is older than `job_lease_secs` (their node was killed or cut off): the catalog
//! fails each one once, for one node, which records a lost scheduled run as the schedule's
//! failure so the scheduler tries it again on a node that is alive.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use dsbackup_core::{JobRecord, JobState};
use tokio::sync::watch;

use super::durable::{self, LOST};
use super::jobs::Job;
use crate::Service;

/// Writes the state of running jobs about once a second (and the ends the catalog did not
/// take), and fails dead jobs of any node about every third of a lease, until `stop` turns
/// true; then writes every job once more.
pub async fn flusher(svc: Service, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let expire_every = (svc.config().job_lease_secs / 3).max(1);
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        for job in svc.jobs().all() {
            if !job.snapshot().is_completed() {
                heartbeat(&svc, &job).await;
            }
        }
        durable::record_ends(&svc).await;
        ticks += 1;
        if ticks.is_multiple_of(expire_every) {
            expire(&svc).await;
        }
    }
    for job in svc.jobs().all() {
        durable::save(&svc, &job).await;
    }
}

/// Writes one running job's state; when the catalog says another node ended it, follows.
async fn heartbeat(svc: &Service, job: &Arc<Job>) {
    let node = &svc.config().node_id;
    match svc.catalog().update_job(&durable::record(job, node)).await {
        Ok(true) => {}
        Ok(false) => follow(svc, job).await,
        Err(e) => tracing::warn!(job = %job.id, error = %e, "cannot write the job's heartbeat"),
    }
}

/// The catalog holds `job` finished although it runs here: stop it as the catalog says.
pub async fn follow(svc: &Service, job: &Arc<Job>) {
    let stored = match svc.catalog().job(job.id).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(job = %job.id, error = %e, "cannot read the job back");
            return;
        }
    };
    match stored.state {
        JobState::Canceled => {
            let canceled = svc.jobs().cancel_for(job.tenant_id);
            tracing::info!(job = %job.id, jobs = canceled.len(), "backup canceled from another node");
        }
        JobState::Failed => {
            tracing::error!(job = %job.id, error = %stored.error, "the catalog failed this job (its lease ran out); stopping it");
            job.abandon(stored.error);
        }
        JobState::Completed | JobState::Created | JobState::Running => {}
    }
}

/// Fails the jobs of any node whose heartbeat is older than the lease.
async fn expire(svc: &Service) {
    let now = Utc::now();
    let expired = match svc
        .catalog()
        .expire_jobs(now - durable::lease(svc), LOST, now)
        .await
    {
        Ok(expired) => expired,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for lost jobs");
            return;
        }
    };
    for j in expired {
        tracing::error!(job = %j.id, node = %j.node, kind = ?j.kind, tenant = j.tenant_id,
            "a job's node stopped sending heartbeats; recorded as failed");
        crate::metrics::job_lost(j.kind);
        if j.scheduled {
            scheduled_run_lost(svc, &j).await;
        }
    }
}

/// A scheduled run lost with its node is the schedule's failure: recorded and notified, so
/// the scheduler tries again after `scheduler_retry_secs`.
async fn scheduled_run_lost(svc: &Service, j: &JobRecord) {
    let Ok(Some(portal)) = svc.catalog().portal(j.started_by).await else {
        return;
    };
    crate::schedule::scheduler::record_failure_of(svc, j.tenant_id, &portal, LOST.to_string())
        .await;
}
