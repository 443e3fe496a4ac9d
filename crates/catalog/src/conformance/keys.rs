//! Conformance checks for `KeyStore`: API keys read back by hash and by owner, updated,
//! touched and deleted; a key is visible through `api_key_of` to its owner only.

use chrono::{Duration, SubsecRound, Utc};
use dsbackup_core::{ApiKey, Catalog, CoreError, Role, User};
use uuid::Uuid;

use super::{new_portal, new_user};

/// A key stamped at a time every backend stores exactly (microseconds).
pub(super) fn key(portal: i64, user: Uuid, hash: &str) -> ApiKey {
    let now = Utc::now().trunc_subsecs(6);
    ApiKey {
        id: Uuid::new_v4(),
        portal_id: portal,
        user_id: user,
        name: "ci".into(),
        key_hash: hash.into(),
        key_postfix: "abcd".into(),
        permissions: vec!["*".into()],
        created_on: now,
        expires_at: Some(now + Duration::days(3)),
        last_used: None,
        is_active: true,
    }
}

pub(super) async fn keys(cat: &dyn Catalog) {
    let (p, owner) = cat
        .create_portal(new_portal("keys"), new_user("o@k.org", Role::Owner))
        .await
        .unwrap();
    let now = Utc::now();
    let key = key(p.id, owner.id, "h1");
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
    let got = cat.api_key_of(owner.id, key.id).await.unwrap().unwrap();
    assert_eq!((got.name.as_str(), got.is_active), ("renamed", false));
    cat.touch_api_key(key.id, now).await.unwrap();
    assert!(
        cat.api_key_of(owner.id, key.id)
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
}

/// `api_key_of` answers for the key's owner only: not another member of the same portal, not
/// a member of another portal.
pub(super) async fn keys_are_scoped(cat: &dyn Catalog) {
    let (p, owner) = cat
        .create_portal(new_portal("keys-scoped"), new_user("o@ks.org", Role::Owner))
        .await
        .unwrap();
    let (_, stranger) = cat
        .create_portal(new_portal("keys-other"), new_user("o@ko.org", Role::Owner))
        .await
        .unwrap();
    let colleague = User {
        portal_id: p.id,
        ..new_user("c@ks.org", Role::DocSpaceAdmin)
    };
    cat.create_user(colleague.clone()).await.unwrap();
    let k = key(p.id, owner.id, "scoped-hash");
    cat.create_api_key(k.clone()).await.unwrap();
    assert_eq!(
        cat.api_key_of(owner.id, k.id).await.unwrap(),
        Some(k.clone())
    );
    assert_eq!(
        cat.api_key_of(colleague.id, k.id).await.unwrap(),
        None,
        "another member's key is invisible"
    );
    assert_eq!(
        cat.api_key_of(stranger.id, k.id).await.unwrap(),
        None,
        "another portal's key is invisible"
    );
    assert_eq!(
        cat.api_key_of(owner.id, Uuid::new_v4()).await.unwrap(),
        None
    );
}
