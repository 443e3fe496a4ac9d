//! The dsbackup service core: everything dsbackup does, for every front end. Backups
//! (`backup/`: jobs, targets, the runner), restores (`restore/`: staging, checks, swap,
//! recovery), schedules and retention (`schedule/`), portals and first start, notifications.
//!
//! Nothing here knows HTTP: callers hand in an [`Actor`](dsbackup_core::Actor) and domain
//! values, and get domain values or a [`ServiceError`] back. The HTTP server authenticates,
//! parses, calls this crate and presents; the command line can call it for offline work.

pub mod archives;
pub mod backup;
pub mod bootstrap;
pub mod config;
pub mod consumers;
pub mod crypt;
pub mod datadir;
pub mod error;
pub mod fault;
pub mod metrics;
pub mod notify;
pub mod portals;
pub mod remote;
pub mod restore;
pub mod schedule;
pub mod secrets;
pub mod thirdparty;
mod trace;

use std::path::PathBuf;
use std::sync::Arc;

use dsbackup_core::{Catalog, PortalId};

pub use config::Config;
pub use error::{ServiceError, ServiceResult};

use backup::jobs::Jobs;
use secrets::Sealer;

/// The service: configuration, the catalog, running jobs, the instance key and the sealer of
/// stored credentials. Cheap to clone; every clone is the same service.
#[derive(Debug, Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    catalog: Arc<dyn Catalog>,
    jobs: Jobs,
    instance_key: Vec<u8>,
    sealer: Sealer,
    /// The address the front end's listener is bound to, once it is.
    bound: std::sync::OnceLock<std::net::SocketAddr>,
}

impl Service {
    /// `instance_key` signs download links; it must stay the same across restarts. `sealer`
    /// seals storage credentials before the catalog stores them (`secrets.rs`).
    pub fn new(
        config: Config,
        catalog: Arc<dyn Catalog>,
        instance_key: Vec<u8>,
        sealer: Sealer,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                catalog,
                jobs: Jobs::default(),
                instance_key,
                sealer,
                bound: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn catalog(&self) -> &dyn Catalog {
        self.inner.catalog.as_ref()
    }

    pub fn jobs(&self) -> &Jobs {
        &self.inner.jobs
    }

    pub fn instance_key(&self) -> &[u8] {
        &self.inner.instance_key
    }

    /// Seals storage credentials before they are stored, opens them when they are used.
    pub fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    /// Records the address the listener is bound to (port 0 resolved).
    pub fn set_bound(&self, addr: std::net::SocketAddr) {
        let _ = self.inner.bound.set(addr);
    }

    /// Where clients reach this server, for links made outside a request: `public_url`, else
    /// `http://` and the bound address.
    pub fn public_url(&self) -> String {
        let configured = self.inner.config.public_url.trim_end_matches('/');
        if !configured.is_empty() {
            return configured.to_string();
        }
        let addr = self
            .inner
            .bound
            .get()
            .copied()
            .unwrap_or(self.inner.config.listen);
        format!("http://{addr}")
    }

    /// The temporary folder of backups (`GET /api/2.0/backup/backuptmp`).
    pub fn backup_tmp(&self) -> PathBuf {
        self.inner.config.data_dir.join("tmp").join("backup")
    }

    /// The directory that holds everything of one portal.
    pub fn portal_dir(&self, portal: PortalId) -> PathBuf {
        self.inner.config.portals_root().join(portal.to_string())
    }

    /// The portal's documents area: one directory per folder id, files stored by id.
    pub fn folder_dir(&self, portal: PortalId, folder: i64) -> PathBuf {
        self.portal_dir(portal)
            .join("documents")
            .join(folder.to_string())
    }

    /// Where a file's bytes live.
    pub fn file_path(&self, portal: PortalId, folder: i64, file: i64) -> PathBuf {
        self.folder_dir(portal, folder).join(file.to_string())
    }

    /// On shutdown: asks every running job to stop and waits up to `grace` for them to wind
    /// down. Whatever still runs then is left to crash recovery at the next start (partial
    /// archives are never committed; a restore is resolved from its journal).
    pub async fn interrupt_jobs(&self, grace: std::time::Duration) {
        let jobs = self.jobs().interrupt_all();
        if jobs.is_empty() {
            return;
        }
        tracing::warn!(
            jobs = jobs.len(),
            "shutting down: interrupting running jobs"
        );
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline
            && jobs.iter().any(|j| !j.snapshot().is_completed())
        {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
