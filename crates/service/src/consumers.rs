//! A portal's storage consumer credentials (`POST settings/authservice`), as the service
//! keeps them: secret values sealed before the catalog stores them ([`crate::secrets`]),
//! opened when read. Setting merges with what is stored, as DocSpace's authservice does: a
//! property with an empty value is cleared, properties not named are kept.

use std::collections::BTreeMap;

use dsbackup_core::PortalId;

use crate::{Service, ServiceResult};

/// Merges `props` into consumer `name`'s stored credentials of `portal`: a non-empty value
/// replaces (secret ones sealed), an empty value clears that property; a consumer left with
/// no property is removed.
///
/// Fails with `NotFound` when the portal does not exist, `Internal` when the catalog fails.
pub async fn set_credentials(
    svc: &Service,
    portal: PortalId,
    name: &str,
    props: BTreeMap<String, String>,
) -> ServiceResult<()> {
    let mut stored = svc
        .catalog()
        .consumer(portal, name)
        .await?
        .unwrap_or_default();
    for (key, value) in svc.sealer().seal_params(&props) {
        if value.is_empty() {
            stored.remove(&key);
        } else {
            stored.insert(key, value);
        }
    }
    if stored.is_empty() {
        svc.catalog().delete_consumer(portal, name).await?;
    } else {
        svc.catalog().set_consumer(portal, name, stored).await?;
    }
    tracing::info!(portal, consumer = name, "consumer credentials saved");
    Ok(())
}

/// Consumer `name`'s credentials of `portal`, opened; empty when none are stored.
///
/// Fails with `Internal` when the catalog fails or a stored value does not open (sealed
/// with another key, or damaged); the error never holds the value.
pub async fn credentials(
    svc: &Service,
    portal: PortalId,
    name: &str,
) -> ServiceResult<BTreeMap<String, String>> {
    let stored = svc
        .catalog()
        .consumer(portal, name)
        .await?
        .unwrap_or_default();
    Ok(svc.sealer().open_params(&stored)?)
}

/// Whether every one of `managed_keys` has a non-empty stored value for consumer `name` of
/// `portal` (DocSpace's `isSet`). Nothing is opened.
///
/// Fails with `Internal` when the catalog fails.
pub async fn is_set(
    svc: &Service,
    portal: PortalId,
    name: &str,
    managed_keys: &[&str],
) -> ServiceResult<bool> {
    let stored = svc
        .catalog()
        .consumer(portal, name)
        .await?
        .unwrap_or_default();
    Ok(managed_keys
        .iter()
        .all(|k| stored.get(*k).is_some_and(|v| !v.is_empty())))
}
