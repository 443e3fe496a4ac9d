//! The words the command line prints and reads instead of DocSpace's wire names: job states
//! ("Failed", not the contract's `Failted`), storages and week days (`--day monday`).

use anyhow::bail;
use dsbackup_api_types::backup::{BackupStorageType, DistributedTaskStatus};

/// A job state as a person reads it.
pub fn status(s: DistributedTaskStatus) -> &'static str {
    match s {
        DistributedTaskStatus::Created => "Created",
        DistributedTaskStatus::Running => "Running",
        DistributedTaskStatus::Completed => "Completed",
        DistributedTaskStatus::Canceled => "Canceled",
        DistributedTaskStatus::Failted => "Failed",
    }
}

/// A storage type as a person reads it.
pub fn storage(s: BackupStorageType) -> &'static str {
    match s {
        BackupStorageType::Documents => "documents",
        BackupStorageType::ThridpartyDocuments => "third-party folder",
        BackupStorageType::CustomCloud => "S3-compatible store",
        BackupStorageType::Local => "local",
        BackupStorageType::DataStore => "datastore",
        BackupStorageType::ThirdPartyConsumer => "storage service",
    }
}

/// The week's days in DocSpace's numbering (Sunday = 1).
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The name of week day `n` (1–7, Sunday = 1).
pub fn weekday(n: i64) -> Option<&'static str> {
    usize::try_from(n - 1)
        .ok()
        .and_then(|i| DAYS.get(i))
        .copied()
}

/// `--day`: a week day's name or its first three letters (any case), or a number.
///
/// Fails on anything else.
pub fn parse_day(text: &str) -> anyhow::Result<i64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    let lower = t.to_ascii_lowercase();
    for (i, day) in DAYS.iter().enumerate() {
        let day = day.to_ascii_lowercase();
        if lower.len() >= 3 && day.starts_with(&lower) {
            return Ok(i as i64 + 1);
        }
    }
    bail!("unknown day {text:?}: a week day (monday, tue, …) or a number (monthly: 1-31)")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn days_read_names_and_numbers() {
        assert_eq!(parse_day("monday").unwrap(), 2);
        assert_eq!(parse_day("Sun").unwrap(), 1);
        assert_eq!(parse_day("SATURDAY").unwrap(), 7);
        assert_eq!(parse_day("15").unwrap(), 15);
        assert!(parse_day("mo").is_err());
        assert!(parse_day("someday").is_err());
        assert_eq!(weekday(2), Some("Monday"));
        assert_eq!(weekday(8), None);
    }

    #[test]
    fn failed_is_spelled_for_people() {
        assert_eq!(status(DistributedTaskStatus::Failted), "Failed");
    }
}
