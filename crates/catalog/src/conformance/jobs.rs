//! Conformance checks for `JobStore`: the state machine the catalog enforces, per-node
//! recovery, last-job lookups, and what several nodes rely on: claims that see live and dead
//! jobs, cancel that dismisses, completion together with its record, and expiry.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use dsbackup_core::catalog::Claim;
use dsbackup_core::{
    Catalog, CoreError, DUMP_TENANT, JobKind, JobRecord, JobSlot, JobState, PortalId,
};
use uuid::Uuid;

/// A time every backend stores exactly (microseconds), `minutes` from a fixed start.
fn at(minutes: i64) -> DateTime<Utc> {
    let base = DateTime::parse_from_rfc3339("2026-03-01T10:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc);
    base + Duration::minutes(minutes)
}

fn job(kind: JobKind, tenant: PortalId, node: &str, started: i64) -> JobRecord {
    JobRecord {
        id: Uuid::new_v4(),
        kind,
        tenant_id: tenant,
        started_by: tenant.max(1),
        state: JobState::Created,
        progress: 0,
        error: String::new(),
        warning: None,
        link: String::new(),
        node: node.into(),
        heartbeat: at(started),
        started_on: at(started),
        finished_on: None,
        scheduled: kind == JobKind::Backup && tenant % 2 == 0,
    }
}

/// Ends `j` in `state` at `minute`, as the service writes it.
fn ended(j: &JobRecord, state: JobState, minute: i64) -> JobRecord {
    JobRecord {
        state,
        heartbeat: at(minute),
        finished_on: Some(at(minute)),
        ..j.clone()
    }
}

/// Inserts, reads back, the state machine of `update_job`, `last_job` and `interrupt_jobs`.
/// Expects no jobs in the catalog yet.
pub(super) async fn jobs(cat: &dyn Catalog) {
    let a = job(JobKind::Backup, 7, "node-a", 0);
    cat.insert_job(a.clone()).await.unwrap();
    assert_eq!(cat.job(a.id).await.unwrap(), Some(a.clone()), "reads back");
    assert!(matches!(
        cat.insert_job(a.clone()).await,
        Err(CoreError::Conflict(_))
    ));
    assert_eq!(cat.job(Uuid::new_v4()).await.unwrap(), None);

    // Running, with progress: every listed field is written; identity fields are not.
    let running = JobRecord {
        state: JobState::Running,
        progress: 40,
        warning: Some("slow disk".into()),
        link: "https://x/link".into(),
        heartbeat: at(1),
        node: "someone-else".into(),
        tenant_id: 99,
        ..a.clone()
    };
    assert!(cat.update_job(&running).await.unwrap());
    let expected = JobRecord {
        node: a.node.clone(),
        tenant_id: a.tenant_id,
        ..running.clone()
    };
    assert_eq!(cat.job(a.id).await.unwrap(), Some(expected.clone()));

    // Canceled is final: a later completion or failure is refused and changes nothing.
    let canceled = JobRecord {
        warning: Some("Backup cancelled".into()),
        ..ended(&expected, JobState::Canceled, 2)
    };
    assert!(cat.update_job(&canceled).await.unwrap());
    let completed = JobRecord {
        progress: 100,
        ..ended(&expected, JobState::Completed, 3)
    };
    assert!(
        !cat.update_job(&completed).await.unwrap(),
        "a canceled job is never completed"
    );
    assert!(
        !cat.update_job(&expected).await.unwrap(),
        "nor running again"
    );
    assert_eq!(cat.job(a.id).await.unwrap(), Some(canceled.clone()));

    // Completed is final too.
    let b = job(JobKind::Backup, 7, "node-a", 5);
    cat.insert_job(b.clone()).await.unwrap();
    let b_done = JobRecord {
        progress: 100,
        link: "https://x/b".into(),
        ..ended(&b, JobState::Completed, 6)
    };
    assert!(cat.update_job(&b_done).await.unwrap());
    let b_failed = JobRecord {
        error: "late".into(),
        ..ended(&b, JobState::Failed, 7)
    };
    assert!(
        !cat.update_job(&b_failed).await.unwrap(),
        "a completed job is never failed"
    );
    assert_eq!(cat.job(b.id).await.unwrap(), Some(b_done.clone()));
    assert!(matches!(
        cat.update_job(&job(JobKind::Backup, 7, "node-a", 0)).await,
        Err(CoreError::NotFound(_))
    ));

    // last_job: the newest of that kind and tenant, finished or not.
    let restore = job(JobKind::Restore, 7, "node-b", 9);
    let other = job(JobKind::Backup, 8, "node-b", 10);
    let dump = job(JobKind::Backup, DUMP_TENANT, "node-a", 4);
    let older = job(JobKind::Backup, 7, "node-b", 1);
    for j in [&restore, &other, &dump, &older] {
        cat.insert_job(j.clone()).await.unwrap();
    }
    let last = |kind: JobKind, tenant: PortalId| async move {
        cat.last_job(kind, tenant).await.unwrap().map(|j| j.id)
    };
    assert_eq!(
        last(JobKind::Backup, 7).await,
        Some(b.id),
        "newest, finished"
    );
    assert_eq!(last(JobKind::Restore, 7).await, Some(restore.id));
    assert_eq!(last(JobKind::Backup, 8).await, Some(other.id));
    assert_eq!(last(JobKind::Backup, DUMP_TENANT).await, Some(dump.id));
    assert_eq!(last(JobKind::Restore, 8).await, None);
    let tie = job(JobKind::Backup, 8, "node-b", 10);
    cat.insert_job(tie.clone()).await.unwrap();
    assert_eq!(
        last(JobKind::Backup, 8).await,
        Some(tie.id),
        "the later recorded on a tie"
    );

    let ids = |jobs: Vec<JobRecord>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();

    // interrupt_jobs: only the node's unfinished jobs, failed with the message.
    let now = at(20);
    let hit = cat
        .interrupt_jobs("node-b", "interrupted", now)
        .await
        .unwrap();
    let expected: Vec<JobRecord> = [&older, &restore, &other, &tie]
        .into_iter()
        .map(|j| JobRecord {
            state: JobState::Failed,
            error: "interrupted".into(),
            finished_on: Some(now),
            ..j.clone()
        })
        .collect();
    assert_eq!(hit, expected, "returned as now stored, oldest first");
    for j in &expected {
        assert_eq!(cat.job(j.id).await.unwrap().as_ref(), Some(j));
    }
    assert_eq!(
        cat.job(dump.id).await.unwrap(),
        Some(dump.clone()),
        "another node's job stays"
    );
    assert_eq!(
        cat.job(a.id).await.unwrap(),
        Some(canceled),
        "finished jobs stay"
    );
    assert!(
        cat.interrupt_jobs("node-b", "again", now)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !cat.update_job(&JobRecord {
            state: JobState::Running,
            ..older.clone()
        })
        .await
        .unwrap(),
        "an interrupted job stays failed"
    );
    let hit = cat
        .interrupt_jobs("node-a", "interrupted", now)
        .await
        .unwrap();
    assert_eq!(ids(hit), vec![dump.id]);
    assert_eq!(
        cat.job(dump.id).await.unwrap().map(|j| j.state),
        Some(JobState::Failed)
    );
}

/// Claims with blockers and dead jobs, cancel that dismisses, atomic completion, expiry.
/// Expects every job already in the catalog to be finished.
pub(super) async fn leases(cat: &dyn Catalog) {
    let slot = |kind, tenant| JobSlot { kind, tenant };
    let backup_blockers = |t: PortalId| {
        [
            slot(JobKind::Backup, Some(t)),
            slot(JobKind::Restore, Some(t)),
            slot(JobKind::Restore, Some(DUMP_TENANT)),
        ]
    };
    let (stale, alive) = (at(29), "the node stopped");
    let j1 = job(JobKind::Backup, 20, "node-a", 30);
    let claim = |j: JobRecord, blockers: Vec<JobSlot>, before| async move {
        cat.claim_job(j, &blockers, before, alive).await.unwrap()
    };
    assert_eq!(
        claim(j1.clone(), backup_blockers(20).to_vec(), stale).await,
        Claim::Claimed
    );
    assert_eq!(cat.job(j1.id).await.unwrap(), Some(j1.clone()));
    let j2 = job(JobKind::Backup, 20, "node-b", 31);
    assert_eq!(
        claim(j2.clone(), backup_blockers(20).to_vec(), stale).await,
        Claim::Busy(j1.clone()),
        "one backup per portal"
    );
    assert_eq!(
        cat.job(j2.id).await.unwrap(),
        None,
        "a busy claim records nothing"
    );
    let restore = job(JobKind::Restore, 20, "node-b", 31);
    let restore_blockers = vec![
        slot(JobKind::Backup, Some(20)),
        slot(JobKind::Backup, Some(DUMP_TENANT)),
        slot(JobKind::Restore, Some(20)),
        slot(JobKind::Restore, Some(DUMP_TENANT)),
    ];
    assert_eq!(
        claim(restore.clone(), restore_blockers, stale).await,
        Claim::Busy(j1.clone()),
        "a restore waits for the portal's backup"
    );
    let other = job(JobKind::Backup, 21, "node-b", 32);
    assert_eq!(
        claim(other.clone(), backup_blockers(21).to_vec(), stale).await,
        Claim::Claimed,
        "other portals are independent"
    );
    let everything = vec![slot(JobKind::Backup, None), slot(JobKind::Restore, None)];
    let dump_restore = job(JobKind::Restore, DUMP_TENANT, "node-c", 33);
    assert_eq!(
        claim(dump_restore.clone(), everything, stale).await,
        Claim::Busy(other.clone()),
        "a whole-instance restore waits for every job; the newest is named"
    );

    // A blocker whose heartbeat is older than the cut-off is dead: failed, and the claim wins.
    let j3 = job(JobKind::Backup, 20, "node-b", 35);
    assert_eq!(
        claim(j3.clone(), backup_blockers(20).to_vec(), at(31)).await,
        Claim::Claimed
    );
    let dead = cat.job(j1.id).await.unwrap().unwrap();
    assert_eq!(
        (dead.state, dead.error.as_str(), dead.finished_on),
        (JobState::Failed, alive, Some(j3.started_on))
    );
    assert_eq!(
        cat.job(other.id).await.unwrap().unwrap().state,
        JobState::Created,
        "a job outside the blockers is not touched, however old"
    );
    assert!(matches!(
        cat.claim_job(j3.clone(), &[], stale, alive).await,
        Err(CoreError::Conflict(_))
    ));

    // Cancel dismisses every backup job the portal started and cancels the unfinished ones.
    let dismissed = cat
        .cancel_jobs(JobKind::Backup, 20, "Backup cancelled", at(40))
        .await
        .unwrap();
    let canceled = JobRecord {
        state: JobState::Canceled,
        warning: Some("Backup cancelled".into()),
        finished_on: Some(at(40)),
        ..j3.clone()
    };
    assert_eq!(dismissed, vec![dead.clone(), canceled.clone()]);
    assert_eq!(cat.job(j3.id).await.unwrap(), Some(canceled.clone()));
    assert_eq!(
        cat.last_job(JobKind::Backup, 20).await.unwrap(),
        None,
        "dismissed"
    );
    assert_eq!(
        cat.last_job(JobKind::Backup, 21)
            .await
            .unwrap()
            .map(|j| j.id),
        Some(other.id),
        "another portal's jobs stay"
    );
    assert!(
        cat.cancel_jobs(JobKind::Backup, 20, "x", at(41))
            .await
            .unwrap()
            .is_empty(),
        "nothing left to dismiss"
    );
    let j4 = job(JobKind::Backup, 20, "node-a", 42);
    cat.insert_job(j4.clone()).await.unwrap();
    assert_eq!(
        cat.last_job(JobKind::Backup, 20)
            .await
            .unwrap()
            .map(|j| j.id),
        Some(j4.id),
        "a new job shows again"
    );

    // Completion and its record, atomically and only for an unfinished job.
    let rec = super::history::record(20, 1, false);
    let done = JobRecord {
        progress: 100,
        link: "https://x/j4".into(),
        ..ended(&j4, JobState::Completed, 43)
    };
    assert!(cat.complete_backup(&done, rec.clone()).await.unwrap());
    assert_eq!(cat.job(j4.id).await.unwrap(), Some(done.clone()));
    assert!(cat.backup(rec.id).await.unwrap().is_some(), "recorded");
    let late = super::history::record(20, 1, false);
    let canceled_done = JobRecord {
        progress: 100,
        ..ended(&j3, JobState::Completed, 44)
    };
    assert!(
        !cat.complete_backup(&canceled_done, late.clone())
            .await
            .unwrap(),
        "a canceled job is never completed"
    );
    assert!(cat.backup(late.id).await.unwrap().is_none(), "nor recorded");
    assert_eq!(cat.job(j3.id).await.unwrap(), Some(canceled));
    assert!(matches!(
        cat.complete_backup(&job(JobKind::Backup, 20, "n", 45), late.clone())
            .await,
        Err(CoreError::NotFound(_))
    ));

    // Expiry: only unfinished jobs whose heartbeat is older than the cut-off.
    let j5 = job(JobKind::Backup, 22, "node-a", 50);
    let j6 = job(JobKind::Restore, 23, "node-b", 60);
    for j in [&j5, &j6] {
        cat.insert_job(j.clone()).await.unwrap();
    }
    let expired = cat.expire_jobs(at(55), "lost", at(70)).await.unwrap();
    let failed = |j: &JobRecord| JobRecord {
        state: JobState::Failed,
        error: "lost".into(),
        finished_on: Some(at(70)),
        ..j.clone()
    };
    assert_eq!(expired, vec![failed(&other), failed(&j5)], "oldest first");
    assert_eq!(
        cat.job(j6.id).await.unwrap(),
        Some(j6.clone()),
        "a live job stays"
    );
    assert_eq!(
        cat.job(j4.id).await.unwrap(),
        Some(done),
        "finished jobs stay"
    );
    let restore_done = ended(&j6, JobState::Completed, 71);
    assert!(cat.update_job(&restore_done).await.unwrap());
}

/// Two handles on one database (two nodes) race 2×20 claims of one portal's backup slot:
/// exactly one job is recorded, and every loser is told about the winner. Needs a
/// multi-threaded runtime.
pub async fn race_job_claims(first: Arc<dyn Catalog>, second: Arc<dyn Catalog>) {
    use tokio::sync::Barrier;

    const PER_HANDLE: usize = 20;
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
