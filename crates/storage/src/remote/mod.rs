//! Backends on remote object stores and file servers, all reached through Apache OpenDAL:
//! [`OpendalBackend`] for S3-compatible stores, Google Cloud Storage and Azure Blob, and
//! [`WebDavBackend`], which reads through OpenDAL but streams its uploads itself (OpenDAL's
//! WebDAV writer buffers a whole object).
//!
//! Configurations are typed ([`S3Config`], [`GcsConfig`], [`AzureConfig`], [`WebDavConfig`]);
//! their secrets are [`Secret`]s, which never print. Every operator gets the same layers from
//! [`Tuning`]: a concurrency limit, a timeout per attempt and retries with jittered backoff.

mod config;
mod errors;
mod opendal_backend;
mod s3_uploads;
mod webdav;

use std::fmt;
use std::time::Duration;

use opendal::Operator;
use opendal::layers::{ConcurrentLimitLayer, RetryLayer, TimeoutLayer};

pub use config::{AzureConfig, GcsConfig, S3Config, Sse, WebDavConfig};
pub use opendal_backend::OpendalBackend;
pub use webdav::WebDavBackend;

/// A credential: shown as `***` by `Debug`, kept out of every error and description.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The credential itself, for the client that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether there is no credential.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// How hard a remote backend tries and how much it does at once.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Retries of an operation that failed for a transient cause (timeout, 5xx, throttling).
    pub retries: usize,
    /// The first backoff; it doubles (with jitter) up to `max_backoff`.
    pub min_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// The longest an operation (stat, list page, delete, a write's commit) may take.
    pub timeout: Duration,
    /// The longest one read or write of data may wait.
    pub io_timeout: Duration,
    /// Operations in flight at once on one backend.
    pub concurrency: usize,
    /// Bytes per multipart part (at least 5 MiB for S3); an upload holds about
    /// `part_size * (parallel_parts + 2)` in memory (OpenDAL's buffer being filled, the part
    /// it keeps back in case the object fits in one, and the parts uploading).
    pub part_size: usize,
    /// Parts uploaded at once.
    pub parallel_parts: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            retries: 4,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            io_timeout: Duration::from_secs(60),
            concurrency: 16,
            part_size: 8 << 20,
            parallel_parts: 2,
        }
    }
}

impl Tuning {
    /// `op` with the layers every remote backend uses: the concurrency limit innermost (a
    /// retry waiting out its backoff holds no permit), then a timeout per attempt, then
    /// retries (a timed-out attempt is retried). Installs OpenDAL's process-wide reqwest
    /// transport first (idempotent; the first installed wins).
    pub(crate) fn layer(&self, op: Operator) -> Operator {
        opendal::install_default();
        op.layer(ConcurrentLimitLayer::new(self.concurrency.max(1)))
            .layer(
                TimeoutLayer::new()
                    .with_timeout(self.timeout)
                    .with_io_timeout(self.io_timeout),
            )
            .layer(
                RetryLayer::new()
                    .with_jitter()
                    .with_max_times(self.retries)
                    .with_min_delay(self.min_backoff)
                    .with_max_delay(self.max_backoff),
            )
    }
}
