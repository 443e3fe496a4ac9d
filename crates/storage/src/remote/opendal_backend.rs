//! [`OpendalBackend`]: the storage interface over an OpenDAL operator (S3-compatible stores,
//! Google Cloud Storage, Azure Blob). Uploads stream through OpenDAL's chunked writer (S3
//! multipart, GCS resumable), so memory stays bounded by the part size; the object appears only
//! when the writer closes, and a failed or dropped upload is aborted, so no multipart upload is
//! left behind: on S3, when the abort cannot reach the store, the upload is looked up and
//! aborted in the background once the store answers again (`s3_uploads.rs`). Listings walk the
//! store recursively and keep what matches the prefix.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsbackup_core::storage::{
    ByteStream, ListPage, ObjectMeta, ReadBackend, WriteBackend, check_key, check_prefix,
};
use dsbackup_core::{CoreError, CoreResult};
use futures_util::{StreamExt, TryStreamExt};
use opendal::{ErrorKind, Metadata, Operator, Writer};

use super::config::Built;
use super::errors::{Doing, Redactor, body_failed, map_err};
use super::s3_uploads::S3Uploads;
use super::{AzureConfig, GcsConfig, S3Config, Tuning};
use crate::common::{check_limit, check_range, exists, missing, page};

/// The longest a presigned link may live (S3's limit).
const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);

/// How `put` keeps an existing object when `overwrite` is false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// Look first: a `stat`, then an unconditional write.
    StatFirst,
    /// Conditional writes on the object's generation (GCS: `ifGenerationMatch`), which also
    /// route uploads through the resumable JSON API.
    Generation,
}

/// A remote object store reached through OpenDAL; cheap to clone.
#[derive(Clone)]
pub struct OpendalBackend {
    op: Operator,
    name: String,
    redact: Redactor,
    guard: Guard,
    presign: bool,
    /// The service lists keys in byte order and can start after a key (S3, GCS, Azure).
    sorted: bool,
    part_size: usize,
    parallel_parts: usize,
    /// S3: lists and aborts multipart uploads the writer could not abort itself.
    uploads: Option<Arc<S3Uploads>>,
}

impl std::fmt::Debug for OpendalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpendalBackend")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl OpendalBackend {
    fn from_built(b: Built, tuning: &Tuning, guard: Guard, presign: bool, sorted: bool) -> Self {
        Self {
            redact: Redactor::new(&b.secrets),
            op: b.op,
            name: b.name,
            guard,
            presign,
            sorted,
            part_size: tuning.part_size.max(5 << 20),
            parallel_parts: tuning.parallel_parts.max(1),
            uploads: b.uploads.map(Arc::new),
        }
    }

    /// An S3-compatible bucket. Makes no request; see [`OpendalBackend::check`].
    ///
    /// Fails with `Invalid` when no bucket is given or the settings are unusable.
    pub fn s3(config: &S3Config, tuning: &Tuning) -> CoreResult<Self> {
        let built = config.build(tuning)?;
        Ok(Self::from_built(
            built,
            tuning,
            Guard::StatFirst,
            true,
            true,
        ))
    }

    /// A Google Cloud Storage bucket; links are presigned unless `skip_signature`.
    ///
    /// Fails with `Invalid` when the bucket or the credential is missing.
    pub fn gcs(config: &GcsConfig, tuning: &Tuning) -> CoreResult<Self> {
        let built = config.build(tuning)?;
        let presign = !config.skip_signature;
        Ok(Self::from_built(
            built,
            tuning,
            Guard::Generation,
            presign,
            true,
        ))
    }

    /// An Azure Blob container (not tested against a server).
    ///
    /// Fails with `Invalid` when the account or the container is missing.
    pub fn azure(config: &AzureConfig, tuning: &Tuning) -> CoreResult<Self> {
        let built = config.build(tuning)?;
        Ok(Self::from_built(
            built,
            tuning,
            Guard::StatFirst,
            true,
            true,
        ))
    }

    /// Reads through OpenDAL's WebDAV service (used by [`super::WebDavBackend`]).
    pub(crate) fn webdav(built: Built, tuning: &Tuning) -> Self {
        Self::from_built(built, tuning, Guard::StatFirst, false, false)
    }

    /// The operator, for the WebDAV backend's own requests.
    pub(crate) fn operator(&self) -> &Operator {
        &self.op
    }

    /// The error for `err` met while `doing` something to `key`, secrets scrubbed.
    pub(crate) fn error(&self, doing: Doing, key: &str, err: &opendal::Error) -> CoreError {
        map_err(&self.name, &self.redact, doing, key, err)
    }

    /// Text with the configured secrets scrubbed.
    pub(crate) fn scrub(&self, text: impl Into<String>) -> String {
        self.redact.clean(text)
    }

    /// Checks that the storage answers and the bucket (or folder) exists, with one listing
    /// request.
    ///
    /// Fails with `Invalid` naming the storage and the cause (missing bucket, refused
    /// credentials), or `Internal` when it cannot be reached.
    pub async fn check(&self) -> CoreResult<()> {
        let result = async {
            let mut lister = self.op.lister_with("").limit(1).await?;
            lister.try_next().await.map(drop)
        };
        result.await.map_err(|e| self.error(Doing::List, "", &e))
    }

    fn meta(key: &str, m: &Metadata) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size: m.content_length(),
            modified: m
                .last_modified()
                .map(|t| DateTime::<Utc>::from(std::time::SystemTime::from(t))),
        }
    }

    /// The object's metadata as OpenDAL has it, `None` when there is none or it is a folder.
    async fn raw_stat(&self, key: &str) -> CoreResult<Option<Metadata>> {
        match self.op.stat(key).await {
            Ok(m) if m.is_file() => Ok(Some(m)),
            Ok(_) => Ok(None),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                Ok(None)
            }
            Err(e) => Err(self.error(Doing::Read, key, &e)),
        }
    }

    /// Streams `body` into `key` through a chunked writer, aborting it on any failure (and on
    /// drop, in the background).
    async fn upload(
        &self,
        key: &str,
        mut body: ByteStream,
        overwrite: bool,
    ) -> CoreResult<ObjectMeta> {
        let mut writer = self
            .op
            .writer_with(key)
            .chunk(self.part_size)
            .concurrent(self.parallel_parts);
        match (self.guard, overwrite) {
            (Guard::StatFirst, false) => {
                if self.raw_stat(key).await?.is_some() {
                    return Err(exists(key));
                }
            }
            (Guard::StatFirst, true) => {}
            (Guard::Generation, false) => {
                // Look first too: emulators may ignore the precondition.
                if self.raw_stat(key).await?.is_some() {
                    return Err(exists(key));
                }
                writer = writer.if_not_exists(true);
            }
            (Guard::Generation, true) => {
                let version = self
                    .raw_stat(key)
                    .await?
                    .and_then(|m| m.version().map(str::to_string));
                writer = match version {
                    Some(v) => writer.if_version_match(&v),
                    None => writer.if_not_exists(true),
                };
            }
        }
        let writer = writer
            .await
            .map_err(|e| self.error(Doing::Write, key, &e))?;
        let mut upload = AbortOnDrop::new(writer, key, self.uploads.clone());
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    upload.abort().await;
                    return Err(body_failed(&self.name, key, &e));
                }
            };
            size += chunk.len() as u64;
            if let Err(e) = upload.writer().write(chunk).await {
                upload.abort().await;
                return Err(self.error(Doing::Write, key, &e));
            }
        }
        match upload.writer().close().await {
            Ok(m) => {
                upload.done();
                Ok(ObjectMeta {
                    size,
                    ..Self::meta(key, &m)
                })
            }
            Err(e) => {
                upload.abort().await;
                Err(self.error(Doing::Write, key, &e))
            }
        }
    }
}

/// Holds an open writer; a writer still held when this drops (a dropped `put`) is aborted on
/// the runtime, so no multipart upload dangles. On S3 every abort is followed by a look for
/// uploads of the key still open (the abort may not have reached the store), retried in the
/// background until the store answers.
struct AbortOnDrop {
    writer: Option<Writer>,
    key: String,
    uploads: Option<Arc<S3Uploads>>,
}

impl AbortOnDrop {
    fn new(writer: Writer, key: &str, uploads: Option<Arc<S3Uploads>>) -> Self {
        Self {
            writer: Some(writer),
            key: key.to_string(),
            uploads,
        }
    }

    #[allow(clippy::expect_used)]
    fn writer(&mut self) -> &mut Writer {
        self.writer.as_mut().expect("writer used after done")
    }

    /// The upload completed: nothing to abort.
    fn done(&mut self) {
        self.writer = None;
    }

    /// Aborts now; what a failing abort leaves open is cleaned in the background (S3).
    async fn abort(&mut self) {
        if let Some(mut w) = self.writer.take() {
            let _ = w.abort().await;
            if let Some(u) = &self.uploads {
                u.clean_in_background(&self.key);
            }
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let (Some(mut w), Ok(rt)) = (self.writer.take(), tokio::runtime::Handle::try_current()) {
            let (uploads, key) = (self.uploads.take(), std::mem::take(&mut self.key));
            rt.spawn(async move {
                let _ = w.abort().await;
                if let Some(u) = uploads {
                    u.clean_in_background(&key);
                }
            });
        }
    }
}

#[async_trait]
impl ReadBackend for OpendalBackend {
    fn describe(&self) -> String {
        self.name.clone()
    }

    async fn stat(&self, key: &str) -> CoreResult<Option<ObjectMeta>> {
        check_key(key)?;
        Ok(self.raw_stat(key).await?.map(|m| Self::meta(key, &m)))
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> CoreResult<ListPage> {
        check_prefix(prefix)?;
        check_limit(limit)?;
        let after = after.filter(|a| *a >= prefix);
        // List the folder the prefix lies in; keep what starts with the prefix.
        let dir = prefix.rfind('/').map_or("", |i| &prefix[..=i]);
        let mut lister = self.op.lister_with(dir).recursive(true);
        if let (true, Some(a)) = (self.sorted, after) {
            lister = lister.start_after(a);
        }
        let failed = |e: opendal::Error| self.error(Doing::List, prefix, &e);
        let mut lister = lister.await.map_err(failed)?;
        let mut objects = Vec::new();
        while let Some(entry) = lister.try_next().await.map_err(failed)? {
            let key = entry.path();
            let wanted = entry.metadata().is_file()
                && key.starts_with(prefix)
                && after.is_none_or(|a| key > a)
                && check_key(key).is_ok();
            if wanted {
                objects.push(Self::meta(key, entry.metadata()));
                if self.sorted && objects.len() > limit {
                    break;
                }
            } else if self.sorted && key > prefix && !key.starts_with(prefix) {
                break; // sorted: nothing further can match
            }
        }
        if !self.sorted {
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            objects.truncate(limit + 1);
        }
        Ok(page(objects, limit))
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> CoreResult<ByteStream> {
        check_key(key)?;
        let meta = self.raw_stat(key).await?.ok_or_else(|| missing(key))?;
        let range = check_range(key, range, meta.content_length())?;
        if range.is_empty() {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let failed = |e: opendal::Error| self.error(Doing::Read, key, &e);
        let reader = self.op.reader_with(key).await.map_err(failed)?;
        let stream = reader.into_bytes_stream(range).await.map_err(failed)?;
        let redact = self.redact.clone();
        // Errors mid-stream are I/O errors; their text is scrubbed too.
        Ok(Box::pin(stream.map_err(move |e| {
            std::io::Error::new(e.kind(), redact.clean(e.to_string()))
        })))
    }

    async fn presign(&self, key: &str, expires: DateTime<Utc>) -> CoreResult<Option<String>> {
        check_key(key)?;
        if !self.presign || !self.op.info().capability().presign_read {
            return Ok(None);
        }
        let ttl = (expires - Utc::now())
            .to_std()
            .unwrap_or_default()
            .clamp(Duration::from_secs(1), MAX_PRESIGN);
        match self.op.presign_read(key, ttl).await {
            Ok(req) => Ok(Some(req.uri().to_string())),
            Err(e) if e.kind() == ErrorKind::Unsupported => Ok(None),
            Err(e) => Err(self.error(Doing::Presign, key, &e)),
        }
    }
}

#[async_trait]
impl WriteBackend for OpendalBackend {
    async fn put(&self, key: &str, body: ByteStream, overwrite: bool) -> CoreResult<ObjectMeta> {
        check_key(key)?;
        self.upload(key, body, overwrite).await
    }

    async fn delete(&self, key: &str) -> CoreResult<bool> {
        check_key(key)?;
        if self.raw_stat(key).await?.is_none() {
            return Ok(false);
        }
        match self.op.delete(key).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.error(Doing::Delete, key, &e)),
        }
    }

    async fn abort_unfinished(&self, prefix: &str, except: &str) -> CoreResult<usize> {
        check_prefix(prefix)?;
        match &self.uploads {
            Some(u) => u.abort_unfinished(prefix, except).await,
            None => Ok(0),
        }
    }
}
