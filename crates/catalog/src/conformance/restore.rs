//! Conformance checks for `HistoryStore::replace_contents`: a restore replaces a portal's
//! rows and records its marker, all portals of one call in one transaction; a clash with
//! another portal's id or a row that fails to read changes nothing.

use chrono::{Duration, Utc};
use dsbackup_core::catalog::{PortalContents, Rows};
use dsbackup_core::{Catalog, CoreError, Role, Session, User};
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
