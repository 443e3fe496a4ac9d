//! Conformance checks for `ConsumerStore`: consumer settings are per portal and replaced as a
//! whole; `rewrite_secrets` reaches consumer settings, records and schedules, all or nothing.

use dsbackup_core::catalog::{ConsumerProps, ParamRewrite};
use dsbackup_core::schedule::{Cron, Period};
use dsbackup_core::{BackupRecord, Catalog, CoreError, Schedule, StorageKind};

use super::history::record;
use super::portal_with_room;

fn props(pairs: &[(&str, &str)]) -> ConsumerProps {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) async fn consumers(cat: &dyn Catalog) {
    let (a, ..) = portal_with_room(cat, "consumers-a", "a@consumers.example", "R").await;
    let (b, ..) = portal_with_room(cat, "consumers-b", "b@consumers.example", "R").await;
    assert_eq!(cat.consumer(a.id, "s3").await.unwrap(), None);
    let s3 = props(&[("acesskey", "AK"), ("secretaccesskey", "SK")]);
    cat.set_consumer(a.id, "s3", s3.clone()).await.unwrap();
    cat.set_consumer(a.id, "googlecloud", props(&[("json", "{}")]))
        .await
        .unwrap();
    assert_eq!(cat.consumer(a.id, "s3").await.unwrap(), Some(s3));
    // Another portal's settings are invisible.
    assert_eq!(cat.consumer(b.id, "s3").await.unwrap(), None);
    assert!(cat.consumers(b.id).await.unwrap().is_empty());
    assert!(!cat.delete_consumer(b.id, "s3").await.unwrap());
    // Replace, not merge.
    cat.set_consumer(a.id, "s3", props(&[("acesskey", "AK2")]))
        .await
        .unwrap();
    assert_eq!(
        cat.consumer(a.id, "s3").await.unwrap(),
        Some(props(&[("acesskey", "AK2")]))
    );
    let names: Vec<String> = cat
        .consumers(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["googlecloud", "s3"]);
    assert!(cat.delete_consumer(a.id, "s3").await.unwrap());
    assert_eq!(cat.consumer(a.id, "s3").await.unwrap(), None);
    assert!(matches!(
        cat.set_consumer(999_999, "s3", ConsumerProps::new()).await,
        Err(CoreError::NotFound(_))
    ));
    // Deleting the portal takes its settings along.
    assert!(cat.delete_portal(a.id).await.unwrap());
    assert!(cat.consumers(a.id).await.unwrap().is_empty());
}

/// `old:<x>` → `new:<x>`; fails on `bad:*`.
fn renamer() -> ParamRewrite {
    Box::new(|_name, value| {
        if value.starts_with("bad:") {
            return Err("cannot rewrite this one".into());
        }
        Ok(value.strip_prefix("old:").map(|rest| format!("new:{rest}")))
    })
}

pub(super) async fn rewrite_secrets(cat: &dyn Catalog) {
    let (p, ..) = portal_with_room(cat, "rewrite", "r@rewrite.example", "R").await;
    cat.set_consumer(
        p.id,
        "s3",
        props(&[("secretaccesskey", "old:1"), ("bucket", "b")]),
    )
    .await
    .unwrap();
    let mut rec = record(p.id, 1, false);
    rec.storage_params = props(&[("password", "old:2"), ("filePath", "/x")]);
    cat.insert_backup(rec.clone()).await.unwrap();
    let schedule = Schedule {
        tenant_id: p.id,
        storage: StorageKind::Local,
        storage_params: props(&[("password", "old:3"), ("filePath", "/x")]),
        cron: Cron::new(Period::EveryDay, 3, None).unwrap(),
        backups_stored: 2,
        last_backup_time: None,
        last_error: None,
        last_error_time: None,
        created_on: chrono::Utc::now(),
    };
    cat.upsert_schedule(schedule.clone()).await.unwrap();
    let snapshot = |rec: BackupRecord| async move {
        (
            cat.consumer(p.id, "s3").await.unwrap().unwrap(),
            cat.backup(rec.id).await.unwrap().unwrap().storage_params,
            cat.schedule(p.id).await.unwrap().unwrap().storage_params,
        )
    };
    // One value `f` cannot rewrite: nothing changes anywhere.
    let mut bad = record(p.id, 2, false);
    bad.storage_params = props(&[("password", "bad:4")]);
    cat.insert_backup(bad.clone()).await.unwrap();
    let before = snapshot(rec.clone()).await;
    let err = cat.rewrite_secrets(renamer()).await.unwrap_err();
    assert!(err.to_string().contains("cannot rewrite this one"), "{err}");
    assert_eq!(snapshot(rec.clone()).await, before, "all or nothing");
    // Without it, every place is rewritten and other values are left alone.
    cat.erase_backup(bad.id).await.unwrap();
    assert_eq!(cat.rewrite_secrets(renamer()).await.unwrap(), 3);
    let (consumer, record_params, schedule_params) = snapshot(rec.clone()).await;
    assert_eq!(
        consumer,
        props(&[("secretaccesskey", "new:1"), ("bucket", "b")])
    );
    assert_eq!(
        record_params,
        props(&[("password", "new:2"), ("filePath", "/x")])
    );
    assert_eq!(
        schedule_params,
        props(&[("password", "new:3"), ("filePath", "/x")])
    );
    let got = cat.schedule(p.id).await.unwrap().unwrap();
    assert_eq!(
        (got.cron, got.backups_stored),
        (schedule.cron, 2),
        "the rest kept"
    );
    assert_eq!(cat.rewrite_secrets(renamer()).await.unwrap(), 0);
    cat.erase_backup(rec.id).await.unwrap();
    cat.delete_schedule(p.id).await.unwrap();
    cat.delete_portal(p.id).await.unwrap();
}
