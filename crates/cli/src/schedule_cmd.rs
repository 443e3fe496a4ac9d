//! `dsbackup schedule show|set|delete` and `dsbackup prune [--dry-run] [--forget-missing]`.

use anyhow::Context;
use clap::Subcommand;
use dsbackup_api_types::backup::{BackupPeriod, ScheduleDto};
use reqwest::Method;
use serde_json::{Value, json};

use crate::backup_cmd::Remote;
use crate::words;

/// `in 3 h 20 min`, `in 2 days`, or `due now`.
fn until(d: chrono::Duration) -> String {
    let mins = d.num_minutes();
    match mins {
        ..=0 => "due now".into(),
        1..=59 => format!("in {mins} min"),
        60..=2879 => format!("in {} h {} min", mins / 60, mins % 60),
        _ => format!("in {} days", mins / 1440),
    }
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Show the schedule, in words, with its next run.
    Show {
        /// The whole-instance dump's schedule instead of the portal's.
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
        /// Weekly: a day's name (monday, tue, …) or 1–7 with Sunday = 1; monthly: 1–31.
        #[arg(long)]
        day: Option<String>,
        /// How many scheduled backups to keep (1–30).
        #[arg(long, default_value_t = 1)]
        keep: i64,
        /// documents, local or datastore (or the DocSpace name or number).
        #[arg(long, default_value = "datastore")]
        storage: String,
        /// Documents: the folder or room id.
        #[arg(long)]
        folder_id: Option<String>,
        /// Local: the server directory (inside the server's local_roots; it must exist).
        #[arg(long)]
        path: Option<String>,
        /// Schedule whole-instance dumps instead of the portal's backups.
        #[arg(long)]
        dump: bool,
    },
    /// Delete the schedule (its backups stay).
    Delete {
        /// The whole-instance dump's schedule instead of the portal's.
        #[arg(long)]
        dump: bool,
    },
}

/// A schedule in words: `weekly on Monday at 03:00 (portal time) to local, folder … keeping 4`.
fn describe(s: &ScheduleDto) -> String {
    let c = &s.cron_params;
    let when = match c.period {
        BackupPeriod::EveryDay => "daily".to_string(),
        BackupPeriod::EveryWeek => format!(
            "weekly on {}",
            words::weekday(c.day).unwrap_or("an unknown day")
        ),
        BackupPeriod::EveryMonth => format!("monthly on day {}", c.day),
    };
    let path = s.storage_params.get("filePath");
    let params: Vec<String> = s
        .storage_params
        .iter()
        // The server echoes a Local path as folderId too, as upstream does.
        .filter(|(k, v)| !(k.as_str() == "folderId" && Some(*v) == path))
        .map(|(k, v)| match k.as_str() {
            "filePath" => format!("in {v}"),
            "folderId" => format!("folder {v}"),
            _ => format!("{k}={v}"),
        })
        .collect();
    let keep = s.backups_stored.unwrap_or(1);
    format!(
        "{when} at {:02}:00 (portal time), to {}{}{}, keeping {keep} backup{}",
        c.hour,
        words::storage(s.storage_type),
        if params.is_empty() { "" } else { " " },
        params.join(", "),
        if keep == 1 { "" } else { "s" }
    )
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
                    println!("{}", describe(&s));
                    let next = s.next_backup_time;
                    println!(
                        "next run: {} ({})",
                        next.format("%Y-%m-%d %H:%M UTC"),
                        until(next - chrono::Utc::now())
                    );
                    if s.last_backup_time.timestamp() > 0 {
                        println!(
                            "last run: {}",
                            s.last_backup_time.format("%Y-%m-%d %H:%M UTC")
                        );
                    }
                    if let (Some(e), Some(t)) = (&s.last_error, s.last_error_time) {
                        println!("last run FAILED at {}: {e}", t.format("%Y-%m-%d %H:%M UTC"));
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
            let day = day.as_deref().map(words::parse_day).transpose()?;
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
