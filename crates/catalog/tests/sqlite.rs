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

/// Two handles on one file (as two server processes would be) race 2×20 claims of one due run:
/// exactly one wins, and its time is what the schedule keeps. Several rounds, each from the
/// `last_backup_time` the previous one left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_from_two_handles_take_a_run_once() {
    use chrono::{Duration, SubsecRound, Utc};
    use dsbackup_core::schedule::{Cron, Period};
    use dsbackup_core::{Catalog, Schedule, StorageKind};
    use tokio::sync::Barrier;

    const PER_HANDLE: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let first: Arc<dyn Catalog> = Arc::new(SqliteCatalog::open(&path).await.unwrap());
    let second: Arc<dyn Catalog> = Arc::new(SqliteCatalog::open(&path).await.unwrap());
    let tenant = 3;
    first
        .upsert_schedule(Schedule {
            tenant_id: tenant,
            storage: StorageKind::Local,
            storage_params: Default::default(),
            cron: Cron::new(Period::EveryDay, 1, None).unwrap(),
            backups_stored: 3,
            last_backup_time: None,
            last_error: None,
            last_error_time: None,
            created_on: Utc::now(),
        })
        .await
        .unwrap();

    for round in 0..5 {
        let seen = second
            .schedule(tenant)
            .await
            .unwrap()
            .unwrap()
            .last_backup_time;
        assert_eq!(seen.is_none(), round == 0);
        let start = Arc::new(Barrier::new(2 * PER_HANDLE));
        let base = Utc::now().trunc_subsecs(6);
        let mut tasks = Vec::new();
        for i in 0..2 * PER_HANDLE {
            let cat = if i % 2 == 0 { &first } else { &second }.clone();
            let start = start.clone();
            let now = base + Duration::microseconds(i as i64);
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let won = cat.claim_schedule(tenant, seen, now).await.unwrap();
                (won, now)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (won, now) = t.await.unwrap();
            if won {
                winners.push(now);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one claim wins");
        for cat in [&first, &second] {
            let kept = cat
                .schedule(tenant)
                .await
                .unwrap()
                .unwrap()
                .last_backup_time;
            assert_eq!(kept, Some(winners[0]), "round {round}: the winner's time");
        }
    }
}

/// Two handles on one file (two nodes) race 2×20 claims of one portal's backup slot: exactly
/// one job is recorded, and every loser is told about the winner.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_job_claims_from_two_handles_record_one_job() {
    use chrono::{Duration, Utc};
    use dsbackup_core::catalog::Claim;
    use dsbackup_core::{Catalog, JobKind, JobRecord, JobSlot, JobState};
    use tokio::sync::Barrier;

    const PER_HANDLE: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    let first: Arc<dyn Catalog> = Arc::new(SqliteCatalog::open(&path).await.unwrap());
    let second: Arc<dyn Catalog> = Arc::new(SqliteCatalog::open(&path).await.unwrap());
    let start = Arc::new(Barrier::new(2 * PER_HANDLE));
    let blockers = [JobSlot {
        kind: JobKind::Backup,
        tenant: Some(5),
    }];
    let mut tasks = Vec::new();
    for i in 0..2 * PER_HANDLE {
        let cat = if i % 2 == 0 { &first } else { &second }.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let now = Utc::now();
            let job = JobRecord {
                id: uuid::Uuid::new_v4(),
                kind: JobKind::Backup,
                tenant_id: 5,
                started_by: 5,
                state: JobState::Created,
                progress: 0,
                error: String::new(),
                warning: None,
                link: String::new(),
                node: format!("node-{}", i % 2),
                heartbeat: now,
                started_on: now,
                finished_on: None,
                scheduled: false,
            };
            start.wait().await;
            let claim = cat
                .claim_job(job.clone(), &blockers, now - Duration::seconds(30), "lost")
                .await
                .unwrap();
            (job.id, claim)
        }));
    }
    let mut won = Vec::new();
    let mut told = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (id, Claim::Claimed) => won.push(id),
            (_, Claim::Busy(running)) => told.push(running.id),
        }
    }
    assert_eq!(won.len(), 1, "exactly one claim wins");
    assert!(told.iter().all(|id| *id == won[0]), "losers see the winner");
    let last = first.last_job(JobKind::Backup, 5).await.unwrap().unwrap();
    assert_eq!(last.id, won[0]);
}
