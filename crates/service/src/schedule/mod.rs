//! Automatic backups: the schedule endpoints' logic, the scheduler loop (`scheduler.rs`) and
//! retention (`retention.rs`). A schedule is never deleted or disabled by a failure: each
//! failure is recorded (`lastError`, `lastErrorTime`), notified, and retried.

pub mod leftovers;
pub mod overdue;
pub mod retention;
pub mod scheduler;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use dsbackup_core::schedule::{Cron, Period, next_due, zone};
use dsbackup_core::{Actor, DUMP_TENANT, PortalId, Schedule, StorageKind};

use crate::backup::demand_dump;
use crate::backup::target::Target;
use crate::{Service, ServiceError, secrets};

/// A schedule as a client asks for it, before it is checked.
#[derive(Debug, Clone)]
pub struct ScheduleSpec {
    pub dump: bool,
    pub storage: StorageKind,
    pub params: BTreeMap<String, String>,
    pub period: Period,
    pub hour: i64,
    pub day: Option<i64>,
    /// How many scheduled backups to keep; 1 when not given.
    pub backups_stored: Option<i64>,
}

/// The tenant a request's schedule belongs to.
pub fn tenant(caller: &Actor, dump: bool) -> PortalId {
    if dump { DUMP_TENANT } else { caller.portal.id }
}

/// Validates and saves a schedule (one per tenant: an upsert that starts afresh).
///
/// Fails with `Invalid` for a bad period, hour, day or count, or the target's own errors.
pub async fn create(
    state: &Service,
    caller: &Actor,
    spec: ScheduleSpec,
) -> Result<(), ServiceError> {
    if spec.dump {
        demand_dump(state, caller)?;
    }
    let stored = spec.backups_stored.unwrap_or(1);
    if !(1..=30).contains(&stored) {
        return Err(ServiceError::Invalid("backupStored must be 1 - 30".into()));
    }
    let cron = Cron::new(spec.period, spec.hour, spec.day)?;
    let tenant = tenant(caller, spec.dump);
    let params = keep_redacted(state, tenant, spec.params).await?;
    let target = Target::resolve(state, caller, spec.storage, &params, spec.dump).await?;
    let portal = (!spec.dump).then_some(caller.portal.alias.as_str());
    crate::crypt::recipients_for(state.config(), portal, &target, &params)?;
    let schedule = Schedule {
        tenant_id: tenant,
        storage: target.kind(),
        storage_params: state.sealer().seal_params(&params),
        cron,
        backups_stored: stored as u32,
        last_backup_time: None,
        last_error: None,
        last_error_time: None,
        created_on: Utc::now(),
    };
    state.catalog().upsert_schedule(schedule).await?;
    tracing::info!(portal = caller.portal.id, dump = spec.dump, cron = %cron.quartz(), "backup schedule saved");
    Ok(())
}

/// `params` with each secret value sent back as `getbackupschedule` showed it (redacted)
/// replaced by the stored schedule's value, opened, so a client that edits a schedule and
/// echoes its parameters keeps the credentials instead of storing the mask.
///
/// Fails when the catalog fails or a stored value does not open.
async fn keep_redacted(
    state: &Service,
    tenant: PortalId,
    mut params: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ServiceError> {
    if !params.values().any(|v| v == secrets::REDACTED) {
        return Ok(params);
    }
    let stored = state
        .catalog()
        .schedule(tenant)
        .await?
        .map(|s| s.storage_params);
    for (key, value) in params.iter_mut() {
        if value == secrets::REDACTED && secrets::is_secret_param(key) {
            let kept = stored.as_ref().and_then(|s| s.get(key));
            *value = kept
                .map(|v| state.sealer().open(v))
                .transpose()?
                .unwrap_or_default();
        }
    }
    Ok(params)
}

/// When a schedule runs next: after a failure, once the retry interval passed; otherwise at
/// its next due time in the portal's time zone.
pub fn next_run(
    state: &Service,
    s: &Schedule,
    time_zone: &str,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match s.last_error_time {
        Some(at) => at + Duration::seconds(state.config().scheduler_retry_secs as i64),
        None => next_due(&s.cron, zone(time_zone), s.last_backup_time, now),
    }
}
