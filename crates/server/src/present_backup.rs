//! The Backup API's conversions at the edge: DocSpace's `BackupStorageType` ↔ the domain's
//! `StorageKind` (exhaustive both ways: no value falls back to another), schedule requests
//! into the service's `ScheduleSpec`, and schedules into `ScheduleDto`.

use std::collections::BTreeMap;

use chrono::Utc;
use dsbackup_api_types::backup::{
    BackupPeriod, BackupStorageType, CronParamsDto, ScheduleDto, ScheduleRequest, storage_params,
};
use dsbackup_core::schedule::Period;
use dsbackup_core::{DUMP_TENANT, Schedule, StorageKind};
use dsbackup_service::schedule::{ScheduleSpec, next_run};
use dsbackup_service::{Service, secrets};

use crate::wire::ApiError;

/// The domain storage of a wire `storageType`.
pub fn storage_kind(t: BackupStorageType) -> StorageKind {
    match t {
        BackupStorageType::Documents => StorageKind::Documents,
        BackupStorageType::ThridpartyDocuments => StorageKind::ThirdPartyDocuments,
        BackupStorageType::CustomCloud => StorageKind::CustomCloud,
        BackupStorageType::Local => StorageKind::Local,
        BackupStorageType::DataStore => StorageKind::DataStore,
        BackupStorageType::ThirdPartyConsumer => StorageKind::ThirdPartyConsumer,
    }
}

/// The wire `storageType` of a domain storage.
pub fn storage_type(k: StorageKind) -> BackupStorageType {
    match k {
        StorageKind::Documents => BackupStorageType::Documents,
        StorageKind::ThirdPartyDocuments => BackupStorageType::ThridpartyDocuments,
        StorageKind::CustomCloud => BackupStorageType::CustomCloud,
        StorageKind::Local => BackupStorageType::Local,
        StorageKind::DataStore => BackupStorageType::DataStore,
        StorageKind::ThirdPartyConsumer => BackupStorageType::ThirdPartyConsumer,
    }
}

/// A `createbackupschedule` body as the service's request. A missing `storageType` is
/// Documents (0), as upstream's enum default.
///
/// Fails with 400 when `cronParams` is missing.
pub fn schedule_spec(req: ScheduleRequest) -> Result<ScheduleSpec, ApiError> {
    let cron = req
        .cron_params
        .ok_or_else(|| ApiError::BadRequest("cronParams is required".into()))?;
    Ok(ScheduleSpec {
        dump: req.dump.unwrap_or(false),
        storage: storage_kind(req.storage_type.unwrap_or(BackupStorageType::Documents)),
        params: storage_params(req.storage_params.as_deref()),
        period: match cron.period.unwrap_or(BackupPeriod::EveryDay) {
            BackupPeriod::EveryDay => Period::EveryDay,
            BackupPeriod::EveryWeek => Period::EveryWeek,
            BackupPeriod::EveryMonth => Period::EveryMonth,
        },
        hour: cron.hour.unwrap_or(0),
        day: cron.day,
        backups_stored: req.backups_stored,
    })
}

/// The `ScheduleDto` of a schedule. As upstream, `storageParams.folderId` carries the base
/// path for every storage but ThirdPartyConsumer; a never-run schedule has `lastBackupTime`
/// .NET's `DateTime.MinValue`. Unlike upstream, secret values (`secrets::SECRET_PARAMS`) show
/// as `********`: credentials are never echoed back (sending the mask back keeps them).
pub fn schedule(svc: &Service, s: &Schedule, time_zone: &str) -> ScheduleDto {
    let mut params: BTreeMap<String, String> = secrets::redact_params(&s.storage_params);
    if s.storage != StorageKind::ThirdPartyConsumer {
        let base = params
            .get("folderId")
            .or_else(|| params.get("filePath"))
            .cloned()
            .unwrap_or_default();
        params.insert("folderId".into(), base);
    }
    ScheduleDto {
        storage_type: storage_type(s.storage),
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
        next_backup_time: next_run(svc, s, time_zone, Utc::now()),
        last_error: s.last_error.clone(),
        last_error_time: s.last_error_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_types_map_one_to_one() {
        for v in 0..=5 {
            let wire = BackupStorageType::from_value(v).unwrap();
            let kind = storage_kind(wire);
            assert_eq!(kind as i64, v);
            assert_eq!(storage_type(kind), wire);
            assert_eq!(kind.name(), wire.name());
        }
    }
}
