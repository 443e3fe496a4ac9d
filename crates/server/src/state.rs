//! Shared server state: configuration, the catalog, the documents area, the rate limiter and
//! the failed sign-ins.

use std::path::PathBuf;
use std::sync::Arc;

use dsbackup_core::{Catalog, PortalId};

use crate::backup::jobs::Jobs;
use crate::config::Config;
use crate::ratelimit::{LoginGuard, RateLimiter};

/// Cheap to clone; handed to every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    catalog: Arc<dyn Catalog>,
    limiter: RateLimiter,
    logins: LoginGuard,
    jobs: Jobs,
    instance_key: Vec<u8>,
    /// The address the listener is bound to, once it is.
    bound: std::sync::OnceLock<std::net::SocketAddr>,
}

impl AppState {
    /// `instance_key` signs download links; it must stay the same across restarts.
    pub fn new(config: Config, catalog: Arc<dyn Catalog>, instance_key: Vec<u8>) -> Self {
        let limiter = RateLimiter::new(config.rate_limit_per_minute);
        let logins = LoginGuard::new(
            config.login_attempts,
            std::time::Duration::from_secs(config.login_block_secs),
        );
        Self {
            inner: Arc::new(Inner {
                config,
                catalog,
                limiter,
                logins,
                jobs: Jobs::default(),
                instance_key,
                bound: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn jobs(&self) -> &Jobs {
        &self.inner.jobs
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

    pub fn instance_key(&self) -> &[u8] {
        &self.inner.instance_key
    }

    /// The temporary folder of backups (`GET /api/2.0/backup/backuptmp`).
    pub fn backup_tmp(&self) -> PathBuf {
        self.inner.config.data_dir.join("tmp").join("backup")
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn catalog(&self) -> &dyn Catalog {
        self.inner.catalog.as_ref()
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// Failed sign-ins per account and address.
    pub fn logins(&self) -> &LoginGuard {
        &self.inner.logins
    }

    /// The directory that holds everything of one portal.
    pub fn portal_dir(&self, portal: PortalId) -> PathBuf {
        self.inner
            .config
            .data_dir
            .join("portals")
            .join(portal.to_string())
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
}
