//! Running one backup job: export catalog rows, plan the portal's documents and sources, stream
//! the archive into its target, then record it. On failure or cancel nothing is recorded and no
//! partial archive stays behind (storage writers discard uncommitted data; a committed archive
//! whose job was canceled meanwhile is deleted again, with its record).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Duration, Utc};
use dsbackup_core::catalog::NewFile;
use dsbackup_core::{
    BackupRecord, DUMP_TENANT, Mode, ObjectWriter, Portal, PortalId, Storage, StorageKind,
};
use dsbackup_engine::manifest::PortalRef;
use dsbackup_engine::{Control, EngineError, Planner, WriteOptions};

use super::jobs::Job;
use super::target::Target;
use super::{export, link};
use crate::Service;

/// Everything a job needs, resolved and validated by the caller.
#[derive(Debug)]
pub struct Spec {
    pub job: Arc<Job>,
    /// One portal, or every portal for a dump.
    pub portals: Vec<Portal>,
    pub dump: bool,
    pub target: Target,
    pub params: BTreeMap<String, String>,
    pub scheduled: bool,
    pub paid: bool,
    /// `http://host` of the request, for links.
    pub base_url: String,
}

enum Failure {
    Canceled,
    Client(String),
    Internal(String),
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Canceled => Failure::Canceled,
            other => Failure::Client(other.to_string()),
        }
    }
}

impl From<dsbackup_core::CoreError> for Failure {
    fn from(e: dsbackup_core::CoreError) -> Self {
        Failure::Internal(e.to_string())
    }
}

/// Runs the job to its end; never panics the caller. Everything it logs, on any thread,
/// carries the job id and portal.
#[tracing::instrument(
    name = "backup",
    parent = None,
    skip_all,
    fields(job = %spec.job.id, portal = %crate::trace::portals(&spec.portals))
)]
pub async fn run(state: Service, spec: Spec) {
    let job = spec.job.clone();
    job.set_running();
    match execute(&state, spec).await {
        Ok(()) | Err(Failure::Canceled) => {}
        Err(Failure::Client(msg)) => {
            tracing::warn!(job = %job.id, error = %msg, "backup failed");
            job.fail(msg);
        }
        Err(Failure::Internal(msg)) => {
            tracing::error!(job = %job.id, error = %msg, "backup failed");
            job.fail("The backup failed because of an internal error; see the server log".into());
        }
    }
    super::durable::save(&state, &job).await;
}

/// `<alias>_yyyy-MM-dd_HH-mm-ss.tar.zst`: server local time in standalone, UTC in saas.
fn archive_name(state: &Service, alias: &str) -> String {
    let stamp = match state.config().mode {
        Mode::Standalone => chrono::Local::now().format("%Y-%m-%d_%H-%M-%S").to_string(),
        Mode::Saas => Utc::now().format("%Y-%m-%d_%H-%M-%S").to_string(),
    };
    format!("{alias}_{stamp}.tar.zst")
}

/// An object name not yet taken in `storage` (`name`, then `name` with `-2`, `-3`… before the
/// extension).
fn free_name(storage: &dyn Storage, name: &str) -> Result<String, Failure> {
    let (stem, ext) = name.split_once('.').unwrap_or((name, ""));
    for i in 1..1000 {
        let candidate = if i == 1 {
            name.to_string()
        } else {
            format!("{stem}-{i}.{ext}")
        };
        if storage.size(&candidate)?.is_none() {
            return Ok(candidate);
        }
    }
    Err(Failure::Client(
        "too many archives with the same name".into(),
    ))
}

/// Files of a portal that are earlier backup archives kept in Documents (marked, or named by a
/// live record): never backed up again.
async fn archive_file_ids(state: &Service, tenants: &[PortalId]) -> Result<HashSet<i64>, Failure> {
    let mut ids = HashSet::new();
    for t in tenants {
        for f in state.catalog().files_of(*t).await? {
            if f.is_backup {
                ids.insert(f.id);
            }
        }
    }
    for t in tenants.iter().copied().chain([DUMP_TENANT]) {
        for r in state.catalog().live_backups(t).await? {
            if r.storage == StorageKind::Documents
                && let Ok(id) = r.storage_path.parse()
            {
                ids.insert(id);
            }
        }
    }
    Ok(ids)
}

async fn execute(state: &Service, spec: Spec) -> Result<(), Failure> {
    let job = spec.job.clone();
    let tenants: Vec<PortalId> = spec.portals.iter().map(|p| p.id).collect();
    let skip_files = archive_file_ids(state, &tenants).await?;

    // Catalog rows and the trees to archive, gathered before the blocking work starts.
    let mut inline = Vec::new();
    let mut trees: Vec<(String, String, PathBuf, String)> = Vec::new();
    for p in &spec.portals {
        let prefix = if spec.dump {
            format!("portals/{}/", p.alias)
        } else {
            String::new()
        };
        let rows = export::portal_rows(state, p, &prefix, &skip_files).await?;
        inline.extend(rows);
        let docs = state.portal_dir(p.id).join("documents");
        if docs.is_dir() {
            trees.push((
                "documents".into(),
                "documents".into(),
                docs,
                format!("{prefix}documents"),
            ));
        }
        for src in state.config().sources_of(&p.alias) {
            trees.push((
                src.name.clone(),
                "directory".into(),
                src.path.clone(),
                format!("{prefix}sources/{}", src.name),
            ));
        }
    }
    if spec.dump {
        let all = state.catalog().portals().await?;
        inline.push(("instance/portals.jsonl".into(), export::jsonl(&all)?));
    }

    let alias = if spec.dump {
        "workspace".to_string()
    } else {
        spec.portals[0].alias.clone()
    };
    let title = archive_name(state, &alias);
    let storage = spec
        .target
        .storage(state)
        .map_err(|e| Failure::Client(e.to_string()))?;
    let object = match spec.target {
        Target::Documents { .. } => format!("pending-{}", job.id),
        _ => free_name(&storage, &title)?,
    };
    let opts = WriteOptions {
        level: state.config().zstd_level,
        // One thread compresses on the worker itself (no zstd job queue to drain on cancel).
        threads: match state.config().backup_threads {
            0 => std::thread::available_parallelism().map_or(0, |n| n.get() as u32),
            1 => 0,
            n => n,
        },
        portal: (!spec.dump).then(|| PortalRef {
            id: spec.portals[0].id,
            alias: alias.clone(),
        }),
        dump: spec.dump,
        ..WriteOptions::default()
    };

    let worker_job = job.clone();
    let worker_storage = storage.clone();
    let worker_object = object.clone();
    let (summary, warnings) = crate::trace::spawn_blocking(move || -> Result<_, Failure> {
        let job = worker_job;
        let progress =
            |done: u64, total: u64| job.advance((done.saturating_mul(98) / total.max(1)) as i32);
        let control = Control::new(job.cancel_flag(), &progress);
        let mut planner = Planner::new();
        for (path, bytes) in inline {
            planner.add_inline(&path, bytes)?;
        }
        for (name, kind, root, prefix) in &trees {
            if kind == "documents" {
                let keep = |p: &std::path::Path| {
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    !n.starts_with('.')
                        && !n.starts_with("pending-")
                        && !n
                            .parse::<i64>()
                            .is_ok_and(|id| skip_files.contains(&id) && p.is_file())
                };
                planner.add_tree_filtered(name, kind, root, prefix, &keep)?;
            } else {
                planner.add_tree(name, kind, root, prefix)?;
            }
        }
        let started = std::time::Instant::now();
        let plan = planner.finish(&control)?;
        crate::fault::delay("backup-write");
        let planned = started.elapsed();
        let writer: Box<dyn ObjectWriter> = worker_storage.create(&worker_object)?;
        let (writer, summary) = dsbackup_engine::write(&plan, writer, &opts, &control)?;
        control.check()?;
        let written = started.elapsed();
        writer.commit()?;
        tracing::info!(
            job = %job.id,
            plan_ms = planned.as_millis() as u64,
            write_ms = (written - planned).as_millis() as u64,
            commit_ms = (started.elapsed() - written).as_millis() as u64,
            "archive written"
        );
        Ok((summary, plan.warnings))
    })
    .await
    .map_err(|e| Failure::Internal(format!("backup worker: {e}")))??;

    if job.is_canceled() {
        let _ = storage.delete(&object);
        return Err(Failure::Canceled);
    }

    // Place the archive and build its record.
    let created_on = Utc::now();
    let (storage_path, link) = match &spec.target {
        Target::Documents { folder } => {
            let file = state
                .catalog()
                .create_file(NewFile {
                    portal_id: folder.portal_id,
                    folder_id: folder.id,
                    title: title.clone(),
                    size: summary.size as i64,
                    created_by: spec.portals[0].owner_id.unwrap_or_default(),
                    is_backup: true,
                })
                .await;
            let file = match file {
                Ok(f) => f,
                Err(e) => {
                    let _ = storage.delete(&object);
                    return Err(e.into());
                }
            };
            let from = storage.root().join(&object);
            let to = state.file_path(folder.portal_id, folder.id, file.id);
            if let Err(e) = tokio::fs::rename(&from, &to).await {
                let _ = storage.delete(&object);
                let _ = state.catalog().delete_file(file.id).await;
                return Err(Failure::Internal(format!("placing {}: {e}", to.display())));
            }
            (
                file.id.to_string(),
                format!(
                    "{}/filehandler.ashx?action=download&fileid={}",
                    spec.base_url, file.id
                ),
            )
        }
        Target::Local { dir } => (dir.join(&object).display().to_string(), String::new()),
        Target::DataStore { .. } => {
            let expires = (created_on + Duration::hours(24)).timestamp();
            (
                object.clone(),
                link::url(&spec.base_url, state.instance_key(), job.id, expires),
            )
        }
    };
    let record = BackupRecord {
        id: job.id,
        tenant_id: if spec.dump {
            DUMP_TENANT
        } else {
            spec.portals[0].id
        },
        is_scheduled: spec.scheduled,
        // The archive's own name: for Local and DataStore the object name (which may carry a
        // `-2` suffix when the second was taken), for Documents the file's title.
        name: if matches!(spec.target, Target::Documents { .. }) {
            title
        } else {
            object.clone()
        },
        hash: summary.sha256.clone(),
        size: summary.size as i64,
        storage: spec.target.kind(),
        storage_base_path: spec.target.base_path(),
        storage_path,
        storage_params: spec.params.clone(),
        created_on,
        expires_on: (spec.target.kind() == StorageKind::DataStore)
            .then(|| created_on + Duration::hours(24)),
        removed: false,
        paid: spec.paid,
        missing: None,
    };
    if let Err(e) = state.catalog().insert_backup(record.clone()).await {
        let _ = super::target::delete_archive(state, &record).await;
        return Err(e.into());
    }
    let warning = (!warnings.is_empty()).then(|| {
        let shown: Vec<&str> = warnings.iter().take(10).map(String::as_str).collect();
        let more = warnings.len().saturating_sub(shown.len());
        format!(
            "{} item(s) could not be read and were left out: {}{}",
            warnings.len(),
            shown.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )
    });
    if !job.finish(link, warning) {
        // Canceled between recording and finishing: the cancel wins.
        let _ = state.catalog().erase_backup(record.id).await;
        let _ = super::target::delete_archive(state, &record).await;
        return Err(Failure::Canceled);
    }
    tracing::info!(job = %job.id, bytes = summary.size, entries = summary.entries, "backup completed");
    Ok(())
}
