//! Retention, planned then executed (so a dry run is free):
//!
//! - DataStore backups expire 24 h after creation: archive deleted, then record removed.
//! - Scheduled backups beyond the schedule's `backupsStored` are pruned, newest kept;
//!   manual backups are never pruned and do not count, nor do records whose archive is not
//!   found.
//! - A record whose archive is not found (deleted, or its storage offline) is not given up at
//!   once: each pass notes one more check, and the record is marked removed only once it was
//!   missed on `missing_archive_checks` checks spanning `missing_archive_secs`, or when the
//!   caller asks to forget missing archives. An archive that is found again clears the note.
//! - Leftovers of dead jobs go (see `leftovers.rs`): partial files older than an hour in the
//!   DataStore and Documents areas and in the directories backups were written to, staging
//!   directories of restores that are not running, and restore uploads older than seven days.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use dsbackup_core::{BackupRecord, CoreResult, DUMP_TENANT, MissingArchive, PortalId};
use serde::Serialize;

use super::leftovers;
use crate::Service;
use crate::archives;

/// What happens to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionKind {
    /// Delete the archive, then mark the record removed.
    Delete,
    /// The archive is confirmed gone: only mark the record removed.
    MarkRemoved,
    /// The archive is not found: note one more check, keep the record.
    NoteMissing,
    /// The archive is found again: forget the record's missing note.
    ClearMissing,
}

/// How a plan treats records whose archive is not found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Mark them removed now instead of waiting for the configured checks and time.
    pub forget_missing: bool,
}

/// One planned step.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub action: ActionKind,
    pub id: uuid::Uuid,
    pub file_name: String,
    pub tenant_id: PortalId,
    pub reason: String,
    #[serde(skip)]
    pub record: Option<BackupRecord>,
}

/// A leftover file to remove.
#[derive(Debug, Clone, Serialize)]
pub struct Leftover {
    pub path: PathBuf,
    pub reason: String,
}

/// Everything retention would do now.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub backups: Vec<Action>,
    pub leftovers: Vec<Leftover>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.backups.is_empty() && self.leftovers.is_empty()
    }
}

/// What to do about a record whose archive this pass did not find.
fn missing_action(state: &Service, r: &BackupRecord, now: DateTime<Utc>, opts: Options) -> Action {
    let cfg = state.config();
    let seen = MissingArchive::observed(r.missing, now);
    let span = chrono::Duration::seconds(cfg.missing_archive_secs.min(i64::MAX as u64) as i64);
    let since = seen.since.format("%Y-%m-%d %H:%M:%S UTC");
    if opts.forget_missing {
        action(
            ActionKind::MarkRemoved,
            r,
            format!(
                "its archive is not found (since {since}) and missing archives are forgotten on request"
            ),
        )
    } else if seen.confirmed(cfg.missing_archive_checks, span, now) {
        action(
            ActionKind::MarkRemoved,
            r,
            format!(
                "its archive was not found on {} checks since {since}",
                seen.checks
            ),
        )
    } else {
        action(
            ActionKind::NoteMissing,
            r,
            format!(
                "its archive is not found (check {} since {since}); the record is kept until {} checks over {} s miss it",
                seen.checks, cfg.missing_archive_checks, cfg.missing_archive_secs
            ),
        )
    }
}

/// Plans retention at `now` for `tenants` (every portal and the dumps when `None`).
///
/// Fails when the catalog cannot be read.
pub async fn plan(
    state: &Service,
    now: DateTime<Utc>,
    tenants: Option<&[PortalId]>,
    opts: Options,
) -> CoreResult<Plan> {
    let cat = state.catalog();
    let all: Vec<PortalId> = match tenants {
        Some(t) => t.to_vec(),
        None => cat
            .portals()
            .await?
            .iter()
            .map(|p| p.id)
            .chain([DUMP_TENANT])
            .collect(),
    };
    let mut plan = Plan::default();
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for tenant in &all {
        let live = cat.live_backups(*tenant).await?;
        let mut planned: BTreeSet<uuid::Uuid> = BTreeSet::new();
        for r in &live {
            if let Ok(Some(d)) = archives::local_dir(state, r).await {
                dirs.insert(d);
            }
            if let Some(exp) = r.expires_on
                && exp <= now
            {
                planned.insert(r.id);
                plan.backups.push(action(
                    ActionKind::Delete,
                    r,
                    format!(
                        "expired on {} (DataStore backups live 24 h)",
                        exp.format("%Y-%m-%d %H:%M:%S UTC")
                    ),
                ));
            }
        }
        let mut present = Vec::new();
        for r in live.iter().filter(|r| !planned.contains(&r.id)) {
            // A catalog error while looking counts as found: nothing is given up on it.
            if archives::exists(state, r).await.unwrap_or(true) {
                if r.missing.is_some() {
                    plan.backups.push(action(
                        ActionKind::ClearMissing,
                        r,
                        "its archive is found again".into(),
                    ));
                }
                present.push(r);
            } else {
                plan.backups.push(missing_action(state, r, now, opts));
            }
        }
        if let Some(s) = cat.schedule(*tenant).await? {
            present.retain(|r| r.is_scheduled);
            present.sort_by(|a, b| b.created_on.cmp(&a.created_on).then(b.id.cmp(&a.id)));
            for r in present.into_iter().skip(s.backups_stored as usize) {
                plan.backups.push(action(
                    ActionKind::Delete,
                    r,
                    format!(
                        "beyond backupsStored = {} (the newest scheduled backups are kept)",
                        s.backups_stored
                    ),
                ));
            }
        }
        dirs.insert(archives::datastore_dir(state, *tenant));
        if *tenant != DUMP_TENANT {
            for f in cat.folders_of(*tenant).await? {
                dirs.insert(state.folder_dir(*tenant, f.id));
            }
        }
    }
    for s in cat.schedules().await? {
        if let Some(dir) = s.storage_params.get("filePath") {
            dirs.insert(PathBuf::from(dir));
        }
    }
    for d in &dirs {
        leftovers::partials_in(d, leftovers::PARTIAL_AGE_SECS, &mut plan.leftovers);
    }
    leftovers::staging(state, &mut plan.leftovers).await?;
    if tenants.is_none()
        && let Ok(rd) = std::fs::read_dir(state.backup_tmp())
    {
        for e in rd.flatten() {
            if leftovers::older_than(&e.path(), 7 * 86_400) {
                plan.leftovers.push(Leftover {
                    path: e.path(),
                    reason: "a restore upload older than 7 days".into(),
                });
            }
        }
    }
    Ok(plan)
}

fn action(kind: ActionKind, r: &BackupRecord, reason: String) -> Action {
    Action {
        action: kind,
        id: r.id,
        file_name: r.name.clone(),
        tenant_id: r.tenant_id,
        reason,
        record: Some(r.clone()),
    }
}

/// Notes or clears a missing observation; returns whether the step is done.
async fn observe(state: &Service, a: &Action) -> bool {
    let cat = state.catalog();
    let result = match a.action {
        ActionKind::NoteMissing => cat.note_backup_missing(a.id, Utc::now()).await.map(|seen| {
            let checks = seen.map_or(0, |m| m.checks);
            if checks == 1 {
                tracing::warn!(backup = %a.id, reason = %a.reason, "a backup's archive is not found");
            } else {
                tracing::info!(backup = %a.id, checks, "a backup's archive is still not found");
            }
        }),
        ActionKind::ClearMissing => cat.clear_backup_missing(a.id).await.map(|_| {
            tracing::info!(backup = %a.id, "a backup's archive is found again");
        }),
        _ => return false,
    };
    if let Err(e) = result {
        tracing::warn!(backup = %a.id, error = %e, "retention could not update a record");
    }
    true
}

/// Carries a plan out: archives first, then records; failures are logged and skipped. A
/// record about to be given up for a missing archive is looked at once more first.
pub async fn execute(state: &Service, plan: &Plan) {
    for a in &plan.backups {
        let Some(r) = &a.record else { continue };
        if observe(state, a).await {
            continue;
        }
        if a.action == ActionKind::Delete
            && let Err(e) = archives::delete(state, r).await
        {
            tracing::warn!(backup = %a.id, error = %e, "retention could not delete an archive");
            continue;
        }
        if a.action == ActionKind::MarkRemoved && archives::exists(state, r).await.unwrap_or(true) {
            let _ = state.catalog().clear_backup_missing(a.id).await;
            tracing::info!(backup = %a.id, "a backup's archive is found again; the record stays");
            continue;
        }
        match state.catalog().mark_backup_removed(a.id).await {
            Ok(_) => {
                tracing::info!(backup = %a.id, reason = %a.reason, "retention removed a backup")
            }
            Err(e) => {
                tracing::warn!(backup = %a.id, error = %e, "retention could not update a record")
            }
        }
    }
    for l in &plan.leftovers {
        match leftovers::remove(&l.path) {
            Ok(()) => {
                tracing::info!(path = %l.path.display(), reason = %l.reason, "retention removed a leftover")
            }
            Err(e) => {
                tracing::warn!(path = %l.path.display(), error = %e, "retention could not remove a leftover")
            }
        }
    }
}
