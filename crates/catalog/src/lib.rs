//! Catalog backends for dsbackup: each implements `dsbackup_core::Catalog` and passes the
//! conformance suite in [`conformance`].
//!
//! - [`SqliteCatalog`]: the embedded default, a WAL-mode SQLite file in the data directory.
//!
//! Each backend's schema is a list of numbered SQL files in `migrations/<backend>/`, applied in
//! order and never edited once released.

pub mod conformance;
mod sqlite;

pub use sqlite::SqliteCatalog;

use std::sync::Arc;

use dsbackup_core::{Catalog, CoreError, CoreResult};

/// Opens the catalog a URL names: `sqlite:PATH` (or a bare path).
///
/// Fails with `Invalid` for an unknown scheme and `Internal` when the database cannot be
/// opened or migrated.
pub async fn open(url: &str) -> CoreResult<Arc<dyn Catalog>> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Ok(Arc::new(SqliteCatalog::open(path).await?));
    }
    if url.contains("://") {
        return Err(CoreError::Invalid(format!(
            "unsupported catalog URL scheme in {:?}; expected sqlite:PATH",
            url.split("://").next().unwrap_or("")
        )));
    }
    Ok(Arc::new(SqliteCatalog::open(url).await?))
}
