//! The portal's third-party backup account (storage type 1, `ThridpartyDocuments`;
//! STORAGES.md §3): at most one per portal (DocSpace's FolderType 21), a WebDAV server
//! (Nextcloud, ownCloud and kDrive are WebDAV too, stored as `WebDav`) whose folders
//! `sbox-<n>[-<path>]` a backup, schedule or restore names as its `folderId`. The backend of
//! such a folder is built in `remote.rs` (module [`THIRD_PARTY_WEBDAV`]) from the account this
//! module keeps.
//!
//! The account is stored as a reserved entry of the `ConsumerStore` rather than a table of its
//! own: it is a handful of string properties per portal, exactly what that store keeps, so it
//! is portal-scoped, removed with its portal, and its sealed `password` is rewritten by key
//! rotation (`rewrite_secrets`) with no new trait, migration or conformance case. The entry's
//! name is no DocSpace consumer id, and authservice accepts only those, so no client reaches it.
//! Its provider id `<n>` is the portal's id: unique, and kept when the account is replaced, as
//! upstream keeps the provider id.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dsbackup_core::perm::Scope;
use dsbackup_core::storage::{WriteBackend, check_key};
use dsbackup_core::{Actor, PortalId, THIRD_PARTY_WEBDAV, validate};
use dsbackup_storage::remote::{Secret, Tuning, WebDavBackend, WebDavConfig};
use uuid::Uuid;

use crate::{Service, ServiceError, ServiceResult, consumers, remote};

/// The selector of WebDAV folder ids (`sbox-<n>`), as upstream's.
pub const SELECTOR: &str = "sbox";
/// The provider key every account here is stored under.
pub const PROVIDER_KEY: &str = "WebDav";
/// kDrive's fixed WebDAV address (upstream replaces any given URL with it).
pub const KDRIVE_URL: &str = "https://connect.drive.infomaniak.com";
/// The reserved `ConsumerStore` entry holding the account.
const ENTRY: &str = "thirdparty:backup";

/// What connecting an account takes. The password never prints.
#[derive(Clone)]
pub struct WebDavLogin {
    pub url: String,
    pub login: String,
    pub password: String,
    /// `customerTitle`; may be empty when replacing an account (the old title is kept).
    pub title: String,
}

impl std::fmt::Debug for WebDavLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDavLogin")
            .field("url", &self.url)
            .field("login", &self.login)
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}

/// A connected backup account, without its password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupAccount {
    /// The provider id, the `<n>` of `sbox-<n>`.
    pub id: i64,
    pub title: String,
    pub provider_key: String,
    pub url: String,
    pub login: String,
    pub created: DateTime<Utc>,
    pub created_by: Uuid,
}

impl BackupAccount {
    /// The id of the account's root folder, `sbox-<n>`.
    pub fn folder_id(&self) -> String {
        format!("{SELECTOR}-{}", self.id)
    }

    fn from_props(p: &BTreeMap<String, String>) -> Option<Self> {
        let get = |k: &str| p.get(k).cloned().unwrap_or_default();
        Some(Self {
            id: p.get("id")?.parse().ok()?,
            title: get("title"),
            provider_key: get("providerKey"),
            url: get("url"),
            login: get("login"),
            created: p.get("created")?.parse().ok()?,
            created_by: p.get("createdBy")?.parse().ok()?,
        })
    }
}

/// Splits a folder id `sbox-<n>[-<path>]` into `n` and the folder's path in the account
/// (`/`-separated, empty for the root); `None` for anything else, or a path that is no
/// storage key (`..`, hidden parts).
pub fn parse_folder_id(id: &str) -> Option<(i64, String)> {
    let rest = id.trim().strip_prefix(SELECTOR)?.strip_prefix('-')?;
    let (n, path) = rest.split_once('-').unwrap_or((rest, ""));
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let path = path.trim_matches('/');
    if !path.is_empty() {
        check_key(path).ok()?;
    }
    Some((n.parse().ok()?, path.to_string()))
}

/// The account `portal` has connected, if any.
///
/// Fails when the catalog fails.
pub async fn account(svc: &Service, portal: PortalId) -> ServiceResult<Option<BackupAccount>> {
    let stored = svc.catalog().consumer(portal, ENTRY).await?;
    Ok(stored.as_ref().and_then(BackupAccount::from_props))
}

/// The account's properties with its password opened (empty when there is none), for
/// `remote::backend`.
///
/// Fails when the catalog fails or the password does not open.
pub(crate) async fn credentials(
    svc: &Service,
    portal: PortalId,
) -> ServiceResult<BTreeMap<String, String>> {
    consumers::credentials(svc, portal, ENTRY).await
}

/// The backend of the account folder `params.folderId` (`sbox-<n>[-<path>]`), checked with
/// one listing as upstream checks a backup folder before it starts.
///
/// Fails with `Invalid` for a folder id of another kind, `NotFound` for an account the portal
/// does not have, and `Invalid` naming the cause when the folder is missing or the server
/// refuses the stored login (`Internal` when it cannot be reached).
pub(crate) async fn folder(
    svc: &Service,
    portal: PortalId,
    params: &BTreeMap<String, String>,
) -> ServiceResult<Arc<dyn WriteBackend>> {
    let account = credentials(svc, portal).await?;
    let backend = remote::webdav(&svc.sealer().open_params(params)?, &account)?;
    backend.check().await?;
    Ok(Arc::new(backend))
}

/// Connects (or replaces) the portal's backup account after one listing of the server with
/// the given login; the provider id of an existing account is kept.
///
/// Fails with `Forbidden` for anybody but a DocSpace admin, `Invalid` for a missing URL or
/// title or a URL that is not `http(s)`, `Denied` naming the cause (never the password) when
/// the server refuses the login or cannot be reached, `Internal` when the catalog fails.
pub async fn connect(
    svc: &Service,
    caller: &Actor,
    login: WebDavLogin,
) -> ServiceResult<BackupAccount> {
    caller.admin(Scope::write("files"))?;
    let portal = caller.portal.id;
    let existing = account(svc, portal).await?;
    let title = match (login.title.trim(), &existing) {
        ("", Some(old)) => old.title.clone(),
        (t, _) => validate::title(Some(t))
            .map_err(|_| ServiceError::Invalid("customerTitle is invalid or empty".into()))?,
    };
    let url = login.url.trim().trim_end_matches('/').to_string();
    if url.is_empty() {
        return Err(ServiceError::Invalid("url is required".into()));
    }
    let config = WebDavConfig {
        url: url.clone(),
        username: login.login.trim().to_string(),
        password: Secret::new(&login.password),
        root: String::new(),
    };
    let backend = WebDavBackend::new(&config, &Tuning::default())?;
    if let Err(e) = backend.check().await {
        tracing::warn!(portal, %url, error = %e, "third-party backup account refused");
        return Err(ServiceError::Denied(format!(
            "Cannot connect to the WebDAV account: {e}"
        )));
    }
    let now = Utc::now();
    let account = BackupAccount {
        id: existing.as_ref().map_or(portal, |a| a.id),
        title,
        provider_key: PROVIDER_KEY.into(),
        url,
        login: config.username,
        created: existing.as_ref().map_or(now, |a| a.created),
        created_by: existing.as_ref().map_or(caller.user.id, |a| a.created_by),
    };
    let props: BTreeMap<String, String> = [
        ("id", account.id.to_string()),
        ("title", account.title.clone()),
        ("providerKey", account.provider_key.clone()),
        ("url", account.url.clone()),
        ("login", account.login.clone()),
        ("password", login.password),
        ("created", account.created.to_rfc3339()),
        ("createdBy", account.created_by.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    svc.catalog()
        .set_consumer(portal, ENTRY, svc.sealer().seal_params(&props))
        .await?;
    tracing::info!(portal, url = %account.url, module = THIRD_PARTY_WEBDAV, "third-party backup account connected");
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_ids_name_the_account_and_a_path() {
        assert_eq!(parse_folder_id("sbox-7"), Some((7, String::new())));
        assert_eq!(
            parse_folder_id(" sbox-7-a/b-c/ "),
            Some((7, "a/b-c".to_string()))
        );
        for bad in [
            "7",
            "sbox-",
            "sbox-x",
            "drive-1",
            "sbox-1-../x",
            "sbox-1-a/.h",
            "sbox+1",
        ] {
            assert_eq!(parse_folder_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_login_never_prints_its_password() {
        let l = WebDavLogin {
            url: "https://dav".into(),
            login: "me".into(),
            password: "hunter22".into(),
            title: "t".into(),
        };
        assert!(!format!("{l:?}").contains("hunter22"));
    }
}
