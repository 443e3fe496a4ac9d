//! Leftovers of jobs that did not finish: what counts as one, where they are looked for, and
//! removing them. Retention plans them with the rest (`retention::plan`); start-up sweeps them
//! once before serving ([`sweep_at_start`]).
//!
//! - Partial files: `.partial-*` (a storage writer that never committed), `pending-*` (a
//!   Documents backup not yet placed) and `.upload-*` (a file upload cut off), older than an
//!   hour. At start-up, those inside the data directory go whatever their age: it is locked and
//!   nothing of ours runs yet. Directories outside it (Local folders, and a `portals_dir` that
//!   other nodes share) keep the hour; the scheduler's first retention pass, right after
//!   start-up, takes them.
//! - Staging directories (`data_dir/staging/<job>`) of restores that are not running.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use dsbackup_core::CoreResult;

use super::retention::{self, Leftover, Plan};
use crate::Service;
use crate::backup::jobs::JobKey;

/// How old a partial file must be before retention takes it for dead.
pub const PARTIAL_AGE_SECS: u64 = 3600;

const PARTIAL_PREFIXES: [&str; 3] = [".partial-", "pending-", ".upload-"];

/// Whether `path` was last modified at least `secs` ago.
pub fn older_than(path: &Path, secs: u64) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age.as_secs() >= secs)
}

/// Adds the partial files directly in `dir` that are at least `min_age_secs` old.
pub fn partials_in(dir: &Path, min_age_secs: u64, out: &mut Vec<Leftover>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if PARTIAL_PREFIXES.iter().any(|p| name.starts_with(p))
            && e.file_type().is_ok_and(|t| t.is_file())
            && older_than(&e.path(), min_age_secs)
        {
            out.push(Leftover {
                path: e.path(),
                reason: "a partial file of a job that did not finish".into(),
            });
        }
    }
}

/// Adds the staging directories of restores that are not running (a failed restore's, or
/// the empty shell a finished one left).
///
/// Fails when the catalog cannot list the portals.
pub async fn staging(state: &Service, out: &mut Vec<Leftover>) -> CoreResult<()> {
    let root = state.config().data_dir.join("staging");
    let Ok(rd) = std::fs::read_dir(&root) else {
        return Ok(());
    };
    let mut running = BTreeSet::new();
    let keys = state
        .catalog()
        .portals()
        .await?
        .into_iter()
        .map(|p| JobKey::RestorePortal(p.id))
        .chain([JobKey::RestoreDump]);
    for key in keys {
        if let Some(job) = state.jobs().get(key)
            && !job.snapshot().is_completed()
        {
            running.insert(job.id.to_string());
        }
    }
    for e in rd.flatten() {
        if !running.contains(e.file_name().to_string_lossy().as_ref()) {
            out.push(Leftover {
                path: e.path(),
                reason: "the staging directory of a restore that is not running".into(),
            });
        }
    }
    Ok(())
}

/// The areas that hold partial files: DataStore archives and documents, in the data directory
/// or the portals directory.
fn data_dir_areas(state: &Service) -> Vec<PathBuf> {
    let data = &state.config().data_dir;
    let mut dirs = vec![data.join("instance").join("backups")];
    let Ok(portals) = std::fs::read_dir(state.config().portals_root()) else {
        return dirs;
    };
    for p in portals.flatten() {
        dirs.push(p.path().join("backups"));
        if let Ok(folders) = std::fs::read_dir(p.path().join("documents")) {
            dirs.extend(folders.flatten().map(|f| f.path()));
        }
    }
    dirs
}

/// Removes a leftover file, or a leftover directory with everything in it.
///
/// Fails when it cannot be removed.
pub fn remove(path: &Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path)?.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

/// Start-up: removes the partial files in the data directory whatever their age. Failures
/// are logged.
pub async fn sweep_at_start(state: &Service) {
    let mut plan = Plan::default();
    let portals = state.config().portals_root();
    for dir in data_dir_areas(state) {
        // Another node may be writing in a shared portals directory right now.
        let age = if dir.starts_with(&portals) && !portals.starts_with(&state.config().data_dir) {
            PARTIAL_AGE_SECS
        } else {
            0
        };
        partials_in(&dir, age, &mut plan.leftovers);
    }
    retention::execute(state, &plan).await;
}
