//! The scheduler: every `scheduler_period_secs` it runs the schedules that are due (as the
//! portal owner, marked scheduled in history), records each outcome, notifies failures, prunes
//! what retention says, and never deletes or disables a schedule. After downtime a missed run
//! happens once: the due time is computed from the last run. Each pass also looks for
//! schedules overdue by twice their period (`overdue.rs`), and each run started records how
//! late it started (`dsbackup_scheduler_lag_seconds`).
//!
//! Every node runs a scheduler on the shared catalog. A due run is taken by the one node whose
//! `claim_schedule` wins, and a node takes at most `max_scheduled_jobs` at a time, in a random
//! order, so due runs spread over the nodes; a portal whose backup runs on any node is passed
//! over without using up its run.

use std::time::Duration;

use chrono::Utc;
use dsbackup_core::{DUMP_TENANT, Portal, PortalId, PortalStatus, Role, Schedule};
use tokio::sync::watch;

use super::{next_run, retention};
use crate::Service;
use crate::backup::jobs::JobStatus;
use crate::backup::{self, StartRequest};
use dsbackup_core::Actor;

/// Runs until `stop` turns true.
pub async fn run(state: Service, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.config().scheduler_period_secs.max(1));
    let mut overdue = super::overdue::Overdue::default();
    loop {
        if let Err(e) = tick(&state).await {
            tracing::error!(error = %e, "scheduler tick failed");
        }
        if let Err(e) = overdue.check(&state, Utc::now()).await {
            tracing::error!(error = %e, "looking for overdue schedules failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The portal a schedule runs for (a dump runs for the instance owner's portal).
pub(super) async fn portal_of(
    state: &Service,
    s: &Schedule,
) -> dsbackup_core::CoreResult<Option<Portal>> {
    if s.tenant_id == DUMP_TENANT {
        let portals = state.catalog().portals().await?;
        return Ok(portals
            .into_iter()
            .find(|p| p.status == PortalStatus::Active));
    }
    Ok(state
        .catalog()
        .portal(s.tenant_id)
        .await?
        .filter(|p| p.status == PortalStatus::Active))
}

/// One pass: due schedules, then retention.
pub async fn tick(state: &Service) -> dsbackup_core::CoreResult<()> {
    let now = Utc::now();
    let mut schedules = state.catalog().schedules().await?;
    // A random order, so nodes that tick together do not all race for the same rows first.
    schedules.sort_by_cached_key(|_| uuid::Uuid::new_v4());
    for s in schedules {
        if running_here(state) >= state.config().max_scheduled_jobs as usize {
            break;
        }
        let Some(portal) = portal_of(state, &s).await? else {
            continue;
        };
        let due = next_run(state, &s, &portal.time_zone, now);
        if due > now {
            continue;
        }
        let dump = s.tenant_id == DUMP_TENANT;
        let key = if dump {
            backup::jobs::JobKey::Dump
        } else {
            backup::jobs::JobKey::Portal(portal.id)
        };
        if state.jobs().busy(key) || running_anywhere(state, key).await? {
            continue;
        }
        run_one(state, &s, portal, due).await?;
    }
    let plan = retention::plan(state, Utc::now(), None, Default::default()).await?;
    if !plan.is_empty() {
        retention::execute(state, &plan).await;
    }
    Ok(())
}

/// The scheduled backups this node runs now.
fn running_here(state: &Service) -> usize {
    state
        .jobs()
        .all()
        .iter()
        .filter(|j| j.scheduled && !j.snapshot().is_completed())
        .count()
}

/// Whether the catalog holds a live backup of `key`'s slot (on any node).
async fn running_anywhere(
    state: &Service,
    key: backup::jobs::JobKey,
) -> dsbackup_core::CoreResult<bool> {
    let (kind, tenant) = backup::durable::kind_and_tenant(key);
    let stale = Utc::now() - backup::durable::lease(state);
    Ok(state
        .catalog()
        .last_job(kind, tenant)
        .await?
        .is_some_and(|j| !j.is_finished() && j.heartbeat >= stale))
}

/// Runs a due run of `s` (due at `due`) if this node's claim wins it.
async fn run_one(
    state: &Service,
    s: &Schedule,
    portal: Portal,
    due: chrono::DateTime<Utc>,
) -> dsbackup_core::CoreResult<()> {
    let Some(owner) = (match portal.owner_id {
        Some(id) => state
            .catalog()
            .user(id)
            .await?
            .filter(|u| u.role == Role::Owner),
        None => None,
    }) else {
        record_failure(
            state,
            s,
            &portal,
            "the portal has no owner to run the backup as".into(),
        )
        .await;
        return Ok(());
    };
    let caller = Actor {
        portal: portal.clone(),
        user: owner,
        key: None,
    };
    // Claimed through the catalog: of several workers (or nodes) that find this run due, the
    // one whose compare-and-set of lastBackupTime succeeds runs it; the others skip it.
    let won = state
        .catalog()
        .claim_schedule(s.tenant_id, s.last_backup_time, Utc::now())
        .await?;
    if !won {
        tracing::debug!(
            tenant = s.tenant_id,
            "scheduled run taken by another worker"
        );
        return Ok(());
    }
    // Counted by the node that takes the run, once, however many nodes saw it due.
    crate::metrics::scheduled_run_due((Utc::now() - due).to_std().unwrap_or_default());
    let params = match state.sealer().open_params(&s.storage_params) {
        Ok(params) => params,
        Err(e) => {
            record_failure(state, s, &portal, e.to_string()).await;
            return Ok(());
        }
    };
    let req = StartRequest {
        storage: s.storage,
        params,
        dump: s.tenant_id == DUMP_TENANT,
        scheduled: true,
        base_url: state.public_url(),
    };
    match backup::start(state, &caller, req).await {
        Ok(snapshot) if state.jobs().all().iter().any(|j| j.id == snapshot.id) => {
            tracing::info!(portal = portal.id, job = %snapshot.id, "scheduled backup started");
            let (state, s) = (state.clone(), s.clone());
            tokio::spawn(async move { watch_job(&state, &s, portal, snapshot.id).await });
        }
        Ok(snapshot) => {
            tracing::info!(portal = portal.id, job = %snapshot.id,
                "scheduled run skipped: a backup of the portal runs on another node");
        }
        Err(e) => record_failure(state, s, &portal, e.to_string()).await,
    }
    Ok(())
}

/// Waits for a scheduled job's end and records it.
async fn watch_job(state: &Service, s: &Schedule, portal: Portal, id: uuid::Uuid) {
    let key = if s.tenant_id == DUMP_TENANT {
        backup::jobs::JobKey::Dump
    } else {
        backup::jobs::JobKey::Portal(portal.id)
    };
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(job) = state.jobs().get(key).filter(|j| j.id == id) else {
            record_failure(
                state,
                s,
                &portal,
                "the scheduled backup was canceled".into(),
            )
            .await;
            return;
        };
        let snap = job.snapshot();
        match snap.status {
            JobStatus::Completed => {
                if let Err(e) = state.catalog().schedule_outcome(s.tenant_id, None).await {
                    tracing::error!(error = %e, "recording a scheduled run");
                }
                let plan =
                    retention::plan(state, Utc::now(), Some(&[s.tenant_id]), Default::default())
                        .await;
                match plan {
                    Ok(plan) => retention::execute(state, &plan).await,
                    Err(e) => tracing::error!(error = %e, "retention after a scheduled run"),
                }
                return;
            }
            JobStatus::Failed => return record_failure(state, s, &portal, snap.error).await,
            JobStatus::Canceled => {
                return record_failure(
                    state,
                    s,
                    &portal,
                    "the scheduled backup was canceled".into(),
                )
                .await;
            }
            JobStatus::Created | JobStatus::Running => {}
        }
    }
}

async fn record_failure(state: &Service, s: &Schedule, portal: &Portal, message: String) {
    record_failure_of(state, s.tenant_id, portal, message).await;
}

/// Records and notifies a failed run of `tenant`'s schedule (`DUMP_TENANT` for dumps), run
/// as `portal`.
pub async fn record_failure_of(
    state: &Service,
    tenant: PortalId,
    portal: &Portal,
    message: String,
) {
    tracing::warn!(portal = portal.id, error = %message, "scheduled backup failed; the schedule stays");
    if let Err(e) = state
        .catalog()
        .schedule_outcome(tenant, Some((message.clone(), Utc::now())))
        .await
    {
        tracing::error!(error = %e, "recording a scheduled failure");
    }
    crate::notify::schedule_failed(state, portal, &message).await;
}
