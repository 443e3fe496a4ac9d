//! Catalog backends for dsbackup: each implements `dsbackup_core::Catalog` and passes the
//! conformance suite in [`conformance`].
//!
//! - [`SqliteCatalog`]: the embedded default, a WAL-mode SQLite file in the data directory.
//! - [`PostgresCatalog`]: a PostgreSQL database several nodes can share.
//!
//! Each backend's schema is a list of numbered SQL files in `migrations/<backend>/`, applied in
//! order and never edited once released.

pub mod conformance;
pub mod migrate;
mod postgres;
mod rewrite;
mod sqlite;
mod tables;

pub use postgres::PostgresCatalog;
pub use sqlite::SqliteCatalog;

use std::sync::Arc;

use dsbackup_core::{Catalog, CoreError, CoreResult};

/// Opens the catalog a URL names: `sqlite:PATH` (or a bare path), or `postgres://…` /
/// `postgresql://…` (libpq's URL form).
///
/// Fails with `Invalid` for an unknown scheme or a bad URL, `Unavailable` when PostgreSQL
/// does not answer, and `Internal` when the database cannot be opened or migrated. No
/// message shows a password.
pub async fn open(url: &str) -> CoreResult<Arc<dyn Catalog>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PostgresCatalog::open(url).await?));
    }
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Ok(Arc::new(SqliteCatalog::open(path).await?));
    }
    if url.contains("://") {
        return Err(CoreError::Invalid(format!(
            "unsupported catalog URL scheme in {:?}; expected sqlite:PATH or postgres://",
            url.split("://").next().unwrap_or("")
        )));
    }
    Ok(Arc::new(SqliteCatalog::open(url).await?))
}
