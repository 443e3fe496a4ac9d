//! Conformance checks for `ScheduleStore`: one schedule per tenant, its last outcome, and
//! taking a due run exactly once (`claim_schedule`).

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use dsbackup_core::{Catalog, DUMP_TENANT, PortalId, Schedule, StorageKind};
use tokio::sync::Barrier;

/// A time every backend stores exactly (microseconds), `minutes` from a fixed start.
fn at(minutes: i64) -> DateTime<Utc> {
    let base = DateTime::parse_from_rfc3339("2026-03-01T10:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc);
    base + Duration::minutes(minutes)
}

pub(super) async fn schedules(cat: &dyn Catalog) {
    use dsbackup_core::Schedule;
    use dsbackup_core::schedule::{Cron, Period};
    let s = Schedule {
        tenant_id: 7,
        storage: StorageKind::Local,
        storage_params: [("filePath".to_string(), "/b".to_string())].into(),
        cron: Cron::new(Period::EveryWeek, 3, Some(1)).unwrap(),
        backups_stored: 5,
        last_backup_time: None,
        last_error: None,
        last_error_time: None,
        created_on: Utc::now(),
    };
    cat.upsert_schedule(s.clone()).await.unwrap();
    let dump = Schedule {
        tenant_id: DUMP_TENANT,
        ..s.clone()
    };
    cat.upsert_schedule(dump).await.unwrap();
    let got = cat.schedule(7).await.unwrap().expect("schedule reads back");
    assert_eq!(got.cron, s.cron);
    assert_eq!(got.storage_params, s.storage_params);
    let at = Utc::now();
    assert!(cat.claim_schedule(7, None, at).await.unwrap());
    cat.schedule_outcome(7, Some(("disk gone".into(), at)))
        .await
        .unwrap();
    let got = cat.schedule(7).await.unwrap().unwrap();
    assert!(got.last_backup_time.is_some());
    assert_eq!(got.last_error.as_deref(), Some("disk gone"));
    cat.schedule_outcome(7, None).await.unwrap();
    assert_eq!(cat.schedule(7).await.unwrap().unwrap().last_error, None);
    // Upsert: one per tenant.
    cat.upsert_schedule(Schedule {
        backups_stored: 2,
        ..s.clone()
    })
    .await
    .unwrap();
    assert_eq!(cat.schedules().await.unwrap().len(), 2);
    assert_eq!(cat.schedule(7).await.unwrap().unwrap().backups_stored, 2);
    assert!(cat.delete_schedule(7).await.unwrap());
    assert!(!cat.delete_schedule(7).await.unwrap());
    assert_eq!(cat.schedule(7).await.unwrap(), None);
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
    // A run time written by upsert (a restored schedule) is claimed from as well.
    let started = Utc::now().trunc_subsecs(6);
    cat.upsert_schedule(Schedule {
        last_backup_time: Some(started),
        ..cat.schedule(tenant).await.unwrap().unwrap()
    })
    .await
    .unwrap();
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

/// A daily schedule of `tenant` to a Local folder that never ran.
pub(super) fn daily(tenant: PortalId) -> Schedule {
    use dsbackup_core::schedule::{Cron, Period};
    Schedule {
        tenant_id: tenant,
        storage: StorageKind::Local,
        storage_params: [("filePath".to_string(), "/b".to_string())].into(),
        cron: Cron::new(Period::EveryDay, 1, None).unwrap(),
        backups_stored: 3,
        last_backup_time: None,
        last_error: None,
        last_error_time: None,
        created_on: Utc::now(),
    }
}

/// Two handles on one database (as two server processes or nodes would be) race 2×20 claims
/// of one due run: exactly one wins, and its time is what the schedule keeps. Several rounds,
/// each from the `last_backup_time` the previous one left. Needs a multi-threaded runtime.
pub async fn race_claims(first: Arc<dyn Catalog>, second: Arc<dyn Catalog>) {
    const PER_HANDLE: usize = 20;
    let tenant = 3;
    first.upsert_schedule(daily(tenant)).await.unwrap();
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
