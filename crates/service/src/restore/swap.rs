//! Making a staged restore live, atomically as far as anyone can observe, and undoing it after
//! a failure or a crash.
//!
//! A journal (`data_dir/restore-journal.json`, fsynced) lists every directory swap before any
//! happens. Each swap renames the live directory aside and the staged one into place; then one
//! catalog transaction replaces the portal's rows and records the job as the portal's restore
//! marker — the commit point. On start-up, a journal left behind is resolved by that marker:
//! committed portals keep the new state (the old directories are removed), others get their
//! old directories back. Either way the portals end Active.
//!
//! Databases switch with the directories: the journal also lists every database switch
//! (`databases.rs`: names only) before the first rename, the databases are switched right after
//! the directory swap and before the catalog commit, and resolving completes them (committed)
//! or swaps the previous databases back (not committed), so files and databases of a portal
//! are never half restored. A database that cannot be resolved (its server is down) keeps the
//! journal: the next start tries again, and no other restore starts meanwhile.
//!
//! Durability: the staged trees are written without an fsync per file, so before the journal
//! names them they are flushed with one `syncfs` per file system ([`persist_staged`]), and the
//! directories holding the swapped paths are fsynced after the renames ([`apply`]), before the
//! catalog commit. Otherwise a power loss after a restore reported complete could leave files
//! whose data never reached the disk (ext4 does not flush new files renamed in with their
//! directory), or a committed catalog beside a swap the disk never saw.
//!
//! The replaced directories of committed portals are removed after the restore is reported
//! complete, in the background: their paths go to `data_dir/restore-trash-<job>.json`
//! (fsynced) before the journal is removed, and a trash list left by a crash is emptied at the
//! next start. Until then they sit in hidden siblings nobody reads (`.dsbackup-old-<job>-…`).

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use dsbackup_core::{CoreError, CoreResult, DUMP_TENANT, JobKind, PortalId, PortalStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::databases::{self, DbSwitch};
use super::place::make_writable;
use crate::Service;

/// One directory to replace.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Swap {
    pub live: PathBuf,
    pub staged: PathBuf,
    pub old: PathBuf,
    /// Whether `live` existed before the swap.
    pub had_live: bool,
}

/// The swaps of one portal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortalSwaps {
    pub portal_id: PortalId,
    pub swaps: Vec<Swap>,
}

/// The journal of a restore in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Journal {
    pub job: Uuid,
    pub portals: Vec<PortalSwaps>,
    /// Staging roots to remove at the end, whatever happens.
    pub staging: Vec<PathBuf>,
    /// Database switches, resolved with their portal's commit.
    #[serde(default)]
    pub databases: Vec<DbSwitch>,
}

fn journal_path(state: &Service) -> PathBuf {
    state.config().data_dir.join("restore-journal.json")
}

fn internal(what: &str, path: &Path, e: std::io::Error) -> CoreError {
    CoreError::Internal(format!("{what} {}: {e}", path.display()))
}

fn remove_tree(path: &Path) {
    if fs::symlink_metadata(path).is_ok() {
        let _ = make_writable(path);
        let _ = fs::remove_dir_all(path);
    }
}

/// Writes the journal durably.
pub fn write_journal(state: &Service, j: &Journal) -> CoreResult<()> {
    write_durably(state, &journal_path(state), j)
}

/// Writes `value` as JSON at `path` atomically and durably (temporary file, fsync, rename,
/// directory fsync).
fn write_durably<T: Serialize>(state: &Service, path: &Path, value: &T) -> CoreResult<()> {
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_vec_pretty(value).map_err(|e| CoreError::Internal(e.to_string()))?;
    let mut f = fs::File::create(&tmp).map_err(|e| internal("writing", &tmp, e))?;
    f.write_all(&text)
        .and_then(|_| f.sync_all())
        .map_err(|e| internal("writing", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| internal("writing", path, e))?;
    if let Ok(d) = fs::File::open(&state.config().data_dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Whether the journal of an earlier restore is still there (a database switch could not be
/// resolved yet): no restore may start until a restart resolves it.
pub fn unresolved(state: &Service) -> bool {
    journal_path(state).exists()
}

/// Flushes the staged trees to disk: one `syncfs` for each file system they are on.
pub fn persist_staged(j: &Journal) -> CoreResult<()> {
    let mut seen = HashSet::new();
    for s in j.portals.iter().flat_map(|p| &p.swaps) {
        let dir = fs::File::open(&s.staged).map_err(|e| internal("opening", &s.staged, e))?;
        let dev = dir
            .metadata()
            .map_err(|e| internal("reading", &s.staged, e))?
            .dev();
        if seen.insert(dev) {
            rustix::fs::syncfs(&dir).map_err(|e| internal("syncing", &s.staged, e.into()))?;
        }
    }
    Ok(())
}

/// Renames the live directories aside and the staged ones into place, then fsyncs the
/// directories that hold them.
pub fn apply(j: &Journal) -> CoreResult<()> {
    let mut parents = Vec::new();
    for p in &j.portals {
        for s in &p.swaps {
            if s.had_live {
                fs::rename(&s.live, &s.old).map_err(|e| internal("moving aside", &s.live, e))?;
            }
            if let Some(parent) = s.live.parent() {
                fs::create_dir_all(parent).map_err(|e| internal("creating", parent, e))?;
                parents.push(parent.to_path_buf());
            }
            if let Some(parent) = s.old.parent().filter(|_| s.had_live) {
                parents.push(parent.to_path_buf());
            }
            fs::rename(&s.staged, &s.live).map_err(|e| internal("placing", &s.staged, e))?;
        }
    }
    parents.sort();
    parents.dedup();
    for dir in parents {
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| internal("syncing", &dir, e))?;
    }
    Ok(())
}

/// Puts a portal's old directories back (whatever part of the swap happened).
fn roll_back(p: &PortalSwaps) {
    for s in p.swaps.iter().rev() {
        if s.had_live {
            if fs::symlink_metadata(&s.old).is_ok() {
                if fs::symlink_metadata(&s.live).is_ok() {
                    let _ = fs::rename(&s.live, &s.staged);
                }
                let _ = fs::rename(&s.old, &s.live);
            }
        } else if fs::symlink_metadata(&s.live).is_ok() && fs::symlink_metadata(&s.staged).is_err()
        {
            let _ = fs::rename(&s.live, &s.staged);
        }
        remove_tree(&s.staged);
    }
}

/// After a portal's catalog step committed: removes what is left of its staging (the
/// replaced directories go to the trash).
fn roll_forward(p: &PortalSwaps) {
    for s in &p.swaps {
        remove_tree(&s.staged);
    }
}

fn trash_path(state: &Service, job: Uuid) -> PathBuf {
    state
        .config()
        .data_dir
        .join(format!("restore-trash-{job}.json"))
}

/// Removes the trees a trash list names, then the list.
fn empty_trash(list: &Path, trees: &[PathBuf]) {
    for t in trees {
        remove_tree(t);
    }
    let _ = fs::remove_file(list);
}

/// Lists `trees` durably, then removes them in the background (after the restore is reported
/// complete); a crash meanwhile leaves the list for [`recover`]. When the list cannot be
/// written they are removed here and now.
fn discard_later(state: &Service, job: Uuid, trees: Vec<PathBuf>) {
    if trees.is_empty() {
        return;
    }
    let list = trash_path(state, job);
    if let Err(e) = write_durably(state, &list, &trees) {
        tracing::warn!(job = %job, error = %e, "no trash list; removing the replaced directories now");
        empty_trash(&list, &trees);
        return;
    }
    crate::trace::spawn_blocking(move || {
        crate::fault::delay("restore-trash");
        let started = std::time::Instant::now();
        empty_trash(&list, &trees);
        tracing::info!(job = %job, ms = started.elapsed().as_millis() as u64, "replaced directories removed");
    });
}

/// Empties the trash lists a crash left behind.
fn recover_trash(state: &Service) {
    let Ok(rd) = fs::read_dir(&state.config().data_dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with("restore-trash-") && name.ends_with(".json")) {
            continue;
        }
        match fs::read(e.path()).map(|t| serde_json::from_slice::<Vec<PathBuf>>(&t)) {
            Ok(Ok(trees)) => {
                tracing::warn!(
                    trees = trees.len(),
                    "removing directories an interrupted restore replaced"
                );
                empty_trash(&e.path(), &trees);
            }
            _ => tracing::error!(
                "unreadable restore trash list left in place; see {}",
                e.path().display()
            ),
        }
    }
}

/// Ends a restore: for each portal, keeps the new state if its catalog step committed
/// (marker = job) or puts the old one back; removes staging and the journal; sets the portals
/// Active. Returns the portals that were rolled back.
pub async fn resolve(state: &Service, j: &Journal) -> CoreResult<Vec<PortalId>> {
    let mut rolled_back = Vec::new();
    let mut committed = Vec::new();
    for p in &j.portals {
        if state.catalog().restore_marker(p.portal_id).await? == Some(j.job) {
            committed.push(p.portal_id);
        }
    }
    let all_committed = !j.portals.is_empty() && committed.len() == j.portals.len();
    let svc = state.clone();
    let switches = j.databases.clone();
    let forward: Vec<bool> = switches
        .iter()
        .map(|s| {
            s.portal_id
                .map_or(all_committed, |id| committed.contains(&id))
        })
        .collect();
    let db_errors = crate::trace::spawn_blocking(move || {
        switches
            .iter()
            .zip(forward)
            .filter_map(|(s, fwd)| databases::resolve(svc.config(), s, fwd).err())
            .collect::<Vec<String>>()
    })
    .await
    .map_err(|e| CoreError::Internal(format!("restore cleanup: {e}")))?;
    let mut trash = Vec::new();
    for p in &j.portals {
        let committed = committed.contains(&p.portal_id);
        if committed {
            trash.extend(p.swaps.iter().map(|s| s.old.clone()));
        }
        let p2 = p.clone();
        crate::trace::spawn_blocking(move || {
            if committed {
                roll_forward(&p2)
            } else {
                roll_back(&p2)
            }
        })
        .await
        .map_err(|e| CoreError::Internal(format!("restore cleanup: {e}")))?;
        if !committed {
            rolled_back.push(p.portal_id);
        }
        if let Err(e) = state
            .catalog()
            .set_portal_status(p.portal_id, PortalStatus::Active)
            .await
        {
            tracing::warn!(portal = p.portal_id, error = %e, "could not reactivate portal");
        }
    }
    for root in &j.staging {
        remove_tree(root);
    }
    if !db_errors.is_empty() {
        for e in &db_errors {
            tracing::error!(job = %j.job, error = %e, "a database switch could not be resolved; the restore journal is kept");
        }
        return Err(CoreError::Internal(format!(
            "databases could not be resolved (the journal is kept and resolved at the next start): {}",
            db_errors.join("; ")
        )));
    }
    discard_later(state, j.job, trash);
    let _ = fs::remove_file(journal_path(state));
    Ok(rolled_back)
}

/// Whether the newest restore covering `portal` (its own or a whole-instance one) ran on
/// another node: that node's journal decides how it ends, at its restart, and the portal stays
/// Restoring (gated on every node) until then.
async fn restoring_elsewhere(state: &Service, portal: PortalId) -> CoreResult<bool> {
    let me = &state.config().node_id;
    let mut newest: Option<dsbackup_core::JobRecord> = None;
    for tenant in [portal, DUMP_TENANT] {
        if let Some(j) = state.catalog().last_job(JobKind::Restore, tenant).await?
            && newest.as_ref().is_none_or(|n| j.started_on > n.started_on)
        {
            newest = Some(j);
        }
    }
    Ok(newest.is_some_and(|j| &j.node != me))
}

/// At start-up: finishes or undoes a restore a crash interrupted, removes staging leftovers,
/// and reactivates portals left Restoring by this node.
pub async fn recover(state: &Service) -> CoreResult<()> {
    let svc = state.clone();
    crate::trace::spawn_blocking(move || recover_trash(&svc))
        .await
        .map_err(|e| CoreError::Internal(format!("emptying the restore trash: {e}")))?;
    let path = journal_path(state);
    if let Ok(text) = fs::read(&path) {
        match serde_json::from_slice::<Journal>(&text) {
            Ok(j) => {
                let rolled = resolve(state, &j).await?;
                tracing::warn!(job = %j.job, rolled_back = ?rolled, "an interrupted restore was resolved at start-up");
            }
            Err(e) => {
                tracing::error!(error = %e, "unreadable restore journal left in place; see {}", path.display());
                return Err(CoreError::Internal(format!(
                    "unreadable restore journal {}",
                    path.display()
                )));
            }
        }
    }
    remove_tree(&state.config().data_dir.join("staging"));
    let svc = state.clone();
    crate::trace::spawn_blocking(move || databases::sweep(svc.config()))
        .await
        .map_err(|e| CoreError::Internal(format!("sweeping staged databases: {e}")))?;
    for src in state.config().portals.iter().flat_map(|p| &p.sources) {
        if let Some(parent) = src.directory().and_then(|d| d.parent())
            && let Ok(rd) = fs::read_dir(parent)
        {
            for e in rd.flatten() {
                if e.file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(".dsbackup-restore-"))
                {
                    remove_tree(&e.path());
                }
            }
        }
    }
    for p in state.catalog().portals().await? {
        if p.status == PortalStatus::Restoring && !restoring_elsewhere(state, p.id).await? {
            state
                .catalog()
                .set_portal_status(p.id, PortalStatus::Active)
                .await?;
            tracing::warn!(
                portal = p.id,
                "portal left Restoring by a crash is Active again, unchanged"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn journal(staged: PathBuf, live: PathBuf) -> Journal {
        Journal {
            job: Uuid::nil(),
            portals: vec![PortalSwaps {
                portal_id: 1,
                swaps: vec![Swap {
                    old: live.with_extension("old"),
                    live,
                    staged,
                    had_live: true,
                }],
            }],
            staging: Vec::new(),
            databases: Vec::new(),
        }
    }

    /// A staged tree that is not there fails the flush (the restore stops before its
    /// journal); one that is there is flushed, and the swap then puts it in place.
    #[test]
    fn staged_trees_are_flushed_before_they_are_swapped_in() {
        let dir = tempfile::tempdir().unwrap();
        let (staged, live) = (dir.path().join("staged"), dir.path().join("live"));
        let j = journal(staged.clone(), live.clone());
        let err = persist_staged(&j).unwrap_err();
        assert!(err.to_string().contains("staged"), "{err}");

        fs::create_dir(&staged).unwrap();
        fs::write(staged.join("file"), b"new").unwrap();
        fs::create_dir(&live).unwrap();
        fs::write(live.join("file"), b"old").unwrap();
        persist_staged(&j).unwrap();
        apply(&j).unwrap();
        assert_eq!(fs::read(live.join("file")).unwrap(), b"new");
        assert_eq!(
            fs::read(live.with_extension("old").join("file")).unwrap(),
            b"old"
        );
        assert!(!staged.exists());
    }
}
