//! Conformance checks for `JobStore`: the state machine the catalog enforces, per-node
//! recovery and last-job lookups.

use chrono::{DateTime, Duration, Utc};
use dsbackup_core::{Catalog, CoreError, DUMP_TENANT, JobKind, JobRecord, JobState, PortalId};
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
