//! Conformance checks for `HistoryStore::replace_contents`: a restore replaces a portal's
//! rows and records its marker, all portals of one call in one transaction; a clash with
//! another portal's id or a row that fails to read changes nothing.

use chrono::{Duration, SubsecRound, Utc};
use dsbackup_core::catalog::{NewFile, NewFolder, PortalContents, Rows};
use dsbackup_core::{
    Catalog, CoreError, FileEntry, Folder, FolderKind, PortalId, Role, Session, User,
};
use uuid::Uuid;

use super::{new_portal, new_user, portal_with_room};

pub(super) async fn replace_contents(cat: &dyn Catalog) {
    let (p, owner, _, room) = portal_with_room(cat, "restored", "o@r.org", "Old room").await;
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
        cat.folder_in(p.id, room.id).await.unwrap().unwrap().title,
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

/// Restores `portal` as it is plus a folder and a file whose ids are far past every portal's
/// (an archive from another server can hold such ids); returns the two ids.
pub(super) async fn restore_far_ids(
    cat: &dyn Catalog,
    portal: PortalId,
    owner: Uuid,
    root: i64,
) -> (i64, i64) {
    let (mut top_folder, mut top_file) = (0, 0);
    for p in cat.portals().await.unwrap() {
        let folders = cat.folders_of(p.id).await.unwrap();
        let files = cat.files_of(p.id).await.unwrap();
        top_folder = folders.iter().map(|f| f.id).fold(top_folder, i64::max);
        top_file = files.iter().map(|f| f.id).fold(top_file, i64::max);
    }
    let now = Utc::now().trunc_subsecs(6);
    let far = Folder {
        id: top_folder + 1000,
        portal_id: portal,
        parent_id: Some(root),
        title: "Far".into(),
        kind: FolderKind::Folder,
        created_by: owner,
        created_on: now,
    };
    let far_file = FileEntry {
        id: top_file + 1000,
        portal_id: portal,
        folder_id: far.id,
        title: "far.txt".into(),
        size: 0,
        created_by: owner,
        created_on: now,
        is_backup: false,
    };
    let p = cat.portal(portal).await.unwrap().unwrap();
    let mut folders = cat.folders_of(portal).await.unwrap();
    folders.push(far.clone());
    let mut files = cat.files_of(portal).await.unwrap();
    files.push(far_file.clone());
    let contents = PortalContents {
        time_zone: p.time_zone,
        language: p.language,
        owner_id: p.owner_id,
        users: Rows::from_vec(cat.users(portal).await.unwrap()),
        folders: Rows::from_vec(folders),
        files: Rows::from_vec(files),
        api_keys: Rows::from_vec(cat.api_keys_of_portal(portal).await.unwrap()),
    };
    cat.replace_contents(vec![(portal, contents)], Uuid::new_v4())
        .await
        .unwrap();
    assert_eq!(
        cat.folder_in(portal, far.id).await.unwrap(),
        Some(far.clone())
    );
    assert_eq!(
        cat.file_in(portal, far_file.id).await.unwrap(),
        Some(far_file.clone())
    );
    (far.id, far_file.id)
}

/// Ids a restore wrote are never handed out again: new folders and files come after them.
pub(super) async fn restored_ids_are_not_given_again(cat: &dyn Catalog) {
    let (p, owner, root, room) = portal_with_room(cat, "far-ids", "o@far.org", "Room").await;
    let (far_folder, far_file) = restore_far_ids(cat, p.id, owner.id, root.id).await;
    let folder = cat
        .create_folder(NewFolder {
            portal_id: p.id,
            parent_id: Some(room.id),
            title: "After".into(),
            kind: FolderKind::Folder,
            created_by: owner.id,
        })
        .await
        .unwrap();
    assert!(folder.id > far_folder, "{} after {far_folder}", folder.id);
    let file = cat
        .create_file(NewFile {
            portal_id: p.id,
            folder_id: folder.id,
            title: "after.txt".into(),
            size: 1,
            created_by: owner.id,
            is_backup: false,
        })
        .await
        .unwrap();
    assert!(file.id > far_file, "{} after {far_file}", file.id);
    assert!(cat.delete_portal(p.id).await.unwrap());
}
