//! What the service tells a metrics recorder (the `metrics` facade) when a job ends: backups
//! and restores by result and storage, their durations, and backup sizes. The names live
//! here, beside the two calls at the end of `backup::run` and `restore::run`; the engine
//! knows nothing of them. The server installs the Prometheus recorder and serves `/metrics`;
//! with no recorder installed (the CLI, unit tests) every call does nothing.

use std::time::Duration;

use dsbackup_core::StorageKind;

/// Backups that ended, by `result`, `storage` and `trigger` (`manual` or `scheduled`).
pub const BACKUPS: &str = "dsbackup_backups_total";
/// How long backups ran, by `result` and `storage`.
pub const BACKUP_SECONDS: &str = "dsbackup_backup_duration_seconds";
/// The size of completed backups' archives, by `storage`.
pub const BACKUP_BYTES: &str = "dsbackup_backup_size_bytes";
/// Compressed bytes backups copied from their parent archives instead of reading and
/// compressing the sources again, by `storage`.
pub const BACKUP_REUSED_BYTES: &str = "dsbackup_backup_reused_bytes_total";
/// Backups that had a parent archive, by `result`: `copied` (frames were copied), `nothing`
/// (nothing matched, or the parent could not be opened or is of an older format) and
/// `rejected` (it was not the archive its record describes; the backup was written again
/// without it).
pub const BACKUP_PARENTS: &str = "dsbackup_backup_parents_total";
/// Restores that ended, by `result` and `storage`.
pub const RESTORES: &str = "dsbackup_restores_total";
/// How long restores ran, by `result` and `storage`.
pub const RESTORE_SECONDS: &str = "dsbackup_restore_duration_seconds";

/// Jobs of dead nodes this node found and failed, by `kind` (`backup`, `restore`).
pub const JOBS_LOST: &str = "dsbackup_jobs_lost_total";
/// How late due scheduled runs were started: from the due time to the scheduler taking it.
pub const SCHEDULER_LAG: &str = "dsbackup_scheduler_lag_seconds";
/// When each schedule last succeeded (its newest live scheduled backup, Unix seconds), by
/// `tenant` (the portal's id, or -1 for the instance dump) and `portal` (alias, or `instance`);
/// set by the server when `/metrics` is scraped.
pub const SCHEDULE_LAST_SUCCESS: &str = "dsbackup_schedule_last_success_timestamp_seconds";

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Failed,
    Canceled,
}

impl Outcome {
    /// The `result` label.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Canceled => "canceled",
        }
    }
}

/// The `storage` label of a storage kind.
pub fn storage_label(kind: StorageKind) -> &'static str {
    match kind {
        StorageKind::Documents => "documents",
        StorageKind::ThirdPartyDocuments => "thirdparty_documents",
        StorageKind::CustomCloud => "custom_cloud",
        StorageKind::Local => "local",
        StorageKind::DataStore => "datastore",
        StorageKind::ThirdPartyConsumer => "consumer",
    }
}

/// A backup to `storage` ended after `took`; `bytes` is its archive's size when it completed.
pub fn backup_ended(
    storage: StorageKind,
    scheduled: bool,
    outcome: Outcome,
    took: Duration,
    bytes: Option<u64>,
) {
    let storage = storage_label(storage);
    let trigger = if scheduled { "scheduled" } else { "manual" };
    metrics::counter!(BACKUPS, "result" => outcome.label(), "storage" => storage, "trigger" => trigger)
        .increment(1);
    metrics::histogram!(BACKUP_SECONDS, "result" => outcome.label(), "storage" => storage)
        .record(took.as_secs_f64());
    if let Some(bytes) = bytes {
        metrics::histogram!(BACKUP_BYTES, "storage" => storage).record(bytes as f64);
    }
}

/// A backup to `storage` was written with a parent archive: `copied` compressed bytes came
/// from it, or it was `rejected`.
pub fn backup_parent(storage: StorageKind, copied: u64, rejected: bool) {
    let storage = storage_label(storage);
    let result = match (rejected, copied) {
        (true, _) => "rejected",
        (false, 0) => "nothing",
        (false, _) => "copied",
    };
    metrics::counter!(BACKUP_PARENTS, "result" => result).increment(1);
    metrics::counter!(BACKUP_REUSED_BYTES, "storage" => storage).increment(copied);
}

/// A restore from `storage` ended after `took`.
pub fn restore_ended(storage: StorageKind, outcome: Outcome, took: Duration) {
    let storage = storage_label(storage);
    metrics::counter!(RESTORES, "result" => outcome.label(), "storage" => storage).increment(1);
    metrics::histogram!(RESTORE_SECONDS, "result" => outcome.label(), "storage" => storage)
        .record(took.as_secs_f64());
}

/// This node failed a job whose node stopped sending heartbeats.
pub fn job_lost(kind: dsbackup_core::JobKind) {
    metrics::counter!(JOBS_LOST, "kind" => kind.as_str()).increment(1);
}

/// A due scheduled run is being started `late` after its due time.
pub fn scheduled_run_due(late: Duration) {
    metrics::histogram!(SCHEDULER_LAG).record(late.as_secs_f64());
}
