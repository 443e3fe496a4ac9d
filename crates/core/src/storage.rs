//! Where archives are kept: the async [`ReadBackend`]/[`WriteBackend`] interface every backend
//! (a directory, memory, later S3/GCS/WebDAV) implements, and key validation.
//!
//! Reading and writing are split (as in rustic): a read-only view of a backend (a restore
//! source, a mounted bucket with read credentials) implements only [`ReadBackend`], and code
//! that only reads cannot delete. Keys are `/`-separated relative paths (see [`check_key`]); an
//! object becomes visible only when it is complete, so a failed or canceled backup never leaves
//! a partial archive behind.

use std::fmt::Debug;
use std::ops::Range;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_core::Stream;

use crate::error::{CoreError, CoreResult};

/// An object's bytes as they arrive: chunks in order, or an I/O error that ends the stream.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// The name prefix backends give objects still being written. Keys can never carry it:
/// [`check_key`] refuses hidden components.
pub const TEMP_PREFIX: &str = ".partial-";

/// The longest key accepted, in bytes (S3's limit).
pub const MAX_KEY_LEN: usize = 1024;

/// What a backend knows of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written, where the backend knows.
    pub modified: Option<DateTime<Utc>>,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Objects in key order (bytewise).
    pub objects: Vec<ObjectMeta>,
    /// Pass this as `after` to get the next page; `None` on the last page.
    pub next: Option<String>,
}

/// A backend that can be read. Every method validates its key first (`Invalid`), and a backend
/// failure (I/O, network) is `Internal` with the detail for the log.
#[async_trait]
pub trait ReadBackend: Send + Sync + Debug {
    /// A name for logs and errors (never credentials).
    fn describe(&self) -> String;

    /// The object under `key`, or `None` when there is none.
    ///
    /// Fails with `Invalid` for a malformed key.
    async fn stat(&self, key: &str) -> CoreResult<Option<ObjectMeta>>;

    /// Up to `limit` objects whose key starts with `prefix` and sorts after `after`, in key
    /// order. A page may hold fewer than `limit` objects; only `next == None` ends the listing.
    /// `prefix` is a plain string prefix (`"a/"` lists under a directory, `"a/b"` also finds
    /// `"a/bc"`); objects still being written are never listed.
    ///
    /// Fails with `Invalid` when `limit` is 0 or `prefix` could not start a valid key.
    async fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> CoreResult<ListPage>;

    /// Streams the object under `key`, or the bytes `range` of it.
    ///
    /// Fails with `NotFound` when there is none, and with `Invalid` when `range` is reversed or
    /// ends past the object's end (an empty range inside it yields an empty stream).
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> CoreResult<ByteStream>;

    /// A link a client can download the object from without credentials, where the backend can
    /// presign one; `None` means the server must sign its own.
    async fn presign(&self, key: &str, expires: DateTime<Utc>) -> CoreResult<Option<String>>;
}

/// A backend that can also be written.
#[async_trait]
pub trait WriteBackend: ReadBackend {
    /// Streams `body` into `key`; returns only once the object is complete and durable.
    /// Atomic: nothing is visible under `key` until then, and a failed or dropped stream (or a
    /// dropped future) leaves nothing (no partial object, no stray temporary).
    ///
    /// Fails with `Conflict` when `key` exists and `overwrite` is false, or when the key clashes
    /// with a directory where the backend has them (`a` while `a/b` exists); with `Internal`
    /// when `body` yields an error or the data cannot be made durable.
    async fn put(&self, key: &str, body: ByteStream, overwrite: bool) -> CoreResult<ObjectMeta>;

    /// Deletes `key`; `Ok(false)` when it did not exist.
    async fn delete(&self, key: &str) -> CoreResult<bool>;

    /// Aborts what puts of keys starting with `prefix` (but not of `except`) began on the store
    /// and left unfinished because the store could not be reached to undo it (S3 multipart
    /// uploads); returns how many. The caller makes sure no such put is still running. Backends
    /// whose puts leave nothing behind on the store have nothing to do.
    ///
    /// Fails when the store cannot be reached or refuses the listing or an abort.
    async fn abort_unfinished(&self, prefix: &str, except: &str) -> CoreResult<usize> {
        let _ = (prefix, except);
        Ok(0)
    }
}

/// Checks a key: `/`-separated components, each a valid [`check_name`] (so no empty, `.`,
/// `..`, hidden or temporary component, no `\` or NUL), no leading or trailing `/`, at most
/// [`MAX_KEY_LEN`] bytes.
pub fn check_key(key: &str) -> CoreResult<()> {
    if key.len() <= MAX_KEY_LEN && key.split('/').all(|c| check_name(c).is_ok()) {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!("invalid object key {key:?}")))
    }
}

/// Checks a listing prefix: empty, or the start of a valid key (a key, or a key followed by
/// `/`).
pub fn check_prefix(prefix: &str) -> CoreResult<()> {
    let key = prefix.strip_suffix('/').unwrap_or(prefix);
    if prefix.is_empty() || check_key(key).is_ok() {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!("invalid key prefix {prefix:?}")))
    }
}

/// Checks an object name: 1–255 bytes, no `/`, `\`, NUL, and not `.`/`..` or hidden.
pub fn check_name(name: &str) -> CoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0']);
    if ok {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!("invalid object name {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for good in [
            "a",
            "a/b",
            "portal-1/backups/x_2025.tar.zst",
            &"k".repeat(255),
        ] {
            assert!(check_key(good).is_ok(), "{good:?}");
        }
        let long = format!("{}/{}", "a".repeat(600), "b".repeat(600));
        let temp = format!("a/{TEMP_PREFIX}x");
        for bad in [
            "", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b", ".hidden", "a\\b", "a\0b", &temp,
            &long,
        ] {
            assert!(
                matches!(check_key(bad), Err(CoreError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn prefixes() {
        for good in ["", "a", "a/", "a/b", "a/b/"] {
            assert!(check_prefix(good).is_ok(), "{good:?}");
        }
        for bad in ["/", "/a", "a//", "../", "a/.", "a/.p"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
