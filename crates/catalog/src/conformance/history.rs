//! Conformance checks for `HistoryStore`'s backup records: per-tenant listing, soft and hard
//! deletes, counting, known hashes, missing-archive notes; `backup_of` never shows another
//! tenant's record.

use chrono::{Duration, Utc};
use dsbackup_core::{ArchiveLocation, BackupRecord, Catalog, CoreError, DUMP_TENANT, StorageKind};
use uuid::Uuid;

pub(super) fn record(tenant: i64, minutes_ago: i64, paid: bool) -> BackupRecord {
    BackupRecord {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        is_scheduled: false,
        name: "p_2026-01-01_00-00-00.tar.zst".into(),
        hash: "AB".repeat(32),
        size: 1234,
        location: ArchiveLocation::Local {
            dir: "/backups".into(),
            name: "p.tar.zst".into(),
        },
        storage_params: [("filePath".to_string(), "/backups".to_string())].into(),
        created_on: Utc::now() - Duration::minutes(minutes_ago),
        expires_on: None,
        removed: false,
        paid,
        missing: None,
    }
}

pub(super) async fn backups(cat: &dyn Catalog) {
    let a = record(7, 10, false);
    let b = BackupRecord {
        expires_on: Some(Utc::now() + Duration::days(1)),
        location: ArchiveLocation::DataStore {
            tenant: 7,
            name: "b.tar.zst".into(),
        },
        ..record(7, 5, false)
    };
    let other = record(8, 1, false);
    let dump = record(DUMP_TENANT, 1, false);
    let paid = record(7, 1, true);
    for r in [&a, &b, &other, &dump, &paid] {
        cat.insert_backup(r.clone()).await.unwrap();
    }
    assert!(matches!(
        cat.insert_backup(a.clone()).await,
        Err(CoreError::Conflict(_))
    ));
    let got = cat.backup(b.id).await.unwrap().expect("record reads back");
    assert_eq!(got.storage(), StorageKind::DataStore);
    assert_eq!(
        got.location, b.location,
        "the location comes back as written"
    );
    assert_eq!(got.storage_params, b.storage_params);
    assert!(got.expires_on.is_some());
    let live: Vec<_> = cat
        .live_backups(7)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        live,
        vec![a.id, b.id, paid.id],
        "oldest first, own tenant only"
    );
    assert_eq!(
        cat.live_backups(DUMP_TENANT).await.unwrap().len(),
        1,
        "dumps apart"
    );

    assert!(cat.mark_backup_removed(a.id).await.unwrap());
    assert!(!cat.mark_backup_removed(a.id).await.unwrap(), "only once");
    assert_eq!(cat.live_backups(7).await.unwrap().len(), 2);
    assert!(
        cat.backup(a.id).await.unwrap().unwrap().removed,
        "removed rows stay"
    );

    let (from, to) = (Utc::now() - Duration::hours(1), Utc::now());
    assert_eq!(
        cat.count_backups(7, from, to, false).await.unwrap(),
        2,
        "removed ones count"
    );
    assert_eq!(cat.count_backups(7, from, to, true).await.unwrap(), 1);
    assert_eq!(cat.count_backups(7, to, to, false).await.unwrap(), 0);

    assert!(cat.erase_backup(paid.id).await.unwrap());
    assert_eq!(
        cat.backup(paid.id).await.unwrap(),
        None,
        "erased rows are gone"
    );
    assert_eq!(cat.count_backups(7, from, to, true).await.unwrap(), 0);
    assert!(!cat.erase_backup(paid.id).await.unwrap());
    assert!(
        cat.backup_hash_known(7, &a.hash.to_lowercase())
            .await
            .unwrap(),
        "removed ones count"
    );
    assert!(
        !cat.backup_hash_known(9, &paid.hash).await.unwrap(),
        "per tenant"
    );
}

pub(super) async fn missing_archives(cat: &dyn Catalog) {
    let r = record(11, 30, false);
    cat.insert_backup(r.clone()).await.unwrap();
    assert_eq!(cat.backup(r.id).await.unwrap().unwrap().missing, None);
    assert!(!cat.clear_backup_missing(r.id).await.unwrap(), "none yet");
    let t0 = Utc::now() - Duration::hours(2);
    let first = cat.note_backup_missing(r.id, t0).await.unwrap().unwrap();
    assert_eq!(first.checks, 1);
    let second = cat
        .note_backup_missing(r.id, t0 + Duration::hours(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.checks, 2, "each check counts");
    assert_eq!(second.since, first.since, "the first time is kept");
    assert!((second.since - t0).num_milliseconds().abs() < 1);
    let got = cat.backup(r.id).await.unwrap().unwrap();
    assert_eq!(got.missing, Some(second), "the record carries it");
    assert!(!got.removed, "noting changes nothing else");
    assert_eq!(cat.live_backups(11).await.unwrap()[0].missing, Some(second));
    assert!(cat.clear_backup_missing(r.id).await.unwrap());
    assert_eq!(cat.backup(r.id).await.unwrap().unwrap().missing, None);
    let again = cat.note_backup_missing(r.id, Utc::now()).await.unwrap();
    assert_eq!(again.map(|m| m.checks), Some(1), "counting starts afresh");
    assert_eq!(
        cat.note_backup_missing(Uuid::new_v4(), Utc::now())
            .await
            .unwrap(),
        None,
        "unknown record"
    );
    cat.mark_backup_removed(r.id).await.unwrap();
    assert_eq!(
        cat.note_backup_missing(r.id, Utc::now()).await.unwrap(),
        None,
        "removed records are not observed"
    );
}

/// `backup_of` reads a record through its own tenant only: not another portal's, and not the
/// whole instance's (`DUMP_TENANT`) through a portal, nor the other way round.
pub(super) async fn records_are_scoped(cat: &dyn Catalog) {
    let mine = record(21, 3, false);
    let theirs = record(22, 2, false);
    let dump = record(DUMP_TENANT, 1, false);
    for r in [&mine, &theirs, &dump] {
        cat.insert_backup(r.clone()).await.unwrap();
    }
    let id = |r: Option<BackupRecord>| r.map(|r| r.id);
    assert_eq!(id(cat.backup_of(21, mine.id).await.unwrap()), Some(mine.id));
    assert_eq!(
        cat.backup_of(21, theirs.id).await.unwrap(),
        None,
        "another portal's record is invisible"
    );
    assert_eq!(cat.backup_of(22, mine.id).await.unwrap(), None);
    assert_eq!(
        cat.backup_of(21, dump.id).await.unwrap(),
        None,
        "a dump is not a portal's"
    );
    assert_eq!(
        id(cat.backup_of(DUMP_TENANT, dump.id).await.unwrap()),
        Some(dump.id)
    );
    assert_eq!(cat.backup_of(DUMP_TENANT, mine.id).await.unwrap(), None);
    cat.mark_backup_removed(mine.id).await.unwrap();
    assert!(
        cat.backup_of(21, mine.id).await.unwrap().unwrap().removed,
        "removed records still read back"
    );
    assert_eq!(cat.backup_of(21, Uuid::new_v4()).await.unwrap(), None);
}
