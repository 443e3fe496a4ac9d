//! The parent a backup copies unchanged entries' frames from (`dsbackup_engine::reuse`): the
//! portal's (or the dump's) newest live record on the same kind of storage, unencrypted and not
//! noted missing. The catalog's record is what the parent is checked against: its size and
//! SHA-256, which every byte read from it must match before the new archive is kept. A parent
//! on a server directory is read from its file, whose blocks the new archive may share.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;

use dsbackup_core::storage::ReadBackend;
use dsbackup_core::{BackupRecord, DUMP_TENANT};
use dsbackup_engine::ParentArchive;
use dsbackup_storage::{BlockingReader, LocalBackend};
use tokio::runtime::Handle;

use super::run::Spec;
use crate::{Service, archives};

/// A recorded archive read from a blocking thread: straight from its file when it is on a
/// server directory (one read per frame, no hop through the async runtime), else through its
/// backend.
#[derive(Debug)]
struct Stored {
    backend: Arc<dyn ReadBackend>,
    key: String,
    /// The server directory and key, for an archive on one.
    local: Option<(LocalBackend, String)>,
    size: u64,
    sha256: String,
    runtime: Handle,
}

impl ParentArchive for Stored {
    fn size(&self) -> u64 {
        self.size
    }

    fn sha256(&self) -> &str {
        &self.sha256
    }

    fn open(&self, range: Range<u64>) -> io::Result<Box<dyn Read + Send>> {
        if let Some((dir, key)) = &self.local {
            let file = dir
                .read_blocking(key, range)
                .map_err(|e| io::Error::other(e.to_string()))?;
            return Ok(Box::new(file));
        }
        let reader =
            BlockingReader::new(&self.runtime, self.backend.clone(), &self.key, Some(range))
                .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Box::new(reader))
    }

    /// The archive's file, on a server directory (opened as `open` opens it: no link
    /// followed, a regular file only).
    fn file(&self) -> Option<std::fs::File> {
        let (dir, key) = self.local.as_ref()?;
        let opened = dir.read_blocking(key, 0..self.size);
        opened
            .map_err(|e| tracing::debug!(error = %e, "the parent archive cannot be opened"))
            .ok()
            .map(io::Take::into_inner)
    }
}

/// Whether `r` can be a parent of the backup `spec` describes.
fn eligible(r: &BackupRecord, spec: &Spec) -> bool {
    r.missing.is_none()
        && !r.name.ends_with(".age")
        && r.size > 0
        && r.location.kind() == spec.target.kind()
}

/// The parent for `spec`, if there is one that can be reached; `None` otherwise (the backup
/// is then a full one). Never fails: a parent is only ever an optimisation.
pub async fn find(state: &Service, spec: &Spec) -> Option<Arc<dyn ParentArchive>> {
    let tenant = if spec.dump {
        DUMP_TENANT
    } else {
        spec.portals.first()?.id
    };
    let records = match state.catalog().live_backups(tenant).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "no parent archive: the history could not be read");
            return None;
        }
    };
    let record = records.into_iter().rev().find(|r| eligible(r, spec))?;
    let archive = match archives::of_record(state, &record).await {
        Ok(Some(a)) => a,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(parent = %record.id, error = %e.chain(), "the parent archive cannot be reached");
            return None;
        }
    };
    tracing::debug!(parent = %record.id, "copying unchanged entries from the last backup");
    Some(Arc::new(Stored {
        backend: archive.reader(),
        local: archives::local(state, &record.location),
        key: archive.key,
        size: record.size as u64,
        sha256: record.hash,
        runtime: Handle::current(),
    }))
}
