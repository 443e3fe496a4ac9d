//! Automatic backups: the schedule endpoints' logic, the scheduler loop (`scheduler.rs`) and
//! retention (`retention.rs`). A schedule is never deleted or disabled by a failure: each
//! failure is recorded (`lastError`, `lastErrorTime`), notified, and retried.

pub mod leftovers;
pub mod retention;
pub mod scheduler;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use dsbackup_api_types::backup::{
    BackupPeriod, BackupStorageType, CronParamsDto, ScheduleDto, ScheduleRequest, storage_params,
};
use dsbackup_core::schedule::{Cron, Period, next_due, zone};
use dsbackup_core::{DUMP_TENANT, PortalId, Schedule, StorageKind};

use crate::auth::Caller;
use crate::backup::demand_dump;
use crate::backup::target::Target;
use crate::state::AppState;
use crate::wire::ApiError;

/// The tenant a request's schedule belongs to.
pub fn tenant(caller: &Caller, dump: bool) -> PortalId {
    if dump { DUMP_TENANT } else { caller.portal.id }
}

/// Validates and saves a schedule (one per tenant: an upsert that starts afresh).
pub async fn create(
    state: &AppState,
    caller: &Caller,
    req: ScheduleRequest,
) -> Result<(), ApiError> {
    let dump = req.dump.unwrap_or(false);
    if dump {
        demand_dump(state, caller)?;
    }
    let stored = req.backups_stored.unwrap_or(1);
    if !(1..=30).contains(&stored) {
        return Err(ApiError::BadRequest("backupStored must be 1 - 30".into()));
    }
    let cron = req
        .cron_params
        .ok_or_else(|| ApiError::BadRequest("cronParams is required".into()))?;
    let period = match cron.period.unwrap_or(BackupPeriod::EveryDay) {
        BackupPeriod::EveryDay => Period::EveryDay,
        BackupPeriod::EveryWeek => Period::EveryWeek,
        BackupPeriod::EveryMonth => Period::EveryMonth,
    };
    let cron = Cron::new(period, cron.hour.unwrap_or(0), cron.day)?;
    let storage = req.storage_type.unwrap_or(BackupStorageType::Documents);
    let params = storage_params(req.storage_params.as_deref());
    let target = Target::resolve(state, caller, storage, &params, dump).await?;
    let schedule = Schedule {
        tenant_id: tenant(caller, dump),
        storage: target.kind(),
        storage_params: params,
        cron,
        backups_stored: stored as u32,
        last_backup_time: None,
        last_error: None,
        last_error_time: None,
        created_on: Utc::now(),
    };
    state.catalog().upsert_schedule(schedule).await?;
    tracing::info!(portal = caller.portal.id, dump, cron = %cron.quartz(), "backup schedule saved");
    Ok(())
}

/// When a schedule runs next: after a failure, once the retry interval passed; otherwise at
/// its next due time in the portal's time zone.
pub fn next_run(
    state: &AppState,
    s: &Schedule,
    time_zone: &str,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    match s.last_error_time {
        Some(at) => at + Duration::seconds(state.config().scheduler_retry_secs as i64),
        None => next_due(&s.cron, zone(time_zone), s.last_backup_time, now),
    }
}

/// The `ScheduleDto` of a schedule. As upstream, `storageParams.folderId` carries the base
/// path for every storage but ThirdPartyConsumer; a never-run schedule has `lastBackupTime`
/// .NET's `DateTime.MinValue`.
pub fn present(state: &AppState, s: &Schedule, time_zone: &str) -> ScheduleDto {
    let mut params: BTreeMap<String, String> = s.storage_params.clone();
    if s.storage != StorageKind::ThirdPartyConsumer {
        let base = params
            .get("folderId")
            .or_else(|| params.get("filePath"))
            .cloned()
            .unwrap_or_default();
        params.insert("folderId".into(), base);
    }
    ScheduleDto {
        storage_type: BackupStorageType::from_value(s.storage as i64)
            .unwrap_or(BackupStorageType::Documents),
        storage_params: params,
        cron_params: CronParamsDto {
            period: match s.cron.period {
                Period::EveryDay => BackupPeriod::EveryDay,
                Period::EveryWeek => BackupPeriod::EveryWeek,
                Period::EveryMonth => BackupPeriod::EveryMonth,
            },
            hour: i64::from(s.cron.hour),
            day: i64::from(s.cron.day),
        },
        backups_stored: Some(i64::from(s.backups_stored)),
        last_backup_time: s
            .last_backup_time
            .unwrap_or_else(dsbackup_api_types::datetime::dotnet_min_value),
        dump: s.tenant_id == DUMP_TENANT,
        next_backup_time: next_run(state, s, time_zone, Utc::now()),
        last_error: s.last_error.clone(),
        last_error_time: s.last_error_time,
    }
}
