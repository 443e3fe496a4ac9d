//! Running one restore: stage and verify the archive, read its catalog rows, swap, commit the
//! catalog, clean up — or undo everything and leave the portal exactly as it was.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use dsbackup_core::catalog::PortalContents;
use dsbackup_core::{ApiKey, CoreError, FileEntry, Folder, Portal, PortalStatus, User};
use dsbackup_engine::{Control, EngineError, read_archive};
use serde::de::DeserializeOwned;

use super::place::{PortalTarget, Stager};
use super::swap::{self, Journal, PortalSwaps, Swap};
use crate::backup::jobs::Job;
use crate::state::AppState;

/// A validated restore, ready to run.
#[derive(Debug)]
pub struct Spec {
    pub job: Arc<Job>,
    pub portals: Vec<Portal>,
    pub dump: bool,
    pub archive: PathBuf,
    pub expect_sha256: Option<String>,
    /// saas: the archive's hash must be one this portal recorded.
    pub saas_tenant: Option<i64>,
    pub notify: bool,
}

/// Runs the restore to its end; never leaves a portal Restoring.
pub async fn run(state: AppState, spec: Spec) {
    let job = spec.job.clone();
    job.set_running();
    let portals = spec.portals.clone();
    let notify = spec.notify;
    match execute(&state, spec).await {
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
}

fn rows<T: DeserializeOwned>(
    tables: &HashMap<String, Vec<u8>>,
    name: &str,
) -> Result<Vec<T>, String> {
    let Some(bytes) = tables.get(name) else {
        return Err(format!("the archive has no catalog/{name}"));
    };
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_slice(l).map_err(|e| format!("catalog/{name} line {}: {e}", i + 1))
        })
        .collect()
}

fn hidden_sibling(live: &std::path::Path, tag: &str) -> PathBuf {
    let name = live.file_name().and_then(|n| n.to_str()).unwrap_or("dir");
    live.with_file_name(format!(".{tag}-{name}"))
}

async fn execute(state: &AppState, spec: Spec) -> Result<String, String> {
    let job = spec.job.clone();
    let staging = state
        .config()
        .data_dir
        .join("staging")
        .join(job.id.to_string());
    let mut targets = Vec::new();
    for p in &spec.portals {
        let sources = state
            .config()
            .sources_of(&p.alias)
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    hidden_sibling(&s.path, &format!("dsbackup-restore-{}", job.id)),
                )
            })
            .collect();
        targets.push(PortalTarget {
            portal_id: p.id,
            prefix: if spec.dump {
                format!("portals/{}/", p.alias)
            } else {
                String::new()
            },
            documents: staging.join(p.id.to_string()).join("documents"),
            sources,
        });
    }

    // 1. Stage and verify in one streaming pass.
    let archive = spec.archive.clone();
    let expect = spec.expect_sha256.clone();
    let worker_job = job.clone();
    let dump = spec.dump;
    let staged = tokio::task::spawn_blocking(move || {
        let job = worker_job;
        let progress =
            |done: u64, all: u64| job.advance(5 + (done.saturating_mul(80) / all.max(1)) as i32);
        let control = Control::new(job.cancel_flag(), &progress);
        let mut stager = Stager::new(targets, dump);
        let file =
            std::fs::File::open(&archive).map_err(|e| format!("cannot open the archive: {e}"))?;
        let result = read_archive(
            std::io::BufReader::with_capacity(1 << 20, file),
            expect.as_deref(),
            &mut stager,
            &control,
        )
        .and_then(|report| stager.finish_dirs().map(|_| report));
        match result {
            Ok(report) => Ok((stager, report)),
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
    .map_err(|e| format!("restore worker: {e}"))??;
    let (stager, report) = staged;
    let cleanup = |s: &Stager| {
        s.remove_staging();
        let _ = std::fs::remove_dir_all(&staging);
    };

    if let Some(tenant) = spec.saas_tenant
        && !state
            .catalog()
            .backup_hash_known(tenant, &report.sha256)
            .await
            .map_err(|e| e.to_string())?
    {
        cleanup(&stager);
        return Err(
            "The backup was not found: in saas mode only archives this portal made can be restored"
                .into(),
        );
    }

    // 2. Catalog rows, checked against what was staged.
    let mut contents = Vec::new();
    for (t, st) in stager.targets.iter().zip(&stager.staged) {
        let parsed = (|| -> Result<PortalContents, String> {
            let portal: Vec<Portal> = rows(&st.tables, "portal.jsonl")?;
            let portal = portal
                .into_iter()
                .next()
                .ok_or("catalog/portal.jsonl is empty")?;
            let files: Vec<FileEntry> = rows(&st.tables, "files.jsonl")?;
            let folders: Vec<Folder> = rows(&st.tables, "folders.jsonl")?;
            for f in &files {
                let bytes = t
                    .documents
                    .join(f.folder_id.to_string())
                    .join(f.id.to_string());
                if !bytes.is_file() {
                    return Err(format!(
                        "file {} ({}) is listed but its content is missing",
                        f.id, f.title
                    ));
                }
            }
            for f in &folders {
                let _ = std::fs::create_dir_all(t.documents.join(f.id.to_string()));
            }
            Ok(PortalContents {
                time_zone: portal.time_zone,
                language: portal.language,
                owner_id: portal.owner_id,
                users: rows::<User>(&st.tables, "users.jsonl")?,
                folders,
                files,
                api_keys: rows::<ApiKey>(&st.tables, "api_keys.jsonl")?,
            })
        })();
        match parsed {
            Ok(c) => contents.push(c),
            Err(m) => {
                cleanup(&stager);
                return Err(format!("The backup is invalid: {m}"));
            }
        }
    }

    // 3. Journal, swap, commit.
    let mut journal = Journal {
        job: job.id,
        portals: Vec::new(),
        staging: vec![staging.clone()],
    };
    for (t, st) in stager.targets.iter().zip(&stager.staged) {
        let mut swaps = Vec::new();
        if st.documents {
            let live = state.portal_dir(t.portal_id).join("documents");
            swaps.push(Swap {
                had_live: live.exists(),
                old: hidden_sibling(&live, &format!("dsbackup-old-{}", job.id)),
                live,
                staged: t.documents.clone(),
            });
        }
        let alias = spec
            .portals
            .iter()
            .find(|p| p.id == t.portal_id)
            .map(|p| p.alias.clone())
            .unwrap_or_default();
        for src in state.config().sources_of(&alias) {
            if st.sources.contains(&src.name) {
                swaps.push(Swap {
                    had_live: src.path.exists(),
                    old: hidden_sibling(&src.path, &format!("dsbackup-old-{}", job.id)),
                    live: src.path.clone(),
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
    job.advance(90);
    let outcome: Result<(), CoreError> = async {
        swap::write_journal(state, &journal)?;
        let j = journal.clone();
        tokio::task::spawn_blocking(move || swap::apply(&j))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))??;
        crate::fault::delay_async("restore-swap").await;
        for (t, c) in stager.targets.iter().zip(contents) {
            state
                .catalog()
                .replace_portal_contents(t.portal_id, c, job.id)
                .await?;
        }
        Ok(())
    }
    .await;
    let rolled_back = swap::resolve(state, &journal)
        .await
        .map_err(|e| e.to_string())?;
    if let Err(e) = outcome {
        return Err(match e {
            CoreError::Conflict(m) => format!("The restore failed: {m}"),
            other => format!("The restore failed: {other}"),
        });
    }
    if !rolled_back.is_empty() {
        return Err("The restore failed and was undone".into());
    }
    let mut notes = vec![
        "Sessions were reset: members sign in again with the passwords and API keys of the backup"
            .to_string(),
    ];
    notes.extend(stager.warnings.iter().cloned());
    Ok(notes.join("; "))
}
