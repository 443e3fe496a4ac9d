//! The `Storage` trait: where archives are kept (a directory, later object stores).
//!
//! Blocking by design: the archive engine is streaming, blocking I/O, and storage sits at the
//! end of its pipe. Async callers run these methods on the blocking pool. Objects are flat
//! names (no `/`); a written object becomes visible only when committed, so a failed or
//! canceled backup never leaves a partial archive behind.

use std::io::{Read, Write};

use crate::error::{CoreError, CoreResult};

/// An object being written. Dropping it without `commit` discards what was written.
pub trait ObjectWriter: Write + Send {
    /// Makes the object visible under its name; returns its size.
    ///
    /// Fails with `Internal` when the data cannot be made durable.
    fn commit(self: Box<Self>) -> CoreResult<u64>;
}

/// A place that keeps archives.
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Starts writing `name`, replacing any object of that name on commit.
    fn create(&self, name: &str) -> CoreResult<Box<dyn ObjectWriter>>;
    /// Opens `name` for reading. `NotFound` when there is none.
    fn open(&self, name: &str) -> CoreResult<Box<dyn Read + Send>>;
    /// The size of `name`, or `None` when there is none.
    fn size(&self, name: &str) -> CoreResult<Option<u64>>;
    /// Deletes `name`; returns whether it existed.
    fn delete(&self, name: &str) -> CoreResult<bool>;
    /// The names of all committed objects.
    fn list(&self) -> CoreResult<Vec<String>>;
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
