//! The Backup API's wire types (API.md §3): request bodies, `storageParams` key/value lists,
//! progress, history records, counts and enums with DocSpace's own spellings.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::wire_enum;

wire_enum! {
    /// `BackupStorageType` (the `Thridparty` typo is the contract).
    pub enum BackupStorageType {
        Documents = 0,
        ThridpartyDocuments = 1,
        CustomCloud = 2,
        Local = 3,
        DataStore = 4,
        ThirdPartyConsumer = 5,
    }
}

wire_enum! {
    /// `BackupPeriod`.
    pub enum BackupPeriod {
        EveryDay = 0,
        EveryWeek = 1,
        EveryMonth = 2,
    }
}

wire_enum! {
    /// `BackupProgressEnum`.
    pub enum BackupProgressEnum {
        Backup = 0,
        Restore = 1,
        Transfer = 2,
    }
}

wire_enum! {
    /// `DistributedTaskStatus` (`Failted` is the contract).
    pub enum DistributedTaskStatus {
        Created = 0,
        Running = 1,
        Completed = 2,
        Canceled = 3,
        Failted = 4,
    }
}

/// One `{key, value}` of `storageParams`; values of any JSON type, read as strings.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyValue {
    pub key: Value,
    pub value: Value,
}

/// Flattens `storageParams` into a map the way .NET's `ToString()` does: strings as they are,
/// numbers and booleans in their text form (`true` becomes `True`), null as empty.
pub fn storage_params(list: Option<&[KeyValue]>) -> BTreeMap<String, String> {
    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            other => other.to_string(),
        }
    }
    list.unwrap_or_default()
        .iter()
        .map(|kv| (text(&kv.key), text(&kv.value)))
        .collect()
}

/// `BackupDto` (startbackup).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupRequest {
    pub storage_type: Option<BackupStorageType>,
    pub storage_params: Option<Vec<KeyValue>>,
    #[serde(default)]
    pub dump: Option<bool>,
}

/// `BackupProgress`. Nulls are left out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupProgressDto {
    pub is_completed: bool,
    pub progress: i32,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub link: String,
    pub tenant_id: i64,
    pub backup_progress_enum: BackupProgressEnum,
    pub status: DistributedTaskStatus,
    pub task_id: String,
}

/// `BackupHistoryRecord`, plus dsbackup's `size` (bytes), `hash` (upper-case hex SHA-256 of
/// the stored archive), `isScheduled` and `link` (where it can be downloaded; left out for a
/// Local archive). Clients ignore unknown fields; upstream's web client reads these from its
/// private API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackupHistoryRecordDto {
    pub id: Uuid,
    pub file_name: String,
    pub storage_type: BackupStorageType,
    #[serde(with = "crate::datetime::wire")]
    pub created_on: DateTime<Utc>,
    #[serde(with = "crate::datetime::wire")]
    pub expires_on: DateTime<Utc>,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub is_scheduled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

/// `BackupServiceStateDto`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupServiceStateDto {
    pub enabled: bool,
}

/// `BackupsCountResultDto`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupsCountResultDto {
    pub free: i64,
    pub paid: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn storage_params_flatten_like_dotnet() {
        let list: Vec<KeyValue> = serde_json::from_value(json!([
            {"key": "folderId", "value": 123},
            {"key": "filePath", "value": "/srv"},
            {"key": "flag", "value": true},
            {"key": "n", "value": null}
        ]))
        .unwrap();
        let m = storage_params(Some(&list));
        assert_eq!(m["folderId"], "123");
        assert_eq!(m["filePath"], "/srv");
        assert_eq!(m["flag"], "True");
        assert_eq!(m["n"], "");
    }

    #[test]
    fn requests_take_names_or_ints() {
        let r: BackupRequest =
            serde_json::from_value(json!({"storageType": "Local", "dump": false})).unwrap();
        assert_eq!(r.storage_type, Some(BackupStorageType::Local));
        let r: BackupRequest = serde_json::from_value(json!({"storageType": 4})).unwrap();
        assert_eq!(r.storage_type, Some(BackupStorageType::DataStore));
        assert!(serde_json::from_value::<BackupRequest>(json!({"storageType": 9})).is_err());
        // Unknown fields are ignored, as System.Text.Json does.
        assert!(serde_json::from_value::<BackupRequest>(json!({"storageTipe": 3})).is_ok());
    }
}

/// `cronParams` of `createbackupschedule`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CronRequest {
    pub period: Option<BackupPeriod>,
    pub hour: Option<i64>,
    pub day: Option<i64>,
}

/// `BackupScheduleDto` (createbackupschedule).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRequest {
    pub storage_type: Option<BackupStorageType>,
    pub storage_params: Option<Vec<KeyValue>>,
    pub backups_stored: Option<i64>,
    pub cron_params: Option<CronRequest>,
    pub dump: Option<bool>,
}

/// `CronParams` of `ScheduleDto`: `day` is always an integer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CronParamsDto {
    pub period: BackupPeriod,
    pub hour: i64,
    pub day: i64,
}

/// `ScheduleDto`, plus dsbackup's `nextBackupTime`, `lastError`, `lastErrorTime` (clients ignore
/// unknown fields).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScheduleDto {
    pub storage_type: BackupStorageType,
    pub storage_params: BTreeMap<String, String>,
    pub cron_params: CronParamsDto,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups_stored: Option<i64>,
    #[serde(with = "crate::datetime::wire")]
    pub last_backup_time: DateTime<Utc>,
    pub dump: bool,
    #[serde(with = "crate::datetime::wire")]
    pub next_backup_time: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(
        default,
        with = "crate::datetime::wire_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_error_time: Option<DateTime<Utc>>,
}
