//! Conformance checks for `FileStore`: the rooms root, rooms, folders and files, no parent
//! or folder across portals; `folder_in`, `file_in`, `child_folders` and `files_in` never
//! show another portal's rows, and the unscoped `folder`/`file` read any.

use dsbackup_core::catalog::{NewFile, NewFolder};
use dsbackup_core::{Catalog, CoreError, FolderKind, Role};

use super::{new_portal, new_user, portal_with_room};

pub(super) async fn folders_and_files(cat: &dyn Catalog) {
    let (p, owner, root, room) = portal_with_room(cat, "files", "o@f.org", "Отчёты").await;
    let (other, other_owner) = cat
        .create_portal(new_portal("other"), new_user("o@o.org", Role::Owner))
        .await
        .unwrap();
    assert_eq!(root.kind, FolderKind::RoomsRoot);
    assert_eq!(cat.folder(room.id).await.unwrap(), Some(room.clone()));
    assert_eq!(
        cat.child_folders(p.id, root.id).await.unwrap(),
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
    assert_eq!(cat.files_in(p.id, room.id).await.unwrap(), vec![f, archive]);
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

/// Every scoped lookup answers `None` (or nothing) for another portal's folder or file, and
/// the same row through its own portal.
pub(super) async fn lookups_are_scoped(cat: &dyn Catalog) {
    let (p, owner, root, room) = portal_with_room(cat, "files-scoped", "o@fs.org", "Room").await;
    let (other, _) = cat
        .create_portal(new_portal("files-peer"), new_user("o@fp.org", Role::Owner))
        .await
        .unwrap();
    let file = cat
        .create_file(NewFile {
            portal_id: p.id,
            folder_id: room.id,
            title: "a.txt".into(),
            size: 1,
            created_by: owner.id,
            is_backup: false,
        })
        .await
        .unwrap();

    assert_eq!(
        cat.folder_in(p.id, room.id).await.unwrap(),
        Some(room.clone())
    );
    assert_eq!(
        cat.folder_in(p.id, root.id).await.unwrap(),
        Some(root.clone())
    );
    assert_eq!(
        cat.folder_in(other.id, room.id).await.unwrap(),
        None,
        "another portal's folder is invisible"
    );
    assert_eq!(cat.folder_in(p.id, i64::MAX).await.unwrap(), None);
    assert_eq!(
        cat.file_in(p.id, file.id).await.unwrap(),
        Some(file.clone())
    );
    assert_eq!(
        cat.file_in(other.id, file.id).await.unwrap(),
        None,
        "another portal's file is invisible"
    );
    assert_eq!(cat.file_in(p.id, i64::MAX).await.unwrap(), None);
    assert!(
        cat.child_folders(other.id, root.id)
            .await
            .unwrap()
            .is_empty(),
        "another portal's subfolders are invisible"
    );
    assert!(
        cat.files_in(other.id, room.id).await.unwrap().is_empty(),
        "another portal's files are invisible"
    );
    assert_eq!(
        cat.files_in(p.id, room.id).await.unwrap(),
        vec![file.clone()]
    );
    // The unscoped lookups, kept where no portal is known, read any portal's row.
    assert_eq!(cat.folder(room.id).await.unwrap(), Some(room));
    assert_eq!(cat.file(file.id).await.unwrap(), Some(file.clone()));
    assert!(cat.delete_file(file.id).await.unwrap());
    assert_eq!(cat.file_in(p.id, file.id).await.unwrap(), None);
}
