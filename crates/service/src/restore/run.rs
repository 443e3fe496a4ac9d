//! Running one restore: authorise the archive, stage and verify it, check its catalog rows
//! against what the server knows, swap, commit the catalog, clean up — or undo everything and
//! leave the portal exactly as it was.
//!
//! The trust boundary: in saas mode the archive's SHA-256 must be one this portal recorded
//! before a single entry is read; the engine then checks every manifest entry against the
//! fixed layout (places, kinds, links inside their source) and the stager holds the declared
//! sizes to each portal's restore quota, all before anything is written to staging.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dsbackup_core::{ArchiveLocation, CoreError, DUMP_TENANT, FileEntry, Portal, PortalStatus};
use dsbackup_engine::{Control, EngineError, read_archive};
use dsbackup_storage::BlockingReader;
use uuid::Uuid;

use super::Source;
use super::contents::{self, Live};
use super::databases;
use super::place::{PortalTarget, Stager};
use super::swap::{self, Journal, PortalSwaps, Swap};
use crate::Service;
use crate::backup::jobs::Job;
use crate::crypt::{self, CryptError, Identities};
use crate::metrics::Outcome;

/// A validated restore, ready to run.
#[derive(Debug)]
pub struct Spec {
    pub job: Arc<Job>,
    pub portals: Vec<Portal>,
    pub dump: bool,
    /// The archive and what the caller knows of it.
    pub source: Source,
    /// saas: the archive's hash must be one this portal recorded.
    pub saas_tenant: Option<i64>,
    pub notify: bool,
    /// The member who runs the restore.
    pub caller: Uuid,
}

/// Runs the restore to its end; never leaves a portal Restoring. Everything it logs, on any
/// thread, carries the job id and portal.
#[tracing::instrument(
    name = "restore",
    parent = None,
    skip_all,
    fields(job = %spec.job.id, portal = %crate::trace::portals(&spec.portals))
)]
pub async fn run(state: Service, spec: Spec) {
    let job = spec.job.clone();
    job.set_running();
    let portals = spec.portals.clone();
    let notify = spec.notify;
    let upload = spec.source.upload.then(|| spec.source.archive.clone());
    let storage = spec.source.storage;
    let started = std::time::Instant::now();
    let outcome = execute(&state, spec).await;
    let result = if outcome.is_ok() {
        Outcome::Completed
    } else {
        Outcome::Failed
    };
    crate::metrics::restore_ended(storage, result, started.elapsed());
    if let Some(a) = upload
        && let Err(e) = a.backend.delete(&a.key).await
    {
        tracing::warn!(job = %job.id, error = %e, "cannot remove the uploaded archive");
    }
    match outcome {
        Ok(warning) => {
            job.finish(String::new(), Some(warning));
            tracing::info!(job = %job.id, "restore completed");
            crate::notify::restore_done(&state, &portals, notify, true).await;
        }
        Err(msg) => {
            for p in &portals {
                let _ = state
                    .catalog()
                    .set_portal_status(p.id, PortalStatus::Active)
                    .await;
            }
            tracing::warn!(job = %job.id, error = %msg, "restore failed; the portal is unchanged");
            job.fail(msg);
            crate::notify::restore_done(&state, &portals, notify, false).await;
        }
    }
    crate::backup::durable::save(&state, &job).await;
}

fn hidden_sibling(live: &Path, tag: &str) -> PathBuf {
    let name = live.file_name().and_then(|n| n.to_str()).unwrap_or("dir");
    live.with_file_name(format!(".{tag}-{name}"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    crate::trace::spawn_blocking(f)
        .await
        .map_err(|e| format!("restore worker: {e}"))?
}

/// saas: the archive must be one this portal made, decided from its bytes before any entry
/// is read. Returns the hash the reader must then see.
async fn authorise(state: &Service, spec: &Spec) -> Result<Option<String>, String> {
    let Some(tenant) = spec.saas_tenant else {
        return Ok(spec.source.expect_sha256.clone());
    };
    let archive = spec.source.archive.clone();
    let runtime = tokio::runtime::Handle::current();
    let sha256 = blocking(move || {
        let file = BlockingReader::new(&runtime, archive.reader(), &archive.key, None)
            .map_err(|e| format!("cannot open the archive: {e}"))?;
        let mut hashed = dsbackup_engine::hashing::HashingReader::new(file);
        std::io::copy(&mut hashed, &mut std::io::sink())
            .map_err(|e| format!("cannot read the archive: {e}"))?;
        hashed
            .finish()
            .map(|(sha, _)| sha)
            .map_err(|e| format!("cannot read the archive: {e}"))
    })
    .await?;
    let known = state
        .catalog()
        .backup_hash_known(tenant, &sha256)
        .await
        .map_err(|e| e.to_string())?;
    if !known {
        return Err(
            "The backup was not found: in saas mode only archives this portal made can be restored"
                .into(),
        );
    }
    Ok(Some(sha256))
}

fn targets(state: &Service, spec: &Spec, staging: &Path) -> Vec<PortalTarget> {
    let job = spec.job.id;
    spec.portals
        .iter()
        .map(|p| {
            let sources = state
                .config()
                .sources_of(&p.alias)
                .iter()
                .filter_map(|s| {
                    let staged = hidden_sibling(s.directory()?, &format!("dsbackup-restore-{job}"));
                    Some((s.name.clone(), staged))
                })
                .collect();
            let root = staging.join(p.id.to_string());
            let databases = state
                .config()
                .sources_of(&p.alias)
                .iter()
                .filter(|s| s.database().is_some())
                .map(|s| (s.name.clone(), root.join("databases").join(&s.name)))
                .collect();
            PortalTarget {
                databases,
                portal_id: p.id,
                alias: p.alias.clone(),
                documents: root.join("documents"),
                tables: root.join("catalog"),
                sources,
                quota: state.config().restore_quota_of(&p.alias),
            }
        })
        .collect()
}

/// Opens the archive, decrypting an age-encrypted one with `identity_files` (`crypt.rs`):
/// its header is unwrapped here, before anything is staged, and its stored bytes must hash
/// to `expect`.
fn open_archive<R: std::io::Read>(
    input: R,
    expect: Option<&str>,
    identity_files: &[PathBuf],
) -> Result<crypt::Opened<R>, String> {
    crypt::open(input, expect, || Identities::load(identity_files)).map_err(|e| match e {
        CryptError::NoIdentity => {
            "The archive is encrypted to recipients this server has no identity for".into()
        }
        other => format!("The archive cannot be read: {other}"),
    })
}

/// Stages and verifies the archive in one streaming pass.
async fn stage(
    spec: &Spec,
    targets: Vec<PortalTarget>,
    instance_databases: HashMap<String, PathBuf>,
    expect: Option<String>,
    identity_files: Vec<PathBuf>,
) -> Result<Stager, String> {
    let job = spec.job.clone();
    let archive = spec.source.archive.clone();
    let dump = spec.dump;
    let runtime = tokio::runtime::Handle::current();
    blocking(move || {
        let progress =
            |done: u64, all: u64| job.advance(5 + (done.saturating_mul(80) / all.max(1)) as i32);
        let control = Control::new(job.cancel_flag(), &progress);
        let file = BlockingReader::new(&runtime, archive.reader(), &archive.key, None)
            .map_err(|e| format!("cannot open the archive: {e}"))?;
        let input = open_archive(
            std::io::BufReader::with_capacity(1 << 20, file),
            expect.as_deref(),
            &identity_files,
        )?;
        let expect = input.engine_expect(expect.as_deref());
        let mut stager = Stager::new(targets, dump);
        stager.instance_databases = instance_databases;
        let result = read_archive(input, expect, Some(dump), &mut stager, &control)
            .and_then(|_| stager.finish_dirs());
        match result {
            Ok(()) => Ok(stager),
            Err(e) => {
                stager.remove_staging();
                Err(match e {
                    EngineError::Corrupt(m) => format!("The backup is invalid: {m}"),
                    other => format!("The restore failed: {other}"),
                })
            }
        }
    })
    .await
}

/// What the server knows of a portal before its restore.
async fn live(state: &Service, portal: &Portal, caller: Uuid) -> Result<Live, CoreError> {
    let cat = state.catalog();
    let owner = match portal.owner_id {
        Some(id) => cat.user(id).await?,
        None => None,
    }
    .ok_or_else(|| CoreError::Internal(format!("portal {} has no Owner", portal.alias)))?;
    let active_keys = cat
        .api_keys_of_portal(portal.id)
        .await?
        .into_iter()
        .filter(|k| k.is_active)
        .map(|k| (k.id, k.key_hash))
        .collect();
    let mut backup_files = Vec::new();
    for tenant in [portal.id, DUMP_TENANT] {
        for r in cat.live_backups(tenant).await? {
            let ArchiveLocation::Documents { file, .. } = r.location else {
                continue;
            };
            if let Some(f) = cat.file_in(portal.id, file).await? {
                let bytes = state.file_path(portal.id, f.folder_id, f.id);
                backup_files.push((f, bytes));
            }
        }
    }
    Ok(Live {
        by_owner: owner.id == caller,
        owner,
        active_keys,
        backup_files,
    })
}

/// Puts the live backup archives of Documents into the staged documents (hard links, or
/// copies across file systems), each in its folder when the restored portal has it, else in
/// the rooms root.
fn carry_backups(
    live: &mut Live,
    documents: &Path,
    checked: &contents::Checked,
) -> Result<(), String> {
    for (f, bytes) in &mut live.backup_files {
        if !checked.folders.contains(&f.folder_id) {
            f.folder_id = checked.rooms_root;
        }
        let dir = documents.join(f.folder_id.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| format!("staging a kept backup: {e}"))?;
        let to = dir.join(f.id.to_string());
        if std::fs::hard_link(&*bytes, &to).is_err() {
            std::fs::copy(&*bytes, &to).map_err(|e| format!("keeping backup {}: {e}", f.id))?;
        }
        *f = FileEntry {
            is_backup: true,
            ..f.clone()
        };
    }
    Ok(())
}

/// Checks the staged rows of every portal and prepares them for the catalog.
async fn prepare(
    state: &Service,
    spec: &Spec,
    stager: &mut Stager,
) -> Result<Vec<(i64, Live)>, String> {
    let mut out = Vec::new();
    for (i, p) in spec.portals.iter().enumerate() {
        let t = stager.targets[i].clone();
        for src in state.config().sources_of(&p.alias) {
            let st = &stager.staged[i];
            if st.archived_sources.contains(&src.name) && !st.sources.contains(&src.name) {
                return Err(format!(
                    "The backup is invalid: source {:?} is in the archive but was not restored",
                    src.name
                ));
            }
        }
        if !stager.staged[i].documents {
            std::fs::create_dir_all(&t.documents)
                .map_err(|e| format!("The restore failed: staging documents: {e}"))?;
            stager.staged[i].documents = true;
        }
        let mut facts = live(state, p, spec.caller)
            .await
            .map_err(|e| format!("The restore failed: {e}"))?;
        let staged = std::mem::take(&mut stager.staged[i]);
        let (staged, facts) = blocking(move || {
            let checked = contents::check(&staged, &t.documents, &facts)
                .map_err(|e| format!("The backup is invalid: {e}"))?;
            carry_backups(&mut facts, &t.documents, &checked)?;
            Ok((staged, facts))
        })
        .await?;
        stager.staged[i] = staged;
        out.push((p.id, facts));
    }
    Ok(out)
}

fn journal(state: &Service, spec: &Spec, stager: &Stager, staging: &Path) -> Journal {
    let job = spec.job.id;
    let mut journal = Journal {
        job,
        portals: Vec::new(),
        staging: vec![staging.to_path_buf()],
        databases: Vec::new(),
    };
    for ((t, st), p) in stager.targets.iter().zip(&stager.staged).zip(&spec.portals) {
        let mut swaps = Vec::new();
        let live = state.portal_dir(t.portal_id).join("documents");
        swaps.push(Swap {
            had_live: live.exists(),
            old: hidden_sibling(&live, &format!("dsbackup-old-{job}")),
            live,
            staged: t.documents.clone(),
        });
        for src in state.config().sources_of(&p.alias) {
            if let Some(path) = src.directory()
                && st.sources.contains(&src.name)
            {
                swaps.push(Swap {
                    had_live: path.exists(),
                    old: hidden_sibling(path, &format!("dsbackup-old-{job}")),
                    live: path.to_path_buf(),
                    staged: t.sources[&src.name].clone(),
                });
                journal.staging.push(t.sources[&src.name].clone());
            }
        }
        journal.portals.push(PortalSwaps {
            portal_id: t.portal_id,
            swaps,
        });
    }
    journal
}

async fn execute(state: &Service, spec: Spec) -> Result<String, String> {
    let job = spec.job.clone();
    let staging = state
        .config()
        .data_dir
        .join("staging")
        .join(job.id.to_string());
    let cleanup = |s: &mut Stager| {
        s.remove_staging();
        let _ = std::fs::remove_dir_all(&staging);
    };

    if swap::unresolved(state) {
        return Err(
            "The restore failed: an earlier restore's database switch is unresolved; restart the server once its databases answer"
                .into(),
        );
    }

    // 1. Authorise, then stage and verify in one streaming pass.
    let started = std::time::Instant::now();
    let expect = authorise(state, &spec).await?;
    let targets = targets(state, &spec, &staging);
    let instance_databases = if spec.dump {
        state
            .config()
            .instance
            .sources
            .iter()
            .map(|s| {
                let dir = staging.join("instance").join("databases").join(&s.name);
                (s.name.clone(), dir)
            })
            .collect()
    } else {
        HashMap::new()
    };
    let aliases = spec.portals.iter().map(|p| p.alias.as_str());
    let identity_files = state.config().identity_files_of(aliases);
    let mut stager = match stage(&spec, targets, instance_databases, expect, identity_files).await {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };

    // 2. Catalog rows, checked against what the server knows and what was staged.
    let prepared = match prepare(state, &spec, &mut stager).await {
        Ok(p) => p,
        Err(e) => {
            cleanup(&mut stager);
            return Err(e);
        }
    };
    let mut contents = Vec::new();
    for (i, (portal, facts)) in prepared.iter().enumerate() {
        match contents::stream(&stager.staged[i], facts) {
            Ok(c) => contents.push((*portal, c)),
            Err(e) => {
                cleanup(&mut stager);
                return Err(format!("The backup is invalid: {e}"));
            }
        };
    }

    // 3. Databases: each staged dump loaded beside its live database and checked; a failure
    // drops every loaded copy and leaves the live databases as they are.
    job.advance(86);
    let svc = state.clone();
    let staged_dbs = stager.databases.clone();
    let ids: Vec<(i64, String)> = spec
        .portals
        .iter()
        .map(|p| (p.id, p.alias.clone()))
        .collect();
    let loaded = match blocking(move || databases::load(svc.config(), &staged_dbs, &ids)).await {
        Ok(l) => l,
        Err(e) => {
            cleanup(&mut stager);
            return Err(e);
        }
    };

    // 4. Journal (directories and databases), swap directories, switch databases, commit.
    let mut journal = journal(state, &spec, &stager, &staging);
    journal.databases = loaded.iter().map(|l| l.switch.clone()).collect();
    job.advance(90);
    let stage_ms = started.elapsed().as_millis() as u64;
    let mut sync_ms = 0;
    let outcome: Result<(), CoreError> = async {
        let j = journal.clone();
        let durable = crate::trace::spawn_blocking(move || swap::persist_staged(&j))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))
            .and_then(|r| r);
        sync_ms = started.elapsed().as_millis() as u64 - stage_ms;
        if let Err(e) = durable.and_then(|()| swap::write_journal(state, &journal)) {
            databases::discard(loaded);
            return Err(e);
        }
        let j = journal.clone();
        crate::trace::spawn_blocking(move || swap::apply(&j))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))??;
        crate::fault::delay_async("restore-databases").await;
        crate::trace::spawn_blocking(move || databases::switch(loaded))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
            .map_err(CoreError::Internal)?;
        crate::fault::delay_async("restore-swap").await;
        state.catalog().replace_contents(contents, job.id).await?;
        Ok(())
    }
    .await;
    let rolled_back = swap::resolve(state, &journal)
        .await
        .map_err(|e| e.to_string())?;
    if let Err(e) = outcome {
        return Err(match e {
            CoreError::Invalid(m) => format!("The backup is invalid: {m}"),
            other => format!("The restore failed: {other}"),
        });
    }
    if !rolled_back.is_empty() {
        return Err("The restore failed and was undone".into());
    }
    let swap_ms = started.elapsed().as_millis() as u64 - stage_ms - sync_ms;
    tracing::info!(job = %job.id, stage_ms, sync_ms, swap_ms, "restore made live");
    let mut notes = vec![
        "Sessions were reset: members sign in again with the passwords and API keys of the backup"
            .to_string(),
    ];
    notes.extend(stager.warnings.iter().cloned());
    Ok(notes.join("; "))
}
