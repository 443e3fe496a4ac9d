//! [`S3Uploads`]: the S3 multipart uploads a put began and could not finish or abort — the
//! store went away in the middle, so the writer's own abort never reached it. OpenDAL cannot
//! list multipart uploads, so this sends the two requests itself (`ListMultipartUploads` and
//! `AbortMultipartUpload`), signed with AWS SigV4 by `reqsign`, the signing library OpenDAL's
//! S3 service uses: nothing of the cryptography is ours.
//!
//! Two callers: a failed or dropped put cleans the uploads of its own key, retrying in the
//! background until the store answers ([`S3Uploads::clean_in_background`]); and a backup about
//! to start sweeps the uploads of earlier archives of the same name stem
//! ([`S3Uploads::abort_unfinished`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dsbackup_core::{CoreError, CoreResult};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqsign_aws_v4::{Credential, EMPTY_STRING_SHA256, RequestSigner, StaticCredentialProvider};
use reqsign_core::{Context, Signer};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::errors::Redactor;

/// What a key's path segment or a query value keeps unescaped (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How long a failed put keeps trying to abort its upload while the store is unreachable;
/// past that, the sweep at the next backup to the store (or the bucket's lifecycle rules) does.
const CLEAN_FOR: Duration = Duration::from_secs(3600);

/// The longest pause between two attempts of the background clean-up.
const CLEAN_MAX_PAUSE: Duration = Duration::from_secs(10);

/// Lists and aborts the open multipart uploads of one S3 bucket under the backend's root.
pub(crate) struct S3Uploads {
    client: reqwest::Client,
    /// The bucket's URL (path-style `endpoint/bucket`, or `scheme://bucket.host`), no
    /// trailing slash.
    bucket_url: String,
    /// The backend's root inside the bucket (`backup/`), or empty.
    root: String,
    signer: Option<Signer<Credential>>,
    name: String,
    redact: Redactor,
}

/// Where an [`S3Uploads`] finds the bucket and how it signs.
pub(crate) struct S3Place<'a> {
    pub endpoint: Option<&'a str>,
    pub region: &'a str,
    pub bucket: &'a str,
    pub root: &'a str,
    pub path_style: bool,
    /// Access key id and secret; `None` sends requests unsigned.
    pub credential: Option<(&'a str, &'a str)>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listing {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<Upload>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Upload {
    key: String,
    upload_id: String,
}

fn enc(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

impl S3Uploads {
    /// Fails with `Internal` when no HTTP client can be built.
    pub(crate) fn new(
        place: &S3Place<'_>,
        name: String,
        redact: Redactor,
        timeout: Duration,
    ) -> CoreResult<Self> {
        let endpoint = match place.endpoint {
            Some(e) => e.trim_end_matches('/').to_string(),
            None if place.region == "us-east-1" => "https://s3.amazonaws.com".into(),
            None => format!("https://s3.{}.amazonaws.com", place.region),
        };
        let bucket_url = if place.path_style {
            format!("{endpoint}/{}", enc(place.bucket))
        } else {
            let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", &endpoint));
            format!("{scheme}://{}.{host}", place.bucket)
        };
        let signer = place.credential.map(|(id, secret)| {
            Signer::new(
                Context::new(),
                StaticCredentialProvider::new(id, secret),
                RequestSigner::new("s3", place.region),
            )
        });
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| CoreError::Internal(format!("{name}: {e}")))?;
        let root = place.root.trim_matches('/');
        Ok(Self {
            client,
            bucket_url,
            root: if root.is_empty() {
                String::new()
            } else {
                format!("{root}/")
            },
            signer,
            name,
            redact,
        })
    }

    /// Sends one signed request; the answer's status and body.
    async fn send(&self, method: Method, url: &str) -> CoreResult<(StatusCode, String)> {
        let failed = |what: String| CoreError::Internal(self.redact.clean(what));
        let mut parts = http::Request::builder()
            .method(method)
            .uri(url)
            .header("x-amz-content-sha256", EMPTY_STRING_SHA256)
            .body(())
            .map_err(|e| failed(format!("{}: {e}", self.name)))?
            .into_parts()
            .0;
        if let Some(signer) = &self.signer {
            signer
                .sign(&mut parts, None)
                .await
                .map_err(|e| failed(format!("{}: signing a request: {e}", self.name)))?;
        }
        let res = self
            .client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .send()
            .await
            .map_err(|e| failed(format!("{}: {}", self.name, chain(&e))))?;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        Ok((status, body))
    }

    fn refused(&self, doing: &str, status: StatusCode, body: &str) -> CoreError {
        let code = body
            .split_once("<Code>")
            .and_then(|(_, rest)| rest.split_once("</Code>"))
            .map_or("", |(code, _)| code);
        let text = format!("{}: {doing} answered {status} {code}", self.name);
        match status {
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND => {
                CoreError::Invalid(self.redact.clean(text))
            }
            _ => CoreError::Internal(self.redact.clean(text)),
        }
    }

    /// The open uploads whose key (relative to the root) starts with `prefix`, as
    /// `(key, upload id)`, following the listing's pages.
    async fn list(&self, prefix: &str) -> CoreResult<Vec<(String, String)>> {
        let full = format!("{}{prefix}", self.root);
        let mut found = Vec::new();
        let mut markers: Option<(String, String)> = None;
        for _ in 0..1000 {
            let mut url = format!("{}/?prefix={}&uploads=", self.bucket_url, enc(&full));
            if let Some((key, id)) = &markers {
                url.push_str(&format!(
                    "&key-marker={}&upload-id-marker={}",
                    enc(key),
                    enc(id)
                ));
            }
            let (status, body) = self.send(Method::GET, &url).await?;
            if !status.is_success() {
                return Err(self.refused("listing multipart uploads", status, &body));
            }
            let page: Listing = quick_xml::de::from_str(&body).map_err(|e| {
                CoreError::Internal(format!("{}: unreadable upload listing: {e}", self.name))
            })?;
            for u in page.uploads {
                if let Some(key) = u.key.strip_prefix(&self.root) {
                    found.push((key.to_string(), u.upload_id));
                }
            }
            match (
                page.is_truncated,
                page.next_key_marker,
                page.next_upload_id_marker,
            ) {
                (true, Some(key), Some(id)) if !key.is_empty() => markers = Some((key, id)),
                _ => return Ok(found),
            }
        }
        Ok(found)
    }

    async fn abort(&self, key: &str, upload_id: &str) -> CoreResult<()> {
        let path: Vec<String> = format!("{}{key}", self.root).split('/').map(enc).collect();
        let url = format!(
            "{}/{}?uploadId={}",
            self.bucket_url,
            path.join("/"),
            enc(upload_id)
        );
        let (status, body) = self.send(Method::DELETE, &url).await?;
        // Gone already (completed or aborted meanwhile) is as good as aborted.
        if status.is_success() || status == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(self.refused("aborting a multipart upload", status, &body))
        }
    }

    /// Aborts every open upload whose key starts with `prefix`, except those of `except`;
    /// returns how many were aborted.
    ///
    /// Fails when the store cannot be reached or refuses the listing or an abort.
    pub(crate) async fn abort_unfinished(&self, prefix: &str, except: &str) -> CoreResult<usize> {
        let mut aborted = 0;
        for (key, id) in self.list(prefix).await? {
            if key != except {
                self.abort(&key, &id).await?;
                aborted += 1;
            }
        }
        Ok(aborted)
    }

    /// Aborts the open uploads of exactly `key` (a put that failed or was dropped); returns
    /// how many.
    ///
    /// Fails as [`S3Uploads::abort_unfinished`].
    async fn abort_key(&self, key: &str) -> CoreResult<usize> {
        let mut aborted = 0;
        for (k, id) in self.list(key).await? {
            if k == key {
                self.abort(&k, &id).await?;
                aborted += 1;
            }
        }
        Ok(aborted)
    }

    /// After a put of `key` failed or was dropped, makes sure no multipart upload of it stays
    /// open: on the runtime, in the background, retrying with a growing pause while the store
    /// cannot be reached (for up to an hour). Without a runtime, does nothing.
    pub(crate) fn clean_in_background(self: &Arc<Self>, key: &str) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (this, key) = (self.clone(), key.to_string());
        rt.spawn(async move {
            let begun = Instant::now();
            let mut pause = Duration::from_millis(500);
            loop {
                match this.abort_key(&key).await {
                    Ok(0) => return,
                    Ok(n) => {
                        tracing::info!(storage = %this.name, key = %key, aborted = n,
                            "aborted the multipart upload a failed put left open");
                        return;
                    }
                    Err(e) if begun.elapsed() >= CLEAN_FOR => {
                        tracing::warn!(storage = %this.name, key = %key, error = %e,
                            "gave up aborting a multipart upload; the next backup's sweep will");
                        return;
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(CLEAN_MAX_PAUSE);
            }
        });
    }
}

/// A reqwest error's text and its sources' (where the cause, such as a refused connection, is).
fn chain(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_parse_with_pages_and_escapes() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>bkt</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>backup/b&amp;c</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>
  <MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>backup/a</Key><UploadId>id1</UploadId><Initiated>2026-01-01T00:00:00Z</Initiated></Upload>
  <Upload><Key>backup/b&amp;c</Key><UploadId>id2</UploadId></Upload>
</ListMultipartUploadsResult>"#;
        let l: Listing = quick_xml::de::from_str(xml).unwrap();
        assert!(l.is_truncated);
        assert_eq!(l.next_key_marker.as_deref(), Some("backup/b&c"));
        let keys: Vec<&str> = l.uploads.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["backup/a", "backup/b&c"]);
        let empty = "<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>\
                     </ListMultipartUploadsResult>";
        let l: Listing = quick_xml::de::from_str(empty).unwrap();
        assert!(!l.is_truncated && l.uploads.is_empty());
    }

    #[test]
    fn bucket_urls_follow_the_addressing_style() {
        let place = |endpoint, path_style| S3Place {
            endpoint,
            region: "eu-west-1",
            bucket: "bkt",
            root: "/backup/",
            path_style,
            credential: None,
        };
        let made = |p: &S3Place<'_>| {
            S3Uploads::new(p, "s3".into(), Redactor::default(), Duration::from_secs(5)).unwrap()
        };
        let u = made(&place(Some("http://127.0.0.1:9000/"), true));
        assert_eq!(u.bucket_url, "http://127.0.0.1:9000/bkt");
        assert_eq!(u.root, "backup/");
        let u = made(&place(None, false));
        assert_eq!(u.bucket_url, "https://bkt.s3.eu-west-1.amazonaws.com");
    }
}
