//! The catalog conformance suite: one set of checks every backend must pass. Each backend's
//! test binary calls [`run_all`] with a fresh, empty catalog.
//!
//! Checks panic with a message naming the broken rule.

#![allow(clippy::unwrap_used)] // a test suite: a failed step is a failed check

mod jobs;

use std::sync::Arc;

use chrono::{Duration, Utc};
use dsbackup_core::catalog::{NewFile, NewFolder, NewPortal, PortalContents, Rows};
use dsbackup_core::{
    ApiKey, BackupRecord, Catalog, CoreError, DUMP_TENANT, FolderKind, PortalStatus, Role, Session,
    StorageKind, User,
};
use uuid::Uuid;

fn new_user(email: &str, role: Role) -> User {
    User {
        id: Uuid::new_v4(),
        portal_id: 0,
        email: email.into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
        role,
        password_hash: "$argon2id$fake".into(),
        created_on: Utc::now(),
    }
}

fn new_portal(alias: &str) -> NewPortal {
    NewPortal {
        alias: alias.into(),
        time_zone: "UTC".into(),
        language: "en-US".into(),
    }
}

/// Runs every check against `cat`, which must start empty.
pub async fn run_all(cat: Arc<dyn Catalog>) {
    portals_and_users(cat.as_ref()).await;
    keys_and_sessions(cat.as_ref()).await;
    revocation(cat.as_ref()).await;
    folders_and_files(cat.as_ref()).await;
    delete_cascades(cat.as_ref()).await;
    backups(cat.as_ref()).await;
    replace_contents(cat.as_ref()).await;
    schedules(cat.as_ref()).await;
    jobs::jobs(cat.as_ref()).await;
    jobs::claim_schedule(cat.as_ref()).await;
}

async fn schedules(cat: &dyn Catalog) {
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
    cat.schedule_started(7, at).await.unwrap();
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

async fn replace_contents(cat: &dyn Catalog) {
    let (p, owner) = cat
        .create_portal(new_portal("restored"), new_user("o@r.org", Role::Owner))
        .await
        .unwrap();
    let root = cat.rooms_root(p.id).await.unwrap();
    let room = cat
        .create_folder(NewFolder {
            portal_id: p.id,
            parent_id: Some(root.id),
            title: "Old room".into(),
            kind: FolderKind::Room { room_type: 5 },
            created_by: owner.id,
        })
        .await
        .unwrap();
    let users = cat.users(p.id).await.unwrap();
    let mut folders = cat.folders_of(p.id).await.unwrap();
    // Rows stream in any order: a child before its parent is fine.
    folders.reverse();
    let contents = |folders: Vec<dsbackup_core::Folder>| PortalContents {
        time_zone: "Europe/Riga".into(),
        language: "lv-LV".into(),
        owner_id: Some(owner.id),
        users: Rows::from_vec(users.clone()),
        folders: Rows::from_vec(folders),
        files: Rows::from_vec(vec![]),
        api_keys: Rows::from_vec(vec![]),
    };
    // Things created after the "backup" disappear; the snapshot's rows come back.
    cat.create_user(User {
        portal_id: p.id,
        ..new_user("late@r.org", Role::User)
    })
    .await
    .unwrap();
    cat.create_session(Session {
        token_hash: "late-session".into(),
        user_id: owner.id,
        portal_id: p.id,
        expires_at: Utc::now() + Duration::hours(1),
    })
    .await
    .unwrap();
    let marker = Uuid::new_v4();
    assert_eq!(cat.restore_marker(p.id).await.unwrap(), None);
    cat.replace_contents(vec![(p.id, contents(folders.clone()))], marker)
        .await
        .unwrap();
    assert_eq!(cat.restore_marker(p.id).await.unwrap(), Some(marker));
    assert_eq!(cat.users(p.id).await.unwrap(), users);
    folders.reverse();
    assert_eq!(cat.folders_of(p.id).await.unwrap(), folders);
    assert_eq!(
        cat.folder(room.id).await.unwrap().unwrap().title,
        "Old room"
    );
    assert_eq!(
        cat.session("late-session").await.unwrap(),
        None,
        "sessions are reset"
    );
    assert_eq!(
        cat.portal(p.id).await.unwrap().unwrap().time_zone,
        "Europe/Riga"
    );

    // An id taken by another portal is a conflict, and nothing changes.
    let (other, other_owner) = cat
        .create_portal(new_portal("bystander"), new_user("o@b.org", Role::Owner))
        .await
        .unwrap();
    let other_root = cat.rooms_root(other.id).await.unwrap();
    let mut clash = folders.clone();
    clash.push(dsbackup_core::Folder {
        id: other_root.id,
        ..room.clone()
    });
    let err = cat
        .replace_contents(vec![(p.id, contents(clash))], Uuid::new_v4())
        .await;
    assert!(matches!(err, Err(CoreError::Conflict(_))), "{err:?}");
    assert_eq!(
        cat.restore_marker(p.id).await.unwrap(),
        Some(marker),
        "rolled back"
    );
    assert_eq!(cat.users(p.id).await.unwrap(), users);
    // A row that fails to read aborts the whole write.
    let mut broken = contents(folders.clone());
    broken.files = Rows::new(std::iter::once(Err(CoreError::Invalid("bad row".into()))));
    let err = cat
        .replace_contents(vec![(p.id, broken)], Uuid::new_v4())
        .await;
    assert!(matches!(err, Err(CoreError::Invalid(_))), "{err:?}");
    // Several portals in one call are all or nothing: the second one's failure keeps the first.
    let second = contents(folders.clone());
    let mut failing = contents(folders.clone());
    failing.files = Rows::new(std::iter::once(Err(CoreError::Invalid("bad row".into()))));
    let (other_portal, _) = cat
        .create_portal(new_portal("second"), new_user("o@s.org", Role::Owner))
        .await
        .unwrap();
    let err = cat
        .replace_contents(
            vec![(p.id, second), (other_portal.id, failing)],
            Uuid::new_v4(),
        )
        .await;
    assert!(err.is_err());
    assert_eq!(cat.restore_marker(p.id).await.unwrap(), Some(marker));
    assert_eq!(cat.restore_marker(p.id).await.unwrap(), Some(marker));
    assert_eq!(cat.users(p.id).await.unwrap(), users);
    assert_eq!(
        cat.user(other_owner.id).await.unwrap().unwrap().portal_id,
        other.id
    );

    assert!(!cat.backup_hash_known(p.id, "ab").await.unwrap());
}

fn record(tenant: i64, minutes_ago: i64, paid: bool) -> BackupRecord {
    BackupRecord {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        is_scheduled: false,
        name: "p_2026-01-01_00-00-00.tar.zst".into(),
        hash: "AB".repeat(32),
        size: 1234,
        storage: StorageKind::Local,
        storage_base_path: "/backups".into(),
        storage_path: "/backups/p.tar.zst".into(),
        storage_params: [("filePath".to_string(), "/backups".to_string())].into(),
        created_on: Utc::now() - Duration::minutes(minutes_ago),
        expires_on: None,
        removed: false,
        paid,
        missing: None,
    }
}

async fn backups(cat: &dyn Catalog) {
    let a = record(7, 10, false);
    let b = BackupRecord {
        expires_on: Some(Utc::now() + Duration::days(1)),
        storage: StorageKind::DataStore,
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
    assert_eq!(got.storage, StorageKind::DataStore);
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
    missing_archives(cat).await;
}

async fn missing_archives(cat: &dyn Catalog) {
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

async fn portals_and_users(cat: &dyn Catalog) {
    let (p, owner) = cat
        .create_portal(new_portal("alpha"), new_user("o@a.org", Role::Owner))
        .await
        .expect("create portal");
    assert_eq!(owner.portal_id, p.id, "owner joins the new portal");
    assert_eq!(p.owner_id, Some(owner.id));
    assert_eq!(p.status, PortalStatus::Active);
    let again = cat
        .create_portal(new_portal("alpha"), new_user("x@a.org", Role::Owner))
        .await;
    assert!(
        matches!(again, Err(CoreError::Conflict(_))),
        "alias is unique: {again:?}"
    );
    assert_eq!(
        cat.portals().await.unwrap().len(),
        1,
        "a failed create leaves nothing"
    );
    assert!(cat.users_by_email("x@a.org").await.unwrap().is_empty());

    assert_eq!(cat.portal(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(cat.portal_by_alias("alpha").await.unwrap(), Some(p.clone()));
    assert_eq!(cat.portal_by_alias("nope").await.unwrap(), None);

    cat.set_portal_status(p.id, PortalStatus::Restoring)
        .await
        .unwrap();
    assert_eq!(
        cat.portal(p.id).await.unwrap().unwrap().status,
        PortalStatus::Restoring
    );
    cat.set_portal_status(p.id, PortalStatus::Active)
        .await
        .unwrap();
    assert!(matches!(
        cat.set_portal_status(9999, PortalStatus::Active).await,
        Err(CoreError::NotFound(_))
    ));

    let admin = User {
        portal_id: p.id,
        ..new_user("adm@a.org", Role::DocSpaceAdmin)
    };
    cat.create_user(admin.clone()).await.unwrap();
    let dup = User {
        portal_id: p.id,
        ..new_user("adm@a.org", Role::User)
    };
    assert!(matches!(
        cat.create_user(dup).await,
        Err(CoreError::Conflict(_))
    ));
    let got = cat.user(admin.id).await.unwrap().expect("user reads back");
    assert_eq!(got.role, Role::DocSpaceAdmin);
    assert_eq!(got.email, "adm@a.org");
    assert_eq!(cat.users(p.id).await.unwrap().len(), 2);
    assert_eq!(cat.users_by_email("adm@a.org").await.unwrap().len(), 1);
}

async fn keys_and_sessions(cat: &dyn Catalog) {
    let (p, owner) = cat
        .create_portal(new_portal("keys"), new_user("o@k.org", Role::Owner))
        .await
        .unwrap();
    let now = Utc::now();
    let key = ApiKey {
        id: Uuid::new_v4(),
        portal_id: p.id,
        user_id: owner.id,
        name: "ci".into(),
        key_hash: "h1".into(),
        key_postfix: "abcd".into(),
        permissions: vec!["*".into()],
        created_on: now,
        expires_at: Some(now + Duration::days(3)),
        last_used: None,
        is_active: true,
    };
    cat.create_api_key(key.clone()).await.unwrap();
    let got = cat
        .api_key_by_hash("h1")
        .await
        .unwrap()
        .expect("key by hash");
    assert_eq!(got.id, key.id);
    assert_eq!(got.permissions, vec!["*".to_string()]);
    assert!(got.expires_at.is_some());
    let mut changed = got.clone();
    changed.name = "renamed".into();
    changed.is_active = false;
    changed.permissions = vec!["files:read".into()];
    cat.update_api_key(&changed).await.unwrap();
    let got = cat.api_key(key.id).await.unwrap().unwrap();
    assert_eq!((got.name.as_str(), got.is_active), ("renamed", false));
    cat.touch_api_key(key.id, now).await.unwrap();
    assert!(
        cat.api_key(key.id)
            .await
            .unwrap()
            .unwrap()
            .last_used
            .is_some()
    );
    assert_eq!(cat.api_keys_of(owner.id).await.unwrap().len(), 1);
    assert!(cat.delete_api_key(key.id).await.unwrap());
    assert!(!cat.delete_api_key(key.id).await.unwrap());
    assert!(matches!(
        cat.update_api_key(&changed).await,
        Err(CoreError::NotFound(_))
    ));

    let s = Session {
        token_hash: "t1".into(),
        user_id: owner.id,
        portal_id: p.id,
        expires_at: now,
    };
    cat.create_session(s.clone()).await.unwrap();
    let got = cat.session("t1").await.unwrap().expect("session");
    assert_eq!(got.user_id, owner.id);
    assert_eq!(cat.session("t2").await.unwrap(), None);
}

async fn revocation(cat: &dyn Catalog) {
    let (p, owner) = cat
        .create_portal(new_portal("revoke"), new_user("o@r.org", Role::Owner))
        .await
        .unwrap();
    let member = User {
        portal_id: p.id,
        ..new_user("m@r.org", Role::User)
    };
    cat.create_user(member.clone()).await.unwrap();
    let later = Utc::now() + Duration::hours(1);
    for (hash, user) in [("r1", owner.id), ("r2", member.id), ("r3", member.id)] {
        cat.create_session(Session {
            token_hash: hash.into(),
            user_id: user,
            portal_id: p.id,
            expires_at: later,
        })
        .await
        .unwrap();
    }
    let key = ApiKey {
        id: Uuid::new_v4(),
        portal_id: p.id,
        user_id: member.id,
        name: "m".into(),
        key_hash: "rk".into(),
        key_postfix: "rk".into(),
        permissions: vec!["*".into()],
        created_on: Utc::now(),
        expires_at: None,
        last_used: None,
        is_active: true,
    };
    cat.create_api_key(key.clone()).await.unwrap();

    assert!(cat.delete_session("r1").await.unwrap(), "logout ends it");
    assert_eq!(cat.session("r1").await.unwrap(), None);
    assert!(!cat.delete_session("r1").await.unwrap());

    assert!(
        cat.set_password(member.id, "$argon2id$new", Some("r2"))
            .await
            .unwrap()
    );
    assert_eq!(
        cat.user(member.id).await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    assert!(
        cat.session("r2").await.unwrap().is_some(),
        "the session the change came through stays"
    );
    assert_eq!(
        cat.session("r3").await.unwrap(),
        None,
        "a password change ends the member's other sessions"
    );
    cat.set_password(member.id, "$argon2id$newer", None)
        .await
        .unwrap();
    assert_eq!(cat.session("r2").await.unwrap(), None);
    assert!(!cat.set_password(Uuid::new_v4(), "x", None).await.unwrap());

    cat.create_session(Session {
        token_hash: "r4".into(),
        user_id: member.id,
        portal_id: p.id,
        expires_at: later,
    })
    .await
    .unwrap();
    assert!(cat.delete_user(member.id).await.unwrap());
    assert_eq!(cat.user(member.id).await.unwrap(), None);
    assert_eq!(cat.session("r4").await.unwrap(), None, "sessions go");
    assert_eq!(cat.api_key(key.id).await.unwrap(), None, "keys go");
    assert!(!cat.delete_user(member.id).await.unwrap());
    assert!(cat.user(owner.id).await.unwrap().is_some());
}

async fn folders_and_files(cat: &dyn Catalog) {
    let (p, owner) = cat
        .create_portal(new_portal("files"), new_user("o@f.org", Role::Owner))
        .await
        .unwrap();
    let (other, other_owner) = cat
        .create_portal(new_portal("other"), new_user("o@o.org", Role::Owner))
        .await
        .unwrap();
    let root = cat.rooms_root(p.id).await.unwrap();
    assert_eq!(root.kind, FolderKind::RoomsRoot);
    let room = cat
        .create_folder(NewFolder {
            portal_id: p.id,
            parent_id: Some(root.id),
            title: "Отчёты".into(),
            kind: FolderKind::Room { room_type: 5 },
            created_by: owner.id,
        })
        .await
        .unwrap();
    assert_eq!(cat.folder(room.id).await.unwrap(), Some(room.clone()));
    assert_eq!(
        cat.child_folders(root.id).await.unwrap(),
        vec![room.clone()]
    );
    let cross = cat
        .create_folder(NewFolder {
            portal_id: other.id,
            parent_id: Some(room.id),
            title: "x".into(),
            kind: FolderKind::Folder,
            created_by: other_owner.id,
        })
        .await;
    assert!(
        matches!(cross, Err(CoreError::NotFound(_))),
        "no folders across portals"
    );
    let f = cat
        .create_file(NewFile {
            portal_id: p.id,
            folder_id: room.id,
            title: "a.txt".into(),
            size: 3,
            created_by: owner.id,
            is_backup: false,
        })
        .await
        .unwrap();
    assert_eq!(cat.file(f.id).await.unwrap(), Some(f.clone()));
    let archive = cat
        .create_file(NewFile {
            portal_id: p.id,
            folder_id: room.id,
            title: "p_2026-01-01_00-00-00.tar.zst".into(),
            size: 9,
            created_by: owner.id,
            is_backup: true,
        })
        .await
        .unwrap();
    assert!(archive.is_backup);
    assert_eq!(
        cat.file(archive.id).await.unwrap(),
        Some(archive.clone()),
        "the backup mark reads back"
    );
    assert_eq!(cat.files_in(room.id).await.unwrap(), vec![f, archive]);
    let cross = cat
        .create_file(NewFile {
            portal_id: other.id,
            folder_id: room.id,
            title: "b".into(),
            size: 0,
            created_by: other_owner.id,
            is_backup: false,
        })
        .await;
    assert!(
        matches!(cross, Err(CoreError::NotFound(_))),
        "no files across portals"
    );
}

async fn delete_cascades(cat: &dyn Catalog) {
    let (p, owner) = cat
        .create_portal(new_portal("doomed"), new_user("o@d.org", Role::Owner))
        .await
        .unwrap();
    let root = cat.rooms_root(p.id).await.unwrap();
    assert!(cat.delete_portal(p.id).await.unwrap());
    assert!(!cat.delete_portal(p.id).await.unwrap());
    assert_eq!(cat.portal(p.id).await.unwrap(), None);
    assert_eq!(
        cat.user(owner.id).await.unwrap(),
        None,
        "members go with the portal"
    );
    assert_eq!(
        cat.folder(root.id).await.unwrap(),
        None,
        "folders go with the portal"
    );
}
