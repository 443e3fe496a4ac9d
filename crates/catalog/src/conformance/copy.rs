//! A catalog with rows in every table, everything of it that reads back through the traits,
//! and what a copy of it must still do: for checking that a catalog moved to another backend
//! (`migrate`) is whole and usable, ids and times included.

use chrono::{Duration, Utc};
use dsbackup_core::catalog::{ConsumerProps, NewFile, NewFolder};
use dsbackup_core::{
    ApiKey, BackupRecord, Catalog, DUMP_TENANT, FileEntry, Folder, FolderKind, JobKind, JobRecord,
    Portal, PortalId, Role, Schedule, Session, User,
};
use uuid::Uuid;

use super::history::record;
use super::keys::key;
use super::schedules::daily;
use super::{new_portal, new_user, portal_with_room};

/// The ids a populated catalog is read back by.
#[derive(Debug, Clone)]
pub struct Populated {
    backups: Vec<Uuid>,
    jobs: Vec<Uuid>,
    session: String,
}

/// Everything a populated catalog gives back, per portal and per tenant.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    portals: Vec<Portal>,
    users: Vec<Vec<User>>,
    folders: Vec<Vec<Folder>>,
    files: Vec<Vec<FileEntry>>,
    keys: Vec<Vec<ApiKey>>,
    consumers: Vec<Vec<(String, ConsumerProps)>>,
    markers: Vec<Option<Uuid>>,
    session: Option<Session>,
    backups: Vec<Option<BackupRecord>>,
    schedules: Vec<Schedule>,
    jobs: Vec<Option<JobRecord>>,
    last_jobs: Vec<Option<JobRecord>>,
}

impl Populated {
    /// Reads back everything [`populate`] wrote.
    pub async fn read(&self, cat: &dyn Catalog) -> Snapshot {
        let portals = cat.portals().await.unwrap();
        let mut s = Snapshot {
            portals: portals.clone(),
            users: vec![],
            folders: vec![],
            files: vec![],
            keys: vec![],
            consumers: vec![],
            markers: vec![],
            session: cat.session(&self.session).await.unwrap(),
            backups: vec![],
            schedules: cat.schedules().await.unwrap(),
            jobs: vec![],
            last_jobs: vec![],
        };
        for p in &portals {
            s.users.push(cat.users(p.id).await.unwrap());
            s.folders.push(cat.folders_of(p.id).await.unwrap());
            s.files.push(cat.files_of(p.id).await.unwrap());
            s.keys.push(cat.api_keys_of_portal(p.id).await.unwrap());
            s.consumers.push(cat.consumers(p.id).await.unwrap());
            s.markers.push(cat.restore_marker(p.id).await.unwrap());
            s.last_jobs
                .push(cat.last_job(JobKind::Backup, p.id).await.unwrap());
        }
        for id in &self.backups {
            s.backups.push(cat.backup(*id).await.unwrap());
        }
        for id in &self.jobs {
            s.jobs.push(cat.job(*id).await.unwrap());
        }
        s
    }
}

fn job(tenant: PortalId, started: chrono::DateTime<Utc>) -> JobRecord {
    JobRecord {
        id: Uuid::new_v4(),
        kind: JobKind::Backup,
        tenant_id: tenant,
        started_by: tenant,
        state: dsbackup_core::JobState::Running,
        progress: 40,
        error: String::new(),
        warning: Some("slow".into()),
        link: String::new(),
        node: "node-a".into(),
        heartbeat: started,
        started_on: started,
        finished_on: None,
        scheduled: true,
    }
}

/// Writes a row into every table: two portals (one restored with a folder id past the
/// newest), members, a session, a used key, rooms, files, records (one removed, one noted
/// missing, a dump's), schedules with a run and an error, jobs started at the same time,
/// consumer settings. `cat` must be empty.
pub async fn populate(cat: &dyn Catalog) -> Populated {
    let (p, owner, root, room) = portal_with_room(cat, "copy-a", "o@copy.org", "Room").await;
    super::restore::restore_far_ids(cat, p.id, owner.id, root.id).await;
    let (q, _) = cat
        .create_portal(new_portal("copy-b"), new_user("o@copy-b.org", Role::Owner))
        .await
        .unwrap();
    let member = User {
        portal_id: p.id,
        ..new_user("m@copy.org", Role::User)
    };
    cat.create_user(member.clone()).await.unwrap();
    let session = "copy-session".to_string();
    cat.create_session(Session {
        token_hash: session.clone(),
        user_id: member.id,
        portal_id: p.id,
        expires_at: Utc::now() + Duration::hours(1),
    })
    .await
    .unwrap();
    let key = ApiKey {
        permissions: vec!["backup:write".into(), "rooms:read".into()],
        ..key(p.id, member.id, "copy-key")
    };
    cat.create_api_key(key.clone()).await.unwrap();
    cat.touch_api_key(key.id, Utc::now()).await.unwrap();
    let sub = cat
        .create_folder(NewFolder {
            portal_id: p.id,
            parent_id: Some(room.id),
            title: "Sub".into(),
            kind: FolderKind::Folder,
            created_by: owner.id,
        })
        .await
        .unwrap();
    for (title, is_backup) in [("a.txt", false), ("p.tar.zst", true)] {
        cat.create_file(NewFile {
            portal_id: p.id,
            folder_id: sub.id,
            title: title.into(),
            size: 5,
            created_by: member.id,
            is_backup,
        })
        .await
        .unwrap();
    }
    let consumer: ConsumerProps = [("bucket".to_string(), "b".to_string())].into();
    cat.set_consumer(q.id, "s3", consumer).await.unwrap();

    let live = record(p.id, 30, false);
    let removed = record(p.id, 20, true);
    let dump = record(DUMP_TENANT, 10, false);
    for r in [&live, &removed, &dump] {
        cat.insert_backup(r.clone()).await.unwrap();
    }
    cat.mark_backup_removed(removed.id).await.unwrap();
    cat.note_backup_missing(live.id, Utc::now()).await.unwrap();
    for tenant in [p.id, DUMP_TENANT] {
        cat.upsert_schedule(daily(tenant)).await.unwrap();
    }
    assert!(cat.claim_schedule(p.id, None, Utc::now()).await.unwrap());
    cat.schedule_outcome(p.id, Some(("disk gone".into(), Utc::now())))
        .await
        .unwrap();
    let started = Utc::now();
    let jobs = [job(p.id, started), job(p.id, started), job(q.id, started)];
    for j in &jobs {
        cat.insert_job(j.clone()).await.unwrap();
    }
    Populated {
        backups: vec![live.id, removed.id, dump.id],
        jobs: jobs.iter().map(|j| j.id).collect(),
        session,
    }
}

/// What a copy of a [`populate`]d catalog must still do: give new portals, folders and files
/// ids after every copied one, order a job recorded now after the copied ones started at the
/// same time, and claim a schedule's next run from the run time it kept.
pub async fn after_copy(cat: &dyn Catalog, populated: &Populated) {
    let before = populated.read(cat).await;
    let top = |ids: Vec<i64>| ids.into_iter().max().unwrap_or(0);
    let folders = top(before.folders.iter().flatten().map(|f| f.id).collect());
    let files = top(before.files.iter().flatten().map(|f| f.id).collect());
    let portal = before.portals[0].clone();
    let (q, _) = cat
        .create_portal(new_portal("copy-c"), new_user("o@copy-c.org", Role::Owner))
        .await
        .unwrap();
    assert!(q.id > top(before.portals.iter().map(|p| p.id).collect()));
    let root = cat.rooms_root(q.id).await.unwrap();
    assert!(
        root.id > folders,
        "a new folder id comes after the copied ones"
    );
    let file = cat
        .create_file(NewFile {
            portal_id: q.id,
            folder_id: root.id,
            title: "new.txt".into(),
            size: 1,
            created_by: q.owner_id.unwrap(),
            is_backup: false,
        })
        .await
        .unwrap();
    assert!(file.id > files, "a new file id comes after the copied ones");
    let newest = before.last_jobs[0].clone().unwrap();
    let next = JobRecord {
        id: Uuid::new_v4(),
        ..newest
    };
    cat.insert_job(next.clone()).await.unwrap();
    assert_eq!(
        cat.last_job(JobKind::Backup, portal.id).await.unwrap(),
        Some(next),
        "recorded after the copied jobs"
    );
    let seen = before.schedules[1].last_backup_time;
    assert!(seen.is_some());
    assert!(
        cat.claim_schedule(portal.id, seen, Utc::now())
            .await
            .unwrap()
    );
}
