//! A portal's catalog rows as archive entries: one JSON document per line, one file per table,
//! under `<prefix>catalog/`. Password hashes and key hashes are included so a restore keeps
//! every member able to log in; clear-text secrets never exist to be included.

use std::collections::HashSet;

use dsbackup_core::{CoreError, CoreResult, Portal};
use dsbackup_engine::layout;
use serde::Serialize;

use crate::Service;

/// One JSON document per line. A row that fails to serialise fails the backup: an archive
/// never silently lacks a row.
pub fn jsonl<T: Serialize>(rows: &[T]) -> CoreResult<Vec<u8>> {
    let mut out = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut out, r)
            .map_err(|e| CoreError::Internal(format!("a catalog row cannot be written: {e}")))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The catalog entries of one portal: `(archive path, bytes)`, without the files in
/// `skip_files` (earlier backup archives kept in Documents).
///
/// Fails when the catalog cannot be read or a row cannot be serialised.
pub async fn portal_rows(
    state: &Service,
    portal: &Portal,
    prefix: &str,
    skip_files: &HashSet<i64>,
) -> CoreResult<Vec<(String, Vec<u8>)>> {
    let cat = state.catalog();
    let users = cat.users(portal.id).await?;
    let folders = cat.folders_of(portal.id).await?;
    let mut files = cat.files_of(portal.id).await?;
    files.retain(|f| !skip_files.contains(&f.id));
    let keys = cat.api_keys_of_portal(portal.id).await?;
    let table = |name| layout::table_path(prefix, name);
    Ok(vec![
        (table("portal.jsonl"), jsonl(std::slice::from_ref(portal))?),
        (table("users.jsonl"), jsonl(&users)?),
        (table("folders.jsonl"), jsonl(&folders)?),
        (table("files.jsonl"), jsonl(&files)?),
        (table("api_keys.jsonl"), jsonl(&keys)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::jsonl;

    struct Unwritable;

    impl serde::Serialize for Unwritable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no"))
        }
    }

    #[test]
    fn a_row_that_cannot_be_written_fails_the_table() {
        assert_eq!(jsonl(&[1, 2]).unwrap(), b"1\n2\n");
        assert!(jsonl(&[Unwritable]).is_err());
    }
}
