//! Typed configurations of the remote backends and how each becomes an OpenDAL operator: where
//! the endpoint comes from (the configuration, else the AWS SDKs' environment variables), when
//! S3 addressing must be path-style, and a description of the storage that names no secret.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use dsbackup_core::{CoreError, CoreResult};
use opendal::Operator;
use opendal::services::{Azblob, Gcs, S3, Webdav};

use super::errors::Redactor;
use super::s3_uploads::{S3Place, S3Uploads};
use super::{Secret, Tuning};

/// Server-side encryption S3 applies to new objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Sse {
    /// None requested (the bucket's default applies).
    #[default]
    None,
    /// SSE-S3 (`AES256`, keys managed by S3).
    Aes256,
    /// SSE-KMS with the given key, or the account's AWS-managed key when `None`.
    AwsKms {
        /// The KMS key id or ARN.
        key_id: Option<String>,
    },
}

/// An S3-compatible bucket.
#[derive(Clone, Default)]
pub struct S3Config {
    /// The service URL; `None` or empty means AWS's own, unless `AWS_ENDPOINT_URL_S3` or
    /// `AWS_ENDPOINT_URL` names another (as the AWS SDKs do).
    pub endpoint: Option<String>,
    /// The region (`us-east-1` when empty).
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// A key prefix (a folder) inside the bucket; may be empty.
    pub root: String,
    /// The access key id; with an empty secret too, requests go unsigned.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: Secret,
    /// Path-style addressing (`endpoint/bucket/key`). Used anyway when the endpoint's host is
    /// an IP address or `localhost`, which cannot carry a bucket name.
    pub force_path_style: bool,
    /// Server-side encryption of new objects.
    pub sse: Sse,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("root", &self.root)
            .field("access_key", &self.access_key)
            .field("secret_key", &self.secret_key)
            .field("force_path_style", &self.force_path_style)
            .field("sse", &self.sse)
            .finish()
    }
}

/// A Google Cloud Storage bucket.
#[derive(Debug, Clone, Default)]
pub struct GcsConfig {
    /// The service URL; `None` or empty means Google's own.
    pub endpoint: Option<String>,
    /// The bucket.
    pub bucket: String,
    /// A key prefix (a folder) inside the bucket; may be empty.
    pub root: String,
    /// A service account's JSON key, raw or base64-encoded.
    pub credential_json: Secret,
    /// Send requests unsigned (public buckets, emulators); links are then not presigned.
    pub skip_signature: bool,
}

/// An Azure Blob Storage container (built on the same library, not tested against a server).
#[derive(Debug, Clone, Default)]
pub struct AzureConfig {
    /// The service URL; `None` or empty means `https://<account>.blob.core.windows.net`.
    pub endpoint: Option<String>,
    /// The storage account.
    pub account: String,
    /// The account's shared key.
    pub account_key: Secret,
    /// The container.
    pub container: String,
    /// A key prefix (a folder) inside the container; may be empty.
    pub root: String,
}

/// A WebDAV folder (Nextcloud, ownCloud, kDrive, any RFC 4918 server).
#[derive(Debug, Clone, Default)]
pub struct WebDavConfig {
    /// The server's WebDAV URL (`https://cloud.example.com/remote.php/dav/files/me`).
    pub url: String,
    /// The user for basic authentication; empty for none.
    pub username: String,
    /// The password.
    pub password: Secret,
    /// A folder under `url`; may be empty.
    pub root: String,
}

/// What an operator was built from: the operator, a description and the secrets to scrub;
/// for S3, what lists and aborts its multipart uploads.
pub(crate) struct Built {
    pub op: Operator,
    pub name: String,
    pub secrets: Vec<Secret>,
    pub uploads: Option<S3Uploads>,
}

/// The operator's root: `/` plus the configured folder, with one slash at each end.
fn root_of(root: &str) -> String {
    let inner = root.trim_matches('/');
    if inner.is_empty() {
        "/".into()
    } else {
        format!("/{inner}/")
    }
}

/// `kind bucket/root at host` — no credentials, and no user info or query of the URL.
fn describe(kind: &str, bucket: &str, root: &str, endpoint: &str) -> String {
    let root = root.trim_matches('/');
    let place = if root.is_empty() {
        bucket.to_string()
    } else if bucket.is_empty() {
        root.to_string()
    } else {
        format!("{bucket}/{root}")
    };
    match host_of(endpoint) {
        Some(host) => format!("{kind} {place:?} at {host}"),
        None => format!("{kind} {place:?}"),
    }
}

/// The `host[:port]` of a URL, without scheme, user info, path or query.
pub(crate) fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then_some(host)
}

/// Whether a URL's host cannot carry a bucket name: an IP address or `localhost`.
fn needs_path_style(endpoint: &str) -> bool {
    let Some(host) = host_of(endpoint) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => return v6.contains(']'), // [::1]:9000
        None => host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok()
        || name.to_ascii_lowercase().ends_with(".localhost")
}

/// The S3 endpoint: the configured one, else `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`
/// (read through `env`), else none (AWS's own).
pub(crate) fn s3_endpoint(
    configured: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let set = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    set(configured.map(str::to_string))
        .or_else(|| set(env("AWS_ENDPOINT_URL_S3")))
        .or_else(|| set(env("AWS_ENDPOINT_URL")))
        .map(|v| v.trim().trim_end_matches('/').to_string())
}

fn invalid(kind: &str, what: &str) -> CoreError {
    CoreError::Invalid(format!("{kind} storage: {what}"))
}

fn finish(kind: &str, place: &str, built: opendal::Result<Operator>) -> CoreResult<Operator> {
    // Builder errors name the missing setting; they never carry a credential's value.
    built.map_err(|e| invalid(kind, &format!("{place}: {}", e.message())))
}

impl S3Config {
    pub(crate) fn build(&self, tuning: &Tuning) -> CoreResult<Built> {
        if self.bucket.trim().is_empty() {
            return Err(invalid("s3", "no bucket given"));
        }
        let endpoint = s3_endpoint(self.endpoint.as_deref(), |k| std::env::var(k).ok());
        let region = match self.region.trim() {
            "" => "us-east-1",
            r => r,
        };
        let mut b = S3::default()
            .bucket(&self.bucket)
            .region(region)
            .root(&root_of(&self.root))
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(e) = &endpoint {
            b = b.endpoint(e);
        }
        let path_style = self.force_path_style || endpoint.as_deref().is_some_and(needs_path_style);
        if !path_style {
            b = b.enable_virtual_host_style();
        }
        if self.access_key.is_empty() && self.secret_key.is_empty() {
            b = b.skip_signature();
        } else {
            b = b
                .access_key_id(&self.access_key)
                .secret_access_key(self.secret_key.expose());
        }
        b = match &self.sse {
            Sse::None => b,
            Sse::Aes256 => b.server_side_encryption_with_s3_key(),
            Sse::AwsKms { key_id: None } => b.server_side_encryption_with_aws_managed_kms_key(),
            Sse::AwsKms { key_id: Some(id) } => {
                b.server_side_encryption_with_customer_managed_kms_key(id)
            }
        };
        let name = describe(
            "s3",
            &self.bucket,
            &self.root,
            endpoint.as_deref().unwrap_or("s3.amazonaws.com"),
        );
        let signed = !(self.access_key.is_empty() && self.secret_key.is_empty());
        let place = S3Place {
            endpoint: endpoint.as_deref(),
            region,
            bucket: &self.bucket,
            root: &self.root,
            path_style,
            credential: signed.then_some((self.access_key.as_str(), self.secret_key.expose())),
        };
        let secrets = vec![self.secret_key.clone()];
        let uploads = S3Uploads::new(
            &place,
            name.clone(),
            Redactor::new(&secrets),
            tuning.timeout,
        )?;
        Ok(Built {
            op: tuning.layer(finish("s3", &name, Operator::new(b))?),
            name,
            secrets,
            uploads: Some(uploads),
        })
    }
}

impl GcsConfig {
    pub(crate) fn build(&self, tuning: &Tuning) -> CoreResult<Built> {
        if self.bucket.trim().is_empty() {
            return Err(invalid("gcs", "no bucket given"));
        }
        let endpoint = self
            .endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let mut b = Gcs::default()
            .bucket(&self.bucket)
            .root(&root_of(&self.root))
            .disable_config_load()
            .disable_vm_metadata();
        if let Some(e) = endpoint {
            b = b.endpoint(e.trim_end_matches('/'));
        }
        let mut secrets = vec![self.credential_json.clone()];
        if self.skip_signature {
            b = b.skip_signature();
        } else {
            let raw = self.credential_json.expose().trim();
            if raw.is_empty() {
                return Err(invalid("gcs", "no service account key given"));
            }
            let encoded = if raw.starts_with('{') {
                STANDARD.encode(raw)
            } else {
                raw.to_string()
            };
            secrets.push(Secret::new(encoded.clone()));
            b = b.credential(&encoded);
        }
        let name = describe(
            "gcs",
            &self.bucket,
            &self.root,
            endpoint.unwrap_or("storage.googleapis.com"),
        );
        Ok(Built {
            op: tuning.layer(finish("gcs", &name, Operator::new(b))?),
            name,
            secrets,
            uploads: None,
        })
    }
}

impl AzureConfig {
    pub(crate) fn build(&self, tuning: &Tuning) -> CoreResult<Built> {
        if self.container.trim().is_empty() || self.account.trim().is_empty() {
            return Err(invalid("azure", "an account and a container are needed"));
        }
        let endpoint = match self.endpoint.as_deref().map(str::trim) {
            Some(e) if !e.is_empty() => e.trim_end_matches('/').to_string(),
            _ => format!("https://{}.blob.core.windows.net", self.account),
        };
        let b = Azblob::default()
            .endpoint(&endpoint)
            .container(&self.container)
            .root(&root_of(&self.root))
            .account_name(&self.account)
            .account_key(self.account_key.expose());
        let name = describe("azure", &self.container, &self.root, &endpoint);
        Ok(Built {
            op: tuning.layer(finish("azure", &name, Operator::new(b))?),
            name,
            secrets: vec![self.account_key.clone()],
            uploads: None,
        })
    }
}

impl WebDavConfig {
    /// The server URL without a trailing slash, and the operator's root.
    pub(crate) fn url_and_root(&self) -> (String, String) {
        let url = self.url.trim().trim_end_matches('/').to_string();
        (url, root_of(&self.root))
    }

    pub(crate) fn build(&self, tuning: &Tuning) -> CoreResult<Built> {
        let (url, root) = self.url_and_root();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                "webdav",
                "the URL must start with http:// or https://",
            ));
        }
        let mut b = Webdav::default().endpoint(&url).root(&root);
        if !self.username.is_empty() {
            b = b.username(&self.username).password(self.password.expose());
        }
        let name = describe("webdav", "", &self.root, &url);
        Ok(Built {
            op: tuning.layer(finish("webdav", &name, Operator::new(b))?),
            name,
            secrets: vec![self.password.clone()],
            uploads: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_come_from_config_then_environment() {
        let env = |k: &str| match k {
            "AWS_ENDPOINT_URL_S3" => Some("http://s3-only:1/".to_string()),
            "AWS_ENDPOINT_URL" => Some("http://all:2".to_string()),
            _ => None,
        };
        let general = |k: &str| (k == "AWS_ENDPOINT_URL").then(|| "http://all:2".to_string());
        assert_eq!(s3_endpoint(Some("http://cfg"), env).unwrap(), "http://cfg");
        assert_eq!(s3_endpoint(Some(" "), env).unwrap(), "http://s3-only:1");
        assert_eq!(s3_endpoint(None, env).unwrap(), "http://s3-only:1");
        assert_eq!(s3_endpoint(None, general).unwrap(), "http://all:2");
        assert_eq!(s3_endpoint(None, |_| None), None);
    }

    #[test]
    fn path_style_where_a_host_cannot_carry_a_bucket() {
        for yes in [
            "http://127.0.0.1:9000",
            "http://localhost:9000/",
            "https://[::1]:443",
            "http://10.1.2.3",
            "http://minio.localhost",
        ] {
            assert!(needs_path_style(yes), "{yes}");
        }
        for no in [
            "https://s3.amazonaws.com",
            "https://storage.example.com:9000",
        ] {
            assert!(!needs_path_style(no), "{no}");
        }
    }

    #[test]
    fn descriptions_and_debug_hold_no_secret() {
        let c = S3Config {
            endpoint: Some("http://user:pw@127.0.0.1:9/x?sig=1".into()),
            bucket: "bkt".into(),
            root: "/backup/".into(),
            access_key: "AKID".into(),
            secret_key: "s3cr3t".into(),
            ..S3Config::default()
        };
        let built = c.build(&Tuning::default()).unwrap();
        assert_eq!(built.name, "s3 \"bkt/backup\" at 127.0.0.1:9");
        assert!(!format!("{c:?}").contains("s3cr3t"));
        let g = GcsConfig {
            credential_json: "{\"private_key\":\"k\"}".into(),
            ..GcsConfig::default()
        };
        assert!(!format!("{g:?}").contains("private_key"));
        assert_eq!(root_of(""), "/");
        assert_eq!(root_of("/a/b"), "/a/b/");
    }
}
