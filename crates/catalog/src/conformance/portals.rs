//! Conformance checks for `PortalStore`: portals, members and sessions, revoking sessions
//! and keys with a password change or a member's removal, deleting a portal with everything
//! it holds; a member is visible through `user_in` in their own portal only.

use chrono::{Duration, Utc};
use dsbackup_core::{ApiKey, Catalog, CoreError, PortalStatus, Role, Session, User};
use uuid::Uuid;

use super::{new_portal, new_user};

pub(super) async fn portals_and_users(cat: &dyn Catalog) {
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

pub(super) async fn revocation(cat: &dyn Catalog) {
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
    assert_eq!(
        cat.api_key_of(member.id, key.id).await.unwrap(),
        None,
        "keys go"
    );
    assert!(!cat.delete_user(member.id).await.unwrap());
    assert!(cat.user(owner.id).await.unwrap().is_some());
}

pub(super) async fn delete_cascades(cat: &dyn Catalog) {
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
        cat.folder_in(p.id, root.id).await.unwrap(),
        None,
        "folders go with the portal"
    );
}

/// Sessions read back by token hash; an unknown hash is none.
pub(super) async fn sessions(cat: &dyn Catalog) {
    let (p, owner) = cat
        .create_portal(new_portal("sessions"), new_user("o@s1.org", Role::Owner))
        .await
        .unwrap();
    let s = Session {
        token_hash: "t1".into(),
        user_id: owner.id,
        portal_id: p.id,
        expires_at: Utc::now(),
    };
    cat.create_session(s.clone()).await.unwrap();
    let got = cat.session("t1").await.unwrap().expect("session");
    assert_eq!(got.user_id, owner.id);
    assert_eq!(got.portal_id, p.id);
    assert_eq!(cat.session("t2").await.unwrap(), None);
}

/// `user_in` finds a member in their own portal only.
pub(super) async fn members_are_scoped(cat: &dyn Catalog) {
    let (p, owner) = cat
        .create_portal(new_portal("members"), new_user("o@m.org", Role::Owner))
        .await
        .unwrap();
    let (other, other_owner) = cat
        .create_portal(
            new_portal("members-other"),
            new_user("o@mo.org", Role::Owner),
        )
        .await
        .unwrap();
    let stored = cat.user(owner.id).await.unwrap();
    assert!(stored.is_some());
    assert_eq!(cat.user_in(p.id, owner.id).await.unwrap(), stored);
    assert_eq!(
        cat.user_in(other.id, owner.id).await.unwrap(),
        None,
        "another portal's member is invisible"
    );
    assert_eq!(
        cat.user_in(p.id, other_owner.id).await.unwrap(),
        None,
        "and the other way round"
    );
    assert_eq!(cat.user_in(p.id, Uuid::new_v4()).await.unwrap(), None);
}
