//! Running one backup job, in small steps: gather what goes in (`gather.rs`), plan and
//! stream the archive into the target's backend (atomic: nothing is visible until it is
//! complete and durable), place it (a Documents archive becomes a file of its folder), record
//! it. On failure or cancel nothing is recorded and no partial archive stays behind: an
//! uncommitted put leaves nothing, and a committed archive whose job was canceled meanwhile
//! is deleted again, with its record.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use dsbackup_core::catalog::NewFile;
use dsbackup_core::storage::WriteBackend;
use dsbackup_core::{ArchiveLocation, BackupRecord, DUMP_TENANT, Mode, Portal, StorageKind};
use dsbackup_engine::manifest::PortalRef;
use dsbackup_engine::{ArchiveSummary, Control, EngineError, WriteOptions};
use dsbackup_storage::LocalBackend;

use super::gather::{self, Contents};
use super::jobs::Job;
use super::link;
use super::out::Dest;
use super::target::Target;
use crate::crypt::{self, Recipients};
use crate::metrics::Outcome;
use crate::{Service, ServiceError, archives};

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

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        Failure::Internal(e.chain())
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
    let (storage, scheduled) = (spec.target.kind(), spec.scheduled);
    let started = std::time::Instant::now();
    let outcome = execute(&state, spec).await;
    let (result, bytes) = match &outcome {
        Ok(bytes) => (Outcome::Completed, Some(*bytes)),
        Err(Failure::Canceled) => (Outcome::Canceled, None),
        Err(_) => (Outcome::Failed, None),
    };
    crate::metrics::backup_ended(storage, scheduled, result, started.elapsed(), bytes);
    match outcome {
        Ok(_) | Err(Failure::Canceled) => {}
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

/// `<alias>_yyyy-MM-dd_HH-mm-ss.tar.zst` (`.tar.zst.age` when encrypted): server local time
/// in standalone, UTC in saas.
fn archive_name(state: &Service, alias: &str, encrypted: bool) -> String {
    let stamp = match state.config().mode {
        Mode::Standalone => chrono::Local::now().format("%Y-%m-%d_%H-%M-%S").to_string(),
        Mode::Saas => Utc::now().format("%Y-%m-%d_%H-%M-%S").to_string(),
    };
    let age = if encrypted { ".age" } else { "" };
    format!("{alias}_{stamp}.tar.zst{age}")
}

/// A key not yet taken in `backend` (`name`, then `name` with `-2`, `-3`… before the
/// extension).
async fn free_name(backend: &dyn WriteBackend, name: &str) -> Result<String, Failure> {
    let (stem, ext) = name.split_once('.').unwrap_or((name, ""));
    for i in 1..1000 {
        let candidate = if i == 1 {
            name.to_string()
        } else {
            format!("{stem}-{i}.{ext}")
        };
        // The store's own refusal (credentials, an unreachable endpoint) is what the client
        // needs; the backend's messages name the storage and never a secret.
        let taken = backend
            .stat(&candidate)
            .await
            .map_err(|e| Failure::Client(format!("The archive could not be stored: {e}")))?;
        if taken.is_none() {
            return Ok(candidate);
        }
    }
    Err(Failure::Client(
        "too many archives with the same name".into(),
    ))
}

/// In the background, aborts what earlier backups of `alias` left unfinished on the remote
/// store (S3 multipart uploads an outage kept open): one backup per portal (or dump) runs at a
/// time, so any such upload other than `key`'s is dead. A failure is only logged.
fn sweep_unfinished(backend: Arc<dyn WriteBackend>, alias: &str, key: &str) {
    let (prefix, key) = (format!("{alias}_"), key.to_string());
    tokio::spawn(async move {
        match backend.abort_unfinished(&prefix, &key).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(storage = %backend.describe(), aborted = n,
                "aborted multipart uploads earlier backups left unfinished"),
            Err(e) => tracing::warn!(storage = %backend.describe(), error = %e,
                "could not look for uploads earlier backups left unfinished"),
        }
    });
}

fn write_options(state: &Service, spec: &Spec, alias: &str) -> WriteOptions {
    WriteOptions {
        level: state.config().zstd_level,
        // One thread compresses on the worker itself (no zstd job queue to drain on cancel).
        threads: match state.config().backup_threads {
            0 => std::thread::available_parallelism().map_or(0, |n| n.get() as u32),
            1 => 0,
            n => n,
        },
        portal: (!spec.dump).then(|| PortalRef {
            id: spec.portals[0].id,
            alias: alias.to_string(),
        }),
        dump: spec.dump,
        format_version: state.config().archive_format,
        spill_dir: Some(state.backup_tmp()),
        ..WriteOptions::default()
    }
}

/// Plans the archive and streams it to `dest`, on a blocking thread,
/// encrypted to `encrypt` when given (`crypt.rs`: the summary's hash and size are then of the
/// stored ciphertext). Returns what was written and the entries that could not be read.
async fn write_archive(
    job: Arc<Job>,
    contents: Contents,
    dest: Dest,
    opts: WriteOptions,
    encrypt: Option<Recipients>,
    storage: dsbackup_core::StorageKind,
) -> Result<(ArchiveSummary, Vec<String>), Failure> {
    let runtime = tokio::runtime::Handle::current();
    crate::trace::spawn_blocking(move || -> Result<_, Failure> {
        let progress =
            |done: u64, total: u64| job.advance((done.saturating_mul(98) / total.max(1)) as i32);
        let control = Control::new(job.cancel_flag(), &progress);
        let started = std::time::Instant::now();
        if let Some(dir) = &opts.spill_dir {
            crate::datadir::create_private_dir(dir)
                .map_err(|e| Failure::Internal(format!("{}: {e}", dir.display())))?;
        }
        let plan = gather::plan(
            contents,
            opts.format_version,
            opts.spill_dir.as_deref(),
            &control,
        )?;
        crate::fault::delay("backup-write");
        let planned = started.elapsed();
        let stored =
            |e: std::io::Error| Failure::Client(format!("The archive could not be stored: {e}"));
        let (writer, summary) = match &encrypt {
            None => {
                let writer = dest.open(&runtime)?;
                match dsbackup_engine::write(&plan, writer, &opts, &control) {
                    // A parent that is not what its record says: nothing of it is kept (the
                    // put is dropped), and the archive is written again from the sources.
                    Err(EngineError::Parent(why)) => {
                        tracing::warn!(job = %job.id, error = %why,
                            "the parent archive could not be used; writing a full backup");
                        let writer = dest.open(&runtime)?;
                        let opts = WriteOptions {
                            parent: None,
                            ..opts.clone()
                        };
                        let written = dsbackup_engine::write(&plan, writer, &opts, &control)?;
                        crate::metrics::backup_parent(storage, 0, true);
                        written
                    }
                    Ok(written) => {
                        if opts.parent.is_some() {
                            crate::metrics::backup_parent(storage, written.1.reuse.bytes, false);
                        }
                        written
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Some(to) => {
                let writer = dest.open(&runtime)?;
                let sealed = crypt::Encrypting::new(writer, to).map_err(stored)?;
                let (sealed, plain) = dsbackup_engine::write(&plan, sealed, &opts, &control)?;
                let (writer, sha256, size) = sealed.finish().map_err(stored)?;
                (
                    writer,
                    ArchiveSummary {
                        sha256,
                        size,
                        ..plain
                    },
                )
            }
        };
        if let Some(note) = &summary.reuse.note {
            tracing::info!(job = %job.id, note = %note, "the parent archive was not used");
        }
        control.check()?;
        let written = started.elapsed();
        // The storage's own failure (a full disk, a lost connection) is what the client needs.
        writer
            .commit()
            .map_err(|e| Failure::Client(format!("The archive could not be stored: {e}")))?;
        tracing::info!(
            job = %job.id,
            plan_ms = planned.as_millis() as u64,
            write_ms = (written - planned).as_millis() as u64,
            commit_ms = (started.elapsed() - written).as_millis() as u64,
            reused_frames = summary.reuse.frames,
            reused_bytes = summary.reuse.bytes,
            reused_entries = summary.reuse.entries,
            "archive written"
        );
        let mut warnings = plan.warnings;
        warnings.extend(summary.warnings.iter().cloned());
        Ok((summary, warnings))
    })
    .await
    .map_err(|e| Failure::Internal(format!("backup worker: {e}")))?
}

/// Places a written archive: a Documents archive becomes a file of its folder (hidden from
/// members); returns where it is and its download link.
async fn place(
    state: &Service,
    spec: &Spec,
    key: &str,
    title: &str,
    size: u64,
) -> Result<(ArchiveLocation, String), Failure> {
    let job = spec.job.id;
    match &spec.target {
        Target::Documents { folder } => {
            let file = state
                .catalog()
                .create_file(NewFile {
                    portal_id: folder.portal_id,
                    folder_id: folder.id,
                    title: title.to_string(),
                    size: size as i64,
                    created_by: spec.portals[0].owner_id.unwrap_or_default(),
                    is_backup: true,
                })
                .await?;
            if let Err(e) = archives::place_document(state, folder, key, file.id).await {
                let _ = state.catalog().delete_file(file.id).await;
                return Err(e.into());
            }
            let link = format!(
                "{}/filehandler.ashx?action=download&fileid={}",
                spec.base_url, file.id
            );
            Ok((spec.target.location(key, file.id), link))
        }
        Target::Local { .. } => Ok((spec.target.location(key, 0), String::new())),
        Target::Remote { backend, .. } => {
            let expires = Utc::now() + Duration::hours(24);
            // A presigned link where the store signs its own; else the server's signed one.
            let link = match backend.presign(key, expires).await {
                Ok(Some(url)) => url,
                _ => link::url(
                    &spec.base_url,
                    state.instance_key(),
                    job,
                    expires.timestamp(),
                ),
            };
            Ok((spec.target.location(key, 0), link))
        }
        Target::DataStore { .. } => {
            let expires = (Utc::now() + Duration::hours(24)).timestamp();
            let link = link::url(&spec.base_url, state.instance_key(), job, expires);
            Ok((spec.target.location(key, 0), link))
        }
    }
}

/// The history record of a placed archive.
fn record(
    spec: &Spec,
    location: &ArchiveLocation,
    name: String,
    summary: &ArchiveSummary,
    created_on: DateTime<Utc>,
) -> BackupRecord {
    let tenant_id = if spec.dump {
        DUMP_TENANT
    } else {
        spec.portals[0].id
    };
    BackupRecord {
        id: spec.job.id,
        tenant_id,
        is_scheduled: spec.scheduled,
        name,
        hash: summary.sha256.clone(),
        size: summary.size as i64,
        location: location.clone(),
        storage_params: spec.params.clone(),
        created_on,
        expires_on: (location.kind() == StorageKind::DataStore)
            .then(|| created_on + Duration::hours(24)),
        removed: false,
        paid: spec.paid,
        missing: None,
    }
}

/// The job's warning: the entries that could not be read (the first ten, and a count).
fn unread_warning(warnings: &[String]) -> Option<String> {
    if warnings.is_empty() {
        return None;
    }
    let shown: Vec<&str> = warnings.iter().take(10).map(String::as_str).collect();
    let more = warnings.len().saturating_sub(shown.len());
    Some(format!(
        "{} item(s) could not be read and were left out: {}{}",
        warnings.len(),
        shown.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    ))
}

/// Makes the archive and its record; the archive's size.
async fn execute(state: &Service, spec: Spec) -> Result<u64, Failure> {
    let job = spec.job.clone();
    let contents = gather::gather(state, &spec.portals, spec.dump).await?;
    let alias = if spec.dump {
        "workspace".to_string()
    } else {
        spec.portals[0].alias.clone()
    };
    // Archives leaving the machine go encrypted when recipients are configured or asked for.
    let portal = (!spec.dump).then_some(alias.as_str());
    let encrypt = crypt::recipients_for(state.config(), portal, &spec.target, &spec.params)
        .map_err(|e| Failure::Client(e.to_string()))?;
    let title = archive_name(state, &alias, encrypt.is_some());
    let backend = spec
        .target
        .backend(state)
        .map_err(|e| Failure::Client(e.to_string()))?;
    let key = match spec.target {
        Target::Documents { .. } => format!("pending-{}", job.id),
        _ => free_name(backend.as_ref(), &title).await?,
    };
    if matches!(spec.target, Target::Remote { .. }) {
        sweep_unfinished(backend.clone(), &alias, &key);
    }
    let mut opts = write_options(state, &spec, &alias);
    if encrypt.is_none() && opts.format_version == dsbackup_engine::header::FORMAT_VERSION_2 {
        opts.parent = super::parent::find(state, &spec).await;
    }
    let dest = Dest {
        backend: backend.clone(),
        local: spec.target.dir(state).map(LocalBackend::existing),
        key: key.clone(),
    };
    let (summary, warnings) = write_archive(
        job.clone(),
        contents,
        dest,
        opts,
        encrypt,
        spec.target.kind(),
    )
    .await?;
    if job.is_canceled() {
        let _ = backend.delete(&key).await;
        return Err(Failure::Canceled);
    }
    let created_on = Utc::now();
    let (location, link) = match place(state, &spec, &key, &title, summary.size).await {
        Ok(placed) => placed,
        Err(e) => {
            let _ = backend.delete(&key).await;
            return Err(e);
        }
    };
    // The archive's own name: for Local and DataStore the key (which may carry a `-2`
    // suffix when the second was taken), for Documents the file's title.
    let name = if matches!(spec.target, Target::Documents { .. }) {
        title
    } else {
        key
    };
    let mut record = record(&spec, &location, name, &summary, created_on);
    // Credentials sent inline are kept sealed (`secrets.rs`); readers open them.
    record.storage_params = state.sealer().seal_params(&record.storage_params);
    let warning = unread_warning(&warnings);
    if job.is_canceled() {
        let _ = archives::delete(state, &record).await;
        return Err(Failure::Canceled);
    }
    // The catalog decides between this completion and a cancel from any node: the job is
    // completed and its record written in one step, or neither.
    let done = super::durable::row(
        &job,
        job.completed_view(&link, warning.as_deref()),
        &state.config().node_id,
    );
    match state.catalog().complete_backup(&done, record.clone()).await {
        Ok(true) => job.complete(link, warning),
        Ok(false) => {
            // Canceled or failed meanwhile by another node: show what the catalog holds.
            let _ = archives::delete(state, &record).await;
            super::lease::follow(state, &job).await;
            return Err(Failure::Canceled);
        }
        Err(e) => {
            let _ = archives::delete(state, &record).await;
            return Err(e.into());
        }
    }
    tracing::info!(job = %job.id, bytes = summary.size, entries = summary.entries, "backup completed");
    Ok(summary.size)
}
