//! The backup service: validating and starting jobs, the job slots, targets, the runner, and
//! what history, delete and counts need. HTTP handlers in `routes/backup.rs` call into this.

pub mod dbstream;
pub mod durable;
pub mod export;
pub mod gather;
pub mod jobs;
pub mod lease;
pub mod link;
pub mod out;
pub mod parent;
pub mod run;
pub mod target;

use std::collections::BTreeMap;

use chrono::{Datelike, TimeZone, Utc};
use dsbackup_core::{Mode, PortalStatus, Role};

use crate::Service;
use crate::ServiceError;
use dsbackup_core::Actor;
use jobs::{JobKey, Snapshot};
use target::Target;

/// A request to back up, as the API or the scheduler makes it.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub storage: dsbackup_core::StorageKind,
    pub params: BTreeMap<String, String>,
    pub dump: bool,
    pub scheduled: bool,
    /// `http://host` the links should use.
    pub base_url: String,
}

/// Whether `caller` may address whole-instance dumps: the portal owner of a standalone
/// instance (its only portal). 403 otherwise, as upstream's access-space check.
pub fn demand_dump(state: &Service, caller: &Actor) -> Result<(), ServiceError> {
    if state.config().mode == Mode::Standalone && caller.user.role == Role::Owner {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}

/// The job slot a request addresses.
pub fn key_for(caller: &Actor, dump: bool) -> JobKey {
    if dump {
        JobKey::Dump
    } else {
        JobKey::Portal(caller.portal.id)
    }
}

/// The first instant of the current calendar month, UTC.
pub fn month_start() -> chrono::DateTime<Utc> {
    let now = Utc::now();
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// The portals a job covers: the caller's, or every active portal for a dump.
pub async fn affected_portals(
    state: &Service,
    caller: &Actor,
    dump: bool,
) -> Result<Vec<dsbackup_core::Portal>, ServiceError> {
    if !dump {
        return Ok(vec![caller.portal.clone()]);
    }
    Ok(state
        .catalog()
        .portals()
        .await?
        .into_iter()
        .filter(|p| p.status == PortalStatus::Active)
        .collect())
}

/// Checks and starts a backup, in upstream's order of checks; returns the progress of the new
/// job, or of the one already running in the slot.
pub async fn start(
    state: &Service,
    caller: &Actor,
    req: StartRequest,
) -> Result<Snapshot, ServiceError> {
    if req.dump {
        demand_dump(state, caller)?;
    }
    let target = Target::resolve(state, caller, req.storage, &req.params, req.dump).await?;
    let portal = (!req.dump).then_some(caller.portal.alias.as_str());
    crate::crypt::recipients_for(state.config(), portal, &target, &req.params)?;
    let key = key_for(caller, req.dump);
    if let Some(job) = state.jobs().get(key)
        && !job.snapshot().is_completed()
    {
        return Ok(job.snapshot());
    }
    let paid = check_allowance(state, caller, req.dump).await?;
    let portals = affected_portals(state, caller, req.dump).await?;
    let busy = || ServiceError::Busy("A restore is running; wait for it to finish".into());
    let job = match state.jobs().start(key, caller.portal.id, req.scheduled) {
        Ok(job) => job,
        Err(jobs::Busy::Same(running)) => return Ok(running.snapshot()),
        Err(jobs::Busy::Conflict(_)) => return Err(busy()),
    };
    if let Some(running) =
        durable::claim_for_start(state, &job, busy, "The backup could not be recorded").await?
    {
        return Ok(running);
    }
    let snapshot = job.snapshot();
    tracing::info!(job = %job.id, portal = caller.portal.id, dump = req.dump, storage = ?req.storage, "backup started");
    let spec = run::Spec {
        job,
        portals,
        dump: req.dump,
        target,
        params: req.params,
        scheduled: req.scheduled,
        paid,
        base_url: req.base_url,
    };
    tokio::spawn(run::run(state.clone(), spec));
    Ok(snapshot)
}

/// Cancels the backups `caller`'s portal started (its own and a dump it started), on every
/// node; returns whether there was any. The catalog decides: a job it recorded complete first
/// stays complete. Each canceled job's partial archive is dropped by its worker, here at once
/// and on another node at its next heartbeat (about a second).
///
/// Fails when the catalog fails; nothing is canceled then.
pub async fn cancel(state: &Service, caller: &Actor) -> Result<bool, ServiceError> {
    let dismissed = state
        .catalog()
        .cancel_jobs(
            dsbackup_core::JobKind::Backup,
            caller.portal.id,
            jobs::CANCELED,
            Utc::now(),
        )
        .await?;
    let local = state.jobs().cancel_for(caller.portal.id);
    for job in dismissed
        .iter()
        .filter(|j| j.state == dsbackup_core::JobState::Canceled)
    {
        let here = local.iter().any(|l| l.id == job.id);
        tracing::info!(job = %job.id, portal = caller.portal.id, node = %job.node, here, "backup canceled");
    }
    Ok(!dismissed.is_empty() || !local.is_empty())
}

/// Removes a history record (marked removed, as upstream keeps it) and its archive.
///
/// Fails when the catalog or the storage fails; the record stays marked removed then.
pub async fn remove(state: &Service, r: &dsbackup_core::BackupRecord) -> Result<(), ServiceError> {
    state.catalog().mark_backup_removed(r.id).await?;
    crate::archives::delete(state, r).await
}

/// The saas monthly allowance of free backups (SERVER.md §1, step 9): returns whether this
/// backup is a paid one, or 402 when the allowance is used and no paid service is on.
async fn check_allowance(
    state: &Service,
    caller: &Actor,
    dump: bool,
) -> Result<bool, ServiceError> {
    let cfg = state.config();
    if cfg.mode != Mode::Saas || dump || cfg.free_backups_per_month == 0 {
        return Ok(false);
    }
    let used = state
        .catalog()
        .count_backups(caller.portal.id, month_start(), Utc::now(), false)
        .await?;
    if used < i64::from(cfg.free_backups_per_month) {
        return Ok(false);
    }
    if cfg.paid_backup_service {
        return Ok(true);
    }
    Err(ServiceError::PaymentRequired(format!(
        "The limit of {} free backups per month has been reached",
        cfg.free_backups_per_month
    )))
}
