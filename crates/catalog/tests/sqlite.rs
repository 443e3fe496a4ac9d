//! Runs the catalog conformance suite against SQLite, in memory and on disk, and races two
//! handles on one database file for a scheduled run.

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
    use dsbackup_core::catalog::prelude::*;
    assert!(!again.portals().await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_scheme_is_refused() {
    let err = dsbackup_catalog::open("mongodb://x").await.unwrap_err();
    assert!(err.to_string().contains("unsupported"), "{err}");
}

/// Two handles on one file (as two server processes would be) race for one due run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_from_two_handles_take_a_run_once() {
    use dsbackup_core::Catalog;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let first: Arc<dyn Catalog> = Arc::new(SqliteCatalog::open(&path).await.unwrap());
    let second: Arc<dyn Catalog> = Arc::new(SqliteCatalog::open(&path).await.unwrap());
    conformance::race_claims(first, second).await;
}

/// Two handles on one file (two nodes) race for one portal's backup slot: one job recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_job_claims_from_two_handles_record_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let first = Arc::new(SqliteCatalog::open(&path).await.unwrap());
    let second = Arc::new(SqliteCatalog::open(&path).await.unwrap());
    conformance::race_job_claims(first, second).await;
}
