//! Shared server state: configuration, the catalog, the documents area and the rate limiter.

use std::path::PathBuf;
use std::sync::Arc;

use dsbackup_core::{Catalog, PortalId};

use crate::config::Config;
use crate::ratelimit::RateLimiter;

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
}

impl AppState {
    pub fn new(config: Config, catalog: Arc<dyn Catalog>) -> Self {
        let limiter = RateLimiter::new(config.rate_limit_per_minute);
        Self {
            inner: Arc::new(Inner {
                config,
                catalog,
                limiter,
            }),
        }
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
