//! Shared server state: the service core, plus what only the HTTP front end needs (the rate
//! limiter and the failed sign-ins).

use std::sync::Arc;

use dsbackup_core::{Catalog, PortalId};
use dsbackup_service::backup::jobs::Jobs;
use dsbackup_service::{Config, Service};

use crate::ratelimit::{LoginGuard, RateLimiter};

/// Cheap to clone; handed to every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    service: Service,
    limiter: RateLimiter,
    logins: LoginGuard,
}

impl AppState {
    pub fn new(service: Service) -> Self {
        let config = service.config();
        let limiter = RateLimiter::new(config.rate_limit_per_minute);
        let logins = LoginGuard::new(
            config.login_attempts,
            std::time::Duration::from_secs(config.login_block_secs),
        );
        Self {
            inner: Arc::new(Inner {
                service,
                limiter,
                logins,
            }),
        }
    }

    /// The service core every handler calls.
    pub fn service(&self) -> &Service {
        &self.inner.service
    }

    pub fn config(&self) -> &Config {
        self.inner.service.config()
    }

    pub fn catalog(&self) -> &dyn Catalog {
        self.inner.service.catalog()
    }

    pub fn jobs(&self) -> &Jobs {
        self.inner.service.jobs()
    }

    pub fn instance_key(&self) -> &[u8] {
        self.inner.service.instance_key()
    }

    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// Failed sign-ins per account and address.
    pub fn logins(&self) -> &LoginGuard {
        &self.inner.logins
    }

    /// The portal's documents area for a folder.
    pub fn folder_dir(&self, portal: PortalId, folder: i64) -> std::path::PathBuf {
        self.inner.service.folder_dir(portal, folder)
    }

    /// Where a file's bytes live.
    pub fn file_path(&self, portal: PortalId, folder: i64, file: i64) -> std::path::PathBuf {
        self.inner.service.file_path(portal, folder, file)
    }
}
