//! Runs the catalog conformance suite against SQLite, in memory and on disk.

use std::sync::Arc;

use dsbackup_catalog::{SqliteCatalog, conformance};

#[tokio::test]
async fn sqlite_in_memory_conforms() {
    let cat = SqliteCatalog::open(":memory:").await.unwrap();
    conformance::run_all(Arc::new(cat)).await;
}

#[tokio::test]
async fn sqlite_file_conforms_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let cat = dsbackup_catalog::open(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    conformance::run_all(cat).await;
    // Reopening runs no migration twice and keeps the data.
    let again = SqliteCatalog::open(&path).await.unwrap();
    use dsbackup_core::Catalog;
    assert!(!again.portals().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_scheme_is_refused() {
    let err = dsbackup_catalog::open("mongodb://x").await.unwrap_err();
    assert!(err.to_string().contains("unsupported"), "{err}");
}
