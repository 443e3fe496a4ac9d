//! `dsbackup schedule show|set|delete` and `dsbackup prune [--dry-run] [--forget-missing]`.

use anyhow::Context;
use clap::Subcommand;
use dsbackup_api_types::backup::{BackupPeriod, ScheduleDto};
use reqwest::Method;
use serde_json::{Value, json};

use crate::backup_cmd::Remote;

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Show the schedule.
    Show {
        #[arg(long)]
        dump: bool,
    },
    /// Create or replace the schedule.
    Set {
        /// daily, weekly or monthly (or the DocSpace name or number).
        #[arg(long, default_value = "daily")]
        period: String,
        /// 0–23, the portal's local time.
        #[arg(long)]
        hour: i64,
        /// Weekly: 1–7 (Sunday = 1); monthly: 1–31.
        #[arg(long)]
        day: Option<i64>,
        /// How many scheduled backups to keep (1–30).
        #[arg(long, default_value_t = 1)]
        keep: i64,
        /// documents, local or datastore.
        #[arg(long, default_value = "datastore")]
        storage: String,
        #[arg(long)]
        folder_id: Option<String>,
        #[arg(long)]
        path: Option<String>,
        #[arg(long)]
        dump: bool,
    },
    /// Delete the schedule (its backups stay).
    Delete {
        #[arg(long)]
        dump: bool,
    },
}

fn period_of(name: &str) -> anyhow::Result<BackupPeriod> {
    let alias = match name.to_ascii_lowercase().as_str() {
        "daily" => "EveryDay",
        "weekly" => "EveryWeek",
        "monthly" => "EveryMonth",
        _ => name,
    };
    BackupPeriod::from_name(alias).with_context(|| format!("unknown period {name:?}"))
}

pub async fn run(remote: Remote, cmd: ScheduleCommand) -> anyhow::Result<()> {
    let c = remote.client()?;
    match cmd {
        ScheduleCommand::Show { dump } => {
            let s: Option<ScheduleDto> = c
                .call(
                    Method::GET,
                    &format!("/api/2.0/backup/getbackupschedule?Dump={dump}"),
                    None,
                )
                .await?;
            match (s, remote.json) {
                (Some(s), true) => println!("{}", serde_json::to_string(&s)?),
                (None, true) => println!("null"),
                (None, false) => println!("no schedule"),
                (Some(s), false) => {
                    println!(
                        "{} at {:02}:00{} -> {} {:?}, keep {}",
                        s.cron_params.period.name(),
                        s.cron_params.hour,
                        if s.cron_params.day > 0 {
                            format!(" (day {})", s.cron_params.day)
                        } else {
                            String::new()
                        },
                        s.storage_type.name(),
                        s.storage_params,
                        s.backups_stored.unwrap_or(1)
                    );
                    println!(
                        "next run: {}",
                        s.next_backup_time.format("%Y-%m-%d %H:%M:%S UTC")
                    );
                    if let (Some(e), Some(t)) = (&s.last_error, s.last_error_time) {
                        println!("last error ({}): {e}", t.format("%Y-%m-%d %H:%M:%S UTC"));
                    }
                }
            }
        }
        ScheduleCommand::Set {
            period,
            hour,
            day,
            keep,
            storage,
            folder_id,
            path,
            dump,
        } => {
            let mut params: Vec<Value> = Vec::new();
            if let Some(f) = folder_id {
                params.push(json!({"key": "folderId", "value": f}));
            }
            if let Some(p) = path {
                params.push(json!({"key": "filePath", "value": p}));
            }
            let storage = crate::backup_cmd::storage_of(&storage)?;
            let body = json!({
                "storageType": storage.value(), "storageParams": params, "backupsStored": keep,
                "cronParams": {"period": period_of(&period)?.value(), "hour": hour, "day": day}, "dump": dump
            });
            let _: Option<bool> = c
                .call(
                    Method::POST,
                    "/api/2.0/backup/createbackupschedule",
                    Some(&body),
                )
                .await?;
            println!(
                "{}",
                if remote.json {
                    "true"
                } else {
                    "schedule saved"
                }
            );
        }
        ScheduleCommand::Delete { dump } => {
            let _: Option<bool> = c
                .call(
                    Method::DELETE,
                    &format!("/api/2.0/backup/deletebackupschedule?Dump={dump}"),
                    None,
                )
                .await?;
            println!(
                "{}",
                if remote.json {
                    "true"
                } else {
                    "schedule deleted"
                }
            );
        }
    }
    Ok(())
}

/// `dsbackup prune [--dry-run] [--forget-missing]`: retention now, or what it would do and
/// why.
pub async fn prune(remote: Remote, dry_run: bool, forget_missing: bool) -> anyhow::Result<()> {
    let c = remote.client()?;
    let plan: Option<Value> = c
        .call(
            Method::POST,
            &format!("/api/2.0/backup/prune?dryRun={dry_run}&forgetMissing={forget_missing}"),
            None,
        )
        .await?;
    let plan = plan.unwrap_or(Value::Null);
    if remote.json {
        println!("{plan}");
        return Ok(());
    }
    let verb = if dry_run { "would" } else { "did" };
    let backups = plan["backups"].as_array().cloned().unwrap_or_default();
    let leftovers = plan["leftovers"].as_array().cloned().unwrap_or_default();
    for a in &backups {
        let what = match a["action"].as_str() {
            Some("delete") => "delete",
            Some("noteMissing") => "note missing",
            Some("clearMissing") => "clear missing",
            _ => "mark removed",
        };
        println!(
            "{verb} {what} {} {}: {}",
            a["id"].as_str().unwrap_or(""),
            a["fileName"].as_str().unwrap_or(""),
            a["reason"].as_str().unwrap_or("")
        );
    }
    for l in &leftovers {
        println!(
            "{verb} remove {}: {}",
            l["path"].as_str().unwrap_or(""),
            l["reason"].as_str().unwrap_or("")
        );
    }
    if backups.is_empty() && leftovers.is_empty() {
        println!("nothing to prune");
    }
    Ok(())
}
