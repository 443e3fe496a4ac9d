//! Retention, planned then executed (so a dry run is free):
//!
//! - DataStore backups expire 24 h after creation: archive deleted, then record removed.
//! - Scheduled backups beyond the schedule's `backupsStored` are pruned, newest kept;
//!   manual backups are never pruned and do not count. Scheduled records whose archive
//!   vanished are marked removed first.
//! - Leftovers of dead jobs go: partial archives (`.partial-*`, `pending-*`) older than an hour
//!   in the DataStore and Documents areas and in the directories backups were written to, and
//!   restore uploads older than seven days.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use dsbackup_core::{BackupRecord, CoreResult, DUMP_TENANT, PortalId};
use serde::Serialize;

use crate::backup::target;
use crate::state::AppState;

/// What happens to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionKind {
    /// Delete the archive, then mark the record removed.
    Delete,
    /// The archive is already gone: only mark the record removed.
    MarkRemoved,
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

fn older_than(path: &Path, secs: u64) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age.as_secs() >= secs)
}

fn leftovers_in(dir: &Path, out: &mut Vec<Leftover>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if (name.starts_with(".partial-") || name.starts_with("pending-"))
            && e.path().is_file()
            && older_than(&e.path(), 3600)
        {
            out.push(Leftover {
                path: e.path(),
                reason: "a partial archive of a job that did not finish".into(),
            });
        }
    }
}

/// Plans retention at `now` for `tenants` (every portal and the dumps when `None`).
///
/// Fails when the catalog cannot be read.
pub async fn plan(
    state: &AppState,
    now: DateTime<Utc>,
    tenants: Option<&[PortalId]>,
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
            if let Ok(Some(p)) = target::archive_path(state, r).await
                && let Some(d) = p.parent()
            {
                dirs.insert(d.to_path_buf());
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
        if let Some(s) = cat.schedule(*tenant).await? {
            let mut scheduled: Vec<&BackupRecord> = live
                .iter()
                .filter(|r| r.is_scheduled && !planned.contains(&r.id))
                .collect();
            let mut present = Vec::new();
            for r in scheduled.drain(..) {
                if target::archive_exists(state, r).await.unwrap_or(true) {
                    present.push(r);
                } else {
                    plan.backups.push(action(
                        ActionKind::MarkRemoved,
                        r,
                        "its archive is missing from storage".into(),
                    ));
                }
            }
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
        dirs.insert(target::datastore_dir(state, *tenant));
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
        leftovers_in(d, &mut plan.leftovers);
    }
    if tenants.is_none()
        && let Ok(rd) = std::fs::read_dir(state.backup_tmp())
    {
        for e in rd.flatten() {
            if older_than(&e.path(), 7 * 86_400) {
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

/// Carries a plan out: archives first, then records; failures are logged and skipped.
pub async fn execute(state: &AppState, plan: &Plan) {
    for a in &plan.backups {
        let Some(r) = &a.record else { continue };
        if a.action == ActionKind::Delete
            && let Err(e) = target::delete_archive(state, r).await
        {
            tracing::warn!(backup = %a.id, error = %e, "retention could not delete an archive");
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
        match std::fs::remove_file(&l.path) {
            Ok(()) => {
                tracing::info!(path = %l.path.display(), reason = %l.reason, "retention removed a leftover")
            }
            Err(e) => {
                tracing::warn!(path = %l.path.display(), error = %e, "retention could not remove a leftover")
            }
        }
    }
}
