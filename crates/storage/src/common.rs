//! Checks and errors every backend shares, so they refuse the same inputs with the same words.

use std::ops::Range;

use dsbackup_core::storage::{ListPage, ObjectMeta};
use dsbackup_core::{CoreError, CoreResult};

/// Size of the chunks backends and bridges move at a time: the pieces a blocking writer hands
/// to a backend's put, and a local get reads: each piece is one hop between threads (and, on
/// a local disk, one blocking-pool task), so at 64 KiB a GiB costs 16 000 of them.
pub(crate) const CHUNK: usize = 1 << 20;

/// A listing page must be allowed to hold something.
pub(crate) fn check_limit(limit: usize) -> CoreResult<()> {
    if limit == 0 {
        return Err(CoreError::Invalid("list limit must be at least 1".into()));
    }
    Ok(())
}

/// The byte range to read from an object of `size` bytes: all of it, or `range` when that lies
/// inside it. `Invalid` for a reversed range or one ending past the end.
pub(crate) fn check_range(
    key: &str,
    range: Option<Range<u64>>,
    size: u64,
) -> CoreResult<Range<u64>> {
    match range {
        None => Ok(0..size),
        Some(r) if r.start <= r.end && r.end <= size => Ok(r),
        Some(r) => Err(CoreError::Invalid(format!(
            "range {}..{} outside {key} ({size} bytes)",
            r.start, r.end
        ))),
    }
}

/// The error for a put that would replace an object without `overwrite`.
pub(crate) fn exists(key: &str) -> CoreError {
    CoreError::Conflict(format!("{key} already exists"))
}

/// The error for a key with no object.
pub(crate) fn missing(key: &str) -> CoreError {
    CoreError::NotFound(format!("{key} not found"))
}

/// A listing page from the first `limit + 1` matching objects in key order: the extra one only
/// tells that there is a next page.
pub(crate) fn page(mut objects: Vec<ObjectMeta>, limit: usize) -> ListPage {
    let next = if objects.len() > limit {
        objects.truncate(limit);
        objects.last().map(|o| o.key.clone())
    } else {
        None
    };
    ListPage { objects, next }
}
