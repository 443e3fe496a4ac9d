//! [`WebDavBackend`]: a WebDAV folder. Reads, listings and deletes go through OpenDAL; uploads
//! do not, because OpenDAL's WebDAV writer buffers a whole object in memory. A put instead
//! streams its body in one chunked `PUT` to a hidden temporary beside the key (creating missing
//! folders first with `MKCOL`), then `MOVE`s it into place with `Overwrite: F` unless
//! overwriting — so readers never see a partial object, and a failed or dropped put deletes its
//! temporary. A streamed body cannot be replayed, so the `PUT` itself is not retried.

use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::storage::{
    ByteStream, ListPage, ObjectMeta, ReadBackend, TEMP_PREFIX, WriteBackend, check_key,
};
use dsbackup_core::{CoreError, CoreResult};
use futures_util::{StreamExt, stream};
use opendal::{ErrorKind, Operator};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, RequestBuilder, StatusCode};
use tokio::sync::oneshot;

use super::errors::{Doing, body_failed};
use super::{OpendalBackend, Secret, Tuning, WebDavConfig};
use crate::common::exists;

/// What a path segment keeps unescaped (RFC 3986 unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A WebDAV folder; cheap to clone.
#[derive(Clone)]
pub struct WebDavBackend {
    reads: OpendalBackend,
    http: Http,
}

/// What an upload's own requests need.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    /// The folder's URL, no trailing slash.
    base: String,
    username: String,
    password: Secret,
}

impl std::fmt::Debug for WebDavBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDavBackend")
            .field("name", &self.reads.describe())
            .finish_non_exhaustive()
    }
}

impl Http {
    fn url(&self, key: &str) -> String {
        let mut url = self.base.clone();
        for segment in key.split('/') {
            url.push('/');
            url.extend(utf8_percent_encode(segment, SEGMENT));
        }
        url
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let req = self.client.request(method, url);
        if self.username.is_empty() {
            req
        } else {
            req.basic_auth(&self.username, Some(self.password.expose()))
        }
    }

    async fn delete(&self, url: &str) {
        let _ = self.request(Method::DELETE, url).send().await;
    }
}

/// Deletes a temporary until it stays gone: a server may still be finishing the aborted
/// `PUT` (and recreate the file) after the client gave up on it.
async fn remove(http: &Http, op: &Operator, temp: &str) {
    let url = http.url(temp);
    let mut gone = 0;
    for _ in 0..50 {
        http.delete(&url).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        match op.stat(temp).await {
            Err(e) if e.kind() == ErrorKind::NotFound => gone += 1,
            _ => gone = 0,
        }
        if gone >= 3 {
            return;
        }
    }
}

/// Deletes an upload's temporary unless disarmed; in the background when dropped.
struct Temporary {
    http: Http,
    op: Operator,
    key: Option<String>,
}

impl Temporary {
    async fn remove(&mut self) {
        if let Some(key) = self.key.take() {
            remove(&self.http, &self.op, &key).await;
        }
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let (Some(key), Ok(rt)) = (self.key.take(), tokio::runtime::Handle::try_current()) {
            let (http, op) = (self.http.clone(), self.op.clone());
            rt.spawn(async move { remove(&http, &op, &key).await });
        }
    }
}

/// `body`, failing as soon as `dropped` resolves (its sender, held by the `put`, is gone), so
/// that a dropped put breaks off its upload instead of leaving it waiting on the source.
fn cancellable(body: ByteStream, dropped: oneshot::Receiver<()>) -> ByteStream {
    Box::pin(stream::unfold(Some((body, dropped)), |state| async move {
        let (mut body, mut dropped) = state?;
        tokio::select! {
            biased;
            _ = &mut dropped => Some((Err(io::Error::other("the put was dropped")), None)),
            next = body.next() => next.map(|item| (item, Some((body, dropped)))),
        }
    }))
}

impl WebDavBackend {
    /// A WebDAV folder. Makes no request; see [`WebDavBackend::check`].
    ///
    /// Fails with `Invalid` when the URL is not an `http(s)` URL.
    pub fn new(config: &WebDavConfig, tuning: &Tuning) -> CoreResult<Self> {
        let built = config.build(tuning)?;
        let (url, root) = config.url_and_root();
        let client = reqwest::Client::builder()
            .connect_timeout(tuning.io_timeout)
            .read_timeout(tuning.io_timeout)
            .build()
            .map_err(|e| CoreError::Internal(format!("{}: {e}", built.name)))?;
        let http = Http {
            client,
            base: format!("{url}{}", root.trim_end_matches('/')),
            username: config.username.clone(),
            password: config.password.clone(),
        };
        Ok(Self {
            reads: OpendalBackend::webdav(built, tuning),
            http,
        })
    }

    /// Checks that the server answers, accepts the login and has the folder, with one
    /// `PROPFIND` of the folder itself (OpenDAL lists a missing WebDAV folder as empty).
    ///
    /// Fails with `Invalid` naming the storage and the cause (refused credentials, missing
    /// folder), or `Internal` when it cannot be reached.
    pub async fn check(&self) -> CoreResult<()> {
        let url = format!("{}/", self.http.base);
        let propfind = Method::from_bytes(b"PROPFIND").unwrap_or(Method::GET);
        let res = self
            .http
            .request(propfind, &url)
            .header("Depth", "0")
            .send()
            .await
            .map_err(|e| self.unreachable("checking", "", &e))?;
        let name = self.reads.describe();
        match res.status() {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(CoreError::Invalid(format!(
                "{name}: the folder does not exist"
            ))),
            s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => Err(CoreError::Invalid(
                format!("{name}: access denied ({s}); check the login and password"),
            )),
            s => Err(self.refused("checking", "", s)),
        }
    }

    /// The error for an answer other than success to a request about `key`.
    fn refused(&self, what: &str, key: &str, status: StatusCode) -> CoreError {
        let name = self.reads.describe();
        match status {
            StatusCode::PRECONDITION_FAILED => exists(key),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CoreError::Invalid(format!(
                "{name}: access denied writing {key:?} ({status}); check the login and password"
            )),
            StatusCode::INSUFFICIENT_STORAGE => CoreError::Invalid(format!(
                "{name}: the storage is full (507 Insufficient Storage) writing {key:?}"
            )),
            StatusCode::CONFLICT | StatusCode::METHOD_NOT_ALLOWED => {
                CoreError::Conflict(format!("{key} clashes with a directory on {name}"))
            }
            _ => CoreError::Internal(format!("{name}: {what} {key:?} answered {status}")),
        }
    }

    fn unreachable(&self, what: &str, key: &str, err: &reqwest::Error) -> CoreError {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            text = format!("{text}: {s}");
            source = s.source();
        }
        let name = self.reads.describe();
        CoreError::Internal(self.reads.scrub(format!("{name}: {what} {key:?}: {text}")))
    }

    async fn upload(&self, key: &str, body: ByteStream, overwrite: bool) -> CoreResult<u64> {
        let op = self.reads.operator();
        match op.stat(key).await {
            Ok(m) if m.is_dir() => return Err(self.refused("", key, StatusCode::CONFLICT)),
            Ok(_) if !overwrite => return Err(exists(key)),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) if e.kind() == ErrorKind::IsADirectory => {
                return Err(self.refused("", key, StatusCode::CONFLICT));
            }
            Err(e) => return Err(self.reads.error(Doing::Read, key, &e)),
        }
        let (dir, temp) = match key.rsplit_once('/') {
            Some((dir, _)) => (dir, format!("{dir}/{TEMP_PREFIX}{}", uuid::Uuid::new_v4())),
            None => ("", format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4())),
        };
        if !dir.is_empty() {
            op.create_dir(&format!("{dir}/"))
                .await
                .map_err(|e| self.reads.error(Doing::Write, key, &e))?;
        }

        // The PUT runs in a task of its own, so that when this put is dropped it still sees its
        // body fail and deletes what the server kept.
        let (_keep, dropped) = oneshot::channel::<()>();
        let this = self.clone();
        let (key_owned, temp_owned) = (key.to_string(), temp.clone());
        let body = cancellable(body, dropped);
        let size = tokio::spawn(async move { this.send(&key_owned, &temp_owned, body).await })
            .await
            .map_err(|e| CoreError::Internal(format!("upload task failed: {e}")))??;

        let temp_url = self.http.url(&temp);
        let mut temporary = Temporary {
            http: self.http.clone(),
            op: op.clone(),
            key: Some(temp),
        };
        let moved = self
            .http
            .request(
                Method::from_bytes(b"MOVE").unwrap_or(Method::PUT),
                &temp_url,
            )
            .header("Destination", self.http.url(key))
            .header("Overwrite", if overwrite { "T" } else { "F" })
            .send()
            .await;
        let failure = match moved {
            Err(e) => Some(self.unreachable("moving into place", key, &e)),
            Ok(r) if !r.status().is_success() => Some(self.refused("MOVE", key, r.status())),
            Ok(_) => None,
        };
        if let Some(err) = failure {
            temporary.remove().await;
            return Err(err);
        }
        temporary.key = None;
        Ok(size)
    }

    /// Streams `body` into the temporary `temp` with one `PUT`; on failure deletes what the
    /// server kept of it.
    async fn send(&self, key: &str, temp: &str, body: ByteStream) -> CoreResult<u64> {
        let size = Arc::new(AtomicU64::new(0));
        let broke = Arc::new(Mutex::new(None::<String>));
        let (counted, first_error) = (size.clone(), broke.clone());
        let body = body.map(move |chunk| {
            match &chunk {
                Ok(b) => {
                    counted.fetch_add(b.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    if let Ok(mut slot) = first_error.lock() {
                        slot.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            chunk
        });
        let sent = self
            .http
            .request(Method::PUT, &self.http.url(temp))
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await;
        let body_error = broke.lock().ok().and_then(|e| e.clone());
        let failure = match (sent, body_error) {
            (_, Some(e)) => body_failed(&self.reads.describe(), key, &io::Error::other(e)),
            (Err(e), None) => self.unreachable("uploading", key, &e),
            (Ok(r), None) if !r.status().is_success() => self.refused("PUT", key, r.status()),
            (Ok(_), None) => return Ok(size.load(Ordering::Relaxed)),
        };
        remove(&self.http, self.reads.operator(), temp).await;
        Err(failure)
    }
}

#[async_trait]
impl ReadBackend for WebDavBackend {
    fn describe(&self) -> String {
        self.reads.describe()
    }

    async fn stat(&self, key: &str) -> CoreResult<Option<ObjectMeta>> {
        self.reads.stat(key).await
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> CoreResult<ListPage> {
        self.reads.list(prefix, after, limit).await
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> CoreResult<ByteStream> {
        self.reads.get(key, range).await
    }

    async fn presign(&self, key: &str, _expires: DateTime<Utc>) -> CoreResult<Option<String>> {
        check_key(key)?;
        Ok(None)
    }
}

#[async_trait]
impl WriteBackend for WebDavBackend {
    async fn put(&self, key: &str, body: ByteStream, overwrite: bool) -> CoreResult<ObjectMeta> {
        check_key(key)?;
        let size = self.upload(key, body, overwrite).await?;
        Ok(ObjectMeta {
            key: key.to_string(),
            size,
            modified: Some(Utc::now()),
        })
    }

    async fn delete(&self, key: &str) -> CoreResult<bool> {
        self.reads.delete(key).await
    }
}
