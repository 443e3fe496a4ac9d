//! Conformance checks for jobs (the state machine the catalog enforces, per-node recovery,
//! last-job lookups) and for taking a due scheduled run exactly once.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use dsbackup_core::{
    Catalog, CoreError, DUMP_TENANT, JobKind, JobRecord, JobState, PortalId, Schedule, StorageKind,
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

/// Inserts, reads back, the state machine of `update_job`, `last_job`, `unfinished_jobs` and
/// `interrupt_jobs`. Expects no jobs in the catalog yet.
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

    // unfinished_jobs: every node's, oldest first.
    let ids = |jobs: Vec<JobRecord>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(cat.unfinished_jobs().await.unwrap()),
        vec![older.id, dump.id, restore.id, other.id, tie.id]
    );

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
        ids(cat.unfinished_jobs().await.unwrap()),
        vec![dump.id],
        "another node's job stays"
    );
    assert_eq!(cat.job(dump.id).await.unwrap(), Some(dump.clone()));
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
    assert!(cat.unfinished_jobs().await.unwrap().is_empty());
}

/// `claim_schedule`: a compare-and-set on `last_backup_time`, `None` matching a schedule that
/// never ran.
pub(super) async fn claim_schedule(cat: &dyn Catalog) {
    use dsbackup_core::schedule::{Cron, Period};
    let tenant = 31;
    assert!(
        !cat.claim_schedule(tenant, None, at(0)).await.unwrap(),
        "no schedule, nothing to claim"
    );
    let s = Schedule {
        tenant_id: tenant,
        storage: StorageKind::Local,
        storage_params: Default::default(),
        cron: Cron::new(Period::EveryDay, 3, None).unwrap(),
        backups_stored: 3,
        last_backup_time: None,
        last_error: None,
        last_error_time: None,
        created_on: at(0),
    };
    cat.upsert_schedule(s.clone()).await.unwrap();
    cat.upsert_schedule(Schedule {
        tenant_id: tenant + 1,
        ..s
    })
    .await
    .unwrap();
    let last =
        |t: PortalId| async move { cat.schedule(t).await.unwrap().unwrap().last_backup_time };

    assert!(cat.claim_schedule(tenant, None, at(1)).await.unwrap());
    assert!(
        !cat.claim_schedule(tenant, None, at(2)).await.unwrap(),
        "the same run is taken once"
    );
    assert_eq!(last(tenant).await, Some(at(1)));
    assert_eq!(last(tenant + 1).await, None, "other schedules untouched");

    assert!(
        !cat.claim_schedule(tenant, Some(at(0)), at(2))
            .await
            .unwrap()
    );
    let seen = last(tenant).await;
    assert!(cat.claim_schedule(tenant, seen, at(2)).await.unwrap());
    assert!(!cat.claim_schedule(tenant, seen, at(3)).await.unwrap());
    assert_eq!(last(tenant).await, Some(at(2)));
    // A run that schedule_started recorded is claimed from its time as well.
    let started = Utc::now().trunc_subsecs(6);
    cat.schedule_started(tenant, started).await.unwrap();
    assert!(
        !cat.claim_schedule(tenant, Some(at(2)), at(3))
            .await
            .unwrap()
    );
    assert!(
        cat.claim_schedule(tenant, Some(started), at(3))
            .await
            .unwrap()
    );
    assert!(cat.delete_schedule(tenant).await.unwrap());
    assert!(cat.delete_schedule(tenant + 1).await.unwrap());
}
