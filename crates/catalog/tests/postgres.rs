//! Runs the catalog conformance suite against PostgreSQL (127.0.0.1:5432, user postgres), each
//! test in a database of its own that is dropped at the end; races two handles for a scheduled
//! run and several nodes for the first migration; shows an unreachable server as
//! `Unavailable`, at open and at call time, without the password; and migrates a populated
//! SQLite catalog. A server that does not answer skips these tests, unless `CI` is set: then
//! they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dsbackup_catalog::{PostgresCatalog, SqliteCatalog, conformance, migrate};
use dsbackup_core::CoreError;
use dsbackup_core::catalog::prelude::*;
use pg::{Proxy, TestDb};

#[tokio::test]
async fn postgres_conforms_and_reopens() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let cat = dsbackup_catalog::open(&db.url()).await.unwrap();
    conformance::run_all(cat).await;
    // Reopening runs no migration twice and keeps the data; the libpq scheme works too.
    let again = dsbackup_catalog::open(&db.url().replace("postgres://", "postgresql://"))
        .await
        .unwrap();
    assert!(!again.portals().await.unwrap().is_empty());
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM schema_migrations").await,
        migration_files()
    );
}

/// How many numbered files `migrations/postgres/` holds: each is applied exactly once.
fn migration_files() -> i64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres");
    std::fs::read_dir(dir).unwrap().count() as i64
}

/// Two handles (as two nodes would be) race 2×20 claims of one due run: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_from_two_handles_take_a_run_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let first: Arc<dyn Catalog> = Arc::new(PostgresCatalog::open(&db.url()).await.unwrap());
    let second: Arc<dyn Catalog> = Arc::new(PostgresCatalog::open(&db.url()).await.unwrap());
    conformance::race_claims(first, second).await;
}

/// Two handles race for one portal's backup slot: one job recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_job_claims_from_two_handles_record_one_job() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let first: Arc<dyn Catalog> = Arc::new(PostgresCatalog::open(&db.url()).await.unwrap());
    let second: Arc<dyn Catalog> = Arc::new(PostgresCatalog::open(&db.url()).await.unwrap());
    conformance::race_job_claims(first, second).await;
}

/// Nodes that start together against a new database migrate it once, none failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_migrate_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = db.url();
            tokio::spawn(async move { PostgresCatalog::open(&url).await.map(drop) })
        })
        .collect();
    for open in opens {
        open.await.unwrap().unwrap();
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM schema_migrations").await,
        migration_files()
    );
}

/// A server that does not answer is `Unavailable` within the connect timeout, and no message
/// shows the password.
#[tokio::test]
async fn an_unreachable_server_is_unavailable_without_the_password() {
    if !pg::up().await {
        return;
    }
    let port = pg::closed_port();
    let started = Instant::now();
    let err = PostgresCatalog::open(&format!("postgres://dsb:s3cret-pw@127.0.0.1:{port}/x"))
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::Unavailable(_)), "{err:?}");
    assert!(!format!("{err:?}").contains("s3cret-pw"), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = dsbackup_catalog::open("postgres://dsb:s3cret-pw@127.0.0.1:notaport/x")
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::Invalid(_)), "{err:?}");
    assert!(!format!("{err:?}").contains("s3cret-pw"), "{err:?}");
}

/// A catalog whose server goes away after it opened answers `Unavailable` within the
/// timeouts (no call hangs), and works again once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_server_at_call_time_is_unavailable_then_recovers() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let proxy = Proxy::start().await;
    let cat = PostgresCatalog::open(&db.url_via(proxy.port()))
        .await
        .unwrap();
    assert!(cat.portals().await.unwrap().is_empty());
    proxy.cut();
    let started = Instant::now();
    let err = cat.portals().await.unwrap_err();
    assert!(matches!(err, CoreError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(12), "bounded");
    proxy.restore();
    let mut back = cat.portals().await;
    for _ in 0..20 {
        if back.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        back = cat.portals().await;
    }
    assert!(back.unwrap().is_empty(), "works again");
}

/// The table list matches both schemas: every table and column of one is in the other.
#[tokio::test]
async fn both_schemas_have_the_same_tables_and_columns() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let pg = PostgresCatalog::open(&db.url()).await.unwrap();
    let lite = SqliteCatalog::open(":memory:").await.unwrap();
    let differences = migrate::schema_differences(&lite, &pg).await.unwrap();
    assert!(differences.is_empty(), "{differences:#?}");
}

/// A populated SQLite catalog copies into PostgreSQL with every row, id and time, and the
/// copy conforms: new ids come after the copied ones. A second copy is refused.
#[tokio::test]
async fn a_sqlite_catalog_migrates_with_its_ids() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = SqliteCatalog::open(dir.path().join("catalog.db"))
        .await
        .unwrap();
    let populated = conformance::populate(&lite).await;
    let before = populated.read(&lite).await;
    let pg = PostgresCatalog::open(&db.url()).await.unwrap();
    let copied = migrate::sqlite_to_postgres(&lite, &pg).await.unwrap();
    assert!(copied.iter().all(|c| c.source == c.target), "{copied:?}");
    assert_eq!(copied.len(), 10, "every table: {copied:?}");
    assert!(
        copied.iter().all(|c| c.target > 0),
        "a row in every table: {copied:?}"
    );
    assert_eq!(
        populated.read(&pg).await,
        before,
        "the same rows, ids and times"
    );
    conformance::after_copy(&pg, &populated).await;
    let err = migrate::sqlite_to_postgres(&lite, &pg).await.unwrap_err();
    assert!(
        matches!(&err, CoreError::Conflict(m) if m.contains("not empty") && m.contains("portals")),
        "{err:?}"
    );
}
