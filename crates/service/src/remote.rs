//! Remote storages as DocSpace names them (STORAGES.md §1): the DataStore consumers `s3`,
//! `googlecloud` and `rackspace` (storage type 5, `ThirdPartyConsumer`, with credentials set
//! per portal through authservice or given inline), and `CustomCloud` (type 2: an
//! S3-compatible store described entirely by the request's parameters — upstream refuses the
//! type; dsbackup accepts it), and `webdav`: a folder of the portal's third-party backup account
//! (type 1, `thirdparty.rs`). This module knows the consumers' keys and turns a module and its
//! parameters into a storage backend; the backends themselves are in `dsbackup-storage`.

use std::collections::BTreeMap;
use std::sync::Arc;

use dsbackup_core::storage::WriteBackend;
use dsbackup_core::{CUSTOM_CLOUD, THIRD_PARTY_WEBDAV};
use dsbackup_storage::remote::{
    GcsConfig, OpendalBackend, S3Config, Secret, Sse, Tuning, WebDavBackend, WebDavConfig,
};

use crate::{ServiceError, ServiceResult, thirdparty};

/// The folder archives go to in a remote store (upstream's `subdir` default).
pub const SUBDIR: &str = "backup";

/// A DataStore consumer: its id (the `module`), title, credentials (managed keys, set through
/// authservice, never listed) and per-backup properties, each with its title, in the order
/// DocSpace lists them.
#[derive(Debug, Clone, Copy)]
pub struct Consumer {
    pub id: &'static str,
    pub title: &'static str,
    pub managed: &'static [(&'static str, &'static str)],
    pub props: &'static [(&'static str, &'static str)],
}

/// The consumers, in DocSpace's registration order.
pub const CONSUMERS: &[Consumer] = &[
    Consumer {
        id: "s3",
        title: "Amazon AWS S3",
        managed: &[
            ("acesskey", "S3 accesskey"),
            ("secretaccesskey", "S3 secret access key"),
        ],
        props: &[
            ("bucket", "Bucket"),
            ("forcepathstyle", "forcepathstyle"),
            ("region", "Region"),
            ("serviceurl", "serviceurl"),
            ("sse", "sse"),
            ("ssekey", "ssekey"),
            ("usehttp", "usehttp"),
        ],
    },
    Consumer {
        id: "googlecloud",
        title: "Google Cloud Storage",
        managed: &[("json", "json")],
        props: &[("bucket", "Bucket")],
    },
    Consumer {
        id: "rackspace",
        title: "Rackspace Cloud Storage",
        managed: &[
            ("username", "Rackspace username"),
            ("apiKey", "Rackspace apiKey"),
        ],
        props: &[
            ("private_container", "Private Container"),
            ("public_container", "Public Container"),
            ("region", "Region"),
        ],
    },
];

/// The consumer named `id`.
pub fn consumer(id: &str) -> Option<&'static Consumer> {
    CONSUMERS.iter().find(|c| c.id.eq_ignore_ascii_case(id))
}

fn param<'a>(
    params: &'a BTreeMap<String, String>,
    creds: &'a BTreeMap<String, String>,
    name: &str,
) -> &'a str {
    params
        .iter()
        .chain(creds.iter())
        .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
        .map_or("", |(_, v)| v.trim())
}

fn flag(value: &str) -> bool {
    value.eq_ignore_ascii_case("true")
}

fn required<'a>(value: &'a str, what: &str) -> ServiceResult<&'a str> {
    if value.is_empty() {
        Err(ServiceError::Invalid(format!(
            "storageParams.{what} is required"
        )))
    } else {
        Ok(value)
    }
}

/// The S3 settings of `params` (a consumer's properties, or CustomCloud's) with `creds`.
fn s3_config(
    params: &BTreeMap<String, String>,
    creds: &BTreeMap<String, String>,
) -> ServiceResult<S3Config> {
    let url = param(params, creds, "serviceurl");
    let endpoint = if url.is_empty() {
        None
    } else if url.contains("://") {
        Some(url.to_string())
    } else if flag(param(params, creds, "usehttp")) {
        Some(format!("http://{url}"))
    } else {
        Some(format!("https://{url}"))
    };
    let sse = match param(params, creds, "sse").to_ascii_lowercase().as_str() {
        "aes256" => Sse::Aes256,
        "awskms" => Sse::AwsKms {
            key_id: Some(param(params, creds, "ssekey").to_string()).filter(|k| !k.is_empty()),
        },
        _ => Sse::None,
    };
    let subdir = param(params, creds, "subdir");
    Ok(S3Config {
        endpoint,
        region: param(params, creds, "region").to_string(),
        bucket: required(param(params, creds, "bucket"), "bucket")?.to_string(),
        root: if subdir.is_empty() { SUBDIR } else { subdir }.to_string(),
        access_key: param(params, creds, "acesskey").to_string(),
        secret_key: Secret::new(param(params, creds, "secretaccesskey")),
        force_path_style: flag(param(params, creds, "forcepathstyle")),
        sse,
    })
}

fn gcs_config(
    params: &BTreeMap<String, String>,
    creds: &BTreeMap<String, String>,
) -> ServiceResult<GcsConfig> {
    let url = param(params, creds, "serviceurl");
    let json = param(params, creds, "json");
    Ok(GcsConfig {
        endpoint: Some(url.to_string()).filter(|u| !u.is_empty()),
        bucket: required(param(params, creds, "bucket"), "bucket")?.to_string(),
        root: SUBDIR.into(),
        credential_json: Secret::new(json),
        skip_signature: json.is_empty(),
    })
}

/// The folder `params.folderId` (`sbox-<n>[-<path>]`) of the third-party backup account
/// `account` (its properties, password opened). The server, login and password come from the
/// account only, never from `params`, so a request cannot send them elsewhere.
fn webdav_config(
    params: &BTreeMap<String, String>,
    account: &BTreeMap<String, String>,
) -> ServiceResult<WebDavConfig> {
    let none = BTreeMap::new();
    let folder = param(params, &none, "folderId");
    let (id, path) = thirdparty::parse_folder_id(folder).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "folderId {folder:?} is not a folder of a WebDAV backup account (sbox-<n>)"
        ))
    })?;
    let field = |k: &str| account.get(k).map_or("", |v| v.as_str());
    if field("id") != id.to_string() {
        return Err(ServiceError::NotFound(format!(
            "The third-party backup folder {folder} was not found; connect an account with \
             POST /api/2.0/files/thirdparty/backup"
        )));
    }
    Ok(WebDavConfig {
        url: field("url").to_string(),
        username: field("login").to_string(),
        password: Secret::new(field("password")),
        root: path,
    })
}

/// The backend of the third-party backup folder `params.folderId` of `account` (see
/// [`webdav_config`]), to check before a backup writes into it.
///
/// Fails as [`backend`] does for `webdav`.
pub(crate) fn webdav(
    params: &BTreeMap<String, String>,
    account: &BTreeMap<String, String>,
) -> ServiceResult<WebDavBackend> {
    Ok(WebDavBackend::new(
        &webdav_config(params, account)?,
        &Tuning::default(),
    )?)
}

/// The backend of `module` with its parameters and credentials (`creds`: the portal's
/// authservice settings of that consumer; a parameter of the same name wins, as upstream; for
/// `webdav`, the backup account).
///
/// Fails with `Invalid` for an unknown module, a missing bucket or a storage this server
/// cannot reach (Rackspace), naming the storage, never a secret; `NotFound` for a WebDAV
/// folder of an account the portal does not have.
pub fn backend(
    module: &str,
    params: &BTreeMap<String, String>,
    creds: &BTreeMap<String, String>,
) -> ServiceResult<Arc<dyn WriteBackend>> {
    let tuning = Tuning::default();
    let backend: Arc<dyn WriteBackend> = match module.to_ascii_lowercase().as_str() {
        "s3" | CUSTOM_CLOUD => Arc::new(OpendalBackend::s3(&s3_config(params, creds)?, &tuning)?),
        "googlecloud" => Arc::new(OpendalBackend::gcs(&gcs_config(params, creds)?, &tuning)?),
        THIRD_PARTY_WEBDAV => Arc::new(webdav(params, creds)?),
        "rackspace" => {
            return Err(ServiceError::Invalid(
                "Rackspace Cloud Storage is not supported by this server".into(),
            ));
        }
        other => {
            return Err(ServiceError::Invalid(format!(
                "Unknown storage module {other:?}"
            )));
        }
    };
    Ok(backend)
}

/// The parameters worth keeping in a history record or schedule: the module's own properties
/// and inline credentials (sealed by the caller before they are stored), without `module`.
pub fn kept_params(params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    params
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("module"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn s3_settings_follow_docspace_keys() {
        let p = map(&[
            ("bucket", "b"),
            ("region", "eu-west-1"),
            ("serviceurl", "s3.example.org"),
            ("usehttp", "true"),
            ("forcepathstyle", "True"),
            ("sse", "awskms"),
            ("ssekey", "k1"),
        ]);
        let c = s3_config(&p, &map(&[("acesskey", "AK"), ("secretaccesskey", "SK")])).unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("http://s3.example.org"));
        assert_eq!((c.bucket.as_str(), c.root.as_str()), ("b", SUBDIR));
        assert!(c.force_path_style);
        assert_eq!(
            c.sse,
            Sse::AwsKms {
                key_id: Some("k1".into())
            }
        );
        assert_eq!(c.access_key, "AK");
        assert!(!format!("{c:?}").contains("SK"), "no secret in Debug");
        // A parameter given inline wins over the portal's credential.
        let c = s3_config(
            &map(&[("bucket", "b"), ("acesskey", "INLINE")]),
            &map(&[("acesskey", "SAVED")]),
        )
        .unwrap();
        assert_eq!(c.access_key, "INLINE");
        assert!(
            s3_config(&map(&[]), &map(&[])).is_err(),
            "a bucket is required"
        );
    }

    #[test]
    fn consumers_are_known_by_id() {
        assert_eq!(consumer("S3").unwrap().title, "Amazon AWS S3");
        assert!(consumer("selectel").is_none());
        assert!(matches!(
            backend("rackspace", &map(&[]), &map(&[])),
            Err(ServiceError::Invalid(_))
        ));
    }

    #[test]
    fn a_webdav_folder_takes_its_server_from_the_account_only() {
        let account = map(&[
            ("id", "3"),
            ("url", "https://dav.example.org"),
            ("login", "me"),
            ("password", "pw"),
        ]);
        let params = map(&[("folderId", "sbox-3-a/b"), ("url", "https://evil.example")]);
        let c = webdav_config(&params, &account).unwrap();
        assert_eq!(
            (c.url.as_str(), c.root.as_str()),
            ("https://dav.example.org", "a/b")
        );
        let other = map(&[("folderId", "sbox-4")]);
        assert!(matches!(
            webdav_config(&other, &account),
            Err(ServiceError::NotFound(_))
        ));
        assert!(matches!(
            webdav_config(&other, &map(&[])),
            Err(ServiceError::NotFound(_))
        ));
    }
}
